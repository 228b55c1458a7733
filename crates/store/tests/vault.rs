//! The vault, signing keys and secrets use cases over the real store, on
//! SQLite and PostgreSQL.

use base64::Engine;
use keyzone_core::auth::Principal;
use keyzone_core::signing::{RotateOutcome, MAX_TOKEN_LIFETIME};
use keyzone_core::store::{OrganizationStore, SigningKeyStore};
use keyzone_core::vault::{MasterKeyMismatch, RotateOutcome as MasterRotation};
use keyzone_core::{CoreError, Secrets, SigningKeys, Vault, ZoneScope, Zones};
use keyzone_crypto::signing::verify;
use keyzone_crypto::{Algorithm, MasterKey};
use keyzone_domain::organization::Organization;
use keyzone_domain::secret::{SecretChanges, SecretData, SecretDraft};
use keyzone_domain::zone::ZoneDraft;
use keyzone_domain::{ApiKeyId, OrganizationId, Timestamp};
use keyzone_store::Store;
use std::sync::Arc;

keyzone_store::store_tests!(
    master_key_mismatch_is_refused,
    secrets_are_sealed_and_versioned,
    master_key_rotation_rewraps_without_touching_data,
    signing_key_rotation_keeps_old_tokens_verifiable,
    deleting_a_zone_shreds_its_keys,
);

struct Services {
    store: Arc<Store>,
    vault: Arc<Vault>,
    zones: Zones,
    secrets: Secrets,
    signing: Arc<SigningKeys>,
    admin: Principal,
}

/// The zone as the test's administrator may change it.
async fn sc(zones: &Zones, admin: &keyzone_core::Principal, zone: &str) -> ZoneScope {
    zones
        .scope(admin, zone, keyzone_core::ZoneAction::Write)
        .await
        .expect("the test's zone")
}

async fn services(store: &Store, master: MasterKey) -> Services {
    let store = Arc::new(store.clone());
    let vault = Arc::new(Vault::new(master, None, store.clone()));
    vault.check_master_key().await.unwrap();
    let signing = Arc::new(SigningKeys::new(store.clone(), vault.clone()));
    let now = Timestamp::now();
    let org = store
        .ensure_organization(&Organization {
            id: OrganizationId::generate(),
            label: "default".into(),
            name: "Org".into(),
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    Services {
        zones: Zones::new(store.clone(), store.clone(), vault.clone(), signing.clone()),
        secrets: Secrets::new(store.clone(), vault.clone()),
        admin: Principal::OrganizationAdmin {
            organization_id: org.id,
            api_key_id: ApiKeyId::generate(),
        },
        store,
        vault,
        signing,
    }
}

fn draft(name: &str) -> ZoneDraft {
    ZoneDraft {
        name: name.into(),
        ..Default::default()
    }
}

fn token(v: &str) -> SecretData {
    SecretData::Token { token: v.into() }
}

async fn master_key_mismatch_is_refused(store: &Store) {
    let (m1, b64) = MasterKey::generate();
    let s = services(store, m1).await;
    let z = s.zones.create(&s.admin, None, draft("Z")).await.unwrap();
    let (m2, _) = MasterKey::generate();
    let other = Vault::new(m2, None, s.store.clone());
    match other.check_master_key().await {
        Err(MasterKeyMismatch::Different { stored, configured }) => {
            assert_eq!(stored, MasterKey::from_base64(&b64).unwrap().id());
            assert_ne!(stored, configured);
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
    // The refusal changed nothing: the right key still opens the zone.
    let again = Vault::new(MasterKey::from_base64(&b64).unwrap(), None, s.store.clone());
    again.check_master_key().await.unwrap();
    again.zone_key(&z.id).await.unwrap();
}

async fn secrets_are_sealed_and_versioned(store: &Store) {
    let (m, _) = MasterKey::generate();
    let s = services(store, m).await;
    let z = s
        .zones
        .create(&s.admin, None, draft("Vault"))
        .await
        .unwrap();
    let zid = z.id.as_str();
    let created = s
        .secrets
        .create(
            &sc(&s.zones, &s.admin, zid).await,
            SecretDraft {
                name: "n".into(),
                entity_id: "res".into(),
                data: token("v1-value"),
                description: None,
                metadata: None,
            },
        )
        .await
        .unwrap();
    let id = created.id.as_str();
    let (_, data) = s
        .secrets
        .reveal(&sc(&s.zones, &s.admin, zid).await, id)
        .await
        .unwrap();
    assert_eq!(data, token("v1-value"));

    let updated = s
        .secrets
        .update(
            &sc(&s.zones, &s.admin, zid).await,
            id,
            SecretChanges {
                data: Some(token("v2-value")),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    let renamed = s
        .secrets
        .update(
            &sc(&s.zones, &s.admin, zid).await,
            id,
            SecretChanges {
                name: Some("renamed".into()),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(renamed.version, 2, "only a new value makes a new version");
    assert_eq!(
        s.secrets
            .reveal(&sc(&s.zones, &s.admin, zid).await, id)
            .await
            .unwrap()
            .1,
        token("v2-value")
    );

    // A ciphertext is bound to its secret, version and zone: copied onto
    // another secret it does not open.
    use keyzone_core::store::SecretStore;
    let other = s
        .secrets
        .create(
            &sc(&s.zones, &s.admin, zid).await,
            SecretDraft {
                name: "other".into(),
                entity_id: "res".into(),
                data: token("other-value"),
                description: None,
                metadata: None,
            },
        )
        .await
        .unwrap();
    let victim = s
        .store
        .get_secret(&z.id, &created.id)
        .await
        .unwrap()
        .unwrap();
    let mut forged = s.store.get_secret(&z.id, &other.id).await.unwrap().unwrap();
    forged.sealed_data = victim.sealed_data.clone();
    let at = forged.secret.updated_at;
    assert!(s.store.update_secret(&forged, at).await.unwrap());
    assert!(matches!(
        s.secrets
            .reveal(&sc(&s.zones, &s.admin, zid).await, other.id.as_str())
            .await,
        Err(CoreError::Internal(_))
    ));
    // A ciphertext sealed for one version, stored as the next, fails too
    // (going back a version is refused by the store itself).
    let mut stale = victim.clone();
    stale.secret.version = victim.secret.version + 1;
    assert!(s
        .store
        .update_secret(&stale, victim.secret.updated_at)
        .await
        .unwrap());
    assert!(s
        .secrets
        .reveal(&sc(&s.zones, &s.admin, zid).await, id)
        .await
        .is_err());
}

async fn master_key_rotation_rewraps_without_touching_data(store: &Store) {
    let (m1, b1) = MasterKey::generate();
    let s = services(store, m1).await;
    let z = s
        .zones
        .create(&s.admin, None, draft("Rotating"))
        .await
        .unwrap();
    let secret = s
        .secrets
        .create(
            &sc(&s.zones, &s.admin, z.id.as_str()).await,
            SecretDraft {
                name: "n".into(),
                entity_id: "e".into(),
                data: token("survives-rotation"),
                description: None,
                metadata: None,
            },
        )
        .await
        .unwrap();
    use keyzone_core::store::SecretStore;
    let sealed_before = s
        .store
        .get_secret(&z.id, &secret.id)
        .await
        .unwrap()
        .unwrap()
        .sealed_data;

    let (m2, b2) = MasterKey::generate();
    assert_eq!(
        s.vault.rotate_master(&m2).await.unwrap(),
        MasterRotation::Rewrapped(1)
    );
    // Re-running (as after a crash following the commit) is a no-op.
    let old = Vault::new(MasterKey::from_base64(&b1).unwrap(), None, s.store.clone());
    assert_eq!(
        old.rotate_master(&MasterKey::from_base64(&b2).unwrap())
            .await
            .unwrap(),
        MasterRotation::AlreadyDone
    );
    assert!(
        old.check_master_key().await.is_err(),
        "the old key is no longer accepted"
    );

    let fresh = services(store, MasterKey::from_base64(&b2).unwrap()).await;
    let (_, data) = fresh
        .secrets
        .reveal(
            &sc(&fresh.zones, &fresh.admin, z.id.as_str()).await,
            secret.id.as_str(),
        )
        .await
        .unwrap();
    assert_eq!(data, token("survives-rotation"));
    let sealed_after = s
        .store
        .get_secret(&z.id, &secret.id)
        .await
        .unwrap()
        .unwrap()
        .sealed_data;
    assert_eq!(sealed_before, sealed_after, "data is not re-encrypted");
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

/// Verifies a compact JWS against a JWKS document.
fn verifies(jwks: &str, token: &str) -> bool {
    let jwks: serde_json::Value = serde_json::from_str(jwks).unwrap();
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&b64(signed.split('.').next().unwrap())).unwrap();
    jwks["keys"].as_array().unwrap().iter().any(|k| {
        k["kid"] == header["kid"]
            && verify(
                k,
                Algorithm::parse(header["alg"].as_str().unwrap()).unwrap(),
                signed.as_bytes(),
                &b64(sig),
            )
    })
}

async fn signing_key_rotation_keeps_old_tokens_verifiable(store: &Store) {
    let (m, _) = MasterKey::generate();
    let s = services(store, m).await;
    let z = s
        .zones
        .create(&s.admin, None, draft("Signing"))
        .await
        .unwrap();
    let ring = s.signing.key_ring(&z.id).await.unwrap();
    let old_kid = ring.current.kid().to_owned();
    let token =
        keyzone_crypto::jwt::sign(&ring.current, "at+jwt", &serde_json::json!({"sub": "x"}));
    assert!(verifies(&s.signing.jwks(&z.id).await.unwrap(), &token));

    // The next key was published moments ago: rotating now is refused.
    assert!(matches!(
        s.signing.rotate(&z.id, None, false).await.unwrap(),
        RotateOutcome::TooSoon { .. }
    ));
    let next_before =
        serde_json::from_str::<serde_json::Value>(&s.signing.jwks(&z.id).await.unwrap()).unwrap()
            ["keys"][1]["kid"]
            .clone();
    let RotateOutcome::Rotated {
        retired,
        current,
        next,
    } = s
        .signing
        .rotate(&z.id, Some(Algorithm::ES256), true)
        .await
        .unwrap()
    else {
        panic!("rotation did not happen")
    };
    assert_eq!(retired, old_kid);
    assert_eq!(
        serde_json::json!(current),
        next_before,
        "the published next key signs now"
    );
    let ring = s.signing.key_ring(&z.id).await.unwrap();
    assert_eq!(ring.current.kid(), current);
    let jwks = s.signing.jwks(&z.id).await.unwrap();
    assert!(
        verifies(&jwks, &token),
        "a token signed before rotation still verifies"
    );
    let doc: serde_json::Value = serde_json::from_str(&jwks).unwrap();
    let kids: Vec<&str> = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [current.as_str(), next.as_str(), old_kid.as_str()]);
    assert_eq!(
        doc["keys"][1]["alg"], "ES256",
        "the new next key has the chosen algorithm"
    );

    // The retired key stays until every token it signed has expired...
    assert_eq!(
        s.store.purge_signing_keys(Timestamp::now()).await.unwrap(),
        0
    );
    // ...and only then leaves the JWKS.
    let after_expiry = Timestamp::from_micros(
        Timestamp::now().as_micros() + MAX_TOKEN_LIFETIME.as_micros() as i64 + 1_000_000,
    );
    assert_eq!(s.store.purge_signing_keys(after_expiry).await.unwrap(), 1);
    s.signing.forget(&z.id);
    let jwks = s.signing.jwks(&z.id).await.unwrap();
    assert!(!jwks.contains(&old_kid));
    assert!(!verifies(&jwks, &token));
}

async fn deleting_a_zone_shreds_its_keys(store: &Store) {
    let (m, b) = MasterKey::generate();
    let s = services(store, m).await;
    let z = s
        .zones
        .create(&s.admin, None, draft("Shred"))
        .await
        .unwrap();
    use keyzone_core::store::VaultStore;
    let wrapped = s.store.data_key(&z.id, 1).await.unwrap().unwrap();
    s.zones
        .delete(&sc(&s.zones, &s.admin, z.id.as_str()).await)
        .await
        .unwrap();
    assert!(s.store.data_key(&z.id, 1).await.unwrap().is_none());
    assert!(s.store.signing_keys(&z.id).await.unwrap().is_empty());
    assert!(matches!(
        s.vault.zone_key(&z.id).await,
        Err(CoreError::NotFound { .. })
    ));
    // Only a copy of the wrapped key taken before deletion could open a
    // backup of the rows; the store itself keeps nothing.
    assert!(MasterKey::from_base64(&b)
        .unwrap()
        .unwrap(z.id.as_str(), 1, &wrapped.wrapped)
        .is_ok());
}
