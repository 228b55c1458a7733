//! The Secrets API: values kept in a zone's vault, sealed with the zone's
//! data key and bound to the secret's id and version.

use crate::error::CoreError;
use crate::error::{parse_id, IfMatch};
use crate::store::{SecretFilter, SecretStore, StoreError, StoredSecret};
use crate::update::update_atomically;
use crate::vault::Vault;
use crate::zones::ZoneScope;
use keyzone_domain::secret::{Secret, SecretChanges, SecretData, SecretDraft};
use keyzone_domain::{SecretId, Timestamp, ZoneId};
use std::sync::Arc;

const ENTITY: &str = "secret";

/// Each version of a secret is sealed under its own associated data, so an
/// old ciphertext cannot be replayed as the current one.
fn field(version: u32) -> String {
    format!("data/v{version}")
}

pub struct Secrets {
    store: Arc<dyn SecretStore>,
    vault: Arc<Vault>,
}

impl Secrets {
    pub fn new(store: Arc<dyn SecretStore>, vault: Arc<Vault>) -> Self {
        Self { store, vault }
    }

    async fn seal(
        &self,
        zone: &ZoneId,
        id: &SecretId,
        version: u32,
        data: &SecretData,
    ) -> Result<Vec<u8>, CoreError> {
        let plain =
            zeroize::Zeroizing::new(serde_json::to_vec(data).expect("secret data serializes"));
        self.vault
            .seal(zone, ENTITY, id.as_str(), &field(version), &plain)
            .await
    }

    pub async fn create(&self, scope: &ZoneScope, draft: SecretDraft) -> Result<Secret, CoreError> {
        let zone = scope.id().clone();
        draft.validate()?;
        let id = SecretId::generate();
        let now = Timestamp::now();
        let sealed = self.seal(&zone, &id, 1, &draft.data).await?;
        let secret = Secret {
            id,
            zone_id: zone,
            name: draft.name,
            entity_id: draft.entity_id,
            kind: draft.data.kind(),
            description: draft.description,
            metadata: draft.metadata,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        self.store
            .insert_secret(&StoredSecret {
                secret: secret.clone(),
                sealed_data: sealed,
            })
            .await?;
        Ok(secret)
    }

    async fn stored(&self, zone: &ZoneId, id: &str) -> Result<StoredSecret, CoreError> {
        self.store
            .get_secret(zone, &parse_id(id, "secret", SecretId::parse)?)
            .await?
            .ok_or(CoreError::NotFound { entity: "secret" })
    }

    /// The record and its decrypted value.
    pub async fn reveal(
        &self,
        scope: &ZoneScope,
        id: &str,
    ) -> Result<(Secret, SecretData), CoreError> {
        let zone = scope.id().clone();
        let s = self.stored(&zone, id).await?;
        let data = self.open(&s).await?;
        Ok((s.secret, data))
    }

    /// Decrypts a stored secret (the management API's reveal, and the token
    /// endpoint's vault-backed resources).
    pub async fn open(&self, s: &StoredSecret) -> Result<SecretData, CoreError> {
        let plain = self
            .vault
            .open(
                &s.secret.zone_id,
                ENTITY,
                s.secret.id.as_str(),
                &field(s.secret.version),
                &s.sealed_data,
            )
            .await?;
        serde_json::from_slice(&plain).map_err(|_| {
            CoreError::Internal(StoreError::Corrupt(format!("secret {} value", s.secret.id)))
        })
    }

    pub async fn list(
        &self,
        scope: &ZoneScope,
        filter: &SecretFilter,
    ) -> Result<Vec<Secret>, CoreError> {
        let zone = scope.id().clone();
        Ok(self.store.list_secrets(&zone, filter).await?)
    }

    pub async fn update(
        &self,
        scope: &ZoneScope,
        id: &str,
        changes: SecretChanges,
        if_match: IfMatch,
    ) -> Result<Secret, CoreError> {
        let zone = scope.id().clone();
        let s = self.stored(&zone, id).await?;
        changes.validate()?;
        let sid = s.secret.id.clone();
        let (store, zone, changes) = (&self.store, &zone, &changes);
        update_atomically(
            "secret",
            s,
            if_match,
            |s| s.secret.updated_at,
            |s| {
                let secret = &mut s.secret;
                if let Some(n) = &changes.name {
                    secret.name = n.clone();
                }
                if let Some(d) = &changes.description {
                    secret.description = d.clone();
                }
                if let Some(m) = &changes.metadata {
                    secret.metadata = m.clone();
                }
                if let Some(data) = &changes.data {
                    // A new value is a new version; the old ciphertext is
                    // replaced and, bound to the old version, could not be
                    // read as the new.
                    secret.version += 1;
                    secret.kind = data.kind();
                }
                secret.updated_at = Timestamp::after(secret.updated_at);
            },
            // Sealed for the version it becomes, so a lost race re-seals
            // for the next one.
            move |mut s, expected| async move {
                if let Some(data) = &changes.data {
                    s.sealed_data = self
                        .seal(zone, &s.secret.id, s.secret.version, data)
                        .await?;
                }
                let ok = store.update_secret(&s, expected).await?;
                Ok((ok, s))
            },
            || store.get_secret(zone, &sid),
        )
        .await
        .map(|s| s.secret)
    }

    pub async fn delete(&self, scope: &ZoneScope, id: &str) -> Result<(), CoreError> {
        let zone = scope.id().clone();
        if self
            .store
            .delete_secret(&zone, &parse_id(id, "secret", SecretId::parse)?)
            .await?
        {
            Ok(())
        } else {
            Err(CoreError::NotFound { entity: "secret" })
        }
    }
}
