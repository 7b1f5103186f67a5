//! The probes of `sshd-sensor check`, one function per row: each looks at the running host
//! (uname, `/sys/kernel/btf/vmlinux`, mountinfo, a ring-buffer map, the real loader with each
//! connect hook forced, `/proc/self/status`, `/etc/machine-id`, the OpenSSH install) and turns
//! what it finds into [`Row`]s. Nothing here changes the host except what the loader itself
//! does at start-up (mounting a missing tracefs or bpffs, when privileged).

use std::{
    ffi::CStr,
    path::{Path, PathBuf},
    process::Command,
};

use sensor_common::Config as Offsets;

use super::{
    parse::{self, CAP_BPF, CAP_DAC_READ_SEARCH, CAP_PERFMON, CAP_SYS_ADMIN, CAP_SYS_PTRACE, has},
    report::{Row, Status},
};
use crate::kernel::{
    btf,
    loader::{self, ConnectHook, LoadError, LoadOptions},
    mounts,
    parents::candidates,
    tracefs,
};

/// What this process may do, from `/proc/self/status` and `geteuid`.
#[derive(Clone, Copy, Debug)]
pub struct Privileges {
    pub euid: u32,
    pub caps: u64,
}

impl Privileges {
    pub fn current() -> Privileges {
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        let caps = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| parse::cap_eff(&s))
            .unwrap_or(0);
        Privileges { euid, caps }
    }

    /// CAP_BPF (or CAP_SYS_ADMIN, which implies it).
    pub fn bpf(&self) -> bool {
        has(self.caps, CAP_BPF) || has(self.caps, CAP_SYS_ADMIN)
    }

    /// CAP_PERFMON (or CAP_SYS_ADMIN, which implies it).
    pub fn perfmon(&self) -> bool {
        has(self.caps, CAP_PERFMON) || has(self.caps, CAP_SYS_ADMIN)
    }

    /// Whether eBPF tracing programs may be loaded at all.
    pub fn can_load(&self) -> bool {
        self.bpf() && self.perfmon()
    }
}

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
    let names = [
        (CAP_BPF, "CAP_BPF"),
        (CAP_PERFMON, "CAP_PERFMON"),
        (CAP_SYS_PTRACE, "CAP_SYS_PTRACE"),
        (CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH"),
        (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
        (parse::CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE"),
    ];
    let held: Vec<String> = names
        .iter()
        .map(|&(bit, name)| format!("{name} {}", if has(p.caps, bit) { "yes" } else { "no" }))
        .collect();
    let summary = format!("euid {}; {}", p.euid, held.join(", "));
    if !p.can_load() {
        let mut missing = Vec::new();
        if !p.bpf() {
            missing.push("CAP_BPF");
        }
        if !p.perfmon() {
            missing.push("CAP_PERFMON");
        }
        return Row::new("privileges", Status::Fail, summary).with(format!(
            "missing {}: run as root (sudo sshd-sensor check) or through the systemd unit",
            missing.join(" and ")
        ));
    }
    if !has(p.caps, CAP_SYS_PTRACE) {
        return Row::new("privileges", Status::Warn, summary).with(
            "without CAP_SYS_PTRACE other users' executables cannot be read from /proc/PID/exe",
        );
    }
    Row::new("privileges", Status::Ok, summary)
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
            "sock_common: skc_daddr={} skc_dport={} skc_family={} skc_v6_daddr={}",
            o.skc_daddr, o.skc_dport, o.skc_family, o.skc_v6_daddr
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

/// tracefs or bpffs: mounted where the sensor looks, or whether the sensor can mount it.
fn pseudo_fs(name: &str, fs_type: &str, paths: &[&str], p: Privileges) -> (Row, Option<PathBuf>) {
    let table = mountinfo();
    if let Some(path) = paths
        .iter()
        .map(Path::new)
        .find(|path| mounts::fs_type_at(&table, path) == Some(fs_type))
    {
        let row = Row::new(name, Status::Ok, format!("mounted at {}", path.display()));
        return (row, Some(path.to_path_buf()));
    }
    let first = paths.first().copied().unwrap_or_default();
    let command = format!("mount -t {fs_type} {fs_type} {first}");
    let row = if !kernel_supports(fs_type) {
        Row::new(
            name,
            Status::Fail,
            format!("not mounted, and the kernel does not support {fs_type} (/proc/filesystems)"),
        )
    } else if has(p.caps, CAP_SYS_ADMIN) && Path::new(first).is_dir() {
        Row::new(
            name,
            Status::Warn,
            format!("not mounted; mountable: the sensor mounts it at {first} when it starts"),
        )
    } else {
        Row::new(
            name,
            Status::Fail,
            format!(
                "not mounted, and this process cannot mount it (needs CAP_SYS_ADMIN): {command}"
            ),
        )
    };
    (row, None)
}

pub fn tracefs(p: Privileges) -> (Row, Option<PathBuf>) {
    pseudo_fs(
        "tracefs",
        "tracefs",
        &["/sys/kernel/tracing", "/sys/kernel/debug/tracing"],
        p,
    )
}

pub fn bpffs(p: Privileges) -> Row {
    pseudo_fs("bpffs", "bpf", &["/sys/fs/bpf"], p).0
}

/// The tracepoints' formats and the offsets read from them.
pub fn tracepoints(root: Option<&Path>) -> Row {
    let Some(root) = root else {
        return Row::new(
            "tracepoints",
            Status::Fail,
            "not checked: tracefs is not mounted",
        );
    };
    let exec = match tracefs::read_format(root, "sched", "sched_process_exec") {
        Ok(f) => f,
        Err(e) => {
            let hint = if e.to_string().contains("Permission denied") {
                " (tracefs is root-only: run as root or grant CAP_DAC_READ_SEARCH)"
            } else {
                ""
            };
            return Row::new(
                "tracepoints",
                Status::Fail,
                format!("sched/sched_process_exec: {e}{hint}"),
            );
        }
    };
    let mut o = Offsets::default();
    match tracefs::read_format(root, "sock", "inet_sock_set_state")
        .and_then(|sock| tracefs::fill_tracepoint_offsets(&exec, &sock, &mut o))
    {
        Ok(()) => Row::new(
            "tracepoints",
            Status::Ok,
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
        Err(e) => match tracefs::fill_exec_offset(&exec, &mut o) {
            Ok(()) => Row::new(
                "tracepoints",
                Status::Warn,
                format!("sched/sched_process_exec: filename={}", o.tp_exec_filename),
            )
            .with(format!(
                "sock/inet_sock_set_state unusable ({e}): connects need fentry or kprobe"
            )),
            Err(e) => Row::new(
                "tracepoints",
                Status::Fail,
                format!("sched/sched_process_exec: {e}"),
            ),
        },
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

/// Loads the whole sensor with `hook` forced, then drops it (detaching every program).
pub fn connect_hook(hook: ConnectHook, parents: &[String], p: Privileges) -> Row {
    let item = format!("connect hook: {hook}");
    if !p.can_load() {
        return Row::new(
            &item,
            Status::Fail,
            "not tested: needs CAP_BPF and CAP_PERFMON",
        );
    }
    let opts = LoadOptions {
        parent_executables: parents.to_vec(),
        connect_hook: hook,
        empty_programs: false,
    };
    match loader::load(&opts) {
        Ok(sensor) => {
            drop(sensor);
            Row::new(&item, Status::Ok, "loads and attaches (detached again)")
        }
        Err(LoadError::ConnectHook { reason, .. }) => {
            let row = Row::new(&item, Status::Warn, format!("does not attach: {reason}"));
            if hook == ConnectHook::Kprobe
                && !Path::new("/sys/bus/event_source/devices/kprobe").exists()
            {
                row.with("no kprobe PMU: this kernel is built without CONFIG_KPROBES")
            } else {
                row
            }
        }
        Err(e) => Row::new(
            &item,
            Status::Fail,
            format!("not tested, loading failed: {e}"),
        ),
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
