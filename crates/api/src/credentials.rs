//! `/zones/{zone_id}/application-credentials…`
//!
//! Responses are the SDK's union selected by `type`, and carry every base
//! field: the SDK silently builds the wrong variant from an incomplete one.

use crate::auth::Scoped;
use crate::error::{ApiError, ErrorBody};
use crate::etag::{with_etag, IfMatchHeader};
use crate::json::{double_option, JsonBody};
use crate::page::{envelope_parts, PageInfo, Pagination};
use crate::providers::org;
use crate::query::Params;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyzone_core::directory::{CredentialChanges, NewCredential};
use keyzone_domain::directory::{Credential, CredentialKind};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// An application credential (`type`: token, password, public-key, url,
/// public).
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialResponse {
    pub id: String,
    pub application_id: String,
    pub created_at: String,
    pub organization_id: String,
    pub slug: String,
    pub updated_at: String,
    pub zone_id: String,
    /// The OAuth client_id; for token credentials the subject, or `*`.
    pub identifier: String,
    #[serde(rename = "type")]
    #[schema(value_type = crate::openapi::CredentialType)]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The client secret of a password credential: in the create response
    /// only, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl CredentialResponse {
    pub fn new(c: Credential, organization_id: &str, secret: Option<String>) -> Self {
        let (provider_id, subject, jwks_uri) = match &c.kind {
            CredentialKind::Token {
                provider_id,
                subject,
            } => (Some(provider_id.to_string()), subject.clone(), None),
            CredentialKind::PublicKey { jwks_uri } => (None, None, Some(jwks_uri.clone())),
            _ => (None, None, None),
        };
        CredentialResponse {
            kind: c.kind.type_str().into(),
            id: c.id.into(),
            application_id: c.application_id.into(),
            created_at: c.created_at.to_rfc3339(),
            organization_id: organization_id.to_owned(),
            slug: c.slug,
            updated_at: c.updated_at.to_rfc3339(),
            zone_id: c.zone_id.into(),
            identifier: c.identifier,
            provider_id,
            subject,
            jwks_uri,
            password: secret,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialListResponse {
    pub items: Vec<CredentialResponse>,
    pub page_info: PageInfo,
    pub pagination: Pagination,
}

#[derive(Deserialize, ToSchema)]
#[serde(tag = "type")]
pub enum CredentialCreate {
    /// Workload identity: JWTs of `provider_id` whose `sub` is `subject`
    /// (any subject when absent).
    #[serde(rename = "token")]
    Token {
        /// An application of this zone (else 400 on the field).
        #[schema(value_type = crate::openapi::Id)]
        application_id: String,
        /// A provider of this zone (else 400 on the field).
        #[schema(value_type = crate::openapi::Id)]
        provider_id: String,
        #[schema(value_type = Option<crate::openapi::Identifier>)]
        subject: Option<String>,
    },
    /// A client secret, returned once in the create response.
    #[serde(rename = "password")]
    Password {
        /// An application of this zone (else 400 on the field).
        #[schema(value_type = crate::openapi::Id)]
        application_id: String,
        /// The client_id, unique in the zone (else 409); generated when
        /// absent.
        #[schema(value_type = Option<crate::openapi::Identifier>)]
        identifier: Option<String>,
    },
    /// `private_key_jwt` with the keys at `jwks_uri`.
    #[serde(rename = "public-key")]
    PublicKey {
        /// An application of this zone (else 400 on the field).
        #[schema(value_type = crate::openapi::Id)]
        application_id: String,
        #[schema(value_type = crate::openapi::HttpsUrl)]
        jwks_uri: String,
        /// The client_id, unique in the zone (else 409); generated when
        /// absent.
        #[schema(value_type = Option<crate::openapi::Identifier>)]
        identifier: Option<String>,
    },
    /// A URL client identity (a client ID metadata document).
    #[serde(rename = "url")]
    Url {
        /// An application of this zone (else 400 on the field).
        #[schema(value_type = crate::openapi::Id)]
        application_id: String,
        /// The client ID URL, unique in the zone (else 409).
        #[schema(value_type = crate::openapi::HttpsUrl)]
        identifier: String,
    },
    /// A public client, without a secret.
    #[serde(rename = "public")]
    Public {
        /// An application of this zone (else 400 on the field).
        #[schema(value_type = crate::openapi::Id)]
        application_id: String,
        /// The client_id, unique in the zone (else 409); generated when
        /// absent.
        #[schema(value_type = Option<crate::openapi::Identifier>)]
        identifier: Option<String>,
    },
}

/// A PATCH of a credential (`Iam…CredentialUpdate` in the SDK). What an
/// update may change depends on the credential's type, so every field a
/// credential has is read here, and core refuses those that do not apply
/// (400 on the field) instead of ignoring them. The schema, one branch per
/// type, is `openapi::CredentialUpdate`.
#[derive(Deserialize, Default)]
pub struct CredentialUpdate {
    /// When given, the credential's own type (no update changes it).
    #[serde(default, rename = "type", deserialize_with = "double_option")]
    pub kind: Option<Option<String>>,
    /// Token credentials: `null` accepts any subject.
    #[serde(default, deserialize_with = "double_option")]
    pub subject: Option<Option<String>>,
    /// URL credentials (an https URL) and public credentials; unique in the
    /// zone (else 409); `null` keeps it.
    #[serde(default, deserialize_with = "double_option")]
    pub identifier: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub application_id: bool,
    #[serde(default, deserialize_with = "present")]
    pub provider_id: bool,
    #[serde(default, deserialize_with = "present")]
    pub jwks_uri: bool,
}

/// Whether a field was sent at all, whatever its value.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

#[utoipa::path(get, path = "/zones/{zone_id}/application-credentials", tag = "Application credentials", operation_id = "listCredentials",
    params(("zone_id" = crate::openapi::Id, Path), crate::openapi::Page,
        ("expand[]" = Option<Vec<String>>, Query, description = "total_count; other values are ignored"),
        crate::openapi::DirectoryFilters,
        ("applicationId" = Option<String>, Query, description = "Only credentials of this application")),
    responses((status = 200, body = CredentialListResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
) -> Result<Json<CredentialListResponse>, ApiError> {
    let (mut filter, default_limit) = params.list_filter()?;
    filter.application_id = params
        .one(&["applicationId", "application_id", "filter[application_id]"])
        .map(str::to_owned);
    let mut page = params.page_request()?;
    if let Some(l) = default_limit {
        page.limit = l;
    }
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

#[utoipa::path(post, path = "/zones/{zone_id}/application-credentials", tag = "Application credentials", operation_id = "createCredential",
    params(("zone_id" = crate::openapi::Id, Path)), request_body = CredentialCreate,
    responses((status = 201, body = CredentialResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The identifier is taken", body = ErrorBody),
        (status = 503, description = "The zone's KMS key cannot be used (for a password)", body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    JsonBody(b): JsonBody<CredentialCreate>,
) -> Result<impl IntoResponse, ApiError> {
    let (application_id, new) = match b {
        CredentialCreate::Token {
            application_id,
            provider_id,
            subject,
        } => (
            application_id,
            NewCredential::Token {
                provider_id,
                subject,
            },
        ),
        CredentialCreate::Password {
            application_id,
            identifier,
        } => (application_id, NewCredential::Password { identifier }),
        CredentialCreate::PublicKey {
            application_id,
            jwks_uri,
            identifier,
        } => (
            application_id,
            NewCredential::PublicKey {
                jwks_uri,
                identifier,
            },
        ),
        CredentialCreate::Url {
            application_id,
            identifier,
        } => (application_id, NewCredential::Url { identifier }),
        CredentialCreate::Public {
            application_id,
            identifier,
        } => (application_id, NewCredential::Public { identifier }),
    };
    let (c, secret) = state
        .directory
        .create_credential(&scope.0, &application_id, new)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CredentialResponse::new(c, &org(&scope), secret)),
    ))
}

#[utoipa::path(get, path = "/zones/{zone_id}/application-credentials/{id}", tag = "Application credentials", operation_id = "getCredential",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses((status = 200, body = CredentialResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn retrieve(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let c = state.directory.get_credential(&scope.0, &id).await?;
    let at = c.updated_at;
    Ok(with_etag(
        at,
        Json(CredentialResponse::new(c, &org(&scope), None)),
    ))
}

#[utoipa::path(patch, path = "/zones/{zone_id}/application-credentials/{id}", tag = "Application credentials", operation_id = "updateCredential",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)), request_body = crate::openapi::CredentialUpdate,
    responses((status = 200, body = CredentialResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The identifier is taken, or concurrent updates kept colliding", body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
    if_match: IfMatchHeader,
    JsonBody(b): JsonBody<CredentialUpdate>,
) -> Result<Response, ApiError> {
    let c = state
        .directory
        .update_credential(
            &scope.0,
            &id,
            CredentialChanges {
                kind: b.kind,
                subject: b.subject,
                identifier: b.identifier,
                fixed: [
                    ("application_id", b.application_id),
                    ("provider_id", b.provider_id),
                    ("jwks_uri", b.jwks_uri),
                ]
                .into_iter()
                .filter_map(|(field, sent)| sent.then_some(field))
                .collect(),
            },
            if_match.0,
        )
        .await?;
    let at = c.updated_at;
    Ok(with_etag(
        at,
        Json(CredentialResponse::new(c, &org(&scope), None)),
    ))
}

#[utoipa::path(delete, path = "/zones/{zone_id}/application-credentials/{id}", tag = "Application credentials", operation_id = "deleteCredential",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.directory.delete_credential(&scope.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
