//! Delegated access through external credential providers
//! (client-contract-login D.9.2): connecting an upstream API during the
//! sign-in (or later on the connect page), the callback that redeems the
//! upstream code and stores the delegated grant with its tokens sealed
//! under the zone's data key, and the brokered token exchange that hands
//! out the upstream access token, refreshing it single-flight.
//!
//! Sealing: entity `delegated_grant`, the grant's id, field `access_token`
//! or `refresh_token`, so a ciphertext moved to another grant, zone or
//! field does not open. The connect transaction (the upstream `state`) is
//! sealed like the sign-in transactions, bound to the browser session.

use crate::signin::{random_secret, redirect_with, refused, AuthRequest, Browser, Outcome, Step};
use crate::token::{internal, now_secs, TokenService};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keyzone_core::outbound::{FetchError, FormAuth, FormPost};
use keyzone_core::store::{GrantTokens, RefreshedTokens};
use keyzone_domain::directory::{Provider, ProviderOAuth2, ProviderType, Resource};
use keyzone_domain::identity::{Grant, Session, User};
use keyzone_domain::zone::Zone;
use keyzone_domain::{GrantId, ProviderId, ResourceId, Timestamp, UserId};
use keyzone_oauth::claims::TokenResponse;
use keyzone_oauth::request::Form;
use keyzone_oauth::upstream::{parse_token_response, UpstreamError, UpstreamToken};
use keyzone_oauth::{echo, ErrorCode, OAuthError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long a node may hold a grant's refresh lease; a node that dies
/// mid-refresh blocks the grant's refresh no longer than this (longer than
/// the outbound client's 5 s timeout, so a live refresh never loses it).
pub const REFRESH_LEASE_SECS: i64 = 15;
/// An access token this close to its expiry is refreshed first, so the
/// caller does not receive a token that dies in flight.
pub const EXPIRY_MARGIN_SECS: i64 = 1;
/// Without `expires_in` (GitHub's classic tokens never expire) a token is
/// kept this long.
pub const UNKNOWN_EXPIRY_SECS: i64 = 365 * 24 * 3600;
/// How long an exchange waits for another caller's refresh of the same grant.
const REFRESH_WAIT: Duration = Duration::from_secs(20);
const ENTITY: &str = "delegated_grant";

/// The upstream `state`: what the callback continues with.
#[derive(Serialize, Deserialize)]
struct ConnectTxn {
    /// The sign-in that continues afterwards; `None` from the connect page.
    req: Option<AuthRequest>,
    resource_id: String,
    provider_id: String,
    /// PKCE (RFC 7636), when the provider lists S256.
    verifier: Option<String>,
    scopes: Vec<String>,
    exp: u64,
}

fn to_micros(secs_from_now: i64, now: Timestamp) -> Timestamp {
    Timestamp::from_micros(now.as_micros() + secs_from_now * 1_000_000)
}

fn oauth2(p: &Provider) -> ProviderOAuth2 {
    p.protocols
        .as_ref()
        .and_then(|pr| pr.oauth2.clone())
        .unwrap_or_default()
}

/// `a,b` / `a b` as the provider separates scopes.
fn split_scopes(s: &str, sep: &str) -> Vec<String> {
    s.split(|c: char| c == ' ' || sep.contains(c))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl TokenService {
    /// The external provider behind a resource, if it has one.
    async fn external_provider(
        &self,
        zone: &Zone,
        r: &Resource,
    ) -> Result<Option<Provider>, OAuthError> {
        let Some(pid) = &r.credential_provider_id else {
            return Ok(None);
        };
        Ok(self
            .lookups
            .provider(&zone.id, pid)
            .await?
            .filter(|p| p.kind == ProviderType::External)
            .map(|p| (*p).clone()))
    }

    async fn live_grant(
        &self,
        zone: &Zone,
        user: &UserId,
        resource: &ResourceId,
    ) -> Result<Option<GrantTokens>, OAuthError> {
        let g = self
            .store
            .grants()
            .grant_tokens(&zone.id, user, resource)
            .await
            .map_err(|e| internal(e.into()))?;
        Ok(g.filter(|g| g.grant.usable(Timestamp::now())))
    }

    /// The first dependency of the requested resources' applications that
    /// is served by an external provider and that the user has not
    /// connected (no active grant).
    async fn pending_connection(
        &self,
        zone: &Zone,
        requested: &[String],
        user: &UserId,
    ) -> Result<Option<(Resource, Provider)>, OAuthError> {
        for ident in requested {
            let Some(r) = self.lookups.resolve(&zone.id, ident).await? else {
                continue;
            };
            let Some(app) = &r.application_id else {
                continue;
            };
            let deps = self
                .store
                .dependencies(&zone.id, app)
                .await
                .map_err(|e| internal(e.into()))?;
            for d in deps {
                let Some(p) = self.external_provider(zone, &d.resource).await? else {
                    continue;
                };
                if self.live_grant(zone, user, &d.resource.id).await?.is_none() {
                    return Ok(Some((d.resource, p)));
                }
            }
        }
        Ok(None)
    }

    /// After sign-in and consent: connect the next upstream provider the
    /// request needs (D.9.2 step 2), else issue the code.
    pub(crate) async fn connect_or_issue(
        &self,
        zone: &Zone,
        req: &AuthRequest,
        session: &Session,
        user: &User,
    ) -> Result<Outcome, OAuthError> {
        if let Some((r, p)) = self
            .pending_connection(zone, &req.resources, &user.id)
            .await?
        {
            if req
                .prompt
                .as_deref()
                .unwrap_or("")
                .split(' ')
                .any(|p| p == "none")
            {
                return Ok(self.redirect_error(
                    zone,
                    req,
                    ErrorCode::InteractionRequired,
                    &format!("the user has not connected {} for {}", p.name, r.identifier),
                ));
            }
            return self
                .connect_redirect(zone, Some(req.clone()), session, &r, &p)
                .await;
        }
        self.issue_code(zone, req, session, user).await
    }

    /// The redirect to the provider's authorization endpoint.
    async fn connect_redirect(
        &self,
        zone: &Zone,
        req: Option<AuthRequest>,
        session: &Session,
        r: &Resource,
        p: &Provider,
    ) -> Result<Outcome, OAuthError> {
        let o = oauth2(p);
        let (Some(endpoint), Some(_), Some(client_id)) =
            (&o.authorization_endpoint, &o.token_endpoint, &p.client_id)
        else {
            return Ok(refused(
                502,
                "The provider is not set up",
                format!(
                    "{} needs a client_id, protocols.oauth2.authorization_endpoint and \
                     token_endpoint before people can connect it. Ask the zone's administrators.",
                    p.name
                ),
            ));
        };
        let verifier = o
            .code_challenge_methods_supported
            .as_ref()
            .is_some_and(|m| m.iter().any(|m| m == "S256"))
            .then(random_secret);
        let scopes = r.scopes.clone().unwrap_or_default();
        let txn = ConnectTxn {
            req,
            resource_id: r.id.to_string(),
            provider_id: p.id.to_string(),
            verifier: verifier.clone(),
            scopes: scopes.clone(),
            exp: now_secs() + crate::signin::TRANSACTION_LIFETIME_SECS,
        };
        let json = serde_json::to_vec(&txn).map_err(|_| OAuthError::server_error())?;
        let sealed = self
            .vault
            .seal(&zone.id, "connect", session.id.as_str(), "state", &json)
            .await
            .map_err(internal)?;
        let state = URL_SAFE_NO_PAD.encode(sealed);
        let redirect_uri = self.layout.urls(&zone.id).redirect_uri;
        let mut params: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), client_id.clone()),
            ("redirect_uri".into(), redirect_uri),
            ("state".into(), state),
        ];
        if !scopes.is_empty() {
            let sep = o.scope_separator.clone().unwrap_or_else(|| " ".into());
            let name = o
                .scope_parameter
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "scope".into());
            params.push((name, scopes.join(&sep)));
        }
        if let Some(v) = &verifier {
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()));
            params.push(("code_challenge".into(), challenge));
            params.push(("code_challenge_method".into(), "S256".into()));
        }
        if o.authorization_resource_enabled == Some(true) {
            let name = o
                .authorization_resource_parameter
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "resource".into());
            params.push((name, r.identifier.clone()));
        }
        for (k, v) in o.authorization_parameters.iter().flatten() {
            if !params.iter().any(|(n, _)| n == k) {
                params.push((k.clone(), v.clone()));
            }
        }
        let p: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Ok(Outcome::step(Step::Redirect(redirect_with(endpoint, &p))))
    }

    /// `GET {issuer}/oauth/connect?resource=…`: connect (or reconnect) the
    /// provider behind one resource; needs a zone browser session.
    pub async fn connect_page(&self, zone: &Zone, browser: &Browser, form: &Form) -> Outcome {
        let result = async {
            let Some((session, _)) = self.session_user(zone, browser.session.as_deref()).await?
            else {
                return Ok(refused(
                    401,
                    "You are not signed in",
                    "Sign in to this zone through an application first, then open this link again.",
                ));
            };
            let Ok(Some(ident)) = form.one("resource") else {
                return Ok(refused(
                    400,
                    "No resource",
                    "The link must name the resource to connect (resource=…).",
                ));
            };
            let Some(r) = self.lookups.resolve(&zone.id, ident).await? else {
                return Ok(refused(
                    404,
                    "Unknown resource",
                    format!("{} is not a resource of this zone.", echo(ident)),
                ));
            };
            let Some(p) = self.external_provider(zone, &r).await? else {
                return Ok(refused(
                    400,
                    "Nothing to connect",
                    format!(
                        "{} is not served by an external provider; it needs no connection.",
                        r.identifier
                    ),
                ));
            };
            self.connect_redirect(zone, None, &session, &r, &p).await
        }
        .await;
        result.unwrap_or_else(|e: OAuthError| {
            tracing::warn!(zone = %zone.id, error = %e, "connect page failed");
            refused(500, "Something went wrong", "Please try again later.")
        })
    }

    /// `GET {issuer}/oauth/callback`: the provider's answer.
    pub async fn connect_callback(&self, zone: &Zone, browser: &Browser, form: &Form) -> Outcome {
        let result = async {
            let Some((session, user)) = self.session_user(zone, browser.session.as_deref()).await?
            else {
                return Ok(crate::signin::not_signed_in());
            };
            let txn = form
                .one("state")
                .ok()
                .flatten()
                .and_then(|s| URL_SAFE_NO_PAD.decode(s.as_bytes()).ok())
                .filter(|s| s.len() <= 64 * 1024);
            let txn = match txn {
                Some(sealed) => self
                    .vault
                    .open(&zone.id, "connect", session.id.as_str(), "state", &sealed)
                    .await
                    .ok()
                    .and_then(|plain| serde_json::from_slice::<ConnectTxn>(&plain).ok())
                    .filter(|t| t.exp > now_secs()),
                None => None,
            };
            let Some(txn) = txn else {
                return Ok(crate::signin::expired());
            };
            let (Ok(rid), Ok(pid)) = (
                ResourceId::parse(&txn.resource_id),
                ProviderId::parse(&txn.provider_id),
            ) else {
                return Ok(crate::signin::expired());
            };
            let Some(p) = self.lookups.provider(&zone.id, &pid).await? else {
                return Ok(crate::signin::expired());
            };
            let p: Provider = (*p).clone();
            if let Ok(Some(error)) = form.one("error") {
                let detail = form
                    .one("error_description")
                    .ok()
                    .flatten()
                    .map(|d| format!(" ({})", echo(d)))
                    .unwrap_or_default();
                return Ok(refused(
                    403,
                    "The connection was not made",
                    format!(
                        "{} answered {}{detail}. Nothing was stored. Go back to the application \
                         and try again to connect {}.",
                        p.name,
                        echo(error),
                        p.name
                    ),
                ));
            }
            let Ok(Some(code)) = form.one("code") else {
                return Ok(refused(
                    400,
                    "The connection was not made",
                    format!("{} sent no authorization code back.", p.name),
                ));
            };
            let mut pairs = vec![("grant_type", "authorization_code"), ("code", code)];
            let redirect_uri = self.layout.urls(&zone.id).redirect_uri;
            pairs.push(("redirect_uri", &redirect_uri));
            if let Some(v) = &txn.verifier {
                pairs.push(("code_verifier", v));
            }
            let token = match self.upstream_token(zone, &p, &pairs).await? {
                Ok(t) => t,
                Err(Upstream::Refused(error)) => {
                    return Ok(refused(
                        502,
                        "The connection was not made",
                        format!(
                            "{} refused to redeem the authorization ({}). Nothing was stored; \
                             try connecting again.",
                            p.name,
                            echo(&error)
                        ),
                    ))
                }
                Err(Upstream::Unreachable) => {
                    return Ok(refused(
                        503,
                        "The connection was not made",
                        format!(
                            "{} could not be reached or gave no usable answer. Nothing was \
                             stored; try again later.",
                            p.name
                        ),
                    ))
                }
            };
            self.store_grant(zone, &user.id, &rid, &p, &txn.scopes, &token)
                .await?;
            match &txn.req {
                Some(req) => self.connect_or_issue(zone, req, &session, &user).await,
                None => Ok(Outcome::step(Step::Message {
                    status: 200,
                    title: "Connected",
                    message: format!(
                        "{} is connected. You can close this page and go back to the application.",
                        p.name
                    ),
                })),
            }
        }
        .await;
        result.unwrap_or_else(|e: OAuthError| {
            tracing::warn!(zone = %zone.id, error = %e, "connect callback failed");
            refused(500, "Something went wrong", "Please try again later.")
        })
    }

    /// A POST to the provider's token endpoint: `client_secret_basic`, and
    /// `client_secret_post` when the provider refuses Basic with
    /// `invalid_client` (D.9.2: "client_secret_basic, fall back to post").
    async fn upstream_token(
        &self,
        zone: &Zone,
        p: &Provider,
        pairs: &[(&str, &str)],
    ) -> Result<Result<UpstreamToken, Upstream>, OAuthError> {
        let o = oauth2(p);
        let (Some(url), Some(client_id)) = (&o.token_endpoint, &p.client_id) else {
            return Ok(Err(Upstream::Refused("not_configured".into())));
        };
        let secret = match self
            .store
            .provider_client_secret(&zone.id, &p.id)
            .await
            .map_err(|e| internal(e.into()))?
        {
            Some(sealed) => Some(
                self.vault
                    .open(
                        &zone.id,
                        "provider",
                        p.id.as_str(),
                        "client_secret",
                        &sealed,
                    )
                    .await
                    .map_err(internal)?,
            ),
            None => None,
        };
        let secret = secret
            .as_ref()
            .map(|s| String::from_utf8_lossy(s).into_owned());
        let methods: Vec<FormAuth<'_>> = match &secret {
            Some(s) => vec![
                FormAuth::Basic {
                    client_id,
                    client_secret: s,
                },
                FormAuth::Post {
                    client_id,
                    client_secret: s,
                },
            ],
            None => vec![FormAuth::None {
                client_id: Some(client_id),
            }],
        };
        let pointer = o.token_response_access_token_pointer.as_deref();
        let mut last = Upstream::Unreachable;
        for (i, auth) in methods.iter().enumerate() {
            let mut form: Vec<(&str, &str)> = pairs.to_vec();
            if let FormAuth::None { client_id: Some(c) } = auth {
                form.push(("client_id", c));
            }
            let resp = match self
                .fetcher
                .post_form(FormPost {
                    url,
                    form: &form,
                    auth: *auth,
                })
                .await
            {
                Ok(r) => r,
                Err(FetchError::Refused(_)) | Err(FetchError::Failed(_)) => {
                    tracing::warn!(zone = %zone.id, provider = %p.id, "upstream token endpoint unreachable");
                    return Ok(Err(Upstream::Unreachable));
                }
            };
            match parse_token_response(resp.status, &resp.body, pointer) {
                Ok(t) => return Ok(Ok(t)),
                Err(UpstreamError::Refused { error, .. }) => {
                    tracing::info!(zone = %zone.id, provider = %p.id, error = %error, "upstream token request refused");
                    let retry = error == "invalid_client" && i + 1 < methods.len();
                    last = Upstream::Refused(error);
                    if !retry {
                        break;
                    }
                }
                Err(UpstreamError::Malformed(why)) => {
                    tracing::warn!(zone = %zone.id, provider = %p.id, why, status = resp.status, "upstream token response unusable");
                    return Ok(Err(Upstream::Unreachable));
                }
            }
        }
        Ok(Err(last))
    }

    async fn seal_token(
        &self,
        zone: &Zone,
        grant: &GrantId,
        field: &str,
        token: &str,
    ) -> Result<Vec<u8>, OAuthError> {
        self.vault
            .seal(&zone.id, ENTITY, grant.as_str(), field, token.as_bytes())
            .await
            .map_err(internal)
    }

    async fn store_grant(
        &self,
        zone: &Zone,
        user: &UserId,
        resource: &ResourceId,
        p: &Provider,
        requested: &[String],
        t: &UpstreamToken,
    ) -> Result<(), OAuthError> {
        let now = Timestamp::now();
        let id = GrantId::generate();
        let sep = oauth2(p).scope_separator.unwrap_or_else(|| " ".into());
        let scopes = t
            .scope
            .as_deref()
            .map(|s| split_scopes(s, &sep))
            .unwrap_or_else(|| requested.to_vec());
        let access = self
            .seal_token(zone, &id, "access_token", &t.access_token)
            .await?;
        let refresh = match &t.refresh_token {
            Some(r) => Some(self.seal_token(zone, &id, "refresh_token", r).await?),
            None => None,
        };
        let grant = Grant {
            id,
            zone_id: zone.id.clone(),
            user_id: user.clone(),
            resource_id: resource.clone(),
            provider_id: p.id.clone(),
            scopes,
            revoked: false,
            refresh_token_set: refresh.is_some(),
            expires_at: to_micros(
                t.expires_in.map_or(UNKNOWN_EXPIRY_SECS, |e| {
                    e.min(i64::MAX as u64 / 2_000_000) as i64
                }),
                now,
            ),
            refreshed_at: None,
            created_at: now,
            updated_at: now,
        };
        self.store
            .grants()
            .connect_grant(&grant, &access, refresh.as_deref())
            .await
            .map_err(|e| internal(e.into()))
    }

    /// `insufficient_authorization` naming the user, the provider and the
    /// connect URL (D.9.2 step 4: `error_description` is the only text an
    /// application can show).
    async fn not_connected(
        &self,
        zone: &Zone,
        user: &UserId,
        p: &Provider,
        r: &Resource,
        why: Lacking<'_>,
    ) -> OAuthError {
        let name = self
            .signin
            .user_name(&zone.id, user)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| user.to_string());
        let url = redirect_with(
            &format!("{}/oauth/connect", self.layout.issuer(&zone.id)),
            &[("resource", r.identifier.as_str())],
        );
        let (pn, ri) = (&p.name, &r.identifier);
        let text = match why {
            Lacking::Connection => format!(
                "{name} has no connection to {pn} for {ri} (never connected, or revoked); \
                 connect it at {url}"
            ),
            Lacking::Expired => {
                format!("{name}'s connection to {pn} for {ri} has expired; connect it again at {url}")
            }
            Lacking::Scope(s) => format!(
                "{name}'s connection to {pn} for {ri} does not grant scope {}; connect it again at {url}",
                echo(s)
            ),
            Lacking::RefreshRefused => format!(
                "{pn} refused to renew {name}'s connection for {ri}; connect it again at {url}"
            ),
        };
        OAuthError::new(ErrorCode::InsufficientAuthorization, text)
    }

    /// The brokered exchange (D.9.2 step 3): the user's upstream access
    /// token for an external provider's resource, refreshed first when it
    /// has expired — single-flight across nodes through the grant row's
    /// compare-and-set lease, the rotated refresh token stored before the
    /// new access token is handed out.
    pub(crate) async fn brokered_token(
        &self,
        zone: &Zone,
        subject: &crate::policy::Subject,
        resources: &[Resource],
        scopes: &[String],
    ) -> Result<TokenResponse, OAuthError> {
        let [r] = resources else {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "request resources served by an external provider one at a time",
            ));
        };
        let user = match (subject.sub_profile, UserId::parse(&subject.sub)) {
            ("user", Ok(u)) => u,
            _ => {
                return Err(OAuthError::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "{}'s tokens come from a person's delegated grant; exchange a user's token",
                        r.identifier
                    ),
                ))
            }
        };
        let p = self
            .external_provider(zone, r)
            .await?
            .ok_or_else(OAuthError::server_error)?;
        let deadline = tokio::time::Instant::now() + REFRESH_WAIT;
        // Once this call has refreshed, it serves what it stored (a
        // provider's lifetime may be shorter than the margin).
        let mut refreshed = false;
        loop {
            let now = Timestamp::now();
            let Some(g) = self
                .store
                .grants()
                .grant_tokens(&zone.id, &user, &r.id)
                .await
                .map_err(|e| internal(e.into()))?
            else {
                return Err(self
                    .not_connected(zone, &user, &p, r, Lacking::Connection)
                    .await);
            };
            if !g.grant.usable(now) {
                return Err(self
                    .not_connected(zone, &user, &p, r, Lacking::Expired)
                    .await);
            }
            if let Some(missing) = scopes.iter().find(|s| !g.grant.scopes.contains(s)) {
                return Err(self
                    .not_connected(zone, &user, &p, r, Lacking::Scope(missing))
                    .await);
            }
            let margin = if refreshed { 0 } else { EXPIRY_MARGIN_SECS };
            let fresh = g.grant.expires_at.as_micros() > now.as_micros() + margin * 1_000_000;
            if let (true, Some(sealed)) = (fresh, &g.access_token_sealed) {
                let token = self
                    .vault
                    .open(
                        &zone.id,
                        ENTITY,
                        g.grant.id.as_str(),
                        "access_token",
                        sealed,
                    )
                    .await
                    .map_err(internal)?;
                return Ok(TokenResponse {
                    access_token: String::from_utf8_lossy(&token).into_owned(),
                    token_type: "Bearer",
                    expires_in: ((g.grant.expires_at.as_micros() - now.as_micros()) / 1_000_000)
                        as u64,
                    scope: Some(if scopes.is_empty() {
                        g.grant.scopes.join(" ")
                    } else {
                        scopes.join(" ")
                    })
                    .filter(|s| !s.is_empty()),
                    issued_token_type: None,
                    refresh_token: None,
                    id_token: None,
                });
            }
            let Some(sealed_refresh) = g.refresh_token_sealed.clone() else {
                return Err(self
                    .not_connected(zone, &user, &p, r, Lacking::Expired)
                    .await);
            };
            let leased = g
                .refresh_lease_until
                .is_some_and(|l| l.as_micros() > now.as_micros());
            let won = !leased
                && self
                    .store
                    .grants()
                    .claim_grant_refresh(
                        &zone.id,
                        &g.grant.id,
                        g.version,
                        to_micros(REFRESH_LEASE_SECS, now),
                        now,
                    )
                    .await
                    .map_err(|e| internal(e.into()))?;
            if !won {
                // Another exchange (on this node or another) is refreshing:
                // wait for its result instead of refreshing again.
                if tokio::time::Instant::now() >= deadline {
                    return Err(OAuthError::new(
                        ErrorCode::TemporarilyUnavailable,
                        format!(
                            "the refresh of the {} token is taking too long; try again",
                            p.name
                        ),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            // Won the lease: refresh, store, then serve the stored token on
            // the next turn of the loop.
            self.refresh_grant(zone, &user, &p, r, &g, &sealed_refresh)
                .await?;
            refreshed = true;
        }
    }

    /// Refreshes a grant whose lease this call holds.
    async fn refresh_grant(
        &self,
        zone: &Zone,
        user: &UserId,
        p: &Provider,
        r: &Resource,
        g: &GrantTokens,
        sealed_refresh: &[u8],
    ) -> Result<(), OAuthError> {
        let id = &g.grant.id;
        let refresh = self
            .vault
            .open(
                &zone.id,
                ENTITY,
                id.as_str(),
                "refresh_token",
                sealed_refresh,
            )
            .await
            .map_err(internal)?;
        let refresh = String::from_utf8_lossy(&refresh).into_owned();
        let pairs = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ];
        let grants = self.store.grants();
        let release = || async {
            grants
                .release_grant_refresh(&zone.id, id)
                .await
                .map_err(|e| internal(e.into()))
        };
        match self.upstream_token(zone, p, &pairs).await {
            Ok(Ok(t)) => {
                let now = Timestamp::now();
                let access = self
                    .seal_token(zone, id, "access_token", &t.access_token)
                    .await?;
                let rotated = match &t.refresh_token {
                    Some(rt) if *rt != refresh => {
                        Some(self.seal_token(zone, id, "refresh_token", rt).await?)
                    }
                    _ => None,
                };
                let sep = oauth2(p).scope_separator.unwrap_or_else(|| " ".into());
                let scopes = t.scope.as_deref().map(|s| split_scopes(s, &sep));
                grants
                    .store_refreshed_grant(
                        &zone.id,
                        id,
                        RefreshedTokens {
                            access_token_sealed: &access,
                            refresh_token_sealed: rotated.as_deref(),
                            expires_at: to_micros(
                                t.expires_in.map_or(UNKNOWN_EXPIRY_SECS, |e| {
                                    e.min(i64::MAX as u64 / 2_000_000) as i64
                                }),
                                now,
                            ),
                            scopes: scopes.as_deref(),
                            now,
                        },
                    )
                    .await
                    .map_err(|e| internal(e.into()))?;
                tracing::info!(zone = %zone.id, grant = %id, provider = %p.id, rotated = rotated.is_some(), "delegated grant refreshed");
                Ok(())
            }
            Ok(Err(Upstream::Refused(error))) if error == "invalid_grant" => {
                grants
                    .expire_grant(&zone.id, id, Timestamp::now())
                    .await
                    .map_err(|e| internal(e.into()))?;
                tracing::info!(zone = %zone.id, grant = %id, provider = %p.id, "delegated grant expired: the provider refused its refresh token");
                Err(self
                    .not_connected(zone, user, p, r, Lacking::RefreshRefused)
                    .await)
            }
            Ok(Err(Upstream::Refused(error))) => {
                release().await?;
                Err(OAuthError::new(
                    ErrorCode::TemporarilyUnavailable,
                    format!(
                        "{} refused to renew the token ({}); the grant is kept, try again later",
                        p.name,
                        echo(&error)
                    ),
                ))
            }
            Ok(Err(Upstream::Unreachable)) => {
                release().await?;
                Err(OAuthError::new(
                    ErrorCode::TemporarilyUnavailable,
                    format!(
                        "{} could not be reached to renew the token; the grant is kept, try again",
                        p.name
                    ),
                ))
            }
            Err(e) => {
                release().await?;
                Err(e)
            }
        }
    }
}

/// Why a person's grant cannot serve an exchange (the wording of the
/// `insufficient_authorization` description).
enum Lacking<'a> {
    /// No unrevoked grant: never connected, or revoked.
    Connection,
    Expired,
    Scope(&'a str),
    RefreshRefused,
}

/// Why an upstream token request failed.
enum Upstream {
    /// The provider answered with an RFC 6749 §5.2 error.
    Refused(String),
    /// No usable answer (network, timeout, not a token response).
    Unreachable,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_split_on_spaces_and_the_providers_separator() {
        assert_eq!(split_scopes("repo read:user", " "), ["repo", "read:user"]);
        assert_eq!(
            split_scopes("chat:write,users:read", ","),
            ["chat:write", "users:read"]
        );
        assert_eq!(split_scopes(" a,, b ", ","), ["a", "b"]);
        assert!(split_scopes("", ",").is_empty());
    }

    #[test]
    fn expiry_is_counted_from_now_in_microseconds() {
        let now = Timestamp::from_micros(1_000_000);
        assert_eq!(to_micros(60, now).as_micros(), 61_000_000);
    }
}
