"""The zone's authorization server driven by a second, independent and strict OAuth client: oauth4webapi (panva), in
Node, pinned in tests/js/package.json and package-lock.json (installed into tests/js/node_modules by
scripts/sdk-tests.sh with `npm ci`).

This file sets up a zone through the management API (an application with a password and a public credential and a
loopback redirect URI, two resources, a third provided by an application with consent "required", a person) and runs
`node --test` on tests/js/*.test.js with the zone's issuer, the credentials and the person in the environment; the JS
tests say what they check: oauth4webapi.test.js the machine flows (discovery with the exact issuer, client_credentials
with client_secret_basic and client_secret_post, RFC 9068 validation of the RS256 access token, introspection,
revocation, errors); oauth4webapi-login.test.js a person signing in (issue #12, client contract D.11.4 case 8): the
authorization-code flow as a strict OpenID relying party, with the login driven from Node by tests/js/headless-login.js
(PKCE S256, state, nonce, max_age, RFC 9207 iss, the ID token, userinfo, refresh rotation and reuse, a denial, a
confidential client with client_secret_basic).

The credential is chosen so that its secret contains `-` or `_`: RFC 6749 §2.3.1 has a client form-urlencode the
client id and secret before Basic authentication, and strict clients like oauth4webapi encode those two characters
(`%2D`, `%5F`), so the header differs from the raw secret. (Generated secrets are base64url; most contain one.)

Node missing: skipped with a loud message, or a failure when CI=true.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
from keycardai_api import KeycardAPI

from sdk_support import unique_name
from test_oauth_client import new_resource
from test_user_login import new_user

JS_DIR = Path(__file__).resolve().parents[1] / "js"
API = "https://api.example.com"
OTHER = "https://other.example.com"
LOGIN_RESOURCE = "https://login.example.com/api"
# The application registers the port-less loopback URI, so any port matches (RFC 8252 §7.3); nothing listens on it.
REGISTERED_REDIRECT = "http://127.0.0.1/callback"
REDIRECT = "http://127.0.0.1:47613/callback"
NODE_TIMEOUT_S = 180
MAX_CREDENTIAL_TRIES = 40


def _node() -> str:
    node = shutil.which("node")
    if node:
        return node
    msg = "node is not installed: the oauth4webapi conformance tests (tests/js) cannot run"
    if os.environ.get("CI") in ("true", "1"):
        pytest.fail(msg + " (CI=true: node is required)", pytrace=False)
    print(f"\n{'=' * 70}\n  SKIPPED: {msg}\n{'=' * 70}", file=sys.stderr)
    pytest.skip(msg)


def _js_tests() -> List[str]:
    files = sorted(p.name for p in JS_DIR.glob("*.test.js"))
    assert files, f"expected JS tests (*.test.js) in {JS_DIR}"
    installed = JS_DIR / "node_modules" / "oauth4webapi" / "package.json"
    assert installed.is_file(), (
        f"oauth4webapi is not installed in {JS_DIR}/node_modules: run the suite with scripts/sdk-tests.sh "
        f"(it runs `npm ci` there), or `cd {JS_DIR} && npm ci`"
    )
    return files


def _credential_with_encoded_chars(client: KeycardAPI, zone_id: str, app_id: str):
    """A password credential whose secret contains `-` or `_` (see the module docstring)."""
    seen = []
    for _ in range(MAX_CREDENTIAL_TRIES):
        cred = client.zones.application_credentials.create(zone_id, type="password", application_id=app_id)
        assert cred.identifier and cred.password, f"expected a password credential with its secret, got {cred!r}"
        if re.search(r"[-_]", cred.password):
            return cred
        seen.append(cred.password)
    pytest.fail(f"expected some of {MAX_CREDENTIAL_TRIES} generated secrets to contain '-' or '_', got {seen!r}")


@pytest.fixture
def js_env(server, client: KeycardAPI, http) -> Dict[str, str]:
    zone = client.zones.create(name=unique_name("oauth4webapi"))
    issuer = zone.protocols.oauth2.issuer
    assert issuer == f"{server.public_url}/z/{zone.id}", f"expected issuer {server.public_url}/z/{zone.id}, got {issuer!r}"
    app = client.zones.applications.create(
        zone.id, identifier="oauth4webapi-client", name=unique_name("oauth4webapi app"),
        protocols={"oauth2": {"redirect_uris": [REGISTERED_REDIRECT]}},
    )
    cred = _credential_with_encoded_chars(client, zone.id, app.id)
    public = client.zones.application_credentials.create(zone.id, type="public", application_id=app.id)
    assert public.identifier, f"expected a public credential with an identifier, got {public!r}"
    new_resource(client, zone.id, API, scopes=["read"])
    new_resource(client, zone.id, OTHER)
    # The resource people sign in for belongs to an application that asks them (the consent page).
    provider = client.zones.applications.create(
        zone.id, identifier="oauth4webapi-api", name=unique_name("oauth4webapi api"), consent="required",
    )
    new_resource(client, zone.id, LOGIN_RESOURCE, application_id=provider.id)
    user = new_user(http, zone.id, name="Ada Example")
    return {
        "KEYZONE_ISSUER": issuer,
        "KEYZONE_CLIENT_ID": cred.identifier,
        "KEYZONE_CLIENT_SECRET": cred.password,
        "KEYZONE_APP_ID": app.id,
        "KEYZONE_RESOURCE": API,
        "KEYZONE_RESOURCE2": OTHER,
        "KEYZONE_PUBLIC_CLIENT_ID": public.identifier,
        "KEYZONE_REDIRECT_URI": REDIRECT,
        "KEYZONE_LOGIN_RESOURCE": LOGIN_RESOURCE,
        "KEYZONE_USER_ID": user["id"],
        "KEYZONE_USER_EMAIL": user["email"],
        "KEYZONE_USER_PASSWORD": user["password"],
    }


def test_oauth4webapi(js_env):
    node = _node()
    files = _js_tests()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYZONE_")}
    env.update(js_env)
    try:
        # One process per file, side by side: the login file spends most of its time waiting out the zone's refresh
        # reuse grace window, which the other file's tests can fill.
        res = subprocess.run(
            [node, "--test", f"--test-concurrency={len(files)}", *files],
            cwd=str(JS_DIR),
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"node --test {' '.join(files)} did not finish within {NODE_TIMEOUT_S}s; output:\n{e.stdout}\n{e.stderr}", pytrace=False)
    out = res.stdout + ("\n--- stderr ---\n" + res.stderr if res.stderr.strip() else "")
    failed = [line for line in res.stdout.splitlines() if line.startswith("not ok")]
    assert res.returncode == 0, (
        f"node --test {' '.join(files)} (in {JS_DIR}) exited {res.returncode}; failed: {failed}\n"
        f"environment: {js_env}\n{out}"
    )
    assert re.search(r"^# pass [1-9]", res.stdout, re.M) and re.search(r"^# fail 0$", res.stdout, re.M), out
