//! Router tests of the zone protocol surface: discovery, JWKS, the token
//! endpoint and its grants, client authentication, introspection,
//! revocation, registration, and the surface's OAuth error shape.

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;

mod common;
use common::*;

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

async fn boom() -> &'static str {
    panic!("secret internal detail")
}

/// Errors no handler wrote (unknown endpoint, 405, 413, a panic) come in
/// the surface's own shape: OAuth JSON under a zone, HTML for pages.
#[tokio::test]
async fn each_surface_answers_in_its_own_error_shape() {
    let a = app().await;
    let zone = create(&a.router, "/zones", json!({"name": "Shapes"})).await;
    let oauth_error = |r: &Reply, status: u16| {
        assert_eq!(r.status.as_u16(), status, "{:?}", r.body);
        assert!(r.body["error"].is_string(), "{:?}", r.body);
        assert!(r.body["error_description"].is_string());
        assert!(
            r.body.get("request_id").is_none(),
            "not the management body"
        );
        assert!(r.headers.contains_key("x-request-id"));
    };
    let r = send(&a.router, form(&format!("/z/{zone}/oauth/nope"), None, "")).await;
    oauth_error(&r, 404);
    let r = send(
        &a.router,
        Request::get(format!("/z/{zone}/oauth/token"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    oauth_error(&r, 405);
    assert_eq!(r.body["error"], "invalid_request");
    let big = "a".repeat(keyzone_api::MAX_BODY_BYTES + 1);
    let r = send(
        &a.router,
        form(&format!("/z/{zone}/oauth/token"), None, &big),
    )
    .await;
    oauth_error(&r, 413);
    let r = send(
        &a.router,
        Request::get("/.well-known/oauth-authorization-server/z/nope")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    oauth_error(&r, 404);

    let zone_boom = keyzone_api::with_context(
        keyzone_api::zone::with_layers(Router::new().route("/z/{zone_id}/boom", get(boom))),
        a.state.clone(),
    );
    let r = send(
        &zone_boom,
        Request::get("/z/x/boom").body(Body::empty()).unwrap(),
    )
    .await;
    oauth_error(&r, 500);
    assert_eq!(r.body["error"], "server_error");
    assert!(!r.body.to_string().contains("secret internal detail"));

    // Pages: HTML with the page headers, whatever went wrong.
    let html = |r: &Reply, status: u16| {
        assert_eq!(r.status.as_u16(), status);
        assert_eq!(r.headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(r.headers["cache-control"], "no-store");
        assert!(r.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
        assert_eq!(r.headers["referrer-policy"], "no-referrer");
        assert!(r.body.as_str().unwrap().starts_with("<!doctype html>"));
    };
    // The authorization endpoint: a request naming no client is an error
    // page, never a redirect.
    let r = send(
        &a.router,
        Request::get(format!("/z/{zone}/oauth/authorize?response_type=code"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    html(&r, 400);
    assert!(!r.headers.contains_key("location"));
    assert!(r.body.as_str().unwrap().contains("Unknown application"));
    let r = send(
        &a.router,
        Request::get(format!("/z/{zone}/oauth/callback?code=x&state=y"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    // No browser session: an error page, never a redirect (delegated access).
    html(&r, 400);
    assert!(!r.headers.contains_key("location"));
    // Userinfo without a token: RFC 6750's challenge.
    let r = send(
        &a.router,
        Request::get(format!("/z/{zone}/oauth/userinfo"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    oauth_error(&r, 401);
    assert_eq!(
        r.headers["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    let r = send(
        &a.router,
        Request::put(format!("/z/{zone}/oauth/authorize"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    html(&r, 405);
    let page_boom = keyzone_api::with_context(
        keyzone_api::pages::with_layers(Router::new().route("/z/{zone_id}/boom", get(boom))),
        a.state.clone(),
    );
    let r = send(
        &page_boom,
        Request::get("/z/x/boom").body(Body::empty()).unwrap(),
    )
    .await;
    html(&r, 500);
    assert!(!r.body.as_str().unwrap().contains("secret internal detail"));
    a.db.cleanup().await;
}
