//! Who signed in with what: users, user agents, sessions and delegated
//! grants. The authorization server creates them; the management API reads,
//! revokes and deletes them.

use crate::id::{
    ApplicationId, GrantId, ProviderId, ResourceId, SessionId, UserAgentId, UserId, ZoneId,
};
use crate::page::{Positioned, SortValue};
use crate::time::Timestamp;

pub const USER_SORT_FIELDS: &[&str] = &["created_at", "email", "authenticated_at"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub zone_id: ZoneId,
    pub identifier: String,
    pub email: String,
    pub email_verified: bool,
    pub external: bool,
    pub status: UserStatus,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub provider_id: Option<ProviderId>,
    pub authenticated_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Positioned for User {
    fn id_str(&self) -> &str {
        self.id.as_str()
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
    fn sort_value(&self, field: &str) -> Option<SortValue> {
        match field {
            "email" => Some(SortValue::Text(self.email.clone())),
            "authenticated_at" => Some(SortValue::Int(
                self.authenticated_at.map_or(0, Timestamp::as_micros),
            )),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserAgent {
    pub id: UserAgentId,
    pub zone_id: ZoneId,
    /// The OAuth client_id, `ua:{sha256}`.
    pub identifier: String,
    pub name: String,
    pub slug: String,
    /// The registration metadata (RFC 7591) as received.
    pub metadata: Option<serde_json::Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Positioned for UserAgent {
    fn id_str(&self) -> &str {
        self.id.as_str()
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
}

/// Stored status; `expired` is derived from `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    Active,
    Expired,
    Revoked,
}

impl RecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Active => "active",
            RecordStatus::Expired => "expired",
            RecordStatus::Revoked => "revoked",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "expired" => Some(Self::Expired),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
    /// The status as seen at `now`.
    pub fn at(revoked: bool, expires_at: Timestamp, now: Timestamp) -> Self {
        if revoked {
            RecordStatus::Revoked
        } else if expires_at <= now {
            RecordStatus::Expired
        } else {
            RecordStatus::Active
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SessionKind {
    /// A user signed in (through `user_agent_id`, for `application_id`).
    User {
        user_id: UserId,
        user_agent_id: Option<UserAgentId>,
        application_id: Option<ApplicationId>,
        provider_id: Option<ProviderId>,
        issuer: Option<String>,
        subject: Option<String>,
    },
    /// An application signed in with workload identity.
    Application {
        application_id: ApplicationId,
        provider_id: ProviderId,
        issuer: String,
        subject: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub zone_id: ZoneId,
    pub parent_id: Option<SessionId>,
    pub kind: SessionKind,
    pub revoked: bool,
    pub name: Option<String>,
    pub session_data: Option<serde_json::Value>,
    pub authenticated_at: Option<Timestamp>,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Positioned for Session {
    fn id_str(&self) -> &str {
        self.id.as_str()
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub id: GrantId,
    pub zone_id: ZoneId,
    pub user_id: UserId,
    pub resource_id: ResourceId,
    pub provider_id: ProviderId,
    pub scopes: Vec<String>,
    pub revoked: bool,
    pub refresh_token_set: bool,
    pub expires_at: Timestamp,
    pub refreshed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Grant {
    /// The grant's status at `now` as the management API shows it:
    /// `expired` once its access token has expired (`refresh_token_set`
    /// says whether the next exchange can renew it).
    pub fn status(&self, now: Timestamp) -> RecordStatus {
        RecordStatus::at(self.revoked, self.expires_at, now)
    }

    /// Whether the grant can serve a token exchange: not revoked, and its
    /// access token live or renewable with its refresh token.
    pub fn usable(&self, now: Timestamp) -> bool {
        !self.revoked && (self.expires_at > now || self.refresh_token_set)
    }
}

impl Positioned for Grant {
    fn id_str(&self) -> &str {
        self.id.as_str()
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
}
