//! The store test suite: every test runs against SQLite and PostgreSQL.

use keyzone_core::store::{
    ApiKeyRecord, ApiKeyStore, Constraint, HealthCheck, KeyWrapping, NewZoneKeys,
    OrganizationStore, SecretFilter, SecretStore, SigningKeyState, SigningKeyStore, StoreError,
    StoredSecret, StoredSigningKey, VaultStore, WrappedDataKey, ZoneFilter, ZoneStore,
};
use keyzone_domain::organization::Organization;
use keyzone_domain::page::PageWindow;
use keyzone_domain::secret::{Secret, SecretKind};
use keyzone_domain::zone::{Cimd, EncryptionKey, Zone, ZoneDraft};
use keyzone_domain::SecretId;
use keyzone_domain::{ApiKeyId, OrganizationId, PageRequest, Positioned, Timestamp, ZoneId};
use keyzone_store::Store;

keyzone_store::store_tests!(
    health,
    organization_is_created_once,
    zone_round_trip,
    zone_update_and_clear,
    zone_slug_is_unique_per_organization,
    zone_pages_walk_both_ways,
    zone_filters,
    organizations_never_see_each_others_zones,
    api_keys_by_hash,
    api_keys_list_and_revoke,
    migrations_are_idempotent,
    zone_keys_are_written_with_the_zone_and_deleted_with_it,
    master_key_record_and_rewrap,
    signing_key_rotation_is_compare_and_set,
    secrets_round_trip_and_filters,
    secrets_are_scoped_to_their_zone,
);

fn keys_for(z: &Zone) -> NewZoneKeys {
    NewZoneKeys {
        data_key: WrappedDataKey {
            zone_id: z.id.clone(),
            version: 1,
            wrapping: KeyWrapping::Master {
                master_key_id: "m1".into(),
            },
            wrapped: vec![1, 2, 3],
            created_at: Timestamp::now(),
        },
        signing_keys: vec![
            signing_key(z, SigningKeyState::Current),
            signing_key(z, SigningKeyState::Next),
        ],
        platform_providers: keyzone_core::directory::platform_providers(&z.id),
        platform_applications: vec![],
    }
}

fn signing_key(z: &Zone, state: SigningKeyState) -> StoredSigningKey {
    StoredSigningKey {
        zone_id: z.id.clone(),
        kid: keyzone_domain::id::random_id(),
        algorithm: "RS256".into(),
        state,
        public_jwk: "{}".into(),
        sealed_private_key: vec![9; 16],
        created_at: Timestamp::now(),
        activated_at: (state == SigningKeyState::Current).then(Timestamp::now),
        retired_at: None,
        publish_until: None,
    }
}

/// Inserts a zone with placeholder key material (wrapped by master key "m1").
async fn put(store: &Store, z: &Zone) -> Result<(), StoreError> {
    store.init_master_key_id("m1").await?;
    store.insert_zone(z, &keys_for(z)).await
}

async fn org(store: &Store, label: &str) -> Organization {
    let now = Timestamp::now();
    store
        .ensure_organization(&Organization {
            id: OrganizationId::generate(),
            label: label.into(),
            name: format!("Org {label}"),
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap()
}

fn zone(org: &Organization, name: &str) -> Zone {
    ZoneDraft {
        name: name.into(),
        ..Default::default()
    }
    .into_zone(
        ZoneId::generate(),
        org.id.clone(),
        keyzone_domain::validation::slugify(name),
    )
}

async fn health(store: &Store) {
    store.ping().await.unwrap();
}

async fn organization_is_created_once(store: &Store) {
    let a = org(store, "default").await;
    let b = org(store, "default").await;
    assert_eq!(a, b, "a second ensure must return the first organization");
    let c = org(store, "other").await;
    assert_ne!(a.id, c.id);
}

async fn zone_round_trip(store: &Store) {
    let o = org(store, "default").await;
    let mut z = zone(&o, "Round trip");
    z.description = Some("d".into());
    z.cimd = Cimd {
        enabled: true,
        allowed_client_ids: vec!["*".into(), "https://*.example.com".into()],
    };
    z.encryption_key = Some(EncryptionKey {
        arn: "arn:aws:kms:us-east-1:1:key/x".into(),
    });
    put(store, &z).await.unwrap();
    let got = store.get_zone(&o.id, &z.id).await.unwrap().unwrap();
    assert_eq!(got, z);
    assert!(store.delete_zone(&o.id, &z.id).await.unwrap());
    assert!(store.get_zone(&o.id, &z.id).await.unwrap().is_none());
    assert!(!store.delete_zone(&o.id, &z.id).await.unwrap());
}

async fn zone_update_and_clear(store: &Store) {
    let o = org(store, "default").await;
    let mut z = zone(&o, "Update");
    z.description = Some("before".into());
    put(store, &z).await.unwrap();
    let stored_at = z.updated_at;
    z.name = "Renamed".into();
    z.description = None;
    z.dcr_enabled = false;
    z.external_sync_enabled = true;
    z.updated_at = Timestamp::after(stored_at);
    // Compare-and-set: a writer that read an older version writes nothing.
    let mut stale = z.clone();
    stale.name = "Stale".into();
    assert!(!store
        .update_zone(
            &stale,
            Timestamp::from_micros(stored_at.as_micros() - 1),
            None
        )
        .await
        .unwrap());
    assert!(store.update_zone(&z, stored_at, None).await.unwrap());
    assert!(!store.update_zone(&stale, stored_at, None).await.unwrap());
    assert_eq!(store.get_zone(&o.id, &z.id).await.unwrap().unwrap(), z);
    let ghost = zone(&o, "Ghost");
    assert!(!store
        .update_zone(&ghost, ghost.updated_at, None)
        .await
        .unwrap());
}

async fn zone_slug_is_unique_per_organization(store: &Store) {
    let a = org(store, "default").await;
    let b = org(store, "other").await;
    put(store, &zone(&a, "Same")).await.unwrap();
    match put(store, &zone(&a, "Same")).await {
        Err(StoreError::Conflict(Constraint::ZoneSlugUnique)) => {}
        other => panic!("expected a slug conflict, got {other:?}"),
    }
    // Another organization may use the same slug.
    put(store, &zone(&b, "Same")).await.unwrap();
}

async fn zone_pages_walk_both_ways(store: &Store) {
    let o = org(store, "default").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut z = zone(&o, &format!("Page {i}"));
        // Two zones share a timestamp: the id breaks the tie.
        z.created_at = Timestamp::from_micros(1_000_000 + (i / 2) as i64);
        put(store, &z).await.unwrap();
        ids.push((z.created_at, z.id.clone()));
    }
    ids.sort();
    let expected: Vec<ZoneId> = ids.into_iter().map(|(_, id)| id).collect();

    let mut seen = Vec::new();
    let mut req = PageRequest {
        limit: 3,
        with_total: true,
        ..Default::default()
    };
    let mut pages = Vec::new();
    loop {
        let page = store
            .list_zones(&o.id, &ZoneFilter::default(), &req)
            .await
            .unwrap();
        assert_eq!(page.total_count, Some(7));
        assert_eq!(page.has_prev, !seen.is_empty());
        seen.extend(page.items.iter().map(|z| z.id.clone()));
        pages.push(page.items.iter().map(|z| z.id.clone()).collect::<Vec<_>>());
        if !page.has_next {
            break;
        }
        req.window = PageWindow::After(
            page.items
                .last()
                .unwrap()
                .position(&keyzone_domain::Sort::default()),
        );
    }
    assert_eq!(seen, expected);
    assert_eq!(pages.len(), 3);

    // Backwards from the start of the last page gives the earlier pages.
    let last_first = store
        .get_zone(&o.id, &pages[2][0])
        .await
        .unwrap()
        .unwrap()
        .position(&keyzone_domain::Sort::default());
    let req = PageRequest {
        window: PageWindow::Before(last_first),
        limit: 3,
        ..Default::default()
    };
    let page = store
        .list_zones(&o.id, &ZoneFilter::default(), &req)
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|z| z.id.clone()).collect::<Vec<_>>(),
        pages[1]
    );
    assert!(page.has_prev);
    assert!(page.has_next);
    assert_eq!(page.total_count, None);
    let first = page.items[0].position(&keyzone_domain::Sort::default());
    let page = store
        .list_zones(
            &o.id,
            &ZoneFilter::default(),
            &PageRequest {
                window: PageWindow::Before(first),
                limit: 3,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|z| z.id.clone()).collect::<Vec<_>>(),
        pages[0]
    );
    assert!(!page.has_prev);
    assert!(page.has_next);
}

async fn zone_filters(store: &Store) {
    let o = org(store, "default").await;
    let a = zone(&o, "Alpha");
    put(store, &a).await.unwrap();
    put(store, &zone(&o, "Beta")).await.unwrap();
    let page = store
        .list_zones(
            &o.id,
            &ZoneFilter {
                slug: Some("alpha".into()),
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(page.items, vec![a]);
}

async fn organizations_never_see_each_others_zones(store: &Store) {
    let a = org(store, "default").await;
    let b = org(store, "other").await;
    let za = zone(&a, "Tenant A");
    put(store, &za).await.unwrap();
    assert!(store.get_zone(&b.id, &za.id).await.unwrap().is_none());
    let listed = store
        .list_zones(
            &b.id,
            &ZoneFilter::default(),
            &PageRequest {
                with_total: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    assert_eq!(listed.total_count, Some(0));
    let mut forged = za.clone();
    forged.organization_id = b.id.clone();
    forged.name = "Hijacked".into();
    assert!(!store
        .update_zone(&forged, za.updated_at, None)
        .await
        .unwrap());
    assert!(!store.delete_zone(&b.id, &za.id).await.unwrap());
    assert_eq!(store.get_zone(&a.id, &za.id).await.unwrap().unwrap(), za);
}

async fn api_keys_by_hash(store: &Store) {
    let o = org(store, "default").await;
    assert_eq!(store.count_api_keys().await.unwrap(), 0);
    let rec = ApiKeyRecord {
        id: ApiKeyId::generate(),
        organization_id: o.id.clone(),
        name: "ci".into(),
        key_hash: [7u8; 32],
        created_at: Timestamp::now(),
    };
    store.insert_api_key(&rec).await.unwrap();
    assert_eq!(
        store.find_api_key(&[7u8; 32]).await.unwrap(),
        Some(rec.clone())
    );
    assert_eq!(store.find_api_key(&[8u8; 32]).await.unwrap(), None);
    let dup = ApiKeyRecord {
        id: ApiKeyId::generate(),
        ..rec
    };
    assert!(matches!(
        store.insert_api_key(&dup).await,
        Err(StoreError::Conflict(Constraint::ApiKeyHashUnique))
    ));
    assert_eq!(store.count_api_keys().await.unwrap(), 1);
}

async fn api_keys_list_and_revoke(store: &Store) {
    let o = org(store, "default").await;
    assert!(store.list_api_keys().await.unwrap().is_empty());
    let key = |name: &str, hash: u8, at: i64| ApiKeyRecord {
        id: ApiKeyId::generate(),
        organization_id: o.id.clone(),
        name: name.into(),
        key_hash: [hash; 32],
        created_at: Timestamp::from_micros(at),
    };
    let (older, newer) = (key("ci", 1, 2_000), key("bootstrap", 2, 1_000));
    store.insert_api_key(&older).await.unwrap();
    store.insert_api_key(&newer).await.unwrap();
    // Oldest first, whatever the insertion order.
    assert_eq!(
        store.list_api_keys().await.unwrap(),
        vec![newer.clone(), older.clone()]
    );
    assert!(store.delete_api_key(&older.id).await.unwrap());
    assert!(!store.delete_api_key(&older.id).await.unwrap());
    assert!(!store.delete_api_key(&ApiKeyId::generate()).await.unwrap());
    // A revoked key no longer authenticates; the other one still does.
    assert_eq!(store.find_api_key(&[1; 32]).await.unwrap(), None);
    assert_eq!(
        store.find_api_key(&[2; 32]).await.unwrap(),
        Some(newer.clone())
    );
    assert_eq!(store.list_api_keys().await.unwrap(), vec![newer]);
    assert_eq!(store.count_api_keys().await.unwrap(), 1);
}

async fn migrations_are_idempotent(store: &Store) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
}

#[tokio::test]
async fn data_survives_reopening_sqlite() {
    let dir = std::env::temp_dir().join(format!("kz-reopen-{}", keyzone_domain::id::random_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("k.db").display());
    let opts = keyzone_store::ConnectOptions::default();
    let s = Store::connect(&url, &opts).await.unwrap();
    s.migrate().await.unwrap();
    let o = org(&s, "default").await;
    let z = zone(&o, "Durable");
    s.init_master_key_id("m1").await.unwrap();
    s.insert_zone(&z, &keys_for(&z)).await.unwrap();
    s.close().await;
    let s = Store::connect(&url, &opts).await.unwrap();
    s.migrate().await.unwrap();
    assert_eq!(s.get_zone(&o.id, &z.id).await.unwrap(), Some(z));
    s.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

async fn zone_keys_are_written_with_the_zone_and_deleted_with_it(store: &Store) {
    let o = org(store, "default").await;
    // Until the deployment records its master key, no zone can be created.
    let early = zone(&o, "Too early");
    assert!(matches!(
        store.insert_zone(&early, &keys_for(&early)).await,
        Err(StoreError::Conflict(Constraint::MasterKeyChanged))
    ));
    store.init_master_key_id("m1").await.unwrap();
    let z = zone(&o, "Keys");
    let keys = keys_for(&z);
    store.init_master_key_id("m1").await.unwrap();
    store.insert_zone(&z, &keys).await.unwrap();
    assert_eq!(
        store.data_key(&z.id, 1).await.unwrap(),
        Some(keys.data_key.clone())
    );
    assert_eq!(store.signing_keys(&z.id).await.unwrap().len(), 2);

    // A failed zone insert (duplicate slug) leaves no orphan keys behind.
    let mut dup = zone(&o, "Keys");
    dup.slug = z.slug.clone();
    assert!(store.insert_zone(&dup, &keys_for(&dup)).await.is_err());
    assert_eq!(store.data_key(&dup.id, 1).await.unwrap(), None);
    assert!(store.signing_keys(&dup.id).await.unwrap().is_empty());

    // Re-wrapping travels with the zone update.
    let rewrapped = WrappedDataKey {
        wrapping: KeyWrapping::AwsKms {
            arn: "arn:aws:kms:us-east-1:1:key/k".into(),
        },
        wrapped: vec![7, 7],
        ..keys.data_key.clone()
    };
    assert!(store
        .update_zone(&z, z.updated_at, Some(&rewrapped))
        .await
        .unwrap());
    assert_eq!(store.data_key(&z.id, 1).await.unwrap(), Some(rewrapped));

    // A node still holding a rotated-out master key cannot add zones.
    let mut stale = keys_for(&zone(&o, "Stale"));
    let stale_zone = zone(&o, "Stale");
    stale.data_key.zone_id = stale_zone.id.clone();
    stale.data_key.wrapping = KeyWrapping::Master {
        master_key_id: "m0".into(),
    };
    for k in &mut stale.signing_keys {
        k.zone_id = stale_zone.id.clone();
    }
    assert!(matches!(
        store.insert_zone(&stale_zone, &stale).await,
        Err(StoreError::Conflict(Constraint::MasterKeyChanged))
    ));
    assert!(store
        .get_zone(&o.id, &stale_zone.id)
        .await
        .unwrap()
        .is_none());

    // Crypto-shredding: the zone's keys go with it.
    assert!(store.delete_zone(&o.id, &z.id).await.unwrap());
    assert_eq!(store.data_key(&z.id, 1).await.unwrap(), None);
    assert!(store.signing_keys(&z.id).await.unwrap().is_empty());
}

async fn master_key_record_and_rewrap(store: &Store) {
    assert_eq!(store.init_master_key_id("m1").await.unwrap(), "m1");
    assert_eq!(
        store.init_master_key_id("m2").await.unwrap(),
        "m1",
        "first record wins"
    );
    let o = org(store, "default").await;
    let z = zone(&o, "Rewrap");
    let keys = keys_for(&z);
    store.init_master_key_id("m1").await.unwrap();
    store.insert_zone(&z, &keys).await.unwrap();
    let all = store.master_wrapped_data_keys().await.unwrap();
    assert_eq!(all, vec![keys.data_key.clone()]);
    let new = WrappedDataKey {
        wrapping: KeyWrapping::Master {
            master_key_id: "m2".into(),
        },
        wrapped: vec![4, 5, 6],
        ..keys.data_key.clone()
    };
    assert!(!store
        .rewrap_data_keys(std::slice::from_ref(&new), "wrong", "m2")
        .await
        .unwrap());
    assert_eq!(store.data_key(&z.id, 1).await.unwrap(), Some(keys.data_key));
    assert!(store
        .rewrap_data_keys(std::slice::from_ref(&new), "m1", "m2")
        .await
        .unwrap());
    assert_eq!(store.data_key(&z.id, 1).await.unwrap(), Some(new));
    assert_eq!(store.init_master_key_id("m1").await.unwrap(), "m2");
}

async fn signing_key_rotation_is_compare_and_set(store: &Store) {
    let o = org(store, "default").await;
    let z = zone(&o, "Rotate");
    let keys = keys_for(&z);
    store.init_master_key_id("m1").await.unwrap();
    store.insert_zone(&z, &keys).await.unwrap();
    let (cur, next) = (&keys.signing_keys[0].kid, &keys.signing_keys[1].kid);
    let until = Timestamp::from_micros(Timestamp::now().as_micros() + 1_000_000);
    let new_next = signing_key(&z, SigningKeyState::Next);
    assert!(store
        .rotate_signing_keys(&z.id, cur, next, until, &new_next)
        .await
        .unwrap());
    let after = store.signing_keys(&z.id).await.unwrap();
    let state = |kid: &str| after.iter().find(|k| k.kid == kid).unwrap().state;
    assert_eq!(state(cur), SigningKeyState::Retired);
    assert_eq!(state(next), SigningKeyState::Current);
    assert_eq!(state(&new_next.kid), SigningKeyState::Next);
    // A second rotation from the same starting point loses and changes nothing.
    let other = signing_key(&z, SigningKeyState::Next);
    assert!(!store
        .rotate_signing_keys(&z.id, cur, next, until, &other)
        .await
        .unwrap());
    assert_eq!(store.signing_keys(&z.id).await.unwrap(), after);
    // A kid is never reused.
    let mut again = signing_key(&z, SigningKeyState::Retired);
    again.kid = cur.clone();
    assert!(store
        .rotate_signing_keys(&z.id, next, &new_next.kid, until, &again)
        .await
        .is_err());
    // Retired keys are purged only once their publication window is over.
    assert_eq!(store.purge_signing_keys(Timestamp::now()).await.unwrap(), 0);
    let later = Timestamp::from_micros(until.as_micros() + 1);
    assert_eq!(store.purge_signing_keys(later).await.unwrap(), 1);
    assert_eq!(store.signing_keys(&z.id).await.unwrap().len(), 2);
    let due = store
        .zones_with_current_key_before(Timestamp::from_micros(Timestamp::now().as_micros() + 1))
        .await
        .unwrap();
    assert_eq!(due, vec![z.id.clone()]);
}

fn secret(z: &Zone, entity: &str, kind: SecretKind) -> StoredSecret {
    let now = Timestamp::now();
    StoredSecret {
        secret: Secret {
            id: SecretId::generate(),
            zone_id: z.id.clone(),
            name: "s".into(),
            entity_id: entity.into(),
            kind,
            description: Some("d".into()),
            metadata: Some(serde_json::json!({"k": [1, 2]})),
            version: 1,
            created_at: now,
            updated_at: now,
        },
        sealed_data: vec![0xAB; 40],
    }
}

async fn secrets_round_trip_and_filters(store: &Store) {
    let o = org(store, "default").await;
    let z = zone(&o, "Secrets");
    put(store, &z).await.unwrap();
    let a = secret(&z, "res1", SecretKind::Token);
    let b = secret(&z, "res1", SecretKind::Password);
    let c = secret(&z, "res2", SecretKind::Token);
    for s in [&a, &b, &c] {
        store.insert_secret(s).await.unwrap();
    }
    assert_eq!(
        store.get_secret(&z.id, &a.secret.id).await.unwrap(),
        Some(a.clone())
    );
    let all = store
        .list_secrets(&z.id, &SecretFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    let by_entity = store
        .list_secrets(
            &z.id,
            &SecretFilter {
                entity_id: Some("res1".into()),
                kind: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(by_entity.len(), 2);
    let tokens = store
        .list_secrets(
            &z.id,
            &SecretFilter {
                entity_id: Some("res1".into()),
                kind: Some(SecretKind::Token),
            },
        )
        .await
        .unwrap();
    assert_eq!(tokens, vec![a.secret.clone()]);

    let mut changed = a.clone();
    changed.secret.version = 2;
    changed.secret.metadata = None;
    changed.sealed_data = vec![0xCD; 40];
    // A version that skips one, or a stale read, is never stored.
    let mut skipping = changed.clone();
    skipping.secret.version = 3;
    assert!(!store
        .update_secret(&skipping, a.secret.updated_at)
        .await
        .unwrap());
    changed.secret.updated_at = Timestamp::after(a.secret.updated_at);
    assert!(store
        .update_secret(&changed, a.secret.updated_at)
        .await
        .unwrap());
    assert!(!store
        .update_secret(&changed, a.secret.updated_at)
        .await
        .unwrap());
    assert_eq!(
        store.get_secret(&z.id, &a.secret.id).await.unwrap(),
        Some(changed)
    );
    assert!(store.delete_secret(&z.id, &b.secret.id).await.unwrap());
    assert!(!store.delete_secret(&z.id, &b.secret.id).await.unwrap());
    // Deleting the zone deletes its secrets.
    assert!(store.delete_zone(&o.id, &z.id).await.unwrap());
    assert_eq!(store.get_secret(&z.id, &c.secret.id).await.unwrap(), None);
}

async fn secrets_are_scoped_to_their_zone(store: &Store) {
    let o = org(store, "default").await;
    let za = zone(&o, "Zone A");
    let zb = zone(&o, "Zone B");
    put(store, &za).await.unwrap();
    put(store, &zb).await.unwrap();
    let s = secret(&za, "shared-entity", SecretKind::Token);
    store.insert_secret(&s).await.unwrap();
    assert_eq!(store.get_secret(&zb.id, &s.secret.id).await.unwrap(), None);
    assert!(store
        .list_secrets(
            &zb.id,
            &SecretFilter {
                entity_id: Some("shared-entity".into()),
                kind: None
            }
        )
        .await
        .unwrap()
        .is_empty());
    let mut forged = s.clone();
    forged.secret.zone_id = zb.id.clone();
    forged.secret.name = "stolen".into();
    assert!(!store
        .update_secret(&forged, s.secret.updated_at)
        .await
        .unwrap());
    assert!(!store.delete_secret(&zb.id, &s.secret.id).await.unwrap());
    assert_eq!(
        store.get_secret(&za.id, &s.secret.id).await.unwrap(),
        Some(s)
    );
}
