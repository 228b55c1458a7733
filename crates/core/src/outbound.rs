//! The port for outbound HTTP: documents the zone fetches from other
//! servers (JWKS, OpenID/OAuth discovery, client identity documents) and
//! form POSTs to upstream token endpoints.
//!
//! The HTTP client itself (timeouts, size caps, the SSRF guard) is
//! implemented by `keyzone-outbound`; the caching rules for documents live
//! with their user, `keyzone-authserver`'s document cache.

use async_trait::async_trait;
use std::time::Duration;

/// A fetched JSON document and how long its server says it may be kept.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub body: serde_json::Value,
    /// `max-age` from `Cache-Control`; `Some(0)` for `no-store`/`no-cache`.
    pub max_age: Option<Duration>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    /// The URL is not one this server fetches (scheme, a private address).
    #[error("refused to fetch {0}")]
    Refused(String),
    /// The server did not answer usefully (timeout, status, size, not JSON).
    #[error("could not fetch {0}")]
    Failed(String),
}

/// How a form POST authenticates its client (RFC 6749 §2.3.1).
#[derive(Clone, Copy)]
pub enum FormAuth<'a> {
    /// No client authentication (a public client, or an unauthenticated
    /// request such as revocation at some providers).
    None { client_id: Option<&'a str> },
    /// `client_secret_basic`: HTTP Basic with the form-urlencoded pair.
    Basic {
        client_id: &'a str,
        client_secret: &'a str,
    },
    /// `client_secret_post`: the pair in the form body.
    Post {
        client_id: &'a str,
        client_secret: &'a str,
    },
}

/// Shows which method and client, never the secret.
impl std::fmt::Debug for FormAuth<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormAuth::None { client_id } => write!(f, "None({client_id:?})"),
            FormAuth::Basic { client_id, .. } => write!(f, "Basic({client_id}, <redacted>)"),
            FormAuth::Post { client_id, .. } => write!(f, "Post({client_id}, <redacted>)"),
        }
    }
}

/// An `application/x-www-form-urlencoded` POST to an upstream endpoint
/// (token, revocation), answered with JSON.
#[derive(Debug, Clone, Copy)]
pub struct FormPost<'a> {
    pub url: &'a str,
    pub form: &'a [(&'a str, &'a str)],
    pub auth: FormAuth<'a>,
}

/// What an upstream endpoint answered: its status and JSON body (`Null`
/// when the body was empty, as RFC 7009 revocation answers).
#[derive(Debug, Clone)]
pub struct FormResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

#[async_trait]
pub trait Fetcher: Send + Sync {
    /// `GET url` expecting a JSON object.
    async fn get_json(&self, url: &str) -> Result<Fetched, FetchError>;

    /// POSTs a form, with the client authentication asked for, under the
    /// same guard, timeouts and caps as [`Fetcher::get_json`]. Any HTTP
    /// status is a response (an upstream's RFC 6749 §5.2 error is for the
    /// caller to read); no answer, or one that is not JSON, is an error.
    /// A fetcher without outbound access refuses.
    async fn post_form(&self, post: FormPost<'_>) -> Result<FormResponse, FetchError> {
        Err(FetchError::Refused(post.url.to_owned()))
    }
}

/// A fetcher for deployments and tests without outbound access.
pub struct NoOutbound;

#[async_trait]
impl Fetcher for NoOutbound {
    async fn get_json(&self, url: &str) -> Result<Fetched, FetchError> {
        Err(FetchError::Refused(url.to_owned()))
    }
}
