//! `/zones/{zone_id}/applications…`, with dependencies and the
//! application's resources and credentials.

use crate::auth::Scoped;
use crate::credentials::{CredentialListResponse, CredentialResponse};
use crate::error::{ApiError, ErrorBody};
use crate::etag::{with_etag, IfMatchHeader};
use crate::json::{double_option, JsonBody};
use crate::page::{envelope_parts, PageInfo, Pagination};
use crate::providers::org;
use crate::query::Params;
use crate::resources::{MetadataDto, MetadataUpdateDto, ResourceResponse};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyzone_domain::directory::{Application, ApplicationFields, Consent, SORT_FIELDS};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentDto {
    Implicit,
    Required,
}

impl From<ConsentDto> for Consent {
    fn from(c: ConsentDto) -> Self {
        match c {
            ConsentDto::Implicit => Consent::Implicit,
            ConsentDto::Required => Consent::Required,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema, Default)]
pub struct ApplicationOAuth2 {
    /// Absolute URIs without fragments; at most 100.
    #[schema(value_type = Option<Vec<crate::openapi::AbsoluteUri>>, max_items = 100)]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Absolute URIs without fragments; at most 100.
    #[schema(value_type = Option<Vec<crate::openapi::AbsoluteUri>>, max_items = 100)]
    pub redirect_uris: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema, Default)]
pub struct ApplicationProtocols {
    pub oauth2: Option<ApplicationOAuth2>,
}

/// An application: an agent, MCP server or service.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationResponse {
    pub id: String,
    #[schema(value_type = ConsentDto)]
    pub consent: String,
    pub created_at: String,
    pub dependencies_count: u32,
    pub identifier: String,
    pub name: String,
    pub organization_id: String,
    #[schema(value_type = crate::zones::OwnerType)]
    pub owner_type: String,
    pub slug: String,
    pub updated_at: String,
    pub zone_id: String,
    pub description: Option<String>,
    pub metadata: Option<MetadataDto>,
    pub protocols: Option<ApplicationProtocols>,
    pub traits: Vec<String>,
}

impl ApplicationResponse {
    pub fn new(a: Application, organization_id: &str) -> Self {
        let protocols =
            (a.redirect_uris.is_some() || a.post_logout_redirect_uris.is_some()).then(|| {
                ApplicationProtocols {
                    oauth2: Some(ApplicationOAuth2 {
                        redirect_uris: a.redirect_uris.clone(),
                        post_logout_redirect_uris: a.post_logout_redirect_uris.clone(),
                    }),
                }
            });
        ApplicationResponse {
            id: a.id.into(),
            consent: a.consent.as_str().into(),
            created_at: a.created_at.to_rfc3339(),
            dependencies_count: a.dependencies_count,
            identifier: a.identifier,
            name: a.name,
            organization_id: organization_id.to_owned(),
            owner_type: a.owner_type.as_str().into(),
            slug: a.slug,
            updated_at: a.updated_at.to_rfc3339(),
            zone_id: a.zone_id.into(),
            description: a.description,
            metadata: a.metadata.map(Into::into),
            protocols,
            traits: a.traits,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationListResponse {
    pub items: Vec<ApplicationResponse>,
    pub page_info: PageInfo,
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourcePage {
    pub items: Vec<ResourceResponse>,
    pub page_info: PageInfo,
    pub pagination: Pagination,
}

#[derive(Deserialize, ToSchema)]
pub struct DependencyRef {
    /// A resource of this zone (else 400 on the field).
    #[schema(value_type = crate::openapi::Id)]
    pub id: String,
    /// Ignored.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ApplicationCreate {
    /// Unique in the zone (else 409).
    #[schema(value_type = crate::openapi::Identifier)]
    pub identifier: String,
    #[schema(value_type = crate::openapi::Name)]
    pub name: String,
    pub consent: Option<ConsentDto>,
    /// Resources the application depends on.
    pub dependencies: Option<Vec<DependencyRef>>,
    #[schema(value_type = Option<crate::openapi::Description>)]
    pub description: Option<String>,
    pub metadata: Option<MetadataDto>,
    pub protocols: Option<ApplicationProtocols>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ApplicationOAuth2Update {
    /// At most 100; `null` clears them.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<crate::openapi::AbsoluteUri>>, max_items = 100)]
    pub post_logout_redirect_uris: Option<Option<Vec<String>>>,
    /// At most 100; `null` clears them.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<crate::openapi::AbsoluteUri>>, max_items = 100)]
    pub redirect_uris: Option<Option<Vec<String>>>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ApplicationProtocolsUpdate {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<ApplicationOAuth2Update>)]
    pub oauth2: Option<Option<ApplicationOAuth2Update>>,
}

#[derive(Deserialize, ToSchema)]
pub struct ApplicationUpdate {
    /// Unique in the zone (else 409); `null` changes nothing.
    #[schema(value_type = Option<crate::openapi::Identifier>)]
    pub identifier: Option<String>,
    /// `null` changes nothing.
    #[schema(value_type = Option<crate::openapi::Name>)]
    pub name: Option<String>,
    pub consent: Option<ConsentDto>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::openapi::Description>)]
    pub description: Option<Option<String>>,
    /// `null` clears all metadata; a field set to `null` clears that field.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<MetadataUpdateDto>)]
    pub metadata: Option<Option<MetadataUpdateDto>>,
    /// `null` clears the redirect URIs.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<ApplicationProtocolsUpdate>)]
    pub protocols: Option<Option<ApplicationProtocolsUpdate>>,
}

#[utoipa::path(get, path = "/zones/{zone_id}/applications", tag = "Applications", operation_id = "listApplications",
    params(("zone_id" = crate::openapi::Id, Path), crate::openapi::Page, crate::openapi::DirectorySortParam,
        ("expand[]" = Option<Vec<String>>, Query, description = "total_count; other values are ignored"),
        crate::openapi::DirectoryFilters,
        ("identifier" = Option<Vec<String>>, Query, description = "Only applications with one of these identifiers")),
    responses((status = 200, body = ApplicationListResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
) -> Result<Json<ApplicationListResponse>, ApiError> {
    let (mut filter, default_limit) = params.list_filter()?;
    filter
        .identifiers
        .extend(params.all(&["identifier"]).map(str::to_owned));
    let mut page = params.sorted_page_request(SORT_FIELDS)?;
    if let Some(l) = default_limit {
        page.limit = l;
    }
    let apps = state
        .directory
        .list_applications(&scope.0, &filter, &page)
        .await?;
    let (page_info, pagination) = envelope_parts(&apps, &page.sort);
    let org = org(&scope);
    Ok(Json(ApplicationListResponse {
        items: apps
            .items
            .into_iter()
            .map(|a| ApplicationResponse::new(a, &org))
            .collect(),
        page_info,
        pagination,
    }))
}

#[utoipa::path(post, path = "/zones/{zone_id}/applications", tag = "Applications", operation_id = "createApplication",
    params(("zone_id" = crate::openapi::Id, Path)), request_body = ApplicationCreate,
    responses((status = 201, body = ApplicationResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The identifier is taken", body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    JsonBody(b): JsonBody<ApplicationCreate>,
) -> Result<impl IntoResponse, ApiError> {
    let oauth2 = b.protocols.and_then(|p| p.oauth2).unwrap_or_default();
    let fields = ApplicationFields {
        identifier: Some(b.identifier),
        name: Some(b.name),
        description: Some(b.description),
        consent: b.consent.map(Into::into),
        metadata: b.metadata.map(|m| Some(m.into())),
        redirect_uris: Some(oauth2.redirect_uris),
        post_logout_redirect_uris: Some(oauth2.post_logout_redirect_uris),
    };
    let deps: Vec<String> = b
        .dependencies
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.id)
        .collect();
    let a = state
        .directory
        .create_application(&scope.0, fields, &deps)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ApplicationResponse::new(a, &org(&scope))),
    ))
}

#[utoipa::path(get, path = "/zones/{zone_id}/applications/{id}", tag = "Applications", operation_id = "getApplication",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses((status = 200, body = ApplicationResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn retrieve(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let a = state.directory.get_application(&scope.0, &id).await?;
    let at = a.updated_at;
    Ok(with_etag(
        at,
        Json(ApplicationResponse::new(a, &org(&scope))),
    ))
}

#[utoipa::path(patch, path = "/zones/{zone_id}/applications/{id}", tag = "Applications", operation_id = "updateApplication",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)), request_body = ApplicationUpdate,
    responses((status = 200, body = ApplicationResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "The application is platform-owned", body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The identifier is taken, or concurrent updates kept colliding", body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
    if_match: IfMatchHeader,
    JsonBody(b): JsonBody<ApplicationUpdate>,
) -> Result<Response, ApiError> {
    let (redirect_uris, post_logout_redirect_uris) = match b.protocols {
        None => (None, None),
        Some(None) | Some(Some(ApplicationProtocolsUpdate { oauth2: Some(None) })) => {
            (Some(None), Some(None))
        }
        Some(Some(ApplicationProtocolsUpdate { oauth2: None })) => (None, None),
        Some(Some(ApplicationProtocolsUpdate {
            oauth2: Some(Some(o)),
        })) => (o.redirect_uris, o.post_logout_redirect_uris),
    };
    let fields = ApplicationFields {
        identifier: b.identifier,
        name: b.name,
        description: b.description,
        consent: b.consent.map(Into::into),
        metadata: b.metadata.map(|m| m.map(Into::into)),
        redirect_uris,
        post_logout_redirect_uris,
    };
    let a = state
        .directory
        .update_application(&scope.0, &id, fields, if_match.0)
        .await?;
    let at = a.updated_at;
    Ok(with_etag(
        at,
        Json(ApplicationResponse::new(a, &org(&scope))),
    ))
}

#[utoipa::path(delete, path = "/zones/{zone_id}/applications/{id}", tag = "Applications", operation_id = "deleteApplication",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 403, description = "The application is platform-owned", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.directory.delete_application(&scope.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resources this application provides.
#[utoipa::path(get, path = "/zones/{zone_id}/applications/{id}/resources", tag = "Applications", operation_id = "listApplicationResources",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path), crate::openapi::Page, crate::openapi::DirectorySortParam,
        ("expand[]" = Option<Vec<String>>, Query, description = "total_count; other values are ignored")),
    responses((status = 200, body = ResourcePage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn list_resources(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<ResourcePage>, ApiError> {
    let app = state.directory.get_application(&scope.0, &id).await?;
    let page = params.sorted_page_request(SORT_FIELDS)?;
    let filter = keyzone_core::store::ListFilter {
        application_id: Some(app.id.to_string()),
        ..Default::default()
    };
    let rs = state
        .directory
        .list_resources(&scope.0, &filter, &page)
        .await?;
    let (page_info, pagination) = envelope_parts(&rs, &page.sort);
    let org = org(&scope);
    Ok(Json(ResourcePage {
        items: rs
            .items
            .into_iter()
            .map(|r| ResourceResponse::new(r, &org))
            .collect(),
        page_info,
        pagination,
    }))
}

/// Credentials of this application.
#[utoipa::path(get, path = "/zones/{zone_id}/applications/{id}/application-credentials", tag = "Applications", operation_id = "listApplicationCredentials",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path), crate::openapi::Page,
        ("expand[]" = Option<Vec<String>>, Query, description = "total_count; other values are ignored")),
    responses((status = 200, body = CredentialListResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn list_credentials(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<CredentialListResponse>, ApiError> {
    let app = state.directory.get_application(&scope.0, &id).await?;
    let page = params.page_request()?;
    let filter = keyzone_core::store::ListFilter {
        application_id: Some(app.id.to_string()),
        ..Default::default()
    };
    let cs = state
        .directory
        .list_credentials(&scope.0, &filter, &page)
        .await?;
    let (page_info, pagination) = envelope_parts(&cs, &page.sort);
    let org = org(&scope);
    Ok(Json(CredentialListResponse {
        items: cs
            .items
            .into_iter()
            .map(|c| CredentialResponse::new(c, &org, None))
            .collect(),
        page_info,
        pagination,
    }))
}

// ----- dependencies -----

/// Adds or replaces a dependency. The only input is the repeated
/// `when_accessing` query parameter.
#[utoipa::path(put, path = "/zones/{zone_id}/applications/{id}/dependencies/{dependency_id}", tag = "Applications", operation_id = "addDependency",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path), ("dependency_id" = crate::openapi::Id, Path, description = "The resource depended on"),
        ("when_accessing" = Option<Vec<crate::openapi::Id>>, Query, description = "Resources of this zone (else 400); the dependency applies only while the subject's token was issued for one of them")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "No such zone, application or resource", body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn add_dependency(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
    Path((_, id, dependency_id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let when: Vec<String> = params
        .all(&["when_accessing", "when_accessing[]"])
        .map(str::to_owned)
        .collect();
    state
        .directory
        .put_dependency(&scope.0, &id, &dependency_id, &when)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/zones/{zone_id}/applications/{id}/dependencies/{dependency_id}", tag = "Applications", operation_id = "getDependency",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path), ("dependency_id" = crate::openapi::Id, Path, description = "The resource depended on")),
    responses((status = 200, body = ResourceResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn get_dependency(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id, dependency_id)): Path<(String, String, String)>,
) -> Result<Json<ResourceResponse>, ApiError> {
    let d = state
        .directory
        .get_dependency(&scope.0, &id, &dependency_id)
        .await?;
    let mut r = ResourceResponse::new(d.resource, &org(&scope));
    r.when_accessing = Some(d.when_accessing.into_iter().map(Into::into).collect());
    Ok(Json(r))
}

#[utoipa::path(get, path = "/zones/{zone_id}/applications/{id}/dependencies", tag = "Applications", operation_id = "listDependencies",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path), crate::openapi::Page, crate::openapi::DirectorySortParam,
        ("expand[]" = Option<Vec<String>>, Query, description = "total_count; other values are ignored")),
    responses((status = 200, body = ResourcePage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn list_dependencies(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<ResourcePage>, ApiError> {
    let page = params.sorted_page_request(SORT_FIELDS)?;
    let ds = state
        .directory
        .list_dependencies(&scope.0, &id, &page)
        .await?;
    let (page_info, pagination) = envelope_parts(&ds, &page.sort);
    let org = org(&scope);
    Ok(Json(ResourcePage {
        items: ds
            .items
            .into_iter()
            .map(|d| {
                let mut r = ResourceResponse::new(d.resource, &org);
                r.when_accessing = Some(d.when_accessing.into_iter().map(Into::into).collect());
                r
            })
            .collect(),
        page_info,
        pagination,
    }))
}

#[utoipa::path(delete, path = "/zones/{zone_id}/applications/{id}/dependencies/{dependency_id}", tag = "Applications", operation_id = "removeDependency",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path), ("dependency_id" = crate::openapi::Id, Path, description = "The resource depended on")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn remove_dependency(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id, dependency_id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .directory
        .delete_dependency(&scope.0, &id, &dependency_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
