//! One replay input (a file or stdin): reads its lines, skips and reports bad ones, and hands
//! the merge only the events the rule could act on, as [`Item`]s. Every line is parsed and
//! validated in full; every valid line moves the input's clock ([`Source::newest`]) forward,
//! relevant or not, so the merge knows how far the input has progressed. An event is relevant
//! when it satisfies stage 1 or stage 2 of the rule (pure functions of the event, decided on the
//! borrowed fields by [`Relevance`]): nothing else changes what the engine answers, so skipping
//! the rest is exact, keeps the reorder buffer small, and spares them any allocation. A relevant
//! event keeps its raw line, so its document is parsed only if it becomes part of an alert.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::io::BufRead;

use super::convert;
use super::diagnostics::Diagnostics;
use super::fields;
use super::input::{Line, LineReader};
use super::relevance::{Relevance, Stage};
use super::time::DateCache;
use crate::event::{Event, TimestampNs};
use crate::rule::{Build, ParentHint, Stage2Key};

/// One relevant event and where it came from.
pub struct Item {
    pub timestamp: TimestampNs,
    /// Index of the input on the command line.
    pub input: usize,
    /// 1-based line number in that input.
    pub line: u64,
    pub body: Body,
}

impl Item {
    /// Replay order: time, then input order (command line, then line).
    pub fn key(&self) -> (TimestampNs, usize, u64) {
        (self.timestamp, self.input, self.line)
    }
}

/// What an [`Item`] holds: the event (built, or only its join key) and its raw line (alerts
/// embed it as the original document).
pub enum Body {
    /// A stage 1 as the engine holds it ([`Held::Stage1`]): its time, join key and raw line
    /// ([`Event::raw`]); built whole ([`Rebuild`]) only if it becomes part of an alert, which
    /// few do. Boxed: items move through the merge's buffer.
    ///
    /// [`Held::Stage1`]: crate::rule::Held::Stage1
    Stage1(Box<Event>),
    /// A stage 2 whose join key is plain text of its line (nearly all): built from the line
    /// ([`Rebuild`]) only if it completes a sequence, which few do.
    Stage2Line(Stage2Line),
    /// Any other stage 2, built.
    Stage2 { event: Box<Event>, raw: Box<[u8]> },
}

/// The raw line of a stage 2 and where its join key is in it.
pub struct Stage2Line {
    raw: Vec<u8>,
    host_id: Option<Span>,
    parent_entity_id: Option<Span>,
    /// Of `parent_entity_id`, made while the line was in cache (it is read again much later).
    hint: Option<ParentHint>,
}

/// A byte range of a line.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// Where `s` lies in `line`, if it is a slice of it.
    fn of(s: &str, line: &[u8]) -> Option<Span> {
        let start = (s.as_ptr() as usize).checked_sub(line.as_ptr() as usize)?;
        let end = start.checked_add(s.len())?;
        (end <= line.len()).then_some(Span {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }
}

impl Stage2Line {
    /// `line` (the bytes of a document with these fields), if both key fields are slices of it
    /// or null; copied into a buffer from `spare` when there is one.
    fn new(
        line: &[u8],
        host_id: Option<&str>,
        parent_entity_id: Option<&str>,
        spare: &mut Spare,
    ) -> Option<Self> {
        let span = |s: Option<&str>| match s {
            None => Some(None),
            Some(s) => Span::of(s, line).map(Some),
        };
        let hint = parent_entity_id.map(ParentHint::of);
        let (host_id, parent_entity_id) = (span(host_id)?, span(parent_entity_id)?);
        let mut raw = spare.0.pop().unwrap_or_default();
        raw.clear();
        raw.extend_from_slice(line);
        Some(Stage2Line {
            raw,
            host_id,
            parent_entity_id,
            hint,
        })
    }

    /// `host.id` and `process.parent.entity_id` (where they lie: their bytes are not read).
    pub fn key(&self) -> (Option<&str>, Option<&str>) {
        (self.text(self.host_id), self.text(self.parent_entity_id))
    }

    /// [`ParentHint`] of `process.parent.entity_id`.
    pub fn hint(&self) -> Option<ParentHint> {
        self.hint
    }

    fn text(&self, span: Option<Span>) -> Option<&str> {
        let span = span?;
        let bytes = self.raw.get(span.start as usize..span.end as usize)?;
        // SAFETY: `span` is where a `str` lay in a line with the same bytes as `raw` (`new`
        // copies it; nothing changes it after), so these bytes are that `str`: UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    }

    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    pub fn into_raw(self) -> Vec<u8> {
        self.raw
    }
}

/// Line buffers of released stage-2 items, for the next ones: most stage 2s then cost no
/// allocation. Holds at most [`Spare::MAX`] buffers of at most [`Spare::MAX_BYTES`] each.
#[derive(Default)]
pub struct Spare(Vec<Vec<u8>>);

impl Spare {
    const MAX: usize = 64;
    const MAX_BYTES: usize = 16 * 1024;

    /// Keeps `buf` for reuse if there is room and it is not large.
    pub fn put(&mut self, buf: Vec<u8>) {
        if self.0.len() < Self::MAX && buf.capacity() <= Self::MAX_BYTES {
            self.0.push(buf);
        }
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
    /// The date of this input's last `@timestamp`.
    dates: DateCache,
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
            dates: DateCache::default(),
        }
    }

    /// The next relevant event, or `None` at end of input (then `done` is set).
    pub fn next_item(
        &mut self,
        relevance: &Relevance,
        diag: &mut Diagnostics,
        spare: &mut Spare,
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
            match classify(text, relevance, spare, &mut self.dates) {
                Err((kind, msg)) => diag.bad_line(&self.name, line, kind, &msg),
                Ok((timestamp, body)) => {
                    self.stats.valid += 1;
                    self.newest = Some(self.newest.map_or(timestamp, |n| n.max(timestamp)));
                    let Some(body) = body else {
                        continue;
                    };
                    self.stats.relevant += 1;
                    return Ok(Some(Item {
                        timestamp,
                        input: self.index,
                        line,
                        body,
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

type Classified = (TimestampNs, Option<Body>);

/// Parses and validates one line: its timestamp, and what the merge holds of it when it is
/// relevant.
fn classify(
    line: &[u8],
    relevance: &Relevance,
    spare: &mut Spare,
    dates: &mut DateCache,
) -> Result<Classified, (&'static str, String)> {
    let mut fields = fields::Fields::default();
    fields::parse_into(line, &mut fields).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ("wrong type", e.to_string()),
        _ => ("invalid JSON", e.to_string()),
    })?;
    let parsed = convert::check_with(&fields, dates).map_err(|e| (e.kind(), e.to_string()))?;
    let stage = relevance.stage(&fields, &parsed);
    relevance.debug_check(line, stage);
    let body = match stage {
        None => None,
        Some(Stage::One) => {
            let mut held = Event {
                timestamp: parsed.timestamp,
                host_id: fields.host_id.map(Cow::into_owned),
                raw: Some(Box::from(line)),
                ..Event::default()
            };
            held.process.entity_id = fields.process.entity_id.map(Cow::into_owned);
            Some(Body::Stage1(Box::new(held)))
        }
        Some(Stage::Two) => Some(
            match Stage2Line::new(
                line,
                fields.host_id.as_deref(),
                fields.parent.entity_id.as_deref(),
                spare,
            ) {
                Some(held) => Body::Stage2Line(held),
                None => Body::Stage2 {
                    event: Box::new(convert::event(fields, parsed)),
                    raw: Box::from(line),
                },
            },
        ),
    };
    Ok((parsed.timestamp, body))
}

/// Builds the whole events of a completed sequence from what replay held of them (parsed again
/// from their lines: only for the few that become part of an alert), for
/// [`Engine::process_held`](crate::rule::Engine::process_held), which checks them.
pub enum Rebuild<'a> {
    /// For a held stage 1 (no sequence completes then).
    Stage1Only,
    /// For a held stage 2: its line and the key it was held by.
    Stage2 {
        line: &'a Stage2Line,
        key: Stage2Key<'a>,
    },
}

impl<'a> Rebuild<'a> {
    pub fn stage1_only() -> Self {
        Rebuild::Stage1Only
    }

    pub fn stage2(line: &'a Stage2Line, key: Stage2Key<'a>) -> Self {
        Rebuild::Stage2 { line, key }
    }
}

impl Build for Rebuild<'_> {
    /// The whole stage 1 of one held as [`Body::Stage1`], keeping its raw line. Should parsing
    /// fail all the same, the held event.
    fn stage1(&mut self, held: &Event) -> Event {
        let whole = held.raw.as_deref().and_then(event_of_line);
        let mut whole = whole.unwrap_or_else(|| held.clone());
        whole.raw.clone_from(&held.raw);
        whole
    }

    /// The stage-2 event of the line. Should parsing fail all the same, an event with just the
    /// time and key the engine matched on (which the engine then refuses as no stage 2).
    fn stage2(&mut self) -> Event {
        let Rebuild::Stage2 { line, key } = self else {
            return Event::default();
        };
        event_of_line(line.raw()).unwrap_or_else(|| {
            let mut event = Event {
                timestamp: key.timestamp,
                host_id: key.host_id.map(str::to_owned),
                ..Event::default()
            };
            event.parent.entity_id = key.parent_entity_id.map(str::to_owned);
            event
        })
    }
}

/// The event of a line [`Source`] accepted, parsed again.
fn event_of_line(raw: &[u8]) -> Option<Event> {
    let f = fields::parse(raw).ok()?;
    convert::check(&f).ok().map(|p| convert::event(f, p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::time::parse_rfc3339;
    use crate::rule::RuleConfig;

    const STAGE2: &str = r#"{"@timestamp":"2024-05-01T12:00:01Z","event":{"category":["network"],"type":["start"],"action":"connection_attempted"},"host":{"id":"h","os":{"type":"linux"}},"process":{"name":"curl","parent":{"entity_id":"p1"}},"destination":{"ip":"8.8.8.8"}}"#;

    fn classified(line: &str, spare: &mut Spare) -> Classified {
        let relevance = Relevance::new(&RuleConfig::default());
        classify(
            line.as_bytes(),
            &relevance,
            spare,
            &mut DateCache::default(),
        )
        .expect("valid")
    }

    /// A stage 2 whose join key is plain text of its line is held as the line and where the key
    /// lies in it (and the key's hint); one whose key is not (escaped) is built whole.
    #[test]
    fn a_stage2_is_held_as_its_line_and_key() {
        let mut spare = Spare::default();
        let (ts, body) = classified(STAGE2, &mut spare);
        assert_eq!(Some(ts), parse_rfc3339("2024-05-01T12:00:01Z"));
        let Some(Body::Stage2Line(held)) = body else {
            panic!("not held as its line");
        };
        assert_eq!(held.key(), (Some("h"), Some("p1")));
        assert_eq!(held.hint(), Some(ParentHint::of("p1")));
        assert_eq!(held.raw(), STAGE2.as_bytes());
        assert_eq!(held.into_raw(), STAGE2.as_bytes());
        // Without host.id: the key's other half.
        let line = STAGE2.replace(r#""id":"h","#, "");
        let Some(Body::Stage2Line(held)) = classified(&line, &mut spare).1 else {
            panic!("not held as its line");
        };
        assert_eq!(held.key(), (None, Some("p1")));
        // An escaped key is not a slice of the line.
        let line = STAGE2.replace(r#""entity_id":"p1""#, r#""entity_id":"p\u0031""#);
        let Some(Body::Stage2 { event, raw }) = classified(&line, &mut spare).1 else {
            panic!("not built");
        };
        assert_eq!(event.parent.entity_id.as_deref(), Some("p1"));
        assert_eq!(event.host_id.as_deref(), Some("h"));
        assert_eq!(&*raw, line.as_bytes());
    }

    const STAGE1: &str = r#"{"@timestamp":"2024-05-01T12:00:00Z","event":{"category":"process","type":"start","action":"exec"},"host":{"id":"h","os":{"type":"linux"}},"process":{"entity_id":"p1","parent":{"executable":"/usr/sbin/sshd"}}}"#;

    fn whole(line: &str) -> Event {
        event_of_line(line.as_bytes()).expect("an event")
    }

    /// A stage 1 is held as its time, join key and line; rebuilt, it is the whole event of its
    /// line (keeping the line), or the held event when its line does not parse.
    #[test]
    fn a_stage1_is_held_as_its_key_and_line_and_rebuilt_whole() {
        let Some(Body::Stage1(held)) = classified(STAGE1, &mut Spare::default()).1 else {
            panic!("not a held stage 1");
        };
        let mut want = Event {
            timestamp: parse_rfc3339("2024-05-01T12:00:00Z").expect("time"),
            host_id: Some("h".into()),
            raw: Some(STAGE1.as_bytes().into()),
            ..Event::default()
        };
        want.process.entity_id = Some("p1".into());
        assert_eq!(*held, want);
        let mut rebuilt = whole(STAGE1);
        assert_eq!(rebuilt.parent.executable.as_deref(), Some("/usr/sbin/sshd"));
        assert_eq!(rebuilt.raw, None);
        rebuilt.raw = Some(STAGE1.as_bytes().into());
        assert_eq!(Rebuild::stage1_only().stage1(&held), rebuilt);
        let bad = Event {
            raw: Some(Box::from(&b"{}"[..])),
            ..want
        };
        assert_eq!(Rebuild::stage1_only().stage1(&bad), bad);
    }

    /// A held stage 2 is rebuilt as the whole event of its line; should its line not parse, as
    /// the time and key it was held by.
    #[test]
    fn a_stage2_is_rebuilt_from_its_line_or_key() {
        let mut spare = Spare::default();
        let Some(Body::Stage2Line(held)) = classified(STAGE2, &mut spare).1 else {
            panic!("not held as its line");
        };
        let (host_id, parent_entity_id) = held.key();
        let key = Stage2Key {
            timestamp: 1,
            host_id,
            parent_entity_id,
            hint: held.hint(),
        };
        assert_eq!(Rebuild::stage2(&held, key).stage2(), whole(STAGE2));
        let junk = Stage2Line {
            raw: b"junk".to_vec(),
            host_id: None,
            parent_entity_id: None,
            hint: None,
        };
        let key = Stage2Key {
            timestamp: 7,
            host_id: Some("h"),
            parent_entity_id: Some("p"),
            hint: None,
        };
        let mut want = Event {
            timestamp: 7,
            host_id: Some("h".into()),
            ..Event::default()
        };
        want.parent.entity_id = Some("p".into());
        assert_eq!(Rebuild::stage2(&junk, key).stage2(), want);
        assert_eq!(Rebuild::stage1_only().stage2(), Event::default());
    }

    /// A source reads every line: counts lines and bytes (a too-long line's too), skips blank
    /// ones (whitespace only, not a document with leading space), reports each bad line with
    /// its reason, moves its clock with every valid event (relevant or not) and hands out only
    /// the relevant ones, with their line numbers.
    #[test]
    fn a_source_counts_every_line_and_hands_out_the_relevant() {
        let irrelevant = r#" {"@timestamp":"2024-05-01T12:00:05Z","event":{"category":"process"}}"#;
        let lines = [
            STAGE1,
            "",
            " \t",
            "{not json",
            r#"{"@timestamp":"2024-05-01T12:00:00Z","event":{"category":"process"},"process":{"pid":"x"}}"#,
            &"x".repeat(500),
            irrelevant,
            STAGE2,
            r#"{"@timestamp":"2024-05-01T12:00:00Z"}"#,
        ];
        let text = lines.join("\n");
        let reader = Box::new(std::io::Cursor::new(text.into_bytes()));
        let mut source = Source::new("in".into(), 3, reader, 450);
        let out = crate::replay::diagnostics::tests::Shared::default();
        let mut diag = Diagnostics::new(Box::new(out.clone()), 10);
        let relevance = Relevance::new(&RuleConfig::default());
        let mut spare = Spare::default();
        let mut items = Vec::new();
        while let Some(item) = source
            .next_item(&relevance, &mut diag, &mut spare)
            .expect("read")
        {
            assert!(!source.done);
            items.push((item.timestamp, item.input, item.line));
        }
        assert!(source.done);
        let t = |s| parse_rfc3339(s).expect("time");
        assert_eq!(
            items,
            [
                (t("2024-05-01T12:00:00Z"), 3, 1),
                (t("2024-05-01T12:00:01Z"), 3, 8)
            ]
        );
        assert_eq!(source.newest, Some(t("2024-05-01T12:00:05Z")));
        let s = source.stats;
        let bytes: usize = lines.iter().map(|l| l.len()).sum();
        assert_eq!(
            (s.lines, s.bytes, s.valid, s.relevant),
            (9, bytes as u64, 3, 2)
        );
        assert_eq!(
            diag.bad.iter().map(|(k, n)| (*k, *n)).collect::<Vec<_>>(),
            [
                ("invalid JSON", 1),
                ("missing field", 1),
                ("too long", 1),
                ("wrong type", 1)
            ]
        );
        let said = out.take();
        assert_eq!(
            said[2],
            "sshd-sensor: replay: in:6: skipped (too long): line of 500 bytes is over \
             --max-line-bytes"
        );
        assert_eq!(
            said[3],
            "sshd-sensor: replay: in:9: skipped (missing field): missing `event.category`"
        );
    }

    /// Spare keeps at most 64 buffers of at most 16 KiB each.
    #[test]
    fn spare_is_bounded() {
        let mut spare = Spare::default();
        spare.put(Vec::with_capacity(16 * 1024 + 1));
        assert_eq!(spare.0.len(), 0, "a large buffer is dropped");
        spare.put(Vec::with_capacity(16 * 1024));
        assert_eq!(spare.0.len(), 1);
        for _ in 0..70 {
            spare.put(Vec::with_capacity(100));
        }
        assert_eq!(spare.0.len(), 64);
    }

    /// Items are equal exactly when their keys are (as their order says).
    #[test]
    fn items_are_equal_by_key() {
        let item = |timestamp, input, line| Item {
            timestamp,
            input,
            line,
            body: Body::Stage1(Box::default()),
        };
        assert!(item(5, 1, 2) == item(5, 1, 2));
        for other in [item(6, 1, 2), item(5, 0, 2), item(5, 1, 3)] {
            assert!(item(5, 1, 2) != other);
            assert_ne!(item(5, 1, 2).cmp(&other), Ordering::Equal);
        }
        assert_eq!(item(5, 1, 2).key(), (5, 1, 2));
        assert_eq!(
            item(5, 1, 2).partial_cmp(&item(5, 1, 3)),
            Some(Ordering::Less)
        );
    }
}
