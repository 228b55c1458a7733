//! `/zones/{zone_id}/resources…`

use crate::auth::Scoped;
use crate::error::{ApiError, ErrorBody};
use crate::json::{double_option, JsonBody};
use crate::page::{envelope_parts, Pagination};
use crate::providers::org;
use crate::query::Params;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use keyzone_domain::directory::{
    ApplicationType, Metadata, MetadataPatch, Resource, ResourceFields, SORT_FIELDS,
};
use keyzone_domain::{ApplicationId, ProviderId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
pub struct MetadataDto {
    pub docs_url: Option<String>,
    pub icon_url: Option<String>,
}

impl From<Metadata> for MetadataDto {
    fn from(m: Metadata) -> Self {
        MetadataDto {
            docs_url: m.docs_url,
            icon_url: m.icon_url,
        }
    }
}

impl From<MetadataDto> for MetadataPatch {
    fn from(m: MetadataDto) -> Self {
        MetadataPatch {
            docs_url: Some(m.docs_url),
            icon_url: Some(m.icon_url),
        }
    }
}

/// `MetadataUpdate`: a field set to `null` is cleared, an absent one kept.
#[derive(Debug, Deserialize, ToSchema, Default)]
pub struct MetadataUpdateDto {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub docs_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub icon_url: Option<Option<String>>,
}

impl From<MetadataUpdateDto> for MetadataPatch {
    fn from(m: MetadataUpdateDto) -> Self {
        MetadataPatch {
            docs_url: m.docs_url,
            icon_url: m.icon_url,
        }
    }
}

/// A resource: an API or MCP server the zone protects.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceResponse {
    pub id: String,
    /// `native` or `web`.
    pub application_type: String,
    pub created_at: String,
    pub identifier: String,
    pub name: String,
    pub organization_id: String,
    pub owner_type: String,
    pub prefix: bool,
    pub slug: String,
    pub updated_at: String,
    pub zone_id: String,
    pub application_id: Option<String>,
    pub credential_lifetime_seconds: Option<u32>,
    pub credential_provider_id: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<MetadataDto>,
    pub scopes: Option<Vec<String>>,
    /// Only on dependencies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when_accessing: Option<Vec<String>>,
}

impl ResourceResponse {
    pub fn new(r: Resource, organization_id: &str) -> Self {
        ResourceResponse {
            id: r.id.into(),
            application_type: r.application_type.as_str().into(),
            created_at: r.created_at.to_rfc3339(),
            identifier: r.identifier,
            name: r.name,
            organization_id: organization_id.to_owned(),
            owner_type: r.owner_type.as_str().into(),
            prefix: r.prefix,
            slug: r.slug,
            updated_at: r.updated_at.to_rfc3339(),
            zone_id: r.zone_id.into(),
            application_id: r.application_id.map(Into::into),
            credential_lifetime_seconds: r.credential_lifetime_seconds,
            credential_provider_id: r.credential_provider_id.map(Into::into),
            description: r.description,
            metadata: r.metadata.map(Into::into),
            scopes: r.scopes,
            when_accessing: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceListResponse {
    pub items: Vec<ResourceResponse>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationTypeDto {
    Native,
    Web,
}

impl From<ApplicationTypeDto> for ApplicationType {
    fn from(a: ApplicationTypeDto) -> Self {
        match a {
            ApplicationTypeDto::Native => ApplicationType::Native,
            ApplicationTypeDto::Web => ApplicationType::Web,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ResourceCreate {
    /// An absolute URI, unique in the zone.
    pub identifier: String,
    pub name: String,
    pub application_id: Option<String>,
    pub application_type: Option<ApplicationTypeDto>,
    /// 60 to 86400.
    pub credential_lifetime_seconds: Option<u32>,
    pub credential_provider_id: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<MetadataDto>,
    /// Protects every URL that has this identifier as a prefix at a path,
    /// query or fragment boundary.
    pub prefix: Option<bool>,
    pub scopes: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
pub struct ResourceUpdate {
    pub identifier: Option<String>,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub application_id: Option<Option<String>>,
    pub application_type: Option<ApplicationTypeDto>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u32>)]
    pub credential_lifetime_seconds: Option<Option<u32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub credential_provider_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<MetadataUpdateDto>)]
    pub metadata: Option<Option<MetadataUpdateDto>>,
    pub prefix: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Option<Option<Vec<String>>>,
}

/// Ids in a body that cannot be ids name nothing in the zone: a 400 on the field.
fn id_field<T>(
    field: &str,
    v: Option<String>,
    parse: fn(&str) -> Result<T, keyzone_domain::IdError>,
) -> Result<Option<T>, ApiError> {
    v.map(|s| {
        parse(&s).map_err(|_| ApiError::invalid(field, "does not name an entity of this zone"))
    })
    .transpose()
}

#[utoipa::path(get, path = "/zones/{zone_id}/resources", tag = "Resources", operation_id = "listResources",
    params(("zone_id" = String, Path), ("identifier" = Option<String>, Query, description = "The resource protecting this URL: exact, else the longest prefix resource")),
    responses((status = 200, body = ResourceListResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
) -> Result<Json<ResourceListResponse>, ApiError> {
    let (mut filter, default_limit) = params.list_filter()?;
    filter.credential_provider_id = params
        .one(&[
            "credentialProviderId",
            "credential_provider_id",
            "filter[credential_provider_id]",
        ])
        .map(str::to_owned);
    filter.traits = params.all(&["filter[traits]"]).map(str::to_owned).collect();
    let mut page = params.sorted_page_request(SORT_FIELDS)?;
    if let Some(l) = default_limit {
        page.limit = l;
    }
    if let Some(url) = params.one(&["identifier"]) {
        // Resolution: the exact resource, else the longest matching prefix.
        let found = state.directory.resolve_resource_for(&scope.0, url).await?;
        // Narrow the list to the resolved resource; "-" is no id at all.
        match found {
            Some(r) => filter.ids.push(r.id.to_string()),
            None => filter.ids.push("-".into()),
        }
    }
    let rs = state
        .directory
        .list_resources(&scope.0, &filter, &page)
        .await?;
    let (_, pagination) = envelope_parts(&rs, &page.sort);
    let org = org(&scope);
    Ok(Json(ResourceListResponse {
        items: rs
            .items
            .into_iter()
            .map(|r| ResourceResponse::new(r, &org))
            .collect(),
        pagination,
    }))
}

#[utoipa::path(post, path = "/zones/{zone_id}/resources", tag = "Resources", operation_id = "createResource",
    params(("zone_id" = String, Path)), request_body = ResourceCreate,
    responses((status = 201, body = ResourceResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    JsonBody(b): JsonBody<ResourceCreate>,
) -> Result<impl IntoResponse, ApiError> {
    let fields = ResourceFields {
        identifier: Some(b.identifier),
        name: Some(b.name),
        description: Some(b.description),
        application_id: Some(id_field(
            "application_id",
            b.application_id,
            ApplicationId::parse,
        )?),
        application_type: b.application_type.map(Into::into),
        credential_provider_id: Some(id_field(
            "credential_provider_id",
            b.credential_provider_id,
            ProviderId::parse,
        )?),
        credential_lifetime_seconds: Some(b.credential_lifetime_seconds),
        prefix: b.prefix,
        scopes: Some(b.scopes),
        metadata: b.metadata.map(|m| Some(m.into())),
    };
    let r = state.directory.create_resource(&scope.0, fields).await?;
    Ok((
        StatusCode::CREATED,
        Json(ResourceResponse::new(r, &org(&scope))),
    ))
}

#[utoipa::path(get, path = "/zones/{zone_id}/resources/{id}", tag = "Resources", operation_id = "getResource",
    params(("zone_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ResourceResponse), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn retrieve(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<ResourceResponse>, ApiError> {
    let r = state.directory.get_resource(&scope.0, &id).await?;
    Ok(Json(ResourceResponse::new(r, &org(&scope))))
}

#[utoipa::path(patch, path = "/zones/{zone_id}/resources/{id}", tag = "Resources", operation_id = "updateResource",
    params(("zone_id" = String, Path), ("id" = String, Path)), request_body = ResourceUpdate,
    responses((status = 200, body = ResourceResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
    JsonBody(b): JsonBody<ResourceUpdate>,
) -> Result<Json<ResourceResponse>, ApiError> {
    let fields = ResourceFields {
        identifier: b.identifier,
        name: b.name,
        description: b.description,
        application_id: b
            .application_id
            .map(|v| id_field("application_id", v, ApplicationId::parse))
            .transpose()?,
        application_type: b.application_type.map(Into::into),
        credential_provider_id: b
            .credential_provider_id
            .map(|v| id_field("credential_provider_id", v, ProviderId::parse))
            .transpose()?,
        credential_lifetime_seconds: b.credential_lifetime_seconds,
        prefix: b.prefix,
        scopes: b.scopes,
        metadata: b.metadata.map(|m| m.map(Into::into)),
    };
    let r = state
        .directory
        .update_resource(&scope.0, &id, fields)
        .await?;
    Ok(Json(ResourceResponse::new(r, &org(&scope))))
}

#[utoipa::path(delete, path = "/zones/{zone_id}/resources/{id}", tag = "Resources", operation_id = "deleteResource",
    params(("zone_id" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.directory.delete_resource(&scope.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
