//! Facts about where xtask runs: the workspace root, the paths of the binaries it builds, and
//! whether the process is root. Every task works from the workspace root, wherever it was typed.
//! The sensor binary is built for [`SENSOR_TARGET`] (static musl), so the one binary that
//! `build`, `run`, `test`, `bench` and `deb` use runs on every supported Debian, whatever its
//! glibc.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Result, bail};

/// The workspace root (the parent of xtask's manifest directory).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
}

/// `cargo` with the workspace root as its working directory.
pub fn cargo() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root());
    cmd
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the workspace root, where
/// [`cargo`] runs) or `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

/// The target the shipped sensor binary is built for: statically linked against musl, it needs
/// no libc on the host (Debian 11's glibc 2.31 is older than what a glibc build links against).
pub const SENSOR_TARGET: &str = "x86_64-unknown-linux-musl";

/// The absolute path of the static release sensor binary that `cargo xtask build` produces.
pub fn sensor_bin() -> PathBuf {
    target_dir().join(SENSOR_TARGET).join("release/sshd-sensor")
}

/// Whether the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Fails with one line saying what needs root and how to run it, unless running as root.
pub fn require_root(task: &str, why: &str) -> Result<()> {
    if !is_root() {
        bail!(
            "`cargo xtask {task}` must run as root ({why}): run it in a root shell, e.g. `sudo -i`, then `cargo xtask {task}`"
        );
    }
    Ok(())
}
