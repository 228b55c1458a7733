//! The zone protocol surface: every endpoint under a zone's issuer
//! (`/z/{zone_id}/…`, or `/…` on the zone's own host) plus the RFC 8414
//! path-inserted metadata. Errors here are OAuth's JSON
//! `{error, error_description}` (RFC 6749 §5.2) — including those no
//! handler wrote (405, 413, a caught panic) — never the management body.
//!
//! A new protocol endpoint is a route in [`router`], its handler in
//! `oauth.rs` (or a module of its own), and a use case in
//! `keyzone-authserver`.

use crate::context::{needs_body, panic_response, FinalBody};
use crate::{oauth, zone_endpoints, AppState, MAX_BODY_BYTES};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use keyzone_core::CoreError;
use keyzone_oauth::{ErrorCode, OAuthError};
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

pub fn router() -> Router<Arc<AppState>> {
    let routes = Router::new()
        .route(
            "/z/{zone_id}/.well-known/jwks.json",
            get(zone_endpoints::jwks),
        )
        .route(
            "/z/{zone_id}/.well-known/oauth-authorization-server",
            get(oauth::authorization_server_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server/z/{zone_id}",
            get(oauth::authorization_server_metadata),
        )
        .route(
            "/z/{zone_id}/.well-known/openid-configuration",
            get(oauth::openid_configuration),
        )
        .route(
            "/.well-known/openid-configuration/z/{zone_id}",
            get(oauth::openid_configuration),
        )
        .route("/z/{zone_id}/oauth/token", post(oauth::token))
        .route("/z/{zone_id}/oauth/register", post(oauth::register))
        .route("/z/{zone_id}/oauth/introspect", post(oauth::introspect))
        .route("/z/{zone_id}/oauth/revoke", post(oauth::revoke))
        .route(
            "/z/{zone_id}/oauth/userinfo",
            get(oauth::userinfo).post(oauth::userinfo),
        );
    with_layers(routes)
}

/// The surface's layers (outermost last): its error finisher, the panic
/// catcher and the body limits.
pub fn with_layers(routes: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    routes
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        // A plain response map (no boxing): this runs on every token request.
        .layer(tower::util::MapResponseLayer::new(finish_zone_errors))
}

/// Whether a path belongs to this surface (for the shared fallback).
pub fn owns(path: &str) -> bool {
    path.starts_with("/z/")
        || path.starts_with("/.well-known/oauth-authorization-server/")
        || path.starts_with("/.well-known/openid-configuration/")
}

/// The surface's one error renderer: RFC 6749 §5.2 JSON with the code's
/// status, `no-store`, and `WWW-Authenticate` on a 401.
pub fn error_response(e: &OAuthError) -> Response {
    let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    with_status(e, status)
}

/// [`error_response`] with a status the code alone does not give (404 for
/// an unknown zone, 403 for registration turned off).
pub fn with_status(e: &OAuthError, status: StatusCode) -> Response {
    let mut res = (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({
            "error": e.code.as_str(),
            "error_description": e.description,
        })),
    )
        .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if status == StatusCode::UNAUTHORIZED {
        let challenge = if e.code == ErrorCode::InvalidToken {
            // RFC 6750 §3: a protected resource's challenge.
            HeaderValue::from_static("Bearer error=\"invalid_token\"")
        } else {
            // RFC 6749 §5.2: invalid_client on a 401 names the scheme.
            HeaderValue::from_static("Basic realm=\"token\"")
        };
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge);
    }
    res.extensions_mut().insert(FinalBody);
    res
}

/// An unknown (or malformed) zone id.
pub fn no_such_zone() -> Response {
    with_status(
        &OAuthError::new(ErrorCode::InvalidRequest, "no such zone"),
        StatusCode::NOT_FOUND,
    )
}

/// A use-case failure below the protocol, logged and answered generically.
pub fn core_error(e: CoreError) -> Response {
    match e {
        CoreError::NotFound { .. } => no_such_zone(),
        CoreError::KeyUnavailable(m) => {
            tracing::error!(error = %m, "zone key unavailable");
            error_response(&OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "the zone's keys are unavailable",
            ))
        }
        other => {
            tracing::error!(error = %other, source = ?std::error::Error::source(&other), "zone endpoint failed");
            error_response(&OAuthError::server_error())
        }
    }
}

/// The body for an error response no handler shaped, by status.
pub fn bare(status: StatusCode) -> Response {
    let (code, description) = match status.as_u16() {
        404 => (ErrorCode::InvalidRequest, "no such endpoint"),
        405 => (
            ErrorCode::InvalidRequest,
            "method not allowed on this endpoint",
        ),
        413 => (
            ErrorCode::InvalidRequest,
            "request body is larger than 1 MiB",
        ),
        503 => (ErrorCode::TemporarilyUnavailable, "try again later"),
        s if s >= 500 => (ErrorCode::ServerError, "internal error"),
        _ => (ErrorCode::InvalidRequest, "the request was not accepted"),
    };
    with_status(&OAuthError::new(code, description), status)
}

fn finish_zone_errors(res: Response) -> Response {
    if needs_body(&res) {
        return bare(res.status());
    }
    res
}
