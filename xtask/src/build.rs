//! `cargo xtask build`: the release sensor binary (its `build.rs` builds and embeds the eBPF
//! object with aya-build on nightly) and the root-only integration test binaries, built but not
//! run, so `cargo xtask test` and `bench` start from what a user would install. The build
//! ignores `SSHD_SENSOR_SKIP_EBPF`: a binary without its eBPF object cannot run.

use anyhow::Result;

use crate::{exec::exec, host};

/// sensor-user's build.rs builds without the eBPF object when this is `1`.
pub const SKIP_EBPF: &str = "SSHD_SENSOR_SKIP_EBPF";

pub fn execute() -> Result<()> {
    exec(
        host::cargo()
            .args(["build", "--release", "-p", "sensor-user"])
            .env_remove(SKIP_EBPF),
    )?;
    exec(
        host::cargo()
            .args(["test", "--no-run", "--release", "-p", "integration-tests"])
            .env_remove(SKIP_EBPF),
    )?;
    eprintln!("build: {}", host::sensor_bin().display());
    Ok(())
}
