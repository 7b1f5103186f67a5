//! `sshd-sensor replay FILE...`: hunt over stored Elastic Defend events with the live engine.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::commands::rule::RuleArgs;
use crate::ecs::alert::AlertMeta;
use crate::output::{Format, render};
use crate::replay::diagnostics::Diagnostics;
use crate::replay::{self, Input, Options};
use crate::rule::profiles::{Profile, RuleSource};
use crate::rule::{Limits, RuleConfig};

const AFTER_HELP: &str = "\
Input: NDJSON, one Elastic Defend document per line, as Elasticsearch exports
logs-endpoint.events.process-* and logs-endpoint.events.network-* (nested objects or
dotted keys; event.type/event.category as arrays or strings; @timestamp RFC 3339 with up
to nanosecond precision). Several files are merged by @timestamp (ties: command-line
order, then line order), giving exactly the result of sorting all events first.

Disorder tolerated: within each file, an event may be up to --max-disorder older than
the newest event before it in that file (default 2s). An event later than that is
reported on stderr with FILE:LINE, counted, and replayed late (a match that needed it in
order may then be missed); --strict makes that a failure.

Bad lines (invalid JSON, over --max-line-bytes, wrong types, unparsable time or IP,
missing @timestamp or event.category) are counted and skipped; the first few are
reported with FILE:LINE and a summary is printed at the end. With --strict any of them
makes the exit status 2 (alerts are still printed).

Memory: the engine's pending stage-1 state plus the relevant events of one
--max-disorder window (at most --max-buffered); not the input size.";

#[derive(clap::Args, Debug)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// NDJSON files of Elastic Defend events; `-` reads stdin.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Alert format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// Executable whose children are stage-1 processes (repeat for several) [default: the
    /// rule's own, /usr/sbin/sshd for both embedded rules].
    #[arg(long = "parent-executable", value_name = "PATH")]
    pub parent_executables: Vec<String>,
    #[command(flatten)]
    pub rule: RuleArgs,
    /// How far back in time an event may be from the newest event before it in the same file
    /// (e.g. 2s, 500ms, 0).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration_ns)]
    pub max_disorder: i64,
    /// Longest line accepted, in bytes.
    #[arg(long, default_value_t = replay::DEFAULT_MAX_LINE_BYTES)]
    pub max_line_bytes: usize,
    /// Most relevant events held for reordering.
    #[arg(long, default_value_t = replay::DEFAULT_MAX_BUFFERED)]
    pub max_buffered: usize,
    /// Most stage-1 keys the engine holds at once.
    #[arg(long, default_value_t = Limits::default().max_pending)]
    pub max_pending: usize,
    /// Most bytes of stage-1 lines the engine holds at once (each held stage 1 keeps its line
    /// until it expires, matches or is evicted); beyond it the oldest are evicted and counted.
    #[arg(long, default_value_t = Limits::default().max_held_bytes)]
    pub max_held_bytes: usize,
    /// Skipped lines and late events reported individually (each).
    #[arg(long, default_value_t = 10)]
    pub report_first: u64,
    /// Exit with status 2 if any line was skipped or any event came beyond --max-disorder.
    #[arg(long)]
    pub strict: bool,
    /// Print every match; by default the live rate cap applies (100 alerts per 5 minutes of
    /// event time and SSH session), so a recording replays to exactly what the live run printed.
    #[arg(long)]
    pub no_rate_cap: bool,
    /// Benchmark baseline (`cargo xtask replay-bench`): read the same lines and only check that
    /// each is JSON (`serde_json` into `IgnoredAny`); no fields, no rule, no alerts.
    #[arg(long, hide = true)]
    pub validate_only: bool,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let inputs = open_inputs(&args.files)?;
    if args.validate_only {
        return validate_only(inputs, args.max_line_bytes);
    }
    let (source, rule) = args
        .rule
        .load()?
        .unwrap_or_else(|| (RuleSource::default(), Profile::default().rule()));
    let parent_executables = match (args.parent_executables, rule.parent_executables()) {
        (given, _) if !given.is_empty() => given,
        (_, Some(own)) => own,
        (_, None) => anyhow::bail!(
            "{source}: stage 1 tests no process.parent.executable; name the executables whose \
             children start logins with --parent-executable"
        ),
    };
    let opts = Options {
        rule: RuleConfig {
            source,
            rule,
            parent_executables,
            ..RuleConfig::default()
        },
        limits: Limits {
            max_pending: args.max_pending,
            max_held_bytes: args.max_held_bytes,
        },
        max_disorder_ns: args.max_disorder,
        max_line_bytes: args.max_line_bytes,
        max_buffered: args.max_buffered,
        rate_cap: !args.no_rate_cap,
    };
    let format = args.format.resolve();
    let meta = AlertMeta::default();
    let mut diag = Diagnostics::new(Box::new(io::stderr()), args.report_first);
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let started = Instant::now();
    let summary = replay::replay(inputs, &opts, &mut diag, |alert| {
        let mut line = render(alert, format, &meta);
        line.push('\n');
        out.write_all(line.as_bytes())
    })?;
    out.flush().context("writing alerts to stdout")?;
    diag.summary(summary.lines);
    let secs = started.elapsed().as_secs_f64();
    let suppressed = if summary.alerts_suppressed > 0 {
        format!(
            ", {} suppressed by the rate cap (--no-rate-cap prints all)",
            summary.alerts_suppressed
        )
    } else {
        String::new()
    };
    eprintln!(
        "sshd-sensor: replay: {} lines ({:.1} MB) in {secs:.2}s: {} events, {} relevant, {} \
         alerts{suppressed}",
        summary.lines,
        summary.bytes as f64 / 1e6,
        summary.events,
        summary.relevant,
        summary.alerts_printed,
    );
    if args.strict && (summary.bad_lines > 0 || summary.late > 0) {
        eprintln!(
            "sshd-sensor: replay: --strict: {} bad lines, {} late events",
            summary.bad_lines, summary.late
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// The `--validate-only` baseline: what any replay must at least do to each line.
fn validate_only(inputs: Vec<Input>, max_line_bytes: usize) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let v = replay::validate_only(inputs, max_line_bytes)?;
    eprintln!(
        "sshd-sensor: replay --validate-only: {} lines ({:.1} MB) in {:.2}s: {} not JSON",
        v.lines,
        v.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        v.bad_lines,
    );
    Ok(ExitCode::SUCCESS)
}

fn open_inputs(files: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    let mut stdin_used = false;
    files
        .iter()
        .map(|path| {
            if path.as_os_str() == "-" {
                anyhow::ensure!(!stdin_used, "`-` (stdin) given twice");
                stdin_used = true;
                return Ok(Input {
                    name: "-".into(),
                    reader: Box::new(BufReader::with_capacity(1 << 16, io::stdin())),
                });
            }
            let file = File::open(path)
                .with_context(|| format!("opening {}; check the path", path.display()))?;
            Ok(Input {
                name: path.display().to_string(),
                reader: Box::new(BufReader::with_capacity(1 << 16, file)),
            })
        })
        .collect()
}

/// `2s`, `500ms`, `1.5s`, `250us`, `10ns`, `1m`, or a plain number of seconds, to nanoseconds.
fn parse_duration_ns(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 2s or 500ms"))?;
    let scale = match unit {
        "" | "s" => 1e9,
        "ms" => 1e6,
        "us" | "µs" => 1e3,
        "ns" => 1.0,
        "m" => 60e9,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {s:?} (use ns, us, ms, s or m)"
            ));
        }
    };
    let ns = (value * scale).round();
    if !(0.0..=9.0e18).contains(&ns) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(ns as i64)
}

#[cfg(test)]
mod tests {
    use super::parse_duration_ns;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("2s"), Ok(2_000_000_000));
        assert_eq!(parse_duration_ns("500ms"), Ok(500_000_000));
        assert_eq!(parse_duration_ns("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_duration_ns("0"), Ok(0));
        assert_eq!(parse_duration_ns("1m"), Ok(60_000_000_000));
        assert!(parse_duration_ns("2h").is_err());
        assert!(parse_duration_ns("-1s").is_err());
    }
}
