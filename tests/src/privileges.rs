//! Running the sensor with less than root, the way its systemd unit does: as uid/gid 65534
//! (what `DynamicUser=yes` amounts to) with exactly the capabilities the shipped unit
//! (`systemd/sshd-sensor.service`) grants, or with none at all. `setpriv` (util-linux) does
//! the switch and then execs the sensor, so the sensor keeps setpriv's pid.
//!
//! The capability sets are parsed from the unit file itself, so the tests follow the unit: a
//! capability dropped from it is dropped here too.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::prereq::tool;
use crate::sensor;
use crate::tempdir::copy_executable;

/// The uid and gid the unprivileged sensor runs as (`nobody`).
pub const NOBODY: u32 = 65534;

/// The shipped unit, as the build saw it.
const UNIT: &str = include_str!("../../systemd/sshd-sensor.service");

/// Linux capability names (without `CAP_`, lower case) in number order.
const CAPABILITY_NAMES: &[&str] = &[
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// The capabilities a unit grants, as lower-case names without `CAP_` (`bpf`, `perfmon`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitCapabilities {
    /// `CapabilityBoundingSet=`.
    pub bounding: Vec<String>,
    /// `AmbientCapabilities=` (also made inheritable, as systemd does).
    pub ambient: Vec<String>,
}

impl UnitCapabilities {
    /// The shipped unit's capabilities; panics if it sets neither list.
    pub fn of_shipped_unit() -> Self {
        let caps = Self::parse(UNIT);
        assert!(
            !caps.ambient.is_empty() && !caps.bounding.is_empty(),
            "systemd/sshd-sensor.service grants no capabilities (AmbientCapabilities= and \
             CapabilityBoundingSet= are both needed): {caps:?}"
        );
        caps
    }

    /// Parses the `[Service]` capability settings of `unit` the way systemd combines them:
    /// assignments accumulate and an empty one resets. Panics on `~` (inverted) lists and
    /// unknown capability names, which this harness does not model.
    pub fn parse(unit: &str) -> Self {
        let mut caps = Self {
            bounding: Vec::new(),
            ambient: Vec::new(),
        };
        let mut in_service = false;
        for line in unit.lines().map(str::trim) {
            if line.starts_with('[') {
                in_service = line == "[Service]";
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let list = match key.trim() {
                "CapabilityBoundingSet" if in_service => &mut caps.bounding,
                "AmbientCapabilities" if in_service => &mut caps.ambient,
                _ => continue,
            };
            let value = value.trim();
            assert!(
                !value.starts_with('~'),
                "inverted capability list `{line}` is not supported by the test harness"
            );
            if value.is_empty() {
                list.clear();
            }
            for name in value.split_whitespace() {
                let short = name
                    .strip_prefix("CAP_")
                    .unwrap_or_else(|| panic!("capability `{name}` in `{line}` lacks CAP_"))
                    .to_ascii_lowercase();
                capability_number(&short);
                if !list.contains(&short) {
                    list.push(short);
                }
            }
        }
        caps
    }

    /// The mask of the ambient set, as `/proc/PID/status` shows `CapEff` for a non-root
    /// process that got its capabilities through the ambient set.
    pub fn ambient_mask(&self) -> u64 {
        self.ambient
            .iter()
            .fold(0, |mask, name| mask | 1 << capability_number(name))
    }
}

/// The number of capability `name` (`bpf` -> 39); panics on an unknown name.
pub fn capability_number(name: &str) -> u32 {
    CAPABILITY_NAMES
        .iter()
        .position(|known| *known == name)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or_else(|| panic!("unknown capability `{name}`"))
}

/// `-all,+a,+b` for setpriv.
fn setpriv_list(names: &[String]) -> String {
    std::iter::once("-all".to_owned())
        .chain(names.iter().map(|n| format!("+{n}")))
        .collect::<Vec<_>>()
        .join(",")
}

/// A copy of the sensor binary in `dir` (mode 0755), which uid [`NOBODY`] can execute.
pub fn binary_for_nobody(dir: &Path) -> PathBuf {
    let source = sensor::binary();
    let target = dir.join("sshd-sensor");
    copy_executable(&source, &target);
    target
}

/// `setpriv ... <binary> <args>`: uid/gid [`NOBODY`], no groups, no new privileges, and exactly
/// `caps` (inheritable and ambient from the ambient list, bounding from the bounding list).
pub fn under_capabilities(caps: &UnitCapabilities, binary: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(tool("setpriv"));
    command
        .arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .arg("--no-new-privs")
        .arg(format!("--inh-caps={}", setpriv_list(&caps.ambient)))
        .arg(format!("--ambient-caps={}", setpriv_list(&caps.ambient)))
        .arg(format!("--bounding-set={}", setpriv_list(&caps.bounding)))
        .arg(binary)
        .args(args);
    command
}

/// `setpriv ... <binary> <args>`: uid/gid [`NOBODY`], no groups and no capabilities at all.
pub fn without_capabilities(binary: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(tool("setpriv"));
    command
        .arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .arg("--inh-caps=-all")
        .arg("--bounding-set=-all")
        .arg(binary)
        .args(args);
    command
}

/// The value of `key:` in `/proc/<pid>/status` (e.g. `Uid`, `CapEff`); panics if absent.
pub fn proc_status(pid: i32, key: &str) -> String {
    let path = format!("/proc/{pid}/status");
    let status =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("{path} has no {key}: line:\n{status}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unit_capabilities_like_systemd() {
        let unit = "[Unit]\nAmbientCapabilities=CAP_SYS_ADMIN\n[Service]\n\
                    CapabilityBoundingSet=CAP_SYS_ADMIN\nCapabilityBoundingSet=\n\
                    CapabilityBoundingSet=CAP_BPF CAP_PERFMON\nAmbientCapabilities=CAP_BPF\n\
                    AmbientCapabilities=CAP_PERFMON CAP_BPF\n";
        let caps = UnitCapabilities::parse(unit);
        assert_eq!(caps.bounding, ["bpf", "perfmon"]);
        assert_eq!(caps.ambient, ["bpf", "perfmon"]);
        assert_eq!(caps.ambient_mask(), 1 << 39 | 1 << 38);
        assert_eq!(setpriv_list(&caps.bounding), "-all,+bpf,+perfmon");
    }

    #[test]
    fn shipped_unit_grants_capabilities() {
        let caps = UnitCapabilities::of_shipped_unit();
        assert!(caps.ambient.iter().all(|c| caps.bounding.contains(c)));
    }
}
