//! The benchmark's noise-free table: for each storm, what the kernel's BPF statistics counted
//! for each floor's and each sensor's programs while it ran, totalled over the rounds — program
//! runs per op, nanoseconds per run, nanoseconds per op — and each sensor's extra nanoseconds
//! per op over its own attach kind's floor, as percentage points of the no-sensor wall time per
//! op. Also the target lines judged by it: the sensor on raw tracepoints within 1 pp of its
//! floor, and on the connect storm below the perf-tracepoint floor. Pure: samples in, text out.
//!
//! `run_time_ns` is time inside the programs only. What a floor and its sensor share (the
//! hook's dispatch, the statistics' own clock reads) cancels in their difference, but not
//! between attach kinds: a perf tracepoint builds its record before the program runs, outside
//! `run_time_ns`, so raw against perf is judged by CPU time ([`super::report`]) as well. What
//! the programs cause later (ring-buffer wake-ups) and the sensor's user-space work are not in
//! it either.

use std::fmt::Write;

use super::{
    Attach, Config, Sample,
    report::{
        LABEL, Measure, Setup, Storm, TARGET_LABEL_WIDTH, median, met, paired, per_round, rule,
    },
};

/// The most the sensor may add over its floor, in percentage points of no sensor's time.
const MAX_OVER_FLOOR_PP: f64 = 1.0;

pub struct Rendered {
    pub text: String,
    /// Target lines for the targets section.
    pub targets: Vec<String>,
}

/// Runs and run time over every round of `config`, and each round's ns/op; `None` if a
/// sample of `config` has no statistics.
fn totals(samples: &[Sample], config: Config, storm: Storm, ops: u32) -> Option<Totals> {
    let mut t = Totals::default();
    for s in samples.iter().filter(|s| s.config == config) {
        let c = storm.bpf(s.bpf.as_ref().filter(|b| b.counted)?);
        t.runs += c.run_cnt;
        t.ns += c.run_time_ns;
        t.ops += u64::from(ops);
        t.per_round
            .push((s.round, c.run_time_ns as f64 / f64::from(ops)));
    }
    (t.ops > 0).then_some(t)
}

#[derive(Default)]
struct Totals {
    runs: u64,
    ns: u64,
    ops: u64,
    /// (round, ns/op)
    per_round: Vec<(usize, f64)>,
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

fn programs_read(out: &mut String, samples: &[Sample]) {
    let _ = writeln!(
        out,
        "  programs loaded (kernel names, cut to 15 bytes, and program types):"
    );
    for config in WITH_PROGRAMS {
        let _ = writeln!(
            out,
            "    {:<LABEL$} {}",
            config.label(),
            programs(samples, config)
        );
    }
}

const WITH_PROGRAMS: [Config; 4] = [
    Config::Floor(Attach::Perf),
    Config::Floor(Attach::Raw),
    Config::Sensor(Attach::Raw),
    Config::Sensor(Attach::Perf),
];

pub fn render(setup: &Setup, samples: &[Sample]) -> Rendered {
    let mut out = String::new();
    let mut targets = Vec::new();
    if !setup.bpf_stats {
        let _ = writeln!(
            out,
            "kernel BPF time: not measured (--no-bpf-stats); BPF-time targets not judged"
        );
        programs_read(&mut out, samples);
        return Rendered { text: out, targets };
    }
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
    let _ = writeln!(
        out,
        "{:<8} {:<LABEL$} {:>9} {:>9} {:>10}   per round (ns/op)",
        "storm", "configuration", "runs/op", "ns/run", "ns/op"
    );
    rule(&mut out);
    for storm in Storm::ALL {
        let ops = storm.ops(setup);
        let none_us = median(per_round(samples, Config::None, storm, Measure::Wall));
        let to_pp = |extra_ns: f64| extra_ns / (none_us * 1e3) * 100.0;
        let mut found = Vec::new();
        for config in WITH_PROGRAMS {
            let Some(t) = totals(samples, config, storm, ops) else {
                let _ = writeln!(
                    out,
                    "{:<8} {:<LABEL$} no statistics",
                    storm.label(),
                    config.label()
                );
                continue;
            };
            let each: Vec<String> = t.per_round.iter().map(|(_, v)| format!("{v:.0}")).collect();
            let per_run = if t.runs == 0 {
                "-".to_owned()
            } else {
                format!("{:.1}", t.ns as f64 / t.runs as f64)
            };
            let _ = writeln!(
                out,
                "{:<8} {:<LABEL$} {:>9.2} {:>9} {:>10.1}   {}",
                storm.label(),
                config.label(),
                t.runs as f64 / t.ops as f64,
                per_run,
                t.ns_per_op(),
                each.join(" ")
            );
            found.push((config, t));
        }
        let get = |config| found.iter().find(|(c, _)| *c == config).map(|(_, t)| t);
        let mut raw_pp = None;
        for attach in [Attach::Raw, Attach::Perf] {
            let (Some(floor), Some(sensor)) =
                (get(Config::Floor(attach)), get(Config::Sensor(attach)))
            else {
                continue;
            };
            let extra = sensor.ns_per_op() - floor.ns_per_op();
            let pp = to_pp(extra);
            // Round n's floor against round n's sensor.
            let rounds: Vec<f64> = paired(&floor.per_round, &sensor.per_round)
                .into_iter()
                .map(|(floor, sensor)| to_pp(sensor - floor))
                .collect();
            let lo = rounds.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = rounds.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let _ = writeln!(
                out,
                "{:<8} {:<LABEL$} {:>9} {:>9} {:>10}   = {pp:+.3} pp of none's {none_us:.1} µs/op; \
                 rounds {lo:+.3} .. {hi:+.3}",
                storm.label(),
                format!("sensor-floor, {}", attach.arg()),
                "",
                "",
                format!("{extra:+.1}"),
            );
            if attach == Attach::Raw {
                raw_pp = Some(pp);
            }
        }
        rule(&mut out);
        let label = format!(
            "{}: sensor raw tp within {MAX_OVER_FLOOR_PP} pp of its floor, BPF time",
            storm.label()
        );
        targets.push(format!(
            "  {label:<TARGET_LABEL_WIDTH$} {:>18}  {}",
            raw_pp.map_or("unknown".to_owned(), |pp| format!("{pp:+.3} pp")),
            met(raw_pp.is_some_and(|pp| pp <= MAX_OVER_FLOOR_PP))
        ));
        if storm == Storm::Connect {
            let pair = get(Config::Sensor(Attach::Raw))
                .zip(get(Config::Floor(Attach::Perf)))
                .map(|(s, f)| (s.ns_per_op(), f.ns_per_op()));
            targets.push(format!(
                "  {:<TARGET_LABEL_WIDTH$} {:>18}  {}",
                "connect: sensor raw tp BPF time < floor perf tp's",
                pair.map_or("unknown".to_owned(), |(s, f)| format!(
                    "{s:.0} < {f:.0} ns/op"
                )),
                met(pair.is_some_and(|(s, f)| s < f))
            ));
        }
    }
    programs_read(&mut out, samples);
    let _ = writeln!(
        out,
        "  ns/op = program time per storm op; sensor-floor = sensor minus its own kind's floor, as"
    );
    let _ = writeln!(
        out,
        "  pp of the median no-sensor wall time per op. In-program time only: a perf tracepoint's"
    );
    let _ = writeln!(
        out,
        "  record building, deferred ring-buffer wake-ups and the sensor's user-space CPU are not"
    );
    let _ = writeln!(out, "  in it (the CPU-time table has them)");
    Rendered { text: out, targets }
}
