//! What the enricher reads from `/proc` and the user database, behind [`ProcFs`] so that unit
//! tests run against `enrich::fake::FakeProcFs` instead of the host's processes. [`RealProcFs`] is the
//! host: every read is bounded ([`PROC_READ_MAX`] bytes of a command line, [`MAX_FDS`]
//! descriptors, [`TCP_TABLE_MAX`] bytes of a socket table), whatever the watched user puts there.

use std::{fs, io::Read as _, path::Path};

use crate::kernel::parents::ident::{KernelId, MountDevs};

/// Bytes read of `/proc/PID/cmdline`: a 2 MB argv costs this much and no more (the rest is cut
/// and the process's args are marked truncated). The environment is not read at all.
pub const PROC_READ_MAX: usize = 64 * 1024;

/// Descriptors of one process looked at when searching its sockets.
pub const MAX_FDS: usize = 1024;

/// Bytes read of `/proc/PID/net/tcp` or `tcp6`.
pub const TCP_TABLE_MAX: usize = 4 * 1024 * 1024;

/// At most a bound's worth of a file, and whether the file was longer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bounded {
    pub bytes: Vec<u8>,
    pub truncated: bool,
}

/// The host as the enricher sees it. Every answer is `None` (or empty) when the process is
/// gone or unreadable: nothing is guessed.
pub trait ProcFs {
    /// Whether `/proc/PID/exe` is the file the kernel identifies as `id`.
    fn is_exe(&mut self, pid: u32, id: KernelId) -> Option<bool>;
    /// Where `/proc/PID/exe` points (ask [`ProcFs::is_exe`] first).
    fn exe_path(&mut self, pid: u32) -> Option<String>;
    /// `path` with its symlinks resolved, and the kernel identity of that file in the sensor's
    /// own mount namespace.
    fn resolve(&mut self, path: &str) -> Option<(String, KernelId)>;
    /// At most [`PROC_READ_MAX`] bytes of `/proc/PID/cmdline`.
    fn cmdline(&mut self, pid: u32) -> Option<Bounded>;
    /// The owner (uid) of `/proc/PID`.
    fn owner(&mut self, pid: u32) -> Option<u32>;
    /// The current parent pid of `pid` (`/proc/PID/stat`).
    fn parent_pid(&mut self, pid: u32) -> Option<u32>;
    /// The socket inodes among the first [`MAX_FDS`] descriptors of `pid`.
    fn socket_inodes(&mut self, pid: u32) -> Vec<u64>;
    /// At most [`TCP_TABLE_MAX`] bytes of `/proc/PID/net/tcp` (or `tcp6`): the sockets of
    /// that process's network namespace.
    fn tcp_table(&mut self, pid: u32, v6: bool) -> Option<String>;
    /// The name of user `uid`.
    fn user_name(&mut self, uid: u32) -> Option<String>;
}

/// This host's `/proc` and user database.
#[derive(Debug, Default)]
pub struct RealProcFs {
    mounts: MountDevs,
}

/// Reads at most `max` bytes of `path`, saying whether there was more.
pub fn read_bounded(path: &Path, max: usize) -> Option<Bounded> {
    let file = fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1).read_to_end(&mut bytes).ok()?;
    let truncated = bytes.len() > max;
    bytes.truncate(max);
    Some(Bounded { bytes, truncated })
}

impl ProcFs for RealProcFs {
    fn is_exe(&mut self, pid: u32, id: KernelId) -> Option<bool> {
        self.mounts.is_exe(pid, id)
    }

    fn exe_path(&mut self, pid: u32) -> Option<String> {
        fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    }

    fn resolve(&mut self, path: &str) -> Option<(String, KernelId)> {
        let real = fs::canonicalize(path).ok()?;
        let id = self.mounts.kernel_id(&real).ok()?;
        Some((real.to_string_lossy().into_owned(), id))
    }

    fn cmdline(&mut self, pid: u32) -> Option<Bounded> {
        read_bounded(Path::new(&format!("/proc/{pid}/cmdline")), PROC_READ_MAX)
    }

    fn owner(&mut self, pid: u32) -> Option<u32> {
        use std::os::unix::fs::MetadataExt as _;
        fs::metadata(format!("/proc/{pid}")).ok().map(|m| m.uid())
    }

    fn parent_pid(&mut self, pid: u32) -> Option<u32> {
        let stat = read_bounded(Path::new(&format!("/proc/{pid}/stat")), 4096)?;
        parse_stat_ppid(&stat.bytes)
    }

    fn socket_inodes(&mut self, pid: u32) -> Vec<u64> {
        let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            return Vec::new();
        };
        dir.take(MAX_FDS)
            .filter_map(|entry| fs::read_link(entry.ok()?.path()).ok())
            .filter_map(|target| socket_inode(&target.to_string_lossy()))
            .collect()
    }

    fn tcp_table(&mut self, pid: u32, v6: bool) -> Option<String> {
        let name = if v6 { "tcp6" } else { "tcp" };
        let table = read_bounded(Path::new(&format!("/proc/{pid}/net/{name}")), TCP_TABLE_MAX)?;
        Some(String::from_utf8_lossy(&table.bytes).into_owned())
    }

    fn user_name(&mut self, uid: u32) -> Option<String> {
        user_name(uid)
    }
}

/// The inode of a descriptor link that reads `socket:[INODE]`.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Field 4 of `/proc/PID/stat`, after the `comm` in parentheses (which may hold anything).
pub fn parse_stat_ppid(stat: &[u8]) -> Option<u32> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: passwd is plain data; all-zero is a valid value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; `buf` outlives the use of `pwd`'s strings.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, pw_name is a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_cut_at_the_bound() {
        let dir = std::env::temp_dir().join(format!("sshd-sensor-bounded-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("f");
        fs::write(&path, vec![b'a'; 100]).expect("write");
        let cut = read_bounded(&path, 10).expect("read");
        assert_eq!((cut.bytes.len(), cut.truncated), (10, true));
        let whole = read_bounded(&path, 100).expect("read");
        assert_eq!((whole.bytes.len(), whole.truncated), (100, false));
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn parses_stat_and_socket_links() {
        assert_eq!(parse_stat_ppid(b"12 (a) b) c) S 7 12 12 0"), Some(7));
        assert_eq!(parse_stat_ppid(b"12 (x"), None);
        assert_eq!(socket_inode("socket:[12345]"), Some(12345));
        assert_eq!(socket_inode("pipe:[1]"), None);
    }

    #[test]
    fn the_real_cmdline_of_this_process_is_bounded() {
        let own = RealProcFs::default()
            .cmdline(std::process::id())
            .expect("own cmdline");
        assert!(own.bytes.len() <= PROC_READ_MAX);
    }
}
