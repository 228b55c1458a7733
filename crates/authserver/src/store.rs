//! What the authorization server reads and writes, declared here by its
//! user (fosite's style): a narrow interface over the aggregates' stores,
//! so the token path names exactly the queries it may make. Every method
//! is scoped by the zone.

use async_trait::async_trait;
use keyzone_core::store::{
    DependencyRecord, DirectoryStore, GrantStore, IdentityStore, RevocationStore, SecretFilter,
    SecretStore, StoredSecret, ZoneStore,
};
use keyzone_core::StoreError;
use keyzone_domain::directory::{Credential, Provider, Resource};
use keyzone_domain::identity::{Session, UserAgent};
use keyzone_domain::zone::Zone;
use keyzone_domain::{ApplicationId, ProviderId, ResourceId, Timestamp, ZoneId};

/// A client credential with the digest of its secret (password credentials).
pub type ClientRecord = (Credential, Option<Vec<u8>>);

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// A zone by its (global) id: the zone endpoints have no organization.
    async fn zone(&self, id: &ZoneId) -> Result<Option<Zone>, StoreError>;
    /// One indexed lookup by OAuth `client_id`.
    async fn client(
        &self,
        zone: &ZoneId,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, StoreError>;
    /// Workload-identity credentials for an assertion subject (exact, then `*`).
    async fn token_credentials(
        &self,
        zone: &ZoneId,
        subject: &str,
    ) -> Result<Vec<Credential>, StoreError>;
    /// Resources whose identifier is one of `candidates` (one indexed query).
    async fn resources_by_identifier(
        &self,
        zone: &ZoneId,
        candidates: &[String],
    ) -> Result<Vec<Resource>, StoreError>;
    async fn resource(
        &self,
        zone: &ZoneId,
        id: &ResourceId,
    ) -> Result<Option<Resource>, StoreError>;
    async fn provider(
        &self,
        zone: &ZoneId,
        id: &ProviderId,
    ) -> Result<Option<Provider>, StoreError>;
    async fn dependency(
        &self,
        zone: &ZoneId,
        application: &ApplicationId,
        resource: &ResourceId,
    ) -> Result<Option<DependencyRecord>, StoreError>;
    /// The newest vault secret stored for an entity (a vault-backed resource).
    async fn latest_secret_for(
        &self,
        zone: &ZoneId,
        entity_id: &str,
    ) -> Result<Option<StoredSecret>, StoreError>;
    async fn is_token_revoked(&self, zone: &ZoneId, jti: &str) -> Result<bool, StoreError>;
    async fn revoke_token(
        &self,
        zone: &ZoneId,
        jti: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// True the first time a client assertion's `jti` is seen.
    async fn consume_assertion_jti(
        &self,
        zone: &ZoneId,
        client_id: &str,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Extends the live application session of this workload login, or
    /// records `session` when there is none.
    async fn record_application_session(
        &self,
        session: &Session,
        provider: &ProviderId,
        subject: &str,
    ) -> Result<(), StoreError>;
    /// An application's dependencies (the first 100: the resources it
    /// may obtain tokens for), for the connect step of the sign-in.
    async fn dependencies(
        &self,
        zone: &ZoneId,
        application: &ApplicationId,
    ) -> Result<Vec<DependencyRecord>, StoreError>;
    /// Delegated grants (`crate::delegated`).
    fn grants(&self) -> &dyn GrantStore;
    /// A provider's sealed client secret, for calls to its token endpoint.
    async fn provider_client_secret(
        &self,
        zone: &ZoneId,
        id: &ProviderId,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Registration: inserts a user agent; a conflict means it exists.
    async fn insert_user_agent(&self, ua: &UserAgent) -> Result<(), StoreError>;
    async fn user_agent_by_identifier(
        &self,
        zone: &ZoneId,
        identifier: &str,
    ) -> Result<Option<UserAgent>, StoreError>;
}

/// Any store of the aggregates serves the authorization server.
#[async_trait]
impl<T> TokenStore for T
where
    T: ZoneStore + DirectoryStore + SecretStore + IdentityStore + RevocationStore,
{
    async fn zone(&self, id: &ZoneId) -> Result<Option<Zone>, StoreError> {
        self.get_zone_by_id(id).await
    }
    async fn client(
        &self,
        zone: &ZoneId,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, StoreError> {
        self.credential_by_client_id(zone, client_id).await
    }
    async fn token_credentials(
        &self,
        zone: &ZoneId,
        subject: &str,
    ) -> Result<Vec<Credential>, StoreError> {
        self.token_credentials_for_subject(zone, subject).await
    }
    async fn resources_by_identifier(
        &self,
        zone: &ZoneId,
        candidates: &[String],
    ) -> Result<Vec<Resource>, StoreError> {
        keyzone_core::store::ResourceStore::resources_by_identifier(self, zone, candidates).await
    }
    async fn resource(
        &self,
        zone: &ZoneId,
        id: &ResourceId,
    ) -> Result<Option<Resource>, StoreError> {
        self.get_resource(zone, id).await
    }
    async fn provider(
        &self,
        zone: &ZoneId,
        id: &ProviderId,
    ) -> Result<Option<Provider>, StoreError> {
        self.get_provider(zone, id).await
    }
    async fn dependency(
        &self,
        zone: &ZoneId,
        application: &ApplicationId,
        resource: &ResourceId,
    ) -> Result<Option<DependencyRecord>, StoreError> {
        self.get_dependency(zone, application, resource).await
    }
    async fn latest_secret_for(
        &self,
        zone: &ZoneId,
        entity_id: &str,
    ) -> Result<Option<StoredSecret>, StoreError> {
        let filter = SecretFilter {
            entity_id: Some(entity_id.to_owned()),
            kind: None,
        };
        let Some(record) = self.list_secrets(zone, &filter).await?.pop() else {
            return Ok(None);
        };
        self.get_secret(zone, &record.id).await
    }
    async fn is_token_revoked(&self, zone: &ZoneId, jti: &str) -> Result<bool, StoreError> {
        RevocationStore::is_token_revoked(self, zone, jti).await
    }
    async fn revoke_token(
        &self,
        zone: &ZoneId,
        jti: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        RevocationStore::revoke_token(self, zone, jti, expires_at).await
    }
    async fn consume_assertion_jti(
        &self,
        zone: &ZoneId,
        client_id: &str,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        RevocationStore::consume_assertion_jti(self, zone, client_id, jti, expires_at, now).await
    }
    async fn record_application_session(
        &self,
        session: &Session,
        provider: &ProviderId,
        subject: &str,
    ) -> Result<(), StoreError> {
        let keyzone_domain::identity::SessionKind::Application { application_id, .. } =
            &session.kind
        else {
            return self.insert_session(session).await;
        };
        if self
            .extend_application_session(
                &session.zone_id,
                application_id,
                provider,
                subject,
                session.expires_at,
                session.created_at,
            )
            .await?
        {
            return Ok(());
        }
        self.insert_session(session).await
    }
    async fn dependencies(
        &self,
        zone: &ZoneId,
        application: &ApplicationId,
    ) -> Result<Vec<DependencyRecord>, StoreError> {
        let page = keyzone_domain::PageRequest {
            limit: 100,
            ..Default::default()
        };
        Ok(self
            .list_dependencies(zone, application, &page)
            .await?
            .items)
    }
    fn grants(&self) -> &dyn GrantStore {
        self
    }
    async fn provider_client_secret(
        &self,
        zone: &ZoneId,
        id: &ProviderId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        keyzone_core::store::ProviderStore::provider_client_secret(self, zone, id).await
    }
    async fn insert_user_agent(&self, ua: &UserAgent) -> Result<(), StoreError> {
        keyzone_core::store::UserAgentStore::insert_user_agent(self, ua).await
    }
    async fn user_agent_by_identifier(
        &self,
        zone: &ZoneId,
        identifier: &str,
    ) -> Result<Option<UserAgent>, StoreError> {
        keyzone_core::store::UserAgentStore::user_agent_by_identifier(self, zone, identifier).await
    }
}

/// What the sign-in flow (`crate::signin`) and the user grants read and
/// write besides the token path: users and their passwords, sessions,
/// codes, refresh tokens, consent, and the clients' registrations.
pub trait SignInStores:
    keyzone_core::store::SignInStore
    + keyzone_core::store::SignInThrottleStore
    + keyzone_core::store::OnboardingStore
    + keyzone_core::store::SessionStore
    + keyzone_core::store::UserStore
    + keyzone_core::store::UserAgentStore
    + keyzone_core::store::ApplicationStore
{
}
impl<T> SignInStores for T where
    T: keyzone_core::store::SignInStore
        + keyzone_core::store::SignInThrottleStore
        + keyzone_core::store::OnboardingStore
        + keyzone_core::store::SessionStore
        + keyzone_core::store::UserStore
        + keyzone_core::store::UserAgentStore
        + keyzone_core::store::ApplicationStore
{
}
