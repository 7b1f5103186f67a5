//! The kernel programs' rare log lines (aya-log: the first 0 -> 1 of a failure counter on a
//! CPU, `sensor-ebpf/src/maps.rs`), forwarded to `tracing`. aya-log-ebpf 0.2 carries them in a
//! ring buffer (`AYA_LOGS`), not a perf event array, so reading them needs no
//! `perf_event_open(2)` and works under Debian's `kernel.perf_event_paranoid=3`. If the logger
//! cannot be set up the sensor runs on without it (one warning): the counters in the stats line
//! still say everything the lines would.

use aya::Ebpf;
use aya_log::EbpfLogger;
use tokio::io::unix::AsyncFd;
use tracing::warn;

/// Forwards aya-log records to `tracing`, as warnings (the kernel logs failures only).
struct ToTracing;

impl log::Log for ToTracing {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        warn!(target: "sshd_sensor::kernel", "kernel: {}", record.args());
    }

    fn flush(&self) {}
}

/// Starts forwarding the kernel's log lines on the current tokio runtime. Returns `false` (after
/// one warning) if the logger cannot be set up.
pub fn spawn(ebpf: &mut Ebpf) -> bool {
    let logger = match EbpfLogger::init_with_logger(ebpf, ToTracing) {
        Ok(logger) => logger,
        Err(e) => {
            warn!(error = %e, "the kernel programs' log cannot be read; their failure counters still show in the stats line");
            return false;
        }
    };
    // SAFETY: the AsyncFd owns the logger, so its descriptor stays open while registered.
    let mut logger = match unsafe { AsyncFd::register(logger) } {
        Ok(fd) => fd,
        Err(e) => {
            warn!(error = %e, "the kernel programs' log cannot be polled; their failure counters still show in the stats line");
            return false;
        }
    };
    tokio::spawn(async move {
        loop {
            let Ok(mut guard) = logger.readable_mut().await else {
                return;
            };
            guard.get_inner_mut().flush();
            guard.clear_ready();
        }
    });
    true
}
