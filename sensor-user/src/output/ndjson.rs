//! An append-only NDJSON file: created with mode 0640, opened with `O_APPEND`, and reopened by
//! path on SIGHUP so logrotate can move the old file away. A line lands whole or not at all:
//! each goes to the kernel in one `write`, and a short write (the disk filled up in the middle)
//! is cut back to the last whole line. A line that could not be written (ENOSPC, EIO, ...)
//! waits in a bounded backlog, written first, in order, at the next append or [`retry`]
//! (NdjsonFile::retry); when the backlog is full the oldest waiting line is dropped and counted.

use std::{
    collections::VecDeque,
    fs::{File, OpenOptions},
    io::{self, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

/// Lines the backlog holds at most.
pub const BACKLOG_LINES: usize = 1024;
/// Bytes the backlog holds at most.
pub const BACKLOG_BYTES: usize = 4 << 20;

#[derive(Debug)]
pub struct NdjsonFile {
    path: PathBuf,
    file: File,
    line: Vec<u8>,
    backlog: VecDeque<Vec<u8>>,
    backlog_bytes: usize,
    /// Lines dropped from a full backlog (never written).
    pub dropped: u64,
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

/// Writes `line` with one `write`; a short write is cut back off the file (its end was the
/// end of the last whole line), and reported as `WriteZero`.
fn write_whole(file: &mut File, line: &[u8]) -> io::Result<()> {
    let written = loop {
        match file.write(line) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    if written == line.len() {
        return Ok(());
    }
    let end = file.metadata()?.len();
    let whole = end.saturating_sub(written as u64);
    file.set_len(whole)?;
    Err(io::Error::new(
        io::ErrorKind::WriteZero,
        format!(
            "short write ({written} of {} bytes; the partial line was cut off)",
            line.len()
        ),
    ))
}

impl NdjsonFile {
    pub fn open(path: &Path) -> io::Result<NdjsonFile> {
        Ok(NdjsonFile {
            path: path.to_owned(),
            file: open(path)?,
            line: Vec::with_capacity(4096),
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            dropped: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines waiting to be written.
    pub fn backlog(&self) -> usize {
        self.backlog.len()
    }

    /// Writes the waiting lines, oldest first, until one fails.
    pub fn retry(&mut self) -> io::Result<()> {
        while let Some(line) = self.backlog.front() {
            write_whole(&mut self.file, line)?;
            self.backlog_bytes -= line.len();
            self.backlog.pop_front();
        }
        Ok(())
    }

    /// Appends `value` and a newline, whole or not at all. On failure the line waits in the
    /// backlog (see the module note) and the error says why.
    pub fn append(&mut self, value: &serde_json::Value) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, value)?;
        self.line.push(b'\n');
        let result = self
            .retry()
            .and_then(|()| write_whole(&mut self.file, &self.line));
        if let Err(e) = result {
            let line = std::mem::replace(&mut self.line, Vec::with_capacity(4096));
            self.hold(line);
            return Err(e);
        }
        Ok(())
    }

    fn hold(&mut self, line: Vec<u8>) {
        self.backlog_bytes += line.len();
        self.backlog.push_back(line);
        while self.backlog.len() > BACKLOG_LINES || self.backlog_bytes > BACKLOG_BYTES {
            let Some(old) = self.backlog.pop_front() else {
                break;
            };
            self.backlog_bytes -= old.len();
            self.dropped += 1;
        }
    }

    /// Opens the path anew (after logrotate moved the file); waiting lines go to the new file.
    pub fn reopen(&mut self) -> io::Result<()> {
        self.file = open(&self.path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn appends_whole_lines_with_mode_0640_and_reopens_after_rotation() {
        let dir = std::env::temp_dir().join(format!("sshd-sensor-ndjson-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("alerts.ndjson");
        let _ = std::fs::remove_file(&path);
        let mut f = NdjsonFile::open(&path).expect("open");
        f.append(&serde_json::json!({"a": 1})).expect("append");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode & !0o640, 0, "mode {mode:o} wider than 0640");
        std::fs::rename(&path, dir.join("alerts.ndjson.1")).expect("rotate");
        f.reopen().expect("reopen");
        f.append(&serde_json::json!({"b": 2})).expect("append");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "{\"b\":2}\n");
        assert_eq!(
            std::fs::read_to_string(dir.join("alerts.ndjson.1")).expect("read"),
            "{\"a\":1}\n"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    /// /dev/full fails every write with ENOSPC: lines wait, the oldest are dropped past the
    /// bound, and nothing partial is ever written.
    #[test]
    fn failed_lines_wait_in_a_bounded_backlog() {
        let mut f = NdjsonFile::open(Path::new("/dev/full")).expect("open /dev/full");
        let err = f.append(&serde_json::json!({"a": 1})).expect_err("ENOSPC");
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
        assert_eq!(f.backlog(), 1);
        for i in 0..BACKLOG_LINES + 5 {
            let _ = f.append(&serde_json::json!({ "i": i }));
        }
        assert_eq!(f.backlog(), BACKLOG_LINES);
        assert_eq!(f.dropped, 6);
        // Dropped oldest first: the newest line still waits.
        let newest = format!("{{\"i\":{}}}\n", BACKLOG_LINES + 4);
        assert_eq!(
            f.backlog.back().map(|l| l.as_slice()),
            Some(newest.as_bytes())
        );
    }

    /// Once writes work again, the waiting lines come first, in order.
    #[test]
    fn waiting_lines_are_written_first_when_writes_work_again() {
        let dir = std::env::temp_dir().join(format!("sshd-sensor-backlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("alerts.ndjson");
        let _ = std::fs::remove_file(&path);
        let mut f = NdjsonFile::open(&path).expect("open");
        f.hold(b"{\"held\":1}\n".to_vec());
        f.hold(b"{\"held\":2}\n".to_vec());
        f.append(&serde_json::json!({"new": 3})).expect("append");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"held\":1}\n{\"held\":2}\n{\"new\":3}\n"
        );
        assert_eq!(f.backlog(), 0);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_short_write_is_cut_back_to_the_last_whole_line() {
        // RLIMIT_FSIZE makes the kernel write only up to the limit (then EFBIG): a real short
        // write, in a child process so the limit does not leak into other tests.
        let dir = std::env::temp_dir().join(format!("sshd-sensor-short-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("alerts.ndjson");
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, "{\"a\":1}\n").expect("seed");
        // SAFETY: fork in a test; the child only calls async-signal-safe code paths we own
        // (setrlimit, signal, write, ftruncate) and _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = (|| {
                // SAFETY: plain libc calls with valid arguments.
                unsafe {
                    libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                    let limit = libc::rlimit {
                        rlim_cur: 20,
                        rlim_max: libc::RLIM_INFINITY,
                    };
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                        return 2;
                    }
                }
                let Ok(mut f) = NdjsonFile::open(&path) else {
                    return 3;
                };
                match f.append(&serde_json::json!({"long": "xxxxxxxxxxxxxxxxxxxx"})) {
                    Err(e) if e.kind() == io::ErrorKind::WriteZero && f.backlog() == 1 => 0,
                    _ => 4,
                }
            })();
            // SAFETY: leaves the forked child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "child died: {status}");
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "the child saw no short write, or no WriteZero"
        );
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "{\"a\":1}\n");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
