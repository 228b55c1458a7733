//! Bringing people into a zone: email verification codes and invitations.
//! Codes and invitation tokens arrive here only as digests; every method is
//! scoped by the zone.

use super::{SecretDigest, StoreError};
use async_trait::async_trait;
use keyzone_domain::invitation::Invitation;
use keyzone_domain::{InvitationId, Page, PageRequest, Timestamp, UserId, ZoneId};

/// A user's current email verification code, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEmailCode {
    pub code_hash: Vec<u8>,
    /// Wrong codes entered against it so far.
    pub attempts: u32,
    pub sent_at: Timestamp,
    pub expires_at: Timestamp,
}

#[async_trait]
pub trait OnboardingStore: Send + Sync {
    /// Replaces the user's code, if any, with a new one (no attempts yet).
    async fn put_email_code(
        &self,
        zone: &ZoneId,
        user: &UserId,
        code: &SecretDigest,
        sent_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    async fn email_code(
        &self,
        zone: &ZoneId,
        user: &UserId,
    ) -> Result<Option<StoredEmailCode>, StoreError>;
    /// Counts one wrong attempt; the attempts after it (0: no code).
    async fn fail_email_code(&self, zone: &ZoneId, user: &UserId) -> Result<u32, StoreError>;
    /// Removes the code if it is `code` and has had fewer than
    /// `max_attempts` wrong attempts: true for the one call that did.
    async fn consume_email_code(
        &self,
        zone: &ZoneId,
        user: &UserId,
        code: &SecretDigest,
        max_attempts: u32,
    ) -> Result<bool, StoreError>;
    async fn mark_email_verified(
        &self,
        zone: &ZoneId,
        user: &UserId,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// `Conflict(InvitationEmailUnique)` when the email is already invited.
    async fn insert_invitation(
        &self,
        invitation: &Invitation,
        token: &SecretDigest,
    ) -> Result<(), StoreError>;
    async fn list_invitations(
        &self,
        zone: &ZoneId,
        page: &PageRequest,
    ) -> Result<Page<Invitation>, StoreError>;
    async fn get_invitation(
        &self,
        zone: &ZoneId,
        id: &InvitationId,
    ) -> Result<Option<Invitation>, StoreError>;
    async fn invitation_by_email(
        &self,
        zone: &ZoneId,
        email: &str,
    ) -> Result<Option<Invitation>, StoreError>;
    async fn invitation_by_token(
        &self,
        zone: &ZoneId,
        token: &SecretDigest,
    ) -> Result<Option<Invitation>, StoreError>;
    /// True when it existed.
    async fn delete_invitation(&self, zone: &ZoneId, id: &InvitationId)
        -> Result<bool, StoreError>;
    /// Marks it accepted if it is pending at `now`: true for the one call
    /// that did.
    async fn accept_invitation(
        &self,
        zone: &ZoneId,
        id: &InvitationId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}
