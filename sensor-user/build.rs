//! Builds the kernel programs (`sensor-ebpf`, nightly, bpfel-unknown-none) with aya-build and
//! leaves the object in OUT_DIR, where `kernel::object` embeds it: `cargo build` gives one
//! self-contained binary. `SSHD_SENSOR_SKIP_EBPF=1` skips that (for quick host-only unit-test
//! builds); the binary then refuses to run with an error saying so.

use std::{env, fs, path::PathBuf};

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=SSHD_SENSOR_SKIP_EBPF");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let object = out_dir.join("sensor-ebpf");
    if env::var("SSHD_SENSOR_SKIP_EBPF").is_ok_and(|v| v == "1") {
        println!("cargo:warning=SSHD_SENSOR_SKIP_EBPF=1: building without the eBPF object");
        fs::write(&object, b"")?;
        return Ok(());
    }
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir
        .parent()
        .ok_or_else(|| anyhow::anyhow!("sensor-user has no parent directory"))?
        .join("sensor-ebpf");
    let root = root
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("non-UTF-8 path {}", root.display()))?
        .to_owned();
    let package = aya_build::Package {
        name: "sensor-ebpf",
        root_dir: &root,
        ..Default::default()
    };
    aya_build::build_ebpf([package], aya_build::Toolchain::default())?;
    println!("cargo:rerun-if-changed=../sensor-common/src");
    Ok(())
}
