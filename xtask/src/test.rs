//! `cargo xtask test`: every check a change must pass, as root. It sets up and builds, then
//! runs the stages in order: unit tests (including the `#[ignore]`d ones that touch the kernel
//! and need root), formatting, clippy (host crates, and the eBPF crate for its own target), the
//! root-only integration tests one thread at a time against the release binary, and last the VM
//! matrix (`cargo xtask vm-test`: the .deb built from this tree, installed and checked on Debian
//! 11, 12 and 13 under QEMU). Every stage runs even after another fails; the last line names the
//! stages that failed, and the exit code is non-zero if any did. Tests that run the daemon get
//! the static release binary through `SSHD_SENSOR_BIN`. `--unit-only` stops after clippy (no
//! release build, no integration tests, no VMs) and, when not root, skips the ignored tests.
//! `--skip-vm` leaves out the VM matrix and says so in the summary.

use std::process::Command;

use anyhow::{Result, bail};

use crate::{build, exec::exec, host, setup, vm};

/// Packages clippy must pass with `-D warnings` (their libraries and binaries; test code is
/// compiled, with warnings shown, by the unit stage).
const CLIPPY_PACKAGES: &[&str] = &["sensor-common", "sensor-user", "xtask", "integration-tests"];

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run only the unit tests, fmt and clippy (quick; root not required).
    #[arg(long)]
    unit_only: bool,
    /// Leave out the VM matrix (reported as skipped, never as passed).
    #[arg(long)]
    skip_vm: bool,
}

pub fn execute(args: Args) -> Result<()> {
    let Args { unit_only, skip_vm } = args;
    if !unit_only {
        host::require_root(
            "test",
            "the integration tests load eBPF, create network namespaces and start sshd",
        )?;
    }
    setup::execute()?;
    if !unit_only {
        build::execute()?;
    }

    let mut stages: Vec<(&str, Result<()>)> = Vec::new();
    let mut unit = host::cargo();
    // --no-fail-fast: one failing test binary must not hide the results of the others.
    unit.args([
        "test",
        "--no-fail-fast",
        "-p",
        "sensor-common",
        "-p",
        "sensor-user",
        "-p",
        "xtask",
    ]);
    if host::is_root() {
        unit.args(["--", "--include-ignored"]);
    } else {
        println!("test: not root, so the #[ignore]d unit tests that need root are skipped");
    }
    // The root unit tests load the embedded eBPF object, so never build without it.
    unit.env_remove(build::SKIP_EBPF);
    if !unit_only {
        // The tests that run the daemon under the unit's capabilities run the static binary
        // the package ships, not this test build's own (the package test builds that itself).
        unit.env("SSHD_SENSOR_BIN", host::sensor_bin());
    }
    stages.push(("unit tests", exec(&mut unit)));
    stages.push(("fmt", exec(host::cargo().args(["fmt", "--all", "--check"]))));
    let mut clippy = host::cargo();
    clippy.arg("clippy");
    for package in CLIPPY_PACKAGES {
        clippy.args(["-p", package]);
    }
    clippy.args(["--", "-D", "warnings"]);
    stages.push(("clippy", exec(&mut clippy)));
    // The kernel programs, as aya lints its eBPF crates: for their own target, on nightly.
    let mut clippy_ebpf = Command::new("cargo");
    clippy_ebpf
        .current_dir(host::root().join("sensor-ebpf"))
        .args([
            "+nightly",
            "clippy",
            "--release",
            "--target",
            "bpfel-unknown-none",
            "-Zbuild-std=core",
            "--",
            "-D",
            "warnings",
        ]);
    stages.push(("clippy (eBPF)", exec(&mut clippy_ebpf)));
    if !unit_only {
        stages.push((
            "integration tests",
            exec(
                host::cargo()
                    .args([
                        "test",
                        "--release",
                        "-p",
                        "integration-tests",
                        "--",
                        "--test-threads=1",
                    ])
                    .env("SSHD_SENSOR_BIN", host::sensor_bin()),
            ),
        ));
        if !skip_vm {
            stages.push(("vm matrix", vm::execute(vm::Args::default())));
        }
    }

    println!();
    if skip_vm && !unit_only {
        println!("test: vm matrix: SKIPPED (--skip-vm), not counted as passed");
    }
    for (name, result) in &stages {
        match result {
            Ok(()) => println!("test: {name}: ok"),
            Err(e) => println!("test: {name}: FAILED: {e:#}"),
        }
    }
    let failed: Vec<&str> = stages
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(name, _)| *name)
        .collect();
    if !failed.is_empty() {
        bail!("test stage(s) failed: {}", failed.join(", "));
    }
    println!("test: all {} stages passed", stages.len());
    Ok(())
}
