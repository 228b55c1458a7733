//! Management API authentication: organization API keys.

use crate::error::CoreError;
use crate::store::{ApiKeyRecord, ApiKeyStore, OrganizationStore, StoreError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keyzone_domain::organization::Organization;
use keyzone_domain::{ApiKeyId, OrganizationId, Timestamp};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Who is calling the management API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    OrganizationAdmin {
        organization_id: OrganizationId,
        api_key_id: ApiKeyId,
    },
}

impl Principal {
    pub fn organization_id(&self) -> &OrganizationId {
        match self {
            Principal::OrganizationAdmin {
                organization_id, ..
            } => organization_id,
        }
    }
}

/// A plaintext API key, shown once. Debug never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct PlaintextKey(String);

impl PlaintextKey {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PlaintextKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlaintextKey(<redacted>)")
    }
}

pub const KEY_PREFIX: &str = "kz_";
/// Shortest bootstrap key an operator may choose: guessable keys are refused.
pub const MIN_KEY_LEN: usize = 24;

fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn generate_key() -> PlaintextKey {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    PlaintextKey(format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

pub struct ApiKeys {
    keys: Arc<dyn ApiKeyStore>,
    orgs: Arc<dyn OrganizationStore>,
}

/// What first start did, for the operator to see.
#[derive(Debug)]
pub enum Bootstrap {
    /// Keys already existed; nothing was created.
    AlreadyDone,
    /// A key was generated: show it once.
    Generated(PlaintextKey),
    /// The operator's `KEYZONE_BOOTSTRAP_API_KEY` was installed.
    FromEnvironment,
}

impl ApiKeys {
    pub fn new(keys: Arc<dyn ApiKeyStore>, orgs: Arc<dyn OrganizationStore>) -> Self {
        Self { keys, orgs }
    }

    /// Resolves `Authorization: Bearer <key>` to a principal. The store is
    /// searched by hash and the hash compared again in constant time, so the
    /// time taken says nothing about how much of a guess was right.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, CoreError> {
        if presented.is_empty() || presented.len() > 512 {
            return Err(CoreError::Unauthorized);
        }
        let hash = hash_key(presented);
        let record = self
            .keys
            .find_api_key(&hash)
            .await?
            .ok_or(CoreError::Unauthorized)?;
        if !bool::from(record.key_hash.ct_eq(&hash)) {
            return Err(CoreError::Unauthorized);
        }
        Ok(Principal::OrganizationAdmin {
            organization_id: record.organization_id,
            api_key_id: record.id,
        })
    }

    pub async fn organization(&self) -> Result<Organization, CoreError> {
        let now = Timestamp::now();
        let candidate = Organization {
            id: OrganizationId::generate(),
            label: "default".into(),
            name: "Default organization".into(),
            created_at: now,
            updated_at: now,
        };
        Ok(self.orgs.ensure_organization(&candidate).await?)
    }

    /// Mints a new admin key for the organization; the plaintext is returned
    /// once and only its hash is stored.
    pub async fn create(&self, name: &str) -> Result<(ApiKeyRecord, PlaintextKey), CoreError> {
        keyzone_domain::validation::name(name)
            .map_err(|m| keyzone_domain::ValidationErrors::single("name", m))?;
        let org = self.organization().await?;
        let key = generate_key();
        let record = self.insert(&org, name, &key).await?;
        Ok((record, key))
    }

    async fn insert(
        &self,
        org: &Organization,
        name: &str,
        key: &PlaintextKey,
    ) -> Result<ApiKeyRecord, StoreError> {
        let record = ApiKeyRecord {
            id: ApiKeyId::generate(),
            organization_id: org.id.clone(),
            name: name.to_owned(),
            key_hash: hash_key(key.expose()),
            created_at: Timestamp::now(),
        };
        self.keys.insert_api_key(&record).await?;
        Ok(record)
    }

    /// First start: make sure there is an organization and at least one key.
    /// `chosen` (from `KEYZONE_BOOTSTRAP_API_KEY`) is used only while no key
    /// exists; afterwards it is ignored.
    pub async fn bootstrap(&self, chosen: Option<&PlaintextKey>) -> Result<Bootstrap, CoreError> {
        let org = self.organization().await?;
        if self.keys.count_api_keys().await? > 0 {
            return Ok(Bootstrap::AlreadyDone);
        }
        match chosen {
            Some(key) => {
                if key.expose().len() < MIN_KEY_LEN || key.expose().len() > 512 {
                    return Err(keyzone_domain::ValidationErrors::single(
                        "KEYZONE_BOOTSTRAP_API_KEY",
                        format!("must be {MIN_KEY_LEN} to 512 characters"),
                    )
                    .into());
                }
                match self.insert(&org, "bootstrap", key).await {
                    // Another node installed the same key first.
                    Ok(_) | Err(StoreError::Conflict(_)) => Ok(Bootstrap::FromEnvironment),
                    Err(e) => Err(e.into()),
                }
            }
            None => {
                let key = generate_key();
                self.insert(&org, "bootstrap", &key).await?;
                Ok(Bootstrap::Generated(key))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_long_and_prefixed() {
        let k = generate_key();
        assert!(k.expose().starts_with(KEY_PREFIX));
        assert_eq!(k.expose().len(), KEY_PREFIX.len() + 43);
        assert_ne!(generate_key(), k);
        assert_eq!(format!("{k:?}"), "PlaintextKey(<redacted>)");
    }
}
