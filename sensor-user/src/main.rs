//! The `sshd-sensor` command line. Errors end as one line on stderr naming the problem and the
//! fix, with a non-zero exit; never a panic or a backtrace.

use std::{process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use sshd_sensor::{
    daemon::{self, RunOptions},
    kernel::loader::ConnectHook,
    output::Format,
    rule::{RuleConfig, definition::DEFAULT_PARENT_EXECUTABLE},
};
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
    Run(RunArgs),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Alert format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Executable whose children are stage-1 processes (repeat for several).
    #[arg(long = "parent-executable", value_name = "PATH", default_value = DEFAULT_PARENT_EXECUTABLE)]
    parent_executables: Vec<String>,
    /// Connect hook: auto tries tracepoint, fentry, kprobe in that order.
    #[arg(long, value_enum, default_value_t = ConnectHook::Auto)]
    connect_hook: ConnectHook,
    /// Seconds between stats lines on stderr.
    #[arg(long, default_value_t = 300)]
    stats_interval: u64,
    /// Attach empty programs to the same hooks (the benchmark's floor); never alerts.
    #[arg(long, hide = true)]
    empty_programs: bool,
}

fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => {
            let rule = RuleConfig {
                parent_executables: args.parent_executables,
                ..RuleConfig::default()
            };
            let opts = RunOptions {
                format: args.format,
                rule,
                connect_hook: args.connect_hook,
                empty_programs: args.empty_programs,
                stats_interval: Duration::from_secs(args.stats_interval.max(1)),
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(daemon::run(opts))
        }
    }
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("sshd-sensor: internal error: {info}; please report it");
    }));
    let cli = Cli::parse();
    init_logging(&cli.log_level);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sshd-sensor: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
