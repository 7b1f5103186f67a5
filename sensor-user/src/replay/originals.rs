//! The raw lines of the stage-1 events the engine may still hold, so that an alert can embed
//! the stage-1 document without every stage-1 line being parsed into a JSON tree up front (most
//! stage-1 events never complete a sequence). Mirrors what the engine holds: one entry per
//! (`host.id`, `process.entity_id`), the newest in event time winning, taken when a sequence
//! consumes it, dropped once event time is more than maxspan past it (the engine can no longer
//! match it either) and capped at the engine's `max_pending`, oldest first. Should an entry be
//! missing all the same, the alert is still printed, with the stage-1 event rendered from its
//! fields rather than its original document.

use std::collections::VecDeque;

use crate::event::{Event, TimestampNs};
use crate::rule::definition::MAXSPAN_NS;
use crate::rule::fasthash::FastMap;

type Key = (Box<str>, Box<str>);

#[derive(Debug)]
struct Held {
    timestamp: TimestampNs,
    generation: u64,
    raw: Box<[u8]>,
}

#[derive(Debug)]
pub struct Originals {
    held: FastMap<Key, Held>,
    /// Insertions in arrival order; an entry is stale once its key holds another generation.
    order: VecDeque<(TimestampNs, u64, Key)>,
    next_generation: u64,
    cap: usize,
}

impl Originals {
    pub fn new(cap: usize) -> Self {
        Self {
            held: FastMap::default(),
            order: VecDeque::new(),
            next_generation: 0,
            cap,
        }
    }

    /// Keeps `raw` as the original of stage-1 `event` (as the engine stores it: never for a null
    /// key, never over a newer one).
    pub fn insert(&mut self, event: &Event, raw: Box<[u8]>) {
        let (Some(host), Some(entity)) =
            (event.host_id.as_deref(), event.process.entity_id.as_deref())
        else {
            return;
        };
        let key: Key = (host.into(), entity.into());
        if let Some(held) = self.held.get(&key)
            && event.timestamp < held.timestamp
        {
            return;
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        self.order
            .push_back((event.timestamp, generation, key.clone()));
        self.held.insert(
            key,
            Held {
                timestamp: event.timestamp,
                generation,
                raw,
            },
        );
        while self.held.len() > self.cap && self.pop_front() {}
        // Stale entries (replaced or taken keys) are bounded by the live ones.
        if self.order.len() > 2 * self.held.len() + 1024 {
            let held = &self.held;
            self.order.retain(|(_, generation, key)| {
                held.get(key).is_some_and(|h| h.generation == *generation)
            });
        }
    }

    /// The raw line of `stage1` (an alert's stage-1 event), removed: a sequence consumes it.
    pub fn take(&mut self, stage1: &Event) -> Option<Box<[u8]>> {
        let key: Key = (
            stage1.host_id.as_deref()?.into(),
            stage1.process.entity_id.as_deref()?.into(),
        );
        if self.held.get(&key)?.timestamp != stage1.timestamp {
            return None;
        }
        self.held.remove(&key).map(|h| h.raw)
    }

    /// Event time reached `now`: drops what is more than maxspan older.
    pub fn expire(&mut self, now: TimestampNs) {
        while let Some((ts, ..)) = self.order.front() {
            if i128::from(now) - i128::from(*ts) <= i128::from(MAXSPAN_NS) {
                break;
            }
            self.pop_front();
        }
    }

    /// Removes the front of the queue and its entry if live; false when the queue is empty.
    fn pop_front(&mut self) -> bool {
        let Some((_, generation, key)) = self.order.pop_front() else {
            return false;
        };
        if self
            .held
            .get(&key)
            .is_some_and(|h| h.generation == generation)
        {
            self.held.remove(&key);
        }
        true
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(ts: TimestampNs, host: &str, entity: &str) -> Event {
        let mut e = Event {
            timestamp: ts,
            host_id: Some(host.to_owned()),
            ..Event::default()
        };
        e.process.entity_id = Some(entity.to_owned());
        e
    }

    fn raw(s: &str) -> Box<[u8]> {
        s.as_bytes().into()
    }

    #[test]
    fn newest_wins_take_consumes_and_time_expires() {
        let mut o = Originals::new(10);
        o.insert(&exec(100, "h", "a"), raw("old"));
        o.insert(&exec(200, "h", "a"), raw("new"));
        o.insert(&exec(150, "h", "a"), raw("late"));
        assert_eq!(o.take(&exec(100, "h", "a")), None, "replaced");
        assert_eq!(o.take(&exec(200, "h", "a")).as_deref(), Some(&b"new"[..]));
        assert_eq!(o.take(&exec(200, "h", "a")), None, "consumed");
        o.insert(&exec(300, "h", "b"), raw("b"));
        o.expire(300 + MAXSPAN_NS);
        assert_eq!(o.len(), 1, "exactly maxspan later it may still match");
        o.expire(301 + MAXSPAN_NS);
        assert!(o.is_empty());
        let mut no_key = exec(400, "h", "c");
        no_key.process.entity_id = None;
        o.insert(&no_key, raw("x"));
        assert!(o.is_empty());
    }

    #[test]
    fn capped_oldest_first() {
        let mut o = Originals::new(2);
        for (i, e) in ["a", "b", "c"].into_iter().enumerate() {
            o.insert(&exec(i as TimestampNs, "h", e), raw(e));
        }
        assert_eq!(o.len(), 2);
        assert_eq!(o.take(&exec(0, "h", "a")), None);
        assert!(o.take(&exec(2, "h", "c")).is_some());
    }
}
