//! The zone's token endpoint (RFC 6749 §3.2): client authentication and the
//! grants, producing RFC 9068 JWT access tokens signed with the zone's key.
//!
//! This release implements `client_credentials` and token exchange
//! (RFC 8693, with zone-issued subject tokens) with client secrets
//! (`client_secret_basic`, `client_secret_post`) or, for token exchange, no
//! client authentication. The other grants and client authentication
//! methods answer with a precise OAuth error until they are built.

use crate::cache::TtlCache;
use crate::directory::Directory;
use crate::signing::SigningKeys;
use crate::store::{DirectoryStore, RevocationStore, SecretFilter, SecretStore, ZoneStore};
use crate::vault::Vault;
use crate::{CoreError, Secrets};
use keyzone_domain::directory::{Credential, CredentialKind, ProviderType, Resource};
use keyzone_domain::secret::SecretData;
use keyzone_domain::urls::IssuerLayout;
use keyzone_domain::zone::Zone;
use keyzone_domain::{Timestamp, ZoneId};
use keyzone_oauth::claims::{AccessTokenClaims, TokenResponse};
use keyzone_oauth::client_auth::ClientAuth;
use keyzone_oauth::request::{self as req, Form};
use keyzone_oauth::{ErrorCode, OAuthError};
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// Keycard's impersonation subject token: an unsigned JWT naming a user.
pub const TOKEN_TYPE_SUBSTITUTE_USER: &str = "urn:keycard:params:oauth:token-type:substitute-user";

/// The user a substitute-user token names. The token is `alg: none` by
/// design (`base64url(header).base64url({"sub": …}).`); it is parsed, never
/// trusted.
fn substitute_user(token: &str) -> Result<String, OAuthError> {
    use base64::Engine;
    let bad = || OAuthError::invalid_request("the substitute-user subject token is malformed");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let (Some(h), Some(p)) = (parts.next(), parts.next()) else {
        return Err(bad());
    };
    if token.len() > 8192 {
        return Err(bad());
    }
    let header: serde_json::Value =
        serde_json::from_slice(&b64.decode(h).map_err(|_| bad())?).map_err(|_| bad())?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("none") {
        return Err(bad());
    }
    let payload: serde_json::Value =
        serde_json::from_slice(&b64.decode(p).map_err(|_| bad())?).map_err(|_| bad())?;
    payload
        .get("sub")
        .and_then(|s| s.as_str())
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .map(str::to_owned)
        .ok_or_else(bad)
}

/// Token lifetime when the resource sets none.
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 3600;

/// How long the token endpoint trusts a looked-up zone, client, resource or
/// provider: changes through any node take effect within this time.
pub const LOOKUP_TTL: std::time::Duration = std::time::Duration::from_secs(1);
const CACHE_ENTRIES: usize = 10_000;

type ClientEntry = Option<(Credential, Option<Vec<u8>>)>;

pub struct TokenService {
    zone_cache: TtlCache<String, Option<Arc<Zone>>>,
    client_cache: TtlCache<(ZoneId, String), ClientEntry>,
    resource_cache: TtlCache<(ZoneId, String), Option<Resource>>,
    provider_cache: TtlCache<(ZoneId, keyzone_domain::ProviderId), Option<ProviderType>>,
    dependency_cache: TtlCache<
        (
            ZoneId,
            keyzone_domain::ApplicationId,
            keyzone_domain::ResourceId,
        ),
        Option<crate::store::DependencyRecord>,
    >,
    zones: Arc<dyn ZoneStore>,
    revocations: Arc<dyn RevocationStore>,
    directory_store: Arc<dyn DirectoryStore>,
    secret_store: Arc<dyn SecretStore>,
    directory: Arc<Directory>,
    secrets: Arc<Secrets>,
    signing: Arc<SigningKeys>,
    vault: Arc<Vault>,
    layout: IssuerLayout,
}

fn internal(e: CoreError) -> OAuthError {
    match e {
        CoreError::KeyUnavailable(m) => {
            tracing::error!(error = %m, "token endpoint: key unavailable");
            OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "the zone's keys are unavailable; try again later",
            )
        }
        other => {
            tracing::error!(error = %other, source = ?std::error::Error::source(&other), "token endpoint failed");
            OAuthError::server_error()
        }
    }
}

/// Who a signed token is about and for.
struct Issued {
    sub: String,
    /// `user` or `app`.
    sub_profile: &'static str,
    client_id: String,
    app_id: String,
    act: Option<serde_json::Value>,
    /// The token may not outlive this (epoch seconds).
    not_after: Option<u64>,
}

/// RFC 6749 §3.3: only scopes the requested resources define.
fn check_scopes(resources: &[Resource], scopes: &[String]) -> Result<(), OAuthError> {
    for s in scopes {
        let allowed = resources
            .iter()
            .any(|r| r.scopes.as_ref().is_some_and(|rs| rs.contains(s)));
        if !allowed {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("scope {s:?} is not defined by the requested resource"),
            ));
        }
    }
    Ok(())
}

fn external_provider() -> OAuthError {
    OAuthError::new(
        ErrorCode::AccessDenied,
        "this resource's tokens come from an external provider through a user's delegated \
         grant; delegated grants are not available in this version of Keyzone",
    )
}

/// The authenticated client of a request.
struct Client {
    credential: Credential,
}

impl TokenService {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        zones: Arc<dyn ZoneStore>,
        revocations: Arc<dyn RevocationStore>,
        directory_store: Arc<dyn DirectoryStore>,
        secret_store: Arc<dyn SecretStore>,
        directory: Arc<Directory>,
        secrets: Arc<Secrets>,
        signing: Arc<SigningKeys>,
        vault: Arc<Vault>,
        layout: IssuerLayout,
    ) -> Self {
        Self {
            zone_cache: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            client_cache: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            resource_cache: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            provider_cache: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            dependency_cache: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            zones,
            revocations,
            directory_store,
            secret_store,
            directory,
            secrets,
            signing,
            vault,
            layout,
        }
    }

    /// The zone of a public endpoint, or `None` (a 404). Cached briefly.
    pub async fn zone(&self, id: &str) -> Result<Option<Arc<Zone>>, OAuthError> {
        if let Some(z) = self.zone_cache.get(&id.to_owned()) {
            return Ok(z);
        }
        let Ok(zone_id) = ZoneId::parse(id) else {
            return Ok(None);
        };
        let z = self
            .zones
            .get_zone_by_id(&zone_id)
            .await
            .map_err(|e| internal(e.into()))?
            .map(Arc::new);
        self.zone_cache.put(id.to_owned(), z.clone());
        Ok(z)
    }

    async fn client(&self, zone: &ZoneId, client_id: &str) -> Result<ClientEntry, OAuthError> {
        let key = (zone.clone(), client_id.to_owned());
        if let Some(c) = self.client_cache.get(&key) {
            return Ok(c);
        }
        let c = self
            .directory_store
            .credential_by_client_id(zone, client_id)
            .await
            .map_err(|e| internal(e.into()))?;
        self.client_cache.put(key, c.clone());
        Ok(c)
    }

    async fn resolve(&self, zone: &ZoneId, url: &str) -> Result<Option<Resource>, OAuthError> {
        let key = (zone.clone(), url.to_owned());
        if let Some(r) = self.resource_cache.get(&key) {
            return Ok(r);
        }
        let r = self
            .directory
            .resolve_resource(zone, url)
            .await
            .map_err(internal)?;
        self.resource_cache.put(key, r.clone());
        Ok(r)
    }

    pub fn layout(&self) -> &IssuerLayout {
        &self.layout
    }

    /// Handles a token request for `zone`.
    pub async fn token(
        &self,
        zone: &Zone,
        auth: ClientAuth,
        form: &Form,
    ) -> Result<TokenResponse, OAuthError> {
        let grant = form.required("grant_type")?;
        match grant {
            req::GRANT_CLIENT_CREDENTIALS => self.client_credentials(zone, auth, form).await,
            req::GRANT_TOKEN_EXCHANGE => self.token_exchange(zone, auth, form).await,
            req::GRANT_AUTHORIZATION_CODE | req::GRANT_REFRESH_TOKEN => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("the {grant} grant is not available in this version of Keyzone"),
            )),
            other => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("unsupported grant_type {other:?}"),
            )),
        }
    }

    /// A token this zone issued, still valid and not revoked: its claims.
    async fn live_token(
        &self,
        zone: &Zone,
        token: &str,
    ) -> Result<Option<serde_json::Value>, OAuthError> {
        let ring = self.signing.key_ring(&zone.id).await.map_err(internal)?;
        let Some(claims) = ring.verify(token) else {
            return Ok(None);
        };
        let now = (Timestamp::now().as_micros() / 1_000_000) as u64;
        let issuer = self.layout.issuer(&zone.id);
        let valid = claims.get("iss").and_then(|v| v.as_str()) == Some(issuer.as_str())
            && claims
                .get("exp")
                .and_then(|v| v.as_u64())
                .is_some_and(|e| e > now);
        if !valid {
            return Ok(None);
        }
        let Some(jti) = claims.get("jti").and_then(|v| v.as_str()) else {
            return Ok(None);
        };
        if self
            .revocations
            .is_token_revoked(&zone.id, jti)
            .await
            .map_err(|e| internal(e.into()))?
        {
            return Ok(None);
        }
        Ok(Some(claims))
    }

    /// Token introspection (RFC 7662) for an authenticated application of
    /// the zone: `{"active": false}` for anything not live.
    pub async fn introspect(
        &self,
        zone: &Zone,
        auth: ClientAuth,
        form: &Form,
    ) -> Result<serde_json::Value, OAuthError> {
        self.authenticate(zone, auth).await?;
        let token = form.required("token")?;
        Ok(match self.live_token(zone, token).await? {
            Some(mut claims) => {
                claims["active"] = serde_json::json!(true);
                claims["token_type"] = serde_json::json!("Bearer");
                claims
            }
            None => serde_json::json!({ "active": false }),
        })
    }

    /// Token revocation (RFC 7009): only the client a token was issued to
    /// may revoke it; an unknown or dead token is not an error (§2.2).
    pub async fn revoke(
        &self,
        zone: &Zone,
        auth: ClientAuth,
        form: &Form,
    ) -> Result<(), OAuthError> {
        let client = self.authenticate(zone, auth).await?;
        let token = form.required("token")?;
        let Some(claims) = self.live_token(zone, token).await? else {
            return Ok(());
        };
        if claims.get("client_id").and_then(|v| v.as_str())
            != Some(client.credential.identifier.as_str())
        {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this token was not issued to the authenticated client",
            ));
        }
        let jti = claims
            .get("jti")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let exp = claims.get("exp").and_then(|v| v.as_u64()).unwrap_or(0);
        self.revocations
            .revoke_token(
                &zone.id,
                jti,
                Timestamp::from_micros(exp as i64 * 1_000_000),
            )
            .await
            .map_err(|e| internal(e.into()))
    }

    /// `client_secret_basic` / `client_secret_post`: the secret's keyed
    /// digest is compared in constant time. Unknown clients and wrong
    /// secrets get the same answer.
    async fn authenticate(&self, zone: &Zone, auth: ClientAuth) -> Result<Client, OAuthError> {
        let denied = || OAuthError::invalid_client("client authentication failed");
        match auth {
            ClientAuth::Secret { client_id, secret } => {
                let found = self.client(&zone.id, &client_id).await?;
                let given = self
                    .vault
                    .credential_digest(&zone.id, secret.as_bytes())
                    .await
                    .map_err(internal)?;
                match found {
                    Some((credential, Some(stored)))
                        if credential.kind == CredentialKind::Password
                            && bool::from(stored.as_slice().ct_eq(&given)) =>
                    {
                        Ok(Client { credential })
                    }
                    _ => Err(denied()),
                }
            }
            ClientAuth::Assertion { .. } => Err(OAuthError::invalid_client(
                "client assertions (private_key_jwt, workload identity) are not available in this version of Keyzone",
            )),
            ClientAuth::None { .. } => Err(OAuthError::invalid_client(
                "this grant needs client authentication (client_secret_basic or client_secret_post)",
            )),
        }
    }

    /// RFC 8707: each requested resource must resolve to a resource of the
    /// zone (exact identifier, else the longest prefix resource); with none
    /// requested, the zone's default resource.
    async fn resources(&self, zone: &Zone, form: &Form) -> Result<Vec<Resource>, OAuthError> {
        let requested = form.resources();
        let mut out: Vec<Resource> = Vec::new();
        if requested.is_empty() {
            let Some(default) = &zone.default_resource_id else {
                return Err(OAuthError::invalid_request(
                    "the resource parameter is required (the zone has no default resource)",
                ));
            };
            let id = keyzone_domain::ResourceId::parse(default)
                .map_err(|_| OAuthError::server_error())?;
            let r = self
                .directory_store
                .get_resource(&zone.id, &id)
                .await
                .map_err(|e| internal(e.into()))?
                .ok_or_else(OAuthError::server_error)?;
            out.push(r);
            return Ok(out);
        }
        for url in &requested {
            let r = self.resolve(&zone.id, url).await?.ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::InvalidTarget,
                    format!("{url} is not a resource of this zone"),
                )
            })?;
            if !out.iter().any(|o| o.id == r.id) {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn client_credentials(
        &self,
        zone: &Zone,
        auth: ClientAuth,
        form: &Form,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate(zone, auth).await?;
        let resources = self.resources(zone, form).await?;
        let scopes = form.scopes()?;
        check_scopes(&resources, &scopes)?;
        match self.provider_kind(zone, &resources).await? {
            ProviderType::KeycardSts => {
                let app = client.credential.application_id.to_string();
                let issued = Issued {
                    sub: app.clone(),
                    sub_profile: "app",
                    client_id: client.credential.identifier.clone(),
                    app_id: app,
                    act: None,
                    not_after: None,
                };
                self.sign(zone, issued, &resources, &scopes).await
            }
            ProviderType::KeycardVault => self.vault_token(zone, &resources, &scopes).await,
            ProviderType::External => Err(external_provider()),
        }
    }

    /// Which provider issues tokens for these resources; they must agree.
    async fn provider_kind(
        &self,
        zone: &Zone,
        resources: &[Resource],
    ) -> Result<ProviderType, OAuthError> {
        let mut kind = None;
        for r in resources {
            let k = match &r.credential_provider_id {
                // No provider configured: the zone's own token service.
                None => ProviderType::KeycardSts,
                Some(p) => {
                    let key = (zone.id.clone(), p.clone());
                    let kind = match self.provider_cache.get(&key) {
                        Some(k) => k,
                        None => {
                            let k = self
                                .directory_store
                                .get_provider(&zone.id, p)
                                .await
                                .map_err(|e| internal(e.into()))?
                                .map(|p| p.kind);
                            self.provider_cache.put(key, k);
                            k
                        }
                    };
                    kind.ok_or_else(OAuthError::server_error)?
                }
            };
            match kind {
                None => kind = Some(k),
                Some(prev) if prev != k => {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidTarget,
                        "the requested resources are served by different credential providers; request them separately",
                    ))
                }
                _ => {}
            }
        }
        kind.ok_or_else(|| OAuthError::invalid_request("no resource"))
    }

    fn lifetime(resources: &[Resource]) -> u64 {
        resources
            .iter()
            .filter_map(|r| r.credential_lifetime_seconds.map(u64::from))
            .min()
            .unwrap_or(DEFAULT_TOKEN_LIFETIME_SECS)
    }

    /// RFC 8693 token exchange: a token for the requested resource, for the
    /// subject of `subject_token`, obtained by an application that depends
    /// on that resource.
    async fn token_exchange(
        &self,
        zone: &Zone,
        auth: ClientAuth,
        form: &Form,
    ) -> Result<TokenResponse, OAuthError> {
        let subject_token = form.required("subject_token")?;
        let subject_type = form.required("subject_token_type")?;
        let subject = match subject_type {
            TOKEN_TYPE_ACCESS_TOKEN | TOKEN_TYPE_JWT => {
                // RFC 8693 §2.2.2: an invalid subject token is invalid_request.
                self.live_token(zone, subject_token).await?.ok_or_else(|| {
                    OAuthError::invalid_request(
                        "the subject token is not a live access token of this zone",
                    )
                })?
            }
            TOKEN_TYPE_SUBSTITUTE_USER => {
                // Parsed only to refuse it precisely: impersonation needs a
                // policy that allows it, and the user's delegated grant.
                let user = substitute_user(subject_token)?;
                return Err(OAuthError::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "impersonation of {user:?} is not allowed: an administrator must allow it by \
                         policy and the user must hold a delegated grant (policies are not available \
                         in this version of Keyzone)"
                    ),
                ));
            }
            other => {
                return Err(OAuthError::invalid_request(format!(
                    "unsupported subject_token_type {other:?}"
                )))
            }
        };
        let actor = match form.one("actor_token")? {
            None => None,
            Some(t) => Some(self.live_token(zone, t).await?.ok_or_else(|| {
                OAuthError::invalid_request(
                    "the actor token is not a live access token of this zone",
                )
            })?),
        };
        // The subject token's audience, as resources of the zone.
        let subject_aud: Vec<String> = match &subject["aud"] {
            serde_json::Value::String(a) => vec![a.clone()],
            serde_json::Value::Array(v) => v
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => vec![],
        };
        let mut subject_resources = Vec::new();
        for a in &subject_aud {
            if let Some(r) = self.resolve(&zone.id, a).await? {
                subject_resources.push(r);
            }
        }
        // Who exchanges: the authenticated client, or (no client
        // authentication, as the official MCP servers send it) the
        // application providing the resource the subject token was for.
        let (app_id, client_id) = match auth {
            ClientAuth::None { client_id: None } => {
                let app = subject_resources
                    .iter()
                    .find_map(|r| r.application_id.clone())
                    .ok_or_else(|| {
                        OAuthError::invalid_client(
                            "no client authentication, and no application provides the resource the \
                             subject token was issued for",
                        )
                    })?;
                (app.clone(), app.to_string())
            }
            other => {
                let c = self.authenticate(zone, other).await?;
                (
                    c.credential.application_id.clone(),
                    c.credential.identifier.clone(),
                )
            }
        };
        let resources = self.resources(zone, form).await?;
        for r in &resources {
            let key = (zone.id.clone(), app_id.clone(), r.id.clone());
            let dep = match self.dependency_cache.get(&key) {
                Some(d) => d,
                None => {
                    let d = self
                        .directory_store
                        .get_dependency(&zone.id, &app_id, &r.id)
                        .await
                        .map_err(|e| internal(e.into()))?;
                    self.dependency_cache.put(key, d.clone());
                    d
                }
            };
            let dep = dep.ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "application {app_id} does not depend on {}; add the dependency \
                             (PUT /zones/{}/applications/{app_id}/dependencies/{})",
                        r.identifier, zone.id, r.id
                    ),
                )
            })?;
            if !dep.when_accessing.is_empty()
                && !subject_resources
                    .iter()
                    .any(|s| dep.when_accessing.contains(&s.id))
            {
                return Err(OAuthError::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "application {app_id} may obtain tokens for {} only when the subject token was \
                         issued for one of its when_accessing resources",
                        r.identifier
                    ),
                ));
            }
        }
        let scopes = form.scopes()?;
        check_scopes(&resources, &scopes)?;
        match self.provider_kind(zone, &resources).await? {
            ProviderType::KeycardSts => {}
            ProviderType::KeycardVault => {
                let mut t = self.vault_token(zone, &resources, &scopes).await?;
                t.issued_token_type = Some(TOKEN_TYPE_ACCESS_TOKEN);
                return Ok(t);
            }
            ProviderType::External => return Err(external_provider()),
        }
        // RFC 8693 §4.1: the current actor, with the prior chain nested.
        let mut act = serde_json::json!({ "sub": app_id.to_string() });
        if let Some(a) = &actor {
            act["sub"] = a["sub"].clone();
        }
        if let Some(prior) = subject.get("act") {
            act["act"] = prior.clone();
        }
        let issued = Issued {
            sub: subject["sub"].as_str().unwrap_or_default().to_owned(),
            sub_profile: if subject["sub_profile"] == "user" {
                "user"
            } else {
                "app"
            },
            client_id,
            app_id: app_id.to_string(),
            act: Some(act),
            // An exchanged token never outlives its subject token.
            not_after: subject["exp"].as_u64(),
        };
        let mut t = self.sign(zone, issued, &resources, &scopes).await?;
        t.issued_token_type = Some(TOKEN_TYPE_ACCESS_TOKEN);
        Ok(t)
    }

    /// An RFC 9068 access token signed with the zone's current key: the
    /// key ring is cached, so this does no I/O in the steady state.
    async fn sign(
        &self,
        zone: &Zone,
        issued: Issued,
        resources: &[Resource],
        scopes: &[String],
    ) -> Result<TokenResponse, OAuthError> {
        let ring = self.signing.key_ring(&zone.id).await.map_err(internal)?;
        let now = (Timestamp::now().as_micros() / 1_000_000) as u64;
        let mut exp = now + Self::lifetime(resources);
        if let Some(limit) = issued.not_after {
            exp = exp.min(limit);
        }
        let audience: Vec<String> = resources.iter().map(|r| r.identifier.clone()).collect();
        let scope = (!scopes.is_empty()).then(|| scopes.join(" "));
        let claims = AccessTokenClaims {
            iss: self.layout.issuer(&zone.id),
            sub: issued.sub,
            resource: (audience.len() == 1).then(|| audience[0].clone()),
            aud: audience,
            exp,
            iat: now,
            jti: keyzone_domain::id::random_id(),
            client_id: issued.client_id,
            scope: scope.clone(),
            sub_profile: issued.sub_profile,
            keycard_app_id: Some(issued.app_id),
            act: issued.act,
        };
        let body = serde_json::to_vec(&claims).map_err(|_| OAuthError::server_error())?;
        Ok(TokenResponse {
            access_token: keyzone_crypto::jwt::sign_parts(
                &ring.current,
                &ring.access_token_header,
                &body,
            ),
            token_type: "Bearer",
            expires_in: exp.saturating_sub(now),
            scope,
            issued_token_type: None,
        })
    }

    async fn vault_token(
        &self,
        zone: &Zone,
        resources: &[Resource],
        scopes: &[String],
    ) -> Result<TokenResponse, OAuthError> {
        let [resource] = resources else {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "request vault-backed resources one at a time",
            ));
        };
        let records = self
            .secret_store
            .list_secrets(
                &zone.id,
                &SecretFilter {
                    entity_id: Some(resource.id.to_string()),
                    kind: None,
                },
            )
            .await
            .map_err(|e| internal(e.into()))?;
        let Some(record) = records.last() else {
            return Err(OAuthError::new(
                ErrorCode::AccessDenied,
                format!(
                    "no secret is stored in the zone's vault for resource {}",
                    resource.identifier
                ),
            ));
        };
        let stored = self
            .secret_store
            .get_secret(&zone.id, &record.id)
            .await
            .map_err(|e| internal(e.into()))?
            .ok_or_else(OAuthError::server_error)?;
        match self.secrets.open(&stored).await.map_err(internal)? {
            SecretData::Token { token } => Ok(TokenResponse {
                access_token: token,
                token_type: "Bearer",
                expires_in: Self::lifetime(resources),
                scope: (!scopes.is_empty()).then(|| scopes.join(" ")),
                issued_token_type: None,
            }),
            SecretData::Password { .. } => Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "the vault secret for this resource is a password, not a token",
            )),
        }
    }
}
