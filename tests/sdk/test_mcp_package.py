"""The zone's authorization server driven by the official keycardai-mcp 2.3.5 package, unchanged (client contract
Part B.1-B.5; Part C items 15, 17, 18, 20, 25; docs/authorization-server.md "Discovery", "Token exchange",
"Dynamic client registration").

What is exercised, with the package's own code:
  * the MCP client's OAuth services (keycardai/mcp/client/auth/oauth/discovery.py, registration.py):
    `OAuthDiscoveryService.discover_auth_server` through an `authorization_servers` entry with a trailing slash, so the
    package GETs `{issuer}//.well-known/oauth-authorization-server`; the same discovery starting from the 401 challenge
    of a keycardai-mcp server (`discover_resource`, the server's RFC 9728 document); dynamic client registration with
    `OAuthClientRegistrationService` (explicit nulls, client_id and redirect_uris echoed), and the `httpx.HTTPStatusError`
    it raises when the zone has `dcr_enabled: false`;
  * the MCP server side: `AuthProvider(zone_url=<issuer>, audience=<MCP resource URL>).app(MCPServer)` served by uvicorn
    on a loopback port and called with the `mcp` package's streamable-HTTP client: a client_credentials token of the
    zone for the MCP server's resource URL is accepted (the bearer middleware's TokenVerifier: discovery, JWKS, RS256,
    exact issuer, audience); a token for another audience, another zone's token and garbage get 401 with an RFC 6750
    `WWW-Authenticate`;
  * `@provider.grant(...)`: the unauthenticated token exchange the package sends by default (subject_token + resource,
    no client authentication, after the package's own automatic DCR), and the `ClientSecret` (Basic) variant, which
    obtain a downstream token when the MCP server's application depends on the downstream resource, and surface
    `access_denied` when it does not; with DCR off, what the default provider does and the
    `enable_dynamic_client_registration=False` setting that makes it work.
"""

# No `from __future__ import annotations`: keycardai-mcp's @grant finds the `Context` and `AccessContext` parameters by
# comparing annotation objects, which string annotations would defeat.
import asyncio
import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import parse_qsl

import httpx
import httpx2
import pytest
import uvicorn
from keycardai_api import KeycardAPI
from keycardai_api.types import Zone

from keycardai.mcp.client.auth.oauth import OAuthClientRegistrationService, OAuthDiscoveryService
from keycardai.mcp.client.auth.storage_facades import OAuthStorage
from keycardai.mcp.client.storage import InMemoryBackend, NamespacedStorage
from keycardai.mcp.server.auth import AccessContext, AuthProvider, ClientSecret
from keycardai.oauth import AsyncClient, Client, ClientConfig
from keycardai.oauth.http._transports import HttpxAsyncTransport
from keycardai.oauth.http._wire import HttpRequest, HttpResponse
from keycardai.oauth.http.auth import AuthStrategy
from keycardai.oauth.server.client_factory import DefaultClientFactory
from keycardai.oauth.utils.jwt import get_claims, get_header
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context, MCPServer

from sdk_processes import free_port
from sdk_support import unique_name
from test_oauth_client import (
    GRANT_TOKEN_EXCHANGE,
    RecordingTransport,
    header,
    jwks_of,
    new_client_credential,
    new_resource,
    new_verifier,
    verify,
)
from test_oauth_exchange import AT_TYPE, UA_CLIENT_ID_RE, ZONE_SETTINGS_TTL, client_credentials_token

API = "https://api.example.com"
OTHER = "https://other.example.com"
AS_METADATA = "/.well-known/oauth-authorization-server"
REDIRECT = "http://localhost:53682/callback"
SERVER_START_TIMEOUT_S = 20.0

# keycardai-mcp's AuthProvider discovers an application credential from these when none is passed; the suite passes
# everything explicitly, so none of them may leak in from the caller's environment.
_CREDENTIAL_ENV = (
    "KEYCARD_ZONE_URL",
    "KEYCARD_ZONE_ID",
    "KEYCARD_BASE_URL",
    "KEYCARD_CLIENT_ID",
    "KEYCARD_CLIENT_SECRET",
    "KEYCARD_APPLICATION_CREDENTIAL_TYPE",
    "KEYCARD_WEB_IDENTITY_KEY_STORAGE_DIR",
    "KEYCARD_EKS_WORKLOAD_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AZURE_FEDERATED_TOKEN_FILE",
    "MCP_SERVER_URL",
)


@pytest.fixture(autouse=True)
def _no_keycard_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in _CREDENTIAL_ENV:
        monkeypatch.delenv(k, raising=False)


# --------------------------------------------------------------------------- recording HTTP


class RecordingHttpx:
    """An `httpx.AsyncClient` factory for the MCP client's OAuth services (their `client_factory`), keeping every
    (method, url, status, body) the package sent through it."""

    def __init__(self) -> None:
        self.seen: List[Tuple[str, str, int, bytes]] = []

    def __call__(self) -> httpx.AsyncClient:
        async def on_response(res: httpx.Response) -> None:
            await res.aread()
            self.seen.append((res.request.method, str(res.request.url), res.status_code, res.content))

        return httpx.AsyncClient(trust_env=False, follow_redirects=False, event_hooks={"response": [on_response]})


class RecordingAsyncTransport(HttpxAsyncTransport):
    """keycardai-oauth's own async transport, unchanged, keeping every (request, response) it carried."""

    def __init__(self, config: ClientConfig, log: List[Tuple[HttpRequest, HttpResponse]]) -> None:
        super().__init__(config=config)
        self.log = log

    async def request_raw(self, req: HttpRequest, *, timeout: Optional[float] = None) -> HttpResponse:
        res = await super().request_raw(req, timeout=timeout)
        self.log.append((req, res))
        return res


class RecordingClientFactory(DefaultClientFactory):
    """The provider's `client_factory`: the package's default clients, on a recording transport. It serves both the
    bearer middleware's TokenVerifier and the `@grant` token-exchange client."""

    def __init__(self) -> None:
        self.log: List[Tuple[HttpRequest, HttpResponse]] = []
        self.sync_log: List[Tuple[HttpRequest, HttpResponse]] = []

    def create_async_client(
        self, base_url: str, auth: Optional[AuthStrategy] = None, config: Optional[ClientConfig] = None
    ) -> AsyncClient:
        config = config or ClientConfig(enable_metadata_discovery=True, auto_register_client=False)
        return AsyncClient(base_url, auth=auth, config=config, transport=RecordingAsyncTransport(config, self.log))

    def create_client(
        self, base_url: str, auth: Optional[AuthStrategy] = None, config: Optional[ClientConfig] = None
    ) -> Client:
        # The bearer middleware's TokenVerifier discovers jwks_uri with a sync client made here.
        config = config or ClientConfig(enable_metadata_discovery=True, auto_register_client=False)
        transport = RecordingTransport(config)
        transport.exchanges = self.sync_log
        return Client(base_url, auth=auth, config=config, transport=transport)

    def posts(self, url: str) -> List[Tuple[HttpRequest, HttpResponse]]:
        return [(q, r) for q, r in self.log if q.method == "POST" and q.url == url]


def new_storage() -> OAuthStorage:
    return OAuthStorage(NamespacedStorage(InMemoryBackend(), "client:test:server:keyzone:connection:oauth"))


# --------------------------------------------------------------------------- setup


@dataclass
class McpZone:
    zone: Zone
    issuer: str
    port: int
    mcp_url: str  # the MCP endpoint, also the identifier of the resource R1 the MCP application provides
    mcp_app_id: str
    mcp_client_id: str
    mcp_secret: str
    r1_id: str
    r2_id: str
    caller_app_id: str
    caller_client_id: str
    caller_secret: str
    subject: str  # the caller's client_credentials token for R1

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/oauth/token"

    @property
    def registration_endpoint(self) -> str:
        return self.issuer + "/oauth/register"


@pytest.fixture
def mz(server, client: KeycardAPI) -> McpZone:
    """docs/authorization-server.md "Token exchange by an MCP server", with the MCP server on a loopback port: an MCP
    application providing R1 = http://127.0.0.1:<port>/mcp, the API R2 it depends on when accessing R1, a third
    resource it does not depend on, and a caller application whose token for R1 is the subject token."""
    zone = client.zones.create(name=unique_name("mcp package"))
    issuer = zone.protocols.oauth2.issuer
    assert issuer == f"{server.public_url}/z/{zone.id}", f"expected issuer {server.public_url}/z/{zone.id}, got {issuer!r}"
    port = free_port()
    mcp_url = f"http://127.0.0.1:{port}/mcp"
    mcp_app_id, mcp_cid, mcp_secret = new_client_credential(client, zone.id)
    r1 = new_resource(client, zone.id, mcp_url, application_id=mcp_app_id)
    r2 = new_resource(client, zone.id, API, scopes=["read"])
    new_resource(client, zone.id, OTHER)
    client.zones.applications.dependencies.add(r2.id, zone_id=zone.id, id=mcp_app_id, when_accessing=[r1.id])
    caller_app_id, caller_cid, caller_secret = new_client_credential(client, zone.id)
    subject = client_credentials_token(issuer, caller_cid, caller_secret, mcp_url)
    return McpZone(
        zone, issuer, port, mcp_url, mcp_app_id, mcp_cid, mcp_secret, r1.id, r2.id,
        caller_app_id, caller_cid, caller_secret, subject,
    )


def disable_dcr(client: KeycardAPI, mz: McpZone) -> None:
    z = client.zones.update(mz.zone.id, protocols={"oauth2": {"dcr_enabled": False}})
    assert z.protocols.oauth2.dcr_enabled is False, f"expected dcr_enabled false after the PATCH, got {z.protocols.oauth2!r}"
    time.sleep(ZONE_SETTINGS_TTL)


# --------------------------------------------------------------------------- the MCP server (keycardai-mcp)


def build_mcp_app(mz: McpZone, **provider_kwargs: Any) -> Tuple[Any, RecordingClientFactory]:
    """A keycardai-mcp protected MCP server: `AuthProvider(zone_url=issuer, audience=R1).app(MCPServer)`, with three
    tools: `whoami` (the authenticated caller as the bearer middleware saw it), `call_api` (`@grant(API, scope read)`)
    and `call_other` (`@grant(OTHER)`, a resource the MCP application does not depend on)."""
    factory = RecordingClientFactory()
    provider = AuthProvider(
        zone_url=mz.issuer,
        mcp_server_name="Keyzone conformance MCP server",
        audience=mz.mcp_url,
        client_factory=factory,
        **provider_kwargs,
    )
    assert provider.issuer == mz.issuer, f"expected the provider to verify against {mz.issuer!r}, got {provider.issuer!r}"
    mcp = MCPServer("keyzone-conformance")

    @mcp.tool()
    async def whoami(ctx: Context) -> dict:
        u = ctx.request_context.request.user
        return {
            "client_id": u.client_id,
            "sub": u.sub,
            "sub_profile": u.sub_profile,
            "keycard_app_id": u.keycard_app_id,
            "scopes": list(u.scopes),
            "access_token": u.access_token,
        }

    def outcome(access_ctx: AccessContext, resource: str) -> dict:
        if access_ctx.has_errors():
            return {"errors": access_ctx.get_errors()}
        t = access_ctx.access(resource)
        return {
            "access_token": t.access_token,
            "expires_in": t.expires_in,
            "scope": t.scope,
            "issued_token_type": str(getattr(t.issued_token_type, "value", t.issued_token_type)),
        }

    @mcp.tool()
    @provider.grant(API, request_scopes="read")
    async def call_api(access_ctx: AccessContext, ctx: Context) -> dict:
        return outcome(access_ctx, API)

    @mcp.tool()
    @provider.grant(OTHER)
    async def call_other(access_ctx: AccessContext, ctx: Context) -> dict:
        return outcome(access_ctx, OTHER)

    return provider.app(mcp), factory


@contextmanager
def serving(app: Any, port: int) -> Iterator[None]:
    """`app` under uvicorn on 127.0.0.1:<port>, in a thread, for the duration of the block."""
    srv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    )
    th = threading.Thread(target=srv.run, name=f"mcp-server-{port}", daemon=True)
    th.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not srv.started:
        if not th.is_alive() or time.monotonic() > deadline:
            srv.should_exit = True
            pytest.fail(f"the keycardai-mcp server did not start on 127.0.0.1:{port} within {SERVER_START_TIMEOUT_S:.0f}s", pytrace=False)
        time.sleep(0.05)
    try:
        yield
    finally:
        srv.should_exit = True
        th.join(timeout=15)


async def _call_tools(url: str, token: str, names: List[str]) -> Dict[str, dict]:
    out: Dict[str, dict] = {}
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30.0, trust_env=False) as hc:
        async with streamable_http_client(url, http_client=hc) as (rd, wr):
            async with ClientSession(rd, wr) as s:
                await s.initialize()
                for name in names:
                    res = await s.call_tool(name, {})
                    assert not res.is_error, f"expected tool {name!r} to run, got an error result: {res!r:.800}"
                    assert res.content and getattr(res.content[0], "text", None), f"expected a text result from {name!r}: {res!r:.800}"
                    out[name] = json.loads(res.content[0].text)
    return out


def call_tools(url: str, token: str, *names: str) -> Dict[str, dict]:
    """Initialize an MCP session (the `mcp` package's streamable-HTTP client) with `Authorization: Bearer <token>` and
    call each tool; their JSON results by name."""
    return asyncio.run(_call_tools(url, token, list(names)))


def post_mcp(url: str, token: Optional[str]) -> httpx.Response:
    """An MCP `initialize` request as a client sends it, with or without a bearer token."""
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
    }
    with httpx.Client(timeout=30.0, trust_env=False, follow_redirects=False) as h:
        return h.post(url, json=body, headers=headers)


def assert_bearer_challenge(r: httpx.Response, mz: McpZone, context: str) -> str:
    assert r.status_code == 401, f"expected 401 from the MCP server ({context}), got {r.status_code}: {r.text[:300]!r}"
    www = r.headers.get("www-authenticate") or ""
    assert www.startswith("Bearer "), f"expected a Bearer WWW-Authenticate challenge ({context}), got {www!r}"
    assert 'error="invalid_token"' in www, f"expected error=\"invalid_token\" ({context}), got {www!r}"
    prm = f"http://127.0.0.1:{mz.port}/.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{prm}"' in www, f"expected resource_metadata=\"{prm}\" ({context}), got {www!r}"
    return www


def assert_downstream_token(mz: McpZone, got: dict, *, client_id: str) -> Dict[str, Any]:
    """The token `@grant(API)` obtained: a zone JWT for API, for the caller (the subject), acted by the MCP app."""
    assert "errors" not in got, f"expected the exchange for {API} to succeed, the tool saw errors: {got.get('errors')!r}"
    token = got["access_token"]
    assert got["issued_token_type"] == AT_TYPE, f"expected issued_token_type {AT_TYPE!r}, got {got!r:.300}"
    at = verify(new_verifier(mz.issuer, API, required_scopes=["read"]), token)
    assert at.sub == mz.caller_app_id and at.keycard_app_id == mz.mcp_app_id, at
    hdr = get_header(token)
    assert hdr.get("alg") == "RS256" and hdr.get("typ") == "at+jwt", f"expected an RS256 at+jwt, header {hdr!r}"
    assert hdr.get("kid") in [k["kid"] for k in jwks_of(mz.issuer)["keys"]], hdr
    c = get_claims(token)
    s = get_claims(mz.subject)
    assert c["iss"] == mz.issuer and c["aud"] == API, f"expected iss {mz.issuer!r} and aud {API!r}, got {c!r}"
    assert c["sub"] == mz.caller_app_id, f"expected sub to stay the caller application {mz.caller_app_id!r}, got {c['sub']!r}"
    assert c.get("act") == {"sub": mz.mcp_app_id}, f"expected act {{'sub': {mz.mcp_app_id!r}}}, got {c.get('act')!r}"
    assert c["client_id"] == client_id, f"expected client_id {client_id!r}, got {c['client_id']!r}"
    assert c.get("scope") == "read", f"expected scope 'read', got {c.get('scope')!r}"
    assert c["exp"] <= s["exp"], f"expected exp {c['exp']} <= the subject token's exp {s['exp']}"
    return c


def assert_grant_denied(got: dict, resource: str, want: str = "access_denied") -> dict:
    errs = got.get("errors")
    assert errs, f"expected @grant({resource}) to fail, the tool got a token: {got!r:.300}"
    per = (errs.get("resources") or {}).get(resource)
    assert per, f"expected an error recorded for {resource}, got {errs!r}"
    assert per.get("code") == want, f"expected the OAuth error {want!r} to reach the tool for {resource}, got {per!r}"
    assert per.get("description"), f"expected an error_description to reach the tool, got {per!r}"
    return per


# --------------------------------------------------------------------------- a) the MCP client: discovery and DCR


def test_client_discovery_trailing_slash_then_registration(mz):
    """`authorization_servers: ["<issuer>/"]` (what a host-based zone's PRM carries): the package GETs
    `<issuer>//.well-known/oauth-authorization-server`, which must answer 200 with the zone's metadata; registration then
    POSTs the package's metadata (explicit nulls) and gets client_id and redirect_uris back."""
    rec = RecordingHttpx()
    storage = new_storage()
    discovery = OAuthDiscoveryService(storage, client_factory=rec)
    md = asyncio.run(discovery.discover_auth_server({"authorization_servers": [mz.issuer + "/"]}))

    assert rec.seen, "expected the package to send a metadata request"
    method, url, status, body = rec.seen[0]
    assert (method, url) == ("GET", mz.issuer + "//.well-known/oauth-authorization-server"), f"unexpected discovery request {method} {url}"
    assert status == 200, f"expected GET {url} -> 200, got {status}: {body[:300]!r}"
    assert md["issuer"] == mz.issuer, f"expected issuer {mz.issuer!r}, got {md.get('issuer')!r}"
    assert md["registration_endpoint"] == mz.registration_endpoint, md
    assert md["token_endpoint"] == mz.token_endpoint and md["authorization_endpoint"].startswith(mz.issuer + "/"), md
    assert not md.get("registration_endpoint_disabled"), f"expected DCR on in a new zone, metadata {md!r}"
    assert asyncio.run(storage.get_auth_server_metadata()) == md, "expected the package to cache the metadata"

    registration = OAuthClientRegistrationService(storage, client_name="MCP Client - keyzone", client_factory=rec)
    info = asyncio.run(registration.get_or_register_client(md, [REDIRECT]))
    method, url, status, body = rec.seen[-1]
    assert (method, url) == ("POST", mz.registration_endpoint), f"unexpected registration request {method} {url}"
    assert status == 201, f"expected 201 from the registration endpoint, got {status}: {body[:300]!r}"
    assert UA_CLIENT_ID_RE.match(info.get("client_id") or ""), f"expected client_id ua:<64 hex>, got {info!r}"
    assert info.get("redirect_uris") == [REDIRECT], f"expected redirect_uris echoed, got {info!r}"
    assert info.get("token_endpoint_auth_method") == "none" and "client_secret" not in info, info
    assert info.get("client_name") == "MCP Client - keyzone", info
    assert asyncio.run(storage.get_client_registration()) == info, "expected the package to store the registration"

    # The package reuses its stored registration; a fresh store registering the same metadata gets the same client.
    n = len(rec.seen)
    assert asyncio.run(registration.get_or_register_client(md, [REDIRECT])) == info
    assert len(rec.seen) == n, f"expected no new request for a stored registration, got {rec.seen[n:]!r}"
    again = OAuthClientRegistrationService(new_storage(), client_name="MCP Client - keyzone", client_factory=rec)
    assert asyncio.run(again.get_or_register_client(md, [REDIRECT]))["client_id"] == info["client_id"]


def test_client_discovery_from_mcp_server_challenge(mz):
    """The package's whole discovery path: a keycardai-mcp server's 401 -> its RFC 9728 document (fetched at the
    hard-coded `/.well-known/oauth-protected-resource/mcp`) -> the zone's metadata -> DCR."""
    app, _ = build_mcp_app(mz)
    with serving(app, mz.port):
        challenge = post_mcp(mz.mcp_url, None)
        assert_bearer_challenge(challenge, mz, "no token")
        rec = RecordingHttpx()
        storage = new_storage()
        discovery = OAuthDiscoveryService(storage, client_factory=rec)
        prm = asyncio.run(discovery.discover_resource(challenge))
        assert prm.get("resource") == mz.mcp_url, f"expected the PRM resource {mz.mcp_url!r}, got {prm!r}"
        servers = prm.get("authorization_servers") or []
        assert [s.rstrip("/") for s in servers] == [mz.issuer], f"expected authorization_servers [{mz.issuer!r}], got {servers!r}"
        md = asyncio.run(discovery.discover_auth_server(prm))
    method, url, status, _ = rec.seen[-1]
    assert method == "GET" and url.endswith(AS_METADATA) and status == 200, rec.seen
    assert md["issuer"] == mz.issuer and md["registration_endpoint"] == mz.registration_endpoint, md
    info = asyncio.run(OAuthClientRegistrationService(storage, "MCP Client - challenge", client_factory=rec).get_or_register_client(md, [REDIRECT]))
    assert UA_CLIENT_ID_RE.match(info.get("client_id") or "") and info.get("redirect_uris") == [REDIRECT], info


def test_client_registration_dcr_disabled(client, mz):
    """With `dcr_enabled: false` the metadata still lists the registration endpoint (the package's discovery would
    fail without it) and says it is disabled; the package's registration raises `httpx.HTTPStatusError` for the 403,
    whose body is the OAuth error `access_denied`, and stores nothing."""
    disable_dcr(client, mz)
    rec = RecordingHttpx()
    storage = new_storage()
    md = asyncio.run(OAuthDiscoveryService(storage, client_factory=rec).discover_auth_server({"authorization_servers": [mz.issuer + "/"]}))
    assert md["registration_endpoint"] == mz.registration_endpoint, f"expected registration_endpoint still listed, got {md!r}"
    assert md.get("registration_endpoint_disabled") is True, f"expected registration_endpoint_disabled true, got {md!r}"

    registration = OAuthClientRegistrationService(storage, client_name="MCP Client - keyzone", client_factory=rec)
    with pytest.raises(httpx.HTTPStatusError) as ei:
        asyncio.run(registration.get_or_register_client(md, [REDIRECT]))
    res = ei.value.response
    assert res.status_code == 403, f"expected 403, got {res.status_code}: {res.text[:300]!r}"
    assert "json" in res.headers.get("content-type", ""), res.headers
    body = res.json()
    assert body.get("error") == "access_denied" and body.get("error_description"), f"expected access_denied, got {body!r}"
    assert str(ei.value.request.url) == mz.registration_endpoint
    assert asyncio.run(storage.get_client_registration()) is None, "expected no registration stored after the 403"


# --------------------------------------------------------------------------- b) the MCP server: bearer verification


def test_server_accepts_zone_token_for_its_resource(mz):
    app, factory = build_mcp_app(mz)
    with serving(app, mz.port):
        out = call_tools(mz.mcp_url, mz.subject, "whoami")["whoami"]
    assert out["access_token"] == mz.subject
    assert out["client_id"] == mz.caller_client_id, f"expected client_id {mz.caller_client_id!r}, got {out!r}"
    assert out["sub"] == mz.caller_app_id and out["keycard_app_id"] == mz.caller_app_id, out
    assert out["sub_profile"] == "app", out
    # The middleware's verifier found jwks_uri through the zone's metadata at the appended URL.
    gets = [(q.method, q.url, r.status) for q, r in factory.sync_log]
    assert ("GET", mz.issuer + AS_METADATA, 200) in gets, f"expected the verifier's discovery GET to answer 200, saw {gets!r}"


def test_server_rejects_other_audience_issuer_and_garbage(client, mz):
    other_aud = client_credentials_token(mz.issuer, mz.caller_client_id, mz.caller_secret, OTHER)
    assert get_claims(other_aud)["aud"] == OTHER
    # A token of another zone for the very same URL: right audience, wrong issuer.
    z2 = client.zones.create(name=unique_name("mcp package other zone"))
    _, cid2, secret2 = new_client_credential(client, z2.id)
    new_resource(client, z2.id, mz.mcp_url)
    foreign = client_credentials_token(z2.protocols.oauth2.issuer, cid2, secret2, mz.mcp_url)
    assert get_claims(foreign)["aud"] == mz.mcp_url

    app, _ = build_mcp_app(mz)
    with serving(app, mz.port):
        ok = post_mcp(mz.mcp_url, mz.subject)
        assert ok.status_code == 200, f"expected the right token to pass the middleware, got {ok.status_code}: {ok.text[:300]!r}"
        assert_bearer_challenge(post_mcp(mz.mcp_url, other_aud), mz, f"token for audience {OTHER}")
        assert_bearer_challenge(post_mcp(mz.mcp_url, foreign), mz, "token of another zone")
        assert_bearer_challenge(post_mcp(mz.mcp_url, "not-a-token"), mz, "garbage token")
        assert_bearer_challenge(post_mcp(mz.mcp_url, None), mz, "no token")


# --------------------------------------------------------------------------- b) the MCP server: @grant token exchange


def test_grant_unauthenticated_exchange(mz):
    """The default provider (no application credential): the package registers itself by DCR, then sends the token
    exchange with no client authentication and no client_id; the zone identifies the MCP application from the subject
    token's audience and applies its dependencies."""
    app, factory = build_mcp_app(mz)
    with serving(app, mz.port):
        out = call_tools(mz.mcp_url, mz.subject, "call_api", "call_other")

    regs = factory.posts(mz.registration_endpoint)
    assert regs and regs[0][1].status == 201, f"expected the package's automatic DCR to get 201, got {[(r.status, r.body[:200]) for _, r in regs]}"
    exchanges = factory.posts(mz.token_endpoint)
    assert len(exchanges) == 2, f"expected one token request per @grant call, got {len(exchanges)}"
    for req, _ in exchanges:
        assert header(req.headers, "authorization") is None, f"expected no Authorization header, got {dict(req.headers)!r}"
        sent = dict(parse_qsl(req.body.decode()))
        assert sent.get("grant_type") == GRANT_TOKEN_EXCHANGE and sent.get("subject_token") == mz.subject, sent
        assert sent.get("subject_token_type") == AT_TYPE and sent.get("resource") in (API, OTHER), sent
        assert set(sent) <= {"grant_type", "resource", "scope", "subject_token", "subject_token_type"}, (
            f"expected only subject_token, resource (and scope): no client identification; sent {sorted(sent)}"
        )

    (_, res_api), (_, res_other) = exchanges
    assert res_api.status == 200, f"expected 200 for the exchange to {API}, got {res_api.status}: {res_api.body[:500]!r}"
    assert_downstream_token(mz, out["call_api"], client_id=mz.mcp_app_id)
    assert res_other.status == 400, f"expected 400 for the exchange to {OTHER}, got {res_other.status}: {res_other.body[:500]!r}"
    per = assert_grant_denied(out["call_other"], OTHER)
    assert "dependencies" in per["description"], f"expected the description to name the dependency PUT, got {per!r}"


def test_grant_with_client_secret(mz):
    """`application_credential=ClientSecret((client_id, secret))`: the exchange is sent with Basic auth as the MCP
    application's password credential; same dependency rule."""
    app, factory = build_mcp_app(mz, application_credential=ClientSecret((mz.mcp_client_id, mz.mcp_secret)))
    with serving(app, mz.port):
        out = call_tools(mz.mcp_url, mz.subject, "call_api", "call_other")
    assert not factory.posts(mz.registration_endpoint), "expected no DCR with a client secret configured"
    exchanges = factory.posts(mz.token_endpoint)
    assert exchanges and all((header(q.headers, "authorization") or "").startswith("Basic ") for q, _ in exchanges), (
        f"expected Basic auth on every exchange, got {[dict(q.headers) for q, _ in exchanges]!r}"
    )
    assert_downstream_token(mz, out["call_api"], client_id=mz.mcp_client_id)
    assert_grant_denied(out["call_other"], OTHER)


def test_grant_with_dcr_disabled(client, mz):
    """With DCR off, the default provider's automatic registration is refused (403 access_denied) and the package
    reports the exchange as failed without sending it; `enable_dynamic_client_registration=False` skips the
    registration, and the unauthenticated exchange then works as before."""
    disable_dcr(client, mz)
    app, factory = build_mcp_app(mz)
    with serving(app, mz.port):
        out = call_tools(mz.mcp_url, mz.subject, "call_api")
    regs = factory.posts(mz.registration_endpoint)
    assert regs and regs[0][1].status == 403, f"expected the automatic DCR to get 403, got {[(r.status, r.body[:200]) for _, r in regs]}"
    assert json.loads(regs[0][1].body).get("error") == "access_denied", regs[0][1].body
    assert not factory.posts(mz.token_endpoint), "expected no token request after the refused registration"
    assert_grant_denied(out["call_api"], API)

    app, factory = build_mcp_app(mz, enable_dynamic_client_registration=False)
    with serving(app, mz.port):
        out = call_tools(mz.mcp_url, mz.subject, "call_api", "call_other")
    assert not factory.posts(mz.registration_endpoint), "expected no DCR with enable_dynamic_client_registration=False"
    assert_downstream_token(mz, out["call_api"], client_id=mz.mcp_app_id)
    assert_grant_denied(out["call_other"], OTHER)
