"""RFC 8693 token exchange and RFC 7591 dynamic client registration at the zone's authorization server, driven by the
official Keycard OAuth client library, keycardai-oauth 0.33.2, unchanged (client contract Part B.2, B.3; Part C items
20, 22, 25; docs/authorization-server.md "Token exchange" and "Dynamic client registration"; docs/directory.md, the
dependency rule).

What is exercised:
  * the setup of docs/authorization-server.md "Token exchange by an MCP server" through the management SDK: an MCP
    application providing R1, an upstream resource R2, a dependency mcp -> R2 when accessing R1, a caller application
    whose client_credentials token for R1 is the subject token;
  * `exchange_token(...)` with the MCP application's own credential (BasicAuth), checked with the library's
    `TokenVerifier` and by its claims (sub, act, client_id, keycard_app_id, exp <= the subject's exp);
  * the unauthenticated exchange the official MCP/Starlette servers send (no client auth, no client_id), through the
    library (`NoneAuth`, `TokenExchangeRequest` exactly as keycardai/oauth/server/token_exchange.py builds it) and
    through raw httpx;
  * denials: no dependency, `when_accessing` unmet, a subject token that is not a live token, impersonation with
    `impersonate(...)` (the unsigned substitute-user token);
  * DCR with `register_client(...)`, with the keycardai-mcp body (explicit nulls) via raw httpx, and the zone's
    `dcr_enabled` off switch.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Dict
from urllib.parse import parse_qsl

import httpx
import pytest
from keycardai_api import KeycardAPI
from keycardai_api.types import Zone

from keycardai.oauth import BasicAuth, Client, NoneAuth, OAuthProtocolError
from keycardai.oauth.types.models import TokenExchangeRequest
from keycardai.oauth.types.oauth import TokenType
from keycardai.oauth.utils.jwt import get_claims, get_header

from sdk_support import unique_name
from test_oauth_client import (
    GRANT_TOKEN_EXCHANGE,
    RecordingTransport,
    assert_raw_oauth_error,
    expect_invalid_token,
    expect_protocol_error,
    header,
    jwks_of,
    new_client_credential,
    new_resource,
    new_verifier,
    token_post,
    verify,
)

MCP = "https://mcp.example.com/mcp"
API = "https://api.example.com"
OTHER = "https://other.example.com"
AT_TYPE = "urn:ietf:params:oauth:token-type:access_token"
SU_TYPE = "urn:keycard:params:oauth:token-type:substitute-user"
REGISTER_PATH = "/oauth/register"
UA_CLIENT_ID_RE = re.compile(r"^ua:[0-9a-f]{64}$")
# Zone setting changes reach the OAuth endpoints within 1 s.
ZONE_SETTINGS_TTL = 1.2


# --------------------------------------------------------------------------- setup


@dataclass
class Exchange:
    zone: Zone
    issuer: str
    mcp_app_id: str
    mcp_client_id: str
    mcp_secret: str
    r1_id: str
    r2_id: str
    caller_app_id: str
    caller_client_id: str
    caller_secret: str
    subject: str  # the caller's client_credentials token for R1 (MCP)

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/oauth/token"

    @property
    def registration_endpoint(self) -> str:
        return self.issuer + REGISTER_PATH


@pytest.fixture
def zone(client: KeycardAPI) -> Zone:
    return client.zones.create(name=unique_name("oauth exchange"))


@pytest.fixture
def issuer(server, zone: Zone) -> str:
    iss = zone.protocols.oauth2.issuer
    assert iss == f"{server.public_url}/z/{zone.id}", f"expected issuer {server.public_url}/z/{zone.id}, got {iss!r}"
    return iss


@pytest.fixture
def rec() -> RecordingTransport:
    t = RecordingTransport()
    yield t
    t.close()


def client_credentials_token(issuer: str, client_id: str, secret: str, resource: str) -> str:
    with Client(issuer, auth=BasicAuth(client_id, secret)) as c:
        return c.client_credentials_grant(resource=resource).access_token


@pytest.fixture
def ex(client: KeycardAPI, zone: Zone, issuer: str) -> Exchange:
    mcp_app_id, mcp_cid, mcp_secret = new_client_credential(client, zone.id)
    r1 = new_resource(client, zone.id, MCP, application_id=mcp_app_id)
    assert r1.application_id == mcp_app_id, f"expected R1 to be provided by the mcp application, got {r1!r}"
    r2 = new_resource(client, zone.id, API, scopes=["read"])
    client.zones.applications.dependencies.add(r2.id, zone_id=zone.id, id=mcp_app_id, when_accessing=[r1.id])
    caller_app_id, caller_cid, caller_secret = new_client_credential(client, zone.id)
    subject = client_credentials_token(issuer, caller_cid, caller_secret, MCP)
    return Exchange(zone, issuer, mcp_app_id, mcp_cid, mcp_secret, r1.id, r2.id, caller_app_id, caller_cid, caller_secret, subject)


def assert_exchanged_claims(token: str, ex: Exchange, *, client_id: str) -> Dict[str, Any]:
    c = get_claims(token)
    s = get_claims(ex.subject)
    assert c["iss"] == ex.issuer, f"expected iss {ex.issuer!r}, got {c['iss']!r}"
    assert c["aud"] == API, f"expected aud {API!r}, got {c['aud']!r}"
    assert c["sub"] == s["sub"] == ex.caller_app_id, (
        f"expected sub to stay the subject token's sub {s['sub']!r} (the caller app {ex.caller_app_id!r}), got {c['sub']!r}"
    )
    assert c.get("act") == {"sub": ex.mcp_app_id}, f"expected act {{'sub': {ex.mcp_app_id!r}}}, got {c.get('act')!r}"
    assert c["client_id"] == client_id, f"expected client_id {client_id!r}, got {c['client_id']!r}"
    assert c.get("keycard_app_id") == ex.mcp_app_id, f"expected keycard_app_id {ex.mcp_app_id!r}, got {c.get('keycard_app_id')!r}"
    assert c.get("sub_profile") == "app", f"expected sub_profile 'app' (the subject is an app token), got {c.get('sub_profile')!r}"
    assert c.get("scope") == "read", f"expected scope 'read', got {c.get('scope')!r}"
    assert isinstance(c.get("jti"), str) and c["jti"] and c["jti"] != s.get("jti"), f"expected a fresh jti, got {c.get('jti')!r}"
    assert c["exp"] <= s["exp"], f"expected exp {c['exp']} <= the subject token's exp {s['exp']}"
    return c


def assert_exchange_response(raw: Dict[str, Any], token: str) -> None:
    assert raw.get("issued_token_type") == AT_TYPE, f"expected issued_token_type {AT_TYPE!r}, got {raw!r:.300}"
    assert raw.get("token_type") == "Bearer", f"expected token_type Bearer, got {raw.get('token_type')!r}"
    exp = get_claims(token)["exp"]
    ei = raw.get("expires_in")
    assert isinstance(ei, int) and not isinstance(ei, bool), f"expected expires_in to be a JSON number, got {ei!r}"
    assert abs((time.time() + ei) - exp) < 5, f"expected expires_in ({ei}) to be the time left until exp ({exp})"


# --------------------------------------------------------------------------- 1. setup


def test_setup_subject_token_and_dependency(client, ex):
    dep = client.zones.applications.dependencies.retrieve(ex.r2_id, zone_id=ex.zone.id, id=ex.mcp_app_id)
    assert list(dep.when_accessing or []) == [ex.r1_id], f"expected the dependency to carry when_accessing [R1], got {dep!r}"
    at = verify(new_verifier(ex.issuer, MCP), ex.subject)
    assert at.sub == ex.caller_app_id and at.client_id == ex.caller_client_id, at
    c = get_claims(ex.subject)
    assert c["aud"] == MCP and "act" not in c, f"expected a plain app token for R1, got {c!r}"


# --------------------------------------------------------------------------- 2. authenticated exchange


def test_exchange_token_basic_auth(ex, rec):
    with Client(ex.issuer, auth=BasicAuth(ex.mcp_client_id, ex.mcp_secret), transport=rec) as c:
        resp = c.exchange_token(
            resource=API,
            scope="read",
            subject_token=ex.subject,
            subject_token_type=TokenType.ACCESS_TOKEN,
        )
    req, res = rec.last("POST")
    assert req.url == ex.token_endpoint, f"expected the exchange to go to {ex.token_endpoint}, went to {req.url!r}"
    assert (header(req.headers, "authorization") or "").startswith("Basic "), "expected the library to send Basic auth"
    sent = dict(parse_qsl(req.body.decode()))
    assert sent == {
        "grant_type": GRANT_TOKEN_EXCHANGE,
        "resource": API,
        "scope": "read",
        "subject_token": ex.subject,
        "subject_token_type": AT_TYPE,
    }, f"unexpected form body {sent!r}"
    assert res.status == 200, f"expected 200, got {res.status}: {res.body[:500]!r}"
    assert header(res.headers, "cache-control") == "no-store", f"expected Cache-Control: no-store, got {dict(res.headers)!r}"
    assert_exchange_response(json.loads(res.body), resp.access_token)
    assert resp.issued_token_type == TokenType.ACCESS_TOKEN, resp
    assert resp.scope == ["read"], resp

    at = verify(new_verifier(ex.issuer, API, required_scopes=["read"]), resp.access_token)
    assert at.sub == ex.caller_app_id and at.client_id == ex.mcp_client_id and at.keycard_app_id == ex.mcp_app_id, at
    assert at.resource == API, at
    assert_exchanged_claims(resp.access_token, ex, client_id=ex.mcp_client_id)
    # The new token is for R2 only: a verifier for R1 rejects it.
    expect_invalid_token(new_verifier(ex.issuer, MCP), resp.access_token, "audience R1")
    kids = [k["kid"] for k in jwks_of(ex.issuer)["keys"]]
    assert get_header(resp.access_token).get("kid") in kids


def test_exchange_nested_act(client, ex):
    """Exchanging an exchanged token nests the previous act inside the new one (RFC 8693 §4.1)."""
    with Client(ex.issuer, auth=BasicAuth(ex.mcp_client_id, ex.mcp_secret)) as c:
        first = c.exchange_token(resource=API, scope="read", subject_token=ex.subject, subject_token_type=TokenType.ACCESS_TOKEN)
    # A second application that depends on a third resource without condition exchanges the first result.
    app2_id, app2_cid, app2_secret = new_client_credential(client, ex.zone.id)
    r3 = new_resource(client, ex.zone.id, OTHER)
    client.zones.applications.dependencies.add(r3.id, zone_id=ex.zone.id, id=app2_id)
    with Client(ex.issuer, auth=BasicAuth(app2_cid, app2_secret)) as c:
        second = c.exchange_token(resource=OTHER, subject_token=first.access_token, subject_token_type=TokenType.ACCESS_TOKEN)
    c2 = get_claims(second.access_token)
    assert c2["sub"] == ex.caller_app_id, f"expected sub to stay {ex.caller_app_id!r}, got {c2['sub']!r}"
    assert c2.get("act") == {"sub": app2_id, "act": {"sub": ex.mcp_app_id}}, f"expected a nested act, got {c2.get('act')!r}"
    assert c2["client_id"] == app2_cid and c2["aud"] == OTHER, c2
    assert c2["exp"] <= get_claims(first.access_token)["exp"] <= get_claims(ex.subject)["exp"]


# --------------------------------------------------------------------------- 3. unauthenticated exchange


def test_exchange_unauthenticated_library(ex, rec):
    # Exactly as keycardai/oauth/server/token_exchange.py builds it when no application credential is configured.
    with Client(ex.issuer, auth=NoneAuth(), transport=rec) as c:
        req_model = TokenExchangeRequest(subject_token=ex.subject, resource=API, subject_token_type=AT_TYPE, scope="read")
        resp = c.exchange_token(req_model)
    req, res = rec.last("POST")
    assert header(req.headers, "authorization") is None, f"expected no Authorization header, got {dict(req.headers)!r}"
    sent = dict(parse_qsl(req.body.decode()))
    assert "client_id" not in sent and "client_assertion" not in sent, f"expected no client identification, sent {sent!r}"
    assert res.status == 200, f"expected 200, got {res.status}: {res.body[:500]!r}"
    assert_exchange_response(json.loads(res.body), resp.access_token)
    verify(new_verifier(ex.issuer, API), resp.access_token)
    c = assert_exchanged_claims(resp.access_token, ex, client_id=ex.mcp_app_id)
    assert c["act"]["sub"] == ex.mcp_app_id


def test_exchange_unauthenticated_raw(ex):
    # Contract B.2 "token exchange, no credential configured": no auth, no client_id, urlencoded form.
    r = token_post(
        ex.issuer,
        {
            "grant_type": GRANT_TOKEN_EXCHANGE,
            "resource": API,
            "scope": "read",
            "subject_token": ex.subject,
            "subject_token_type": AT_TYPE,
        },
        headers={"Accept": "application/json", "User-Agent": "Keycard-OAuth/0.0.1"},
    )
    assert r.status_code == 200, f"expected 200, got {r.status_code}: {r.text[:500]!r}"
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    assert_exchange_response(body, body["access_token"])
    c = assert_exchanged_claims(body["access_token"], ex, client_id=ex.mcp_app_id)
    assert c["act"] == {"sub": ex.mcp_app_id}


# --------------------------------------------------------------------------- 4. denials


def test_exchange_denied_without_dependency(ex, rec):
    # The caller application has no dependency on R2 (docs: "The billing agent itself cannot make this exchange").
    with Client(ex.issuer, auth=BasicAuth(ex.caller_client_id, ex.caller_secret), transport=rec) as c:
        e = expect_protocol_error(
            rec, 400, "access_denied", "exchange by an application without the dependency",
            c.exchange_token, resource=API, subject_token=ex.subject, subject_token_type=TokenType.ACCESS_TOKEN,
        )
    assert e.error_description and "dependencies" in e.error_description, (
        f"expected the description to name the dependency PUT, got {e.error_description!r}"
    )


def test_exchange_denied_when_accessing_unmet(client, ex, rec):
    # A subject token issued for another resource (not in when_accessing) does not satisfy the dependency.
    new_resource(client, ex.zone.id, OTHER)
    other_subject = client_credentials_token(ex.issuer, ex.caller_client_id, ex.caller_secret, OTHER)
    assert get_claims(other_subject)["aud"] == OTHER
    with Client(ex.issuer, auth=BasicAuth(ex.mcp_client_id, ex.mcp_secret), transport=rec) as c:
        expect_protocol_error(
            rec, 400, "access_denied", "exchange of a subject token outside when_accessing",
            c.exchange_token, resource=API, subject_token=other_subject, subject_token_type=TokenType.ACCESS_TOKEN,
        )


def test_exchange_garbage_subject_token(client, ex, rec):
    # RFC 8693 §2.2.2: an invalid subject_token gets `invalid_request`, which is what the server answers.
    # (docs/authorization-server.md says `invalid_grant` for this case: the documentation disagrees with the server.)
    with Client(ex.issuer, auth=BasicAuth(ex.mcp_client_id, ex.mcp_secret), transport=rec) as c:
        expect_protocol_error(
            rec, 400, "invalid_request", "garbage subject token",
            c.exchange_token, resource=API, subject_token="not-a-token", subject_token_type=TokenType.ACCESS_TOKEN,
        )
    r = token_post(
        ex.issuer,
        {"grant_type": GRANT_TOKEN_EXCHANGE, "resource": API, "subject_token": "not-a-token", "subject_token_type": AT_TYPE},
    )
    assert_raw_oauth_error(r, 400, "invalid_request", "garbage subject token, unauthenticated")
    # A live token of another zone is not a live token of this one.
    z2 = client.zones.create(name=unique_name("oauth exchange other"))
    _, cid2, secret2 = new_client_credential(client, z2.id)
    new_resource(client, z2.id, MCP)
    foreign = client_credentials_token(z2.protocols.oauth2.issuer, cid2, secret2, MCP)
    r = token_post(
        ex.issuer,
        {"grant_type": GRANT_TOKEN_EXCHANGE, "resource": API, "subject_token": foreign, "subject_token_type": AT_TYPE},
        auth=(ex.mcp_client_id, ex.mcp_secret),
    )
    assert_raw_oauth_error(r, 400, "invalid_request", "subject token of another zone")


def test_exchange_missing_subject_token(ex):
    r = token_post(ex.issuer, {"grant_type": GRANT_TOKEN_EXCHANGE, "resource": API}, auth=(ex.mcp_client_id, ex.mcp_secret))
    assert_raw_oauth_error(r, 400, "invalid_request", "token exchange without subject_token")


def test_impersonate_denied(ex, rec):
    user = f"user-{secrets.token_hex(3)}@example.com"
    with Client(ex.issuer, auth=BasicAuth(ex.mcp_client_id, ex.mcp_secret), transport=rec) as c:
        e = expect_protocol_error(
            rec, 400, "access_denied", "impersonation",
            c.impersonate, user_identifier=user, resource=API, scope="read",
        )
    req, _ = rec.last("POST")
    sent = dict(parse_qsl(req.body.decode()))
    assert sent["subject_token_type"] == SU_TYPE and sent["subject_token"].endswith("."), sent
    assert user in (e.error_description or ""), f"expected the description to name the user {user!r}, got {e.error_description!r}"


# --------------------------------------------------------------------------- 5. dynamic client registration


MCP_DCR_BODY = {
    "client_name": "MCP Client - billing",
    "client_uri": None,
    "logo_uri": None,
    "tos_uri": None,
    "policy_uri": None,
    "software_id": None,
    "software_version": None,
    "jwks_uri": None,
    "jwks": None,
    "token_endpoint_auth_method": "none",
    "redirect_uris": ["http://localhost:53682/callback"],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "scope": None,
}


def register_raw(ex: Exchange, body: Any) -> httpx.Response:
    with httpx.Client(timeout=30.0, follow_redirects=False, trust_env=False) as h:
        return h.post(ex.registration_endpoint, json=body)


def test_register_client_library(ex, rec):
    redirect = f"http://localhost:{8000 + secrets.randbelow(1000)}/callback"
    with Client(ex.issuer, transport=rec) as c:
        resp = c.register_client(
            client_name="Keycard OAuth Client",
            redirect_uris=[redirect],
            grant_types=["authorization_code", "refresh_token", GRANT_TOKEN_EXCHANGE],
            token_endpoint_auth_method="none",
        )
    req, res = rec.last("POST")
    assert req.url == ex.registration_endpoint, f"expected the discovered registration endpoint, went to {req.url!r}"
    assert res.status == 201, f"expected 201, got {res.status}: {res.body[:500]!r}"
    assert UA_CLIENT_ID_RE.match(resp.client_id), f"expected client_id ua:<64 hex>, got {resp.client_id!r}"
    assert list(resp.redirect_uris or []) == [redirect], f"expected redirect_uris echoed, got {resp.redirect_uris!r}"
    assert resp.client_secret is None and "client_secret" not in (resp.raw or {}), f"expected no client secret, got {resp.raw!r}"
    assert (resp.raw or {}).get("token_endpoint_auth_method") == "none", resp.raw


def test_register_mcp_body_stable_then_disabled(client, ex, rec):
    first = register_raw(ex, MCP_DCR_BODY)
    assert first.status_code == 201, f"expected 201, got {first.status_code}: {first.text[:500]!r}"
    b1 = first.json()
    assert UA_CLIENT_ID_RE.match(b1.get("client_id", "")), f"expected client_id ua:<64 hex>, got {b1!r}"
    assert b1.get("redirect_uris") == MCP_DCR_BODY["redirect_uris"], f"expected redirect_uris echoed, got {b1!r}"
    assert "client_secret" not in b1, f"expected no client_secret for a none client, got {b1!r}"
    assert header(first.headers, "cache-control") == "no-store", dict(first.headers)
    second = register_raw(ex, MCP_DCR_BODY)
    assert second.status_code == 201, f"expected 201 again, got {second.status_code}: {second.text[:500]!r}"
    b2 = second.json()
    assert b2["client_id"] == b1["client_id"], f"expected the same client_id for the same metadata: {b1['client_id']} vs {b2['client_id']}"
    # Different metadata -> a different client.
    other = register_raw(ex, {**MCP_DCR_BODY, "redirect_uris": ["http://localhost:53683/callback"]})
    assert other.status_code == 201 and other.json()["client_id"] != b1["client_id"], other.text[:300]

    client.zones.update(ex.zone.id, protocols={"oauth2": {"dcr_enabled": False}})
    time.sleep(ZONE_SETTINGS_TTL)
    off = register_raw(ex, MCP_DCR_BODY)
    assert_raw_oauth_error(off, 403, "access_denied", "DCR with dcr_enabled false")
    with Client(ex.issuer, transport=rec) as c:
        expect_protocol_error(
            rec, 403, "access_denied", "register_client with dcr_enabled false",
            c.register_client, client_name="Keycard OAuth Client", redirect_uris=["http://localhost:8080/callback"],
            token_endpoint_auth_method="none",
        )
