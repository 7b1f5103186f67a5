//! One sensor process under test: started with `--format json` and the configuration's
//! arguments (`--tracepoints raw|perf`, `--empty-programs` for a floor), considered attached once
//! it says `ready` on stderr (within 60 s), measured from `/proc` while still running (CPU time,
//! peak RSS, start-up included), then stopped with SIGTERM and read for the `ringbuf_drops=` of
//! its final stats line. Its stdout (alerts) is counted; the first alert is shown.
//! [`Running::cpu`] reads its CPU clock (all threads, ns) so each storm can be charged the
//! sensor's own work during it.

use std::{
    fs,
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc::{self, Receiver, RecvTimeoutError},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// What a sensor run cost and reported.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// utime + stime over the process's whole life up to the end of the storms.
    pub cpu_secs: f64,
    /// VmHWM: the peak resident set size, start-up included.
    pub peak_rss_kib: u64,
    /// VmRSS at the end of the storms: the steady state.
    pub rss_kib: u64,
    /// `ringbuf_drops=` from the last stats line; `None` if it printed none.
    pub drops: Option<u64>,
    /// Lines the sensor printed on stdout (alerts).
    pub alerts: u64,
}

pub struct Running {
    child: Child,
    command: String,
    stderr_lines: Receiver<String>,
    stderr: Vec<String>,
    /// Counts stdout lines until EOF; taken by [`Running::stop`].
    stdout_count: Option<JoinHandle<u64>>,
}

/// A sensor left running by an error (a failed storm, say) is killed, never orphaned.
impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Running {
    /// Starts the sensor with `args` after `run --format json` and waits until it says `ready`.
    pub fn start(bin: &Path, args: &[&str]) -> Result<Running> {
        let mut cmd = Command::new(bin);
        cmd.args(["run", "--format", "json"]).args(args);
        let command = crate::exec::line(&cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start `{command}`"))?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            bail!("`{command}`: no stdout/stderr pipe");
        };
        // No process in the storms has an sshd ancestor, so an alert comes from elsewhere on
        // the host (another worktree's test, a real login): shown, so it can be traced.
        let stdout_count = thread::spawn(move || {
            let mut count = 0;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if count == 0 {
                    eprintln!("bench: the sensor alerted (not on the storms): {line}");
                }
                count += 1;
            }
            count
        });
        let (tx, stderr_lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut running = Running {
            child,
            command,
            stderr_lines,
            stderr: Vec::new(),
            stdout_count: Some(stdout_count),
        };
        running.wait_ready()?;
        Ok(running)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) => {
                    let ready = line.contains("ready");
                    self.stderr.push(line);
                    if ready {
                        return Ok(());
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    bail!(
                        "`{}` did not say `ready` within {READY_TIMEOUT:?}; stderr:\n{}",
                        self.command,
                        self.tail()
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait()?;
                    bail!(
                        "`{}` exited ({status}) before `ready`; stderr:\n{}",
                        self.command,
                        self.tail()
                    );
                }
            }
        }
    }

    /// The sensor process's CPU time so far, all threads (its CPU-time clock, in ns).
    pub fn cpu(&self) -> Result<Duration> {
        let pid = libc::pid_t::try_from(self.child.id())?;
        let mut clock: libc::clockid_t = 0;
        // SAFETY: writes the clock id of our own, not yet waited for, child into `clock`.
        let rc = unsafe { libc::clock_getcpuclockid(pid, &raw mut clock) };
        if rc != 0 {
            bail!(
                "clock_getcpuclockid({pid}): {}",
                std::io::Error::from_raw_os_error(rc)
            );
        }
        // SAFETY: an all-zero `timespec` is valid; clock_gettime(2) writes into it.
        let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
        // SAFETY: a clock id from clock_getcpuclockid and a pointer to a live timespec.
        if unsafe { libc::clock_gettime(clock, &raw mut ts) } != 0 {
            bail!(
                "clock_gettime(CPU clock of {pid}): {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(Duration::new(
            u64::try_from(ts.tv_sec)?,
            u32::try_from(ts.tv_nsec)?,
        ))
    }

    /// CPU seconds, peak RSS so far and RSS now, read from `/proc/<pid>` while the sensor
    /// still runs.
    fn measure(&self) -> Result<(f64, u64, u64)> {
        let pid = self.child.id();
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
        let ticks =
            cpu_ticks(&stat).with_context(|| format!("unexpected /proc/{pid}/stat: {stat}"))?;
        // SAFETY: sysconf(3) has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if hz <= 0 {
            bail!("sysconf(_SC_CLK_TCK) returned {hz}");
        }
        let kib = |field| {
            status_kib(&status, field).with_context(|| format!("no {field} in /proc/{pid}/status"))
        };
        Ok((ticks as f64 / hz as f64, kib("VmHWM")?, kib("VmRSS")?))
    }

    /// Measures, then stops the sensor with SIGTERM and reads its final stats line.
    pub fn stop(mut self) -> Result<Usage> {
        let (cpu_secs, peak_rss_kib, rss_kib) = self.measure()?;
        let pid = libc::pid_t::try_from(self.child.id())?;
        // SAFETY: kill(2) on our own child's pid, which has not been waited for.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            bail!("kill -TERM {pid}: {}", std::io::Error::last_os_error());
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!(
                    "`{}` did not stop within {STOP_TIMEOUT:?} of SIGTERM",
                    self.command
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends at EOF, which closes the channel.
        self.stderr.extend(self.stderr_lines.iter());
        if !status.success() {
            bail!(
                "`{}` exited with {status} after SIGTERM; stderr:\n{}",
                self.command,
                self.tail()
            );
        }
        let alerts = self
            .stdout_count
            .take()
            .map_or(Ok(0), JoinHandle::join)
            .map_err(|_| anyhow::anyhow!("stdout reader panicked"))?;
        let drops = self.stderr.iter().rev().find_map(|l| ringbuf_drops(l));
        Ok(Usage {
            cpu_secs,
            peak_rss_kib,
            rss_kib,
            drops,
            alerts,
        })
    }

    fn tail(&self) -> String {
        let from = self.stderr.len().saturating_sub(15);
        self.stderr[from..].join("\n")
    }
}

/// utime + stime (fields 14 and 15) from `/proc/<pid>/stat`, in clock ticks.
fn cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state), so field N is at index N - 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `<field>:  <n> kB` line of `/proc/<pid>/status`, in KiB.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?;
    line.trim().strip_suffix("kB")?.trim().parse().ok()
}

/// The value of `ringbuf_drops=<n>` in a log line, if it has one.
fn ringbuf_drops(line: &str) -> Option<u64> {
    let rest = &line[line.find("ringbuf_drops=")? + "ringbuf_drops=".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_skips_command_with_spaces() {
        let stat =
            "4242 (sshd sensor) S 1 4242 4242 0 -1 4194560 100 0 0 0 17 5 0 0 20 0 2 0 9 0 0";
        assert_eq!(cpu_ticks(stat), Some(22));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn peak_rss_from_status() {
        let status =
            "Name:\tsshd-sensor\nVmPeak:\t  99999 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(12345));
        assert_eq!(status_kib(status, "VmRSS"), Some(1));
        assert_eq!(status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn drops_from_stats_line() {
        let line = "2026-11-28T11:00:00Z  INFO stats records=10 ringbuf_drops=3 decode_errors=0";
        assert_eq!(ringbuf_drops(line), Some(3));
        assert_eq!(ringbuf_drops("INFO ready: all programs attached"), None);
    }
}
