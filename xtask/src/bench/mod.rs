//! `cargo xtask bench`: how much the sensor slows the host, printed, not asserted. Each round
//! runs five configurations in a rotating order, so drift (thermal, other load) spreads over
//! all of them (with a multiple of five rounds, each runs in every position equally often): no
//! sensor; the floor of each attach kind (`--empty-programs --tracepoints perf|raw`: the same
//! hooks with programs that do nothing, i.e. the cost of attaching at all); and the sensor on
//! raw tracepoints (the default) and on perf tracepoints. Under each, an exec storm and a
//! loopback connect storm run ([`storm`]), timed and charged their own CPU time (getrusage,
//! programs included), both per op from the median batch; the sensor process's own CPU during
//! each storm is read too. The report gives per-op medians over rounds against no sensor, and
//! each sensor process's drops and peak RSS, with the targets marked met or not.
//!
//! On a VM, round-to-round timing spreads widely, so the run also keeps the kernel's BPF
//! run-time statistics on ([`bpf_stats`]) and, for each floor and sensor run, reads its
//! programs' run time and run count before and after each storm: in-program CPU per op, free
//! of timing noise. They cost two clock reads per program run, which `--no-bpf-stats` avoids
//! for a run of CPU and wall time alone.

mod bpf_stats;
mod report;
mod report_bpf;
mod report_targets;
mod sensor;
mod storm;

use std::time::Duration;

use anyhow::{Context, Result};

use crate::{build, host, setup};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Rounds; each runs every configuration once.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Execs of /bin/true per exec storm.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    execs: u32,
    /// Loopback TCP connect+accept+close per connect storm.
    #[arg(long, default_value_t = 20000, value_parser = clap::value_parser!(u32).range(1..))]
    connects: u32,
    /// Leave the kernel's BPF run-time statistics off: their two clock reads per program run
    /// are in every CPU and wall figure of the configurations with programs. No BPF-time table.
    #[arg(long)]
    no_bpf_stats: bool,
}

/// How a sensor process attaches its exec, exit and connect programs (`--tracepoints`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// Raw tracepoints: BPF links, the sensor's default.
    Raw,
    /// Perf tracepoints: perf_event_open(2), the fallback.
    Perf,
}

impl Attach {
    fn arg(self) -> &'static str {
        match self {
            Attach::Raw => "raw",
            Attach::Perf => "perf",
        }
    }
}

/// What runs during a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Config {
    None,
    /// `--empty-programs`: the same hooks, programs that return at once.
    Floor(Attach),
    Sensor(Attach),
}

impl Config {
    const ALL: [Config; 5] = [
        Config::None,
        Config::Floor(Attach::Perf),
        Config::Floor(Attach::Raw),
        Config::Sensor(Attach::Raw),
        Config::Sensor(Attach::Perf),
    ];

    fn label(self) -> &'static str {
        match self {
            Config::None => "none",
            Config::Floor(Attach::Perf) => "floor, perf tp",
            Config::Floor(Attach::Raw) => "floor, raw tp",
            Config::Sensor(Attach::Raw) => "sensor, raw tp",
            Config::Sensor(Attach::Perf) => "sensor, perf tp",
        }
    }

    /// `sshd-sensor run` arguments after `--format json`; `None` for no sensor.
    fn args(self) -> Option<Vec<&'static str>> {
        match self {
            Config::None => None,
            Config::Floor(a) => Some(vec!["--empty-programs", "--tracepoints", a.arg()]),
            Config::Sensor(a) => Some(vec!["--tracepoints", a.arg()]),
        }
    }
}

/// One storm under one configuration, per op.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cost {
    /// The storm's median-batch wall time and its own CPU time (programs included).
    pub storm: storm::Timing,
    /// The sensor process's own CPU time during the storm; zero for [`Config::None`].
    pub sensor_cpu: Duration,
}

/// One configuration in one round.
#[derive(Debug, Clone)]
pub struct Sample {
    pub config: Config,
    /// 0-based.
    pub round: usize,
    pub exec: Cost,
    pub connect: Cost,
    /// `None` for [`Config::None`].
    pub usage: Option<sensor::Usage>,
    /// `None` for [`Config::None`].
    pub bpf: Option<BpfCost>,
}

/// What the kernel counted for one sensor process's programs during each storm.
#[derive(Debug, Clone)]
pub struct BpfCost {
    pub exec: bpf_stats::Counters,
    pub connect: bpf_stats::Counters,
    /// The programs' kernel (truncated) names and types.
    pub programs: Vec<String>,
    /// Whether the statistics were on (`--no-bpf-stats` not given).
    pub counted: bool,
}

pub fn execute(args: Args) -> Result<()> {
    let Args {
        rounds,
        execs,
        connects,
        no_bpf_stats,
    } = args;
    host::require_root("bench", "it loads eBPF programs")?;
    setup::execute()?;
    build::execute()?;
    let bin = host::sensor_bin();
    // Held to the end of the run; the kernel turns the statistics off when it closes.
    let stats = if no_bpf_stats {
        bpf_stats::warn_if_on_anyway();
        None
    } else {
        Some(bpf_stats::enable()?)
    };
    bpf_stats::Baseline::take()?;

    eprintln!("bench: warming up (untimed storms, no sensor)");
    storm::exec_storm((execs as usize / 10).max(1))?;
    storm::connect_storm((connects as usize / 10).max(1))?;

    let run = Run {
        bin: &bin,
        execs,
        connects,
        counted: stats.is_some(),
    };
    let mut samples = Vec::new();
    let mut skipped = Vec::new();
    for round in 0..rounds as usize {
        let mut order = Config::ALL;
        order.rotate_left(round % Config::ALL.len());
        for config in order {
            let Some(sample) = measure_retrying(config, round, &run)
                .with_context(|| format!("round {}: {}", round + 1, config.label()))?
            else {
                skipped.push(format!("round {} {}", round + 1, config.label()));
                continue;
            };
            let bpf = sample
                .bpf
                .as_ref()
                .filter(|b| b.counted)
                .map_or(String::new(), |b| {
                    format!(
                        "  BPF {:>5.0} / {:>4.0} ns/op",
                        b.exec.run_time_ns as f64 / f64::from(execs),
                        b.connect.run_time_ns as f64 / f64::from(connects)
                    )
                });
            eprintln!(
                "bench: round {}/{rounds} {:<15} exec {:>6.1} µs/op ({:>6.1} CPU)  \
                 connect {:>5.1} µs/op ({:>5.1} CPU){bpf}",
                round + 1,
                config.label(),
                micros(sample.exec.storm.wall),
                micros(sample.exec.storm.cpu),
                micros(sample.connect.storm.wall),
                micros(sample.connect.storm.cpu),
            );
            samples.push(sample);
        }
    }
    println!();
    print!(
        "{}",
        report::render(
            &report::Setup {
                rounds,
                execs,
                connects,
                bpf_stats: stats.is_some(),
                skipped,
            },
            &samples
        )
    );
    Ok(())
}

/// Tries a measurement up to [`ATTEMPTS`] times while another sensor's programs spoil it (the
/// host is shared: another worktree's integration tests load sensors); `Ok(None)` if every
/// attempt was spoilt. Any other error ends the run.
fn measure_retrying(config: Config, round: usize, run: &Run<'_>) -> Result<Option<Sample>> {
    for attempt in 1..=ATTEMPTS {
        match measure(config, round, run) {
            Err(e) if e.is::<bpf_stats::OtherSensor>() => {
                eprintln!(
                    "bench: round {}: {}: {e:#}; attempt {attempt}/{ATTEMPTS}",
                    round + 1,
                    config.label()
                );
            }
            result => return result.map(Some),
        }
    }
    Ok(None)
}

const ATTEMPTS: u32 = 6;

/// What every measurement of a run shares.
struct Run<'a> {
    bin: &'a std::path::Path,
    execs: u32,
    connects: u32,
    /// Whether the BPF run-time statistics are on.
    counted: bool,
}

fn measure(config: Config, round: usize, run: &Run<'_>) -> Result<Sample> {
    let Run {
        bin,
        execs,
        connects,
        counted,
    } = *run;
    let baseline = bpf_stats::Baseline::take()?;
    let Some(args) = config.args() else {
        let sample = Sample {
            config,
            round,
            exec: Cost {
                storm: storm::exec_storm(execs as usize)?,
                sensor_cpu: Duration::ZERO,
            },
            connect: Cost {
                storm: storm::connect_storm(connects as usize)?,
                sensor_cpu: Duration::ZERO,
            },
            usage: None,
            bpf: None,
        };
        bpf_stats::Baseline::still_clean()?;
        return Ok(sample);
    };
    let running = sensor::Running::start(bin, &args)?;
    let programs = bpf_stats::SensorPrograms::find(&baseline, config)?;
    let (before_exec, cpu_before_exec) = (programs.read()?, running.cpu()?);
    let exec = storm::exec_storm(execs as usize)?;
    let (before_connect, cpu_before_connect) = (programs.read()?, running.cpu()?);
    let connect = storm::connect_storm(connects as usize)?;
    // Read just before SIGTERM, while the programs are still this process's.
    let (after, cpu_after) = (programs.read()?, running.cpu()?);
    let usage = running.stop()?;
    Ok(Sample {
        config,
        round,
        exec: Cost {
            storm: exec,
            sensor_cpu: cpu_before_connect.saturating_sub(cpu_before_exec) / execs,
        },
        connect: Cost {
            storm: connect,
            sensor_cpu: cpu_after.saturating_sub(cpu_before_connect) / connects,
        },
        usage: Some(usage),
        bpf: Some(BpfCost {
            exec: before_connect.since(before_exec),
            connect: after.since(before_connect),
            programs: programs.names,
            counted,
        }),
    })
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
