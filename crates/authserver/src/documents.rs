//! The document cache of outbound fetches: JWKS, OpenID/OAuth discovery
//! documents and URL client identity documents.
//!
//! The caching rules are the same whatever fetches: a document is kept for
//! its `Cache-Control: max-age` (clamped to [`MIN_TTL`]..[`MAX_TTL`],
//! [`DEFAULT_TTL`] without one), and a forced refetch (for a JWKS that lacks
//! a `kid`) happens at most once per [`REFETCH_INTERVAL`] per URL.

use keyzone_core::outbound::{FetchError, Fetcher};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Even `no-store` documents are reused this long: a burst of token
/// requests makes one fetch, not one each.
pub const MIN_TTL: Duration = Duration::from_secs(5);
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// A failed fetch is remembered this long, so an unreachable issuer does
/// not receive one request per token request.
pub const FAILURE_TTL: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    fetched_at: Instant,
    ttl: Duration,
    result: Result<Arc<serde_json::Value>, FetchError>,
}

/// A cache of fetched documents, keyed by URL.
pub struct DocumentCache {
    fetcher: Arc<dyn Fetcher>,
    entries: Mutex<HashMap<String, Entry>>,
}

impl DocumentCache {
    pub fn new(fetcher: Arc<dyn Fetcher>) -> Self {
        Self {
            fetcher,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The document at `url`, from the cache while it is fresh.
    pub async fn get(&self, url: &str) -> Result<Arc<serde_json::Value>, FetchError> {
        if let Some(r) = self.fresh(url, None) {
            return r;
        }
        self.fetch(url).await
    }

    /// Fetches `url` again unless it was fetched within
    /// [`REFETCH_INTERVAL`]; `None` when that limit applies.
    pub async fn refetch(&self, url: &str) -> Option<Result<Arc<serde_json::Value>, FetchError>> {
        if self.fresh(url, Some(REFETCH_INTERVAL)).is_some() {
            return None;
        }
        Some(self.fetch(url).await)
    }

    fn fresh(
        &self,
        url: &str,
        younger_than: Option<Duration>,
    ) -> Option<Result<Arc<serde_json::Value>, FetchError>> {
        let entries = self.entries.lock().expect("document cache lock");
        let e = entries.get(url)?;
        let age = e.fetched_at.elapsed();
        (age < younger_than.unwrap_or(e.ttl)).then(|| e.result.clone())
    }

    async fn fetch(&self, url: &str) -> Result<Arc<serde_json::Value>, FetchError> {
        let (result, ttl) = match self.fetcher.get_json(url).await {
            Ok(f) => (
                Ok(Arc::new(f.body)),
                f.max_age.unwrap_or(DEFAULT_TTL).clamp(MIN_TTL, MAX_TTL),
            ),
            Err(e) => {
                tracing::warn!(url, error = %e, "outbound fetch failed");
                (Err(e), FAILURE_TTL)
            }
        };
        let mut entries = self.entries.lock().expect("document cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.fetched_at.elapsed() < e.ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            url.to_owned(),
            Entry {
                fetched_at: Instant::now(),
                ttl,
                result: result.clone(),
            },
        );
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use keyzone_core::outbound::Fetched;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        calls: AtomicUsize,
        max_age: Option<Duration>,
    }

    #[async_trait]
    impl Fetcher for Counting {
        async fn get_json(&self, _url: &str) -> Result<Fetched, FetchError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(Fetched {
                body: serde_json::json!({ "n": n }),
                max_age: self.max_age,
            })
        }
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        // The futures here never wait on I/O: poll them to completion.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn documents_are_cached_and_refetches_are_rate_limited() {
        let f = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            max_age: Some(Duration::from_secs(600)),
        });
        let cache = DocumentCache::new(f.clone());
        assert_eq!(block(cache.get("https://a")).unwrap()["n"], 0);
        assert_eq!(block(cache.get("https://a")).unwrap()["n"], 0);
        assert_eq!(f.calls.load(Ordering::SeqCst), 1);
        // Just fetched: a forced refetch is refused until REFETCH_INTERVAL.
        assert!(block(cache.refetch("https://a")).is_none());
        assert_eq!(block(cache.get("https://b")).unwrap()["n"], 1);
    }

    #[test]
    fn no_store_is_kept_only_briefly() {
        let f = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            max_age: Some(Duration::ZERO),
        });
        let cache = DocumentCache::new(f.clone());
        block(cache.get("https://a")).unwrap();
        block(cache.get("https://a")).unwrap();
        assert_eq!(f.calls.load(Ordering::SeqCst), 1, "MIN_TTL applies");
    }
}
