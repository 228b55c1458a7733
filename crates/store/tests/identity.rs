//! Users, user agents, sessions and grants in the store, on SQLite and
//! PostgreSQL: filters, revocation (nested), status over time, isolation.

use keyzone_core::store::{
    GrantFilter, GrantStore, KeyWrapping, NewZoneKeys, SessionFilter, SessionStore, UserAgentStore,
    UserFilter, UserStore, VaultStore, WrappedDataKey, ZoneStore,
};
use keyzone_domain::identity::{
    Grant, RecordStatus, Session, SessionKind, User, UserAgent, UserStatus,
};
use keyzone_domain::zone::ZoneDraft;
use keyzone_domain::{
    GrantId, OrganizationId, PageRequest, ProviderId, ResourceId, SessionId, Sort, Timestamp,
    UserAgentId, UserId, ZoneId,
};
use keyzone_store::Store;

keyzone_store::store_tests!(
    users_filters_and_isolation,
    sessions_revoke_with_children,
    grants_status_and_filters
);

async fn zone(store: &Store) -> ZoneId {
    use keyzone_core::store::OrganizationStore;
    let now = Timestamp::now();
    let org = store
        .ensure_organization(&keyzone_domain::organization::Organization {
            id: OrganizationId::generate(),
            label: "default".into(),
            name: "O".into(),
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    store.init_master_key_id("m").await.unwrap();
    let z = ZoneDraft {
        name: "Z".into(),
        ..Default::default()
    }
    .into_zone(ZoneId::generate(), org.id, keyzone_domain::id::random_id());
    store
        .insert_zone(
            &z,
            &NewZoneKeys {
                data_key: WrappedDataKey {
                    zone_id: z.id.clone(),
                    version: 1,
                    wrapping: KeyWrapping::Master {
                        master_key_id: "m".into(),
                    },
                    wrapped: vec![1],
                    created_at: now,
                },
                signing_keys: vec![],
                platform_providers: vec![],
                platform_applications: vec![],
            },
        )
        .await
        .unwrap();
    z.id
}

fn user(zone: &ZoneId, email: &str, t: i64) -> User {
    User {
        id: UserId::generate(),
        zone_id: zone.clone(),
        identifier: email.into(),
        email: email.into(),
        email_verified: true,
        external: email.ends_with("ext.test"),
        status: UserStatus::Active,
        issuer: Some("https://idp.test".into()),
        subject: Some(format!("sub-{email}")),
        provider_id: None,
        authenticated_at: Some(Timestamp::from_micros(t)),
        created_at: Timestamp::from_micros(t),
        updated_at: Timestamp::from_micros(t),
    }
}

async fn users_filters_and_isolation(store: &Store) {
    let (za, zb) = (zone(store).await, zone(store).await);
    let a = user(&za, "ann@a.test", 1_000);
    let b = user(&za, "bob@ext.test", 2_000);
    store.insert_user(&a).await.unwrap();
    store.insert_user(&b).await.unwrap();
    let page = PageRequest {
        with_total: true,
        ..Default::default()
    };
    let all = store
        .list_users(&za, &UserFilter::default(), &page)
        .await
        .unwrap();
    assert_eq!(all.total_count, Some(2));
    let ext = store
        .list_users(
            &za,
            &UserFilter {
                external: Some(true),
                ..Default::default()
            },
            &page,
        )
        .await
        .unwrap();
    assert_eq!(ext.items.len(), 1);
    assert_eq!(ext.items[0].user.id, b.id);
    let q = store
        .list_users(
            &za,
            &UserFilter {
                query_any: vec!["ANN".into()],
                ..Default::default()
            },
            &page,
        )
        .await
        .unwrap();
    assert_eq!(q.items[0].user.id, a.id);
    let sorted = store
        .list_users(
            &za,
            &UserFilter::default(),
            &PageRequest {
                sort: Sort::parse("-email", &["email"]).unwrap(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(sorted.items[0].user.email, "bob@ext.test");
    // Zone B sees none of zone A's users.
    assert!(store.get_user(&zb, &a.id).await.unwrap().is_none());
    assert_eq!(
        store
            .list_users(&zb, &UserFilter::default(), &page)
            .await
            .unwrap()
            .total_count,
        Some(0)
    );
    let ua = UserAgent {
        id: UserAgentId::generate(),
        zone_id: za.clone(),
        identifier: "ua:abc".into(),
        name: "Client".into(),
        slug: "client".into(),
        metadata: Some(serde_json::json!({"client_name": "Client"})),
        created_at: Timestamp::now(),
        updated_at: Timestamp::now(),
    };
    store.insert_user_agent(&ua).await.unwrap();
    assert_eq!(
        store.get_user_agent(&za, &ua.id).await.unwrap(),
        Some(ua.clone())
    );
    assert!(store.get_user_agent(&zb, &ua.id).await.unwrap().is_none());
}

fn session(zone: &ZoneId, user: &UserId, parent: Option<&SessionId>) -> Session {
    let now = Timestamp::now();
    Session {
        id: SessionId::generate(),
        zone_id: zone.clone(),
        parent_id: parent.cloned(),
        kind: SessionKind::User {
            user_id: user.clone(),
            user_agent_id: None,
            application_id: None,
            provider_id: None,
            issuer: None,
            subject: None,
        },
        revoked: false,
        name: Some("browser".into()),
        session_data: None,
        authenticated_at: Some(now),
        expires_at: Timestamp::from_micros(now.as_micros() + 3_600_000_000),
        created_at: now,
        updated_at: now,
    }
}

async fn sessions_revoke_with_children(store: &Store) {
    let (za, zb) = (zone(store).await, zone(store).await);
    let u = user(&za, "u@a.test", 1);
    store.insert_user(&u).await.unwrap();
    let root = session(&za, &u.id, None);
    let child = session(&za, &u.id, Some(&root.id));
    let grandchild = session(&za, &u.id, Some(&child.id));
    let other = session(&za, &u.id, None);
    for s in [&root, &child, &grandchild, &other] {
        store.insert_session(s).await.unwrap();
    }
    let top = store
        .list_sessions(&za, &SessionFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        top.items.len(),
        2,
        "nested sessions are listed only on request"
    );
    let nested = SessionFilter {
        include_nested: true,
        ..Default::default()
    };
    assert_eq!(
        store
            .list_sessions(&za, &nested, &PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        4
    );
    assert!(
        !store.revoke_session(&zb, &root.id).await.unwrap(),
        "not through another zone"
    );
    assert!(store.revoke_session(&za, &root.id).await.unwrap());
    for s in [&root, &child, &grandchild] {
        assert!(
            store
                .get_session(&za, &s.id)
                .await
                .unwrap()
                .unwrap()
                .revoked
        );
    }
    assert!(
        !store
            .get_session(&za, &other.id)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    let revoked = SessionFilter {
        status: Some(RecordStatus::Revoked),
        include_nested: true,
        ..Default::default()
    };
    assert_eq!(
        store
            .list_sessions(&za, &revoked, &PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    assert!(store.delete_session(&za, &root.id).await.unwrap());
    assert!(
        store
            .get_session(&za, &grandchild.id)
            .await
            .unwrap()
            .is_none(),
        "children go with the parent"
    );
}

async fn grants_status_and_filters(store: &Store) {
    let za = zone(store).await;
    let u = user(&za, "g@a.test", 1);
    store.insert_user(&u).await.unwrap();
    let now = Timestamp::now().as_micros();
    let grant = |expires: i64| Grant {
        id: GrantId::generate(),
        zone_id: za.clone(),
        user_id: u.id.clone(),
        resource_id: ResourceId::generate(),
        provider_id: ProviderId::generate(),
        scopes: vec!["read".into()],
        revoked: false,
        refresh_token_set: true,
        expires_at: Timestamp::from_micros(expires),
        refreshed_at: None,
        created_at: Timestamp::now(),
        updated_at: Timestamp::now(),
    };
    let live = grant(now + 3_600_000_000);
    let old = grant(now - 1);
    store.insert_grant(&live).await.unwrap();
    store.insert_grant(&old).await.unwrap();
    let by = |s| GrantFilter {
        status: Some(s),
        ..Default::default()
    };
    let zr = &za;
    let count = |f: GrantFilter| async move {
        store
            .list_grants(zr, &f, &PageRequest::default())
            .await
            .unwrap()
            .items
            .len()
    };
    assert_eq!(count(by(RecordStatus::Active)).await, 1);
    assert_eq!(count(by(RecordStatus::Expired)).await, 1);
    assert!(store.revoke_grant(&za, &live.id).await.unwrap());
    assert_eq!(count(by(RecordStatus::Revoked)).await, 1);
    assert_eq!(count(by(RecordStatus::Active)).await, 0);
    let f = GrantFilter {
        resource_id: Some(old.resource_id.to_string()),
        ..Default::default()
    };
    assert_eq!(count(f).await, 1);
    assert!(store.delete_grant(&za, &old.id).await.unwrap());
    assert!(store.get_grant(&za, &old.id).await.unwrap().is_none());
}
