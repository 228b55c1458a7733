//! Cursor pagination over a stable total order: creation time, then id.
//!
//! Cursors are opaque to clients (base64url of a versioned position), so the
//! order key can change without breaking the wire format.

use crate::time::Timestamp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// A position in the (created_at, id) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: Timestamp,
    pub id: String,
}

impl Cursor {
    pub fn new(created_at: Timestamp, id: impl Into<String>) -> Self {
        Self {
            created_at,
            id: id.into(),
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("v1:{}:{}", self.created_at.as_micros(), self.id))
    }

    /// `None` for anything this server did not hand out.
    pub fn decode(s: &str) -> Option<Self> {
        if s.is_empty() || s.len() > 255 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(s).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let rest = raw.strip_prefix("v1:")?;
        let (micros, id) = rest.split_once(':')?;
        let micros: i64 = micros.parse().ok()?;
        if !crate::id::is_valid_id(id) {
            return None;
        }
        Some(Self::new(Timestamp::from_micros(micros), id))
    }
}

/// Which slice of the order a list call wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageWindow {
    First,
    After(Cursor),
    Before(Cursor),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub window: PageWindow,
    pub limit: u32,
    pub with_total: bool,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            window: PageWindow::First,
            limit: DEFAULT_LIMIT,
            with_total: false,
        }
    }
}

/// One page, items always in ascending order whichever way the client walks.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    pub has_prev: bool,
    pub total_count: Option<u64>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_next: self.has_next,
            has_prev: self.has_prev,
            total_count: self.total_count,
        }
    }
}

/// Something listed in pages knows its own position.
pub trait Positioned {
    fn position(&self) -> Cursor;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let c = Cursor::new(
            Timestamp::from_micros(1_700_000_000_123_456),
            "abcdefghij0123456789",
        );
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
    }

    #[test]
    fn foreign_cursors_are_refused() {
        for bad in ["", "x", "djE6MTI6Zm9v", &"a".repeat(256)] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
