//! The HTML surface: pages a person's browser lands on under a zone's
//! issuer (sign-in, consent, errors of the authorization endpoint). Errors
//! here are HTML pages, never JSON, and never a redirect to an address that
//! is not registered. Headers: no caching, no framing, no referrer, and a
//! content security policy without scripts.
//!
//! A new page is a route in [`router`] and a handler rendering it.

use crate::context::{needs_body, panic_response, FinalBody};
use crate::{AppState, MAX_BODY_BYTES};
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

/// Forms are small: a page's request body above this is refused.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

pub fn router() -> Router<Arc<AppState>> {
    let routes = Router::new()
        // The authorization endpoint is advertised by discovery; until
        // browser sign-in is built it answers with a page saying so.
        .route(
            "/z/{zone_id}/oauth/authorize",
            get(not_available).post(not_available),
        );
    with_layers(routes)
}

/// The surface's layers (outermost last): its error finisher, the panic
/// catcher and the body limits.
pub fn with_layers(routes: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    routes
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES.min(MAX_BODY_BYTES)))
        .layer(RequestBodyLimitLayer::new(MAX_FORM_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(finish_page_errors))
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page with the surface's headers.
pub fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title></head><body><main><h1>{t}</h1><p>{m}</p></main></body></html>\n",
        t = escape(title),
        m = escape(message),
    );
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    res.extensions_mut().insert(FinalBody);
    res
}

async fn not_available() -> Response {
    page(
        StatusCode::NOT_IMPLEMENTED,
        "Sign-in is not available",
        "This Keyzone version does not yet sign people in through the authorization endpoint \
         (authorization code with PKCE). Applications can use client credentials and token \
         exchange at the token endpoint.",
    )
}

/// The body for an error response no handler shaped, by status.
pub fn bare(status: StatusCode) -> Response {
    let (title, message) = match status.as_u16() {
        404 => ("Not found", "There is no page at this address."),
        405 => (
            "Not allowed",
            "This page does not accept that kind of request.",
        ),
        413 => ("Too large", "The form sent was too large."),
        s if s >= 500 => ("Something went wrong", "Please try again later."),
        _ => ("Not accepted", "The request was not accepted."),
    };
    page(status, title, message)
}

async fn finish_page_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    if needs_body(&res) {
        return bare(res.status());
    }
    res
}
