//! `sshd-sensor config check` and `config show` as an operator runs them: exit codes, the
//! exact one-line errors with line and column, and the effective configuration printed.

use std::{
    path::Path,
    process::{Command, Output},
};

const BIN: &str = env!("CARGO_BIN_EXE_sshd-sensor");

mod common;
use common::TempDir;

fn sensor(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn check(path: &Path) -> Output {
    sensor(&["config", "check", path.to_str().expect("UTF-8 temp path")])
}

#[test]
fn valid_file_is_ok() {
    let dir = TempDir::new("config-ok");
    let path = dir.file(
        "config.toml",
        "[rule]\nparent_executables = [\"/usr/sbin/sshd\", \"/usr/lib/openssh/sshd-session\"]\n",
    );
    let out = check(&path);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("ok: {} is valid\n", path.display())
    );
}

#[test]
fn shipped_default_config_is_valid() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/config.toml");
    let out = check(&shipped);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Each kind of error: exit 1 and exactly one line on stderr, `PATH:LINE:COLUMN: message`.
#[test]
fn each_error_kind_is_one_located_line() {
    let dir = TempDir::new("config-bad");
    let cases = [
        ("syntax", "[rule\n", "1:6: unclosed table, expected `]`"),
        (
            "unknown key",
            "[output]\nformat = \"json\"\nfromat = \"json\"\n",
            "3:1: unknown field `fromat`, expected one of `format`, `file`, `journald`, `record`",
        ),
        (
            "wrong type",
            "[alerts]\nwindow_seconds = \"5m\"\n",
            "2:18: invalid type: string \"5m\", expected a non-negative integer",
        ),
        (
            "invalid cidr",
            "[rule]\nextra_excluded_cidrs = [\"10.0.0.0/8\", \"300.1.2.3/8\"]\n",
            "2:39: rule.extra_excluded_cidrs: expected a CIDR range such as \"10.0.0.0/8\" or \
             \"fc00::/7\", or an address such as \"::1\", found \"300.1.2.3/8\" (invalid address: \
             300.1.2.3/8)",
        ),
        (
            "relative path",
            "[rule]\nparent_executables = [\n    \"sshd\",\n]\n",
            "3:5: rule.parent_executables: expected an absolute path, found \"sshd\"",
        ),
        (
            "bad enum",
            "[sensor]\nconnect_hook = \"Tracepoint\"\n",
            "2:16: sensor.connect_hook: expected one of \"auto\", \"raw-tracepoint\", \"tracepoint\", \"fentry\", \
             \"kprobe\", found \"Tracepoint\"",
        ),
    ];
    for (i, (kind, config, expected)) in cases.iter().enumerate() {
        let path = dir.file(&format!("bad{i}.toml"), config);
        let out = check(&path);
        assert_eq!(out.status.code(), Some(1), "{kind}: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stderr),
            format!("{}:{expected}\n", path.display()),
            "{kind}"
        );
        assert_eq!(text(&out.stdout), "", "{kind}");
    }
}

#[test]
fn missing_explicit_file_is_an_error() {
    let dir = TempDir::new("config-missing");
    let path = dir.0.join("absent.toml");
    let out = check(&path);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "{}: cannot read the configuration file: No such file or directory (os error 2)\n",
            path.display()
        )
    );
    let out = sensor(&["config", "show", "--config", path.to_str().expect("UTF-8")]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn show_prints_the_effective_configuration() {
    let dir = TempDir::new("config-show");
    let path = dir.file(
        "config.toml",
        "[alerts]\nmax_per_window = 7\n[output]\njournald = false\n",
    );
    let out = sensor(&["config", "show", "--config", path.to_str().expect("UTF-8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.starts_with(&format!(
            "# sshd-sensor effective configuration, from {}\n",
            path.display()
        )),
        "{shown}"
    );
    let default_parents = "parent_executables = [\"/usr/sbin/sshd\", \"/usr/lib/openssh/sshd-session\", \
         \"/usr/libexec/openssh/sshd-session\", \"/usr/lib/ssh/sshd-session\", \
         \"/usr/libexec/ssh/sshd-session\", \"/usr/libexec/sshd-session\"]";
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("# parent executables present on this host now: ")),
        "{shown}"
    );
    for line in [
        default_parents,
        "max_per_window = 7",
        "window_seconds = 300",
        "format = \"auto\"",
        "journald = false",
        "level = \"info\"",
        "connect_hook = \"auto\"",
        "stats_interval_seconds = 300",
    ] {
        assert!(
            shown.lines().any(|l| l == line),
            "missing {line:?} in:\n{shown}"
        );
    }
    // What `show` prints is itself a valid configuration with the same meaning.
    let again = dir.file("shown.toml", &shown);
    let out = sensor(&["config", "show", "--config", again.to_str().expect("UTF-8")]);
    let reshown = text(&out.stdout);
    assert_eq!(
        reshown.lines().skip(1).collect::<Vec<_>>(),
        shown.lines().skip(1).collect::<Vec<_>>()
    );
}
