"""JWT client authentication at the zone's token endpoint (RFC 7523 §2.2: `client_assertion_type=
urn:ietf:params:oauth:client-assertion-type:jwt-bearer` + `client_assertion`), driven by the official Keycard OAuth
client library, keycardai-oauth 0.33.2, unchanged, wherever it has a way to send the request (client contract Part
B.2 "WebIdentity"/"WorkloadIdentity", B.3 URL client identities, Part C items 20-24).

The keys and documents the zone fetches are served by a loopback JWT issuer (tests/sdk/jwt_issuer.py) that plays the
workload platform (an OIDC issuer), the client's JWKS host and the resource server publishing its RFC 9728 metadata.

What is exercised:
  * workload identity: an application credential `{"type": "token", "provider_id", "subject"}` trusting a provider
    whose issuer is the loopback issuer; found by (iss, sub) without client_id, narrowed by client_id = the credential
    id or the application id, a wildcard-subject credential, refusals (wrong subject, wrong issuer, unknown key, wrong
    aud, expired, not yet valid), reuse of one token, keys via OpenID discovery (also for an issuer with a path),
    via RFC 8414 metadata, via `protocols.oauth2.jwks_uri`, the provider identifier as issuer, the discovery
    document's exact issuer, key rotation (the unknown-kid refetch and its 30 s limit: this test sleeps ~31 s), the
    application session it records, 503 when the issuer or its JWKS cannot be fetched (refused, 500, a redirect);
  * private_key_jwt with a `public-key` credential: success (RS256, ES256, EdDSA), jti single use (also under
    concurrent replay), jti required, lifetime <= 1 h, wrong key, JWKS keys for another use/alg/kty ignored, alg
    none / HS256 / RS512 / PS256, audience and time checks, form errors, 503 for an unreachable JWKS;
  * deleted credentials stop authenticating (after the token endpoint's 1 s lookup cache);
  * a `url` credential (the document at the URL names `jwks_uri` or inline `jwks`);
  * the unregistered URL identity keycardai-oauth's WebIdentity sends (iss = sub = the resource's
    `/.well-known/oauth-protected-resource{path}` URL, no client_id), with the library's own WebIdentity for real
    (key file storage, its JWKS, its assertion), and its refusals;
  * token exchange through `exchange_tokens_for_resources(...)` (what the MCP/Starlette `@grant` run) with the
    library's WorkloadIdentity (file source and callable) and WebIdentity;
  * introspection and revocation authenticated with assertions.
Issued tokens are checked by their claims and with the library's TokenVerifier.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import parse_qsl

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from keycardai_api import KeycardAPI
from keycardai_api.types import Zone
from keycardai_api.types.zones import PublicKey, Token, URL
from keycardai_api.types.zones.session import IamApplicationSessionType
from pydantic import AnyHttpUrl

from keycardai.oauth import AsyncClient, BasicAuth, Client, ClientConfig
from keycardai.oauth.http._transports import HttpxAsyncTransport
from keycardai.oauth.http._wire import HttpRequest, HttpResponse
from keycardai.oauth.server.access_context import AccessContext
from keycardai.oauth.server.credentials import FileTokenSource, WebIdentity, WorkloadIdentity
from keycardai.oauth.server.token_exchange import exchange_tokens_for_resources
from keycardai.oauth.types.models import TokenResponse
from keycardai.oauth.utils.jwt import get_claims, get_header

from jwt_issuer import (
    DROP,
    JWKS_PATH,
    OAUTH_METADATA,
    OPENID_CONFIGURATION,
    LoopbackIssuer,
    SigningKey,
    hs256_token,
    unsigned_token,
)
from sdk_processes import free_port
from sdk_support import unique_name
from test_oauth_client import (
    GRANT_TOKEN_EXCHANGE,
    LOOKUP_TTL,
    RecordingTransport,
    assert_raw_oauth_error,
    expect_protocol_error,
    header,
    new_client_credential,
    new_resource,
    new_verifier,
    token_post,
    verify,
)

API = "https://api.example.com"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
AT_TYPE = "urn:ietf:params:oauth:token-type:access_token"
PRM = "/.well-known/oauth-protected-resource"
# keyzone_core::client_assertion: clock leeway on exp/nbf/iat, the private_key_jwt lifetime cap, the JWKS refetch limit.
LEEWAY = 30
MAX_SELF_SIGNED_LIFETIME = 3600
REFETCH_INTERVAL = 30


# --------------------------------------------------------------------------- helpers


class AsyncRecordingTransport(HttpxAsyncTransport):
    """The library's own async httpx transport, unchanged, keeping every (request, response) it carried."""

    def __init__(self) -> None:
        super().__init__(config=ClientConfig())
        self.exchanges: List[Tuple[HttpRequest, HttpResponse]] = []

    async def request_raw(self, req: HttpRequest, *, timeout: Optional[float] = None) -> HttpResponse:
        res = await super().request_raw(req, timeout=timeout)
        self.exchanges.append((req, res))
        return res

    def posts(self) -> List[Tuple[HttpRequest, HttpResponse]]:
        return [(q, s) for q, s in self.exchanges if q.method == "POST"]


@dataclass
class Setup:
    zone: Zone
    issuer: str
    app_id: str  # the application that authenticates with an assertion
    resource_id: str  # API

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/oauth/token"


def now() -> int:
    return int(time.time())


def new_app(client: KeycardAPI, zone_id: str) -> str:
    return client.zones.applications.create(zone_id, identifier=f"app-{secrets.token_hex(4)}", name=unique_name("assertion app")).id


def new_workload_provider(
    client: KeycardAPI, zone_id: str, idp: LoopbackIssuer, *, jwks_uri: Optional[str] = None, issuer: Optional[str] = None,
    identifier_is_issuer: bool = False,
):
    """A provider trusting `idp`: `protocols.oauth2.issuer` (and `jwks_uri` when given), or, with
    identifier_is_issuer, no protocols at all and the issuer as the provider's identifier."""
    if identifier_is_issuer:
        return client.zones.providers.create(zone_id, identifier=issuer or idp.issuer, name=unique_name("workload idp"))
    oauth2: Dict[str, Any] = {"issuer": issuer or idp.issuer}
    if jwks_uri:
        oauth2["jwks_uri"] = jwks_uri
    return client.zones.providers.create(
        zone_id, identifier=f"idp-{secrets.token_hex(4)}", name=unique_name("workload idp"), protocols={"oauth2": oauth2}
    )


def new_token_credential(client: KeycardAPI, zone_id: str, app_id: str, provider_id: str, subject: Optional[str]) -> Token:
    kwargs = {"subject": subject} if subject is not None else {}
    c = client.zones.application_credentials.create(zone_id, type="token", application_id=app_id, provider_id=provider_id, **kwargs)
    assert isinstance(c, Token) and c.provider_id == provider_id, f"expected a token credential, got {c!r}"
    assert c.identifier == (subject if subject is not None else "*"), f"expected identifier {subject or '*'!r}, got {c.identifier!r}"
    return c


def new_public_key_credential(client: KeycardAPI, zone_id: str, app_id: str, jwks_uri: str) -> PublicKey:
    ident = f"pkjwt-{secrets.token_hex(5)}"
    c = client.zones.application_credentials.create(zone_id, type="public-key", application_id=app_id, jwks_uri=jwks_uri, identifier=ident)
    assert isinstance(c, PublicKey) and c.identifier == ident and c.jwks_uri == jwks_uri, f"expected a public-key credential, got {c!r}"
    return c


def self_signed(key: SigningKey, client_id: str, aud: Any, *, lifetime: int = 120, kid: Any = None, **extra: Any) -> str:
    """A private_key_jwt assertion (RFC 7523 §3): iss = sub = the client id, a fresh jti. DROP removes a claim."""
    t = now()
    claims: Dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": aud, "jti": str(uuid.uuid4()), "iat": t, "exp": t + lifetime}
    claims.update(extra)
    return key.sign({k: v for k, v in claims.items() if v is not DROP}, kid=kid)


def grant(issuer: str, assertion: str, *, client_id: Optional[str] = None, resource: str = API,
          rec: Optional[RecordingTransport] = None, scope: Optional[str] = None) -> TokenResponse:
    """`client_credentials_grant` with a jwt-bearer client assertion, through the library (no auth strategy)."""
    with Client(issuer, transport=rec) as c:
        return c.client_credentials_grant(
            resource=resource, scope=scope, client_assertion=assertion, client_assertion_type=JWT_BEARER, client_id=client_id,
        )


def refused(issuer: str, assertion: str, context: str, *, client_id: Optional[str] = None, status: int = 401,
            error: str = "invalid_client", resource: str = API, hint: Optional[str] = None) -> str:
    """The same grant must fail with `error` and `status`; returns the error description. `hint`, when given, must
    appear in the description (case-insensitive), to show which check refused the assertion."""
    rec = RecordingTransport()
    try:
        with Client(issuer, transport=rec) as c:
            e = expect_protocol_error(
                rec, status, error, context, c.client_credentials_grant,
                resource=resource, client_assertion=assertion, client_assertion_type=JWT_BEARER, client_id=client_id,
            )
    finally:
        rec.close()
    desc = e.error_description or ""
    if hint is not None:
        assert hint.lower() in desc.lower(), f"expected the error description ({context}) to mention {hint!r}, got {desc!r}"
    return desc


def assert_app_token(token: str, issuer: str, *, app_id: str, client_id: str, aud: str = API) -> Dict[str, Any]:
    """A client_credentials token issued to `app_id` through `client_id`, checked by its claims and TokenVerifier."""
    c = get_claims(token)
    assert c["iss"] == issuer, f"expected iss {issuer!r}, got {c['iss']!r}"
    assert c["sub"] == app_id, f"expected sub = the application id {app_id!r}, got {c['sub']!r}"
    assert c["client_id"] == client_id, f"expected client_id {client_id!r}, got {c['client_id']!r}"
    assert c.get("keycard_app_id") == app_id, f"expected keycard_app_id {app_id!r}, got {c.get('keycard_app_id')!r}"
    assert c.get("sub_profile") == "app", f"expected sub_profile 'app', got {c.get('sub_profile')!r}"
    assert c["aud"] == aud, f"expected aud {aud!r}, got {c['aud']!r}"
    at = verify(new_verifier(issuer, aud), token)
    assert (at.sub, at.client_id, at.keycard_app_id) == (app_id, client_id, app_id), at
    return c


def assertion_form(rec: RecordingTransport) -> Dict[str, str]:
    req, res = rec.last("POST")
    assert header(req.headers, "authorization") is None, f"expected no Authorization header with an assertion, sent {dict(req.headers)!r}"
    assert res.status == 200, f"expected 200, got {res.status}: {res.body[:500]!r}"
    return dict(parse_qsl(req.body.decode()))


def dead_url() -> str:
    """http://127.0.0.1:<a port nothing listens on>."""
    return f"http://127.0.0.1:{free_port()}"


def app_sessions(client: KeycardAPI, zone_id: str) -> List[IamApplicationSessionType]:
    page = client.zones.sessions.list(zone_id, session_type="application", limit=100)
    for s in page.items:
        assert isinstance(s, IamApplicationSessionType), f"expected IamApplicationSessionType items, got {type(s).__name__}: {s!r}"
    return list(page.items)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def zone(client: KeycardAPI) -> Zone:
    return client.zones.create(name=unique_name("assertions"))


@pytest.fixture
def setup(client: KeycardAPI, zone: Zone, server) -> Setup:
    issuer = zone.protocols.oauth2.issuer
    assert issuer == f"{server.public_url}/z/{zone.id}", f"expected issuer {server.public_url}/z/{zone.id}, got {issuer!r}"
    res = new_resource(client, zone.id, API, scopes=["read"])
    return Setup(zone, issuer, new_app(client, zone.id), res.id)


@pytest.fixture
def idp() -> Iterator[LoopbackIssuer]:
    with LoopbackIssuer() as i:
        yield i


@pytest.fixture
def rs() -> Iterator[LoopbackIssuer]:
    """A second loopback server: the client's own web server (JWKS, client documents, RFC 9728 metadata)."""
    with LoopbackIssuer() as i:
        yield i


@pytest.fixture
def rec() -> Iterator[RecordingTransport]:
    t = RecordingTransport()
    yield t
    t.close()


@dataclass
class Workload:
    provider_id: str
    credential: Token
    subject: str


@pytest.fixture
def workload(client: KeycardAPI, setup: Setup, idp: LoopbackIssuer) -> Workload:
    """A provider for the loopback issuer (keys found by OpenID discovery) and a token credential for one subject."""
    p = new_workload_provider(client, setup.zone.id, idp)
    subject = f"system:serviceaccount:agents:{secrets.token_hex(3)}"
    return Workload(p.id, new_token_credential(client, setup.zone.id, setup.app_id, p.id, subject), subject)


# =========================================================================== 1. workload identity


def test_workload_by_issuer_and_subject_without_client_id(setup, idp, workload, rec):
    token = idp.token(workload.subject, setup.token_endpoint)
    resp = grant(setup.issuer, token, rec=rec, scope="read")
    sent = assertion_form(rec)
    assert sent == {"grant_type": "client_credentials", "resource": API, "scope": "read", "client_assertion": token,
                    "client_assertion_type": JWT_BEARER}, f"unexpected form body {sent!r}"
    assert resp.token_type == "Bearer" and resp.scope == ["read"], resp
    c = assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=workload.credential.id)
    assert c.get("scope") == "read", c
    # The issuer's discovery document and JWKS were fetched once each.
    assert idp.hits(OPENID_CONFIGURATION) == 1 and idp.hits(JWKS_PATH) == 1, idp.paths()


def test_workload_with_client_id_credential_or_application(client, setup, idp, workload):
    token = idp.token(workload.subject, setup.token_endpoint)
    for cid in (workload.credential.id, setup.app_id):
        resp = grant(setup.issuer, token, client_id=cid)
        assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=workload.credential.id)
    # A client_id naming anything else (another application's credential, an unknown id) matches no credential.
    other_app = new_app(client, setup.zone.id)
    other = new_token_credential(client, setup.zone.id, other_app, workload.provider_id, "someone-else")
    for cid in (other.id, other_app, "zzzzzzzzzzzzzzzzzzzz"):
        refused(setup.issuer, token, f"workload token with client_id {cid}", client_id=cid, hint=workload.subject)


def test_workload_client_id_picks_among_matching_credentials(client, setup, idp, workload):
    """A credential naming the subject and a wildcard credential of another application both match: without
    client_id the one naming the subject wins; client_id (application id or credential id) selects the other."""
    app_b = new_app(client, setup.zone.id)
    cred_b = new_token_credential(client, setup.zone.id, app_b, workload.provider_id, None)
    token = idp.token(workload.subject, setup.token_endpoint)
    first = grant(setup.issuer, token)
    assert_app_token(first.access_token, setup.issuer, app_id=setup.app_id, client_id=workload.credential.id)
    for cid in (app_b, cred_b.id):
        b = grant(setup.issuer, token, client_id=cid)
        assert_app_token(b.access_token, setup.issuer, app_id=app_b, client_id=cred_b.id)


def test_workload_wildcard_subject(client, setup, idp, workload):
    """A credential without subject accepts any subject of its provider; a credential naming the subject wins."""
    app_any = new_app(client, setup.zone.id)
    any_cred = new_token_credential(client, setup.zone.id, app_any, workload.provider_id, None)
    for sub in ("repo:acme/app:ref:refs/heads/main", f"pod-{secrets.token_hex(3)}"):
        resp = grant(setup.issuer, idp.token(sub, setup.token_endpoint))
        assert_app_token(resp.access_token, setup.issuer, app_id=app_any, client_id=any_cred.id)
    specific = grant(setup.issuer, idp.token(workload.subject, setup.token_endpoint))
    assert_app_token(specific.access_token, setup.issuer, app_id=setup.app_id, client_id=workload.credential.id)


def test_workload_wrong_subject(setup, idp, workload):
    refused(setup.issuer, idp.token(workload.subject + "-x", setup.token_endpoint), "workload token for another subject",
            hint="no workload identity credential")


def test_workload_wrong_issuer(setup, idp, workload):
    # Another issuer's token for the same subject: no credential trusts that issuer.
    with LoopbackIssuer() as other:
        refused(setup.issuer, other.token(workload.subject, setup.token_endpoint), "token of an untrusted issuer",
                hint="no workload identity credential")
        # A token claiming the trusted issuer but signed with another key: unknown kid, then same kid.
        forged = idp.token(workload.subject, setup.token_endpoint, key=other.signing_key)
        refused(setup.issuer, forged, "trusted iss, unknown key", hint="signature")
        forged_same_kid = idp.token(workload.subject, setup.token_endpoint, key=other.signing_key, kid=idp.signing_key.kid)
        refused(setup.issuer, forged_same_kid, "trusted iss and kid, wrong key", hint="signature")
    # The issuer's own token still works afterwards.
    grant(setup.issuer, idp.token(workload.subject, setup.token_endpoint))


@pytest.mark.parametrize(
    "aud",
    [
        pytest.param("https://api.example.com", id="a-resource"),
        pytest.param("{issuer}/oauth/introspect", id="another-endpoint"),
        pytest.param("{issuer}/oauth/token/", id="token-endpoint-trailing-slash"),
        pytest.param("http://127.0.0.1:1/z/zzzzzzzzzzzzzzzzzzzz/oauth/token", id="another-zone"),
        pytest.param(["sts.amazonaws.com"], id="aws-default-audience"),
        pytest.param(DROP, id="missing"),
    ],
)
def test_workload_wrong_audience(setup, idp, workload, aud):
    if isinstance(aud, str):
        aud = aud.format(issuer=setup.issuer)
    refused(setup.issuer, idp.token(workload.subject, aud), f"workload token with aud {aud!r}", hint="aud")


@pytest.mark.parametrize("form", ["token_endpoint", "issuer", "issuer_slash", "list"])
def test_workload_accepted_audiences(setup, idp, workload, form):
    aud = {
        "token_endpoint": setup.token_endpoint,
        "issuer": setup.issuer,
        "issuer_slash": setup.issuer + "/",
        "list": ["sts.amazonaws.com", setup.token_endpoint],
    }[form]
    resp = grant(setup.issuer, idp.token(workload.subject, aud))
    assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=workload.credential.id)


def test_workload_times(setup, idp, workload):
    sub, aud, t = workload.subject, setup.token_endpoint, now()
    refused(setup.issuer, idp.token(sub, aud, iat=t - 600, exp=t - 120), "expired workload token", hint="expired")
    refused(setup.issuer, idp.token(sub, aud, exp=DROP), "workload token without exp", hint="exp")
    refused(setup.issuer, idp.token(sub, aud, nbf=t + 600, exp=t + 900), "workload token with nbf in the future", hint="nbf")
    refused(setup.issuer, idp.token(sub, aud, iat=t + 600, exp=t + 900), "workload token with iat in the future", hint="iat")
    refused(setup.issuer, idp.token(sub, aud, exp=str(t + 300)), "workload token with a string exp", hint="exp")
    # Within the clock leeway: just expired, nbf/iat a little ahead.
    grant(setup.issuer, idp.token(sub, aud, iat=t - 300, exp=t - (LEEWAY - 20)))
    grant(setup.issuer, idp.token(sub, aud, nbf=t + (LEEWAY - 20), iat=t + (LEEWAY - 20)))
    # Workload tokens are not bound by the private_key_jwt lifetime cap (projected tokens live up to a day).
    grant(setup.issuer, idp.token(sub, aud, lifetime=24 * 3600))


def test_workload_token_reuse_allowed(setup, idp, workload):
    """Platform tokens are bearer credentials re-read and re-sent until they expire: not single-use, with or
    without a jti."""
    for token in (idp.token(workload.subject, setup.token_endpoint), idp.token(workload.subject, setup.token_endpoint, jti=str(uuid.uuid4()))):
        jtis = set()
        for _ in range(3):
            resp = grant(setup.issuer, token)
            c = assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=workload.credential.id)
            jtis.add(c["jti"])
        assert len(jtis) == 3, f"expected a fresh access token each time, got jtis {jtis}"


def test_workload_jwks_via_oauth_metadata_when_no_openid_configuration(client, setup, idp):
    idp.openid_configuration = False
    p = new_workload_provider(client, setup.zone.id, idp)
    cred = new_token_credential(client, setup.zone.id, setup.app_id, p.id, "svc-a")
    resp = grant(setup.issuer, idp.token("svc-a", setup.token_endpoint))
    assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=cred.id)
    assert idp.hits(OPENID_CONFIGURATION) == 1 and idp.hits(OAUTH_METADATA) == 1 and idp.hits(JWKS_PATH) == 1, idp.paths()


def test_workload_jwks_uri_from_provider_skips_discovery(client, setup, idp):
    """protocols.oauth2.jwks_uri is used as is: no discovery document is fetched (here there is none)."""
    idp.openid_configuration = idp.oauth_metadata = False
    alt = idp.serve("/keys/alternate.json", idp.jwks())
    p = new_workload_provider(client, setup.zone.id, idp, jwks_uri=alt)
    cred = new_token_credential(client, setup.zone.id, setup.app_id, p.id, "svc-b")
    resp = grant(setup.issuer, idp.token("svc-b", setup.token_endpoint))
    assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=cred.id)
    assert idp.paths() == ["/keys/alternate.json"], f"expected only the provider's jwks_uri to be fetched, got {idp.paths()}"


def test_workload_jwks_via_discovery_is_cached(setup, idp, workload):
    for _ in range(3):
        grant(setup.issuer, idp.token(workload.subject, setup.token_endpoint))
    assert idp.paths() == [OPENID_CONFIGURATION, JWKS_PATH], f"expected one discovery and one JWKS fetch, got {idp.paths()}"


def test_workload_provider_identifier_as_issuer(client, setup, idp):
    p = new_workload_provider(client, setup.zone.id, idp, identifier_is_issuer=True)
    assert p.identifier == idp.issuer and (p.protocols is None or p.protocols.oauth2 is None), p
    cred = new_token_credential(client, setup.zone.id, setup.app_id, p.id, "svc-c")
    resp = grant(setup.issuer, idp.token("svc-c", setup.token_endpoint))
    assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=cred.id)


def test_workload_discovery_issuer_must_match_exactly(client, setup, idp):
    idp.discovery_issuer = idp.issuer + "/"  # OpenID Connect Discovery §4.3: the same string, exactly
    p = new_workload_provider(client, setup.zone.id, idp)
    new_token_credential(client, setup.zone.id, setup.app_id, p.id, "svc-d")
    refused(setup.issuer, idp.token("svc-d", setup.token_endpoint), "discovery document naming another issuer", hint="issuer")
    assert idp.hits(JWKS_PATH) == 0, f"expected the JWKS not to be fetched after an issuer mismatch, got {idp.paths()}"


def test_workload_issuer_unreachable_is_temporarily_unavailable(client, setup, idp):
    gone = dead_url()
    p = new_workload_provider(client, setup.zone.id, idp, issuer=gone)
    new_token_credential(client, setup.zone.id, setup.app_id, p.id, "svc-e")
    token = idp.token("svc-e", setup.token_endpoint, iss=gone)
    refused(setup.issuer, token, "issuer whose discovery cannot be fetched", status=503, error="temporarily_unavailable")
    # A jwks_uri that cannot be fetched (connection refused, or a 500) is the same.
    # So is one that redirects (outbound fetches follow no redirects): the target is never fetched.
    redirect = idp.serve("/moved-jwks", b"", status=302, headers={"Location": idp.jwks_uri})
    for jwks_uri in (dead_url() + "/jwks", idp.serve("/broken-jwks", {"error": "boom"}, status=500), redirect):
        p2 = new_workload_provider(client, setup.zone.id, idp, jwks_uri=jwks_uri)
        sub = f"svc-{secrets.token_hex(3)}"
        new_token_credential(client, setup.zone.id, setup.app_id, p2.id, sub)
        refused(setup.issuer, idp.token(sub, setup.token_endpoint), f"unreachable jwks_uri {jwks_uri}", status=503,
                error="temporarily_unavailable")
    assert idp.hits(JWKS_PATH) == 0, f"expected the redirect not to be followed, got {idp.paths()}"


def test_workload_issuer_with_path(client, setup):
    """Issuers with a path (EKS `https://oidc.eks.<region>.amazonaws.com/id/<id>`, Azure `.../<tenant>/v2.0`): the
    discovery document is `{issuer}/.well-known/openid-configuration`."""
    with LoopbackIssuer(issuer_path=f"/id/{secrets.token_hex(8).upper()}") as idp:
        p = new_workload_provider(client, setup.zone.id, idp)
        cred = new_token_credential(client, setup.zone.id, setup.app_id, p.id, "system:serviceaccount:default:agent")
        resp = grant(setup.issuer, idp.token("system:serviceaccount:default:agent", setup.token_endpoint))
        assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=cred.id)
        assert idp.paths() == [idp.issuer_path + OPENID_CONFIGURATION, idp.issuer_path + JWKS_PATH], idp.paths()


def test_deleted_credentials_stop_authenticating(client, setup, idp, workload, pk):
    grant(setup.issuer, idp.token(workload.subject, setup.token_endpoint))
    grant(setup.issuer, self_signed(pk.key, pk.client_id, setup.token_endpoint))
    client.zones.application_credentials.delete(workload.credential.id, zone_id=setup.zone.id)
    client.zones.application_credentials.delete(pk.credential.id, zone_id=setup.zone.id)
    time.sleep(LOOKUP_TTL)
    refused(setup.issuer, idp.token(workload.subject, setup.token_endpoint), "workload token after its credential was deleted")
    refused(setup.issuer, self_signed(pk.key, pk.client_id, setup.token_endpoint), "private_key_jwt after its credential was deleted")


def test_workload_key_rotation(setup, idp, workload):
    """A token with a kid the cached JWKS lacks makes the zone refetch it, at most once per 30 s per URL."""
    idp.jwks_cache_control = "max-age=3600"
    grant(setup.issuer, idp.token(workload.subject, setup.token_endpoint))
    fetched_at = time.monotonic()
    assert idp.hits(JWKS_PATH) == 1, idp.paths()

    new = idp.rotate()  # the old key stays published next to the new one
    token = idp.token(workload.subject, setup.token_endpoint)
    assert get_header(token)["kid"] == new.kid
    # Within 30 s of the last fetch the cached JWKS is not refetched: the new kid is unknown.
    refused(setup.issuer, token, "new kid within the refetch interval", hint="signature")
    assert idp.hits(JWKS_PATH) == 1, f"expected no JWKS refetch within {REFETCH_INTERVAL}s, got {idp.paths()}"

    time.sleep(max(0.0, fetched_at + REFETCH_INTERVAL + 1.5 - time.monotonic()))
    resp = grant(setup.issuer, idp.token(workload.subject, setup.token_endpoint))
    assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=workload.credential.id)
    assert idp.hits(JWKS_PATH) == 2, f"expected exactly one refetch for the new kid, got {idp.paths()}"
    # The old key is still published and still works; a token with an unknown kid right after the refetch does not
    # cause another fetch.
    grant(setup.issuer, idp.token(workload.subject, setup.token_endpoint, key=idp.published[0]))
    with LoopbackIssuer() as other:
        refused(setup.issuer, idp.token(workload.subject, setup.token_endpoint, key=other.signing_key), "unknown kid after a refetch")
    assert idp.hits(JWKS_PATH) == 2, idp.paths()


def test_workload_records_application_session(client, setup, idp, workload):
    assert app_sessions(client, setup.zone.id) == [], "expected no application session before any login"
    token = idp.token(workload.subject, setup.token_endpoint, lifetime=900)
    exp = get_claims(token)["exp"]
    grant(setup.issuer, token)
    grant(setup.issuer, idp.token(workload.subject, setup.token_endpoint, lifetime=900))

    sessions = app_sessions(client, setup.zone.id)
    assert len(sessions) == 1, f"expected one application session for one (application, provider, subject), got {sessions!r}"
    s = sessions[0]
    assert s.session_type == "application" and s.zone_id == setup.zone.id, s
    assert (s.application_id, s.provider_id, s.issuer, s.subject) == (setup.app_id, workload.provider_id, idp.issuer, workload.subject), s
    assert s.status == "active" and s.active is True, f"expected an active session, got {s.status!r}"
    assert abs(s.expires_at.timestamp() - exp) <= 60, f"expected the session to expire with the token ({exp}), got {s.expires_at}"
    assert s.authenticated_at is not None and abs(s.authenticated_at.timestamp() - time.time()) < 120, s.authenticated_at
    got = client.zones.sessions.retrieve(s.id, zone_id=setup.zone.id)
    assert isinstance(got, IamApplicationSessionType) and got.model_dump() == s.model_dump()
    # The unfiltered list shows it too (it is the zone's only session).
    assert [x.id for x in client.zones.sessions.list(setup.zone.id, limit=100).items] == [s.id]

    # Another subject (through a wildcard credential) is another session.
    app_any = new_app(client, setup.zone.id)
    new_token_credential(client, setup.zone.id, app_any, workload.provider_id, None)
    grant(setup.issuer, idp.token("other-subject", setup.token_endpoint))
    by_subject = {x.subject: x for x in app_sessions(client, setup.zone.id)}
    assert set(by_subject) == {workload.subject, "other-subject"}, by_subject
    assert by_subject["other-subject"].application_id == app_any

    # A refused login records nothing.
    refused(setup.issuer, idp.token("x", setup.token_endpoint, exp=now() - 300), "expired")
    assert len(app_sessions(client, setup.zone.id)) == 2


# =========================================================================== 2. private_key_jwt


@dataclass
class PrivateKeyClient:
    credential: PublicKey
    key: SigningKey

    @property
    def client_id(self) -> str:
        return self.credential.identifier


@pytest.fixture
def pk(client, setup, idp) -> PrivateKeyClient:
    """A public-key credential whose jwks_uri is the loopback server's JWKS."""
    return PrivateKeyClient(new_public_key_credential(client, setup.zone.id, setup.app_id, idp.jwks_uri), idp.signing_key)


def test_private_key_jwt(setup, pk, rec):
    assertion = self_signed(pk.key, pk.client_id, setup.token_endpoint)
    resp = grant(setup.issuer, assertion, rec=rec)
    sent = assertion_form(rec)
    assert sent == {"grant_type": "client_credentials", "resource": API, "client_assertion": assertion,
                    "client_assertion_type": JWT_BEARER}, sent
    assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=pk.client_id)
    # With client_id = the credential identifier, too.
    resp = grant(setup.issuer, self_signed(pk.key, pk.client_id, setup.token_endpoint), client_id=pk.client_id)
    assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=pk.client_id)


def test_private_key_jwt_client_id_mismatch(client, setup, pk):
    other = new_public_key_credential(client, setup.zone.id, setup.app_id, pk.credential.jwks_uri)
    refused(setup.issuer, self_signed(pk.key, pk.client_id, setup.token_endpoint), "client_id naming another client",
            client_id=other.identifier)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_private_key_jwt_other_algorithms(client, setup, alg):
    with LoopbackIssuer(alg=alg) as host:
        cred = new_public_key_credential(client, setup.zone.id, setup.app_id, host.jwks_uri)
        resp = grant(setup.issuer, self_signed(host.signing_key, cred.identifier, setup.token_endpoint))
        assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=cred.identifier)


def test_private_key_jwt_replay_refused(setup, pk):
    assertion = self_signed(pk.key, pk.client_id, setup.token_endpoint)
    grant(setup.issuer, assertion)
    refused(setup.issuer, assertion, "the same private_key_jwt assertion again", hint="already used")
    # Also when the second use carries client_id, or goes to another endpoint of the zone.
    refused(setup.issuer, assertion, "replay with client_id", client_id=pk.client_id, hint="already used")
    with httpx.Client(timeout=30.0, trust_env=False) as h:
        r = h.post(setup.issuer + "/oauth/introspect", data={"token": "x", "client_assertion": assertion, "client_assertion_type": JWT_BEARER})
    assert_raw_oauth_error(r, 401, "invalid_client", "replay at the introspection endpoint")
    # A fresh jti is fine.
    grant(setup.issuer, self_signed(pk.key, pk.client_id, setup.token_endpoint))


def test_private_key_jwt_concurrent_replay_accepts_one(setup, pk):
    """The jti is consumed atomically: of simultaneous requests with one assertion, exactly one gets a token."""
    assertion = self_signed(pk.key, pk.client_id, setup.token_endpoint)
    form = {"grant_type": "client_credentials", "resource": API, "client_assertion": assertion, "client_assertion_type": JWT_BEARER}
    barrier = threading.Barrier(8)

    def attempt(_: int) -> httpx.Response:
        with httpx.Client(timeout=30.0, trust_env=False) as h:
            barrier.wait()
            return h.post(setup.token_endpoint, data=form)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(attempt, range(8)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] + [401] * 7, f"expected exactly one 200 and seven 401, got {statuses}: {[r.text[:120] for r in answers]}"
    for r in answers:
        if r.status_code == 401:
            assert_raw_oauth_error(r, 401, "invalid_client", "concurrent replay")


def test_private_key_jwt_requires_jti(setup, pk):
    refused(setup.issuer, self_signed(pk.key, pk.client_id, setup.token_endpoint, jti=DROP), "no jti", hint="jti")
    refused(setup.issuer, self_signed(pk.key, pk.client_id, setup.token_endpoint, jti=""), "empty jti", hint="jti")


def test_private_key_jwt_lifetime_at_most_one_hour(setup, pk):
    refused(setup.issuer, self_signed(pk.key, pk.client_id, setup.token_endpoint, lifetime=MAX_SELF_SIGNED_LIFETIME + 120),
            "assertion valid for more than an hour", hint="hour")
    resp = grant(setup.issuer, self_signed(pk.key, pk.client_id, setup.token_endpoint, lifetime=MAX_SELF_SIGNED_LIFETIME - 60))
    assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=pk.client_id)


def test_private_key_jwt_wrong_key(setup, pk):
    stranger = SigningKey()
    refused(setup.issuer, self_signed(stranger, pk.client_id, setup.token_endpoint, kid=pk.key.kid), "same kid, other key", hint="signature")
    refused(setup.issuer, self_signed(stranger, pk.client_id, setup.token_endpoint), "unknown kid", hint="signature")
    refused(setup.issuer, self_signed(stranger, pk.client_id, setup.token_endpoint, kid=DROP), "no kid, other key", hint="signature")
    # Without a kid, the right key is found among the JWKS's keys.
    resp = grant(setup.issuer, self_signed(pk.key, pk.client_id, setup.token_endpoint, kid=DROP))
    assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=pk.client_id)
    # A payload changed after signing does not verify.
    good = self_signed(pk.key, pk.client_id, setup.token_endpoint)
    h, p, s = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["exp"] += 60
    tampered = ".".join([h, base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode(), s])
    refused(setup.issuer, tampered, "tampered payload", hint="signature")


def test_jwks_keys_for_another_use_or_algorithm_are_not_used(client, setup, rs):
    key = SigningKey()
    for label, jwk in (("use enc", {**key.public(), "use": "enc"}), ("alg RS512", {**key.public(), "alg": "RS512"}),
                       ("kty EC", {**SigningKey(alg="ES256").public(), "kid": key.kid})):
        uri = rs.serve(f"/jwks-{secrets.token_hex(3)}.json", {"keys": [jwk]})
        cred = new_public_key_credential(client, setup.zone.id, setup.app_id, uri)
        refused(setup.issuer, self_signed(key, cred.identifier, setup.token_endpoint), f"JWKS whose only key has {label}", hint="signature")
    # The same key without those restrictions verifies.
    uri = rs.serve("/jwks-ok.json", {"keys": [{k: v for k, v in key.public().items() if k not in ("use", "alg")}]})
    cred = new_public_key_credential(client, setup.zone.id, setup.app_id, uri)
    resp = grant(setup.issuer, self_signed(key, cred.identifier, setup.token_endpoint))
    assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=cred.identifier)


def test_unsigned_and_symmetric_assertions_refused(setup, pk, idp, workload):
    t = now()
    for who, sub in ((pk.client_id, pk.client_id), (idp.issuer, workload.subject)):
        claims = {"iss": who, "sub": sub, "aud": setup.token_endpoint, "jti": str(uuid.uuid4()), "iat": t, "exp": t + 60}
        refused(setup.issuer, unsigned_token(claims), f"alg none ({who})", hint="alg")
        refused(setup.issuer, hs256_token(claims), f"HS256 ({who})", hint="alg")
    # Asymmetric algorithms other than RS256/ES256/EdDSA, properly signed with the client's RSA key (the same key
    # material, without its `alg` restriction).
    claims = {"iss": pk.client_id, "sub": pk.client_id, "aud": setup.token_endpoint, "jti": str(uuid.uuid4()), "iat": t, "exp": t + 60}
    unrestricted = RSAKey.import_key({k: v for k, v in pk.key.key.as_dict(private=True).items() if k not in ("alg", "use")})
    for alg in ("RS512", "PS256"):
        signed = jwt.encode({"alg": alg, "kid": pk.key.kid}, claims, unrestricted, algorithms=[alg])
        refused(setup.issuer, signed, f"alg {alg}", hint="alg")
    for garbage in ("not-a-jwt", "a.b.c", "e30.e30.", self_signed(pk.key, pk.client_id, setup.token_endpoint) + "x"):
        refused(setup.issuer, garbage, f"malformed assertion {garbage[:20]!r}")


def test_private_key_jwt_jwks_unreachable(client, setup):
    cred = new_public_key_credential(client, setup.zone.id, setup.app_id, dead_url() + "/jwks")
    key = SigningKey()
    refused(setup.issuer, self_signed(key, cred.identifier, setup.token_endpoint), "unreachable client JWKS", status=503,
            error="temporarily_unavailable")


def test_password_credential_cannot_sign_assertions(client, setup, pk):
    _, cid, _ = new_client_credential(client, setup.zone.id)
    refused(setup.issuer, self_signed(pk.key, cid, setup.token_endpoint), "iss = sub = a password credential",
            hint="does not authenticate with a client assertion")
    # An identifier nobody registered (not a URL) is not a client either.
    refused(setup.issuer, self_signed(pk.key, "nobody-" + secrets.token_hex(3), setup.token_endpoint), "unknown client id")


@pytest.mark.parametrize("form", ["token_endpoint", "issuer", "issuer_slash", "list"])
def test_private_key_jwt_accepted_audiences(setup, pk, form):
    aud = {"token_endpoint": setup.token_endpoint, "issuer": setup.issuer, "issuer_slash": setup.issuer + "/",
           "list": [API, setup.token_endpoint]}[form]
    resp = grant(setup.issuer, self_signed(pk.key, pk.client_id, aud))
    assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=pk.client_id)


def test_private_key_jwt_wrong_audience_and_times(client, setup, pk):
    other_zone = client.zones.create(name=unique_name("assertions other"))
    t = now()
    cases = [
        ("aud = another zone's token endpoint", dict(aud=other_zone.protocols.oauth2.token_endpoint), "aud"),
        ("aud = the API", dict(aud=API), "aud"),
        ("no aud", dict(aud=DROP), "aud"),
        ("expired", dict(iat=t - 600, exp=t - 120), "expired"),
        ("no exp", dict(exp=DROP), "exp"),
        ("nbf in the future", dict(nbf=t + 300), "nbf"),
        ("iat in the future", dict(iat=t + 300, exp=t + 400), "iat"),
    ]
    for context, extra, hint in cases:
        aud = extra.pop("aud", setup.token_endpoint)
        refused(setup.issuer, self_signed(pk.key, pk.client_id, aud, **extra), context, hint=hint)
    # iss != sub is not private_key_jwt (and matches no workload credential either).
    refused(setup.issuer, self_signed(pk.key, pk.client_id, setup.token_endpoint, sub="someone-else"), "iss != sub")


def test_assertion_request_form_errors(setup, pk):
    assertion = self_signed(pk.key, pk.client_id, setup.token_endpoint)
    base = {"grant_type": "client_credentials", "resource": API, "client_assertion": assertion}
    r = token_post(setup.issuer, {**base, "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"})
    assert_raw_oauth_error(r, 400, "invalid_request", "wrong client_assertion_type")
    r = token_post(setup.issuer, base)
    assert_raw_oauth_error(r, 400, "invalid_request", "client_assertion without client_assertion_type")
    r = token_post(setup.issuer, {**base, "client_assertion_type": JWT_BEARER}, auth=("someone", "secret"))
    assert_raw_oauth_error(r, 400, "invalid_request", "assertion and Basic together")
    r = token_post(setup.issuer, {**base, "client_assertion_type": JWT_BEARER, "client_secret": "x", "client_id": pk.client_id})
    assert_raw_oauth_error(r, 400, "invalid_request", "assertion and client_secret together")
    # None of these consumed the jti: the assertion still works once.
    r = token_post(setup.issuer, {**base, "client_assertion_type": JWT_BEARER})
    assert r.status_code == 200, f"expected 200, got {r.status_code}: {r.text[:300]!r}"
    assert get_claims(r.json()["access_token"])["client_id"] == pk.client_id


# =========================================================================== 3. URL credentials


def test_url_credential_with_jwks_uri(client, setup, rs):
    key = rs.signing_key
    ident = f"{rs.url}/clients/{secrets.token_hex(3)}/metadata.json"
    rs.serve(ident[len(rs.url):], {"client_id": ident, "client_name": "Agent", "jwks_uri": rs.jwks_uri})
    cred = client.zones.application_credentials.create(setup.zone.id, type="url", application_id=setup.app_id, identifier=ident)
    assert isinstance(cred, URL) and cred.identifier == ident, cred
    assertion = self_signed(key, ident, setup.token_endpoint)
    resp = grant(setup.issuer, assertion)
    assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=ident)
    refused(setup.issuer, assertion, "url credential assertion replayed", hint="already used")
    refused(setup.issuer, self_signed(SigningKey(), ident, setup.token_endpoint, kid=key.kid), "url credential, wrong key", hint="signature")
    # With client_id = the URL.
    resp = grant(setup.issuer, self_signed(key, ident, setup.token_endpoint), client_id=ident)
    assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=ident)
    assert rs.hits(ident[len(rs.url):]) == 1 and rs.hits(JWKS_PATH) == 1, rs.paths()


def test_url_credential_with_inline_jwks(client, setup, rs):
    key = SigningKey(alg="ES256")
    path = f"/clients/{secrets.token_hex(3)}.json"
    ident = rs.serve(path, {"client_id": rs.url + path, "jwks": {"keys": [key.public()]}})
    client.zones.application_credentials.create(setup.zone.id, type="url", application_id=setup.app_id, identifier=ident)
    resp = grant(setup.issuer, self_signed(key, ident, setup.token_endpoint))
    assert_app_token(resp.access_token, setup.issuer, app_id=setup.app_id, client_id=ident)
    refused(setup.issuer, self_signed(SigningKey(alg="ES256"), ident, setup.token_endpoint, kid=key.kid), "inline jwks, wrong key", hint="signature")


def test_url_credential_document_problems(client, setup, rs):
    key = rs.signing_key
    no_keys = rs.serve("/clients/nokeys.json", {"client_name": "no keys"})
    client.zones.application_credentials.create(setup.zone.id, type="url", application_id=setup.app_id, identifier=no_keys)
    refused(setup.issuer, self_signed(key, no_keys, setup.token_endpoint), "document without jwks_uri or jwks", hint="jwks")
    missing = rs.url + "/clients/missing.json"  # 404
    client.zones.application_credentials.create(setup.zone.id, type="url", application_id=setup.app_id, identifier=missing)
    refused(setup.issuer, self_signed(key, missing, setup.token_endpoint), "document that cannot be fetched", status=503,
            error="temporarily_unavailable")


# =========================================================================== 4. unregistered protected-resource URL identities (WebIdentity)


@dataclass
class McpServer:
    """An MCP server (an application providing R1 = {rs.url}/mcp) that authenticates with keycardai-oauth's
    WebIdentity, with no credential registered in the zone."""

    app_id: str
    resource: str  # R1
    resource_id: str
    client_url: str  # R = {rs.url}/.well-known/oauth-protected-resource/mcp, its URL client identity
    web_identity: WebIdentity


def prm_url(resource_base: str, path: str) -> str:
    """The URL keycardai-starlette/-mcp use as the client id (starlette/middleware/bearer.py
    `_get_oauth_protected_resource_url`)."""
    return str(AnyHttpUrl(f"{resource_base}{PRM}/{path.strip('/')}"))


def publish_web_identity(rs: LoopbackIssuer, wid: WebIdentity, path: str, issuer: str) -> str:
    """Serve what a keycardai resource server publishes: its JWKS at /.well-known/jwks.json and the RFC 9728 document
    naming it (starlette/handlers/metadata.py)."""
    resource = f"{rs.url}/{path}"
    jwks_url = wid.get_client_jwks_url(resource)
    assert jwks_url == rs.url + "/.well-known/jwks.json", jwks_url
    rs.serve("/.well-known/jwks.json", wid.get_jwks().model_dump(exclude_none=True))
    rs.serve(f"{PRM}/{path}", {"resource": resource, "authorization_servers": [issuer + "/"], "jwks_uri": jwks_url,
                               "bearer_methods_supported": ["header"]})
    return prm_url(rs.url, path)


@pytest.fixture
def mcp(client, setup, rs, tmp_path) -> McpServer:
    app_id = new_app(client, setup.zone.id)
    r1 = new_resource(client, setup.zone.id, f"{rs.url}/mcp", application_id=app_id)
    wid = WebIdentity(server_name="Billing MCP", storage_dir=str(tmp_path / "server_keys"))
    url = publish_web_identity(rs, wid, "mcp", setup.issuer)
    assert url == f"{rs.url}{PRM}/mcp", url
    return McpServer(app_id, r1.identifier, r1.id, url, wid)


def test_web_identity_client_credentials(setup, mcp, rs, rec):
    # The assertion exactly as WebIdentity signs it (PrivateKeyManager.create_client_assertion).
    assertion = mcp.web_identity.identity_manager.create_client_assertion(issuer=mcp.client_url, audience=setup.token_endpoint)
    h, c = get_header(assertion), get_claims(assertion)
    assert h == {"alg": "RS256", "typ": "JWT", "kid": "Billing_MCP"}, h
    assert c["iss"] == c["sub"] == mcp.client_url and c["aud"] == setup.token_endpoint and c["exp"] - c["iat"] == 300, c
    resp = grant(setup.issuer, assertion, rec=rec)
    assert "client_id" not in assertion_form(rec)
    assert_app_token(resp.access_token, setup.issuer, app_id=mcp.app_id, client_id=mcp.client_url)
    assert rs.hits(f"{PRM}/mcp") == 1 and rs.hits("/.well-known/jwks.json") == 1, rs.paths()
    refused(setup.issuer, assertion, "WebIdentity assertion replayed", hint="already used")


def run_exchange(issuer: str, credential: Any, subject_token: str, resources: List[str], *, auth_info: Optional[Dict[str, Any]] = None,
                 scope: Optional[str] = None) -> Tuple[AccessContext, AsyncRecordingTransport]:
    """What keycardai-mcp/-starlette's `@grant` runs: an AsyncClient with the credential's auth strategy, then
    `exchange_tokens_for_resources(application_credential=credential)`."""
    transport = AsyncRecordingTransport()

    async def go() -> AccessContext:
        async with AsyncClient(issuer, auth=credential.get_http_client_auth(), transport=transport) as c:
            ctx = await exchange_tokens_for_resources(
                client=c, resources=resources, subject_token=subject_token, access_context=AccessContext(),
                application_credential=credential, auth_info=auth_info, request_scopes=scope,
            )
        await transport.aclose()
        return ctx

    return asyncio.run(go()), transport


def caller_token(client: KeycardAPI, setup: Setup, resource: str) -> Tuple[str, str]:
    """(caller application id, its client_credentials token for `resource`): the subject token of an exchange."""
    app_id, cid, secret = new_client_credential(client, setup.zone.id)
    with Client(setup.issuer, auth=BasicAuth(cid, secret)) as c:
        return app_id, c.client_credentials_grant(resource=resource).access_token


def assert_exchanged(ctx: AccessContext, transport: AsyncRecordingTransport, setup: Setup, *, caller: str, actor_app: str,
                     client_id: str, sent_client_id: Optional[str]) -> Dict[str, Any]:
    assert not ctx.has_errors(), f"expected the exchange to succeed, got errors {ctx.get_errors()!r}"
    posts = transport.posts()
    assert len(posts) == 1, [q.url for q, _ in posts]
    req, res = posts[0]
    assert req.url == setup.token_endpoint and res.status == 200, (req.url, res.status, res.body[:300])
    assert header(req.headers, "authorization") is None, f"expected no Authorization header, sent {dict(req.headers)!r}"
    sent = dict(parse_qsl(req.body.decode()))
    assert sent.get("grant_type") == GRANT_TOKEN_EXCHANGE and sent.get("client_assertion_type") == JWT_BEARER, sent
    assert sent.get("client_id") == sent_client_id, f"expected client_id {sent_client_id!r} in the form, sent {sent!r}"
    token = ctx.access(API).access_token
    c = get_claims(token)
    assert c["sub"] == caller, f"expected sub = the caller {caller!r}, got {c['sub']!r}"
    assert c.get("act") == {"sub": actor_app}, f"expected act {{'sub': {actor_app!r}}}, got {c.get('act')!r}"
    assert c.get("keycard_app_id") == actor_app and c["client_id"] == client_id, c
    assert c["aud"] == API and c.get("scope") == "read", c
    at = verify(new_verifier(setup.issuer, API, required_scopes=["read"]), token)
    assert at.client_id == client_id and at.sub == caller, at
    return c


def test_web_identity_token_exchange(client, setup, mcp):
    client.zones.applications.dependencies.add(setup.resource_id, zone_id=setup.zone.id, id=mcp.app_id, when_accessing=[mcp.resource_id])
    caller, subject = caller_token(client, setup, mcp.resource)
    auth_info = {"access_token": subject, "zone_id": None, "resource_client_id": mcp.client_url, "resource_server_url": mcp.client_url}
    ctx, transport = run_exchange(setup.issuer, mcp.web_identity, subject, [API], auth_info=auth_info, scope="read")
    assert_exchanged(ctx, transport, setup, caller=caller, actor_app=mcp.app_id, client_id=mcp.client_url, sent_client_id=None)
    sent = dict(parse_qsl(transport.posts()[0][0].body.decode()))
    a = get_claims(sent["client_assertion"])
    assert a["iss"] == a["sub"] == mcp.client_url and a["aud"] == setup.token_endpoint, a
    # Each exchange signs a new assertion (new jti), so a second one works too.
    ctx, transport = run_exchange(setup.issuer, mcp.web_identity, subject, [API], auth_info=auth_info, scope="read")
    assert_exchanged(ctx, transport, setup, caller=caller, actor_app=mcp.app_id, client_id=mcp.client_url, sent_client_id=None)


def test_web_identity_refused_without_providing_application(client, setup, rs, tmp_path):
    new_resource(client, setup.zone.id, f"{rs.url}/orphan")  # no application_id
    wid = WebIdentity(server_name="orphan", storage_dir=str(tmp_path / "k"))
    url = publish_web_identity(rs, wid, "orphan", setup.issuer)
    a = wid.identity_manager.create_client_assertion(issuer=url, audience=setup.token_endpoint)
    refused(setup.issuer, a, "PRM URL of a resource no application provides")
    assert rs.hits() == 0, f"expected nothing to be fetched for an unknown client, got {rs.paths()}"


def test_web_identity_refused_for_resource_outside_the_zone(client, setup, rs, tmp_path):
    # The resource (and its providing application) exist, but in another zone.
    other = client.zones.create(name=unique_name("assertions elsewhere"))
    other_app = new_app(client, other.id)
    new_resource(client, other.id, f"{rs.url}/elsewhere", application_id=other_app)
    wid = WebIdentity(server_name="elsewhere", storage_dir=str(tmp_path / "k"))
    url = publish_web_identity(rs, wid, "elsewhere", setup.issuer)
    refused(setup.issuer, wid.identity_manager.create_client_assertion(issuer=url, audience=setup.token_endpoint),
            "PRM URL of a resource of another zone")
    # ... and a PRM URL for which no resource exists at all, and a URL that is not a PRM URL of a zone resource.
    refused(setup.issuer, wid.identity_manager.create_client_assertion(issuer=prm_url(rs.url, "nothing"), audience=setup.token_endpoint),
            "PRM URL of no resource")
    assert rs.hits() == 0, f"expected nothing to be fetched for an unknown client, got {rs.paths()}"


def test_web_identity_other_key_refused(client, setup, mcp, tmp_path):
    """Only the keys the resource's own metadata names count: another WebIdentity (another key pair under the same
    kid) cannot speak for the resource."""
    impostor = WebIdentity(server_name="Billing MCP", storage_dir=str(tmp_path / "impostor"))
    a = impostor.identity_manager.create_client_assertion(issuer=mcp.client_url, audience=setup.token_endpoint)
    refused(setup.issuer, a, "WebIdentity assertion signed with another key", hint="signature")


# =========================================================================== 5. token exchange with WorkloadIdentity


@pytest.fixture
def exchange_setup(client, setup) -> Tuple[str, str]:
    """R1 (an MCP resource) provided by the workload's application, which depends on API when accessing R1; returns
    (R1 identifier, R1 id)."""
    r1 = new_resource(client, setup.zone.id, "https://mcp.example.com/mcp", application_id=setup.app_id)
    client.zones.applications.dependencies.add(setup.resource_id, zone_id=setup.zone.id, id=setup.app_id, when_accessing=[r1.id])
    return r1.identifier, r1.id


def test_workload_identity_token_exchange_file_source(client, setup, idp, workload, exchange_setup, tmp_path):
    r1, _ = exchange_setup
    caller, subject = caller_token(client, setup, r1)
    token_file = tmp_path / "token"
    token_file.write_text(idp.token(workload.subject, setup.token_endpoint) + "\n")
    cred = WorkloadIdentity(FileTokenSource(token_file_path=str(token_file)), client_id=workload.credential.id)
    ctx, transport = run_exchange(setup.issuer, cred, subject, [API], scope="read")
    assert_exchanged(ctx, transport, setup, caller=caller, actor_app=setup.app_id, client_id=workload.credential.id,
                     sent_client_id=workload.credential.id)
    sent = dict(parse_qsl(transport.posts()[0][0].body.decode()))
    assert sent["client_assertion"] == token_file.read_text().strip() and sent["subject_token_type"] == AT_TYPE, sent
    # The platform rotates the file; the library re-reads it on every exchange.
    token_file.write_text(idp.token(workload.subject, setup.token_endpoint, lifetime=600))
    ctx, transport = run_exchange(setup.issuer, cred, subject, [API], scope="read")
    assert_exchanged(ctx, transport, setup, caller=caller, actor_app=setup.app_id, client_id=workload.credential.id,
                     sent_client_id=workload.credential.id)
    assert len(app_sessions(client, setup.zone.id)) == 1


def test_workload_identity_token_exchange_callable_without_client_id(client, setup, idp, workload, exchange_setup):
    r1, _ = exchange_setup
    caller, subject = caller_token(client, setup, r1)

    async def platform_token() -> str:
        return idp.token(workload.subject, setup.token_endpoint)

    ctx, transport = run_exchange(setup.issuer, WorkloadIdentity(platform_token), subject, [API], scope="read")
    assert_exchanged(ctx, transport, setup, caller=caller, actor_app=setup.app_id, client_id=workload.credential.id, sent_client_id=None)
    # client_id = the application id works too.
    ctx, transport = run_exchange(setup.issuer, WorkloadIdentity(platform_token, client_id=setup.app_id), subject, [API], scope="read")
    assert_exchanged(ctx, transport, setup, caller=caller, actor_app=setup.app_id, client_id=workload.credential.id, sent_client_id=setup.app_id)


def test_workload_identity_token_exchange_refusals(client, setup, idp, workload, exchange_setup):
    r1, _ = exchange_setup
    caller, subject = caller_token(client, setup, r1)
    # Wrong subject: invalid_client reaches the application through the access context.
    ctx, _ = run_exchange(setup.issuer, WorkloadIdentity(lambda: idp.token("intruder", setup.token_endpoint)), subject, [API])
    err = ctx.get_resource_error(API)
    assert err and err.get("code") == "invalid_client" and err.get("retryable") is False, f"expected invalid_client, got {err!r}"
    # Authenticated, but the workload's application has no dependency on another resource: access_denied.
    new_resource(client, setup.zone.id, "https://other.example.com")
    ctx, _ = run_exchange(setup.issuer, WorkloadIdentity(lambda: idp.token(workload.subject, setup.token_endpoint)), subject,
                          ["https://other.example.com"])
    err = ctx.get_resource_error("https://other.example.com")
    assert err and err.get("code") == "access_denied", f"expected access_denied, got {err!r}"
    # The raw form (contract B.2): same answers with their statuses.
    form = {"grant_type": GRANT_TOKEN_EXCHANGE, "resource": API, "subject_token": subject, "subject_token_type": AT_TYPE,
            "client_assertion_type": JWT_BEARER}
    r = token_post(setup.issuer, {**form, "client_assertion": idp.token("intruder", setup.token_endpoint)})
    assert_raw_oauth_error(r, 401, "invalid_client", "exchange with an untrusted workload subject")
    r = token_post(setup.issuer, {**form, "client_assertion": idp.token(workload.subject, setup.token_endpoint, exp=now() - 300)})
    assert_raw_oauth_error(r, 401, "invalid_client", "exchange with an expired workload token")
    r = token_post(setup.issuer, {**form, "client_assertion": idp.token(workload.subject, setup.token_endpoint), "client_id": workload.credential.id})
    assert r.status_code == 200, f"expected 200, got {r.status_code}: {r.text[:300]!r}"
    assert get_claims(r.json()["access_token"])["sub"] == caller


# =========================================================================== 6. introspection and revocation


def test_introspect_and_revoke_with_assertions(setup, idp, workload, pk):
    endpoint = setup.issuer + "/oauth"
    issued = grant(setup.issuer, self_signed(pk.key, pk.client_id, setup.token_endpoint)).access_token

    def post(path: str, token: str, assertion: str) -> httpx.Response:
        with httpx.Client(timeout=30.0, follow_redirects=False, trust_env=False) as h:
            return h.post(f"{endpoint}/{path}", data={"token": token, "client_assertion_type": JWT_BEARER, "client_assertion": assertion})

    # Introspection by a workload (its token may be reused).
    wl = idp.token(workload.subject, setup.token_endpoint)
    r = post("introspect", issued, wl)
    assert r.status_code == 200 and r.json().get("active") is True and r.json().get("client_id") == pk.client_id, r.text[:300]
    # Only the client a token was issued to may revoke it.
    r = post("revoke", issued, wl)
    assert_raw_oauth_error(r, 400, "unauthorized_client", "revocation by another client")
    r = post("revoke", issued, self_signed(pk.key, pk.client_id, setup.token_endpoint))
    assert r.status_code == 200, f"expected the issuing client to revoke its token, got {r.status_code}: {r.text[:300]!r}"
    r = post("introspect", issued, wl)
    assert r.status_code == 200 and r.json() == {"active": False}, r.text[:300]
    # A refused assertion at these endpoints is invalid_client too.
    r = post("introspect", issued, idp.token("intruder", setup.token_endpoint))
    assert_raw_oauth_error(r, 401, "invalid_client", "introspection with an untrusted workload token")
