//! Keyzone's HTTP surface. Framework code stays here: handlers parse the
//! request, call one use case in `keyzone-core`, and render the result.
//!
//! Three surfaces, each a router with its own error shape: the management
//! API (`management.rs`, the documented JSON error body), the zone
//! protocol endpoints (`zone.rs`, RFC 6749 JSON errors) and the HTML pages
//! (`pages.rs`). The life of a management request: `request_context`
//! (request id, access log, metrics) → the surface's error finisher → panic
//! catcher → body limit → route → extractors (`Caller` authenticates,
//! `Scoped` resolves the zone through the access chokepoint, `Params`
//! decodes the query, `JsonBody` parses the body) → handler → use case →
//! store.

pub mod applications;
pub mod auth;
pub mod context;
pub mod credentials;
pub mod error;
pub mod etag;
pub mod identity;
pub mod invitations;
pub mod json;
pub mod management;
pub mod metrics;
pub mod oauth;
pub mod openapi;
pub mod ops;
pub mod page;
pub mod pages;
pub mod providers;
pub mod query;
pub mod resources;
pub mod secrets;
pub mod server;
pub mod zone;
pub mod zone_endpoints;
pub mod zones;

use axum::http::header;
use axum::Router;
use keyzone_authserver::registration::Registrations;
use keyzone_authserver::TokenService;
use keyzone_core::outbound::Fetcher;
use keyzone_core::store::{HealthCheck, Stores};
use keyzone_core::{ApiKeys, Directory, Identity, Secrets, SigningKeys, Vault, Zones};
use keyzone_domain::urls::IssuerLayout;
use std::sync::Arc;

/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Everything a handler may use. Built once at start and shared.
pub struct AppState {
    pub zones: Zones,
    pub directory: Arc<Directory>,
    pub identity: Identity,
    pub secrets: Arc<Secrets>,
    pub tokens: TokenService,
    pub registrations: Registrations,
    pub signing: Arc<SigningKeys>,
    pub api_keys: ApiKeys,
    pub health: Arc<dyn HealthCheck>,
    pub layout: IssuerLayout,
    pub metrics: metrics::Metrics,
}

/// The whole HTTP surface: the management API, the zone protocol
/// endpoints and the HTML pages, each with its own error shape, behind the
/// shared request context (request id, access log, metrics); then the
/// host-based zone rewrite, which runs before routing.
impl AppState {
    /// Everything wired from one store, one vault, the outbound client and
    /// the issuer layout; the binary and the tests build it the same way.
    pub fn new<S: Stores>(
        store: Arc<S>,
        vault: Arc<Vault>,
        fetcher: Arc<dyn Fetcher>,
        layout: IssuerLayout,
    ) -> Self {
        let signing = Arc::new(SigningKeys::new(store.clone(), vault.clone()));
        let directory = Arc::new(Directory::new(store.clone(), vault.clone()));
        let secrets = Arc::new(Secrets::new(store.clone(), vault.clone()));
        AppState {
            zones: Zones::new(store.clone(), store.clone(), vault.clone(), signing.clone()),
            directory,
            identity: Identity::new(store.clone()),
            registrations: Registrations::new(store.clone()),
            tokens: TokenService::new(keyzone_authserver::Dependencies {
                store: store.clone(),
                signin: store.clone(),
                secrets: secrets.clone(),
                signing: signing.clone(),
                vault,
                fetcher,
                policy: Arc::new(keyzone_authserver::policy::BuiltInRules),
                layout: layout.clone(),
            }),
            secrets,
            signing,
            api_keys: ApiKeys::new(store.clone(), store.clone()),
            health: store,
            layout,
            metrics: metrics::Metrics::new(),
        }
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    let surfaces = Router::new()
        .merge(management::router())
        .merge(zone::router())
        .merge(pages::router());
    let app = with_context(surfaces, state.clone());
    // Runs before routing: host-based zones and `//` in paths.
    Router::new()
        .fallback_service(app)
        .layer(axum::middleware::map_request_with_state(
            state,
            zone_host_rewrite,
        ))
}

/// No route matched: a 404 in the shape of the surface the path belongs to.
async fn fallback(req: axum::extract::Request) -> axum::response::Response {
    let path = req.uri().path();
    if zone::owns(path) {
        return zone::bare(axum::http::StatusCode::NOT_FOUND);
    }
    let id = req
        .extensions()
        .get::<context::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    context::finish_error(
        axum::response::IntoResponse::into_response(axum::http::StatusCode::NOT_FOUND),
        path,
        &id,
    )
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

/// Surfaces (each already behind its own layers) served with the shared
/// request context and the 404 fallback. Tests use it to serve routes of
/// their own behind a surface's layers.
pub fn with_context(surfaces: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    surfaces
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            context::request_context,
        ))
        .with_state(state)
}

/// `routes` served as management routes (for tests that add their own).
pub fn with_middleware(routes: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    with_context(management::with_layers(routes), state)
}
