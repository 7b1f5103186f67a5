//! What a path is, twice over: its identity as the kernel compares it (`i_sb->s_dev` in
//! kernel encoding and `i_ino`, what `PARENT_EXES` holds) and as `stat(2)` shows it (`st_dev`,
//! `st_ino`, what `/proc/PID/exe` gives when asked later whether a process still runs it).
//! The kernel device is that of the mount holding the file (`statx(STATX_MNT_ID)`, Linux 5.8+,
//! looked up in this process's mountinfo), never `st_dev`, which is another device on btrfs
//! and on multi-filesystem overlays. Older kernels fall back to the deepest mount point above
//! the resolved path.

use std::{
    ffi::CString,
    io,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
};

use super::mountinfo::{self, Mount};

/// `(i_sb->s_dev in kernel encoding, i_ino)`: a key of `PARENT_EXES`.
pub type KernelId = (u32, u64);
/// `(st_dev, st_ino)` as userspace sees the same file.
pub type StatId = (u64, u64);

/// One file's identity in both views.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ident {
    pub kernel: KernelId,
    pub stat: StatId,
}

/// Kernel `dev_t` encoding (`MKDEV`: `major << 20 | minor`).
pub fn kernel_dev_of(major: u32, minor: u32) -> u32 {
    (major << 20) | (minor & 0xf_ffff)
}

/// Kernel `dev_t` encoding of a userspace `st_dev`.
pub fn kernel_dev(st_dev: u64) -> u32 {
    kernel_dev_of(libc::major(st_dev), libc::minor(st_dev))
}

/// This process's mount table; identities are resolved against it in batches.
pub struct Mounts(Vec<Mount>);

impl Mounts {
    /// Reads `/proc/self/mountinfo` (the sensor's own mount namespace: only what it sees
    /// counts).
    pub fn read() -> io::Result<Mounts> {
        std::fs::read_to_string("/proc/self/mountinfo").map(|t| Mounts(mountinfo::parse(&t)))
    }

    /// No mounts known: identities fall back to `st_dev`.
    pub fn empty() -> Mounts {
        Mounts(Vec::new())
    }

    /// The identity of the file at `path`, following symlinks.
    pub fn resolve(&self, path: &Path) -> io::Result<Ident> {
        let stx = statx(path)?;
        let stat = (
            libc::makedev(stx.stx_dev_major, stx.stx_dev_minor),
            stx.stx_ino,
        );
        let mount = if stx.stx_mask & libc::STATX_MNT_ID != 0 {
            mountinfo::by_id(&self.0, stx.stx_mnt_id)
        } else {
            let real: PathBuf = std::fs::canonicalize(path)?;
            mountinfo::holding(&self.0, &real)
        };
        // A mount that vanished between statx and reading mountinfo: `st_dev` is right on
        // most filesystems, and the next resolution corrects it.
        let dev = mount.map_or_else(|| kernel_dev(stat.0), |m| m.dev);
        Ok(Ident {
            kernel: (dev, stat.1),
            stat,
        })
    }
}

/// The `stat` view of `/proc/PID/exe` (through the magic link: the file the process runs,
/// whatever its path reads as), or `None` for kernel threads, exited or foreign processes.
pub fn running_image(pid: u32) -> Option<StatId> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(format!("/proc/{pid}/exe")).ok()?;
    Some((meta.dev(), meta.ino()))
}

fn statx(path: &Path) -> io::Result<libc::statx> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statx is plain data; all-zero is a valid value.
    let mut buf: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and outlives the call; `buf` is a valid statx.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::AT_STATX_SYNC_AS_STAT,
            libc::STATX_INO | libc::STATX_MNT_ID,
            &mut buf,
        )
    };
    if rc == 0 {
        Ok(buf)
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    #[test]
    fn kernel_dev_encoding() {
        assert_eq!(kernel_dev(libc::makedev(8, 1)), (8 << 20) | 1);
        assert_eq!(kernel_dev(libc::makedev(259, 300)), (259 << 20) | 300);
        assert_eq!(kernel_dev_of(0, 39), 39);
    }

    /// The kernel's own view of a mapped file (`/proc/self/maps`: `i_sb->s_dev` in hex and
    /// `i_ino`) agrees with the resolved identity of this test binary.
    #[test]
    fn resolved_identity_matches_the_kernels_view() {
        let exe = std::fs::read_link("/proc/self/exe").expect("readlink /proc/self/exe");
        let id = Mounts::read()
            .expect("mountinfo")
            .resolve(&exe)
            .expect("resolve");
        let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
        let line = maps
            .lines()
            .find(|l| l.ends_with(&*exe.to_string_lossy()))
            .expect("own executable mapped");
        let f: Vec<&str> = line.split_whitespace().collect();
        let (major, minor) = f[3].split_once(':').expect("dev field");
        let dev = kernel_dev_of(
            u32::from_str_radix(major, 16).unwrap(),
            u32::from_str_radix(minor, 16).unwrap(),
        );
        assert_eq!(id.kernel, (dev, f[4].parse::<u64>().unwrap()), "{line}");
        let meta = std::fs::metadata(&exe).unwrap();
        assert_eq!(id.stat, (meta.dev(), meta.ino()));
        assert_eq!(running_image(std::process::id()), Some(id.stat));
    }

    #[test]
    fn missing_path_is_an_error() {
        let mounts = Mounts::read().expect("mountinfo");
        assert!(mounts.resolve(Path::new("/nonexistent/sshd")).is_err());
    }
}
