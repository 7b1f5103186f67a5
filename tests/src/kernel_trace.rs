//! A private tracefs instance that records the two kernel events the rule is built on,
//! `sched/sched_process_exec` and `sock/inet_sock_set_state` entering `TCP_SYN_SENT`, so the
//! harness can prove, without the sensor, that its scenarios really produce them (a negative
//! test is only meaningful if its connect reached `SYN_SENT`).
//!
//! The instance (`instances/sst-<pid>-<n>`) has its own buffer and leaves the global trace and
//! any eBPF program untouched; dropping it disables the events and removes it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::cmd::run_ok;

const TRACEFS: &str = "/sys/kernel/tracing";
static NEXT: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// A recording tracefs instance.
#[derive(Debug)]
pub struct KernelTrace {
    dir: PathBuf,
}

impl KernelTrace {
    /// Creates the instance (mounting tracefs first if needed) and starts recording.
    pub fn start() -> Self {
        if !Path::new(TRACEFS).join("instances").is_dir() {
            run_ok(Command::new("/bin/mount").args(["-t", "tracefs", "nodev", TRACEFS]));
        }
        SWEEP.call_once(sweep_stale);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = Path::new(TRACEFS).join(format!("instances/sst-{}-{n}", std::process::id()));
        std::fs::create_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot create tracefs instance {}: {e}", dir.display()));
        let trace = Self { dir };
        trace.write("buffer_size_kb", "4096");
        trace.write("events/sock/inet_sock_set_state/filter", "newstate == 2");
        trace.write("events/sock/inet_sock_set_state/enable", "1");
        trace.write("events/sched/sched_process_exec/enable", "1");
        trace
    }

    /// The recorded lines so far (`<comm>-<pid> [cpu] ... event: fields`).
    pub fn lines(&self) -> Vec<String> {
        let path = self.dir.join("trace");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    /// The `TCP_SYN_SENT` transitions recorded for task `pid`.
    pub fn syn_sent_by(&self, pid: i32) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.contains("inet_sock_set_state:") && task_pid(l) == Some(pid))
            .collect()
    }

    /// The exec events recorded for `pid`.
    pub fn execs_of(&self, pid: i32) -> Vec<String> {
        let needle = format!(" pid={pid} ");
        self.lines()
            .into_iter()
            .filter(|l| l.contains("sched_process_exec:") && l.contains(&needle))
            .collect()
    }

    fn write(&self, file: &str, value: &str) {
        let path = self.dir.join(file);
        std::fs::write(&path, value)
            .unwrap_or_else(|e| panic!("cannot write {value:?} to {}: {e}", path.display()));
    }
}

impl Drop for KernelTrace {
    fn drop(&mut self) {
        remove_instance(&self.dir);
    }
}

/// Disables the events and removes the instance. Never panics: it runs in `Drop`.
fn remove_instance(dir: &Path) {
    for file in [
        "events/sock/inet_sock_set_state/enable",
        "events/sched/sched_process_exec/enable",
    ] {
        let _ = std::fs::write(dir.join(file), "0");
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        eprintln!(
            "warning: cannot remove tracefs instance {}: {e}",
            dir.display()
        );
    }
}

/// Removes `sst-<pid>-*` instances whose test process no longer exists.
fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(Path::new(TRACEFS).join("instances")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("sst-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            eprintln!("removing stale tracefs instance {name} (its test process {pid} is gone)");
            remove_instance(&entry.path());
        }
    }
}

/// The pid in a trace line's `<comm>-<pid>` task column.
fn task_pid(line: &str) -> Option<i32> {
    let task = line.split(" [").next()?.trim();
    task.rsplit_once('-')?.1.parse().ok()
}
