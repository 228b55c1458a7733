//! A small time-bounded cache for the token endpoint's lookups.
//!
//! Entries live for a fixed, short time (one second by default), so a
//! change made through any node (a credential deleted, a resource changed)
//! takes effect on every node within that time, without cross-node
//! invalidation. Misses are cached too, so unknown clients cannot turn
//! every request into a query.
//!
//! When an entry expires under load, one caller refreshes it while the
//! others keep using the expired value for at most [`REFRESH_GRACE`]: a
//! popular key costs one query per lifetime, not one per concurrent
//! request (measured: 64 connections re-querying the same four keys every
//! second woke the database threads ~1,000 times a second).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How long an expired entry may still be served while one caller
/// refreshes it. If that refresh fails, everyone misses after this.
pub const REFRESH_GRACE: Duration = Duration::from_millis(250);

/// Whether an entry of this age may still be served: while fresh, and
/// after expiry only to callers other than the first, who refreshes it
/// (and has `refreshing` set by this call), for at most [`REFRESH_GRACE`].
pub(crate) fn serve_while_refreshing(
    age: Duration,
    ttl: Duration,
    refreshing: &AtomicBool,
) -> bool {
    age < ttl || (age < ttl + REFRESH_GRACE && refreshing.swap(true, Ordering::AcqRel))
}

struct Entry<V> {
    at: Instant,
    value: V,
    refreshing: AtomicBool,
}

pub struct TtlCache<K, V> {
    ttl: Duration,
    max_entries: usize,
    map: RwLock<HashMap<K, Entry<V>>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            map: RwLock::new(HashMap::new()),
        }
    }

    /// The cached value; `None` means the caller should look it up and
    /// [`put`](Self::put) it (a miss, or it is this caller's turn to
    /// refresh an expired entry).
    pub fn get(&self, key: &K) -> Option<V> {
        let map = self.map.read().expect("cache lock");
        let e = map.get(key)?;
        serve_while_refreshing(e.at.elapsed(), self.ttl, &e.refreshing).then(|| e.value.clone())
    }

    /// The cached value, else `load`'s, which is then cached.
    pub async fn get_or_load<E, Fut>(&self, key: K, load: impl FnOnce() -> Fut) -> Result<V, E>
    where
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        if let Some(v) = self.get(&key) {
            return Ok(v);
        }
        let v = load().await?;
        self.put(key, v.clone());
        Ok(v)
    }

    pub fn put(&self, key: K, value: V) {
        let mut map = self.map.write().expect("cache lock");
        if map.len() >= self.max_entries {
            // Bounded memory: drop what has expired, and everything if that
            // is not enough (the next requests refill it).
            let ttl = self.ttl;
            map.retain(|_, e| e.at.elapsed() < ttl);
            if map.len() >= self.max_entries {
                map.clear();
            }
        }
        map.insert(
            key,
            Entry {
                at: Instant::now(),
                value,
                refreshing: AtomicBool::new(false),
            },
        );
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

    #[test]
    fn one_caller_refreshes_an_expired_entry() {
        let c = TtlCache::new(Duration::from_millis(20), 10);
        c.put("k", 1);
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(c.get(&"k"), None, "the first caller refreshes");
        assert_eq!(c.get(&"k"), Some(1), "the others keep the old value");
        c.put("k", 2);
        assert_eq!(c.get(&"k"), Some(2));
        // A refresh that never comes: everyone misses after the grace.
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(c.get(&"k"), None);
        std::thread::sleep(REFRESH_GRACE);
        assert_eq!(c.get(&"k"), None);
        assert_eq!(c.get(&"k"), None);
    }
}
