//! `…/zones/{zone_id}/user-invitations`: a Keyzone extension (the Keycard
//! API has no zone-user invitations; every operation carries
//! `x-keyzone-extension: true` in the OpenAPI document). An invitation
//! lets its email sign up in a zone with `requires_invitation`; its link
//! (`{issuer}/oauth/invitation?token=…`) is mailed when the deployment has
//! SMTP, and returned once, in the creating response, for operators
//! without it. The link holds a secret: only its digest is stored.

use crate::auth::Scoped;
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::page::{envelope_parts, Pagination};
use crate::providers::org;
use crate::query::Params;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use keyzone_domain::invitation::Invitation;
use keyzone_domain::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct InvitationCreate {
    /// The address to invite (compared case-insensitively).
    #[schema(value_type = crate::openapi::InvitationEmail)]
    pub email: String,
}

/// An invitation of an email address to the zone.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationResponse {
    pub id: String,
    /// Normalized: trimmed, lower case.
    pub email: String,
    /// `pending`, `accepted` or `expired`.
    pub status: String,
    pub created_at: String,
    /// The link stops working then (7 days after creation).
    pub expires_at: String,
    /// When the person signed up with it.
    pub accepted_at: Option<String>,
    pub organization_id: String,
    pub zone_id: String,
}

/// The new invitation, with its link (returned only here).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvitationResponse {
    #[serde(flatten)]
    pub invitation: InvitationResponse,
    /// Where the invited person sets a password. A secret: pass it only to
    /// them.
    pub invitation_url: String,
    /// Whether the link was mailed (the deployment has SMTP and the mail
    /// server accepted it).
    pub email_sent: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationListResponse {
    pub items: Vec<InvitationResponse>,
    pub pagination: Pagination,
}

fn invitation_response(i: Invitation, org: &str) -> InvitationResponse {
    InvitationResponse {
        id: i.id.to_string(),
        status: i.status_at(Timestamp::now()).to_owned(),
        email: i.email,
        created_at: i.created_at.to_rfc3339(),
        expires_at: i.expires_at.to_rfc3339(),
        accepted_at: i.accepted_at.map(|a| a.to_rfc3339()),
        organization_id: org.to_owned(),
        zone_id: i.zone_id.to_string(),
    }
}

/// Invite an email address to the zone (Keyzone extension)
#[utoipa::path(post, path = "/zones/{zone_id}/user-invitations", tag = "User invitations", operation_id = "createUserInvitation",
    description = "**Keyzone extension**: the Keycard API has no such call, and the official SDK does not make it. Invites an email address to sign up in the zone, also when it requires invitations; with SMTP configured the invitation is mailed. The response alone carries the invitation link.",
    params(("zone_id" = crate::openapi::Id, Path)), request_body = InvitationCreate,
    responses((status = 201, body = CreatedInvitationResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The email already signs in to the zone, or has a pending invitation")),
    extensions(("x-keyzone-extension" = json!(true))),
    security(("bearer_auth" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    JsonBody(body): JsonBody<InvitationCreate>,
) -> Result<impl IntoResponse, ApiError> {
    let created = state.tokens.invite(&scope.0, &body.email).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedInvitationResponse {
            invitation: invitation_response(created.invitation, &org(&scope)),
            invitation_url: created.url,
            email_sent: created.email_sent,
        }),
    ))
}

/// List the zone's invitations (Keyzone extension)
#[utoipa::path(get, path = "/zones/{zone_id}/user-invitations", tag = "User invitations", operation_id = "listUserInvitations",
    description = "**Keyzone extension**: the Keycard API has no such call, and the official SDK does not make it. The zone's invitations, pending and accepted.",
    params(("zone_id" = crate::openapi::Id, Path), crate::openapi::Page, ("expand[]" = Option<Vec<String>>, Query, description = "total_count; other values are ignored")),
    responses((status = 200, body = InvitationListResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    extensions(("x-keyzone-extension" = json!(true))),
    security(("bearer_auth" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
) -> Result<Json<InvitationListResponse>, ApiError> {
    let page = params.page_request()?;
    let items = state.tokens.list_invitations(&scope.0, &page).await?;
    let (_, pagination) = envelope_parts(&items, &page.sort);
    let org = org(&scope);
    Ok(Json(InvitationListResponse {
        items: items
            .items
            .into_iter()
            .map(|i| invitation_response(i, &org))
            .collect(),
        pagination,
    }))
}

/// Revoke an invitation: its link stops working (Keyzone extension)
#[utoipa::path(delete, path = "/zones/{zone_id}/user-invitations/{id}", tag = "User invitations", operation_id = "deleteUserInvitation",
    description = "**Keyzone extension**: the Keycard API has no such call, and the official SDK does not make it. Revokes an invitation: its link stops working.",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    extensions(("x-keyzone-extension" = json!(true))),
    security(("bearer_auth" = [])))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.tokens.revoke_invitation(&scope.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
