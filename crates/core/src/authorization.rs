//! The zone's token endpoint (RFC 6749 §3.2): client authentication and the
//! grants, producing RFC 9068 JWT access tokens signed with the zone's key.
//!
//! This release implements `client_credentials` and token exchange
//! (RFC 8693, with zone-issued subject tokens). Clients authenticate with a
//! secret (`client_secret_basic`, `client_secret_post`), a JWT assertion
//! (`private_key_jwt`, URL client identities, workload identity; see
//! [`crate::client_assertion`]) or, for token exchange, not at all. The
//! other grants answer with a precise OAuth error until they are built.

use crate::cache::TtlCache;
use crate::client_assertion::{
    Assertion, AssertionKeys, KeySource, LEEWAY_SECS, MAX_SELF_SIGNED_LIFETIME_SECS,
};
use crate::directory::Directory;
use crate::outbound::{DocumentCache, Fetcher};
use crate::signing::SigningKeys;
use crate::store::{
    DirectoryStore, IdentityStore, RevocationStore, SecretFilter, SecretStore, ZoneStore,
};
use crate::vault::Vault;
use crate::{CoreError, Secrets};
use keyzone_domain::directory::{Credential, CredentialKind, Provider, ProviderType, Resource};
use keyzone_domain::identity::{Session, SessionKind};
use keyzone_domain::secret::SecretData;
use keyzone_domain::urls::IssuerLayout;
use keyzone_domain::zone::Zone;
use keyzone_domain::{ApplicationId, ProviderId, Timestamp, ZoneId};
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

fn now_secs() -> u64 {
    (Timestamp::now().as_micros() / 1_000_000) as u64
}

/// Token lifetime when the resource sets none.
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 3600;

/// How long the token endpoint trusts a looked-up zone, client, resource or
/// provider: changes through any node take effect within this time.
pub const LOOKUP_TTL: std::time::Duration = std::time::Duration::from_secs(1);
const CACHE_ENTRIES: usize = 10_000;
/// A workload's application session is written at most once per this
/// interval per node, not on every token request.
pub const SESSION_RECORD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

type ClientEntry = Option<(Credential, Option<Vec<u8>>)>;

pub struct TokenService {
    zone_cache: TtlCache<String, Option<Arc<Zone>>>,
    client_cache: TtlCache<(ZoneId, String), ClientEntry>,
    resource_cache: TtlCache<(ZoneId, String), Option<Resource>>,
    provider_cache: TtlCache<(ZoneId, ProviderId), Option<Arc<Provider>>>,
    token_credential_cache: TtlCache<(ZoneId, String), Arc<Vec<Credential>>>,
    sessions_recorded: TtlCache<(ZoneId, ApplicationId, ProviderId, String), ()>,
    assertion_keys: AssertionKeys,
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
    identity_store: Arc<dyn IdentityStore>,
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
    application_id: ApplicationId,
    /// What the issued token's `client_id` claim says.
    client_id: String,
}

impl Client {
    fn of(credential: &Credential) -> Self {
        Self {
            application_id: credential.application_id.clone(),
            client_id: credential.identifier.clone(),
        }
    }
}

/// The stores the token endpoint reads and writes (one database).
pub trait TokenStores:
    ZoneStore + RevocationStore + DirectoryStore + SecretStore + IdentityStore + 'static
{
}
impl<T: ZoneStore + RevocationStore + DirectoryStore + SecretStore + IdentityStore + 'static>
    TokenStores for T
{
}

impl TokenService {
    #[allow(clippy::too_many_arguments)]
    pub fn new<S: TokenStores>(
        store: Arc<S>,
        directory: Arc<Directory>,
        secrets: Arc<Secrets>,
        signing: Arc<SigningKeys>,
        vault: Arc<Vault>,
        fetcher: Arc<dyn Fetcher>,
        layout: IssuerLayout,
    ) -> Self {
        Self {
            zone_cache: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            client_cache: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            resource_cache: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            provider_cache: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            token_credential_cache: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            sessions_recorded: TtlCache::new(SESSION_RECORD_INTERVAL, CACHE_ENTRIES),
            assertion_keys: AssertionKeys::new(DocumentCache::new(fetcher)),
            dependency_cache: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            zones: store.clone(),
            revocations: store.clone(),
            directory_store: store.clone(),
            secret_store: store.clone(),
            identity_store: store,
            directory,
            secrets,
            signing,
            vault,
            layout,
        }
    }

    /// The zone of a public endpoint, or `None` (a 404). Cached briefly.
    pub async fn zone(&self, id: &str) -> Result<Option<Arc<Zone>>, OAuthError> {
        // A malformed id names no zone; it is answered without the cache.
        let Ok(zone_id) = ZoneId::parse(id) else {
            return Ok(None);
        };
        self.zone_cache
            .get_or_load(id.to_owned(), || async {
                Ok(self
                    .zones
                    .get_zone_by_id(&zone_id)
                    .await
                    .map_err(|e| internal(e.into()))?
                    .map(Arc::new))
            })
            .await
    }

    async fn client(&self, zone: &ZoneId, client_id: &str) -> Result<ClientEntry, OAuthError> {
        self.client_cache
            .get_or_load((zone.clone(), client_id.to_owned()), || async {
                self.directory_store
                    .credential_by_client_id(zone, client_id)
                    .await
                    .map_err(|e| internal(e.into()))
            })
            .await
    }

    async fn resolve(&self, zone: &ZoneId, url: &str) -> Result<Option<Resource>, OAuthError> {
        self.resource_cache
            .get_or_load((zone.clone(), url.to_owned()), || async {
                self.directory
                    .resolve_resource(zone, url)
                    .await
                    .map_err(internal)
            })
            .await
    }

    async fn provider(
        &self,
        zone: &ZoneId,
        id: &ProviderId,
    ) -> Result<Option<Arc<Provider>>, OAuthError> {
        self.provider_cache
            .get_or_load((zone.clone(), id.clone()), || async {
                Ok(self
                    .directory_store
                    .get_provider(zone, id)
                    .await
                    .map_err(|e| internal(e.into()))?
                    .map(Arc::new))
            })
            .await
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
        if claims.get("client_id").and_then(|v| v.as_str()) != Some(client.client_id.as_str()) {
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
        match auth {
            ClientAuth::Secret {
                client_id,
                secret,
                decoded,
            } => {
                if let Some(c) = self.check_secret(zone, &client_id, &secret).await? {
                    return Ok(c);
                }
                // RFC 6749 §2.3.1: a strict client form-urlencoded the pair.
                if let Some((id, secret)) = decoded {
                    if let Some(c) = self.check_secret(zone, &id, &secret).await? {
                        return Ok(c);
                    }
                }
                Err(OAuthError::invalid_client("client authentication failed"))
            }
            ClientAuth::Assertion {
                client_id,
                assertion,
            } => {
                self.authenticate_assertion(zone, client_id.as_deref(), &assertion)
                    .await
            }
            ClientAuth::None { .. } => Err(OAuthError::invalid_client(
                "this grant needs client authentication (client_secret_basic, client_secret_post, \
                 private_key_jwt or a workload identity assertion)",
            )),
        }
    }

    async fn check_secret(
        &self,
        zone: &Zone,
        client_id: &str,
        secret: &str,
    ) -> Result<Option<Client>, OAuthError> {
        let found = self.client(&zone.id, client_id).await?;
        // The digest is computed even for an unknown client, so both take
        // the same time.
        let given = self
            .vault
            .credential_digest(&zone.id, secret.as_bytes())
            .await
            .map_err(internal)?;
        Ok(match found {
            Some((credential, Some(stored)))
                if credential.kind == CredentialKind::Password
                    && bool::from(stored.as_slice().ct_eq(&given)) =>
            {
                Some(Client::of(&credential))
            }
            _ => None,
        })
    }

    /// RFC 7523 client assertions. Who an assertion stands for:
    /// - `iss` = `sub` naming a `public-key` credential (`private_key_jwt`,
    ///   keys from its `jwks_uri`) or a `url` credential (keys named by the
    ///   document at that URL);
    /// - `iss` = `sub` = an unregistered URL that is the RFC 9728 protected
    ///   resource metadata URL of a zone resource (what the official SDK's
    ///   WebIdentity sends): the application providing that resource, keys
    ///   named by that document — whoever serves the resource's metadata
    ///   speaks for it;
    /// - otherwise workload identity: a `token` credential whose provider's
    ///   issuer is `iss` and whose subject is `sub` (or `*`), narrowed by
    ///   `client_id` (the credential's or its application's id) when given.
    ///
    /// Self-signed assertions are single-use (`jti`); workload tokens are
    /// bearer tokens the platform reuses, so they are not.
    async fn authenticate_assertion(
        &self,
        zone: &Zone,
        client_id: Option<&str>,
        token: &str,
    ) -> Result<Client, OAuthError> {
        let a = Assertion::parse(token)?;
        let now = now_secs();
        a.check_times(now)?;
        let claim = |name: &str| {
            a.claim(name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    OAuthError::invalid_client(format!("the client assertion has no {name} claim"))
                })
        };
        let (iss, sub) = (claim("iss")?, claim("sub")?);
        let issuer = self.layout.issuer(&zone.id);
        let token_endpoint = format!("{issuer}{}", keyzone_domain::urls::paths::TOKEN);
        let issuer_slash = format!("{issuer}/");
        a.check_audience(&[
            token_endpoint.as_str(),
            issuer.as_str(),
            issuer_slash.as_str(),
        ])?;
        if iss == sub && client_id.is_none_or(|c| c == iss) {
            if let Some(client) = self.self_signed_client(zone, &a, &iss, now).await? {
                return Ok(client);
            }
        }
        self.workload_client(zone, &a, client_id, &iss, &sub).await
    }

    async fn self_signed_client(
        &self,
        zone: &Zone,
        a: &Assertion,
        id: &str,
        now: u64,
    ) -> Result<Option<Client>, OAuthError> {
        let (client, keys) = match self.client(&zone.id, id).await? {
            Some((c, _)) => match &c.kind {
                CredentialKind::PublicKey { jwks_uri } => {
                    (Client::of(&c), KeySource::Uri(jwks_uri.clone()))
                }
                CredentialKind::Url => (Client::of(&c), KeySource::Document(id.to_owned())),
                _ => {
                    return Err(OAuthError::invalid_client(
                        "this client does not authenticate with a client assertion",
                    ))
                }
            },
            None => match self.protected_resource_application(zone, id).await? {
                Some(application_id) => (
                    Client {
                        application_id,
                        client_id: id.to_owned(),
                    },
                    KeySource::Document(id.to_owned()),
                ),
                None => return Ok(None),
            },
        };
        let exp = a.exp().unwrap_or_default();
        if exp > now + MAX_SELF_SIGNED_LIFETIME_SECS {
            return Err(OAuthError::invalid_client(
                "a private_key_jwt client assertion may be valid for at most one hour",
            ));
        }
        let jti = a
            .claim("jti")
            .filter(|j| !j.is_empty() && j.len() <= 255)
            .ok_or_else(|| {
                OAuthError::invalid_client("the client assertion needs a jti (RFC 7523 §3)")
            })?;
        self.assertion_keys.verify(a, &keys).await?;
        let first_use = self
            .revocations
            .consume_assertion_jti(
                &zone.id,
                &client.client_id,
                jti,
                Timestamp::from_micros(((exp + LEEWAY_SECS) * 1_000_000) as i64),
                Timestamp::now(),
            )
            .await
            .map_err(|e| internal(e.into()))?;
        if !first_use {
            return Err(OAuthError::invalid_client(
                "this client assertion was already used; each jti is accepted once",
            ));
        }
        Ok(Some(client))
    }

    /// The application providing the resource whose RFC 9728 metadata is
    /// at `url` (`{origin}/.well-known/oauth-protected-resource{path}` for
    /// the resource `{origin}{path}`).
    async fn protected_resource_application(
        &self,
        zone: &Zone,
        url: &str,
    ) -> Result<Option<ApplicationId>, OAuthError> {
        const PRM: &str = "/.well-known/oauth-protected-resource";
        let Some(rest) = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
        else {
            return Ok(None);
        };
        let Some(slash) = rest.find('/') else {
            return Ok(None);
        };
        let origin = &url[..url.len() - rest.len() + slash];
        let Some(path) = rest[slash..].strip_prefix(PRM) else {
            return Ok(None);
        };
        if !(path.is_empty() || path.starts_with('/')) || path.contains(['?', '#']) {
            return Ok(None);
        }
        Ok(self
            .resolve(&zone.id, &format!("{origin}{path}"))
            .await?
            .and_then(|r| r.application_id))
    }

    async fn token_credentials(
        &self,
        zone: &ZoneId,
        subject: &str,
    ) -> Result<Arc<Vec<Credential>>, OAuthError> {
        self.token_credential_cache
            .get_or_load((zone.clone(), subject.to_owned()), || async {
                Ok(Arc::new(
                    self.directory_store
                        .token_credentials_for_subject(zone, subject)
                        .await
                        .map_err(|e| internal(e.into()))?,
                ))
            })
            .await
    }

    async fn workload_client(
        &self,
        zone: &Zone,
        a: &Assertion,
        client_id: Option<&str>,
        iss: &str,
        sub: &str,
    ) -> Result<Client, OAuthError> {
        let candidates = self.token_credentials(&zone.id, sub).await?;
        for c in candidates.iter() {
            if client_id.is_some_and(|id| id != c.id.as_str() && id != c.application_id.as_str()) {
                continue;
            }
            let CredentialKind::Token { provider_id, .. } = &c.kind else {
                continue;
            };
            let Some(provider) = self.provider(&zone.id, provider_id).await? else {
                continue;
            };
            let oauth2 = provider.protocols.as_ref().and_then(|p| p.oauth2.as_ref());
            let issuer = oauth2
                .and_then(|o| o.issuer.as_deref())
                .unwrap_or(provider.identifier.as_str());
            if issuer != iss {
                continue;
            }
            let jwks_uri = match oauth2.and_then(|o| o.jwks_uri.clone()) {
                Some(u) => u,
                None => self.assertion_keys.issuer_jwks_uri(iss).await?,
            };
            self.assertion_keys
                .verify(a, &KeySource::Uri(jwks_uri))
                .await?;
            self.record_application_session(zone, c, provider_id, iss, sub, a.exp())
                .await;
            return Ok(Client {
                application_id: c.application_id.clone(),
                client_id: c.id.to_string(),
            });
        }
        Err(OAuthError::invalid_client(format!(
            "no workload identity credential of this zone trusts issuer {iss:?} for subject {sub:?}"
        )))
    }

    /// Records (or extends) the application session of a workload-identity
    /// login, at most once per [`SESSION_RECORD_INTERVAL`] per node. A
    /// failure to record does not fail the token request.
    async fn record_application_session(
        &self,
        zone: &Zone,
        credential: &Credential,
        provider: &ProviderId,
        issuer: &str,
        subject: &str,
        exp: Option<u64>,
    ) {
        let key = (
            zone.id.clone(),
            credential.application_id.clone(),
            provider.clone(),
            subject.to_owned(),
        );
        if self.sessions_recorded.get(&key).is_some() {
            return;
        }
        self.sessions_recorded.put(key, ());
        let now = Timestamp::now();
        let expires_at = Timestamp::from_micros(
            (exp.unwrap_or(now_secs() + DEFAULT_TOKEN_LIFETIME_SECS) as i64) * 1_000_000,
        );
        let store = &self.identity_store;
        let result = async {
            if store
                .extend_application_session(
                    &zone.id,
                    &credential.application_id,
                    provider,
                    subject,
                    expires_at,
                    now,
                )
                .await?
            {
                return Ok(());
            }
            store
                .insert_session(&Session {
                    id: keyzone_domain::SessionId::generate(),
                    zone_id: zone.id.clone(),
                    parent_id: None,
                    kind: SessionKind::Application {
                        application_id: credential.application_id.clone(),
                        provider_id: provider.clone(),
                        issuer: issuer.to_owned(),
                        subject: subject.to_owned(),
                    },
                    revoked: false,
                    name: None,
                    session_data: None,
                    authenticated_at: Some(now),
                    expires_at,
                    created_at: now,
                    updated_at: now,
                })
                .await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, zone = %zone.id, "could not record an application session");
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
                let app = client.application_id.to_string();
                let issued = Issued {
                    sub: app.clone(),
                    sub_profile: "app",
                    client_id: client.client_id,
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
                    self.provider(&zone.id, p)
                        .await?
                        .ok_or_else(OAuthError::server_error)?
                        .kind
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
            // A public client (`token_endpoint_auth_method: none`) names
            // itself; token exchange needs no secret from it (RFC 6749
            // §2.1: it cannot keep one), only the dependency rule below.
            ClientAuth::None {
                client_id: Some(id),
            } => match self.client(&zone.id, &id).await? {
                Some((c, _)) if c.kind == CredentialKind::Public => {
                    (c.application_id.clone(), c.identifier.clone())
                }
                _ => return Err(OAuthError::invalid_client(
                    "this client_id is not a public client of the zone; authenticate the client",
                )),
            },
            other => {
                let c = self.authenticate(zone, other).await?;
                (c.application_id, c.client_id)
            }
        };
        let resources = self.resources(zone, form).await?;
        for r in &resources {
            let key = (zone.id.clone(), app_id.clone(), r.id.clone());
            let dep = self
                .dependency_cache
                .get_or_load(key, || async {
                    self.directory_store
                        .get_dependency(&zone.id, &app_id, &r.id)
                        .await
                        .map_err(|e| internal(e.into()))
                })
                .await?;
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
