//! `/zones/{zone_id}/users…`, `/user-agents…`, `/sessions…` and
//! `/delegated-grants…`: records the authorization server keeps.

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
use keyzone_core::store::{GrantFilter, SessionFilter, UserFilter, UserRecord};
use keyzone_domain::identity::{
    Grant, RecordStatus, Session, SessionKind, UserAgent, USER_SORT_FIELDS,
};
use keyzone_domain::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// A user of the zone.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: String,
    pub created_at: String,
    pub email: String,
    pub email_verified: bool,
    pub external: bool,
    pub identifier: String,
    pub organization_id: String,
    /// `active` or `disabled`.
    #[schema(value_type = crate::openapi::UserStatus)]
    pub status: String,
    pub updated_at: String,
    pub zone_id: String,
    pub authenticated_at: Option<String>,
    pub issuer: Option<String>,
    pub provider_id: Option<String>,
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub role_assignments: Option<Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub groups: Option<Vec<serde_json::Value>>,
}

fn user_response(r: UserRecord, org: &str, params: &Params) -> UserResponse {
    let u = r.user;
    UserResponse {
        id: u.id.into(),
        created_at: u.created_at.to_rfc3339(),
        email: u.email,
        email_verified: u.email_verified,
        external: u.external,
        identifier: u.identifier,
        organization_id: org.to_owned(),
        status: u.status.as_str().into(),
        updated_at: u.updated_at.to_rfc3339(),
        zone_id: u.zone_id.into(),
        authenticated_at: u.authenticated_at.map(Timestamp::to_rfc3339),
        issuer: u.issuer,
        provider_id: u.provider_id.map(Into::into),
        subject: u.subject,
        grant_count: params.expands("grant_count").then_some(r.grant_count),
        session_count: params.expands("session_count").then_some(r.session_count),
        // Roles and groups arrive with the policy engine; until then a user
        // has none.
        role_assignments: params.expands("role-assignments").then(Vec::new),
        groups: params.expands("groups").then(Vec::new),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserListResponse {
    pub items: Vec<UserResponse>,
    pub pagination: Pagination,
}

/// A dynamically registered client.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserAgentResponse {
    pub id: String,
    pub created_at: String,
    /// The OAuth client_id: `ua:{sha256}` for a dynamically registered client, the document URL for a client ID metadata document (CIMD) client.
    pub identifier: String,
    pub name: String,
    pub organization_id: String,
    pub slug: String,
    pub updated_at: String,
    pub zone_id: String,
}

fn user_agent_response(a: UserAgent, org: &str) -> UserAgentResponse {
    UserAgentResponse {
        id: a.id.into(),
        created_at: a.created_at.to_rfc3339(),
        identifier: a.identifier,
        name: a.name,
        organization_id: org.to_owned(),
        slug: a.slug,
        updated_at: a.updated_at.to_rfc3339(),
        zone_id: a.zone_id.into(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserAgentListResponse {
    pub items: Vec<UserAgentResponse>,
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionMetadata {
    pub name: String,
}

/// A user session (`session_type: user`) or an application session
/// (`session_type: application`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    pub id: String,
    #[schema(value_type = crate::openapi::SessionType)]
    pub session_type: String,
    pub active: bool,
    /// `active`, `expired` or `revoked`.
    #[schema(value_type = crate::openapi::RecordStatus)]
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: String,
    pub organization_id: String,
    pub zone_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<SessionMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub session_data: Option<serde_json::Value>,
}

fn session_response(s: Session, org: &str) -> SessionResponse {
    let status = RecordStatus::at(s.revoked, s.expires_at, Timestamp::now());
    let mut r = SessionResponse {
        id: s.id.into(),
        session_type: String::new(),
        active: status == RecordStatus::Active,
        status: status.as_str().into(),
        created_at: s.created_at.to_rfc3339(),
        updated_at: s.updated_at.to_rfc3339(),
        expires_at: s.expires_at.to_rfc3339(),
        organization_id: org.to_owned(),
        zone_id: s.zone_id.into(),
        user_id: None,
        user_agent_id: None,
        parent_id: s.parent_id.map(Into::into),
        application_id: None,
        provider_id: None,
        issuer: None,
        subject: None,
        authenticated_at: s.authenticated_at.map(Timestamp::to_rfc3339),
        metadata: s.name.map(|name| SessionMetadata { name }),
        session_data: s.session_data,
    };
    match s.kind {
        SessionKind::User {
            user_id,
            user_agent_id,
            application_id,
            provider_id,
            issuer,
            subject,
        } => {
            r.session_type = "user".into();
            r.user_id = Some(user_id.into());
            r.user_agent_id = user_agent_id.map(Into::into);
            r.application_id = application_id.map(Into::into);
            r.provider_id = provider_id.map(Into::into);
            r.issuer = issuer;
            r.subject = subject;
        }
        SessionKind::Application {
            application_id,
            provider_id,
            issuer,
            subject,
        } => {
            r.session_type = "application".into();
            r.application_id = Some(application_id.into());
            r.provider_id = Some(provider_id.into());
            r.issuer = Some(issuer);
            r.subject = Some(subject);
        }
    }
    r
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionListResponse {
    pub items: Vec<SessionResponse>,
    pub pagination: Pagination,
}

/// A user's authorization for a resource to be accessed on their behalf.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantResponse {
    pub id: String,
    pub created_at: String,
    pub expires_at: String,
    pub organization_id: String,
    pub provider_id: String,
    pub refresh_token_set: bool,
    pub resource_id: String,
    pub scopes: Vec<String>,
    /// `active`, `expired` or `revoked`.
    #[schema(value_type = crate::openapi::RecordStatus)]
    pub status: String,
    pub updated_at: String,
    pub user_id: String,
    pub zone_id: String,
    pub active: bool,
    pub refreshed_at: Option<String>,
}

fn grant_response(g: Grant, org: &str) -> GrantResponse {
    let status = g.status(Timestamp::now());
    GrantResponse {
        id: g.id.into(),
        created_at: g.created_at.to_rfc3339(),
        expires_at: g.expires_at.to_rfc3339(),
        organization_id: org.to_owned(),
        provider_id: g.provider_id.into(),
        refresh_token_set: g.refresh_token_set,
        resource_id: g.resource_id.into(),
        scopes: g.scopes,
        status: status.as_str().into(),
        updated_at: g.updated_at.to_rfc3339(),
        user_id: g.user_id.into(),
        zone_id: g.zone_id.into(),
        active: status == RecordStatus::Active,
        refreshed_at: g.refreshed_at.map(Timestamp::to_rfc3339),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantListResponse {
    pub items: Vec<GrantResponse>,
    pub pagination: Pagination,
}

/// The only change allowed: `{"status": "revoked"}`.
#[derive(Deserialize, ToSchema)]
pub struct Revoke {
    pub status: RevokedStatus,
}

#[derive(Deserialize, ToSchema)]
pub enum RevokedStatus {
    #[serde(rename = "revoked")]
    Revoked,
}

fn status_param(params: &Params) -> Result<Option<RecordStatus>, ApiError> {
    let status = match params.one(&["status"]) {
        None => None,
        Some(s) => Some(
            RecordStatus::parse(s)
                .ok_or_else(|| ApiError::invalid("status", "must be active, expired or revoked"))?,
        ),
    };
    match params.one(&["active"]) {
        None => Ok(status),
        Some("true") => Ok(Some(RecordStatus::Active)),
        Some(_) => Err(ApiError::invalid("active", "must be true")),
    }
}

fn many(params: &Params, names: &[&str]) -> Vec<String> {
    params.all(names).map(str::to_owned).collect()
}

#[utoipa::path(get, path = "/zones/{zone_id}/users", tag = "Users", operation_id = "listUsers",
    params(("zone_id" = crate::openapi::Id, Path), crate::openapi::Page, crate::openapi::UserSortParam,
        ("expand[]" = Option<Vec<String>>, Query, description = "total_count, grant_count, session_count, role-assignments, groups; other values are ignored"),
        ("filter[email]" = Option<Vec<String>>, Query, description = "Exact emails"),
        ("filter[identifier]" = Option<Vec<String>>, Query, description = "Exact identifiers"),
        ("filter[issuer]" = Option<Vec<String>>, Query, description = "Exact issuers"),
        ("filter[subject]" = Option<Vec<String>>, Query, description = "Exact subjects"),
        ("filter[external]" = Option<bool>, Query, description = "Only external users, or only others"),
        ("query[]" = Option<Vec<String>>, Query, description = "Case-insensitive substring of the email or the subject")),
    responses((status = 200, body = UserListResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn list_users(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
) -> Result<Json<UserListResponse>, ApiError> {
    let external = match params.one(&["filter[external]"]) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(ApiError::invalid(
                "filter[external]",
                "must be true or false",
            ))
        }
    };
    let filter = UserFilter {
        ids: many(&params, &["filter[id]"]),
        emails: many(&params, &["filter[email]"]),
        identifiers: many(&params, &["filter[identifier]"]),
        issuers: many(&params, &["filter[issuer]"]),
        subjects: many(&params, &["filter[subject]"]),
        external,
        query_any: many(&params, &["query[]", "query"]),
        query_email: many(&params, &["query[email]"]),
        query_subject: many(&params, &["query[subject]"]),
    };
    // The same filter[id] rules as every list: at most 100, no cursors,
    // and a page that holds them all.
    let (common, default_limit) = params.list_filter()?;
    let mut page = params.sorted_page_request(USER_SORT_FIELDS)?;
    if let Some(l) = default_limit {
        page.limit = l;
    }
    let filter = UserFilter {
        ids: common.ids,
        ..filter
    };
    let users = state.identity.list_users(&scope.0, &filter, &page).await?;
    let (_, pagination) = envelope_parts(&users, &page.sort);
    let org = org(&scope);
    Ok(Json(UserListResponse {
        items: users
            .items
            .into_iter()
            .map(|u| user_response(u, &org, &params))
            .collect(),
        pagination,
    }))
}

#[utoipa::path(get, path = "/zones/{zone_id}/users/{id}", tag = "Users", operation_id = "getUser",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path),
        ("expand[]" = Option<Vec<String>>, Query, description = "grant_count, session_count, role-assignments, groups; other values are ignored")),
    responses((status = 200, body = UserResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn get_user(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<UserResponse>, ApiError> {
    let u = state.identity.get_user(&scope.0, &id).await?;
    Ok(Json(user_response(u, &org(&scope), &params)))
}

#[utoipa::path(get, path = "/zones/{zone_id}/user-agents", tag = "User agents", operation_id = "listUserAgents",
    params(("zone_id" = crate::openapi::Id, Path), crate::openapi::Page, ("expand[]" = Option<Vec<String>>, Query, description = "total_count; other values are ignored")),
    responses((status = 200, body = UserAgentListResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn list_user_agents(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
) -> Result<Json<UserAgentListResponse>, ApiError> {
    let page = params.page_request()?;
    let uas = state.identity.list_user_agents(&scope.0, &page).await?;
    let (_, pagination) = envelope_parts(&uas, &page.sort);
    let org = org(&scope);
    Ok(Json(UserAgentListResponse {
        items: uas
            .items
            .into_iter()
            .map(|a| user_agent_response(a, &org))
            .collect(),
        pagination,
    }))
}

#[utoipa::path(get, path = "/zones/{zone_id}/user-agents/{id}", tag = "User agents", operation_id = "getUserAgent",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses((status = 200, body = UserAgentResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn get_user_agent(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<UserAgentResponse>, ApiError> {
    let a = state.identity.get_user_agent(&scope.0, &id).await?;
    Ok(Json(user_agent_response(a, &org(&scope))))
}

#[utoipa::path(get, path = "/zones/{zone_id}/sessions", tag = "Sessions", operation_id = "listSessions",
    params(("zone_id" = crate::openapi::Id, Path), crate::openapi::Page, ("expand[]" = Option<Vec<String>>, Query, description = "total_count; other values are ignored"),
        ("session_type" = Option<crate::openapi::SessionType>, Query),
        ("status" = Option<crate::openapi::RecordStatus>, Query),
        ("active" = Option<crate::openapi::OnlyTrue>, Query, description = "`true`: the same as `status=active`"),
        ("user_id" = Option<String>, Query, description = "Only sessions of this user"),
        ("include_nested" = Option<String>, Query, description = "`true` also lists sessions nested under others; any other value does not")),
    responses((status = 200, body = SessionListResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn list_sessions(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
) -> Result<Json<SessionListResponse>, ApiError> {
    let session_type = match params.one(&["session_type"]) {
        None => None,
        Some(t @ ("user" | "application")) => Some(t.to_owned()),
        Some(_) => {
            return Err(ApiError::invalid(
                "session_type",
                "must be user or application",
            ))
        }
    };
    let filter = SessionFilter {
        status: status_param(&params)?,
        session_type,
        user_id: params.one(&["user_id"]).map(str::to_owned),
        include_nested: params.one(&["include_nested"]) == Some("true"),
    };
    let page = params.page_request()?;
    let ss = state
        .identity
        .list_sessions(&scope.0, &filter, &page)
        .await?;
    let (_, pagination) = envelope_parts(&ss, &page.sort);
    let org = org(&scope);
    Ok(Json(SessionListResponse {
        items: ss
            .items
            .into_iter()
            .map(|s| session_response(s, &org))
            .collect(),
        pagination,
    }))
}

#[utoipa::path(get, path = "/zones/{zone_id}/sessions/{id}", tag = "Sessions", operation_id = "getSession",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses((status = 200, body = SessionResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn get_session(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<SessionResponse>, ApiError> {
    let s = state.identity.get_session(&scope.0, &id).await?;
    Ok(Json(session_response(s, &org(&scope))))
}

/// Revoke a session (and the sessions nested under it)
#[utoipa::path(patch, path = "/zones/{zone_id}/sessions/{id}", tag = "Sessions", operation_id = "revokeSession",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)), request_body = Revoke,
    responses((status = 200, body = SessionResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn update_session(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
    JsonBody(_): JsonBody<Revoke>,
) -> Result<Json<SessionResponse>, ApiError> {
    let s = state.identity.revoke_session(&scope.0, &id).await?;
    Ok(Json(session_response(s, &org(&scope))))
}

#[utoipa::path(delete, path = "/zones/{zone_id}/sessions/{id}", tag = "Sessions", operation_id = "deleteSession",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn delete_session(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.identity.delete_session(&scope.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/zones/{zone_id}/delegated-grants", tag = "Delegated grants", operation_id = "listDelegatedGrants",
    params(("zone_id" = crate::openapi::Id, Path), crate::openapi::Page, crate::openapi::GrantSortParam, ("expand[]" = Option<Vec<String>>, Query, description = "total_count; other values are ignored"),
        ("status" = Option<crate::openapi::RecordStatus>, Query),
        ("active" = Option<crate::openapi::OnlyTrue>, Query, description = "`true`: the same as `status=active`"),
        ("resource_id" = Option<String>, Query, description = "Only grants for this resource"),
        ("user_id" = Option<String>, Query, description = "Only grants of this user")),
    responses((status = 200, body = GrantListResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn list_grants(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
) -> Result<Json<GrantListResponse>, ApiError> {
    let filter = GrantFilter {
        status: status_param(&params)?,
        resource_id: params.one(&["resource_id"]).map(str::to_owned),
        user_id: params.one(&["user_id"]).map(str::to_owned),
    };
    let page = params.sorted_page_request(&["created_at"])?;
    let gs = state.identity.list_grants(&scope.0, &filter, &page).await?;
    let (_, pagination) = envelope_parts(&gs, &page.sort);
    let org = org(&scope);
    Ok(Json(GrantListResponse {
        items: gs
            .items
            .into_iter()
            .map(|g| grant_response(g, &org))
            .collect(),
        pagination,
    }))
}

#[utoipa::path(get, path = "/zones/{zone_id}/delegated-grants/{id}", tag = "Delegated grants", operation_id = "getDelegatedGrant",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses((status = 200, body = GrantResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn get_grant(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<GrantResponse>, ApiError> {
    let g = state.identity.get_grant(&scope.0, &id).await?;
    Ok(Json(grant_response(g, &org(&scope))))
}

/// Revoke a delegated grant
#[utoipa::path(patch, path = "/zones/{zone_id}/delegated-grants/{id}", tag = "Delegated grants", operation_id = "revokeDelegatedGrant",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)), request_body = Revoke,
    responses((status = 200, body = GrantResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn update_grant(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
    JsonBody(_): JsonBody<Revoke>,
) -> Result<Json<GrantResponse>, ApiError> {
    let g = state.identity.revoke_grant(&scope.0, &id).await?;
    Ok(Json(grant_response(g, &org(&scope))))
}

#[utoipa::path(delete, path = "/zones/{zone_id}/delegated-grants/{id}", tag = "Delegated grants", operation_id = "deleteDelegatedGrant",
    params(("zone_id" = crate::openapi::Id, Path), ("id" = crate::openapi::Id, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn delete_grant(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.identity.delete_grant(&scope.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST /zones/{zone_id}/users`, a Keyzone extension (the
/// Keycard API has no call for it): a person of the zone, provisioned by
/// an administrator, who signs in on the zone's sign-in page.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UserCreate {
    /// Stored trimmed and in lowercase; unique among the zone's own users
    /// (else 409).
    #[schema(value_type = crate::openapi::Email)]
    pub email: String,
    /// Without it the person cannot sign in with a password. Stored only
    /// as an argon2id hash.
    #[schema(value_type = Option<crate::openapi::Password>)]
    pub password: Option<String>,
    /// What the person is called (the OIDC `name` claim).
    #[schema(value_type = Option<crate::openapi::Name>)]
    pub name: Option<String>,
    /// Default `false`.
    #[serde(default)]
    pub email_verified: bool,
}

#[utoipa::path(post, path = "/zones/{zone_id}/users", tag = "Users", operation_id = "createUser",
    description = "**Keyzone extension**: the Keycard API has no such call, and the official SDK does not \
        know it (`x-keyzone-extension`). An administrator provisions a person of the zone who signs in \
        on the zone's sign-in page, with the password when one is given.",
    extensions(("x-keyzone-extension" = json!(true))),
    params(("zone_id" = crate::openapi::Id, Path),
        ("expand[]" = Option<Vec<String>>, Query, description = "grant_count, session_count, role-assignments, groups; other values are ignored")),
    request_body = UserCreate,
    responses((status = 201, body = UserResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The email is taken by another user of the zone", body = ErrorBody)),
    security(("bearer_auth" = [])))]
pub async fn create_user(
    State(state): State<Arc<AppState>>,
    scope: Scoped,
    params: Params,
    JsonBody(body): JsonBody<UserCreate>,
) -> Result<impl IntoResponse, ApiError> {
    let user = state
        .tokens
        .provision_user(
            scope.0.zone(),
            &body.email,
            body.password.as_deref(),
            body.name.as_deref(),
            body.email_verified,
        )
        .await?;
    let record = UserRecord {
        user,
        grant_count: 0,
        session_count: 0,
    };
    Ok((
        StatusCode::CREATED,
        Json(user_response(record, &org(&scope), &params)),
    ))
}
