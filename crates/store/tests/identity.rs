//! Users, user agents, sessions and grants in the store, on SQLite and
//! PostgreSQL: filters, revocation (nested), status over time, isolation.

use keyzone_core::store::{
    GrantFilter, GrantStore, SessionFilter, SessionStore, UserAgentStore, UserFilter, UserStore,
};
use keyzone_domain::identity::{
    Grant, RecordStatus, Session, SessionKind, User, UserAgent, UserStatus,
};
use keyzone_domain::{
    GrantId, PageRequest, ProviderId, ResourceId, SessionId, Sort, Timestamp, UserAgentId, UserId,
    ZoneId,
};
use keyzone_store::Store;

keyzone_store::store_tests!(
    users_filters_and_isolation,
    sessions_revoke_with_children,
    grants_status_and_filters,
    sign_in_records_are_single_use_and_zone_scoped,
    sign_in_failures_count_per_window_and_zone,
    grant_tokens_refresh_is_single_flight_and_zone_scoped
);

use keyzone_store::testing::zone;

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

    // A client ID metadata document that changed rewrites its user agent,
    // in its own zone only.
    let mut changed = ua.clone();
    changed.name = "Client 2".into();
    changed.slug = "client-2".into();
    changed.metadata = Some(serde_json::json!({"client_name": "Client 2"}));
    changed.updated_at = Timestamp::from_micros(ua.updated_at.as_micros() + 1);
    assert!(store.update_user_agent(&changed).await.unwrap());
    assert_eq!(
        store.user_agent_by_identifier(&za, "ua:abc").await.unwrap(),
        Some(changed.clone())
    );
    let elsewhere = UserAgent {
        zone_id: zb.clone(),
        ..changed
    };
    assert!(!store.update_user_agent(&elsewhere).await.unwrap());
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
    // Expired: its access token has expired and no refresh token renews it
    // (a grant with a refresh token stays active past its access token).
    let old = Grant {
        refresh_token_set: false,
        ..grant(now - 1)
    };
    let renewable = grant(now - 1);
    store.insert_grant(&live).await.unwrap();
    store.insert_grant(&old).await.unwrap();
    store.insert_grant(&renewable).await.unwrap();
    // Both show `expired` (the access token's expiry passed); only the one
    // with a refresh token can still serve an exchange.
    assert_eq!(old.status(Timestamp::now()), RecordStatus::Expired);
    assert_eq!(renewable.status(Timestamp::now()), RecordStatus::Expired);
    assert!(!old.usable(Timestamp::now()) && renewable.usable(Timestamp::now()));
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
    assert_eq!(count(by(RecordStatus::Expired)).await, 2);
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

/// Passwords, browser sessions, codes, refresh tokens and consent: single
/// use where they must be, one password account per email, zone B sees
/// nothing of zone A's.
async fn sign_in_records_are_single_use_and_zone_scoped(store: &Store) {
    use keyzone_core::store::{Constraint, SignInStore, StoreError};
    let (za, zb) = (zone(store).await, zone(store).await);
    let mut ada = user(&za, "ada@a.test", 1_000);
    ada.external = false;
    store
        .insert_user_with_password(&ada, Some("$argon2id$fake"), Some("Ada"))
        .await
        .unwrap();
    let mut twin = user(&za, "ada@a.test", 2_000);
    twin.identifier = "twin".into();
    twin.external = false;
    assert!(matches!(
        store
            .insert_user_with_password(&twin, Some("$x"), None)
            .await,
        Err(StoreError::Conflict(Constraint::UserEmailUnique))
    ));
    let (found, hash) = store
        .local_user_by_email(&za, "ada@a.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.id.clone(), hash.as_deref()),
        (ada.id.clone(), Some("$argon2id$fake"))
    );
    assert!(store
        .local_user_by_email(&zb, "ada@a.test")
        .await
        .unwrap()
        .is_none());

    let now = Timestamp::now();
    let web = Session {
        id: SessionId::generate(),
        zone_id: za.clone(),
        parent_id: None,
        kind: SessionKind::User {
            user_id: ada.id.clone(),
            user_agent_id: None,
            application_id: None,
            provider_id: None,
            issuer: None,
            subject: None,
        },
        revoked: false,
        name: None,
        session_data: None,
        authenticated_at: Some(now),
        expires_at: Timestamp::from_micros(now.as_micros() + 3_600_000_000),
        created_at: now,
        updated_at: now,
    };
    store
        .insert_browser_session(&web, &[7u8; 32])
        .await
        .unwrap();
    let (got, secret) = store.browser_session(&za, &web.id).await.unwrap().unwrap();
    assert_eq!((got.id.clone(), secret), (web.id.clone(), vec![7u8; 32]));
    assert!(store.browser_session(&zb, &web.id).await.unwrap().is_none());

    let code = [1u8; 32];
    store
        .insert_code(
            &za,
            &code,
            &web.id,
            "{}",
            Timestamp::from_micros(now.as_micros() + 60_000_000),
        )
        .await
        .unwrap();
    assert!(store.consume_code(&zb, &code, now).await.unwrap().is_none());
    let first = store.consume_code(&za, &code, now).await.unwrap().unwrap();
    assert_eq!(first.used_at, None, "the first use");
    store.set_code_session(&za, &code, &web.id).await.unwrap();
    let again = store.consume_code(&za, &code, now).await.unwrap().unwrap();
    assert!(again.used_at.is_some(), "a replay is told apart");
    assert_eq!(again.issued_session_id, Some(web.id.clone()));

    let rt = [2u8; 32];
    let later = Timestamp::from_micros(now.as_micros() + 60_000_000);
    store
        .insert_refresh_token(
            &za,
            &rt,
            &web.id,
            "{}",
            now,
            Timestamp::from_micros(now.as_micros() + 60_000_000),
        )
        .await
        .unwrap();
    assert!(store
        .rotate_refresh_token(&zb, &rt, now, &[3u8; 32], later)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .rotate_refresh_token(&za, &rt, now, &[4u8; 32], later)
            .await
            .unwrap()
            .unwrap()
            .rotated_at,
        None
    );
    assert!(store
        .rotate_refresh_token(&za, &rt, now, &[5u8; 32], later)
        .await
        .unwrap()
        .unwrap()
        .rotated_at
        .is_some());
    // Each rotation stored its successor, current, for the same session
    // and grant; zone B's attempt stored nothing.
    let next = store
        .rotate_refresh_token(&za, &[4u8; 32], now, &[6u8; 32], later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (next.rotated_at, next.session_id.clone()),
        (None, web.id.clone())
    );
    assert_eq!(next.grant_data, "{}");
    assert!(store
        .rotate_refresh_token(&za, &[3u8; 32], now, &[7u8; 32], later)
        .await
        .unwrap()
        .is_none());
    // An expired token gets no successor.
    let old = [8u8; 32];
    store
        .insert_refresh_token(&za, &old, &web.id, "{}", now, now)
        .await
        .unwrap();
    assert!(store
        .rotate_refresh_token(&za, &old, now, &[9u8; 32], later)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .rotate_refresh_token(&za, &[9u8; 32], now, &[10u8; 32], later)
        .await
        .unwrap()
        .is_none());

    assert!(!store.has_consent(&za, &ada.id, "ua:x", "k").await.unwrap());
    store
        .insert_consent(&za, &ada.id, "ua:x", "k", now)
        .await
        .unwrap();
    store
        .insert_consent(&za, &ada.id, "ua:x", "k", now)
        .await
        .unwrap();
    assert!(store.has_consent(&za, &ada.id, "ua:x", "k").await.unwrap());
    assert!(!store.has_consent(&zb, &ada.id, "ua:x", "k").await.unwrap());
}

/// Failed sign-ins count per key within a window, restart in a new window,
/// clear on success, purge once closed; zone B's counts are its own.
async fn sign_in_failures_count_per_window_and_zone(store: &Store) {
    use keyzone_core::store::SignInThrottleStore;
    let (za, zb) = (zone(store).await, zone(store).await);
    let (account, address) = ([1u8; 32], [2u8; 32]);
    let t = |s: i64| Timestamp::from_micros(s * 1_000_000);
    assert_eq!(
        store
            .sign_in_failures(&za, &[account], t(100))
            .await
            .unwrap(),
        0
    );
    for i in 0..3 {
        store
            .record_sign_in_failure(&za, &[account, address], t(100 + i), t(1_000))
            .await
            .unwrap();
    }
    store
        .record_sign_in_failure(&za, &[address], t(110), t(1_010))
        .await
        .unwrap();
    assert_eq!(
        store
            .sign_in_failures(&za, &[account], t(200))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .sign_in_failures(&za, &[account, address], t(200))
            .await
            .unwrap(),
        4,
        "the most failures of any key"
    );
    assert_eq!(
        store
            .sign_in_failures(&zb, &[account, address], t(200))
            .await
            .unwrap(),
        0,
        "zone B sees none of zone A's failures"
    );
    // The window (ends at 1,000) closes: nothing counts, and the next
    // failure opens a new window at 1.
    assert_eq!(
        store
            .sign_in_failures(&za, &[account], t(1_000))
            .await
            .unwrap(),
        0
    );
    store
        .record_sign_in_failure(&za, &[account], t(1_001), t(2_000))
        .await
        .unwrap();
    assert_eq!(
        store
            .sign_in_failures(&za, &[account], t(1_500))
            .await
            .unwrap(),
        1
    );
    store
        .record_sign_in_failure(&zb, &[account], t(1_001), t(2_000))
        .await
        .unwrap();
    store.clear_sign_in_failures(&za, &account).await.unwrap();
    assert_eq!(
        store
            .sign_in_failures(&za, &[account], t(1_500))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .sign_in_failures(&zb, &[account], t(1_500))
            .await
            .unwrap(),
        1,
        "clearing zone A's key leaves zone B's"
    );
    // Purging removes closed windows only.
    assert!(store.purge_sign_in_failures(t(1_500)).await.unwrap() >= 1);
    assert_eq!(
        store
            .sign_in_failures(&zb, &[account], t(1_500))
            .await
            .unwrap(),
        1
    );
}

/// Delegated grants' sealed tokens (issue #13): one live grant per user and
/// resource (connecting again revokes the older one and drops its tokens),
/// the compare-and-set refresh lease that exactly one of many concurrent
/// callers wins, the rotated refresh token stored with the access token,
/// expiry on a refused refresh, and zone isolation.
async fn grant_tokens_refresh_is_single_flight_and_zone_scoped(store: &Store) {
    use keyzone_core::store::RefreshedTokens;
    let za = zone(store).await;
    let zb = zone(store).await;
    let u = user(&za, "t@a.test", 1);
    store.insert_user(&u).await.unwrap();
    let resource = ResourceId::generate();
    let now = Timestamp::now();
    let grant = || Grant {
        id: GrantId::generate(),
        zone_id: za.clone(),
        user_id: u.id.clone(),
        resource_id: resource.clone(),
        provider_id: ProviderId::generate(),
        scopes: vec!["repo".into()],
        revoked: false,
        refresh_token_set: true,
        expires_at: Timestamp::from_micros(now.as_micros() - 1),
        refreshed_at: None,
        created_at: now,
        updated_at: now,
    };
    let first = grant();
    store
        .connect_grant(&first, b"sealed-a1", Some(b"sealed-r1"))
        .await
        .unwrap();
    let second = grant();
    store
        .connect_grant(&second, b"sealed-a2", Some(b"sealed-r2"))
        .await
        .unwrap();
    let g = store
        .grant_tokens(&za, &u.id, &resource)
        .await
        .unwrap()
        .expect("the live grant");
    assert_eq!(
        g.grant.id, second.id,
        "the newer connection is the live one"
    );
    assert_eq!(g.access_token_sealed.as_deref(), Some(&b"sealed-a2"[..]));
    let older = store.get_grant(&za, &first.id).await.unwrap().unwrap();
    assert!(older.revoked, "connecting again revokes the older grant");
    assert!(
        store
            .grant_tokens(&zb, &u.id, &resource)
            .await
            .unwrap()
            .is_none(),
        "zone B sees nothing of zone A's grants"
    );
    assert!(!store
        .claim_grant_refresh(&zb, &second.id, g.version, now, now)
        .await
        .unwrap());

    // Many concurrent claims of the same version: exactly one wins.
    let lease = Timestamp::from_micros(now.as_micros() + 15_000_000);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (s, z, id, v) = (store.clone(), za.clone(), second.id.clone(), g.version);
        tasks.spawn(async move { s.claim_grant_refresh(&z, &id, v, lease, now).await.unwrap() });
    }
    let mut won = 0;
    while let Some(r) = tasks.join_next().await {
        won += usize::from(r.unwrap());
    }
    assert_eq!(won, 1, "one refresh per grant");
    let leased = store
        .grant_tokens(&za, &u.id, &resource)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !store
            .claim_grant_refresh(&za, &second.id, leased.version, lease, now)
            .await
            .unwrap(),
        "a live lease keeps others out even at the new version"
    );

    let scopes = vec!["repo".to_string(), "read:user".to_string()];
    let later = Timestamp::from_micros(now.as_micros() + 60_000_000);
    store
        .store_refreshed_grant(
            &za,
            &second.id,
            RefreshedTokens {
                access_token_sealed: b"sealed-a3",
                refresh_token_sealed: Some(b"sealed-r3"),
                expires_at: later,
                scopes: Some(&scopes),
                now,
            },
        )
        .await
        .unwrap();
    let r = store
        .grant_tokens(&za, &u.id, &resource)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.access_token_sealed.as_deref(), Some(&b"sealed-a3"[..]));
    assert_eq!(r.refresh_token_sealed.as_deref(), Some(&b"sealed-r3"[..]));
    assert_eq!(
        (r.grant.expires_at, r.grant.scopes.clone()),
        (later, scopes)
    );
    assert!(r.refresh_lease_until.is_none() && r.version > leased.version);
    assert_eq!(r.grant.refreshed_at, Some(now));

    store.expire_grant(&za, &second.id, now).await.unwrap();
    let e = store
        .grant_tokens(&za, &u.id, &resource)
        .await
        .unwrap()
        .unwrap();
    assert!(e.refresh_token_sealed.is_none() && e.access_token_sealed.is_none());
    assert_eq!(e.grant.status(Timestamp::now()), RecordStatus::Expired);
    assert!(!e.grant.usable(Timestamp::now()), "no refresh token left");
    assert!(store.revoke_grant(&za, &second.id).await.unwrap());
    assert!(store
        .grant_tokens(&za, &u.id, &resource)
        .await
        .unwrap()
        .is_none());
}
