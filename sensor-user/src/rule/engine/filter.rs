//! The engine's quick "not held" answer for a stage-2 key: one bit per value of a cheap hash of
//! the entity ids held, so that most stage 2s (whose parent holds nothing) cost no map lookup.

use super::Pending;
use crate::rule::fasthash::{FastHasher, FastMap};

/// One bit per value of a cheap hash of a key's entity id: set for every key held (each is set
/// when the key is stored; the bits are rebuilt from the held keys once insertions since the
/// last rebuild outnumber them), so a clear bit proves a key is not held. Collisions only cost
/// the exact lookup that follows, so a crafted input can make it useless but never wrong.
#[derive(Debug)]
pub(super) struct KeyFilter {
    bits: Box<[u64]>,
    /// Keys set since the last rebuild.
    pub(super) inserted: usize,
}

impl KeyFilter {
    /// 2^16 bits (8 KiB).
    const BITS_LOG2: u32 = 16;
    /// Insertions tolerated beyond twice the held keys before a rebuild.
    pub(super) const SLACK: usize = 4096;

    pub(super) fn new() -> Self {
        Self {
            bits: vec![0; 1 << (Self::BITS_LOG2 - 6)].into_boxed_slice(),
            inserted: 0,
        }
    }

    /// The bit of a key: by its entity id alone (the host rarely tells keys apart).
    fn slot(hint: ParentHint) -> (usize, u64) {
        let h = hint.0 >> (64 - Self::BITS_LOG2);
        ((h >> 6) as usize, 1 << (h & 63))
    }

    pub(super) fn insert(&mut self, entity: &str) {
        let (word, bit) = Self::slot(ParentHint::of(entity));
        if let Some(w) = self.bits.get_mut(word) {
            *w |= bit;
        }
        self.inserted += 1;
    }

    /// A key whose entity id has this hint may be held (false: it is not).
    pub(super) fn may_hold(&self, hint: ParentHint) -> bool {
        let (word, bit) = Self::slot(hint);
        self.bits.get(word).is_none_or(|w| w & bit != 0)
    }

    pub(super) fn rebuild(&mut self, pending: &FastMap<String, FastMap<String, Pending>>) {
        self.bits.fill(0);
        self.inserted = 0;
        for entity in pending.values().flat_map(FastMap::keys) {
            self.insert(entity);
        }
    }
}

/// What the filter needs of a stage 2's `process.parent.entity_id`, made once by a caller that
/// holds the key somewhere slow to read again (replay makes it while the line is in cache, and
/// most stage 2s are then answered without touching their key's bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParentHint(u64);

impl ParentHint {
    pub fn of(parent_entity_id: &str) -> Self {
        Self(FastHasher::fixed(parent_entity_id.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(entity: &str) -> ParentHint {
        ParentHint::of(entity)
    }

    /// Every key set may be held; of keys not set, only the rare ones whose bit another key
    /// shares: with 1000 keys in 65536 bits, about 1.5 % of the others.
    #[test]
    fn set_keys_may_be_held_and_most_others_surely_not() {
        let mut filter = KeyFilter::new();
        for i in 0..1000 {
            filter.insert(&format!("held-{i}"));
        }
        assert_eq!(filter.inserted, 1000);
        assert!((0..1000).all(|i| filter.may_hold(hint(&format!("held-{i}")))));
        let maybe = (0..1000)
            .filter(|i| filter.may_hold(hint(&format!("other-{i}"))))
            .count();
        assert!(maybe < 60, "{maybe} of 1000 keys not held answered maybe");
    }

    /// A rebuild sets the bits of exactly the keys held now, and restarts the count.
    #[test]
    fn a_rebuild_forgets_the_keys_no_longer_held() {
        let mut filter = KeyFilter::new();
        for i in 0..1000 {
            filter.insert(&format!("gone-{i}"));
        }
        let mut pending: FastMap<String, FastMap<String, Pending>> = FastMap::default();
        let held = std::sync::Arc::new(crate::event::Event::default());
        pending.entry("h".to_owned()).or_default().insert(
            "kept".to_owned(),
            Pending {
                stage1: held,
                generation: 0,
            },
        );
        filter.rebuild(&pending);
        assert_eq!(filter.inserted, 1);
        assert!(filter.may_hold(hint("kept")));
        let maybe = (0..1000)
            .filter(|i| filter.may_hold(hint(&format!("gone-{i}"))))
            .count();
        assert!(
            maybe < 5,
            "{maybe} of 1000 keys no longer held answered maybe"
        );
    }
}
