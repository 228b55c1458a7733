//! Users, user agents, sessions and delegated grants, one trait per
//! aggregate. `IdentityStore` is all four.

use super::StoreError;
use async_trait::async_trait;
use keyzone_domain::{Page, PageRequest, Timestamp, ZoneId};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub ids: Vec<String>,
    pub emails: Vec<String>,
    pub identifiers: Vec<String>,
    pub issuers: Vec<String>,
    pub subjects: Vec<String>,
    pub external: Option<bool>,
    /// Substring of the email or the subject.
    pub query_any: Vec<String>,
    pub query_email: Vec<String>,
    pub query_subject: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub status: Option<keyzone_domain::identity::RecordStatus>,
    pub session_type: Option<String>,
    pub user_id: Option<String>,
    /// Child sessions too (by default only top-level sessions are listed).
    pub include_nested: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantFilter {
    pub status: Option<keyzone_domain::identity::RecordStatus>,
    pub resource_id: Option<String>,
    pub user_id: Option<String>,
}

/// A delegated grant with its sealed upstream tokens (sealed by core under
/// the zone's data key; the store only sees ciphertext) and the version
/// the single-flight refresh compares against.
#[derive(Clone, PartialEq)]
pub struct GrantTokens {
    pub grant: keyzone_domain::identity::Grant,
    pub access_token_sealed: Option<Vec<u8>>,
    pub refresh_token_sealed: Option<Vec<u8>>,
    pub version: i64,
    /// A refresh is under way on some node until then.
    pub refresh_lease_until: Option<Timestamp>,
}

impl std::fmt::Debug for GrantTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantTokens")
            .field("grant", &self.grant)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// New upstream tokens for a grant (a refresh), sealed.
#[derive(Clone)]
pub struct RefreshedTokens<'a> {
    pub access_token_sealed: &'a [u8],
    /// `None` keeps the stored refresh token (the provider did not rotate it).
    pub refresh_token_sealed: Option<&'a [u8]>,
    pub expires_at: Timestamp,
    pub scopes: Option<&'a [String]>,
    pub now: Timestamp,
}

/// Users with their derived counts.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub user: keyzone_domain::identity::User,
    pub grant_count: u64,
    pub session_count: u64,
}

impl keyzone_domain::Positioned for UserRecord {
    fn id_str(&self) -> &str {
        self.user.id.as_str()
    }
    fn created_at(&self) -> Timestamp {
        self.user.created_at
    }
    fn sort_value(&self, field: &str) -> Option<keyzone_domain::SortValue> {
        self.user.sort_value(field)
    }
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn insert_user(&self, u: &keyzone_domain::identity::User) -> Result<(), StoreError>;
    async fn get_user(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::UserId,
    ) -> Result<Option<UserRecord>, StoreError>;
    async fn list_users(
        &self,
        zone: &ZoneId,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<UserRecord>, StoreError>;
}

#[async_trait]
pub trait UserAgentStore: Send + Sync {
    async fn insert_user_agent(
        &self,
        ua: &keyzone_domain::identity::UserAgent,
    ) -> Result<(), StoreError>;
    async fn get_user_agent(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::UserAgentId,
    ) -> Result<Option<keyzone_domain::identity::UserAgent>, StoreError>;
    async fn user_agent_by_identifier(
        &self,
        zone: &ZoneId,
        identifier: &str,
    ) -> Result<Option<keyzone_domain::identity::UserAgent>, StoreError>;
    /// Rewrites a user agent's name, slug, metadata and `updated_at` (a
    /// client ID metadata document that changed); `false` when it is gone.
    async fn update_user_agent(
        &self,
        ua: &keyzone_domain::identity::UserAgent,
    ) -> Result<bool, StoreError>;
    async fn list_user_agents(
        &self,
        zone: &ZoneId,
        page: &PageRequest,
    ) -> Result<Page<keyzone_domain::identity::UserAgent>, StoreError>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, s: &keyzone_domain::identity::Session)
        -> Result<(), StoreError>;
    /// Extends the active, unexpired application session of this login
    /// (application, provider, subject) to `expires_at`; false when there is
    /// none, so the caller inserts one.
    async fn extend_application_session(
        &self,
        zone: &ZoneId,
        application: &keyzone_domain::ApplicationId,
        provider: &keyzone_domain::ProviderId,
        subject: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    async fn get_session(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::SessionId,
    ) -> Result<Option<keyzone_domain::identity::Session>, StoreError>;
    async fn list_sessions(
        &self,
        zone: &ZoneId,
        filter: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<keyzone_domain::identity::Session>, StoreError>;
    /// Revokes the session and every session nested under it.
    async fn revoke_session(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::SessionId,
    ) -> Result<bool, StoreError>;
    async fn delete_session(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::SessionId,
    ) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait GrantStore: Send + Sync {
    async fn insert_grant(&self, g: &keyzone_domain::identity::Grant) -> Result<(), StoreError>;
    async fn get_grant(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::GrantId,
    ) -> Result<Option<keyzone_domain::identity::Grant>, StoreError>;
    async fn list_grants(
        &self,
        zone: &ZoneId,
        filter: &GrantFilter,
        page: &PageRequest,
    ) -> Result<Page<keyzone_domain::identity::Grant>, StoreError>;
    async fn revoke_grant(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::GrantId,
    ) -> Result<bool, StoreError>;
    async fn delete_grant(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::GrantId,
    ) -> Result<bool, StoreError>;
    /// Stores a newly connected grant with its sealed tokens, and revokes
    /// (clearing their tokens) the user's earlier grants for the resource,
    /// in one transaction: a person has one live grant per resource.
    async fn connect_grant(
        &self,
        g: &keyzone_domain::identity::Grant,
        access_token_sealed: &[u8],
        refresh_token_sealed: Option<&[u8]>,
    ) -> Result<(), StoreError>;
    /// The user's newest unrevoked grant for a resource, with its tokens.
    async fn grant_tokens(
        &self,
        zone: &ZoneId,
        user: &keyzone_domain::UserId,
        resource: &keyzone_domain::ResourceId,
    ) -> Result<Option<GrantTokens>, StoreError>;
    /// Compare-and-set: claims the refresh of an unrevoked grant until
    /// `lease_until` if its version is still `version` and no other lease
    /// is live at `now`. Exactly one concurrent caller (on any node) wins.
    async fn claim_grant_refresh(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::GrantId,
        version: i64,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Stores refreshed tokens (the rotated refresh token in the same
    /// statement) and releases the lease.
    async fn store_refreshed_grant(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::GrantId,
        tokens: RefreshedTokens<'_>,
    ) -> Result<(), StoreError>;
    /// The provider refused the refresh token: the grant can no longer be
    /// refreshed (its refresh token is dropped), so it is expired.
    async fn expire_grant(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::GrantId,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Releases a refresh lease without changing the tokens (the provider
    /// was unreachable).
    async fn release_grant_refresh(
        &self,
        zone: &ZoneId,
        id: &keyzone_domain::GrantId,
    ) -> Result<(), StoreError>;
}

/// Everything the identity use cases store.
pub trait IdentityStore: UserStore + UserAgentStore + SessionStore + GrantStore {}
impl<T: UserStore + UserAgentStore + SessionStore + GrantStore> IdentityStore for T {}
