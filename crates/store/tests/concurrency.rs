//! Concurrent writers over the real use cases, on SQLite and PostgreSQL:
//! no acknowledged update is lost, versions never repeat or go backwards,
//! deletes racing dependency changes neither deadlock nor fail, and a burst
//! of zone creations all succeed (SQLite writers queue instead of failing).

use keyzone_core::auth::Principal;
use keyzone_core::store::OrganizationStore;
use keyzone_core::{
    CoreError, Directory, Secrets, SigningKeys, Vault, ZoneAction, ZoneScope, Zones,
};
use keyzone_crypto::MasterKey;
use keyzone_domain::directory::{ApplicationFields, MetadataPatch, ResourceFields};
use keyzone_domain::organization::Organization;
use keyzone_domain::secret::{SecretChanges, SecretData, SecretDraft};
use keyzone_domain::zone::{ZoneChanges, ZoneDraft};
use keyzone_domain::{ApiKeyId, OrganizationId, Timestamp};
use keyzone_store::Store;
use std::sync::Arc;
use tokio::task::JoinSet;

keyzone_store::store_tests!(
    concurrent_patches_of_different_fields_both_hold,
    concurrent_secret_versions_are_unique_and_monotonic,
    deletes_racing_dependency_changes_all_succeed,
    a_burst_of_zone_creations_all_succeed,
    if_match_refuses_stale_versions,
);

struct S {
    zones: Zones,
    dir: Directory,
    secrets: Secrets,
    admin: Principal,
}

async fn setup(store: &Store) -> Arc<S> {
    let store = Arc::new(store.clone());
    let (m, _) = MasterKey::generate();
    let vault = Arc::new(Vault::new(m, None, store.clone()));
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
    Arc::new(S {
        zones: Zones::new(store.clone(), store.clone(), vault.clone(), signing),
        dir: Directory::new(store.clone(), vault.clone()),
        secrets: Secrets::new(store.clone(), vault),
        admin: Principal::OrganizationAdmin {
            organization_id: org.id,
            api_key_id: ApiKeyId::generate(),
        },
    })
}

impl S {
    async fn scope(&self, zone: &str) -> ZoneScope {
        self.zones
            .scope(&self.admin, zone, ZoneAction::Write)
            .await
            .expect("the test's zone")
    }

    async fn zone(&self, name: &str) -> String {
        let draft = ZoneDraft {
            name: name.into(),
            ..Default::default()
        };
        self.zones
            .create(&self.admin, None, draft)
            .await
            .unwrap()
            .id
            .to_string()
    }
}

fn app(identifier: &str) -> ApplicationFields {
    ApplicationFields {
        identifier: Some(identifier.into()),
        name: Some(identifier.into()),
        ..Default::default()
    }
}

fn res(identifier: &str) -> ResourceFields {
    ResourceFields {
        identifier: Some(identifier.into()),
        name: Some(identifier.into()),
        ..Default::default()
    }
}

/// Two PATCHes of different fields of one record, at the same time, both
/// answered: both changes are in the record (the probe lost one in 27 of
/// 30 trials before writes became compare-and-set).
async fn concurrent_patches_of_different_fields_both_hold(store: &Store) {
    let s = setup(store).await;
    let z = s.zone("Race").await;
    let scope = s.scope(&z).await;
    let a = s
        .dir
        .create_application(&scope, app("agent"), &[])
        .await
        .unwrap();
    for i in 0..15 {
        let (s1, s2) = (s.clone(), s.clone());
        let (z1, z2) = (z.clone(), z.clone());
        let description = format!("described {i}");
        let name = format!("Named {i}");
        let (d, n) = (description.clone(), name.clone());
        let one = tokio::spawn(async move {
            let scope = s1.scope(&z1).await;
            let changes = ZoneChanges {
                description: Some(Some(d)),
                ..Default::default()
            };
            s1.zones.update(&scope, changes, None).await.unwrap()
        });
        let two = tokio::spawn(async move {
            let scope = s2.scope(&z2).await;
            let changes = ZoneChanges {
                name: Some(n),
                ..Default::default()
            };
            s2.zones.update(&scope, changes, None).await.unwrap()
        });
        one.await.unwrap();
        two.await.unwrap();
        let zone = s.scope(&z).await.into_zone();
        assert_eq!(zone.description.as_deref(), Some(description.as_str()));
        assert_eq!(zone.name, name);

        let (s1, s2) = (s.clone(), s.clone());
        let (z1, z2, a1, a2) = (z.clone(), z.clone(), a.id.to_string(), a.id.to_string());
        let icon = format!("https://icons.example.com/{i}.png");
        let (icon1, name2) = (icon.clone(), format!("Agent {i}"));
        let one = tokio::spawn(async move {
            let fields = ApplicationFields {
                metadata: Some(Some(MetadataPatch {
                    docs_url: None,
                    icon_url: Some(Some(icon1)),
                })),
                ..Default::default()
            };
            let scope = s1.scope(&z1).await;
            s1.dir
                .update_application(&scope, &a1, fields, None)
                .await
                .unwrap()
        });
        let two = tokio::spawn(async move {
            let fields = ApplicationFields {
                name: Some(name2),
                ..Default::default()
            };
            let scope = s2.scope(&z2).await;
            s2.dir
                .update_application(&scope, &a2, fields, None)
                .await
                .unwrap()
        });
        one.await.unwrap();
        two.await.unwrap();
        let got = s
            .dir
            .get_application(&s.scope(&z).await, a.id.as_str())
            .await
            .unwrap();
        assert_eq!(got.name, format!("Agent {i}"));
        assert_eq!(
            got.metadata.and_then(|m| m.icon_url).as_deref(),
            Some(icon.as_str())
        );
    }
}

/// 20 concurrent new values of one secret: every answer names a distinct
/// version, and the stored version is the highest one answered.
async fn concurrent_secret_versions_are_unique_and_monotonic(store: &Store) {
    let s = setup(store).await;
    let z = s.zone("Versions").await;
    let scope = s.scope(&z).await;
    let created = s
        .secrets
        .create(
            &scope,
            SecretDraft {
                name: "api".into(),
                entity_id: "e".into(),
                data: SecretData::Token { token: "v1".into() },
                description: None,
                metadata: None,
            },
        )
        .await
        .unwrap();
    let mut writers = JoinSet::new();
    for i in 0..20 {
        let (s, z, id) = (s.clone(), z.clone(), created.id.to_string());
        writers.spawn(async move {
            let changes = SecretChanges {
                data: Some(SecretData::Token {
                    token: format!("v{i}"),
                }),
                ..Default::default()
            };
            let scope = s.scope(&z).await;
            s.secrets.update(&scope, &id, changes, None).await
        });
    }
    let mut versions = Vec::new();
    while let Some(r) = writers.join_next().await {
        versions.push(r.unwrap().expect("every update is acknowledged").version);
    }
    versions.sort_unstable();
    assert_eq!(versions, (2..=21).collect::<Vec<u32>>());
    let (stored, _) = s
        .secrets
        .reveal(&s.scope(&z).await, created.id.as_str())
        .await
        .unwrap();
    assert_eq!(stored.version, 21);
}

/// Deleting applications and resources while dependencies between them
/// are being put and removed: every request succeeds or finds its record
/// gone (404) — no deadlock, no internal error (PostgreSQL answered 40P01
/// as a 500 before).
async fn deletes_racing_dependency_changes_all_succeed(store: &Store) {
    let s = setup(store).await;
    let z = s.zone("Deadlocks").await;
    for round in 0..4 {
        let scope = s.scope(&z).await;
        let mut apps = Vec::new();
        let mut resources = Vec::new();
        for i in 0..4 {
            apps.push(
                s.dir
                    .create_application(&scope, app(&format!("app-{round}-{i}")), &[])
                    .await
                    .unwrap()
                    .id
                    .to_string(),
            );
            resources.push(
                s.dir
                    .create_resource(&scope, res(&format!("https://r{round}-{i}.example.com")))
                    .await
                    .unwrap()
                    .id
                    .to_string(),
            );
        }
        let mut tasks = JoinSet::new();
        for a in &apps {
            for r in &resources {
                let (s, z, a, r, w) = (
                    s.clone(),
                    z.clone(),
                    a.clone(),
                    r.clone(),
                    resources[0].clone(),
                );
                tasks.spawn(async move {
                    let scope = s.scope(&z).await;
                    s.dir
                        .put_dependency(&scope, &a, &r, std::slice::from_ref(&w))
                        .await
                });
            }
        }
        for a in apps.iter().skip(2) {
            let (s, z, a) = (s.clone(), z.clone(), a.clone());
            tasks.spawn(async move {
                let scope = s.scope(&z).await;
                s.dir.delete_application(&scope, &a).await
            });
        }
        for r in resources.iter().skip(2) {
            let (s, z, r) = (s.clone(), z.clone(), r.clone());
            tasks.spawn(async move {
                let scope = s.scope(&z).await;
                s.dir.delete_resource(&scope, &r).await
            });
        }
        while let Some(r) = tasks.join_next().await {
            match r.unwrap() {
                Ok(()) | Err(CoreError::NotFound { .. }) => {}
                // A dependency naming a resource deleted meanwhile is a
                // validation error or a missing reference, not a failure.
                Err(CoreError::Validation(_)) | Err(CoreError::Conflict(_)) => {}
                Err(other) => panic!("round {round}: {other:?}"),
            }
        }
    }
}

/// 50 zones created at once (each with its data key and two signing keys):
/// all 50 succeed.
async fn a_burst_of_zone_creations_all_succeed(store: &Store) {
    let s = setup(store).await;
    let mut tasks = JoinSet::new();
    for i in 0..50 {
        let s = s.clone();
        tasks.spawn(async move {
            let draft = ZoneDraft {
                name: format!("Burst {i}"),
                ..Default::default()
            };
            s.zones.create(&s.admin, None, draft).await
        });
    }
    let mut created = 0;
    while let Some(r) = tasks.join_next().await {
        r.unwrap().expect("every creation succeeds");
        created += 1;
    }
    assert_eq!(created, 50);
}

/// `If-Match` with a version that is no longer current changes nothing.
async fn if_match_refuses_stale_versions(store: &Store) {
    let s = setup(store).await;
    let z = s.zone("Preconditions").await;
    let scope = s.scope(&z).await;
    let seen = scope.zone().updated_at;
    let changes = |name: &str| ZoneChanges {
        name: Some(name.into()),
        ..Default::default()
    };
    let updated = s
        .zones
        .update(&scope, changes("First"), Some(seen))
        .await
        .unwrap();
    assert!(updated.updated_at > seen);
    let stale = s.scope(&z).await;
    assert!(matches!(
        s.zones.update(&stale, changes("Second"), Some(seen)).await,
        Err(CoreError::PreconditionFailed)
    ));
    assert_eq!(s.scope(&z).await.into_zone().name, "First");
    let a = s
        .dir
        .create_application(&stale, app("agent"), &[])
        .await
        .unwrap();
    let old = a.updated_at;
    s.dir
        .update_application(&stale, a.id.as_str(), app("renamed"), Some(old))
        .await
        .unwrap();
    assert!(matches!(
        s.dir
            .update_application(&stale, a.id.as_str(), app("again"), Some(old))
            .await,
        Err(CoreError::PreconditionFailed)
    ));
}
