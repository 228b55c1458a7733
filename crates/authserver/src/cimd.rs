//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document):
//! a client that names itself with an https URL, whose JSON document at
//! that URL is its registration.
//!
//! A URL `client_id` that is not a registered credential takes this path,
//! at the authorization endpoint and at the token endpoint. The zone's
//! `protocols.oauth2.cimd` decides first (`enabled`, then the
//! `allowed_client_ids` allowlist); then the document is fetched through
//! the SSRF-guarded outbound client and cached by its `Cache-Control`
//! (the [`DocumentCache`] rules: 5 s to 24 h, 5 minutes without a
//! header), validated with the rules DCR applies plus the draft's own
//! (§4.1: its `client_id` is the URL exactly, no shared secret), and
//! provisioned as a user agent whose identifier is the URL, so sessions,
//! consent and grants attribute to it. A changed document rewrites the
//! user agent the next time it is fetched.
//!
//! Redirect URIs match exactly, except that a loopback `http` redirect URI
//! may be used with any port (RFC 8252 §7.3): a published document is
//! static, so a native client cannot list the ephemeral port it listens on.
//!
//! The token endpoint does not fetch the document: a URL client redeems
//! its code or refreshes while the zone's rules still admit it and its user
//! agent exists (the document was valid when the person signed in, and the
//! code and refresh tokens are bound to the client id).

use crate::documents::DocumentCache;
use crate::signin::{AuthClient, ClientRefused};
use crate::token::{internal, TokenService};
use keyzone_core::outbound::FetchError;
use keyzone_core::StoreError;
use keyzone_domain::identity::UserAgent;
use keyzone_domain::zone::{cimd_allows, Zone};
use keyzone_domain::{Timestamp, UserAgentId};
use keyzone_oauth::registration::{normalize, validate};
use keyzone_oauth::{echo, OAuthError};
use serde_json::{Map, Value};

/// Longest client ID URL accepted.
pub const MAX_CLIENT_ID_LEN: usize = 2048;

/// The fetched documents, cached per URL by their `Cache-Control`.
pub(crate) struct CimdDocuments {
    docs: DocumentCache,
}

impl CimdDocuments {
    pub fn new(docs: DocumentCache) -> Self {
        Self { docs }
    }
}

/// Whether a `client_id` is URL-shaped (and so, unless it is a registered
/// credential, a client ID metadata document URL).
pub fn is_url_client_id(client_id: &str) -> bool {
    let head = client_id.get(..8).unwrap_or(client_id).to_ascii_lowercase();
    head.starts_with("https://") || head.starts_with("http://")
}

/// Draft §3: an https URL with a path, without dot segments, fragment or
/// user information. `Err` says which rule, in words for the error page.
pub fn check_client_id_url(id: &str) -> Result<(), &'static str> {
    if id.len() > MAX_CLIENT_ID_LEN {
        return Err("is longer than 2048 characters");
    }
    let Some(rest) = id.strip_prefix("https://") else {
        return Err("must use the https scheme");
    };
    if id
        .chars()
        .any(|c| !c.is_ascii() || c.is_ascii_control() || c == ' ')
    {
        return Err("must be printable ASCII without spaces");
    }
    if id.contains('#') {
        return Err("must not contain a fragment");
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.contains('@') {
        return Err("must not contain a user name or password");
    }
    if authority.is_empty() || authority.starts_with(':') {
        return Err("must name a host");
    }
    let path = rest[authority_end..].split('?').next().unwrap_or("");
    if path.is_empty() || path == "/" {
        return Err("must have a path (a bare origin cannot identify a client)");
    }
    let dot = |s: &str| {
        let s = s.to_ascii_lowercase().replace("%2e", ".");
        s == "." || s == ".."
    };
    if path.split('/').any(dot) {
        return Err("must not contain . or .. path segments");
    }
    match url::Url::parse(id) {
        Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        _ => Err("is not a valid URL"),
    }
}

/// The zone's allowlist: an exact URL, a one-label wildcard origin
/// (`https://*.example.com`) or `*` (client contract B.3).
pub fn allowed(allowlist: &[String], client_id: &str) -> bool {
    allowlist.iter().any(|entry| cimd_allows(entry, client_id))
}

/// Draft §4.1 and the DCR rules: the document as registered metadata
/// (nulls and empty strings removed), or why it is refused.
pub fn validate_document(client_id: &str, doc: &Value) -> Result<Map<String, Value>, String> {
    let m = normalize(doc).map_err(|e| e.description)?;
    match m.get("client_id") {
        Some(Value::String(id)) if id == client_id => {}
        Some(_) => {
            return Err(
                "its client_id is not exactly the URL it was fetched from (draft-ietf-oauth-client-id-metadata-document §4.1)"
                    .into(),
            )
        }
        None => return Err("it has no client_id".into()),
    }
    for field in ["client_secret", "client_secret_expires_at"] {
        if m.contains_key(field) {
            return Err(format!(
                "it contains {field}; a client metadata document must not carry a shared secret"
            ));
        }
    }
    match m.get("token_endpoint_auth_method") {
        None => {}
        Some(Value::String(s)) if s == "none" => {}
        Some(Value::String(s)) if s.starts_with("client_secret_") => {
            return Err(format!(
                "token_endpoint_auth_method {} needs a shared secret, which a client metadata document cannot have",
                echo(s)
            ))
        }
        Some(other) => {
            return Err(format!(
                "token_endpoint_auth_method {} is not supported for client metadata documents here; use \"none\" (public client with PKCE)",
                echo(&other.to_string())
            ))
        }
    }
    match m.get("redirect_uris").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => {}
        _ => return Err("it lists no redirect_uris".into()),
    }
    validate(&m).map_err(|e| e.description)?;
    Ok(m)
}

fn strings(m: &Map<String, Value>, key: &str) -> Vec<String> {
    m.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn host_of(client_id: &str) -> String {
    url::Url::parse(client_id)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

fn refused(title: &'static str, message: String) -> ClientRefused {
    ClientRefused { title, message }
}

impl TokenService {
    /// The zone's rules, before anything is fetched.
    fn cimd_rules(&self, zone: &Zone, client_id: &str) -> Result<(), ClientRefused> {
        if !zone.cimd.enabled {
            return Err(refused(
                "Client metadata documents are not accepted",
                format!(
                    "{} is a client ID metadata document URL, and this zone does not accept them \
                     (its protocols.oauth2.cimd.enabled setting is off).",
                    echo(client_id)
                ),
            ));
        }
        if let Err(why) = check_client_id_url(client_id) {
            return Err(refused(
                "Invalid client ID",
                format!(
                    "{} is not a usable client ID metadata document URL: it {why}.",
                    echo(client_id)
                ),
            ));
        }
        if !allowed(&zone.cimd.allowed_client_ids, client_id) {
            return Err(refused(
                "Application not allowed",
                format!(
                    "{} is not on this zone's list of allowed client ID metadata documents \
                     (protocols.oauth2.cimd.allowed_client_ids).",
                    echo(client_id)
                ),
            ));
        }
        Ok(())
    }

    /// The client of an authorization request that names itself by URL:
    /// the zone's rules, the fetched and validated document, its user agent.
    pub(crate) async fn cimd_client(
        &self,
        zone: &Zone,
        client_id: &str,
    ) -> Result<Result<AuthClient, ClientRefused>, OAuthError> {
        if let Err(r) = self.cimd_rules(zone, client_id) {
            return Ok(Err(r));
        }
        let doc = match self.cimd.docs.get(client_id).await {
            Ok(d) => d,
            Err(e) => {
                let why = match e {
                    FetchError::Refused(_) => "its address is one this server does not fetch from",
                    FetchError::Failed(_) => {
                        "it did not answer with a JSON document over https in time"
                    }
                };
                return Ok(Err(refused(
                    "Client metadata unavailable",
                    format!(
                        "The client metadata document at {} could not be fetched: {why}. Try again later.",
                        echo(client_id)
                    ),
                )));
            }
        };
        let m = match validate_document(client_id, &doc) {
            Ok(m) => m,
            Err(why) => {
                return Ok(Err(refused(
                    "Invalid client metadata",
                    format!(
                        "The client metadata document at {} is not acceptable: {why}.",
                        echo(client_id)
                    ),
                )))
            }
        };
        let ua = self.provision_cimd(zone, client_id, &m).await?;
        let host = host_of(client_id);
        let grants = strings(&m, "grant_types");
        Ok(Ok(AuthClient {
            client_id: client_id.to_owned(),
            // The draft's security considerations (client impersonation):
            // show where the document lives beside the name it claims.
            name: format!("{} ({host})", ua.name),
            redirect_uris: strings(&m, "redirect_uris"),
            post_logout_redirect_uris: strings(&m, "post_logout_redirect_uris"),
            public: true,
            // RFC 7591 §2: grant_types defaults to authorization_code.
            refresh: grants.iter().any(|g| g == "refresh_token"),
            loopback_any_port: true,
            user_agent_id: Some(ua.id),
            application_id: None,
        }))
    }

    /// The token endpoint's check of a URL client: the zone's rules still
    /// admit it and it signed someone in (its user agent exists).
    pub(crate) async fn cimd_token_client(
        &self,
        zone: &Zone,
        client_id: &str,
    ) -> Result<bool, OAuthError> {
        if self.cimd_rules(zone, client_id).is_err() {
            return Ok(false);
        }
        Ok(self
            .signin
            .user_agent_by_identifier(&zone.id, client_id)
            .await
            .map_err(|e| internal(e.into()))?
            .is_some())
    }

    /// The user agent of a document: created on first use, rewritten when
    /// the document changed.
    async fn provision_cimd(
        &self,
        zone: &Zone,
        client_id: &str,
        m: &Map<String, Value>,
    ) -> Result<UserAgent, OAuthError> {
        let name: String = m
            .get("client_name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| host_of(client_id))
            .chars()
            .take(255)
            .collect();
        let metadata = Value::Object(m.clone());
        let store = |e: StoreError| internal(e.into());
        let now = Timestamp::now();
        match self
            .signin
            .user_agent_by_identifier(&zone.id, client_id)
            .await
            .map_err(store)?
        {
            Some(ua) if ua.metadata.as_ref() == Some(&metadata) && ua.name == name => Ok(ua),
            Some(mut ua) => {
                ua.slug = keyzone_domain::validation::slugify(&name);
                ua.name = name;
                ua.metadata = Some(metadata);
                ua.updated_at = now;
                self.signin.update_user_agent(&ua).await.map_err(store)?;
                tracing::info!(zone = %zone.id, client_id, "client metadata document changed; user agent updated");
                Ok(ua)
            }
            None => {
                let ua = UserAgent {
                    id: UserAgentId::generate(),
                    zone_id: zone.id.clone(),
                    identifier: client_id.to_owned(),
                    slug: keyzone_domain::validation::slugify(&name),
                    name,
                    metadata: Some(metadata),
                    created_at: now,
                    updated_at: now,
                };
                match self.signin.insert_user_agent(&ua).await {
                    Ok(()) => Ok(ua),
                    // Provisioned by a concurrent request meanwhile.
                    Err(StoreError::Conflict(_)) => self
                        .signin
                        .user_agent_by_identifier(&zone.id, client_id)
                        .await
                        .map_err(store)?
                        .ok_or_else(OAuthError::server_error),
                    Err(e) => Err(store(e)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "https://app.example.com/oauth/client.json";

    #[test]
    fn allowlist_matching() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(allowed(&list(&["*"]), ID));
        assert!(allowed(&list(&[ID]), ID));
        assert!(allowed(&list(&["https://*.example.com"]), ID));
        assert!(allowed(
            &list(&["https://other.test/c.json", "https://*.example.com"]),
            ID
        ));
        assert!(!allowed(&list(&[]), ID));
        assert!(!allowed(&list(&["https://app.example.com/other.json"]), ID));
        // One label only, same scheme, same port, not the bare domain.
        assert!(!allowed(
            &list(&["https://*.example.com"]),
            "https://a.b.example.com/c.json"
        ));
        assert!(!allowed(
            &list(&["https://*.example.com"]),
            "https://example.com/c.json"
        ));
        assert!(!allowed(
            &list(&["https://*.example.com"]),
            "https://app.example.com:8443/c.json"
        ));
        assert!(!allowed(
            &list(&["https://*.example.com"]),
            "https://app.example.com.evil.test/c.json"
        ));
        assert!(!allowed(
            &list(&["https://*.example.com"]),
            "https://appexample.com/c.json"
        ));
        // Exact entries are exact: no prefix, no case folding.
        assert!(!allowed(&list(&["https://app.example.com/oauth"]), ID));
        assert!(!allowed(
            &list(&["https://APP.example.com/oauth/client.json"]),
            ID
        ));
    }

    #[test]
    fn client_id_urls() {
        assert_eq!(check_client_id_url(ID), Ok(()));
        assert_eq!(check_client_id_url("https://a.test:8443/c?x=1"), Ok(()));
        for (bad, rule) in [
            ("http://app.example.com/c.json", "https"),
            ("https://app.example.com", "path"),
            ("https://app.example.com/", "path"),
            ("https://app.example.com/a/../c.json", ". or .."),
            ("https://app.example.com/./c.json", ". or .."),
            ("https://app.example.com/%2E%2e/c.json", ". or .."),
            ("https://app.example.com/c.json#x", "fragment"),
            ("https://u:p@app.example.com/c.json", "user name"),
            ("https://app.example.com/c json", "ASCII"),
            ("https:///c.json", "host"),
            ("https://:443/c.json", "host"),
        ] {
            let why = check_client_id_url(bad).unwrap_err();
            assert!(why.contains(rule), "{bad}: {why}");
        }
        let long = format!("https://a.test/{}", "x".repeat(MAX_CLIENT_ID_LEN));
        assert!(check_client_id_url(&long).is_err());
        assert!(is_url_client_id(ID) && is_url_client_id("HTTP://x/y"));
        assert!(!is_url_client_id("ua:abc") && !is_url_client_id("my-app"));
    }

    #[test]
    fn documents() {
        let ok = json!({
            "client_id": ID,
            "client_name": "Example",
            "redirect_uris": ["http://127.0.0.1/callback", "https://app.example.com/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "logo_uri": null,
        });
        let m = validate_document(ID, &ok).unwrap();
        assert!(!m.contains_key("logo_uri"));
        let with = |k: &str, v: Value| {
            let mut d = ok.clone();
            d[k] = v;
            d
        };
        let without = |k: &str| {
            let mut d = ok.clone();
            d.as_object_mut().unwrap().remove(k);
            d
        };
        for (bad, why) in [
            (
                with("client_id", json!("https://app.example.com/other")),
                "client_id",
            ),
            (with("client_id", json!(format!("{ID}/"))), "client_id"),
            (without("client_id"), "client_id"),
            (with("client_secret", json!("s")), "client_secret"),
            (
                with("client_secret_expires_at", json!(0)),
                "client_secret_expires_at",
            ),
            (
                with("token_endpoint_auth_method", json!("client_secret_basic")),
                "shared secret",
            ),
            (
                with("token_endpoint_auth_method", json!("private_key_jwt")),
                "not supported",
            ),
            (without("redirect_uris"), "redirect_uris"),
            (with("redirect_uris", json!([])), "redirect_uris"),
            (
                with("redirect_uris", json!(["javascript:alert(1)"])),
                "redirect URI",
            ),
            (
                with("redirect_uris", json!(["http://evil.example/cb"])),
                "redirect URI",
            ),
            (
                with("client_name", json!("<script>x</script>")),
                "client_name",
            ),
            (
                with("grant_types", json!(["client_credentials"])),
                "grant_types",
            ),
            (json!(["not", "an", "object"]), "JSON object"),
        ] {
            let got = validate_document(ID, &bad).unwrap_err();
            assert!(got.contains(why), "{bad}: {got}");
        }
    }
}
