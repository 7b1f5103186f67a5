//! The kernel's own accounting of BPF program time: the benchmark's noise-free measure. While
//! the guard from [`enable`] lives, the kernel adds every program run's duration and count to
//! that program's `run_time_ns` and `run_cnt`. It uses BPF_ENABLE_STATS, the same switch as
//! `sysctl kernel.bpf_stats_enabled=1` but held by a file descriptor: the kernel turns it off
//! when the descriptor closes, however xtask ends (error, panic, Ctrl-C, kill), and the sysctl
//! itself, with whatever value someone else gave it, is never touched.
//!
//! A sensor process's programs are the ones with a sensor or floor name whose ids appeared
//! after it started ([`Baseline`], [`SensorPrograms::find`]); before each start no such program
//! may be loaded (a stopped sensor's are waited for), and one that is loaded by the end of a
//! storm fails the measurement (the caller redoes it): another running sensor, an integration
//! test's say, is never a silent mix-up (one that loads and unloads entirely within a storm,
//! between two listings, is not seen). Each attach kind
//! has its own program names (`raw_*` and `noop_raw_*` for raw tracepoints), so the names say
//! which kind attached, and the kernel's program type is recorded beside them to show it. The
//! kernel keeps 15 bytes of a name (`raw_sched_proce` for both raw sensor tracepoint programs,
//! `sched_process_e` for both perf ones): names are matched by prefix, and only counts are
//! checked.

use std::{
    os::fd::OwnedFd,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use aya::{
    programs::loaded_programs,
    sys::{Stats, enable_stats},
};

use super::{Attach, Config};

/// BPF_OBJ_NAME_LEN - 1: the bytes of a program's name the kernel keeps.
const KERNEL_NAME_LEN: usize = 15;

/// What `sshd-sensor run --empty-programs --tracepoints perf|raw` attaches (sensor-user's
/// `kernel/loader.rs`, `sensor_common::names`).
const FLOOR_PERF: [&str; 3] = ["noop_exec", "noop_exit", "noop_sock_set_state"];
const FLOOR_RAW: [&str; 3] = ["noop_raw_exec", "noop_raw_exit", "noop_raw_sock_set_state"];

/// What the sensor attaches with `--tracepoints perf|raw`: exec, exit, and the connect
/// tracepoint of the same kind (`inet_sock_set_state_fast` shows as `inet_sock_set_s` too).
const SENSOR_PERF: [&str; 3] = [
    "sched_process_exec",
    "sched_process_exit",
    "inet_sock_set_state",
];
const SENSOR_RAW: [&str; 3] = [
    "raw_sched_process_exec",
    "raw_sched_process_exit",
    "raw_inet_sock_set_state",
];
/// The connect hooks the sensor falls back to when its tracepoint cannot attach.
const CONNECT_FALLBACKS: [&str; 2] = ["tcp_connect_fentry", "tcp_connect_kprobe"];

/// Every name a sensor or floor program may have.
const ALL_PROGRAMS: [&[&str]; 5] = [
    &FLOOR_PERF,
    &FLOOR_RAW,
    &SENSOR_PERF,
    &SENSOR_RAW,
    &CONNECT_FALLBACKS,
];

/// The names `config`'s process may load.
fn expected(config: Config) -> Vec<&'static str> {
    match config {
        Config::None => Vec::new(),
        Config::Floor(Attach::Perf) => FLOOR_PERF.to_vec(),
        Config::Floor(Attach::Raw) => FLOOR_RAW.to_vec(),
        Config::Sensor(attach) => {
            let own = match attach {
                Attach::Perf => SENSOR_PERF,
                Attach::Raw => SENSOR_RAW,
            };
            own.iter().chain(&CONNECT_FALLBACKS).copied().collect()
        }
    }
}

/// How long [`Baseline::take`] waits for an exited sensor's programs to be unloaded (another
/// sensor, an integration test's say, may be running for a while).
const UNLOAD_WAIT: Duration = Duration::from_secs(120);

/// Programs one sensor process attaches, floor or not: exec, exit, connect.
const PROGRAMS_PER_SENSOR: usize = 3;

/// Keeps BPF run-time statistics on; dropping it (or exiting) turns them off.
pub struct StatsEnabled(#[expect(dead_code, reason = "held for its Drop")] OwnedFd);

pub fn enable() -> Result<StatsEnabled> {
    let fd = enable_stats(Stats::RunTime)
        .context("could not enable BPF run-time statistics (BPF_ENABLE_STATS, Linux 5.8+)")?;
    Ok(StatsEnabled(fd))
}

/// With `--no-bpf-stats`: says so if the statistics are on anyway (someone set the sysctl).
pub fn warn_if_on_anyway() {
    let on = std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
        .is_ok_and(|v| v.trim() != "0");
    if on {
        eprintln!(
            "bench: kernel.bpf_stats_enabled is on (set outside xtask): program runs still pay \
             for the statistics"
        );
    }
}

/// One loaded program as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub id: u32,
    /// At most [`KERNEL_NAME_LEN`] bytes.
    pub name: String,
    /// The kernel's program type, e.g. `raw_tracepoint`, `tracepoint`.
    pub kind: String,
    pub run_time_ns: u64,
    pub run_cnt: u64,
}

/// Run time and runs, summed over one sensor process's programs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub run_time_ns: u64,
    pub run_cnt: u64,
}

impl Counters {
    /// What accumulated between `earlier` and `self`.
    pub fn since(self, earlier: Counters) -> Counters {
        Counters {
            run_time_ns: self.run_time_ns.saturating_sub(earlier.run_time_ns),
            run_cnt: self.run_cnt.saturating_sub(earlier.run_cnt),
        }
    }
}

/// Every program loaded on the host. One that is unloaded between the kernel listing its id
/// and xtask opening it fails alone and is skipped; a listing that yields only errors fails.
fn loaded() -> Result<Vec<Program>> {
    let mut programs = Vec::new();
    let mut first_error = None;
    for info in loaded_programs() {
        match info {
            Ok(info) => programs.push(Program {
                id: info.id(),
                name: String::from_utf8_lossy(info.name()).into_owned(),
                kind: kind_name(&format!("{:?}", info.program_type())),
                run_time_ns: u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX),
                run_cnt: info.run_count(),
            }),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if programs.is_empty() => Err(e).context("could not list loaded BPF programs"),
        _ => Ok(programs),
    }
}

/// `BPF_PROG_TYPE_RAW_TRACEPOINT` -> `raw_tracepoint`.
fn kind_name(debug: &str) -> String {
    debug
        .strip_prefix("BPF_PROG_TYPE_")
        .unwrap_or(debug)
        .to_ascii_lowercase()
}

/// Whether the kernel's (truncated) `name` is `full`'s.
fn is_named(name: &str, full: &str) -> bool {
    full.get(..full.len().min(KERNEL_NAME_LEN)) == Some(name)
}

fn is_any(name: &str, fulls: &[&str]) -> bool {
    fulls.iter().any(|full| is_named(name, full))
}

fn is_sensor_or_floor(name: &str) -> bool {
    ALL_PROGRAMS.iter().any(|fulls| is_any(name, fulls))
}

fn describe(programs: &[&Program]) -> String {
    let each: Vec<String> = programs
        .iter()
        .map(|p| format!("{} (id {})", p.name, p.id))
        .collect();
    each.join(", ")
}

/// Another sensor's programs were (or are) loaded: the measurement is spoilt, not broken, and
/// worth redoing once they are gone.
#[derive(Debug)]
pub struct OtherSensor(String);

impl std::fmt::Display for OtherSensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OtherSensor {}

/// The programs loaded before a sensor starts: none of them may be a sensor's.
pub struct Baseline {
    max_id: u32,
}

impl Baseline {
    /// Waits up to [`UNLOAD_WAIT`] for sensor programs to go: the kernel frees a stopped
    /// sensor's programs a little after its process exits.
    pub fn take() -> Result<Baseline> {
        let start = Instant::now();
        let mut said = false;
        loop {
            match Baseline::of(&loaded()?) {
                Err(e) if start.elapsed() < UNLOAD_WAIT && e.is::<OtherSensor>() => {
                    if !said && start.elapsed() > Duration::from_secs(2) {
                        eprintln!("bench: waiting up to {UNLOAD_WAIT:?}: {e}");
                        said = true;
                    }
                    thread::sleep(Duration::from_millis(50));
                }
                result => return result,
            }
        }
    }

    /// Fails if a sensor's programs are loaded now, e.g. after a storm run without one.
    pub fn still_clean() -> Result<()> {
        Baseline::of(&loaded()?)
            .map(|_| ())
            .context("during the storms")
    }

    fn of(programs: &[Program]) -> Result<Baseline> {
        let sensors: Vec<&Program> = programs
            .iter()
            .filter(|p| is_sensor_or_floor(&p.name))
            .collect();
        if !sensors.is_empty() {
            return Err(OtherSensor(format!(
                "another sshd-sensor seems to be running: its BPF programs {} are loaded and \
                 would run during the storms; stop it (`systemctl stop sshd-sensor`?) first",
                describe(&sensors)
            ))
            .into());
        }
        let max_id = programs.iter().map(|p| p.id).max().unwrap_or(0);
        Ok(Baseline { max_id })
    }
}

/// The programs one running sensor process loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorPrograms {
    ids: Vec<u32>,
    /// Kernel (truncated) names with program types, `name (type)`, in id order.
    pub names: Vec<String>,
}

impl SensorPrograms {
    /// Finds the programs the sensor started after `baseline` loaded.
    pub fn find(baseline: &Baseline, config: Config) -> Result<SensorPrograms> {
        SensorPrograms::select(baseline, config, &loaded()?)
    }

    fn select(baseline: &Baseline, config: Config, programs: &[Program]) -> Result<Self> {
        let expected = expected(config);
        let mut new: Vec<&Program> = programs
            .iter()
            .filter(|p| p.id > baseline.max_id && is_sensor_or_floor(&p.name))
            .collect();
        new.sort_by_key(|p| p.id);
        let ours = new.iter().filter(|p| is_any(&p.name, &expected)).count();
        if new.len() > PROGRAMS_PER_SENSOR {
            return Err(OtherSensor(format!(
                "more sensor programs loaded than the {} starts: [{}]",
                config.label(),
                describe(&new)
            ))
            .into());
        }
        if ours != PROGRAMS_PER_SENSOR || new.len() != PROGRAMS_PER_SENSOR {
            bail!(
                "expected the {} {PROGRAMS_PER_SENSOR} programs ({}) to be newly loaded, found: [{}]",
                config.label(),
                expected.join(", "),
                describe(&new)
            );
        }
        Ok(SensorPrograms {
            ids: new.iter().map(|p| p.id).collect(),
            names: new
                .iter()
                .map(|p| format!("{} ({})", p.name, p.kind))
                .collect(),
        })
    }

    /// Current totals over these programs; fails if one is gone (the sensor died) or if
    /// another sensor's programs are loaded now (they would have run during the storm too).
    pub fn read(&self) -> Result<Counters> {
        let programs = loaded()?;
        let others: Vec<&Program> = programs
            .iter()
            .filter(|p| is_sensor_or_floor(&p.name) && !self.ids.contains(&p.id))
            .collect();
        if !others.is_empty() {
            return Err(OtherSensor(format!(
                "another sshd-sensor's BPF programs were loaded during the storms: {}",
                describe(&others)
            ))
            .into());
        }
        self.sum(&programs)
    }

    fn sum(&self, programs: &[Program]) -> Result<Counters> {
        let mut total = Counters::default();
        for id in &self.ids {
            let Some(p) = programs.iter().find(|p| p.id == *id) else {
                bail!("BPF program id {id} is no longer loaded: did the sensor exit?");
            };
            total.run_time_ns += p.run_time_ns;
            total.run_cnt += p.run_cnt;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog(id: u32, name: &str, run_time_ns: u64, run_cnt: u64) -> Program {
        Program {
            id,
            name: name.to_owned(),
            kind: "tracepoint".to_owned(),
            run_time_ns,
            run_cnt,
        }
    }

    #[test]
    fn truncated_names_match_by_prefix() {
        assert!(is_named("inet_sock_set_s", "inet_sock_set_state"));
        assert!(is_named("sched_process_e", "sched_process_exit"));
        assert!(is_named("noop_exec", "noop_exec"));
        assert!(!is_named("noop_exe", "noop_exec"));
        assert!(!is_named("inet_sock_set_state_x", "inet_sock_set_state"));
        assert!(is_named("raw_sched_proce", "raw_sched_process_exit"));
        assert!(is_named("noop_raw_sock_s", "noop_raw_sock_set_state"));
        assert!(!is_named("raw_sched_proce", "sched_process_exec"));
        assert_eq!(kind_name("BPF_PROG_TYPE_RAW_TRACEPOINT"), "raw_tracepoint");
    }

    #[test]
    fn baseline_refuses_a_running_sensor() {
        let err = Baseline::of(&[prog(7, "sd_fw_egress", 0, 0), prog(9, "noop_exit", 0, 0)])
            .err()
            .expect("a floor program is loaded");
        assert!(err.to_string().contains("noop_exit (id 9)"), "{err}");
        assert_eq!(
            Baseline::of(&[prog(7, "x", 0, 0)]).expect("clean").max_id,
            7
        );
    }

    #[test]
    fn select_takes_new_programs_of_the_config() {
        let base = Baseline { max_id: 10 };
        let loaded = [
            prog(3, "sd_fw_ingress", 1, 1),
            prog(13, "inet_sock_set_s", 5, 1),
            prog(11, "sched_process_e", 1, 1),
            prog(12, "sched_process_e", 2, 1),
            prog(14, "unrelated", 9, 9),
        ];
        let perf = Config::Sensor(Attach::Perf);
        let found = SensorPrograms::select(&base, perf, &loaded).expect("sensor");
        assert_eq!(found.ids, [11, 12, 13]);
        assert_eq!(found.names[2], "inet_sock_set_s (tracepoint)");
        let sum = found.sum(&loaded).expect("all loaded");
        assert_eq!(
            sum,
            Counters {
                run_time_ns: 8,
                run_cnt: 3
            }
        );
        assert!(found.sum(&loaded[..2]).is_err());
        // Neither a floor's names nor the raw sensor's are the perf sensor's, and a fourth
        // program means two sensors.
        for other in [
            Config::Floor(Attach::Perf),
            Config::Floor(Attach::Raw),
            Config::Sensor(Attach::Raw),
        ] {
            assert!(
                SensorPrograms::select(&base, other, &loaded).is_err(),
                "{other:?}"
            );
        }
        let mut two = loaded.to_vec();
        two.push(prog(15, "noop_exec", 0, 0));
        let err = SensorPrograms::select(&base, perf, &two).expect_err("two sensors");
        assert!(err.is::<OtherSensor>(), "{err}");
        let wrong = SensorPrograms::select(&base, Config::Floor(Attach::Raw), &loaded);
        assert!(!wrong.expect_err("not the floor's").is::<OtherSensor>());
    }

    #[test]
    fn raw_programs_are_found_and_fallbacks_allowed() {
        let base = Baseline { max_id: 10 };
        let loaded = [
            prog(11, "raw_sched_proce", 1, 1),
            prog(12, "raw_sched_proce", 2, 1),
            prog(13, "tcp_connect_fen", 4, 1),
        ];
        let raw = Config::Sensor(Attach::Raw);
        let found = SensorPrograms::select(&base, raw, &loaded).expect("raw sensor");
        assert_eq!(found.sum(&loaded).expect("loaded").run_time_ns, 7);
        let floor = [
            prog(21, "noop_raw_exec", 0, 0),
            prog(22, "noop_raw_exit", 0, 0),
            prog(23, "noop_raw_sock_s", 0, 0),
        ];
        let floor_raw = Config::Floor(Attach::Raw);
        assert!(SensorPrograms::select(&base, floor_raw, &floor).is_ok());
        assert!(SensorPrograms::select(&base, Config::Floor(Attach::Perf), &floor).is_err());
        assert!(
            Baseline::of(&floor).is_err(),
            "a raw floor is a sensor's program"
        );
    }

    #[test]
    fn counters_since() {
        let a = Counters {
            run_time_ns: 100,
            run_cnt: 4,
        };
        let b = Counters {
            run_time_ns: 350,
            run_cnt: 9,
        };
        assert_eq!(
            b.since(a),
            Counters {
                run_time_ns: 250,
                run_cnt: 5
            }
        );
    }
}
