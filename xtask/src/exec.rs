//! Running other programs. [`exec`] is the one way a task runs a step: it prints the command
//! line (on stderr, so stdout stays the task's own output), runs it with inherited stdio, and
//! fails with the whole command line (environment overrides and working directory included)
//! when it cannot start or exits non-zero.
//! [`capture`] and [`probe`] read a command's stdout for the checks that decide what to do.

use std::{ffi::OsStr, process::Command};

use anyhow::{Context, Result, bail};

/// The command as a shell-like line: `VAR=value program arg ...` (and `(in DIR)` when set).
pub fn line(cmd: &Command) -> String {
    let mut parts: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| format!("{}={}", k.to_string_lossy(), quote(v))))
        .collect();
    parts.push(quote(cmd.get_program()));
    parts.extend(cmd.get_args().map(quote));
    let mut line = parts.join(" ");
    if let Some(dir) = cmd.get_current_dir() {
        line.push_str(&format!("  (in {})", dir.display()));
    }
    line
}

fn quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@%".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Prints and runs `cmd` with inherited stdio; an error names the whole command line.
pub fn exec(cmd: &mut Command) -> Result<()> {
    let line = line(cmd);
    eprintln!("+ {line}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` quietly and returns its stdout; fails with the command line and its stderr.
pub fn capture(cmd: &mut Command) -> Result<String> {
    let line = line(cmd);
    let out = cmd
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    if !out.status.success() {
        bail!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).with_context(|| format!("`{line}` printed non-UTF-8 output"))
}

/// Like [`capture`], but a command that is missing or fails is `None`: for "is it there?".
pub fn probe(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_env_args_and_quotes() {
        let mut cmd = Command::new("cargo");
        cmd.args(["test", "--", "a b"])
            .env("SSHD_SENSOR_BIN", "/x/sshd-sensor");
        assert_eq!(
            line(&cmd),
            "SSHD_SENSOR_BIN=/x/sshd-sensor cargo test -- 'a b'"
        );
    }
}
