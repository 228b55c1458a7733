//! People signing in to a zone: the authorization endpoint (RFC 6749 §4.1,
//! PKCE RFC 7636, resource indicators RFC 8707, RFC 9207 `iss`), password
//! sign-in, consent, browser sessions, and the codes the token endpoint
//! redeems (`token/authorization_code.rs`).
//!
//! The flow keeps no server-side state until a person has signed in: the
//! validated request travels in the forms as a *transaction* sealed with
//! the zone's data key and bound to the browser (a random `kz_browser`
//! cookie), which makes it the forms' CSRF token as well. After sign-in the
//! browser holds a session cookie (`kz_session` = session id and a 256-bit
//! secret, stored as a digest); codes are single-use, live 60 s and are
//! stored as digests too.
//!
//! Rules a bad request meets: an unknown `client_id` or a `redirect_uri`
//! not registered for it gets an error page and is never redirected to;
//! every other problem is redirected to the client with `error`, `state`
//! and `iss`.

use crate::token::{internal, now_secs, TokenService};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keyzone_core::store::{SecretDigest, StoreError};
use keyzone_domain::directory::{Consent, CredentialKind};
use keyzone_domain::identity::{Session, SessionKind, User, UserStatus};
use keyzone_domain::zone::Zone;
use keyzone_domain::{ApplicationId, SessionId, Timestamp, UserAgentId, UserId};
use keyzone_oauth::request::{Form, OIDC_SCOPES};
use keyzone_oauth::{echo, ErrorCode, OAuthError};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// How long a sign-in transaction (an open sign-in or consent page) lives.
pub const TRANSACTION_LIFETIME_SECS: u64 = 600;
/// RFC 6749 §4.1.2: codes are short-lived and single-use.
pub const CODE_LIFETIME_SECS: u64 = 60;
/// Default lifetime of a browser session (the sign-in a person is not asked
/// for again); see [`crate::token::SessionLifetimes`].
pub const BROWSER_SESSION_LIFETIME_SECS: u64 = 12 * 3600;
/// Failed sign-ins tolerated per account and per client address in a
/// window before further attempts are refused for the rest of it.
pub const MAX_FAILED_SIGN_INS: u32 = 5;
pub const FAILED_SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);
pub use crate::passwords::MIN_PASSWORD_LEN;

pub const BROWSER_COOKIE: &str = "kz_browser";
pub const SESSION_COOKIE: &str = "kz_session";

/// A 256-bit random secret, base64url.
pub(crate) fn random_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

pub(crate) fn digest(secret: &str) -> SecretDigest {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether a scope is one the zone grants itself.
pub fn is_oidc_scope(s: &str) -> bool {
    OIDC_SCOPES.contains(&s)
}

/// A client that may use the authorization endpoint.
#[derive(Debug, Clone)]
pub(crate) struct AuthClient {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// RP-Initiated Logout 1.0 §3.1: where it may send the browser after.
    pub post_logout_redirect_uris: Vec<String>,
    /// Public clients prove themselves with PKCE only.
    pub public: bool,
    /// Registered with the `refresh_token` grant (or an application's).
    pub refresh: bool,
    /// Registered applications may redirect to a loopback URI on any port
    /// (RFC 8252 §7.3); self-registered clients name their exact port.
    pub loopback_any_port: bool,
    pub user_agent_id: Option<UserAgentId>,
    pub application_id: Option<ApplicationId>,
}

/// Why a `client_id` may not use the authorization endpoint: an error
/// page (never a redirect) with this title and message.
#[derive(Debug, Clone)]
pub(crate) struct ClientRefused {
    pub title: &'static str,
    pub message: String,
}

/// What a validated authorization request asked for; carried sealed in the
/// transaction, then in the code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AuthRequest {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    /// Resolved resource identifiers (the tokens' audiences).
    pub resources: Vec<String>,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
    /// Some resource's application asks for consent.
    pub consent_required: bool,
    pub refresh: bool,
    pub user_agent_id: Option<String>,
    pub application_id: Option<String>,
}

impl AuthRequest {
    /// What a remembered consent is for.
    fn consent_key(&self) -> String {
        let mut r = self.resources.clone();
        r.sort();
        let mut s = self.scopes.clone();
        s.sort();
        format!("{}|{}", r.join(" "), s.join(" "))
    }
}

/// The sealed transaction's content.
#[derive(Serialize, Deserialize)]
struct Transaction {
    req: AuthRequest,
    exp: u64,
}

/// What a code grants, stored with it (and with a refresh token).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub resources: Vec<String>,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub user_id: String,
    pub auth_time: u64,
    pub refresh: bool,
    pub user_agent_id: Option<String>,
    pub application_id: Option<String>,
}

/// The browser's cookies and address, as the page layer read them.
#[derive(Debug, Clone, Default)]
pub struct Browser {
    pub browser_id: Option<String>,
    pub session: Option<String>,
    pub address: Option<IpAddr>,
}

/// What the page layer shows or does next.
#[derive(Debug, Clone)]
pub enum Step {
    /// The sign-in form (with a link to sign up when the zone allows it).
    SignIn {
        txn: String,
        client_name: String,
        email: Option<String>,
        error: Option<&'static str>,
        sign_up: bool,
    },
    /// The sign-up form.
    SignUp {
        txn: String,
        client_name: String,
        email: Option<String>,
        error: Option<String>,
    },
    /// The email verification form (`crate::verification`): one `code`
    /// input, a second submit button asks for a new code.
    VerifyEmail {
        txn: String,
        client_name: String,
        email: String,
        error: Option<String>,
        notice: Option<String>,
    },
    /// The form of an invitation's link (`crate::invitations`): the
    /// invited person sets a password.
    Invitation {
        token: String,
        email: String,
        error: Option<String>,
    },
    /// The consent form.
    Consent {
        txn: String,
        client_name: String,
        resources: Vec<String>,
        scopes: Vec<String>,
    },
    /// 303 to the client (a code or an error), always with `state` and `iss`.
    Redirect(String),
    /// A page with a message: an error (never a redirect) or a notice
    /// such as "signed out".
    Message {
        status: u16,
        title: &'static str,
        message: String,
    },
}

/// A step plus the cookies to set.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub step: Step,
    /// A new browser id to set.
    pub set_browser: Option<String>,
    /// A new session cookie value to set.
    pub set_session: Option<String>,
    /// Remove the session cookie (signed out).
    pub clear_session: bool,
}

impl Outcome {
    pub(crate) fn step(step: Step) -> Self {
        Self {
            step,
            set_browser: None,
            set_session: None,
            clear_session: false,
        }
    }
}

pub(crate) fn refused(status: u16, title: &'static str, message: impl Into<String>) -> Outcome {
    Outcome::step(Step::Message {
        status,
        title,
        message: message.into(),
    })
}

/// A transaction that is stale, forged or from another browser.
pub(crate) fn expired() -> Outcome {
    refused(
        400,
        "This sign-in has expired",
        "Go back to the application and start signing in again.",
    )
}

pub(crate) fn not_signed_in() -> Outcome {
    refused(
        400,
        "You are not signed in",
        "Go back to the application and start signing in again.",
    )
}

/// `{redirect_uri}?…` with the parameters appended (RFC 6749 §4.1.2).
pub(crate) fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut out = String::from(redirect_uri);
    let mut sep = if redirect_uri.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        out.push(sep);
        sep = '&';
        out.push_str(k);
        out.push('=');
        out.extend(form_urlencoded_byte_serialize(v));
    }
    out
}

fn form_urlencoded_byte_serialize(v: &str) -> impl Iterator<Item = char> + '_ {
    // RFC 3986 unreserved characters stay; everything else is %-encoded.
    v.bytes().flat_map(|b| {
        let keep = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        let s = if keep {
            (b as char).to_string()
        } else {
            format!("%{b:02X}")
        };
        s.chars().collect::<Vec<_>>()
    })
}

/// Whether `given` is `registered`, or — for a registered loopback URI of
/// a client allowed any port — the same but for the port (RFC 8252 §7.3).
fn redirect_matches(registered: &str, given: &str, any_port: bool) -> bool {
    if registered == given {
        return true;
    }
    if !any_port {
        return false;
    }
    let (Ok(r), Ok(g)) = (url::Url::parse(registered), url::Url::parse(given)) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
    };
    loopback(&r)
        && loopback(&g)
        && r.host_str() == g.host_str()
        && r.path() == g.path()
        && r.query() == g.query()
}

/// Whether a sign-in made at `authenticated_at` is too old for `max_age`
/// (OpenID Connect Core §3.1.2.1): more than `max_age` seconds have passed,
/// measured in microseconds (whole seconds let a sign-in up to a second
/// older through), and `max_age=0` is `prompt=login` whenever it was.
fn sign_in_too_old(authenticated_at: Timestamp, max_age: u64, now: Timestamp) -> bool {
    let elapsed = now.as_micros().saturating_sub(authenticated_at.as_micros());
    max_age == 0
        || elapsed
            > i64::try_from(max_age)
                .unwrap_or(i64::MAX)
                .saturating_mul(1_000_000)
}

/// Email addresses compare case-insensitively and without surrounding space.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plausible email address (the rest is the mail system's business).
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_control() || c.is_whitespace())
}

impl TokenService {
    /// The client of an authorization request: a self-registered user agent
    /// (`ua:…`) with the redirect URIs it registered, an application's
    /// `public` or `password` credential with the application's, or an
    /// unregistered URL, a client ID metadata document (`crate::cimd`).
    pub(crate) async fn auth_client(
        &self,
        zone: &Zone,
        client_id: &str,
    ) -> Result<Result<AuthClient, ClientRefused>, OAuthError> {
        let unknown = || {
            Ok(Err(ClientRefused {
                title: "Unknown application",
                message: format!(
                    "{} is not an application that may sign people in to this zone.",
                    echo(client_id)
                ),
            }))
        };
        if client_id.starts_with("ua:") {
            let Some(ua) = self
                .user_agents
                .get_or_load((zone.id.clone(), client_id.to_owned()), || async {
                    Ok::<_, OAuthError>(
                        self.signin
                            .user_agent_by_identifier(&zone.id, client_id)
                            .await
                            .map_err(|e| internal(e.into()))?
                            .map(std::sync::Arc::new),
                    )
                })
                .await?
            else {
                return unknown();
            };
            let meta = ua.metadata.clone().unwrap_or_default();
            let strings = |k: &str| -> Vec<String> {
                meta.get(k)
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let grants = strings("grant_types");
            return Ok(Ok(AuthClient {
                client_id: ua.identifier.clone(),
                name: ua.name.clone(),
                redirect_uris: strings("redirect_uris"),
                post_logout_redirect_uris: strings("post_logout_redirect_uris"),
                public: true,
                // RFC 7591 §2: grant_types defaults to authorization_code.
                refresh: grants.iter().any(|g| g == "refresh_token"),
                loopback_any_port: false,
                user_agent_id: Some(ua.id.clone()),
                application_id: None,
            }));
        }
        let Some((credential, _)) = self.lookups.client(&zone.id, client_id).await? else {
            if crate::cimd::is_url_client_id(client_id) {
                return self.cimd_client(zone, client_id).await;
            }
            return unknown();
        };
        let public = match credential.kind {
            CredentialKind::Public => true,
            CredentialKind::Password => false,
            _ => return unknown(),
        };
        let Some(app) = self
            .signin
            .get_application(&zone.id, &credential.application_id)
            .await
            .map_err(|e| internal(e.into()))?
        else {
            return unknown();
        };
        Ok(Ok(AuthClient {
            client_id: credential.identifier.clone(),
            name: app.name.clone(),
            redirect_uris: app.redirect_uris.clone().unwrap_or_default(),
            post_logout_redirect_uris: app.post_logout_redirect_uris.clone().unwrap_or_default(),
            public,
            refresh: true,
            loopback_any_port: true,
            user_agent_id: None,
            application_id: Some(app.id),
        }))
    }

    pub(crate) async fn seal_transaction(
        &self,
        zone: &Zone,
        browser_id: &str,
        req: &AuthRequest,
    ) -> Result<String, OAuthError> {
        let t = Transaction {
            req: req.clone(),
            exp: now_secs() + TRANSACTION_LIFETIME_SECS,
        };
        let json = serde_json::to_vec(&t).map_err(|_| OAuthError::server_error())?;
        let sealed = self
            .vault
            .seal(
                &zone.id,
                "authorization_request",
                browser_id,
                "transaction",
                &json,
            )
            .await
            .map_err(internal)?;
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The transaction of a form post, if it was made for this browser and
    /// has not expired.
    pub(crate) async fn open_transaction(
        &self,
        zone: &Zone,
        browser: &Browser,
        txn: &str,
    ) -> Option<AuthRequest> {
        let browser_id = browser.browser_id.as_deref()?;
        let sealed = URL_SAFE_NO_PAD.decode(txn.as_bytes()).ok()?;
        if sealed.len() > 64 * 1024 {
            return None;
        }
        let plain = self
            .vault
            .open(
                &zone.id,
                "authorization_request",
                browser_id,
                "transaction",
                &sealed,
            )
            .await
            .ok()?;
        let t: Transaction = serde_json::from_slice(&plain).ok()?;
        (t.exp > now_secs()).then_some(t.req)
    }

    /// The signed-in user of a live browser session cookie.
    pub(crate) async fn session_user(
        &self,
        zone: &Zone,
        cookie: Option<&str>,
    ) -> Result<Option<(Session, User)>, OAuthError> {
        let Some((id, secret)) = cookie.and_then(|c| c.split_once('.')) else {
            return Ok(None);
        };
        let Ok(id) = SessionId::parse(id) else {
            return Ok(None);
        };
        let Some((session, stored)) = self
            .signin
            .browser_session(&zone.id, &id)
            .await
            .map_err(|e| internal(e.into()))?
        else {
            return Ok(None);
        };
        if !bool::from(stored.as_slice().ct_eq(&digest(secret)))
            || session.revoked
            || session.expires_at <= Timestamp::now()
            || session.parent_id.is_some()
        {
            return Ok(None);
        }
        let SessionKind::User { user_id, .. } = &session.kind else {
            return Ok(None);
        };
        let Some(user) = self
            .signin
            .get_user(&zone.id, user_id)
            .await
            .map_err(|e| internal(e.into()))?
        else {
            return Ok(None);
        };
        if user.user.status != UserStatus::Active {
            return Ok(None);
        }
        Ok(Some((session, user.user)))
    }

    /// `GET`/`POST {issuer}/oauth/authorize`.
    pub async fn authorize(&self, zone: &Zone, form: &Form, browser: &Browser) -> Outcome {
        match self.authorize_inner(zone, form, browser).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(zone = %zone.id, error = %e, "authorization endpoint failed");
                refused(
                    500,
                    "Something went wrong",
                    "The sign-in could not be started. Please try again later.",
                )
            }
        }
    }

    async fn authorize_inner(
        &self,
        zone: &Zone,
        form: &Form,
        browser: &Browser,
    ) -> Result<Outcome, OAuthError> {
        // 1. The client and its redirect URI: failures here never redirect.
        let Ok(Some(client_id)) = form.one("client_id") else {
            return Ok(refused(
                400,
                "Unknown application",
                "The request does not name an application (client_id).",
            ));
        };
        let client = match self.auth_client(zone, client_id).await? {
            Ok(c) => c,
            Err(r) => return Ok(refused(400, r.title, r.message)),
        };
        let redirect_uri = match form.one("redirect_uri") {
            Ok(Some(r)) => r.to_owned(),
            Ok(None) if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            _ => {
                return Ok(refused(
                    400,
                    "Missing redirect address",
                    "The request must name one of the application's registered redirect URIs.",
                ))
            }
        };
        if !client
            .redirect_uris
            .iter()
            .any(|r| redirect_matches(r, &redirect_uri, client.loopback_any_port))
        {
            return Ok(refused(
                400,
                "Unregistered redirect address",
                format!(
                    "{} is not a redirect URI registered for {}.",
                    echo(&redirect_uri),
                    client.name
                ),
            ));
        }
        let state = form.all("state").next().map(str::to_owned);
        let issuer = self.layout.issuer(&zone.id);
        let to_client = |code: ErrorCode, description: String| {
            let mut params = vec![
                ("error", code.as_str().to_owned()),
                ("error_description", description),
            ];
            if let Some(s) = &state {
                params.push(("state", s.clone()));
            }
            params.push(("iss", issuer.clone()));
            let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            Ok(Outcome::step(Step::Redirect(redirect_with(
                &redirect_uri,
                &p,
            ))))
        };
        // 2. Everything else redirects with error, state and iss.
        match form.one("response_type") {
            Ok(Some("code")) => {}
            Ok(other) => {
                return to_client(
                    ErrorCode::UnsupportedResponseType,
                    format!(
                        "response_type {} is not supported; use code",
                        echo(other.unwrap_or(""))
                    ),
                )
            }
            Err(e) => return to_client(e.code, e.description),
        }
        let code_challenge = match (
            form.one("code_challenge"),
            form.one("code_challenge_method"),
        ) {
            (Ok(Some(c)), Ok(Some("S256"))) => Some(c.to_owned()),
            (Ok(Some(_)), Ok(None)) | (Ok(Some(_)), Ok(Some(_))) => {
                return to_client(
                    ErrorCode::InvalidRequest,
                    "code_challenge_method must be S256 (plain is not accepted)".into(),
                )
            }
            (Ok(None), _) => None,
            (Err(e), _) | (_, Err(e)) => return to_client(e.code, e.description),
        };
        if let Some(c) = &code_challenge {
            // RFC 7636 §4.2: 43–128 characters of the verifier alphabet.
            let ok = (43..=128).contains(&c.len())
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            if !ok {
                return to_client(ErrorCode::InvalidRequest, "malformed code_challenge".into());
            }
        }
        if code_challenge.is_none() && (client.public || zone.pkce_required) {
            return to_client(
                ErrorCode::InvalidRequest,
                "PKCE is required: send code_challenge with code_challenge_method=S256".into(),
            );
        }
        let scopes = match form.scopes() {
            Ok(s) => s,
            Err(e) => return to_client(e.code, e.description),
        };
        let resources = match self.resources(zone, form).await {
            Ok(r) => r,
            // An OpenID-only sign-in needs no resource: its access token is
            // for the userinfo endpoint.
            Err(_)
                if form.resources().is_ok_and(|r| r.is_empty())
                    && scopes.iter().any(|s| s == "openid") =>
            {
                Vec::new()
            }
            Err(e) => return to_client(e.code, e.description),
        };
        for s in &scopes {
            let defined = is_oidc_scope(s)
                || resources
                    .iter()
                    .any(|r| r.scopes.as_ref().is_some_and(|rs| rs.contains(s)));
            if !defined {
                return to_client(
                    ErrorCode::InvalidScope,
                    format!("scope {} is not defined by the requested resource", echo(s)),
                );
            }
        }
        let mut consent_required = false;
        for r in &resources {
            if let Some(app) = &r.application_id {
                if let Some(a) = self
                    .signin
                    .get_application(&zone.id, app)
                    .await
                    .map_err(|e| internal(e.into()))?
                {
                    consent_required |= a.consent == Consent::Required;
                }
            }
        }
        let prompt = form.one("prompt").ok().flatten().map(str::to_owned);
        let max_age = form
            .one("max_age")
            .ok()
            .flatten()
            .and_then(|m| m.parse::<u64>().ok());
        let req = AuthRequest {
            client_id: client.client_id.clone(),
            client_name: client.name.clone(),
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            code_challenge,
            resources: resources.iter().map(|r| r.identifier.clone()).collect(),
            scopes,
            nonce: form
                .one("nonce")
                .ok()
                .flatten()
                .map(|n| n.chars().take(512).collect()),
            prompt: prompt.clone(),
            max_age,
            login_hint: form
                .one("login_hint")
                .ok()
                .flatten()
                .map(|h| h.chars().take(254).collect()),
            consent_required,
            refresh: client.refresh,
            user_agent_id: client.user_agent_id.as_ref().map(|u| u.to_string()),
            application_id: client.application_id.as_ref().map(|a| a.to_string()),
        };
        // 3. Who is signed in.
        let prompts: Vec<&str> = prompt.as_deref().unwrap_or("").split(' ').collect();
        let mut current = self.session_user(zone, browser.session.as_deref()).await?;
        if let (Some((session, _)), Some(max_age)) = (&current, max_age) {
            let at = session.authenticated_at.unwrap_or(session.created_at);
            if sign_in_too_old(at, max_age, Timestamp::now()) {
                current = None;
            }
        }
        if prompts.contains(&"login") {
            current = None;
        }
        match current {
            Some((session, user)) => self.after_sign_in(zone, &req, &session, &user).await,
            None if prompts.contains(&"none") => to_client(
                ErrorCode::LoginRequired,
                "the user is not signed in to this zone".into(),
            ),
            None => {
                let (browser_id, set_browser) = match &browser.browser_id {
                    Some(b) if b.len() >= 32 && b.len() <= 64 => (b.clone(), None),
                    _ => {
                        let b = random_secret();
                        (b.clone(), Some(b))
                    }
                };
                let txn = self.seal_transaction(zone, &browser_id, &req).await?;
                Ok(Outcome {
                    step: Step::SignIn {
                        txn,
                        client_name: req.client_name.clone(),
                        email: req.login_hint.clone(),
                        error: None,
                        sign_up: true,
                    },
                    set_browser,
                    set_session: None,
                    clear_session: false,
                })
            }
        }
    }

    /// Consent, then the code.
    pub(crate) async fn after_sign_in(
        &self,
        zone: &Zone,
        req: &AuthRequest,
        session: &Session,
        user: &User,
    ) -> Result<Outcome, OAuthError> {
        // An unverified email is verified first, when the zone can mail.
        if let Some(o) = self.verification_step(zone, req, session, user).await? {
            return Ok(o);
        }
        let prompts: Vec<&str> = req.prompt.as_deref().unwrap_or("").split(' ').collect();
        let remembered = self
            .signin
            .has_consent(&zone.id, &user.id, &req.client_id, &req.consent_key())
            .await
            .map_err(|e| internal(e.into()))?;
        let ask = prompts.contains(&"consent") || (req.consent_required && !remembered);
        if ask {
            if prompts.contains(&"none") {
                return Ok(self.redirect_error(
                    zone,
                    req,
                    ErrorCode::ConsentRequired,
                    "the user has not approved this application",
                ));
            }
            // Bound to the session's browser: the session id stands in. A
            // 303 to the consent page (post/redirect/get), so a reload never
            // posts the password again.
            let txn = self
                .seal_transaction(zone, session.id.as_str(), req)
                .await?;
            return Ok(Outcome::step(Step::Redirect(format!(
                "{}/oauth/consent?txn={txn}",
                self.layout.issuer(&zone.id)
            ))));
        }
        self.connect_or_issue(zone, req, session, user).await
    }

    pub(crate) fn redirect_error(
        &self,
        zone: &Zone,
        req: &AuthRequest,
        code: ErrorCode,
        description: &str,
    ) -> Outcome {
        let issuer = self.layout.issuer(&zone.id);
        let mut params = vec![("error", code.as_str()), ("error_description", description)];
        if let Some(s) = &req.state {
            params.push(("state", s));
        }
        params.push(("iss", &issuer));
        Outcome::step(Step::Redirect(redirect_with(&req.redirect_uri, &params)))
    }

    pub(crate) async fn issue_code(
        &self,
        zone: &Zone,
        req: &AuthRequest,
        session: &Session,
        user: &User,
    ) -> Result<Outcome, OAuthError> {
        // Every path to a code passes here (consent too).
        if let Some(o) = self.verification_step(zone, req, session, user).await? {
            return Ok(o);
        }
        let code = random_secret();
        let grant = CodeGrant {
            client_id: req.client_id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            code_challenge: req.code_challenge.clone(),
            resources: req.resources.clone(),
            scopes: req.scopes.clone(),
            nonce: req.nonce.clone(),
            user_id: user.id.to_string(),
            auth_time: (session
                .authenticated_at
                .unwrap_or(session.created_at)
                .as_micros()
                / 1_000_000) as u64,
            refresh: req.refresh,
            user_agent_id: req.user_agent_id.clone(),
            application_id: req.application_id.clone(),
        };
        let data = serde_json::to_string(&grant).map_err(|_| OAuthError::server_error())?;
        self.signin
            .insert_code(
                &zone.id,
                &digest(&code),
                &session.id,
                &data,
                Timestamp::from_micros(((now_secs() + CODE_LIFETIME_SECS) * 1_000_000) as i64),
            )
            .await
            .map_err(|e| internal(e.into()))?;
        let issuer = self.layout.issuer(&zone.id);
        let mut params = vec![("code", code.as_str())];
        if let Some(s) = &req.state {
            params.push(("state", s));
        }
        params.push(("iss", &issuer));
        Ok(Outcome::step(Step::Redirect(redirect_with(
            &req.redirect_uri,
            &params,
        ))))
    }

    /// `POST {issuer}/oauth/login`: email and password.
    pub async fn sign_in(
        &self,
        zone: &Zone,
        browser: &Browser,
        txn: &str,
        email: &str,
        password: &str,
    ) -> Outcome {
        match self
            .sign_in_inner(zone, browser, txn, email, password)
            .await
        {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(zone = %zone.id, error = %e, "sign-in failed");
                refused(500, "Something went wrong", "Please try again later.")
            }
        }
    }

    async fn sign_in_inner(
        &self,
        zone: &Zone,
        browser: &Browser,
        txn: &str,
        email: &str,
        password: &str,
    ) -> Result<Outcome, OAuthError> {
        let Some(req) = self.open_transaction(zone, browser, txn).await else {
            return Ok(expired());
        };
        let email = normalize_email(email);
        let again = |error: &'static str| {
            Outcome::step(Step::SignIn {
                txn: txn.to_owned(),
                client_name: req.client_name.clone(),
                email: Some(email.clone()),
                error: Some(error),
                sign_up: true,
            })
        };
        // Throttled in the database, so every node counts together; the
        // keys are digests (an unknown account's email is not kept).
        let account = digest(&format!("account:{email}"));
        let mut keys = vec![account];
        if let Some(a) = browser.address {
            keys.push(digest(&format!("address:{a}")));
        }
        let now = Timestamp::now();
        let failures = self
            .signin
            .sign_in_failures(&zone.id, &keys, now)
            .await
            .map_err(|e| internal(e.into()))?;
        if failures >= u64::from(MAX_FAILED_SIGN_INS) {
            return Ok(again(
                "Too many failed attempts. Wait a few minutes, then try again.",
            ));
        }
        let found = self
            .signin
            .local_user_by_email(&zone.id, &email)
            .await
            .map_err(|e| internal(e.into()))?;
        // The same work whether or not the account exists (no enumeration),
        // on a blocking thread: ~30 ms of argon2 must not stall the runtime.
        let password = password.to_owned();
        let user = tokio::task::spawn_blocking(move || match found {
            Some((user, Some(hash))) if keyzone_crypto::password::verify(&password, &hash) => {
                Some(user)
            }
            Some(_) => None,
            None => {
                keyzone_crypto::password::verify_nothing(&password);
                None
            }
        })
        .await
        .map_err(|_| OAuthError::server_error())?;
        let Some(user) = user.filter(|u| u.status == UserStatus::Active) else {
            let window = FAILED_SIGN_IN_WINDOW.as_micros() as i64;
            self.signin
                .record_sign_in_failure(
                    &zone.id,
                    &keys,
                    now,
                    Timestamp::from_micros(now.as_micros() + window),
                )
                .await
                .map_err(|e| internal(e.into()))?;
            return Ok(again("The email or password is incorrect."));
        };
        self.signin
            .clear_sign_in_failures(&zone.id, &account)
            .await
            .map_err(|e| internal(e.into()))?;
        self.start_session(zone, &req, &user).await
    }

    /// Opens the browser session of a person who just proved who they are,
    /// then goes on with consent and the code.
    async fn start_session(
        &self,
        zone: &Zone,
        req: &AuthRequest,
        user: &User,
    ) -> Result<Outcome, OAuthError> {
        let now = Timestamp::now();
        let secret = random_secret();
        let session = Session {
            id: SessionId::generate(),
            zone_id: zone.id.clone(),
            parent_id: None,
            kind: SessionKind::User {
                user_id: user.id.clone(),
                user_agent_id: None,
                application_id: None,
                provider_id: None,
                issuer: None,
                subject: None,
            },
            revoked: false,
            name: None,
            session_data: None,
            authenticated_at: Some(now),
            expires_at: Timestamp::from_micros(
                now.as_micros() + (self.lifetimes.browser_session_secs * 1_000_000) as i64,
            ),
            created_at: now,
            updated_at: now,
        };
        self.signin
            .insert_browser_session(&session, &digest(&secret))
            .await
            .map_err(|e| internal(e.into()))?;
        self.signin
            .record_user_sign_in(&zone.id, &user.id, now)
            .await
            .map_err(|e| internal(e.into()))?;
        let mut out = self.after_sign_in(zone, req, &session, user).await?;
        out.set_session = Some(format!("{}.{secret}", session.id));
        Ok(out)
    }

    /// `GET {issuer}/oauth/signup?txn=…`: the sign-up form, when the zone
    /// lets people sign up themselves (`requires_invitation: false`).
    pub async fn sign_up_form(&self, zone: &Zone, browser: &Browser, txn: &str) -> Outcome {
        let Some(req) = self.open_transaction(zone, browser, txn).await else {
            return expired();
        };
        // In a zone that requires invitations the form is shown too: an
        // invited address may sign up (checked when it is posted).
        Outcome::step(Step::SignUp {
            txn: txn.to_owned(),
            client_name: req.client_name,
            email: req.login_hint,
            error: None,
        })
    }

    /// `POST {issuer}/oauth/signup`: creates the account (email not yet
    /// verified) and signs the person in.
    pub async fn sign_up(
        &self,
        zone: &Zone,
        browser: &Browser,
        txn: &str,
        email: &str,
        password: &str,
    ) -> Outcome {
        let result = async {
            let Some(req) = self.open_transaction(zone, browser, txn).await else {
                return Ok(expired());
            };
            let again = |error: String| {
                Outcome::step(Step::SignUp {
                    txn: txn.to_owned(),
                    client_name: req.client_name.clone(),
                    email: Some(normalize_email(email)),
                    error: Some(error),
                })
            };
            let invitation = if zone.requires_invitation {
                match self.pending_invitation(zone, email).await? {
                    Some(i) => Some(i),
                    None => return Ok(again(
                        "This zone admits only invited email addresses. Ask its administrators for an invitation.".into(),
                    )),
                }
            } else {
                None
            };
            let user = match self.provision_user(zone, email, Some(password), None, false).await {
                Ok(u) => u,
                Err(keyzone_core::CoreError::Validation(v)) => {
                    return Ok(again(
                        v.0.iter()
                            .map(|e| format!("{}: {}", e.field, e.message))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ))
                }
                Err(keyzone_core::CoreError::Conflict(_)) => {
                    // Says no more than sign-in would: the address is taken.
                    return Ok(again(
                        "An account with this email already exists; sign in instead.".into(),
                    ));
                }
                Err(e) => return Err(internal(e)),
            };
            if let Some(i) = invitation {
                self.use_invitation(zone, &i).await?;
            }
            self.start_session(zone, &req, &user).await
        }
        .await;
        result.unwrap_or_else(|e: OAuthError| {
            tracing::warn!(zone = %zone.id, error = %e, "sign-up failed");
            refused(500, "Something went wrong", "Please try again later.")
        })
    }

    /// `GET {issuer}/oauth/consent?txn=…`: the consent page of a
    /// signed-in person.
    pub async fn consent_page(&self, zone: &Zone, browser: &Browser, txn: &str) -> Outcome {
        let result = async {
            let Some((session, _)) = self.session_user(zone, browser.session.as_deref()).await?
            else {
                return Ok(not_signed_in());
            };
            let bound = Browser {
                browser_id: Some(session.id.to_string()),
                ..Browser::default()
            };
            let Some(req) = self.open_transaction(zone, &bound, txn).await else {
                return Ok(expired());
            };
            Ok(Outcome::step(Step::Consent {
                txn: txn.to_owned(),
                client_name: req.client_name,
                resources: req.resources,
                scopes: req.scopes,
            }))
        }
        .await;
        result.unwrap_or_else(|e: OAuthError| {
            tracing::warn!(zone = %zone.id, error = %e, "consent page failed");
            refused(500, "Something went wrong", "Please try again later.")
        })
    }

    /// `POST {issuer}/oauth/consent`: allow or deny.
    pub async fn consent(&self, zone: &Zone, browser: &Browser, txn: &str, allow: bool) -> Outcome {
        let result = async {
            let Some((session, user)) = self.session_user(zone, browser.session.as_deref()).await?
            else {
                return Ok(not_signed_in());
            };
            let bound = Browser {
                browser_id: Some(session.id.to_string()),
                ..Browser::default()
            };
            let Some(req) = self.open_transaction(zone, &bound, txn).await else {
                return Ok(expired());
            };
            if !allow {
                return Ok(self.redirect_error(
                    zone,
                    &req,
                    ErrorCode::AccessDenied,
                    "the user denied the request",
                ));
            }
            self.signin
                .insert_consent(
                    &zone.id,
                    &user.id,
                    &req.client_id,
                    &req.consent_key(),
                    Timestamp::now(),
                )
                .await
                .map_err(|e| internal(e.into()))?;
            self.connect_or_issue(zone, &req, &session, &user).await
        }
        .await;
        result.unwrap_or_else(|e: OAuthError| {
            tracing::warn!(zone = %zone.id, error = %e, "consent failed");
            refused(500, "Something went wrong", "Please try again later.")
        })
    }

    /// `GET`/`POST {issuer}/oauth/logout` (OpenID Connect RP-Initiated
    /// Logout 1.0): ends the browser session (and with it the refresh
    /// tokens issued under it), then redirects to a
    /// `post_logout_redirect_uri` registered for the client the
    /// `id_token_hint` (or `client_id`) names, or shows a signed-out page.
    pub async fn end_session(&self, zone: &Zone, form: &Form, browser: &Browser) -> Outcome {
        let result = async {
            // The client: from an ID token this zone signed, else client_id.
            let mut client_id = form.one("client_id").ok().flatten().map(str::to_owned);
            if let Some(hint) = form.one("id_token_hint").ok().flatten() {
                let ring = self.signing.key_ring(&zone.id).await.map_err(internal)?;
                let claims = ring
                    .verify(hint)
                    .filter(|c| c["iss"].as_str() == Some(self.layout.issuer(&zone.id).as_str()));
                let Some(claims) = claims else {
                    return Ok(refused(
                        400,
                        "Not signed out",
                        "The id_token_hint is not an ID token of this zone.",
                    ));
                };
                let aud = claims["aud"].as_str().map(str::to_owned);
                if client_id.is_some() && client_id != aud {
                    return Ok(refused(
                        400,
                        "Not signed out",
                        "client_id does not match the id_token_hint.",
                    ));
                }
                client_id = aud;
            }
            if let Some((session, _)) = self.session_user(zone, browser.session.as_deref()).await? {
                self.signin
                    .revoke_session(&zone.id, &session.id)
                    .await
                    .map_err(|e| internal(e.into()))?;
            }
            let target = match (form.one("post_logout_redirect_uri").ok().flatten(), &client_id) {
                (Some(uri), Some(id)) => {
                    let registered = self
                        .auth_client(zone, id)
                        .await?
                        .is_ok_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri));
                    if !registered {
                        return Ok(Outcome {
                            clear_session: true,
                            ..refused(
                                400,
                                "Signed out",
                                "You are signed out. The address to return to is not registered for the application, so you stay here.",
                            )
                        });
                    }
                    Some(uri.to_owned())
                }
                (Some(_), None) => {
                    return Ok(Outcome {
                        clear_session: true,
                        ..refused(
                            400,
                            "Signed out",
                            "You are signed out. A return address needs id_token_hint or client_id.",
                        )
                    })
                }
                _ => None,
            };
            let step = match target {
                Some(uri) => {
                    let state = form.one("state").ok().flatten();
                    let params: Vec<(&str, &str)> = state.map(|s| ("state", s)).into_iter().collect();
                    Step::Redirect(redirect_with(&uri, &params))
                }
                None => Step::Message {
                    status: 200,
                    title: "Signed out",
                    message: "You are signed out of this zone.".into(),
                },
            };
            Ok(Outcome {
                clear_session: true,
                ..Outcome::step(step)
            })
        }
        .await;
        result.unwrap_or_else(|e: OAuthError| {
            tracing::warn!(zone = %zone.id, error = %e, "end-session failed");
            refused(500, "Something went wrong", "Please try again later.")
        })
    }

    /// A zone user created by an administrator (the management API's
    /// `POST /zones/{zone_id}/users` extension).
    pub async fn provision_user(
        &self,
        zone: &Zone,
        email: &str,
        password: Option<&str>,
        name: Option<&str>,
        email_verified: bool,
    ) -> Result<User, keyzone_core::CoreError> {
        use keyzone_domain::ValidationErrors;
        let email = normalize_email(email);
        let mut errs = ValidationErrors::new();
        if !valid_email(&email) {
            errs.add("email", "must be an email address");
        }
        if let Some(problem) =
            password.and_then(|p| crate::passwords::problem(p, self.password_blocklist))
        {
            errs.add("password", problem);
        }
        if let Some(n) = name {
            errs.check("name", keyzone_domain::validation::name(n));
        }
        errs.into_result()?;
        let now = Timestamp::now();
        let id = UserId::generate();
        let user = User {
            identifier: id.to_string(),
            id,
            zone_id: zone.id.clone(),
            email,
            email_verified,
            external: false,
            status: UserStatus::Active,
            issuer: None,
            subject: None,
            provider_id: None,
            authenticated_at: None,
            created_at: now,
            updated_at: now,
        };
        // argon2 on a blocking thread, not the runtime's.
        let hash = match password.map(str::to_owned) {
            Some(p) => Some(
                tokio::task::spawn_blocking(move || keyzone_crypto::password::hash(&p))
                    .await
                    .map_err(|e| keyzone_core::CoreError::Internal(StoreError::Other(e.into())))?,
            ),
            None => None,
        };
        self.signin
            .insert_user_with_password(&user, hash.as_deref(), name)
            .await?;
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_counts_microseconds_and_zero_always_asks_again() {
        let at = Timestamp::from_micros(1_700_000_000_000_000);
        let later = |us: i64| Timestamp::from_micros(at.as_micros() + us);
        // max_age=0 is prompt=login, even within the same second or microsecond.
        assert!(sign_in_too_old(at, 0, at));
        assert!(sign_in_too_old(at, 0, later(300_000)));
        // Otherwise: more than max_age seconds, to the microsecond.
        assert!(!sign_in_too_old(at, 5, later(5_000_000)));
        assert!(sign_in_too_old(at, 5, later(5_000_001)));
        assert!(!sign_in_too_old(at, 5, later(4_999_999)));
        // A clock that went backwards is no reason to ask again; a huge max_age never is either.
        assert!(!sign_in_too_old(at, 5, later(-1_000_000)));
        assert!(!sign_in_too_old(at, u64::MAX, later(i64::MAX / 2)));
    }

    #[test]
    fn loopback_redirects_match_on_any_port_only_when_allowed() {
        assert!(redirect_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:53682/callback",
            true
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:53682/callback",
            false
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:1/other",
            true
        ));
        assert!(!redirect_matches(
            "https://app.example.com/cb",
            "https://app.example.com:8443/cb",
            true
        ));
    }

    #[test]
    fn redirects_encode_their_parameters() {
        assert_eq!(
            redirect_with(
                "http://c/cb?x=1",
                &[("code", "a b"), ("iss", "http://i/z/1")]
            ),
            "http://c/cb?x=1&code=a%20b&iss=http%3A%2F%2Fi%2Fz%2F1"
        );
    }

    #[test]
    fn emails() {
        assert_eq!(normalize_email("  Ada@Example.COM "), "ada@example.com");
        assert!(valid_email("ada@example.com"));
        assert!(!valid_email("ada"));
        assert!(!valid_email("ada@localhost"));
        assert!(!valid_email("a da@example.com"));
    }
}
