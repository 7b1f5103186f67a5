//! Raw ext4 disk images made with `mkfs.ext4 -d` (no loop devices, no mounts): the guest's root
//! disk, cached next to its rootfs tree and rebuilt when the tree's recipe changes (QEMU boots it
//! with `-snapshot`, so it stays pristine), and the small per-run payload disk with the .deb and
//! the guest script.

use std::{
    fs::{self, File},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result};

use crate::{exec::exec, vm::rootfs::Rootfs};

const MIB: u64 = 1 << 20;
/// Free space on the root disk beyond the tree (the .deb, logs, journals of one run).
const ROOT_FREE: u64 = 1024 * MIB;

/// The cached root disk image of `rootfs` (`<dir>/../root.img`), built unless up to date.
pub fn root_disk(rootfs: &Rootfs) -> Result<PathBuf> {
    let base = rootfs
        .dir
        .parent()
        .context("the rootfs directory has no parent")?;
    let image = base.join("root.img");
    let stamp = base.join("root.img.stamp");
    let recipe = format!(
        "{}\n--- image\nmkfs.ext4 -d, {ROOT_FREE} bytes free\n",
        rootfs.recipe
    );
    if fs::read_to_string(&stamp).ok().as_deref() == Some(recipe.as_str()) && image.is_file() {
        return Ok(image);
    }
    let _ = fs::remove_file(&stamp);
    let size = tree_size(&rootfs.dir)? + ROOT_FREE;
    let tmp = base.join("root.img.tmp");
    make(&rootfs.dir, &tmp, size, "vmroot")?;
    fs::rename(&tmp, &image).with_context(|| format!("renaming {}", tmp.display()))?;
    fs::write(&stamp, recipe).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(image)
}

/// A payload disk at `image` holding `dir`'s files.
pub fn payload_disk(dir: &Path, image: &Path) -> Result<()> {
    let size = tree_size(dir)? + 16 * MIB;
    make(dir, image, size, "vmtest")
}

/// `mkfs.ext4 -d DIR` into a new sparse file of `size` bytes (rounded up to 4 KiB blocks).
/// orphan_file is off: Debian 11's kernel (5.10) cannot mount a filesystem that has it.
fn make(dir: &Path, image: &Path, size: u64, label: &str) -> Result<()> {
    let _ = fs::remove_file(image);
    let blocks = size.div_ceil(4096);
    File::create(image)
        .and_then(|f| f.set_len(blocks * 4096))
        .with_context(|| format!("creating {}", image.display()))?;
    exec(
        Command::new("mkfs.ext4")
            .args([
                "-q",
                "-F",
                "-b",
                "4096",
                "-O",
                "^orphan_file",
                "-L",
                label,
                "-d",
            ])
            .arg(dir)
            .arg(image),
    )
}

/// Bytes the files under `dir` use (`du -sb`), plus room for ext4's metadata.
fn tree_size(dir: &Path) -> Result<u64> {
    let out = crate::exec::capture(Command::new("du").arg("-sb").arg(dir))?;
    let bytes: u64 = out
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .with_context(|| {
            format!(
                "cannot read the size of {} from `du -sb`: {out}",
                dir.display()
            )
        })?;
    Ok(bytes + bytes / 4 + 64 * MIB)
}
