//! Keyzone's HTTP surface. Framework code stays here: handlers parse the
//! request, call one use case in `keyzone-core`, and render the result.
//!
//! The life of a management request: `request_context` (request id, access
//! log, metrics, error bodies) → panic catcher → body limit → route →
//! extractors (`Caller` authenticates, `Params` decodes the query, `JsonBody`
//! parses the body) → handler → use case → store.

pub mod auth;
pub mod context;
pub mod error;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod page;
pub mod query;
pub mod zones;

use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::routing::get;
use axum::Router;
use keyzone_core::store::HealthCheck;
use keyzone_core::{ApiKeys, Zones};
use keyzone_domain::urls::IssuerLayout;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Everything a handler may use. Built once at start and shared.
pub struct AppState {
    pub zones: Zones,
    pub api_keys: ApiKeys,
    pub health: Arc<dyn HealthCheck>,
    pub layout: IssuerLayout,
    pub metrics: metrics::Metrics,
}

pub fn router(state: Arc<AppState>) -> Router {
    let routes = Router::new()
        .route("/zones", get(zones::list).post(zones::create))
        .route(
            "/zones/{zone_id}",
            get(zones::retrieve)
                .patch(zones::update)
                .delete(zones::delete),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route(
            "/openapi.json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    openapi::document(),
                )
            }),
        );
    with_middleware(routes, state)
}

/// The middleware every route runs behind (outermost last): request context,
/// panic catcher, body limits; plus the JSON 404 for unmatched routes.
pub fn with_middleware(routes: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    routes
        .fallback(|| async { axum::http::StatusCode::NOT_FOUND })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(context::panic_response))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            context::request_context,
        ))
        .with_state(state)
}
