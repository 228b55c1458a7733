//! `ETag` and `If-Match` (RFC 9110 §8.8.3, §13.1.1) for the management
//! API's records: the ETag is the record's version, its `updated_at` in
//! microseconds, which moves forward on every write. A PATCH with
//! `If-Match` naming another version gets 412 and changes nothing.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use keyzone_core::error::IfMatch;
use keyzone_domain::Timestamp;

/// The request's `If-Match`: absent or `*` → no precondition; an ETag of
/// ours → that version; anything else matches no version (→ 412).
pub struct IfMatchHeader(pub IfMatch);

impl<S: Send + Sync> FromRequestParts<S> for IfMatchHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(v) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatchHeader(None));
        };
        let v = v.to_str().unwrap_or("").trim();
        if v == "*" {
            return Ok(IfMatchHeader(None));
        }
        Ok(IfMatchHeader(Some(
            parse(v).unwrap_or(Timestamp::from_micros(i64::MIN)),
        )))
    }
}

fn parse(v: &str) -> Option<Timestamp> {
    // The first entity-tag of the list; weak tags compare as strong here.
    let first = v.split(',').next()?.trim();
    let first = first.strip_prefix("W/").unwrap_or(first);
    let inner = first.strip_prefix('"')?.strip_suffix('"')?;
    inner.parse::<i64>().ok().map(Timestamp::from_micros)
}

/// The ETag of a record version.
pub fn etag(updated_at: Timestamp) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", updated_at.as_micros()))
        .expect("digits and quotes are a valid header value")
}

/// `body` with the ETag of the record version it shows.
pub fn with_etag(updated_at: Timestamp, body: impl IntoResponse) -> Response {
    let mut res = body.into_response();
    res.headers_mut().insert(header::ETAG, etag(updated_at));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip() {
        let t = Timestamp::from_micros(1_700_000_000_123_456);
        let e = etag(t);
        assert_eq!(parse(e.to_str().unwrap()), Some(t));
        assert_eq!(parse("W/\"5\", \"6\""), Some(Timestamp::from_micros(5)));
        assert_eq!(parse("nonsense"), None);
    }
}
