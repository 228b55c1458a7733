//! People signing in: password credentials, browser sessions, single-use
//! authorization codes, rotating refresh tokens and remembered consent.
//! Secrets arrive here only as digests (argon2id for passwords, SHA-256 of
//! 256-bit random values for cookies, codes and refresh tokens).

use super::StoreError;
use async_trait::async_trait;
use keyzone_domain::identity::{Session, User};
use keyzone_domain::{SessionId, Timestamp, UserId, ZoneId};

/// A digest of a random secret (cookie, code, refresh token).
pub type SecretDigest = [u8; 32];

/// An authorization code as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCode {
    pub session_id: SessionId,
    /// What the code grants (client, redirect URI, PKCE, resources, scopes…).
    pub grant_data: String,
    pub expires_at: Timestamp,
    /// When it was redeemed before this call; `None` on the first use.
    pub used_at: Option<Timestamp>,
    /// The refresh-token session its first redemption created.
    pub issued_session_id: Option<SessionId>,
}

/// A refresh token as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRefreshToken {
    pub session_id: SessionId,
    pub grant_data: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// When it was rotated out before this call; `None` if it was current.
    pub rotated_at: Option<Timestamp>,
}

#[async_trait]
pub trait SignInStore: Send + Sync {
    /// The user and, when given, their password hash and name.
    async fn insert_user_with_password(
        &self,
        user: &User,
        password_hash: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), StoreError>;
    /// The name a person gave, if any.
    async fn user_name(&self, zone: &ZoneId, user: &UserId) -> Result<Option<String>, StoreError>;
    /// A zone's own (not federated) user by email, with their password hash.
    async fn local_user_by_email(
        &self,
        zone: &ZoneId,
        email: &str,
    ) -> Result<Option<(User, Option<String>)>, StoreError>;
    async fn record_user_sign_in(
        &self,
        zone: &ZoneId,
        user: &UserId,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// A browser session and its cookie secret's digest, in one transaction.
    async fn insert_browser_session(
        &self,
        session: &Session,
        secret: &SecretDigest,
    ) -> Result<(), StoreError>;
    async fn browser_session(
        &self,
        zone: &ZoneId,
        id: &SessionId,
    ) -> Result<Option<(Session, Vec<u8>)>, StoreError>;

    async fn insert_code(
        &self,
        zone: &ZoneId,
        code: &SecretDigest,
        session: &SessionId,
        grant_data: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Marks the code used at `now` (first use only) and returns it as it
    /// was before: `used_at` tells a replay.
    async fn consume_code(
        &self,
        zone: &ZoneId,
        code: &SecretDigest,
        now: Timestamp,
    ) -> Result<Option<StoredCode>, StoreError>;
    async fn set_code_session(
        &self,
        zone: &ZoneId,
        code: &SecretDigest,
        issued: &SessionId,
    ) -> Result<(), StoreError>;

    async fn insert_refresh_token(
        &self,
        zone: &ZoneId,
        token: &SecretDigest,
        session: &SessionId,
        grant_data: &str,
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// In one write transaction: marks the token rotated out at `now` (if
    /// it was current), and — when it exists and has not expired — stores
    /// `successor` for the same session and grant (RFC 6749 §6: the new
    /// refresh token's scope is identical), expiring at
    /// `successor_expires_at`. Returns the token as it was before:
    /// `rotated_at` tells a reuse. A successor of a token the caller then
    /// refuses is never handed out, so it is inert.
    async fn rotate_refresh_token(
        &self,
        zone: &ZoneId,
        token: &SecretDigest,
        now: Timestamp,
        successor: &SecretDigest,
        successor_expires_at: Timestamp,
    ) -> Result<Option<StoredRefreshToken>, StoreError>;

    async fn has_consent(
        &self,
        zone: &ZoneId,
        user: &UserId,
        client_id: &str,
        grant_key: &str,
    ) -> Result<bool, StoreError>;
    async fn insert_consent(
        &self,
        zone: &ZoneId,
        user: &UserId,
        client_id: &str,
        grant_key: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;
}
