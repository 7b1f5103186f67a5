//! `cargo xtask mutants`: mutation testing of the pure code with cargo-mutants (installed from
//! crates.io on first use, pinned). It mutates the files of [`FILES`] (or those given with
//! `--file`) one mutant at a time in a copy of the tree and runs sensor-user's host-only tests
//! against each; a mutant the tests do not catch survives. The eBPF object is not built
//! (`SSHD_SENSOR_SKIP_EBPF=1`): no kernel program is mutated and no test here loads one.
//! Not part of CI (a full run takes hours on two cores); results go to
//! `target/mutants/mutants.out/` (`caught.txt`, `missed.txt`, `timeout.txt`, `unviable.txt`).

use anyhow::Result;

use crate::exec::{exec, probe};
use crate::host::{cargo, root, target_dir};

/// The cargo-mutants release this task installs when none is present.
const CARGO_MUTANTS: &str = "cargo-mutants@27.1.0";

/// The pure code of sensor-user: no kernel, no clock, no I/O beyond readers and writers.
pub const FILES: &[&str] = &[
    "sensor-user/src/rule/**",
    "sensor-user/src/replay/**",
    "sensor-user/src/config.rs",
    "sensor-user/src/config/**",
    "sensor-user/src/decode.rs",
    "sensor-user/src/ratelimit.rs",
    "sensor-user/src/ecs/**",
];

/// The tests run against each mutant: sensor-user's unit tests and its integration tests of
/// the pure code (not the differential test, which needs Python; not the CLI and packaging
/// tests, which build and run the binary).
const TEST_ARGS: &[&str] = &[
    "--lib",
    "--test",
    "replay_engine_stage2",
    "--test",
    "replay_record",
    "--test",
    "ecs_conformance",
];

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Mutate only these files (globs relative to the workspace root; repeatable). Default:
    /// rule/, replay/, config/, decode.rs, ratelimit.rs and ecs/ of sensor-user.
    #[arg(long = "file")]
    pub files: Vec<String>,
    /// Parallel builds (each needs its own copy of the tree and a core).
    #[arg(long, default_value_t = 1)]
    pub jobs: u32,
    /// Run only the unit tests (`--lib`) against each mutant: about half the time per mutant,
    /// for time-boxed runs; a mutant only an integration test catches then counts as missed.
    #[arg(long)]
    pub lib_only: bool,
    /// Only list the mutants, run nothing.
    #[arg(long)]
    pub list: bool,
    /// Further cargo-mutants options, after `--` (e.g. `-- --shard 0/4`).
    #[arg(last = true)]
    pub extra: Vec<String>,
}

pub fn execute(args: Args) -> Result<()> {
    ensure_installed()?;
    let mut cmd = cargo();
    cmd.args(["mutants", "--package", "sensor-user", "--no-shuffle"]);
    let files: Vec<String> = if args.files.is_empty() {
        FILES.iter().map(|f| (*f).to_owned()).collect()
    } else {
        args.files
    };
    for file in &files {
        cmd.args(["--file", file]);
    }
    if args.list {
        cmd.arg("--list");
        return exec(&mut cmd);
    }
    cmd.arg("--jobs")
        .arg(args.jobs.to_string())
        .arg("--output")
        .arg(target_dir().join("mutants"))
        .args(&args.extra)
        .arg("--")
        .args(if args.lib_only {
            &TEST_ARGS[..1]
        } else {
            TEST_ARGS
        })
        .env("SSHD_SENSOR_SKIP_EBPF", "1");
    if args.jobs == 1 {
        // One job: a target directory of its own, outside the copied tree and kept between
        // runs, so only the first run compiles the dependencies. (Parallel jobs each build in
        // their own copy; sharing one directory would mix their mutants.)
        cmd.env("CARGO_TARGET_DIR", target_dir().join("mutants-build"));
    }
    exec(&mut cmd)
}

/// Installs cargo-mutants from crates.io unless `cargo mutants --version` already works.
pub fn ensure_installed() -> Result<()> {
    let mut version = cargo();
    version.args(["mutants", "--version"]);
    if let Some(found) = probe(&mut version) {
        eprintln!("cargo-mutants present: {}", found.trim());
        return Ok(());
    }
    let mut install = cargo();
    install
        .args(["install", "--locked", CARGO_MUTANTS])
        .current_dir(root());
    exec(&mut install)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every default file or directory exists: a renamed module would otherwise drop out of
    /// the run silently (cargo-mutants accepts a glob that matches nothing).
    #[test]
    fn default_files_exist() {
        for file in FILES {
            let path = root().join(file.trim_end_matches("/**"));
            assert!(path.exists(), "{} is missing", path.display());
        }
    }
}
