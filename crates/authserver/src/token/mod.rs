//! The zone's token endpoint (RFC 6749 §3.2): dispatch on `grant_type`, one
//! module per grant, all ending in the issuance pipeline ([`issuance`]).
//!
//! - [`client_auth`]: who the client is (secrets, RFC 7523 assertions)
//! - [`client_credentials`], [`token_exchange`]: the grants
//! - [`issuance`]: scopes, provider, the policy decision, signing / vault
//!
//! A new grant is a new module here, one arm in [`TokenService::token`], and
//! an [`issuance::Issuance`] at its end.

mod authorization_code;
pub mod client_assertion;
pub(crate) mod client_auth;
mod client_credentials;
pub(crate) mod issuance;
mod token_exchange;

pub use authorization_code::{
    SessionLifetimes, REFRESH_ABSOLUTE_LIFETIME_SECS, REFRESH_IDLE_LIFETIME_SECS,
    REFRESH_REUSE_GRACE_SECS,
};
pub use token_exchange::{TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT, TOKEN_TYPE_SUBSTITUTE_USER};

use crate::documents::DocumentCache;
use crate::lookups::Lookups;
use crate::policy::IssuancePolicy;
use crate::store::{SignInStores, TokenStore};
use client_assertion::AssertionKeys;
use keyzone_core::cache::TtlCache;
use keyzone_core::outbound::Fetcher;
use keyzone_core::{CoreError, Secrets, SigningKeys, Vault};
use keyzone_domain::urls::IssuerLayout;
use keyzone_domain::zone::Zone;
use keyzone_domain::{ApplicationId, ProviderId, Timestamp, ZoneId};
use keyzone_oauth::claims::TokenResponse;
use keyzone_oauth::client_auth::ClientAuth;
use keyzone_oauth::echo;
use keyzone_oauth::request::{self as req, Form};
use keyzone_oauth::{ErrorCode, OAuthError};
use std::sync::Arc;

pub(crate) fn now_secs() -> u64 {
    (Timestamp::now().as_micros() / 1_000_000) as u64
}

/// Token lifetime when the resource sets none.
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 3600;
/// A workload's application session is written at most once per this
/// interval per node, not on every token request.
pub const SESSION_RECORD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
const SESSIONS_REMEMBERED: usize = 10_000;

/// A failure below the protocol: logged, answered without internal text.
pub(crate) fn internal(e: CoreError) -> OAuthError {
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

/// What the authorization server is built from.
pub struct Dependencies {
    pub store: Arc<dyn TokenStore>,
    pub signin: Arc<dyn SignInStores>,
    pub secrets: Arc<Secrets>,
    pub signing: Arc<SigningKeys>,
    pub vault: Arc<Vault>,
    pub fetcher: Arc<dyn Fetcher>,
    pub policy: Arc<dyn IssuancePolicy>,
    pub layout: IssuerLayout,
}

/// The zone's protocol runtime: token endpoint, introspection, revocation.
pub struct TokenService {
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) signin: Arc<dyn SignInStores>,
    pub(crate) lookups: Lookups,
    /// Client ID metadata documents (`crate::cimd`).
    pub(crate) cimd: crate::cimd::CimdDocuments,
    pub(crate) assertion_keys: AssertionKeys,
    /// Workload logins recorded recently on this node.
    pub(crate) sessions_recorded: TtlCache<(ZoneId, ApplicationId, ProviderId, String), ()>,
    /// Self-registered clients (`ua:…`) by client id, for
    /// [`crate::lookups::LOOKUP_TTL`] like the other token-path look-ups.
    pub(crate) user_agents:
        TtlCache<(ZoneId, String), Option<Arc<keyzone_domain::identity::UserAgent>>>,
    pub(crate) secrets: Arc<Secrets>,
    /// Upstream token endpoints (delegated grants).
    pub(crate) fetcher: Arc<dyn Fetcher>,
    pub(crate) signing: Arc<SigningKeys>,
    pub(crate) vault: Arc<Vault>,
    pub(crate) policy: Arc<dyn IssuancePolicy>,
    pub(crate) layout: IssuerLayout,
    /// A deployment-wide cap on access-token lifetimes (seconds).
    pub(crate) max_lifetime: Option<u64>,
    pub(crate) lifetimes: SessionLifetimes,
    /// Sends verification codes and invitations; `None` without SMTP, and
    /// then emails stay unverified.
    pub(crate) mailer: Option<Arc<dyn keyzone_core::mail::Mailer>>,
    /// Refuse the most common passwords (`crate::passwords`).
    pub(crate) password_blocklist: bool,
}

impl TokenService {
    pub fn new(d: Dependencies) -> Self {
        Self {
            lookups: Lookups::new(d.store.clone()),
            store: d.store,
            signin: d.signin,
            cimd: crate::cimd::CimdDocuments::new(DocumentCache::new(d.fetcher.clone())),
            assertion_keys: AssertionKeys::new(DocumentCache::new(d.fetcher.clone())),
            fetcher: d.fetcher,
            sessions_recorded: TtlCache::new(SESSION_RECORD_INTERVAL, SESSIONS_REMEMBERED),
            user_agents: TtlCache::new(crate::lookups::LOOKUP_TTL, SESSIONS_REMEMBERED),
            secrets: d.secrets,
            signing: d.signing,
            vault: d.vault,
            policy: d.policy,
            layout: d.layout,
            max_lifetime: None,
            lifetimes: SessionLifetimes::default(),
            mailer: None,
            password_blocklist: true,
        }
    }

    /// Sets how long people stay signed in (deployment settings).
    pub fn set_session_lifetimes(&mut self, lifetimes: SessionLifetimes) {
        self.lifetimes = lifetimes;
    }

    pub fn session_lifetimes(&self) -> SessionLifetimes {
        self.lifetimes
    }

    /// The deployment's mail server (`smtp_url`): with one, people verify
    /// their email by a code and invitations are mailed.
    pub fn set_mailer(&mut self, mailer: Option<Arc<dyn keyzone_core::mail::Mailer>>) {
        self.mailer = mailer;
    }

    /// Whether new passwords are checked against the common-password list
    /// (the setting `password_blocklist`, on by default).
    pub fn check_common_passwords(&mut self, on: bool) {
        self.password_blocklist = on;
    }

    /// Caps every access token's lifetime (the deployment setting
    /// `access_token_max_lifetime_secs`; tests use a few seconds to watch
    /// clients refresh).
    pub fn cap_access_token_lifetime(&mut self, secs: Option<u64>) {
        self.max_lifetime = secs.filter(|s| *s > 0);
    }

    /// The zone of a public endpoint, or `None` (a 404). Cached briefly.
    pub async fn zone(&self, id: &str) -> Result<Option<Arc<Zone>>, OAuthError> {
        self.lookups.zone(id).await
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
            req::GRANT_AUTHORIZATION_CODE => self.authorization_code(zone, auth, form).await,
            req::GRANT_REFRESH_TOKEN => self.refresh_token(zone, auth, form).await,
            other => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("unsupported grant_type {}", echo(other)),
            )),
        }
    }

    /// A token this zone issued, still valid and not revoked: its claims.
    pub(crate) async fn live_token(
        &self,
        zone: &Zone,
        token: &str,
    ) -> Result<Option<serde_json::Value>, OAuthError> {
        let ring = self.signing.key_ring(&zone.id).await.map_err(internal)?;
        let Some(claims) = ring.verify(token) else {
            return Ok(None);
        };
        let now = now_secs();
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
            .store
            .is_token_revoked(&zone.id, jti)
            .await
            .map_err(|e| internal(e.into()))?
        {
            return Ok(None);
        }
        Ok(Some(claims))
    }
}
