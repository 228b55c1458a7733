//! Per-request context: the request id, the access log line, metrics, and
//! the finishing of every error body into the documented shape.

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

/// Marks a response whose error body is already in its final form (the
/// zone endpoints answer in OAuth's error format, not the management one).
#[derive(Debug, Clone, Copy)]
pub struct FinalBody;

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
    let path = req.uri().path().to_owned();
    req.extensions_mut().insert(RequestId(id.clone()));

    let span = tracing::info_span!("request", request_id = %id);
    let mut res = next.run(req).instrument(span.clone()).await;

    if (res.status().is_client_error() || res.status().is_server_error())
        && res.extensions().get::<FinalBody>().is_none()
    {
        res = finish_error(res, &path, &id);
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }

    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    state
        .metrics
        .observe(method.as_str(), &route, status, elapsed);
    let _enter = span.enter();
    tracing::info!(
        method = %method,
        route = %route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    res
}

/// Gives an error response the documented JSON body. A handler's [`ApiError`]
/// keeps its code, message and details; any other error response (no route,
/// wrong method, body too large, a caught panic) gets the generic body for its
/// status, and its original body is dropped.
fn finish_error(res: Response, path: &str, request_id: &str) -> Response {
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
    out
}

/// A panic in a handler becomes a plain 500; [`finish_error`] gives it the
/// documented body. The panic message is logged, never sent.
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %detail, "handler panicked");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}
