//! Booting one guest: `qemu-system-x86_64` with the rootfs's own kernel and initramfs, the root
//! disk read with `-snapshot` (writes go to a throw-away overlay), the payload disk, no NIC, and
//! two serial ports written to files: ttyS0 is the console (kernel and systemd), ttyS1 carries the
//! guest script's output. The guest powers itself off when its checks are done; one that has not
//! after the timeout is killed. QEMU dies with xtask (PR_SET_PDEATHSIG), so no guest outlives it.

use std::{
    fs::{self, File},
    io::{Read, Seek, SeekFrom},
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

/// How the guest CPU is provided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Accel {
    /// Emulation (TCG), multi-threaded: works everywhere, including under nested virtualisation
    /// where KVM does not.
    Tcg,
    /// KVM with the host's CPU model, where nested KVM works.
    Kvm,
}

/// What to boot and where its output goes.
#[derive(Debug, Clone)]
pub struct Guest {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub root_disk: PathBuf,
    pub payload_disk: PathBuf,
    pub console_log: PathBuf,
    pub results_log: PathBuf,
    pub qemu_log: PathBuf,
    pub accel: Accel,
    /// The whole run: boot, checks, power-off.
    pub timeout: Duration,
    /// Until the script's first line on the results port (a guest stuck in its initramfs or
    /// in an emergency shell says nothing there).
    pub boot_timeout: Duration,
}

/// How a boot ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// QEMU exited by itself (the guest powered off, or QEMU failed).
    Exited(ExitStatus),
    /// Still running at the timeout, so killed.
    TimedOut,
    /// No line on the results port by the boot timeout, so killed.
    NoBoot,
}

/// Kernel command line: root on the first virtio disk, console on ttyS0, and a kernel panic
/// ends QEMU at once (with `-no-reboot`) instead of waiting for the timeout.
const APPEND: &str = "root=/dev/vda rw console=ttyS0,115200 panic=-1 quiet";

pub fn command(guest: &Guest) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    match guest.accel {
        Accel::Tcg => cmd.args(["-accel", "tcg,thread=multi", "-cpu", "max"]),
        Accel::Kvm => cmd.args(["-accel", "kvm", "-cpu", "host"]),
    };
    cmd.args([
        "-m",
        "2048",
        "-smp",
        "2",
        "-nic",
        "none",
        "-nographic",
        "-no-reboot",
    ])
    .args(["-monitor", "none", "-snapshot"])
    .arg("-kernel")
    .arg(&guest.kernel)
    .arg("-initrd")
    .arg(&guest.initrd)
    .args(["-append", APPEND])
    .arg("-drive")
    .arg(drive(&guest.root_disk, ""))
    .arg("-drive")
    .arg(drive(&guest.payload_disk, ",readonly=on"))
    .arg("-serial")
    .arg(format!("file:{}", guest.console_log.display()))
    .arg("-serial")
    .arg(format!("file:{}", guest.results_log.display()));
    cmd
}

fn drive(path: &std::path::Path, extra: &str) -> String {
    // QEMU's option syntax doubles a comma inside a value.
    let file = path.display().to_string().replace(',', ",,");
    format!("file={file},format=raw,if=virtio{extra}")
}

/// Boots `guest` and waits for it, at most its timeout. `on_output` sees each new complete line
/// of the results port as it arrives. Returns how it ended and how long it ran.
pub fn boot(guest: &Guest, mut on_output: impl FnMut(&str)) -> Result<(Ending, Duration)> {
    for log in [&guest.console_log, &guest.results_log] {
        File::create(log).with_context(|| format!("creating {}", log.display()))?;
    }
    let qemu_log = File::create(&guest.qemu_log)
        .with_context(|| format!("creating {}", guest.qemu_log.display()))?;
    let mut cmd = command(guest);
    cmd.stdin(Stdio::null())
        .stdout(qemu_log.try_clone()?)
        .stderr(qemu_log);
    // SAFETY: prctl(2) is async-signal-safe and touches only the child's own state.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let line = crate::exec::line(&cmd);
    eprintln!("+ {line}");
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not start `{line}`"))?;
    let mut reader = Tail::new(guest.results_log.clone());
    let ending = loop {
        if let Some(status) = child.try_wait()? {
            break Ending::Exited(status);
        }
        let late = if start.elapsed() >= guest.timeout {
            Some(Ending::TimedOut)
        } else if !reader.spoke() && start.elapsed() >= guest.boot_timeout {
            Some(Ending::NoBoot)
        } else {
            None
        };
        if let Some(ending) = late {
            let _ = child.kill();
            let _ = child.wait();
            break ending;
        }
        reader.lines(&mut on_output);
        thread::sleep(Duration::from_millis(500));
    };
    let elapsed = start.elapsed();
    reader.lines(&mut on_output);
    reader.finish(&mut on_output);
    Ok((ending, elapsed))
}

/// Follows a growing file and hands out complete lines (without `\r`).
struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Whether the file has had any bytes yet.
    fn spoke(&self) -> bool {
        self.offset > 0
    }

    fn lines(&mut self, on_line: &mut impl FnMut(&str)) {
        let Ok(mut file) = File::open(&self.path) else {
            return;
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut new = Vec::new();
        if let Ok(n) = file.read_to_end(&mut new) {
            self.offset += n as u64;
        }
        self.partial.extend_from_slice(&new);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            on_line(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']));
        }
    }

    /// The last line, if the file does not end with a newline.
    fn finish(&mut self, on_line: &mut impl FnMut(&str)) {
        if !self.partial.is_empty() {
            let line = String::from_utf8_lossy(&self.partial).into_owned();
            self.partial.clear();
            on_line(line.trim_end_matches('\r'));
        }
    }
}

/// The last `n` lines of a log, for a report on a guest that went wrong.
pub fn log_tail(path: &std::path::Path, n: usize) -> String {
    let text = fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_has_no_nic_and_snapshot() {
        let guest = Guest {
            kernel: "/c/vmlinuz".into(),
            initrd: "/c/initrd".into(),
            root_disk: "/c/root,1.img".into(),
            payload_disk: "/p.img".into(),
            console_log: "/l/console.log".into(),
            results_log: "/l/results.log".into(),
            qemu_log: "/l/qemu.log".into(),
            accel: Accel::Tcg,
            timeout: Duration::from_secs(1),
            boot_timeout: Duration::from_secs(1),
        };
        let line = crate::exec::line(&command(&guest));
        assert!(line.contains("-nic none"), "{line}");
        assert!(line.contains("-snapshot"), "{line}");
        assert!(
            line.contains("file=/c/root,,1.img,format=raw,if=virtio"),
            "{line}"
        );
        assert!(line.contains("-serial file:/l/results.log"), "{line}");
        assert!(!line.contains("-netdev"), "{line}");
    }

    #[test]
    fn tail_hands_out_complete_lines() {
        let dir = std::env::temp_dir().join(format!("xtask-tail-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        fs::write(&path, "a\r\nb").unwrap();
        let mut tail = Tail::new(path.clone());
        let mut seen = Vec::new();
        tail.lines(&mut |l| seen.push(l.to_string()));
        assert_eq!(seen, ["a"]);
        fs::write(&path, "a\r\nbc\nd").unwrap();
        tail.lines(&mut |l| seen.push(l.to_string()));
        tail.finish(&mut |l| seen.push(l.to_string()));
        assert_eq!(seen, ["a", "bc", "d"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
