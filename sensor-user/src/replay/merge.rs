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
