//! The zone's public endpoints, under its issuer (`/z/{zone_id}/…`, or
//! `/…` on the zone's own host). Errors here use OAuth's JSON error format
//! (RFC 6749 §5.2), not the management API's.
//!
//! Today: the JWKS. The authorization server's endpoints join it here.

use crate::context::FinalBody;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyzone_core::signing::JWKS_MAX_AGE;
use keyzone_core::CoreError;
use keyzone_domain::ZoneId;
use std::sync::Arc;

/// An error of a zone endpoint: `{error, error_description}`.
pub struct ZoneError {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
}

impl ZoneError {
    fn not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            error: "invalid_request",
            description: "no such zone",
        }
    }
}

impl From<CoreError> for ZoneError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound { .. } => ZoneError::not_found(),
            CoreError::KeyUnavailable(m) => {
                tracing::error!(error = %m, "zone key unavailable");
                ZoneError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    error: "temporarily_unavailable",
                    description: "the zone's keys are unavailable",
                }
            }
            other => {
                tracing::error!(error = %other, source = ?std::error::Error::source(&other), "zone endpoint failed");
                ZoneError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    error: "server_error",
                    description: "internal error",
                }
            }
        }
    }
}

impl IntoResponse for ZoneError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({
                "error": self.error,
                "error_description": self.description,
            })),
        )
            .into_response();
        res.extensions_mut().insert(FinalBody);
        res
    }
}

/// JSON Web Key Set (RFC 7517 §5): every key that may still verify a live
/// token of the zone, and never a private part. Cacheable for
/// `JWKS_MAX_AGE`: a key is published at least twice that long before it
/// signs (see `keyzone_core::signing`).
pub async fn jwks(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
) -> Result<Response, ZoneError> {
    let zone = ZoneId::parse(&zone_id).map_err(|_| ZoneError::not_found())?;
    let jwks = state.signing.jwks(&zone).await?;
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
    Ok(res)
}
