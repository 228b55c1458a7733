//! Client authentication at the token, introspection and revocation
//! endpoints: client secrets (`client_secret_basic`, `client_secret_post`,
//! compared as keyed digests in constant time) and RFC 7523 JWT assertions
//! (`private_key_jwt`, URL client identities, workload identity, with the
//! application sessions workload logins record).

use super::client_assertion::{Assertion, KeySource, LEEWAY_SECS, MAX_SELF_SIGNED_LIFETIME_SECS};
use super::{internal, now_secs, TokenService, DEFAULT_TOKEN_LIFETIME_SECS};
use keyzone_domain::directory::{Credential, CredentialKind};
use keyzone_domain::identity::{Session, SessionKind};
use keyzone_domain::zone::Zone;
use keyzone_domain::{ApplicationId, ProviderId, Timestamp};
use keyzone_oauth::client_auth::ClientAuth;
use keyzone_oauth::echo;
use keyzone_oauth::OAuthError;
use subtle::ConstantTimeEq;

/// The authenticated client of a request.
pub(crate) struct Client {
    pub application_id: ApplicationId,
    /// What the issued token's `client_id` claim says.
    pub client_id: String,
}

impl Client {
    fn of(credential: &Credential) -> Self {
        Self {
            application_id: credential.application_id.clone(),
            client_id: credential.identifier.clone(),
        }
    }
}

impl TokenService {
    /// `client_secret_basic` / `client_secret_post`: the secret's keyed
    /// digest is compared in constant time. Unknown clients and wrong
    /// secrets get the same answer.
    pub(crate) async fn authenticate(
        &self,
        zone: &Zone,
        auth: ClientAuth,
    ) -> Result<Client, OAuthError> {
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
        let found = self.lookups.client(&zone.id, client_id).await?;
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
        let (client, keys) = match self.lookups.client(&zone.id, id).await? {
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
            .store
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
            .lookups
            .resolve(&zone.id, &format!("{origin}{path}"))
            .await?
            .and_then(|r| r.application_id))
    }

    async fn workload_client(
        &self,
        zone: &Zone,
        a: &Assertion,
        client_id: Option<&str>,
        iss: &str,
        sub: &str,
    ) -> Result<Client, OAuthError> {
        let candidates = self.lookups.token_credentials(&zone.id, sub).await?;
        for c in candidates.iter() {
            if client_id.is_some_and(|id| id != c.id.as_str() && id != c.application_id.as_str()) {
                continue;
            }
            let CredentialKind::Token { provider_id, .. } = &c.kind else {
                continue;
            };
            let Some(provider) = self.lookups.provider(&zone.id, provider_id).await? else {
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
            "no workload identity credential of this zone trusts issuer {} for subject {}",
            echo(iss),
            echo(sub)
        )))
    }

    /// Records (or extends) the application session of a workload-identity
    /// login, at most once per [`super::SESSION_RECORD_INTERVAL`] per node. A
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
        let session = Session {
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
        };
        let result = self
            .store
            .record_application_session(&session, provider, subject)
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, zone = %zone.id, "could not record an application session");
        }
    }
}
