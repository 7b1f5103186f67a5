//! The sensor under test, run as a real daemon in the HOST namespace (eBPF sees every
//! namespace): `sshd-sensor run --format json`, one JSON alert per stdout line.
//!
//! The binary is `$SSHD_SENSOR_BIN`, or the static one `cargo xtask build` makes,
//! `<workspace>/target/x86_64-unknown-linux-musl/release/sshd-sensor`. Start-up waits (bounded)
//! for `READY=1` on a `$NOTIFY_SOCKET` the harness owns (systemd's readiness protocol), never
//! for log text; [`Sensor::stop`] sends SIGTERM, waits for a clean exit
//! and returns every alert. Stdout and stderr are collected by background
//! threads so alerts can be polled while the sensor runs; tests of the daemon itself also start
//! it through a wrapper or with extra environment ([`Sensor::start_command`]), signal it and
//! wait for its stderr lines. Dropping a running sensor kills it.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use crate::cmd;
use crate::notify_socket::{self, NotifySocket};
use crate::tempdir::TempDir;
use crate::wait;

/// How long the sensor may take to load its programs and send `READY=1`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the readiness wait looks at whether the sensor died.
const NOTIFY_POLL: Duration = Duration::from_millis(100);
/// How long the sensor may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

type Lines = Arc<Mutex<Vec<String>>>;

/// A running sensor.
#[derive(Debug)]
pub struct Sensor {
    child: Child,
    pid: i32,
    command: String,
    stdout: Lines,
    stderr: Lines,
    readers: Vec<JoinHandle<()>>,
    /// The `$NOTIFY_SOCKET` this sensor reports to when the harness made it (dropped after
    /// the sensor: fields drop in order, and `Drop` kills the sensor first).
    own_socket: Option<(NotifySocket, TempDir)>,
}

/// What a stopped sensor produced.
#[derive(Debug)]
pub struct SensorRun {
    /// Every stdout line, parsed as JSON, in order.
    pub alerts: Vec<Value>,
    /// Its whole stderr, for failure messages.
    pub stderr: String,
    pub status: ExitStatus,
}

/// The sensor binary to test; panics with the build command when it is missing.
pub fn binary() -> PathBuf {
    let path = std::env::var_os("SSHD_SENSOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            let workspace = manifest_dir
                .parent()
                .expect("the tests package sits inside the workspace");
            workspace.join("target/x86_64-unknown-linux-musl/release/sshd-sensor")
        });
    assert!(
        path.is_file(),
        "sensor binary {} not found: build it first (cargo xtask build) or point \
         SSHD_SENSOR_BIN at it",
        path.display()
    );
    path
}

/// `sshd-sensor ARGS` with the binary from [`binary`], not yet started.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command.args(args);
    command
}

impl Sensor {
    /// Starts `sshd-sensor run --format json` and waits for its `READY=1`.
    pub fn start() -> Self {
        Self::start_with(&["run", "--format", "json"])
    }

    /// Starts the sensor with `args` and waits for its `READY=1`.
    pub fn start_with(args: &[&str]) -> Self {
        Self::start_command(command(args))
    }

    /// Starts `command`, a sensor invocation built by the caller (extra environment, or wrapped
    /// in another program that execs the sensor, such as `setpriv`), with `$NOTIFY_SOCKET`
    /// pointing at a socket this sensor owns ([`Self::notifications`]), and waits for `READY=1`
    /// on it: the daemon's own word that every program is attached, not a log line.
    pub fn start_command(command: Command) -> Self {
        Self::try_start_command(command).unwrap_or_else(|(status, stderr)| {
            panic!("the sensor exited ({status}) before sending READY=1; stderr:\n{stderr}")
        })
    }

    /// [`Self::start_command`] with a notification socket the caller owns (and reads for the
    /// notifications after `READY=1`).
    pub fn start_notified(command: Command, socket: &NotifySocket) -> Self {
        Self::spawn_notified(command, socket)
    }

    /// [`Self::start_command`] for a sensor that may refuse to start: `Err` with its exit
    /// status and stderr when it exits before `READY=1` (any other failure still panics).
    pub fn try_start_command(command: Command) -> Result<Self, (ExitStatus, String)> {
        assert!(
            !command.get_envs().any(|(k, _)| k == "NOTIFY_SOCKET"),
            "the command sets NOTIFY_SOCKET itself: use Sensor::start_notified with that socket"
        );
        let dir = TempDir::new("sst-sensor");
        let socket = NotifySocket::bind(dir.path());
        let mut sensor = Self::spawn(command, &socket);
        match sensor.await_ready(&socket) {
            Ok(()) => {
                sensor.own_socket = Some((socket, dir));
                Ok(sensor)
            }
            Err(status) => {
                let drained = wait::poll(Duration::from_secs(5), Duration::from_millis(10), || {
                    sensor.readers.iter().all(|r| r.is_finished()).then_some(())
                });
                assert!(
                    drained.is_some(),
                    "the sensor exited but its stderr stayed open"
                );
                Err((status, sensor.stderr_text()))
            }
        }
    }

    fn spawn_notified(command: Command, socket: &NotifySocket) -> Self {
        let mut sensor = Self::spawn(command, socket);
        if let Err(status) = sensor.await_ready(socket) {
            // Let the readers drain what the sensor wrote before it died.
            std::thread::sleep(Duration::from_millis(200));
            panic!(
                "sensor `{}` exited ({status}) before sending READY=1; stderr:\n{}",
                sensor.command,
                sensor.stderr_text()
            );
        }
        sensor
    }

    fn spawn(mut command: Command, socket: &NotifySocket) -> Self {
        // The sensor may run as another uid (the unit's 65534): it must be able to send.
        crate::tempdir::set_mode(socket.path(), 0o777);
        command.env("NOTIFY_SOCKET", socket.path());
        let description = cmd::describe(&command);
        let mut child = cmd::spawn_piped(&mut command);
        let stdout = Lines::default();
        let stderr = Lines::default();
        let readers = vec![
            collect_lines(
                child.stdout.take().expect("stdout was piped"),
                Arc::clone(&stdout),
            ),
            collect_lines(
                child.stderr.take().expect("stderr was piped"),
                Arc::clone(&stderr),
            ),
        ];
        let pid = i32::try_from(child.id()).expect("pid fits in i32");
        Self {
            child,
            pid,
            command: description,
            stdout,
            stderr,
            readers,
            own_socket: None,
        }
    }

    /// Waits (bounded by [`READY_TIMEOUT`]) for a `READY=1` notification; only `STATUS=` lines
    /// may come before it. `Err` with the exit status if the sensor exits first; panics if it
    /// sends anything else or neither happens in time.
    fn await_ready(&mut self, socket: &NotifySocket) -> Result<(), ExitStatus> {
        let deadline = std::time::Instant::now() + READY_TIMEOUT;
        // Bounded in count too: a sensor looping on STATUS messages cannot keep us here.
        for _ in 0..READY_TIMEOUT.as_millis() / NOTIFY_POLL.as_millis() {
            if let Some(status) = self
                .child
                .try_wait()
                .expect("try_wait on the sensor failed")
            {
                return Err(status);
            }
            if std::time::Instant::now() >= deadline {
                break;
            }
            let Some(message) = socket.receive(NOTIFY_POLL) else {
                continue;
            };
            if notify_socket::has(&message, "READY=1") {
                return Ok(());
            }
            assert!(
                message.lines().all(|l| l.starts_with("STATUS=")),
                "sensor `{}` sent {message:?} before READY=1; stderr:\n{}",
                self.command,
                self.stderr_text()
            );
        }
        panic!(
            "sensor `{}` did not send READY=1 on $NOTIFY_SOCKET within {READY_TIMEOUT:?}; \
             stderr so far:\n{}",
            self.command,
            self.stderr_text()
        );
    }

    /// The next notification on the socket [`Self::start_command`] made, waiting at most
    /// `timeout`. Panics for a sensor started with [`Self::start_notified`] (read your socket).
    pub fn notification(&self, timeout: Duration) -> Option<String> {
        let (socket, _) = self
            .own_socket
            .as_ref()
            .expect("started with start_notified: read the caller's socket");
        socket.receive(timeout)
    }

    /// Waits (at most 8 notifications, each within `timeout`) for a notification setting
    /// `assignment` (`RELOADING=1`, `READY=1`); panics naming `when` if none comes.
    pub fn await_notification(&self, assignment: &str, timeout: Duration, when: &str) {
        for _ in 0..8 {
            match self.notification(timeout) {
                Some(m) if notify_socket::has(&m, assignment) => return,
                Some(_) => {}
                None => break,
            }
        }
        panic!(
            "no {assignment} notification ({when}) within {timeout:?}; stderr:\n{}",
            self.stderr_text()
        );
    }

    /// The alerts printed so far. Panics on a stdout line that is not JSON.
    pub fn alerts(&self) -> Vec<Value> {
        parse_alerts(
            &self.stdout.lock().expect("stdout lines lock"),
            &self.stderr_text(),
        )
    }

    /// Polls (bounded by `timeout`) for the first alert satisfying `matches`.
    pub fn wait_for_alert(
        &self,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        wait::poll(timeout, Duration::from_millis(50), || {
            self.alerts().into_iter().find(|a| matches(a))
        })
    }

    /// Everything the sensor wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().expect("stderr lines lock").join("\n")
    }

    /// The sensor's pid (also when it was started through a wrapper that execs it).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `signal` to the sensor; panics if it is gone.
    pub fn signal(&self, signal: libc::c_int) {
        assert!(
            cmd::signal(self.pid, signal),
            "cannot signal the sensor (pid {}): it is gone; stderr:\n{}",
            self.pid,
            self.stderr_text()
        );
    }

    /// Panics (naming `what`) if the sensor has exited.
    pub fn assert_running(&mut self, what: &str) {
        let status = self
            .child
            .try_wait()
            .expect("try_wait on the sensor failed");
        if let Some(status) = status {
            std::thread::sleep(Duration::from_millis(200));
            panic!(
                "{what}: the sensor exited ({status}); stderr:\n{}",
                self.stderr_text()
            );
        }
    }

    /// The stderr lines written so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().expect("stderr lines lock").clone()
    }

    /// Polls (bounded by `timeout`) for a stderr line, among those after the first `skip`,
    /// satisfying `matches`; panics naming `what` if none comes.
    pub fn wait_for_stderr(
        &self,
        skip: usize,
        timeout: Duration,
        what: &str,
        matches: impl Fn(&str) -> bool,
    ) -> String {
        wait::poll(timeout, Duration::from_millis(20), || {
            let lines = self.stderr.lock().expect("stderr lines lock");
            lines.iter().skip(skip).find(|l| matches(l)).cloned()
        })
        .unwrap_or_else(|| {
            panic!(
                "no stderr line {what} within {timeout:?}; stderr:\n{}",
                self.stderr_text()
            )
        })
    }

    /// Sends SIGTERM, waits for the sensor to exit and returns what it printed. Panics if it
    /// does not exit within [`STOP_TIMEOUT`] or exits unsuccessfully.
    pub fn stop(mut self) -> SensorRun {
        cmd::signal(self.pid, libc::SIGTERM);
        let status = cmd::wait_bounded(&mut self.child, STOP_TIMEOUT);
        let Some(status) = status else {
            cmd::kill_and_reap(&mut self.child);
            panic!(
                "sensor did not exit within {STOP_TIMEOUT:?} of SIGTERM (killed it); stderr:\n{}",
                self.stderr_text()
            );
        };
        let drained = wait::poll(Duration::from_secs(5), Duration::from_millis(10), || {
            self.readers.iter().all(|r| r.is_finished()).then_some(())
        });
        assert!(
            drained.is_some(),
            "sensor exited but its stdout/stderr stayed open (a leftover child?)"
        );
        let stderr = self.stderr_text();
        let alerts = parse_alerts(&self.stdout.lock().expect("stdout lines lock"), &stderr);
        assert!(
            status.success(),
            "sensor exited with {status} after SIGTERM (expected a clean exit); {} alert(s); stderr:\n{stderr}",
            alerts.len()
        );
        SensorRun {
            alerts,
            stderr,
            status,
        }
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        cmd::kill_and_reap(&mut self.child);
    }
}

fn collect_lines(source: impl Read + Send + 'static, into: Lines) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(source).lines() {
            let Ok(line) = line else { break };
            into.lock().expect("output lines lock").push(line);
        }
    })
}

fn parse_alerts(lines: &[String], stderr: &str) -> Vec<Value> {
    lines
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| {
                panic!(
                    "sensor printed a stdout line that is not JSON ({e}): {line}\nstderr:\n{stderr}"
                )
            })
        })
        .collect()
}
