//! The `sshd-sensor` command line. Errors end as one line on stderr naming the problem and the
//! fix, with a non-zero exit; never a panic or a backtrace.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sshd_sensor::commands;

#[derive(Parser, Debug)]
#[command(
    name = "sshd-sensor",
    version,
    about = "eBPF sensor for Elastic's 'Network Connection Initiated by SSHD Child Process' (v4), live"
)]
struct Cli {
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace) [default: the
    /// configuration's [log] level, else info]. RUST_LOG overrides it.
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Watch this host live and print an alert for every match.
    Run(commands::run::Args),
    /// Hunt over stored Elastic Defend events (NDJSON) with the same engine and alerts.
    Replay(commands::replay::Args),
    /// Tell whether the sensor can run on this host, and how (exit 0 when it can).
    Check(commands::check::Args),
    /// Validate or show the configuration file.
    Config(commands::config::Args),
    /// Show the compiled rule (an embedded profile or a rule file).
    Rule(commands::rule::Args),
}

/// The error and its causes on one line, each cause once (many errors already quote their
/// source in their own message).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line.replace('\n', " ")
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("sshd-sensor: internal error: {info}; please report it");
    }));
    let cli = Cli::parse();
    // `run` logs at its configuration's level unless told otherwise; a broken file is
    // reported by `run` itself, so it is ignored here.
    let pinned = cli.log_level.is_some();
    let level = cli.log_level.clone().or_else(|| match &cli.command {
        Command::Run(args) => sshd_sensor::config::Config::load(args.config.as_deref())
            .ok()
            .map(|c| c.log.level),
        // `check` reports in its table; the loader's progress lines would only interleave.
        Command::Check(_) => Some("warn".to_owned()),
        _ => None,
    });
    sshd_sensor::logging::init(level.as_deref().unwrap_or("info"), pinned);
    let result = match cli.command {
        Command::Run(args) => commands::run::execute(args),
        Command::Replay(args) => commands::replay::execute(args),
        Command::Check(args) => commands::check::execute(args),
        Command::Config(args) => commands::config::execute(args),
        Command::Rule(args) => commands::rule::execute(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sshd-sensor: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}
