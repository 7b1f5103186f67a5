//! What this process may do with the kernel's tracing: its effective capabilities, its euid,
//! and `kernel.perf_event_paranoid`. One place for `run` and `check`: the loader refuses early
//! (naming the missing capability) and `check` prints the same facts, and both explain a refused
//! `perf_event_open(2)` the same way. Parsing is pure and unit-tested.

/// Capabilities the sensor cares about, with their bit numbers.
pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_SYS_PTRACE: u32 = 19;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_RESOURCE: u32 = 24;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// The capabilities the systemd unit grants, and why (kept in step with
/// `systemd/sshd-sensor.service` by `tests/systemd_unit.rs`).
pub const SERVICE_CAPABILITIES: &[&str] = &["CAP_BPF", "CAP_PERFMON", "CAP_SYS_PTRACE"];

const PERF_EVENT_PARANOID: &str = "/proc/sys/kernel/perf_event_paranoid";

/// `CapEff` of a `/proc/PID/status` text.
pub fn cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
}

/// Whether `caps` has capability `bit`.
pub fn has(caps: u64, bit: u32) -> bool {
    caps.checked_shr(bit).is_some_and(|v| v & 1 == 1)
}

/// What this process may do, from `/proc/self/status`, `geteuid` and the paranoid sysctl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Privileges {
    pub euid: u32,
    pub caps: u64,
    /// `kernel.perf_event_paranoid`; `None` when unreadable (no perf events in the kernel).
    pub perf_event_paranoid: Option<i32>,
}

impl Privileges {
    pub fn current() -> Privileges {
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        let caps = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| cap_eff(&s))
            .unwrap_or(0);
        let perf_event_paranoid = std::fs::read_to_string(PERF_EVENT_PARANOID)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        Privileges {
            euid,
            caps,
            perf_event_paranoid,
        }
    }

    pub fn has(&self, bit: u32) -> bool {
        has(self.caps, bit)
    }

    /// CAP_BPF (or CAP_SYS_ADMIN, which implies it).
    pub fn bpf(&self) -> bool {
        self.has(CAP_BPF) || self.has(CAP_SYS_ADMIN)
    }

    /// CAP_PERFMON (or CAP_SYS_ADMIN, which implies it).
    pub fn perfmon(&self) -> bool {
        self.has(CAP_PERFMON) || self.has(CAP_SYS_ADMIN)
    }

    /// Capabilities missing to load and attach tracing programs through BPF links (raw
    /// tracepoints, fentry); empty when nothing is missing.
    pub fn missing_for_load(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if !self.bpf() {
            missing.push("CAP_BPF");
        }
        if !self.perfmon() {
            missing.push("CAP_PERFMON");
        }
        missing
    }

    /// Whether `perf_event_open(2)` of a kernel tracepoint or kprobe is allowed. Above 2 (the
    /// Debian/Ubuntu patch sets 3 by default) only CAP_SYS_ADMIN may open any perf event;
    /// otherwise CAP_PERFMON suffices.
    pub fn perf_events_allowed(&self) -> bool {
        match self.perf_event_paranoid {
            Some(level) if level > 2 => self.has(CAP_SYS_ADMIN),
            _ => self.perfmon(),
        }
    }

    /// Why `perf_event_open(2)` is refused, with the fix; `None` when it should be allowed.
    pub fn perf_events_refusal(&self) -> Option<String> {
        if self.perf_events_allowed() {
            return None;
        }
        Some(match self.perf_event_paranoid {
            Some(level) if level > 2 => format!(
                "kernel.perf_event_paranoid={level} (a Debian/Ubuntu patch) refuses \
                 perf_event_open(2) to any process without CAP_SYS_ADMIN, whatever its other \
                 capabilities; raw tracepoints and fentry need no perf events (the default), or \
                 set `sysctl kernel.perf_event_paranoid=2`"
            ),
            _ => "perf_event_open(2) needs CAP_PERFMON".to_owned(),
        })
    }

    /// `euid N; CAP_BPF yes, ...` for messages and `check`.
    pub fn summary(&self) -> String {
        let names = [
            (CAP_BPF, "CAP_BPF"),
            (CAP_PERFMON, "CAP_PERFMON"),
            (CAP_SYS_PTRACE, "CAP_SYS_PTRACE"),
            (CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH"),
            (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
            (CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE"),
        ];
        let held: Vec<String> = names
            .iter()
            .map(|&(bit, name)| format!("{name} {}", if self.has(bit) { "yes" } else { "no" }))
            .collect();
        format!("euid {}; {}", self.euid, held.join(", "))
    }
}

/// The command that runs `sshd-sensor ARGS` exactly as the systemd unit would: a dynamic
/// unprivileged user holding only the unit's capabilities.
pub fn as_service_command(binary: &str, args: &str) -> String {
    let caps = SERVICE_CAPABILITIES.join(" ");
    format!(
        "systemd-run --pipe --wait --quiet -p DynamicUser=yes -p \"CapabilityBoundingSet={caps}\" \
         -p \"AmbientCapabilities={caps}\" -p NoNewPrivileges=yes {binary} {args}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(caps: &[u32], paranoid: Option<i32>) -> Privileges {
        Privileges {
            euid: 65534,
            caps: caps.iter().fold(0, |acc, &b| acc | (1 << b)),
            perf_event_paranoid: paranoid,
        }
    }

    #[test]
    fn parses_cap_eff() {
        let status = "Name:\tx\nCapEff:\t000000c000080000\nCapBnd:\t1\n";
        let caps = cap_eff(status).unwrap();
        assert!(has(caps, CAP_BPF) && has(caps, CAP_PERFMON) && has(caps, CAP_SYS_PTRACE));
        assert!(!has(caps, CAP_SYS_ADMIN));
        assert_eq!(cap_eff("Name: x\n"), None);
        assert!(!has(u64::MAX, 64));
    }

    #[test]
    fn load_needs_bpf_and_perfmon_or_sys_admin() {
        assert!(
            with(&[CAP_BPF, CAP_PERFMON], None)
                .missing_for_load()
                .is_empty()
        );
        assert!(with(&[CAP_SYS_ADMIN], None).missing_for_load().is_empty());
        assert_eq!(
            with(&[CAP_BPF], None).missing_for_load(),
            vec!["CAP_PERFMON"]
        );
        assert_eq!(
            with(&[], None).missing_for_load(),
            vec!["CAP_BPF", "CAP_PERFMON"]
        );
    }

    #[test]
    fn paranoid_three_needs_sys_admin_for_perf_events() {
        let service = with(&[CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE], Some(3));
        assert!(!service.perf_events_allowed());
        let why = service.perf_events_refusal().unwrap();
        assert!(why.contains("perf_event_paranoid=3"), "{why}");
        assert!(why.contains("CAP_SYS_ADMIN"), "{why}");
        assert!(with(&[CAP_SYS_ADMIN], Some(3)).perf_events_allowed());
        for level in [-1, 0, 1, 2] {
            assert!(with(&[CAP_PERFMON], Some(level)).perf_events_allowed());
            assert!(!with(&[CAP_BPF], Some(level)).perf_events_allowed());
        }
        assert_eq!(
            with(&[CAP_BPF], Some(2)).perf_events_refusal().as_deref(),
            Some("perf_event_open(2) needs CAP_PERFMON")
        );
    }

    #[test]
    fn service_command_carries_the_units_capabilities() {
        let cmd = as_service_command("/usr/bin/sshd-sensor", "check");
        assert!(cmd.starts_with("systemd-run "), "{cmd}");
        assert!(cmd.contains("DynamicUser=yes"), "{cmd}");
        assert!(
            cmd.contains("\"AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_SYS_PTRACE\""),
            "{cmd}"
        );
        assert!(cmd.ends_with("/usr/bin/sshd-sensor check"), "{cmd}");
    }
}
