//! Writing `PARENT_EXES`, and the one-shot fill the loader does before attaching. Resolving
//! here reads the files and `/proc`, nothing else: no path string of another process counts.

use std::{collections::BTreeSet, path::Path};

use aya::{Ebpf, maps::HashMap as BpfHashMap};
use sensor_common::{ExeId, PARENT_EXES_MAX, names};
use tracing::{debug, warn};

use super::{
    ident::{Ident, Mounts, StatId, running_image},
    identities::{Identities, Table},
};
use crate::kernel::loader::LoadError;

/// Most `/proc` entries looked at in one scan.
const MAX_PROC_ENTRIES: usize = 1 << 22;

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("eBPF object is missing {0}: the binary is broken, rebuild it")]
    Missing(&'static str),
    #[error("writing the parent-executable table (PARENT_EXES) failed: {0}")]
    Map(String),
    #[error(
        "{count} parent executables are configured but the kernel table holds {PARENT_EXES_MAX}: \
         list at most {PARENT_EXES_MAX} in rule.parent_executables"
    )]
    TooMany { count: usize },
}

impl From<TableError> for LoadError {
    fn from(e: TableError) -> LoadError {
        match e {
            TableError::Missing(name) => LoadError::Missing(name),
            other => LoadError::Other(other.to_string()),
        }
    }
}

/// The kernel table's size, as a length.
pub fn capacity() -> usize {
    PARENT_EXES_MAX as usize
}

/// Fails unless `paths` fit the kernel table (each path has one current identity).
pub fn check_count(paths: &[String]) -> Result<(), TableError> {
    if paths.len() > capacity() {
        return Err(TableError::TooMany { count: paths.len() });
    }
    Ok(())
}

/// Resolves every path now (`None`: absent or unreadable).
pub fn resolve_all(paths: &[String]) -> Vec<Option<Ident>> {
    let mounts = Mounts::read().unwrap_or_else(|e| {
        warn!(error = %e, "cannot read /proc/self/mountinfo: parent executables on btrfs or overlayfs may not be recognised");
        Mounts::empty()
    });
    paths
        .iter()
        .map(|p| mounts.resolve(Path::new(p)).ok())
        .collect()
}

/// The `stat` identities among `wanted` that some process runs now (`/proc/PID/exe`, stat'ed
/// through the link: what it runs, whatever its path reads as).
pub fn running_images(wanted: &[StatId]) -> BTreeSet<StatId> {
    let mut found = BTreeSet::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten().take(MAX_PROC_ENTRIES) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(image) = running_image(pid).filter(|i| wanted.contains(i)) {
            found.insert(image);
            if found.len() == wanted.len() {
                break;
            }
        }
    }
    found
}

/// Makes `PARENT_EXES` hold exactly `table`'s entries: new and changed entries first, stale
/// ones removed after, so a kept identity is never missing in between.
pub fn write(ebpf: &mut Ebpf, table: &Table) -> Result<(), TableError> {
    let map = ebpf
        .map_mut(names::PARENT_EXES)
        .ok_or(TableError::Missing(names::PARENT_EXES))?;
    let mut map: BpfHashMap<_, ExeId, u32> =
        BpfHashMap::try_from(map).map_err(|e| TableError::Map(e.to_string()))?;
    let key = |(dev, ino): (u32, u64)| ExeId { dev, _pad: 0, ino };
    for &(id, index) in &table.entries {
        map.insert(key(id), index, 0)
            .map_err(|e| TableError::Map(e.to_string()))?;
    }
    let stale: Vec<ExeId> = map
        .keys()
        .filter_map(Result::ok)
        .filter(|k| !table.entries.iter().any(|&(id, _)| key(id) == *k))
        .collect();
    for k in stale {
        map.remove(&k).map_err(|e| TableError::Map(e.to_string()))?;
    }
    Ok(())
}

/// The loader's fill before attaching: the current identity of each path. The watcher takes
/// over from there (and logs what it found).
pub fn set_parents(ebpf: &mut Ebpf, paths: &[String]) -> Result<(), TableError> {
    check_count(paths)?;
    let mut state = Identities::new(paths.to_vec(), capacity());
    state.update(resolve_all(paths));
    let table = state.table();
    write(ebpf, &table)?;
    debug!(
        identities = table.entries.len(),
        "parent-executable table filled"
    );
    Ok(())
}
