//! Keyzone's HTTP surface. Framework code stays here: handlers parse the
//! request, call one use case in `keyzone-core`, and render the result.
//!
//! The life of a management request: `request_context` (request id, access
//! log, metrics, error bodies) → panic catcher → body limit → route →
//! extractors (`Caller` authenticates, `Params` decodes the query, `JsonBody`
//! parses the body) → handler → use case → store.

pub mod applications;
pub mod auth;
pub mod context;
pub mod credentials;
pub mod error;
pub mod identity;
pub mod json;
pub mod metrics;
pub mod oauth;
pub mod openapi;
pub mod ops;
pub mod page;
pub mod providers;
pub mod query;
pub mod resources;
pub mod secrets;
pub mod zone_endpoints;
pub mod zones;

use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::routing::get;
use axum::Router;
use keyzone_core::store::HealthCheck;
use keyzone_core::{ApiKeys, Directory, Identity, Secrets, SigningKeys, Zones};
use keyzone_domain::urls::IssuerLayout;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Everything a handler may use. Built once at start and shared.
pub struct AppState {
    pub zones: Zones,
    pub directory: Arc<Directory>,
    pub identity: Identity,
    pub secrets: Arc<Secrets>,
    pub tokens: keyzone_core::authorization::TokenService,
    pub registrations: keyzone_core::registration::Registrations,
    pub signing: Arc<SigningKeys>,
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
        .route(
            "/zones/{zone_id}/secrets",
            get(secrets::list).post(secrets::create),
        )
        .route(
            "/zones/{zone_id}/secrets/{id}",
            get(secrets::retrieve)
                .patch(secrets::update)
                .delete(secrets::delete),
        )
        .route(
            "/zones/{zone_id}/providers",
            get(providers::list).post(providers::create),
        )
        .route(
            "/zones/{zone_id}/providers/{id}",
            get(providers::retrieve)
                .patch(providers::update)
                .delete(providers::delete),
        )
        .route(
            "/zones/{zone_id}/resources",
            get(resources::list).post(resources::create),
        )
        .route(
            "/zones/{zone_id}/resources/{id}",
            get(resources::retrieve)
                .patch(resources::update)
                .delete(resources::delete),
        )
        .route(
            "/zones/{zone_id}/applications",
            get(applications::list).post(applications::create),
        )
        .route(
            "/zones/{zone_id}/applications/{id}",
            get(applications::retrieve)
                .patch(applications::update)
                .delete(applications::delete),
        )
        .route(
            "/zones/{zone_id}/applications/{id}/resources",
            get(applications::list_resources),
        )
        .route(
            "/zones/{zone_id}/applications/{id}/application-credentials",
            get(applications::list_credentials),
        )
        .route(
            "/zones/{zone_id}/applications/{id}/dependencies",
            get(applications::list_dependencies),
        )
        .route(
            "/zones/{zone_id}/applications/{id}/dependencies/{dependency_id}",
            get(applications::get_dependency)
                .put(applications::add_dependency)
                .delete(applications::remove_dependency),
        )
        .route(
            "/zones/{zone_id}/application-credentials",
            get(credentials::list).post(credentials::create),
        )
        .route(
            "/zones/{zone_id}/application-credentials/{id}",
            get(credentials::retrieve)
                .patch(credentials::update)
                .delete(credentials::delete),
        )
        .route("/zones/{zone_id}/users", get(identity::list_users))
        .route("/zones/{zone_id}/users/{id}", get(identity::get_user))
        .route(
            "/zones/{zone_id}/user-agents",
            get(identity::list_user_agents),
        )
        .route(
            "/zones/{zone_id}/user-agents/{id}",
            get(identity::get_user_agent),
        )
        .route("/zones/{zone_id}/sessions", get(identity::list_sessions))
        .route(
            "/zones/{zone_id}/sessions/{id}",
            get(identity::get_session)
                .patch(identity::update_session)
                .delete(identity::delete_session),
        )
        .route(
            "/zones/{zone_id}/delegated-grants",
            get(identity::list_grants),
        )
        .route(
            "/zones/{zone_id}/delegated-grants/{id}",
            get(identity::get_grant)
                .patch(identity::update_grant)
                .delete(identity::delete_grant),
        )
        // The zones' own endpoints, path-based; host-based requests are
        // rewritten onto these by `zone_host_rewrite`.
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
        .route(
            "/z/{zone_id}/oauth/token",
            axum::routing::post(oauth::token),
        )
        .route(
            "/z/{zone_id}/oauth/register",
            axum::routing::post(oauth::register),
        )
        .route(
            "/z/{zone_id}/oauth/introspect",
            axum::routing::post(oauth::introspect),
        )
        .route(
            "/z/{zone_id}/oauth/revoke",
            axum::routing::post(oauth::revoke),
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
    let app = with_middleware(routes, state.clone());
    // Runs before routing: host-based zones and `//` in paths.
    Router::new()
        .fallback_service(app)
        .layer(axum::middleware::map_request_with_state(
            state,
            zone_host_rewrite,
        ))
}

/// With `KEYZONE_ZONE_DOMAIN`, a request to `{zone_id}.{zone_domain}` is a
/// request to that zone's issuer: its path is served as `/z/{zone_id}/…`,
/// so one set of routes serves both layouts. Runs of `/` are folded into
/// one: the keycardai-mcp client asks for `{issuer}//.well-known/…` when a
/// protected-resource document lists the issuer with a trailing slash.
async fn zone_host_rewrite(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    mut req: axum::extract::Request,
) -> axum::extract::Request {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().host().map(str::to_owned));
    let path = req.uri().path();
    let folded = path.contains("//").then(|| {
        let mut out = String::with_capacity(path.len());
        for c in path.chars() {
            if !(c == '/' && out.ends_with('/')) {
                out.push(c);
            }
        }
        out
    });
    let zone = host
        .as_deref()
        .and_then(|h| state.layout.zone_from_host(h))
        .map(str::to_owned);
    if folded.is_some() || zone.is_some() {
        let path = folded.unwrap_or_else(|| req.uri().path().to_owned());
        let query = req
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let new = match zone {
            Some(z) => format!("/z/{z}{path}{query}"),
            None => format!("{path}{query}"),
        };
        if let Ok(uri) = new.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
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
