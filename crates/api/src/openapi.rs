//! The OpenAPI 3.1 document, generated from the handlers' annotations. A
//! committed copy lives at `docs/openapi.json`; a test fails when it drifts.

use crate::{error, page, secrets, zones};
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
