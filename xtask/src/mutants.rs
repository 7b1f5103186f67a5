//! `cargo xtask mutants`: mutation testing of the pure code with cargo-mutants (installed from
//! crates.io on first use, pinned). It mutates each [`AREAS`] entry's files one mutant at a time
//! in a copy of the tree, in two passes: first against the area's own unit tests (a test-name
//! filter: a mutant costs a few seconds), then, for the mutants that pass 1 did not catch, against
//! all of sensor-user's unit tests and its integration tests of the pure code (`--iterate`). A
//! mutant both passes miss survives. The eBPF object is not built (`SSHD_SENSOR_SKIP_EBPF=1`): no
//! kernel program is mutated and no test here loads one. Builds use the `mutants` profile (no
//! debug info). Not part of CI (a full run takes about two hours on two cores); results go to
//! `target/mutants/<area>/mutants.out/` (`caught.txt`, `missed.txt`, `timeout.txt`,
//! `unviable.txt`; pass 1's in `mutants.out.old/`), and a table of them to stdout.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use crate::exec::{exec, line, probe};
use crate::host::{cargo, root, target_dir};

/// The cargo-mutants release this task installs when none is present.
const CARGO_MUTANTS: &str = "cargo-mutants@27.1.0";

/// One part of the pure code of sensor-user: its files, and the unit tests (name filters) that
/// pass 1 runs against its mutants.
pub struct Area {
    pub name: &'static str,
    pub files: &'static [&'static str],
    /// Files of `files` left to another area.
    pub exclude: &'static [&'static str],
    /// Test binary arguments of pass 1: name filters, and `--skip`s of slow tests that pass 2
    /// runs.
    pub tests: &'static [&'static str],
}

/// The pure code of sensor-user: no kernel, no clock, no I/O beyond readers and writers.
pub const AREAS: &[Area] = &[
    Area {
        name: "rule",
        files: &["sensor-user/src/rule/**"],
        exclude: &[],
        tests: &["rule::"],
    },
    Area {
        name: "ratelimit",
        files: &["sensor-user/src/ratelimit.rs"],
        exclude: &[],
        tests: &["ratelimit"],
    },
    Area {
        name: "decode",
        files: &["sensor-user/src/decode.rs"],
        exclude: &[],
        tests: &["decode"],
    },
    Area {
        name: "config",
        files: &["sensor-user/src/config.rs", "sensor-user/src/config/**"],
        exclude: &[],
        tests: &["config::"],
    },
    Area {
        name: "ecs",
        files: &["sensor-user/src/ecs/**"],
        exclude: &[],
        tests: &["ecs::", "output::"],
    },
    // The JSON scanner, whose unit tests compare it with serde on 92,000 documents (8 s a
    // mutant in a debug build)...
    Area {
        name: "replay-fields",
        files: &[
            "sensor-user/src/replay/fields.rs",
            "sensor-user/src/replay/fields/**",
        ],
        exclude: &[],
        tests: &["replay::fields"],
    },
    // ...and the rest of replay, which pass 1 tests without those two comparisons.
    Area {
        name: "replay",
        files: &["sensor-user/src/replay/**"],
        exclude: &[
            "sensor-user/src/replay/fields.rs",
            "sensor-user/src/replay/fields/**",
        ],
        tests: &["replay::", "--skip", "scan_agrees_with_serde"],
    },
];

/// Pass 2's tests: sensor-user's unit tests and its integration tests of the pure code (not the
/// differential tests, which need Python; not the CLI and packaging tests, which build and run
/// the binary).
const FULL_TESTS: &[&str] = &[
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
    /// Only these areas (repeatable): rule, ratelimit, decode, config, ecs, replay-fields,
    /// replay.
    #[arg(long = "area")]
    pub areas: Vec<String>,
    /// Only list the mutants, run nothing.
    #[arg(long)]
    pub list: bool,
    /// Only print the table of the last run's results.
    #[arg(long)]
    pub report: bool,
    /// Further cargo-mutants options for both passes, after `--` (e.g. `-- --shard 0/4`).
    #[arg(last = true)]
    pub extra: Vec<String>,
}

pub fn execute(args: Args) -> Result<()> {
    let areas = selected(&args.areas)?;
    if !args.report {
        ensure_installed()?;
    }
    for area in &areas {
        if args.list {
            let mut cmd = mutants(area);
            cmd.arg("--list");
            run(&mut cmd)?;
        } else if !args.report {
            run_area(area, &args.extra)?;
        }
    }
    if !args.list {
        report(&areas);
    }
    Ok(())
}

fn selected(names: &[String]) -> Result<Vec<&'static Area>> {
    if names.is_empty() {
        return Ok(AREAS.iter().collect());
    }
    names
        .iter()
        .map(|n| match AREAS.iter().find(|a| a.name == n) {
            Some(a) => Ok(a),
            None => {
                bail!("no area {n:?}: choose from rule, ratelimit, decode, config, ecs, replay-fields, replay")
            }
        })
        .collect()
}

/// cargo-mutants over `area`'s files, built in a target directory of its own that is kept
/// between runs (so only the first run compiles the dependencies).
fn mutants(area: &Area) -> Command {
    let mut cmd = cargo();
    cmd.args(["mutants", "--package", "sensor-user", "--no-shuffle"]);
    for file in area.files {
        cmd.args(["--file", file]);
    }
    for file in area.exclude {
        cmd.args(["--exclude", file]);
    }
    cmd.env("SSHD_SENSOR_SKIP_EBPF", "1")
        .env("CARGO_TARGET_DIR", target_dir().join("mutants-build"))
        .current_dir(root());
    cmd
}

fn run_area(area: &Area, extra: &[String]) -> Result<()> {
    let out = target_dir().join("mutants").join(area.name);
    std::fs::create_dir_all(&out)?;
    // Pass 1: the area's own unit tests.
    let mut pass1 = mutants(area);
    pass1
        .args(["--profile", "mutants", "--minimum-test-timeout", "20"])
        .arg("--output")
        .arg(&out)
        .args(["--cargo-arg", "--lib"])
        .args(extra)
        .args(["--", "--"])
        .args(area.tests);
    run(&mut pass1)?;
    // Pass 2: everything pass 1 did not catch, against the whole pure test set.
    let mut pass2 = mutants(area);
    pass2
        .args([
            "--profile",
            "mutants",
            "--minimum-test-timeout",
            "60",
            "--iterate",
        ])
        .arg("--output")
        .arg(&out)
        .args(extra)
        .arg("--")
        .args(FULL_TESTS);
    run(&mut pass2)
}

/// Runs cargo-mutants; its "some mutants survived" and "some timed out" statuses (2, 3) are
/// results, not failures.
fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("+ {}", line(cmd));
    let status = cmd.status()?;
    match status.code() {
        Some(0 | 2 | 3) => Ok(()),
        _ => bail!("{} failed: {status}", line(cmd)),
    }
}

/// Lines of a cargo-mutants result list (0 when absent).
fn count(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().filter(|l| !l.is_empty()).count())
}

/// Prints, per area, the mutants tried and what became of them over both passes, then the
/// survivors and timeouts by name.
fn report(areas: &[&Area]) {
    println!("area       mutants  caught  missed  timeout  unviable");
    let mut named = Vec::new();
    for area in areas {
        let dir = target_dir().join("mutants").join(area.name);
        let (p1, p2) = (dir.join("mutants.out.old"), dir.join("mutants.out"));
        let caught = count(&p1.join("caught.txt")) + count(&p2.join("caught.txt"));
        let unviable = count(&p1.join("unviable.txt")) + count(&p2.join("unviable.txt"));
        let missed = count(&p2.join("missed.txt"));
        let timeout = count(&p2.join("timeout.txt"));
        let total = caught + unviable + missed + timeout;
        println!(
            "{:<10} {total:>7}  {caught:>6}  {missed:>6}  {timeout:>7}  {unviable:>8}",
            area.name
        );
        for list in ["missed.txt", "timeout.txt"] {
            if let Ok(text) = std::fs::read_to_string(p2.join(list)) {
                named.extend(
                    text.lines()
                        .map(|l| format!("{}: {l}", &list[..list.len() - 4])),
                );
            }
        }
    }
    for l in named {
        println!("{l}");
    }
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
        for file in AREAS.iter().flat_map(|a| a.files) {
            let path = root().join(file.trim_end_matches("/**"));
            assert!(path.exists(), "{} is missing", path.display());
        }
    }
}
