//! Query strings as the official SDK sends them: percent-encoded bracket
//! keys (`expand%5B%5D=total_count`), repeated keys for arrays, and several
//! spellings of one parameter (`expand[]` / `expand`, `after` / `cursor`,
//! camelCase aliases). Keys are decoded before matching.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use keyzone_domain::page::{Cursor, PageRequest, PageWindow, Sort, DEFAULT_LIMIT, MAX_LIMIT};

#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Params::parse(parts.uri.query().unwrap_or("")))
    }
}

impl Params {
    pub fn parse(query: &str) -> Self {
        Self {
            pairs: form_urlencoded::parse(query.as_bytes())
                .into_owned()
                // The SDK drops empty values; a stray `k=` means nothing.
                .filter(|(_, v)| !v.is_empty())
                .collect(),
        }
    }

    /// Every value given under any of `names`, in order.
    pub fn all<'s, 'n>(
        &'s self,
        names: &'n [&'n str],
    ) -> impl Iterator<Item = &'s str> + use<'s, 'n> {
        self.pairs
            .iter()
            .filter(move |(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v.as_str())
    }

    /// The single value of a parameter; given twice, the last one wins.
    pub fn one(&self, names: &[&str]) -> Option<&str> {
        self.all(names).last()
    }

    /// The `expand` set: `expand[]` and bare `expand`, repeated or not.
    pub fn expands(&self, what: &str) -> bool {
        self.all(&["expand[]", "expand"]).any(|v| v == what)
    }

    /// `limit`, `after` / `cursor`, `before` and `expand[]=total_count`, in
    /// creation order.
    pub fn page_request(&self) -> Result<PageRequest, ApiError> {
        self.page_request_with(Sort::default())
    }

    /// As [`Params::page_request`], with `sort` over the `allowed` fields.
    pub fn sorted_page_request(&self, allowed: &[&'static str]) -> Result<PageRequest, ApiError> {
        let sort = Sort::parse(self.one(&["sort"]).unwrap_or(""), allowed)
            .map_err(|m| ApiError::invalid("sort", m))?;
        self.page_request_with(sort)
    }

    fn page_request_with(&self, sort: Sort) -> Result<PageRequest, ApiError> {
        let limit = match self.one(&["limit"]) {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::invalid(
                        "limit",
                        format!("must be an integer from 1 to {MAX_LIMIT}"),
                    ))
                }
            },
        };
        let cursor = |name: &'static str, raw: &str| {
            Cursor::decode(raw, &sort)
                .ok_or_else(|| ApiError::invalid(name, "is not a cursor returned by this API"))
        };
        let after = self.one(&["after", "cursor"]);
        let before = self.one(&["before"]);
        let window = match (after, before) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid("before", "cannot be combined with after"))
            }
            (Some(a), None) => PageWindow::After(cursor("after", a)?),
            (None, Some(b)) => PageWindow::Before(cursor("before", b)?),
            (None, None) => PageWindow::First,
        };
        Ok(PageRequest {
            window,
            limit,
            with_total: self.expands("total_count"),
            sort,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracket_keys_are_decoded_and_aliases_merge() {
        let p = Params::parse(
            "expand%5B%5D=total_count&expand=permissions&filter%5Bid%5D=a&filter%5Bid%5D=b&slug=",
        );
        assert!(p.expands("total_count"));
        assert!(p.expands("permissions"));
        assert_eq!(p.all(&["filter[id]"]).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(p.one(&["slug"]), None);
    }

    #[test]
    fn limits() {
        assert_eq!(
            Params::parse("").page_request().unwrap().limit,
            DEFAULT_LIMIT
        );
        assert_eq!(
            Params::parse("limit=100").page_request().unwrap().limit,
            100
        );
        for bad in ["limit=0", "limit=101", "limit=x", "limit=-1", "after=nope"] {
            assert!(Params::parse(bad).page_request().is_err(), "{bad}");
        }
    }
}
