//! Identity of the configured parent executables as the kernel sees them: device (kernel
//! encoding, `major << 20 | minor`) and inode of the file each path resolves to, plus the image
//! of every running process whose executable is that path (a process started before a package
//! upgrade replaced the file still runs the old inode, shown as "PATH (deleted)").

use std::{collections::BTreeMap, fs, os::unix::fs::MetadataExt, path::Path};

use sensor_common::ExeId;

/// Kernel `dev_t` encoding of a userspace `st_dev`.
pub fn kernel_dev(st_dev: u64) -> u32 {
    let major = libc::major(st_dev);
    let minor = libc::minor(st_dev);
    (major << 20) | (minor & 0xf_ffff)
}

/// The identity of the file at `path` (following symlinks).
pub fn exe_id(path: &Path) -> std::io::Result<ExeId> {
    let meta = fs::metadata(path)?;
    Ok(ExeId {
        dev: kernel_dev(meta.dev()),
        _pad: 0,
        ino: meta.ino(),
    })
}

/// Every identity that counts as configured parent `index`: the file itself and the images of
/// running processes started from it. Missing files yield no identity (the caller warns).
pub fn identities(paths: &[String]) -> BTreeMap<(u32, u64), u32> {
    let mut out = BTreeMap::new();
    for (index, path) in paths.iter().enumerate() {
        if let Ok(id) = exe_id(Path::new(path)) {
            out.insert((id.dev, id.ino), index as u32);
        }
    }
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten().take(1 << 20) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let link = format!("/proc/{pid}/exe");
        let Ok(target) = fs::read_link(&link) else {
            continue;
        };
        let target = target.to_string_lossy();
        let target = target.strip_suffix(" (deleted)").unwrap_or(&target);
        if let Some(index) = paths.iter().position(|p| p == target)
            && let Ok(id) = exe_id(Path::new(&link))
        {
            out.entry((id.dev, id.ino)).or_insert(index as u32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_dev_encoding() {
        assert_eq!(kernel_dev(libc::makedev(8, 1)), (8 << 20) | 1);
        assert_eq!(kernel_dev(libc::makedev(259, 300)), (259 << 20) | 300);
    }

    #[test]
    fn own_executable_is_found_through_proc() {
        let me = fs::read_link("/proc/self/exe").expect("readlink /proc/self/exe");
        let path = me.to_string_lossy().into_owned();
        let ids = identities(std::slice::from_ref(&path));
        let id = exe_id(&me).expect("stat own executable");
        assert_eq!(ids.get(&(id.dev, id.ino)), Some(&0));
    }
}
