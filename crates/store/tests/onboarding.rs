//! Email verification codes and zone invitations in the store, on SQLite
//! and PostgreSQL: single use, attempts, replacement, expiry, uniqueness
//! of an invited email, and two-zone isolation.

use keyzone_core::store::{Constraint, OnboardingStore, StoreError, UserStore};
use keyzone_domain::identity::{User, UserStatus};
use keyzone_domain::invitation::Invitation;
use keyzone_domain::{InvitationId, PageRequest, Timestamp, UserId, ZoneId};
use keyzone_store::Store;

keyzone_store::store_tests!(
    email_codes_are_single_use_limited_and_zone_scoped,
    invitations_are_unique_per_zone_single_use_and_isolated
);

use keyzone_store::testing::zone;

fn user(zone: &ZoneId, email: &str) -> User {
    let now = Timestamp::now();
    User {
        id: UserId::generate(),
        zone_id: zone.clone(),
        identifier: email.into(),
        email: email.into(),
        email_verified: false,
        external: false,
        status: UserStatus::Active,
        issuer: None,
        subject: None,
        provider_id: None,
        authenticated_at: None,
        created_at: now,
        updated_at: now,
    }
}

fn at(s: i64) -> Timestamp {
    Timestamp::from_micros(s * 1_000_000)
}

async fn email_codes_are_single_use_limited_and_zone_scoped(store: &Store) {
    let (za, zb) = (zone(store).await, zone(store).await);
    let ua = user(&za, "ann@a.test");
    store.insert_user(&ua).await.unwrap();
    let (c1, c2) = ([1u8; 32], [2u8; 32]);
    store
        .put_email_code(&za, &ua.id, &c1, at(100), at(700))
        .await
        .unwrap();
    let got = store.email_code(&za, &ua.id).await.unwrap().unwrap();
    assert_eq!(
        (
            got.code_hash.as_slice(),
            got.attempts,
            got.sent_at,
            got.expires_at
        ),
        (&c1[..], 0, at(100), at(700))
    );
    // Zone B sees nothing of zone A's code and cannot touch it.
    assert_eq!(store.email_code(&zb, &ua.id).await.unwrap(), None);
    assert!(!store.consume_email_code(&zb, &ua.id, &c1, 5).await.unwrap());
    assert_eq!(store.fail_email_code(&zb, &ua.id).await.unwrap(), 0);
    store.mark_email_verified(&zb, &ua.id, at(1)).await.unwrap();
    assert!(
        !store
            .get_user(&za, &ua.id)
            .await
            .unwrap()
            .unwrap()
            .user
            .email_verified
    );
    // Wrong codes count; a new code starts again from zero.
    assert_eq!(store.fail_email_code(&za, &ua.id).await.unwrap(), 1);
    assert_eq!(store.fail_email_code(&za, &ua.id).await.unwrap(), 2);
    assert!(!store.consume_email_code(&za, &ua.id, &c2, 5).await.unwrap());
    assert!(
        !store.consume_email_code(&za, &ua.id, &c1, 2).await.unwrap(),
        "attempts used up"
    );
    store
        .put_email_code(&za, &ua.id, &c2, at(200), at(800))
        .await
        .unwrap();
    let got = store.email_code(&za, &ua.id).await.unwrap().unwrap();
    assert_eq!((got.code_hash.as_slice(), got.attempts), (&c2[..], 0));
    assert!(
        !store.consume_email_code(&za, &ua.id, &c1, 5).await.unwrap(),
        "the old code is gone"
    );
    // Single use.
    assert!(store.consume_email_code(&za, &ua.id, &c2, 5).await.unwrap());
    assert!(!store.consume_email_code(&za, &ua.id, &c2, 5).await.unwrap());
    assert_eq!(store.email_code(&za, &ua.id).await.unwrap(), None);
    store
        .mark_email_verified(&za, &ua.id, at(300))
        .await
        .unwrap();
    assert!(
        store
            .get_user(&za, &ua.id)
            .await
            .unwrap()
            .unwrap()
            .user
            .email_verified
    );
}

fn invitation(zone: &ZoneId, email: &str, created: i64) -> Invitation {
    Invitation {
        id: InvitationId::generate(),
        zone_id: zone.clone(),
        email: email.into(),
        created_at: at(created),
        expires_at: at(created + 1000),
        accepted_at: None,
    }
}

async fn invitations_are_unique_per_zone_single_use_and_isolated(store: &Store) {
    let (za, zb) = (zone(store).await, zone(store).await);
    let a = invitation(&za, "ann@a.test", 10);
    store.insert_invitation(&a, &[1; 32]).await.unwrap();
    let again = invitation(&za, "ann@a.test", 11);
    assert!(matches!(
        store.insert_invitation(&again, &[2; 32]).await,
        Err(StoreError::Conflict(Constraint::InvitationEmailUnique))
    ));
    // The same email in another zone is another invitation.
    let b = invitation(&zb, "ann@a.test", 12);
    store.insert_invitation(&b, &[3; 32]).await.unwrap();
    let second = invitation(&za, "bob@a.test", 13);
    store.insert_invitation(&second, &[4; 32]).await.unwrap();

    assert_eq!(
        store.get_invitation(&za, &a.id).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.get_invitation(&zb, &a.id).await.unwrap(), None);
    assert_eq!(
        store.invitation_by_email(&za, "ann@a.test").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.invitation_by_token(&za, &[1; 32]).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.invitation_by_token(&zb, &[1; 32]).await.unwrap(),
        None
    );
    let page = PageRequest {
        with_total: true,
        ..Default::default()
    };
    let listed = store.list_invitations(&za, &page).await.unwrap();
    assert_eq!(listed.total_count, Some(2));
    assert_eq!(
        listed
            .items
            .iter()
            .map(|i| i.id.clone())
            .collect::<Vec<_>>(),
        [a.id.clone(), second.id.clone()]
    );
    assert_eq!(
        store
            .list_invitations(&zb, &page)
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // Accepted once, and not after expiry; not from another zone.
    assert!(!store.accept_invitation(&zb, &a.id, at(20)).await.unwrap());
    assert!(!store
        .accept_invitation(&za, &second.id, at(2000))
        .await
        .unwrap());
    assert!(store.accept_invitation(&za, &a.id, at(20)).await.unwrap());
    assert!(!store.accept_invitation(&za, &a.id, at(21)).await.unwrap());
    assert_eq!(
        store
            .get_invitation(&za, &a.id)
            .await
            .unwrap()
            .unwrap()
            .accepted_at,
        Some(at(20))
    );
    // Revoked: gone, from its own zone only.
    assert!(!store.delete_invitation(&zb, &a.id).await.unwrap());
    assert!(store.delete_invitation(&za, &a.id).await.unwrap());
    assert!(!store.delete_invitation(&za, &a.id).await.unwrap());
    assert_eq!(
        store.invitation_by_token(&za, &[1; 32]).await.unwrap(),
        None
    );
    assert!(store.get_invitation(&zb, &b.id).await.unwrap().is_some());
}
