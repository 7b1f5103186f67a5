//! The sensor under test, run as a real daemon in the HOST namespace (eBPF sees every
//! namespace): `sshd-sensor run --format json`, one JSON alert per stdout line.
//!
//! The binary is `$SSHD_SENSOR_BIN`, or the static one `cargo xtask build` makes,
//! `<workspace>/target/x86_64-unknown-linux-musl/release/sshd-sensor`. Start-up waits (bounded)
//! for a stderr line containing `ready`; [`Sensor::stop`] sends SIGTERM, waits for a clean exit
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
use crate::wait;

/// How long the sensor may take to load its programs and say `ready`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
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
    /// Starts `sshd-sensor run --format json` and waits until it reports `ready`.
    pub fn start() -> Self {
        Self::start_with(&["run", "--format", "json"])
    }

    /// Starts the sensor with `args` and waits until a stderr line contains `ready`.
    pub fn start_with(args: &[&str]) -> Self {
        Self::start_command(command(args))
    }

    /// Starts `command`, a sensor invocation built by the caller (extra environment, or wrapped
    /// in another program that execs the sensor, such as `setpriv`), and waits until a stderr
    /// line contains `ready`.
    pub fn start_command(mut command: Command) -> Self {
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
        let mut sensor = Self {
            child,
            pid,
            command: description,
            stdout,
            stderr,
            readers,
        };

        let ready = wait::poll(READY_TIMEOUT, Duration::from_millis(50), || {
            if let Some(status) = sensor
                .child
                .try_wait()
                .expect("try_wait on the sensor failed")
            {
                // Let the readers drain what the sensor wrote before it died.
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "sensor `{}` exited ({status}) before reporting ready; stderr:\n{}",
                    sensor.command,
                    sensor.stderr_text()
                );
            }
            let lines = sensor.stderr.lock().expect("stderr lines lock");
            lines
                .iter()
                .any(|l| l.to_ascii_lowercase().contains("ready"))
                .then_some(())
        });
        assert!(
            ready.is_some(),
            "sensor `{}` did not print a line containing `ready` on stderr within {READY_TIMEOUT:?}; \
             stderr so far:\n{}",
            sensor.command,
            sensor.stderr_text()
        );
        sensor
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
