//! `cargo xtask bench`: how much the sensor slows the host, printed, not asserted. Each round
//! runs three configurations in a rotating order, so drift (thermal, other load) spreads over
//! all of them: no sensor, the floor (`--empty-programs`: the same hooks with programs that do
//! nothing, i.e. the cost of attaching at all), and the sensor. Under each, an exec storm and a
//! loopback connect storm are timed. The report gives per-op medians, each configuration
//! against no sensor, the sensor's overhead over the floor in percentage points, and the
//! sensor's drops, CPU time and peak RSS, with the targets marked met or not met.
//!
//! On a VM, round-to-round timing spreads far more than the 1 pp target, so the run also keeps
//! the kernel's BPF run-time statistics on ([`bpf_stats`]) and, for each floor and sensor run,
//! reads its programs' run time and run count before and after each storm: the sensor's extra
//! in-program CPU per op over the floor's, against the no-sensor time per op, judges the 1 pp
//! targets free of timing noise.

mod bpf_stats;
mod report;
mod report_bpf;
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
    /// Loopback TCP connect+close per connect storm.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
    connects: u32,
}

/// What runs during a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Config {
    None,
    Floor,
    Sensor,
}

impl Config {
    const ALL: [Config; 3] = [Config::None, Config::Floor, Config::Sensor];

    fn label(self) -> &'static str {
        match self {
            Config::None => "none",
            Config::Floor => "floor (empty programs)",
            Config::Sensor => "sensor",
        }
    }
}

/// One configuration in one round.
#[derive(Debug, Clone)]
pub struct Sample {
    pub config: Config,
    pub exec_per_op: Duration,
    pub connect_per_op: Duration,
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
    /// The programs' kernel (truncated) names.
    pub programs: Vec<String>,
}

pub fn execute(args: Args) -> Result<()> {
    let Args {
        rounds,
        execs,
        connects,
    } = args;
    host::require_root("bench", "it loads eBPF programs")?;
    setup::execute()?;
    build::execute()?;
    let bin = host::sensor_bin();
    // Held to the end of the run; the kernel turns the statistics off when it closes.
    let _stats = bpf_stats::enable()?;
    bpf_stats::Baseline::take()?;

    eprintln!("bench: warming up (untimed storms, no sensor)");
    storm::exec_storm((execs as usize / 10).max(1))?;
    storm::connect_storm((connects as usize / 10).max(1))?;

    let mut samples = Vec::new();
    for round in 0..rounds as usize {
        let mut order = Config::ALL;
        order.rotate_left(round % Config::ALL.len());
        for config in order {
            let sample = measure(config, &bin, execs, connects)
                .with_context(|| format!("round {}: {}", round + 1, config.label()))?;
            let bpf = sample.bpf.as_ref().map_or(String::new(), |b| {
                format!(
                    "  BPF {:>6.0} / {:>5.0} ns/op",
                    b.exec.run_time_ns as f64 / f64::from(execs),
                    b.connect.run_time_ns as f64 / f64::from(connects)
                )
            });
            eprintln!(
                "bench: round {}/{rounds} {:<22} exec {:>8.1} µs/op  connect {:>7.1} µs/op{bpf}",
                round + 1,
                config.label(),
                micros(sample.exec_per_op),
                micros(sample.connect_per_op),
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
                connects
            },
            &samples
        )
    );
    Ok(())
}

fn measure(config: Config, bin: &std::path::Path, execs: u32, connects: u32) -> Result<Sample> {
    let empty_programs = match config {
        Config::None => {
            return Ok(Sample {
                config,
                exec_per_op: storm::exec_storm(execs as usize)?,
                connect_per_op: storm::connect_storm(connects as usize)?,
                usage: None,
                bpf: None,
            });
        }
        Config::Floor => true,
        Config::Sensor => false,
    };
    let baseline = bpf_stats::Baseline::take()?;
    let running = sensor::Running::start(bin, empty_programs)?;
    let programs = bpf_stats::SensorPrograms::find(&baseline, config)?;
    let before_exec = programs.read()?;
    let exec_per_op = storm::exec_storm(execs as usize)?;
    let before_connect = programs.read()?;
    let connect_per_op = storm::connect_storm(connects as usize)?;
    // Read just before SIGTERM, while the programs are still this process's.
    let after = programs.read()?;
    let usage = running.stop()?;
    Ok(Sample {
        config,
        exec_per_op,
        connect_per_op,
        usage: Some(usage),
        bpf: Some(BpfCost {
            exec: before_connect.since(before_exec),
            connect: after.since(before_connect),
            programs: programs.names,
        }),
    })
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
