//! The HTML surface: pages a person's browser lands on under a zone's
//! issuer (sign-in, consent, errors of the authorization endpoint). Errors
//! here are HTML pages, never JSON, and never a redirect to an address that
//! is not registered. Headers: no caching, no framing, no referrer, and a
//! content security policy without scripts.
//!
//! A new page is a route in [`router`], a handler rendering a template of
//! `crates/api/templates/` (minijinja, HTML auto-escaped), and its decisions
//! in `keyzone-authserver` (`signin.rs`).
//!
//! Cookies (see `keyzone_authserver::signin`): `kz_browser` binds a sign-in
//! transaction to the browser, `kz_session` is the signed-in session. Both
//! are `HttpOnly`, `SameSite=Lax` (the return from an upstream provider is a
//! cross-site top-level GET), `Path` = the zone's issuer path so zones never
//! share them, and `Secure` when the issuer is https (not on http: clients
//! drop Secure cookies there, and `__Host-` needs Secure).

use crate::context::{needs_body, panic_response, FinalBody};
use crate::{AppState, MAX_BODY_BYTES};
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use keyzone_authserver::signin::{Browser, Outcome, Step, BROWSER_COOKIE, SESSION_COOKIE};
use keyzone_domain::zone::Zone;
use keyzone_oauth::request::Form;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

/// Forms are small: a page's request body above this is refused.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

pub fn router() -> Router<Arc<AppState>> {
    let routes = Router::new()
        .route(
            "/z/{zone_id}/oauth/authorize",
            get(authorize_get).post(authorize_post),
        )
        .route("/z/{zone_id}/oauth/login", post(sign_in))
        .route(
            "/z/{zone_id}/oauth/consent",
            get(consent_page).post(consent),
        )
        .route("/z/{zone_id}/oauth/signup", get(sign_up_form).post(sign_up))
        .route(
            "/z/{zone_id}/oauth/verify",
            get(verify_page).post(verify_email),
        )
        .route(
            "/z/{zone_id}/oauth/invitation",
            get(invitation_page).post(accept_invitation),
        )
        .route(
            "/z/{zone_id}/oauth/logout",
            get(logout_get).post(logout_post),
        )
        .route("/z/{zone_id}/oauth/assets/keyzone.css", get(stylesheet))
        // Where upstream providers send the browser back (the zone's
        // `protocols.oauth2.redirect_uri`).
        .route("/z/{zone_id}/oauth/callback", get(connect_callback))
        // Connect (or reconnect) one upstream API later (delegated access).
        .route("/z/{zone_id}/oauth/connect", get(connect_page));
    with_layers(routes)
}

/// The surface's layers (outermost last): its error finisher, the panic
/// catcher and the body limits.
pub fn with_layers(routes: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    routes
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES.min(MAX_BODY_BYTES)))
        .layer(RequestBodyLimitLayer::new(MAX_FORM_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        // A plain response map (no boxing): this runs on every token request.
        .layer(tower::util::MapResponseLayer::new(finish_page_errors))
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page with the surface's headers.
pub fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title></head><body><main><h1>{t}</h1><p>{m}</p></main></body></html>\n",
        t = escape(title),
        m = escape(message),
    );
    with_page_headers((status, body).into_response())
}

/// `GET {issuer}/oauth/callback`: an upstream provider's answer to a
/// connect (delegated access, client-contract-login D.9.2 step 2).
async fn connect_callback(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let (zone, form) =
        match zone_and_form(&state, &zone_id, uri.query().unwrap_or("").as_bytes()).await {
            Ok(v) => v,
            Err(r) => return *r,
        };
    let outcome = state
        .tokens
        .connect_callback(&zone, &browser(&headers, peer), &form)
        .await;
    show(&state, &zone, outcome)
}

/// `GET {issuer}/oauth/connect?resource=…`: connect an upstream API.
async fn connect_page(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let (zone, form) =
        match zone_and_form(&state, &zone_id, uri.query().unwrap_or("").as_bytes()).await {
            Ok(v) => v,
            Err(r) => return *r,
        };
    let outcome = state
        .tokens
        .connect_page(&zone, &browser(&headers, peer), &form)
        .await;
    show(&state, &zone, outcome)
}

fn templates() -> &'static minijinja::Environment<'static> {
    static ENV: std::sync::OnceLock<minijinja::Environment<'static>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        // `.html` templates are auto-escaped.
        for (name, source) in [
            ("base.html", include_str!("../templates/base.html")),
            ("sign_in.html", include_str!("../templates/sign_in.html")),
            ("consent.html", include_str!("../templates/consent.html")),
            ("message.html", include_str!("../templates/message.html")),
            ("sign_up.html", include_str!("../templates/sign_up.html")),
            (
                "verify_email.html",
                include_str!("../templates/verify_email.html"),
            ),
            (
                "invitation.html",
                include_str!("../templates/invitation.html"),
            ),
        ] {
            env.add_template(name, source)
                .expect("the page templates are valid");
        }
        env
    })
}

/// A template rendered as a page with the surface's headers.
fn render(status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    match templates().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(body) => with_page_headers((status, body).into_response()),
        Err(e) => {
            tracing::error!(error = %e, template = name, "page template failed");
            bare(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

fn with_page_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    res.extensions_mut().insert(FinalBody);
    res
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../templates/keyzone.css"),
    )
        .into_response()
}

/// The client's address, when the server loop recorded it.
struct Peer(Option<std::net::SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// The cookie named `name` of the request.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        // Cookie values here are base64url and dots; anything else is forged.
        .filter(|v| {
            v.len() <= 256
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

fn browser(headers: &HeaderMap, peer: Option<std::net::SocketAddr>) -> Browser {
    Browser {
        browser_id: cookie(headers, BROWSER_COOKIE).map(str::to_owned),
        session: cookie(headers, SESSION_COOKIE).map(str::to_owned),
        address: peer.map(|p| p.ip()),
    }
}

fn set_cookie(res: &mut Response, issuer: &str, name: &str, value: &str, max_age: u64) {
    let url = url::Url::parse(issuer).ok();
    let path = url.as_ref().map_or("/", |u| u.path()).to_owned();
    let path = if path.is_empty() {
        "/".to_owned()
    } else {
        path
    };
    let secure = url.as_ref().is_some_and(|u| u.scheme() == "https");
    let v = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&v) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Renders a step of the sign-in flow.
fn show(state: &AppState, zone: &Zone, outcome: Outcome) -> Response {
    let issuer = state.layout.issuer(&zone.id);
    let base = |title: &str| {
        minijinja::context! { issuer => issuer.clone(), zone_name => zone.name.clone(), title => title }
    };
    let mut res = match outcome.step {
        Step::SignIn {
            txn,
            client_name,
            email,
            error,
            sign_up,
        } => render(
            if error.is_some() {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::OK
            },
            "sign_in.html",
            minijinja::context! { txn, client_name, email => email.unwrap_or_default(), error, sign_up, ..base("Sign in") },
        ),
        Step::SignUp {
            txn,
            client_name,
            email,
            error,
        } => render(
            if error.is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            },
            "sign_up.html",
            minijinja::context! { txn, client_name, email => email.unwrap_or_default(), error, ..base("Create your account") },
        ),
        Step::VerifyEmail {
            txn,
            client_name,
            email,
            error,
            notice,
        } => render(
            if error.is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            },
            "verify_email.html",
            minijinja::context! { txn, client_name, email, error, notice, ..base("Verify your email") },
        ),
        Step::Invitation {
            token,
            email,
            error,
        } => render(
            if error.is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            },
            "invitation.html",
            minijinja::context! { token, email, error, ..base("Set your password") },
        ),
        Step::Consent {
            txn,
            client_name,
            resources,
            scopes,
        } => render(
            StatusCode::OK,
            "consent.html",
            minijinja::context! { txn, client_name, resources, scopes, ..base("Allow access") },
        ),
        Step::Redirect(location) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            with_page_headers(r)
        }
        Step::Message {
            status,
            title,
            message,
        } => render(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            "message.html",
            minijinja::context! { message, ..base(title) },
        ),
    };
    if let Some(b) = outcome.set_browser {
        set_cookie(&mut res, &issuer, BROWSER_COOKIE, &b, 86_400);
    }
    if outcome.clear_session {
        set_cookie(&mut res, &issuer, SESSION_COOKIE, "", 0);
    }
    if let Some(s) = outcome.set_session {
        set_cookie(
            &mut res,
            &issuer,
            SESSION_COOKIE,
            &s,
            state.tokens.session_lifetimes().browser_session_secs,
        );
    }
    res
}

/// The zone of a page, or the page to show instead.
async fn zone_page(state: &AppState, zone_id: &str) -> Result<Arc<Zone>, Response> {
    match state.tokens.zone(zone_id).await {
        Ok(Some(z)) => Ok(z),
        Ok(None) => Err(page(
            StatusCode::NOT_FOUND,
            "Unknown zone",
            "There is no zone at this address.",
        )),
        Err(_) => Err(bare(StatusCode::SERVICE_UNAVAILABLE)),
    }
}

/// The page's zone and its parameters (query or form), or the page to show
/// instead.
async fn zone_and_form(
    state: &AppState,
    zone_id: &str,
    params: &[u8],
) -> Result<(Arc<Zone>, Form), Box<Response>> {
    let zone = zone_page(state, zone_id).await.map_err(Box::new)?;
    let form = Form::parse(params).map_err(|e| Box::new(bad_form(&e)))?;
    Ok((zone, form))
}

fn bad_form(e: &keyzone_oauth::OAuthError) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "The request was not accepted",
        &e.description,
    )
}

async fn authorize(
    state: &AppState,
    zone_id: &str,
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
    params: &[u8],
) -> Response {
    let (zone, form) = match zone_and_form(state, zone_id, params).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let outcome = state
        .tokens
        .authorize(&zone, &form, &browser(headers, peer))
        .await;
    show(state, &zone, outcome)
}

/// `GET {issuer}/oauth/authorize` (RFC 6749 §4.1.1).
async fn authorize_get(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let query = uri.query().unwrap_or("").as_bytes();
    authorize(&state, &zone_id, &headers, peer, query).await
}

/// `POST {issuer}/oauth/authorize` (OpenID Connect Core §3.1.2.1 allows it).
async fn authorize_post(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authorize(&state, &zone_id, &headers, peer, &body).await
}

/// `POST {issuer}/oauth/login`: the sign-in form.
async fn sign_in(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (zone, form) = match zone_and_form(&state, &zone_id, &body).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let field = |n: &str| form.one(n).ok().flatten().unwrap_or("");
    let outcome = state
        .tokens
        .sign_in(
            &zone,
            &browser(&headers, peer),
            field("txn"),
            field("email"),
            field("password"),
        )
        .await;
    show(&state, &zone, outcome)
}

async fn logout(
    state: &AppState,
    zone_id: &str,
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
    params: &[u8],
) -> Response {
    let (zone, form) = match zone_and_form(state, zone_id, params).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let outcome = state
        .tokens
        .end_session(&zone, &form, &browser(headers, peer))
        .await;
    show(state, &zone, outcome)
}

/// `GET {issuer}/oauth/logout` (OpenID Connect RP-Initiated Logout 1.0).
async fn logout_get(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let query = uri.query().unwrap_or("").as_bytes();
    logout(&state, &zone_id, &headers, peer, query).await
}

async fn logout_post(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    logout(&state, &zone_id, &headers, peer, &body).await
}

/// `GET {issuer}/oauth/consent?txn=…`.
async fn consent_page(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let (zone, form) =
        match zone_and_form(&state, &zone_id, uri.query().unwrap_or("").as_bytes()).await {
            Ok(v) => v,
            Err(r) => return *r,
        };
    let txn = form.one("txn").ok().flatten().unwrap_or("");
    let outcome = state
        .tokens
        .consent_page(&zone, &browser(&headers, peer), txn)
        .await;
    show(&state, &zone, outcome)
}

/// `GET {issuer}/oauth/signup?txn=…`.
async fn sign_up_form(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let (zone, form) =
        match zone_and_form(&state, &zone_id, uri.query().unwrap_or("").as_bytes()).await {
            Ok(v) => v,
            Err(r) => return *r,
        };
    let txn = form.one("txn").ok().flatten().unwrap_or("");
    let outcome = state
        .tokens
        .sign_up_form(&zone, &browser(&headers, peer), txn)
        .await;
    show(&state, &zone, outcome)
}

/// `POST {issuer}/oauth/signup`: the sign-up form.
async fn sign_up(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (zone, form) = match zone_and_form(&state, &zone_id, &body).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let field = |n: &str| form.one(n).ok().flatten().unwrap_or("");
    let outcome = state
        .tokens
        .sign_up(
            &zone,
            &browser(&headers, peer),
            field("txn"),
            field("email"),
            field("password"),
        )
        .await;
    show(&state, &zone, outcome)
}

/// `GET {issuer}/oauth/verify?txn=…`: the email verification form.
async fn verify_page(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let (zone, form) =
        match zone_and_form(&state, &zone_id, uri.query().unwrap_or("").as_bytes()).await {
            Ok(v) => v,
            Err(r) => return *r,
        };
    let txn = form.one("txn").ok().flatten().unwrap_or("");
    let outcome = state
        .tokens
        .verify_page(&zone, &browser(&headers, peer), txn)
        .await;
    show(&state, &zone, outcome)
}

/// `POST {issuer}/oauth/verify`: a code (`action=verify`, the first
/// button) or a request for a new one (`action=resend`).
async fn verify_email(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (zone, form) = match zone_and_form(&state, &zone_id, &body).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let field = |n: &str| form.one(n).ok().flatten().unwrap_or("");
    let outcome = state
        .tokens
        .verify_email(
            &zone,
            &browser(&headers, peer),
            field("txn"),
            field("code"),
            field("action") == "resend",
        )
        .await;
    show(&state, &zone, outcome)
}

/// `GET {issuer}/oauth/invitation?token=…`: an invitation's link.
async fn invitation_page(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    uri: axum::http::Uri,
) -> Response {
    let (zone, form) =
        match zone_and_form(&state, &zone_id, uri.query().unwrap_or("").as_bytes()).await {
            Ok(v) => v,
            Err(r) => return *r,
        };
    let token = form.one("token").ok().flatten().unwrap_or("");
    let outcome = state.tokens.invitation_page(&zone, token).await;
    show(&state, &zone, outcome)
}

/// `POST {issuer}/oauth/invitation`: the invited person's password. The
/// token is the form's CSRF protection: only the link's holder has it.
async fn accept_invitation(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    body: Bytes,
) -> Response {
    let (zone, form) = match zone_and_form(&state, &zone_id, &body).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let field = |n: &str| form.one(n).ok().flatten().unwrap_or("");
    let outcome = state
        .tokens
        .accept_invitation(&zone, field("token"), field("password"))
        .await;
    show(&state, &zone, outcome)
}

/// `POST {issuer}/oauth/consent`: allow or deny.
async fn consent(
    State(state): State<Arc<AppState>>,
    Path(zone_id): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (zone, form) = match zone_and_form(&state, &zone_id, &body).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let allow = form.one("decision").ok().flatten() == Some("allow");
    let txn = form.one("txn").ok().flatten().unwrap_or("");
    let outcome = state
        .tokens
        .consent(&zone, &browser(&headers, peer), txn, allow)
        .await;
    show(&state, &zone, outcome)
}

/// The body for an error response no handler shaped, by status.
pub fn bare(status: StatusCode) -> Response {
    let (title, message) = match status.as_u16() {
        404 => ("Not found", "There is no page at this address."),
        405 => (
            "Not allowed",
            "This page does not accept that kind of request.",
        ),
        413 => ("Too large", "The form sent was too large."),
        s if s >= 500 => ("Something went wrong", "Please try again later."),
        _ => ("Not accepted", "The request was not accepted."),
    };
    page(status, title, message)
}

fn finish_page_errors(res: Response) -> Response {
    if needs_body(&res) {
        return bare(res.status());
    }
    res
}
