//! The management API surface (`/zones…`, operations, the OpenAPI
//! document): bearer API keys, JSON bodies, and the documented error body
//! for every error — including those no handler wrote (405, 413, panics).
//!
//! A new management resource is a route here, its handlers in a module of
//! their own, and a use case in `keyzone-core` taking a `ZoneScope`.

use crate::auth::Caller;
use crate::context::{finish_management_errors, panic_response};
use crate::error::{ApiError, ErrorCode};
use crate::{
    applications, credentials, identity, invitations, openapi, ops, providers, resources, secrets,
    zones, AppState, MAX_BODY_BYTES,
};
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::routing::{any, get};
use axum::Router;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

pub fn router() -> Router<Arc<AppState>> {
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
        .route(
            "/zones/{zone_id}/users",
            get(identity::list_users).post(identity::create_user),
        )
        .route("/zones/{zone_id}/users/{id}", get(identity::get_user))
        .route(
            "/zones/{zone_id}/user-invitations",
            get(invitations::list).post(invitations::create),
        )
        .route(
            "/zones/{zone_id}/user-invitations/{id}",
            axum::routing::delete(invitations::delete),
        )
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
        // The Keycard API's other families, not built in this version: a
        // clear 501 for an authenticated caller, never "no such route".
        .route("/zones/{zone_id}/policies", any(not_built))
        .route("/zones/{zone_id}/policies/{*rest}", any(not_built))
        .route("/zones/{zone_id}/policy-sets", any(not_built))
        .route("/zones/{zone_id}/policy-sets/{*rest}", any(not_built))
        .route("/zones/{zone_id}/policy-schemas", any(not_built))
        .route("/zones/{zone_id}/policy-schemas/{*rest}", any(not_built))
        .route("/zones/{zone_id}/members", any(not_built))
        .route("/zones/{zone_id}/members/{*rest}", any(not_built))
        .route("/policy/bundle", any(not_built))
        .route("/organizations", any(not_built))
        .route("/organizations/{*rest}", any(not_built))
        .route("/invitations/{*rest}", any(not_built))
        .route("/service-account-token", any(not_built))
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
    with_layers(routes)
}

/// An endpoint of the Keycard API that this version does not have: 501,
/// after authentication (an anonymous caller still gets 401), naming what
/// is missing.
async fn not_built(_caller: Caller, uri: axum::http::Uri) -> ApiError {
    let path = uri.path();
    let what = if path.contains("/polic") {
        "policies, policy sets, policy schemas and policy bundles are"
    } else if path.contains("/members") {
        "zone members are"
    } else {
        "organizations, invitations and service accounts are"
    };
    ApiError {
        retry: Some(false),
        ..ApiError::new(
            axum::http::StatusCode::NOT_IMPLEMENTED,
            ErrorCode::ServiceUnavailable,
            format!("{what} not available in this version of Keyzone"),
        )
    }
}

/// The management surface's layers (outermost last): its error finisher,
/// the panic catcher and the body limits.
pub fn with_layers(routes: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    routes
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(finish_management_errors))
}
