//! Live mode: loads the sensor, then reads the ring buffer with tokio and feeds each record
//! through decode -> enrich -> (record) -> engine -> rate cap -> sinks, until SIGINT or
//! SIGTERM. Says `ready` on stderr (and READY=1 to systemd) once every program is attached.
//! SIGHUP reloads the configuration file (an invalid one is refused and the running one stays),
//! applies every setting it can (rule, rate cap, outputs, recording, log level, stats interval;
//! [`reload`] names those that need a restart) and reopens the alert file, keeping all
//! correlation state; SIGUSR1 logs the stats. A 1 s timer closes ended rate-cap windows and
//! retries lines the files hold back. The
//! parent-executable watcher keeps the kernel's table following the files (its own arm). On stop
//! it drains the ring, flushes output, and detaches the programs.

use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{SignalKind, signal},
};
use tracing::{debug, error, info, warn};

use crate::{
    config::Config,
    decode,
    enrich::{Enriched, Enricher},
    event::Alert,
    host::Host,
    kernel::{
        counters::Counters,
        exclusions, klog,
        loader::{self, LoadOptions},
        parents,
    },
    notify,
    output::{Sinks, Stdout, journal::Journal, ndjson::NdjsonFile},
    ratelimit::{RateCap, Summary, Verdict},
    record::Recorder,
    reload,
    rule::{Engine, Limits},
};

/// Ring-buffer records handled per wakeup before signals, the stats ticker and the
/// parent-executable watcher get their turn.
pub const RING_BATCH: usize = 256;

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
    /// Connects the rule excludes, dropped before enrichment.
    pub excluded: u64,
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

/// How often the daemon closes rate-cap windows that ended with no later alert of their
/// session, and retries the lines the alert file and the recording hold back.
const RATE_CAP_TICK: Duration = Duration::from_secs(1);

/// Now, in ns since the epoch (the unit of event timestamps), for the rate cap's timer.
fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl Pipeline {
    /// One ring-buffer record through decode -> enrich -> (record) -> engine -> sinks. A connect
    /// the rule excludes is dropped before enrichment (no `/proc` read), so with `--record` the
    /// recording holds every exec and every connect the rule does not exclude, but no connect to
    /// an excluded destination, nor one by a process whose image was already cached with an
    /// excluded executable or name: replaying it gives the same alerts.
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
        let event = match self
            .enricher
            .enrich_unless_excluded(&record, self.engine.exclusions())
        {
            Enriched::Event(event) => *event,
            Enriched::Excluded { timestamp } => {
                self.stats.excluded += 1;
                self.engine.skip_excluded(timestamp);
                return;
            }
        };
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
        let admission = self.cap.admit(alert);
        debug!(
            session_entity_id = alert.stage1.process.entity_id.as_deref(),
            verdict = ?admission.verdict,
            "rate cap verdict"
        );
        self.summaries(admission.summaries);
        if admission.verdict == Verdict::Suppress {
            self.stats.suppressed += 1;
            return;
        }
        self.stats.output_errors += self.sinks.write(alert);
    }

    /// Writes the rate cap's summaries to every sink, and says so on stderr.
    fn summaries(&mut self, summaries: Vec<Summary>) {
        for summary in summaries {
            warn!(
                session_pid = summary.session.process.pid,
                session_entity_id = summary.session.process.entity_id.as_deref(),
                suppressed = summary.suppressed,
                destinations = summary.destinations.len(),
                truncated = summary.truncated(),
                closed = summary.closed.as_str(),
                "alert rate cap: a session's suppressed alerts summarised"
            );
            self.stats.output_errors += self.sinks.write_summary(&summary);
        }
    }

    /// The stats line: the pipeline's and the engine's counters, and the kernel's
    /// (`ringbuf_drops` plus every cause of [`sensor_common::counter`], summed over the CPUs).
    fn log_stats(&mut self, counters: &Counters) {
        let kernel = counters.read();
        self.stats.ringbuf_drops = kernel.ringbuf_drops();
        let e = self.engine.stats();
        info!(
            records = self.stats.records,
            excluded = self.stats.excluded,
            events = e.events,
            stage1 = e.stage1,
            candidates = e.stage2_candidates,
            alerts = e.alerts,
            suppressed = self.stats.suppressed,
            pending = e.pending,
            expired = e.expired,
            evicted = e.evicted,
            ringbuf_drops = self.stats.ringbuf_drops,
            decode_errors = self.stats.decode_errors,
            output_errors = self.stats.output_errors,
            record_errors = self.stats.record_errors,
            kernel = %kernel,
            "stats"
        );
    }

    /// Applies a reloaded configuration: rule, rate cap, outputs, recording, log level.
    /// Correlation state stays. A setting that cannot be applied (a file that does not open)
    /// keeps its running value and is logged; returns the keys of those.
    fn reconfigure(&mut self, old: &Config, new: &Config) -> Vec<&'static str> {
        let mut failed = Vec::new();
        self.engine.set_config(new.rule_config());
        self.enricher
            .set_parent_executables(new.rule.parent_executables.clone());
        self.cap
            .set_limits(new.alerts.max_per_window.into(), new.alerts.window_ns());
        if new.output.format != old.output.format {
            self.sinks.stdout = Stdout::new(new.output.format);
        }
        if new.output.file != old.output.file {
            match open_file(new) {
                Ok(file) => self.sinks.file = file,
                Err(e) => {
                    error!("SIGHUP: {e:#}; alerts keep going to the running alert file");
                    failed.push("output.file");
                }
            }
        }
        if new.output.journald != old.output.journald {
            self.sinks.journal = open_journal(new);
        }
        if new.output.record != old.output.record {
            match new.output.record.as_deref().map(Recorder::open).transpose() {
                Ok(recorder) => self.recorder = recorder,
                Err(e) => {
                    error!("SIGHUP: {e}; the running recording stays");
                    failed.push("output.record");
                }
            }
        }
        if new.log.level != old.log.level {
            match crate::logging::set_level(&new.log.level) {
                Ok(crate::logging::LevelChange::Pinned) => {
                    warn!("SIGHUP: [log] level not applied: --log-level or RUST_LOG sets the level")
                }
                Ok(_) => {}
                Err(e) => {
                    error!("SIGHUP: setting the log level failed: {e}");
                    failed.push("log.level");
                }
            }
        }
        failed
    }
}

fn open_file(config: &Config) -> anyhow::Result<Option<NdjsonFile>> {
    config
        .output
        .file
        .as_deref()
        .map(|path| {
            NdjsonFile::open(path).with_context(|| {
                format!(
                    "opening the alert file {} (check [output] file in the configuration)",
                    path.display()
                )
            })
        })
        .transpose()
}

fn open_journal(config: &Config) -> Option<Journal> {
    let journal_stream = std::env::var_os("JOURNAL_STREAM").is_some();
    if !config.output.journald.enabled(journal_stream) {
        return None;
    }
    match Journal::connect() {
        Ok(j) => Some(j),
        Err(e) => {
            warn!(error = %e, "the systemd journal is not reachable; alerts go to the other outputs");
            None
        }
    }
}

fn open_sinks(config: &Config) -> anyhow::Result<Sinks> {
    Ok(Sinks::new(
        Stdout::new(config.output.format),
        open_file(config)?,
        open_journal(config),
    ))
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
        excluded_networks: config.rule.kernel_excluded_networks(),
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
        counters,
        tracepoints,
        connect_hook,
        fork_lineage,
    } = sensor;
    klog::spawn(&mut ebpf);
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
        fork_lineage,
        parents = ?config.rule.parent_executables,
        empty_programs = opts.empty_programs,
        "ready: all programs attached"
    );
    if let Err(e) = notify::notify("READY=1") {
        warn!(error = %e, "telling systemd we are ready failed");
    }
    let mut ticker = tokio::time::interval(config.sensor.stats_interval());
    ticker.tick().await;
    let mut cap_ticker = tokio::time::interval(RATE_CAP_TICK);
    cap_ticker.tick().await;

    loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard.context("polling the ring buffer")?;
                let inner = guard.get_inner_mut();
                let mut taken = 0;
                while taken < RING_BATCH
                    && let Some(item) = inner.next()
                {
                    pipeline.record(&item);
                    taken += 1;
                }
                // A full batch may have left records behind: stay ready (the next turn reads
                // on) and let the other arms run first. Only an emptied ring waits for epoll.
                if taken < RING_BATCH {
                    guard.clear_ready();
                } else {
                    drop(guard);
                    tokio::task::yield_now().await;
                }
            }
            _ = sigterm.recv() => { info!("SIGTERM: stopping"); break; }
            _ = sigint.recv() => { info!("SIGINT: stopping"); break; }
            _ = sighup.recv() => {
                let _ = notify::notify("RELOADING=1");
                match Config::load(opts.config_path.as_deref()) {
                    Ok(mut new) => {
                        opts.overrides.apply(&mut new);
                        // Always re-resolved, changed or not: SIGHUP also picks up replaced
                        // files. The excluded ranges are checked to fit before anything changes.
                        let networks = new.rule.kernel_excluded_networks();
                        let applied = exclusions::Table::new(&networks)
                            .map_err(|e| e.to_string())
                            .and_then(|_| watcher.reload(&mut ebpf, &new.rule.parent_executables).map_err(|e| e.to_string()))
                            .and_then(|()| exclusions::sync(&mut ebpf, &networks).map_err(|e| e.to_string()));
                        match applied {
                            Err(e) => error!("SIGHUP: new parent executables or excluded ranges refused, keeping the running configuration: {e}"),
                            Ok(_) => {
                                let mut changes = reload::changes(&config, &new);
                                let failed = pipeline.reconfigure(&config, &new);
                                changes.applied.retain(|key| !failed.contains(key));
                                if new.sensor.stats_interval() != config.sensor.stats_interval() {
                                    ticker = tokio::time::interval(new.sensor.stats_interval());
                                    ticker.tick().await;
                                }
                                config = new;
                                info!(changed = ?changes.applied, not_applied = ?failed, "SIGHUP: configuration reloaded");
                                if !changes.need_restart.is_empty() {
                                    warn!(settings = ?changes.need_restart, "SIGHUP: these changed settings are fixed at start-up and take effect after a restart");
                                }
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
            _ = sigusr1.recv() => pipeline.log_stats(&counters),
            _ = cap_ticker.tick() => {
                let ended = pipeline.cap.expire(now_ns());
                pipeline.summaries(ended);
                pipeline.sinks.retry();
                if let Some(recorder) = pipeline.recorder.as_mut() {
                    let _ = recorder.retry();
                }
            }
            _ = ticker.tick() => pipeline.log_stats(&counters),
        }
    }

    let _ = notify::notify("STOPPING=1");
    // Whatever the kernel already produced is still turned into alerts before exit.
    let inner = ring.get_mut();
    while let Some(item) = inner.next() {
        pipeline.record(&item);
    }
    let pending = pipeline.cap.flush();
    pipeline.summaries(pending);
    pipeline.log_stats(&counters);
    drop(ring);
    drop(ebpf);
    info!("stopped: programs detached");
    Ok(())
}
