//! The store test suite: every test runs against SQLite and PostgreSQL.

use keyzone_core::store::{
    ApiKeyRecord, ApiKeyStore, Constraint, HealthCheck, OrganizationStore, StoreError, ZoneFilter,
    ZoneStore,
};
use keyzone_domain::organization::Organization;
use keyzone_domain::page::PageWindow;
use keyzone_domain::zone::{Cimd, EncryptionKey, Zone, ZoneDraft};
use keyzone_domain::{ApiKeyId, OrganizationId, PageRequest, Positioned, Timestamp, ZoneId};
use keyzone_store::Store;

macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = keyzone_store::testing::TestDb::sqlite().await;
                    super::$name(&db.store).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = keyzone_store::testing::TestDb::postgres().await else { return };
                    super::$name(&db.store).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

store_tests!(
    health,
    organization_is_created_once,
    zone_round_trip,
    zone_update_and_clear,
    zone_slug_is_unique_per_organization,
    zone_pages_walk_both_ways,
    zone_filters,
    organizations_never_see_each_others_zones,
    api_keys_by_hash,
    migrations_are_idempotent,
);

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
    store.insert_zone(&z).await.unwrap();
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
    store.insert_zone(&z).await.unwrap();
    z.name = "Renamed".into();
    z.description = None;
    z.dcr_enabled = false;
    z.external_sync_enabled = true;
    z.updated_at = Timestamp::now();
    assert!(store.update_zone(&z).await.unwrap());
    assert_eq!(store.get_zone(&o.id, &z.id).await.unwrap().unwrap(), z);
    let ghost = zone(&o, "Ghost");
    assert!(!store.update_zone(&ghost).await.unwrap());
}

async fn zone_slug_is_unique_per_organization(store: &Store) {
    let a = org(store, "default").await;
    let b = org(store, "other").await;
    store.insert_zone(&zone(&a, "Same")).await.unwrap();
    match store.insert_zone(&zone(&a, "Same")).await {
        Err(StoreError::Conflict(Constraint::ZoneSlugUnique)) => {}
        other => panic!("expected a slug conflict, got {other:?}"),
    }
    // Another organization may use the same slug.
    store.insert_zone(&zone(&b, "Same")).await.unwrap();
}

async fn zone_pages_walk_both_ways(store: &Store) {
    let o = org(store, "default").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut z = zone(&o, &format!("Page {i}"));
        // Two zones share a timestamp: the id breaks the tie.
        z.created_at = Timestamp::from_micros(1_000_000 + (i / 2) as i64);
        store.insert_zone(&z).await.unwrap();
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
        req.window = PageWindow::After(page.items.last().unwrap().position());
    }
    assert_eq!(seen, expected);
    assert_eq!(pages.len(), 3);

    // Backwards from the start of the last page gives the earlier pages.
    let last_first = store
        .get_zone(&o.id, &pages[2][0])
        .await
        .unwrap()
        .unwrap()
        .position();
    let req = PageRequest {
        window: PageWindow::Before(last_first),
        limit: 3,
        with_total: false,
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
    let first = page.items[0].position();
    let page = store
        .list_zones(
            &o.id,
            &ZoneFilter::default(),
            &PageRequest {
                window: PageWindow::Before(first),
                limit: 3,
                with_total: false,
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
    store.insert_zone(&a).await.unwrap();
    store.insert_zone(&zone(&o, "Beta")).await.unwrap();
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
    store.insert_zone(&za).await.unwrap();
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
    assert!(!store.update_zone(&forged).await.unwrap());
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
    s.insert_zone(&z).await.unwrap();
    s.close().await;
    let s = Store::connect(&url, &opts).await.unwrap();
    s.migrate().await.unwrap();
    assert_eq!(s.get_zone(&o.id, &z.id).await.unwrap(), Some(z));
    s.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
