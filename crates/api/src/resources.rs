//! `/zones/{zone_id}/resources…`

use crate::auth::Scoped;
use crate::error::{ApiError, ErrorBody};
use crate::etag::{with_etag, IfMatchHeader};
use crate::json::{double_option, JsonBody};
use crate::page::{envelope_parts, Pagination};
use crate::providers::org;
use crate::query::Params;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
    #[schema(value_type = Option<crate::openapi::HttpUrl>)]
    pub docs_url: Option<String>,
    #[schema(value_type = Option<crate::openapi::HttpUrl>)]
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
    #[schema(value_type = Option<crate::openapi::HttpUrl>)]
    pub docs_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::openapi::HttpUrl>)]
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
    #[schema(value_type = ApplicationTypeDto)]
    pub application_type: String,
    pub created_at: String,
    pub identifier: String,
    pub name: String,
    pub organization_id: String,
    #[schema(value_type = crate::zones::OwnerType)]
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
    /// An absolute URI, unique in the zone (else 409).
    #[schema(value_type = crate::openapi::AbsoluteUri)]
    pub identifier: String,
    #[schema(value_type = crate::openapi::Name)]
    pub name: String,
    /// The application that provides the resource: one of this zone
    /// (else 400 on the field).
    #[schema(value_type = Option<crate::openapi::Id>)]
    pub application_id: Option<String>,
    pub application_type: Option<ApplicationTypeDto>,
    /// 60 to 86400.
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schema(minimum = 60, maximum = 86400)]
    pub credential_lifetime_seconds: Option<u32>,
    /// A provider of this zone (else 400 on the field).
    #[schema(value_type = Option<crate::openapi::Id>)]
    pub credential_provider_id: Option<String>,
    #[schema(value_type = Option<crate::openapi::Description>)]
    pub description: Option<String>,
    pub metadata: Option<MetadataDto>,
    /// Protects every URL that has this identifier as a prefix at a path,
    /// query or fragment boundary.
    pub prefix: Option<bool>,
    /// At most 100.
    #[schema(value_type = Option<Vec<crate::openapi::Scope>>, max_items = 100)]
    pub scopes: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
pub struct ResourceUpdate {
    /// An absolute URI, unique in the zone (else 409); `null` changes
    /// nothing.
    #[schema(value_type = Option<crate::openapi::AbsoluteUri>)]
    pub identifier: Option<String>,
    /// `null` changes nothing.
    #[schema(value_type = Option<crate::openapi::Name>)]
    pub name: Option<String>,
    /// An application of this zone (else 400 on the field).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::openapi::Id>)]
    pub application_id: Option<Option<String>>,
    pub application_type: Option<ApplicationTypeDto>,
    /// 60 to 86400.
    #[serde(default, deserialize_with = "whole_seconds_change")]
    #[schema(value_type = Option<u32>, minimum = 60, maximum = 86400)]
    pub credential_lifetime_seconds: Option<Option<u32>>,
    /// A provider of this zone (else 400 on the field).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::openapi::Id>)]
    pub credential_provider_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::openapi::Description>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<MetadataUpdateDto>)]
    pub metadata: Option<Option<MetadataUpdateDto>>,
    pub prefix: Option<bool>,
    /// At most 100.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<crate::openapi::Scope>>, max_items = 100)]
    pub scopes: Option<Option<Vec<String>>>,
}

/// A whole number of seconds, written `60` or `60.0`: JSON has one number
/// type, and JSON Schema counts both as the integer 60.
struct WholeSeconds(u32);

impl<'de> Deserialize<'de> for WholeSeconds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = WholeSeconds;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number of seconds")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<WholeSeconds, E> {
                u32::try_from(v)
                    .map(WholeSeconds)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<WholeSeconds, E> {
                u32::try_from(v)
                    .map(WholeSeconds)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<WholeSeconds, E> {
                if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
                    Ok(WholeSeconds(v as u32))
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

fn whole_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(Option::<WholeSeconds>::deserialize(d)?.map(|w| w.0))
}

/// As [`whole_seconds`], for a PATCH: `null` clears.
fn whole_seconds_change<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<u32>>, D::Error> {
    Ok(Some(Option::<WholeSeconds>::deserialize(d)?.map(|w| w.0)))
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
    params(("zone_id" = crate::openapi::Id, Path), crate::openapi::Page, crate::openapi::DirectorySortParam,
        ("expand[]" = Option<Vec<String>>, Query, description = "total_count; other values are ignored"),
        crate::openapi::DirectoryFilters,
        ("identifier" = Option<String>, Query, description = "The resource protecting this URL: exact, else the longest prefix resource"),
        ("credentialProviderId" = Option<String>, Query, description = "Only resources whose credential provider is this one")),
    responses((status = 200, body = ResourceListResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
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
    params(("zone_id" = crate::openapi::Id, Path)), request_body = ResourceCreate,
    responses((status = 201, body = ResourceResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The identifier is taken", body = ErrorBody)),
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
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses((status = 200, body = ResourceResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn retrieve(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let r = state.directory.get_resource(&scope.0, &id).await?;
    let at = r.updated_at;
    Ok(with_etag(at, Json(ResourceResponse::new(r, &org(&scope)))))
}

#[utoipa::path(patch, path = "/zones/{zone_id}/resources/{id}", tag = "Resources", operation_id = "updateResource",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)), request_body = ResourceUpdate,
    responses((status = 200, body = ResourceResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "The resource is platform-owned", body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The identifier is taken, or concurrent updates kept colliding", body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
    if_match: IfMatchHeader,
    JsonBody(b): JsonBody<ResourceUpdate>,
) -> Result<Response, ApiError> {
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
        .update_resource(&scope.0, &id, fields, if_match.0)
        .await?;
    let at = r.updated_at;
    Ok(with_etag(at, Json(ResourceResponse::new(r, &org(&scope)))))
}

#[utoipa::path(delete, path = "/zones/{zone_id}/resources/{id}", tag = "Resources", operation_id = "deleteResource",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 403, description = "The resource is platform-owned", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.directory.delete_resource(&scope.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_lifetimes_are_whole_numbers_however_written() {
        let body = |v: &str| {
            format!(
                r#"{{"identifier":"https://a.test","name":"a","credential_lifetime_seconds":{v}}}"#
            )
        };
        for (v, want) in [("60", Some(60)), ("86400.0", Some(86400)), ("null", None)] {
            let r = crate::json::parse::<ResourceCreate>(body(v).as_bytes()).unwrap();
            assert_eq!(r.credential_lifetime_seconds, want, "{v}");
        }
        for v in ["60.5", "-1", "1e300", "\"60\""] {
            let Err(e) = crate::json::parse::<ResourceCreate>(body(v).as_bytes()) else {
                panic!("{v} was accepted");
            };
            assert_eq!(e.details[0].field, "credential_lifetime_seconds", "{v}");
        }
        let u = crate::json::parse::<ResourceUpdate>(br#"{"credential_lifetime_seconds":120.0}"#)
            .unwrap();
        assert_eq!(u.credential_lifetime_seconds, Some(Some(120)));
        let u = crate::json::parse::<ResourceUpdate>(br#"{"credential_lifetime_seconds":null}"#)
            .unwrap();
        assert_eq!(u.credential_lifetime_seconds, Some(None));
        let u = crate::json::parse::<ResourceUpdate>(b"{}").unwrap();
        assert_eq!(u.credential_lifetime_seconds, None);
    }
}
