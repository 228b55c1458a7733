"""Delegated access through an external credential provider (issue #13; client-contract-login D.9.2, D.12 items
15-16), against a real upstream: panva's oidc-provider 9.13.3 (tests/js/upstream-provider.js) as a GitHub-style plain
OAuth 2 API provider (no `openid`, opaque access tokens living a few seconds, rotating refresh tokens, PKCE).

  * during `/oauth/authorize`, after sign-in and consent, the zone sends the browser to the provider of each
    dependency it has no live grant for, redeems the code at the zone's callback, stores the delegated grant and
    only then redirects to the client;
  * token exchange for the upstream resource returns the provider's own access token (it introspects as active at
    the provider) with its real remaining `expires_in`; an expired one is refreshed first, and concurrent exchanges
    on an expired grant cause exactly one upstream refresh (counted at the provider);
  * a grant revoked in the management API gives `insufficient_authorization` (400) naming the provider with the
    connect URL; a provider that forgot the refresh token (restarted) gives the same and the grant becomes `expired`;
    a provider that is down gives `temporarily_unavailable` (503) and leaves the grant alone;
  * the connect page reconnects; an upstream `error=access_denied` ends on a page and stores nothing;
  * no upstream token is stored in plaintext.
"""

# No `from __future__ import annotations`: keycardai-mcp's @grant finds the `Context` and `AccessContext` parameters by
# comparing annotation objects.
import asyncio
import concurrent.futures
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional
from urllib.parse import parse_qsl, urlsplit

import httpx
import httpx2
import pytest
from keycardai.mcp.server.auth import AccessContext, AuthProvider
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.auth import OAuthClientMetadata

from headless_login import LoginStopped, login, new_browser
from sdk_processes import free_port, keyzone_bin, keyzone_env, set_pdeathsig, spawn, stop, wait_ready
from test_mcp_package import serving
from test_user_login import (  # noqa: F401  (sign_in_built is a fixture used here)
    GRANT_CODE,
    GRANT_REFRESH,
    REDIRECT,
    MemoryTokenStorage,
    assert_callback,
    authz,
    make_login_zone,
    redeem,
    sign_in_built,
)

JS_DIR = Path(__file__).resolve().parents[1] / "js"
UPSTREAM_TTL_S = 4
CLIENT_ID = "keyzone-upstream-client"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
SCOPES = ["repo", "read:user"]


@dataclass
class Upstream:
    port: int
    issuer: str
    api: str
    client_secret: str
    redirect_uri: str
    log: Path
    proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        env = dict(os.environ, PORT=str(self.port), REDIRECT_URIS=self.redirect_uri, CLIENT_ID=CLIENT_ID,
                   CLIENT_SECRET=self.client_secret, API=self.api, ACCESS_TOKEN_TTL=str(UPSTREAM_TTL_S))
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(["node", str(JS_DIR / "upstream-provider.js")], env=env, cwd=JS_DIR,
                                     stdout=out, stderr=subprocess.STDOUT, preexec_fn=set_pdeathsig)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.issuer}/_test/counts", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, f"oidc-provider exited: {self.log.read_text()[-2000:]}"
            time.sleep(0.1)
        raise AssertionError(f"oidc-provider did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def counts(self) -> Dict[str, int]:
        return httpx.get(f"{self.issuer}/_test/counts", timeout=5).json()

    def introspect(self, token: str) -> Dict[str, Any]:
        r = httpx.post(f"{self.issuer}/token/introspection", data={"token": token},
                       auth=(CLIENT_ID, self.client_secret), timeout=5)
        assert r.status_code == 200, f"upstream introspection: {r.status_code} {r.text[:300]}"
        return r.json()


@dataclass
class Delegated:
    lz: Any
    up: Upstream
    provider_id: str
    api_resource_id: str


def fill_upstream(form, step):  # noqa: ARG001
    """oidc-provider's development login form: any login and password."""
    if form.has_input("login"):
        return {"login": "octocat", "password": "any"}
    return None


@pytest.fixture
def delegated(client, http, server, sign_in_built, tmp_path) -> Delegated:  # noqa: F811
    yield from setup_delegated(client, http, server, tmp_path)


def setup_delegated(client, http, server, tmp_path, **zone_kwargs: Any):
    """A login zone (make_login_zone) whose MCP application depends on an API served by an external provider: a
    fresh oidc-provider (tests/js/upstream-provider.js) on loopback whose client redirects to the zone's callback."""
    if not shutil.which("node") or not (JS_DIR / "node_modules" / "oidc-provider").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("node and tests/js/node_modules (npm ci) are required for the delegated-access tests")
        pytest.skip("node or tests/js/node_modules/oidc-provider missing (scripts/sdk-tests.sh runs npm ci)")
    lz = make_login_zone(client, http, server, **zone_kwargs)
    port = free_port()
    up = Upstream(port=port, issuer=f"http://127.0.0.1:{port}", api=f"https://api.upstream-{secrets.token_hex(4)}.test",
                  client_secret=secrets.token_urlsafe(24), redirect_uri=f"{lz.issuer}/oauth/callback",
                  log=tmp_path / "upstream.log")
    up.start()
    try:
        meta = httpx.get(f"{up.issuer}/.well-known/openid-configuration", timeout=5).json()
        provider = client.zones.providers.create(
            lz.zone_id, identifier=up.issuer, name="Upstream Git", client_id=CLIENT_ID, client_secret=up.client_secret,
            protocols={"oauth2": {"issuer": up.issuer, "authorization_endpoint": meta["authorization_endpoint"],
                                  "token_endpoint": meta["token_endpoint"], "scopes_supported": SCOPES,
                                  "code_challenge_methods_supported": ["S256"]}})
        res = client.zones.resources.create(lz.zone_id, identifier=up.api, name="Upstream API",
                                            credential_provider_id=provider.id, scopes=SCOPES)
        client.zones.applications.dependencies.add(res.id, zone_id=lz.zone_id, id=lz.app_id)
        yield Delegated(lz, up, provider.id, res.id)
    finally:
        up.stop()


def sign_in_and_connect(d: Delegated, browser: httpx.Client) -> Dict[str, Any]:
    a = authz(d.lz)
    result = login(browser, a.url, REDIRECT, email=d.lz.email, password=d.lz.password, fill=fill_upstream, max_steps=30)
    q = assert_callback(result, a, d.lz)
    hosts = [urlsplit(s.url).netloc for s in result.steps]
    assert urlsplit(d.up.issuer).netloc in hosts, f"expected the browser sent to the upstream provider:\n{result.trace()}"
    assert any(s.url.startswith(f"{d.lz.issuer}/oauth/callback?") for s in result.steps), result.trace()
    r = redeem(d.lz, q["code"], a.verifier)
    assert r.status_code == 200, r.text
    return r.json()


def exchange(d: Delegated, subject_token: str, **extra: str) -> httpx.Response:
    data = {"grant_type": EXCHANGE, "subject_token": subject_token, "subject_token_type": ACCESS_TOKEN_TYPE,
            "resource": d.up.api, **extra}
    return httpx.post(d.lz.token_endpoint, data=data, timeout=30)


def assert_upstream_token(d: Delegated, r: httpx.Response, context: str) -> Dict[str, Any]:
    assert r.status_code == 200, f"{context}: expected 200, got {r.status_code}: {r.text[:500]}"
    body = r.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and body["token_type"] == "Bearer", body
    assert 0 < body["expires_in"] <= UPSTREAM_TTL_S, f"{context}: expected the upstream's remaining lifetime: {body}"
    info = d.up.introspect(body["access_token"])
    assert info.get("active") is True, f"{context}: the token is not the upstream's live token: {info}"
    assert info.get("sub") == "octocat", info
    return body


def assert_insufficient(r: httpx.Response, d: Delegated, context: str) -> str:
    assert r.status_code == 400, f"{context}: expected 400, got {r.status_code}: {r.text[:500]}"
    body = r.json()
    assert body["error"] == "insufficient_authorization", f"{context}: {body}"
    desc = body["error_description"]
    assert "Upstream Git" in desc, f"{context}: expected the provider named: {desc}"
    m = re.search(r"(https?://\S+/oauth/connect\?resource=\S+)", desc)
    assert m and m.group(1).startswith(d.lz.issuer), f"{context}: expected the connect URL: {desc}"
    return m.group(1)


def grant_rows(client, d: Delegated):
    return client.zones.delegated_grants.list(d.lz.zone_id).items


def test_connect_during_sign_in_then_brokered_refreshed_revoked(client, delegated, server_db, server):
    d = delegated
    browser = new_browser()
    try:
        user_tokens = sign_in_and_connect(d, browser)
        counts = d.up.counts()
        assert counts["codes"] == 1, counts
        grants = grant_rows(client, d)
        assert len(grants) == 1, grants
        g = grants[0]
        assert (g.status, g.refresh_token_set, g.user_id, g.resource_id, g.provider_id) == (
            "active", True, d.lz.user["id"], d.api_resource_id, d.provider_id), g
        assert set(g.scopes) == set(SCOPES), g.scopes

        first = assert_upstream_token(d, exchange(d, user_tokens["access_token"]), "first exchange")
        again = assert_upstream_token(d, exchange(d, user_tokens["access_token"]), "second exchange")
        assert again["access_token"] == first["access_token"], "a live upstream token is served as stored"
        assert d.up.counts()["refreshes"] == 0

        # No upstream token in plaintext in the database.
        assert_not_stored(server_db, first["access_token"])

        time.sleep(UPSTREAM_TTL_S + 0.5)
        refreshed = assert_upstream_token(d, exchange(d, user_tokens["access_token"]), "after expiry")
        assert refreshed["access_token"] != first["access_token"]
        assert d.up.counts()["refreshes"] == 1, d.up.counts()
        assert d.up.introspect(first["access_token"]).get("active") is False, "the old token expired upstream"

        # Concurrent exchanges on an expired grant: one upstream refresh, everyone gets its token.
        time.sleep(UPSTREAM_TTL_S + 0.5)
        with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
            rs = list(pool.map(lambda _: exchange(d, user_tokens["access_token"]), range(20)))
        tokens = {assert_upstream_token(d, r, "concurrent")["access_token"] for r in rs}
        assert len(tokens) == 1, f"expected one refreshed token for all, got {len(tokens)}"
        assert d.up.counts()["refreshes"] == 2, f"expected exactly one more upstream refresh: {d.up.counts()}"
        newest = tokens.pop()
        assert_not_stored(server_db, newest)
        logs = server.stdout_log.read_text(errors="replace") + server.stderr_log.read_text(errors="replace")
        for t in (first["access_token"], refreshed["access_token"], newest, d.up.client_secret):
            assert t not in logs, "an upstream token or the provider's client secret in the server's logs"

        # A scope the resource defines but the grant does not hold: the same error, naming the scope.
        client.zones.resources.update(d.api_resource_id, zone_id=d.lz.zone_id, scopes=[*SCOPES, "admin"])
        # The token path trusts a looked-up resource for LOOKUP_TTL (1 s, crates/authserver/src/lookups.rs).
        time.sleep(1.2)
        r = exchange(d, user_tokens["access_token"], scope="admin")
        assert_insufficient(r, d, "a scope outside the grant")
        assert "does not grant scope \"admin\"" in r.json()["error_description"], r.text

        # Revoked in the management API: insufficient_authorization with the connect URL.
        g = grant_rows(client, d)[0]
        assert client.zones.delegated_grants.update(g.id, zone_id=d.lz.zone_id, status="revoked").status == "revoked"
        r = exchange(d, user_tokens["access_token"])
        connect_url = assert_insufficient(r, d, "revoked grant")
        assert "has no connection to Upstream Git" in r.json()["error_description"], r.text

        # The connect page (the zone's browser session) connects again and ends on a page.
        with pytest.raises(LoginStopped) as stopped:
            login(browser, connect_url, d.lz.issuer + "/nowhere", fill=fill_upstream, max_steps=20)
        last = stopped.value.steps[-1]
        assert last.status == 200 and "Connected" in (last.html or ""), stopped.value
        assert_upstream_token(d, exchange(d, user_tokens["access_token"]), "after reconnecting")
        active = [g for g in grant_rows(client, d) if g.status == "active"]
        assert len(active) == 1, active
    finally:
        browser.close()


def test_provider_down_then_refresh_refused(client, delegated):
    d = delegated
    browser = new_browser()
    try:
        user_tokens = sign_in_and_connect(d, browser)
        assert_upstream_token(d, exchange(d, user_tokens["access_token"]), "first")
        before = grant_rows(client, d)[0]
        d.up.stop()
        time.sleep(UPSTREAM_TTL_S + 0.5)
        r = exchange(d, user_tokens["access_token"])
        assert r.status_code == 503 and r.json()["error"] == "temporarily_unavailable", r.text
        assert "Upstream Git" in r.json()["error_description"], r.text
        g = grant_rows(client, d)[0]
        assert (g.refresh_token_set, g.expires_at, g.updated_at, g.refreshed_at) == (
            True, before.expires_at, before.updated_at, before.refreshed_at), "an unreachable provider leaves the grant alone"
        # Its access token has expired (status `expired`), but its refresh token can still renew it.
        assert g.status == "expired", g
        # Restarted with its in-memory state gone, the provider refuses the refresh token (invalid_grant).
        d.up.start()
        r = exchange(d, user_tokens["access_token"])
        assert_insufficient(r, d, "refresh refused")
        assert "refused to renew" in r.json()["error_description"], r.text
        g = grant_rows(client, d)[0]
        assert (g.status, g.refresh_token_set) == ("expired", False), g
        r = exchange(d, user_tokens["access_token"])
        assert_insufficient(r, d, "expired grant")
        assert "has expired" in r.json()["error_description"], r.text
        assert d.up.counts()["refresh_failures"] == 1, "no second refresh attempt on an expired grant"
    finally:
        browser.close()


def test_upstream_denial_ends_on_a_page_and_stores_nothing(client, delegated):
    d = delegated
    browser = new_browser()
    try:
        a = authz(d.lz)
        # Stop where the zone sends the browser to the provider, then answer as a provider whose user said no.
        result = login(browser, a.url, d.up.issuer, email=d.lz.email, password=d.lz.password)
        q = dict(parse_qsl(urlsplit(result.redirect).query))
        assert q["client_id"] == CLIENT_ID and q["redirect_uri"] == f"{d.lz.issuer}/oauth/callback", q
        assert q["response_type"] == "code" and q["code_challenge_method"] == "S256" and q["code_challenge"], q
        assert q["scope"].split(" ") == SCOPES, q
        r = browser.get(f"{d.lz.issuer}/oauth/callback", params={"error": "access_denied", "state": q["state"]})
        assert r.status_code == 403 and "Upstream Git" in r.text and "access_denied" in r.text, r.text[:500]
        assert "location" not in r.headers
        assert grant_rows(client, d) == []
        # prompt=none cannot send the person to the provider: interaction_required to the client.
        a2 = authz(d.lz, prompt="none")
        r = browser.get(a2.url)
        assert r.status_code == 303 and r.headers["location"].startswith(REDIRECT + "?"), (r.status_code, r.text[:300])
        q2 = dict(parse_qsl(urlsplit(r.headers["location"]).query))
        assert q2["error"] == "interaction_required" and "Upstream Git" in q2["error_description"], q2
        assert q2["state"] == a2.state and q2["iss"] == d.lz.issuer, q2
        # A forged or foreign state is refused too.
        r = browser.get(f"{d.lz.issuer}/oauth/callback", params={"code": "x", "state": "forged"})
        assert r.status_code == 400 and "location" not in r.headers, r.text[:300]
        assert grant_rows(client, d) == []
    finally:
        browser.close()


def assert_not_stored(server_db, token: str) -> None:
    needle = token.encode()
    if server_db.backend == "sqlite":
        base = Path(server_db.sqlite_path)
        for p in [base, Path(str(base) + "-wal")]:
            if p.exists():
                assert needle not in p.read_bytes(), f"upstream token in plaintext in {p}"
    else:
        out = subprocess.run(["psql", server_db.pg_url, "-Atc", "SELECT d::text FROM delegated_grants d"],
                             capture_output=True, check=True).stdout
        assert needle not in out and needle.hex().encode() not in out, "upstream token in plaintext in delegated_grants"


def upstream_tool_server(issuer: str, mcp_url: str, up: Upstream) -> Any:
    """A keycardai-mcp protected MCP server whose `@grant(<upstream API>)` tool calls the upstream with the token it
    got (introspection stands in for the upstream API: it answers who the token is for)."""
    provider = AuthProvider(zone_url=issuer, mcp_server_name="Keyzone delegated-access MCP server", audience=mcp_url,
                            enable_dynamic_client_registration=False)
    mcp = MCPServer("keyzone-delegated")

    @mcp.tool()
    @provider.grant(up.api)
    async def upstream_whoami(access_ctx: AccessContext, ctx: Context) -> dict:
        if access_ctx.has_errors():
            return {"errors": jsonable(access_ctx.get_errors())}
        t = access_ctx.access(up.api)
        async with httpx.AsyncClient(timeout=10, trust_env=False) as h:
            r = await h.post(f"{up.issuer}/token/introspection", data={"token": t.access_token},
                             auth=(CLIENT_ID, up.client_secret))
        return {"access_token": t.access_token, "expires_in": t.expires_in, "upstream": r.json()}

    return provider.app(mcp)


def jsonable(v: Any) -> Any:
    return json.loads(json.dumps(v, default=str))


async def call_tool(session: ClientSession, name: str) -> Dict[str, Any]:
    res = await session.call_tool(name, {})
    assert not res.is_error, f"expected {name} to run, got {res!r:.800}"
    return json.loads(res.content[0].text)


def test_mcp_sdk_client_then_grant_tool_gets_upstream_token_refreshed_then_revoked(client, http, server, sign_in_built,  # noqa: F811
                                                                                    tmp_path):
    """The issue's end-to-end case with unchanged official clients: the mcp SDK client signs in (sign-in, consent, the
    upstream's login and consent inside the one browser flow), a keycardai-mcp `@grant` tool receives the upstream's
    own token and calls the upstream with it; after the upstream token expires the next call is served after one
    upstream refresh; after the grant is revoked in the management API the tool gets insufficient_authorization with
    the connect URL."""
    port = free_port()
    mcp_url = f"http://127.0.0.1:{port}/mcp"
    gen = setup_delegated(client, http, server, tmp_path, resource=mcp_url, register=False)
    d = next(gen)
    browser = new_browser()
    logins: list = []
    got: Dict[str, Any] = {}

    async def redirect_handler(url: str) -> None:
        logins.append(await asyncio.to_thread(login, browser, url, REDIRECT, email=d.lz.email, password=d.lz.password,
                                              fill=fill_upstream, max_steps=30))

    async def callback_handler() -> AuthorizationCodeResult:
        q = logins[-1].query
        assert "code" in q, f"expected a code, got {q!r}\n{logins[-1].trace()}"
        return AuthorizationCodeResult(code=q["code"], state=q.get("state"), iss=q.get("iss"))

    async def main() -> None:
        oauth = OAuthClientProvider(
            server_url=mcp_url,
            client_metadata=OAuthClientMetadata(client_name="Keyzone delegated test (mcp SDK)", redirect_uris=[REDIRECT],
                                                grant_types=[GRANT_CODE, GRANT_REFRESH], response_types=["code"]),
            storage=MemoryTokenStorage(), redirect_handler=redirect_handler, callback_handler=callback_handler)
        async with httpx2.AsyncClient(auth=oauth, timeout=30.0, trust_env=False) as hc:
            async with streamable_http_client(mcp_url, http_client=hc) as (rd, wr):
                async with ClientSession(rd, wr) as session:
                    await session.initialize()
                    got["first"] = await call_tool(session, "upstream_whoami")
                    got["counts1"] = d.up.counts()
                    await asyncio.sleep(UPSTREAM_TTL_S + 0.5)
                    got["second"] = await call_tool(session, "upstream_whoami")
                    got["counts2"] = d.up.counts()
                    g = (await asyncio.to_thread(grant_rows, client, d))[0]
                    await asyncio.to_thread(client.zones.delegated_grants.update, g.id, zone_id=d.lz.zone_id,
                                            status="revoked")
                    got["third"] = await call_tool(session, "upstream_whoami")

    try:
        with serving(upstream_tool_server(d.lz.issuer, mcp_url, d.up), port):
            asyncio.run(main())
    finally:
        browser.close()
        next(gen, None)

    assert len(logins) == 1, "one browser flow"
    hosts = {urlsplit(s.url).netloc for s in logins[0].steps}
    assert urlsplit(d.up.issuer).netloc in hosts and logins[0].saw_consent, logins[0].trace()
    first, second, third = got["first"], got["second"], got["third"]
    assert "errors" not in first, first
    assert first["upstream"].get("active") is True and first["upstream"].get("sub") == "octocat", first
    assert 0 < first["expires_in"] <= UPSTREAM_TTL_S, first
    assert got["counts1"] == {"codes": 1, "refreshes": 0, "refresh_failures": 0}, got["counts1"]
    assert "errors" not in second, second
    assert second["access_token"] != first["access_token"] and second["upstream"].get("active") is True, second
    assert got["counts2"]["refreshes"] == 1, got["counts2"]
    text = jsonable(third)
    assert "errors" in text, f"expected the tool to see the exchange fail after revocation: {third}"
    flat = str(text)
    assert "insufficient_authorization" in flat and "Upstream Git" in flat, flat
    assert f"{d.lz.issuer}/oauth/connect?resource=" in flat, flat


def test_concurrent_exchanges_on_two_nodes_refresh_once(client, delegated, server, database_url, tmp_path):
    """Single-flight across nodes: a second node on the same PostgreSQL database (same master key and public URL, so
    the zone's tokens verify there), 30 concurrent exchanges on an expired grant split over both nodes → exactly one
    upstream refresh, one token for all."""
    if not database_url:
        pytest.skip("two nodes need the PostgreSQL backend (scripts/sdk-tests.sh postgres)")
    d = delegated
    port = free_port()
    env = keyzone_env(port=port, data_dir=server.tmp_dir / "data", api_key=server.api_key, public_url=server.public_url,
                      kms_endpoint=server.kms_endpoint, database_url=database_url)
    env["KEYZONE_MASTER_KEY_FILE"] = str(server.tmp_dir / "data" / "master.key")
    proc = spawn([str(keyzone_bin()), "serve"], env, server.tmp_dir, tmp_path / "node2.stdout.log",
                 tmp_path / "node2.stderr.log")
    browser = new_browser()
    try:
        ready, last = wait_ready(proc, f"http://127.0.0.1:{port}/readyz")
        assert ready, f"the second node did not start: {last}"
        user_tokens = sign_in_and_connect(d, browser)
        assert_upstream_token(d, exchange(d, user_tokens["access_token"]), "first")
        time.sleep(UPSTREAM_TTL_S + 0.5)
        endpoints = [d.lz.token_endpoint, d.lz.token_endpoint.replace(server.base_url, f"http://127.0.0.1:{port}", 1)]
        assert endpoints[0] != endpoints[1]

        def one(i: int) -> httpx.Response:
            data = {"grant_type": EXCHANGE, "subject_token": user_tokens["access_token"],
                    "subject_token_type": ACCESS_TOKEN_TYPE, "resource": d.up.api}
            return httpx.post(endpoints[i % 2], data=data, timeout=30)

        with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
            rs = list(pool.map(one, range(30)))
        tokens = {assert_upstream_token(d, r, f"node {i % 2 + 1}")["access_token"] for i, r in enumerate(rs)}
        assert len(tokens) == 1, f"expected one refreshed token on both nodes, got {len(tokens)}"
        assert d.up.counts()["refreshes"] == 1, f"expected exactly one upstream refresh: {d.up.counts()}"
    finally:
        browser.close()
        stop(proc)


class SlackLike:
    """A small Slack-style upstream of the tests' own (the issue allows one for the quirks): scopes under `user_scope`
    joined by `,`, the user token nested at `authed_user.access_token`, `expires_in` as a string, and a token endpoint
    that takes only `client_secret_post` (it answers `invalid_client` to Basic, as some providers do). The authorization
    endpoint approves at once, recording what it was sent."""

    def __init__(self, secret: str) -> None:
        import http.server
        import threading

        self.secret = secret
        self.authorize_queries: list = []
        self.token_forms: list = []
        self.basic_attempts = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                q = dict(parse_qsl(urlsplit(self.path).query))
                outer.authorize_queries.append(q)
                self.send_response(302)
                self.send_header("Location", f"{q['redirect_uri']}?code=slack-code&state={q['state']}")
                self.end_headers()

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("content-length") or 0)
                form = dict(parse_qsl(self.rfile.read(n).decode()))
                if self.headers.get("authorization"):
                    outer.basic_attempts += 1
                    body: Dict[str, Any] = {"ok": False, "error": "invalid_client"}
                    status = 401
                elif form.get("client_secret") != outer.secret:
                    body, status = {"ok": False, "error": "invalid_client"}, 401
                else:
                    outer.token_forms.append(form)
                    body = {"ok": True, "access_token": "xoxb-bot-token-not-the-users",
                            "authed_user": {"id": "U1", "access_token": f"xoxp-user-{secrets.token_hex(8)}"},
                            "expires_in": "3600"}
                    status = 200
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def test_slack_style_provider_quirks(client, http, server, sign_in_built):  # noqa: F811
    """`scope_parameter: user_scope`, `scope_separator: ","`, `authorization_resource_enabled` with its parameter name,
    `authorization_parameters`, `token_response_access_token_pointer: /authed_user/access_token`, a string
    `expires_in`, and the fall-back from client_secret_basic to client_secret_post."""
    lz = make_login_zone(client, http, server)
    secret = secrets.token_urlsafe(16)
    slack = SlackLike(secret)
    try:
        api = f"https://slack-{secrets.token_hex(3)}.test/api"
        provider = client.zones.providers.create(
            lz.zone_id, identifier=slack.url, name="Slackish", client_id="slack-client", client_secret=secret,
            protocols={"oauth2": {"issuer": slack.url, "authorization_endpoint": f"{slack.url}/oauth/v2/authorize",
                                  "token_endpoint": f"{slack.url}/api/oauth.v2.access", "scope_parameter": "user_scope",
                                  "scope_separator": ",", "authorization_resource_enabled": True,
                                  "authorization_resource_parameter": "audience",
                                  "authorization_parameters": {"team": "T123", "user_scope": "ignored"},
                                  "token_response_access_token_pointer": "/authed_user/access_token"}})
        res = client.zones.resources.create(lz.zone_id, identifier=api, name="Slack API",
                                            credential_provider_id=provider.id, scopes=["chat:write", "users:read"])
        client.zones.applications.dependencies.add(res.id, zone_id=lz.zone_id, id=lz.app_id)
        browser = new_browser()
        try:
            a = authz(lz)
            result = login(browser, a.url, REDIRECT, email=lz.email, password=lz.password, max_steps=30)
            q = assert_callback(result, a, lz)
        finally:
            browser.close()
        sent = slack.authorize_queries[-1]
        assert sent["user_scope"] == "chat:write,users:read" and "scope" not in sent, sent
        assert sent["audience"] == api and sent["team"] == "T123" and sent["client_id"] == "slack-client", sent
        assert "code_challenge" not in sent, "no PKCE when the provider does not list S256"
        assert slack.basic_attempts == 1 and len(slack.token_forms) == 1, "Basic refused, then client_secret_post"
        form = slack.token_forms[0]
        assert form["code"] == "slack-code" and form["client_id"] == "slack-client", form
        assert form["redirect_uri"] == f"{lz.issuer}/oauth/callback", form
        user_tokens = redeem(lz, q["code"], a.verifier).json()
        r = httpx.post(lz.token_endpoint, data={"grant_type": EXCHANGE, "subject_token": user_tokens["access_token"],
                                                "subject_token_type": ACCESS_TOKEN_TYPE, "resource": api}, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["access_token"].startswith("xoxp-user-"), f"expected the user token at the pointer: {body}"
        assert 3500 < body["expires_in"] <= 3600, body
        grants = client.zones.delegated_grants.list(lz.zone_id).items
        assert [(g.status, g.refresh_token_set) for g in grants] == [("active", False)], grants
        assert set(grants[0].scopes) == {"chat:write", "users:read"}, grants[0].scopes
    finally:
        slack.close()
