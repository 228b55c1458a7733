//! In-process tests of the management API's conventions and of zones, over
//! the real router and a real (SQLite) store.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use keyzone_api::{router, with_middleware, AppState};
use keyzone_core::auth::PlaintextKey;
use keyzone_core::store::{ApiKeyRecord, ApiKeyStore, OrganizationStore};
use keyzone_core::Vault;
use keyzone_domain::organization::Organization;
use keyzone_domain::urls::IssuerLayout;
use keyzone_domain::{ApiKeyId, OrganizationId, Timestamp};
use keyzone_store::testing::TestDb;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tower::ServiceExt;

const KEY: &str = "kz_router_test_key_0123456789";

struct App {
    router: Router,
    state: Arc<AppState>,
    db: TestDb,
}

async fn app() -> App {
    app_with(None).await
}

async fn app_with(zone_domain: Option<&str>) -> App {
    app_with_fetcher(zone_domain, Arc::new(keyzone_core::outbound::NoOutbound)).await
}

async fn app_with_fetcher(
    zone_domain: Option<&str>,
    fetcher: Arc<dyn keyzone_core::outbound::Fetcher>,
) -> App {
    let db = TestDb::sqlite().await;
    let store = Arc::new(db.store.clone());
    let (master, _) = keyzone_crypto::MasterKey::generate();
    let vault = Arc::new(Vault::new(master, None, store.clone()));
    vault.check_master_key().await.unwrap();
    let layout = IssuerLayout::new(&"http://kz.test".parse().unwrap(), zone_domain);
    let state = Arc::new(AppState::new(store, vault, fetcher, layout));
    state
        .api_keys
        .bootstrap(Some(&PlaintextKey::new(KEY)))
        .await
        .unwrap();
    App {
        router: router(state.clone()),
        state,
        db,
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn send(router: &Router, req: Request<Body>) -> Reply {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn req(method: &str, uri: &str, body: Option<Value>) -> Request<Body> {
    let b = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json");
    match body {
        Some(v) => b.body(Body::from(v.to_string())).unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

fn assert_error_shape(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{:?}", r.body);
    for key in [
        "code",
        "message",
        "details",
        "path",
        "request_id",
        "status",
        "timestamp",
    ] {
        assert!(r.body.get(key).is_some(), "missing {key} in {:?}", r.body);
    }
    assert_eq!(r.body["code"], code);
    assert_eq!(r.body["status"], status);
    assert!(r.body["details"].is_array());
    assert_eq!(
        r.headers["content-type"].to_str().unwrap(),
        "application/json"
    );
    assert_eq!(
        r.body["request_id"].as_str().unwrap(),
        r.headers["x-request-id"].to_str().unwrap()
    );
}

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
async fn jwks_lists_public_keys_only() {
    let a = app().await;
    let z = send(
        &a.router,
        req("POST", "/zones", Some(json!({"name": "Keys"}))),
    )
    .await
    .body;
    let jwks_uri = z["protocols"]["oauth2"]["jwks_uri"].as_str().unwrap();
    let path = jwks_uri.strip_prefix("http://kz.test").unwrap();
    let r = send(&a.router, Request::get(path).body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.headers["cache-control"], "public, max-age=300");
    let keys = r.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "the current key and the published next key");
    for k in keys {
        assert_eq!(k["kty"], "RSA");
        assert_eq!(k["alg"], "RS256");
        assert_eq!(k["use"], "sig");
        assert!(k["kid"].is_string() && k["n"].is_string() && k["e"].is_string());
        assert!(k.get("d").is_none() && k.get("p").is_none());
    }
    // Unknown zones get an OAuth-style 404, not the management body.
    let r = send(
        &a.router,
        Request::get("/z/abcdefghij0123456789/.well-known/jwks.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "invalid_request");
    assert!(r.body.get("request_id").is_none());
    let r = send(
        &a.router,
        Request::get("/z/NOT-AN-ID/.well-known/jwks.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 404);
    a.db.cleanup().await;
}

#[tokio::test]
async fn host_based_zones_serve_their_jwks_at_the_root() {
    let a = app_with(Some("zones.test")).await;
    let z = send(
        &a.router,
        req("POST", "/zones", Some(json!({"name": "Hosted"}))),
    )
    .await
    .body;
    let id = z["id"].as_str().unwrap();
    assert_eq!(
        z["protocols"]["oauth2"]["issuer"],
        format!("http://{id}.zones.test")
    );
    assert_eq!(
        z["protocols"]["oauth2"]["jwks_uri"],
        format!("http://{id}.zones.test/.well-known/jwks.json")
    );
    let r = send(
        &a.router,
        Request::get("/.well-known/jwks.json")
            .header("host", format!("{id}.zones.test:8080"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["keys"].as_array().unwrap().len(), 2);
    // The management API still answers on other hosts.
    let mut m = req("GET", "/zones", None);
    m.headers_mut()
        .insert("host", "keyzone.test".parse().unwrap());
    assert_eq!(send(&a.router, m).await.status, 200);
    a.db.cleanup().await;
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

fn form(uri: &str, basic: Option<(&str, &str)>, body: &str) -> Request<Body> {
    use base64::Engine;
    let mut b = Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        b = b.header("authorization", format!("Basic {v}"));
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

#[tokio::test]
async fn client_credentials_issue_verifiable_jwt_access_tokens() {
    use base64::Engine;
    let a = app().await;
    let zone = send(
        &a.router,
        req("POST", "/zones", Some(json!({"name": "Tokens"}))),
    )
    .await
    .body;
    let z = zone["id"].as_str().unwrap().to_owned();
    let issuer = zone["protocols"]["oauth2"]["issuer"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = send(
        &a.router,
        req(
            "POST",
            &format!("/zones/{z}/resources"),
            Some(json!({
                "identifier": "https://api.example.com", "name": "API", "prefix": true,
                "scopes": ["read", "write"], "credential_lifetime_seconds": 600
            })),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let app_id = send(
        &a.router,
        req(
            "POST",
            &format!("/zones/{z}/applications"),
            Some(json!({"identifier": "svc", "name": "Svc"})),
        ),
    )
    .await
    .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cred = send(
        &a.router,
        req(
            "POST",
            &format!("/zones/{z}/application-credentials"),
            Some(json!({"type": "password", "application_id": app_id})),
        ),
    )
    .await
    .body;
    let (cid, secret) = (
        cred["identifier"].as_str().unwrap().to_owned(),
        cred["password"].as_str().unwrap().to_owned(),
    );
    let token_path = format!("/z/{z}/oauth/token");

    let md = send(
        &a.router,
        Request::get(format!("/z/{z}/.well-known/oauth-authorization-server"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(md.body["issuer"], issuer);
    assert_eq!(md.body["token_endpoint"], format!("{issuer}/oauth/token"));
    let twin = send(
        &a.router,
        Request::get(format!("/.well-known/oauth-authorization-server/z/{z}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(twin.body, md.body);
    let dbl = send(
        &a.router,
        Request::get(format!("/z/{z}//.well-known/oauth-authorization-server"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(dbl.body, md.body);

    let r = send(&a.router, form(&token_path, Some((&cid, &secret)), "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com%2Fv1%2Fx&scope=read&audience=https%3A%2F%2Fapi.example.com&subject_token_type=x")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 600);
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = token.split('.').collect();
    let dec = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap()
    };
    let header: Value = serde_json::from_slice(&dec(parts[0])).unwrap();
    let claims: Value = serde_json::from_slice(&dec(parts[1])).unwrap();
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["aud"], "https://api.example.com");
    assert_eq!(claims["sub"], app_id);
    assert_eq!(claims["client_id"], cid);
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["sub_profile"], "app");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
    // It verifies against the zone's published JWKS.
    let jwks = send(
        &a.router,
        Request::get(format!("/z/{z}/.well-known/jwks.json"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .body;
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap()
        .clone();
    let signed = format!("{}.{}", parts[0], parts[1]);
    assert!(keyzone_crypto::signing::verify(
        &key,
        keyzone_crypto::Algorithm::RS256,
        signed.as_bytes(),
        &dec(parts[2])
    ));

    // client_secret_post works too.
    let r = send(&a.router, form(&token_path, None, &format!("grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com&client_id={cid}&client_secret={secret}"))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    for (basic, body, status, code) in [
        (
            Some((cid.as_str(), "wrong")),
            "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com",
            401,
            "invalid_client",
        ),
        (
            Some(("nobody", "x")),
            "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com",
            401,
            "invalid_client",
        ),
        (
            None,
            "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com",
            401,
            "invalid_client",
        ),
        (
            Some((cid.as_str(), secret.as_str())),
            "grant_type=client_credentials&resource=https%3A%2F%2Fother.example.com",
            400,
            "invalid_target",
        ),
        (
            Some((cid.as_str(), secret.as_str())),
            "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com&scope=admin",
            400,
            "invalid_scope",
        ),
        (
            Some((cid.as_str(), secret.as_str())),
            "grant_type=client_credentials",
            400,
            "invalid_request",
        ),
        (
            Some((cid.as_str(), secret.as_str())),
            "grant_type=password",
            400,
            "unsupported_grant_type",
        ),
        (
            Some((cid.as_str(), secret.as_str())),
            "resource=x",
            400,
            "invalid_request",
        ),
    ] {
        let r = send(&a.router, form(&token_path, basic, body)).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {:?}", r.body);
        assert_eq!(r.body["error"], code, "{body}");
        assert!(r.body["error_description"].is_string());
        assert!(
            r.body.get("request_id").is_none(),
            "OAuth errors keep their own shape"
        );
    }
    let r = send(
        &a.router,
        form(
            "/z/abcdefghij0123456789/oauth/token",
            None,
            "grant_type=client_credentials",
        ),
    )
    .await;
    assert_eq!(r.status, 404);
    a.db.cleanup().await;
}

#[tokio::test]
async fn dynamic_registration_creates_user_agents() {
    let a = app().await;
    let z = send(
        &a.router,
        req("POST", "/zones", Some(json!({"name": "Dcr"}))),
    )
    .await
    .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reg = |body: Value| {
        Request::post(format!("/z/{z}/oauth/register"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    // Exactly what keycardai-mcp sends: explicit nulls everywhere.
    let mcp = json!({"client_name": "MCP Client - demo", "client_uri": null, "logo_uri": null,
        "tos_uri": null, "policy_uri": null, "software_id": null, "software_version": null,
        "jwks_uri": null, "jwks": null, "token_endpoint_auth_method": "none",
        "redirect_uris": ["http://localhost:33418/callback"],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "scope": null});
    let r = send(&a.router, reg(mcp.clone())).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let client_id = r.body["client_id"].as_str().unwrap().to_owned();
    assert!(
        client_id.starts_with("ua:") && client_id.len() == 3 + 64,
        "{client_id}"
    );
    assert_eq!(
        r.body["redirect_uris"],
        json!(["http://localhost:33418/callback"])
    );
    assert!(r.body.get("client_secret").is_none());
    assert!(r.body.get("logo_uri").is_none());
    // The same software registering again is the same client.
    let again = send(&a.router, reg(mcp)).await;
    assert_eq!(again.body["client_id"], client_id);
    let uas = send(
        &a.router,
        req("GET", &format!("/zones/{z}/user-agents"), None),
    )
    .await;
    assert_eq!(uas.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(uas.body["items"][0]["identifier"], client_id);
    assert_eq!(uas.body["items"][0]["name"], "MCP Client - demo");

    let r = send(
        &a.router,
        reg(json!({"redirect_uris": ["https://app.test/cb#frag"]})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "invalid_redirect_uri");
    let r = send(
        &a.router,
        reg(json!({"token_endpoint_auth_method": "client_secret_basic"})),
    )
    .await;
    assert_eq!(r.body["error"], "invalid_client_metadata");

    send(
        &a.router,
        req(
            "PATCH",
            &format!("/zones/{z}"),
            Some(json!({"protocols": {"oauth2": {"dcr_enabled": false}}})),
        ),
    )
    .await;
    // Zone settings reach the OAuth endpoints within the lookup cache's lifetime.
    tokio::time::sleep(keyzone_authserver::LOOKUP_TTL + std::time::Duration::from_millis(100))
        .await;
    let r = send(&a.router, reg(json!({"client_name": "x"}))).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"], "access_denied");
    a.db.cleanup().await;
}

/// A zone with a prefix resource `https://api.example.com` (scopes read,
/// write) and an application with a password credential.
async fn oauth_fixture(a: &App) -> (String, String, String) {
    let z = send(
        &a.router,
        req("POST", "/zones", Some(json!({"name": "OAuth"}))),
    )
    .await
    .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(&a.router, req("POST", &format!("/zones/{z}/resources"), Some(json!({
        "identifier": "https://api.example.com", "name": "API", "prefix": true, "scopes": ["read", "write"]
    })))).await;
    let app_id = send(
        &a.router,
        req(
            "POST",
            &format!("/zones/{z}/applications"),
            Some(json!({"identifier": "svc", "name": "Svc"})),
        ),
    )
    .await
    .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cred = send(
        &a.router,
        req(
            "POST",
            &format!("/zones/{z}/application-credentials"),
            Some(json!({"type": "password", "application_id": app_id})),
        ),
    )
    .await
    .body;
    (
        z,
        cred["identifier"].as_str().unwrap().to_owned(),
        cred["password"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn introspection_and_revocation() {
    let a = app().await;
    let (z, cid, secret) = oauth_fixture(&a).await;
    let token = send(
        &a.router,
        form(
            &format!("/z/{z}/oauth/token"),
            Some((&cid, &secret)),
            "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com",
        ),
    )
    .await
    .body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let introspect = |t: &str| {
        form(
            &format!("/z/{z}/oauth/introspect"),
            Some((&cid, &secret)),
            &format!("token={t}"),
        )
    };
    let r = send(&a.router, introspect(&token)).await;
    assert_eq!(r.body["active"], true, "{:?}", r.body);
    assert_eq!(r.body["client_id"], cid);
    assert_eq!(
        send(&a.router, introspect("not.a.token")).await.body,
        json!({"active": false})
    );
    // Introspection needs client authentication.
    let r = send(
        &a.router,
        form(
            &format!("/z/{z}/oauth/introspect"),
            None,
            &format!("token={token}"),
        ),
    )
    .await;
    assert_eq!(r.body["error"], "invalid_client");
    // Revoke; afterwards the token is inactive. Unknown tokens are not an error.
    let r = send(
        &a.router,
        form(
            &format!("/z/{z}/oauth/revoke"),
            Some((&cid, &secret)),
            &format!("token={token}"),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        send(&a.router, introspect(&token)).await.body,
        json!({"active": false})
    );
    let r = send(
        &a.router,
        form(
            &format!("/z/{z}/oauth/revoke"),
            Some((&cid, &secret)),
            "token=garbage",
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    // A token from another zone is not live here.
    let (z2, cid2, secret2) = oauth_fixture(&a).await;
    let other = send(
        &a.router,
        form(
            &format!("/z/{z2}/oauth/token"),
            Some((&cid2, &secret2)),
            "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com",
        ),
    )
    .await
    .body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        send(&a.router, introspect(&other)).await.body,
        json!({"active": false})
    );
    a.db.cleanup().await;
}

#[tokio::test]
async fn token_exchange_follows_dependencies() {
    use base64::Engine;
    let a = app().await;
    let z = send(
        &a.router,
        req("POST", "/zones", Some(json!({"name": "Exchange"}))),
    )
    .await
    .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let post = |path: String, body: Value| req("POST", &path, Some(body));
    let id = |v: Value| v["id"].as_str().unwrap().to_owned();
    let mcp_app = id(send(
        &a.router,
        post(
            format!("/zones/{z}/applications"),
            json!({"identifier": "mcp", "name": "MCP"}),
        ),
    )
    .await
    .body);
    let agent_app = id(send(
        &a.router,
        post(
            format!("/zones/{z}/applications"),
            json!({"identifier": "agent", "name": "Agent"}),
        ),
    )
    .await
    .body);
    let r1 = id(send(&a.router, post(format!("/zones/{z}/resources"), json!({"identifier": "https://mcp.example.com/mcp", "name": "MCP", "application_id": mcp_app}))).await.body);
    let r2 = id(send(
        &a.router,
        post(
            format!("/zones/{z}/resources"),
            json!({"identifier": "https://api.example.com", "name": "API", "scopes": ["read"]}),
        ),
    )
    .await
    .body);
    let _r3 = id(send(
        &a.router,
        post(
            format!("/zones/{z}/resources"),
            json!({"identifier": "https://other.example.com", "name": "Other"}),
        ),
    )
    .await
    .body);
    let r = send(
        &a.router,
        req(
            "PUT",
            &format!("/zones/{z}/applications/{mcp_app}/dependencies/{r2}?when_accessing={r1}"),
            None,
        ),
    )
    .await;
    assert_eq!(r.status, 204);
    let cred = |app: &str| {
        let app = app.to_owned();
        let z = z.clone();
        let router = a.router.clone();
        async move {
            let c = send(
                &router,
                req(
                    "POST",
                    &format!("/zones/{z}/application-credentials"),
                    Some(json!({"type": "password", "application_id": app})),
                ),
            )
            .await
            .body;
            (
                c["identifier"].as_str().unwrap().to_owned(),
                c["password"].as_str().unwrap().to_owned(),
            )
        }
    };
    let (agent_id, agent_secret) = cred(&agent_app).await;
    let (mcp_id, mcp_secret) = cred(&mcp_app).await;
    let token_path = format!("/z/{z}/oauth/token");
    let cc = |resource: &str| {
        form(
            &token_path,
            Some((&agent_id, &agent_secret)),
            &format!("grant_type=client_credentials&resource={resource}"),
        )
    };
    let subject = send(&a.router, cc("https%3A%2F%2Fmcp.example.com%2Fmcp"))
        .await
        .body;
    let subject_token = subject["access_token"].as_str().unwrap().to_owned();
    let exchange = |auth: Option<(&str, &str)>,
                    subject: &str,
                    subject_type: &str,
                    resource: &str| {
        form(&token_path, auth, &format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&resource={resource}&subject_token={subject}&subject_token_type={subject_type}"
        ))
    };
    let at = "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token";
    let api = "https%3A%2F%2Fapi.example.com";
    let claims = |t: &str| -> Value {
        let p = t.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .unwrap(),
        )
        .unwrap()
    };

    // Unauthenticated, as the official MCP servers send it: the exchanging
    // application is the one providing the subject token's resource.
    let r = send(&a.router, exchange(None, &subject_token, at, api)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    let c = claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://api.example.com");
    assert_eq!(c["sub"], agent_app, "the subject is kept");
    assert_eq!(
        c["act"]["sub"], mcp_app,
        "the exchanging application is the actor"
    );
    assert_eq!(c["keycard_app_id"], mcp_app);
    assert!(c["exp"].as_u64().unwrap() <= claims(&subject_token)["exp"].as_u64().unwrap());
    // Authenticated with the MCP application's own credential.
    let r = send(
        &a.router,
        exchange(Some((&mcp_id, &mcp_secret)), &subject_token, at, api),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        claims(r.body["access_token"].as_str().unwrap())["client_id"],
        mcp_id
    );

    for (auth, subject, ty, resource, code) in [
        // No dependency on the other resource.
        (
            None,
            subject_token.as_str(),
            at,
            "https%3A%2F%2Fother.example.com",
            "access_denied",
        ),
        // The agent has no dependency at all.
        (
            Some((agent_id.as_str(), agent_secret.as_str())),
            subject_token.as_str(),
            at,
            api,
            "access_denied",
        ),
        (None, "garbage", at, api, "invalid_request"),
        (
            None,
            subject_token.as_str(),
            "urn%3Aexample%3Aunknown",
            api,
            "invalid_request",
        ),
        (
            None,
            subject_token.as_str(),
            at,
            "https%3A%2F%2Fnowhere.example.com",
            "invalid_target",
        ),
    ] {
        let r = send(&a.router, exchange(auth, subject, ty, resource)).await;
        assert_eq!(r.body["error"], code, "{resource} {ty}: {:?}", r.body);
    }
    // when_accessing: a subject token for another resource does not qualify.
    let other_subject = send(&a.router, cc("https%3A%2F%2Fother.example.com"))
        .await
        .body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = send(
        &a.router,
        exchange(Some((&mcp_id, &mcp_secret)), &other_subject, at, api),
    )
    .await;
    assert_eq!(r.body["error"], "access_denied", "{:?}", r.body);
    assert!(r.body["error_description"]
        .as_str()
        .unwrap()
        .contains("when_accessing"));
    // An expired token of this zone, validly signed, is not a live subject.
    let ring = a
        .state
        .signing
        .key_ring(&keyzone_domain::ZoneId::parse(&z).unwrap())
        .await
        .unwrap();
    let mut stale = claims(&subject_token);
    stale["exp"] = json!(stale["iat"].as_u64().unwrap() - 1);
    let expired = keyzone_crypto::jwt::sign_parts(
        &ring.current,
        &ring.access_token_header,
        stale.to_string().as_bytes(),
    );
    let r = send(&a.router, exchange(None, &expired, at, api)).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["error"], "invalid_request");
    // The same claims, freshly signed, are accepted: only exp differed.
    let mut fresh = claims(&subject_token);
    fresh["jti"] = json!("fresh-copy");
    let resigned = keyzone_crypto::jwt::sign_parts(
        &ring.current,
        &ring.access_token_header,
        fresh.to_string().as_bytes(),
    );
    assert_eq!(
        send(&a.router, exchange(None, &resigned, at, api))
            .await
            .status,
        200
    );
    // A public client (auth method none) of the MCP application names itself.
    let public = send(
        &a.router,
        req(
            "POST",
            &format!("/zones/{z}/application-credentials"),
            Some(json!({"type": "public", "application_id": mcp_app, "identifier": "mcp-public"})),
        ),
    )
    .await;
    assert_eq!(public.status, 201, "{:?}", public.body);
    let with_client_id = |client_id: &str| {
        form(&token_path, None, &format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&resource={api}&subject_token={subject_token}&subject_token_type={at}&client_id={client_id}"
        ))
    };
    let r = send(&a.router, with_client_id("mcp-public")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        claims(r.body["access_token"].as_str().unwrap())["client_id"],
        "mcp-public"
    );
    for confidential in [mcp_id.as_str(), "nobody"] {
        let r = send(&a.router, with_client_id(confidential)).await;
        assert_eq!(r.status, 401, "{confidential}: {:?}", r.body);
        assert_eq!(r.body["error"], "invalid_client");
    }
    // Impersonation is recognised and refused; a malformed one is a bad request.
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let su = format!(
        "{}.{}.",
        b64(json!({"typ": "vnd.kc.su+jwt", "alg": "none"})),
        b64(json!({"sub": "alice@example.com"}))
    );
    let su_type = "urn%3Akeycard%3Aparams%3Aoauth%3Atoken-type%3Asubstitute-user";
    let r = send(
        &a.router,
        exchange(Some((&mcp_id, &mcp_secret)), &su, su_type, api),
    )
    .await;
    assert_eq!(r.body["error"], "access_denied", "{:?}", r.body);
    assert!(r.body["error_description"]
        .as_str()
        .unwrap()
        .contains("alice@example.com"));
    let r = send(
        &a.router,
        exchange(Some((&mcp_id, &mcp_secret)), "x.y.", su_type, api),
    )
    .await;
    assert_eq!(r.body["error"], "invalid_request");
    // A revoked subject token cannot be exchanged.
    send(
        &a.router,
        form(
            &format!("/z/{z}/oauth/revoke"),
            Some((&agent_id, &agent_secret)),
            &format!("token={subject_token}"),
        ),
    )
    .await;
    let r = send(&a.router, exchange(None, &subject_token, at, api)).await;
    assert_eq!(r.body["error"], "invalid_request");
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

/// POSTs `body` to the management API and returns the new object's id.
async fn create(router: &Router, path: impl Into<String>, body: Value) -> String {
    let r = send(router, req("POST", &path.into(), Some(body))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// Documents served to the token endpoint's outbound fetches, from memory.
#[derive(Default)]
struct StaticFetcher {
    docs: std::sync::Mutex<std::collections::HashMap<String, Value>>,
    fetches: std::sync::atomic::AtomicUsize,
}

impl StaticFetcher {
    fn serve(&self, url: &str, doc: Value) {
        self.docs.lock().unwrap().insert(url.to_owned(), doc);
    }
}

#[async_trait::async_trait]
impl keyzone_core::outbound::Fetcher for StaticFetcher {
    async fn get_json(
        &self,
        url: &str,
    ) -> Result<keyzone_core::outbound::Fetched, keyzone_core::outbound::FetchError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match self.docs.lock().unwrap().get(url) {
            Some(v) => Ok(keyzone_core::outbound::Fetched {
                body: v.clone(),
                max_age: None,
            }),
            None => Err(keyzone_core::outbound::FetchError::Failed(url.to_owned())),
        }
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn client_assertions_authenticate_applications() {
    use keyzone_crypto::signing::{Algorithm, SigningKey};
    let fetcher = Arc::new(StaticFetcher::default());
    let a = app_with_fetcher(None, fetcher.clone()).await;
    let post = |path: String, body: Value| req("POST", &path, Some(body));
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let z = create(&a.router, "/zones", json!({"name": "Assertions"})).await;
    let issuer = format!("http://kz.test/z/{z}");
    let token_endpoint = format!("{issuer}/oauth/token");
    let token_path = format!("/z/{z}/oauth/token");
    let svc = create(
        &a.router,
        format!("/zones/{z}/applications"),
        json!({"identifier": "svc", "name": "Svc"}),
    )
    .await;
    let mcp = create(
        &a.router,
        format!("/zones/{z}/applications"),
        json!({"identifier": "mcp", "name": "MCP"}),
    )
    .await;
    send(
        &a.router,
        post(
            format!("/zones/{z}/resources"),
            json!({"identifier": "https://api.example.com", "name": "API", "prefix": true}),
        ),
    )
    .await;
    send(&a.router, post(format!("/zones/{z}/resources"), json!({"identifier": "https://mcp.example.com/mcp", "name": "MCP", "application_id": mcp}))).await;
    let cc = |assertion: &str, client_id: Option<&str>| {
        let mut body = format!(
            "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com\
             &client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer\
             &client_assertion={assertion}"
        );
        if let Some(c) = client_id {
            body.push_str(&format!("&client_id={c}"));
        }
        form(&token_path, None, &body)
    };
    let denied = |r: &Reply, why: &str| {
        assert_eq!(r.status, 401, "{why}: {:?}", r.body);
        assert_eq!(r.body["error"], "invalid_client", "{why}");
        assert!(r.headers.contains_key("www-authenticate"), "{why}");
    };

    // private_key_jwt with a public-key credential.
    let (k1, _) = SigningKey::generate(Algorithm::ES256, "k1").unwrap();
    fetcher.serve("https://svc.test/jwks", json!({"keys": [k1.public_jwk()]}));
    let r = send(&a.router, post(format!("/zones/{z}/application-credentials"), json!({
        "type": "public-key", "application_id": svc, "jwks_uri": "https://svc.test/jwks", "identifier": "svc-client"
    }))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let self_signed = |key: &SigningKey, iss: &str, aud: &str, jti: &str, ttl: u64| {
        let now = now_secs();
        keyzone_crypto::jwt::sign(
            key,
            "JWT",
            &json!({"iss": iss, "sub": iss, "aud": aud, "iat": now, "exp": now + ttl, "jti": jti}),
        )
    };
    let t = self_signed(&k1, "svc-client", &token_endpoint, "j1", 60);
    let r = send(&a.router, cc(&t, None)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let claims = jwt_claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], "svc-client");
    assert_eq!(claims["sub"], svc);
    denied(&send(&a.router, cc(&t, None)).await, "replayed jti");
    denied(
        &send(
            &a.router,
            cc(
                &self_signed(&k1, "svc-client", "https://elsewhere", "j2", 60),
                None,
            ),
        )
        .await,
        "foreign aud",
    );
    denied(
        &send(
            &a.router,
            cc(&self_signed(&k1, "svc-client", &issuer, "j3", 7200), None),
        )
        .await,
        "lifetime over an hour",
    );
    let (stranger, _) = SigningKey::generate(Algorithm::ES256, "k1").unwrap();
    denied(
        &send(
            &a.router,
            cc(
                &self_signed(&stranger, "svc-client", &issuer, "j4", 60),
                None,
            ),
        )
        .await,
        "wrong key",
    );
    let ok = send(
        &a.router,
        cc(
            &self_signed(&k1, "svc-client", &issuer, "j5", 60),
            Some("svc-client"),
        ),
    )
    .await;
    assert_eq!(
        ok.status, 200,
        "aud = issuer, client_id given: {:?}",
        ok.body
    );
    {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!("{}.{}.", b64.encode(br#"{"alg":"none"}"#), b64.encode(json!({"iss":"svc-client","sub":"svc-client","aud":issuer,"exp":now_secs()+60,"jti":"j6"}).to_string()));
        denied(&send(&a.router, cc(&none, None)).await, "alg none");
    }

    // Workload identity: provider keys found through its discovery document.
    let wi = "https://issuer.test";
    let p = create(
        &a.router,
        format!("/zones/{z}/providers"),
        json!({
            "identifier": wi, "name": "Cluster", "protocols": {"oauth2": {"issuer": wi}}
        }),
    )
    .await;
    let (wk, _) = SigningKey::generate(Algorithm::RS256, "wk").unwrap();
    fetcher.serve(
        &format!("{wi}/.well-known/openid-configuration"),
        json!({"issuer": wi, "jwks_uri": format!("{wi}/keys")}),
    );
    fetcher.serve(&format!("{wi}/keys"), json!({"keys": [wk.public_jwk()]}));
    let wc = send(&a.router, post(format!("/zones/{z}/application-credentials"), json!({
        "type": "token", "application_id": svc, "provider_id": p, "subject": "system:serviceaccount:ns:svc"
    }))).await;
    assert_eq!(wc.status, 201, "{:?}", wc.body);
    let wc = id(&wc.body);
    let workload = |sub: &str, aud: &str| {
        let now = now_secs();
        keyzone_crypto::jwt::sign(
            &wk,
            "JWT",
            &json!({"iss": wi, "sub": sub, "aud": aud, "iat": now, "exp": now + 600}),
        )
    };
    let t = workload("system:serviceaccount:ns:svc", &issuer);
    for client_id in [None, Some(wc.as_str()), Some(svc.as_str())] {
        let r = send(&a.router, cc(&t, client_id)).await;
        assert_eq!(r.status, 200, "{client_id:?}: {:?}", r.body);
        let claims = jwt_claims(r.body["access_token"].as_str().unwrap());
        assert_eq!(claims["client_id"], wc.as_str());
        assert_eq!(claims["keycard_app_id"], svc.as_str());
    }
    // The same subject under another provider is another workload.
    let p2 = create(
        &a.router,
        format!("/zones/{z}/providers"),
        json!({"identifier": "https://other-issuer.test", "name": "Other cluster"}),
    )
    .await;
    let r = send(&a.router, post(format!("/zones/{z}/application-credentials"), json!({
        "type": "token", "application_id": mcp, "provider_id": p2, "subject": "system:serviceaccount:ns:svc"
    }))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = send(&a.router, cc(&t, None)).await;
    assert_eq!(
        jwt_claims(r.body["access_token"].as_str().unwrap())["keycard_app_id"],
        svc.as_str()
    );
    denied(
        &send(&a.router, cc(&t, Some(&mcp))).await,
        "another application's id",
    );
    denied(
        &send(
            &a.router,
            cc(&workload("system:serviceaccount:ns:other", &issuer), None),
        )
        .await,
        "unknown subject",
    );
    denied(
        &send(
            &a.router,
            cc(
                &workload(
                    "system:serviceaccount:ns:svc",
                    "https://kubernetes.default.svc",
                ),
                None,
            ),
        )
        .await,
        "aud not this zone",
    );
    // One application session for the login, however many token requests.
    let sessions = send(&a.router, req("GET", &format!("/zones/{z}/sessions"), None)).await;
    let apps: Vec<&Value> = sessions.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["session_type"] == "application")
        .collect();
    assert_eq!(apps.len(), 1, "{:?}", sessions.body);
    assert_eq!(apps[0]["application_id"], svc.as_str());
    assert_eq!(apps[0]["provider_id"], p.as_str());
    assert_eq!(apps[0]["issuer"], wi);
    assert_eq!(apps[0]["subject"], "system:serviceaccount:ns:svc");

    // A URL client identity: the MCP resource's protected resource metadata.
    let prm = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
    let (mk, _) = SigningKey::generate(Algorithm::RS256, "mcp-example-com").unwrap();
    fetcher.serve(prm, json!({"resource": "https://mcp.example.com/mcp", "jwks_uri": "https://mcp.example.com/.well-known/jwks.json"}));
    fetcher.serve(
        "https://mcp.example.com/.well-known/jwks.json",
        json!({"keys": [mk.public_jwk()]}),
    );
    let r = send(
        &a.router,
        cc(&self_signed(&mk, prm, &token_endpoint, "m1", 300), None),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let claims = jwt_claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], prm);
    assert_eq!(claims["keycard_app_id"], mcp.as_str());
    // Metadata of something that is not a zone resource speaks for nobody.
    let foreign = "https://evil.example.net/.well-known/oauth-protected-resource/mcp";
    denied(
        &send(
            &a.router,
            cc(&self_signed(&mk, foreign, &token_endpoint, "m2", 300), None),
        )
        .await,
        "not a zone resource",
    );

    // A key source that cannot be fetched is the server's trouble: 503.
    let r = send(&a.router, post(format!("/zones/{z}/application-credentials"), json!({
        "type": "public-key", "application_id": svc, "jwks_uri": "https://down.test/jwks", "identifier": "down-client"
    }))).await;
    assert_eq!(r.status, 201);
    let r = send(
        &a.router,
        cc(&self_signed(&k1, "down-client", &issuer, "d1", 60), None),
    )
    .await;
    assert_eq!(r.status, 503, "{:?}", r.body);
    assert_eq!(r.body["error"], "temporarily_unavailable");

    // Key documents are cached: repeated requests did not refetch them.
    let before = fetcher.fetches.load(std::sync::atomic::Ordering::SeqCst);
    for jti in ["c1", "c2", "c3"] {
        assert_eq!(
            send(
                &a.router,
                cc(&self_signed(&k1, "svc-client", &issuer, jti, 60), None)
            )
            .await
            .status,
            200
        );
    }
    assert_eq!(
        fetcher.fetches.load(std::sync::atomic::Ordering::SeqCst),
        before
    );
}

/// RFC 6749 §2.3.1: strict clients form-urlencode the Basic pair; the
/// official Keycard clients do not. Both readings authenticate.
#[tokio::test]
async fn basic_credentials_raw_or_form_urlencoded() {
    let a = app().await;
    let (z, id, secret) = oauth_fixture(&a).await;
    let encoded: String = form_urlencoded::byte_serialize(secret.as_bytes())
        .collect::<String>()
        .replace('-', "%2D")
        .replace('_', "%5F");
    let path = format!("/z/{z}/oauth/token");
    let body = "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com";
    for s in [secret.as_str(), encoded.as_str()] {
        let r = send(&a.router, form(&path, Some((&id, s)), body)).await;
        assert_eq!(r.status, 200, "{s}: {:?}", r.body);
    }
    let r = send(&a.router, form(&path, Some((&id, "wrong%2Dsecret")), body)).await;
    assert_eq!(r.status, 401);
    a.db.cleanup().await;
}
