//! `cargo xtask build`: the release sensor binary (its `build.rs` builds and embeds the eBPF
//! object with aya-build on nightly), statically linked for [`host::SENSOR_TARGET`], and the
//! root-only integration test binaries, built but not run, so `cargo xtask test` and `bench`
//! start from what a user would install. The build ignores `SSHD_SENSOR_SKIP_EBPF`: a binary
//! without its eBPF object cannot run.

use std::path::PathBuf;

use anyhow::Result;

use crate::{exec::exec, host};

/// sensor-user's build.rs builds without the eBPF object when this is `1`.
pub const SKIP_EBPF: &str = "SSHD_SENSOR_SKIP_EBPF";

pub fn execute() -> Result<()> {
    sensor()?;
    exec(
        host::cargo()
            .args(["test", "--no-run", "--release", "-p", "integration-tests"])
            .env_remove(SKIP_EBPF),
    )?;
    eprintln!("build: {}", host::sensor_bin().display());
    Ok(())
}

/// Builds the static release `sshd-sensor` (the one the package ships); its path.
pub fn sensor() -> Result<PathBuf> {
    exec(
        host::cargo()
            .args([
                "build",
                "--release",
                "-p",
                "sensor-user",
                "--bin",
                "sshd-sensor",
            ])
            .args(["--target", host::SENSOR_TARGET])
            .env_remove(SKIP_EBPF),
    )?;
    Ok(host::sensor_bin())
}
