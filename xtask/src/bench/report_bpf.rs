//! The benchmark's noise-free table: for each storm, what the kernel's BPF statistics counted
//! for the floor's and the sensor's programs while it ran, totalled over the rounds — program
//! runs per op, nanoseconds per run, nanoseconds per op — and the sensor's extra nanoseconds per
//! op over the floor's as percentage points of the no-sensor time per op. Also the target lines
//! that judge the 1 pp targets by it. Pure: samples in, text out.
//!
//! `run_time_ns` is time inside the programs only. What floor and sensor share (the hook's
//! dispatch, the statistics' own clock reads) cancels in the difference; what the programs
//! cause later (ring-buffer wake-ups) and the sensor's user-space work are not in it.

use std::fmt::Write;

use super::{
    Config, Sample,
    report::{MAX_OVER_FLOOR_PP, Setup, Storm, TARGET_LABEL_WIDTH, median, met, per_op_micros},
};

pub struct Rendered {
    pub text: String,
    /// One line per storm for the targets section.
    pub targets: Vec<String>,
}

/// Runs and run time over every round of `config`, and each round's ns/op; `None` if a
/// sample of `config` has no statistics.
fn totals(samples: &[Sample], config: Config, storm: Storm, ops: u32) -> Option<Totals> {
    let mut t = Totals::default();
    for s in samples.iter().filter(|s| s.config == config) {
        let c = storm.bpf(s.bpf.as_ref()?);
        t.runs += c.run_cnt;
        t.ns += c.run_time_ns;
        t.ops += u64::from(ops);
        t.per_round.push(c.run_time_ns as f64 / f64::from(ops));
    }
    (t.ops > 0).then_some(t)
}

#[derive(Default)]
struct Totals {
    runs: u64,
    ns: u64,
    ops: u64,
    per_round: Vec<f64>,
}

impl Totals {
    fn ns_per_op(&self) -> f64 {
        self.ns as f64 / self.ops as f64
    }
}

fn programs(samples: &[Sample], config: Config) -> String {
    samples
        .iter()
        .filter(|s| s.config == config)
        .find_map(|s| s.bpf.as_ref())
        .map_or("unknown".to_owned(), |b| b.programs.join(", "))
}

pub fn render(setup: &Setup, samples: &[Sample]) -> Rendered {
    let mut out = String::new();
    let mut targets = Vec::new();
    let _ = writeln!(
        out,
        "kernel BPF time: run_time_ns and run_cnt of each floor/sensor process's own programs"
    );
    let _ = writeln!(
        out,
        "  (BPF run-time statistics), counted over each storm, totalled over rounds; free of the"
    );
    let _ = writeln!(
        out,
        "  wall-time noise, though still a clock: per-round values show its own spread"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<8} {:<23} {:>9} {:>9} {:>10}   per round (ns/op)",
        "storm", "configuration", "runs/op", "ns/run", "ns/op"
    );
    let _ = writeln!(out, "{}", "-".repeat(78));
    for storm in Storm::ALL {
        let ops = storm.ops(setup);
        let mut ns_per_op = Vec::new();
        let mut per_round = Vec::new();
        for config in [Config::Floor, Config::Sensor] {
            let Some(t) = totals(samples, config, storm, ops) else {
                let _ = writeln!(
                    out,
                    "{:<8} {:<23} no statistics",
                    storm.label(),
                    config.label()
                );
                continue;
            };
            let each: Vec<String> = t.per_round.iter().map(|v| format!("{v:.0}")).collect();
            let per_run = if t.runs == 0 {
                "-".to_owned()
            } else {
                format!("{:.1}", t.ns as f64 / t.runs as f64)
            };
            let _ = writeln!(
                out,
                "{:<8} {:<23} {:>9.2} {:>9} {:>10.1}   {}",
                storm.label(),
                config.label(),
                t.runs as f64 / t.ops as f64,
                per_run,
                t.ns_per_op(),
                each.join(" ")
            );
            ns_per_op.push(t.ns_per_op());
            per_round.push(t.per_round);
        }
        let none_us = median(per_op_micros(samples, Config::None, storm));
        let pp = match ns_per_op[..] {
            [floor, sensor] => {
                let to_pp = |extra_ns: f64| extra_ns / (none_us * 1e3) * 100.0;
                let extra = sensor - floor;
                let pp = to_pp(extra);
                let _ = writeln!(
                    out,
                    "{:<8} {:<23} {:>9} {:>9} {:>10}   = {pp:+.3} pp of none's {none_us:.1} µs/op",
                    storm.label(),
                    "sensor over floor",
                    "",
                    "",
                    format!("{extra:+.1}"),
                );
                // Round n's floor against round n's sensor.
                let rounds: Vec<f64> = per_round[0]
                    .iter()
                    .zip(&per_round[1])
                    .map(|(floor, sensor)| to_pp(sensor - floor))
                    .collect();
                let lo = rounds.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = rounds.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let _ = writeln!(
                    out,
                    "{:<8} {:<23} {:>9} {:>9} {:>10}   rounds {lo:+.3} .. {hi:+.3} pp",
                    storm.label(),
                    "",
                    "",
                    "",
                    "",
                );
                Some(pp)
            }
            _ => None,
        };
        let _ = writeln!(out, "{}", "-".repeat(78));
        let label = format!(
            "{} storm: within {MAX_OVER_FLOOR_PP} pp of floor, BPF time",
            storm.label()
        );
        targets.push(format!(
            "  {label:<TARGET_LABEL_WIDTH$} {:>12}  {}",
            pp.map_or("unknown".to_owned(), |pp| format!("{pp:+.3} pp")),
            met(pp.is_some_and(|pp| pp <= MAX_OVER_FLOOR_PP))
        ));
    }
    let sensor_programs = programs(samples, Config::Sensor);
    let _ = writeln!(
        out,
        "  programs read (kernel names, cut to 15 bytes): floor {}",
        programs(samples, Config::Floor)
    );
    let _ = writeln!(out, "  {:<46} sensor {sensor_programs}", "");
    if !sensor_programs.contains("inet_sock_set_s") {
        let _ = writeln!(
            out,
            "  the sensor's connect hook is not the floor's tracepoint: their dispatch costs differ"
        );
    }
    let _ = writeln!(
        out,
        "  ns/op = program time per storm op; over floor = sensor - floor, as pp of the median"
    );
    let _ = writeln!(
        out,
        "  no-sensor time per op; in-program time only (shared hook dispatch cancels; deferred"
    );
    let _ = writeln!(
        out,
        "  ring-buffer wake-ups and the sensor's user-space CPU, in CPU s below, are not in it)"
    );
    Rendered { text: out, targets }
}
