//! The vault: envelope encryption of everything secret a zone keeps.
//!
//! The deployment's master key (KEK) wraps one data key (DEK) per zone,
//! unless the zone names its own AWS KMS key, which then wraps it instead.
//! DEKs are unwrapped once per process and cached: a DEK never changes for
//! the life of its zone (only its wrapping does), so the cache needs no
//! invalidation across nodes. Deleting a zone deletes its DEK, and with it
//! every way to read the zone's ciphertexts (crypto-shredding).

use crate::error::CoreError;
use crate::store::{KeyWrapping, StoreError, VaultStore, WrappedDataKey};
use async_trait::async_trait;
use keyzone_crypto::{DataKey, MasterKey, SealedAad};
use keyzone_domain::zone::EncryptionKey;
use keyzone_domain::{Timestamp, ZoneId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use zeroize::Zeroizing;

/// The data key version new zones get. (DEK rotation would add versions.)
pub const DATA_KEY_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// The key exists but refuses (disabled, pending deletion, access denied).
    #[error("{0}")]
    KeyRefused(String),
    #[error("{0}")]
    Unreachable(String),
}

/// A key management service that wraps data keys (AWS KMS).
#[async_trait]
pub trait Kms: Send + Sync {
    async fn encrypt(
        &self,
        key_arn: &str,
        plaintext: &[u8],
        zone: &str,
    ) -> Result<Vec<u8>, KmsError>;
    async fn decrypt(
        &self,
        key_arn: &str,
        ciphertext: &[u8],
        zone: &str,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError>;
}

/// What opening the vault at start found.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyMismatch {
    #[error(
        "the database is encrypted under master key {stored}, but the configured master key is \
         {configured}: set KEYZONE_MASTER_KEY (or the key file) to the original key. Nothing was changed."
    )]
    Different { stored: String, configured: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Vault {
    master: MasterKey,
    kms: Option<Arc<dyn Kms>>,
    store: Arc<dyn VaultStore>,
    keys: RwLock<HashMap<ZoneId, Arc<DataKey>>>,
}

impl Vault {
    pub fn new(master: MasterKey, kms: Option<Arc<dyn Kms>>, store: Arc<dyn VaultStore>) -> Self {
        Self {
            master,
            kms,
            store,
            keys: RwLock::new(HashMap::new()),
        }
    }

    pub fn master_key_id(&self) -> &str {
        self.master.id()
    }

    /// Refuses to run against a database encrypted under another master key;
    /// records this key's id on first start.
    pub async fn check_master_key(&self) -> Result<(), MasterKeyMismatch> {
        let stored = self.store.init_master_key_id(self.master.id()).await?;
        if stored != self.master.id() {
            return Err(MasterKeyMismatch::Different {
                stored,
                configured: self.master.id().to_owned(),
            });
        }
        Ok(())
    }

    fn kms(&self) -> Result<&dyn Kms, CoreError> {
        self.kms
            .as_deref()
            .ok_or_else(|| CoreError::KeyUnavailable("AWS KMS is not configured".into()))
    }

    async fn wrap(
        &self,
        zone: &ZoneId,
        dek: &DataKey,
        with: Option<&EncryptionKey>,
    ) -> Result<WrappedDataKey, CoreError> {
        let (wrapping, wrapped) = match with {
            None => (
                KeyWrapping::Master {
                    master_key_id: self.master.id().to_owned(),
                },
                self.master.wrap(zone.as_str(), dek),
            ),
            Some(k) => {
                let wrapped = self
                    .kms()?
                    .encrypt(&k.arn, dek.expose_raw(), zone.as_str())
                    .await
                    .map_err(kms_error)?;
                (KeyWrapping::AwsKms { arn: k.arn.clone() }, wrapped)
            }
        };
        Ok(WrappedDataKey {
            zone_id: zone.clone(),
            version: dek.version(),
            wrapping,
            wrapped,
            created_at: Timestamp::now(),
        })
    }

    async fn unwrap(&self, w: &WrappedDataKey) -> Result<DataKey, CoreError> {
        match &w.wrapping {
            KeyWrapping::Master { .. } => self
                .master
                .unwrap(w.zone_id.as_str(), w.version, &w.wrapped)
                .map_err(|_| {
                    CoreError::Internal(StoreError::Corrupt(format!(
                        "data key of zone {} does not open under the master key",
                        w.zone_id
                    )))
                }),
            KeyWrapping::AwsKms { arn } => {
                let raw = self
                    .kms()?
                    .decrypt(arn, &w.wrapped, w.zone_id.as_str())
                    .await
                    .map_err(kms_error)?;
                DataKey::from_raw(&raw, w.version).map_err(|_| {
                    CoreError::KeyUnavailable("AWS KMS returned a malformed key".into())
                })
            }
        }
    }

    /// A fresh data key for a new zone, and its wrapped form to store.
    pub async fn new_zone_key(
        &self,
        zone: &ZoneId,
        with: Option<&EncryptionKey>,
    ) -> Result<(Arc<DataKey>, WrappedDataKey), CoreError> {
        let dek = DataKey::generate(DATA_KEY_VERSION);
        let wrapped = self.wrap(zone, &dek, with).await?;
        Ok((Arc::new(dek), wrapped))
    }

    /// Remembers a new zone's key once the zone is stored.
    pub fn remember(&self, zone: &ZoneId, dek: Arc<DataKey>) {
        self.keys
            .write()
            .expect("vault lock")
            .insert(zone.clone(), dek);
    }

    /// Drops a deleted zone's key from memory.
    pub fn forget(&self, zone: &ZoneId) {
        self.keys.write().expect("vault lock").remove(zone);
    }

    /// The zone's data key, unwrapped once per process.
    pub async fn zone_key(&self, zone: &ZoneId) -> Result<Arc<DataKey>, CoreError> {
        if let Some(k) = self.keys.read().expect("vault lock").get(zone) {
            return Ok(k.clone());
        }
        let wrapped = self
            .store
            .data_key(zone, DATA_KEY_VERSION)
            .await?
            .ok_or(CoreError::NotFound { entity: "zone" })?;
        let dek = Arc::new(self.unwrap(&wrapped).await?);
        self.remember(zone, dek.clone());
        Ok(dek)
    }

    /// The data key re-wrapped for a zone whose `encryption_key` changes;
    /// the caller stores it with the zone change. The key itself, and so
    /// every ciphertext, stays as it is.
    pub async fn rewrap_for(
        &self,
        zone: &ZoneId,
        new: Option<&EncryptionKey>,
    ) -> Result<WrappedDataKey, CoreError> {
        let dek = self.zone_key(zone).await?;
        self.wrap(zone, &dek, new).await
    }

    pub async fn seal(
        &self,
        zone: &ZoneId,
        entity: &str,
        id: &str,
        field: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CoreError> {
        let dek = self.zone_key(zone).await?;
        Ok(dek.seal(&aad(zone, entity, id, field), plaintext))
    }

    pub async fn open(
        &self,
        zone: &ZoneId,
        entity: &str,
        id: &str,
        field: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CoreError> {
        let dek = self.zone_key(zone).await?;
        dek.open(&aad(zone, entity, id, field), sealed)
            .map_err(|_| {
                CoreError::Internal(StoreError::Corrupt(format!(
                    "{entity} {id} of zone {zone} does not decrypt"
                )))
            })
    }

    /// A keyed digest of a client secret, under a subkey of the zone's data
    /// key: verifiable in constant time, never reversible, and useless
    /// without the zone's key.
    pub async fn credential_digest(
        &self,
        zone: &ZoneId,
        secret: &[u8],
    ) -> Result<[u8; 32], CoreError> {
        let dek = self.zone_key(zone).await?;
        Ok(dek.keyed_digest("keyzone client secret v1", secret))
    }

    /// Re-wraps every master-wrapped data key under `new`, in one
    /// transaction, without touching any ciphertext. Safe to re-run: keys
    /// already under `new` are left as they are.
    pub async fn rotate_master(&self, new: &MasterKey) -> Result<RotateOutcome, CoreError> {
        let recorded = self.store.init_master_key_id(self.master.id()).await?;
        if recorded == new.id() {
            return Ok(RotateOutcome::AlreadyDone);
        }
        if recorded != self.master.id() {
            return Err(CoreError::KeyUnavailable(format!(
                "the database is under master key {recorded}, which is neither the current ({}) nor the new ({}) key",
                self.master.id(),
                new.id()
            )));
        }
        let mut rewrapped = Vec::new();
        for w in self.store.master_wrapped_data_keys().await? {
            let dek = self.unwrap(&w).await?;
            rewrapped.push(WrappedDataKey {
                wrapping: KeyWrapping::Master {
                    master_key_id: new.id().to_owned(),
                },
                wrapped: new.wrap(w.zone_id.as_str(), &dek),
                ..w
            });
        }
        let n = rewrapped.len();
        if self
            .store
            .rewrap_data_keys(&rewrapped, self.master.id(), new.id())
            .await?
        {
            Ok(RotateOutcome::Rewrapped(n))
        } else {
            Err(CoreError::KeyUnavailable(
                "another process changed the master key during rotation; run it again".into(),
            ))
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    Rewrapped(usize),
    AlreadyDone,
}

fn aad<'a>(zone: &'a ZoneId, entity: &'a str, id: &'a str, field: &'a str) -> SealedAad<'a> {
    SealedAad {
        zone: zone.as_str(),
        entity,
        id,
        field,
    }
}

fn kms_error(e: KmsError) -> CoreError {
    match e {
        KmsError::KeyRefused(m) => {
            CoreError::KeyUnavailable(format!("the zone's AWS KMS key refused: {m}"))
        }
        KmsError::Unreachable(m) => {
            // The transport detail (endpoint, OS error) is for the operator's
            // log, not for API clients.
            tracing::error!(error = %m, "AWS KMS is unreachable");
            CoreError::KeyUnavailable("AWS KMS is unreachable; see the server log".into())
        }
    }
}
