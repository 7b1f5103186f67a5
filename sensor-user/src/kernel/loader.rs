//! Loads the embedded object with the offsets of this kernel, fills the parent-executable
//! table, and attaches the programs. The exec and exit programs attach as raw tracepoints (BPF
//! links: no perf_event_open(2), so `kernel.perf_event_paranoid` does not apply, and no tracefs)
//! and fall back to perf tracepoints; the connect hook is the tracepoint of the same kind, then
//! fentry, then kprobe, each chosen by actually attaching, unless one is forced. `run`, `check`
//! and the benchmark all come through [`load`]. Every failure becomes a [`LoadError`] whose
//! message names the real cause (a refused permission is never reported as a missing kernel
//! feature) and the fix.

use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, RingBuf},
};
use ipnetwork::IpNetwork;
use sensor_common::{Config, names};
use tracing::{info, warn};

pub use super::attach::{ConnectHook, TracepointKind};
use super::{
    attach::{self, AttachError, connect_candidates, tracepoint_candidates},
    btf,
    counters::Counters,
    exclusions, mounts, object, parents,
    privileges::Privileges,
    tracefs,
};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "this binary was built without its eBPF object (SSHD_SENSOR_SKIP_EBPF=1): rebuild with `cargo build --release -p sensor-user`"
    )]
    NoObject,
    #[error(
        "permission denied loading eBPF programs ({0}): run as root, or grant CAP_BPF and CAP_PERFMON (and CAP_SYS_PTRACE to name other users' executables), e.g. `sudo sshd-sensor run` or the systemd unit"
    )]
    Permission(String),
    #[error(
        "kernel BTF is not usable ({0}): the sensor needs /sys/kernel/btf/vmlinux (a kernel built with CONFIG_DEBUG_INFO_BTF=y)"
    )]
    Btf(String),
    #[error("{0}")]
    Tracepoints(String),
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
    /// The user's extra excluded ranges, for the kernel's excluded-destination tables.
    /// Destinations dropped in the kernel ([`crate::rule::RuleConfig::kernel_excluded_networks`]).
    pub excluded_networks: Vec<IpNetwork>,
    /// How the exec and exit programs attach.
    pub tracepoints: TracepointKind,
    pub connect_hook: ConnectHook,
    /// Attach the empty programs instead (the benchmark's floor).
    pub empty_programs: bool,
}

/// The loaded, attached sensor. Dropping it detaches every program.
pub struct Sensor {
    pub ebpf: Ebpf,
    pub ring: RingBuf<MapData>,
    pub counters: Counters,
    /// How the exec and exit programs attached (never `Auto`).
    pub tracepoints: TracepointKind,
    /// Whether the fork hook is attached: only then does a child orphaned before its exec or
    /// connect still count as its stage-1 parent's child (raw tracepoints only; with perf
    /// tracepoints the parent is `real_parent`).
    pub fork_lineage: bool,
    pub connect_hook: ConnectHook,
}

fn classify(what: &str, err: &(dyn std::error::Error + 'static)) -> LoadError {
    let err = AttachError::new(what, err);
    if err.is_permission() {
        LoadError::Permission(err.to_string())
    } else {
        LoadError::Other(err.to_string())
    }
}

/// The kernel-structure offsets, from BTF. Enough for raw tracepoints, fentry and kprobe.
pub fn btf_config() -> Result<Config, LoadError> {
    let kbtf = btf::Btf::from_sys_fs().map_err(|e| LoadError::Btf(e.to_string()))?;
    let mut cfg = Config::default();
    btf::fill_btf_offsets(&kbtf, &mut cfg).map_err(|e| LoadError::Btf(e.to_string()))?;
    Ok(cfg)
}

/// Adds the perf tracepoints' record offsets (from tracefs `format` files, mounting tracefs
/// if needed) to `cfg`. The exec format is required; the socket one is optional, and what
/// stands in its way is returned. Errors keep their errno (a root-only tracefs gives EACCES).
pub fn perf_offsets(cfg: &mut Config) -> Result<Option<String>, AttachError> {
    let root = mounts::ensure_tracefs().map_err(|e| AttachError::new("tracefs", &e))?;
    perf_offsets_at(&root, cfg)
}

/// [`perf_offsets`] from the tracefs mounted at `root` (`check` reads them this way).
pub fn perf_offsets_at(
    root: &std::path::Path,
    cfg: &mut Config,
) -> Result<Option<String>, AttachError> {
    let exec_fmt = tracefs::read_format(root, "sched", "sched_process_exec")
        .map_err(|e| AttachError::new("tracepoint format sched/sched_process_exec", &e))?;
    match tracefs::read_format(root, "sock", "inet_sock_set_state")
        .and_then(|sock_fmt| tracefs::fill_tracepoint_offsets(&exec_fmt, &sock_fmt, cfg))
    {
        Ok(()) => Ok(None),
        Err(sock_problem) => {
            tracefs::fill_exec_offset(&exec_fmt, cfg)
                .map_err(|e| AttachError::new("tracepoint format sched/sched_process_exec", &e))?;
            Ok(Some(sock_problem.to_string()))
        }
    }
}

/// Loads and attaches everything; the sensor is live when this returns.
pub fn load(opts: &LoadOptions) -> Result<Sensor, LoadError> {
    if object::OBJECT.is_empty() {
        return Err(LoadError::NoObject);
    }
    let privileges = Privileges::current();
    let missing = privileges.missing_for_load();
    if !missing.is_empty() {
        return Err(LoadError::Permission(format!(
            "running as uid {} without {}",
            privileges.euid,
            missing.join(" and ")
        )));
    }
    let base = btf_config()?;
    let mut failures: Vec<AttachError> = Vec::new();
    for &kind in tracepoint_candidates(opts.tracepoints) {
        match load_as(opts, kind, base) {
            Ok(sensor) => return Ok(sensor),
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Unavailable(e)) => {
                warn!(kind = %kind, reason = %e, "tracepoints of this kind cannot attach");
                failures.push(e);
            }
        }
    }
    Err(LoadError::Tracepoints(explain_tracepoints(
        &failures,
        &privileges,
    )))
}

/// An `EbpfLoader` that has not parsed the kernel's BTF. aya 0.14's `EbpfLoader::new()` always
/// reads and parses `/sys/kernel/btf/vmlinux` (about 17 MB of transient heap on a 6.x kernel:
/// the whole start-up memory peak of the sensor), even though `.btf(None)` then throws it away.
/// While it runs, `RLIMIT_NOFILE` is lowered to the lowest free descriptor number, so its one
/// `open` fails with EMFILE and it skips the parse (it ignores that error by design); existing
/// descriptors are unaffected and the limit is restored at once. If anything here fails, the
/// loader is simply built the ordinary way. Nothing else runs on this thread meanwhile.
fn loader_without_kernel_btf<'a>() -> EbpfLoader<'a> {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a valid rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) } != 0 {
        return EbpfLoader::new();
    }
    // SAFETY: eventfd(2) has no memory preconditions; it returns the lowest free descriptor.
    let lowest_free = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if lowest_free < 0 {
        return EbpfLoader::new();
    }
    // SAFETY: closing the descriptor just created.
    unsafe { libc::close(lowest_free) };
    let tight = libc::rlimit {
        rlim_cur: lowest_free as libc::rlim_t,
        rlim_max: old.rlim_max,
    };
    // SAFETY: setrlimit reads a valid rlimit; lowering the soft limit needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &tight) } != 0 {
        return EbpfLoader::new();
    }
    let loader = EbpfLoader::new();
    // SAFETY: as above; restoring the soft limit to its old value, within the hard limit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) } != 0 {
        warn!("restoring RLIMIT_NOFILE after building the eBPF loader failed");
    }
    loader
}

/// One sentence on why no tracepoint kind attached: a permission problem is named as such,
/// with what refuses it.
fn explain_tracepoints(failures: &[AttachError], privileges: &Privileges) -> String {
    let details: Vec<String> = failures.iter().map(ToString::to_string).collect();
    let details = details.join("; ");
    if !failures.iter().any(AttachError::is_permission) {
        return format!(
            "no tracepoint attaches on this kernel ({details}): the sensor needs raw \
             tracepoints (Linux 4.17+, CONFIG_BPF_EVENTS) or perf tracepoints with tracefs"
        );
    }
    let mut text = format!("permission denied attaching the tracepoints ({details})");
    if failures
        .iter()
        .any(|f| f.is_permission() && f.what.starts_with("tracepoint format"))
    {
        text.push_str(
            "; tracefs format files are root-only: the perf-tracepoint fallback needs root or \
             CAP_DAC_READ_SEARCH",
        );
    }
    if let Some(why) = privileges.perf_events_refusal() {
        text.push_str(&format!("; perf tracepoints: {why}"));
    }
    text.push_str(&format!(
        "; this process has {}; if that suffices, something else refuses: a seccomp filter \
         (systemd's SystemCallFilter=) or a security module (SELinux, AppArmor, lockdown)",
        privileges.summary()
    ));
    text
}

/// How one attempt at a tracepoint kind ended, when it did not succeed.
enum Attempt {
    /// This kind cannot attach here; another may.
    Unavailable(AttachError),
    /// Nothing else will do better (a forced connect hook failed, the object is broken...).
    Fatal(LoadError),
}

impl From<LoadError> for Attempt {
    fn from(e: LoadError) -> Attempt {
        Attempt::Fatal(e)
    }
}

/// The programs of one attach kind: exec, exit, and the connect tracepoint.
fn programs(kind: TracepointKind, empty: bool) -> [&'static str; 3] {
    match (kind, empty) {
        (TracepointKind::Perf, false) => {
            [names::PROG_EXEC, names::PROG_EXIT, names::PROG_CONNECT_TP]
        }
        (TracepointKind::Perf, true) => [names::NOOP_EXEC, names::NOOP_EXIT, names::NOOP_CONNECT],
        (_, false) => [
            names::PROG_EXEC_RAW,
            names::PROG_EXIT_RAW,
            names::PROG_CONNECT_RAW,
        ],
        (_, true) => [
            names::NOOP_EXEC_RAW,
            names::NOOP_EXIT_RAW,
            names::NOOP_CONNECT_RAW,
        ],
    }
}

fn attach_kind(
    ebpf: &mut Ebpf,
    kind: TracepointKind,
    prog: &str,
    category: &str,
    name: &str,
) -> Result<(), AttachError> {
    match kind {
        TracepointKind::Perf => attach::perf_tracepoint(ebpf, prog, category, name),
        _ => attach::raw_tracepoint(ebpf, prog, name),
    }
}

/// Loads the object and attaches exec and exit as `kind`, then the connect hook.
fn load_as(opts: &LoadOptions, kind: TracepointKind, base: Config) -> Result<Sensor, Attempt> {
    let mut cfg = base;
    let wants_perf_connect = opts.connect_hook == ConnectHook::Tracepoint
        || (opts.connect_hook == ConnectHook::Auto && kind == TracepointKind::Perf);
    let mut sock_problem = None;
    if kind == TracepointKind::Perf || wants_perf_connect {
        match perf_offsets(&mut cfg) {
            Ok(problem) => sock_problem = problem,
            Err(e) if kind == TracepointKind::Perf => return Err(Attempt::Unavailable(e)),
            Err(e) => sock_problem = Some(e.to_string()),
        }
    }
    cfg.ready = 1;

    // No CO-RE relocations to do (offsets come from our own BTF reader), so aya need not parse
    // the kernel's BTF a second time.
    let mut ebpf = loader_without_kernel_btf()
        .btf(None)
        .override_global(names::CONFIG, &cfg, true)
        .load(object::OBJECT)
        .map_err(|e| classify("loading the eBPF object", &e))?;

    parents::set_parents(&mut ebpf, &opts.parent_executables).map_err(LoadError::from)?;
    exclusions::sync(&mut ebpf, &opts.excluded_networks)
        .map_err(|e| LoadError::Other(e.to_string()))?;

    let [exec, exit, sock] = programs(kind, opts.empty_programs);
    // The fork hook first: a child forked between the exec hook's attachment and its own would
    // fall back to real_parent.
    if kind == TracepointKind::Perf && !opts.empty_programs {
        warn!(
            "perf tracepoints have no fork hook: a child orphaned before it connects counts as \
             its reaper's child and does not alert"
        );
    }
    let fork_lineage = kind != TracepointKind::Perf
        && !opts.empty_programs
        && {
            match attach::raw_tracepoint(&mut ebpf, names::PROG_FORK_RAW, "sched_process_fork") {
                Ok(()) => true,
                Err(e) => {
                    warn!(
                        reason = %e,
                        "the fork hook did not attach: a child orphaned before it connects counts as                      its reaper's child"
                    );
                    false
                }
            }
        };
    attach_kind(&mut ebpf, kind, exec, "sched", "sched_process_exec")
        .map_err(Attempt::Unavailable)?;
    attach_kind(&mut ebpf, kind, exit, "sched", "sched_process_exit")
        .map_err(Attempt::Unavailable)?;
    let connect_hook = if opts.empty_programs {
        attach_kind(&mut ebpf, kind, sock, "sock", "inet_sock_set_state")
            .map_err(Attempt::Unavailable)?;
        match kind {
            TracepointKind::Perf => ConnectHook::Tracepoint,
            _ => ConnectHook::RawTracepoint,
        }
    } else {
        attach_connect(
            &mut ebpf,
            opts.connect_hook,
            kind,
            sock_problem.as_deref(),
            &cfg,
        )?
    };

    let ring = RingBuf::try_from(
        ebpf.take_map(names::EVENTS)
            .ok_or(LoadError::Missing(names::EVENTS))?,
    )
    .map_err(|e| classify("the ring buffer", &e))?;
    let counters = Counters::new(
        PerCpuArray::try_from(
            ebpf.take_map(names::COUNTERS)
                .ok_or(LoadError::Missing(names::COUNTERS))?,
        )
        .map_err(|e| classify("the kernel counters", &e))?,
    );
    info!(tracepoints = %kind, connect_hook = %connect_hook, fork_lineage, "programs attached");
    Ok(Sensor {
        ebpf,
        ring,
        counters,
        tracepoints: kind,
        fork_lineage,
        connect_hook,
    })
}

/// Attaches one connect hook: the forced one, or the first that attaches of
/// [`connect_candidates`].
fn attach_connect(
    ebpf: &mut Ebpf,
    wanted: ConnectHook,
    kind: TracepointKind,
    sock_problem: Option<&str>,
    cfg: &Config,
) -> Result<ConnectHook, LoadError> {
    // The fast program reads `newstate` at a fixed offset; only where the format file agrees.
    let perf_program = if cfg.tp_sk_newstate == sensor_common::TP_SK_NEWSTATE_FAST {
        names::PROG_CONNECT_TP_FAST
    } else {
        names::PROG_CONNECT_TP
    };
    choose_connect_hook(wanted, kind, |hook| match hook {
        ConnectHook::RawTracepoint => {
            attach::raw_tracepoint(ebpf, names::PROG_CONNECT_RAW, "inet_sock_set_state")
                .map_err(|e| e.to_string())
        }
        ConnectHook::Tracepoint => match sock_problem {
            Some(problem) => Err(format!(
                "tracepoint sock/inet_sock_set_state unusable: {problem}"
            )),
            None => attach::perf_tracepoint(ebpf, perf_program, "sock", "inet_sock_set_state")
                .map_err(|e| e.to_string()),
        },
        ConnectHook::Fentry => attach::fentry(ebpf, names::PROG_CONNECT_FENTRY, "tcp_connect")
            .map_err(|e| e.to_string()),
        ConnectHook::Kprobe => attach::kprobe(ebpf, names::PROG_CONNECT_KPROBE, "tcp_connect")
            .map_err(|e| e.to_string()),
        ConnectHook::Auto => Err("auto is not a hook".to_owned()),
    })
}

/// The fallback policy, apart from the kernel: a forced hook is tried alone and its failure is
/// final; `Auto` tries [`connect_candidates`] in turn and keeps the first that attaches.
pub fn choose_connect_hook(
    wanted: ConnectHook,
    kind: TracepointKind,
    mut try_attach: impl FnMut(ConnectHook) -> Result<(), String>,
) -> Result<ConnectHook, LoadError> {
    let mut failures = Vec::new();
    for hook in connect_candidates(wanted, kind) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(
        works: &[ConnectHook],
        wanted: ConnectHook,
        kind: TracepointKind,
    ) -> (Result<ConnectHook, String>, Vec<ConnectHook>) {
        let mut tried = Vec::new();
        let result = choose_connect_hook(wanted, kind, |hook| {
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
    fn auto_prefers_the_tracepoint_of_the_same_kind() {
        let all = ConnectHook::ALL;
        assert_eq!(
            attempt(&all, ConnectHook::Auto, TracepointKind::Raw),
            (
                Ok(ConnectHook::RawTracepoint),
                vec![ConnectHook::RawTracepoint]
            )
        );
        assert_eq!(
            attempt(&all, ConnectHook::Auto, TracepointKind::Perf),
            (Ok(ConnectHook::Tracepoint), vec![ConnectHook::Tracepoint])
        );
    }

    #[test]
    fn auto_falls_back_to_fentry_then_kprobe() {
        let (result, tried) = attempt(
            &[ConnectHook::Kprobe],
            ConnectHook::Auto,
            TracepointKind::Raw,
        );
        assert_eq!(result, Ok(ConnectHook::Kprobe));
        assert_eq!(
            tried,
            vec![
                ConnectHook::RawTracepoint,
                ConnectHook::Fentry,
                ConnectHook::Kprobe
            ]
        );
        let (result, _) = attempt(
            &[ConnectHook::Fentry, ConnectHook::Kprobe],
            ConnectHook::Auto,
            TracepointKind::Perf,
        );
        assert_eq!(result, Ok(ConnectHook::Fentry));
    }

    #[test]
    fn auto_with_nothing_names_every_failure() {
        let (result, _) = attempt(&[], ConnectHook::Auto, TracepointKind::Raw);
        let err = result.expect_err("nothing attaches");
        for reason in ["raw-tracepoint refused", "fentry refused", "kprobe refused"] {
            assert!(err.contains(reason), "{err}");
        }
    }

    #[test]
    fn a_forced_hook_is_tried_alone() {
        let all = ConnectHook::ALL;
        assert_eq!(
            attempt(&all, ConnectHook::Kprobe, TracepointKind::Raw),
            (Ok(ConnectHook::Kprobe), vec![ConnectHook::Kprobe])
        );
        let (result, tried) = attempt(
            &[ConnectHook::RawTracepoint],
            ConnectHook::Fentry,
            TracepointKind::Raw,
        );
        assert!(
            result
                .expect_err("forced fentry fails")
                .contains("fentry did not attach")
        );
        assert_eq!(tried, vec![ConnectHook::Fentry]);
    }

    fn nofile() -> (u64, u64) {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into a valid rlimit.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) }, 0);
        (l.rlim_cur, l.rlim_max)
    }

    #[test]
    fn the_loader_without_btf_restores_the_descriptor_limit() {
        let before = nofile();
        let _loader = loader_without_kernel_btf();
        assert_eq!(nofile(), before);
        // Descriptors can be opened again.
        let file = std::fs::File::open("/proc/self/status");
        assert!(file.is_ok(), "{file:?}");
    }

    fn privileges(caps: &[u32], paranoid: i32) -> Privileges {
        Privileges {
            euid: 61000,
            caps: caps.iter().fold(0, |acc, &b| acc | (1 << b)),
            perf_event_paranoid: Some(paranoid),
        }
    }

    #[test]
    fn a_refused_permission_is_not_called_a_missing_feature() {
        use super::super::privileges::{CAP_BPF, CAP_PERFMON};
        let refused = AttachError {
            what: "tracepoint sched/sched_process_exec".into(),
            text: "`perf_event_open_trace_point` failed: Permission denied (os error 13)".into(),
            errno: Some(libc::EACCES),
        };
        let text = explain_tracepoints(&[refused], &privileges(&[CAP_BPF, CAP_PERFMON], 3));
        assert!(text.starts_with("permission denied"), "{text}");
        assert!(text.contains("perf_event_paranoid=3"), "{text}");
        assert!(!text.contains("needs raw tracepoints"), "{text}");
        let absent = AttachError {
            what: "raw tracepoint sched_process_exec".into(),
            text: "No such file or directory (os error 2)".into(),
            errno: Some(libc::ENOENT),
        };
        let text = explain_tracepoints(&[absent], &privileges(&[CAP_BPF, CAP_PERFMON], 2));
        assert!(
            text.starts_with("no tracepoint attaches on this kernel"),
            "{text}"
        );
    }
}
