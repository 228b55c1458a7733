//! The zone's token endpoint (RFC 6749 §3.2): client authentication and the
//! grants, producing RFC 9068 JWT access tokens signed with the zone's key.
//!
//! This release implements `client_credentials` with client secrets
//! (`client_secret_basic`, `client_secret_post`). The other grants and
//! client authentication methods answer with a precise OAuth error until
//! they are built.

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

/// Token lifetime when the resource sets none.
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 3600;

pub struct TokenService {
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

    /// The zone of a public endpoint, or `None` (a 404).
    pub async fn zone(&self, id: &str) -> Result<Option<Zone>, OAuthError> {
        let Ok(id) = ZoneId::parse(id) else {
            return Ok(None);
        };
        self.zones
            .get_zone_by_id(&id)
            .await
            .map_err(|e| internal(e.into()))
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
            req::GRANT_TOKEN_EXCHANGE
            | req::GRANT_AUTHORIZATION_CODE
            | req::GRANT_REFRESH_TOKEN => Err(OAuthError::new(
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
                let found = self
                    .directory_store
                    .credential_by_client_id(&zone.id, &client_id)
                    .await
                    .map_err(|e| internal(e.into()))?;
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
            let r = self
                .directory
                .resolve_resource(&zone.id, url)
                .await
                .map_err(internal)?
                .ok_or_else(|| {
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
        // RFC 6749 §3.3: only scopes the resources define.
        for s in &scopes {
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
        let kind = self.provider_kind(zone, &resources).await?;
        match kind {
            ProviderType::KeycardSts => self.sign(zone, &client, &resources, &scopes).await,
            ProviderType::KeycardVault => self.vault_token(zone, &resources, &scopes).await,
            ProviderType::External => Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "this resource's tokens come from an external provider through a user's delegated \
                 grant; delegated grants are not available in this version of Keyzone",
            )),
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
                Some(p) => self
                    .directory_store
                    .get_provider(&zone.id, p)
                    .await
                    .map_err(|e| internal(e.into()))?
                    .map(|p| p.kind)
                    .ok_or_else(OAuthError::server_error)?,
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

    /// An RFC 9068 access token signed with the zone's current key: the
    /// key ring is cached, so this does no I/O in the steady state.
    async fn sign(
        &self,
        zone: &Zone,
        client: &Client,
        resources: &[Resource],
        scopes: &[String],
    ) -> Result<TokenResponse, OAuthError> {
        let ring = self.signing.key_ring(&zone.id).await.map_err(internal)?;
        let now = (Timestamp::now().as_micros() / 1_000_000) as u64;
        let lifetime = Self::lifetime(resources);
        let audience: Vec<String> = resources.iter().map(|r| r.identifier.clone()).collect();
        let app = client.credential.application_id.to_string();
        let scope = (!scopes.is_empty()).then(|| scopes.join(" "));
        let claims = AccessTokenClaims {
            iss: self.layout.issuer(&zone.id),
            sub: app.clone(),
            aud: audience.clone(),
            exp: now + lifetime,
            iat: now,
            jti: keyzone_domain::id::random_id(),
            client_id: client.credential.identifier.clone(),
            scope: scope.clone(),
            sub_profile: "app",
            keycard_app_id: Some(app),
            resource: Some(audience),
            act: None,
        };
        let body = serde_json::to_vec(&claims).map_err(|_| OAuthError::server_error())?;
        let token =
            keyzone_crypto::jwt::sign_parts(&ring.current, &ring.access_token_header, &body);
        Ok(TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in: lifetime,
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
