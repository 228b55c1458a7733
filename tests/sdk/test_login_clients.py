"""People signing in through a zone with the other official clients, unchanged (issue #12 "Tests (real clients,
unchanged)"; client contract D.11.2, D.11.4 cases 4 and 5, D.12). test_user_login.py covers the official MCP SDK
client and keycardai-oauth's begin/complete/refresh helpers with a self-registered client; tests/js (run by
test_js_client.py) covers oauth4webapi. This file adds:

  * the keycardai-mcp 2.3.5 client (`Client` with `LocalAuthCoordinator`) against a keycardai-mcp-protected MCP
    server: the blocking coordinator opening "the browser" (D.11.2's alternative: `webbrowser.open` replaced by a
    headless browser running beside the client), PRM -> appended AS metadata -> DCR (`none`) -> authorize -> sign in ->
    consent -> its loopback callback server redeems the code -> tools/call; on a node issuing 3-second tokens, the
    refresh on the first 401 and the proactive refreshes after it (tokens within 60 s of expiry, D.5.2); then the
    person's web session revoked through the management API: the refresh gets `invalid_grant`, the client drops its
    tokens and signs in again in the browser (D.11.4 case 4). And the non-blocking coordinator: AUTH_PENDING, the
    challenge's authorization URL, the callback reconnecting the session. Fresh client storage per case (D.12 item 13).
  * keycardai-oauth 0.33.2 (D.11.4 case 5) with an application's credentials: `authenticate(issuer=...)` (it opens
    the browser and listens on a loopback port) with a `public` credential, with and without `resource_url` (without:
    the zone's default resource, or the userinfo endpoint for an OpenID-only request), and from a keycardai-mcp
    server's 401 challenge (then calling its tool with the token); `begin_authorization` with two
    resources -> `complete_authorization(client_secret=...)` for a `password` credential (Basic and `client_id` in the
    body, no `resource`) -> a token whose `aud` is both; `refresh_authorization` (Basic, narrowed to one resource) and
    `AsyncClient.userinfo()`.

The OAuth traffic of both libraries goes through httpx's AsyncHTTPTransport, which the `wire` fixture wraps to record
what they send; the MCP traffic (httpx2) is recorded at the MCP server.
"""

# No `from __future__ import annotations`: the MCP server's tool (in test_user_login) finds `Context` by annotation.
import asyncio
import base64
import json
import secrets
import threading
import webbrowser
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from keycardai_api import KeycardAPI

from keycardai.mcp.client import Client as McpClient
from keycardai.mcp.client import InMemoryBackend, LocalAuthCoordinator
from keycardai.oauth import AsyncClient, ClientConfig, NoneAuth
from keycardai.oauth.pkce import authenticate, begin_authorization, complete_authorization, refresh_authorization

from headless_login import LoginResult, login, new_browser
from sdk_processes import free_port
from sdk_support import unique_name
from test_mcp_package import call_tools, post_mcp, serving
from test_oauth_client import jwks_of, new_resource
from test_oauth_exchange import UA_CLIENT_ID_RE
from test_user_login import (  # noqa: F401  (short_node, sign_in_built and _no_keycard_env are fixtures used here)
    GRANT_CODE,
    GRANT_REFRESH,
    SHORT_LIFETIME_S,
    _no_keycard_env,
    make_login_zone,
    new_user,
    short_node,
    sign_in_built,
    web_session_of,
    whoami_server,
)

SERVER = "zone-mcp"
RESOURCE_A = "https://a.example.com/api"
RESOURCE_B = "https://b.example.com/api"
CALLBACK_TIMEOUT_S = 60
JOIN_TIMEOUT_S = 60.0


# --------------------------------------------------------------------------- what the libraries send


@dataclass
class Wire:
    method: str
    url: str
    status: int
    form: Dict[str, str]
    authorization: Optional[str]
    body: Any = None  # the JSON answer of a token request

    def describe(self) -> str:
        extra = f" grant_type={self.form['grant_type']}" if "grant_type" in self.form else ""
        return f"{self.method} {self.url} => {self.status}{extra}"


@dataclass
class WireLog:
    entries: List[Wire] = field(default_factory=list)

    def posts(self, url: str, since: int = 0, until: Optional[int] = None) -> List[Wire]:
        return [w for w in self.entries[since:until] if w.method == "POST" and w.url == url]

    def grants(self, token_endpoint: str, grant_type: str, since: int = 0, until: Optional[int] = None) -> List[Wire]:
        return [w for w in self.posts(token_endpoint, since, until) if w.form.get("grant_type") == grant_type]

    def trace(self, since: int = 0) -> str:
        return "\n".join("  " + w.describe() for w in self.entries[since:])


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> WireLog:
    """Every request an httpx.AsyncClient sends on this thread's event loops (keycardai-oauth's AsyncClient and
    keycardai-mcp's OAuth services both use one), with the JSON answers of token requests."""
    log = WireLog()
    original = httpx.AsyncHTTPTransport.handle_async_request

    async def recording(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        form: Dict[str, str] = {}
        if "application/x-www-form-urlencoded" in (request.headers.get("content-type") or ""):
            try:
                form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
            except Exception:  # a streamed body: not an OAuth request
                form = {}
        response = await original(self, request)
        entry = Wire(request.method, str(request.url), response.status_code, form, request.headers.get("authorization"))
        if "grant_type" in form and "json" in (response.headers.get("content-type") or ""):
            await response.aread()  # cached on the response: the library reads the same bytes
            entry.body = json.loads(response.content)
        log.entries.append(entry)
        return response

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", recording)
    return log


class HeadlessBrowser:
    """What `webbrowser.open(url)` does in these tests: like a person's browser beside the client, a thread signs in and
    consents with the headless driver (one cookie jar across logins), then follows the final redirect to the client's
    loopback callback server (keycardai-mcp's aiohttp server, keycardai-oauth's HTTPServer), which completes the flow."""

    def __init__(self, email: str, password: str) -> None:
        self.email, self.password = email, password
        self.http = new_browser()
        self.opened: List[str] = []
        self.logins: List[LoginResult] = []
        self.callbacks: List[httpx.Response] = []
        self.errors: List[BaseException] = []
        self._threads: List[threading.Thread] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:  # webbrowser.open's signature
        self.opened.append(url)
        t = threading.Thread(target=self._visit, args=(url,), name="headless-browser", daemon=True)
        self._threads.append(t)
        t.start()
        return True

    def _visit(self, url: str) -> None:
        try:
            redirect_uri = dict(parse_qsl(urlsplit(url).query))["redirect_uri"]
            result = login(self.http, url, redirect_uri, email=self.email, password=self.password)
            self.logins.append(result)
            with httpx.Client(timeout=30.0, trust_env=False, follow_redirects=False) as h:
                self.callbacks.append(h.get(result.redirect))
        except BaseException as e:  # reported by join(); the client would only see a timeout
            self.errors.append(e)

    def join(self) -> None:
        for t in self._threads:
            t.join(timeout=JOIN_TIMEOUT_S)
        if self.errors:
            raise self.errors[0]

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def browser_factory(monkeypatch: pytest.MonkeyPatch):
    made: List[HeadlessBrowser] = []

    def make(email: str, password: str) -> HeadlessBrowser:
        b = HeadlessBrowser(email, password)
        monkeypatch.setattr(webbrowser, "open", b.open)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


def query_of(url: str) -> Dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def verified_claims(token: str, issuer: str) -> Dict[str, Any]:
    """The claims of a token signed with the zone's key (RS256), signature checked against its JWKS."""
    decoded = jose_jwt.decode(token, KeySet.import_key_set(jwks_of(issuer)), algorithms=["RS256"])
    return dict(decoded.claims)


# --------------------------------------------------------------------------- 1. the keycardai-mcp client


@dataclass
class Seen:
    """One request the MCP server received, and its answer."""

    method: str
    path: str
    token: Optional[str]
    status: int = 0


def recorded(app: Any, seen: List[Seen]) -> Any:
    """ASGI middleware around the MCP server: the requests the client's MCP transport (httpx2) sent."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        auth = dict(scope.get("headers") or []).get(b"authorization", b"").decode()
        s = Seen(scope["method"], scope["path"], auth[7:] if auth.lower().startswith("bearer ") else None)
        seen.append(s)

        async def send_status(message):
            if message["type"] == "http.response.start":
                s.status = message["status"]
            await send(message)

        return await app(scope, receive, send_status)

    return wrapped


async def whoami(client: McpClient) -> Dict[str, Any]:
    res = await client.call_tool("whoami", {}, server_name=SERVER)
    assert not res.is_error, f"expected whoami to run, got an error result: {res!r:.800}"
    return json.loads(res.content[0].text)


def mcp_servers(url: str) -> Dict[str, Any]:
    return {SERVER: {"url": url, "transport": "http", "auth": {"type": "oauth"}}}


def test_keycardai_mcp_client_signs_in_refreshes_and_signs_in_again_after_invalid_grant(short_node, wire, browser_factory):
    """D.11.4 case 4 on the node issuing SHORT_LIFETIME_S-second tokens, with the default (blocking) coordinator."""
    api, http, server = short_node.client, short_node.http, short_node.server
    port = free_port()
    mcp_url = f"http://127.0.0.1:{port}/mcp"
    lz = make_login_zone(api, http, server, resource=mcp_url, register=False)
    browser = browser_factory(lz.email, lz.password)
    seen: List[Seen] = []
    calls: Dict[str, Dict[str, Any]] = {}
    marks: Dict[str, tuple] = {}
    revoked: List[str] = []

    def mark(name: str) -> None:
        marks[name] = (len(wire.entries), len(seen))

    def revoke_web_session() -> str:
        web, nested = web_session_of(api, lz)
        assert nested, "expected the refresh-token session nested under the web session"
        assert api.zones.sessions.update(web.id, zone_id=lz.zone_id, status="revoked").status == "revoked"
        return web.id

    async def main() -> None:
        storage = InMemoryBackend()  # fresh per case: the client caches AS metadata in it forever (D.12 item 13)
        coordinator = LocalAuthCoordinator(backend=storage, host="127.0.0.1")  # opens the browser, blocks
        client = McpClient(mcp_servers(mcp_url), storage_backend=storage, auth_coordinator=coordinator)
        try:
            await client.connect()
            session = client.sessions[SERVER]
            assert session.is_operational, f"expected the session connected after the sign-in, got {session.status}"
            calls["first"] = await whoami(client)
            # The code's token carries no expires_at in the client's storage: past its lifetime, the next request
            # gets a 401, and the client refreshes once before starting a sign-in (D.5.2).
            await asyncio.sleep(SHORT_LIFETIME_S + 0.5)
            mark("expired")
            calls["after_expiry"] = await whoami(client)
            # Refreshed tokens carry expires_at; with 3-second tokens every request is within the client's 60 s
            # skew, so it refreshes before sending (D.12 item 14).
            mark("proactive")
            calls["proactive"] = await whoami(client)
            revoked.append(await asyncio.to_thread(revoke_web_session))
            mark("revoked")
            calls["after_revoke"] = await whoami(client)
            mark("end")
        finally:
            await client.disconnect()
            await coordinator.shutdown()

    with serving(recorded(whoami_server(lz.issuer, mcp_url), seen), port):
        asyncio.run(main())
    browser.join()

    token_endpoint = lz.token_endpoint
    trace = wire.trace()
    origin = f"{urlsplit(lz.issuer).scheme}://{urlsplit(lz.issuer).netloc}"
    prm_url = f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"
    gets = [(w.url, w.status) for w in wire.entries if w.method == "GET"]
    # D.1.2: PRM at the fixed path, AS metadata appended to the issuer (not path-inserted), cached afterwards.
    assert (prm_url, 200) in gets, f"expected the PRM fetched at {prm_url}:\n{trace}"
    asm = [g for g in gets if "/.well-known/oauth-authorization-server" in g[0]]
    assert asm and asm[0] == (f"{lz.issuer}/.well-known/oauth-authorization-server", 200), f"expected the appended AS metadata URL:\n{trace}"
    assert not asm[0][0].startswith(f"{origin}/.well-known/"), "keycardai-mcp appends the well-known path to the issuer"
    regs = wire.posts(f"{lz.issuer}/oauth/register")
    assert len(regs) == 1 and regs[0].status in (200, 201), f"expected one DCR (the callback port did not change):\n{trace}"

    # First sign-in: one browser visit, the sign-in and consent pages, the callback server answering 200.
    assert len(browser.opened) == 2, f"expected two browser sign-ins (the first, and after the revocation), got {browser.opened!r}"
    first_q = query_of(browser.opened[0])
    ua = calls["first"]["client_id"]
    assert UA_CLIENT_ID_RE.match(ua), f"expected the tool to see a ua: client id, got {ua!r}"
    assert first_q.get("client_id") == ua and first_q.get("resource") == mcp_url, first_q
    assert first_q.get("code_challenge_method") == "S256" and first_q.get("state"), first_q
    assert "scope" not in first_q, f"keycardai-mcp sends no scope (D.3.1), got {first_q.get('scope')!r}"
    assert first_q.get("redirect_uri", "").startswith("http://127.0.0.1:"), first_q
    first_login = browser.logins[0]
    assert first_login.saw_sign_in and first_login.saw_consent, f"expected sign-in then consent:\n{first_login.trace()}"
    assert first_login.query.get("iss") == lz.issuer and first_login.query.get("state") == first_q["state"], first_login.query
    assert all(r.status_code == 200 for r in browser.callbacks), [(r.status_code, r.text[:200]) for r in browser.callbacks]

    codes = wire.grants(token_endpoint, GRANT_CODE, 0)
    assert codes and codes[0].status == 200, f"expected the code redeemed with 200:\n{trace}"
    f = codes[0].form
    assert (f.get("client_id"), f.get("resource")) == (ua, mcp_url) and f.get("code_verifier"), f
    body = codes[0].body
    assert isinstance(body.get("refresh_token"), str) and body["refresh_token"], (
        f"expected a refresh token without offline_access (the client registered the refresh_token grant, D.12 item 3), got {sorted(body)}"
    )
    assert body.get("expires_in") == SHORT_LIFETIME_S, f"expected expires_in {SHORT_LIFETIME_S}, got {body.get('expires_in')!r}"
    for name in ("first", "after_expiry", "proactive", "after_revoke"):
        c = calls[name]
        assert (c["sub"], c["client_id"], c["sub_profile"]) == (lz.user["id"], ua, "user"), f"{name}: {c!r:.300}"

    # After expiry: the expired token was refused, one refresh (or more) answered 200, each rotating the token the
    # previous one returned; the call ran with a new token, without a browser.
    e_wire, e_seen = marks["expired"]
    p_wire, p_seen = marks["proactive"]
    r_wire, r_seen = marks["revoked"]
    if not wire.grants(token_endpoint, GRANT_REFRESH, 0, e_wire):  # a very slow machine may have refreshed earlier
        assert any(s.status == 401 for s in seen[e_seen:p_seen]), (
            f"expected the expired token refused with 401 at the MCP server: {[(s.method, s.status) for s in seen[e_seen:p_seen]]}"
        )
    assert wire.grants(token_endpoint, GRANT_REFRESH, e_wire, p_wire), f"expected a refresh after expiry:\n{wire.trace(e_wire)}"
    before_revoke = wire.grants(token_endpoint, GRANT_REFRESH, 0, r_wire)
    assert all(w.status == 200 for w in before_revoke), f"expected refreshes answered 200:\n{wire.trace()}"
    previous = body["refresh_token"]
    for w in before_revoke:
        assert w.form.get("refresh_token") == previous, f"expected each refresh to use the token the last response rotated in:\n{wire.trace(e_wire)}"
        assert (w.form.get("client_id"), w.form.get("resource")) == (ua, mcp_url) and w.authorization is None, w.form
        previous = w.body["refresh_token"]
    assert calls["after_expiry"]["access_token"] != calls["first"]["access_token"], "expected the call after expiry to carry a new token"

    # Proactively: the call after it was preceded by a refresh, and nothing was refused.
    proactive = wire.grants(token_endpoint, GRANT_REFRESH, p_wire, r_wire)
    assert proactive, f"expected a refresh before the call (token within 60 s of expiry):\n{wire.trace(p_wire)}"
    assert not [s for s in seen[p_seen:r_seen] if s.status == 401], f"expected no 401 when refreshing ahead: {seen[p_seen:r_seen]!r}"
    assert calls["proactive"]["access_token"] in {w.body["access_token"] for w in proactive}, "expected the call to carry a token refreshed ahead"

    # The web session revoked in the management API: the refresh gets invalid_grant, the client drops its tokens,
    # gets a 401 without a token, and signs the person in again (the cookie's session is gone: the sign-in page).
    dead = wire.grants(token_endpoint, GRANT_REFRESH, r_wire)
    assert dead and dead[0].status == 400 and dead[0].body.get("error") == "invalid_grant", (
        f"expected the refresh after the revocation to get invalid_grant:\n{wire.trace(r_wire)}"
    )
    assert any(s.status == 401 and s.token is None for s in seen[r_seen:]), (
        f"expected a request without a token after the client dropped them: {[(s.method, s.status, bool(s.token)) for s in seen[r_seen:]]}"
    )
    again = browser.logins[1]
    assert again.saw_sign_in, f"expected the sign-in page again (the web session was revoked):\n{again.trace()}"
    new_codes = wire.grants(token_endpoint, GRANT_CODE, r_wire)
    assert len(new_codes) == 1 and new_codes[0].status == 200, f"expected a second code redeemed:\n{wire.trace(r_wire)}"
    assert calls["after_revoke"]["access_token"] not in {c["access_token"] for k, c in calls.items() if k != "after_revoke"}
    sessions = api.zones.sessions.list(lz.zone_id, user_id=lz.user["id"], include_nested="true", limit=100).items
    tops = {s.id: s.status for s in sessions if s.parent_id is None}
    assert tops.get(revoked[0]) == "revoked" and "active" in tops.values(), f"expected the old web session revoked and a new one active: {tops}"


def test_keycardai_mcp_client_non_blocking_challenge_then_callback_connects(client, http, server, sign_in_built, wire):
    """D.11.2's first recipe: `LocalAuthCoordinator(auto_open_browser=False, block_until_callback=False)` on its default
    host (`localhost`, where the other test uses 127.0.0.1: different strings to the zone, D.12 item 9); connect()
    leaves the session AUTH_PENDING with a challenge; the browser part done outside the client; its callback server
    redeems the code and the session reconnects by itself."""
    port = free_port()
    mcp_url = f"http://127.0.0.1:{port}/mcp"
    lz = make_login_zone(client, http, server, resource=mcp_url, register=False)
    out: Dict[str, Any] = {}

    async def main() -> None:
        storage = InMemoryBackend()
        # The coordinator's default host, localhost: the redirect URI registered and sent is http://localhost:<port>/...
        coordinator = LocalAuthCoordinator(backend=storage, auto_open_browser=False, block_until_callback=False)
        mc = McpClient(mcp_servers(mcp_url), storage_backend=storage, auth_coordinator=coordinator)
        try:
            await mc.connect()
            session = mc.sessions[SERVER]
            out["status"] = session.status.value
            assert session.requires_user_action, f"expected the session to wait for the person, got {session.status}"
            challenges = await mc.get_auth_challenges()
            assert len(challenges) == 1 and challenges[0]["server"] == SERVER, challenges
            url = challenges[0]["authorization_url"]
            out["url"] = url
            with new_browser() as b:
                result = await asyncio.to_thread(login, b, url, query_of(url)["redirect_uri"], email=lz.email, password=lz.password)
            out["login"] = result
            # The browser's last step: the client's own callback server (same event loop) redeems the code.
            async with httpx.AsyncClient(timeout=30.0, trust_env=False) as h:
                cb = await h.get(result.redirect)
            out["callback"] = (cb.status_code, cb.text)
            assert session.is_operational, f"expected the completion to reconnect the session, got {session.status}"
            assert await mc.get_auth_challenges() == [], "expected no challenge left after the completion"
            out["whoami"] = await whoami(mc)
        finally:
            await mc.disconnect()
            await coordinator.shutdown()

    with serving(whoami_server(lz.issuer, mcp_url), port):
        asyncio.run(main())

    q = query_of(out["url"])
    assert out["url"].startswith(lz.authorize_endpoint + "?") and q.get("resource") == mcp_url, out["url"]
    assert q.get("redirect_uri", "").startswith("http://localhost:"), f"expected the default localhost callback, got {q!r}"
    assert out["login"].query.get("state") == q["state"] and out["login"].query.get("iss") == lz.issuer, out["login"].query
    assert out["callback"][0] == 200, f"expected the callback server to accept the redirect, got {out['callback']!r}"
    w = out["whoami"]
    assert w["sub"] == lz.user["id"] and w["client_id"] == q["client_id"] and w["sub_profile"] == "user", w
    codes = wire.grants(lz.token_endpoint, GRANT_CODE)
    assert len(codes) == 1 and codes[0].status == 200 and codes[0].body.get("refresh_token"), wire.trace()


# --------------------------------------------------------------------------- 2. keycardai-oauth with an application


@dataclass
class WebZone:
    zone_id: str
    issuer: str
    public_id: str  # a `public` credential
    client_id: str  # a `password` credential
    client_secret: str
    user: Dict[str, Any]

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/oauth/token"

    @property
    def userinfo_endpoint(self) -> str:
        return self.issuer + "/oauth/userinfo"


def make_web_zone(client: KeycardAPI, http: httpx.Client, *, default_resource: Optional[str] = None) -> WebZone:
    """A zone with an application registering both loopback hosts without a port (RFC 8252 §7.3: any port), with a
    public and a password credential; two resources provided by an application that asks for consent; a person.
    `default_resource` becomes the zone's default resource (set before any OAuth request reads the zone)."""
    zone = client.zones.create(name=unique_name("login clients"))
    app = client.zones.applications.create(
        zone.id, identifier=f"web-{secrets.token_hex(4)}", name=unique_name("web app"),
        protocols={"oauth2": {"redirect_uris": ["http://127.0.0.1/callback", "http://localhost/callback"]}},
    )
    public = client.zones.application_credentials.create(zone.id, type="public", application_id=app.id)
    cred = client.zones.application_credentials.create(zone.id, type="password", application_id=app.id)
    assert public.identifier and cred.identifier and cred.password, (public, cred)
    api = client.zones.applications.create(zone.id, identifier=f"api-{secrets.token_hex(4)}", name=unique_name("api"), consent="required")
    ids = {r: new_resource(client, zone.id, r, application_id=api.id).id for r in (RESOURCE_A, RESOURCE_B)}
    if default_resource is not None:
        client.zones.update(zone.id, default_resource_id=ids[default_resource])
    user = new_user(http, zone.id)
    return WebZone(zone.id, zone.protocols.oauth2.issuer, public.identifier, cred.identifier, cred.password, user)


@pytest.fixture
def web_zone(client: KeycardAPI, http, sign_in_built) -> WebZone:
    return make_web_zone(client, http)


def assert_user_token(token: str, wz: WebZone, *, client_id: str, aud: Any) -> Dict[str, Any]:
    c = verified_claims(token, wz.issuer)
    assert c.get("iss") == wz.issuer and c.get("sub") == wz.user["id"], f"expected the person's token from {wz.issuer}: {c!r}"
    assert c.get("client_id") == client_id and c.get("sub_profile") == "user", f"expected client_id {client_id!r}: {c!r}"
    got = sorted(c["aud"]) if isinstance(c.get("aud"), list) else c.get("aud")
    assert got == aud, f"expected aud {aud!r}, got {c.get('aud')!r}"
    return c


def test_keycardai_oauth_authenticate_with_and_without_resource_url(client, http, web_zone, wire, browser_factory):
    """`authenticate(issuer=...)` with a public credential: the library opens the browser and waits on its loopback
    callback server. With `resource_url` the token is for it; without, the zone decides: for an OpenID-only request a
    token for the userinfo endpoint, otherwise (in a zone with one) the zone's default resource."""
    wz = web_zone
    wd = make_web_zone(client, http, default_resource=RESOURCE_B)

    async def run(z: WebZone, **kw: Any):
        port = free_port()
        return await authenticate(
            client_id=z.public_id, issuer=z.issuer + "/", redirect_uri=f"http://localhost:{port}/callback",
            callback_port=port, callback_timeout=CALLBACK_TIMEOUT_S, **kw,
        )

    browser = browser_factory(wz.user["email"], wz.user["password"])
    with_resource = asyncio.run(run(wz, resource_url=RESOURCE_A))
    oidc_only = asyncio.run(run(wz, scopes=["openid", "email"]))
    browser.join()
    other = browser_factory(wd.user["email"], wd.user["password"])
    default = asyncio.run(run(wd))
    other.join()

    opened = [query_of(u) for u in browser.opened + other.opened]
    assert len(opened) == 3, browser.opened + other.opened
    assert opened[0].get("resource") == RESOURCE_A and "scope" not in opened[0], opened[0]
    assert "resource" not in opened[1] and opened[1].get("scope") == "openid email", opened[1]
    assert "resource" not in opened[2] and "scope" not in opened[2], opened[2]
    assert [q.get("client_id") for q in opened] == [wz.public_id, wz.public_id, wd.public_id], opened
    assert all(q.get("code_challenge_method") == "S256" and q.get("redirect_uri", "").startswith("http://localhost:") for q in opened), opened
    logins = browser.logins + other.logins
    assert logins[0].saw_sign_in and logins[0].saw_consent, logins[0].trace()
    assert not logins[1].saw_sign_in, f"expected the browser session reused:\n{logins[1].trace()}"
    assert logins[2].saw_sign_in and logins[2].saw_consent, logins[2].trace()
    callbacks = browser.callbacks + other.callbacks
    assert [r.status_code for r in callbacks] == [200, 200, 200], [(r.status_code, r.text[:200]) for r in callbacks]

    codes = wire.grants(wz.token_endpoint, GRANT_CODE) + wire.grants(wd.token_endpoint, GRANT_CODE)
    assert [w.status for w in codes] == [200, 200, 200], wire.trace()
    assert codes[0].form.get("resource") == RESOURCE_A and "resource" not in codes[1].form and "resource" not in codes[2].form, [w.form for w in codes]
    assert all(w.authorization is None and w.form.get("code_verifier") for w in codes), "a public client sends only client_id"

    assert_user_token(with_resource.access_token, wz, client_id=wz.public_id, aud=RESOURCE_A)
    assert with_resource.refresh_token and not with_resource.id_token, f"expected a refresh token and no ID token without openid: {with_resource!r:.300}"
    assert_user_token(oidc_only.access_token, wz, client_id=wz.public_id, aud=wz.userinfo_endpoint)
    assert oidc_only.id_token, "expected an ID token for openid"
    assert verified_claims(oidc_only.id_token, wz.issuer).get("aud") in (wz.public_id, [wz.public_id])
    assert_user_token(default.access_token, wd, client_id=wd.public_id, aud=RESOURCE_B)

    async def userinfo():
        async with AsyncClient(wz.issuer, auth=NoneAuth(), config=ClientConfig(enable_metadata_discovery=True, auto_register_client=False)) as oc:
            return await oc.userinfo(oidc_only.access_token)

    ui = asyncio.run(userinfo())
    assert ui.sub == wz.user["id"] and ui.claims.get("email") == wz.user["email"], f"expected the person's claims, got {ui!r}"


def test_keycardai_oauth_authenticate_from_a_challenge_then_calls_the_mcp_server(client, http, sign_in_built, wire, browser_factory):
    """`authenticate(www_authenticate_header=..., resource_url=...)` (D.1.3): the issuer from a keycardai-mcp server's
    401 challenge -> its PRM -> `authorization_servers[0]`; the token then calls that server's tool."""
    port = free_port()
    mcp_url = f"http://127.0.0.1:{port}/mcp"
    wz = make_web_zone(client, http)
    new_resource(client, wz.zone_id, mcp_url)  # no providing application: consent is implicit
    browser = browser_factory(wz.user["email"], wz.user["password"])
    cb_port = free_port()
    with serving(whoami_server(wz.issuer, mcp_url), port):
        challenge = post_mcp(mcp_url, None)
        assert challenge.status_code == 401 and "resource_metadata=" in (challenge.headers.get("www-authenticate") or ""), (
            f"expected a 401 with an RFC 9728 challenge, got {challenge.status_code} {challenge.headers.get('www-authenticate')!r}"
        )
        tok = asyncio.run(authenticate(
            client_id=wz.public_id, resource_url=mcp_url, www_authenticate_header=challenge.headers["www-authenticate"],
            redirect_uri=f"http://127.0.0.1:{cb_port}/callback", callback_port=cb_port, callback_timeout=CALLBACK_TIMEOUT_S,
        ))
        browser.join()
        got = call_tools(mcp_url, tok.access_token, "whoami")["whoami"]
    assert browser.opened and browser.opened[0].startswith(wz.issuer + "/oauth/authorize?"), browser.opened
    assert query_of(browser.opened[0]).get("resource") == mcp_url, browser.opened[0]
    (code,) = wire.grants(wz.token_endpoint, GRANT_CODE)
    assert code.status == 200 and code.form.get("resource") == mcp_url, wire.trace()
    assert_user_token(tok.access_token, wz, client_id=wz.public_id, aud=mcp_url)
    assert (got["sub"], got["client_id"], got["sub_profile"]) == (wz.user["id"], wz.public_id, "user"), got


def test_keycardai_oauth_confidential_client_two_resources_refresh_and_userinfo(web_zone, wire):
    """`begin_authorization(resources=[a, b])` -> sign in -> `complete_authorization(client_secret=...)` (Basic and
    `client_id` in the body, no `resource`: the audience comes from the code) -> aud [a, b];
    `refresh_authorization(client_secret=..., resources=[a])` (Basic, no `client_id`) -> aud a; `AsyncClient.userinfo`."""
    wz = web_zone
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"  # nothing listens: the driver stops at the redirect
    out: Dict[str, Any] = {}

    async def flow() -> None:
        redirect = await begin_authorization(
            client_id=wz.client_id, redirect_uri=redirect_uri, resources=[RESOURCE_A, RESOURCE_B], issuer=wz.issuer,
            scopes=["openid", "email", "offline_access"],
        )
        sent = parse_qsl(urlsplit(redirect.url).query)
        assert [v for k, v in sent if k == "resource"] == [RESOURCE_A, RESOURCE_B], f"expected two resource parameters: {redirect.url}"
        assert dict(sent).get("state") == redirect.state, redirect.url
        with new_browser() as b:
            result = await asyncio.to_thread(login, b, redirect.url, redirect_uri, email=wz.user["email"], password=wz.user["password"])
        out["login"] = result
        tok = await complete_authorization(
            callback_params=result.query, state=redirect.state, code_verifier=redirect.code_verifier,
            client_id=wz.client_id, redirect_uri=redirect_uri, issuer=wz.issuer, client_secret=wz.client_secret,
        )
        out["code"] = tok
        out["refresh"] = await refresh_authorization(
            refresh_token=tok.refresh_token, client_id=wz.client_id, issuer=wz.issuer, client_secret=wz.client_secret,
            resources=[RESOURCE_A],
        )
        async with AsyncClient(wz.issuer, auth=NoneAuth(), config=ClientConfig(enable_metadata_discovery=True, auto_register_client=False)) as oc:
            out["userinfo"] = await oc.userinfo(out["refresh"].access_token)

    asyncio.run(flow())

    assert out["login"].saw_sign_in and out["login"].saw_consent, out["login"].trace()
    assert out["login"].query.get("iss") == wz.issuer, out["login"].query
    (code,) = wire.grants(wz.token_endpoint, GRANT_CODE)
    assert code.status == 200, wire.trace()
    # keycardai-oauth's BasicAuth encodes the raw id and secret (not RFC 6749's form-encoding, D.5.1).
    basic = "Basic " + base64.b64encode(f"{wz.client_id}:{wz.client_secret}".encode()).decode()
    assert code.authorization == basic, f"expected client_secret_basic, got {code.authorization!r}"
    assert code.form.get("client_id") == wz.client_id and "resource" not in code.form, f"expected client_id in the body and no resource: {code.form!r}"
    tok = out["code"]
    assert_user_token(tok.access_token, wz, client_id=wz.client_id, aud=sorted([RESOURCE_A, RESOURCE_B]))
    assert tok.refresh_token and tok.id_token and isinstance(tok.expires_in, int), f"{tok!r:.300}"
    idc = verified_claims(tok.id_token, wz.issuer)
    assert idc.get("aud") in (wz.client_id, [wz.client_id]) and idc.get("sub") == wz.user["id"] and "nonce" not in idc, idc

    (ref,) = wire.grants(wz.token_endpoint, GRANT_REFRESH)
    assert ref.status == 200 and ref.authorization == basic and "client_id" not in ref.form and ref.form.get("resource") == RESOURCE_A, (
        f"expected a Basic-authenticated refresh narrowed to one resource: {ref.status} {ref.form!r}"
    )
    assert out["refresh"].refresh_token and out["refresh"].refresh_token != tok.refresh_token, "expected the refresh token rotated"
    assert_user_token(out["refresh"].access_token, wz, client_id=wz.client_id, aud=RESOURCE_A)
    ui = out["userinfo"]
    assert ui.sub == wz.user["id"] and ui.claims.get("email") == wz.user["email"], f"expected the person's claims, got {ui!r}"
