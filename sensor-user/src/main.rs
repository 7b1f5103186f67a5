//! The `sshd-sensor` command line. Errors end as one line on stderr naming the problem and the
//! fix, with a non-zero exit; never a panic or a backtrace.

use std::{
    io::{self, IsTerminal},
    process::ExitCode,
};

use clap::{Parser, Subcommand};
use sshd_sensor::commands;
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(
    name = "sshd-sensor",
    version,
    about = "eBPF sensor for Elastic's 'Network Connection Initiated by SSHD Child Process' (v4), live"
)]
struct Cli {
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace); RUST_LOG overrides.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Watch this host live and print an alert for every match.
    Run(commands::run::Args),
}

fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("sshd-sensor: internal error: {info}; please report it");
    }));
    let cli = Cli::parse();
    init_logging(&cli.log_level);
    let result = match cli.command {
        Command::Run(args) => commands::run::execute(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sshd-sensor: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
