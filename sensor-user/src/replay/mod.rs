//! Replay: hunts over stored Elastic Defend events (NDJSON, as Elasticsearch exports
//! `logs-endpoint.events.process-*` and `logs-endpoint.events.network-*`) with the same engine
//! and the same alert documents as live mode. Several inputs are merged into `@timestamp` order
//! ([`merge`]) within a stated disorder tolerance; each line is parsed and validated in full
//! into a handful of borrowed fields ([`fields`], [`convert`]) rather than a JSON tree; only the
//! events one of the rule's stages accepts ([`relevance`]) are kept, as their time, join key
//! and raw line ([`source`]), and become owned events, with their original documents, only when
//! they are part of a printed alert. Bad lines are counted, the first few reported, and skipped
//! ([`diagnostics`]). Memory is the engine's pending state (with one raw line per held stage 1)
//! plus one disorder window of relevant events, never the input size.

pub mod convert;
pub mod diagnostics;
pub mod fields;
pub mod input;
pub mod merge;
pub mod relevance;
pub mod source;
pub mod time;

use std::io::{self, BufRead};
use std::sync::Arc;

use crate::event::{Alert, Event};
use crate::ratelimit::{ALERT_WINDOW_NS, MAX_ALERTS_PER_WINDOW};
use crate::ratelimit::{RateCap, Verdict};
use crate::rule::{Engine, EngineStats, Held, HeldMismatch, Limits, RuleConfig, Stage2Key};
use diagnostics::Diagnostics;
use merge::Merge;
use source::{Body, Source};

/// Default `--max-disorder`: how far back in time an event may be relative to the newest event
/// before it in the same input.
pub const DEFAULT_MAX_DISORDER_NS: i64 = 2_000_000_000;
/// Default `--max-line-bytes`.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
/// Default cap on relevant events held for reordering.
pub const DEFAULT_MAX_BUFFERED: usize = 100_000;

/// How to replay.
#[derive(Clone, Debug)]
pub struct Options {
    pub rule: RuleConfig,
    pub limits: Limits,
    pub max_disorder_ns: i64,
    pub max_line_bytes: usize,
    pub max_buffered: usize,
    /// Apply live mode's alert rate cap (so a recording replays to the alerts live printed).
    pub rate_cap: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            rule: RuleConfig::default(),
            limits: Limits::default(),
            max_disorder_ns: DEFAULT_MAX_DISORDER_NS,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_buffered: DEFAULT_MAX_BUFFERED,
            rate_cap: true,
        }
    }
}

/// One input: a name for messages (`-` for stdin) and its bytes.
pub struct Input {
    pub name: String,
    pub reader: Box<dyn BufRead>,
}

/// What a replay did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub lines: u64,
    pub bytes: u64,
    /// Lines that were valid events.
    pub events: u64,
    /// Events the rule could act on (stage 1 or stage-2 candidates).
    pub relevant: u64,
    pub bad_lines: u64,
    pub late: u64,
    pub alerts_printed: u64,
    pub alerts_suppressed: u64,
    pub peak_buffered: usize,
    pub engine: EngineStats,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("reading {name}: {source}")]
    Read { name: String, source: io::Error },
    #[error("writing an alert: {0}")]
    Write(io::Error),
    #[error(
        "{name}:{line}: replay's prefilter and the engine disagree ({source}); this is a bug in \
         sshd-sensor: please report it with that line"
    )]
    Mismatch {
        name: String,
        line: u64,
        source: HeldMismatch,
    },
}

/// Replays `inputs`, calling `emit` with each alert in order. Bad lines and late events go to
/// `diag`; the returned summary counts everything.
pub fn replay(
    inputs: Vec<Input>,
    opts: &Options,
    diag: &mut Diagnostics,
    mut emit: impl FnMut(&Alert) -> io::Result<()>,
) -> Result<Summary, ReplayError> {
    let sources = inputs
        .into_iter()
        .enumerate()
        .map(|(i, input)| Source::new(input.name, i, input.reader, opts.max_line_bytes))
        .collect();
    let mut merge = Merge::new(sources, opts.max_disorder_ns, opts.max_buffered);
    let relevance = relevance::Relevance::new(&opts.rule);
    let mut engine = Engine::new(opts.rule.clone(), opts.limits);
    let mut cap = RateCap::new(u64::from(MAX_ALERTS_PER_WINDOW), ALERT_WINDOW_NS);
    let mut summary = Summary::default();
    while let Some(item) = merge.next(&relevance, diag)? {
        let (ts, input, line) = (item.timestamp, item.input, item.line);
        let mismatch = |source| ReplayError::Mismatch {
            name: merge.sources[input].name.clone(),
            line,
            source,
        };
        // A stage 1's line waits with it in the engine for an alert that may need it; a stage
        // 2's is needed only if it completes a sequence now.
        let (alert, stage2_raw) = match item.body {
            Body::Stage1(held) => {
                engine
                    .process_held(Held::Stage1(held), source::Rebuild::stage1_only())
                    .map_err(mismatch)?;
                continue;
            }
            Body::Stage2 { event, raw } => (engine.process(*event), Some(raw.into_vec())),
            Body::Stage2Line(held) => {
                let (host_id, parent_entity_id) = held.key();
                let key = Stage2Key {
                    timestamp: ts,
                    host_id,
                    parent_entity_id,
                    hint: held.hint(),
                };
                let alert = engine
                    .process_held(Held::Stage2(key), source::Rebuild::stage2(&held, key))
                    .map_err(mismatch)?;
                if alert.is_none() {
                    merge.recycle(held.into_raw());
                    continue;
                }
                (alert, Some(held.into_raw()))
            }
        };
        let Some(alert) = alert else {
            continue;
        };
        if opts.rate_cap && cap.admit(&alert).verdict == Verdict::Suppress {
            summary.alerts_suppressed += 1;
            continue;
        }
        let stage1_raw = alert.stage1.raw.clone();
        let alert = Alert {
            stage1: with_original(alert.stage1, stage1_raw.as_deref()),
            stage2: with_original(alert.stage2, stage2_raw.as_deref()),
            rule: alert.rule,
        };
        emit(&alert).map_err(ReplayError::Write)?;
        summary.alerts_printed += 1;
    }
    for s in &merge.sources {
        summary.lines += s.stats.lines;
        summary.bytes += s.stats.bytes;
        summary.events += s.stats.valid;
        summary.relevant += s.stats.relevant;
    }
    summary.bad_lines = diag.bad_total();
    summary.late = diag.late;
    summary.peak_buffered = merge.peak;
    summary.engine = engine.stats();
    Ok(summary)
}

/// Reads `inputs` line by line as [`replay`] does and only checks each non-blank line is JSON
/// (`serde_json` into [`serde::de::IgnoredAny`]): the benchmark's validate-only baseline.
pub fn validate_only(inputs: Vec<Input>, max_line_bytes: usize) -> Result<Summary, ReplayError> {
    let mut summary = Summary::default();
    for input in inputs {
        let mut lines = input::LineReader::new(input.reader, max_line_bytes);
        loop {
            let line = lines.next_line().map_err(|source| ReplayError::Read {
                name: input.name.clone(),
                source,
            })?;
            let Some(line) = line else { break };
            summary.lines += 1;
            let text = match line {
                input::Line::Ok(text) => text,
                input::Line::TooLong(len) => {
                    summary.bytes += len;
                    summary.bad_lines += 1;
                    continue;
                }
            };
            summary.bytes += text.len() as u64;
            if source::is_blank(text) {
                continue;
            }
            match serde_json::from_slice::<serde::de::IgnoredAny>(text) {
                Ok(_) => summary.events += 1,
                Err(_) => summary.bad_lines += 1,
            }
        }
    }
    Ok(summary)
}

/// Attaches an alert event's original document, parsed only now that it is part of an alert.
fn with_original(event: Arc<Event>, raw: Option<&[u8]>) -> Arc<Event> {
    // Valid JSON (checked when it was read); should parsing fail all the same, the event is
    // rendered from its fields.
    let Some(original) = raw.and_then(|r| serde_json::from_slice(r).ok()) else {
        return event;
    };
    let mut event = Arc::unwrap_or_clone(event);
    event.original = Some(Arc::new(original));
    Arc::new(event)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn input(name: &str, text: String) -> Input {
        Input {
            name: name.into(),
            reader: Box::new(Cursor::new(text.into_bytes())),
        }
    }

    /// Validate-only counts lines, bytes (a too-long line's too), JSON documents and bad lines
    /// (not JSON, or too long) over all inputs, and skips blank lines; the default line limit
    /// is 1 MiB, inclusive.
    #[test]
    fn validate_only_counts_as_replay_reads() {
        let max = DEFAULT_MAX_LINE_BYTES;
        let string_of = |len: usize| format!("\"{}\"", "x".repeat(len - 2));
        let first = [
            r#"{"a":1}"#.to_owned(),
            String::new(),
            "{no".into(),
            string_of(max),
        ];
        let second = ["  ".to_owned(), string_of(max + 1), "[1,2]".into()];
        let summary = validate_only(
            vec![input("a", first.join("\n")), input("b", second.join("\n"))],
            max,
        )
        .expect("read");
        let bytes: usize = first.iter().chain(&second).map(String::len).sum();
        assert_eq!(
            (
                summary.lines,
                summary.bytes,
                summary.events,
                summary.bad_lines
            ),
            (7, bytes as u64, 3, 2)
        );
    }

    /// An alert's event gets its original document when its line parses, and stays as it was
    /// when there is no line or it does not parse.
    #[test]
    fn with_original_attaches_the_parsed_line() {
        let event = Arc::new(Event {
            timestamp: 5,
            host_id: Some("h".into()),
            ..Event::default()
        });
        let got = with_original(event.clone(), Some(br#"{"a":[1,"x"]}"#));
        let want = Event {
            original: Some(Arc::new(serde_json::json!({"a": [1, "x"]}))),
            ..(*event).clone()
        };
        assert_eq!(*got, want);
        assert_eq!(*with_original(event.clone(), None), *event);
        assert_eq!(*with_original(event.clone(), Some(b"{nope")), *event);
    }

    /// `2024-05-01T12:00:00Z` plus `ms` milliseconds.
    fn at(ms: u64) -> String {
        let s = ms / 1000;
        format!(
            "2024-05-01T12:{:02}:{:02}.{:03}Z",
            s / 60,
            s % 60,
            ms % 1000
        )
    }

    /// `pairs` sequences of one session (a stage 1 and, half a second later, its stage 2)
    /// two seconds apart, with an irrelevant event and a bad line after each.
    fn sessions(pairs: u64) -> Vec<String> {
        let mut lines = Vec::new();
        for k in 0..pairs {
            let t = k * 2000;
            lines.push(format!(
                r#"{{"@timestamp":"{}","event":{{"category":"process","type":"start","action":"exec"}},"host":{{"id":"h","os":{{"type":"linux"}}}},"process":{{"entity_id":"p1","parent":{{"executable":"/usr/sbin/sshd"}}}}}}"#,
                at(t)
            ));
            lines.push(format!(
                r#"{{"@timestamp":"{}","event":{{"category":["network"],"type":["start"],"action":"connection_attempted"}},"host":{{"id":"h","os":{{"type":"linux"}}}},"process":{{"name":"curl","parent":{{"entity_id":"p1"}}}},"destination":{{"ip":"8.8.8.8"}}}}"#,
                at(t + 500)
            ));
            lines.push(format!(
                r#"{{"@timestamp":"{}","event":{{"category":"process"}}}}"#,
                at(t + 600)
            ));
            lines.push("{bad".into());
        }
        lines
    }

    /// Replay counts every line, byte, event and relevant event of all inputs, prints each
    /// alert with its original documents, and applies live mode's alert cap (100 per session
    /// and window) only when asked to, counting what it suppressed.
    #[test]
    fn replay_counts_and_caps_as_asked() {
        let lines = sessions(101);
        let bytes: usize = lines.iter().map(String::len).sum();
        for (rate_cap, printed, suppressed) in [(true, 100, 1), (false, 101, 0)] {
            let opts = Options {
                rate_cap,
                ..Options::default()
            };
            let mut diag = Diagnostics::new(Box::new(io::sink()), 0);
            let mut alerts = 0u64;
            let summary = replay(
                vec![input("a", lines.join("\n"))],
                &opts,
                &mut diag,
                |alert| {
                    assert!(alert.stage1.original.is_some() && alert.stage2.original.is_some());
                    alerts += 1;
                    Ok(())
                },
            )
            .expect("replay");
            assert_eq!(
                (
                    summary.lines,
                    summary.bytes,
                    summary.events,
                    summary.relevant,
                    summary.bad_lines
                ),
                (404, bytes as u64, 303, 202, 101),
                "rate cap {rate_cap}"
            );
            assert_eq!(
                (alerts, summary.alerts_printed, summary.alerts_suppressed),
                (printed, printed, suppressed),
                "rate cap {rate_cap}"
            );
        }
    }
}
