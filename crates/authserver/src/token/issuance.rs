//! The issuance pipeline every grant ends in: the resources' scopes, the
//! provider that serves them, the policy decision (asked exactly once, in
//! [`TokenService::issue`]), then signing by the zone's token service, a
//! token from the zone's vault, or (delegated grants) an upstream token.

use super::{
    internal, now_secs, TokenService, DEFAULT_TOKEN_LIFETIME_SECS, TOKEN_TYPE_ACCESS_TOKEN,
};
use crate::policy::{Decision, Grant, IssuanceRequest, Subject};
use keyzone_domain::directory::{ProviderType, Resource};
use keyzone_domain::secret::SecretData;
use keyzone_domain::zone::Zone;
use keyzone_oauth::claims::{AccessTokenClaims, TokenResponse};
use keyzone_oauth::echo;
use keyzone_oauth::request::Form;
use keyzone_oauth::{ErrorCode, OAuthError};

/// What a grant asks the pipeline to issue.
pub(crate) struct Issuance<'a> {
    pub zone: &'a Zone,
    pub grant: Grant,
    pub subject: Subject,
    pub resources: Vec<Resource>,
    pub scopes: Vec<String>,
}

/// RFC 6749 §3.3: only scopes the requested resources define — and, when a
/// person signed in, the OpenID scopes the zone grants itself.
fn check_scopes(resources: &[Resource], scopes: &[String], grant: Grant) -> Result<(), OAuthError> {
    for s in scopes {
        if grant.is_user_sign_in() && keyzone_oauth::request::OIDC_SCOPES.contains(&s.as_str()) {
            continue;
        }
        let allowed = resources
            .iter()
            .any(|r| r.scopes.as_ref().is_some_and(|rs| rs.contains(s)));
        if !allowed {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("scope {} is not defined by the requested resource", echo(s)),
            ));
        }
    }
    Ok(())
}

fn external_provider() -> OAuthError {
    OAuthError::new(
        ErrorCode::AccessDenied,
        "this resource's tokens come from an external provider through a user's delegated \
         grant: obtain them by token exchange with the user's token",
    )
}

fn lifetime(resources: &[Resource], cap: Option<u64>) -> u64 {
    let l = resources
        .iter()
        .filter_map(|r| r.credential_lifetime_seconds.map(u64::from))
        .min()
        .unwrap_or(DEFAULT_TOKEN_LIFETIME_SECS);
    cap.map_or(l, |c| l.min(c))
}

impl TokenService {
    /// Every grant's last step.
    pub(crate) async fn issue(&self, i: Issuance<'_>) -> Result<TokenResponse, OAuthError> {
        check_scopes(&i.resources, &i.scopes, i.grant)?;
        // An OpenID-only sign-in: the token is for the userinfo endpoint.
        let kind = if i.resources.is_empty() && i.grant.is_user_sign_in() {
            ProviderType::KeycardSts
        } else {
            self.provider_kind(i.zone, &i.resources).await?
        };
        let scopes = match self.policy.decide(&IssuanceRequest {
            zone: &i.zone.id,
            grant: i.grant,
            subject: &i.subject,
            resources: &i.resources,
            scopes: &i.scopes,
        }) {
            Decision::Permit { scopes: None } => i.scopes,
            Decision::Permit {
                scopes: Some(narrowed),
            } => narrowed,
            Decision::Deny { reason } => {
                return Err(OAuthError::new(ErrorCode::AccessDenied, reason))
            }
        };
        let mut t = match kind {
            ProviderType::KeycardSts => self.sign(i.zone, i.subject, &i.resources, &scopes).await?,
            ProviderType::KeycardVault => self.vault_token(i.zone, &i.resources, &scopes).await?,
            // D.9.2 step 3: the user's upstream token, by token exchange.
            ProviderType::External if i.grant == Grant::TokenExchange => {
                self.brokered_token(i.zone, &i.subject, &i.resources, &scopes)
                    .await?
            }
            ProviderType::External => return Err(external_provider()),
        };
        if i.grant == Grant::TokenExchange {
            t.issued_token_type = Some(TOKEN_TYPE_ACCESS_TOKEN);
        }
        Ok(t)
    }

    /// RFC 8707: each requested resource must resolve to a resource of the
    /// zone (exact identifier, else the longest prefix resource); with none
    /// requested, the zone's default resource.
    pub(crate) async fn resources(
        &self,
        zone: &Zone,
        form: &Form,
    ) -> Result<Vec<Resource>, OAuthError> {
        let requested = form.resources()?;
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
                .store
                .resource(&zone.id, &id)
                .await
                .map_err(|e| internal(e.into()))?
                .ok_or_else(OAuthError::server_error)?;
            out.push(r);
            return Ok(out);
        }
        for url in &requested {
            let r = self.lookups.resolve(&zone.id, url).await?.ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::InvalidTarget,
                    format!("{} is not a resource of this zone", echo(url)),
                )
            })?;
            if !out.iter().any(|o| o.id == r.id) {
                out.push(r);
            }
        }
        Ok(out)
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
                    self.lookups
                        .provider(&zone.id, p)
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

    /// An RFC 9068 access token signed with the zone's current key: the
    /// key ring is cached, so this does no I/O in the steady state.
    async fn sign(
        &self,
        zone: &Zone,
        subject: Subject,
        resources: &[Resource],
        scopes: &[String],
    ) -> Result<TokenResponse, OAuthError> {
        let ring = self.signing.key_ring(&zone.id).await.map_err(internal)?;
        let now = now_secs();
        let mut exp = now + lifetime(resources, self.max_lifetime);
        if let Some(limit) = subject.not_after {
            exp = exp.min(limit);
        }
        let mut audience: Vec<String> = resources.iter().map(|r| r.identifier.clone()).collect();
        if audience.is_empty() {
            audience.push(self.layout.urls(&zone.id).userinfo_endpoint);
        }
        let scope = (!scopes.is_empty()).then(|| scopes.join(" "));
        let claims = AccessTokenClaims {
            iss: self.layout.issuer(&zone.id),
            sub: subject.sub,
            resource: (audience.len() == 1).then(|| audience[0].clone()),
            aud: audience,
            exp,
            iat: now,
            jti: keyzone_domain::id::random_id(),
            client_id: subject.client_id,
            scope: scope.clone(),
            sub_profile: subject.sub_profile,
            keycard_app_id: subject.application_id.map(|a| a.to_string()),
            act: subject.act,
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
            refresh_token: None,
            id_token: None,
        })
    }

    /// The token stored in the zone's vault for a `keycard-vault` resource.
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
        let stored = self
            .store
            .latest_secret_for(&zone.id, resource.id.as_str())
            .await
            .map_err(|e| internal(e.into()))?
            .ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "no secret is stored in the zone's vault for resource {}",
                        resource.identifier
                    ),
                )
            })?;
        match self.secrets.open(&stored).await.map_err(internal)? {
            SecretData::Token { token } => Ok(TokenResponse {
                access_token: token,
                token_type: "Bearer",
                expires_in: lifetime(resources, self.max_lifetime),
                scope: (!scopes.is_empty()).then(|| scopes.join(" ")),
                issued_token_type: None,
                refresh_token: None,
                id_token: None,
            }),
            SecretData::Password { .. } => Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "the vault secret for this resource is a password, not a token",
            )),
        }
    }
}
