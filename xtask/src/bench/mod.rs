//! `cargo xtask bench`: how much the sensor slows the host, printed, not asserted. Each round
//! runs three configurations in a rotating order, so drift (thermal, other load) spreads over
//! all of them: no sensor, the floor (`--empty-programs`: the same hooks with programs that do
//! nothing, i.e. the cost of attaching at all), and the sensor. Under each, an exec storm and a
//! loopback connect storm are timed. The report gives per-op medians, each configuration
//! against no sensor, the sensor's overhead over the floor in percentage points, and the
//! sensor's drops, CPU time and peak RSS, with the targets marked met or not met.

mod report;
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
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub config: Config,
    pub exec_per_op: Duration,
    pub connect_per_op: Duration,
    /// `None` for [`Config::None`].
    pub usage: Option<sensor::Usage>,
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
            eprintln!(
                "bench: round {}/{rounds} {:<22} exec {:>8.1} µs/op  connect {:>7.1} µs/op",
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
    let running = match config {
        Config::None => None,
        Config::Floor => Some(sensor::Running::start(bin, true)?),
        Config::Sensor => Some(sensor::Running::start(bin, false)?),
    };
    let exec_per_op = storm::exec_storm(execs as usize)?;
    let connect_per_op = storm::connect_storm(connects as usize)?;
    let usage = running.map(sensor::Running::stop).transpose()?;
    Ok(Sample {
        config,
        exec_per_op,
        connect_per_op,
        usage,
    })
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
