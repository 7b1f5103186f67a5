//! Live mode: loads the sensor, then reads the ring buffer with tokio and feeds each record
//! through decode -> enrich -> engine -> output, until SIGINT or SIGTERM. Says `ready` on
//! stderr once every program is attached; on stop it drains the ring, flushes output, and
//! detaches the programs.

use std::time::Duration;

use anyhow::Context as _;
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{SignalKind, signal},
};
use tracing::{info, warn};

use crate::{
    decode,
    enrich::Enricher,
    host::Host,
    kernel::loader::{self, ConnectHook, LoadOptions},
    output::{Format, Stdout},
    rule::{Engine, Limits, RuleConfig},
};

/// Options of `sshd-sensor run`.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub format: Format,
    pub rule: RuleConfig,
    pub connect_hook: ConnectHook,
    pub empty_programs: bool,
    pub stats_interval: Duration,
}

/// Counters of the pipeline outside the engine.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct PipelineStats {
    pub records: u64,
    pub decode_errors: u64,
    pub ringbuf_drops: u64,
    pub output_errors: u64,
}

struct Pipeline {
    enricher: Enricher,
    engine: Engine,
    stdout: Stdout,
    stats: PipelineStats,
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
        if let Some(alert) = self.engine.process(event)
            && let Err(e) = self.stdout.write(&alert)
        {
            self.stats.output_errors += 1;
            warn!(error = %e, "writing an alert to stdout failed");
        }
    }

    fn log_stats(&self, drops: u64) {
        let e = self.engine.stats();
        info!(
            records = self.stats.records,
            events = e.events,
            stage1 = e.stage1,
            candidates = e.stage2_candidates,
            alerts = e.alerts,
            pending = e.pending,
            ringbuf_drops = drops,
            decode_errors = self.stats.decode_errors,
            "stats"
        );
    }
}

/// Runs the sensor until SIGINT or SIGTERM.
pub async fn run(opts: RunOptions) -> anyhow::Result<()> {
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut sigusr1 =
        signal(SignalKind::user_defined1()).context("installing the SIGUSR1 handler")?;

    let sensor = loader::load(&LoadOptions {
        parent_executables: opts.rule.parent_executables.clone(),
        connect_hook: opts.connect_hook,
        empty_programs: opts.empty_programs,
    })?;
    let loader::Sensor {
        ebpf,
        ring,
        drops,
        connect_hook,
        ..
    } = sensor;
    let host = Host::read();
    if host.id.is_none() {
        warn!("/etc/machine-id is missing: host.id is null and the rule cannot join any event");
    }
    let mut pipeline = Pipeline {
        enricher: Enricher::new(host, opts.rule.parent_executables.clone()),
        engine: Engine::new(opts.rule.clone(), Limits::default()),
        stdout: Stdout::new(opts.format),
        stats: PipelineStats::default(),
    };
    // SAFETY: the AsyncFd owns the RingBuf, so the fd stays open for as long as it is registered.
    let mut ring = unsafe { AsyncFd::register(ring) }
        .map_err(|e| anyhow::anyhow!("registering the ring buffer with tokio: {e}"))?;
    info!(
        connect_hook = %connect_hook,
        parents = ?opts.rule.parent_executables,
        empty_programs = opts.empty_programs,
        "ready: all programs attached"
    );
    let mut ticker = tokio::time::interval(opts.stats_interval);
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
            _ = sigusr1.recv() => pipeline.log_stats(loader::ringbuf_drops(&drops)),
            _ = ticker.tick() => pipeline.log_stats(loader::ringbuf_drops(&drops)),
        }
    }

    // Whatever the kernel already produced is still turned into alerts before exit.
    let inner = ring.get_mut();
    while let Some(item) = inner.next() {
        pipeline.record(&item);
    }
    pipeline.stats.ringbuf_drops = loader::ringbuf_drops(&drops);
    pipeline.log_stats(pipeline.stats.ringbuf_drops);
    drop(ring);
    drop(ebpf);
    info!("stopped: programs detached");
    Ok(())
}
