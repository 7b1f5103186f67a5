//! Bounded memory of the enricher: the images of processes seen exec'ing (so a connect names
//! its process and parent after they exited), the trusted sessions of sshd processes, and user
//! names. Each is a map with a fixed capacity that forgets its oldest entry first; nothing
//! here reads the clock or `/proc`.

use std::{
    collections::{HashMap, VecDeque},
    hash::Hash,
};

use sensor_common::ExeId;

use crate::event::Session;

/// Processes remembered; the oldest is forgotten first.
pub const PROCESS_CACHE_LEN: usize = 4096;

/// sshd session processes whose connection was looked up.
pub const SESSION_CACHE_LEN: usize = 1024;

/// User names remembered.
pub const USER_CACHE_LEN: usize = 1024;

/// What the enricher knows of one process image, keyed by (tgid, start).
#[derive(Clone, Debug, Default)]
pub struct Image {
    pub exe: ExeId,
    pub executable: Option<String>,
    pub args: Option<Vec<String>>,
    /// `args` is not the whole argv.
    pub args_truncated: bool,
    pub session: Option<Session>,
}

/// A map of at most `capacity` entries; inserting a new key beyond that forgets the oldest.
#[derive(Debug)]
pub struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Copy + Eq + Hash, V> Bounded<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Inserts or replaces; a replaced entry keeps its place in the order.
    pub fn insert(&mut self, key: K, value: V) {
        if self.map.insert(key, value).is_none() {
            self.order.push_back(key);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }
}

/// Images by (tgid, start).
pub type ProcessCache = Bounded<(u32, u64), Image>;

/// Trusted sessions by the sshd process's (pid, start), once its monitor confirmed them.
pub type SessionCache = Bounded<(u32, u64), Session>;

/// User names by uid; `None`: no such user.
pub type UserCache = Bounded<u32, Option<String>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_beyond_capacity() {
        let mut cache: Bounded<u32, u32> = Bounded::new(2);
        cache.insert(1, 10);
        cache.insert(2, 20);
        cache.insert(1, 11);
        cache.insert(3, 30);
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.get(&2), Some(&20));
        assert_eq!(cache.get(&3), Some(&30));
        assert_eq!(cache.len(), 2);
    }
}
