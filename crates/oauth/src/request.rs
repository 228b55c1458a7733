//! Token requests (RFC 6749 §3.2, §4.4; RFC 8693; RFC 8707), parsed from
//! the form body. Unknown parameters are ignored (the official clients send
//! a few stray ones, e.g. `audience` and `subject_token_type` on a
//! client-credentials request).

use crate::error::OAuthError;

pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";

/// The form body as pairs, in order; parameters that may repeat
/// (`resource`) are read with [`Form::all`].
#[derive(Debug, Clone, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
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
                "the {name} parameter was given more than once"
            )));
        }
        Ok(first)
    }

    pub fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.one(name)?
            .ok_or_else(|| OAuthError::invalid_request(format!("the {name} parameter is required")))
    }

    /// `resource` values, and `audience` as their alias (RFC 8693 §2.1),
    /// without duplicates, in order.
    pub fn resources(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in self.all("resource").chain(self.all("audience")) {
            let v = v.trim();
            if !v.is_empty() && !out.iter().any(|o| o == v) {
                out.push(v.to_owned());
            }
        }
        out
    }

    /// `scope` as a list (RFC 6749 §3.3: space-delimited).
    pub fn scopes(&self) -> Result<Vec<String>, OAuthError> {
        Ok(self
            .one("scope")?
            .map(|s| {
                let mut v: Vec<String> = Vec::new();
                for t in s.split(' ').filter(|t| !t.is_empty()) {
                    if !v.iter().any(|x| x == t) {
                        v.push(t.to_owned());
                    }
                }
                v
            })
            .unwrap_or_default())
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
        assert_eq!(f.resources(), ["https://a", "https://b"]);
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
