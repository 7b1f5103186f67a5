//! The Python venv in which the replay differential test (`sensor-user/tests/replay_difftest.rs`)
//! runs Elastic's EQL engine as its oracle: `difftest/.venv` with `eql` 1.0.1, made with
//! Debian's python3 (package `python3-venv`). Only for a checkout that has `difftest/`.

use std::process::Command;

use anyhow::Result;

use crate::{
    exec::{exec, probe},
    host,
};

/// The Debian package `python3 -m venv` needs.
pub const APT_PACKAGE: &str = "python3-venv";
/// The EQL version the differential test is written against.
const EQL: &str = "1.0.1";

/// Whether this checkout has the differential test's files.
pub fn wanted() -> bool {
    host::root().join("difftest").is_dir()
}

/// Makes the venv and installs eql in it, unless it already imports the right eql.
pub fn ensure(present: &mut Vec<String>) -> Result<()> {
    let venv = host::root().join("difftest/.venv");
    let python = venv.join("bin/python");
    let version = probe(Command::new(&python).args(["-c", "import eql; print(eql.__version__)"]));
    if version.as_deref().map(str::trim) == Some(EQL) {
        present.push(format!("difftest venv (eql {EQL})"));
        return Ok(());
    }
    eprintln!(
        "setup: making {} with eql {EQL} (the replay differential test's oracle)",
        venv.display()
    );
    if probe(Command::new(&python).args(["-c", ""])).is_none() {
        exec(
            Command::new("/usr/bin/python3")
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
        )?;
    }
    exec(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet"])
            .arg(format!("eql=={EQL}")),
    )?;
    Ok(())
}
