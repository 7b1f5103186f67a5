//! The k-way merge of several inputs into one event order: `@timestamp`, then input order
//! (inputs in command-line order, then line number), exactly what sorting all events first
//! would give, as long as each input is at most `max_disorder` out of order: an event is never
//! more than `max_disorder` older than the newest event before it in the same input. Relevant
//! events wait (in a queue while they arrive in order, which is O(1) each, and in a min-heap
//! for the rest; the smaller front of the two is next) until every unfinished input has read past their time plus
//! `max_disorder`; the input that lags the most is read next. Memory is the events of one
//! `max_disorder` window, capped at `capacity` (beyond it the oldest is released early and
//! said so). An event older than something already released is reported with `file:line` and
//! replayed late (never dropped).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::ReplayError;
use super::diagnostics::Diagnostics;
use super::relevance::Relevance;
use super::source::{Item, Source, Spare};
use crate::event::TimestampNs;

pub struct Merge {
    pub sources: Vec<Source>,
    /// Items that arrived in replay order (each after the last one here).
    queue: VecDeque<Item>,
    /// The others.
    heap: BinaryHeap<Reverse<Item>>,
    max_disorder: TimestampNs,
    capacity: usize,
    /// Key of the last item released.
    last: Option<(TimestampNs, usize, u64)>,
    /// Most items held at once.
    pub peak: usize,
    /// Line buffers given back ([`Merge::recycle`]) for the sources to reuse.
    spare: Spare,
}

impl Merge {
    pub fn new(sources: Vec<Source>, max_disorder: TimestampNs, capacity: usize) -> Self {
        Self {
            sources,
            queue: VecDeque::new(),
            heap: BinaryHeap::new(),
            max_disorder: max_disorder.max(0),
            capacity: capacity.max(1),
            last: None,
            peak: 0,
            spare: Spare::default(),
        }
    }

    /// The next event in replay order; `None` when every input is done.
    pub fn next(
        &mut self,
        relevance: &Relevance,
        diag: &mut Diagnostics,
    ) -> Result<Option<Item>, ReplayError> {
        loop {
            if let Some(top) = self.front() {
                if self.releasable(top) {
                    return Ok(self.release());
                }
                if self.len() > self.capacity {
                    diag.buffer_full(self.capacity);
                    return Ok(self.release());
                }
            }
            // Read from the input that lags the most (one that has read nothing lags most).
            let Some(lagging) = self
                .sources
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.done)
                .min_by_key(|(_, s)| s.newest.map_or(i128::MIN, i128::from))
                .map(|(i, _)| i)
            else {
                return Ok(self.release());
            };
            let source = &mut self.sources[lagging];
            let read = source.next_item(relevance, diag, &mut self.spare);
            let item = read.map_err(|source_err| ReplayError::Read {
                name: source.name.clone(),
                source: source_err,
            })?;
            if let Some(item) = item {
                if let Some(last) = self.last
                    && item.key() < last
                {
                    diag.late_event(&source.name, item.line, last.0 - item.timestamp);
                }
                if self.queue.back().is_none_or(|back| back.key() < item.key()) {
                    self.queue.push_back(item);
                } else {
                    self.heap.push(Reverse(item));
                }
                self.peak = self.peak.max(self.len());
            }
        }
    }

    /// Gives back the line buffer of a released item that is done with.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.spare.put(buf);
    }

    /// No unfinished input can still produce an event at or before `ts`.
    fn releasable(&self, ts: TimestampNs) -> bool {
        self.sources.iter().filter(|s| !s.done).all(|s| {
            s.newest
                .is_some_and(|n| i128::from(ts) < i128::from(n) - i128::from(self.max_disorder))
        })
    }

    /// Items held.
    fn len(&self) -> usize {
        self.queue.len() + self.heap.len()
    }

    /// The timestamp of the next item to release.
    fn front(&self) -> Option<TimestampNs> {
        match (self.queue.front(), self.heap.peek()) {
            (Some(q), Some(Reverse(h))) => Some(q.timestamp.min(h.timestamp)),
            (Some(q), None) => Some(q.timestamp),
            (None, Some(Reverse(h))) => Some(h.timestamp),
            (None, None) => None,
        }
    }

    /// Takes the item first in replay order.
    fn release(&mut self) -> Option<Item> {
        let from_queue = match (self.queue.front(), self.heap.peek()) {
            (Some(q), Some(Reverse(h))) => q.key() < h.key(),
            (q, _) => q.is_some(),
        };
        let item = if from_queue {
            self.queue.pop_front()?
        } else {
            self.heap.pop()?.0
        };
        let key = item.key();
        if self.last.is_none_or(|last| key > last) {
            self.last = Some(key);
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::replay::diagnostics::tests::{P, Shared};
    use crate::replay::time::parse_rfc3339;
    use crate::rule::RuleConfig;

    /// A stage 1 of the default rule at `ms` milliseconds after 12:00:00.
    fn stage1(ms: u32) -> String {
        format!(
            r#"{{"@timestamp":"2024-05-01T12:00:{:02}.{:03}Z","event":{{"category":"process","type":"start","action":"exec"}},"host":{{"id":"h","os":{{"type":"linux"}}}},"process":{{"entity_id":"p1","parent":{{"executable":"/usr/sbin/sshd"}}}}}}"#,
            ms / 1000,
            ms % 1000
        )
    }

    struct Run {
        /// Released items as (milliseconds after 12:00:00, input, line).
        order: Vec<(i64, usize, u64)>,
        peak: usize,
        late: u64,
        forced: u64,
        said: Vec<String>,
    }

    /// Merges `inputs` (each a list of stage-1 times in ms) to the end.
    fn run(inputs: &[&[u32]], max_disorder_ms: i64, capacity: usize) -> Run {
        let base = parse_rfc3339("2024-05-01T12:00:00Z").expect("base");
        let sources = inputs
            .iter()
            .enumerate()
            .map(|(i, times)| {
                let text: Vec<String> = times.iter().map(|&ms| stage1(ms)).collect();
                let reader = Box::new(Cursor::new(text.join("\n").into_bytes()));
                Source::new(format!("in{i}"), i, reader, 1 << 20)
            })
            .collect();
        let out = Shared::default();
        let mut diag = Diagnostics::new(Box::new(out.clone()), 10);
        let relevance = Relevance::new(&RuleConfig::default());
        let mut merge = Merge::new(sources, max_disorder_ms * 1_000_000, capacity);
        let mut order = Vec::new();
        while let Some(item) = merge.next(&relevance, &mut diag).expect("merge") {
            order.push(((item.timestamp - base) / 1_000_000, item.input, item.line));
        }
        Run {
            order,
            peak: merge.peak,
            late: diag.late,
            forced: diag.forced,
            said: out.take(),
        }
    }

    /// Events come out in time, then input order, as long as each input is at most the
    /// tolerance out of order, an event exactly the tolerance older included: an event at time
    /// t is held until every unfinished input has read past t plus the tolerance (not merely
    /// to it), since an earlier input may still bring one at t. Out-of-order events wait in
    /// the heap, the others in the queue; both count as held.
    #[test]
    fn releases_in_time_then_input_order_within_the_tolerance() {
        let r = run(&[&[12_000, 10_000], &[10_000, 12_000]], 2_000, 100);
        assert_eq!(
            r.order,
            [
                (10_000, 0, 2),
                (10_000, 1, 1),
                (12_000, 0, 1),
                (12_000, 1, 2)
            ]
        );
        assert_eq!((r.late, r.forced, r.peak), (0, 0, 4));
        assert_eq!(r.said, Vec::<String>::new());
        // The queue's front goes first when it is older than the heap's top.
        let r = run(&[&[10_000, 13_000, 11_500]], 5_000, 100);
        assert_eq!(r.order, [(10_000, 0, 1), (11_500, 0, 3), (13_000, 0, 2)]);
        assert_eq!((r.late, r.forced, r.peak), (0, 0, 3));
    }

    /// An event older than one already released is reported with how far behind the newest
    /// released it is, and replayed (late), not dropped; what was in time is released as soon
    /// as no input can still bring an earlier event.
    #[test]
    fn an_event_beyond_the_tolerance_is_reported_and_replayed_late() {
        let r = run(&[&[10_000, 13_000, 5_000, 16_000, 12_000]], 2_000, 100);
        assert_eq!(
            r.order,
            [
                (10_000, 0, 1),
                (5_000, 0, 3),
                (13_000, 0, 2),
                (12_000, 0, 5),
                (16_000, 0, 4)
            ]
        );
        assert_eq!((r.late, r.forced, r.peak), (2, 0, 2));
        let late = |line, secs| {
            format!(
                "{P}in0:{line}: event is {secs}s older than events already replayed, beyond the \
                 tolerated disorder (--max-disorder); replayed late, so a match that needed it \
                 in order may be missed"
            )
        };
        assert_eq!(r.said, [late(3, "5.000"), late(5, "1.000")]);
    }

    /// Beyond `capacity` held events the oldest is released early (said once, each counted),
    /// so at most `capacity` + 1 are ever held.
    #[test]
    fn a_full_buffer_releases_the_oldest_early() {
        let r = run(&[&[0, 100, 200, 300, 400]], 2_000, 2);
        assert_eq!(
            r.order,
            [
                (0, 0, 1),
                (100, 0, 2),
                (200, 0, 3),
                (300, 0, 4),
                (400, 0, 5)
            ]
        );
        assert_eq!((r.late, r.forced, r.peak), (0, 3, 3));
        assert_eq!(
            r.said,
            [format!(
                "{P}reorder buffer full (2 events within --max-disorder); replaying the oldest \
                 early, later events of that span may be reported as late"
            )]
        );
    }
}
