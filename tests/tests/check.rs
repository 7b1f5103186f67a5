//! `sshd-sensor check` as an operator relies on it: exit 0 only when the sensor can run here,
//! and a non-zero exit, with the failing row and the verdict naming it, when it cannot. The
//! failures are real conditions, not stubs: a configuration with an unknown key, and the
//! binary run as uid 65534 with no capabilities at all. The passing run on this host is the
//! control, so a `check` that always failed would not pass either.

use std::process::Command;
use std::time::Duration;

use integration_tests::cmd::{self, Finished};
use integration_tests::prereq;
use integration_tests::privileges;
use integration_tests::sensor;
use integration_tests::tempdir::TempDir;

const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

fn run(mut command: Command) -> Finished {
    command.env("RUST_BACKTRACE", "1").env_remove("RUST_LOG");
    let finished = cmd::run_bounded(&mut command, CHECK_TIMEOUT);
    let all = format!("{}{}", finished.stdout, finished.stderr).to_ascii_lowercase();
    assert!(
        !all.contains("panicked"),
        "`{}` panicked:\n{}",
        finished.command,
        finished.stderr
    );
    finished
}

/// The row of the check table whose first column is `name`.
fn row<'a>(finished: &'a Finished, name: &str) -> &'a str {
    finished
        .stdout
        .lines()
        .find(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with("  "))
        })
        .unwrap_or_else(|| panic!("no `{name}` row in:\n{}", finished.stdout))
}

/// The row's status column (`ok`, `FAIL`, `warn`, `info`).
fn status<'a>(finished: &'a Finished, name: &str) -> &'a str {
    let line = row(finished, name);
    line[name.len()..]
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("`{name}` row without a status: {line}"))
}

fn verdict(finished: &Finished) -> &str {
    finished
        .stdout
        .lines()
        .find(|l| l.starts_with("verdict:"))
        .unwrap_or_else(|| panic!("no verdict line in:\n{}", finished.stdout))
}

/// The control: as root on this host (tracepoints work), `check` passes with exit 0.
#[test]
fn check_passes_where_the_sensor_runs() {
    prereq::require_root();
    let finished = run(sensor::command(&["check"]));
    assert_eq!(
        finished.status.code(),
        Some(0),
        "check failed on a host where the sensor runs:\n{}\n{}",
        finished.stdout,
        finished.stderr
    );
    assert_eq!(verdict(&finished), "verdict: the sensor can run here");
    assert_eq!(status(&finished, "configuration"), "ok");
}

/// A configuration with an unknown key: the configuration row fails naming file:line:col, the
/// verdict names it, and the exit status is 1 (the table still prints everything else).
#[test]
fn check_fails_on_an_invalid_configuration() {
    prereq::require_root();
    let dir = TempDir::new("sst-check");
    let config = dir.join("bad.toml");
    std::fs::write(&config, "[output]\njournald = false\nno_such_key = 1\n").expect("write");
    let path = config.to_str().expect("UTF-8 path");
    let finished = run(sensor::command(&["check", "--config", path]));
    assert_eq!(
        finished.status.code(),
        Some(1),
        "check with an invalid configuration must exit 1:\n{}\n{}",
        finished.stdout,
        finished.stderr
    );
    assert_eq!(status(&finished, "configuration"), "FAIL");
    let location = format!("{path}:3:1");
    assert!(
        row(&finished, "configuration").contains(&location),
        "the configuration row does not name {location}:\n{}",
        finished.stdout
    );
    assert_eq!(
        verdict(&finished),
        "verdict: the sensor cannot run here; fix: configuration"
    );
    // Everything else was still checked.
    assert_eq!(status(&finished, "attach: raw tracepoints"), "ok");
}

/// As uid 65534 with no capabilities: the privileges row fails, nothing attaches, and the exit
/// status is 1.
#[test]
fn check_fails_without_privileges() {
    prereq::require_root();
    let dir = TempDir::new("sst-check");
    let binary = privileges::binary_for_nobody(dir.path());
    let finished = run(privileges::without_capabilities(&binary, &["check"]));
    assert_eq!(
        finished.status.code(),
        Some(1),
        "check without privileges must exit 1:\n{}\n{}",
        finished.stdout,
        finished.stderr
    );
    assert_eq!(status(&finished, "privileges"), "FAIL");
    let verdict = verdict(&finished);
    assert!(
        verdict.starts_with("verdict: the sensor cannot run here; fix:")
            && verdict.contains("privileges"),
        "the verdict does not name the privileges: {verdict}\n{}",
        finished.stdout
    );
}
