//! `cargo xtask difftest --seed N --streams N`: a longer differential run of replay against
//! Elastic's Python EQL engine (`eql` 1.0.1) than the test suite's default. It runs the same
//! test (`sensor-user/tests/replay_difftest.rs`, one test per embedded rule profile: v4 and
//! latest) in release mode with the chosen seed and stream count, for each profile; a
//! disagreement fails with the minimal stream that shows it. Needs the venv that
//! `cargo xtask setup` creates (`difftest/.venv` with eql 1.0.1).

use std::process::Command;

use anyhow::{Context, bail};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Generator seed (any u64; the same seed gives the same streams).
    #[arg(long, default_value_t = 0x5eed_0003)]
    pub seed: u64,
    /// Number of generated streams (about 100 events each).
    #[arg(long, default_value_t = 100_000)]
    pub streams: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args([
        "test",
        "--release",
        "-p",
        "sensor-user",
        "--test",
        "replay_difftest",
        "--",
        "--nocapture",
    ])
    .env("SSHD_SENSOR_SKIP_EBPF", "1")
    .env("DIFFTEST_SEED", args.seed.to_string())
    .env("DIFFTEST_STREAMS", args.streams.to_string());
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("difftest failed ({status}): {cmd:?}");
    }
    Ok(())
}
