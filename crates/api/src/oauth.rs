//! The zone's OAuth 2.0 endpoints: metadata (RFC 8414, OpenID Connect
//! Discovery) and the token endpoint (RFC 6749 §3.2). Errors are RFC 6749
//! JSON `{error, error_description}`; no redirects anywhere.

use crate::context::OAuthLog;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyzone_core::signing::JWKS_MAX_AGE;
use keyzone_oauth::metadata::{self, Capabilities};
use keyzone_oauth::request::Form;
use keyzone_oauth::{client_auth, OAuthError};
use std::sync::Arc;

use crate::zone::{error_response, no_such_zone as not_found, with_status};

/// The zone a public endpoint names, or the response to send instead.
async fn zone_or_response(
    state: &AppState,
    zone_id: &str,
) -> Result<Arc<keyzone_domain::zone::Zone>, Response> {
    match state.tokens.zone(zone_id).await {
        Ok(Some(z)) => Ok(z),
        Ok(None) => Err(not_found()),
        Err(e) => Err(error_response(&e)),
    }
}

async fn document(state: &AppState, zone_id: &str, openid: bool) -> Response {
    let zone = match zone_or_response(state, zone_id).await {
        Ok(z) => z,
        Err(r) => return r,
    };
    let urls = state.layout.urls(&zone.id);
    let caps = Capabilities {
        dcr_enabled: zone.dcr_enabled,
        cimd_enabled: zone.cimd.enabled,
        signing_algorithms: vec!["RS256", "ES256", "EdDSA"],
    };
    let doc = if openid {
        metadata::openid_configuration(&urls, &caps)
    } else {
        metadata::authorization_server(&urls, &caps)
    };
    let cache = format!("public, max-age={}", JWKS_MAX_AGE.as_secs());
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CACHE_CONTROL, cache),
        ],
        doc.to_string(),
    )
        .into_response()
}

/// `{issuer}/.well-known/oauth-authorization-server` (the appended form the
/// official clients use) and the RFC 8414 §3.1 path-inserted form.
pub async fn authorization_server_metadata(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
) -> Response {
    document(&state, &zone_id, false).await
}

/// `{issuer}/.well-known/openid-configuration`.
pub async fn openid_configuration(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
) -> Response {
    document(&state, &zone_id, true).await
}

/// The token endpoint.
pub async fn token(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (zone, auth, form) = match authenticated_form(&state, &zone_id, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return logged(r, zone_id, None),
    };
    let mut log = OAuthLog {
        zone: zone_id,
        grant_type: form.all("grant_type").next().map(OAuthLog::cut),
        client_id: auth.client_id().map(OAuthLog::cut),
        resources: resources_for_log(&form),
        error: None,
    };
    let mut res = match state.tokens.token(&zone, auth, &form).await {
        Ok(t) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            axum::Json(t),
        )
            .into_response(),
        Err(e) => {
            log.error = Some(e.code.as_str());
            error_response(&e)
        }
    };
    res.extensions_mut().insert(log);
    res
}

/// The requested resources, joined for the access log.
fn resources_for_log(form: &Form) -> Option<String> {
    let mut out = String::new();
    for r in form.all("resource").chain(form.all("audience")).take(8) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&OAuthLog::cut(r));
    }
    (!out.is_empty()).then_some(out)
}

/// `res` with the access-log fields of a request refused before its
/// grant ran (unknown zone, a malformed form or client authentication).
fn logged(mut res: Response, zone: String, form: Option<&Form>) -> Response {
    // What the refusals before a grant can be: no such zone or a
    // malformed request (400/404), or a malformed Basic header (401).
    let error = match res.status().as_u16() {
        401 => Some("invalid_client"),
        400..=499 => Some("invalid_request"),
        500..=599 => Some("server_error"),
        _ => None,
    };
    res.extensions_mut().insert(OAuthLog {
        zone,
        grant_type: form.and_then(|f| f.all("grant_type").next().map(OAuthLog::cut)),
        error,
        ..Default::default()
    });
    res
}

/// Dynamic client registration (RFC 7591 §3). 201 with the registered
/// metadata; 403 when the zone has registration turned off.
pub async fn register(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    body: Bytes,
) -> Response {
    use keyzone_authserver::registration::Refusal;
    let zone = match zone_or_response(&state, &zone_id).await {
        Ok(z) => z,
        Err(r) => return r,
    };
    let metadata: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return error_response(&OAuthError::new(
                keyzone_oauth::ErrorCode::InvalidClientMetadata,
                "the registration request must be a JSON object",
            ))
        }
    };
    match state.registrations.register(&zone, &metadata).await {
        Ok(doc) => (
            StatusCode::CREATED,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(doc),
        )
            .into_response(),
        Err(Refusal::Disabled(e)) => with_status(&e, StatusCode::FORBIDDEN),
        Err(Refusal::Invalid(e)) => error_response(&e),
    }
}

async fn authenticated_form(
    state: &AppState,
    zone_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<
    (
        Arc<keyzone_domain::zone::Zone>,
        client_auth::ClientAuth,
        Form,
    ),
    Response,
> {
    let zone = zone_or_response(state, zone_id).await?;
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return Err(error_response(&OAuthError::invalid_request(
            "the request must be application/x-www-form-urlencoded",
        )));
    }
    let form = Form::parse(body).map_err(|e| error_response(&e))?;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match client_auth::parse(authorization, &form) {
        Ok(auth) => Ok((zone, auth, form)),
        Err(e) => Err(error_response(&e)),
    }
}

/// Token introspection (RFC 7662).
pub async fn introspect(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (zone, auth, form) = match authenticated_form(&state, &zone_id, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match state.tokens.introspect(&zone, auth, &form).await {
        Ok(doc) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(doc)).into_response(),
        Err(e) => error_response(&e),
    }
}

/// Token revocation (RFC 7009): 200 with an empty body.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (zone, auth, form) = match authenticated_form(&state, &zone_id, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match state.tokens.revoke(&zone, auth, &form).await {
        Ok(()) => ([(header::CACHE_CONTROL, "no-store")], StatusCode::OK).into_response(),
        Err(e) => error_response(&e),
    }
}

/// UserInfo (OpenID Connect Core §5.3), GET or POST with a Bearer token.
pub async fn userinfo(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let zone = match zone_or_response(&state, &zone_id).await {
        Ok(z) => z,
        Err(r) => return r,
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    match state.tokens.userinfo(&zone, bearer).await {
        Ok(claims) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(claims)).into_response(),
        Err(e) => error_response(&e),
    }
}
