//! Per-test scratch directories that disappear when the test ends, panicking or not.
//!
//! They are world-readable and world-traversable (0755) because sshd reads the authorized keys
//! as the test user and the test user runs the connector copies placed here.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A directory under the system temp dir, removed (recursively) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/<prefix>-<pid>-<n>` with mode 0755.
    pub fn new(prefix: &str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .unwrap_or_else(|e| panic!("cannot remove stale {}: {e}", path.display()));
        }
        assert_traversable_by_others(&std::env::temp_dir());
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        set_mode(&path, 0o755);
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path` joined with `name`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("SST_KEEP_TEMP").is_some() {
            eprintln!("SST_KEEP_TEMP set: keeping {}", self.path.display());
        } else if let Err(e) = std::fs::remove_dir_all(&self.path) {
            eprintln!("warning: cannot remove {}: {e}", self.path.display());
        }
    }
}

/// chmod, panicking with the path on failure.
pub fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {mode:o} {}: {e}", path.display()));
}

/// Panics unless every directory from `/` down to `dir` lets other users through (the test
/// user must reach the connector and sshd must read `authorized_keys` as that user).
fn assert_traversable_by_others(dir: &Path) {
    for ancestor in dir.ancestors() {
        let mode = std::fs::metadata(ancestor)
            .unwrap_or_else(|e| panic!("cannot stat {}: {e}", ancestor.display()))
            .permissions()
            .mode();
        assert!(
            mode & 0o001 != 0,
            "{} (mode {:o}) is not traversable by other users, so the test user cannot reach the \
             scratch files; run with TMPDIR=/tmp",
            ancestor.display(),
            mode & 0o7777
        );
    }
}

/// Copies `source` to `target` with mode 0755 (executable by any user).
pub fn copy_executable(source: &Path, target: &Path) {
    std::fs::copy(source, target).unwrap_or_else(|e| {
        panic!(
            "cannot copy {} to {}: {e}",
            source.display(),
            target.display()
        )
    });
    set_mode(target, 0o755);
}
