//! A small time-bounded cache for the token endpoint's lookups.
//!
//! Entries live for a fixed, short time (one second by default), so a
//! change made through any node (a credential deleted, a resource changed)
//! takes effect on every node within that time, without cross-node
//! invalidation. Misses are cached too, so unknown clients cannot turn
//! every request into a query.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    max_entries: usize,
    map: RwLock<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            map: RwLock::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let map = self.map.read().expect("cache lock");
        match map.get(key) {
            Some((at, v)) if at.elapsed() < self.ttl => Some(v.clone()),
            _ => None,
        }
    }

    pub fn put(&self, key: K, value: V) {
        let mut map = self.map.write().expect("cache lock");
        if map.len() >= self.max_entries {
            // Bounded memory: drop what has expired, and everything if that
            // is not enough (the next requests refill it).
            let ttl = self.ttl;
            map.retain(|_, (at, _)| at.elapsed() < ttl);
            if map.len() >= self.max_entries {
                map.clear();
            }
        }
        map.insert(key, (Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_memory_is_bounded() {
        let c = TtlCache::new(Duration::from_millis(30), 2);
        c.put("a", 1);
        assert_eq!(c.get(&"a"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get(&"a"), None);
        c.put("a", 1);
        c.put("b", 2);
        c.put("c", 3);
        assert_eq!(c.get(&"c"), Some(3));
        assert!(c.map.read().unwrap().len() <= 2);
    }
}
