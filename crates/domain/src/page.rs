//! Cursor pagination over a stable total order: the requested sort fields,
//! then the id.
//!
//! Cursors are opaque to clients (base64url of a versioned position that also
//! names the sort it belongs to), so a cursor cannot be replayed against a
//! different sort, and the encoding can change without breaking clients.

use crate::time::Timestamp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// The value of one sort field of one row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    Int(i64),
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub field: &'static str,
    pub descending: bool,
}

/// An order: these keys, then the id ascending as the tie-breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort(pub Vec<SortKey>);

impl Default for Sort {
    fn default() -> Self {
        Sort(vec![SortKey {
            field: "created_at",
            descending: false,
        }])
    }
}

impl Sort {
    /// `name,-created_at`: comma-separated fields of `allowed`, `-` for
    /// descending. Empty means the default (creation order).
    pub fn parse(raw: &str, allowed: &[&'static str]) -> Result<Sort, String> {
        let mut keys = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, descending) = match part.strip_prefix('-') {
                Some(n) => (n, true),
                None => (part.strip_prefix('+').unwrap_or(part), false),
            };
            let field = allowed.iter().find(|a| **a == name).ok_or_else(|| {
                format!("cannot sort by {name:?}; allowed: {}", allowed.join(", "))
            })?;
            if keys.iter().any(|k: &SortKey| k.field == *field) {
                return Err(format!("{name:?} is given twice"));
            }
            keys.push(SortKey { field, descending });
        }
        Ok(if keys.is_empty() {
            Sort::default()
        } else {
            Sort(keys)
        })
    }

    fn signature(&self) -> String {
        self.0
            .iter()
            .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.field))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A position in a sorted list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub values: Vec<SortValue>,
    pub id: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Encoded {
    v: u8,
    s: String,
    k: Vec<SortValue>,
    i: String,
}

impl Cursor {
    pub fn encode(&self, sort: &Sort) -> String {
        let e = Encoded {
            v: 2,
            s: sort.signature(),
            k: self.values.clone(),
            i: self.id.clone(),
        };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&e).expect("cursor serializes"))
    }

    /// `None` for anything this server did not hand out for this sort.
    pub fn decode(s: &str, sort: &Sort) -> Option<Self> {
        if s.is_empty() || s.len() > 255 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(s).ok()?;
        let e: Encoded = serde_json::from_slice(&raw).ok()?;
        if e.v != 2 || e.s != sort.signature() || e.k.len() != sort.0.len() {
            return None;
        }
        if !crate::id::is_valid_id(&e.i) {
            return None;
        }
        Some(Self {
            values: e.k,
            id: e.i,
        })
    }
}

/// Which slice of the order a list call wants. Cursors are kept encoded
/// until the sort is known.
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
    pub sort: Sort,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            window: PageWindow::First,
            limit: DEFAULT_LIMIT,
            with_total: false,
            sort: Sort::default(),
        }
    }
}

/// One page, items always in the requested order whichever way the client
/// walks.
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

    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_, _>>()?,
            has_next: self.has_next,
            has_prev: self.has_prev,
            total_count: self.total_count,
        })
    }
}

/// Something listed in pages knows its sort values and id.
pub trait Positioned {
    fn id_str(&self) -> &str;
    fn created_at(&self) -> Timestamp;
    /// The value of a sort field other than `created_at`.
    fn sort_value(&self, _field: &str) -> Option<SortValue> {
        None
    }

    fn position(&self, sort: &Sort) -> Cursor {
        Cursor {
            values: sort
                .0
                .iter()
                .map(|k| match k.field {
                    "created_at" => SortValue::Int(self.created_at().as_micros()),
                    f => self.sort_value(f).unwrap_or(SortValue::Text(String::new())),
                })
                .collect(),
            id: self.id_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_is_bound_to_its_sort() {
        let sort = Sort::parse("-name,created_at", &["name", "created_at"]).unwrap();
        let c = Cursor {
            values: vec![SortValue::Text("b".into()), SortValue::Int(17)],
            id: "abcdefghij0123456789".into(),
        };
        let enc = c.encode(&sort);
        assert_eq!(Cursor::decode(&enc, &sort), Some(c));
        assert_eq!(Cursor::decode(&enc, &Sort::default()), None);
    }

    #[test]
    fn foreign_cursors_are_refused() {
        for bad in ["", "x", "djE6MTI6Zm9v", &"a".repeat(256)] {
            assert_eq!(Cursor::decode(bad, &Sort::default()), None, "{bad}");
        }
    }

    #[test]
    fn sorts_parse() {
        let allowed = ["created_at", "name", "identifier"];
        assert_eq!(Sort::parse("", &allowed).unwrap(), Sort::default());
        let s = Sort::parse("-name, identifier", &allowed).unwrap();
        assert_eq!(s.0.len(), 2);
        assert!(s.0[0].descending && !s.0[1].descending);
        assert!(Sort::parse("email", &allowed).is_err());
        assert!(Sort::parse("name,-name", &allowed).is_err());
    }
}
