//! Query strings as the official SDK sends them: percent-encoded bracket
//! keys (`expand%5B%5D=total_count`), repeated keys for arrays, and several
//! spellings of one parameter (`expand[]` / `expand`, `after` / `cursor`,
//! camelCase aliases). Keys are decoded before matching.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use keyzone_core::store::ListFilter;
use keyzone_domain::page::{Cursor, PageRequest, PageWindow, Sort, DEFAULT_LIMIT, MAX_LIMIT};

#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let params = Params::parse(parts.uri.query().unwrap_or(""));
        // One input rule for text at the edge: a control character (NUL
        // included) is never a valid query value, on any database.
        if let Some((k, _)) = params
            .pairs
            .iter()
            .find(|(k, v)| k.chars().chain(v.chars()).any(char::is_control))
        {
            let name: String = k.chars().filter(|c| !c.is_control()).take(64).collect();
            return Err(ApiError::invalid(
                &name,
                "must not contain control characters",
            ));
        }
        Ok(params)
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

    /// The directory lists' common filters (the singular `identifier` is
    /// left to each list: resources resolve it by prefix). `filter[id]` takes at most 100
    /// ids, excludes cursors, and without `limit` sets the page size to the
    /// number of ids.
    pub fn list_filter(&self) -> Result<(ListFilter, Option<u32>), ApiError> {
        let all = |names: &[&str]| -> Vec<String> {
            self.all(names)
                .flat_map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let ids = all(&["filter[id]"]);
        if ids.len() > 100 {
            return Err(ApiError::invalid("filter[id]", "at most 100 ids"));
        }
        if !ids.is_empty() && (self.one(&["after", "cursor", "before"]).is_some()) {
            return Err(ApiError::invalid(
                "filter[id]",
                "cannot be combined with after or before",
            ));
        }
        let owner_type = match self.one(&["filter[owner_type]", "owner_type"]) {
            None => None,
            Some(v) => Some(keyzone_domain::zone::OwnerType::parse(v).ok_or_else(|| {
                ApiError::invalid("filter[owner_type]", "must be platform or customer")
            })?),
        };
        let identifiers = all(&["filter[identifier]"]);
        let mut slugs = all(&["filter[slug]"]);
        slugs.extend(self.all(&["slug"]).map(str::to_owned));
        let default_limit =
            (!ids.is_empty() && self.one(&["limit"]).is_none()).then_some(ids.len() as u32);
        Ok((
            ListFilter {
                ids,
                identifiers,
                slugs,
                query_any: self.all(&["query[]", "query"]).map(str::to_owned).collect(),
                query_name: self.all(&["query[name]"]).map(str::to_owned).collect(),
                query_identifier: self
                    .all(&["query[identifier]"])
                    .map(str::to_owned)
                    .collect(),
                owner_type,
                ..Default::default()
            },
            default_limit,
        ))
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
