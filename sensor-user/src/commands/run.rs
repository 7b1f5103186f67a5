//! `sshd-sensor run`: watch this host live.

use std::{process::ExitCode, time::Duration};

use crate::{
    daemon::{self, RunOptions},
    kernel::loader::ConnectHook,
    output::Format,
    rule::{definition::DEFAULT_PARENT_EXECUTABLE, RuleConfig},
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Alert format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// Executable whose children are stage-1 processes (repeat for several).
    #[arg(long = "parent-executable", value_name = "PATH", default_value = DEFAULT_PARENT_EXECUTABLE)]
    pub parent_executables: Vec<String>,
    /// Connect hook: auto tries tracepoint, fentry, kprobe in that order.
    #[arg(long, value_enum, default_value_t = ConnectHook::Auto)]
    pub connect_hook: ConnectHook,
    /// Seconds between stats lines on stderr.
    #[arg(long, default_value_t = 300)]
    pub stats_interval: u64,
    /// Attach empty programs to the same hooks (the benchmark's floor); never alerts.
    #[arg(long, hide = true)]
    pub empty_programs: bool,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let rule = RuleConfig { parent_executables: args.parent_executables, ..RuleConfig::default() };
    let opts = RunOptions {
        format: args.format,
        rule,
        connect_hook: args.connect_hook,
        empty_programs: args.empty_programs,
        stats_interval: Duration::from_secs(args.stats_interval.max(1)),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(daemon::run(opts))?;
    Ok(ExitCode::SUCCESS)
}
