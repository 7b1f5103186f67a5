//! The connect helper (`src/bin/sst-connect.rs`) as the tests use it: installed as a copy in
//! the scratch directory (mode 0755, so the test user can run it, under any name such as `ssh`
//! or `login_duo`), started by a remote shell command, and its report parsed from the output.

use std::path::{Path, PathBuf};

use crate::tempdir::copy_executable;

/// The path of the `sst-connect` binary cargo built for this test run. Expands in the calling
/// integration test, where cargo sets `CARGO_BIN_EXE_sst-connect`.
#[macro_export]
macro_rules! connector_bin {
    () => {
        ::std::path::Path::new(env!("CARGO_BIN_EXE_sst-connect"))
    };
}

/// What one connector run printed before connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectReport {
    /// Pid of the connecting process (the alert's `process.pid`).
    pub pid: i32,
    /// Pid of its parent, the shell (the alert's `process.parent.pid`).
    pub ppid: i32,
    /// Destination as the connector understood it (without scope).
    pub dest: String,
    pub port: u16,
}

/// Copies the connector binary `source` to `dir/name` with mode 0755 and returns the new path.
pub fn install(source: &Path, dir: &Path, name: &str) -> PathBuf {
    assert!(
        source.is_file(),
        "connector binary {} is missing",
        source.display()
    );
    let target = dir.join(name);
    copy_executable(source, &target);
    target
}

/// The shell words that run `connector dest port` (no timeout argument: the default 300 ms).
pub fn invocation(connector: &Path, dest: &str, port: u16) -> String {
    let path = connector.to_str().expect("connector path is UTF-8");
    assert!(
        !path.contains(|c: char| c.is_whitespace() || "'\"$`\\;&|<>".contains(c)),
        "connector path {path:?} would need shell quoting"
    );
    format!("{path} {dest} {port}")
}

/// Every report line (`sst-connect pid=.. ppid=.. dest=.. port=..`) in `output`, in order.
pub fn parse_reports(output: &str) -> Vec<ConnectReport> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("sst-connect pid="))
        .map(|rest| {
            let line = format!("pid={rest}");
            let field = |key: &str| -> &str {
                line.split_whitespace()
                    .find_map(|word| word.strip_prefix(key).and_then(|w| w.strip_prefix('=')))
                    .unwrap_or_else(|| panic!("connector line {line:?} lacks {key}="))
            };
            ConnectReport {
                pid: field("pid")
                    .parse()
                    .unwrap_or_else(|e| panic!("bad pid in {line:?}: {e}")),
                ppid: field("ppid")
                    .parse()
                    .unwrap_or_else(|e| panic!("bad ppid in {line:?}: {e}")),
                dest: field("dest").to_owned(),
                port: field("port")
                    .parse()
                    .unwrap_or_else(|e| panic!("bad port in {line:?}: {e}")),
            }
        })
        .collect()
}

/// The single report in `output`; panics (showing the output) unless there is exactly one.
pub fn single_report(output: &str) -> ConnectReport {
    let reports = parse_reports(output);
    match reports.as_slice() {
        [report] => report.clone(),
        _ => panic!(
            "expected exactly one connector report, got {}:\n{output}",
            reports.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_report_lines() {
        let out = "hi\nsst-connect pid=12 ppid=3 dest=2001:db8::1 port=443\nsst-connect result=TimedOut\n";
        assert_eq!(
            parse_reports(out),
            vec![ConnectReport {
                pid: 12,
                ppid: 3,
                dest: "2001:db8::1".into(),
                port: 443
            }]
        );
    }
}
