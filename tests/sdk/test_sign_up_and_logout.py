"""Self sign-up, RP-initiated logout, prompt=none and the no-redirect rules of the authorization endpoint, driven
with raw HTTP against the real server on SQLite and PostgreSQL (issue #12). The official-client flows are in
test_user_login.py; the real browser in test_browser_login.py."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(location: str) -> dict:
    return dict(parse_qsl(urlsplit(location).query))


def txn_of(page: str) -> str:
    return re.search(r'name="txn" value="([^"]+)"', page).group(1)


@pytest.fixture
def open_zone(http):
    """A zone anyone may sign up to, with a web application that has a public credential."""
    z = http.post("/zones", json={"name": "Open " + secrets.token_hex(3), "requires_invitation": False}).json()["id"]
    app = http.post(f"/zones/{z}/applications", json={
        "identifier": "web-" + secrets.token_hex(3), "name": "Web App",
        "protocols": {"oauth2": {"redirect_uris": ["http://127.0.0.1/cb"],
                                 "post_logout_redirect_uris": ["http://127.0.0.1/bye"]}},
    }).json()
    client_id = "web-public-" + secrets.token_hex(3)
    r = http.post(f"/zones/{z}/application-credentials",
                  json={"type": "public", "application_id": app["id"], "identifier": client_id})
    assert r.status_code == 201, r.text
    return z, client_id


def test_sign_up_then_sign_out_ends_the_session_and_its_refresh_tokens(server, http, open_zone):
    z, client_id = open_zone
    iss = f"{server.base_url}/z/{z}"
    verifier, challenge = pkce()
    # A loopback redirect URI of an application matches on any port (RFC 8252 §7.3).
    redirect = "http://127.0.0.1:5555/cb"
    q = dict(response_type="code", client_id=client_id, redirect_uri=redirect, state="s1", code_challenge=challenge,
             code_challenge_method="S256", scope="openid email")
    with httpx.Client(follow_redirects=False, trust_env=False) as browser:
        page = browser.get(iss + "/oauth/authorize", params=q)
        assert page.status_code == 200 and "Create an account" in page.text
        link = html.unescape(re.search(r'href="([^"]*signup[^"]*)"', page.text).group(1))
        form = browser.get(link)
        assert form.status_code == 200, form.text
        txn = txn_of(form.text)
        short = browser.post(iss + "/oauth/signup", data={"txn": txn, "email": "new@example.com", "password": "short"})
        assert short.status_code == 400 and "at least 8" in short.text
        done = browser.post(iss + "/oauth/signup",
                            data={"txn": txn, "email": "New@Example.com", "password": "long enough pw"})
        assert done.status_code == 303, done.text
        qs = query_of(done.headers["location"])
        assert qs["state"] == "s1" and qs["iss"] == iss
        users = http.get(f"/zones/{z}/users").json()["items"]
        assert [u["email"] for u in users] == ["new@example.com"] and users[0]["email_verified"] is False
        t = httpx.post(iss + "/oauth/token", data={"grant_type": "authorization_code", "code": qs["code"],
                                                   "redirect_uri": redirect, "client_id": client_id,
                                                   "code_verifier": verifier}).json()
        assert {"access_token", "id_token", "refresh_token"} <= set(t), t
        # Signing up again with the same email is refused without saying more than sign-in would.
        again = browser.post(iss + "/oauth/signup", data={"txn": txn, "email": "new@example.com", "password": "another pw!"})
        assert again.status_code == 400 and "already exists" in again.text

        # prompt=none with a live session: straight to a code.
        silent = browser.get(iss + "/oauth/authorize", params=dict(q, prompt="none"))
        assert silent.status_code == 303 and "code" in query_of(silent.headers["location"])

        # RP-initiated logout: the registered return address, with state; the cookie is removed.
        out = browser.get(iss + "/oauth/logout", params={"id_token_hint": t["id_token"],
                                                         "post_logout_redirect_uri": "http://127.0.0.1/bye",
                                                         "state": "bye"})
        assert out.status_code == 303 and out.headers["location"] == "http://127.0.0.1/bye?state=bye"
        assert "kz_session=;" in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
        # …and every refresh token of that sign-in is dead.
        r = httpx.post(iss + "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": t["refresh_token"],
                                                   "client_id": client_id})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
        # prompt=none without a session now: login_required, with state and iss.
        silent = browser.get(iss + "/oauth/authorize", params=dict(q, prompt="none"))
        qs = query_of(silent.headers["location"])
        assert qs["error"] == "login_required" and qs["state"] == "s1" and qs["iss"] == iss
        # A return address that is not registered is never redirected to.
        out = browser.get(iss + "/oauth/logout", params={"client_id": client_id,
                                                         "post_logout_redirect_uri": "https://evil.example/"})
        assert out.status_code == 400 and "location" not in out.headers


def test_the_authorization_endpoint_redirects_only_to_registered_addresses(server, open_zone):
    z, client_id = open_zone
    iss = f"{server.base_url}/z/{z}"
    _, challenge = pkce()
    base = dict(response_type="code", client_id=client_id, redirect_uri="http://127.0.0.1/cb", state="s",
                code_challenge=challenge, code_challenge_method="S256")
    with httpx.Client(follow_redirects=False, trust_env=False) as c:
        for bad in ({"client_id": "nobody"}, {"redirect_uri": "https://evil.example/cb"},
                    {"redirect_uri": "http://127.0.0.1/other"}):
            r = c.get(iss + "/oauth/authorize", params=dict(base, **bad))
            assert 400 <= r.status_code < 500 and "location" not in r.headers, (bad, r.status_code)
            assert r.headers["content-type"].startswith("text/html")
            assert r.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in r.headers["content-security-policy"]
        for bad, error in (({"code_challenge_method": "plain"}, "invalid_request"),
                           ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
                           ({"response_type": "token"}, "unsupported_response_type"),
                           ({"scope": "openid no-such-scope"}, "invalid_scope"),
                           ({"resource": "https://not-a-resource.example"}, "invalid_target")):
            params = {k: v for k, v in dict(base, **bad).items() if v is not None}
            r = c.get(iss + "/oauth/authorize", params=params)
            assert r.status_code == 303, (bad, r.text[:200])
            qs = query_of(r.headers["location"])
            assert r.headers["location"].startswith("http://127.0.0.1/cb?")
            assert (qs["error"], qs["state"], qs["iss"]) == (error, "s", iss), (bad, qs)


def test_a_forged_or_foreign_transaction_is_refused(server, open_zone):
    z, client_id = open_zone
    iss = f"{server.base_url}/z/{z}"
    _, challenge = pkce()
    q = dict(response_type="code", client_id=client_id, redirect_uri="http://127.0.0.1/cb", state="s",
             code_challenge=challenge, code_challenge_method="S256", scope="openid")
    with httpx.Client(follow_redirects=False, trust_env=False) as alice, \
            httpx.Client(follow_redirects=False, trust_env=False) as mallory:
        txn = txn_of(alice.get(iss + "/oauth/authorize", params=q).text)
        mallory.get(iss + "/oauth/authorize", params=q)  # has a browser cookie of its own
        for who, t in ((mallory, txn), (alice, txn[:-4] + "AAAA"), (alice, "not base64 !")):
            r = who.post(iss + "/oauth/login", data={"txn": t, "email": "a@b.example", "password": "whatever1"})
            assert r.status_code == 400 and "expired" in r.text and "location" not in r.headers


def test_failed_sign_ins_are_throttled_without_revealing_accounts(server, http, open_zone):
    """After 5 failures for one account (or one address) in a zone, further attempts are refused for a while —
    with the same answer whether or not the account exists."""
    z, client_id = open_zone
    iss = f"{server.base_url}/z/{z}"
    r = http.post(f"/zones/{z}/users", json={"email": "grace@example.com", "password": "the right one"})
    assert r.status_code == 201, r.text
    _, challenge = pkce()
    q = dict(response_type="code", client_id=client_id, redirect_uri="http://127.0.0.1/cb", state="s",
             code_challenge=challenge, code_challenge_method="S256", scope="openid")
    with httpx.Client(follow_redirects=False, trust_env=False) as c:
        txn = txn_of(c.get(iss + "/oauth/authorize", params=q).text)
        texts = []
        for email in ("grace@example.com", "nobody@example.com"):
            for _ in range(2):
                r = c.post(iss + "/oauth/login", data={"txn": txn, "email": email, "password": "wrong wrong"})
                assert r.status_code == 401 and "location" not in r.headers
                texts.append(re.search(r'role="alert">([^<]+)<', r.text).group(1))
        assert len(set(texts)) == 1, texts  # unknown and known accounts read the same
        for _ in range(2):
            c.post(iss + "/oauth/login", data={"txn": txn, "email": "grace@example.com", "password": "wrong wrong"})
        # Now even the right password is refused, for this address in this zone.
        r = c.post(iss + "/oauth/login", data={"txn": txn, "email": "grace@example.com", "password": "the right one"})
        assert r.status_code == 401 and "Too many failed attempts" in r.text, r.text[:300]
