//! Zone signing keys: generation, the published JWKS, and rotation.
//!
//! Each zone has a `current` key that signs and a `next` key that is
//! already published, so relying parties have it cached before it signs
//! anything. Rotation retires `current` (still published until every token
//! it signed has expired), promotes `next`, and publishes a new `next`. A
//! `kid` is random and never reused. Private keys are sealed with the zone's
//! data key and parsed once per process.

use crate::error::CoreError;
use crate::store::{SigningKeyState, SigningKeyStore, StoreError, StoredSigningKey};
use crate::vault::Vault;
use keyzone_crypto::{b64url, Algorithm, DataKey, SealedAad, SigningKey};
use keyzone_domain::{Timestamp, ZoneId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The longest a token a zone signs may live (the largest resource
/// `credential_lifetime_seconds`), plus clock-skew leeway: how long a
/// retired key stays in the JWKS.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400 + 300);
/// How long relying parties may cache the JWKS (its Cache-Control max-age).
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(300);
/// A `next` key must have been published at least this long before it may
/// sign, so that JWKS caches have picked it up.
pub const MIN_PUBLISHED_BEFORE_USE: Duration = Duration::from_secs(2 * 300);
/// How long a node trusts its in-memory key ring before re-reading it.
const RING_TTL: Duration = Duration::from_secs(10);

const ENTITY: &str = "signing_key";
const FIELD: &str = "private_key";

/// A zone's keys, ready to use.
pub struct KeyRing {
    pub current: Arc<SigningKey>,
    /// `base64url({"alg","kid","typ":"at+jwt"})` of the current key.
    pub access_token_header: String,
    /// The serialized public JWKS.
    pub jwks: Arc<str>,
    /// The published public keys by kid, for verifying the zone's own tokens.
    pub verification_keys: HashMap<String, (Algorithm, serde_json::Value)>,
    loaded: Instant,
    reloading: std::sync::atomic::AtomicBool,
}

impl KeyRing {
    /// Verifies a compact JWS signed by one of the zone's published keys and
    /// returns its claims. Nothing about the claims is checked here.
    pub fn verify(&self, token: &str) -> Option<serde_json::Value> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (signed, sig) = token.rsplit_once('.')?;
        let (header, payload) = signed.split_once('.')?;
        let header: serde_json::Value = serde_json::from_slice(&b64.decode(header).ok()?).ok()?;
        let kid = header.get("kid")?.as_str()?;
        let alg = header.get("alg")?.as_str()?;
        let (key_alg, jwk) = self.verification_keys.get(kid)?;
        if key_alg.as_str() != alg {
            return None;
        }
        let sig = b64.decode(sig).ok()?;
        if !keyzone_crypto::signing::verify(jwk, *key_alg, signed.as_bytes(), &sig) {
            return None;
        }
        serde_json::from_slice(&b64.decode(payload).ok()?).ok()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    Rotated {
        retired: String,
        current: String,
        next: String,
    },
    /// The next key was published too recently; `--force` overrides.
    TooSoon { wait: Duration },
    /// Another node rotated at the same moment.
    Raced,
}

pub struct SigningKeys {
    store: Arc<dyn SigningKeyStore>,
    vault: Arc<Vault>,
    rings: RwLock<HashMap<ZoneId, Arc<KeyRing>>>,
    parsed: RwLock<HashMap<String, Arc<SigningKey>>>,
}

fn new_kid() -> String {
    keyzone_domain::id::random_id()
}

fn aad<'a>(zone: &'a ZoneId, kid: &'a str) -> SealedAad<'a> {
    SealedAad {
        zone: zone.as_str(),
        entity: ENTITY,
        id: kid,
        field: FIELD,
    }
}

fn stored_key(
    zone: &ZoneId,
    dek: &DataKey,
    alg: Algorithm,
    state: SigningKeyState,
) -> Result<StoredSigningKey, CoreError> {
    let kid = new_kid();
    let (key, pkcs8) = SigningKey::generate(alg, &kid).map_err(|e| {
        CoreError::Internal(StoreError::Corrupt(format!("signing key generation: {e}")))
    })?;
    let now = Timestamp::now();
    Ok(StoredSigningKey {
        zone_id: zone.clone(),
        public_jwk: key.public_jwk().to_string(),
        sealed_private_key: dek.seal(&aad(zone, &kid), &pkcs8),
        kid,
        algorithm: alg.as_str().to_owned(),
        state,
        created_at: now,
        activated_at: (state == SigningKeyState::Current).then_some(now),
        retired_at: None,
        publish_until: None,
    })
}

/// The keys a zone starts with: a current key and a published next key.
pub fn initial_keys(
    zone: &ZoneId,
    dek: &DataKey,
    alg: Algorithm,
) -> Result<Vec<StoredSigningKey>, CoreError> {
    Ok(vec![
        stored_key(zone, dek, alg, SigningKeyState::Current)?,
        stored_key(zone, dek, alg, SigningKeyState::Next)?,
    ])
}

/// Keys that may still verify a live token, current first.
fn published(keys: &[StoredSigningKey], now: Timestamp) -> Vec<&StoredSigningKey> {
    let mut out: Vec<&StoredSigningKey> = keys
        .iter()
        .filter(|k| match k.state {
            SigningKeyState::Current | SigningKeyState::Next => true,
            SigningKeyState::Retired => k.publish_until.is_some_and(|t| t > now),
        })
        .collect();
    out.sort_by_key(|k| match k.state {
        SigningKeyState::Current => 0,
        SigningKeyState::Next => 1,
        SigningKeyState::Retired => 2,
    });
    out
}

impl SigningKeys {
    pub fn new(store: Arc<dyn SigningKeyStore>, vault: Arc<Vault>) -> Self {
        Self {
            store,
            vault,
            rings: RwLock::new(HashMap::new()),
            parsed: RwLock::new(HashMap::new()),
        }
    }

    /// The zone's key ring, re-read from the store at most every few
    /// seconds so that a rotation on another node is picked up.
    pub async fn key_ring(&self, zone: &ZoneId) -> Result<Arc<KeyRing>, CoreError> {
        if let Some(r) = self.rings.read().expect("ring lock").get(zone) {
            // Expired: one caller reloads while the others keep the ring
            // briefly, instead of all reloading at once.
            if crate::cache::serve_while_refreshing(r.loaded.elapsed(), RING_TTL, &r.reloading) {
                return Ok(r.clone());
            }
        }
        let keys = self.store.signing_keys(zone).await?;
        let now = Timestamp::now();
        let current = keys
            .iter()
            .find(|k| k.state == SigningKeyState::Current)
            .ok_or(CoreError::NotFound { entity: "zone" })?;
        let current = self.parse(zone, current).await?;
        let published = published(&keys, now);
        let jwks: Vec<serde_json::Value> = published
            .iter()
            .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
            .collect();
        let verification_keys = published
            .iter()
            .filter_map(|k| {
                let alg = Algorithm::parse(&k.algorithm)?;
                let jwk = serde_json::from_str(&k.public_jwk).ok()?;
                Some((k.kid.clone(), (alg, jwk)))
            })
            .collect();
        let header = serde_json::json!({
            "alg": current.algorithm().as_str(), "kid": current.kid(), "typ": "at+jwt"
        });
        let ring = Arc::new(KeyRing {
            access_token_header: b64url(header.to_string().as_bytes()),
            current,
            jwks: serde_json::json!({ "keys": jwks }).to_string().into(),
            verification_keys,
            loaded: Instant::now(),
            reloading: std::sync::atomic::AtomicBool::new(false),
        });
        self.rings
            .write()
            .expect("ring lock")
            .insert(zone.clone(), ring.clone());
        Ok(ring)
    }

    /// Parses a private key once per process (kids are never reused).
    async fn parse(
        &self,
        zone: &ZoneId,
        k: &StoredSigningKey,
    ) -> Result<Arc<SigningKey>, CoreError> {
        if let Some(p) = self.parsed.read().expect("key lock").get(&k.kid) {
            return Ok(p.clone());
        }
        let pkcs8 = self
            .vault
            .open(zone, ENTITY, &k.kid, FIELD, &k.sealed_private_key)
            .await?;
        let alg = Algorithm::parse(&k.algorithm).ok_or_else(|| {
            CoreError::Internal(StoreError::Corrupt(format!("algorithm of key {}", k.kid)))
        })?;
        let key = Arc::new(SigningKey::from_pkcs8(alg, &k.kid, &pkcs8).map_err(|_| {
            CoreError::Internal(StoreError::Corrupt(format!("private key {}", k.kid)))
        })?);
        self.parsed
            .write()
            .expect("key lock")
            .insert(k.kid.clone(), key.clone());
        Ok(key)
    }

    pub async fn jwks(&self, zone: &ZoneId) -> Result<Arc<str>, CoreError> {
        Ok(self.key_ring(zone).await?.jwks.clone())
    }

    pub fn forget(&self, zone: &ZoneId) {
        self.rings.write().expect("ring lock").remove(zone);
    }

    /// Rotates the zone's keys. `algorithm` chooses the algorithm of the new
    /// next key (the key after the one that starts signing now).
    pub async fn rotate(
        &self,
        zone: &ZoneId,
        algorithm: Option<Algorithm>,
        force: bool,
    ) -> Result<RotateOutcome, CoreError> {
        let keys = self.store.signing_keys(zone).await?;
        let current = keys
            .iter()
            .find(|k| k.state == SigningKeyState::Current)
            .ok_or(CoreError::NotFound { entity: "zone" })?;
        let next = keys
            .iter()
            .find(|k| k.state == SigningKeyState::Next)
            .ok_or_else(|| {
                CoreError::Internal(StoreError::Corrupt(format!("zone {zone} has no next key")))
            })?;
        let now = Timestamp::now();
        let published_for = Duration::from_micros(
            now.as_micros()
                .saturating_sub(next.created_at.as_micros())
                .max(0) as u64,
        );
        if !force && published_for < MIN_PUBLISHED_BEFORE_USE {
            return Ok(RotateOutcome::TooSoon {
                wait: MIN_PUBLISHED_BEFORE_USE - published_for,
            });
        }
        let alg = match algorithm {
            Some(a) => a,
            None => Algorithm::parse(&next.algorithm).unwrap_or_default(),
        };
        let dek = self.vault.zone_key(zone).await?;
        let new_next = stored_key(zone, &dek, alg, SigningKeyState::Next)?;
        let publish_until =
            Timestamp::from_micros(now.as_micros() + MAX_TOKEN_LIFETIME.as_micros() as i64);
        let done = self
            .store
            .rotate_signing_keys(zone, &current.kid, &next.kid, publish_until, &new_next)
            .await?;
        self.forget(zone);
        if done {
            tracing::info!(zone = %zone, retired = %current.kid, current = %next.kid, next = %new_next.kid, "rotated signing keys");
            Ok(RotateOutcome::Rotated {
                retired: current.kid.clone(),
                current: next.kid.clone(),
                next: new_next.kid,
            })
        } else {
            Ok(RotateOutcome::Raced)
        }
    }

    /// The scheduled pass: rotate zones whose current key is older than
    /// `max_age`, then delete retired keys no token can need any more.
    pub async fn maintain(&self, max_age: Option<Duration>) -> Result<(usize, u64), CoreError> {
        let mut rotated = 0;
        if let Some(age) = max_age {
            let before =
                Timestamp::from_micros(Timestamp::now().as_micros() - age.as_micros() as i64);
            for zone in self.store.zones_with_current_key_before(before).await? {
                if let Ok(RotateOutcome::Rotated { .. }) = self.rotate(&zone, None, false).await {
                    rotated += 1;
                }
            }
        }
        let purged = self.store.purge_signing_keys(Timestamp::now()).await?;
        Ok((rotated, purged))
    }
}
