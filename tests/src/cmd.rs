//! Running external commands (ip, ss, ssh-keygen, ssh, ...) with a time bound, and failing with
//! the whole command line and its output when they do not succeed.

use std::ffi::OsStr;
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::wait;

/// Default bound for short administrative commands (ip, ss, sysctl, useradd).
pub const SHORT: Duration = Duration::from_secs(30);

/// A command that ran to completion.
#[derive(Debug)]
pub struct Finished {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Finished {
    /// Panics, with the command line and both outputs, unless the command exited 0.
    pub fn expect_success(self) -> Self {
        assert!(
            self.status.success(),
            "command failed ({}): {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.command,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// `program arg arg ...`, quoting arguments that contain spaces, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut parts = vec![quote(cmd.get_program())];
    parts.extend(cmd.get_args().map(quote));
    parts.join(" ")
}

fn quote(arg: &OsStr) -> String {
    let text = arg.to_string_lossy();
    if text.is_empty() || text.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
        format!("'{}'", text.replace('\'', r"'\''"))
    } else {
        text.into_owned()
    }
}

/// Starts `cmd` with stdin closed and both outputs piped; panics, naming the command, if it
/// cannot start.
pub fn spawn_piped(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", describe(cmd)))
}

/// Runs `cmd` with stdin closed and both outputs captured, killing it and panicking if it has
/// not finished within `timeout`. Does not look at the exit status.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Finished {
    let command = describe(cmd);
    let started = Instant::now();
    let mut child = spawn_piped(cmd);
    let stdout = read_in_background(child.stdout.take().expect("stdout was piped"));
    let stderr = read_in_background(child.stderr.take().expect("stderr was piped"));
    let status = wait_bounded(&mut child, timeout).unwrap_or_else(|| {
        kill_and_reap(&mut child);
        panic!("`{command}` did not finish within {timeout:?}; killed it");
    });
    // A grandchild may keep a pipe open after the command exits; do not wait for it forever.
    let grace = Duration::from_secs(5);
    let stdout = stdout.recv_timeout(grace).unwrap_or_else(|_| {
        panic!("`{command}` exited but its stdout stayed open for {grace:?} (a leftover child?)")
    });
    let stderr = stderr.recv_timeout(grace).unwrap_or_else(|_| {
        panic!("`{command}` exited but its stderr stayed open for {grace:?} (a leftover child?)")
    });
    Finished {
        command,
        status,
        stdout,
        stderr,
        elapsed: started.elapsed(),
    }
}

/// [`run_bounded`] with [`SHORT`], panicking unless the command exits 0; returns its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    run_bounded(cmd, SHORT).expect_success().stdout
}

/// Waits at most `timeout` for `child` to exit.
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    wait::poll(timeout, Duration::from_millis(10), || {
        child
            .try_wait()
            .expect("try_wait on a child process failed")
    })
}

/// SIGKILLs `child` (if it still runs) and reaps it, bounded.
pub fn kill_and_reap(child: &mut Child) {
    if child.try_wait().ok().flatten().is_none() {
        let _ = child.kill();
        let _ = wait_bounded(child, Duration::from_secs(5));
    }
}

/// Reads `source` to the end on another thread; the text arrives on the returned channel.
pub fn read_in_background(mut source: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = source.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// Sends `signal` to `pid`; returns false if the process no longer exists.
pub fn signal(pid: i32, signal: libc::c_int) -> bool {
    // SAFETY: kill(2) takes plain integers and has no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) == 0 }
}
