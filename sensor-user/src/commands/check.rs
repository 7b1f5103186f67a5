//! `sshd-sensor check`: can the sensor run on this host, and how? Prints one table row per
//! requirement (kernel, privileges and `perf_event_paranoid`, BTF and the offsets found, ring
//! buffers, each attach kind actually loaded and attached through the same loader as `run`,
//! tracefs for the perf fallback, machine id, the OpenSSH layout) and the command that runs the
//! check exactly as the service would. It exits 0 only when the sensor can run and detect here;
//! without privileges the table still prints, saying what is missing, and the exit code is
//! non-zero.

mod parse;
mod probe;
mod report;

use std::{path::PathBuf, process::ExitCode};

use crate::{config::Config, kernel::privileges::Privileges};
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
    let privileges = Privileges::current();
    let parents = match &config {
        Ok(c) => c.rule.parent_executables.clone(),
        Err(_) => Config::default().rule.parent_executables,
    };
    report.push(probe::kernel());
    report.push(probe::privileges(privileges));
    report.push(probe::perf_event_paranoid(privileges));
    report.push(match config {
        Ok(_) => Row::new("configuration", Status::Ok, "valid"),
        Err(e) => Row::new("configuration", Status::Fail, e),
    });
    report.push(probe::btf());
    report.push(probe::ring_buffer(privileges));
    let attach: Vec<Row> = probe::ATTACH_PROBES
        .into_iter()
        .map(|p| probe::attach(p, &parents, privileges))
        .collect();
    let any_attaches = attach.iter().any(|r| r.status == Status::Ok);
    let all_untested = attach.iter().all(|r| r.status == Status::Fail);
    report.rows.extend(attach);
    if !any_attaches && !all_untested {
        report.push(Row::new(
            "attach",
            Status::Fail,
            "no way of attaching the sensor works here (see the rows above)",
        ));
    }
    let (tracefs_row, tracefs) = probe::tracefs(privileges);
    report.push(tracefs_row);
    report.push(probe::tracepoints(tracefs.as_deref()));
    report.push(probe::machine_id());
    report.rows.extend(probe::openssh(&parents));
    report.push(probe::as_service());
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
