//! Scratch filesystems: a tiny tmpfs to fill up (the alert file's ENOSPC test), and for the
//! parent-executable identity tests, where `stat().st_dev` is not
//! the device the kernel compares: a btrfs image on a loop device with a subvolume (what
//! Fedora and openSUSE install on), and an overlay whose lower layer holds the file (what
//! containers run from). Everything is mounted in the host's mount namespace before sshd
//! starts, so sshd (in its own mount namespace since `ip netns exec`) sees the same files. On
//! drop the mounts go, newest first; the loop device goes with its mount (`-o loop` sets
//! autoclear).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{self, run_ok};
use crate::prereq::tool;

/// Mounts to undo, in mount order.
#[derive(Debug)]
pub struct ScratchMounts {
    mounted: Vec<PathBuf>,
}

fn require(name: &str, package: &str) -> PathBuf {
    let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| panic!("`{name}` is missing: install it (apt-get install {package})"))
}

fn mkdir(path: &Path) {
    std::fs::create_dir_all(path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
}

impl ScratchMounts {
    /// A 256 MiB btrfs image in `dir`, loop-mounted at `dir/btrfs`, with a subvolume `sub`;
    /// returns the subvolume's directory.
    pub fn btrfs_subvolume(dir: &Path) -> (ScratchMounts, PathBuf) {
        let image = dir.join("btrfs.img");
        let file = std::fs::File::create(&image)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", image.display()));
        file.set_len(256 << 20)
            .unwrap_or_else(|e| panic!("cannot size {}: {e}", image.display()));
        drop(file);
        run_ok(
            Command::new(require("mkfs.btrfs", "btrfs-progs"))
                .arg("-q")
                .arg(&image),
        );
        let mount_point = dir.join("btrfs");
        mkdir(&mount_point);
        run_ok(
            Command::new(tool("mount"))
                .args(["-t", "btrfs", "-o", "loop"])
                .arg(&image)
                .arg(&mount_point),
        );
        let mounts = ScratchMounts {
            mounted: vec![mount_point.clone()],
        };
        let sub = mount_point.join("sub");
        run_ok(
            Command::new(require("btrfs", "btrfs-progs"))
                .args(["-q", "subvolume", "create"])
                .arg(&sub),
        );
        crate::tempdir::set_mode(&mount_point, 0o755);
        crate::tempdir::set_mode(&sub, 0o755);
        (mounts, sub)
    }

    /// An overlay at `dir/merged` whose lower layer is a tmpfs at `dir/lower` (filled by
    /// `fill` before mounting) and whose upper layer is in `dir`: layers on two filesystems,
    /// the case where the overlay's `st_dev` is a per-layer pseudo device. Returns the merged
    /// directory.
    pub fn overlay(dir: &Path, fill: impl FnOnce(&Path)) -> (ScratchMounts, PathBuf) {
        let [lower, upper, work, merged] =
            ["lower", "upper", "work", "merged"].map(|d| dir.join(d));
        for d in [&lower, &upper, &work, &merged] {
            mkdir(d);
            crate::tempdir::set_mode(d, 0o755);
        }
        run_ok(
            Command::new(tool("mount"))
                .args(["-t", "tmpfs", "-o", "size=64m,mode=0755", "sst-lower"])
                .arg(&lower),
        );
        let mut mounts = ScratchMounts {
            mounted: vec![lower.clone()],
        };
        fill(&lower);
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        );
        run_ok(
            Command::new(tool("mount"))
                .args(["-t", "overlay", "overlay", "-o", &options])
                .arg(&merged),
        );
        mounts.mounted.push(merged.clone());
        (mounts, merged)
    }
}

impl ScratchMounts {
    /// A tmpfs of `size` (mount's syntax, e.g. `64k`) at `dir/name`, mode 0755, for tests that
    /// fill a filesystem up; returns its directory.
    pub fn tmpfs(dir: &Path, name: &str, size: &str) -> (ScratchMounts, PathBuf) {
        let mount_point = dir.join(name);
        mkdir(&mount_point);
        run_ok(
            Command::new(tool("mount"))
                .args([
                    "-t",
                    "tmpfs",
                    "-o",
                    &format!("size={size},mode=0755"),
                    "sst-tiny",
                ])
                .arg(&mount_point),
        );
        (
            ScratchMounts {
                mounted: vec![mount_point.clone()],
            },
            mount_point,
        )
    }
}

impl Drop for ScratchMounts {
    fn drop(&mut self) {
        for mount_point in self.mounted.iter().rev() {
            let mut umount = Command::new(tool("umount"));
            umount.arg(mount_point);
            if !cmd::run_bounded(&mut umount, cmd::SHORT).status.success() {
                // Something still uses it: detach it now, it goes when released.
                let mut lazy = Command::new(tool("umount"));
                lazy.arg("-l").arg(mount_point);
                let _ = cmd::run_bounded(&mut lazy, cmd::SHORT);
            }
        }
    }
}
