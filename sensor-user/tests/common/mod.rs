//! What several of this crate's integration tests share: a temporary directory.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// A directory (mode 0755, so an unprivileged uid can reach what is in it) removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("sshd-sensor-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the temporary directory");
        TempDir(dir)
    }

    /// Writes `text` to `name` in the directory; its path.
    #[allow(
        dead_code,
        reason = "each test crate compiles this module; not every one writes files"
    )]
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write a temporary file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
