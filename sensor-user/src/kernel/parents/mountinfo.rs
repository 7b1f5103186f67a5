//! The device the kernel gives a file, read from `/proc/self/mountinfo`: its third field,
//! `major:minor`, is the superblock's `s_dev`, which is what `inode->i_sb->s_dev` holds. That
//! differs from `stat().st_dev` on btrfs (every subvolume, the top one included, reports an
//! anonymous device of its own) and on overlayfs whose layers span several filesystems (a
//! per-layer pseudo device). Pure: parsing and lookups only.

use std::path::{Path, PathBuf};

use super::ident::kernel_dev_of;
use crate::kernel::mounts;

/// One mount: its id (what `statx(STATX_MNT_ID)` returns), the superblock's device in kernel
/// encoding, and where it is mounted (octal escapes decoded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub id: u64,
    pub dev: u32,
    pub mount_point: PathBuf,
}

/// Parses mountinfo text ([`mounts::mountinfo_lines`]); malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    mounts::mountinfo_lines(text)
        .map(|l| Mount {
            id: l.id,
            dev: kernel_dev_of(l.major, l.minor),
            mount_point: l.mount_point,
        })
        .collect()
}

/// The mount with id `id`.
pub fn by_id(mounts: &[Mount], id: u64) -> Option<&Mount> {
    mounts.iter().find(|m| m.id == id)
}

/// The mount that holds the absolute, symlink-free `path`: the deepest mount point that is an
/// ancestor of it, and of several mounts on that point the last (the visible one). For kernels
/// without `STATX_MNT_ID` (before 5.8).
pub fn holding<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    mounts
        .iter()
        .filter(|m| path.starts_with(&m.mount_point))
        .fold(None, |best: Option<&Mount>, m| match best {
            Some(b) if b.mount_point.components().count() > m.mount_point.components().count() => {
                Some(b)
            }
            _ => Some(m),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
43 27 0:39 / /mnt/btr rw,relatime - btrfs /dev/loop0 rw,subvolid=5,subvol=/
44 27 0:39 /sub /mnt/sub\\040vol rw,relatime - btrfs /dev/loop0 rw,subvolid=256,subvol=/sub
45 27 259:65538 / /data rw - xfs /dev/nvme0n1p2 rw
46 45 0:50 / /data rw - tmpfs tmpfs rw
not a mount line
47 x 0:1 / /bad rw - tmpfs tmpfs rw
";

    #[test]
    fn parses_id_device_and_mount_point() {
        let mounts = parse(SAMPLE);
        assert_eq!(mounts.len(), 7, "{mounts:#?}");
        assert_eq!(
            by_id(&mounts, 44),
            Some(&Mount {
                id: 44,
                dev: 39,
                mount_point: "/mnt/sub vol".into()
            })
        );
        assert_eq!(by_id(&mounts, 27).map(|m| m.dev), Some(254 << 20));
        // Minor numbers above 255 keep all 20 bits.
        assert_eq!(by_id(&mounts, 45).map(|m| m.dev), Some((259 << 20) | 65538));
        assert_eq!(by_id(&mounts, 99), None);
    }

    #[test]
    fn holding_mount_is_deepest_then_last() {
        let mounts = parse(SAMPLE);
        let dev = |p: &str| holding(&mounts, Path::new(p)).map(|m| m.id);
        assert_eq!(dev("/usr/sbin/sshd"), Some(27));
        assert_eq!(dev("/mnt/btr/x/sshd"), Some(43));
        assert_eq!(dev("/mnt/sub vol/sshd"), Some(44));
        // Two mounts on /data: the later one is on top.
        assert_eq!(dev("/data/sshd"), Some(46));
        // Component-wise, not string prefixes: /mnt/btrfs is not under /mnt/btr.
        assert_eq!(dev("/mnt/btrfs/sshd"), Some(27));
        assert_eq!(holding(&[], Path::new("/x")), None);
    }
}
