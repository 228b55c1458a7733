//! `/zones/{zone_id}/providers…`

use crate::auth::Scoped;
use crate::error::{ApiError, ErrorBody};
use crate::etag::{with_etag, IfMatchHeader};
use crate::json::{double_option, JsonBody};
use crate::page::{envelope_parts, PageInfo, Pagination};
use crate::query::Params;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyzone_domain::directory::{
    Provider, ProviderFields, ProviderOAuth2, ProviderOpenId, ProviderProtocols, ProviderType,
    SORT_FIELDS,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema, Default)]
pub struct ProviderMetadata {
    #[schema(value_type = Option<crate::openapi::HttpUrl>)]
    pub icon_url: Option<String>,
}

/// An identity or credential provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderResponse {
    pub id: String,
    pub created_at: String,
    pub identifier: String,
    pub name: String,
    pub organization_id: String,
    /// `platform` or `customer`.
    #[schema(value_type = crate::zones::OwnerType)]
    pub owner_type: String,
    pub slug: String,
    pub updated_at: String,
    pub zone_id: String,
    pub client_id: Option<String>,
    pub client_secret_set: bool,
    pub description: Option<String>,
    pub metadata: Option<ProviderMetadata>,
    #[schema(value_type = Option<Object>)]
    pub protocols: Option<ProviderProtocols>,
    /// `external`, `keycard-vault` or `keycard-sts`.
    #[serde(rename = "type")]
    #[schema(value_type = crate::openapi::ProviderType)]
    pub kind: String,
}

impl ProviderResponse {
    pub fn new(p: Provider, organization_id: &str, state: &AppState) -> Self {
        // The zone's own token service describes itself from the zone's URLs.
        let protocols = if p.kind == ProviderType::KeycardSts {
            let urls = state.layout.urls(&p.zone_id);
            Some(ProviderProtocols {
                oauth2: Some(ProviderOAuth2 {
                    issuer: Some(urls.issuer),
                    token_endpoint: Some(urls.token_endpoint),
                    jwks_uri: Some(urls.jwks_uri),
                    ..Default::default()
                }),
                openid: None,
            })
        } else {
            p.protocols
        };
        ProviderResponse {
            id: p.id.into(),
            created_at: p.created_at.to_rfc3339(),
            identifier: p.identifier,
            name: p.name,
            organization_id: organization_id.to_owned(),
            owner_type: p.owner_type.as_str().into(),
            slug: p.slug,
            updated_at: p.updated_at.to_rfc3339(),
            zone_id: p.zone_id.into(),
            client_id: p.client_id,
            client_secret_set: p.client_secret_set,
            description: p.description,
            metadata: p.icon_url.map(|u| ProviderMetadata { icon_url: Some(u) }),
            protocols,
            kind: p.kind.as_str().into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderListResponse {
    pub items: Vec<ProviderResponse>,
    pub page_info: PageInfo,
    pub pagination: Pagination,
}

#[derive(Deserialize, ToSchema)]
pub struct ProviderProtocolsInput {
    #[schema(value_type = Option<crate::openapi::ProviderOAuth2>)]
    pub oauth2: Option<ProviderOAuth2>,
    #[schema(value_type = Option<crate::openapi::ProviderOpenId>)]
    pub openid: Option<ProviderOpenId>,
}

#[derive(Deserialize, ToSchema)]
pub struct ProviderCreate {
    /// Unique in the zone (else 409).
    #[schema(value_type = crate::openapi::Identifier)]
    pub identifier: String,
    #[schema(value_type = crate::openapi::Name)]
    pub name: String,
    #[schema(value_type = Option<crate::openapi::Description>)]
    pub description: Option<String>,
    #[schema(value_type = Option<crate::openapi::Identifier>)]
    pub client_id: Option<String>,
    /// Write-only; stored encrypted.
    #[schema(value_type = Option<crate::openapi::ClientSecret>)]
    pub client_secret: Option<String>,
    pub metadata: Option<ProviderMetadata>,
    pub protocols: Option<ProviderProtocolsInput>,
}

#[derive(Deserialize, ToSchema)]
pub struct ProviderUpdate {
    /// Unique in the zone (else 409); `null` changes nothing.
    #[schema(value_type = Option<crate::openapi::Identifier>)]
    pub identifier: Option<String>,
    /// `null` changes nothing.
    #[schema(value_type = Option<crate::openapi::Name>)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::openapi::Description>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::openapi::Identifier>)]
    pub client_id: Option<Option<String>>,
    /// `null` unsets the secret.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::openapi::ClientSecret>)]
    pub client_secret: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<ProviderMetadata>)]
    pub metadata: Option<Option<ProviderMetadata>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<ProviderProtocolsInput>)]
    pub protocols: Option<Option<ProviderProtocolsInput>>,
}

fn protocols(p: ProviderProtocolsInput) -> ProviderProtocols {
    ProviderProtocols {
        oauth2: p.oauth2,
        openid: p.openid,
    }
}

pub(crate) fn org(scope: &Scoped) -> String {
    scope.0.organization_id().to_string()
}

#[utoipa::path(get, path = "/zones/{zone_id}/providers", tag = "Providers", operation_id = "listProviders",
    params(("zone_id" = crate::openapi::Id, Path), crate::openapi::Page, crate::openapi::DirectorySortParam,
        ("expand[]" = Option<Vec<String>>, Query, description = "total_count; other values are ignored"),
        crate::openapi::DirectoryFilters,
        ("identifier" = Option<Vec<String>>, Query, description = "Only providers with one of these identifiers"),
        ("filter[type]" = Option<Vec<crate::openapi::ProviderType>>, Query, description = "Only providers of these types")),
    responses((status = 200, body = ProviderListResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
) -> Result<Json<ProviderListResponse>, ApiError> {
    let (mut filter, default_limit) = params.list_filter()?;
    filter
        .identifiers
        .extend(params.all(&["identifier"]).map(str::to_owned));
    filter.provider_types = params
        .all(&["filter[type]", "type"])
        .map(|t| {
            ProviderType::parse(t).ok_or_else(|| {
                ApiError::invalid("type", "must be external, keycard-vault or keycard-sts")
            })
        })
        .collect::<Result<_, _>>()?;
    let mut page = params.sorted_page_request(SORT_FIELDS)?;
    if let Some(l) = default_limit {
        page.limit = l;
    }
    let ps = state
        .directory
        .list_providers(&scope.0, &filter, &page)
        .await?;
    let (page_info, pagination) = envelope_parts(&ps, &page.sort);
    let org = org(&scope);
    Ok(Json(ProviderListResponse {
        items: ps
            .items
            .into_iter()
            .map(|p| ProviderResponse::new(p, &org, &state))
            .collect(),
        page_info,
        pagination,
    }))
}

#[utoipa::path(post, path = "/zones/{zone_id}/providers", tag = "Providers", operation_id = "createProvider",
    params(("zone_id" = crate::openapi::Id, Path)), request_body = ProviderCreate,
    responses((status = 201, body = ProviderResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The identifier is taken", body = ErrorBody),
        (status = 503, description = "The zone's KMS key cannot be used (for `client_secret`)", body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    JsonBody(b): JsonBody<ProviderCreate>,
) -> Result<impl IntoResponse, ApiError> {
    let fields = ProviderFields {
        identifier: Some(b.identifier),
        name: Some(b.name),
        description: Some(b.description),
        client_id: Some(b.client_id),
        client_secret: Some(b.client_secret),
        icon_url: Some(b.metadata.and_then(|m| m.icon_url)),
        protocols: Some(b.protocols.map(protocols)),
    };
    let p = state.directory.create_provider(&scope.0, fields).await?;
    Ok((
        StatusCode::CREATED,
        Json(ProviderResponse::new(p, &org(&scope), &state)),
    ))
}

#[utoipa::path(get, path = "/zones/{zone_id}/providers/{id}", tag = "Providers", operation_id = "getProvider",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses((status = 200, body = ProviderResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn retrieve(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let p = state.directory.get_provider(&scope.0, &id).await?;
    let at = p.updated_at;
    Ok(with_etag(
        at,
        Json(ProviderResponse::new(p, &org(&scope), &state)),
    ))
}

#[utoipa::path(patch, path = "/zones/{zone_id}/providers/{id}", tag = "Providers", operation_id = "updateProvider",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)), request_body = ProviderUpdate,
    responses((status = 200, body = ProviderResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "The provider is platform-owned", body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The identifier is taken, or concurrent updates kept colliding", body = ErrorBody),
        (status = 503, description = "The zone's KMS key cannot be used (for `client_secret`)", body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
    if_match: IfMatchHeader,
    JsonBody(b): JsonBody<ProviderUpdate>,
) -> Result<Response, ApiError> {
    let fields = ProviderFields {
        identifier: b.identifier,
        name: b.name,
        description: b.description,
        client_id: b.client_id,
        client_secret: b.client_secret,
        icon_url: b.metadata.map(|m| m.and_then(|m| m.icon_url)),
        protocols: b.protocols.map(|p| p.map(protocols)),
    };
    let p = state
        .directory
        .update_provider(&scope.0, &id, fields, if_match.0)
        .await?;
    let at = p.updated_at;
    Ok(with_etag(
        at,
        Json(ProviderResponse::new(p, &org(&scope), &state)),
    ))
}

#[utoipa::path(delete, path = "/zones/{zone_id}/providers/{id}", tag = "Providers", operation_id = "deleteProvider",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, description = "The provider is platform-owned", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "The provider is still used by resources or credentials", body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.directory.delete_provider(&scope.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
