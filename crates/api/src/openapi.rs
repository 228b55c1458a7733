//! The OpenAPI 3.1 document, generated from the handlers' annotations. A
//! committed copy lives at `docs/openapi.json`; a test fails when it drifts.

use crate::{
    applications, credentials, error, identity, page, providers, resources, secrets, zones,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyzone management API",
        description = "A self-hostable implementation of the Keycard management API.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        zones::list, zones::create, zones::retrieve, zones::update, zones::delete,
        secrets::list, secrets::create, secrets::retrieve, secrets::update, secrets::delete,
        applications::list, applications::create, applications::retrieve, applications::update,
        applications::delete, applications::list_resources, applications::list_credentials,
        applications::list_dependencies, applications::get_dependency,
        applications::add_dependency, applications::remove_dependency,
        credentials::list, credentials::create, credentials::retrieve, credentials::update,
        credentials::delete,
        providers::list, providers::create, providers::retrieve, providers::update,
        providers::delete,
        resources::list, resources::create, resources::retrieve, resources::update,
        resources::delete,
        identity::list_users, identity::get_user, identity::list_user_agents,
        identity::get_user_agent, identity::list_sessions, identity::get_session,
        identity::update_session, identity::delete_session, identity::list_grants,
        identity::get_grant, identity::update_grant, identity::delete_grant,
    ),
    components(schemas(
        error::ErrorBody,
        error::ErrorDetail,
        error::ErrorCode,
        page::PageInfo,
        page::Pagination,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "Zones", description = "Tenants, each with its own authorization server"),
        (name = "Secrets", description = "Values kept encrypted in a zone's vault"),
        (name = "Applications", description = "Agents, MCP servers and services, with their dependencies"),
        (name = "Application credentials", description = "How applications authenticate"),
        (name = "Providers", description = "Upstream identity and credential providers"),
        (name = "Resources", description = "APIs and MCP servers a zone protects"),
        (name = "Users", description = "People who signed in to a zone"),
        (name = "User agents", description = "Dynamically registered clients"),
        (name = "Sessions", description = "User and application sessions"),
        (name = "Delegated grants", description = "Users' authorizations for resources"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer_auth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An organization API key"))
                    .build(),
            ),
        );
    }
}

/// The document as served and as committed: pretty JSON with a final newline.
pub fn document() -> String {
    let mut s = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    s.push('\n');
    s
}
