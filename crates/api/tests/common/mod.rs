//! What the router tests share: an in-process app over a real SQLite store,
//! requests, replies and fixtures.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use keyzone_api::{router, AppState};
use keyzone_core::auth::PlaintextKey;
use keyzone_core::Vault;
use keyzone_domain::urls::IssuerLayout;
use keyzone_store::testing::TestDb;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

pub const KEY: &str = "kz_router_test_key_0123456789";

pub struct App {
    pub router: Router,
    pub state: Arc<AppState>,
    pub db: TestDb,
}

pub async fn app() -> App {
    app_with(None).await
}

pub async fn app_with(zone_domain: Option<&str>) -> App {
    app_with_fetcher(zone_domain, Arc::new(keyzone_core::outbound::NoOutbound)).await
}

pub async fn app_with_fetcher(
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

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

pub async fn send(router: &Router, req: Request<Body>) -> Reply {
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

pub fn req(method: &str, uri: &str, body: Option<Value>) -> Request<Body> {
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

pub fn assert_error_shape(r: &Reply, status: u16, code: &str) {
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

pub fn form(uri: &str, basic: Option<(&str, &str)>, body: &str) -> Request<Body> {
    use base64::Engine;
    let mut b = Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        b = b.header("authorization", format!("Basic {v}"));
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

/// A zone with a prefix resource `https://api.example.com` (scopes read,
/// write) and an application with a password credential.
pub async fn oauth_fixture(a: &App) -> (String, String, String) {
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

/// POSTs `body` to the management API and returns the new object's id.
pub async fn create(router: &Router, path: impl Into<String>, body: Value) -> String {
    let r = send(router, req("POST", &path.into(), Some(body))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// Documents served to the token endpoint's outbound fetches, from memory.
#[derive(Default)]
pub struct StaticFetcher {
    pub docs: std::sync::Mutex<std::collections::HashMap<String, Value>>,
    pub fetches: std::sync::atomic::AtomicUsize,
}

impl StaticFetcher {
    pub fn serve(&self, url: &str, doc: Value) {
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

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}
