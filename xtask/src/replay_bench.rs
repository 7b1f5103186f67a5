//! `cargo xtask replay-bench`: how fast `sshd-sensor replay` hunts over stored Elastic Defend
//! events, printed with the targets marked met or not met. It generates (or reuses) a file of
//! Defend-shaped events (`difftest/bench/gen_defend.py`, ~0.6 KB each, half exec and half
//! connect), then times, on the same bytes: the static release binary's replay (or that of
//! `--binary`; alerts as JSON to /dev/null), the same binary's hidden `replay --validate-only`
//! (each line only checked as JSON by `serde_json` into `IgnoredAny`: the floor any replay pays),
//! and Elastic's Python EQL engine (`eql` 1.0.1, `difftest/bench/eql_bench.py`) on a prefix of
//! the file. Each child's CPU time and peak RSS come from `wait4(2)`; rates are given per wall
//! second and per CPU second, and the ratios use CPU seconds, which other load on the host
//! disturbs less. Replay and validate-only run `--rounds` times each, interleaved, and the best
//! run of each is compared.
//! Last, the replay runs over a file twice as large to show its peak RSS does not grow with the
//! input.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::exec::{exec, line};
use crate::{build, host};

/// At least this many times the Python engine's events per second.
const TARGET_VS_PYTHON: f64 = 20.0;
/// At least this fraction of the validate-only pass's MB per second.
const TARGET_VS_VALIDATE: f64 = 0.7;
/// Peak RSS below this, whatever the file size.
const TARGET_RSS_MIB: f64 = 64.0;
/// "Flat": the larger file's peak RSS within this factor of the smaller's (plus 1 MiB).
const FLAT_FACTOR: f64 = 1.25;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Events in the benchmark file (at least 1,000,000 for the targets).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Events the Python engine runs over (a prefix of the file; it is ~50x slower).
    #[arg(long, default_value_t = 200_000)]
    pub python_events: u64,
    /// Directory for the generated files (kept and reused between runs).
    #[arg(long, default_value = "target/replay-bench")]
    pub dir: PathBuf,
    /// Skip the RSS run over the file twice as large.
    #[arg(long)]
    pub no_double: bool,
    /// Times each of replay and validate-only runs, interleaved; the best of each is compared.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// Time this sensor binary instead of building the static release one (e.g. a glibc build,
    /// to compare allocators).
    #[arg(long)]
    pub binary: Option<PathBuf>,
}

/// What one child process used.
#[derive(Debug, Clone, Copy)]
struct Usage {
    wall_secs: f64,
    cpu_secs: f64,
    peak_rss_kib: u64,
}

/// One timed pass over `events` events of `bytes` bytes.
#[derive(Debug, Clone, Copy)]
struct Pass {
    events: u64,
    bytes: u64,
    usage: Usage,
}

impl Pass {
    fn eps_wall(&self) -> f64 {
        self.events as f64 / self.usage.wall_secs
    }
    fn eps_cpu(&self) -> f64 {
        self.events as f64 / self.usage.cpu_secs
    }
    fn mbps_wall(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.usage.wall_secs
    }
    fn mbps_cpu(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.usage.cpu_secs
    }
    fn row(&self, label: &str) -> String {
        format!(
            "  {label:<26} {:>10.0} ev/s {:>7.1} MB/s (wall {:>6.2}s) | {:>10.0} ev/s {:>7.1} MB/s \
             (cpu {:>6.2}s) | peak RSS {:>6.1} MiB",
            self.eps_wall(),
            self.mbps_wall(),
            self.usage.wall_secs,
            self.eps_cpu(),
            self.mbps_cpu(),
            self.usage.cpu_secs,
            self.usage.peak_rss_kib as f64 / 1024.0,
        )
    }
}

pub fn run(args: Args) -> Result<()> {
    let root = host::root();
    let bin = match &args.binary {
        Some(bin) => bin.clone(),
        None => build::sensor()?,
    };
    let dir = root.join(&args.dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = generate(&dir, args.events)?;
    let (lines, bytes) = count(&file)?;

    // Interleaved, so that a burst of other load on the host hits both; the best of each (the
    // run least disturbed) is what is compared, and the spread is printed.
    let (mut replays, mut validates) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        replays.push(timed(
            Command::new(&bin)
                .arg("replay")
                .arg(&file)
                .args(["--format", "json"]),
        )?);
        validates.push(timed(
            Command::new(&bin)
                .args(["replay", "--validate-only"])
                .arg(&file),
        )?);
    }
    let replay = Pass {
        events: lines,
        bytes,
        usage: best(&replays),
    };
    let validate = Pass {
        events: lines,
        bytes,
        usage: best(&validates),
    };
    let python = python_pass(root, &file, args.python_events.min(lines))?;
    let double = if args.no_double {
        None
    } else {
        let file2 = generate(&dir, args.events.saturating_mul(2))?;
        let usage = timed(
            Command::new(&bin)
                .arg("replay")
                .arg(&file2)
                .args(["--format", "json"]),
        )?;
        Some((count(&file2)?, usage))
    };

    println!();
    println!(
        "replay-bench: {} ({lines} Defend-shaped events, {:.1} MB, {:.0} B/event)",
        file.display(),
        bytes as f64 / 1e6,
        bytes as f64 / lines.max(1) as f64
    );
    println!("{}", replay.row("sshd-sensor replay"));
    println!("{}", validate.row("validate-only (IgnoredAny)"));
    println!(
        "{}",
        python.row(&format!("python eql 1.0.1 ({}k)", python.events / 1000))
    );
    if python.events < lines {
        println!(
            "  (the Python engine ran over the first {} events only: at its rate the whole file \
             would take about {:.0}s)",
            python.events,
            lines as f64 / python.eps_wall()
        );
    }
    let vs_python = replay.eps_cpu() / python.eps_cpu();
    let vs_validate = replay.mbps_cpu() / validate.mbps_cpu();
    let rss = replay.usage.peak_rss_kib as f64 / 1024.0;
    if args.rounds > 1 {
        println!(
            "  (best of {} interleaved runs each; CPU seconds ranged {} for replay, {} for \
             validate-only)",
            args.rounds,
            range(&replays),
            range(&validates)
        );
    }
    println!("targets (ratios of CPU-second rates; wall-second ratios in brackets):");
    println!(
        "  vs Python eql:      {vs_python:>6.1}x  [{:.1}x]  target >= {TARGET_VS_PYTHON}x   {}",
        replay.eps_wall() / python.eps_wall(),
        verdict(vs_python >= TARGET_VS_PYTHON)
    );
    println!(
        "  vs validate-only:   {vs_validate:>6.2}x  [{:.2}x]  target >= {TARGET_VS_VALIDATE}x  {}",
        replay.mbps_wall() / validate.mbps_wall(),
        verdict(vs_validate >= TARGET_VS_VALIDATE)
    );
    println!(
        "  peak RSS:           {rss:>6.1} MiB          target < {TARGET_RSS_MIB} MiB {}",
        verdict(rss < TARGET_RSS_MIB)
    );
    if let Some(((lines2, bytes2), usage)) = double {
        let rss2 = usage.peak_rss_kib as f64 / 1024.0;
        let flat = rss2 <= rss * FLAT_FACTOR + 1.0 && rss2 < TARGET_RSS_MIB;
        println!(
            "  peak RSS, 2x file:  {rss2:>6.1} MiB ({lines2} events, {:.1} MB, {:.0} ev/s wall) \
             flat (<= {FLAT_FACTOR}x + 1 MiB, < {TARGET_RSS_MIB} MiB) {}",
            bytes2 as f64 / 1e6,
            lines2 as f64 / usage.wall_secs,
            verdict(flat)
        );
    }
    Ok(())
}

/// The run with the least CPU time.
fn best(runs: &[Usage]) -> Usage {
    let mut best = runs[0];
    for run in &runs[1..] {
        if run.cpu_secs < best.cpu_secs {
            best = *run;
        }
    }
    best
}

/// "min–max" of the runs' CPU seconds.
fn range(runs: &[Usage]) -> String {
    let cpu = runs.iter().map(|r| r.cpu_secs);
    let (lo, hi) = cpu.fold((f64::MAX, 0.0f64), |(lo, hi), c| (lo.min(c), hi.max(c)));
    format!("{lo:.2}–{hi:.2}s")
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT MET" }
}

/// `dir/defend-N.ndjson`, generated unless it is already there.
fn generate(dir: &Path, events: u64) -> Result<PathBuf> {
    let path = dir.join(format!("defend-{events}.ndjson"));
    if path.exists() {
        println!("replay-bench: reusing {}", path.display());
        return Ok(path);
    }
    let partial = path.with_extension("ndjson.partial");
    let out = File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    exec(
        Command::new("python3")
            .arg(host::root().join("difftest/bench/gen_defend.py"))
            .arg(events.to_string())
            .stdout(out),
    )?;
    std::fs::rename(&partial, &path)
        .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;
    Ok(path)
}

/// Lines and bytes of `path` (bytes without newlines, as replay counts them).
fn count(path: &Path) -> Result<(u64, u64)> {
    use std::io::{BufRead, BufReader};
    let mut reader = BufReader::with_capacity(1 << 16, File::open(path)?);
    let (mut lines, mut bytes) = (0u64, 0u64);
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        let newlines = buf.iter().filter(|&&b| b == b'\n').count() as u64;
        lines += newlines;
        bytes += n as u64 - newlines;
        reader.consume(n);
    }
    Ok((lines, bytes))
}

/// Runs `cmd` with stdout to /dev/null (stderr shown) and returns what it used.
fn timed(cmd: &mut Command) -> Result<Usage> {
    cmd.stdout(Stdio::null());
    let (usage, _) = run_measured(cmd)?;
    Ok(usage)
}

/// Runs `cmd` to completion, reaping it with `wait4(2)` for its rusage; returns its stdout when
/// `cmd` has it piped.
fn run_measured(cmd: &mut Command) -> Result<(Usage, String)> {
    use std::io::Read;
    let line = line(cmd);
    println!("+ {line}");
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not start `{line}`"))?;
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout)
            .with_context(|| format!("reading the output of `{line}`"))?;
    }
    let pid = libc::pid_t::try_from(child.id())?;
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4(2) on our own child, not yet reaped (`child` is never waited on), with valid
    // pointers to locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall_secs = started.elapsed().as_secs_f64();
    if reaped != pid {
        bail!("wait4 for `{line}`: {}", std::io::Error::last_os_error());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("`{line}` failed (wait status {status})");
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let usage = Usage {
        wall_secs,
        cpu_secs: secs(ru.ru_utime) + secs(ru.ru_stime),
        peak_rss_kib: u64::try_from(ru.ru_maxrss).unwrap_or(0),
    };
    Ok((usage, stdout))
}

/// The Python engine over the first `events` lines of `file`.
fn python_pass(root: &Path, file: &Path, events: u64) -> Result<Pass> {
    let python = root.join("difftest/.venv/bin/python");
    if !python.exists() {
        bail!(
            "{} is missing: run `cargo xtask setup` (or `python3 -m venv difftest/.venv && \
             difftest/.venv/bin/pip install eql==1.0.1`)",
            python.display()
        );
    }
    let mut cmd = Command::new(&python);
    cmd.arg(root.join("difftest/bench/eql_bench.py"))
        .arg(root.join("sensor-user/src/rule/profiles/persistence_ssh_netcon.v4.toml"))
        .arg(file)
        .arg(events.to_string())
        .stdout(Stdio::piped());
    let (usage, out) = run_measured(&mut cmd)?;
    let report = PythonReport::parse(&out)
        .with_context(|| format!("unexpected output from eql_bench.py: {out:?}"))?;
    // The script times its own streaming loop (not interpreter start-up and query compilation).
    Ok(Pass {
        events: report.events,
        bytes: report.bytes,
        usage: Usage {
            wall_secs: report.seconds,
            cpu_secs: report.cpu_seconds,
            peak_rss_kib: usage.peak_rss_kib,
        },
    })
}

/// `{"events": N, "bytes": B, "seconds": S, "cpu_seconds": C, "matches": M}` from eql_bench.py.
struct PythonReport {
    events: u64,
    bytes: u64,
    seconds: f64,
    cpu_seconds: f64,
}

impl PythonReport {
    fn parse(out: &str) -> Option<Self> {
        let field = |name: &str| -> Option<&str> {
            let key = format!("\"{name}\": ");
            let rest = &out[out.find(&key)? + key.len()..];
            Some(rest[..rest.find([',', '}'])?].trim())
        };
        Some(Self {
            events: field("events")?.parse().ok()?,
            bytes: field("bytes")?.parse().ok()?,
            seconds: field("seconds")?.parse().ok()?,
            cpu_seconds: field("cpu_seconds")?.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::PythonReport;

    #[test]
    fn python_report() {
        let r = PythonReport::parse(
            r#"{"events": 200000, "bytes": 123, "seconds": 9.5, "cpu_seconds": 9.25, "matches": 4}"#,
        )
        .expect("parse");
        assert_eq!((r.events, r.bytes), (200000, 123));
        assert_eq!((r.seconds, r.cpu_seconds), (9.5, 9.25));
    }
}
