//! `/zones/{zone_id}/secrets` and `/zones/{zone_id}/secrets/{id}`.

use crate::auth::Scoped;
use crate::error::{ApiError, ErrorBody};
use crate::etag::{with_etag, IfMatchHeader};
use crate::json::{double_option, JsonBody};
use crate::query::Params;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyzone_core::store::SecretFilter;
use keyzone_domain::secret::{Secret, SecretChanges, SecretData, SecretDraft, SecretKind};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretType {
    Token,
    Password,
}

impl From<SecretKind> for SecretType {
    fn from(k: SecretKind) -> Self {
        match k {
            SecretKind::Token => SecretType::Token,
            SecretKind::Password => SecretType::Password,
        }
    }
}

/// A secret value, discriminated by `type`.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SecretFields {
    Token {
        #[schema(value_type = crate::openapi::SecretValue)]
        token: String,
    },
    Password {
        #[schema(value_type = crate::openapi::SecretValue)]
        username: String,
        #[schema(value_type = crate::openapi::SecretValue)]
        password: String,
    },
}

impl From<SecretFields> for SecretData {
    fn from(f: SecretFields) -> Self {
        match f {
            SecretFields::Token { token } => SecretData::Token { token },
            SecretFields::Password { username, password } => {
                SecretData::Password { username, password }
            }
        }
    }
}

impl From<SecretData> for SecretFields {
    fn from(d: SecretData) -> Self {
        match d {
            SecretData::Token { token } => SecretFields::Token { token },
            SecretData::Password { username, password } => {
                SecretFields::Password { username, password }
            }
        }
    }
}

/// A secret's record. Its value is only returned by retrieve.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretResponse {
    pub id: String,
    pub created_at: String,
    pub entity_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: SecretType,
    pub updated_at: String,
    pub version: u32,
    pub zone_id: String,
    pub description: Option<String>,
    /// Stored unencrypted.
    pub metadata: Option<serde_json::Value>,
}

impl From<Secret> for SecretResponse {
    fn from(s: Secret) -> Self {
        SecretResponse {
            id: s.id.into(),
            created_at: s.created_at.to_rfc3339(),
            entity_id: s.entity_id,
            name: s.name,
            kind: s.kind.into(),
            updated_at: s.updated_at.to_rfc3339(),
            version: s.version,
            zone_id: s.zone_id.into(),
            description: s.description,
            metadata: s.metadata,
        }
    }
}

/// A secret with its value.
#[derive(Serialize, ToSchema)]
pub struct SecretRetrieveResponse {
    #[serde(flatten)]
    pub record: SecretResponse,
    pub data: SecretFields,
}

#[derive(Deserialize, ToSchema)]
pub struct SecretCreate {
    #[schema(value_type = crate::openapi::Name)]
    pub name: String,
    /// The entity the secret belongs to (e.g. a resource id).
    #[schema(value_type = crate::openapi::Identifier)]
    pub entity_id: String,
    pub data: SecretFields,
    /// At most 128 characters.
    #[schema(value_type = Option<crate::openapi::SecretDescription>)]
    pub description: Option<String>,
    /// Any JSON object of at most 16 KiB; stored unencrypted.
    #[schema(value_type = Option<crate::openapi::JsonObject>)]
    pub metadata: Option<serde_json::Value>,
    /// When given, must equal the zone of the path (else 400).
    #[schema(value_type = Option<crate::openapi::Id>)]
    pub zone_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct SecretUpdate {
    /// A new value: the version increments and the old value is gone.
    /// `null` changes nothing.
    pub data: Option<SecretFields>,
    /// `null` changes nothing.
    #[schema(value_type = Option<crate::openapi::Name>)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::openapi::SecretDescription>)]
    pub description: Option<Option<String>>,
    /// Any JSON object of at most 16 KiB; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::openapi::JsonObject>)]
    pub metadata: Option<Option<serde_json::Value>>,
}

/// List secrets
///
/// A bare JSON array of records, never with values.
#[utoipa::path(
    get, path = "/zones/{zone_id}/secrets", tag = "Secrets", operation_id = "listSecrets",
    params(
        ("zone_id" = crate::openapi::Id, Path),
        ("entity_id" = Option<String>, Query, description = "Only secrets of this entity"),
        ("type" = Option<SecretType>, Query, description = "token or password"),
        ("owner_type" = Option<crate::zones::OwnerType>, Query, description = "customer or platform (every secret made through the API is customer-owned)"),
    ),
    responses(
        (status = 200, body = Vec<SecretResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer_auth" = []))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
) -> Result<Json<Vec<SecretResponse>>, ApiError> {
    let kind = match params.one(&["type"]) {
        None => None,
        Some(t) => Some(
            SecretKind::parse(t)
                .ok_or_else(|| ApiError::invalid("type", "must be token or password"))?,
        ),
    };
    let filter = SecretFilter {
        entity_id: params.one(&["entity_id"]).map(str::to_owned),
        kind,
    };
    let secrets = state.secrets.list(&scope.0, &filter).await?;
    // Every secret created through the API is customer-owned.
    let platform_only = match params.one(&["owner_type"]) {
        None | Some("customer") => false,
        Some("platform") => true,
        Some(_) => {
            return Err(ApiError::invalid(
                "owner_type",
                "must be customer or platform",
            ))
        }
    };
    Ok(Json(if platform_only {
        vec![]
    } else {
        secrets.into_iter().map(Into::into).collect()
    }))
}

/// Create a secret
#[utoipa::path(
    post, path = "/zones/{zone_id}/secrets", tag = "Secrets", operation_id = "createSecret",
    params(("zone_id" = crate::openapi::Id, Path)),
    request_body = SecretCreate,
    responses(
        (status = 201, body = SecretResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, description = "The zone's KMS key cannot be used", body = ErrorBody),
    ),
    security(("bearer_auth" = []))
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    JsonBody(body): JsonBody<SecretCreate>,
) -> Result<impl IntoResponse, ApiError> {
    if body
        .zone_id
        .as_deref()
        .is_some_and(|z| z != scope.0.id().as_str())
    {
        return Err(ApiError::invalid(
            "zone_id",
            "must be the zone of the request path",
        ));
    }
    let draft = SecretDraft {
        name: body.name,
        entity_id: body.entity_id,
        data: body.data.into(),
        description: body.description,
        metadata: body.metadata,
    };
    let s = state.secrets.create(&scope.0, draft).await?;
    Ok((StatusCode::CREATED, Json(SecretResponse::from(s))))
}

/// Get a secret, with its value
#[utoipa::path(
    get, path = "/zones/{zone_id}/secrets/{id}", tag = "Secrets", operation_id = "getSecret",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses(
        (status = 200, body = SecretRetrieveResponse),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "The zone's KMS key cannot be used", body = ErrorBody),
    ),
    security(("bearer_auth" = []))
)]
pub async fn retrieve(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (s, data) = state.secrets.reveal(&scope.0, &id).await?;
    let at = s.updated_at;
    Ok(with_etag(
        at,
        Json(SecretRetrieveResponse {
            record: s.into(),
            data: data.into(),
        }),
    ))
}

/// Update a secret
#[utoipa::path(
    patch, path = "/zones/{zone_id}/secrets/{id}", tag = "Secrets", operation_id = "updateSecret",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    request_body = SecretUpdate,
    responses(
        (status = 200, body = SecretResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Concurrent updates kept colliding; retry", body = ErrorBody),
        (status = 503, description = "The zone's KMS key cannot be used", body = ErrorBody),
    ),
    security(("bearer_auth" = []))
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
    if_match: IfMatchHeader,
    JsonBody(body): JsonBody<SecretUpdate>,
) -> Result<Response, ApiError> {
    let changes = SecretChanges {
        name: body.name,
        description: body.description,
        metadata: body.metadata,
        data: body.data.map(Into::into),
    };
    let s = state
        .secrets
        .update(&scope.0, &id, changes, if_match.0)
        .await?;
    let at = s.updated_at;
    Ok(with_etag(at, Json(SecretResponse::from(s))))
}

/// Delete a secret
#[utoipa::path(
    delete, path = "/zones/{zone_id}/secrets/{id}", tag = "Secrets", operation_id = "deleteSecret",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses(
        (status = 204),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer_auth" = []))
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.secrets.delete(&scope.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
