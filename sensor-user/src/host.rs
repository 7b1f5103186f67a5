//! Facts about this host read once at start-up: `host.id` (/etc/machine-id), `host.name`, the
//! boot id (part of every entity id), and the offset that turns the kernel's CLOCK_MONOTONIC
//! event times into wall-clock time.

use std::fs;

/// What the sensor knows of the machine it runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// `/etc/machine-id` (None when absent: the rule then never joins, as with a null host.id).
    pub id: Option<String>,
    pub name: Option<String>,
    /// `/proc/sys/kernel/random/boot_id` without dashes.
    pub boot_id: String,
    /// Add to a CLOCK_MONOTONIC time to get ns since the Unix epoch.
    pub monotonic_to_epoch_ns: i64,
}

fn read_trimmed(path: &str) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Offset from CLOCK_MONOTONIC to CLOCK_REALTIME, read as the tightest of a few samples.
pub fn monotonic_to_epoch_ns() -> i64 {
    let mut best = (i64::MAX, 0);
    for _ in 0..5 {
        let m1 = clock_ns(libc::CLOCK_MONOTONIC);
        let r = clock_ns(libc::CLOCK_REALTIME);
        let m2 = clock_ns(libc::CLOCK_MONOTONIC);
        let width = m2 - m1;
        if width < best.0 {
            best = (width, r - (m1 + width / 2));
        }
    }
    best.1
}

impl Host {
    pub fn read() -> Host {
        let name = read_trimmed("/proc/sys/kernel/hostname");
        let boot_id = read_trimmed("/proc/sys/kernel/random/boot_id")
            .map(|s| s.replace('-', ""))
            .unwrap_or_default();
        Host {
            id: read_trimmed("/etc/machine-id"),
            name,
            boot_id,
            monotonic_to_epoch_ns: monotonic_to_epoch_ns(),
        }
    }

    /// The entity id of process `tgid` started at `start_ns` (CLOCK_MONOTONIC): stable across
    /// exec, distinct across pid reuse and reboots.
    pub fn entity_id(&self, tgid: u32, start_ns: u64) -> String {
        format!("{}-{tgid}-{start_ns}", self.boot_id)
    }

    /// A kernel CLOCK_MONOTONIC time as ns since the Unix epoch.
    pub fn epoch_ns(&self, monotonic_ns: u64) -> i64 {
        (monotonic_ns as i64).saturating_add(self.monotonic_to_epoch_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_maps_monotonic_now_near_realtime_now() {
        let off = monotonic_to_epoch_ns();
        let now = clock_ns(libc::CLOCK_REALTIME);
        let mono = clock_ns(libc::CLOCK_MONOTONIC);
        assert!(
            (mono + off - now).abs() < 50_000_000,
            "offset off by more than 50 ms"
        );
    }

    #[test]
    fn entity_ids_differ_on_pid_reuse_and_match_on_same_process() {
        let host = Host {
            id: None,
            name: None,
            boot_id: "b".into(),
            monotonic_to_epoch_ns: 0,
        };
        assert_eq!(host.entity_id(10, 5), host.entity_id(10, 5));
        assert_ne!(host.entity_id(10, 5), host.entity_id(10, 6));
    }
}
