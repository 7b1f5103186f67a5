//! Loads the embedded object with the offsets of this kernel, fills the parent-executable
//! table, and attaches the programs: exec and exit tracepoints, and the connect hook chosen by
//! actually attaching (tracepoint, then fentry, then kprobe) unless one is forced. Every
//! failure becomes a [`LoadError`] whose message names the problem and the fix.

use std::{fmt, path::PathBuf};

use aya::{
    Btf as AyaBtf, Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, RingBuf},
    programs::{FEntry, KProbe, TracePoint},
};
use sensor_common::{Config, names};
use tracing::{info, warn};

use super::{btf, mounts, object, parents, tracefs};

/// Which hook reports TCP connect attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectHook {
    /// Try tracepoint, then fentry, then kprobe; keep the first that attaches.
    Auto,
    /// `sock/inet_sock_set_state`, CLOSE -> SYN_SENT.
    Tracepoint,
    /// fentry on `tcp_connect`.
    Fentry,
    /// kprobe on `tcp_connect`.
    Kprobe,
}

impl fmt::Display for ConnectHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectHook::Auto => "auto",
            ConnectHook::Tracepoint => "tracepoint",
            ConnectHook::Fentry => "fentry",
            ConnectHook::Kprobe => "kprobe",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "this binary was built without its eBPF object (SSHD_SENSOR_SKIP_EBPF=1): rebuild with `cargo build --release -p sensor-user`"
    )]
    NoObject,
    #[error(
        "permission denied loading eBPF programs ({0}): run as root, or grant CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (e.g. `sudo sshd-sensor run`)"
    )]
    Permission(String),
    #[error(
        "kernel BTF is not usable ({0}): the sensor needs /sys/kernel/btf/vmlinux (a kernel built with CONFIG_DEBUG_INFO_BTF=y)"
    )]
    Btf(String),
    #[error("{0}")]
    Mount(String),
    #[error(
        "tracepoint {0} is not usable ({1}): the sensor needs a kernel with tracepoints (CONFIG_TRACEPOINTS) and tracefs"
    )]
    Tracepoint(String, String),
    #[error(
        "connect hook {hook} did not attach ({reason}); `sshd-sensor check` shows which hooks work here"
    )]
    ConnectHook { hook: ConnectHook, reason: String },
    #[error("no connect hook attaches on this kernel: {0}")]
    NoConnectHook(String),
    #[error("eBPF object is missing {0}: the binary is broken, rebuild it")]
    Missing(&'static str),
    #[error("loading eBPF programs failed: {0}")]
    Other(String),
}

/// What to load.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub parent_executables: Vec<String>,
    pub connect_hook: ConnectHook,
    /// Attach the empty programs instead (the benchmark's floor).
    pub empty_programs: bool,
}

/// The loaded, attached sensor. Dropping it detaches every program.
pub struct Sensor {
    pub ebpf: Ebpf,
    pub ring: RingBuf<MapData>,
    pub drops: PerCpuArray<MapData, u64>,
    pub connect_hook: ConnectHook,
    pub tracefs: PathBuf,
}

fn classify(err: impl fmt::Display) -> LoadError {
    let text = err.to_string();
    let lower = text.to_lowercase();
    if lower.contains("operation not permitted") || lower.contains("permission denied") {
        LoadError::Permission(text)
    } else {
        LoadError::Other(text)
    }
}

/// Offsets for this kernel: BTF for structs, `format` files for tracepoints. The socket
/// tracepoint is optional (fallback hooks do not need it).
pub fn kernel_config(
    tracefs_root: &std::path::Path,
) -> Result<(Config, Option<String>), LoadError> {
    let kbtf = btf::Btf::from_sys_fs().map_err(|e| LoadError::Btf(e.to_string()))?;
    let mut cfg = Config::default();
    btf::fill_btf_offsets(&kbtf, &mut cfg).map_err(|e| LoadError::Btf(e.to_string()))?;
    let exec_fmt = tracefs::read_format(tracefs_root, "sched", "sched_process_exec")
        .map_err(|e| LoadError::Tracepoint("sched/sched_process_exec".into(), e.to_string()))?;
    let sock_problem = match tracefs::read_format(tracefs_root, "sock", "inet_sock_set_state") {
        Ok(sock_fmt) => match tracefs::fill_tracepoint_offsets(&exec_fmt, &sock_fmt, &mut cfg) {
            Ok(()) => None,
            Err(e) => Some(e.to_string()),
        },
        Err(e) => Some(e.to_string()),
    };
    if sock_problem.is_some() {
        // Without the socket tracepoint only the exec offset is needed (fallback hooks).
        cfg.tp_exec_filename = exec_fmt
            .field("filename")
            .map_err(|e| LoadError::Tracepoint("sched/sched_process_exec".into(), e.to_string()))?
            .offset;
    }
    cfg.ready = 1;
    Ok((cfg, sock_problem))
}

/// Loads and attaches everything; the sensor is live when this returns.
pub fn load(opts: &LoadOptions) -> Result<Sensor, LoadError> {
    if object::OBJECT.is_empty() {
        return Err(LoadError::NoObject);
    }
    check_privileges()?;
    let tracefs = mounts::ensure_tracefs().map_err(|e| LoadError::Mount(e.to_string()))?;
    mounts::ensure_bpffs().map_err(|e| LoadError::Mount(e.to_string()))?;
    let (cfg, sock_problem) = kernel_config(&tracefs)?;

    // No CO-RE relocations to do (offsets come from `kernel_config`), so aya need not parse the
    // kernel's BTF a second time: that alone would double the start-up memory peak.
    let mut ebpf = EbpfLoader::new()
        .btf(None)
        .override_global(names::CONFIG, &cfg, true)
        .load(object::OBJECT)
        .map_err(classify)?;

    parents::set_parents(&mut ebpf, &opts.parent_executables)?;

    let (exec, exit, sock) = if opts.empty_programs {
        ("noop_exec", "noop_exit", "noop_sock_set_state")
    } else {
        (names::PROG_EXEC, names::PROG_EXIT, names::PROG_CONNECT_TP)
    };
    attach_tracepoint(&mut ebpf, exec, "sched", "sched_process_exec")?;
    attach_tracepoint(&mut ebpf, exit, "sched", "sched_process_exit")?;
    let connect_hook = if opts.empty_programs {
        attach_tracepoint(&mut ebpf, sock, "sock", "inet_sock_set_state")?;
        ConnectHook::Tracepoint
    } else {
        attach_connect(&mut ebpf, opts.connect_hook, sock_problem, &cfg)?
    };

    let ring = RingBuf::try_from(
        ebpf.take_map(names::EVENTS)
            .ok_or(LoadError::Missing(names::EVENTS))?,
    )
    .map_err(classify)?;
    let drops = PerCpuArray::try_from(
        ebpf.take_map(names::RINGBUF_DROPS)
            .ok_or(LoadError::Missing(names::RINGBUF_DROPS))?,
    )
    .map_err(classify)?;
    Ok(Sensor {
        ebpf,
        ring,
        drops,
        connect_hook,
        tracefs,
    })
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The effective capability set of this process (`CapEff` in /proc/self/status).
pub fn effective_capabilities() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// Fails early, with the fix, when loading tracing programs cannot be allowed.
fn check_privileges() -> Result<(), LoadError> {
    let caps = effective_capabilities();
    let has = |cap: u32| caps & (1u64 << cap) != 0;
    let bpf = has(CAP_BPF) || has(CAP_SYS_ADMIN);
    let perfmon = has(CAP_PERFMON) || has(CAP_SYS_ADMIN);
    if bpf && perfmon {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let mut lacking = Vec::new();
    if !bpf {
        lacking.push("CAP_BPF");
    }
    if !perfmon {
        lacking.push("CAP_PERFMON");
    }
    Err(LoadError::Permission(format!(
        "running as uid {euid} without {}",
        lacking.join(" and ")
    )))
}

fn attach_tracepoint(
    ebpf: &mut Ebpf,
    prog: &'static str,
    category: &str,
    name: &str,
) -> Result<(), LoadError> {
    let program: &mut TracePoint = ebpf
        .program_mut(prog)
        .ok_or(LoadError::Missing(prog))?
        .try_into()
        .map_err(classify)?;
    program.load().map_err(classify)?;
    program
        .attach(category, name)
        .map_err(|e| match classify(&e) {
            LoadError::Other(text) => LoadError::Tracepoint(format!("{category}/{name}"), text),
            other => other,
        })?;
    Ok(())
}

fn attach_fentry(ebpf: &mut Ebpf) -> Result<(), String> {
    let btf = AyaBtf::from_sys_fs().map_err(|e| e.to_string())?;
    let program: &mut FEntry = ebpf
        .program_mut(names::PROG_CONNECT_FENTRY)
        .ok_or("program missing")?
        .try_into()
        .map_err(|e: aya::programs::ProgramError| e.to_string())?;
    program
        .load("tcp_connect", &btf)
        .map_err(|e| e.to_string())?;
    program.attach().map_err(|e| e.to_string())?;
    Ok(())
}

fn attach_kprobe(ebpf: &mut Ebpf) -> Result<(), String> {
    let program: &mut KProbe = ebpf
        .program_mut(names::PROG_CONNECT_KPROBE)
        .ok_or("program missing")?
        .try_into()
        .map_err(|e: aya::programs::ProgramError| e.to_string())?;
    program.load().map_err(|e| e.to_string())?;
    program
        .attach("tcp_connect", 0)
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Attaches one connect hook: the forced one, or the first of tracepoint, fentry, kprobe.
fn attach_connect(
    ebpf: &mut Ebpf,
    wanted: ConnectHook,
    sock_problem: Option<String>,
    cfg: &Config,
) -> Result<ConnectHook, LoadError> {
    // The fast program reads `newstate` at a fixed offset; only where the format file agrees.
    let tracepoint_program = if cfg.tp_sk_newstate == sensor_common::TP_SK_NEWSTATE_FAST {
        names::PROG_CONNECT_TP_FAST
    } else {
        names::PROG_CONNECT_TP
    };
    choose_connect_hook(wanted, |hook| match hook {
        ConnectHook::Tracepoint => match &sock_problem {
            Some(problem) => Err(format!(
                "tracepoint sock/inet_sock_set_state unusable: {problem}"
            )),
            None => attach_tracepoint(ebpf, tracepoint_program, "sock", "inet_sock_set_state")
                .map_err(|e| e.to_string()),
        },
        ConnectHook::Fentry => attach_fentry(ebpf),
        ConnectHook::Kprobe => attach_kprobe(ebpf),
        ConnectHook::Auto => Err("auto is not a hook".to_owned()),
    })
}

/// The fallback policy, apart from the kernel: a forced hook is tried alone and its failure is
/// final; `Auto` tries tracepoint, fentry, kprobe in turn and keeps the first that attaches.
pub fn choose_connect_hook(
    wanted: ConnectHook,
    mut try_attach: impl FnMut(ConnectHook) -> Result<(), String>,
) -> Result<ConnectHook, LoadError> {
    let candidates: &[ConnectHook] = match wanted {
        ConnectHook::Auto => &[
            ConnectHook::Tracepoint,
            ConnectHook::Fentry,
            ConnectHook::Kprobe,
        ],
        ConnectHook::Tracepoint => &[ConnectHook::Tracepoint],
        ConnectHook::Fentry => &[ConnectHook::Fentry],
        ConnectHook::Kprobe => &[ConnectHook::Kprobe],
    };
    let mut failures = Vec::new();
    for &hook in candidates {
        match try_attach(hook) {
            Ok(()) => {
                info!(mode = %hook, "connect hook attached");
                return Ok(hook);
            }
            Err(reason) if wanted != ConnectHook::Auto => {
                return Err(LoadError::ConnectHook { hook, reason });
            }
            Err(reason) => {
                warn!(mode = %hook, %reason, "connect hook unavailable, trying the next");
                failures.push(format!("{hook}: {reason}"));
            }
        }
    }
    Err(LoadError::NoConnectHook(failures.join("; ")))
}

/// Sum of the per-CPU ring-buffer reservation failures.
pub fn ringbuf_drops(drops: &PerCpuArray<MapData, u64>) -> u64 {
    drops
        .get(&0, 0)
        .map(|values| values.iter().sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(
        works: &[ConnectHook],
        wanted: ConnectHook,
    ) -> (Result<ConnectHook, String>, Vec<ConnectHook>) {
        let mut tried = Vec::new();
        let result = choose_connect_hook(wanted, |hook| {
            tried.push(hook);
            if works.contains(&hook) {
                Ok(())
            } else {
                Err(format!("{hook} refused"))
            }
        });
        (result.map_err(|e| e.to_string()), tried)
    }

    #[test]
    fn auto_prefers_the_tracepoint() {
        let all = [
            ConnectHook::Tracepoint,
            ConnectHook::Fentry,
            ConnectHook::Kprobe,
        ];
        assert_eq!(
            attempt(&all, ConnectHook::Auto),
            (Ok(ConnectHook::Tracepoint), vec![ConnectHook::Tracepoint])
        );
    }

    #[test]
    fn auto_falls_back_to_fentry_then_kprobe() {
        let (result, tried) = attempt(&[ConnectHook::Kprobe], ConnectHook::Auto);
        assert_eq!(result, Ok(ConnectHook::Kprobe));
        assert_eq!(
            tried,
            vec![
                ConnectHook::Tracepoint,
                ConnectHook::Fentry,
                ConnectHook::Kprobe
            ]
        );
        let (result, _) = attempt(
            &[ConnectHook::Fentry, ConnectHook::Kprobe],
            ConnectHook::Auto,
        );
        assert_eq!(result, Ok(ConnectHook::Fentry));
    }

    #[test]
    fn auto_with_nothing_names_every_failure() {
        let (result, _) = attempt(&[], ConnectHook::Auto);
        let err = result.expect_err("nothing attaches");
        for reason in ["tracepoint refused", "fentry refused", "kprobe refused"] {
            assert!(err.contains(reason), "{err}");
        }
    }

    #[test]
    fn a_forced_hook_is_tried_alone() {
        let all = [
            ConnectHook::Tracepoint,
            ConnectHook::Fentry,
            ConnectHook::Kprobe,
        ];
        assert_eq!(
            attempt(&all, ConnectHook::Kprobe),
            (Ok(ConnectHook::Kprobe), vec![ConnectHook::Kprobe])
        );
        let (result, tried) = attempt(&[ConnectHook::Tracepoint], ConnectHook::Fentry);
        assert!(
            result
                .expect_err("forced fentry fails")
                .contains("fentry did not attach")
        );
        assert_eq!(tried, vec![ConnectHook::Fentry]);
    }
}
