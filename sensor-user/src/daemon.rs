//! Live mode: loads the sensor, then reads the ring buffer with tokio and feeds each record
//! through decode -> enrich -> (record) -> engine -> rate cap -> sinks, until SIGINT or
//! SIGTERM. Says `ready` on stderr (and READY=1 to systemd) once every program is attached.
//! SIGHUP reloads the configuration file (an invalid one is refused and the running one stays)
//! and reopens the alert file, keeping all correlation state; SIGUSR1 logs the stats. The
//! parent-executable watcher keeps the kernel's table following the files (its own arm). On stop
//! it drains the ring, flushes output, and detaches the programs.

use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{SignalKind, signal},
};
use tracing::{error, info, warn};

use crate::{
    config::Config,
    decode,
    enrich::Enricher,
    event::Alert,
    host::Host,
    kernel::{
        loader::{self, LoadOptions},
        parents,
    },
    notify,
    output::{Sinks, Stdout, journal::Journal, ndjson::NdjsonFile},
    ratelimit::{RateCap, Verdict},
    record::Recorder,
    rule::{Engine, Limits},
};

/// Options of `sshd-sensor run`: the effective configuration and where it came from.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub config: Config,
    /// The file SIGHUP re-reads (`None`: the default path).
    pub config_path: Option<PathBuf>,
    /// Command-line settings that win over the file, re-applied after each reload.
    pub overrides: Overrides,
    /// Attach the empty programs instead (the benchmark's floor).
    pub empty_programs: bool,
}

/// Settings given on the command line.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub format: Option<crate::output::Format>,
    pub parent_executables: Option<Vec<String>>,
    pub connect_hook: Option<loader::ConnectHook>,
    pub tracepoints: Option<loader::TracepointKind>,
    pub record: Option<PathBuf>,
    pub stats_interval: Option<Duration>,
    /// `--rule` / `--profile`, read at start (a rule file that SIGHUP re-reads belongs in the
    /// configuration, `[rule] file`).
    pub rule: Option<(
        crate::rule::profiles::RuleSource,
        std::sync::Arc<crate::rule::compiled::CompiledRule>,
    )>,
}

impl Overrides {
    pub fn apply(&self, config: &mut Config) {
        if let Some(format) = self.format {
            config.output.format = format;
        }
        if let Some((source, rule)) = &self.rule {
            config.rule.source = source.clone();
            config.rule.rule = rule.clone();
            if let Some(parents) = crate::config::live_parents(rule) {
                config.rule.parent_executables = parents;
            }
        }
        if let Some(parents) = &self.parent_executables {
            config.rule.parent_executables = parents.clone();
        }
        if let Some(hook) = self.connect_hook {
            config.sensor.connect_hook = hook;
        }
        if let Some(record) = &self.record {
            config.output.record = Some(record.clone());
        }
        if let Some(interval) = self.stats_interval {
            config.sensor.stats_interval_seconds = interval.as_secs().max(1);
        }
    }
}

/// Counters of the pipeline outside the engine.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct PipelineStats {
    pub records: u64,
    pub decode_errors: u64,
    pub ringbuf_drops: u64,
    pub output_errors: u64,
    pub record_errors: u64,
    pub suppressed: u64,
}

struct Pipeline {
    enricher: Enricher,
    engine: Engine,
    sinks: Sinks,
    recorder: Option<Recorder>,
    cap: RateCap,
    stats: PipelineStats,
}

/// The rate cap's summary line.
fn report_suppressed(count: u64) {
    if count > 0 {
        warn!(
            suppressed = count,
            "alert rate cap reached: alerts suppressed in the last window"
        );
    }
}

impl Pipeline {
    fn record(&mut self, bytes: &[u8]) {
        self.stats.records += 1;
        let record = match decode::decode(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.stats.decode_errors += 1;
                if self.stats.decode_errors <= 5 {
                    warn!(error = %e, "malformed ring-buffer record skipped");
                }
                return;
            }
        };
        let event = self.enricher.enrich(&record);
        if let Some(recorder) = self.recorder.as_mut()
            && let Err(e) = recorder.record(&event)
        {
            self.stats.record_errors += 1;
            if self.stats.record_errors <= 5 {
                warn!(error = %e, "recording an event failed");
            }
        }
        if let Some(alert) = self.engine.process(event) {
            self.alert(&alert);
        }
    }

    fn alert(&mut self, alert: &Alert) {
        match self.cap.admit(alert.stage2.timestamp) {
            Verdict::Suppress => {
                self.stats.suppressed += 1;
                return;
            }
            Verdict::Emit { suppressed_before } => report_suppressed(suppressed_before),
        }
        self.stats.output_errors += self.sinks.write(alert);
    }

    fn log_stats(&self, drops: u64) {
        let e = self.engine.stats();
        info!(
            records = self.stats.records,
            events = e.events,
            stage1 = e.stage1,
            candidates = e.stage2_candidates,
            alerts = e.alerts,
            suppressed = self.stats.suppressed,
            pending = e.pending,
            ringbuf_drops = drops,
            decode_errors = self.stats.decode_errors,
            output_errors = self.stats.output_errors,
            "stats"
        );
    }

    /// Applies a reloaded configuration: rule, rate cap, outputs. Correlation state stays.
    fn reconfigure(&mut self, config: &Config) {
        self.engine.set_config(config.rule_config());
        self.enricher
            .set_parent_executables(config.rule.parent_executables.clone());
        self.cap.set_limits(
            config.alerts.max_per_window.into(),
            config.alerts.window_ns(),
        );
    }
}

fn open_sinks(config: &Config) -> anyhow::Result<Sinks> {
    let file = match &config.output.file {
        Some(path) => Some(NdjsonFile::open(path).with_context(|| {
            format!(
                "opening the alert file {} (check [output] file in the configuration)",
                path.display()
            )
        })?),
        None => None,
    };
    let journal_stream = std::env::var_os("JOURNAL_STREAM").is_some();
    let journal = if config.output.journald.enabled(journal_stream) {
        match Journal::connect() {
            Ok(j) => Some(j),
            Err(e) => {
                warn!(error = %e, "the systemd journal is not reachable; alerts go to the other outputs");
                None
            }
        }
    } else {
        None
    };
    Ok(Sinks::new(Stdout::new(config.output.format), file, journal))
}

/// Runs the sensor until SIGINT or SIGTERM.
pub async fn run(opts: RunOptions) -> anyhow::Result<()> {
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut sigusr1 =
        signal(SignalKind::user_defined1()).context("installing the SIGUSR1 handler")?;
    let mut config = opts.config.clone();

    let recorder = match &config.output.record {
        Some(path) => Some(Recorder::open(path)?),
        None => None,
    };
    let sinks = open_sinks(&config)?;
    let sensor = loader::load(&LoadOptions {
        parent_executables: config.rule.parent_executables.clone(),
        tracepoints: opts
            .overrides
            .tracepoints
            .unwrap_or(loader::TracepointKind::Auto),
        connect_hook: config.sensor.connect_hook,
        empty_programs: opts.empty_programs,
    })?;
    // Start-up parsed megabytes of BTF; hand the freed heap back to the system (glibc only:
    // musl's allocator returns freed memory to the system by itself and has no malloc_trim).
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0)
    };
    let loader::Sensor {
        mut ebpf,
        ring,
        drops,
        tracepoints,
        connect_hook,
    } = sensor;
    let mut watcher = parents::Watcher::start(&mut ebpf, &config.rule.parent_executables);
    let host = Host::read();
    if host.id.is_none() {
        warn!("/etc/machine-id is missing: host.id is null and the rule cannot join any event");
    }
    let mut pipeline = Pipeline {
        enricher: Enricher::new(host, config.rule.parent_executables.clone()),
        engine: Engine::new(config.rule_config(), Limits::default()),
        sinks,
        recorder,
        cap: RateCap::new(
            config.alerts.max_per_window.into(),
            config.alerts.window_ns(),
        ),
        stats: PipelineStats::default(),
    };
    // SAFETY: the AsyncFd owns the RingBuf, so the fd stays open for as long as it is registered.
    let mut ring = unsafe { AsyncFd::register(ring) }
        .map_err(|e| anyhow::anyhow!("registering the ring buffer with tokio: {e}"))?;
    info!(
        tracepoints = %tracepoints,
        connect_hook = %connect_hook,
        parents = ?config.rule.parent_executables,
        empty_programs = opts.empty_programs,
        "ready: all programs attached"
    );
    if let Err(e) = notify::notify("READY=1") {
        warn!(error = %e, "telling systemd we are ready failed");
    }
    let mut ticker = tokio::time::interval(config.sensor.stats_interval());
    ticker.tick().await;

    loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard.context("polling the ring buffer")?;
                let inner = guard.get_inner_mut();
                while let Some(item) = inner.next() {
                    pipeline.record(&item);
                }
                guard.clear_ready();
            }
            _ = sigterm.recv() => { info!("SIGTERM: stopping"); break; }
            _ = sigint.recv() => { info!("SIGINT: stopping"); break; }
            _ = sighup.recv() => {
                let _ = notify::notify("RELOADING=1");
                match Config::load(opts.config_path.as_deref()) {
                    Ok(mut new) => {
                        opts.overrides.apply(&mut new);
                        if new.sensor.connect_hook != config.sensor.connect_hook {
                            warn!("the connect hook is chosen at start-up; restart to change it");
                        }
                        // Always re-resolved, changed or not: SIGHUP also picks up replaced files.
                        match watcher.reload(&mut ebpf, &new.rule.parent_executables) {
                            Err(e) => error!("SIGHUP: new parent executables refused, keeping the running configuration: {e}"),
                            Ok(()) => {
                                pipeline.reconfigure(&new);
                                config = new;
                                info!("SIGHUP: configuration reloaded");
                            }
                        }
                    }
                    Err(e) => {
                        error!("SIGHUP: new configuration refused, keeping the running one: {e}");
                        watcher.refresh(&mut ebpf, parents::Due::Changed);
                    }
                }
                if let Err(e) = pipeline.sinks.reopen() {
                    error!(error = %e, "SIGHUP: reopening the alert file failed");
                }
                if let Some(Err(e)) = pipeline.recorder.as_mut().map(Recorder::reopen) {
                    error!(error = %e, "SIGHUP: reopening the recording failed");
                }
                let _ = notify::notify("READY=1");
            }
            due = watcher.due() => watcher.refresh(&mut ebpf, due),
            _ = sigusr1.recv() => pipeline.log_stats(loader::ringbuf_drops(&drops)),
            _ = ticker.tick() => {
                report_suppressed(pipeline.cap.take_pending_summary());
                pipeline.log_stats(loader::ringbuf_drops(&drops));
            }
        }
    }

    let _ = notify::notify("STOPPING=1");
    // Whatever the kernel already produced is still turned into alerts before exit.
    let inner = ring.get_mut();
    while let Some(item) = inner.next() {
        pipeline.record(&item);
    }
    report_suppressed(pipeline.cap.take_pending_summary());
    pipeline.stats.ringbuf_drops = loader::ringbuf_drops(&drops);
    pipeline.log_stats(pipeline.stats.ringbuf_drops);
    drop(ring);
    drop(ebpf);
    info!("stopped: programs detached");
    Ok(())
}
