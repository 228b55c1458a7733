//! Token requests (RFC 6749 §3.2, §4.4; RFC 8693; RFC 8707), parsed from
//! the form body. Unknown parameters are ignored (the official clients send
//! a few stray ones, e.g. `audience` and `subject_token_type` on a
//! client-credentials request).

use crate::error::{echo, ErrorCode, OAuthError};
use std::collections::HashSet;

/// Bounds on what one request may ask for, so the work per request stays
/// small and linear (documented in docs/authorization-server.md).
pub const MAX_PARAMETERS: usize = 256;
pub const MAX_RESOURCES: usize = 32;
pub const MAX_RESOURCE_LEN: usize = 2048;
pub const MAX_SCOPES: usize = 100;
pub const MAX_SCOPE_LEN: usize = 255;

pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";

/// The scopes a zone grants itself (OpenID Connect Core §5.4, §11): they
/// need no resource to define them.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The form body as pairs, in order; parameters that may repeat
/// (`resource`) are read with [`Form::all`].
#[derive(Debug, Clone, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

/// Duplicate detection that stays linear without allocating for the few
/// values a request usually has: a scan of up to [`Seen::FEW`] values on
/// the stack, then a hash set (so 100,000 values cost 100,000 look-ups,
/// not 10^10).
struct Seen<'a> {
    few: [&'a str; Seen::FEW],
    len: usize,
    many: Option<HashSet<&'a str>>,
}

impl<'a> Seen<'a> {
    const FEW: usize = 16;

    fn new() -> Self {
        Self {
            few: [""; Self::FEW],
            len: 0,
            many: None,
        }
    }

    /// True the first time `v` is seen.
    fn insert(&mut self, v: &'a str) -> bool {
        if let Some(set) = &mut self.many {
            return set.insert(v);
        }
        if self.few[..self.len].contains(&v) {
            return false;
        }
        if self.len < Self::FEW {
            self.few[self.len] = v;
            self.len += 1;
        } else {
            let mut set: HashSet<&'a str> = self.few.iter().copied().collect();
            set.insert(v);
            self.many = Some(set);
        }
        true
    }
}

impl Form {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// Parses an `application/x-www-form-urlencoded` body. Refused with
    /// `invalid_request`: more than [`MAX_PARAMETERS`] parameters, and any
    /// name or value with a control character (NUL included) — text with
    /// those is never a valid parameter, and refusing it here keeps it out
    /// of every look-up on every database.
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut pairs = Vec::new();
        for (k, v) in form_urlencoded::parse(body) {
            if pairs.len() == MAX_PARAMETERS {
                return Err(OAuthError::invalid_request(format!(
                    "the request has more than {MAX_PARAMETERS} parameters"
                )));
            }
            if k.chars().chain(v.chars()).any(char::is_control) {
                return Err(OAuthError::invalid_request(format!(
                    "the {} parameter contains a control character",
                    echo(&k)
                )));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self { pairs })
    }

    pub fn all<'s, 'n>(&'s self, name: &'n str) -> impl Iterator<Item = &'s str> + use<'s, 'n> {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter that must appear at most once (RFC 6749 §3.2: "Request
    /// and response parameters MUST NOT be included more than once").
    pub fn one(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut it = self.all(name).filter(|v| !v.is_empty());
        let first = it.next();
        if it.next().is_some() {
            return Err(OAuthError::invalid_request(format!(
                "the {} parameter was given more than once",
                echo(name)
            )));
        }
        Ok(first)
    }

    pub fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.one(name)?.ok_or_else(|| {
            OAuthError::invalid_request(format!("the {} parameter is required", echo(name)))
        })
    }

    /// `resource` values, and `audience` as their alias (RFC 8693 §2.1),
    /// without duplicates, in order; at most [`MAX_RESOURCES`] of at most
    /// [`MAX_RESOURCE_LEN`] bytes each.
    pub fn resources(&self) -> Result<Vec<String>, OAuthError> {
        let mut out: Vec<String> = Vec::new();
        let mut seen = Seen::new();
        for v in self.all("resource").chain(self.all("audience")) {
            let v = v.trim();
            if v.is_empty() || !seen.insert(v) {
                continue;
            }
            if v.len() > MAX_RESOURCE_LEN {
                return Err(OAuthError::new(
                    ErrorCode::InvalidTarget,
                    format!("a resource may be at most {MAX_RESOURCE_LEN} bytes long"),
                ));
            }
            if out.len() == MAX_RESOURCES {
                return Err(OAuthError::new(
                    ErrorCode::InvalidTarget,
                    format!("at most {MAX_RESOURCES} resources may be requested at once"),
                ));
            }
            out.push(v.to_owned());
        }
        Ok(out)
    }

    /// `scope` as a list (RFC 6749 §3.3: space-delimited), without
    /// duplicates, in order; at most [`MAX_SCOPES`] of at most
    /// [`MAX_SCOPE_LEN`] bytes each.
    pub fn scopes(&self) -> Result<Vec<String>, OAuthError> {
        let Some(s) = self.one("scope")? else {
            return Ok(Vec::new());
        };
        let mut v: Vec<String> = Vec::new();
        let mut seen = Seen::new();
        for t in s.split(' ').filter(|t| !t.is_empty()) {
            if !seen.insert(t) {
                continue;
            }
            if t.len() > MAX_SCOPE_LEN {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("a scope may be at most {MAX_SCOPE_LEN} bytes long"),
                ));
            }
            if v.len() == MAX_SCOPES {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("at most {MAX_SCOPES} scopes may be requested at once"),
                ));
            }
            v.push(t.to_owned());
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn resources_merge_audience_and_dedupe() {
        let f = form(&[
            ("resource", "https://a"),
            ("audience", "https://a"),
            ("resource", "https://b"),
        ]);
        assert_eq!(f.resources().unwrap(), ["https://a", "https://b"]);
    }

    #[test]
    fn bounded_and_linear() {
        let many: Vec<String> = (0..100_000).map(|i| format!("s{i}")).collect();
        let f = form(&[("scope", &many.join(" "))]);
        let started = std::time::Instant::now();
        assert_eq!(f.scopes().unwrap_err().code, ErrorCode::InvalidScope);
        // The same scope repeated is deduplicated in linear time.
        let f = form(&[("scope", &"a ".repeat(200_000))]);
        assert_eq!(f.scopes().unwrap(), ["a"]);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let urls: Vec<(String, String)> = (0..40)
            .map(|i| ("resource".into(), format!("https://a/{i}")))
            .collect();
        assert_eq!(
            Form::new(urls).resources().unwrap_err().code,
            ErrorCode::InvalidTarget
        );
        // Duplicates are found on both sides of the switch to the set.
        let mut list: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
        list.extend(["s0", "s15", "s16", "s19"].map(String::from));
        let f = form(&[("scope", &list.join(" "))]);
        assert_eq!(f.scopes().unwrap().len(), 20);
        let long = "x".repeat(MAX_SCOPE_LEN + 1);
        assert!(form(&[("scope", &long)]).scopes().is_err());
    }

    #[test]
    fn control_characters_and_floods_are_refused() {
        assert!(Form::parse(b"grant_type=client_credentials&scope=a").is_ok());
        let e = Form::parse(b"client_id=a%00b").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.description.contains("client_id"));
        assert!(Form::parse(b"resource=https%3A%2F%2Fa%0A").is_err());
        let flood = "a=1&".repeat(MAX_PARAMETERS + 1);
        assert!(Form::parse(flood.as_bytes()).is_err());
        let huge = format!("scope={}", "g".repeat(70_000));
        let e = Form::parse(huge.as_bytes()).unwrap().scopes().unwrap_err();
        assert!(e.description.len() < 200, "{}", e.description);
    }

    #[test]
    fn single_parameters_refuse_repeats() {
        let f = form(&[("grant_type", "a"), ("grant_type", "b")]);
        assert!(f.one("grant_type").is_err());
        assert!(f.required("scope").is_err());
        let f = form(&[("scope", "read  write read")]);
        assert_eq!(f.scopes().unwrap(), ["read", "write"]);
    }
}
