"""People signing in through a zone (issue #12; client contract D.1-D.5, D.11, D.12): the authorization endpoint's
sign-in and consent pages, authorization code with PKCE, refresh-token rotation, userinfo and the browser session,
driven by the unmodified official clients and, for the protocol matrix, by raw httpx and the headless login driver
(headless_login.py: follows redirects, posts the pages' forms, stops at the client's redirect URI).

What is exercised, on a path-based zone (issuer `{base}/z/{zone_id}`):
  * the official MCP SDK client (`mcp` 2.3.0 `OAuthClientProvider`, in-memory storage, the driver in its
    `redirect_handler`) against a keycardai-mcp 2.3.5 `AuthProvider`-protected MCP server under uvicorn: 401 -> PRM ->
    AS metadata -> DCR -> authorize -> sign in -> consent -> code -> tools/call with the user's token -> expiry (3 s
    resource lifetime) -> exactly one `refresh_token` request -> tools/call;
  * the pages (one form, same-origin action, `email`/`password` inputs, consent's allow/deny buttons), the browser
    session cookie (HttpOnly, SameSite=Lax, Path=/z/{zone}, not Secure on http) and its reuse, `state` and `iss`
    on every redirect, token responses and claims (RS256, sub = user, client_id = the `ua:` id, exact aud,
    sub_profile user, ID token), userinfo;
  * error paths: wrong password / unknown email (form again, same message, no redirect), unknown client and
    unregistered redirect URI (HTML 4xx, never a redirect), missing PKCE, `plain` PKCE, deny, `prompt=none` without a
    session, replayed code, wrong verifier / redirect URI / client at redemption, reused refresh token (family
    revoked), concurrent refreshes in the grace window (no revocation), the web session revoked or deleted through
    the management API (its refresh tokens die at once, the cookie no longer signs in);
  * keycardai-oauth 0.33.2's web PKCE helpers (`begin_authorization`, `complete_authorization` without `resource`,
    `refresh_authorization`) and `AsyncClient.userinfo`.

Users are provisioned with the Keyzone extension `POST /zones/{zone_id}/users`. Until the authorization endpoint is
built (it answers 501), every test here is skipped; any other answer runs them.
"""

# No `from __future__ import annotations`: the MCP server's tool finds its `Context` parameter by annotation.
import asyncio
import base64
import difflib
import hashlib
import json
import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import httpx2
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from keycardai_api import KeycardAPI

from keycardai.mcp.server.auth import AuthProvider
from keycardai.oauth import AsyncClient, AuthorizationDeniedError, ClientConfig, NoneAuth, RefreshGrantError
from keycardai.oauth.pkce import begin_authorization, complete_authorization, refresh_authorization
from keycardai.oauth.utils.jwt import get_claims, get_header
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from headless_login import LoginResult, LoginStopped, login, new_browser, parse_forms, visible_text
from sdk_processes import free_port, keyzone_bin, keyzone_env, spawn, stop, wait_ready
from sdk_support import unique_name
from test_mcp_package import _CREDENTIAL_ENV, serving
from test_oauth_client import jwks_of, new_resource, new_verifier, verify
from test_oauth_exchange import UA_CLIENT_ID_RE

MCP_RESOURCE = "https://mcp.example.com/mcp"
# Nothing listens here: the driver stops at the first Location that starts with it.
REDIRECT = "http://127.0.0.1:33418/callback"
OIDC_SCOPES = ["openid", "email", "profile", "offline_access"]
OIDC_SCOPE = " ".join(OIDC_SCOPES)
FORM = "application/x-www-form-urlencoded"
GRANT_CODE = "authorization_code"
GRANT_REFRESH = "refresh_token"
# The MCP test's resource lifetime: the access token expires while the MCP session is open.
SHORT_LIFETIME_S = 3
# The short node's refresh tokens die after this long unused, and it grants no reuse grace.
SHORT_REFRESH_IDLE_S = 6
SHORT_BROWSER_SESSION_S = 600
# A rotated-out refresh token used again must be refused once the (short) reuse grace window is over.
REUSE_DETECTED_WITHIN_S = 20.0


@pytest.fixture(autouse=True)
def _no_keycard_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in _CREDENTIAL_ENV:
        monkeypatch.delenv(k, raising=False)


# --------------------------------------------------------------------------- is sign-in built?


@pytest.fixture(scope="session")
def sign_in_built(server) -> None:
    """Skips the module while the authorization endpoint answers 501 (browser sign-in not built yet)."""
    with KeycardAPI(base_url=server.base_url, api_key=server.api_key, max_retries=0) as api:
        zone = api.zones.create(name=unique_name("login probe"))
    url = f"{zone.protocols.oauth2.issuer}/oauth/authorize"
    r = httpx.get(url, params={"response_type": "code"}, timeout=30.0, trust_env=False, follow_redirects=False)
    if r.status_code == 501:
        pytest.skip(
            f"browser sign-in is not built in this keyzone binary: GET {url} answers 501 "
            "(issue #12); these tests run as soon as it answers anything else"
        )


# --------------------------------------------------------------------------- setup helpers


def strong_password() -> str:
    return "kz-" + secrets.token_urlsafe(18)


def new_user(http: httpx.Client, zone_id: str, *, email: Optional[str] = None, password: Optional[str] = None,
             name: Optional[str] = "Ann Example", email_verified: bool = True) -> Dict[str, Any]:
    """`POST /zones/{zone_id}/users` (Keyzone extension); the created user, plus the password sent."""
    body: Dict[str, Any] = {
        "email": email or f"user-{secrets.token_hex(4)}@example.com",
        "password": password or strong_password(),
        "email_verified": email_verified,
    }
    if name is not None:
        body["name"] = name
    r = http.post(f"/zones/{zone_id}/users", json=body)
    assert r.status_code == 201, f"expected POST /zones/{zone_id}/users -> 201, got {r.status_code}: {r.text[:500]!r}"
    user = r.json()
    assert isinstance(user.get("id"), str) and user["id"], f"expected the created user's id, got {user!r}"
    assert user.get("email") == body["email"], f"expected email {body['email']!r} in the created user, got {user!r}"
    assert "password" not in user and "password_hash" not in user, f"expected no password in the user: {user!r}"
    return {**user, "password": body["password"], "name": name}


def register_client(issuer: str, redirect_uris: List[str], client_name: str = "Keyzone login test client") -> str:
    """DCR with the body the mcp SDK sends (D.2); the `ua:` client id."""
    body = {
        "response_types": ["code"],
        "scope": OIDC_SCOPE,
        "client_name": client_name,
        "redirect_uris": redirect_uris,
        "grant_types": [GRANT_CODE, GRANT_REFRESH],
        "application_type": "native",
    }
    r = httpx.post(issuer + "/oauth/register", json=body, timeout=30.0, trust_env=False)
    assert r.status_code in (200, 201), f"expected DCR to succeed, got {r.status_code}: {r.text[:500]!r}"
    info = r.json()
    assert UA_CLIENT_ID_RE.match(info.get("client_id") or ""), f"expected a ua: client id, got {info!r}"
    assert not info.get("client_secret"), f"expected a public client (no secret) for the mcp SDK body, got {info!r}"
    return info["client_id"]


@dataclass
class LoginZone:
    zone_id: str
    zone_name: str
    issuer: str
    app_id: str
    app_name: str
    resource: str  # identifier
    resource_id: str
    client_id: str  # ua:...
    client_name: str
    user: Dict[str, Any]

    @property
    def email(self) -> str:
        return self.user["email"]

    @property
    def password(self) -> str:
        return self.user["password"]

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/oauth/token"

    @property
    def authorize_endpoint(self) -> str:
        return self.issuer + "/oauth/authorize"

    @property
    def userinfo_endpoint(self) -> str:
        return self.issuer + "/oauth/userinfo"

    @property
    def issuer_path(self) -> str:
        return urlsplit(self.issuer).path


def make_login_zone(client: KeycardAPI, http: httpx.Client, server, *, resource: str = MCP_RESOURCE,
                    consent: str = "required", register: bool = True, **resource_kwargs: Any) -> LoginZone:
    """A zone with an MCP application (`consent`) providing `resource`, a provisioned user and (unless `register` is
    False) a DCR client."""
    zone = client.zones.create(name=unique_name("login"))
    issuer = zone.protocols.oauth2.issuer
    assert issuer == f"{server.public_url}/z/{zone.id}", f"expected issuer {server.public_url}/z/{zone.id}, got {issuer!r}"
    app_name = unique_name("login mcp app")
    app = client.zones.applications.create(zone.id, identifier=f"mcp-{secrets.token_hex(4)}", name=app_name, consent=consent)
    assert app.consent == consent, f"expected consent {consent!r} on the application, got {app.consent!r}"
    res = new_resource(client, zone.id, resource, application_id=app.id, **resource_kwargs)
    user = new_user(http, zone.id)
    client_name = f"Login test client {secrets.token_hex(3)}"
    cid = register_client(issuer, [REDIRECT], client_name) if register else ""
    return LoginZone(zone.id, zone.name, issuer, app.id, app_name, resource, res.id, cid, client_name, user)


@pytest.fixture
def lz(client, http, server, sign_in_built) -> LoginZone:
    return make_login_zone(client, http, server)


# --------------------------------------------------------------------------- protocol helpers


def pkce_pair() -> Tuple[str, str]:
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


@dataclass
class Authz:
    """One authorization request: its URL and the values the client keeps."""

    url: str
    state: str
    verifier: Optional[str]
    params: Dict[str, str]


def authz(lz: LoginZone, *, client_id: Optional[str] = None, redirect_uri: str = REDIRECT, scope: Optional[str] = OIDC_SCOPE,
          resource: Optional[str] = "", pkce: bool = True, **extra: Optional[str]) -> Authz:
    """An authorization URL as the mcp SDK builds it (D.3.1); `resource=""` means the zone's MCP resource, None none;
    `extra` adds parameters (None values are left out)."""
    verifier, challenge = pkce_pair() if pkce else (None, None)
    state = secrets.token_urlsafe(32)
    params: Dict[str, Optional[str]] = {
        "response_type": "code",
        "client_id": client_id or lz.client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256" if pkce else None,
        "resource": lz.resource if resource == "" else resource,
        "scope": scope,
    }
    params.update(extra)
    clean = {k: v for k, v in params.items() if v is not None}
    return Authz(f"{lz.authorize_endpoint}?{urlencode(clean)}", state, verifier, clean)


def drive(lz: LoginZone, browser: httpx.Client, a: Authz, *, decision: str = "allow", password: Optional[str] = None,
          email: Optional[str] = None) -> LoginResult:
    return login(browser, a.url, a.params.get("redirect_uri", REDIRECT), email=email or lz.email,
                 password=password or lz.password, decision=decision)


def assert_callback(result: LoginResult, a: Authz, lz: LoginZone, *, error: Optional[str] = None) -> Dict[str, str]:
    """The redirect back: exactly one `state` (byte-for-byte) and `iss` (the exact issuer, RFC 9207), and a code or the
    expected error (never both)."""
    q, ql = result.query, result.query_list
    where = f"redirect {result.redirect!r}\nsteps:\n{result.trace()}"
    for name in ("state", "iss"):
        n = sum(1 for k, _ in ql if k == name)
        assert n == 1, f"expected exactly one {name!r} in the redirect, got {n} ({where})"
    assert q["state"] == a.state, f"expected state echoed byte-for-byte {a.state!r}, got {q['state']!r} ({where})"
    assert q["iss"] == lz.issuer, f"expected iss exactly {lz.issuer!r} (RFC 9207), got {q['iss']!r} ({where})"
    assert result.redirect.startswith(a.params["redirect_uri"] + "?"), f"expected the registered redirect URI with a query ({where})"
    if error is None:
        assert "error" not in q, f"expected a code, got error {q.get('error')!r}: {q.get('error_description')!r} ({where})"
        assert q.get("code"), f"expected a non-empty code ({where})"
    else:
        assert q.get("error") == error, f"expected error={error!r}, got {q.get('error')!r}: {q.get('error_description')!r} ({where})"
        assert "code" not in q, f"expected no code beside error={error!r} ({where})"
        desc = q.get("error_description")
        assert desc is None or desc.strip(), f"expected error_description absent or non-empty ({where})"
    return q


def token_request(lz: LoginZone, data: Dict[str, str], *, http: Optional[httpx.Client] = None) -> httpx.Response:
    if http is not None:
        return http.post(lz.token_endpoint, data=data)
    with httpx.Client(timeout=30.0, trust_env=False, follow_redirects=False) as h:
        return h.post(lz.token_endpoint, data=data)


def redeem(lz: LoginZone, code: str, verifier: Optional[str], **overrides: Optional[str]) -> httpx.Response:
    """`grant_type=authorization_code` as the mcp SDK sends it (D.5.1)."""
    data: Dict[str, Optional[str]] = {
        "grant_type": GRANT_CODE,
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": lz.client_id,
        "code_verifier": verifier,
        "resource": lz.resource,
    }
    data.update(overrides)
    return token_request(lz, {k: v for k, v in data.items() if v is not None})


def refresh(lz: LoginZone, refresh_token: str, *, http: Optional[httpx.Client] = None, **overrides: Optional[str]) -> httpx.Response:
    """`grant_type=refresh_token` as the mcp SDK sends it (D.5.1)."""
    data: Dict[str, Optional[str]] = {
        "grant_type": GRANT_REFRESH,
        "refresh_token": refresh_token,
        "client_id": lz.client_id,
        "resource": lz.resource,
    }
    data.update(overrides)
    return token_request(lz, {k: v for k, v in data.items() if v is not None}, http=http)


def assert_invalid_grant(r: httpx.Response, context: str) -> dict:
    assert r.status_code == 400, f"expected 400 invalid_grant ({context}), got {r.status_code}: {r.text[:500]!r}"
    assert "json" in r.headers.get("content-type", ""), f"expected a JSON error ({context}), got {r.headers.get('content-type')!r}"
    body = r.json()
    assert body.get("error") == "invalid_grant", f"expected error invalid_grant ({context}), got {body!r}"
    return body


def assert_token_response(r: httpx.Response, lz: LoginZone, *, scopes: Optional[List[str]] = None,
                          id_token: Optional[bool] = None, context: str = "") -> Dict[str, Any]:
    """RFC 6749 §5.1 as the clients need it (D.5.2): 200, no-store, Bearer, integer expires_in, scope a string, a
    refresh token (the client registered the refresh_token grant), an ID token iff openid was granted."""
    where = f" ({context})" if context else ""
    assert r.status_code == 200, f"expected 200 from the token endpoint{where}, got {r.status_code}: {r.text[:500]!r}"
    assert "json" in r.headers.get("content-type", ""), f"expected JSON{where}, got {r.headers.get('content-type')!r}"
    assert "no-store" in (r.headers.get("cache-control") or ""), f"expected Cache-Control: no-store{where}, got {r.headers.get('cache-control')!r}"
    body = r.json()
    assert isinstance(body.get("access_token"), str) and body["access_token"], f"expected an access_token{where}: {body!r}"
    assert body.get("token_type") == "Bearer", f"expected token_type 'Bearer'{where}, got {body.get('token_type')!r}"
    ei = body.get("expires_in")
    assert isinstance(ei, int) and not isinstance(ei, bool) and ei > 0, f"expected an integer expires_in{where}, got {ei!r}"
    assert isinstance(body.get("scope"), str), f"expected scope as a space-separated string{where}, got {body.get('scope')!r}"
    granted = body["scope"].split()
    for s in scopes or []:
        assert s in granted, f"expected {s!r} among the granted scopes{where}, got {body['scope']!r}"
    assert isinstance(body.get("refresh_token"), str) and body["refresh_token"], f"expected a refresh_token{where}: {sorted(body)}"
    want_id = ("openid" in granted) if id_token is None else id_token
    if want_id:
        assert isinstance(body.get("id_token"), str) and body["id_token"].count(".") == 2, f"expected an id_token{where}: {sorted(body)}"
    else:
        assert "id_token" not in body, f"expected no id_token without openid{where}: {sorted(body)}"
    return body


def assert_user_access_token(token: str, lz: LoginZone, *, lifetime: Optional[int] = None, live: bool = True) -> Dict[str, Any]:
    """D.5.3: an RS256 JWT of the zone's key, iss exact, sub = the user, client_id = the ua: id, aud = the exact
    resource, sub_profile user; checked by keycardai-oauth's TokenVerifier too (`live`; otherwise, for a token that
    may have expired by now, only its signature against the zone's JWKS)."""
    hdr = get_header(token)
    assert hdr.get("alg") == "RS256", f"expected an RS256 user access token, header {hdr!r}"
    kids = [k.get("kid") for k in jwks_of(lz.issuer)["keys"]]
    assert hdr.get("kid") in kids, f"expected the token's kid {hdr.get('kid')!r} in the zone JWKS {kids}"
    c = get_claims(token)
    assert c.get("iss") == lz.issuer, f"expected iss {lz.issuer!r}, got {c.get('iss')!r}"
    assert c.get("sub") == lz.user["id"], f"expected sub = the user's id {lz.user['id']!r}, got {c.get('sub')!r}"
    assert c.get("client_id") == lz.client_id, f"expected client_id = the ua: client {lz.client_id!r}, got {c.get('client_id')!r}"
    assert c.get("aud") == lz.resource, f"expected aud exactly {lz.resource!r}, got {c.get('aud')!r}"
    assert c.get("sub_profile") == "user", f"expected sub_profile 'user', got {c.get('sub_profile')!r}"
    for k in ("exp", "iat"):
        assert isinstance(c.get(k), int), f"expected numeric {k}, got {c.get(k)!r}"
    if lifetime is not None:
        assert c["exp"] - c["iat"] == lifetime, f"expected exp - iat == {lifetime} (the resource's lifetime), got {c['exp'] - c['iat']}"
    if live:
        at = verify(new_verifier(lz.issuer, lz.resource), token)
        assert at.sub == lz.user["id"] and at.client_id == lz.client_id, f"TokenVerifier saw sub {at.sub!r} client_id {at.client_id!r}"
    else:
        jose_jwt.decode(token, KeySet.import_key_set(jwks_of(lz.issuer)), algorithms=["RS256"])  # raises on a bad signature
    return c


def assert_id_token(token: str, lz: LoginZone, *, nonce: Optional[str]) -> Dict[str, Any]:
    """OIDC Core §2 / §3.1.3.7: signed by the zone key, iss, sub, aud = the client id, exp, iat, auth_time, nonce."""
    decoded = jose_jwt.decode(token, KeySet.import_key_set(jwks_of(lz.issuer)), algorithms=["RS256"])
    c = decoded.claims
    assert decoded.header.get("alg") == "RS256", f"expected an RS256 ID token, header {decoded.header!r}"
    assert c.get("iss") == lz.issuer and c.get("sub") == lz.user["id"], f"expected iss {lz.issuer!r} and sub {lz.user['id']!r}: {c!r}"
    aud = c.get("aud")
    assert aud == lz.client_id or aud == [lz.client_id], f"expected the ID token's aud to be the client {lz.client_id!r}, got {aud!r}"
    now = time.time()
    for k in ("exp", "iat", "auth_time"):
        assert isinstance(c.get(k), int), f"expected numeric {k} in the ID token, got {c.get(k)!r}"
    assert c["exp"] > now and abs(c["iat"] - now) < 120 and c["auth_time"] <= c["iat"] + 1, f"implausible times in {c!r}"
    if nonce is not None:
        assert c.get("nonce") == nonce, f"expected the nonce echoed in the ID token, got {c.get('nonce')!r}"
    if "email" in c:
        assert c["email"] == lz.email, f"expected the user's email in the ID token, got {c['email']!r}"
    return c


def sign_in_and_redeem(lz: LoginZone, browser: Optional[httpx.Client] = None, **authz_kw: Any) -> Tuple[Dict[str, Any], LoginResult]:
    """Authorize (signing in and consenting as needed), check the redirect, redeem the code; the token response."""
    own = browser is None
    b = browser or new_browser()
    try:
        a = authz(lz, **authz_kw)
        result = drive(lz, b, a)
        q = assert_callback(result, a, lz)
        body = assert_token_response(redeem(lz, q["code"], a.verifier), lz)
        return body, result
    finally:
        if own:
            b.close()


def parse_set_cookie(header: str) -> Tuple[str, str, Dict[str, str]]:
    """(name, value, attributes with lowercased names) of one Set-Cookie header."""
    parts = [p.strip() for p in header.split(";")]
    name, _, value = parts[0].partition("=")
    attrs: Dict[str, str] = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip()
    return name.strip(), value.strip(), attrs


def added_text(before: str, after: str) -> str:
    """The words of `after` that are not in `before` (what a re-rendered page added, e.g. an error message)."""
    a, b = before.split(), after.split()
    out: List[str] = []
    for op, _, _, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op in ("insert", "replace"):
            out.extend(b[j1:j2])
    return " ".join(out)


def assert_html_error_page(r: httpx.Response, context: str) -> None:
    """RFC 6749 §4.1.2.1: a bad client or redirect URI gets an error page, never a redirect."""
    assert 400 <= r.status_code < 500, f"expected a 4xx error page ({context}), got {r.status_code}: {r.text[:300]!r}"
    assert "location" not in r.headers, f"expected no Location ({context}), got {r.headers.get('location')!r}"
    ctype = r.headers.get("content-type", "")
    assert ctype.startswith("text/html"), f"expected an HTML page ({context}), got {ctype!r}: {r.text[:200]!r}"
    forms = parse_forms(r.text)
    assert not any(f.has_password for f in forms), f"expected no sign-in form on the error page ({context})"


def web_session_of(client: KeycardAPI, lz: LoginZone) -> Tuple[Any, List[Any]]:
    """The user's one top-level (web) session, and the sessions nested under it."""
    sessions = client.zones.sessions.list(lz.zone_id, user_id=lz.user["id"], session_type="user", include_nested="true", limit=100).items
    top = [s for s in sessions if s.parent_id is None]
    assert len(top) == 1, f"expected one web session (parent_id null) for the user after one sign-in, got {[(s.id, s.parent_id, s.status) for s in sessions]}"
    nested = [s for s in sessions if s.parent_id == top[0].id]
    return top[0], nested


# --------------------------------------------------------------------------- 0. provisioning users


def test_provision_user_extension(client, http, server, sign_in_built):
    zone = client.zones.create(name=unique_name("login users"))
    email = f"ann-{secrets.token_hex(3)}@example.com"
    u = new_user(http, zone.id, email=email, name="Ann Example", email_verified=True)
    assert u.get("email_verified") is True, f"expected email_verified to round-trip, got {u!r}"
    got = client.zones.users.retrieve(u["id"], zone_id=zone.id)
    assert (got.id, got.email) == (u["id"], email), f"expected the SDK to read the provisioned user back, got {got!r}"
    r = http.post(f"/zones/{zone.id}/users", json={"email": email, "password": strong_password()})
    assert r.status_code == 409, f"expected 409 for an email already in the zone, got {r.status_code}: {r.text[:300]!r}"
    # Another zone is another namespace.
    other = client.zones.create(name=unique_name("login users other"))
    new_user(http, other.id, email=email)


# --------------------------------------------------------------------------- 1. the official MCP SDK client


class MemoryTokenStorage:
    """The mcp SDK's `TokenStorage`, in memory."""

    def __init__(self) -> None:
        self.tokens: Optional[OAuthToken] = None
        self.client_info: Optional[OAuthClientInformationFull] = None
        self.token_history: List[OAuthToken] = []

    async def get_tokens(self) -> Optional[OAuthToken]:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.token_history.append(tokens)

    async def get_client_info(self) -> Optional[OAuthClientInformationFull]:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class Sent:
    method: str
    url: str
    status: int
    form: Dict[str, str]
    authorization: Optional[str]

    def describe(self) -> str:
        extra = f" grant_type={self.form['grant_type']}" if "grant_type" in self.form else ""
        return f"{self.method} {self.url} => {self.status}{extra}"


class RecordingAsyncTransport(httpx2.AsyncBaseTransport):
    """httpx2's own transport, keeping (method, URL, status, form body, Authorization) of every request the MCP
    client sent: its MCP traffic and its OAuth requests (discovery, registration, token)."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.log: List[Sent] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        form: Dict[str, str] = {}
        if FORM in (request.headers.get("content-type") or ""):
            try:
                form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
            except Exception:  # a streamed body: not one of the OAuth requests
                form = {}
        response = await self.inner.handle_async_request(request)
        self.log.append(Sent(request.method, str(request.url), response.status_code, form, request.headers.get("authorization")))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def token_requests(self, token_endpoint: str, since: int = 0) -> List[Sent]:
        return [s for s in self.log[since:] if s.method == "POST" and s.url == token_endpoint]

    def trace(self, since: int = 0) -> str:
        return "\n".join("  " + s.describe() for s in self.log[since:])


def whoami_server(issuer: str, mcp_url: str) -> Any:
    """A keycardai-mcp protected MCP server (`AuthProvider(zone_url=issuer, audience=mcp_url).app(MCPServer)`) with one
    tool returning the caller as the bearer middleware saw it."""
    provider = AuthProvider(
        zone_url=issuer,
        mcp_server_name="Keyzone login MCP server",
        audience=mcp_url,
        enable_dynamic_client_registration=False,
    )
    mcp = MCPServer("keyzone-login")

    @mcp.tool()
    async def whoami(ctx: Context) -> dict:
        u = ctx.request_context.request.user
        return {"client_id": u.client_id, "sub": u.sub, "sub_profile": u.sub_profile, "access_token": u.access_token}

    return provider.app(mcp)


async def call_whoami(session: ClientSession) -> Dict[str, Any]:
    res = await session.call_tool("whoami", {})
    assert not res.is_error, f"expected whoami to run, got an error result: {res!r:.800}"
    assert res.content and getattr(res.content[0], "text", None), f"expected a text result: {res!r:.800}"
    return json.loads(res.content[0].text)


@dataclass
class McpRun:
    rec: RecordingAsyncTransport
    storage: MemoryTokenStorage
    authorization_urls: List[str] = field(default_factory=list)
    logins: List[LoginResult] = field(default_factory=list)
    first: Dict[str, Any] = field(default_factory=dict)
    second: Dict[str, Any] = field(default_factory=dict)
    mark: int = 0  # rec.log length before the call after expiry
    phase1_s: float = 0.0  # from the token response to the end of the first tool call


@dataclass
class Node:
    server: Any
    client: KeycardAPI
    http: httpx.Client


@pytest.fixture(scope="module")
def short_node(server, database_url, sign_in_built):
    """A second node of the suite's deployment (same database, same master key) whose access tokens live
    SHORT_LIFETIME_S seconds (`KEYZONE_ACCESS_TOKEN_MAX_LIFETIME_SECS`; resources themselves may not go below 60 s),
    with its own public URL, so a client watching expiry refreshes within the test."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = keyzone_env(port=port, data_dir=server.tmp_dir / "data", api_key=server.api_key, public_url=base_url,
                      kms_endpoint=server.kms_endpoint, database_url=database_url)
    env["KEYZONE_ACCESS_TOKEN_MAX_LIFETIME_SECS"] = str(SHORT_LIFETIME_S)
    # The sign-in lifetimes are deployment settings too (docs/configuration.md): short here so a test watches them.
    env["KEYZONE_REFRESH_TOKEN_IDLE_LIFETIME_SECS"] = str(SHORT_REFRESH_IDLE_S)
    env["KEYZONE_REFRESH_TOKEN_REUSE_GRACE_SECS"] = "0"
    env["KEYZONE_BROWSER_SESSION_LIFETIME_SECS"] = str(SHORT_BROWSER_SESSION_S)
    env["KEYZONE_MASTER_KEY_FILE"] = str(server.tmp_dir / "data" / "master.key")
    proc = spawn([str(keyzone_bin()), "serve"], env, server.tmp_dir, server.tmp_dir / "short.stdout.log",
                 server.tmp_dir / "short.stderr.log")
    try:
        ready, last = wait_ready(proc, f"{base_url}/readyz")
        assert ready, f"the short-lived-token node did not start: {last}"
        node_server = replace(server, port=port, base_url=base_url, public_url=base_url)
        with KeycardAPI(base_url=base_url, api_key=server.api_key) as api, \
                httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {server.api_key}"},
                             timeout=30.0, follow_redirects=False, trust_env=False) as raw:
            yield Node(node_server, api, raw)
    finally:
        stop(proc)


def test_sign_in_lifetimes_are_deployment_settings(short_node):
    """`refresh_token_idle_lifetime_secs`, `refresh_token_reuse_grace_secs` and `browser_session_lifetime_secs` take
    effect: the browser-session cookie lives as long as configured, a rotated-out token is reuse at once (no grace),
    and a refresh token left unused longer than the idle lifetime is dead."""
    lz = make_login_zone(short_node.client, short_node.http, short_node.server)
    b = new_browser()
    try:
        body, _ = sign_in_and_redeem(lz, b)
        session_cookies = [c for c in b.cookies.jar if c.name == "kz_session"]
        assert session_cookies, "expected the kz_session cookie after signing in"
        remaining = session_cookies[0].expires - time.time()
        assert SHORT_BROWSER_SESSION_S - 30 < remaining <= SHORT_BROWSER_SESSION_S + 1, (
            f"expected the browser session cookie to live {SHORT_BROWSER_SESSION_S}s "
            f"(browser_session_lifetime_secs), it lives {remaining:.0f}s")
        b1 = assert_token_response(refresh(lz, body["refresh_token"]), lz, context="first refresh")
        assert_invalid_grant(refresh(lz, body["refresh_token"]),
                             "a rotated-out refresh token reused at once with refresh_token_reuse_grace_secs=0")
        assert_invalid_grant(refresh(lz, b1["refresh_token"]), "the newest token after reuse (family revoked)")

        body2, _ = sign_in_and_redeem(lz, b)
        time.sleep(SHORT_REFRESH_IDLE_S + 1.5)
        assert_invalid_grant(refresh(lz, body2["refresh_token"]),
                             f"a refresh token unused for more than refresh_token_idle_lifetime_secs={SHORT_REFRESH_IDLE_S}")
    finally:
        b.close()


def test_failed_sign_ins_are_throttled_across_nodes(server, short_node):
    """The failed-sign-in throttle is kept in the database: five failures through one node, and the right password is
    refused through another node of the same deployment too."""
    lz = make_login_zone(short_node.client, short_node.http, short_node.server)
    a = authz(lz)
    main_url = a.url.replace(short_node.server.base_url, server.base_url, 1)
    with httpx.Client(follow_redirects=False, trust_env=False) as c:
        page = c.get(main_url)
        assert page.status_code == 200, page.text[:300]
        txn = re.search(r'name="txn" value="([^"]+)"', page.text).group(1)
        for _ in range(5):
            r = c.post(f"{server.base_url}/z/{lz.zone_id}/oauth/login",
                       data={"txn": txn, "email": lz.email, "password": "not the password"})
            assert r.status_code == 401, r.text[:300]
    b = new_browser()
    try:
        with pytest.raises(LoginStopped) as stopped:
            drive(lz, b, a)
        assert "Too many failed attempts" in str(stopped.value) or any(
            "Too many failed attempts" in (st.html or "") for st in stopped.value.steps), stopped.value
    finally:
        b.close()


def test_mcp_sdk_client_signs_in_consents_calls_tool_and_refreshes(short_node):
    """D.11.2 / D.11.4 case 1 with the mcp SDK client unchanged; the MCP server application requires consent and the
    node issues 3-second tokens."""
    client, http, server = short_node.client, short_node.http, short_node.server
    port = free_port()
    mcp_url = f"http://127.0.0.1:{port}/mcp"
    lz = make_login_zone(client, http, server, resource=mcp_url, register=False)
    browser = new_browser()
    run = McpRun(RecordingAsyncTransport(), MemoryTokenStorage())
    token_endpoint = lz.token_endpoint

    async def redirect_handler(url: str) -> None:
        run.authorization_urls.append(url)
        run.logins.append(await asyncio.to_thread(login, browser, url, REDIRECT, email=lz.email, password=lz.password))

    async def callback_handler() -> AuthorizationCodeResult:
        q = run.logins[-1].query
        assert "code" in q, f"expected a code in the redirect, got {q!r}\nsteps:\n{run.logins[-1].trace()}"
        return AuthorizationCodeResult(code=q["code"], state=q.get("state"), iss=q.get("iss"))

    async def main() -> None:
        oauth = OAuthClientProvider(
            server_url=mcp_url,
            client_metadata=OAuthClientMetadata(
                client_name="Keyzone login test (mcp SDK)",
                redirect_uris=[REDIRECT],
                grant_types=[GRANT_CODE, GRANT_REFRESH],
                response_types=["code"],
            ),
            storage=run.storage,
            redirect_handler=redirect_handler,
            callback_handler=callback_handler,
        )
        async with httpx2.AsyncClient(auth=oauth, transport=run.rec, timeout=30.0, trust_env=False) as hc:
            async with streamable_http_client(mcp_url, http_client=hc) as (rd, wr):
                async with ClientSession(rd, wr) as session:
                    await session.initialize()
                    run.first = await call_whoami(session)
                    issued = [s for s in run.rec.token_requests(token_endpoint) if s.form.get("grant_type") == GRANT_CODE]
                    expiry = oauth.context.token_expiry_time
                    assert expiry is not None, "expected the SDK to know when the access token expires (expires_in)"
                    run.phase1_s = time.time() - (expiry - SHORT_LIFETIME_S)
                    assert issued, f"expected an authorization_code request, saw:\n{run.rec.trace()}"
                    # Past the SDK's own expiry (receipt time + expires_in): its next request refreshes first.
                    await asyncio.sleep(max(0.0, expiry - time.time()) + 0.5)
                    run.mark = len(run.rec.log)
                    run.second = await call_whoami(session)

    try:
        with serving(whoami_server(lz.issuer, mcp_url), port):
            asyncio.run(main())
    finally:
        browser.close()

    rec, log = run.rec, run.rec.log
    trace = rec.trace()
    # 401 -> PRM -> AS metadata (path-inserted form first, D.1.1 step 5) -> DCR -> token.
    assert log and log[0].method == "POST" and log[0].url == mcp_url and log[0].status == 401, f"expected the first MCP request to get 401:\n{trace}"
    prm = [s for s in log if s.method == "GET" and "/.well-known/oauth-protected-resource" in s.url]
    assert prm and prm[-1].status == 200, f"expected the protected-resource metadata fetched:\n{trace}"
    origin = f"{urlsplit(lz.issuer).scheme}://{urlsplit(lz.issuer).netloc}"
    asm = [s for s in log if s.method == "GET" and "/.well-known/oauth-authorization-server" in s.url]
    assert asm and asm[0].url == f"{origin}/.well-known/oauth-authorization-server{lz.issuer_path}" and asm[0].status == 200, (
        f"expected the AS metadata at the path-inserted URL to answer 200:\n{trace}"
    )
    regs = [s for s in log if s.method == "POST" and s.url == lz.issuer + "/oauth/register"]
    assert len(regs) == 1 and regs[0].status in (200, 201), f"expected one successful DCR:\n{trace}"
    info = run.storage.client_info
    assert info is not None and UA_CLIENT_ID_RE.match(info.client_id), f"expected a ua: client stored, got {info!r}"
    ua = info.client_id

    # The browser part: one authorization, sign-in page, consent page, redirect with code, state and iss.
    assert len(run.authorization_urls) == 1, f"expected exactly one browser authorization, got {run.authorization_urls!r}"
    sent = dict(parse_qsl(urlsplit(run.authorization_urls[0]).query))
    assert run.authorization_urls[0].startswith(lz.authorize_endpoint + "?"), run.authorization_urls[0]
    assert sent.get("client_id") == ua and sent.get("resource") == mcp_url and sent.get("code_challenge_method") == "S256", sent
    result = run.logins[0]
    assert result.saw_sign_in, f"expected the sign-in form (no session yet):\n{result.trace()}"
    assert result.saw_consent, f"expected the consent page (the MCP application has consent 'required'):\n{result.trace()}"
    assert result.query.get("state") == sent["state"] and result.query.get("iss") == lz.issuer, result.query

    codes = [s for s in rec.token_requests(token_endpoint) if s.form.get("grant_type") == GRANT_CODE]
    assert len(codes) == 1 and codes[0].status == 200, f"expected one authorization_code request answered 200:\n{trace}"
    f = codes[0].form
    assert (f.get("client_id"), f.get("redirect_uri"), f.get("resource")) == (ua, REDIRECT, mcp_url) and f.get("code_verifier"), f

    # The first tool call ran with the user's token.
    first = run.first
    assert first["sub"] == lz.user["id"], f"expected the tool to see sub = the user {lz.user['id']!r}, got {first!r:.400}"
    assert first["client_id"] == ua, f"expected the tool to see client_id {ua!r}, got {first['client_id']!r}"
    assert first["sub_profile"] == "user", f"expected sub_profile 'user', got {first['sub_profile']!r}"
    lz = replace(lz, client_id=ua)
    assert_user_access_token(first["access_token"], lz, lifetime=SHORT_LIFETIME_S, live=False)
    initial = run.storage.token_history[0]
    assert initial.expires_in == SHORT_LIFETIME_S and initial.refresh_token, f"expected expires_in 3 and a refresh token, got {initial!r}"
    before = [s for s in log[: run.mark] if s.method == "POST" and s.url == token_endpoint]
    if run.phase1_s < SHORT_LIFETIME_S - 0.5:  # a very slow machine may legitimately refresh earlier
        assert not [s for s in before if s.form.get("grant_type") == GRANT_REFRESH], f"expected no refresh before the token expired:\n{trace}"

    # After expiry: exactly one refresh_token request, then the call is served with the new token.
    after = rec.token_requests(token_endpoint, run.mark)
    assert len(after) == 1, f"expected exactly one token request after expiry, got {len(after)}:\n{rec.trace(run.mark)}"
    r = after[0]
    assert r.form.get("grant_type") == GRANT_REFRESH and r.status == 200, f"expected a refresh_token request answered 200:\n{rec.trace(run.mark)}"
    assert (r.form.get("refresh_token"), r.form.get("client_id")) == (initial.refresh_token, ua), r.form
    assert r.form.get("resource") == mcp_url, f"expected the SDK to resend resource {mcp_url!r}, got {r.form!r}"
    second = run.second
    assert (second["sub"], second["client_id"], second["sub_profile"]) == (lz.user["id"], ua, "user"), f"{second!r:.400}"
    assert second["access_token"] != first["access_token"], "expected the call after expiry to carry the refreshed token"
    assert_user_access_token(second["access_token"], lz, lifetime=SHORT_LIFETIME_S, live=False)
    newest = run.storage.tokens
    assert newest is not None and newest.refresh_token and newest.refresh_token != initial.refresh_token, (
        "expected the refresh response to rotate the refresh token"
    )
    mcp_after = [s for s in log[run.mark:] if s.url == mcp_url and s.method == "POST"]
    assert mcp_after and all(s.status in (200, 202) for s in mcp_after), f"expected the MCP calls after the refresh served:\n{rec.trace(run.mark)}"
    assert len(run.authorization_urls) == 1, "expected no second browser login"


# --------------------------------------------------------------------------- 2. pages, cookies, tokens, userinfo


def test_sign_in_consent_code_tokens_and_userinfo(lz):
    """The happy path in detail: the sign-in page, the session cookie, the consent page, the redirect, the token
    response, both tokens' claims, userinfo."""
    nonce = secrets.token_urlsafe(16)
    a = authz(lz, nonce=nonce)
    with new_browser() as browser:
        result = drive(lz, browser, a)
    q = assert_callback(result, a, lz)

    sign_in = [s for s in result.pages if s.is_sign_in]
    assert len(sign_in) == 1 and sign_in[0].status == 200, f"expected one sign-in page:\n{result.trace()}"
    page = sign_in[0]
    assert page.form is not None and page.form.method == "post", f"expected <form method=post>, got {page.form!r}"
    assert len([i for i in page.form.controls if i.name == "password" and i.type == "password"]) == 1
    assert page.form.hidden, "expected hidden inputs (transaction / CSRF) in the sign-in form"
    assert lz.zone_name in page.text, f"expected the zone's name {lz.zone_name!r} on the sign-in page, text {page.text[:300]!r}"
    assert "no-store" in (page.headers.get("cache-control") or ""), f"expected Cache-Control: no-store on the page, got {page.headers.get('cache-control')!r}"
    assert "frame-ancestors 'none'" in (page.headers.get("content-security-policy") or ""), page.headers.get("content-security-policy")
    for p in result.pages:
        assert p.form is not None, f"expected one form on every page: {p.describe()}"
        action = p.form.resolved_action(p.url)
        assert action.startswith(lz.issuer + "/"), f"expected the form to post to a same-origin path under the issuer, got {action!r}"

    # The browser session cookie, set when the credentials were accepted.
    posted = [s for s in result.steps if s.sent and any(k == "password" for k, _ in s.sent)]
    assert len(posted) == 1, f"expected the credentials posted once:\n{result.trace()}"
    cookies = [parse_set_cookie(h) for h in posted[0].set_cookies]
    session = [c for c in cookies if c[1] and "httponly" in c[2] and c[2].get("samesite", "").lower() == "lax"
               and c[2].get("path") == lz.issuer_path and "secure" not in c[2] and c[2].get("max-age") != "0"]
    assert session, f"expected a session cookie (HttpOnly; SameSite=Lax; Path={lz.issuer_path}; no Secure) at sign-in, got {posted[0].set_cookies!r}"
    for s in result.steps:
        for h in s.set_cookies:
            name, _, attrs = parse_set_cookie(h)
            assert "secure" not in attrs and not name.startswith("__Host-"), f"expected no Secure/__Host- cookie on an http issuer: {h!r}"
            assert attrs.get("path", "").startswith(lz.issuer_path), f"expected every cookie scoped to {lz.issuer_path}: {h!r}"

    consent = [s for s in result.pages if s.is_consent]
    assert len(consent) == 1, f"expected the consent page (consent 'required'):\n{result.trace()}"
    submits = consent[0].form.submit_controls
    assert len(submits) >= 2 and (submits[0].name, submits[0].value) == ("decision", "allow") and (submits[1].name, submits[1].value) == ("decision", "deny"), (
        f"expected the consent form's first submit button decision=allow and a second decision=deny, got {[(c.name, c.value) for c in submits]}"
    )
    assert lz.client_name in consent[0].text or lz.app_name in consent[0].text, f"expected the consent page to name the client or application: {consent[0].text[:400]!r}"

    body = assert_token_response(redeem(lz, q["code"], a.verifier), lz, scopes=OIDC_SCOPES, id_token=True)
    claims = assert_user_access_token(body["access_token"], lz)
    assert body["expires_in"] == claims["exp"] - claims["iat"], f"expected expires_in to match the token, got {body['expires_in']} vs {claims['exp'] - claims['iat']}"
    idc = assert_id_token(body["id_token"], lz, nonce=nonce)
    assert idc.get("email") == lz.email, f"expected email in the ID token for scope email, got {idc!r}"

    with httpx.Client(timeout=30.0, trust_env=False) as h:
        r = h.get(lz.userinfo_endpoint, headers={"Authorization": f"Bearer {body['access_token']}"})
        assert r.status_code == 200 and "json" in r.headers.get("content-type", ""), f"expected userinfo 200 JSON, got {r.status_code}: {r.text[:300]!r}"
        ui = r.json()
        assert ui.get("sub") == lz.user["id"], f"expected userinfo sub {lz.user['id']!r}, got {ui!r}"
        assert ui.get("email") == lz.email and ui.get("email_verified") is True, f"expected email and email_verified true, got {ui!r}"
        for bad in ("not-a-token", body["id_token"], body["access_token"][:-4] + "AAAA"):
            r = h.get(lz.userinfo_endpoint, headers={"Authorization": f"Bearer {bad}"})
            assert r.status_code == 401, f"expected 401 for a bad token at userinfo, got {r.status_code}: {r.text[:300]!r}"
            www = r.headers.get("www-authenticate") or ""
            assert www.startswith("Bearer") and 'error="invalid_token"' in www, f"expected WWW-Authenticate: Bearer error=\"invalid_token\", got {www!r}"
        r = h.get(lz.userinfo_endpoint)
        assert r.status_code == 401 and (r.headers.get("www-authenticate") or "").startswith("Bearer"), f"expected 401 without a token, got {r.status_code}"

    # Two contract details, reported together: the user was provisioned with a name and the token has scope profile;
    # post/redirect/get, the accepted credentials answer a 303 (to the consent page or the client), not a page.
    details = []
    if ui.get("name") != lz.user["name"]:
        details.append(f"expected userinfo name {lz.user['name']!r} for scope profile, got {ui!r}")
    if posted[0].status != 303 or not posted[0].location:
        details.append(f"expected the credentials POST to answer 303 to the consent page or the redirect URI, got {posted[0].status}")
    assert not details, "\n".join(details) + f"\nsteps:\n{result.trace()}"


def test_session_cookie_skips_sign_in_and_prompt_none_uses_it(lz):
    with new_browser() as browser:
        sign_in_and_redeem(lz, browser)
        a = authz(lz)
        again = drive(lz, browser, a)
        assert_callback(again, a, lz)
        assert not again.saw_sign_in, f"expected the session cookie to skip the sign-in form:\n{again.trace()}"
        # The consent given is remembered for this client and scope set: prompt=none gets a code at once.
        a = authz(lz, prompt="none")
        silent = drive(lz, browser, a)
        q = assert_callback(silent, a, lz)
        assert not silent.pages, f"expected prompt=none to redirect without any page:\n{silent.trace()}"
        assert_token_response(redeem(lz, q["code"], a.verifier), lz)
    # Another browser (no cookie) signs in again.
    with new_browser() as other:
        a = authz(lz)
        fresh = drive(lz, other, a)
        assert_callback(fresh, a, lz)
        assert fresh.saw_sign_in, f"expected a browser without the cookie to see the sign-in form:\n{fresh.trace()}"


# --------------------------------------------------------------------------- 2. error paths at the authorization endpoint


def test_wrong_password_and_unknown_email_show_the_form_again(client, http, lz):
    with new_browser() as browser:
        first = browser.get(authz(lz).url)
        assert first.status_code == 200, f"expected the sign-in page, got {first.status_code}: {first.text[:300]!r}"
        base_text = visible_text(first.text)

        stops: Dict[str, LoginStopped] = {}
        emails = {"wrong password": lz.email, "unknown email": f"nobody-{secrets.token_hex(4)}@example.com"}
        for case, password in (("wrong password", "wrong-" + strong_password()), ("unknown email", strong_password())):
            email = emails[case]
            with pytest.raises(LoginStopped) as ei:
                login(browser, authz(lz).url, REDIRECT, email=email, password=password)
            stop = ei.value
            last = stop.last
            assert last.sent and any(k == "password" for k, _ in last.sent), f"expected the stop right after posting the credentials ({case}):\n{stop}"
            assert last.status == 200 or 400 <= last.status < 500, f"expected a 200 or 4xx page ({case}), got {last.status}"
            assert "location" not in last.headers, f"expected no redirect ({case}), got Location {last.headers.get('location')!r}"
            assert last.html is not None and last.is_sign_in, f"expected the sign-in form again ({case}):\n{stop}"
            assert added_text(base_text, last.text), f"expected an error text on the page ({case}); text {last.text[:400]!r}"
            stops[case] = stop
        # No user enumeration through the message.
        msgs = {case: added_text(base_text, s.last.text).replace(emails[case], "<email>") for case, s in stops.items()}
        assert msgs["wrong password"] == msgs["unknown email"], f"expected the same message for a wrong password and an unknown email, got {msgs!r}"

        # The right password still signs in, and nothing was issued before.
        a = authz(lz)
        ok = drive(lz, browser, a)
        assert_callback(ok, a, lz)
    sessions = client.zones.sessions.list(lz.zone_id, user_id=lz.user["id"], include_nested="true").items
    assert len([s for s in sessions if s.parent_id is None]) == 1, f"expected only the successful sign-in to open a session, got {sessions!r}"


@pytest.mark.parametrize(
    "case",
    ["unknown client_id", "malformed client_id", "unregistered redirect_uri path", "unregistered redirect_uri host", "no redirect_uri match with https"],
)
def test_bad_client_or_redirect_uri_is_an_error_page_not_a_redirect(lz, case):
    port = urlsplit(REDIRECT).port
    kw: Dict[str, Any] = {
        "unknown client_id": {"client_id": "ua:" + secrets.token_hex(32)},
        "malformed client_id": {"client_id": "no-such-client"},
        "unregistered redirect_uri path": {"redirect_uri": f"http://127.0.0.1:{port}/other"},
        "unregistered redirect_uri host": {"redirect_uri": "https://attacker.example/callback"},
        "no redirect_uri match with https": {"redirect_uri": f"https://127.0.0.1:{port}/callback"},
    }[case]
    a = authz(lz, **kw)
    with new_browser() as browser:
        assert_html_error_page(browser.get(a.url), case)
        # Signed in, the same request still gets the page, never a redirect.
        sign_in_and_redeem(lz, browser)
        assert_html_error_page(browser.get(a.url), f"{case}, with a session")


@pytest.mark.parametrize("case", ["no code_challenge", "code_challenge_method=plain"])
def test_pkce_is_required_and_s256_only(lz, case):
    verifier, _ = pkce_pair()
    if case == "no code_challenge":
        a = authz(lz, pkce=False)
    else:
        a = authz(lz, pkce=False, code_challenge=verifier, code_challenge_method="plain")
    with new_browser() as browser:
        result = drive(lz, browser, a)
    assert_callback(result, a, lz, error="invalid_request")


def test_deny_at_consent_redirects_access_denied(lz):
    a = authz(lz)
    with new_browser() as browser:
        result = drive(lz, browser, a, decision="deny")
        assert result.saw_sign_in and result.saw_consent, f"expected sign-in then consent:\n{result.trace()}"
        assert_callback(result, a, lz, error="access_denied")
        # The denial is not remembered as consent: the next request asks again.
        a = authz(lz)
        again = drive(lz, browser, a)
        assert again.saw_consent and not again.saw_sign_in, f"expected consent asked again, without signing in:\n{again.trace()}"
        assert_callback(again, a, lz)


def test_prompt_none_without_a_session_is_login_required(lz):
    a = authz(lz, prompt="none")
    with new_browser() as browser:
        result = drive(lz, browser, a)
    assert_callback(result, a, lz, error="login_required")
    assert not result.pages, f"expected prompt=none to redirect at once, without a page:\n{result.trace()}"


# --------------------------------------------------------------------------- 2. the token endpoint


def test_replayed_code_is_invalid_grant_and_revokes_what_it_issued(lz):
    a = authz(lz)
    with new_browser() as browser:
        q = assert_callback(drive(lz, browser, a), a, lz)
    body = assert_token_response(redeem(lz, q["code"], a.verifier), lz)
    assert_invalid_grant(redeem(lz, q["code"], a.verifier), "the same code a second time")
    # RFC 6749 §4.1.2 / issue #12: a replay revokes the tokens the code issued.
    assert_invalid_grant(refresh(lz, body["refresh_token"]), "refresh token issued by a replayed code")


@pytest.mark.parametrize("case", ["wrong code_verifier", "wrong redirect_uri", "another client", "garbage code"])
def test_code_redemption_is_bound_to_verifier_redirect_uri_and_client(lz, case):
    a = authz(lz)
    with new_browser() as browser:
        q = assert_callback(drive(lz, browser, a), a, lz)
    code = secrets.token_urlsafe(32) if case == "garbage code" else q["code"]
    overrides: Dict[str, str] = {
        "wrong code_verifier": {"code_verifier": pkce_pair()[0]},
        "wrong redirect_uri": {"redirect_uri": REDIRECT + "/other"},
        "another client": {"client_id": register_client(lz.issuer, [REDIRECT])},
        "garbage code": {},
    }[case]
    assert_invalid_grant(redeem(lz, code, a.verifier, **overrides), case)


def test_refresh_rotates_and_reuse_revokes_the_family(lz):
    body, _ = sign_in_and_redeem(lz)
    r0 = body["refresh_token"]
    b1 = assert_token_response(refresh(lz, r0), lz, context="first refresh")
    r1 = b1["refresh_token"]
    assert r1 != r0, "expected the refresh token rotated on use"
    assert_user_access_token(b1["access_token"], lz)
    assert_invalid_grant(refresh(lz, "not-a-refresh-token"), "an unknown refresh token")

    # r0 is rotated out. Inside the grace window it may still be honoured (see the concurrency test); once the window
    # is over, using it again is reuse: invalid_grant, and the whole family dies.
    start = time.monotonic()
    honoured: List[str] = []
    while True:
        time.sleep(1.0)
        r = refresh(lz, r0)
        if r.status_code != 200:
            break
        honoured.append(r.json().get("refresh_token") or "")
        assert time.monotonic() - start < REUSE_DETECTED_WITHIN_S, (
            f"a rotated-out refresh token was still accepted {REUSE_DETECTED_WITHIN_S:.0f}s after rotation: the reuse "
            "grace window must be short"
        )
    assert_invalid_grant(r, f"a rotated-out refresh token reused {time.monotonic() - start:.1f}s after rotation")
    assert_invalid_grant(refresh(lz, r1), "the newest refresh token after reuse of an older one (family revoked)")
    for t in honoured:
        if t:
            assert_invalid_grant(refresh(lz, t), "a refresh token issued in the grace window, after reuse was detected")


def test_concurrent_refreshes_within_the_grace_window_do_not_revoke(lz):
    body, _ = sign_in_and_redeem(lz)
    r0 = body["refresh_token"]
    barrier = threading.Barrier(2)

    def go() -> Tuple[float, httpx.Response]:
        with httpx.Client(timeout=30.0, trust_env=False) as h:
            barrier.wait(timeout=10)
            res = refresh(lz, r0, http=h)
            return time.monotonic(), res

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted((f.result() for f in [pool.submit(go), pool.submit(go)]), key=lambda o: o[0])
    for _, res in outcomes:
        assert_token_response(res, lz, context="one of two concurrent refreshes with the same token")
    tokens = [res.json()["refresh_token"] for _, res in outcomes]

    # The family is alive: a refresh token handed out is still good (the most recent answer first).
    tried: List[str] = []
    for t in reversed(list(dict.fromkeys(tokens))):
        r = refresh(lz, t)
        tried.append(f"{r.status_code} {r.text[:120]}")
        if r.status_code == 200:
            break
    else:
        pytest.fail(f"expected a refresh token from the concurrent refreshes to keep working (no family revocation), got {tried}", pytrace=False)
    with httpx.Client(timeout=30.0, trust_env=False) as h:
        for _, res in outcomes:
            ui = h.get(lz.userinfo_endpoint, headers={"Authorization": f"Bearer {res.json()['access_token']}"})
            assert ui.status_code == 200, f"expected the access tokens of both concurrent refreshes valid, got {ui.status_code}: {ui.text[:200]!r}"


@pytest.mark.parametrize("how", ["revoke", "delete"])
def test_ending_the_web_session_in_the_management_api_ends_its_refresh_tokens(client, lz, how):
    with new_browser() as browser:
        body, _ = sign_in_and_redeem(lz, browser)
        web, nested = web_session_of(client, lz)
        assert web.status == "active", f"expected the web session active, got {web.status!r}"
        assert nested, "expected the refresh-token session nested under the web session (parent_id = the web session)"
        if how == "revoke":
            s = client.zones.sessions.update(web.id, zone_id=lz.zone_id, status="revoked")
            assert s.status == "revoked", f"expected the web session revoked, got {s.status!r}"
        else:
            assert client.zones.sessions.delete(web.id, zone_id=lz.zone_id) is None
        assert_invalid_grant(refresh(lz, body["refresh_token"]), f"refresh after the web session was {how}d")
        # The cookie no longer signs the browser in.
        a = authz(lz)
        again = drive(lz, browser, a)
        assert_callback(again, a, lz)
        assert again.saw_sign_in, f"expected the sign-in form after the web session was {how}d:\n{again.trace()}"


# --------------------------------------------------------------------------- 3. keycardai-oauth's PKCE helpers


def test_keycardai_oauth_pkce_helpers(lz):
    """`begin_authorization` -> the driver -> `complete_authorization` (no `resource`: the audience comes from the code)
    -> `refresh_authorization` -> `AsyncClient.userinfo`; a denial surfaces as `AuthorizationDeniedError`, a dead
    refresh token as `RefreshGrantError(invalid_grant)`."""

    got: Dict[str, Any] = {}

    async def flow() -> None:
        with new_browser() as browser:
            redirect = await begin_authorization(
                client_id=lz.client_id, redirect_uri=REDIRECT, resources=[lz.resource], issuer=lz.issuer, scopes=OIDC_SCOPES
            )
            assert redirect.url.startswith(lz.authorize_endpoint + "?"), f"expected the zone's authorization endpoint, got {redirect.url!r}"
            result = await asyncio.to_thread(login, browser, redirect.url, REDIRECT, email=lz.email, password=lz.password)
            assert result.query.get("iss") == lz.issuer and result.query.get("state") == redirect.state, result.query
            tok = await complete_authorization(
                callback_params=result.query, state=redirect.state, code_verifier=redirect.code_verifier,
                client_id=lz.client_id, redirect_uri=REDIRECT, issuer=lz.issuer,
            )
            assert tok.refresh_token and tok.id_token and isinstance(tok.expires_in, int), f"expected refresh and ID tokens, got {tok!r:.300}"
            assert set(OIDC_SCOPES) <= set(tok.scope or []), f"expected the OIDC scopes granted, got {tok.scope!r}"
            got["code"] = tok

            ref = await refresh_authorization(refresh_token=tok.refresh_token, client_id=lz.client_id, issuer=lz.issuer, resources=[lz.resource])
            assert ref.access_token != tok.access_token and ref.refresh_token and ref.refresh_token != tok.refresh_token, (
                "expected a new access token and a rotated refresh token"
            )
            got["refresh"] = ref

            config = ClientConfig(enable_metadata_discovery=True, auto_register_client=False)
            async with AsyncClient(lz.issuer, auth=NoneAuth(), config=config) as oc:
                ui = await oc.userinfo(ref.access_token)
            assert ui.sub == lz.user["id"] and ui.claims.get("email") == lz.email, f"expected the user's claims, got {ui!r}"

            with pytest.raises(RefreshGrantError) as ei:
                await refresh_authorization(refresh_token="not-a-refresh-token", client_id=lz.client_id, issuer=lz.issuer)
            assert ei.value.error == "invalid_grant" and ei.value.retryable is False, f"expected invalid_grant, got {ei.value!r}"

            # prompt=consent asks again (the session skips sign-in); the denial reaches the library as an error.
            redirect = await begin_authorization(
                client_id=lz.client_id, redirect_uri=REDIRECT, resources=[lz.resource], issuer=lz.issuer, scopes=OIDC_SCOPES
            )
            denied = await asyncio.to_thread(login, browser, redirect.url + "&prompt=consent", REDIRECT, email=lz.email,
                                             password=lz.password, decision="deny")
            assert denied.saw_consent and not denied.saw_sign_in, f"expected consent without sign-in:\n{denied.trace()}"
            with pytest.raises(AuthorizationDeniedError) as ei:
                await complete_authorization(
                    callback_params=denied.query, state=redirect.state, code_verifier=redirect.code_verifier,
                    client_id=lz.client_id, redirect_uri=REDIRECT, issuer=lz.issuer,
                )
            assert ei.value.error == "access_denied", f"expected access_denied, got {ei.value!r}"

    asyncio.run(flow())
    # Checked outside the event loop (the TokenVerifier helper runs its own).
    assert_user_access_token(got["code"].access_token, lz)
    assert_user_access_token(got["refresh"].access_token, lz)
    assert_id_token(got["code"].id_token, lz, nonce=None)
