//! One replay input (a file or stdin): reads its lines, skips and reports bad ones, and hands
//! the merge only the events the rule could act on, as [`Item`]s. Every line is parsed and
//! validated in full; every valid line moves the input's clock ([`Source::newest`]) forward,
//! relevant or not, so the merge knows how far the input has progressed. An event is relevant
//! when it satisfies stage 1 or stage 2 of the rule (pure functions of the event, decided on the
//! borrowed fields by [`Relevance`]): nothing else changes what the engine answers, so skipping
//! the rest is exact, keeps the reorder buffer small, and spares them any allocation. A relevant
//! event keeps its raw line, so its document is parsed only if it becomes part of an alert.

use std::cmp::Ordering;
use std::io::BufRead;

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
    pub stage: Stage,
    /// The raw line (alerts embed it as the original document).
    pub raw: Box<[u8]>,
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
            let Some(status) = self.reader.next_line()? else {
                self.done = true;
                return Ok(None);
            };
            self.stats.lines += 1;
            let line = self.stats.lines;
            let text = match status {
                Line::Ok(text) => text,
                Line::TooLong(len) => {
                    self.stats.bytes += len;
                    let msg = format!("line of {len} bytes is over --max-line-bytes");
                    diag.bad_line(&self.name, line, "too long", &msg);
                    continue;
                }
            };
            self.stats.bytes += text.len() as u64;
            if is_blank(text) {
                continue;
            }
            match classify(text, relevance) {
                Err((kind, msg)) => diag.bad_line(&self.name, line, kind, &msg),
                Ok((timestamp, event)) => {
                    self.stats.valid += 1;
                    self.newest = Some(self.newest.map_or(timestamp, |n| n.max(timestamp)));
                    let Some((event, stage)) = event else {
                        continue;
                    };
                    self.stats.relevant += 1;
                    return Ok(Some(Item {
                        timestamp,
                        input: self.index,
                        line,
                        event,
                        stage,
                        raw: Box::from(text),
                    }));
                }
            }
        }
    }
}

/// Empty or whitespace only (checked from the first byte, so a document costs one comparison).
pub(super) fn is_blank(line: &[u8]) -> bool {
    line.first().is_none_or(u8::is_ascii_whitespace) && line.iter().all(u8::is_ascii_whitespace)
}

type Classified = (TimestampNs, Option<(Box<Event>, Stage)>);

/// Parses and validates one line: its timestamp, and the event with its stage when it is
/// relevant.
fn classify(line: &[u8], relevance: &Relevance) -> Result<Classified, (&'static str, String)> {
    let mut fields = fields::Fields::default();
    fields::parse_into(line, &mut fields).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ("wrong type", e.to_string()),
        _ => ("invalid JSON", e.to_string()),
    })?;
    let parsed = convert::check(&fields).map_err(|e| (e.kind(), e.to_string()))?;
    let stage = relevance.stage(&fields, &parsed);
    relevance.debug_check(line, stage);
    Ok((
        parsed.timestamp,
        stage.map(|stage| (Box::new(convert::event(fields, parsed)), stage)),
    ))
}
