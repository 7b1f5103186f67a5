//! The pseudo-filesystem the perf-tracepoint fallback needs: tracefs (tracepoint formats and
//! ids). Nothing is pinned, so bpffs is neither needed nor mounted.
//! It checks `/proc/self/mountinfo` for them at their standard mount points and mounts them
//! when missing; errors say what is wrong and how to fix it. Parsing mountinfo is pure.

use std::ffi::CString;
use std::path::{Path, PathBuf};

/// Where the kernel's own mount table for this process lives.
const MOUNTINFO: &str = "/proc/self/mountinfo";

/// A filesystem to ensure, and how to mount it.
struct FsSpec {
    /// Name used in messages.
    name: &'static str,
    /// Type passed to mount(2) and shown in mountinfo.
    fs_type: &'static str,
    path: &'static str,
    /// Filesystem-specific mount options.
    data: &'static str,
    /// Kernel option that provides the filesystem.
    kconfig: &'static str,
}

const TRACEFS: FsSpec = FsSpec {
    name: "tracefs",
    fs_type: "tracefs",
    path: "/sys/kernel/tracing",
    data: "",
    kconfig: "CONFIG_TRACING",
};

/// Where tracefs is automounted when debugfs is mounted (older setups).
const TRACEFS_IN_DEBUGFS: &str = "/sys/kernel/debug/tracing";

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error(
        "cannot read {MOUNTINFO} to check whether {fs} is mounted: {source}; mount /proc \
         (mount -t proc proc /proc)"
    )]
    Mountinfo {
        fs: &'static str,
        source: std::io::Error,
    },
    #[error(
        "{fs} is not mounted at {} and that directory does not exist: check that sysfs is \
         mounted at /sys (mount -t sysfs sysfs /sys) and that the kernel has {kconfig}",
        path.display()
    )]
    NoMountPoint {
        fs: &'static str,
        path: PathBuf,
        kconfig: &'static str,
    },
    #[error("{fs} is not mounted at {} and mounting it failed ({errno}): {fix}", path.display())]
    MountFailed {
        fs: &'static str,
        path: PathBuf,
        errno: String,
        fix: String,
        source: std::io::Error,
    },
}

/// One line of `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    /// Mount point, with the kernel's octal escapes (`\040` etc.) decoded.
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub source: String,
}

/// Decodes mountinfo's `\ooo` octal escapes (space, tab, newline, backslash).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes.get(i) == Some(&b'\\'))
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.extend(bytes.get(i));
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every field of one mountinfo line the sensor uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfoLine {
    /// Mount id (what `statx(STATX_MNT_ID)` returns).
    pub id: u64,
    /// The superblock's device (`s_dev`).
    pub major: u32,
    pub minor: u32,
    /// Mount point, octal escapes decoded.
    pub mount_point: PathBuf,
    pub fs_type: String,
    /// Source, octal escapes decoded.
    pub source: String,
}

/// Parses mountinfo text (`id parent maj:min root mount_point options [optional...] - type
/// source super_options`), one line at a time; malformed lines are skipped.
pub fn mountinfo_lines(text: &str) -> impl Iterator<Item = MountInfoLine> + '_ {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let sep = fields.iter().skip(6).position(|f| *f == "-")? + 6;
        let (major, minor) = fields.get(2)?.split_once(':')?;
        Some(MountInfoLine {
            id: fields.first()?.parse().ok()?,
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
            mount_point: PathBuf::from(unescape(fields.get(4)?)),
            fs_type: (*fields.get(sep + 1)?).to_owned(),
            source: unescape(fields.get(sep + 2)?),
        })
    })
}

/// Mount points, types and sources of mountinfo text; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    mountinfo_lines(text)
        .map(|l| MountEntry {
            mount_point: l.mount_point,
            fs_type: l.fs_type,
            source: l.source,
        })
        .collect()
}

/// The type of the filesystem visible at `path` (the last mount there wins), if any.
pub fn fs_type_at<'a>(mounts: &'a [MountEntry], path: &Path) -> Option<&'a str> {
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == path)
        .map(|m| m.fs_type.as_str())
}

/// Symbolic name of the errno values mount(2) commonly returns.
fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::ENODEV => "ENODEV",
        libc::ENOENT => "ENOENT",
        libc::ENOTDIR => "ENOTDIR",
        libc::EBUSY => "EBUSY",
        libc::EINVAL => "EINVAL",
        libc::EROFS => "EROFS",
        libc::ENOMEM => "ENOMEM",
        n => return format!("errno {n}"),
    };
    name.to_owned()
}

/// The error for a failed mount(2), with advice that fits the errno.
fn mount_failed(spec: &FsSpec, source: std::io::Error) -> MountError {
    let errno = source.raw_os_error().unwrap_or(0);
    let command = format!("mount -t {} {} {}", spec.fs_type, spec.fs_type, spec.path);
    let fix = match errno {
        libc::EPERM | libc::EACCES => format!(
            "run as root (CAP_SYS_ADMIN in the initial mount namespace), or mount it: {command}"
        ),
        libc::ENODEV => format!(
            "the kernel does not support {}; use one built with {}",
            spec.name, spec.kconfig
        ),
        _ => format!("mount it: {command}"),
    };
    MountError::MountFailed {
        fs: spec.name,
        path: PathBuf::from(spec.path),
        errno: errno_name(errno),
        fix,
        source,
    }
}

fn read_mounts(spec: &FsSpec) -> Result<Vec<MountEntry>, MountError> {
    std::fs::read_to_string(MOUNTINFO)
        .map(|text| parse_mountinfo(&text))
        .map_err(|source| MountError::Mountinfo {
            fs: spec.name,
            source,
        })
}

/// Mounts `spec` at its path with `nosuid,nodev,noexec,relatime`.
fn mount(spec: &FsSpec) -> Result<(), std::io::Error> {
    let cstr = |s: &str| {
        CString::new(s).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (source, target, fs_type, data) = (
        cstr(spec.fs_type)?,
        cstr(spec.path)?,
        cstr(spec.fs_type)?,
        cstr(spec.data)?,
    );
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RELATIME;
    // SAFETY: every pointer is a NUL-terminated string that outlives the call; `data` is a
    // text option string, as tracefs and bpffs expect.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fs_type.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Mounts `spec` unless mountinfo already shows it at its path. With `fallback`, a mount of
/// the same type there is accepted when mounting fails.
fn ensure(spec: &FsSpec, fallback: Option<&str>) -> Result<PathBuf, MountError> {
    let path = Path::new(spec.path);
    let mounts = read_mounts(spec)?;
    if fs_type_at(&mounts, path) == Some(spec.fs_type) {
        return Ok(path.to_path_buf());
    }
    let err = if path.is_dir() {
        match mount(spec) {
            Ok(()) => return Ok(path.to_path_buf()),
            Err(source) => mount_failed(spec, source),
        }
    } else {
        MountError::NoMountPoint {
            fs: spec.name,
            path: path.to_path_buf(),
            kconfig: spec.kconfig,
        }
    };
    match fallback.map(Path::new) {
        Some(alt) if fs_type_at(&mounts, alt) == Some(spec.fs_type) => Ok(alt.to_path_buf()),
        _ => Err(err),
    }
}

/// Ensures tracefs is mounted at `/sys/kernel/tracing` (mounting it if needed) and returns
/// its path. If mounting fails but tracefs is already visible at `/sys/kernel/debug/tracing`,
/// that path is returned instead.
pub fn ensure_tracefs() -> Result<PathBuf, MountError> {
    ensure(&TRACEFS, Some(TRACEFS_IN_DEBUGFS))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime shared:7 - sysfs sysfs rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
42 23 0:12 / /sys/kernel/tracing rw,nosuid,nodev,noexec,relatime shared:12 master:3 - tracefs tracefs rw
43 23 0:39 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime - bpf bpf rw,mode=700
44 27 0:40 / /mnt/my\\040disk rw - ext4 /dev/sdb\\0401 rw
45 23 0:41 / /sys/fs/bpf rw - tmpfs none rw
garbage line
46 23 0:42 / /x rw - 
";

    #[test]
    fn parses_mountinfo() {
        let mounts = parse_mountinfo(SAMPLE);
        assert_eq!(mounts.len(), 7, "{mounts:#?}");
        assert_eq!(
            mounts[3],
            MountEntry {
                mount_point: "/sys/kernel/tracing".into(),
                fs_type: "tracefs".into(),
                source: "tracefs".into(),
            }
        );
        assert_eq!(mounts[5].mount_point, Path::new("/mnt/my disk"));
        assert_eq!(mounts[5].source, "/dev/sdb 1");
        assert_eq!(
            fs_type_at(&mounts, Path::new("/sys/kernel/tracing")),
            Some("tracefs")
        );
        assert_eq!(fs_type_at(&mounts, Path::new("/sys")), Some("sysfs"));
        // The last mount on a mount point is the visible one.
        assert_eq!(fs_type_at(&mounts, Path::new("/sys/fs/bpf")), Some("tmpfs"));
        assert_eq!(fs_type_at(&mounts, Path::new("/sys/kernel/debug")), None);
        assert_eq!(fs_type_at(&mounts, Path::new("/sys/kernel")), None);
    }

    #[test]
    fn unescapes_only_valid_octal() {
        assert_eq!(unescape(r"a\040b\011c\134d\012"), "a b\tc\\d\n");
        assert_eq!(unescape(r"a\09"), r"a\09");
        assert_eq!(unescape(r"end\"), r"end\");
        assert_eq!(unescape(r"\04"), r"\04");
    }

    #[test]
    fn errors_name_problem_and_fix() {
        let err = mount_failed(&TRACEFS, std::io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(
            err.to_string(),
            "tracefs is not mounted at /sys/kernel/tracing and mounting it failed (EPERM): run \
             as root (CAP_SYS_ADMIN in the initial mount namespace), or mount it: mount -t \
             tracefs tracefs /sys/kernel/tracing"
        );
        assert_eq!(errno_name(12345), "errno 12345");
    }

    /// Mounts for real when needed; run as root with `--ignored`.
    #[test]
    #[ignore = "mounts tracefs; needs root"]
    fn ensures_real_mounts() {
        let tracing = ensure_tracefs().unwrap_or_else(|e| panic!("{e}"));
        assert!(tracing.join("events").is_dir());
        // Idempotent: a second call finds the mount.
        assert_eq!(ensure_tracefs().unwrap(), tracing);
    }
}
