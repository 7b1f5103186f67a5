//! `sshd-sensor run`: watch this host live. Settings come from the configuration file; flags
//! given here win over it.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use crate::{
    commands::rule::RuleArgs,
    config::Config,
    daemon::{self, Overrides, RunOptions},
    kernel::loader::{ConnectHook, TracepointKind},
    output::Format,
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Configuration file [default: /etc/sshd-sensor/config.toml, if it exists; without it the
    /// seed rule runs exactly].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Alert format on stdout [default: human on a terminal, json otherwise].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Executable whose children are stage-1 processes (repeat for several; replaces the
    /// configured list) [default: /usr/sbin/sshd and every sshd-session location].
    #[arg(long = "parent-executable", value_name = "PATH")]
    pub parent_executables: Vec<String>,
    /// Connect hook: auto tries the tracepoint of the exec/exit programs' kind (raw, else
    /// perf), then fentry, then kprobe [default: auto].
    #[arg(long, value_enum)]
    pub connect_hook: Option<ConnectHook>,
    /// How the exec and exit programs attach: auto tries raw tracepoints (BPF links, no
    /// perf_event_open) and falls back to perf tracepoints [default: auto].
    #[arg(long, value_enum)]
    pub tracepoints: Option<TracepointKind>,
    /// Append every event the kernel passed up to FILE as ECS documents (for `replay`).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Seconds between stats lines on stderr [default: 300].
    #[arg(long, value_name = "SECONDS")]
    pub stats_interval: Option<u64>,
    #[command(flatten)]
    pub rule: RuleArgs,
    /// Attach empty programs to the same hooks (the benchmark's floor); never alerts.
    #[arg(long, hide = true)]
    pub empty_programs: bool,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(args.config.as_deref())?;
    let overrides = Overrides {
        format: args.format,
        parent_executables: (!args.parent_executables.is_empty())
            .then_some(args.parent_executables),
        connect_hook: args.connect_hook,
        tracepoints: args.tracepoints,
        record: args.record,
        stats_interval: args.stats_interval.map(Duration::from_secs),
        rule: args.rule.load()?,
    };
    if let Some((source, rule)) = &overrides.rule
        && rule.parent_executables().is_none()
        && overrides.parent_executables.is_none()
    {
        anyhow::bail!(
            "{source}: stage 1 tests no process.parent.executable, so the kernel cannot tell \
             which processes start logins; name them with --parent-executable"
        );
    }
    overrides.apply(&mut config);
    let opts = RunOptions {
        config,
        config_path: args.config,
        overrides,
        empty_programs: args.empty_programs,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(daemon::run(opts))?;
    Ok(ExitCode::SUCCESS)
}
