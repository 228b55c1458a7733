"""Prepares the sign-in benchmark (scripts/bench-signin.sh): a zone with a user, a DCR public client and an MCP
resource; signs the user in once (tests/sdk/headless_login.py), then writes what wrk replays:

  refresh.txt   one refresh token per line (no `openid`: a refresh is one signature and one durable write)
  codes.txt     one authorization code per line (scope `openid`: redemption signs an access and an ID token)
  env.sh        TOKEN, CLIENT_ID, VERIFIER, REDIRECT, RESOURCE, AUTHORIZE_URL, BROWSER_COOKIE for the shell

Usage: signin_setup.py prepare BASE_URL API_KEY OUT_DIR REFRESH_COUNT   (zone, user, client, refresh.txt, env.sh)
       signin_setup.py codes OUT_DIR CODE_COUNT                          (codes.txt; codes live 60 s: make them last)
"""

import base64
import hashlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "sdk"))
from headless_login import login, new_browser  # noqa: E402


def authorize_url(st, scope):
    q = {"response_type": "code", "client_id": st["client_id"], "redirect_uri": st["redirect"], "state": "s",
         "code_challenge": st["challenge"], "code_challenge_method": "S256", "resource": st["resource"], "scope": scope}
    if "openid" in scope:
        q["nonce"] = "n"
    return f"{st['issuer']}/oauth/authorize?{urlencode(q)}"


def code(st, scope):
    # The browser session and the remembered consent answer at once with a redirect.
    with httpx.Client(cookies=st["cookies"], timeout=30) as b:
        r = b.get(authorize_url(st, scope))
    assert r.status_code in (302, 303), (r.status_code, r.text[:300])
    return parse_qs(urlsplit(r.headers["location"]).query)["code"][0]


def write_lines(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def prepare(base, api_key, out, n_refresh):
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)

    def post(path, body):
        r = api.post(path, json=body)
        r.raise_for_status()
        return r.json()

    zone = post("/zones", {"name": "Bench", "protocols": {"oauth2": {"dcr_enabled": True}}})["id"]
    issuer = f"{base}/z/{zone}"
    mcp = post(f"/zones/{zone}/applications", {"identifier": "mcp", "name": "MCP"})["id"]
    resource = "https://mcp.example.com/mcp"
    post(f"/zones/{zone}/resources", {"identifier": resource, "name": "MCP", "application_id": mcp})
    email, password = "bench@example.com", "a bench password 1"
    post(f"/zones/{zone}/users", {"email": email, "password": password, "email_verified": True})
    redirect = "http://127.0.0.1:9/callback"
    reg = httpx.post(f"{issuer}/oauth/register", json={
        "redirect_uris": [redirect], "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"], "token_endpoint_auth_method": "none", "client_name": "Bench client"})
    reg.raise_for_status()
    verifier = base64.urlsafe_b64encode(os.urandom(48)).decode().rstrip("=")
    st = {"issuer": issuer, "client_id": reg.json()["client_id"], "redirect": redirect, "resource": resource,
          "verifier": verifier,
          "challenge": base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")}
    browser = new_browser()
    first = login(browser, authorize_url(st, "openid"), redirect, email=email, password=password)
    assert "code" in first.query, first.query
    st["cookies"] = dict(browser.cookies)
    with open(os.path.join(out, "state.json"), "w") as f:
        json.dump(st, f)

    token = f"{issuer}/oauth/token"

    def refresh_token(_):
        form = {"grant_type": "authorization_code", "client_id": st["client_id"], "redirect_uri": redirect,
                "code_verifier": verifier, "resource": resource, "code": code(st, "")}
        with httpx.Client(timeout=30) as c:
            r = c.post(token, data=form)
        r.raise_for_status()
        return r.json()["refresh_token"]

    with ThreadPoolExecutor(8) as pool:
        write_lines(os.path.join(out, "refresh.txt"), list(pool.map(refresh_token, range(n_refresh))))
    with open(os.path.join(out, "env.sh"), "w") as f:
        for k, v in {"TOKEN": token, "CLIENT_ID": st["client_id"], "VERIFIER": verifier, "REDIRECT": redirect,
                     "RESOURCE": resource, "AUTHORIZE_URL": authorize_url(st, "openid"),
                     "BROWSER_COOKIE": f"kz_browser={st['cookies']['kz_browser']}"}.items():
            f.write(f"export {k}='{v}'\n")
    print(f"signin_setup: zone {zone}, {n_refresh} refresh tokens")


def codes(out, n):
    with open(os.path.join(out, "state.json")) as f:
        st = json.load(f)
    with ThreadPoolExecutor(8) as pool:
        write_lines(os.path.join(out, "codes.txt"), list(pool.map(lambda _: code(st, "openid"), range(n))))
    print(f"signin_setup: {n} codes")


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        codes(sys.argv[2], int(sys.argv[3]))
