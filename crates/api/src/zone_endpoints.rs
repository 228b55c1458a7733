//! The zone's public endpoints, under its issuer (`/z/{zone_id}/…`, or
//! `/…` on the zone's own host). Errors here use OAuth's JSON error format
//! (RFC 6749 §5.2), not the management API's.
//!
//! The JWKS; the authorization server's endpoints are in `oauth.rs`, the
//! surface and its error shape in `zone.rs`.

use crate::zone::{core_error, no_such_zone};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use keyzone_core::signing::JWKS_MAX_AGE;
use keyzone_domain::ZoneId;
use std::sync::Arc;

/// JSON Web Key Set (RFC 7517 §5): every key that may still verify a live
/// token of the zone, and never a private part. Cacheable for
/// `JWKS_MAX_AGE`: a key is published at least twice that long before it
/// signs (see `keyzone_core::signing`).
pub async fn jwks(State(state): State<Arc<AppState>>, Path(zone_id): Path<String>) -> Response {
    let Ok(zone) = ZoneId::parse(&zone_id) else {
        return no_such_zone();
    };
    let jwks = match state.signing.jwks(&zone).await {
        Ok(j) => j,
        Err(e) => return core_error(e),
    };
    let mut res = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        jwks.to_string(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={}", JWKS_MAX_AGE.as_secs())) {
        res.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    res
}
