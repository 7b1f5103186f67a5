//! `sshd-sensor config check [PATH]` validates a configuration file without starting anything;
//! `sshd-sensor config show [--config PATH]` prints the effective configuration (defaults
//! filled in) as TOML, headed by which parent executables exist on this host now.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use crate::config::{Config, DEFAULT_PATH};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Validate a configuration file: exit 0 and "ok: PATH is valid", or exit 1 and the error.
    Check {
        /// The file to check [default: /etc/sshd-sensor/config.toml].
        path: Option<PathBuf>,
    },
    /// Print the effective configuration: the file's settings with every default filled in.
    Show {
        /// The configuration file [default: /etc/sshd-sensor/config.toml, if it exists].
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Check { path } => Ok(check(path.as_deref())),
        Action::Show { config } => Ok(show(config.as_deref())),
    }
}

fn check(path: Option<&Path>) -> ExitCode {
    match Config::load(path) {
        Ok(_) => {
            match path {
                Some(p) => println!("ok: {} is valid", p.display()),
                None if Path::new(DEFAULT_PATH).exists() => println!("ok: {DEFAULT_PATH} is valid"),
                None => println!("ok: {DEFAULT_PATH} does not exist; the built-in defaults apply"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn show(path: Option<&Path>) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            let source = match path {
                Some(p) => p.display().to_string(),
                None if Path::new(DEFAULT_PATH).exists() => DEFAULT_PATH.to_owned(),
                None => format!("built-in defaults ({DEFAULT_PATH} does not exist)"),
            };
            let present: Vec<&str> = config
                .rule
                .parent_executables
                .iter()
                .filter(|p| Path::new(p).exists())
                .map(String::as_str)
                .collect();
            print!(
                "# sshd-sensor effective configuration, from {source}\n\
                 # parent executables present on this host now: {}\n\n{}",
                if present.is_empty() {
                    "none".to_owned()
                } else {
                    present.join(", ")
                },
                config.to_toml()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
