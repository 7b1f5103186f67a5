//! A minimal non-blocking inotify instance (`inotify_init1`, `inotify_add_watch`,
//! `inotify_rm_watch`, `read`) and a pure decoder of the events `read` returns.

use std::{
    ffi::{CString, OsString},
    io,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
        unix::ffi::{OsStrExt, OsStringExt},
    },
    path::Path,
};

/// What a directory watch reports: entries created, renamed in or out, written, changed,
/// deleted, and the directory itself going away.
pub const DIR_MASK: u32 = libc::IN_CREATE
    | libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_CLOSE_WRITE
    | libc::IN_ATTRIB
    | libc::IN_DELETE
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

/// One decoded event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The watch (-1 for a queue overflow).
    pub wd: i32,
    pub mask: u32,
    /// The entry concerned, for events about an entry of the watched directory.
    pub name: Option<OsString>,
}

/// An inotify file descriptor (non-blocking, close-on-exec).
#[derive(Debug)]
pub struct Inotify(OwnedFd);

impl Inotify {
    pub fn new() -> io::Result<Inotify> {
        // SAFETY: inotify_init1 takes flags only.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor owned by nobody else.
        Ok(Inotify(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Watches `dir` with [`DIR_MASK`]; the same directory twice gives the same descriptor.
    pub fn add(&self, dir: &Path) -> io::Result<i32> {
        let c = CString::new(dir.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: `c` is NUL-terminated and outlives the call.
        let wd = unsafe { libc::inotify_add_watch(self.0.as_raw_fd(), c.as_ptr(), DIR_MASK) };
        if wd < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(wd)
        }
    }

    /// Stops watch `wd` (ignores a watch the kernel already dropped).
    pub fn remove(&self, wd: i32) {
        // SAFETY: plain syscall on our descriptor.
        unsafe { libc::inotify_rm_watch(self.0.as_raw_fd(), wd) };
    }

    /// Reads what is queued into `buf`; `WouldBlock` when nothing is.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }
}

impl AsRawFd for Inotify {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Decodes `struct inotify_event` records (`wd`, `mask`, `cookie`, `len`, then `len` bytes of
/// NUL-padded name); a truncated record ends the decoding.
pub fn decode(mut buf: &[u8]) -> Vec<Event> {
    const HEADER: usize = 16;
    let mut out = Vec::new();
    while buf.len() >= HEADER {
        let word = |i: usize| u32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        let (wd, mask, len) = (word(0) as i32, word(4), word(12) as usize);
        let Some(raw_name) = buf.get(HEADER..HEADER + len) else {
            break;
        };
        let name_len = raw_name.iter().position(|&b| b == 0).unwrap_or(len);
        let name = (name_len > 0).then(|| OsString::from_vec(raw_name[..name_len].to_vec()));
        out.push(Event { wd, mask, name });
        buf = &buf[HEADER + len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(wd: i32, mask: u32, name: &str, padded: usize) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&wd.to_ne_bytes());
        v.extend_from_slice(&mask.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&(padded as u32).to_ne_bytes());
        let mut n = name.as_bytes().to_vec();
        n.resize(padded, 0);
        v.extend_from_slice(&n);
        v
    }

    #[test]
    fn decodes_names_and_nameless_events() {
        let mut buf = record(3, libc::IN_MOVED_TO, "sshd", 16);
        buf.extend(record(3, libc::IN_DELETE_SELF, "", 0));
        buf.extend(record(-1, libc::IN_Q_OVERFLOW, "", 0));
        buf.extend(&record(4, libc::IN_CREATE, "cut", 16)[..20]);
        let events = decode(&buf);
        assert_eq!(
            events,
            [
                Event {
                    wd: 3,
                    mask: libc::IN_MOVED_TO,
                    name: Some("sshd".into())
                },
                Event {
                    wd: 3,
                    mask: libc::IN_DELETE_SELF,
                    name: None
                },
                Event {
                    wd: -1,
                    mask: libc::IN_Q_OVERFLOW,
                    name: None
                },
            ]
        );
    }

    #[test]
    fn sees_a_rename_into_a_watched_directory() {
        let dir = std::env::temp_dir().join(format!("sst-inotify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ino = Inotify::new().expect("inotify_init1");
        let wd = ino.add(&dir).expect("inotify_add_watch");
        std::fs::write(dir.join("new"), b"x").unwrap();
        std::fs::rename(dir.join("new"), dir.join("sshd")).unwrap();
        let mut buf = [0u8; 4096];
        let n = ino.read(&mut buf).expect("events queued");
        let events = decode(&buf[..n]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            events.iter().any(|e| e.wd == wd
                && e.mask & libc::IN_MOVED_TO != 0
                && e.name.as_deref() == Some("sshd".as_ref())),
            "{events:?}"
        );
    }
}
