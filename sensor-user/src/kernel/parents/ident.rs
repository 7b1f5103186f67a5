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

/// The kernel device of mounts by mount id, for checking many files against the kernel's
/// identities (the enricher verifies every image it names). Mount ids are unique across mount
/// namespaces, but each namespace lists only its own: a process's executable is looked up in
/// that process's `/proc/PID/mountinfo`, a path of the sensor's in its own. Entries are read on
/// a miss (the sensor's own table at most once per [`MountDevs::REREAD`]); a mismatch found
/// through a cached entry is checked again with a fresh read, since ids are reused. Bounded:
/// the cache is emptied beyond [`MountDevs::MAX_ENTRIES`].
#[derive(Debug, Default)]
pub struct MountDevs {
    devs: std::collections::HashMap<u64, u32>,
    own_read_at: Option<std::time::Instant>,
}

impl MountDevs {
    pub const REREAD: std::time::Duration = std::time::Duration::from_secs(1);
    pub const MAX_ENTRIES: usize = 8192;

    /// The kernel identity of the file at `path` in the sensor's own mount namespace
    /// (following links).
    pub fn kernel_id(&mut self, path: &Path) -> io::Result<KernelId> {
        let stx = statx(path)?;
        let known =
            stx.stx_mask & libc::STATX_MNT_ID == 0 || self.devs.contains_key(&stx.stx_mnt_id);
        let stale = self.own_read_at.is_none_or(|t| t.elapsed() >= Self::REREAD);
        let table = (!known && stale).then_some("/proc/self/mountinfo");
        if table.is_some() {
            self.own_read_at = Some(std::time::Instant::now());
        }
        let (id, _) = self.lookup(&stx, table, false);
        Ok(id)
    }

    /// Whether `/proc/PID/exe` is the file the kernel identifies as `expected`.
    pub fn is_exe(&mut self, pid: u32, expected: KernelId) -> Option<bool> {
        let stx = statx(Path::new(&format!("/proc/{pid}/exe"))).ok()?;
        if stx.stx_ino != expected.1 {
            // Another file whatever its mount: no mount table can make it the expected one.
            return Some(false);
        }
        let table = format!("/proc/{pid}/mountinfo");
        let (id, cached) = self.lookup(&stx, Some(&table), false);
        if id == expected || !cached {
            return Some(id == expected);
        }
        Some(self.lookup(&stx, Some(&table), true).0 == expected)
    }

    /// The identity of `stx`, its device from the cache or else from `table` (read on a miss,
    /// or always with `fresh`); `st_dev`'s when neither knows the mount. Also says whether the
    /// device came from the cache.
    fn lookup(&mut self, stx: &libc::statx, table: Option<&str>, fresh: bool) -> (KernelId, bool) {
        let st_dev = kernel_dev(libc::makedev(stx.stx_dev_major, stx.stx_dev_minor));
        if stx.stx_mask & libc::STATX_MNT_ID == 0 {
            return ((st_dev, stx.stx_ino), false);
        }
        let id = stx.stx_mnt_id;
        if !fresh && let Some(&dev) = self.devs.get(&id) {
            return ((dev, stx.stx_ino), true);
        }
        if let Some(text) = table.and_then(|t| std::fs::read_to_string(t).ok()) {
            if self.devs.len() > Self::MAX_ENTRIES {
                self.devs.clear();
            }
            self.devs
                .extend(mountinfo::parse(&text).into_iter().map(|m| (m.id, m.dev)));
        }
        (
            (self.devs.get(&id).copied().unwrap_or(st_dev), stx.stx_ino),
            false,
        )
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
    fn mount_devs_agree_with_resolve() {
        let exe = std::fs::read_link("/proc/self/exe").expect("readlink /proc/self/exe");
        let id = Mounts::read()
            .expect("mountinfo")
            .resolve(&exe)
            .expect("resolve");
        let mut devs = MountDevs::default();
        assert_eq!(devs.kernel_id(&exe).expect("kernel_id"), id.kernel);
        assert_eq!(devs.is_exe(std::process::id(), id.kernel), Some(true));
        assert_eq!(
            devs.is_exe(std::process::id(), (id.kernel.0, 1)),
            Some(false)
        );
        assert!(devs.kernel_id(Path::new("/nonexistent/sshd")).is_err());
    }

    #[test]
    fn missing_path_is_an_error() {
        let mounts = Mounts::read().expect("mountinfo");
        assert!(mounts.resolve(Path::new("/nonexistent/sshd")).is_err());
    }
}
