//! Per-request context shared by every surface: the request id, the access
//! log line and metrics. Each surface (management API, zone endpoints,
//! pages) finishes its own error bodies, in its own shape, below this.

use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyzone_domain::Timestamp;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// Marks an error response whose body is already in its surface's final
/// form, so the surface's finisher leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct FinalBody;

/// Whether an error response still needs its surface's body: no handler
/// shaped it (no route, 405, 413, a caught panic) or it carries an
/// [`ApiError`] to render.
pub fn needs_body(res: &Response) -> bool {
    (res.status().is_client_error() || res.status().is_server_error())
        && res.extensions().get::<FinalBody>().is_none()
}

/// The id of this request: the client's `X-Client-Request-ID` when it is a
/// sane token, else a fresh UUID.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn client_request_id(req: &Request) -> Option<String> {
    let v = req.headers().get("x-client-request-id")?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| v.to_owned())
}

/// Route templates only (`/zones/{zone_id}`), never raw paths, so metric
/// label sets stay bounded whatever clients send.
fn route_of(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned())
}

pub async fn request_context(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = client_request_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let route = route_of(&req);
    let method = req.method().clone();
    req.extensions_mut().insert(RequestId(id.clone()));

    let span = tracing::info_span!("request", request_id = %id);
    let mut res = next.run(req).instrument(span.clone()).await;

    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }

    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    state
        .metrics
        .observe(method.as_str(), &route, status, elapsed);
    let _enter = span.enter();
    // Rounded to microseconds: 0.067, not 0.06657500000000001.
    let latency_ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    match res.extensions().get::<OAuthLog>() {
        // Zone endpoints say what the request was about, so a failed token
        // request is more than `status=400`; never a secret or a token.
        Some(o) => tracing::info!(
            method = %method,
            route = %route,
            status,
            latency_ms,
            zone = %o.zone,
            grant_type = o.grant_type.as_deref(),
            client_id = o.client_id.as_deref(),
            resource = o.resources.as_deref(),
            error = o.error,
            "request"
        ),
        None => tracing::info!(
            method = %method,
            route = %route,
            status,
            latency_ms,
            "request"
        ),
    }
    res
}

/// What a zone endpoint adds to its access-log line (in the response's
/// extensions): the zone, the grant type, the client, the requested
/// resources and the OAuth error code. Values are cut to a sane length;
/// secrets and tokens are never here.
#[derive(Debug, Clone, Default)]
pub struct OAuthLog {
    pub zone: String,
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub resources: Option<String>,
    pub error: Option<&'static str>,
}

impl OAuthLog {
    /// Cuts a client-supplied value for the log.
    pub fn cut(v: &str) -> String {
        v.chars().filter(|c| !c.is_control()).take(200).collect()
    }
}

/// The management surface's finisher: every error response gets the
/// documented JSON body.
pub async fn finish_management_errors(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let res = next.run(req).await;
    if needs_body(&res) {
        return finish_error(res, &path, &id);
    }
    res
}

/// Gives an error response the documented JSON body. A handler's [`ApiError`]
/// keeps its code, message and details; any other error response (no route,
/// wrong method, body too large, a caught panic) gets the generic body for its
/// status, and its original body is dropped.
pub fn finish_error(res: Response, path: &str, request_id: &str) -> Response {
    let status = res.status();
    let err = res
        .extensions()
        .get::<ApiError>()
        .cloned()
        .unwrap_or_else(|| ApiError::for_status(status));
    let body = ErrorBody {
        code: err.code,
        message: err.message.clone(),
        details: err.details.clone(),
        path: path.to_owned(),
        request_id: request_id.to_owned(),
        status: status.as_u16(),
        timestamp: Timestamp::now().to_rfc3339(),
    };
    let mut out = (status, axum::Json(body)).into_response();
    let headers = out.headers_mut();
    headers.insert(
        "x-should-retry",
        HeaderValue::from_static(if err.should_retry() { "true" } else { "false" }),
    );
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE && err.should_retry() {
        // Overload or contention: nothing was changed; come back shortly.
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    out
}

/// A panic in a handler becomes a plain 500; the surface's finisher gives it
/// that surface's body. The panic message is logged, never sent.
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %detail, "handler panicked");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}
