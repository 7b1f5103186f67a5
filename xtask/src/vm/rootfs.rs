//! The guests' root filesystems: one directory per Debian release, made by `mmdebstrap` from
//! deb.debian.org and cached under the cache directory (`<cache>/<codename>/rootfs`). A stamp
//! file next to it holds the whole recipe (the mmdebstrap command line and every file this module
//! writes into the tree); a missing tree or a different recipe rebuilds it, anything else reuses
//! it. The tree is the release's stock system plus what the guest test needs: OpenSSH, curl,
//! iproute2, logrotate, jq, bpftool, the stock kernel and initramfs in /boot, and `vmtest.service`,
//! which mounts the payload disk and runs its script with output on the second serial port.

use std::{
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::exec::exec;

/// One Debian release of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    pub codename: &'static str,
    pub version: u8,
}

/// Debian 11, 12 and 13, with kernels 5.10, 6.1 and 6.12.
pub const RELEASES: &[Release] = &[
    Release {
        codename: "bullseye",
        version: 11,
    },
    Release {
        codename: "bookworm",
        version: 12,
    },
    Release {
        codename: "trixie",
        version: 13,
    },
];

const MIRROR: &str = "http://deb.debian.org/debian";

/// Installed on top of `--variant=minbase` in every release (bpftool exists in all three).
const PACKAGES: &[&str] = &[
    "linux-image-amd64", // the release's stock kernel and its initramfs
    "systemd-sysv",      // systemd as PID 1
    "udev",
    "dbus",
    "openssh-server",
    "openssh-client",
    "curl", // the connecting process
    "iproute2",
    "kmod", // modprobe dummy
    "procps",
    "logrotate",
    "sudo",
    "jq",      // reading the journal's and the alert file's JSON
    "bpftool", // counting loaded programs
];

/// The unit that runs the payload's script once the system is up, then powers off.
const VMTEST_UNIT: &str = "\
[Unit]
Description=sshd-sensor VM matrix checks (cargo xtask vm-test)
After=multi-user.target

[Service]
Type=oneshot
ExecStartPre=/bin/mkdir -p /run/vmtest
ExecStartPre=/bin/mount -t ext4 -o ro /dev/vdb /run/vmtest
ExecStart=/bin/bash /run/vmtest/guest-test.sh
ExecStopPost=/bin/systemctl --no-block poweroff
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS1
TTYVHangup=no
TimeoutStartSec=1800

[Install]
WantedBy=multi-user.target
";

/// Units masked in the guest: the serial getty (its hangup cuts off a script writing to the
/// serial console) and the timers that would start package or disk maintenance mid-test.
const MASKED: &[&str] = &[
    "serial-getty@ttyS0.service",
    "serial-getty@ttyS1.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
    "logrotate.timer",
    "man-db.timer",
];

/// A built root filesystem tree and its boot files.
#[derive(Debug, Clone)]
pub struct Rootfs {
    pub dir: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// The recipe it was built from (the image's stamp includes it).
    pub recipe: String,
}

/// The rootfs of `release` under `cache`, built unless a tree with the same recipe is there.
pub fn ensure(cache: &Path, release: Release, rebuild: bool) -> Result<Rootfs> {
    let base = cache.join(release.codename);
    let dir = base.join("rootfs");
    let stamp = base.join("rootfs.stamp");
    let recipe = recipe(release);
    let cached = fs::read_to_string(&stamp).ok();
    if !rebuild && cached.as_deref() == Some(recipe.as_str()) && dir.join("sbin/init").exists() {
        eprintln!(
            "vm-test: {}: cached rootfs {}",
            release.codename,
            dir.display()
        );
    } else {
        let why = match (&cached, dir.exists()) {
            _ if rebuild => "--rebuild",
            (None, _) | (_, false) => "none cached",
            _ => "its recipe changed",
        };
        eprintln!(
            "vm-test: {}: building the rootfs with mmdebstrap ({why})",
            release.codename
        );
        let start = std::time::Instant::now();
        build(release, &base, &dir, &stamp, &recipe)?;
        eprintln!(
            "vm-test: {}: rootfs built in {:.0} s",
            release.codename,
            start.elapsed().as_secs_f64()
        );
    }
    let (kernel, initrd) = boot_files(&dir)?;
    Ok(Rootfs {
        dir,
        kernel,
        initrd,
        recipe,
    })
}

fn mmdebstrap(release: Release, target: &Path) -> Command {
    let mut cmd = Command::new("mmdebstrap");
    cmd.args(["--mode=root", "--variant=minbase", "--quiet"])
        .arg(format!("--include={}", PACKAGES.join(",")))
        .arg(release.codename)
        .arg(target)
        .arg(MIRROR);
    cmd
}

/// Everything that decides the tree's content, as text.
fn recipe(release: Release) -> String {
    let line = crate::exec::line(&mmdebstrap(release, Path::new("TARGET")));
    let files: String = guest_files(release)
        .iter()
        .map(|(path, text)| format!("--- {path}\n{text}"))
        .collect();
    format!(
        "{line}\nmasked: {}\nlinked: vmtest.service in multi-user.target.wants\n{files}",
        MASKED.join(" ")
    )
}

/// Files written into the tree after mmdebstrap, relative to its root.
fn guest_files(release: Release) -> Vec<(&'static str, String)> {
    let host = format!("vmtest-{}", release.codename);
    vec![
        ("etc/fstab", "/dev/vda / ext4 rw 0 0\n".into()),
        ("etc/hostname", format!("{host}\n")),
        (
            "etc/hosts",
            format!("127.0.0.1 localhost\n127.0.1.1 {host}\n::1 localhost\n"),
        ),
        // A fixed machine id: no first-boot setup, and the alerts' host.id is stable.
        (
            "etc/machine-id",
            format!("5ad5e75e450c4c1d8c{:014x}\n", release.version),
        ),
        ("etc/systemd/system/vmtest.service", VMTEST_UNIT.into()),
    ]
}

fn build(release: Release, base: &Path, dir: &Path, stamp: &Path, recipe: &str) -> Result<()> {
    fs::create_dir_all(base).with_context(|| format!("creating {}", base.display()))?;
    let _ = fs::remove_file(stamp);
    let tmp = base.join("rootfs.tmp");
    for old in [&tmp, &dir.to_path_buf()] {
        if old.exists() {
            fs::remove_dir_all(old).with_context(|| format!("removing {}", old.display()))?;
        }
    }
    exec(&mut mmdebstrap(release, &tmp))?;
    configure(release, &tmp)?;
    fs::rename(&tmp, dir)
        .with_context(|| format!("renaming {} to {}", tmp.display(), dir.display()))?;
    fs::write(stamp, recipe).with_context(|| format!("writing {}", stamp.display()))
}

fn configure(release: Release, root: &Path) -> Result<()> {
    for (path, text) in guest_files(release) {
        let path = root.join(path);
        if path.is_symlink() {
            fs::remove_file(&path)?;
        }
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let units = root.join("etc/systemd/system");
    for unit in MASKED {
        let link = units.join(unit);
        let _ = fs::remove_file(&link);
        symlink("/dev/null", &link).with_context(|| format!("masking {}", link.display()))?;
    }
    let wants = units.join("multi-user.target.wants");
    fs::create_dir_all(&wants)?;
    let link = wants.join("vmtest.service");
    let _ = fs::remove_file(&link);
    symlink("../vmtest.service", &link).with_context(|| format!("linking {}", link.display()))?;
    Ok(())
}

/// The one `/boot/vmlinuz-*` and its `/boot/initrd.img-*` in the tree.
fn boot_files(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let boot = dir.join("boot");
    let mut kernels: Vec<String> = fs::read_dir(&boot)
        .with_context(|| format!("reading {}", boot.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_prefix("vmlinuz-").map(str::to_string))
        .collect();
    kernels.sort();
    let [version] = kernels.as_slice() else {
        bail!(
            "expected exactly one kernel in {}, found {kernels:?}",
            boot.display()
        );
    };
    let kernel = boot.join(format!("vmlinuz-{version}"));
    let initrd = boot.join(format!("initrd.img-{version}"));
    if !initrd.is_file() {
        bail!(
            "{} has no initramfs {}: the guest cannot mount its virtio root without it",
            boot.display(),
            initrd.display()
        );
    }
    Ok((kernel, initrd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_names_release_packages_and_files() {
        let r = recipe(RELEASES[2]);
        assert!(r.contains(" trixie "), "{r}");
        assert!(r.contains("bpftool"));
        assert!(r.contains("TTYPath=/dev/ttyS1"));
        assert_ne!(r, recipe(RELEASES[1]));
    }

    #[test]
    fn machine_ids_are_32_hex_digits() {
        for release in RELEASES {
            let files = guest_files(*release);
            let (_, id) = files.iter().find(|(p, _)| *p == "etc/machine-id").unwrap();
            let id = id.trim();
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        }
    }
}
