//! One replay input (a file or stdin): reads its lines, skips and reports bad ones, and hands
//! the merge only the events the rule could act on, as [`Item`]s. Every line is parsed and
//! validated in full; every valid line moves the input's clock ([`Source::newest`]) forward,
//! relevant or not, so the merge knows how far the input has progressed. An event is relevant
//! when it satisfies stage 1 or stage 2 of the rule (pure functions of the event, decided on the
//! borrowed fields by [`Relevance`]): nothing else changes what the engine answers, so skipping
//! the rest is exact, keeps the reorder buffer small, and spares them any allocation. A stage-1
//! event carries its original document (alerts embed it; stage 1 is rare), a stage-2 candidate
//! keeps its raw line so the document is parsed only if it completes a sequence.

use std::cmp::Ordering;
use std::io::BufRead;
use std::sync::Arc;

use super::convert;
use super::diagnostics::Diagnostics;
use super::fields;
use super::input::{Line, LineReader};
use super::relevance::{Relevance, Stage};
use crate::event::{Event, TimestampNs};

/// One relevant event and where it came from.
pub struct Item {
    pub timestamp: TimestampNs,
    /// Index of the input on the command line.
    pub input: usize,
    /// 1-based line number in that input.
    pub line: u64,
    /// Boxed: items move through the merge's heap.
    pub event: Box<Event>,
    /// The raw line of a stage-2 candidate.
    pub raw: Option<Box<[u8]>>,
}

impl Item {
    /// Replay order: time, then input order (command line, then line).
    pub fn key(&self) -> (TimestampNs, usize, u64) {
        (self.timestamp, self.input, self.line)
    }
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Item {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// Counters of one input.
#[derive(Clone, Copy, Debug, Default)]
pub struct SourceStats {
    pub lines: u64,
    pub bytes: u64,
    pub valid: u64,
    pub relevant: u64,
}

pub struct Source {
    pub name: String,
    index: usize,
    reader: LineReader<Box<dyn BufRead>>,
    buf: Vec<u8>,
    /// Newest valid timestamp read so far.
    pub newest: Option<TimestampNs>,
    pub done: bool,
    pub stats: SourceStats,
}

impl Source {
    pub fn new(name: String, index: usize, reader: Box<dyn BufRead>, max_line: usize) -> Self {
        Self {
            name,
            index,
            reader: LineReader::new(reader, max_line),
            buf: Vec::with_capacity(4096),
            newest: None,
            done: false,
            stats: SourceStats::default(),
        }
    }

    /// The next relevant event, or `None` at end of input (then `done` is set).
    pub fn next_item(
        &mut self,
        relevance: &Relevance,
        diag: &mut Diagnostics,
    ) -> std::io::Result<Option<Item>> {
        loop {
            let Some(status) = self.reader.next_line(&mut self.buf)? else {
                self.done = true;
                return Ok(None);
            };
            self.stats.lines += 1;
            let line = self.stats.lines;
            if let Line::TooLong(len) = status {
                self.stats.bytes += len;
                let msg = format!("line of {len} bytes is over --max-line-bytes");
                diag.bad_line(&self.name, line, "too long", &msg);
                continue;
            }
            self.stats.bytes += self.buf.len() as u64;
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match classify(&self.buf, relevance) {
                Err((kind, msg)) => diag.bad_line(&self.name, line, kind, &msg),
                Ok((timestamp, event)) => {
                    self.stats.valid += 1;
                    self.newest = Some(self.newest.map_or(timestamp, |n| n.max(timestamp)));
                    let Some((event, keep_raw)) = event else {
                        continue;
                    };
                    self.stats.relevant += 1;
                    let raw = keep_raw.then(|| Box::from(self.buf.as_slice()));
                    return Ok(Some(Item {
                        timestamp,
                        input: self.index,
                        line,
                        event,
                        raw,
                    }));
                }
            }
        }
    }
}

type Classified = (TimestampNs, Option<(Box<Event>, bool)>);

/// Parses and validates one line: its timestamp, and the event with whether to keep the raw line
/// when it is relevant.
fn classify(line: &[u8], relevance: &Relevance) -> Result<Classified, (&'static str, String)> {
    let f = fields::parse(line).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ("wrong type", e.to_string()),
        _ => ("invalid JSON", e.to_string()),
    })?;
    let checked = convert::check(f).map_err(|e| (e.kind(), e.to_string()))?;
    let timestamp = checked.timestamp;
    let stage = relevance.stage(&checked);
    relevance.debug_check(line, stage);
    match stage {
        None => Ok((timestamp, None)),
        Some(Stage::One) => {
            let mut event = Box::new(checked.event());
            // Valid JSON by now; a failure here would be a serde_json bug, and the event is
            // still usable without its original.
            event.original = serde_json::from_slice(line).ok().map(Arc::new);
            Ok((timestamp, Some((event, false))))
        }
        Some(Stage::Two) => Ok((timestamp, Some((Box::new(checked.event()), true)))),
    }
}
