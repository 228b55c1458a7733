//! `/zones` and `/zones/{zone_id}`.

use crate::auth::{Caller, Scoped};
use crate::error::{ApiError, ErrorBody};
use crate::etag::{with_etag, IfMatchHeader};
use crate::json::{double_option, JsonBody};
use crate::page::{envelope_parts, PageInfo, Pagination};
use crate::query::Params;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyzone_core::permissions::{self, Permissions};
use keyzone_core::store::ZoneFilter;
use keyzone_core::Principal;
use keyzone_domain::urls::IssuerLayout;
use keyzone_domain::zone::{self, Zone, ZoneChanges, ZoneDraft};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OwnerType {
    Platform,
    Customer,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginFlow {
    Default,
    IdentifierFirst,
}

impl From<LoginFlow> for zone::LoginFlow {
    fn from(l: LoginFlow) -> Self {
        match l {
            LoginFlow::Default => zone::LoginFlow::Default,
            LoginFlow::IdentifierFirst => zone::LoginFlow::IdentifierFirst,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum EncryptionKeyType {
    #[serde(rename = "aws")]
    Aws,
}

/// AWS KMS configuration for zone encryption.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EncryptionKeyAwsKmsConfig {
    /// AWS KMS key ARN that wraps the zone's data key.
    #[schema(value_type = crate::openapi::KmsKeyArn)]
    pub arn: String,
    #[serde(rename = "type")]
    pub kind: EncryptionKeyType,
}

/// Client ID Metadata Document auto-provisioning.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Cimd {
    /// Exact client ID URLs, wildcard origins with a single `*` replacing one
    /// subdomain label (`https://*.example.com`), or the literal `*`; at
    /// most 100.
    #[schema(value_type = Vec<crate::openapi::CimdAllowlistEntry>, max_items = 100)]
    pub allowed_client_ids: Vec<String>,
    pub enabled: bool,
}

impl From<Cimd> for zone::Cimd {
    fn from(c: Cimd) -> Self {
        zone::Cimd {
            enabled: c.enabled,
            allowed_client_ids: c.allowed_client_ids,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneOAuth2 {
    pub authorization_endpoint: String,
    pub authorization_server_metadata: String,
    pub cimd: Cimd,
    pub dcr_enabled: bool,
    pub issuer: String,
    pub jwks_uri: String,
    pub pkce_required: bool,
    pub redirect_uri: String,
    pub registration_endpoint: String,
    pub token_endpoint: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneOpenId {
    pub provider_configuration: String,
    pub userinfo_endpoint: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneProtocols {
    pub oauth2: ZoneOAuth2,
    pub openid: ZoneOpenId,
}

/// A zone: a tenant with its own OAuth 2.0 / OpenID Connect authorization server.
#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneResponse {
    pub id: String,
    pub created_at: String,
    pub external_sync_enabled: bool,
    pub name: String,
    pub organization_id: String,
    pub owner_type: OwnerType,
    pub protocols: ZoneProtocols,
    pub slug: String,
    pub updated_at: String,
    pub default_mcp_gateway_application_id: Option<String>,
    pub default_resource_id: Option<String>,
    pub description: Option<String>,
    pub encryption_key: Option<EncryptionKeyAwsKmsConfig>,
    pub login_flow: LoginFlow,
    /// Only with `expand[]=permissions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<BTreeMap<String, BTreeMap<String, bool>>>,
    pub requires_invitation: bool,
    pub user_identity_provider_id: Option<String>,
}

impl ZoneResponse {
    pub fn new(z: Zone, layout: &IssuerLayout, permissions: Option<&Permissions>) -> Self {
        let urls = layout.urls(&z.id);
        ZoneResponse {
            protocols: ZoneProtocols {
                oauth2: ZoneOAuth2 {
                    authorization_endpoint: urls.authorization_endpoint,
                    authorization_server_metadata: urls.authorization_server_metadata,
                    cimd: Cimd {
                        allowed_client_ids: z.cimd.allowed_client_ids,
                        enabled: z.cimd.enabled,
                    },
                    dcr_enabled: z.dcr_enabled,
                    issuer: urls.issuer,
                    jwks_uri: urls.jwks_uri,
                    pkce_required: z.pkce_required,
                    redirect_uri: urls.redirect_uri,
                    registration_endpoint: urls.registration_endpoint,
                    token_endpoint: urls.token_endpoint,
                },
                openid: ZoneOpenId {
                    provider_configuration: urls.openid_configuration,
                    userinfo_endpoint: urls.userinfo_endpoint,
                },
            },
            id: z.id.into(),
            created_at: z.created_at.to_rfc3339(),
            external_sync_enabled: z.external_sync_enabled,
            name: z.name,
            organization_id: z.organization_id.into(),
            owner_type: match z.owner_type {
                zone::OwnerType::Platform => OwnerType::Platform,
                zone::OwnerType::Customer => OwnerType::Customer,
            },
            slug: z.slug,
            updated_at: z.updated_at.to_rfc3339(),
            default_mcp_gateway_application_id: z.default_mcp_gateway_application_id,
            default_resource_id: z.default_resource_id,
            description: z.description,
            encryption_key: z.encryption_key.map(|k| EncryptionKeyAwsKmsConfig {
                arn: k.arn,
                kind: EncryptionKeyType::Aws,
            }),
            login_flow: match z.login_flow {
                zone::LoginFlow::Default => LoginFlow::Default,
                zone::LoginFlow::IdentifierFirst => LoginFlow::IdentifierFirst,
            },
            permissions: permissions.map(|p| {
                p.iter()
                    .map(|(r, a)| {
                        (
                            r.to_string(),
                            a.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                        )
                    })
                    .collect()
            }),
            requires_invitation: z.requires_invitation,
            user_identity_provider_id: z.user_identity_provider_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneListResponse {
    pub items: Vec<ZoneResponse>,
    pub page_info: PageInfo,
    pub pagination: Pagination,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ZoneCreateOAuth2 {
    pub cimd: Option<Cimd>,
    pub dcr_enabled: Option<bool>,
    pub pkce_required: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ZoneCreateProtocols {
    pub oauth2: Option<ZoneCreateOAuth2>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ZoneCreate {
    /// 1–255 characters; no HTML tags or control characters.
    #[schema(value_type = crate::openapi::Name)]
    pub name: String,
    /// Derived from the name when absent (and then made unique); a slug
    /// given here that is taken is a 409.
    #[schema(value_type = Option<crate::openapi::Slug>)]
    pub slug: Option<String>,
    /// At most 2048 characters.
    #[schema(value_type = Option<crate::openapi::Description>)]
    pub description: Option<String>,
    /// Create a platform-owned MCP gateway application (trait `gateway`) and
    /// make it the zone's `default_mcp_gateway_application_id`.
    pub default_mcp_gateway_application: Option<bool>,
    pub encryption_key: Option<EncryptionKeyAwsKmsConfig>,
    /// Must be the caller's organization when given (another is a 404).
    pub organization_id: Option<String>,
    pub protocols: Option<ZoneCreateProtocols>,
    /// Defaults to true.
    pub requires_invitation: Option<bool>,
    pub login_flow: Option<LoginFlow>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ZoneUpdateOAuth2 {
    pub cimd: Option<Cimd>,
    /// `null` resets to the default (true).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<bool>)]
    pub dcr_enabled: Option<Option<bool>>,
    /// `null` resets to the default (true).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<bool>)]
    pub pkce_required: Option<Option<bool>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ZoneUpdateProtocols {
    pub oauth2: Option<ZoneUpdateOAuth2>,
}

/// A partial update: absent fields are kept, `null` clears nullable ones.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ZoneUpdate {
    /// `null` changes nothing.
    #[schema(value_type = Option<crate::openapi::Name>)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::openapi::Description>)]
    pub description: Option<Option<String>>,
    /// An application of this zone (else 400 on the field).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::openapi::Id>)]
    pub default_mcp_gateway_application_id: Option<Option<String>>,
    /// A resource of this zone (else 400 on the field).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::openapi::Id>)]
    pub default_resource_id: Option<Option<String>>,
    /// A provider of this zone (else 400 on the field).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::openapi::Id>)]
    pub user_identity_provider_id: Option<Option<String>>,
    /// `null` removes the customer-managed key.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<EncryptionKeyAwsKmsConfig>)]
    pub encryption_key: Option<Option<EncryptionKeyAwsKmsConfig>>,
    pub external_sync_enabled: Option<bool>,
    pub requires_invitation: Option<bool>,
    /// `null` changes nothing.
    pub protocols: Option<ZoneUpdateProtocols>,
    pub login_flow: Option<LoginFlow>,
}

impl From<ZoneUpdate> for ZoneChanges {
    fn from(u: ZoneUpdate) -> Self {
        let oauth2 = u.protocols.and_then(|p| p.oauth2);
        let (cimd, dcr, pkce) = match oauth2 {
            Some(o) => (o.cimd, o.dcr_enabled, o.pkce_required),
            None => (None, None, None),
        };
        ZoneChanges {
            name: u.name,
            description: u.description,
            requires_invitation: u.requires_invitation,
            external_sync_enabled: u.external_sync_enabled,
            login_flow: u.login_flow.map(Into::into),
            dcr_enabled: dcr.map(|v| v.unwrap_or(true)),
            pkce_required: pkce.map(|v| v.unwrap_or(true)),
            cimd: cimd.map(Into::into),
            encryption_key: u
                .encryption_key
                .map(|k| k.map(|k| zone::EncryptionKey { arn: k.arn })),
            default_mcp_gateway_application_id: u.default_mcp_gateway_application_id,
            default_resource_id: u.default_resource_id,
            user_identity_provider_id: u.user_identity_provider_id,
        }
    }
}

fn render(state: &AppState, caller: &Principal, params: &Params, z: Zone) -> ZoneResponse {
    let perms = params
        .expands("permissions")
        .then(|| permissions::for_principal(caller));
    ZoneResponse::new(z, &state.layout, perms.as_ref())
}

/// List zones
///
/// Cursor-paginated in creation order. `total_count` only with
/// `expand[]=total_count`.
#[utoipa::path(
    get, path = "/zones", tag = "Zones", operation_id = "listZones",
    params(
        ("after" = Option<crate::openapi::Cursor>, Query, description = "Cursor for forward pagination"),
        ("before" = Option<crate::openapi::Cursor>, Query, description = "Cursor for backward pagination; not with after"),
        ("cursor" = Option<crate::openapi::Cursor>, Query, description = "Alias of after"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20"),
        ("expand[]" = Option<Vec<String>>, Query, description = "total_count, permissions; other values are ignored"),
        ("slug" = Option<String>, Query, description = "Only the zone with this slug"),
        ("filter[organization_id]" = Option<String>, Query, description = "Only zones of this organization"),
    ),
    responses(
        (status = 200, body = ZoneListResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    ),
    security(("bearer_auth" = []))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    params: Params,
) -> Result<Json<ZoneListResponse>, ApiError> {
    let page = params.page_request()?;
    let filter = ZoneFilter {
        slug: params.one(&["slug"]).map(str::to_owned),
    };
    let org = params.one(&["filter[organization_id]", "organization_id"]);
    let zones = state.zones.list(&caller.0, org, &filter, &page).await?;
    let (page_info, pagination) = envelope_parts(&zones, &page.sort);
    Ok(Json(ZoneListResponse {
        items: zones
            .items
            .into_iter()
            .map(|z| render(&state, &caller.0, &params, z))
            .collect(),
        page_info,
        pagination,
    }))
}

/// Create a zone
#[utoipa::path(
    post, path = "/zones", tag = "Zones", operation_id = "createZone",
    params(("expand[]" = Option<Vec<String>>, Query, description = "permissions; other values are ignored")),
    request_body = ZoneCreate,
    responses(
        (status = 201, body = ZoneResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "`organization_id` is not the caller's organization", body = ErrorBody),
        (status = 409, description = "The slug is taken", body = ErrorBody),
        (status = 503, description = "The KMS key cannot be used", body = ErrorBody),
    ),
    security(("bearer_auth" = []))
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    params: Params,
    JsonBody(body): JsonBody<ZoneCreate>,
) -> Result<impl IntoResponse, ApiError> {
    let oauth2 = body.protocols.and_then(|p| p.oauth2);
    let (cimd, dcr, pkce) = match oauth2 {
        Some(o) => (o.cimd, o.dcr_enabled, o.pkce_required),
        None => (None, None, None),
    };
    let draft = ZoneDraft {
        name: body.name,
        slug: body.slug,
        description: body.description,
        requires_invitation: body.requires_invitation,
        login_flow: body.login_flow.map(Into::into),
        dcr_enabled: dcr,
        pkce_required: pkce,
        cimd: cimd.map(Into::into),
        encryption_key: body
            .encryption_key
            .map(|k| zone::EncryptionKey { arn: k.arn }),
        default_mcp_gateway_application: body.default_mcp_gateway_application.unwrap_or(false),
    };
    let z = state
        .zones
        .create(&caller.0, body.organization_id.as_deref(), draft)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(render(&state, &caller.0, &params, z)),
    ))
}

/// Get a zone
#[utoipa::path(
    get, path = "/zones/{zone_id}", tag = "Zones", operation_id = "getZone",
    params(
        ("zone_id" = crate::openapi::Id, Path),
        ("expand[]" = Option<Vec<String>>, Query, description = "permissions; other values are ignored"),
    ),
    responses(
        (status = 200, body = ZoneResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer_auth" = []))
)]
pub async fn retrieve(
    State(state): State<Arc<AppState>>,
    Scoped(scope): Scoped,
    params: Params,
) -> Result<Response, ApiError> {
    let caller = scope.principal().clone();
    let zone = scope.into_zone();
    let at = zone.updated_at;
    Ok(with_etag(at, Json(render(&state, &caller, &params, zone))))
}

/// Update a zone
#[utoipa::path(
    patch, path = "/zones/{zone_id}", tag = "Zones", operation_id = "updateZone",
    params(
        ("zone_id" = crate::openapi::Id, Path),
        ("expand[]" = Option<Vec<String>>, Query, description = "permissions; other values are ignored"),
    ),
    request_body = ZoneUpdate,
    responses(
        (status = 200, body = ZoneResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "The zone is platform-owned", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Concurrent updates kept colliding; retry", body = ErrorBody),
        (status = 503, description = "The new KMS key cannot be used", body = ErrorBody),
    ),
    security(("bearer_auth" = []))
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Scoped(scope): Scoped,
    params: Params,
    if_match: IfMatchHeader,
    JsonBody(body): JsonBody<ZoneUpdate>,
) -> Result<Response, ApiError> {
    let z = state.zones.update(&scope, body.into(), if_match.0).await?;
    let at = z.updated_at;
    Ok(with_etag(
        at,
        Json(render(&state, scope.principal(), &params, z)),
    ))
}

/// Delete a zone and everything it owns
#[utoipa::path(
    delete, path = "/zones/{zone_id}", tag = "Zones", operation_id = "deleteZone",
    params(("zone_id" = crate::openapi::Id, Path)),
    responses(
        (status = 204),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The zone is platform-owned", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer_auth" = []))
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Scoped(scope): Scoped,
) -> Result<StatusCode, ApiError> {
    state.zones.delete(&scope).await?;
    Ok(StatusCode::NO_CONTENT)
}
