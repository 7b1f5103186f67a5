//! Replay's one entry point into the engine for events held in a cheaper form than an
//! [`Event`]: a stage 1 as its time, join key and raw line, a stage 2 as its time and join key.
//! The engine builds the whole events only when they complete a sequence, and checks them then,
//! in every build: an alert it returns is the alert [`Engine::process`] of the whole events
//! would return, or the caller gets a [`HeldMismatch`] naming what differed.

use std::sync::Arc;

use super::{Engine, ParentHint};
use crate::event::{Alert, Event, TimestampNs};

/// An event one of the engine's stages accepted, as replay holds it.
#[derive(Debug)]
pub enum Held<'a> {
    /// A stage 1, carrying what storing one reads (its time, `host.id` and
    /// `process.entity_id`) and whatever the caller wants back with an alert (its raw line).
    Stage1(Box<Event>),
    /// A stage-2 candidate known by its time and join key.
    Stage2(Stage2Key<'a>),
}

/// The time and join key of a stage-2 candidate.
#[derive(Clone, Copy, Debug)]
pub struct Stage2Key<'a> {
    pub timestamp: TimestampNs,
    pub host_id: Option<&'a str>,
    pub parent_entity_id: Option<&'a str>,
    /// [`ParentHint::of`] `parent_entity_id`, made earlier by the caller (while the key was in
    /// cache), so that a key that is not held is answered without reading its bytes.
    pub hint: Option<ParentHint>,
}

impl<'a> Stage2Key<'a> {
    /// The key of a stage 2, with its hint made now.
    pub fn new(
        timestamp: TimestampNs,
        host_id: Option<&'a str>,
        parent_entity_id: Option<&'a str>,
    ) -> Self {
        Self {
            timestamp,
            host_id,
            parent_entity_id,
            hint: parent_entity_id.map(ParentHint::of),
        }
    }
}

/// The whole events of a completed sequence, built by the caller from what it held.
pub trait Build {
    /// The whole stage 1 of one held as [`Held::Stage1`].
    fn stage1(&mut self, held: &Event) -> Event;
    /// The whole stage 2 that was held as [`Held::Stage2`].
    fn stage2(&mut self) -> Event;
}

/// Two closures build: the first the stage 1 (from the held one), the second the stage 2.
impl<S1: FnMut(&Event) -> Event, S2: FnMut() -> Event> Build for (S1, S2) {
    fn stage1(&mut self, held: &Event) -> Event {
        (self.0)(held)
    }

    fn stage2(&mut self) -> Event {
        (self.1)()
    }
}

/// A held event whose whole form is not what it was held as: a caller's bug, reported rather
/// than alerted on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the whole {stage} is not the event held as one: {what}")]
pub struct HeldMismatch {
    pub stage: &'static str,
    pub what: &'static str,
}

impl Engine {
    /// [`Engine::process`] of an event held as `held`: the same state changes, counters and
    /// answer as `process` of the whole event. `build` is called only when a stage 2 completes
    /// a sequence, for both whole events, which are checked against what was held (time, key,
    /// the stage each satisfies, the hint) before the alert is returned.
    pub fn process_held(
        &mut self,
        held: Held<'_>,
        mut build: impl Build,
    ) -> Result<Option<Alert>, HeldMismatch> {
        let key = match held {
            Held::Stage1(stage1) => {
                self.stats.events += 1;
                self.advance(stage1.timestamp);
                self.stats.stage1 += 1;
                self.store_stage1(*stage1);
                return Ok(None);
            }
            Held::Stage2(key) => key,
        };
        // A wrong hint could only hide a match, which no check on the alert path can see.
        debug_assert_eq!(
            key.hint,
            key.parent_entity_id.map(ParentHint::of),
            "wrong hint"
        );
        self.stats.events += 1;
        self.advance(key.timestamp);
        self.stats.stage2_candidates += 1;
        let (Some(host), Some(parent), Some(hint)) = (key.host_id, key.parent_entity_id, key.hint)
        else {
            return Ok(None);
        };
        let Some(held1) = self.take_match(host, parent, hint, key.timestamp) else {
            return Ok(None);
        };
        let stage1 = build.stage1(&held1);
        let stage2 = build.stage2();
        self.check_stage1(&held1, &stage1)?;
        self.check_stage2(&key, &stage2)?;
        Ok(Some(Alert {
            stage1: Arc::new(stage1),
            stage2: Arc::new(stage2),
            rule: self.rule.meta.clone(),
        }))
    }

    fn check_stage1(&self, held: &Event, whole: &Event) -> Result<(), HeldMismatch> {
        let what = if whole.timestamp != held.timestamp {
            "timestamp"
        } else if whole.host_id != held.host_id || whole.process.entity_id != held.process.entity_id
        {
            "join key"
        } else if !self.is_stage1(whole) {
            "stage 1 does not hold for it"
        } else {
            return Ok(());
        };
        Err(HeldMismatch {
            stage: "stage 1",
            what,
        })
    }

    fn check_stage2(&self, key: &Stage2Key<'_>, whole: &Event) -> Result<(), HeldMismatch> {
        let parent = whole.parent.entity_id.as_deref();
        let what = if whole.timestamp != key.timestamp {
            "timestamp"
        } else if whole.host_id.as_deref() != key.host_id || parent != key.parent_entity_id {
            "join key"
        } else if key.hint != parent.map(ParentHint::of) {
            "parent hint"
        } else if self.is_stage1(whole) {
            "it is a stage 1"
        } else if !self.is_stage2(whole) {
            "stage 2 does not hold for it"
        } else {
            return Ok(());
        };
        Err(HeldMismatch {
            stage: "stage 2",
            what,
        })
    }
}
