//! How each program reaches its hook: the attach kinds (raw tracepoint, perf tracepoint,
//! fentry, kprobe), the fallback order among them (a pure policy, unit-tested), and one
//! function per kind that loads and attaches a program. A failure keeps the kernel's errno, so
//! the loader can tell a refused permission from a missing kernel feature.

use std::{error::Error as StdError, fmt};

use aya::{
    Btf as AyaBtf, Ebpf,
    programs::{FEntry, KProbe, RawTracePoint, TracePoint},
};

/// How the exec and exit programs attach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TracepointKind {
    /// Raw tracepoints, then perf tracepoints if raw ones cannot attach.
    Auto,
    /// Raw tracepoints: BPF links (`BPF_RAW_TRACEPOINT_OPEN`), no perf_event_open(2), no tracefs.
    Raw,
    /// Perf tracepoints: perf_event_open(2), with offsets from tracefs `format` files.
    Perf,
}

impl fmt::Display for TracepointKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TracepointKind::Auto => "auto",
            TracepointKind::Raw => "raw",
            TracepointKind::Perf => "perf",
        })
    }
}

/// Which hook reports TCP connect attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectHook {
    /// The first that attaches: the tracepoint of the exec/exit programs' kind, then fentry,
    /// then kprobe.
    Auto,
    /// Raw tracepoint `inet_sock_set_state`, CLOSE -> SYN_SENT.
    RawTracepoint,
    /// Perf tracepoint `sock/inet_sock_set_state`, CLOSE -> SYN_SENT.
    Tracepoint,
    /// fentry on `tcp_connect`.
    Fentry,
    /// kprobe on `tcp_connect` (perf_event_open(2)).
    Kprobe,
}

impl ConnectHook {
    pub const ALL: [ConnectHook; 4] = [
        ConnectHook::RawTracepoint,
        ConnectHook::Tracepoint,
        ConnectHook::Fentry,
        ConnectHook::Kprobe,
    ];

    /// The configuration-file spelling.
    pub fn name(self) -> &'static str {
        match self {
            ConnectHook::Auto => "auto",
            ConnectHook::RawTracepoint => "raw-tracepoint",
            ConnectHook::Tracepoint => "tracepoint",
            ConnectHook::Fentry => "fentry",
            ConnectHook::Kprobe => "kprobe",
        }
    }

    /// Whether attaching it goes through perf_event_open(2).
    pub fn uses_perf_events(self) -> bool {
        matches!(self, ConnectHook::Tracepoint | ConnectHook::Kprobe)
    }
}

impl fmt::Display for ConnectHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The exec/exit kinds to try, in order.
pub fn tracepoint_candidates(wanted: TracepointKind) -> &'static [TracepointKind] {
    match wanted {
        TracepointKind::Auto => &[TracepointKind::Raw, TracepointKind::Perf],
        TracepointKind::Raw => &[TracepointKind::Raw],
        TracepointKind::Perf => &[TracepointKind::Perf],
    }
}

/// The connect hooks to try, in order, when the exec/exit programs are attached as `kind`
/// (never `Auto`): the tracepoint of the same kind first, then fentry, then kprobe.
pub fn connect_candidates(wanted: ConnectHook, kind: TracepointKind) -> Vec<ConnectHook> {
    match wanted {
        ConnectHook::Auto => {
            let tracepoint = match kind {
                TracepointKind::Perf => ConnectHook::Tracepoint,
                TracepointKind::Raw | TracepointKind::Auto => ConnectHook::RawTracepoint,
            };
            vec![tracepoint, ConnectHook::Fentry, ConnectHook::Kprobe]
        }
        forced => vec![forced],
    }
}

/// A failed load or attach: what was tried, the error text with its causes, and the errno.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachError {
    pub what: String,
    pub text: String,
    pub errno: Option<i32>,
}

impl AttachError {
    pub fn new(what: impl Into<String>, err: &(dyn StdError + 'static)) -> AttachError {
        let mut text = err.to_string();
        let mut errno = None;
        let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
        while let Some(e) = cause {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                errno = errno.or(io.raw_os_error());
            }
            if !std::ptr::eq(e, err) {
                let more = e.to_string();
                if !text.contains(&more) {
                    text = format!("{text}: {more}");
                }
            }
            cause = e.source();
        }
        AttachError {
            what: what.into(),
            text,
            errno,
        }
    }

    pub fn missing(what: impl Into<String>, text: impl Into<String>) -> AttachError {
        AttachError {
            what: what.into(),
            text: text.into(),
            errno: None,
        }
    }

    /// The kernel refused for lack of privilege (EPERM or EACCES), not for a missing feature.
    pub fn is_permission(&self) -> bool {
        matches!(self.errno, Some(libc::EPERM | libc::EACCES))
    }
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.text)
    }
}

fn program<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut T, AttachError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    let prog = ebpf
        .program_mut(name)
        .ok_or_else(|| AttachError::missing(name, "program missing from the eBPF object"))?;
    prog.try_into()
        .map_err(|e: aya::programs::ProgramError| AttachError::new(name, &e))
}

/// Loads program `prog` and attaches it to raw tracepoint `name`.
pub fn raw_tracepoint(ebpf: &mut Ebpf, prog: &str, name: &str) -> Result<(), AttachError> {
    let what = format!("raw tracepoint {name}");
    let p: &mut RawTracePoint = program(ebpf, prog)?;
    p.load().map_err(|e| AttachError::new(&what, &e))?;
    p.attach(name).map_err(|e| AttachError::new(&what, &e))?;
    Ok(())
}

/// Loads program `prog` and attaches it to perf tracepoint `category/name`.
pub fn perf_tracepoint(
    ebpf: &mut Ebpf,
    prog: &str,
    category: &str,
    name: &str,
) -> Result<(), AttachError> {
    let what = format!("tracepoint {category}/{name}");
    let p: &mut TracePoint = program(ebpf, prog)?;
    p.load().map_err(|e| AttachError::new(&what, &e))?;
    p.attach(category, name)
        .map_err(|e| AttachError::new(&what, &e))?;
    Ok(())
}

/// Loads program `prog` as fentry on kernel function `function` and attaches it.
pub fn fentry(ebpf: &mut Ebpf, prog: &str, function: &str) -> Result<(), AttachError> {
    let what = format!("fentry {function}");
    // aya needs the kernel's BTF to find the function's type id (the only place it is parsed
    // by aya; the offsets come from our own reader).
    let btf = AyaBtf::from_sys_fs().map_err(|e| AttachError::new(&what, &e))?;
    let p: &mut FEntry = program(ebpf, prog)?;
    p.load(function, &btf)
        .map_err(|e| AttachError::new(&what, &e))?;
    p.attach().map_err(|e| AttachError::new(&what, &e))?;
    Ok(())
}

/// Loads program `prog` as a kprobe on `function` and attaches it. aya 0.14 has no
/// `kprobe_multi` link (Linux 5.18+), so this goes through perf_event_open(2) (as a BPF link
/// where the kernel supports `BPF_LINK_CREATE` for perf events).
pub fn kprobe(ebpf: &mut Ebpf, prog: &str, function: &str) -> Result<(), AttachError> {
    let what = format!("kprobe {function}");
    let p: &mut KProbe = program(ebpf, prog)?;
    p.load().map_err(|e| AttachError::new(&what, &e))?;
    p.attach(function, 0)
        .map_err(|e| AttachError::new(&what, &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_tries_raw_then_perf() {
        assert_eq!(
            tracepoint_candidates(TracepointKind::Auto),
            &[TracepointKind::Raw, TracepointKind::Perf]
        );
        assert_eq!(
            tracepoint_candidates(TracepointKind::Perf),
            &[TracepointKind::Perf]
        );
    }

    #[test]
    fn auto_connect_follows_the_tracepoint_kind() {
        use ConnectHook::*;
        assert_eq!(
            connect_candidates(Auto, TracepointKind::Raw),
            vec![RawTracepoint, Fentry, Kprobe]
        );
        assert_eq!(
            connect_candidates(Auto, TracepointKind::Perf),
            vec![Tracepoint, Fentry, Kprobe]
        );
        for hook in ConnectHook::ALL {
            assert_eq!(connect_candidates(hook, TracepointKind::Raw), vec![hook]);
        }
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("`perf_event_open` failed")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn errors_keep_the_errno_and_the_causes() {
        let err = AttachError::new(
            "tracepoint sched/sched_process_exec",
            &Outer(std::io::Error::from_raw_os_error(libc::EACCES)),
        );
        assert!(err.is_permission());
        assert_eq!(err.errno, Some(libc::EACCES));
        assert!(
            err.to_string().starts_with(
                "tracepoint sched/sched_process_exec: `perf_event_open` failed: Permission denied"
            ),
            "{err}"
        );
        let missing = AttachError::new(
            "kprobe tcp_connect",
            &Outer(std::io::Error::from_raw_os_error(libc::ENOENT)),
        );
        assert!(!missing.is_permission());
    }

    #[test]
    fn hook_names_round_trip_through_clap() {
        use clap::ValueEnum;
        for hook in ConnectHook::value_variants() {
            assert_eq!(ConnectHook::from_str(hook.name(), false), Ok(*hook));
        }
    }
}
