//! Router tests of the management surface: conventions, its error shape,
//! zones and isolation, the directory, secrets, operations and the OpenAPI
//! document, over the real router and a real (SQLite) store.

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use keyzone_api::with_middleware;
use keyzone_core::store::{ApiKeyRecord, ApiKeyStore, OrganizationStore};
use keyzone_domain::organization::Organization;
use keyzone_domain::{ApiKeyId, OrganizationId, Timestamp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

mod common;
use common::*;

#[tokio::test]
async fn unauthenticated_and_wrong_keys_get_401() {
    let a = app().await;
    let r = send(
        &a.router,
        Request::get("/zones").body(Body::empty()).unwrap(),
    )
    .await;
    assert_error_shape(&r, 401, "unauthorized");
    assert_eq!(r.headers["x-should-retry"], "false");
    let r = send(
        &a.router,
        Request::get("/zones")
            .header("authorization", "Bearer kz_wrong_key_0123456789abcdef")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_error_shape(&r, 401, "unauthorized");
    let r = send(
        &a.router,
        Request::get("/zones")
            .header("authorization", format!("Basic {KEY}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_error_shape(&r, 401, "unauthorized");
    a.db.cleanup().await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let a = app().await;
    let mut r = req("GET", "/zones/nope", None);
    r.headers_mut()
        .insert("x-client-request-id", "client-abc-123".parse().unwrap());
    let r = send(&a.router, r).await;
    assert_error_shape(&r, 404, "not_found");
    assert_eq!(r.body["request_id"], "client-abc-123");
    assert_eq!(r.body["path"], "/zones/nope");
    let r = send(&a.router, req("GET", "/zones", None)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["x-request-id"].len(), 36);
    a.db.cleanup().await;
}

#[tokio::test]
async fn errors_outside_handlers_have_the_same_shape() {
    let a = app().await;
    assert_error_shape(
        &send(&a.router, req("GET", "/nope", None)).await,
        404,
        "not_found",
    );
    assert_error_shape(
        &send(&a.router, req("PUT", "/zones", None)).await,
        405,
        "bad_request",
    );
    let big = json!({ "name": "x", "description": "y".repeat(1_100_000) });
    assert_error_shape(
        &send(&a.router, req("POST", "/zones", Some(big))).await,
        413,
        "bad_request",
    );
    let r = send(
        &a.router,
        Request::post("/zones")
            .header("authorization", format!("Bearer {KEY}"))
            .body(Body::from("{not json"))
            .unwrap(),
    )
    .await;
    assert_error_shape(&r, 400, "bad_request");

    // A panic is a 500 with the documented body and none of the panic text.
    let boom = with_middleware(Router::new().route("/boom", get(boom)), a.state.clone());
    let r = send(&boom, req("GET", "/boom", None)).await;
    assert_error_shape(&r, 500, "internal_error");
    assert!(!r.body.to_string().contains("secret internal detail"));
    a.db.cleanup().await;
}

async fn boom() -> &'static str {
    panic!("secret internal detail")
}

#[tokio::test]
async fn zone_life_cycle() {
    let a = app().await;
    let r = send(
        &a.router,
        req(
            "POST",
            "/zones",
            Some(json!({"name": "Prod", "unknown_field": 1})),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let z = r.body;
    let id = z["id"].as_str().unwrap().to_owned();
    assert_eq!(z["slug"], "prod");
    assert_eq!(z["owner_type"], "customer");
    assert_eq!(z["requires_invitation"], true);
    assert_eq!(
        z["protocols"]["oauth2"]["issuer"],
        format!("http://kz.test/z/{id}")
    );
    assert!(z.get("permissions").is_none());

    // Same name: the derived slug gets a suffix; an explicit duplicate is a 409.
    let r = send(
        &a.router,
        req("POST", "/zones", Some(json!({"name": "Prod"}))),
    )
    .await;
    assert_eq!(r.status, 201);
    assert!(r.body["slug"].as_str().unwrap().starts_with("prod-"));
    let r = send(
        &a.router,
        req("POST", "/zones", Some(json!({"name": "P", "slug": "prod"}))),
    )
    .await;
    assert_error_shape(&r, 409, "conflict");
    assert_eq!(r.headers["x-should-retry"], "false");
    assert_eq!(r.body["details"][0]["field"], "slug");

    let r = send(
        &a.router,
        req(
            "GET",
            &format!("/zones/{id}?expand%5B%5D=permissions"),
            None,
        ),
    )
    .await;
    assert_eq!(r.body["permissions"]["zones"]["delete"], true);
    let r = send(
        &a.router,
        req("GET", &format!("/zones/{id}?expand=permissions"), None),
    )
    .await;
    assert!(r.body["permissions"].is_object());

    let r = send(
        &a.router,
        req(
            "PATCH",
            &format!("/zones/{id}"),
            Some(json!({"description": "about", "protocols": {"oauth2": {"dcr_enabled": false}}})),
        ),
    )
    .await;
    assert_eq!(r.body["description"], "about");
    assert_eq!(r.body["protocols"]["oauth2"]["dcr_enabled"], false);
    assert_eq!(r.body["protocols"]["oauth2"]["pkce_required"], true);
    let r = send(
        &a.router,
        req(
            "PATCH",
            &format!("/zones/{id}"),
            Some(json!({"description": null})),
        ),
    )
    .await;
    assert_eq!(r.body["description"], Value::Null);
    assert_eq!(r.body["name"], "Prod");
    let r = send(&a.router, req("PATCH", &format!("/zones/{id}"), None)).await;
    assert_eq!(r.status, 200, "an empty PATCH body changes nothing");
    let r = send(
        &a.router,
        req(
            "PATCH",
            &format!("/zones/{id}"),
            Some(json!({"default_resource_id": "abcdefghij0123456789"})),
        ),
    )
    .await;
    assert_error_shape(&r, 400, "validation_error");
    assert_eq!(r.body["details"][0]["field"], "default_resource_id");

    let r = send(&a.router, req("DELETE", &format!("/zones/{id}"), None)).await;
    assert_eq!(r.status, 204);
    assert_error_shape(
        &send(&a.router, req("GET", &format!("/zones/{id}"), None)).await,
        404,
        "not_found",
    );
    assert_error_shape(
        &send(&a.router, req("DELETE", &format!("/zones/{id}"), None)).await,
        404,
        "not_found",
    );
    a.db.cleanup().await;
}

#[tokio::test]
async fn validation_names_fields_and_changes_nothing() {
    let a = app().await;
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(256)}), "name"),
        (json!({"name": "<script>x</script>"}), "name"),
        (json!({"name": "a\u{1}b"}), "name"),
        (
            json!({"name": "ok", "description": "d".repeat(2049)}),
            "description",
        ),
        (
            json!({"name": "ok", "protocols": {"oauth2": {"cimd": {"enabled": true, "allowed_client_ids": ["https://*.*.x.com"]}}}}),
            "protocols.oauth2.cimd.allowed_client_ids[0]",
        ),
        (
            json!({"name": "ok", "encryption_key": {"type": "gcp", "arn": "x"}}),
            "encryption_key.type",
        ),
        (json!({"name": 5}), "name"),
        (json!({}), "name"),
        // A nested object given as an array of its fields (serde's
        // sequence form of a struct) is refused at any depth.
        (json!({"name": "ok", "protocols": [null]}), "protocols"),
        (
            json!({"name": "ok", "protocols": {"oauth2": [null, null]}}),
            "protocols.oauth2",
        ),
        (
            json!({"name": "ok", "protocols": {"oauth2": {"cimd": [true, []]}}}),
            "protocols.oauth2.cimd",
        ),
        (
            json!({"name": "ok", "encryption_key": ["aws", "arn:x"]}),
            "encryption_key",
        ),
    ] {
        let r = send(&a.router, req("POST", "/zones", Some(body.clone()))).await;
        assert_error_shape(&r, 400, "validation_error");
        assert_eq!(r.body["details"][0]["field"], field, "{body}");
        assert_eq!(r.headers["x-should-retry"], "false");
    }
    let r = send(
        &a.router,
        req("GET", "/zones?expand%5B%5D=total_count", None),
    )
    .await;
    assert_eq!(r.body["pagination"]["total_count"], 0);
    for q in ["limit=0", "limit=101", "after=bogus", "before=bogus"] {
        let r = send(&a.router, req("GET", &format!("/zones?{q}"), None)).await;
        assert_error_shape(&r, 400, "validation_error");
    }
    a.db.cleanup().await;
}

#[tokio::test]
async fn pages_and_filters() {
    let a = app().await;
    for i in 0..5 {
        send(
            &a.router,
            req("POST", "/zones", Some(json!({"name": format!("Z{i}")}))),
        )
        .await;
    }
    let r = send(
        &a.router,
        req("GET", "/zones?limit=2&expand%5B%5D=total_count", None),
    )
    .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["page_info"]["has_next_page"], true);
    assert_eq!(r.body["page_info"]["has_previous_page"], false);
    assert_eq!(r.body["pagination"]["total_count"], 5);
    let next = r.body["pagination"]["after_cursor"].as_str().unwrap();
    let r2 = send(
        &a.router,
        req("GET", &format!("/zones?limit=2&cursor={next}"), None),
    )
    .await;
    assert_eq!(r2.body["page_info"]["has_previous_page"], true);
    assert!(r2.body["pagination"].get("total_count").is_none());
    let prev = r2.body["pagination"]["before_cursor"].as_str().unwrap();
    let back = send(
        &a.router,
        req("GET", &format!("/zones?limit=2&before={prev}"), None),
    )
    .await;
    assert_eq!(back.body["items"], r.body["items"]);
    let r = send(&a.router, req("GET", "/zones?slug=z3", None)).await;
    assert_eq!(r.body["items"][0]["name"], "Z3");
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let org = r.body["items"][0]["organization_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = send(
        &a.router,
        req(
            "GET",
            &format!("/zones?filter%5Borganization_id%5D={org}"),
            None,
        ),
    )
    .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 5);
    let r = send(
        &a.router,
        req(
            "GET",
            "/zones?filter%5Borganization_id%5D=abcdefghij0123456789",
            None,
        ),
    )
    .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 0);
    a.db.cleanup().await;
}

#[tokio::test]
async fn another_organization_sees_nothing() {
    let a = app().await;
    let r = send(
        &a.router,
        req("POST", "/zones", Some(json!({"name": "Mine"}))),
    )
    .await;
    let id = r.body["id"].as_str().unwrap().to_owned();

    let now = Timestamp::now();
    let other = Organization {
        id: OrganizationId::generate(),
        label: "other".into(),
        name: "Other".into(),
        created_at: now,
        updated_at: now,
    };
    a.db.store.insert_organization(&other).await.unwrap();
    let other_key = "kz_other_org_key_0123456789abc";
    a.db.store
        .insert_api_key(&ApiKeyRecord {
            id: ApiKeyId::generate(),
            organization_id: other.id.clone(),
            name: "other".into(),
            key_hash: Sha256::digest(other_key.as_bytes()).into(),
            created_at: now,
        })
        .await
        .unwrap();
    let as_other = |method: &str, uri: &str, body: Option<Value>| {
        let mut r = req(method, uri, body);
        r.headers_mut().insert(
            "authorization",
            format!("Bearer {other_key}").parse().unwrap(),
        );
        r
    };
    for (m, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"name": "Stolen"}))),
        ("DELETE", None),
    ] {
        let r = send(&a.router, as_other(m, &format!("/zones/{id}"), body)).await;
        assert_error_shape(&r, 404, "not_found");
    }
    let r = send(
        &a.router,
        as_other("GET", "/zones?expand%5B%5D=total_count", None),
    )
    .await;
    assert_eq!(r.body["pagination"]["total_count"], 0);
    let r = send(&a.router, req("GET", &format!("/zones/{id}"), None)).await;
    assert_eq!(r.body["name"], "Mine");
    a.db.cleanup().await;
}

#[tokio::test]
async fn operations_endpoints() {
    let a = app().await;
    let r = send(
        &a.router,
        Request::get("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = send(
        &a.router,
        Request::get("/readyz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    send(&a.router, req("GET", "/zones", None)).await;
    let r = send(
        &a.router,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    let text = r.body.as_str().unwrap();
    assert!(
        text.contains(r#"keyzone_http_requests_total{method="GET",route="/zones",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains("keyzone_http_request_duration_seconds_bucket"));
    assert!(text.contains("keyzone_db_pool_connections"));
    a.db.cleanup().await;
}

/// The committed OpenAPI document must match what the code generates. To
/// refresh it: `KEYZONE_UPDATE_OPENAPI=1 cargo test -p keyzone-api openapi`.
#[test]
fn openapi_document_is_committed() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let generated = keyzone_api::openapi::document();
    if std::env::var("KEYZONE_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date: run KEYZONE_UPDATE_OPENAPI=1 cargo test -p keyzone-api openapi"
    );
    let doc: Value = serde_json::from_str(&generated).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for p in ["/zones", "/zones/{zone_id}"] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing");
    }
}

#[tokio::test]
async fn secrets_life_cycle_and_isolation() {
    let a = app().await;
    let za = send(&a.router, req("POST", "/zones", Some(json!({"name": "A"}))))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let zb = send(&a.router, req("POST", "/zones", Some(json!({"name": "B"}))))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = send(
        &a.router,
        req(
            "POST",
            &format!("/zones/{za}/secrets"),
            Some(json!({
                "name": "upstream", "entity_id": "res1", "zone_id": za,
                "data": {"type": "token", "token": "tok-123"}, "metadata": {"k": "v"}
            })),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert!(r.body.get("data").is_none());
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["type"], "token");
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = send(
        &a.router,
        req("GET", &format!("/zones/{za}/secrets/{id}"), None),
    )
    .await;
    assert_eq!(r.body["data"], json!({"type": "token", "token": "tok-123"}));
    let r = send(
        &a.router,
        req(
            "GET",
            &format!("/zones/{za}/secrets?entity_id=res1&type=token"),
            None,
        ),
    )
    .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert!(r.body[0].get("data").is_none());
    let r = send(
        &a.router,
        req(
            "PATCH",
            &format!("/zones/{za}/secrets/{id}"),
            Some(json!({"data": {"type": "password", "username": "u", "password": "p"}})),
        ),
    )
    .await;
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.body["type"], "password");
    let r = send(
        &a.router,
        req("GET", &format!("/zones/{za}/secrets/{id}"), None),
    )
    .await;
    assert_eq!(r.body["data"]["password"], "p");
    for (m, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"name": "x"}))),
        ("DELETE", None),
    ] {
        let r = send(
            &a.router,
            req(m, &format!("/zones/{zb}/secrets/{id}"), body),
        )
        .await;
        assert_error_shape(&r, 404, "not_found");
    }
    let r = send(&a.router, req("GET", &format!("/zones/{zb}/secrets"), None)).await;
    assert_eq!(r.body, json!([]));
    let r = send(
        &a.router,
        req(
            "POST",
            &format!("/zones/{za}/secrets"),
            Some(json!({"name": "x", "entity_id": "e", "data": {"type": "token"}})),
        ),
    )
    .await;
    assert_error_shape(&r, 400, "validation_error");
    assert_eq!(r.body["details"][0]["field"], "data.token");
    let r = send(
        &a.router,
        req("POST", &format!("/zones/{za}/secrets"), Some(json!({"name": "x", "entity_id": "e", "zone_id": zb, "data": {"type": "token", "token": "t"}}))),
    )
    .await;
    assert_error_shape(&r, 400, "validation_error");
    assert_eq!(
        send(
            &a.router,
            req("DELETE", &format!("/zones/{za}/secrets/{id}"), None)
        )
        .await
        .status,
        204
    );
    assert_error_shape(
        &send(
            &a.router,
            req("GET", &format!("/zones/{za}/secrets/{id}"), None),
        )
        .await,
        404,
        "not_found",
    );
    a.db.cleanup().await;
}

#[tokio::test]
async fn zones_can_start_with_a_platform_gateway_application() {
    let a = app().await;
    let r = send(
        &a.router,
        req(
            "POST",
            "/zones",
            Some(json!({"name": "Gw", "default_mcp_gateway_application": true})),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let zone = r.body["id"].as_str().unwrap().to_owned();
    let gw = r.body["default_mcp_gateway_application_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = send(
        &a.router,
        req("GET", &format!("/zones/{zone}/applications/{gw}"), None),
    )
    .await;
    assert_eq!(r.body["owner_type"], "platform");
    assert_eq!(r.body["traits"], json!(["gateway"]));
    let r = send(
        &a.router,
        req("DELETE", &format!("/zones/{zone}/applications/{gw}"), None),
    )
    .await;
    assert_error_shape(&r, 403, "forbidden");
    // Without the flag there is none.
    let r = send(
        &a.router,
        req("POST", "/zones", Some(json!({"name": "Plain"}))),
    )
    .await;
    assert_eq!(r.body["default_mcp_gateway_application_id"], Value::Null);
    a.db.cleanup().await;
}

#[tokio::test]
async fn credential_lists_ignore_owner_type() {
    let a = app().await;
    let z = send(
        &a.router,
        req("POST", "/zones", Some(json!({"name": "Owner"}))),
    )
    .await
    .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = send(
        &a.router,
        req(
            "GET",
            &format!("/zones/{z}/application-credentials?owner_type=customer"),
            None,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    a.db.cleanup().await;
}

/// The Keycard API's families this version does not have answer 501 in the
/// documented body (after authentication), never "no such route".
#[tokio::test]
async fn unbuilt_families_say_so() {
    let a = app().await;
    let zone = create(&a.router, "/zones", json!({"name": "Unbuilt"})).await;
    for (method, path) in [
        ("GET", format!("/zones/{zone}/policies")),
        ("POST", format!("/zones/{zone}/policy-sets")),
        ("GET", format!("/zones/{zone}/policy-schemas/2026-01")),
        ("GET", format!("/zones/{zone}/members")),
        ("GET", "/organizations".to_owned()),
        ("GET", "/organizations/org_1/service-accounts".to_owned()),
        ("GET", "/invitations/abc".to_owned()),
        ("GET", "/policy/bundle".to_owned()),
        ("POST", "/service-account-token".to_owned()),
    ] {
        let r = send(&a.router, req(method, &path, None)).await;
        assert_eq!(r.status.as_u16(), 501, "{method} {path}: {:?}", r.body);
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .contains("not available"),
            "{:?}",
            r.body
        );
        assert_eq!(r.headers["x-should-retry"], "false");
        let anonymous = Request::builder()
            .method(method)
            .uri(&path)
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&a.router, anonymous).await.status.as_u16(), 401);
    }
    a.db.cleanup().await;
}

/// `…/user-invitations` (a Keyzone extension): create with the link once,
/// 409 for an invited or existing email, list, revoke; another zone sees
/// none of them; a common password is refused when a user is provisioned.
#[tokio::test]
async fn user_invitations_and_the_password_blocklist() {
    let a = app().await;
    let zone = create(&a.router, "/zones", json!({"name": "Invites"})).await;
    let other = create(&a.router, "/zones", json!({"name": "Other"})).await;
    let base = format!("/zones/{zone}/user-invitations");
    let r = send(
        &a.router,
        req("POST", &base, Some(json!({"email": "Ada@Example.com"}))),
    )
    .await;
    assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
    assert_eq!(r.body["email"], "ada@example.com");
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["email_sent"], false);
    assert!(r.body["accepted_at"].is_null());
    let url = r.body["invitation_url"].as_str().unwrap();
    assert!(
        url.contains(&format!("/z/{zone}/oauth/invitation?token=")),
        "{url}"
    );
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = send(
        &a.router,
        req("POST", &base, Some(json!({"email": "ada@example.com"}))),
    )
    .await;
    assert_error_shape(&r, 409, "conflict");
    let r = send(
        &a.router,
        req("POST", &base, Some(json!({"email": "nope"}))),
    )
    .await;
    assert_error_shape(&r, 400, "validation_error");
    // An email that already signs in to the zone.
    let r = send(
        &a.router,
        req(
            "POST",
            &format!("/zones/{zone}/users"),
            Some(json!({"email": "bob@example.com", "password": "a fine long phrase"})),
        ),
    )
    .await;
    assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
    let r = send(
        &a.router,
        req("POST", &base, Some(json!({"email": "Bob@Example.com"}))),
    )
    .await;
    assert_error_shape(&r, 409, "conflict");
    // The blocklist, case-insensitively, on the password field.
    let r = send(
        &a.router,
        req(
            "POST",
            &format!("/zones/{zone}/users"),
            Some(json!({"email": "cy@example.com", "password": "Password123"})),
        ),
    )
    .await;
    assert_error_shape(&r, 400, "validation_error");
    assert!(
        r.body.to_string().contains("most common passwords"),
        "{:?}",
        r.body
    );

    let r = send(&a.router, req("GET", &base, None)).await;
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert!(r.body["items"][0].get("invitation_url").is_none());
    let r = send(
        &a.router,
        req("GET", &format!("/zones/{other}/user-invitations"), None),
    )
    .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 0);
    let r = send(
        &a.router,
        req(
            "DELETE",
            &format!("/zones/{other}/user-invitations/{id}"),
            None,
        ),
    )
    .await;
    assert_error_shape(&r, 404, "not_found");
    let r = send(&a.router, req("DELETE", &format!("{base}/{id}"), None)).await;
    assert_eq!(r.status.as_u16(), 204);
    let r = send(&a.router, req("DELETE", &format!("{base}/{id}"), None)).await;
    assert_error_shape(&r, 404, "not_found");
    // Revoked: the email may be invited again.
    let r = send(
        &a.router,
        req("POST", &base, Some(json!({"email": "ada@example.com"}))),
    )
    .await;
    assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
}
