"""The zone's authorization server driven by the official Keycard OAuth client library, keycardai-oauth 0.33.2,
unchanged (client contract Part B.1-B.5, Part C items 13-31).

What is exercised:
  * discovery with `Client(issuer)` / `AsyncClient(issuer)` (RFC 8414, appended form), also with the Basic header the
    library sends on the discovery GET when it has credentials;
  * `client_credentials_grant` with `BasicAuth` (client_secret_basic), then the token checked by the library's own
    `TokenVerifier` (server/verifier.py: discovery -> jwks_uri -> RS256 signature -> iss/exp/aud/scope, exact issuer);
  * client_secret_post with raw httpx (the library never sends it);
  * resource resolution (exact, prefix, default resource, several resources), token lifetime, vault-backed resources;
  * every client_credentials error path, with the exact `error` code and HTTP status (the library parses `error`;
    the status is read from the response it received, through a recording transport);
  * the metadata documents and JWKS with raw httpx: issuer exactness, same-origin jwks_uri, S256 only, the appended,
    double-slash and path-inserted forms returning one document, and no redirects.

authorization_code and refresh_token are asserted here only for their error paths (the sign-in flow is in
test_user_login.py). Token exchange is implemented by the server but not covered by this file.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

# How long the token endpoint may serve a cached zone, client or resource (keyzone_core::authorization::LOOKUP_TTL), plus margin.
LOOKUP_TTL = 1.2
from keycardai_api import KeycardAPI
from keycardai_api.types import Zone

from keycardai.oauth import (
    AsyncClient,
    AuthorizationServerDiscoveryError,
    BasicAuth,
    Client,
    ClientConfig,
    InvalidTokenError,
    NoneAuth,
    OAuthHttpError,
    OAuthProtocolError,
    RefreshGrantError,
)
from keycardai.oauth.http._transports import HttpxTransport
from keycardai.oauth.http._wire import HttpRequest, HttpResponse
from keycardai.oauth.server.verifier import AccessToken, TokenVerifier
from keycardai.oauth.utils.jwt import get_claims, get_header

from sdk_support import UNKNOWN_ZONE_ID, unique_name

API = "https://api.example.com"
OTHER_API = "https://other.example.com"
AS_METADATA = "/.well-known/oauth-authorization-server"
OIDC_CONFIGURATION = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/jwks.json"
TOKEN_PATH = "/oauth/token"
GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
FORM = "application/x-www-form-urlencoded"
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


# --------------------------------------------------------------------------- helpers


class RecordingTransport(HttpxTransport):
    """The library's own sync httpx transport, unchanged, keeping every (request, response) it carried, so a test
    can read the HTTP status and headers behind an `OAuthProtocolError` (which keeps only `error`/`description`)."""

    def __init__(self, config: Optional[ClientConfig] = None) -> None:
        super().__init__(config=config or ClientConfig())
        self.exchanges: List[Tuple[HttpRequest, HttpResponse]] = []

    def request_raw(self, req: HttpRequest, *, timeout: Optional[float] = None) -> HttpResponse:
        res = super().request_raw(req, timeout=timeout)
        self.exchanges.append((req, res))
        return res

    def last(self, method: str = "POST") -> Tuple[HttpRequest, HttpResponse]:
        for req, res in reversed(self.exchanges):
            if req.method == method:
                return req, res
        raise AssertionError(f"expected the library to have sent a {method} request; sent {[(r.method, r.url) for r, _ in self.exchanges]}")


def header(headers: Any, name: str) -> Optional[str]:
    for k, v in dict(headers).items():
        if k.lower() == name.lower():
            return v
    return None


def b64json(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def verify(verifier: TokenVerifier, token: str) -> AccessToken:
    return asyncio.run(verifier.verify_token(token))


def expect_invalid_token(verifier: TokenVerifier, token: str, what: str) -> InvalidTokenError:
    try:
        got = verify(verifier, token)
    except InvalidTokenError as e:
        return e
    pytest.fail(f"expected TokenVerifier to reject the token ({what}), but it accepted it: {got!r:.500}", pytrace=False)


def new_verifier(issuer: str, audience: Optional[str], **kwargs: Any) -> TokenVerifier:
    return TokenVerifier(issuer=issuer, audience=audience, allowed_algorithms=["RS256"], **kwargs)


@dataclass
class Setup:
    zone: Zone
    issuer: str
    app_id: str
    client_id: str
    client_secret: str
    resource_id: str
    resource: str  # identifier

    @property
    def token_endpoint(self) -> str:
        return self.issuer + TOKEN_PATH

    def basic(self) -> BasicAuth:
        return BasicAuth(self.client_id, self.client_secret)


def new_client_credential(client: KeycardAPI, zone_id: str) -> Tuple[str, str, str]:
    """(application id, client_id, client_secret) of a fresh application with a password credential."""
    app = client.zones.applications.create(zone_id, identifier=f"app-{secrets.token_hex(4)}", name=unique_name("oauth app"))
    cred = client.zones.application_credentials.create(zone_id, type="password", application_id=app.id)
    assert cred.type == "password" and cred.identifier and cred.password, f"expected a password credential with its secret, got {cred!r}"
    return app.id, cred.identifier, cred.password


def new_resource(client: KeycardAPI, zone_id: str, identifier: str, **kwargs: Any):
    return client.zones.resources.create(zone_id, identifier=identifier, name=unique_name("oauth resource"), **kwargs)


def provider_id(client: KeycardAPI, zone_id: str, ptype: str) -> str:
    found = [p for p in client.zones.providers.list(zone_id, limit=100).items if p.type == ptype]
    assert len(found) == 1, f"expected exactly one {ptype!r} provider in a new zone, got {[(p.type, p.id) for p in found]}"
    return found[0].id


def token_post(issuer: str, data: Any, *, auth: Optional[Tuple[str, str]] = None, **kwargs: Any) -> httpx.Response:
    with httpx.Client(timeout=30.0, follow_redirects=False, trust_env=False) as h:
        return h.post(issuer + TOKEN_PATH, data=data, auth=auth, **kwargs)


def assert_oauth_error(status: int, headers: Any, body: bytes, want_status: int, want_error: str, context: str) -> dict:
    assert status == want_status, f"expected HTTP {want_status} ({context}), got {status}: {body[:500]!r}"
    ctype = header(headers, "content-type") or ""
    assert "json" in ctype, f"expected a JSON error body ({context}), got content-type {ctype!r}"
    data = json.loads(body)
    assert isinstance(data, dict) and data.get("error") == want_error, (
        f"expected error {want_error!r} ({context}), got {data!r}"
    )
    desc = data.get("error_description")
    assert desc is None or (isinstance(desc, str) and desc), f"expected error_description to be a non-empty string ({context}): {data!r}"
    if want_status == 401:
        www = header(headers, "www-authenticate")
        assert www, f"expected a WWW-Authenticate header on the 401 ({context}); headers {dict(headers)!r}"
    return data


def assert_raw_oauth_error(r: httpx.Response, want_status: int, want_error: str, context: str) -> dict:
    return assert_oauth_error(r.status_code, r.headers, r.content, want_status, want_error, context)


def expect_protocol_error(rec: RecordingTransport, want_status: int, want_error: str, context: str, fn, *args, **kwargs) -> OAuthProtocolError:
    """Call a library grant that must fail with `OAuthProtocolError(want_error)`; check the status it was sent with."""
    try:
        got = fn(*args, **kwargs)
    except OAuthProtocolError as e:
        assert e.error == want_error, (
            f"expected the library to raise OAuthProtocolError {want_error!r} ({context}), got {e.error!r}: {e.error_description!r}"
        )
        _, res = rec.last("POST")
        assert_oauth_error(res.status, res.headers, res.body, want_status, want_error, context)
        return e
    except OAuthHttpError as e:
        pytest.fail(f"expected a JSON OAuth error {want_error!r} ({context}); the library saw a non-OAuth HTTP {e.status_code}: {e.response_body!r}", pytrace=False)
    pytest.fail(f"expected {context} to fail with {want_error!r}, but it succeeded: {got!r:.300}", pytrace=False)


def assert_app_token_claims(token: str, s: Setup, *, aud: Any, scope: Optional[str], lifetime: int, jwks: dict) -> dict:
    hdr = get_header(token)
    assert hdr.get("alg") == "RS256", f"expected an RS256 access token, header {hdr!r}"
    assert hdr.get("typ") == "at+jwt", f"expected typ at+jwt (RFC 9068), header {hdr!r}"
    kids = [k.get("kid") for k in jwks["keys"]]
    assert hdr.get("kid") in kids, f"expected the token's kid {hdr.get('kid')!r} in the zone JWKS {kids}"
    c = get_claims(token)
    assert c["iss"] == s.issuer, f"expected iss exactly {s.issuer!r}, got {c['iss']!r}"
    assert c["sub"] == s.app_id, f"expected sub = the application id {s.app_id!r}, got {c['sub']!r}"
    assert c["aud"] == aud, f"expected aud {aud!r}, got {c['aud']!r}"
    assert c["client_id"] == s.client_id, f"expected client_id = the credential identifier {s.client_id!r}, got {c['client_id']!r}"
    assert c.get("sub_profile") == "app", f"expected sub_profile 'app', got {c.get('sub_profile')!r}"
    assert c.get("keycard_app_id") == s.app_id, f"expected keycard_app_id {s.app_id!r}, got {c.get('keycard_app_id')!r}"
    assert c.get("resource") == aud, f"expected resource claim {aud!r}, got {c.get('resource')!r}"
    assert c.get("scope") == scope, f"expected scope claim {scope!r}, got {c.get('scope')!r}"
    assert isinstance(c.get("jti"), str) and c["jti"], f"expected a jti, got {c.get('jti')!r}"
    for k in ("exp", "iat"):
        assert isinstance(c[k], int) and not isinstance(c[k], bool), f"expected numeric {k}, got {c[k]!r}"
    now = time.time()
    assert abs(c["iat"] - now) < 120, f"expected iat close to now ({now:.0f}), got {c['iat']}"
    assert c["exp"] - c["iat"] == lifetime, f"expected exp - iat == {lifetime}, got {c['exp'] - c['iat']}"
    return c


def jwks_of(issuer: str) -> dict:
    r = httpx.get(issuer + JWKS_PATH, timeout=30.0, follow_redirects=False, trust_env=False)
    assert r.status_code == 200, f"expected GET {issuer}{JWKS_PATH} -> 200, got {r.status_code}: {r.text[:300]!r}"
    return r.json()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def zone(client: KeycardAPI) -> Zone:
    return client.zones.create(name=unique_name("oauth"))


@pytest.fixture
def issuer(server, zone: Zone) -> str:
    iss = zone.protocols.oauth2.issuer
    assert iss == f"{server.public_url}/z/{zone.id}", (
        f"expected the zone's protocols.oauth2.issuer to be {server.public_url}/z/{zone.id}, got {iss!r}"
    )
    return iss


@pytest.fixture
def setup(client: KeycardAPI, zone: Zone, issuer: str) -> Setup:
    app_id, client_id, secret = new_client_credential(client, zone.id)
    res = new_resource(client, zone.id, API, scopes=["read", "write"])
    return Setup(zone, issuer, app_id, client_id, secret, res.id, res.identifier)


@pytest.fixture
def rec() -> RecordingTransport:
    t = RecordingTransport()
    yield t
    t.close()


@pytest.fixture
def oauth(setup: Setup, rec: RecordingTransport) -> Client:
    """`Client(issuer, auth=BasicAuth(client_id, secret))` on the recording transport."""
    c = Client(setup.issuer, auth=setup.basic(), transport=rec)
    yield c
    c.close()


# --------------------------------------------------------------------------- 1. discovery with the library


def test_library_discovery_sync(issuer, rec):
    with Client(issuer, transport=rec) as c:  # entering runs discovery
        md = c.discover_server_metadata()
        ep = c.endpoints
    assert md.issuer == issuer, f"expected metadata issuer {issuer!r}, got {md.issuer!r}"
    assert md.token_endpoint == issuer + TOKEN_PATH, f"token_endpoint {md.token_endpoint!r}"
    assert md.jwks_uri == issuer + JWKS_PATH, f"jwks_uri {md.jwks_uri!r}"
    assert md.registration_endpoint == issuer + "/oauth/register", f"registration_endpoint {md.registration_endpoint!r}"
    assert md.authorization_endpoint == issuer + "/oauth/authorize", f"authorization_endpoint {md.authorization_endpoint!r}"
    assert md.userinfo_endpoint == issuer + "/oauth/userinfo", f"userinfo_endpoint {md.userinfo_endpoint!r}"
    assert md.code_challenge_methods_supported == ["S256"], md.code_challenge_methods_supported
    assert "client_credentials" in (md.grant_types_supported or []), md.grant_types_supported
    # The client resolved its endpoints from the document, not from its /oauth2/... defaults.
    assert (ep.token, ep.register, ep.authorize) == (md.token_endpoint, md.registration_endpoint, md.authorization_endpoint), ep
    gets = [req for req, _ in rec.exchanges if req.method == "GET"]
    assert gets and all(req.url == issuer + AS_METADATA for req in gets), [r.url for r in gets]
    assert all(res.status == 200 for _, res in rec.exchanges), [(r.url, s.status) for r, s in rec.exchanges]


def test_library_discovery_trailing_slash_issuer(issuer):
    """The library strips a trailing `/` from the issuer it is given and compares issuers without it."""
    with Client(issuer + "/") as c:
        md = c.discover_server_metadata()
    assert md.issuer == issuer and md.token_endpoint == issuer + TOKEN_PATH, md


def test_library_discovery_async(issuer):
    async def run():
        async with AsyncClient(issuer) as c:
            md = await c.discover_server_metadata()
            ep = await c.get_endpoints()
        return md, ep

    md, ep = asyncio.run(run())
    assert md.issuer == issuer
    assert md.token_endpoint == issuer + TOKEN_PATH and ep.token == md.token_endpoint, (md.token_endpoint, ep)
    assert md.jwks_uri == issuer + JWKS_PATH
    assert md.registration_endpoint == issuer + "/oauth/register" and ep.register == md.registration_endpoint
    assert md.authorization_endpoint == issuer + "/oauth/authorize" and ep.authorize == md.authorization_endpoint


def test_library_discovery_with_basic_header_is_not_rejected(issuer, rec):
    """With credentials configured, the library sends `Authorization: Basic` on the discovery GET (contract C.20):
    the metadata is public, so even unknown credentials must not turn it into a 401."""
    with Client(issuer, auth=BasicAuth("nobody", "not-a-secret"), transport=rec) as c:
        md = c.discover_server_metadata()
    assert md.issuer == issuer
    req, res = rec.last("GET")
    assert (header(req.headers, "authorization") or "").startswith("Basic "), f"expected the library to send Basic, sent {dict(req.headers)!r}"
    assert res.status == 200


def test_library_discovery_unknown_zone(server):
    issuer = f"{server.public_url}/z/{UNKNOWN_ZONE_ID}"
    c = Client(issuer, auth=BasicAuth("a", "b"))
    try:
        with pytest.raises(OAuthHttpError) as ei:
            c.discover_server_metadata()
        assert ei.value.status_code == 404, f"expected discovery of an unknown zone to be a 404, got {ei.value.status_code}"
        # Grants never fall back to a guessed token endpoint when discovery fails.
        with pytest.raises(AuthorizationServerDiscoveryError):
            c.client_credentials_grant(resource=API)
    finally:
        c.close()


# --------------------------------------------------------------------------- 2. client_credentials (Basic) + TokenVerifier


def test_client_credentials_basic_and_token_verifier(setup, oauth, rec):
    s = setup
    resp = oauth.client_credentials_grant(resource=s.resource, scope="read write")

    req, res = rec.last("POST")
    assert req.url == s.token_endpoint, f"expected the grant to go to the discovered token endpoint, went to {req.url!r}"
    assert (header(req.headers, "authorization") or "").startswith("Basic ")
    assert dict(parse_qsl(req.body.decode())) == {"grant_type": "client_credentials", "resource": s.resource, "scope": "read write"}
    assert res.status == 200, f"expected 200, got {res.status}: {res.body[:300]!r}"
    assert header(res.headers, "cache-control") == "no-store", f"expected Cache-Control: no-store, got {dict(res.headers)!r}"
    raw = json.loads(res.body)
    assert isinstance(raw["expires_in"], int) and not isinstance(raw["expires_in"], bool), f"expires_in must be a JSON number: {raw!r}"

    assert resp.token_type == "Bearer" and resp.expires_in == 3600 and resp.scope == ["read", "write"], resp
    assert resp.refresh_token is None, "client_credentials must not issue a refresh token"
    assert_app_token_claims(resp.access_token, s, aud=s.resource, scope="read write", lifetime=3600, jwks=jwks_of(s.issuer))

    at = verify(new_verifier(s.issuer, s.resource), resp.access_token)
    assert at.client_id == s.client_id and at.sub == s.app_id, at
    assert at.sub_profile == "app" and at.keycard_app_id == s.app_id, at
    assert at.resource == s.resource and sorted(at.scopes) == ["read", "write"], at
    assert at.expires_at == get_claims(resp.access_token)["exp"]

    verify(new_verifier(s.issuer, s.resource, required_scopes=["read"]), resp.access_token)
    e = expect_invalid_token(new_verifier(s.issuer, s.resource, required_scopes=["admin"]), resp.access_token, "scope admin")
    assert "scope" in str(e).lower(), e
    # Issuer comparison is exact (contract C.13): the issuer with a trailing slash is another issuer.
    e = expect_invalid_token(new_verifier(s.issuer + "/", s.resource), resp.access_token, "issuer with a trailing slash")
    assert "issuer" in str(e).lower(), e
    # A tampered payload fails the signature check.
    h, p, sig = resp.access_token.split(".")
    claims = b64json(p)
    claims["scope"] = "read write admin"
    forged = ".".join([h, base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode(), sig])
    expect_invalid_token(new_verifier(s.issuer, s.resource), forged, "tampered payload")


def test_token_for_another_resource_fails_audience(client, setup, oauth):
    s = setup
    new_resource(client, s.zone.id, OTHER_API)
    other = oauth.client_credentials_grant(resource=OTHER_API)
    assert get_claims(other.access_token)["aud"] == OTHER_API
    assert other.scope is None and "scope" not in get_claims(other.access_token), other.raw

    verify(new_verifier(s.issuer, OTHER_API), other.access_token)
    e = expect_invalid_token(new_verifier(s.issuer, s.resource), other.access_token, f"token for {OTHER_API} checked for {s.resource}")
    assert "audience" in str(e).lower(), e


def test_token_from_another_zone_fails_issuer(client, setup, oauth):
    """Same resource identifier in two zones: a verifier for one zone's issuer rejects the other zone's tokens."""
    s = setup
    z2 = client.zones.create(name=unique_name("oauth-other"))
    app2, cid2, sec2 = new_client_credential(client, z2.id)
    new_resource(client, z2.id, API)
    with Client(z2.protocols.oauth2.issuer, auth=BasicAuth(cid2, sec2)) as c2:
        t2 = c2.client_credentials_grant(resource=API).access_token
    assert get_claims(t2)["iss"] == z2.protocols.oauth2.issuer != s.issuer
    verify(new_verifier(z2.protocols.oauth2.issuer, API), t2)
    e = expect_invalid_token(new_verifier(s.issuer, API), t2, "token of another zone")
    assert "issuer" in str(e).lower(), e


def test_client_credentials_async(setup):
    s = setup

    async def run():
        async with AsyncClient(s.issuer, auth=s.basic()) as c:
            return await c.client_credentials_grant(resource=s.resource, scope="read")

    resp = asyncio.run(run())
    assert resp.scope == ["read"] and resp.expires_in == 3600, resp
    at = verify(new_verifier(s.issuer, s.resource, required_scopes=["read"]), resp.access_token)
    assert at.scopes == ["read"] and at.client_id == s.client_id


# --------------------------------------------------------------------------- 3. client_secret_post (raw httpx)


def test_client_secret_post(setup):
    s = setup
    r = token_post(s.issuer, {
        "grant_type": "client_credentials", "resource": s.resource, "scope": "write",
        "client_id": s.client_id, "client_secret": s.client_secret,
    })
    assert r.status_code == 200, f"expected client_secret_post to succeed, got {r.status_code}: {r.text[:300]!r}"
    assert r.headers.get("cache-control") == "no-store", dict(r.headers)
    assert "json" in r.headers.get("content-type", "")
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"] == "write", body
    assert_app_token_claims(body["access_token"], s, aud=s.resource, scope="write", lifetime=3600, jwks=jwks_of(s.issuer))
    at = verify(new_verifier(s.issuer, s.resource, required_scopes=["write"]), body["access_token"])
    assert at.client_id == s.client_id and at.keycard_app_id == s.app_id


# --------------------------------------------------------------------------- resource resolution and lifetimes


def test_prefix_resource_resolution(client, zone, issuer, rec):
    app_id, cid, sec = new_client_credential(client, zone.id)
    new_resource(client, zone.id, API, prefix=True, scopes=["read", "write"])
    exact = new_resource(client, zone.id, OTHER_API)  # not a prefix resource
    s = Setup(zone, issuer, app_id, cid, sec, "", API)
    with Client(issuer, auth=BasicAuth(cid, sec), transport=rec) as c:
        resp = c.client_credentials_grant(resource=API + "/v1/x", scope="read")
        assert_app_token_claims(resp.access_token, s, aud=API, scope="read", lifetime=3600, jwks=jwks_of(issuer))
        verify(new_verifier(issuer, API), resp.access_token)
        # A resource without prefix matching only matches its exact identifier.
        expect_protocol_error(rec, 400, "invalid_target", "sub-path of a non-prefix resource",
                              c.client_credentials_grant, resource=exact.identifier + "/v1/x")


def test_credential_lifetime_seconds(client, setup, oauth):
    s = setup
    short = new_resource(client, s.zone.id, "https://short.example.com", credential_lifetime_seconds=120)
    resp = oauth.client_credentials_grant(resource=short.identifier)
    assert resp.expires_in == 120, f"expected expires_in = the resource's credential_lifetime_seconds (120), got {resp.expires_in!r}"
    c = get_claims(resp.access_token)
    assert c["exp"] - c["iat"] == 120, c


def test_default_resource(client, setup, oauth, rec):
    s = setup
    # Without a default resource, a request naming none is refused ...
    expect_protocol_error(rec, 400, "invalid_request", "no resource, no default", oauth.client_credentials_grant)
    # ... with one, it gets the default.
    dflt = new_resource(client, s.zone.id, "https://default.example.com", scopes=["read"])
    client.zones.update(s.zone.id, default_resource_id=dflt.id)
    # The token endpoint sees management changes within its lookup cache's lifetime (1 s).
    time.sleep(LOOKUP_TTL)
    resp = oauth.client_credentials_grant(scope="read")
    assert_app_token_claims(resp.access_token, s, aud=dflt.identifier, scope="read", lifetime=3600, jwks=jwks_of(s.issuer))
    verify(new_verifier(s.issuer, dflt.identifier), resp.access_token)
    # An explicit resource still wins over the default.
    assert get_claims(oauth.client_credentials_grant(resource=s.resource).access_token)["aud"] == s.resource


def two_resource_token(client: KeycardAPI, s: Setup) -> str:
    new_resource(client, s.zone.id, OTHER_API, scopes=["write"])
    r = token_post(s.issuer, {"grant_type": "client_credentials", "resource": [s.resource, OTHER_API]},
                   auth=(s.client_id, s.client_secret))
    assert r.request.content.decode().count("resource=") == 2, r.request.content  # repeated key, as the clients send it
    assert r.status_code == 200, f"expected two resources to be granted together, got {r.status_code}: {r.text[:300]!r}"
    return r.json()["access_token"]


def test_several_resources(client, setup):
    s = setup
    tok = two_resource_token(client, s)
    c = get_claims(tok)
    assert c["aud"] == [s.resource, OTHER_API], f"expected aud to list both resources in request order, got {c['aud']!r}"
    e = expect_invalid_token(new_verifier(s.issuer, "https://third.example.com"), tok, "audience of neither")
    assert "audience" in str(e).lower(), e


def test_several_resources_token_verifier(client, setup):
    s = setup
    tok = two_resource_token(client, s)
    for aud in (s.resource, OTHER_API):
        at = verify(new_verifier(s.issuer, aud), tok)
        assert at.client_id == s.client_id, at


def test_a2a_stray_audience_and_subject_token_type_tolerated(setup):
    """keycardai-a2a's service-to-service call sends `audience` and `subject_token_type` on a client_credentials
    request (contract B.2, C.20)."""
    s = setup
    r = token_post(s.issuer, {
        "grant_type": "client_credentials", "resource": s.resource, "audience": s.resource,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
    }, auth=(s.client_id, s.client_secret))
    assert r.status_code == 200, f"expected the a2a-shaped request to succeed, got {r.status_code}: {r.text[:300]!r}"
    tok = r.json()["access_token"]
    assert get_claims(tok)["aud"] == s.resource
    verify(new_verifier(s.issuer, s.resource), tok)


# --------------------------------------------------------------------------- 4. error paths


def test_error_unknown_resource(setup, oauth, rec):
    expect_protocol_error(rec, 400, "invalid_target", "unknown resource",
                          oauth.client_credentials_grant, resource="https://unknown.example.com")


def test_error_undefined_scope(client, setup, oauth, rec):
    expect_protocol_error(rec, 400, "invalid_scope", "scope the resource does not define",
                          oauth.client_credentials_grant, resource=setup.resource, scope="read admin")
    bare = new_resource(client, setup.zone.id, OTHER_API)  # defines no scopes at all
    expect_protocol_error(rec, 400, "invalid_scope", "scope on a resource without scopes",
                          oauth.client_credentials_grant, resource=bare.identifier, scope="read")


def test_error_wrong_secret(setup, rec):
    s = setup
    with Client(s.issuer, auth=BasicAuth(s.client_id, s.client_secret + "x"), transport=rec) as c:
        e = expect_protocol_error(rec, 401, "invalid_client", "wrong secret", c.client_credentials_grant, resource=s.resource)
    assert not e.retryable, "invalid_client is a permanent error for the library"
    r = token_post(s.issuer, {"grant_type": "client_credentials", "resource": s.resource,
                              "client_id": s.client_id, "client_secret": "wrong"})
    assert_raw_oauth_error(r, 401, "invalid_client", "wrong secret, client_secret_post")


def test_error_unknown_client(setup, rec):
    s = setup
    with Client(s.issuer, auth=BasicAuth("no-such-client", s.client_secret), transport=rec) as c:
        expect_protocol_error(rec, 401, "invalid_client", "unknown client", c.client_credentials_grant, resource=s.resource)


def test_error_no_client_authentication(setup, rec):
    s = setup
    with Client(s.issuer, auth=NoneAuth(), transport=rec) as c:
        expect_protocol_error(rec, 401, "invalid_client", "no client authentication", c.client_credentials_grant, resource=s.resource)
    # A bare client_id is not authentication either.
    r = token_post(s.issuer, {"grant_type": "client_credentials", "resource": s.resource, "client_id": s.client_id})
    assert_raw_oauth_error(r, 401, "invalid_client", "client_id without a secret")


def test_error_credential_of_another_zone(client, setup, rec):
    """Client credentials are zone-scoped: a valid credential of zone A is unknown in zone B."""
    s = setup
    z2 = client.zones.create(name=unique_name("oauth-other"))
    new_resource(client, z2.id, API)
    with Client(z2.protocols.oauth2.issuer, auth=s.basic(), transport=rec) as c:
        expect_protocol_error(rec, 401, "invalid_client", "credential of another zone", c.client_credentials_grant, resource=API)


def test_error_deleted_credential(client, setup, oauth, rec):
    s = setup
    oauth.client_credentials_grant(resource=s.resource)  # works while the credential exists
    cred = client.zones.application_credentials.list(s.zone.id, application_id=s.app_id).items
    assert [c.identifier for c in cred] == [s.client_id], cred
    client.zones.application_credentials.delete(cred[0].id, zone_id=s.zone.id)
    # A deleted credential stops working within the lookup cache's lifetime (1 s).
    time.sleep(LOOKUP_TTL)
    expect_protocol_error(rec, 401, "invalid_client", "deleted credential", oauth.client_credentials_grant, resource=s.resource)


def test_error_two_client_authentication_methods(setup):
    s = setup
    r = token_post(s.issuer, {"grant_type": "client_credentials", "resource": s.resource,
                              "client_id": s.client_id, "client_secret": s.client_secret},
                   auth=(s.client_id, s.client_secret))
    assert_raw_oauth_error(r, 400, "invalid_request", "Basic and client_secret_post together")


def test_user_grants_refuse_bogus_codes_and_tokens(setup, oauth, rec):
    """authorization_code and refresh_token are served (issue #12; the sign-in flow itself is covered by
    test_user_login.py): a code or refresh token the zone never issued is `invalid_grant`, and a public-client
    shape naming a client the zone does not know is `invalid_client`."""
    s = setup
    expect_protocol_error(rec, 400, "invalid_grant", "authorization_code",
                          oauth.exchange_authorization_code, code="abc", redirect_uri="http://localhost:8080/callback",
                          code_verifier="v" * 64, client_id=s.client_id, resource=s.resource)
    assert dict(parse_qsl(rec.last("POST")[0].body.decode()))["grant_type"] == "authorization_code"
    e = expect_protocol_error(rec, 400, "invalid_grant", "refresh_token",
                              oauth.refresh_token_grant, refresh_token="rt-" + secrets.token_hex(8), resources=[s.resource])
    assert isinstance(e, RefreshGrantError), type(e)
    assert dict(parse_qsl(rec.last("POST")[0].body.decode()))["grant_type"] == "refresh_token"
    with Client(s.issuer, transport=rec) as public:
        expect_protocol_error(rec, 401, "invalid_client", "public authorization_code",
                              public.exchange_authorization_code, code="abc", redirect_uri="http://localhost:8080/callback",
                              code_verifier="v" * 64, client_id="public-client")
        expect_protocol_error(rec, 401, "invalid_client", "public refresh_token",
                              public.refresh_token_grant, refresh_token="rt-" + secrets.token_hex(8), client_id="public-client")


def test_error_unknown_or_missing_grant_type(setup):
    s = setup
    basic = (s.client_id, s.client_secret)
    r = token_post(s.issuer, {"grant_type": "password", "username": "u", "password": "p"}, auth=basic)
    assert_raw_oauth_error(r, 400, "unsupported_grant_type", "grant_type=password")
    r = token_post(s.issuer, {"resource": s.resource}, auth=basic)
    assert_raw_oauth_error(r, 400, "invalid_request", "no grant_type")


def test_error_non_form_content_type(setup):
    s = setup
    body = {"grant_type": "client_credentials", "resource": s.resource}
    with httpx.Client(timeout=30.0, follow_redirects=False, trust_env=False) as h:
        r = h.post(s.token_endpoint, json=body, auth=(s.client_id, s.client_secret))
        assert_raw_oauth_error(r, 400, "invalid_request", "JSON body")
        r = h.post(s.token_endpoint, content="grant_type=client_credentials&resource=" + s.resource,
                   headers={"Content-Type": "text/plain"}, auth=(s.client_id, s.client_secret))
        assert_raw_oauth_error(r, 400, "invalid_request", "text/plain body")
        # The form type with a charset parameter is still a form.
        r = h.post(s.token_endpoint, content="grant_type=client_credentials&resource=" + s.resource,
                   headers={"Content-Type": FORM + "; charset=UTF-8"}, auth=(s.client_id, s.client_secret))
        assert r.status_code == 200, f"expected a form with charset to be accepted, got {r.status_code}: {r.text[:300]!r}"


def test_error_unknown_zone_token_endpoint(server):
    issuer = f"{server.public_url}/z/{UNKNOWN_ZONE_ID}"
    r = token_post(issuer, {"grant_type": "client_credentials", "resource": API}, auth=("a", "b"))
    assert r.status_code == 404, f"expected 404 for an unknown zone's token endpoint, got {r.status_code}: {r.text[:300]!r}"
    body = r.json()
    assert isinstance(body.get("error"), str) and isinstance(body.get("error_description"), str), body


# --------------------------------------------------------------------------- 5. vault-backed resources


def test_vault_backed_resource_returns_the_stored_token(client, setup, oauth):
    s = setup
    vault = provider_id(client, s.zone.id, "keycard-vault")
    res = new_resource(client, s.zone.id, "https://vaulted.example.com", credential_provider_id=vault, scopes=["read"])
    stored = "upstream-abc-" + secrets.token_hex(8)
    client.zones.secrets.create(s.zone.id, data={"type": "token", "token": stored}, entity_id=res.id, name=unique_name("vault token"))
    resp = oauth.client_credentials_grant(resource=res.identifier, scope="read")
    assert resp.access_token == stored, f"expected the vault-backed resource's token to be the stored secret, got {resp.access_token!r}"
    assert resp.token_type == "Bearer" and resp.expires_in == 3600 and resp.scope == ["read"], resp
    assert header(resp.headers, "cache-control") == "no-store", resp.headers


def test_vault_backed_resource_without_secret(client, setup, oauth, rec):
    s = setup
    vault = provider_id(client, s.zone.id, "keycard-vault")
    res = new_resource(client, s.zone.id, "https://empty-vault.example.com", credential_provider_id=vault)
    expect_protocol_error(rec, 400, "access_denied", "vault-backed resource with no stored token",
                          oauth.client_credentials_grant, resource=res.identifier)


# --------------------------------------------------------------------------- 6. metadata and JWKS (raw httpx)


def _get(url: str) -> httpx.Response:
    with httpx.Client(timeout=30.0, follow_redirects=False, trust_env=False) as h:
        return h.get(url, headers={"Accept": "application/json"})


def test_metadata_documents(server, zone, issuer):
    origin = urlsplit(issuer)
    forms = {
        "appended": issuer + AS_METADATA,
        "double slash": issuer + "/" + AS_METADATA,
        "path-inserted (RFC 8414 §3.1)": f"{server.public_url}{AS_METADATA}/z/{zone.id}",
    }
    docs: Dict[str, dict] = {}
    for label, url in forms.items():
        r = _get(url)
        assert r.status_code == 200, f"expected GET {url} ({label}) -> 200 directly (no redirect), got {r.status_code}: {r.text[:300]!r}"
        assert "json" in r.headers.get("content-type", ""), f"{label}: content-type {r.headers.get('content-type')!r}"
        docs[label] = r.json()
    # httpx must really have sent the double slash.
    assert b"//.well-known" in httpx.URL(forms["double slash"]).raw_path, forms["double slash"]
    first = docs["appended"]
    for label, d in docs.items():
        assert d == first, f"expected the {label} form to return the same document as the appended form\n{d}\n{first}"

    md = first
    assert md["issuer"] == issuer and not md["issuer"].endswith("/"), f"expected issuer exactly {issuer!r}, got {md['issuer']!r}"
    for field, path in (("token_endpoint", TOKEN_PATH), ("jwks_uri", JWKS_PATH), ("authorization_endpoint", "/oauth/authorize"),
                        ("registration_endpoint", "/oauth/register"), ("userinfo_endpoint", "/oauth/userinfo")):
        assert md.get(field) == issuer + path, f"expected {field} {issuer + path!r}, got {md.get(field)!r}"
    j = urlsplit(md["jwks_uri"])
    assert (j.scheme, j.hostname, j.port) == (origin.scheme, origin.hostname, origin.port), (
        f"expected jwks_uri on the issuer's origin {origin.scheme}://{origin.netloc}, got {md['jwks_uri']!r}"
    )
    assert md["code_challenge_methods_supported"] == ["S256"], md["code_challenge_methods_supported"]
    grants = md["grant_types_supported"]
    assert isinstance(grants, list) and "client_credentials" in grants, f"expected client_credentials in grant_types_supported, got {grants!r}"
    methods = set(md["token_endpoint_auth_methods_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= methods, methods
    assert "code" in md["response_types_supported"], md["response_types_supported"]

    oidc_url = issuer + OIDC_CONFIGURATION
    assert zone.protocols.openid is not None and zone.protocols.openid.provider_configuration == oidc_url, zone.protocols.openid
    r = _get(oidc_url)
    assert r.status_code == 200 and "json" in r.headers.get("content-type", ""), f"GET {oidc_url} -> {r.status_code} {r.text[:200]!r}"
    oidc = r.json()
    assert oidc["issuer"] == issuer and oidc["jwks_uri"] == md["jwks_uri"] and oidc["token_endpoint"] == md["token_endpoint"], oidc
    for k, v in md.items():
        assert oidc.get(k) == v, f"expected openid-configuration to carry the AS metadata field {k}={v!r}, got {oidc.get(k)!r}"
    assert oidc.get("userinfo_endpoint") == zone.protocols.openid.userinfo_endpoint, (oidc.get("userinfo_endpoint"), zone.protocols.openid)


def test_metadata_grant_types_match_the_token_endpoint(setup):
    """grant_types_supported lists exactly the grants the token endpoint serves: a listed grant is never answered
    `unsupported_grant_type`, and a grant answered that way is not listed (the clients pick flows from this list)."""
    s = setup
    listed = set(_get(s.issuer + AS_METADATA).json()["grant_types_supported"])
    probes = {
        "client_credentials": {"resource": s.resource},
        GRANT_TOKEN_EXCHANGE: {"resource": s.resource, "subject_token": "not.a.token",
                               "subject_token_type": "urn:ietf:params:oauth:token-type:access_token"},
        "authorization_code": {"code": "abc", "redirect_uri": "http://localhost:8080/callback", "code_verifier": "v" * 64},
        "refresh_token": {"refresh_token": "rt-" + secrets.token_hex(8)},
        "password": {"username": "u", "password": "p"},
        "urn:ietf:params:oauth:grant-type:jwt-bearer": {"assertion": "a.b.c"},
        "urn:ietf:params:oauth:grant-type:device_code": {"device_code": "d"},
    }
    served = set()
    for grant, params in probes.items():
        r = token_post(s.issuer, {"grant_type": grant, **params}, auth=(s.client_id, s.client_secret))
        unsupported = r.status_code == 400 and r.json().get("error") == "unsupported_grant_type"
        if not unsupported:
            served.add(grant)
    assert "client_credentials" in served
    probed_listed = listed & set(probes)
    assert probed_listed == served, (
        f"expected grant_types_supported to list exactly the grants served; listed but unsupported: "
        f"{sorted(probed_listed - served)}, served but not listed: {sorted(served - probed_listed)}"
    )


def test_jwks(setup, oauth):
    s = setup
    r = _get(s.issuer + JWKS_PATH)
    assert r.status_code == 200, f"JWKS must answer exactly 200, got {r.status_code}"
    assert "json" in r.headers.get("content-type", "")
    keys = r.json()["keys"]
    assert keys, "expected a non-empty JWKS"
    kids = [k.get("kid") for k in keys]
    assert all(isinstance(k, str) and k for k in kids) and len(set(kids)) == len(kids), f"expected unique non-empty kids, got {kids}"
    rsa = [k for k in keys if k.get("alg") == "RS256"]
    assert rsa, f"expected RS256 keys in the zone JWKS, got algs {[k.get('alg') for k in keys]}"
    for k in rsa:
        assert k.get("kty") == "RSA" and k.get("use") == "sig" and k.get("n") and k.get("e"), k
    for k in keys:
        leaked = PRIVATE_JWK_MEMBERS & set(k)
        assert not leaked, f"JWKS key {k.get('kid')} exposes private members {sorted(leaked)}"
    tok = oauth.client_credentials_grant(resource=s.resource).access_token
    assert get_header(tok)["kid"] in [k["kid"] for k in rsa], (get_header(tok), kids)


def test_metadata_unknown_zone(server):
    base = server.public_url
    urls = [
        f"{base}/z/{UNKNOWN_ZONE_ID}{AS_METADATA}",
        f"{base}/z/{UNKNOWN_ZONE_ID}/{AS_METADATA}",
        f"{base}{AS_METADATA}/z/{UNKNOWN_ZONE_ID}",
        f"{base}/z/{UNKNOWN_ZONE_ID}{OIDC_CONFIGURATION}",
        f"{base}/z/{UNKNOWN_ZONE_ID}{JWKS_PATH}",
    ]
    for url in urls:
        r = _get(url)
        assert r.status_code == 404, f"expected GET {url} -> 404, got {r.status_code}: {r.text[:300]!r}"
        assert "json" in r.headers.get("content-type", ""), f"{url}: content-type {r.headers.get('content-type')!r}"
        body = r.json()
        assert isinstance(body.get("error"), str) and body["error"] and isinstance(body.get("error_description"), str), (
            f"expected an OAuth-style {{error, error_description}} body from {url}, got {body!r}"
        )
