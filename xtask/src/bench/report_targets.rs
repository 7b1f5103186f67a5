//! The benchmark's last two sections: each floor and sensor process's ring-buffer drops, CPU
//! time and peak RSS (VmHWM, start-up included), then the targets, met or not met with the
//! measured numbers: on the connect storm, the whole sensor on raw tracepoints (its storm's CPU
//! plus its own process's) costs less against no sensor than the empty perf-tracepoint
//! programs do; zero ring-buffer drops and peak RSS under 16 MiB for each sensor; and the
//! BPF-time targets from [`super::report_bpf`]. Pure: samples in, text out.

use std::fmt::Write;

use super::{
    Attach, Config, Sample,
    report::{
        LABEL, Measure, Storm, TARGET_LABEL_WIDTH, median, met, paired, per_round_keyed, ratio,
        rule,
    },
};

const MAX_RSS_MIB: f64 = 16.0;

/// Drops summed over rounds (`None` if a run printed no count), median CPU seconds, peak RSS
/// in MiB (max over rounds), and alerts summed over rounds.
struct Process {
    drops: Option<u64>,
    cpu_secs: f64,
    rss_mib: f64,
    rss_min_mib: f64,
    /// Median VmRSS at the end of the storms.
    steady_mib: f64,
    alerts: u64,
}

fn process(samples: &[Sample], config: Config) -> Process {
    let usages: Vec<_> = samples
        .iter()
        .filter(|s| s.config == config)
        .filter_map(|s| s.usage)
        .collect();
    let rss: Vec<f64> = usages
        .iter()
        .map(|u| u.peak_rss_kib as f64 / 1024.0)
        .collect();
    Process {
        drops: usages.iter().try_fold(0, |acc, u| u.drops.map(|d| acc + d)),
        cpu_secs: median(usages.iter().map(|u| u.cpu_secs).collect()),
        rss_mib: rss.iter().copied().fold(0.0, f64::max),
        rss_min_mib: rss.iter().copied().fold(f64::INFINITY, f64::min),
        steady_mib: median(usages.iter().map(|u| u.rss_kib as f64 / 1024.0).collect()),
        alerts: usages.iter().map(|u| u.alerts).sum(),
    }
}

fn target(out: &mut String, label: &str, value: &str, ok: bool) {
    let _ = writeln!(
        out,
        "  {label:<TARGET_LABEL_WIDTH$} {value:>18}  {}",
        met(ok)
    );
}

pub fn render(out: &mut String, samples: &[Sample], bpf_targets: &[String]) {
    let _ = writeln!(
        out,
        "{:<8} {:<LABEL$} {:>14} {:>12} {:>16} {:>10} {:>7}",
        "process",
        "configuration",
        "ringbuf drops",
        "CPU s (med)",
        "peak RSS MiB",
        "RSS at end",
        "alerts"
    );
    rule(out);
    let mut sensors = Vec::new();
    for config in Config::ALL.into_iter().filter(|c| *c != Config::None) {
        let p = process(samples, config);
        let _ = writeln!(
            out,
            "{:<8} {:<LABEL$} {:>14} {:>12.2} {:>16} {:>10.1} {:>7}",
            "",
            config.label(),
            p.drops.map_or("unknown".to_owned(), |d| d.to_string()),
            p.cpu_secs,
            format!("{:.1} ({:.1}-)", p.rss_mib, p.rss_min_mib),
            p.steady_mib,
            p.alerts
        );
        if matches!(config, Config::Sensor(_)) {
            sensors.push((config, p));
        }
    }
    let _ = writeln!(
        out,
        "  drops and alerts summed over rounds; CPU = utime+stime from start to end of storms;"
    );
    let _ = writeln!(
        out,
        "  peak RSS = VmHWM, start-up included: max over rounds (lowest round in brackets);"
    );
    let _ = writeln!(out, "  RSS at end = median VmRSS after the storms");

    let _ = writeln!(out);
    let _ = writeln!(out, "targets");
    let storm = Storm::Connect;
    let sensor = ratio(
        samples,
        Config::Sensor(Attach::Raw),
        storm,
        Measure::TotalCpu,
    );
    let floor = ratio(
        samples,
        Config::Floor(Attach::Perf),
        storm,
        Measure::TotalCpu,
    );
    target(
        out,
        "connect: sensor raw tp CPU vs none < floor perf tp's",
        &format!("{sensor:.3}x < {floor:.3}x"),
        sensor < floor,
    );
    // Round n against round n: the comparison least moved by drift between rounds.
    let pairs = paired(
        &per_round_keyed(
            samples,
            Config::Sensor(Attach::Raw),
            storm,
            Measure::TotalCpu,
        ),
        &per_round_keyed(
            samples,
            Config::Floor(Attach::Perf),
            storm,
            Measure::TotalCpu,
        ),
    );
    let lower = pairs.iter().filter(|(s, f)| s < f).count();
    let _ = writeln!(
        out,
        "    (paired by round: the sensor's CPU per op lower in {lower} of {} rounds)",
        pairs.len()
    );
    for line in bpf_targets {
        let _ = writeln!(out, "{line}");
    }
    for (config, p) in &sensors {
        target(
            out,
            &format!("ringbuf drops = 0, {}", config.label()),
            &p.drops.map_or("unknown".to_owned(), |d| d.to_string()),
            p.drops == Some(0),
        );
    }
    for (config, p) in &sensors {
        target(
            out,
            &format!("peak RSS < {MAX_RSS_MIB} MiB, {}", config.label()),
            &format!("{:.1} MiB", p.rss_mib),
            p.rss_mib < MAX_RSS_MIB,
        );
    }
    let _ = writeln!(
        out,
        "  CPU = median total CPU per op (storm + sensor process) over median no-sensor storm CPU"
    );
}
