//! `cargo xtask run [-- ARGS]`: set up, build, then replace this process with the static
//! `target/x86_64-unknown-linux-musl/release/sshd-sensor run ARGS`, so Ctrl-C and SIGTERM reach
//! the sensor directly.

use std::{
    os::unix::process::CommandExt,
    process::{Command, ExitCode},
};

use anyhow::Result;

use crate::{build, exec, host, setup};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Arguments for `sshd-sensor run` (after `--`), e.g. `-- --format json`.
    #[arg(last = true)]
    sensor_args: Vec<String>,
}

pub fn execute(args: Args) -> Result<ExitCode> {
    setup::execute()?;
    build::execute()?;
    let mut cmd = Command::new(host::sensor_bin());
    cmd.arg("run").args(&args.sensor_args);
    let line = exec::line(&cmd);
    eprintln!("+ exec {line}");
    // exec(2) returns only on failure.
    let err = cmd.exec();
    Err(anyhow::Error::new(err).context(format!("could not exec `{line}`")))
}
