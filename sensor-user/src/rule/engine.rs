//! The pure sequence engine: events in, alerts out, exactly as Elasticsearch EQL runs
//! `sequence by host.id with maxspan=<rule's> [stage 1] by process.entity_id [stage 2] by
//! process.parent.entity_id`, the stages being the compiled rule's conditions
//! ([`super::compiled`]). It owns the pending stage-1 state and nothing else: no clock (time
//! is the events' own timestamps), no I/O, no randomness, so live mode and replay mode get the
//! same answers. Per key only the newest stage 1 is held; a match consumes it; entries older
//! than maxspan relative to the newest event time are dropped in amortised O(1) through a
//! time-ordered queue with lazy deletion; the number of held keys is bounded by
//! [`Limits::max_pending`], and the bytes of the raw lines held with them (replay's
//! [`Event::raw`]) by [`Limits::max_held_bytes`], both evicting the oldest.

use std::collections::VecDeque;
use std::sync::Arc;

use ipnetwork::IpNetwork;

use super::compiled::{CompiledRule, FieldSource, Tuning};
use super::exclusions::Exclusions;
use super::fasthash::FastMap;
use super::profiles::{Profile, RuleSource};
use crate::event::{Alert, Event, TimestampNs};
use filter::KeyFilter;
pub use filter::ParentHint;
pub use held::{Build, Held, HeldMismatch, Stage2Key};

/// What users may configure: the stage-1 parent executables (replacing the seed's
/// `/usr/sbin/sshd`, e.g. to add `sshd-session`) and exclusions added to the seed's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleConfig {
    /// Where the rule comes from (`[rule] profile` or `file`).
    pub source: RuleSource,
    /// The rule from `source`, compiled.
    pub rule: Arc<CompiledRule>,
    /// `process.parent.executable` values that make an exec stage 1 (case-sensitive).
    pub parent_executables: Vec<String>,
    pub extra_excluded_cidrs: Vec<IpNetwork>,
    pub extra_excluded_names: Vec<String>,
    pub extra_excluded_executables: Vec<String>,
}

impl Default for RuleConfig {
    /// The seed exactly.
    fn default() -> Self {
        let rule = Profile::V4.rule();
        Self {
            parent_executables: rule.parent_executables().unwrap_or_default(),
            source: RuleSource::default(),
            rule,
            extra_excluded_cidrs: Vec::new(),
            extra_excluded_names: Vec::new(),
            extra_excluded_executables: Vec::new(),
        }
    }
}

impl RuleConfig {
    /// The destinations the kernel drops before the ring: exactly the ranges stage 2's
    /// top-level `not (...)` blocks exclude (as tuned), so the kernel only ever passes a
    /// superset of what the rule could alert on.
    pub fn kernel_excluded_networks(&self) -> Vec<IpNetwork> {
        self.tuned_rule().stage2_exclusions().networks
    }

    /// The rule as this configuration tunes it: what the engine runs.
    pub fn tuned_rule(&self) -> CompiledRule {
        self.rule.tuned(&Tuning {
            parent_executables: Some(&self.parent_executables),
            extra_cidrs: &self.extra_excluded_cidrs,
            extra_names: &self.extra_excluded_names,
            extra_executables: &self.extra_excluded_executables,
        })
    }
}

/// Memory bounds of the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most stage-1 keys held at once; beyond it the oldest is evicted.
    pub max_pending: usize,
    /// Most bytes of raw stage-1 lines ([`Event::raw`], replay) held at once, counting every
    /// line the engine still references (a replaced entry's line until its queue slot goes);
    /// beyond it the oldest entries are evicted. Live events carry no raw line.
    pub max_held_bytes: usize,
}

/// [`Limits::max_held_bytes`] by default: 64 MiB.
pub const DEFAULT_MAX_HELD_BYTES: usize = 64 << 20;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_pending: 65_536,
            max_held_bytes: DEFAULT_MAX_HELD_BYTES,
        }
    }
}

/// The raw-line bytes `e` holds.
fn held_bytes(e: &Event) -> usize {
    e.raw.as_ref().map_or(0, |r| r.len())
}

/// Counters since the engine was created (`pending` is the current number of held keys).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct EngineStats {
    /// Events fed.
    pub events: u64,
    /// Events that satisfied stage 1 (stored or not).
    pub stage1: u64,
    /// Events that satisfied stage 2, matched or not.
    pub stage2_candidates: u64,
    /// Completed sequences.
    pub alerts: u64,
    /// Stage-1 entries dropped for being older than maxspan.
    pub expired: u64,
    /// Stage-1 entries dropped because `max_pending` keys were held.
    pub evicted: u64,
    /// Stage-1 entries dropped because their raw lines passed `max_held_bytes`.
    pub evicted_bytes: u64,
    /// Stage-1 keys held now.
    pub pending: u64,
    /// Events whose timestamp was smaller than an earlier event's.
    pub out_of_order: u64,
}

/// The newest stage 1 of one key.
#[derive(Debug)]
struct Pending {
    stage1: Arc<Event>,
    /// Identifies the queue entry that is this one; older entries of the key are stale.
    generation: u64,
}

/// One stage-1 insertion, in time order. Stale once its key is replaced, consumed or dropped.
#[derive(Debug)]
struct Queued {
    timestamp: TimestampNs,
    generation: u64,
    stage1: Arc<Event>,
}

/// Stale queue entries tolerated beyond twice the live ones before the queue is compacted.
const QUEUE_SLACK: usize = 1024;

/// The sequence engine. Feed it events in event order (timestamp, then arrival).
#[derive(Debug)]
pub struct Engine {
    config: RuleConfig,
    /// The configured rule as the configuration tunes it: the stages every event is judged by.
    rule: CompiledRule,
    /// Stage 2's exclusions, derived from `rule`.
    exclusions: Exclusions,
    limits: Limits,
    /// host.id -> process.entity_id -> newest stage 1.
    pending: FastMap<String, FastMap<String, Pending>>,
    /// Number of entries in `pending` (over all hosts).
    pending_len: usize,
    /// Sorted by timestamp (oldest first), then insertion.
    queue: VecDeque<Queued>,
    /// Raw-line bytes of the events in `queue` (live or stale): what the engine keeps alive.
    queued_bytes: usize,
    next_generation: u64,
    /// The newest event timestamp seen.
    watermark: Option<TimestampNs>,
    stats: EngineStats,
    /// Says "not held" for most keys that are not, without a map lookup (see [`KeyFilter`]).
    filter: KeyFilter,
}

impl Engine {
    pub fn new(config: RuleConfig, limits: Limits) -> Engine {
        let rule = config.tuned_rule();
        Engine {
            exclusions: Exclusions::from_derived(&rule.stage2_exclusions()),
            rule,
            config,
            limits,
            pending: FastMap::default(),
            pending_len: 0,
            queue: VecDeque::new(),
            queued_bytes: 0,
            next_generation: 0,
            watermark: None,
            stats: EngineStats::default(),
            filter: KeyFilter::new(),
        }
    }

    /// Replaces the configuration; pending stage-1 entries and counters are kept.
    pub fn set_config(&mut self, config: RuleConfig) {
        self.rule = config.tuned_rule();
        self.exclusions = Exclusions::from_derived(&self.rule.stage2_exclusions());
        self.config = config;
    }

    pub fn config(&self) -> &RuleConfig {
        &self.config
    }

    /// The stage-2 exclusions in force, for callers that drop excluded events before building
    /// them (the live pipeline, see [`Engine::skip_excluded`]).
    pub fn exclusions(&self) -> &Exclusions {
        &self.exclusions
    }

    /// [`Engine::process`] of an event the caller dropped because [`Engine::exclusions`]
    /// exclude it as a stage 2 (and it is no stage 1: a connect): the same state changes (event
    /// time moves on, the event is counted), no match and nothing consumed.
    pub fn skip_excluded(&mut self, timestamp: TimestampNs) {
        self.stats.events += 1;
        self.advance(timestamp);
    }

    /// Feed events in event order (timestamp, then arrival). Returns the alert this event
    /// completes, if any.
    pub fn process(&mut self, event: Event) -> Option<Alert> {
        self.stats.events += 1;
        self.advance(event.timestamp);
        if self.is_stage1(&event) {
            self.stats.stage1 += 1;
            self.store_stage1(event);
            return None;
        }
        if !self.is_stage2(&event) {
            return None;
        }
        self.stats.stage2_candidates += 1;
        self.match_stage2(event)
    }

    /// A stage 1 of (`host_id`, `entity_id`) is held now (it may still be older than maxspan
    /// relative to a later stage 2).
    pub fn is_pending(&self, host_id: &str, entity_id: &str) -> bool {
        self.pending
            .get(host_id)
            .is_some_and(|by_entity| by_entity.contains_key(entity_id))
    }

    /// Stage 1 of the rule (as the configuration tunes it) holds for `e`.
    pub fn is_stage1<S: FieldSource>(&self, e: &S) -> bool {
        self.rule.stage1.matches(e)
    }

    /// Stage 2 of the rule (as the configuration tunes it) holds for `e`.
    pub fn is_stage2<S: FieldSource>(&self, e: &S) -> bool {
        self.rule.stage2.matches(e)
    }

    /// The rule the engine runs: the configured rule as the configuration tunes it.
    pub fn rule(&self) -> &CompiledRule {
        &self.rule
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            pending: u64::try_from(self.pending_len).unwrap_or(u64::MAX),
            ..self.stats
        }
    }

    /// Moves event time forward (never back) and drops what that expired.
    fn advance(&mut self, timestamp: TimestampNs) {
        match self.watermark {
            Some(newest) if timestamp < newest => self.stats.out_of_order += 1,
            _ => self.watermark = Some(timestamp),
        }
        self.expire();
    }

    /// Pops expired entries (and stale ones among them) off the front of the queue: each entry
    /// is popped once, so this is amortised O(1) per event. The queue is in time order, so an
    /// unexpired front ends it without a lookup; stale entries behind it wait for their expiry
    /// or [`Engine::compact_if_mostly_stale`], which is all the same to every answer and count.
    fn expire(&mut self) {
        let Some(now) = self.watermark else { return };
        while let Some(front) = self.queue.front() {
            if !expired(front.timestamp, now, self.rule.maxspan_ns) {
                break;
            }
            let live = self.is_live(front);
            if let Some(front) = self.pop_front()
                && live
            {
                self.remove_live(&front);
                self.stats.expired += 1;
            }
        }
    }

    fn store_stage1(&mut self, event: Event) {
        if event.host_id.is_none() || event.process.entity_id.is_none() {
            // A null key never joins.
            return;
        }
        if self
            .watermark
            .is_some_and(|now| expired(event.timestamp, now, self.rule.maxspan_ns))
        {
            // Late beyond maxspan: it could only match events that are already gone.
            self.stats.expired += 1;
            return;
        }
        let stage1 = Arc::new(event);
        let (Some(host), Some(entity)) = (
            stage1.host_id.as_deref(),
            stage1.process.entity_id.as_deref(),
        ) else {
            return;
        };
        let generation = self.next_generation;
        let existing = self
            .pending
            .get_mut(host)
            .and_then(|by_entity| by_entity.get_mut(entity));
        if let Some(existing) = existing {
            // The newest in event order wins; a late arrival older than the held one loses.
            if stage1.timestamp < existing.stage1.timestamp {
                return;
            }
            existing.stage1 = Arc::clone(&stage1);
            existing.generation = generation;
        } else {
            if self.pending_len >= self.limits.max_pending && !self.evict_oldest() {
                // max_pending == 0: nothing can be held.
                self.stats.evicted += 1;
                return;
            }
            self.pending.entry(host.to_owned()).or_default().insert(
                entity.to_owned(),
                Pending {
                    stage1: Arc::clone(&stage1),
                    generation,
                },
            );
            self.pending_len += 1;
            self.filter.insert(entity);
            if self.filter.inserted > 2 * self.pending_len + KeyFilter::SLACK {
                self.filter.rebuild(&self.pending);
            }
        }
        self.next_generation += 1;
        let timestamp = stage1.timestamp;
        let at = self.queue.partition_point(|q| q.timestamp <= timestamp);
        self.queued_bytes += held_bytes(&stage1);
        self.queue.insert(
            at,
            Queued {
                timestamp,
                generation,
                stage1,
            },
        );
        self.compact_if_mostly_stale();
        self.keep_within_bytes();
    }

    /// Drops stale entries, then the oldest live ones, until the raw lines held fit
    /// [`Limits::max_held_bytes`].
    fn keep_within_bytes(&mut self) {
        if self.queued_bytes <= self.limits.max_held_bytes {
            return;
        }
        self.compact();
        while self.queued_bytes > self.limits.max_held_bytes {
            let Some(front) = self.pop_front() else {
                break;
            };
            if self.is_live(&front) {
                self.remove_live(&front);
                self.stats.evicted_bytes += 1;
            }
        }
    }

    fn pop_front(&mut self) -> Option<Queued> {
        let front = self.queue.pop_front()?;
        self.queued_bytes -= held_bytes(&front.stage1);
        Some(front)
    }

    fn match_stage2(&mut self, event: Event) -> Option<Alert> {
        let host = event.host_id.as_deref()?;
        let parent = event.parent.entity_id.as_deref()?;
        let stage1 = self.take_match(host, parent, ParentHint::of(parent), event.timestamp)?;
        Some(Alert {
            stage1,
            stage2: Arc::new(event),
            rule: self.rule.meta.clone(),
        })
    }

    /// The held stage 1 of (`host`, `parent`) that a stage 2 at `timestamp` completes, consumed.
    fn take_match(
        &mut self,
        host: &str,
        parent: &str,
        hint: ParentHint,
        timestamp: TimestampNs,
    ) -> Option<Arc<Event>> {
        if !self.filter.may_hold(hint) {
            return None;
        }
        let by_entity = self.pending.get_mut(host)?;
        let held = by_entity.get(parent)?;
        if !within_maxspan(held.stage1.timestamp, timestamp, self.rule.maxspan_ns) {
            return None;
        }
        let consumed = by_entity.remove(parent)?;
        if by_entity.is_empty() {
            self.pending.remove(host);
        }
        self.pending_len -= 1;
        self.stats.alerts += 1;
        Some(consumed.stage1)
    }

    /// Evicts the oldest live entry; false when none is held.
    fn evict_oldest(&mut self) -> bool {
        while let Some(front) = self.pop_front() {
            if self.is_live(&front) {
                self.remove_live(&front);
                self.stats.evicted += 1;
                return true;
            }
        }
        false
    }

    fn is_live(&self, q: &Queued) -> bool {
        let (Some(host), Some(entity)) = (
            q.stage1.host_id.as_deref(),
            q.stage1.process.entity_id.as_deref(),
        ) else {
            return false;
        };
        self.pending
            .get(host)
            .and_then(|by_entity| by_entity.get(entity))
            .is_some_and(|p| p.generation == q.generation)
    }

    /// Removes the held entry `q` stands for; the caller has checked it is live.
    fn remove_live(&mut self, q: &Queued) {
        let (Some(host), Some(entity)) = (
            q.stage1.host_id.as_deref(),
            q.stage1.process.entity_id.as_deref(),
        ) else {
            return;
        };
        let Some(by_entity) = self.pending.get_mut(host) else {
            return;
        };
        if by_entity.remove(entity).is_some() {
            self.pending_len -= 1;
        }
        if by_entity.is_empty() {
            self.pending.remove(host);
        }
    }

    /// Drops stale entries (replaced or consumed keys) once they outnumber live ones: amortised
    /// O(1) per insertion, and it bounds the queue by about twice `max_pending`.
    fn compact_if_mostly_stale(&mut self) {
        if self.queue.len() <= 2 * self.pending_len + QUEUE_SLACK {
            return;
        }
        self.compact();
    }

    /// Drops every stale queue entry.
    fn compact(&mut self) {
        let mut queue = std::mem::take(&mut self.queue);
        queue.retain(|q| self.is_live(q));
        self.queued_bytes = queue.iter().map(|q| held_bytes(&q.stage1)).sum();
        self.queue = queue;
    }
}

/// Stage 2 at `stage2` may complete stage 1 at `stage1`: not before it, at most maxspan after.
fn within_maxspan(stage1: TimestampNs, stage2: TimestampNs, maxspan: i64) -> bool {
    let gap = i128::from(stage2) - i128::from(stage1);
    (0..=i128::from(maxspan)).contains(&gap)
}

/// A stage 1 at `timestamp` can no longer match anything once event time reached `now`.
fn expired(timestamp: TimestampNs, now: TimestampNs, maxspan: i64) -> bool {
    i128::from(now) - i128::from(timestamp) > i128::from(maxspan)
}

mod filter;
mod held;
#[cfg(test)]
mod tests;
