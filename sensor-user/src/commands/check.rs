//! `sshd-sensor check`: can the sensor run on this host, and how? Prints one table row per
//! requirement (kernel, BTF and the offsets found, tracefs and bpffs, ring buffers, each
//! connect hook actually loaded and attached, privileges, machine id, the OpenSSH layout) and
//! exits 0 only when the sensor can run and detect here. Without privileges the table still
//! prints, saying what is missing, and the exit code is non-zero.

mod parse;
mod probe;
mod report;

use std::{path::PathBuf, process::ExitCode};

use crate::{config::Config, kernel::loader::ConnectHook};
use report::{Report, Row, Status};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Configuration whose parent executables are checked [default: /etc/sshd-sensor/config.toml].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Runs every probe, in dependency order.
fn report(config: Result<Config, String>) -> Report {
    let mut report = Report::default();
    let privileges = probe::Privileges::current();
    let parents = match &config {
        Ok(c) => c.rule.parent_executables.clone(),
        Err(_) => Config::default().rule.parent_executables,
    };
    report.push(probe::kernel());
    report.push(probe::privileges(privileges));
    report.push(match config {
        Ok(_) => Row::new("configuration", Status::Ok, "valid"),
        Err(e) => Row::new("configuration", Status::Fail, e),
    });
    report.push(probe::btf());
    let (tracefs_row, tracefs) = probe::tracefs(privileges);
    report.push(tracefs_row);
    report.push(probe::tracepoints(tracefs.as_deref()));
    report.push(probe::bpffs(privileges));
    report.push(probe::ring_buffer(privileges));
    let hooks: Vec<Row> = [
        ConnectHook::Tracepoint,
        ConnectHook::Fentry,
        ConnectHook::Kprobe,
    ]
    .into_iter()
    .map(|hook| probe::connect_hook(hook, &parents, privileges))
    .collect();
    let any_attaches = hooks.iter().any(|r| r.status == Status::Ok);
    let all_untested = hooks.iter().all(|r| r.status == Status::Fail);
    report.rows.extend(hooks);
    if !any_attaches && !all_untested {
        report.push(Row::new(
            "connect hooks",
            Status::Fail,
            "no connect hook attaches on this kernel",
        ));
    }
    report.push(probe::machine_id());
    report.rows.extend(probe::openssh(&parents));
    report
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(args.config.as_deref()).map_err(|e| e.to_string());
    let report = report(config);
    print!("{}", report.render());
    Ok(if report.failures().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
