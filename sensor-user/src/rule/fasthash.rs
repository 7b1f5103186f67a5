//! A fast, non-cryptographic hasher for the hash maps of the hot path (the engine's pending
//! stage 1s, by host and by entity), whose keys are short strings (`host.id`,
//! `process.entity_id`): eight bytes per multiply, where the standard SipHash costs several
//! rounds per eight bytes.
//!
//! Trade-off: this is not a keyed PRF, so it does not give SipHash's guarantee against inputs
//! crafted to collide. Each map gets a random seed, so collisions cannot be precomputed
//! cheaply, and what a collision costs is bounded: the maps hold at most `max_pending` keys.
//! The keys come from the kernel in live mode (entity ids are made from a pid and a start time,
//! which no user picks freely) and from a file the user chose in replay mode, where a crafted
//! file could at worst slow that user's own replay, never change its answers.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};

/// A `HashMap` with [`FastState`].
pub type FastMap<K, V> = HashMap<K, V, FastState>;

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Builds [`FastHasher`]s with this map's random seed.
#[derive(Clone, Debug)]
pub struct FastState {
    seed: u64,
}

impl Default for FastState {
    fn default() -> Self {
        Self {
            seed: RandomState::new().hash_one(0u64),
        }
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher { hash: self.seed }
    }
}

/// FxHash-style: each word is mixed in with one rotate, xor and multiply; `finish` folds the
/// well-mixed high bits into the low ones (the table picks buckets with the low bits).
#[derive(Debug)]
pub struct FastHasher {
    hash: u64,
}

impl FastHasher {
    /// The hash of `bytes` from a fixed start (no map's random seed): for a hash that must be
    /// the same wherever it is made.
    #[inline]
    pub fn fixed(bytes: &[u8]) -> u64 {
        let mut hasher = FastHasher { hash: K };
        hasher.write(bytes);
        hasher.finish()
    }

    #[inline(always)]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some((word, tail)) = rest.split_first_chunk::<8>() {
            self.add(u64::from_le_bytes(*word));
            rest = tail;
        }
        if !rest.is_empty() {
            // At most seven bytes, little-endian, tagged in the eighth with their number so
            // that tails of different lengths differ.
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            word[7] = rest.len() as u8;
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let h = (self.hash ^ (self.hash >> 29)).wrapping_mul(K);
        h ^ (h >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_hash_equal_and_near_keys_apart() {
        let state = FastState::default();
        let keys = [
            "",
            "a",
            "b",
            "ab",
            "host-1",
            "host-1-bash1",
            "host-1-bash10",
            "01234567",
        ];
        for a in keys {
            assert_eq!(state.hash_one(a), state.hash_one(a.to_owned()));
            for b in keys {
                if a != b {
                    assert_ne!(state.hash_one(a), state.hash_one(b), "{a:?} {b:?}");
                }
            }
        }
        let pair = (Box::<str>::from("h"), Box::<str>::from("e"));
        assert_eq!(state.hash_one(&pair), state.hash_one(("h", "e")));
    }

    #[test]
    fn low_bits_spread() {
        // The table uses the low bits: 4096 similar keys should fill most of 4096 buckets.
        let state = FastState::default();
        let mut used = vec![false; 4096];
        for i in 0..4096 {
            used[(state.hash_one(format!("host-3-bash{i}")) & 4095) as usize] = true;
        }
        let filled = used.iter().filter(|&&u| u).count();
        assert!(filled > 2400, "{filled}");
    }

    /// Every input goes into the hash: integers of each width, and a tail's length (a key and
    /// the same key with a zero byte added differ).
    #[test]
    fn every_write_counts() {
        let state = FastState::default();
        assert_ne!(state.hash_one(1u8), state.hash_one(2u8));
        assert_ne!(state.hash_one(1u64), state.hash_one(2u64));
        assert_ne!(state.hash_one(1usize), state.hash_one(2usize));
        for key in ["", "a", "abcdefg", "abcdefgh", "abcdefghi"] {
            let longer = format!("{key}\0");
            assert_ne!(
                FastHasher::fixed(key.as_bytes()),
                FastHasher::fixed(longer.as_bytes()),
                "{key:?}"
            );
        }
    }

    /// `k`'s inverse modulo 2^64 (`k` odd), by Newton's iteration.
    fn inverse(k: u64) -> u64 {
        let mut x = k;
        for _ in 0..6 {
            x = x.wrapping_mul(2u64.wrapping_sub(k.wrapping_mul(x)));
        }
        x
    }

    /// The eight bytes whose fixed hash holds `x` when `finish` starts.
    fn word_with_state(x: u64) -> [u8; 8] {
        (x.wrapping_mul(inverse(K)) ^ K.rotate_left(5)).to_le_bytes()
    }

    /// The eight bytes whose fixed hash holds `h` after `finish`'s multiply.
    fn word_with_product(h: u64) -> [u8; 8] {
        let y = h.wrapping_mul(inverse(K));
        word_with_state(y ^ (y >> 29) ^ (y >> 58))
    }

    /// Every step of the fixed hash of one eight-byte word is invertible, so two different
    /// words never collide, even ones chosen to differ only where a fold could merge them.
    #[test]
    fn one_word_keys_never_collide() {
        assert_eq!(K.wrapping_mul(inverse(K)), 1);
        let words = [
            word_with_state(1 << 29),
            word_with_state((1 << 29) | 1),
            word_with_product(1 << 32),
            word_with_product((1 << 32) | 1),
        ];
        for (i, a) in words.iter().enumerate() {
            for b in &words[i + 1..] {
                assert_ne!(a, b);
                assert_ne!(FastHasher::fixed(a), FastHasher::fixed(b), "{a:?} {b:?}");
            }
        }
    }

    /// The fixed hash is the same for equal keys however they are made, and its high bits (the
    /// engine's key filter uses the top 16) spread similar keys: 4096 of them fill most of
    /// 4096 of the 65536 slots.
    #[test]
    fn fixed_is_stable_and_its_high_bits_spread() {
        let key = "host-3-bash7".to_owned();
        assert_eq!(
            FastHasher::fixed(key.as_bytes()),
            FastHasher::fixed(b"host-3-bash7")
        );
        let mut used = std::collections::HashSet::new();
        for i in 0..4096 {
            used.insert(FastHasher::fixed(format!("host-3-bash{i}").as_bytes()) >> 48);
        }
        assert!(used.len() > 3800, "{}", used.len());
    }
}
