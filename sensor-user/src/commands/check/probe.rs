//! The probes of `sshd-sensor check`, one function per row: each looks at the running host
//! (uname, `/sys/kernel/btf/vmlinux`, the privileges and `perf_event_paranoid`, mountinfo, a
//! ring-buffer map, the real loader with each attach kind forced, `/etc/machine-id`, the
//! OpenSSH install) and turns what it finds into [`Row`]s. The attach rows go through the same
//! [`loader::load`] as `run`, so what `check` says works is what `run` will do. Nothing here
//! changes the host except what the loader itself does (mounting a missing tracefs for the
//! perf-tracepoint row, when privileged).

use std::{
    ffi::CStr,
    path::{Path, PathBuf},
    process::Command,
};

use sensor_common::Config as Offsets;

use super::{
    parse,
    report::{Row, Status},
};
use crate::kernel::{
    btf,
    loader::{self, ConnectHook, LoadError, LoadOptions, TracepointKind},
    mounts,
    parents::candidates,
    privileges::{self, CAP_SYS_ADMIN, CAP_SYS_PTRACE, Privileges},
};

fn field(bytes: &[libc::c_char]) -> String {
    // The kernel NUL-terminates every utsname field.
    CStr::from_bytes_until_nul(&bytes.iter().map(|&c| c as u8).collect::<Vec<u8>>())
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn kernel() -> Row {
    // SAFETY: utsname is plain data; uname(2) fills it and only fails on a bad pointer.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return Row::new("kernel", Status::Warn, "uname(2) failed");
    }
    Row::new(
        "kernel",
        Status::Info,
        format!(
            "{} {} ({})",
            field(&uts.sysname),
            field(&uts.release),
            field(&uts.machine)
        ),
    )
    .with(field(&uts.version))
}

pub fn privileges(p: Privileges) -> Row {
    let summary = p.summary();
    let missing = p.missing_for_load();
    if !missing.is_empty() {
        return Row::new("privileges", Status::Fail, summary).with(format!(
            "missing {}: run as root (sudo sshd-sensor check) or through the systemd unit",
            missing.join(" and ")
        ));
    }
    if !p.has(CAP_SYS_PTRACE) {
        return Row::new("privileges", Status::Warn, summary).with(
            "without CAP_SYS_PTRACE other users' executables cannot be read from /proc/PID/exe",
        );
    }
    Row::new("privileges", Status::Ok, summary)
}

/// `kernel.perf_event_paranoid`, and what it allows this process.
pub fn perf_event_paranoid(p: Privileges) -> Row {
    let Some(level) = p.perf_event_paranoid else {
        return Row::new(
            "perf_event_paranoid",
            Status::Info,
            "unreadable (no perf events in this kernel): only raw tracepoints and fentry can work",
        );
    };
    match p.perf_events_refusal() {
        None => Row::new(
            "perf_event_paranoid",
            Status::Info,
            format!("{level}: perf events (perf tracepoints, kprobes) are allowed to this process"),
        ),
        Some(why) => Row::new(
            "perf_event_paranoid",
            Status::Info,
            format!("{level}: perf tracepoints and kprobes are refused to this process"),
        )
        .with(why),
    }
}

/// How to run this check exactly as the service would.
pub fn as_service() -> Row {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_owned))
        .unwrap_or_else(|| "/usr/bin/sshd-sensor".to_owned());
    Row::new(
        "as the service",
        Status::Info,
        "to check with exactly the systemd unit's privileges, run as root:",
    )
    .with(privileges::as_service_command(&binary, "check"))
}

fn btf_offsets(o: &Offsets) -> Vec<String> {
    vec![
        format!(
            "task_struct: real_parent={} group_leader={} tgid={} start_time={} mm={}",
            o.task_real_parent, o.task_group_leader, o.task_tgid, o.task_start_time, o.task_mm
        ),
        format!(
            "mm_struct: exe_file={} arg_start={} arg_end={}; file.f_inode={} inode: i_ino={} \
             i_sb={}; super_block.s_dev={}",
            o.mm_exe_file,
            o.mm_arg_start,
            o.mm_arg_end,
            o.file_f_inode,
            o.inode_i_ino,
            o.inode_i_sb,
            o.sb_s_dev
        ),
        format!(
            "sock_common: skc_daddr={} skc_dport={} skc_family={} skc_v6_daddr={}; \
             sock.sk_protocol={}; linux_binprm.filename={}",
            o.skc_daddr, o.skc_dport, o.skc_family, o.skc_v6_daddr, o.sk_protocol, o.bprm_filename
        ),
    ]
}

pub fn btf() -> Row {
    let path = Path::new(btf::VMLINUX_BTF);
    if !path.exists() {
        return Row::new(
            "BTF",
            Status::Fail,
            format!(
                "{} is missing: use a kernel built with CONFIG_DEBUG_INFO_BTF=y",
                path.display()
            ),
        );
    }
    let parsed = btf::Btf::from_sys_fs().map_err(|e| e.to_string());
    let mut offsets = Offsets::default();
    match parsed.and_then(|b| btf::fill_btf_offsets(&b, &mut offsets).map_err(|e| e.to_string())) {
        Ok(()) => {
            let mut row = Row::new(
                "BTF",
                Status::Ok,
                format!("{} parsed; offsets:", path.display()),
            );
            for line in btf_offsets(&offsets) {
                row = row.with(line);
            }
            row
        }
        Err(e) => Row::new("BTF", Status::Fail, format!("{}: {e}", path.display())),
    }
}

fn mountinfo() -> Vec<mounts::MountEntry> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| mounts::parse_mountinfo(&t))
        .unwrap_or_default()
}

fn kernel_supports(fs_type: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems").is_ok_and(|t| {
        t.lines()
            .any(|l| l.split_whitespace().last() == Some(fs_type))
    })
}

/// tracefs: needed only by the perf-tracepoint fallback. Mounted, mountable, or neither.
pub fn tracefs(p: Privileges) -> (Row, Option<PathBuf>) {
    const PATHS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
    let table = mountinfo();
    if let Some(path) = PATHS
        .iter()
        .map(Path::new)
        .find(|path| mounts::fs_type_at(&table, path) == Some("tracefs"))
    {
        let row = Row::new(
            "tracefs",
            Status::Info,
            format!(
                "mounted at {} (used only by the perf-tracepoint fallback)",
                path.display()
            ),
        );
        return (row, Some(path.to_path_buf()));
    }
    let detail = if !kernel_supports("tracefs") {
        "not mounted, and the kernel does not support it: only raw tracepoints can work".to_owned()
    } else if p.has(CAP_SYS_ADMIN) {
        format!(
            "not mounted; the perf-tracepoint fallback mounts it at {}",
            PATHS[0]
        )
    } else {
        format!(
            "not mounted (not needed with raw tracepoints; the perf-tracepoint fallback needs \
             `mount -t tracefs tracefs {}`)",
            PATHS[0]
        )
    };
    (Row::new("tracefs", Status::Info, detail), None)
}

/// The perf tracepoints' formats and the offsets read from them (fallback only).
pub fn tracepoints(root: Option<&Path>) -> Row {
    let Some(root) = root else {
        return Row::new(
            "tracepoint formats",
            Status::Info,
            "not read: tracefs is not mounted",
        );
    };
    let mut o = Offsets::default();
    match loader::perf_offsets_at(root, &mut o) {
        Ok(None) => Row::new(
            "tracepoint formats",
            Status::Info,
            format!("sched/sched_process_exec: filename={}", o.tp_exec_filename),
        )
        .with(format!(
            "sock/inet_sock_set_state: oldstate={} newstate={} dport={} family={} protocol={} \
             ({} byte) daddr={} daddr_v6={}",
            o.tp_sk_oldstate,
            o.tp_sk_newstate,
            o.tp_sk_dport,
            o.tp_sk_family,
            o.tp_sk_protocol,
            o.tp_sk_protocol_size,
            o.tp_sk_daddr,
            o.tp_sk_daddr_v6
        )),
        Ok(Some(problem)) => Row::new(
            "tracepoint formats",
            Status::Info,
            format!("sock/inet_sock_set_state unusable through perf ({problem})"),
        ),
        Err(e) => {
            let hint = if e.is_permission() {
                " (tracefs is root-only: the perf-tracepoint fallback needs root or \
                 CAP_DAC_READ_SEARCH)"
            } else {
                ""
            };
            Row::new("tracepoint formats", Status::Info, format!("{e}{hint}"))
        }
    }
}

pub fn ring_buffer(p: Privileges) -> Row {
    if !p.bpf() {
        return Row::new(
            "ring buffer",
            Status::Fail,
            "not tested: creating a map needs CAP_BPF",
        );
    }
    match aya::sys::is_map_supported(aya::maps::MapType::RingBuf) {
        Ok(true) => Row::new(
            "ring buffer",
            Status::Ok,
            "BPF_MAP_TYPE_RINGBUF map created and closed",
        ),
        Ok(false) => Row::new(
            "ring buffer",
            Status::Fail,
            "BPF_MAP_TYPE_RINGBUF is not supported: the sensor needs Linux 5.8 or later",
        ),
        Err(e) => Row::new(
            "ring buffer",
            Status::Fail,
            format!("creating a ring buffer failed: {e}"),
        ),
    }
}

/// One way of attaching the whole sensor, as `check` tries it.
#[derive(Clone, Copy, Debug)]
pub struct AttachProbe {
    pub item: &'static str,
    pub tracepoints: TracepointKind,
    pub connect_hook: ConnectHook,
}

/// Every attach kind, in the order `run` prefers them.
pub const ATTACH_PROBES: [AttachProbe; 4] = [
    AttachProbe {
        item: "attach: raw tracepoints",
        tracepoints: TracepointKind::Raw,
        connect_hook: ConnectHook::RawTracepoint,
    },
    AttachProbe {
        item: "attach: perf tracepoints",
        tracepoints: TracepointKind::Perf,
        connect_hook: ConnectHook::Tracepoint,
    },
    AttachProbe {
        item: "connect hook: fentry",
        tracepoints: TracepointKind::Auto,
        connect_hook: ConnectHook::Fentry,
    },
    AttachProbe {
        item: "connect hook: kprobe",
        tracepoints: TracepointKind::Auto,
        connect_hook: ConnectHook::Kprobe,
    },
];

/// Loads the whole sensor with `probe`'s kinds forced, then drops it (detaching every
/// program). A refused permission is reported as such, never as a missing feature.
pub fn attach(probe: AttachProbe, parents: &[String], p: Privileges) -> Row {
    let item = probe.item;
    let missing = p.missing_for_load();
    if !missing.is_empty() {
        return Row::new(
            item,
            Status::Fail,
            format!("not tested: needs {}", missing.join(" and ")),
        );
    }
    let opts = LoadOptions {
        parent_executables: parents.to_vec(),
        excluded_networks: crate::rule::RuleConfig::default().kernel_excluded_networks(),
        tracepoints: probe.tracepoints,
        connect_hook: probe.connect_hook,
        empty_programs: false,
    };
    let uses_perf =
        probe.tracepoints == TracepointKind::Perf || probe.connect_hook.uses_perf_events();
    let refusal = if uses_perf {
        p.perf_events_refusal()
    } else {
        None
    };
    let row = match loader::load(&opts) {
        Ok(sensor) => {
            let lineage = if sensor.fork_lineage {
                "fork hook attached: a child keeps its forking parent after being orphaned"
            } else {
                "no fork hook (it needs raw tracepoints): a child orphaned before it connects \
                 counts as its reaper's child and does not alert"
            };
            let detail = format!(
                "loads and attaches (exec/exit: {} tracepoints, connect: {}; {lineage}; detached \
                 again)",
                sensor.tracepoints, sensor.connect_hook
            );
            drop(sensor);
            return Row::new(item, Status::Ok, detail);
        }
        Err(LoadError::ConnectHook { reason, .. }) => {
            Row::new(item, Status::Warn, format!("does not attach: {reason}"))
        }
        Err(LoadError::Tracepoints(reason)) => {
            Row::new(item, Status::Warn, format!("does not attach: {reason}"))
        }
        Err(e) => Row::new(
            item,
            Status::Fail,
            format!("not tested, loading failed: {e}"),
        ),
    };
    match refusal {
        Some(why) => row.with(format!("refused by permission: {why}")),
        None if probe.connect_hook == ConnectHook::Kprobe
            && !Path::new("/sys/bus/event_source/devices/kprobe").exists() =>
        {
            row.with("no kprobe PMU: this kernel is built without CONFIG_KPROBES")
        }
        None => row,
    }
}

pub fn machine_id() -> Row {
    match std::fs::read_to_string("/etc/machine-id") {
        Ok(text)
            if text.trim().len() == 32 && text.trim().chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            Row::new(
                "machine id",
                Status::Ok,
                format!("{} (host.id)", text.trim()),
            )
        }
        Ok(text) => Row::new(
            "machine id",
            Status::Fail,
            format!(
                "/etc/machine-id is not a 32-digit hex id ({:?}): host.id would be null and the \
                 rule could not join; run systemd-machine-id-setup",
                text.trim()
            ),
        ),
        Err(e) => Row::new(
            "machine id",
            Status::Fail,
            format!(
                "/etc/machine-id: {e}: host.id would be null and the rule could not join any \
                 event; run systemd-machine-id-setup"
            ),
        ),
    }
}

fn version_of(program: &str) -> Option<parse::OpensshVersion> {
    let out = Command::new(program).arg("-V").output().ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    parse::openssh_version(&text)
}

pub fn openssh(parents: &[String]) -> Vec<Row> {
    let version = ["/usr/sbin/sshd", "sshd", "ssh"]
        .iter()
        .find_map(|p| version_of(p).map(|v| (*p, v)));
    let mut rows = vec![match &version {
        Some((program, v)) => Row::new(
            "OpenSSH",
            Status::Info,
            format!("OpenSSH_{} (from `{program} -V`)", v.text),
        ),
        None => Row::new(
            "OpenSSH",
            Status::Warn,
            "no sshd or ssh found: there are no SSH logins to watch",
        ),
    }];
    // The default lists every candidate location; only an explicit list's absences matter.
    for parent in parents.iter().filter(|_| !candidates::is_default(parents)) {
        if !Path::new(parent).exists() {
            rows.push(Row::new(
                "parent executable",
                Status::Warn,
                format!("{parent} does not exist here: logins through it cannot be seen"),
            ));
        }
    }
    match candidates::SSHD_SESSION_PATHS
        .iter()
        .find(|p| Path::new(p).exists())
    {
        Some(session) if parents.iter().any(|p| p == session) => rows.push(Row::new(
            "sshd-session",
            Status::Ok,
            format!("{session} exists and is a parent executable"),
        )),
        Some(session) => rows.push(
            Row::new(
                "sshd-session",
                Status::Warn,
                format!(
                    "{session} exists (OpenSSH 9.8+): user shells are its children; to watch \
                     them add under [rule]:"
                ),
            )
            .with(parse::parent_executables_line(parents, session)),
        ),
        None => rows.push(Row::new(
            "sshd-session",
            Status::Ok,
            match version {
                Some((_, v)) if v.has_sshd_session() => {
                    "none of the usual paths exist, although OpenSSH is 9.8+: find it and add it \
                     to parent_executables"
                        .to_owned()
                }
                _ => "not present: shells are children of /usr/sbin/sshd, as the rule expects"
                    .to_owned(),
            },
        )),
    }
    rows
}
