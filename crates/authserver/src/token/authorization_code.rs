//! The `authorization_code` grant (RFC 6749 §4.1.3, PKCE RFC 7636 §4.6)
//! and the `refresh_token` grant (RFC 6749 §6) with rotation: what a person
//! signed in for becomes a user access token (RFC 9068), a refresh token
//! for clients registered with that grant, and an ID token when `openid`
//! was granted (OpenID Connect Core §3.1.3.3).
//!
//! Refresh tokens: each redemption of a code opens a refresh-token session,
//! a child of the browser session; every refresh rotates the token, and a
//! rotated-out token used again after [`REFRESH_REUSE_GRACE_SECS`] revokes the
//! session — the whole family (RFC 9700 §4.14.2). Revoking or deleting the
//! browser session through the management API revokes its children, and so
//! every refresh token issued under it.

use super::issuance::Issuance;
use super::{internal, now_secs, TokenService};
use crate::policy::{Grant, Subject};
use crate::signin::{digest, random_secret, CodeGrant};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keyzone_domain::directory::{CredentialKind, Resource};
use keyzone_domain::identity::{Session, SessionKind};
use keyzone_domain::zone::Zone;
use keyzone_domain::{ApplicationId, SessionId, Timestamp, UserAgentId, UserId};
use keyzone_oauth::claims::{IdTokenClaims, TokenResponse};
use keyzone_oauth::client_auth::ClientAuth;
use keyzone_oauth::request::Form;
use keyzone_oauth::{echo, ErrorCode, OAuthError};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Default lifetime of a refresh-token session (absolute): a person signs
/// in again after this ([`SessionLifetimes::refresh_absolute_secs`]).
pub const REFRESH_ABSOLUTE_LIFETIME_SECS: u64 = 30 * 86_400;
/// Default idle lifetime: a refresh token unused this long is dead.
pub const REFRESH_IDLE_LIFETIME_SECS: u64 = 14 * 86_400;
/// Default reuse grace: a rotated-out refresh token presented again within
/// this window is a client's concurrent or retried refresh, not a theft: it
/// gets a fresh token instead of revoking the family.
pub const REFRESH_REUSE_GRACE_SECS: u64 = 10;

/// How long people stay signed in: deployment settings
/// (docs/configuration.md, `browser_session_lifetime_secs` and
/// `refresh_token_*`), the same for every zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetimes {
    /// The browser session (the `kz_session` cookie and its record).
    pub browser_session_secs: u64,
    /// A refresh token unused this long is dead.
    pub refresh_idle_secs: u64,
    /// A refresh-token session ends this long after it began, however
    /// often it is used.
    pub refresh_absolute_secs: u64,
    /// See [`REFRESH_REUSE_GRACE_SECS`].
    pub refresh_reuse_grace_secs: u64,
}

impl Default for SessionLifetimes {
    fn default() -> Self {
        Self {
            browser_session_secs: crate::signin::BROWSER_SESSION_LIFETIME_SECS,
            refresh_idle_secs: REFRESH_IDLE_LIFETIME_SECS,
            refresh_absolute_secs: REFRESH_ABSOLUTE_LIFETIME_SECS,
            refresh_reuse_grace_secs: REFRESH_REUSE_GRACE_SECS,
        }
    }
}
/// ID tokens live as long as an access token by default.
pub const ID_TOKEN_LIFETIME_SECS: u64 = 3600;

fn invalid_grant(d: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, d)
}

fn ts(secs: u64) -> Timestamp {
    Timestamp::from_micros((secs * 1_000_000) as i64)
}

impl TokenService {
    /// Who the client of a user grant is: a public client names itself
    /// (PKCE proved the rest), a confidential one authenticates. The
    /// `client_id` the code or refresh token was issued to.
    async fn user_grant_client(&self, zone: &Zone, auth: ClientAuth) -> Result<String, OAuthError> {
        match auth {
            ClientAuth::None {
                client_id: Some(id),
            } => {
                let public = if id.starts_with("ua:") {
                    self.auth_client(zone, &id).await?.is_ok()
                } else {
                    match self.lookups.client(&zone.id, &id).await? {
                        Some((c, _)) => c.kind == CredentialKind::Public,
                        // A client ID metadata document URL (`crate::cimd`).
                        None if crate::cimd::is_url_client_id(&id) => {
                            self.cimd_token_client(zone, &id).await?
                        }
                        None => false,
                    }
                };
                if !public {
                    return Err(OAuthError::invalid_client(
                        "this client_id is not a public client of the zone; authenticate the client",
                    ));
                }
                Ok(id)
            }
            ClientAuth::None { client_id: None } => Err(OAuthError::invalid_client(
                "client_id is required (or client authentication)",
            )),
            other => Ok(self.authenticate(zone, other).await?.client_id),
        }
    }

    /// The resources a grant covers, narrowed by the request's `resource`
    /// values (RFC 8707 §2.2: any subset), resolved as the token endpoint
    /// resolves them.
    async fn granted_resources(
        &self,
        zone: &Zone,
        granted: &[String],
        form: &Form,
    ) -> Result<Vec<Resource>, OAuthError> {
        let mut all = Vec::new();
        for identifier in granted {
            if let Some(r) = self.lookups.resolve(&zone.id, identifier).await? {
                all.push(r);
            }
        }
        let requested = form.resources()?;
        if requested.is_empty() {
            return Ok(all);
        }
        let mut out = Vec::new();
        for url in &requested {
            let r = self.lookups.resolve(&zone.id, url).await?;
            match r.filter(|r| all.iter().any(|a| a.id == r.id)) {
                Some(r) if !out.iter().any(|o: &Resource| o.id == r.id) => out.push(r),
                Some(_) => {}
                None => {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidTarget,
                        format!("{} was not granted", echo(url)),
                    ))
                }
            }
        }
        Ok(out)
    }

    /// `grant_type=authorization_code`.
    pub(crate) async fn authorization_code(
        &self,
        zone: &Zone,
        auth: ClientAuth,
        form: &Form,
    ) -> Result<TokenResponse, OAuthError> {
        let client_id = self.user_grant_client(zone, auth).await?;
        let code = form.required("code")?;
        let hash = digest(code);
        let now = now_secs();
        let stored = self
            .signin
            .consume_code(&zone.id, &hash, ts(now))
            .await
            .map_err(|e| internal(e.into()))?
            .ok_or_else(|| invalid_grant("the authorization code is not valid"))?;
        if stored.used_at.is_some() {
            // RFC 6749 §4.1.2: a replayed code revokes what it issued.
            if let Some(issued) = &stored.issued_session_id {
                let _ = self.signin.revoke_session(&zone.id, issued).await;
            }
            return Err(invalid_grant(
                "the authorization code was already used; the tokens it issued are revoked",
            ));
        }
        if stored.expires_at <= ts(now) {
            return Err(invalid_grant("the authorization code has expired"));
        }
        let grant: CodeGrant =
            serde_json::from_str(&stored.grant_data).map_err(|_| OAuthError::server_error())?;
        if grant.client_id != client_id {
            return Err(invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        if form.one("redirect_uri")? != Some(grant.redirect_uri.as_str()) {
            return Err(invalid_grant(
                "redirect_uri must be the one of the authorization request",
            ));
        }
        if let Some(challenge) = &grant.code_challenge {
            let verifier = form.one("code_verifier")?.ok_or_else(|| {
                invalid_grant("code_verifier is required (the request used PKCE)")
            })?;
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                return Err(invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        // The browser session must still be live.
        let web = self
            .signin
            .get_session(&zone.id, &stored.session_id)
            .await
            .map_err(|e| internal(e.into()))?
            .filter(|s| !s.revoked && s.expires_at > ts(now))
            .ok_or_else(|| invalid_grant("the sign-in session has ended"))?;
        let resources = self.granted_resources(zone, &grant.resources, form).await?;
        let mut response = self
            .issue_user_tokens(zone, &grant, resources, &web)
            .await?;
        if grant.refresh {
            let session = self.open_refresh_session(zone, &grant, &web).await?;
            self.signin
                .set_code_session(&zone.id, &hash, &session)
                .await
                .map_err(|e| internal(e.into()))?;
            response.refresh_token = Some(self.new_refresh_token(zone, &grant, &session).await?);
        }
        Ok(response)
    }

    /// `grant_type=refresh_token`.
    pub(crate) async fn refresh_token(
        &self,
        zone: &Zone,
        auth: ClientAuth,
        form: &Form,
    ) -> Result<TokenResponse, OAuthError> {
        let client_id = self.user_grant_client(zone, auth).await?;
        let token = form.required("refresh_token")?;
        let now = now_secs();
        // The successor is stored in the rotation's own transaction: one
        // durable write per refresh (the hot path).
        let successor = random_secret();
        let stored = self
            .signin
            .rotate_refresh_token(
                &zone.id,
                &digest(token),
                ts(now),
                &digest(&successor),
                ts(now + self.lifetimes.refresh_idle_secs),
            )
            .await
            .map_err(|e| internal(e.into()))?
            .ok_or_else(|| invalid_grant("the refresh token is not valid"))?;
        if let Some(rotated) = stored.rotated_at {
            let age = now.saturating_sub((rotated.as_micros() / 1_000_000) as u64);
            let grace = self.lifetimes.refresh_reuse_grace_secs;
            // Whole seconds: with no grace configured, any reuse counts.
            if grace == 0 || age > grace {
                // Reuse of a rotated-out token: someone else may hold the
                // family; revoke all of it.
                let _ = self
                    .signin
                    .revoke_session(&zone.id, &stored.session_id)
                    .await;
                return Err(invalid_grant(
                    "the refresh token was already used; every token of this sign-in is revoked",
                ));
            }
        }
        if stored.expires_at <= ts(now) {
            return Err(invalid_grant("the refresh token has expired"));
        }
        let grant: CodeGrant =
            serde_json::from_str(&stored.grant_data).map_err(|_| OAuthError::server_error())?;
        if grant.client_id != client_id {
            return Err(invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        let session = self
            .signin
            .get_session(&zone.id, &stored.session_id)
            .await
            .map_err(|e| internal(e.into()))?
            .filter(|s| !s.revoked && s.expires_at > ts(now))
            .ok_or_else(|| invalid_grant("the sign-in session has ended"))?;
        // A refresh may narrow the scopes (RFC 6749 §6), never widen them.
        let mut grant = grant;
        if let Some(requested) = form.one("scope")? {
            let narrowed: Vec<String> = requested
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(extra) = narrowed.iter().find(|s| !grant.scopes.contains(s)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("scope {} was not granted", echo(extra)),
                ));
            }
            grant.scopes = narrowed;
        }
        let resources = self.granted_resources(zone, &grant.resources, form).await?;
        // The browser session (for the ID token's `sid` and `auth_time`) is
        // read only when an ID token is issued.
        let parent = match &session.parent_id {
            Some(p) if grant.scopes.iter().any(|s| s == "openid") => self
                .signin
                .get_session(&zone.id, p)
                .await
                .map_err(|e| internal(e.into()))?
                .unwrap_or_else(|| session.clone()),
            _ => session,
        };
        let mut response = self
            .issue_user_tokens(zone, &grant, resources, &parent)
            .await?;
        response.refresh_token = Some(successor);
        Ok(response)
    }

    /// The access token through the issuance pipeline, and the ID token.
    async fn issue_user_tokens(
        &self,
        zone: &Zone,
        grant: &CodeGrant,
        resources: Vec<Resource>,
        web: &Session,
    ) -> Result<TokenResponse, OAuthError> {
        let user_id = UserId::parse(&grant.user_id).map_err(|_| OAuthError::server_error())?;
        let subject = Subject {
            sub: user_id.to_string(),
            sub_profile: "user",
            client_id: grant.client_id.clone(),
            application_id: grant
                .application_id
                .as_deref()
                .and_then(|a| ApplicationId::parse(a).ok()),
            act: None,
            not_after: None,
        };
        let mut response = self
            .issue(Issuance {
                zone,
                grant: Grant::AuthorizationCode,
                subject,
                resources,
                scopes: grant.scopes.clone(),
            })
            .await?;
        if grant.scopes.iter().any(|s| s == "openid") {
            response.id_token = Some(
                self.id_token(zone, grant, &user_id, web, &response.access_token)
                    .await?,
            );
        }
        Ok(response)
    }

    async fn id_token(
        &self,
        zone: &Zone,
        grant: &CodeGrant,
        user_id: &UserId,
        web: &Session,
        access_token: &str,
    ) -> Result<String, OAuthError> {
        let user = self
            .signin
            .get_user(&zone.id, user_id)
            .await
            .map_err(|e| internal(e.into()))?
            .ok_or_else(|| invalid_grant("the user no longer exists"))?
            .user;
        let now = now_secs();
        let email = grant.scopes.iter().any(|s| s == "email");
        let name = if grant.scopes.iter().any(|s| s == "profile") {
            self.signin
                .user_name(&zone.id, &user.id)
                .await
                .map_err(|e| internal(e.into()))?
        } else {
            None
        };
        // OIDC Core §3.1.3.6: left half of SHA-256 of the access token
        // (the zone signs with SHA-256 algorithms only).
        let hash = Sha256::digest(access_token.as_bytes());
        let claims = IdTokenClaims {
            iss: self.layout.issuer(&zone.id),
            sub: user.id.to_string(),
            aud: grant.client_id.clone(),
            exp: now + ID_TOKEN_LIFETIME_SECS,
            iat: now,
            auth_time: grant.auth_time,
            nonce: grant.nonce.clone(),
            sid: web.id.to_string(),
            at_hash: Some(URL_SAFE_NO_PAD.encode(&hash[..16])),
            email: email.then(|| user.email.clone()),
            email_verified: email.then_some(user.email_verified),
            name,
        };
        let ring = self.signing.key_ring(&zone.id).await.map_err(internal)?;
        Ok(keyzone_crypto::jwt::sign(&ring.current, "JWT", &claims))
    }

    /// A refresh-token session: a child of the browser session.
    async fn open_refresh_session(
        &self,
        zone: &Zone,
        grant: &CodeGrant,
        web: &Session,
    ) -> Result<SessionId, OAuthError> {
        let now = Timestamp::now();
        let user_id = UserId::parse(&grant.user_id).map_err(|_| OAuthError::server_error())?;
        let session = Session {
            id: SessionId::generate(),
            zone_id: zone.id.clone(),
            parent_id: Some(web.id.clone()),
            kind: SessionKind::User {
                user_id,
                user_agent_id: grant
                    .user_agent_id
                    .as_deref()
                    .and_then(|u| UserAgentId::parse(u).ok()),
                application_id: grant
                    .application_id
                    .as_deref()
                    .and_then(|a| ApplicationId::parse(a).ok()),
                provider_id: None,
                issuer: None,
                subject: None,
            },
            revoked: false,
            name: None,
            session_data: None,
            authenticated_at: web.authenticated_at,
            expires_at: ts(now_secs() + self.lifetimes.refresh_absolute_secs),
            created_at: now,
            updated_at: now,
        };
        self.signin
            .insert_session(&session)
            .await
            .map_err(|e| internal(e.into()))?;
        Ok(session.id)
    }

    async fn new_refresh_token(
        &self,
        zone: &Zone,
        grant: &CodeGrant,
        session: &SessionId,
    ) -> Result<String, OAuthError> {
        let token = random_secret();
        let data = serde_json::to_string(grant).map_err(|_| OAuthError::server_error())?;
        let now = now_secs();
        self.signin
            .insert_refresh_token(
                &zone.id,
                &digest(&token),
                session,
                &data,
                ts(now),
                ts(now + self.lifetimes.refresh_idle_secs),
            )
            .await
            .map_err(|e| internal(e.into()))?;
        Ok(token)
    }
}
