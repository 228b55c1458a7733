"""Client ID Metadata Documents at a zone (issue #12; client contract D.8, D.11.4 case 3, D.12 items 7 and 18;
draft-ietf-oauth-client-id-metadata-document): a client that names itself with an https URL whose JSON document is
its registration, admitted by the zone's `protocols.oauth2.cimd = {enabled, allowed_client_ids}`.

The documents are served over **https** on loopback by a Python `ssl` server whose certificate comes from a CA made
here with `cryptography`; a second node of the suite's deployment (same database, same master key) trusts that CA
through `KEYZONE_OUTBOUND_EXTRA_ROOT_CA` (and reaches loopback through `KEYZONE_OUTBOUND_ALLOW_PRIVATE`, which every
suite server has). The suite's own server does not trust the CA, which shows the setting is what makes it work.

What is exercised:
  * metadata: `client_id_metadata_document_supported: true` in the AS metadata and the OpenID configuration exactly
    when the zone has `cimd.enabled`;
  * the official MCP SDK client (`mcp` 2.3.0 `OAuthClientProvider(..., client_metadata_url=...)`) against a
    keycardai-mcp-protected MCP server: no DCR, authorize with the URL as client_id, sign in, consent, code, tool
    call; the token's client_id is the URL; the document is fetched once (its Cache-Control); the client is
    provisioned as a user agent (identifier = the URL) and the refresh-token session names it; a refresh with the
    URL as client_id works;
  * a changed document (served `no-store`, so cached only the 5 s minimum) rewrites the user agent;
  * refusals, each an HTML error page with no Location: cimd disabled, URL not on the allowlist, the document's
    client_id not the URL, an http URL, a `javascript:` redirect URI in the document, an unreachable document, a
    document the server cannot verify (no extra CA); an unregistered redirect URI; `invalid_client` at the token
    endpoint for a URL client the zone does not admit, one never provisioned, and for `client_credentials`.
"""

# No `from __future__ import annotations`: the MCP server's tool finds its `Context` parameter by annotation.
import asyncio
import datetime
import ipaddress
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from keycardai_api import KeycardAPI

from keycardai.oauth.utils.jwt import get_claims
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata

from headless_login import LoginResult, login, new_browser, visible_text
from sdk_processes import free_port, keyzone_bin, keyzone_env, spawn, stop, wait_ready
from sdk_support import unique_name
from test_mcp_package import _CREDENTIAL_ENV, serving
from test_user_login import (  # noqa: F401  (sign_in_built is a fixture used by name)
    GRANT_CODE,
    GRANT_REFRESH,
    OIDC_SCOPE,
    REDIRECT,
    MemoryTokenStorage,
    Node,
    RecordingAsyncTransport,
    assert_user_access_token,
    call_whoami,
    make_login_zone,
    pkce_pair,
    sign_in_built,
    whoami_server,
)

FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def _no_keycard_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in _CREDENTIAL_ENV:
        monkeypatch.delenv(k, raising=False)


# --------------------------------------------------------------------------- a test CA and an https document server


@dataclass
class Pki:
    ca_pem: Path
    cert_pem: Path
    key_pem: Path


def make_pki(directory: Path) -> Pki:
    """A CA and a leaf for 127.0.0.1 / localhost signed by it (P-256, one day)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Keyzone CIMD test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                          decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(directory / "ca.pem", directory / "doc-server.pem", directory / "doc-server.key")
    pki.ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_pem.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    pki.key_pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return pki


@dataclass
class Doc:
    body: Any  # a JSON value, or bytes sent as they are
    status: int = 200
    cache_control: Optional[str] = "max-age=300"


class DocServer:
    """An https server on 127.0.0.1 answering GET {path} from `docs`, counting the requests per path."""

    def __init__(self, pki: Pki) -> None:
        self.docs: Dict[str, Doc] = {}
        self.hits: Dict[str, int] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                with outer.lock:
                    outer.hits[path] = outer.hits.get(path, 0) + 1
                    doc = outer.docs.get(path)
                if doc is None:
                    doc = Doc({"error": "not found"}, status=404, cache_control=None)
                body = doc.body if isinstance(doc.body, bytes) else json.dumps(doc.body).encode()
                self.send_response(doc.status)
                self.send_header("Content-Type", "application/json")
                if doc.cache_control:
                    self.send_header("Cache-Control", doc.cache_control)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(pki.cert_pem), str(pki.key_pem))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="cimd-doc-server", daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def publish(self, path: str, doc: Doc) -> str:
        with self.lock:
            self.docs[path] = doc
        return self.url(path)

    def hits_of(self, path: str) -> int:
        with self.lock:
            return self.hits.get(path, 0)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def document(client_id: str, *, name: str = "CIMD test client", redirect_uris: Optional[List[str]] = None,
             **extra: Any) -> Dict[str, Any]:
    """A client ID metadata document as an MCP client would publish it."""
    doc = {
        "client_id": client_id,
        "client_name": name,
        "redirect_uris": redirect_uris if redirect_uris is not None else [REDIRECT],
        "grant_types": [GRANT_CODE, GRANT_REFRESH],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    doc.update(extra)
    return doc


@pytest.fixture(scope="module")
def pki(server) -> Pki:
    d = server.tmp_dir / f"cimd-pki-{secrets.token_hex(4)}"
    d.mkdir()
    return make_pki(d)


@pytest.fixture(scope="module")
def docs(pki):
    s = DocServer(pki)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def cimd_node(server, database_url, pki, sign_in_built):
    """A second node of the suite's deployment that trusts the test CA (`KEYZONE_OUTBOUND_EXTRA_ROOT_CA`)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = keyzone_env(port=port, data_dir=server.tmp_dir / "data", api_key=server.api_key, public_url=base_url,
                      kms_endpoint=server.kms_endpoint, database_url=database_url)
    env["KEYZONE_OUTBOUND_EXTRA_ROOT_CA"] = str(pki.ca_pem)
    env["KEYZONE_MASTER_KEY_FILE"] = str(server.tmp_dir / "data" / "master.key")
    assert env.get("KEYZONE_OUTBOUND_ALLOW_PRIVATE") == "true", "expected the suite's servers to reach loopback"
    proc = spawn([str(keyzone_bin()), "serve"], env, server.tmp_dir, server.tmp_dir / "cimd.stdout.log",
                 server.tmp_dir / "cimd.stderr.log")
    try:
        ready, last = wait_ready(proc, f"{base_url}/readyz")
        assert ready, f"the node trusting the test CA did not start: {last}"
        node_server = replace(server, port=port, base_url=base_url, public_url=base_url)
        with KeycardAPI(base_url=base_url, api_key=server.api_key) as api, \
                httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {server.api_key}"},
                             timeout=30.0, follow_redirects=False, trust_env=False) as raw:
            yield Node(node_server, api, raw)
    finally:
        stop(proc)


def enable_cimd(client: KeycardAPI, zone_id: str, allowed: List[str]) -> None:
    z = client.zones.update(zone_id, protocols={"oauth2": {"cimd": {"enabled": True, "allowed_client_ids": allowed}}})
    cimd = z.protocols.oauth2.cimd
    assert cimd.enabled is True and list(cimd.allowed_client_ids) == allowed, f"expected cimd enabled with {allowed!r}, got {cimd!r}"


def authorize_url(issuer: str, client_id: str, *, redirect_uri: str = REDIRECT, scope: str = "openid") -> str:
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": scope,
    }
    return f"{issuer}/oauth/authorize?{urlencode(params)}"


def get_page(url: str) -> httpx.Response:
    return httpx.get(url, timeout=30.0, trust_env=False, follow_redirects=False)


def assert_error_page(r: httpx.Response, phrase: str, what: str) -> str:
    """An HTML error page (4xx), never a redirect, whose text names the rule (`phrase`)."""
    assert "location" not in r.headers, f"{what}: expected no redirect, got {r.status_code} Location {r.headers.get('location')!r}"
    assert r.status_code == 400, f"{what}: expected an HTML error page with status 400, got {r.status_code}: {r.text[:400]!r}"
    assert "text/html" in r.headers.get("content-type", ""), f"{what}: expected text/html, got {r.headers.get('content-type')!r}"
    text = visible_text(r.text)
    assert phrase in text, f"{what}: expected the page to say {phrase!r}, it says: {text[:600]!r}"
    return text


def token_request(issuer: str, form: Dict[str, str]) -> httpx.Response:
    return httpx.post(issuer + "/oauth/token", data=form, timeout=30.0, trust_env=False)


def metadata(issuer: str, which: str) -> Dict[str, Any]:
    r = httpx.get(f"{issuer}/.well-known/{which}", timeout=30.0, trust_env=False)
    assert r.status_code == 200, f"expected {which} -> 200, got {r.status_code}"
    return r.json()


def user_agents(http: httpx.Client, zone_id: str) -> List[Dict[str, Any]]:
    r = http.get(f"/zones/{zone_id}/user-agents")
    assert r.status_code == 200, f"expected the zone's user agents, got {r.status_code}: {r.text[:300]!r}"
    return r.json()["items"]


# --------------------------------------------------------------------------- 1. metadata


def test_metadata_advertises_cimd_only_when_enabled(cimd_node):
    client = cimd_node.client
    zone = client.zones.create(name=unique_name("cimd metadata"))
    issuer = zone.protocols.oauth2.issuer
    for which in ("oauth-authorization-server", "openid-configuration"):
        assert "client_id_metadata_document_supported" not in metadata(issuer, which), (
            f"expected no client_id_metadata_document_supported in {which} while cimd is off"
        )
    enable_cimd(client, zone.id, ["*"])
    time.sleep(1.2)  # the zone look-up is cached for a second
    for which in ("oauth-authorization-server", "openid-configuration"):
        got = metadata(issuer, which).get("client_id_metadata_document_supported")
        assert got is True, f"expected client_id_metadata_document_supported: true in {which}, got {got!r}"


# --------------------------------------------------------------------------- 2. the official MCP SDK client


@dataclass
class Run:
    rec: RecordingAsyncTransport
    storage: MemoryTokenStorage
    authorization_urls: List[str] = field(default_factory=list)
    logins: List[LoginResult] = field(default_factory=list)
    first: Dict[str, Any] = field(default_factory=dict)


def test_mcp_sdk_client_signs_in_with_a_client_metadata_document(cimd_node, docs):
    """D.11.4 case 3: `OAuthClientProvider(client_metadata_url=...)` with the zone's cimd enabled."""
    client, http, server = cimd_node.client, cimd_node.http, cimd_node.server
    port = free_port()
    mcp_url = f"http://127.0.0.1:{port}/mcp"
    lz = make_login_zone(client, http, server, resource=mcp_url, register=False)
    path = f"/clients/{secrets.token_hex(4)}/mcp-client.json"
    doc_url = docs.url(path)
    name = f"CIMD MCP client {secrets.token_hex(3)}"
    docs.publish(path, Doc(document(doc_url, name=name)))
    enable_cimd(client, lz.zone_id, [doc_url])
    time.sleep(1.2)  # the zone look-up is cached for a second
    browser = new_browser()
    run = Run(RecordingAsyncTransport(), MemoryTokenStorage())

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
                client_name=name,
                redirect_uris=[REDIRECT],
                grant_types=[GRANT_CODE, GRANT_REFRESH],
                response_types=["code"],
            ),
            storage=run.storage,
            redirect_handler=redirect_handler,
            callback_handler=callback_handler,
            client_metadata_url=doc_url,
        )
        async with httpx2.AsyncClient(auth=oauth, transport=run.rec, timeout=30.0, trust_env=False) as hc:
            async with streamable_http_client(mcp_url, http_client=hc) as (rd, wr):
                async with ClientSession(rd, wr) as session:
                    await session.initialize()
                    run.first = await call_whoami(session)

    try:
        with serving(whoami_server(lz.issuer, mcp_url), port):
            asyncio.run(main())
    finally:
        browser.close()

    trace = run.rec.trace()
    regs = [s for s in run.rec.log if s.method == "POST" and s.url == lz.issuer + "/oauth/register"]
    assert not regs, f"expected no dynamic registration with a client metadata document:\n{trace}"
    assert len(run.authorization_urls) == 1, f"expected one browser authorization, got {run.authorization_urls!r}"
    sent = dict(parse_qsl(urlsplit(run.authorization_urls[0]).query))
    assert sent.get("client_id") == doc_url, f"expected the URL as client_id at the authorization endpoint, got {sent!r}"
    result = run.logins[0]
    assert result.saw_sign_in and result.saw_consent, f"expected the sign-in and consent pages:\n{result.trace()}"
    consent = [p for p in result.pages if p.is_consent][0]
    assert name in consent.text and "127.0.0.1" in consent.text, (
        f"expected the consent page to name the client and the host of its document, it says {consent.text[:500]!r}"
    )
    assert result.query.get("iss") == lz.issuer and result.query.get("state") == sent["state"], result.query
    codes = [s for s in run.rec.token_requests(lz.token_endpoint) if s.form.get("grant_type") == GRANT_CODE]
    assert len(codes) == 1 and codes[0].status == 200, f"expected one authorization_code request answered 200:\n{trace}"
    assert codes[0].form.get("client_id") == doc_url and not codes[0].authorization, (
        f"expected the code redeemed with client_id = the URL and no client authentication, got {codes[0].form!r}"
    )

    first = run.first
    assert (first["client_id"], first["sub"], first["sub_profile"]) == (doc_url, lz.user["id"], "user"), f"{first!r:.400}"
    cimd_lz = replace(lz, client_id=doc_url)
    claims = assert_user_access_token(first["access_token"], cimd_lz)
    assert claims["client_id"] == doc_url
    assert docs.hits_of(path) == 1, f"expected the document fetched once (max-age=300), got {docs.hits_of(path)} fetches"

    # Provisioned as a user agent named by the document; the refresh-token session attributes to it.
    uas = [u for u in user_agents(http, lz.zone_id) if u["identifier"] == doc_url]
    assert len(uas) == 1 and uas[0]["name"] == name, f"expected one user agent for {doc_url!r} named {name!r}, got {uas!r}"
    r = http.get(f"/zones/{lz.zone_id}/sessions", params={"include_nested": "true"})
    assert r.status_code == 200, r.text[:300]
    attributed = [s for s in r.json()["items"] if s.get("user_agent_id") == uas[0]["id"]]
    assert attributed and all(s.get("user_id") == lz.user["id"] for s in attributed), (
        f"expected a session of the user naming user agent {uas[0]['id']!r}, got {r.json()['items']!r:.1200}"
    )

    # The token endpoint admits the URL client for refresh too.
    tokens = run.storage.tokens
    assert tokens is not None and tokens.refresh_token, f"expected a refresh token (grant_types has refresh_token): {tokens!r}"
    r = token_request(lz.issuer, {"grant_type": GRANT_REFRESH, "refresh_token": tokens.refresh_token, "client_id": doc_url})
    assert r.status_code == 200, f"expected the refresh with client_id = the URL to succeed, got {r.status_code}: {r.text[:400]!r}"
    assert get_claims(r.json()["access_token"])["client_id"] == doc_url
    assert docs.hits_of(path) == 1, "expected the token endpoint not to fetch the document"


# --------------------------------------------------------------------------- 3. a changed document


def test_a_changed_document_updates_its_user_agent(cimd_node, docs):
    client, http = cimd_node.client, cimd_node.http
    zone = client.zones.create(name=unique_name("cimd refresh"))
    issuer = zone.protocols.oauth2.issuer
    path = f"/clients/{secrets.token_hex(4)}/changing.json"
    doc_url = docs.url(path)
    docs.publish(path, Doc(document(doc_url, name="Before"), cache_control="no-store"))
    enable_cimd(client, zone.id, [doc_url])
    time.sleep(1.2)

    r = get_page(authorize_url(issuer, doc_url))
    assert r.status_code == 200 and "Before" in visible_text(r.text), f"expected the sign-in page for 'Before', got {r.status_code}: {visible_text(r.text)[:300]!r}"
    before = [u for u in user_agents(http, zone.id) if u["identifier"] == doc_url]
    assert len(before) == 1 and before[0]["name"] == "Before", before
    # no-store is still kept for the cache's minimum (5 s): a burst of requests makes one fetch.
    get_page(authorize_url(issuer, doc_url))
    assert docs.hits_of(path) == 1, f"expected one fetch within the minimum cache time, got {docs.hits_of(path)}"

    docs.publish(path, Doc(document(doc_url, name="After", redirect_uris=[REDIRECT, "https://app.example.com/cb"]),
                           cache_control="no-store"))
    time.sleep(5.5)
    r = get_page(authorize_url(issuer, doc_url, redirect_uri="https://app.example.com/cb"))
    assert r.status_code == 200 and "After" in visible_text(r.text), f"expected the new document in use, got {r.status_code}: {visible_text(r.text)[:300]!r}"
    assert docs.hits_of(path) == 2
    after = [u for u in user_agents(http, zone.id) if u["identifier"] == doc_url]
    assert len(after) == 1 and after[0]["id"] == before[0]["id"] and after[0]["name"] == "After", (
        f"expected the same user agent renamed 'After', got {after!r} (before: {before!r})"
    )
    assert after[0]["updated_at"] > before[0]["updated_at"], (before, after)


# --------------------------------------------------------------------------- 4. refusals


def test_refusals_are_error_pages_naming_the_rule(cimd_node, docs, client, server):
    node = cimd_node.client
    tag = secrets.token_hex(4)
    good = docs.publish(f"/clients/{tag}/good.json", Doc(document(docs.url(f"/clients/{tag}/good.json"))))
    other = docs.publish(f"/clients/{tag}/other.json", Doc(document(docs.url(f"/clients/{tag}/other.json"))))
    mismatch = docs.publish(f"/clients/{tag}/mismatch.json", Doc(document(good)))
    js = docs.publish(f"/clients/{tag}/js.json",
                      Doc(document(docs.url(f"/clients/{tag}/js.json"), redirect_uris=["javascript:alert(1)"])))
    secret = docs.publish(f"/clients/{tag}/secret.json",
                          Doc(document(docs.url(f"/clients/{tag}/secret.json"), client_secret="s3cret")))
    missing = docs.url(f"/clients/{tag}/missing.json")  # 404
    closed = f"https://127.0.0.1:{free_port()}/clients/{tag}/closed.json"  # nothing listens
    valid = docs.publish(f"/clients/{tag}/valid.json", Doc(document(docs.url(f"/clients/{tag}/valid.json"))))
    http_url = good.replace("https://", "http://", 1)

    off = node.zones.create(name=unique_name("cimd off"))
    on = node.zones.create(name=unique_name("cimd on"))
    enable_cimd(node, on.id, [good, mismatch, js, secret, missing, closed, valid])
    time.sleep(1.2)

    cases: List[Tuple[str, str, str, str]] = [
        ("cimd disabled", off.protocols.oauth2.issuer, good, "protocols.oauth2.cimd.enabled"),
        ("not on the allowlist", on.protocols.oauth2.issuer, other, "allowed_client_ids"),
        ("document client_id mismatch", on.protocols.oauth2.issuer, mismatch, "not exactly the URL"),
        ("http URL", on.protocols.oauth2.issuer, http_url, "https scheme"),
        ("javascript: redirect URI", on.protocols.oauth2.issuer, js, "redirect URI"),
        ("a client_secret in the document", on.protocols.oauth2.issuer, secret, "client_secret"),
        ("document not found", on.protocols.oauth2.issuer, missing, "could not be fetched"),
        ("document unreachable", on.protocols.oauth2.issuer, closed, "could not be fetched"),
    ]
    for what, issuer, client_id, phrase in cases:
        text = assert_error_page(get_page(authorize_url(issuer, client_id)), phrase, what)
        assert "s3cret" not in text
    assert docs.hits_of(f"/clients/{tag}/other.json") == 0, "expected a URL off the allowlist never to be fetched"
    assert docs.hits_of(f"/clients/{tag}/good.json") == 0, "expected nothing fetched for a zone with cimd off"

    # The document is valid: an unregistered redirect URI is still an error page; a loopback one on another
    # port is accepted (RFC 8252 §7.3: a static document cannot list an ephemeral port).
    on_issuer = on.protocols.oauth2.issuer
    assert_error_page(get_page(authorize_url(on_issuer, valid, redirect_uri="https://evil.example/cb")),
                      "not a redirect URI registered", "unregistered redirect URI")
    r = get_page(authorize_url(on_issuer, valid, redirect_uri="http://127.0.0.1:40111/callback"))
    assert r.status_code == 200 and "password" in r.text, f"expected the sign-in page for a loopback redirect on another port, got {r.status_code}: {visible_text(r.text)[:300]!r}"

    # The suite's own server does not trust the test CA: the same zone's document cannot be verified there.
    main_issuer = client.zones.retrieve(on.id).protocols.oauth2.issuer
    assert main_issuer.startswith(server.base_url), main_issuer
    assert_error_page(get_page(authorize_url(main_issuer, good)), "could not be fetched", "document from an untrusted CA")

    # The token endpoint: a URL client the zone does not admit, or one that never signed anyone in, is not a
    # client; a URL client never gets client_credentials.
    verifier, _ = pkce_pair()
    code_form = {"grant_type": GRANT_CODE, "code": "x" * 43, "redirect_uri": REDIRECT, "code_verifier": verifier}
    for what, issuer, client_id in [
        ("cimd disabled", off.protocols.oauth2.issuer, good),
        ("not allowlisted", on_issuer, other),
        ("http URL", on_issuer, http_url),
        ("never provisioned", on_issuer, mismatch),
    ]:
        r = token_request(issuer, {**code_form, "client_id": client_id})
        assert r.status_code == 401 and r.json().get("error") == "invalid_client", (
            f"{what}: expected invalid_client, got {r.status_code}: {r.text[:300]!r}"
        )
    r = token_request(on_issuer, {**code_form, "client_id": valid})
    assert r.status_code == 400 and r.json().get("error") == "invalid_grant", (
        f"expected the provisioned URL client admitted (and the bogus code refused), got {r.status_code}: {r.text[:300]!r}"
    )
    r = token_request(on_issuer, {"grant_type": "client_credentials", "client_id": valid})
    assert r.status_code == 401 and r.json().get("error") == "invalid_client", (
        f"expected client_credentials refused to a URL client, got {r.status_code}: {r.text[:300]!r}"
    )
