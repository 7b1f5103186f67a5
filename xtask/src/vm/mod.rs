//! `cargo xtask vm-test`: the VM matrix. For Debian 11, 12 and 13 it builds (or reuses) a
//! rootfs with mmdebstrap ([`rootfs`]), turns it into a disk ([`image`]), boots it under QEMU
//! with the release's own kernel and systemd ([`qemu`]), and lets `tests/vm/guest-test.sh`
//! install the freshly built .deb, start the service with the shipped configuration and run every
//! check inside the guest. It prints the release × check matrix ([`report`]) and fails unless
//! every cell passed and every guest finished in time. Guests have no NIC. Root is needed for
//! mmdebstrap and to build images that keep file ownership.

mod image;
mod qemu;
mod report;
mod rootfs;

use std::{
    collections::VecDeque,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Mutex,
    thread,
    time::Duration,
};

use anyhow::{Context, Result, bail};

use crate::host;
use qemu::{Accel, Ending};
use report::GuestReport;
use rootfs::{RELEASES, Release};

const GUEST_SCRIPT: &str = "tests/vm/guest-test.sh";
const DEFAULT_CACHE: &str = "/var/cache/sshd-sensor-vm";
/// Seconds a guest may run (boot, checks, power-off) before it is killed.
const DEFAULT_TIMEOUT: u64 = 600;
/// Seconds a guest may take to start its script: TCG boots take 30-60 s here.
const DEFAULT_BOOT_TIMEOUT: u64 = 240;
/// Guests at once: two overlap well on two host cores, since a guest spends much of its time
/// waiting (connects held in SYN_SENT, alert polling, service restarts).
const DEFAULT_JOBS: usize = 2;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// A release to test, by codename or version (repeat; default: bullseye, bookworm, trixie).
    #[arg(long = "release", value_name = "NAME")]
    pub releases: Vec<String>,
    /// Test this .deb instead of building one with packaging/build-deb.sh.
    #[arg(long, value_name = "PATH")]
    pub deb: Option<PathBuf>,
    /// Seconds a guest may run before it is killed and reported as timed out.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_TIMEOUT)]
    pub timeout: u64,
    /// Seconds a guest may take to boot and say its first line before it is killed.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_BOOT_TIMEOUT)]
    pub boot_timeout: u64,
    /// Guests booted at the same time.
    #[arg(long, default_value_t = DEFAULT_JOBS)]
    pub jobs: usize,
    /// Where root filesystems and disk images are cached between runs.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_CACHE)]
    pub cache: PathBuf,
    /// Rebuild the cached root filesystems even when their recipe has not changed.
    #[arg(long)]
    pub rebuild: bool,
    /// CPU provider: tcg (emulation, works under nested virtualisation) or kvm.
    #[arg(long, value_enum, default_value = "tcg")]
    pub accel: Accel,
    /// For development: run only this group of checks after the prerequisites (repeat; alert,
    /// excluded, reload, logrotate, rename, kill-restart, check-as-service-user, stop-unloads,
    /// hooks). The others show as not-run, so the matrix fails.
    #[arg(long, value_name = "GROUP")]
    pub only: Vec<String>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            releases: Vec::new(),
            deb: None,
            timeout: DEFAULT_TIMEOUT,
            boot_timeout: DEFAULT_BOOT_TIMEOUT,
            jobs: DEFAULT_JOBS,
            cache: PathBuf::from(DEFAULT_CACHE),
            rebuild: false,
            accel: Accel::Tcg,
            only: Vec::new(),
        }
    }
}

pub fn execute(args: Args) -> Result<()> {
    host::require_root(
        "vm-test",
        "mmdebstrap and disk images that keep file ownership need root",
    )?;
    let releases = select(&args.releases)?;
    let deb = match &args.deb {
        Some(deb) => deb.clone(),
        None => build_deb()?,
    };
    if !deb.is_file() {
        bail!("{} is not a file", deb.display());
    }
    let script = host::root().join(GUEST_SCRIPT);
    let out = host::target_dir().join("vm-test");
    eprintln!(
        "vm-test: {} on {} (logs in {})",
        deb.display(),
        releases
            .iter()
            .map(|r| r.codename)
            .collect::<Vec<_>>()
            .join(", "),
        out.display()
    );

    let queue = Mutex::new(
        releases
            .iter()
            .copied()
            .enumerate()
            .collect::<VecDeque<_>>(),
    );
    let done = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..args.jobs.clamp(1, releases.len()) {
            scope.spawn(|| {
                while let Some((i, release)) =
                    queue.lock().map(|mut q| q.pop_front()).ok().flatten()
                {
                    let report = run_guest(release, &deb, &script, &out, &args);
                    if let Ok(mut done) = done.lock() {
                        done.push((i, report));
                    }
                }
            });
        }
    });
    let mut reports = done.into_inner().unwrap_or_default();
    reports.sort_by_key(|(i, _)| *i);
    let reports: Vec<GuestReport> = reports.into_iter().map(|(_, r)| r).collect();

    let (table, ok) = report::matrix(&reports);
    println!("\nvm-test: {}\n", deb.display());
    println!("{table}");
    for r in &reports {
        println!("vm-test: {}", r.timing());
        for info in r.info.iter().filter(|i| !i.starts_with("checks-done")) {
            println!("vm-test:   {info}");
        }
    }
    println!("vm-test: logs in {}", out.display());
    if !ok {
        bail!("the VM matrix has failures (see the table above)");
    }
    println!("vm-test: every check passed on every release");
    Ok(())
}

/// The releases named on the command line (codename or version), or all of them.
fn select(names: &[String]) -> Result<Vec<Release>> {
    if names.is_empty() {
        return Ok(RELEASES.to_vec());
    }
    let mut releases: Vec<Release> = names
        .iter()
        .map(|name| {
            RELEASES
                .iter()
                .copied()
                .find(|r| r.codename == name || r.version.to_string() == *name)
                .with_context(|| {
                    format!(
                        "unknown release {name:?}: one of {}",
                        RELEASES
                            .iter()
                            .map(|r| format!("{} ({})", r.codename, r.version))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
        })
        .collect::<Result<_>>()?;
    releases.sort_by_key(|r| r.version);
    releases.dedup();
    Ok(releases)
}

/// Runs packaging/build-deb.sh (build output shown) and returns the .deb it printed.
fn build_deb() -> Result<PathBuf> {
    let mut cmd = Command::new("bash");
    cmd.arg(crate::deb::SCRIPT).current_dir(host::root());
    let line = crate::exec::line(&cmd);
    eprintln!("+ {line}");
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    if !out.status.success() {
        bail!("`{line}` failed ({})", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = stdout
        .lines()
        .last()
        .map(str::trim)
        .filter(|l| l.ends_with(".deb"))
        .with_context(|| format!("`{line}` did not print the .deb's path: {stdout}"))?;
    Ok(PathBuf::from(path))
}

/// Builds what `release` needs, boots it, and collects its report; a step that fails becomes the
/// guest's problem in the matrix.
fn run_guest(release: Release, deb: &Path, script: &Path, out: &Path, args: &Args) -> GuestReport {
    let name = format!("{} {}", release.version, release.codename);
    let mut report = GuestReport::new(name);
    if let Err(e) = boot(release, deb, script, out, args, &mut report) {
        eprintln!("vm-test: {}: {e:#}", release.codename);
        report.problem = Some(format!("harness error: {e:#}").replace('|', "/"));
    }
    report
}

fn boot(
    release: Release,
    deb: &Path,
    script: &Path,
    out: &Path,
    args: &Args,
    report: &mut GuestReport,
) -> Result<()> {
    let rootfs = rootfs::ensure(&args.cache, release, args.rebuild)?;
    let root_disk = image::root_disk(&rootfs)?;
    let dir = out.join(release.codename);
    let payload = dir.join("payload");
    if payload.exists() {
        fs::remove_dir_all(&payload).with_context(|| format!("removing {}", payload.display()))?;
    }
    fs::create_dir_all(&payload).with_context(|| format!("creating {}", payload.display()))?;
    fs::copy(deb, payload.join("sshd-sensor.deb"))
        .with_context(|| format!("copying {}", deb.display()))?;
    fs::copy(script, payload.join("guest-test.sh"))
        .with_context(|| format!("copying {}", script.display()))?;
    if !args.only.is_empty() {
        fs::write(payload.join("only"), args.only.join("\n") + "\n")?;
    }
    let payload_disk = dir.join("payload.img");
    image::payload_disk(&payload, &payload_disk)?;

    let guest = qemu::Guest {
        kernel: rootfs.kernel,
        initrd: rootfs.initrd,
        root_disk,
        payload_disk,
        console_log: dir.join("console.log"),
        results_log: dir.join("results.log"),
        qemu_log: dir.join("qemu.log"),
        accel: args.accel,
        timeout: Duration::from_secs(args.timeout),
        boot_timeout: Duration::from_secs(args.boot_timeout),
    };
    eprintln!("vm-test: {}: booting", release.codename);
    let codename = release.codename;
    let (ending, wall) = qemu::boot(&guest, |line| {
        if line.starts_with("VMTEST") {
            eprintln!("vm-test: {codename}: {line}");
        }
        report.line(line);
    })?;
    report.wall = wall;
    report.problem = match ending {
        Ending::Exited(status) if status.success() && report.ended => None,
        Ending::Exited(status) if status.success() => Some(format!(
            "powered off without VMTEST-END after {:.0} s",
            wall.as_secs_f64()
        )),
        Ending::Exited(status) => Some(format!("QEMU failed ({status})")),
        Ending::TimedOut => Some(format!("timed out after {} s, killed", args.timeout)),
        Ending::NoBoot => Some(format!(
            "no output {} s after boot began, killed",
            args.boot_timeout
        )),
    };
    if report.problem.is_some() {
        eprintln!(
            "vm-test: {codename}: {}; last console lines ({}):\n{}\n{}",
            report.problem.as_deref().unwrap_or_default(),
            guest.console_log.display(),
            qemu::log_tail(&guest.console_log, 15),
            qemu::log_tail(&guest.qemu_log, 5)
        );
    }
    Ok(())
}
