//! Turns the benchmark's samples into the printed tables: per storm, each configuration's median
//! wall time per op over the rounds and its ratio to no sensor (noisy on a shared VM); the
//! storm's own CPU time per op, with the sensor process's CPU during the storm beside it, and
//! their ratios to no sensor; the kernel BPF-time table ([`super::report_bpf`]); then each
//! sensor process's drops, CPU time and peak RSS and the targets ([`super::report_targets`]).
//! Every table prints each round's value and the spread. Pure: samples in, text out.

use std::{fmt::Write, time::Duration};

use super::{
    Attach, BpfCost, Config, Cost, Sample, bpf_stats::Counters, micros, report_bpf, report_targets,
    storm::BATCH,
};

/// Width of a target's label, so every target's value and verdict line up.
pub(super) const TARGET_LABEL_WIDTH: usize = 58;
/// Width of a configuration label in the tables.
pub(super) const LABEL: usize = 16;

pub struct Setup {
    pub rounds: u32,
    pub execs: u32,
    pub connects: u32,
    /// Whether the kernel's BPF run-time statistics were on.
    pub bpf_stats: bool,
    /// Measurements given up on (another sensor loaded throughout), as `round N <config>`.
    pub skipped: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Storm {
    Exec,
    Connect,
}

impl Storm {
    pub(super) const ALL: [Storm; 2] = [Storm::Exec, Storm::Connect];

    pub(super) fn label(self) -> &'static str {
        match self {
            Storm::Exec => "exec",
            Storm::Connect => "connect",
        }
    }

    pub(super) fn cost(self, s: &Sample) -> Cost {
        match self {
            Storm::Exec => s.exec,
            Storm::Connect => s.connect,
        }
    }

    pub(super) fn bpf(self, b: &BpfCost) -> Counters {
        match self {
            Storm::Exec => b.exec,
            Storm::Connect => b.connect,
        }
    }

    pub(super) fn ops(self, setup: &Setup) -> u32 {
        match self {
            Storm::Exec => setup.execs,
            Storm::Connect => setup.connects,
        }
    }
}

/// What of a storm's [`Cost`] a table shows, in µs/op.
#[derive(Clone, Copy)]
pub(super) enum Measure {
    /// Median-batch wall time.
    Wall,
    /// The storm's own CPU time.
    Cpu,
    /// The sensor process's CPU time during the storm.
    SensorCpu,
    /// The storm's CPU plus the sensor process's: what the host paid in all.
    TotalCpu,
}

impl Measure {
    fn of(self, c: Cost) -> Duration {
        match self {
            Measure::Wall => c.storm.wall,
            Measure::Cpu => c.storm.cpu,
            Measure::SensorCpu => c.sensor_cpu,
            Measure::TotalCpu => c.storm.cpu + c.sensor_cpu,
        }
    }
}

pub(super) fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// (max - min) / median, in percent.
pub(super) fn spread_pct(values: &[f64], median: f64) -> f64 {
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    (max - min) / median * 100.0
}

/// Each round's value of `measure` for `config` in `storm`, µs/op.
pub(super) fn per_round(
    samples: &[Sample],
    config: Config,
    storm: Storm,
    measure: Measure,
) -> Vec<f64> {
    samples
        .iter()
        .filter(|s| s.config == config)
        .map(|s| micros(measure.of(storm.cost(s))))
        .collect()
}

/// Pairs of `a`'s and `b`'s values from the same round, for rounds that have both.
pub(super) fn paired(a: &[(usize, f64)], b: &[(usize, f64)]) -> Vec<(f64, f64)> {
    a.iter()
        .filter_map(|(round, x)| {
            let (_, y) = b.iter().find(|(r, _)| r == round)?;
            Some((*x, *y))
        })
        .collect()
}

/// [`per_round`] with each value's round.
pub(super) fn per_round_keyed(
    samples: &[Sample],
    config: Config,
    storm: Storm,
    measure: Measure,
) -> Vec<(usize, f64)> {
    samples
        .iter()
        .filter(|s| s.config == config)
        .map(|s| (s.round, micros(measure.of(storm.cost(s)))))
        .collect()
}

/// The median over rounds of `measure` for `config` in `storm`, against no sensor's.
pub(super) fn ratio(samples: &[Sample], config: Config, storm: Storm, measure: Measure) -> f64 {
    let none = median(per_round(samples, Config::None, storm, measure));
    median(per_round(samples, config, storm, measure)) / none
}

pub(super) fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT MET" }
}

pub(super) fn rule(out: &mut String) {
    let _ = writeln!(out, "{}", "-".repeat(84));
}

fn each(values: &[f64]) -> String {
    let each: Vec<String> = values.iter().map(|v| format!("{v:.1}")).collect();
    each.join(" ")
}

pub fn render(setup: &Setup, samples: &[Sample]) -> String {
    let mut out = String::new();
    let Setup {
        rounds,
        execs,
        connects,
        bpf_stats,
        ref skipped,
    } = *setup;
    let _ = writeln!(
        out,
        "sshd-sensor benchmark: {rounds} round(s), configurations in rotating order each round"
    );
    let _ = writeln!(
        out,
        "  exec storm:    {execs} x fork+exec+wait of /bin/true, sequential"
    );
    let _ = writeln!(
        out,
        "  connect storm: {connects} x TCP connect+accept+close on 127.0.0.1, sequential, one thread"
    );
    let _ = writeln!(
        out,
        "  floor = --empty-programs (same hooks, programs that return at once); tp = tracepoints"
    );
    let _ = writeln!(
        out,
        "  BPF run-time statistics {}",
        if bpf_stats {
            "on: every program run also pays their clock reads"
        } else {
            "off (--no-bpf-stats)"
        }
    );
    if !skipped.is_empty() {
        let _ = writeln!(
            out,
            "  skipped, another sensor's programs loaded on every attempt: {}",
            skipped.join(", ")
        );
    }
    let _ = writeln!(out);
    wall_table(&mut out, samples);
    let _ = writeln!(out);
    cpu_table(&mut out, samples);
    let _ = writeln!(out);
    let bpf = report_bpf::render(setup, samples);
    out.push_str(&bpf.text);
    let _ = writeln!(out);
    report_targets::render(&mut out, samples, &bpf.targets);
    out
}

fn wall_table(out: &mut String, samples: &[Sample]) {
    let _ = writeln!(
        out,
        "wall time (noisy: other load shares the cores): median over rounds of each round's"
    );
    let _ = writeln!(out, "  median {BATCH}-op batch");
    let _ = writeln!(
        out,
        "{:<8} {:<LABEL$} {:>11} {:>8} {:>7}   per round (µs/op)",
        "storm", "configuration", "median/op", "vs none", "spread"
    );
    rule(out);
    for storm in Storm::ALL {
        for config in Config::ALL {
            let rounds = per_round(samples, config, storm, Measure::Wall);
            let med = median(rounds.clone());
            let vs = if config == Config::None {
                "-".to_owned()
            } else {
                format!("{:.3}x", ratio(samples, config, storm, Measure::Wall))
            };
            let _ = writeln!(
                out,
                "{:<8} {:<LABEL$} {:>8.1} µs {:>8} {:>6.0}%   {}",
                storm.label(),
                config.label(),
                med,
                vs,
                spread_pct(&rounds, med),
                each(&rounds)
            );
        }
        for attach in [Attach::Raw, Attach::Perf] {
            let pp = (ratio(samples, Config::Sensor(attach), storm, Measure::Wall)
                - ratio(samples, Config::Floor(attach), storm, Measure::Wall))
                * 100.0;
            let _ = writeln!(
                out,
                "{:<8} {:<LABEL$} {:>11} {:>8}   sensor over its floor, {} tp",
                storm.label(),
                "",
                "",
                format!("{pp:+.1} pp"),
                attach.arg()
            );
        }
        rule(out);
    }
}

fn cpu_table(out: &mut String, samples: &[Sample]) {
    let _ = writeln!(
        out,
        "CPU time: the storm's own user+sys (getrusage: this process and its reaped children,"
    );
    let _ = writeln!(
        out,
        "  so programs running in the storm's tasks count), median {BATCH}-op batch, per op; sensor ="
    );
    let _ = writeln!(
        out,
        "  the sensor process's own CPU during the storm; total = both; medians over rounds"
    );
    let _ = writeln!(
        out,
        "{:<8} {:<LABEL$} {:>9} {:>8} {:>7} {:>8} {:>9}   storm per round (µs/op)",
        "storm", "configuration", "storm/op", "vs none", "spread", "sensor", "total/none"
    );
    rule(out);
    for storm in Storm::ALL {
        for config in Config::ALL {
            let rounds = per_round(samples, config, storm, Measure::Cpu);
            let med = median(rounds.clone());
            let (vs, sensor, total) = if config == Config::None {
                ("-".to_owned(), "-".to_owned(), "-".to_owned())
            } else {
                (
                    format!("{:.3}x", ratio(samples, config, storm, Measure::Cpu)),
                    format!(
                        "{:.2}",
                        median(per_round(samples, config, storm, Measure::SensorCpu))
                    ),
                    format!("{:.3}x", ratio(samples, config, storm, Measure::TotalCpu)),
                )
            };
            let _ = writeln!(
                out,
                "{:<8} {:<LABEL$} {:>6.2} µs {:>8} {:>6.0}% {:>8} {:>9}   {}",
                storm.label(),
                config.label(),
                med,
                vs,
                spread_pct(&rounds, med),
                sensor,
                total,
                each(&rounds)
            );
        }
        rule(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{sensor::Usage, storm::Timing};

    /// `us`: wall = CPU per op (exec, connect); `bpf_ns`: program time over each whole storm
    /// (10 ops), exec then connect.
    fn sample(config: Config, us: [u64; 2], bpf_ns: [u64; 2], rss_mib: u64) -> Sample {
        let round = 0;
        let usage = (config != Config::None).then_some(Usage {
            cpu_secs: 0.5,
            peak_rss_kib: rss_mib * 1024,
            rss_kib: 7 * 1024,
            drops: Some(0),
            alerts: 0,
        });
        let counters = |run_time_ns| Counters {
            run_time_ns,
            run_cnt: 20,
        };
        let bpf = (config != Config::None).then(|| BpfCost {
            exec: counters(bpf_ns[0]),
            connect: counters(bpf_ns[1]),
            programs: vec!["raw_inet_sock_s (raw_tracepoint)".to_owned()],
            counted: true,
        });
        let cost = |us| Cost {
            storm: Timing {
                wall: Duration::from_micros(us),
                cpu: Duration::from_micros(us),
            },
            sensor_cpu: Duration::ZERO,
        };
        Sample {
            config,
            round,
            exec: cost(us[0]),
            connect: cost(us[1]),
            usage,
            bpf,
        }
    }

    #[test]
    fn median_odd_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn report_computes_ratios_and_targets() {
        let (raw, perf) = (Attach::Raw, Attach::Perf);
        let samples = [
            sample(Config::None, [100, 50], [0, 0], 0),
            sample(Config::Floor(perf), [101, 52], [1_000, 2_000], 9),
            sample(Config::Floor(raw), [101, 50], [500, 1_000], 9),
            // Exec: +1.5 µs/op over the raw floor's 0.05 = 1.45 pp of 100 µs.
            sample(Config::Sensor(raw), [103, 51], [15_000, 1_500], 15),
            sample(Config::Sensor(perf), [104, 53], [16_000, 4_500], 17),
        ];
        let text = render(
            &Setup {
                rounds: 1,
                execs: 10,
                connects: 10,
                bpf_stats: true,
                skipped: vec!["round 1 none".to_owned()],
            },
            &samples,
        );
        assert!(text.contains("1.040x"), "{text}");
        assert!(text.contains("every attempt: round 1 none"), "{text}");
        assert!(
            text.contains("+2.0 pp   sensor over its floor, raw tp"),
            "{text}"
        );
        let target = |label: &str, verdict: &str| {
            text.lines()
                .any(|l| l.contains(label) && l.ends_with(verdict))
        };
        assert!(
            target("connect: sensor raw tp CPU", "1.020x < 1.040x  met"),
            "{text}"
        );
        assert!(
            target("connect: sensor raw tp BPF", "150 < 200 ns/op  met"),
            "{text}"
        );
        assert!(
            target("exec: sensor raw tp within 1 pp", "+1.450 pp  NOT MET"),
            "{text}"
        );
        assert!(
            target("connect: sensor raw tp within 1 pp", "+0.100 pp  met"),
            "{text}"
        );
        assert!(
            target("peak RSS < 16 MiB, sensor, raw tp", "15.0 MiB  met"),
            "{text}"
        );
        assert!(
            target("peak RSS < 16 MiB, sensor, perf tp", "17.0 MiB  NOT MET"),
            "{text}"
        );
        assert!(
            target("ringbuf drops = 0, sensor, raw tp", "0  met"),
            "{text}"
        );
    }
}
