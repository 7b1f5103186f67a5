//! `cargo xtask deb [-- ARGS]`: runs `packaging/build-deb.sh ARGS` with bash from the workspace
//! root and exits with its exit code. The script owns packaging; this is only the familiar entry point.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use crate::{exec, host};

pub const SCRIPT: &str = "packaging/build-deb.sh";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Arguments for the script (after `--`), e.g. `-- --binary PATH`.
    #[arg(last = true)]
    script_args: Vec<String>,
}

pub fn execute(args: Args) -> Result<ExitCode> {
    let script = host::root().join(SCRIPT);
    if !script.is_file() {
        bail!(
            "{} is missing: the Debian package is built by that script, which this checkout lacks",
            script.display()
        );
    }
    let mut cmd = Command::new("bash");
    cmd.arg(SCRIPT)
        .args(&args.script_args)
        .current_dir(host::root());
    let line = exec::line(&cmd);
    eprintln!("+ {line}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    let code = status.code().unwrap_or(1);
    if code != 0 {
        eprintln!("xtask: `{line}` failed ({status})");
    }
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
