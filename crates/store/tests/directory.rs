//! The directory use cases over the real store, on SQLite and PostgreSQL:
//! tenant isolation, reference rules, cascades and prefix resolution.

use keyzone_core::auth::Principal;
use keyzone_core::directory::{NewCredential, STS_PROVIDER};
use keyzone_core::store::{
    CredentialStore, ListFilter, OrganizationStore, ProviderStore, ResourceStore,
};
use keyzone_core::{CoreError, Directory, SigningKeys, Vault, ZoneScope, Zones};
use keyzone_crypto::MasterKey;
use keyzone_domain::directory::{ApplicationFields, ProviderFields, ResourceFields};
use keyzone_domain::organization::Organization;
use keyzone_domain::zone::{ZoneChanges, ZoneDraft};
use keyzone_domain::{ApiKeyId, OrganizationId, PageRequest, Timestamp};
use keyzone_store::Store;
use std::sync::Arc;

keyzone_store::store_tests!(
    zone_b_never_sees_zone_a,
    references_stay_inside_the_zone,
    deleting_things_cleans_up_after_them,
    prefix_resolution,
    platform_providers_are_protected,
    client_assertion_lookups_and_single_use_jtis,
);

struct S {
    store: Arc<Store>,
    zones: Zones,
    dir: Directory,
    admin: Principal,
}

/// The zone as the test's administrator may change it.
async fn sc(zones: &Zones, admin: &keyzone_core::Principal, zone: &str) -> ZoneScope {
    zones
        .scope(admin, zone, keyzone_core::ZoneAction::Write)
        .await
        .expect("the test's zone")
}

async fn setup(store: &Store) -> S {
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
    S {
        zones: Zones::new(store.clone(), store.clone(), vault.clone(), signing),
        dir: Directory::new(store.clone(), vault),
        admin: Principal::OrganizationAdmin {
            organization_id: org.id,
            api_key_id: ApiKeyId::generate(),
        },
        store,
    }
}

async fn zone(s: &S, name: &str) -> String {
    s.zones
        .create(
            &s.admin,
            None,
            ZoneDraft {
                name: name.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id
        .to_string()
}

fn app(identifier: &str) -> ApplicationFields {
    ApplicationFields {
        identifier: Some(identifier.into()),
        name: Some(identifier.into()),
        ..Default::default()
    }
}

fn res(identifier: &str, prefix: bool) -> ResourceFields {
    ResourceFields {
        identifier: Some(identifier.into()),
        name: Some(identifier.into()),
        prefix: Some(prefix),
        ..Default::default()
    }
}

fn provider(identifier: &str) -> ProviderFields {
    ProviderFields {
        identifier: Some(identifier.into()),
        name: Some(identifier.into()),
        ..Default::default()
    }
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, CoreError>) -> bool {
    matches!(r, Err(CoreError::NotFound { .. }))
}

async fn zone_b_never_sees_zone_a(store: &Store) {
    let s = setup(store).await;
    let (a, b) = (zone(&s, "A").await, zone(&s, "B").await);
    let p = s
        .dir
        .create_provider(&sc(&s.zones, &s.admin, &a).await, provider("idp"))
        .await
        .unwrap();
    let r = s
        .dir
        .create_resource(
            &sc(&s.zones, &s.admin, &a).await,
            res("https://a.test/api", false),
        )
        .await
        .unwrap();
    let ap = s
        .dir
        .create_application(&sc(&s.zones, &s.admin, &a).await, app("agent"), &[])
        .await
        .unwrap();
    let (c, _) = s
        .dir
        .create_credential(
            &sc(&s.zones, &s.admin, &a).await,
            ap.id.as_str(),
            NewCredential::Password { identifier: None },
        )
        .await
        .unwrap();
    let (dz, da) = (&s.zones, &s.admin);
    assert!(is_not_found(
        s.dir
            .get_provider(&sc(dz, da, &b).await, p.id.as_str())
            .await
    ));
    assert!(is_not_found(
        s.dir
            .get_resource(&sc(dz, da, &b).await, r.id.as_str())
            .await
    ));
    assert!(is_not_found(
        s.dir
            .get_application(&sc(dz, da, &b).await, ap.id.as_str())
            .await
    ));
    assert!(is_not_found(
        s.dir
            .get_credential(&sc(dz, da, &b).await, c.id.as_str())
            .await
    ));
    assert!(is_not_found(
        s.dir
            .delete_provider(&sc(dz, da, &b).await, p.id.as_str())
            .await
    ));
    assert!(is_not_found(
        s.dir
            .delete_resource(&sc(dz, da, &b).await, r.id.as_str())
            .await
    ));
    assert!(is_not_found(
        s.dir
            .delete_application(&sc(dz, da, &b).await, ap.id.as_str())
            .await
    ));
    assert!(is_not_found(
        s.dir
            .delete_credential(&sc(dz, da, &b).await, c.id.as_str())
            .await
    ));
    assert!(is_not_found(
        s.dir
            .update_application(&sc(dz, da, &b).await, ap.id.as_str(), app("x"), None)
            .await
    ));
    let page = PageRequest {
        with_total: true,
        ..Default::default()
    };
    let f = ListFilter::default();
    assert_eq!(
        s.dir
            .list_resources(&sc(dz, da, &b).await, &f, &page)
            .await
            .unwrap()
            .total_count,
        Some(0)
    );
    assert_eq!(
        s.dir
            .list_applications(&sc(dz, da, &b).await, &f, &page)
            .await
            .unwrap()
            .total_count,
        Some(0)
    );
    assert_eq!(
        s.dir
            .list_credentials(&sc(dz, da, &b).await, &f, &page)
            .await
            .unwrap()
            .total_count,
        Some(0)
    );
    // Zone B has only its own two platform providers.
    assert_eq!(
        s.dir
            .list_providers(&sc(dz, da, &b).await, &f, &page)
            .await
            .unwrap()
            .total_count,
        Some(2)
    );
    // The same identifiers are free in another zone.
    s.dir
        .create_application(&sc(dz, da, &b).await, app("agent"), &[])
        .await
        .unwrap();
    s.dir
        .create_resource(&sc(dz, da, &b).await, res("https://a.test/api", false))
        .await
        .unwrap();
}

async fn references_stay_inside_the_zone(store: &Store) {
    let s = setup(store).await;
    let (a, b) = (zone(&s, "A").await, zone(&s, "B").await);
    let (dz, da) = (&s.zones, &s.admin);
    let pa = s
        .dir
        .create_provider(&sc(dz, da, &a).await, provider("idp"))
        .await
        .unwrap();
    let ra = s
        .dir
        .create_resource(&sc(dz, da, &a).await, res("https://a.test/x", false))
        .await
        .unwrap();
    let mut f = res("https://b.test/x", false);
    f.credential_provider_id = Some(Some(pa.id.clone()));
    match s.dir.create_resource(&sc(dz, da, &b).await, f).await {
        Err(CoreError::Validation(e)) => assert_eq!(e.0[0].field, "credential_provider_id"),
        other => panic!("{other:?}"),
    }
    match s
        .dir
        .create_application(&sc(dz, da, &b).await, app("x"), &[ra.id.to_string()])
        .await
    {
        Err(CoreError::Validation(e)) => assert_eq!(e.0[0].field, "dependencies[0].id"),
        other => panic!("{other:?}"),
    }
    let ab = s
        .dir
        .create_application(&sc(dz, da, &b).await, app("x"), &[])
        .await
        .unwrap();
    assert!(is_not_found(
        s.dir
            .put_dependency(&sc(dz, da, &b).await, ab.id.as_str(), ra.id.as_str(), &[])
            .await
    ));
    match s
        .dir
        .create_credential(
            &sc(dz, da, &b).await,
            ab.id.as_str(),
            NewCredential::Token {
                provider_id: pa.id.to_string(),
                subject: None,
            },
        )
        .await
    {
        Err(CoreError::Validation(e)) => assert_eq!(e.0[0].field, "provider_id"),
        other => panic!("{other:?}"),
    }
    // The zone's own reference fields too.
    let changes = ZoneChanges {
        default_resource_id: Some(Some(ra.id.to_string())),
        ..Default::default()
    };
    match s
        .zones
        .update(&sc(&s.zones, da, &b).await, changes, None)
        .await
    {
        Err(CoreError::Validation(e)) => assert_eq!(e.0[0].field, "default_resource_id"),
        other => panic!("{other:?}"),
    }
    let changes = ZoneChanges {
        default_resource_id: Some(Some(ra.id.to_string())),
        ..Default::default()
    };
    assert_eq!(
        s.zones
            .update(&sc(&s.zones, da, &a).await, changes, None)
            .await
            .unwrap()
            .default_resource_id,
        Some(ra.id.to_string())
    );
}

async fn deleting_things_cleans_up_after_them(store: &Store) {
    let s = setup(store).await;
    let z = zone(&s, "Z").await;
    let (dz, da) = (&s.zones, &s.admin);
    let p = s
        .dir
        .create_provider(&sc(dz, da, &z).await, provider("idp"))
        .await
        .unwrap();
    let mut rf = res("https://z.test/api", true);
    rf.credential_provider_id = Some(Some(p.id.clone()));
    let r1 = s
        .dir
        .create_resource(&sc(dz, da, &z).await, rf)
        .await
        .unwrap();
    let r2 = s
        .dir
        .create_resource(&sc(dz, da, &z).await, res("https://z.test/other", false))
        .await
        .unwrap();
    let ap = s
        .dir
        .create_application(&sc(dz, da, &z).await, app("agent"), &[r1.id.to_string()])
        .await
        .unwrap();
    assert_eq!(ap.dependencies_count, 1);
    s.dir
        .put_dependency(
            &sc(dz, da, &z).await,
            ap.id.as_str(),
            r2.id.as_str(),
            &[r1.id.to_string()],
        )
        .await
        .unwrap();
    let mut provided = res("https://z.test/provided", false);
    provided.application_id = Some(Some(ap.id.clone()));
    let r3 = s
        .dir
        .create_resource(&sc(dz, da, &z).await, provided)
        .await
        .unwrap();
    s.dir
        .create_credential(
            &sc(dz, da, &z).await,
            ap.id.as_str(),
            NewCredential::Token {
                provider_id: p.id.to_string(),
                subject: Some("svc".into()),
            },
        )
        .await
        .unwrap();
    s.zones
        .update(
            &sc(&s.zones, da, &z).await,
            ZoneChanges {
                default_resource_id: Some(Some(r1.id.to_string())),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();

    // The provider is in use: a 409 that names the users.
    match s
        .dir
        .delete_provider(&sc(dz, da, &z).await, p.id.as_str())
        .await
    {
        Err(CoreError::InUse(m)) => assert!(
            m.contains(r1.id.as_str()) && m.contains("credential"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    // Deleting r1 removes it from the dependencies and the zone's default.
    s.dir
        .delete_resource(&sc(dz, da, &z).await, r1.id.as_str())
        .await
        .unwrap();
    let deps = s
        .dir
        .list_dependencies(
            &sc(dz, da, &z).await,
            ap.id.as_str(),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    // The dependency on r2, whose only when_accessing resource was r1, would
    // have become unconditional: it is removed too (fail closed).
    assert!(deps.items.is_empty(), "{deps:?}");
    assert_eq!(
        sc(&s.zones, da, &z).await.into_zone().default_resource_id,
        None
    );
    // Deleting the application deletes its credentials and dependencies and
    // leaves the resources it provided, unowned.
    s.dir
        .delete_application(&sc(dz, da, &z).await, ap.id.as_str())
        .await
        .unwrap();
    let f = ListFilter::default();
    let page = PageRequest {
        with_total: true,
        ..Default::default()
    };
    assert_eq!(
        s.dir
            .list_credentials(&sc(dz, da, &z).await, &f, &page)
            .await
            .unwrap()
            .total_count,
        Some(0)
    );
    assert_eq!(
        s.dir
            .get_resource(&sc(dz, da, &z).await, r3.id.as_str())
            .await
            .unwrap()
            .application_id,
        None
    );
    // Nothing uses the provider any more; deleting it clears the zone's
    // user_identity_provider_id that named it.
    s.zones
        .update(
            &sc(&s.zones, da, &z).await,
            ZoneChanges {
                user_identity_provider_id: Some(Some(p.id.to_string())),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    s.dir
        .delete_provider(&sc(dz, da, &z).await, p.id.as_str())
        .await
        .unwrap();
    assert_eq!(
        sc(&s.zones, da, &z)
            .await
            .into_zone()
            .user_identity_provider_id,
        None
    );
    // A dependency with several conditions keeps the others.
    let ra = s
        .dir
        .create_resource(&sc(dz, da, &z).await, res("https://z.test/a", false))
        .await
        .unwrap();
    let rb = s
        .dir
        .create_resource(&sc(dz, da, &z).await, res("https://z.test/b", false))
        .await
        .unwrap();
    let app2 = s
        .dir
        .create_application(&sc(dz, da, &z).await, app("second"), &[])
        .await
        .unwrap();
    s.dir
        .put_dependency(
            &sc(dz, da, &z).await,
            app2.id.as_str(),
            r2.id.as_str(),
            &[ra.id.to_string(), rb.id.to_string()],
        )
        .await
        .unwrap();
    s.dir
        .delete_resource(&sc(dz, da, &z).await, ra.id.as_str())
        .await
        .unwrap();
    let d = s
        .dir
        .get_dependency(&sc(dz, da, &z).await, app2.id.as_str(), r2.id.as_str())
        .await
        .unwrap();
    assert_eq!(d.when_accessing, vec![rb.id.clone()]);
    // Deleting the zone takes everything.
    s.zones.delete(&sc(&s.zones, da, &z).await).await.unwrap();
    let zid = keyzone_domain::ZoneId::parse(&z).unwrap();
    assert!(s.store.get_resource(&zid, &r2.id).await.unwrap().is_none());
}

async fn prefix_resolution(store: &Store) {
    let s = setup(store).await;
    let z = zone(&s, "P").await;
    let (dz, da) = (&s.zones, &s.admin);
    let v1 = s
        .dir
        .create_resource(
            &sc(dz, da, &z).await,
            res("https://api.example.com/v1", true),
        )
        .await
        .unwrap();
    let admin = s
        .dir
        .create_resource(
            &sc(dz, da, &z).await,
            res("https://api.example.com/v1/admin", true),
        )
        .await
        .unwrap();
    let exact = s
        .dir
        .create_resource(
            &sc(dz, da, &z).await,
            res("https://api.example.com/exact", false),
        )
        .await
        .unwrap();
    let zid = keyzone_domain::ZoneId::parse(&z).unwrap();
    let resolve = |u: &'static str| {
        let dir = &s.dir;
        let zid = zid.clone();
        async move { dir.resolve_resource(&zid, u).await.unwrap().map(|r| r.id) }
    };
    assert_eq!(
        resolve("https://api.example.com/v1").await,
        Some(v1.id.clone())
    );
    assert_eq!(
        resolve("https://api.example.com/v1/users?x=1").await,
        Some(v1.id.clone())
    );
    assert_eq!(
        resolve("https://api.example.com/v1#frag").await,
        Some(v1.id.clone())
    );
    assert_eq!(
        resolve("https://api.example.com/v1/admin/x").await,
        Some(admin.id.clone())
    );
    assert_eq!(resolve("https://api.example.com/v10").await, None);
    assert_eq!(
        resolve("https://api.example.com/exact").await,
        Some(exact.id.clone())
    );
    assert_eq!(resolve("https://api.example.com/exact/sub").await, None);
    assert_eq!(resolve("http://api.example.com/v1/x").await, None);
    assert_eq!(resolve("https://api.example.com.evil.test/v1").await, None);
}

async fn platform_providers_are_protected(store: &Store) {
    let s = setup(store).await;
    let z = zone(&s, "Platform").await;
    let (dz, da) = (&s.zones, &s.admin);
    let all = s
        .dir
        .list_providers(
            &sc(dz, da, &z).await,
            &ListFilter::default(),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    let sts = all
        .items
        .iter()
        .find(|p| p.identifier == STS_PROVIDER)
        .unwrap();
    assert!(matches!(
        s.dir
            .update_provider(&sc(dz, da, &z).await, sts.id.as_str(), provider("x"), None)
            .await,
        Err(CoreError::Forbidden(_))
    ));
    assert!(matches!(
        s.dir
            .delete_provider(&sc(dz, da, &z).await, sts.id.as_str())
            .await,
        Err(CoreError::Forbidden(_))
    ));
    // A customer provider's client secret is sealed, readable only through the vault.
    let mut f = provider("idp");
    f.client_secret = Some(Some("upstream-secret".into()));
    let p = s
        .dir
        .create_provider(&sc(dz, da, &z).await, f)
        .await
        .unwrap();
    assert!(p.client_secret_set);
    let zid = keyzone_domain::ZoneId::parse(&z).unwrap();
    let sealed = s
        .store
        .provider_client_secret(&zid, &p.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!sealed.windows(15).any(|w| w == b"upstream-secret"));
    assert_eq!(
        s.dir
            .provider_client_secret(&zid, &p.id)
            .await
            .unwrap()
            .as_deref(),
        Some("upstream-secret")
    );
    let clear = ProviderFields {
        client_secret: Some(None),
        ..Default::default()
    };
    assert!(
        !s.dir
            .update_provider(&sc(dz, da, &z).await, p.id.as_str(), clear, None)
            .await
            .unwrap()
            .client_secret_set
    );
    assert_eq!(
        s.dir.provider_client_secret(&zid, &p.id).await.unwrap(),
        None
    );
}

/// What the token endpoint needs for JWT client assertions: workload
/// credentials by subject (exact before `*`), single-use jtis, and
/// application sessions extended rather than duplicated — each scoped to
/// its zone.
async fn client_assertion_lookups_and_single_use_jtis(store: &Store) {
    use keyzone_core::store::{RevocationStore, SessionStore};
    use keyzone_domain::identity::{Session, SessionKind};
    use keyzone_domain::{SessionId, ZoneId};
    let s = setup(store).await;
    let (a, b) = (zone(&s, "A").await, zone(&s, "B").await);
    let (dz, da) = (&s.zones, &s.admin);
    let p = s
        .dir
        .create_provider(&sc(dz, da, &a).await, provider("https://issuer.test"))
        .await
        .unwrap();
    let ap = s
        .dir
        .create_application(&sc(dz, da, &a).await, app("workload"), &[])
        .await
        .unwrap();
    let mut made = Vec::new();
    for subject in [None, Some("system:serviceaccount:ns:sa")] {
        let (c, _) = s
            .dir
            .create_credential(
                &sc(dz, da, &a).await,
                ap.id.as_str(),
                NewCredential::Token {
                    provider_id: p.id.to_string(),
                    subject: subject.map(str::to_owned),
                },
            )
            .await
            .unwrap();
        made.push(c.id);
    }
    let (za, zb) = (ZoneId::parse(&a).unwrap(), ZoneId::parse(&b).unwrap());
    let found = s
        .store
        .token_credentials_for_subject(&za, "system:serviceaccount:ns:sa")
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        vec![made[1].clone(), made[0].clone()],
        "the exact subject comes before the wildcard"
    );
    let other = s
        .store
        .token_credentials_for_subject(&za, "someone-else")
        .await
        .unwrap();
    assert_eq!(other.len(), 1, "only the wildcard");
    assert!(s
        .store
        .token_credentials_for_subject(&zb, "system:serviceaccount:ns:sa")
        .await
        .unwrap()
        .is_empty());

    // jtis: once per client and zone, until they expire.
    let now = Timestamp::now();
    let later = Timestamp::from_micros(now.as_micros() + 60_000_000);
    let st = &s.store;
    assert!(st
        .consume_assertion_jti(&za, "c", "j1", later, now)
        .await
        .unwrap());
    assert!(!st
        .consume_assertion_jti(&za, "c", "j1", later, now)
        .await
        .unwrap());
    assert!(st
        .consume_assertion_jti(&za, "c2", "j1", later, now)
        .await
        .unwrap());
    assert!(st
        .consume_assertion_jti(&zb, "c", "j1", later, now)
        .await
        .unwrap());
    // After expiry the row no longer counts, and the purge removes it.
    let after = Timestamp::from_micros(later.as_micros() + 1);
    assert!(st
        .consume_assertion_jti(
            &za,
            "c",
            "j1",
            Timestamp::from_micros(after.as_micros() + 60_000_000),
            after
        )
        .await
        .unwrap());
    assert!(
        st.purge_revocations(Timestamp::from_micros(after.as_micros() + 120_000_000))
            .await
            .unwrap()
            >= 3
    );

    // Application sessions: extended while active, else the caller inserts.
    let subject = "system:serviceaccount:ns:sa";
    assert!(!st
        .extend_application_session(&za, &ap.id, &p.id, subject, later, now)
        .await
        .unwrap());
    let session = Session {
        id: SessionId::generate(),
        zone_id: za.clone(),
        parent_id: None,
        kind: SessionKind::Application {
            application_id: ap.id.clone(),
            provider_id: p.id.clone(),
            issuer: "https://issuer.test".into(),
            subject: subject.into(),
        },
        revoked: false,
        name: None,
        session_data: None,
        authenticated_at: Some(now),
        expires_at: later,
        created_at: now,
        updated_at: now,
    };
    st.insert_session(&session).await.unwrap();
    let much_later = Timestamp::from_micros(later.as_micros() + 3_600_000_000);
    assert!(st
        .extend_application_session(&za, &ap.id, &p.id, subject, much_later, now)
        .await
        .unwrap());
    assert_eq!(
        st.get_session(&za, &session.id)
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        much_later
    );
    assert!(!st
        .extend_application_session(&zb, &ap.id, &p.id, subject, much_later, now)
        .await
        .unwrap());
}
