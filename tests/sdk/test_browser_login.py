"""A person signing in to a zone with a real browser (issue #12; client contract D.4, D.11.3): Debian's `chromium`
driven by Selenium 4.51.0 through Debian's `chromium-driver`, headless, against the suite's `keyzone serve`.

One test walks the whole flow a person sees, on a path-based zone (issuer `{base}/z/{zone_id}`) whose MCP application
has `consent: "required"`, with a DCR (`ua:`) client whose redirect URI a tiny local HTTP server answers:

  * the authorization URL (PKCE S256, state, nonce, resource, `openid email offline_access`) shows the sign-in page;
  * a wrong password shows the page again with the error; the right one, submitted with the Enter key (the pages
    carry no script: the form posts by itself), leads to the consent page; Allow lands on the redirect URI with
    `code`, the same `state` and `iss` = the exact issuer;
  * the cookies Chromium keeps for the zone (`kz_browser`, `kz_session`): HttpOnly, SameSite=Lax, Path=/z/{zone_id},
    not Secure on an http issuer, still there after the cross-origin redirect;
  * the code redeems (httpx) for an access token and an ID token carrying the nonce;
  * the same authorization again in the same browser skips sign-in and consent (session + remembered consent);
  * an unknown client_id gets the HTML error page, not a redirect.

On the SQLite run the pages are saved, overwriting, as docs/screenshots/{sign-in,sign-in-error,consent,error-page}.png
(linked from docs/sign-in.md). The browser comes from Debian's archive (scripts/ensure-browser.sh, run by the test
command; this test runs it too when the browser is missing); without it the test is skipped, unless CI=true.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from sdk_processes import free_port
from sdk_support import unique_name

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ENSURE_BROWSER = ROOT / "scripts" / "ensure-browser.sh"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--window-size=900,900",
]
SCOPE = "openid email offline_access"
WAIT_S = 15.0
COOKIES = ("kz_browser", "kz_session")


# --------------------------------------------------------------------------- the browser


def _in_ci() -> bool:
    return os.environ.get("CI", "") in ("true", "1")


def _browser_missing() -> List[str]:
    return [p for p in (CHROMIUM, CHROMEDRIVER) if not (os.path.isfile(p) and os.access(p, os.X_OK))]


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"the real-browser test needs {CHROMIUM} and {CHROMEDRIVER} (CI=true): {reason}", pytrace=False)
    pytest.skip(f"real-browser sign-in test skipped: {reason}")


@pytest.fixture(scope="module")
def chromium_ready() -> None:
    """Debian's chromium + chromium-driver, installed now by scripts/ensure-browser.sh if missing (and possible)."""
    missing = _browser_missing()
    if missing:
        try:
            run = subprocess.run(["bash", str(ENSURE_BROWSER)], capture_output=True, text=True, timeout=900)
            out = (run.stdout + run.stderr).strip().splitlines()[-6:]
        except (OSError, subprocess.TimeoutExpired) as e:
            out = [f"{ENSURE_BROWSER} could not run: {e}"]
        missing = _browser_missing()
        if missing:
            _unavailable(f"{', '.join(missing)} not installed and {ENSURE_BROWSER.name} could not install them: " + " | ".join(out))
    try:
        import selenium  # noqa: F401
    except ImportError as e:
        _unavailable(f"selenium is not installed in this venv ({e}); it is pinned in tests/sdk/requirements.txt")


@pytest.fixture
def driver(chromium_ready: None) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages (CSP reports) for failures
    service = Service(executable_path=CHROMEDRIVER)  # Selenium Manager stays out: nothing is downloaded
    d = webdriver.Chrome(service=service, options=options)
    d.set_page_load_timeout(WAIT_S)
    try:
        yield d
    finally:
        d.quit()


def _wait(driver, condition, what: str):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(condition)
    except TimeoutException:
        pytest.fail(f"timed out after {WAIT_S:.0f}s waiting for {what}; the browser is at {driver.current_url!r} "
                    f"showing {_text(driver)[:600]!r}; browser console: {_console(driver)}", pytrace=False)


def _console(driver) -> str:
    try:
        return " | ".join(f"{e.get('level')}: {e.get('message')}" for e in driver.get_log("browser")) or "<empty>"
    except Exception as e:  # noqa: BLE001 - only for failure messages
        return f"<unavailable: {e}>"


def _text(driver) -> str:
    from selenium.webdriver.common.by import By

    try:
        return driver.find_element(By.TAG_NAME, "body").text
    except Exception as e:  # noqa: BLE001 - only for failure messages
        return f"<no body: {e}>"


def _loaded(driver) -> bool:
    return driver.execute_script("return document.readyState") == "complete"


def _screenshot(driver, backend: str, name: str) -> None:
    """docs/screenshots/<name>.png, on the SQLite run only (one set of pictures, overwritten each run)."""
    if backend != "sqlite":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"expected Chromium to save a screenshot at {path}"
    assert path.stat().st_size > 1000, f"expected a real screenshot at {path}, got {path.stat().st_size} bytes"


def _stylesheet_applied(driver) -> bool:
    """The page's one stylesheet loaded (the card got its background and radius from keyzone.css)."""
    return bool(driver.execute_script(
        "const c = document.querySelector('main.card');"
        "return !!c && getComputedStyle(c).borderTopLeftRadius === '12px';"
    ))


# --------------------------------------------------------------------------- the redirect URI


class Callback:
    """A loopback HTTP server answering the client's redirect URI: records each query, says "signed in"."""

    def __init__(self) -> None:
        self.queries: List[Dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                if parts.path != "/callback":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                outer.queries.append(dict(parse_qsl(parts.query, keep_blank_values=True)))
                body = b"<!doctype html><title>signed in</title><p>signed in</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.uri = f"http://127.0.0.1:{self.httpd.server_address[1]}/callback"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="callback", daemon=True)

    def __enter__(self) -> "Callback":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------- the zone


def _created(r: httpx.Response, what: str) -> dict:
    assert r.status_code in (200, 201), f"expected {what} to be created, got {r.status_code}: {r.text[:500]!r}"
    return r.json()


def make_zone(http: httpx.Client, redirect_uri: str) -> Dict[str, str]:
    """A zone, an MCP application (consent required) providing a loopback resource, a user and a DCR client."""
    zone = _created(http.post("/zones", json={"name": unique_name("browser login")}), "the zone")
    zone_id, issuer = zone["id"], zone["protocols"]["oauth2"]["issuer"]
    app = _created(http.post(f"/zones/{zone_id}/applications", json={
        "identifier": f"mcp-{secrets.token_hex(4)}", "name": unique_name("browser mcp app"), "consent": "required",
    }), "the application")
    assert app.get("consent") == "required", f"expected consent 'required' on the application, got {app!r}"
    resource = f"http://127.0.0.1:{free_port()}/mcp"
    _created(http.post(f"/zones/{zone_id}/resources", json={
        "identifier": resource, "name": unique_name("browser mcp resource"), "application_id": app["id"],
    }), "the resource")
    email, password = f"ada-{secrets.token_hex(3)}@example.com", "kz-" + secrets.token_urlsafe(18)
    user = _created(http.post(f"/zones/{zone_id}/users", json={
        "email": email, "password": password, "email_verified": True,
    }), "the user")
    client_name = "Example MCP client"
    reg = httpx.post(issuer + "/oauth/register", json={
        "redirect_uris": [redirect_uri], "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"], "client_name": client_name,
    }, timeout=30.0, trust_env=False)
    client = _created(reg, "the DCR client")
    assert str(client.get("client_id", "")).startswith("ua:"), f"expected a ua: client id, got {client!r}"
    return {"zone_id": zone_id, "zone_name": zone["name"], "issuer": issuer, "resource": resource,
            "email": email, "password": password, "user_id": user["id"], "client_id": client["client_id"],
            "client_name": client_name, "redirect_uri": redirect_uri}


def authorization_url(z: Dict[str, str]) -> Tuple[str, Dict[str, str]]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    kept = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(16), "verifier": verifier}
    params = {
        "response_type": "code", "client_id": z["client_id"], "redirect_uri": z["redirect_uri"],
        "state": kept["state"], "nonce": kept["nonce"], "code_challenge": challenge, "code_challenge_method": "S256",
        "resource": z["resource"], "scope": SCOPE,
    }
    return f"{z['issuer']}/oauth/authorize?{urlencode(params)}", kept


def assert_landed(driver, cb: Callback, z: Dict[str, str], kept: Dict[str, str], before: int, what: str) -> Dict[str, str]:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(
            lambda d: d.current_url.startswith(z["redirect_uri"]) and _loaded(d))
    except TimeoutException:
        console = _console(driver)
        hint = ""
        if "form-action" in console:
            # Chromium checks a form's CSP `form-action` against every redirect the submission leads to, and reports
            # the pre-redirect (same-origin) URL as the one blocked.
            hint = (" -- Chromium BLOCKED the redirect to the client: the page's CSP `form-action` does not allow the "
                    f"redirect URI's origin {z['redirect_uri'].rsplit('/', 1)[0]} (Chromium applies form-action to the "
                    "redirects that follow a form POST, not only to the form's action);")
        pytest.fail(f"timed out after {WAIT_S:.0f}s waiting for the redirect URI ({what}){hint} the browser is at "
                    f"{driver.current_url!r} showing {_text(driver)[:300]!r}; the redirect URI got {cb.queries[before:]!r}; "
                    f"browser console: {console}", pytrace=False)
    assert "signed in" in _text(driver), f"expected the callback's page ({what}), got {_text(driver)[:300]!r}"
    assert len(cb.queries) == before + 1, f"expected one request to the redirect URI ({what}), got {cb.queries[before:]!r}"
    q = dict(parse_qsl(urlsplit(driver.current_url).query, keep_blank_values=True))
    assert q == cb.queries[-1], f"expected the browser's URL query {q!r} to be what the callback got {cb.queries[-1]!r}"
    assert "error" not in q, f"expected a code ({what}), got an error: {q!r}"
    assert q.get("code"), f"expected a code on the redirect ({what}): {q!r}"
    assert q.get("state") == kept["state"], f"expected the same state back ({what}), got {q.get('state')!r}"
    assert q.get("iss") == z["issuer"], f"expected iss = the exact issuer {z['issuer']!r} ({what}), got {q.get('iss')!r}"
    return q


def zone_cookies(driver, z: Dict[str, str], where: str) -> Dict[str, dict]:
    """The cookies Chromium holds for the page it is on (which must be under the zone's issuer path)."""
    path = urlsplit(z["issuer"]).path
    assert urlsplit(driver.current_url).path.startswith(path + "/"), f"expected to be on a zone page, at {driver.current_url!r}"
    jar = {c["name"]: c for c in driver.get_cookies()}
    for name in COOKIES:
        c = jar.get(name)
        assert c is not None, f"expected Chromium to hold the {name} cookie {where}, it holds {sorted(jar)}"
        assert c.get("httpOnly") is True, f"expected {name} to be HttpOnly {where}: {c!r}"
        assert c.get("sameSite") == "Lax", f"expected {name} to be SameSite=Lax {where}: {c!r}"
        assert c.get("path") == path, f"expected {name} to have Path={path} {where}: {c!r}"
        assert c.get("secure") is False, f"expected {name} not to be Secure on the http issuer {where}: {c!r}"
        assert c.get("value"), f"expected a value in {name} {where}: {c!r}"
    # HttpOnly for real: the page's own script cannot read them.
    visible = driver.execute_script("return document.cookie")
    assert not any(name in visible for name in COOKIES), f"expected the session cookies hidden from scripts {where}, document.cookie = {visible!r}"
    return jar


def redeem(z: Dict[str, str], code: str, kept: Dict[str, str]) -> dict:
    r = httpx.post(z["issuer"] + "/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": z["redirect_uri"],
        "client_id": z["client_id"], "code_verifier": kept["verifier"],
    }, timeout=30.0, trust_env=False)
    assert r.status_code == 200, f"expected the code to redeem with 200, got {r.status_code}: {r.text[:500]!r}"
    body = r.json()
    assert body.get("token_type") == "Bearer" and body.get("access_token"), f"expected a Bearer access token: {body!r}"
    assert body.get("id_token"), f"expected an id_token (openid was asked): {body!r}"
    meta = httpx.get(z["issuer"] + "/.well-known/openid-configuration", timeout=30.0, trust_env=False).json()
    jwks = httpx.get(meta["jwks_uri"], timeout=30.0, trust_env=False).json()
    claims = jose_jwt.decode(body["id_token"], KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
    assert claims.get("nonce") == kept["nonce"], f"expected the ID token's nonce {kept['nonce']!r}, got {claims!r}"
    assert claims.get("iss") == z["issuer"] and claims.get("sub") == z["user_id"], f"unexpected ID token claims {claims!r}"
    return body


# --------------------------------------------------------------------------- the test


def test_browser_sign_in_consent_cookies_and_remembered_consent(server, http, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC

    started = time.monotonic()
    with Callback() as cb:
        z = make_zone(http, cb.uri)
        url, kept = authorization_url(z)

        # 0. An unknown client: the HTML error page, never a redirect.
        bad = {"response_type": "code", "client_id": "ua:" + secrets.token_hex(32), "redirect_uri": cb.uri,
               "state": "s", "code_challenge": "x" * 43, "code_challenge_method": "S256", "scope": SCOPE}
        driver.get(f"{z['issuer']}/oauth/authorize?{urlencode(bad)}")
        _wait(driver, EC.presence_of_element_located((By.TAG_NAME, "h1")), "the error page")
        assert driver.current_url.startswith(z["issuer"] + "/oauth/authorize"), f"expected no redirect for an unknown client, at {driver.current_url!r}"
        assert "Unknown application" in _text(driver), f"expected the 'Unknown application' page, got {_text(driver)[:400]!r}"
        assert not cb.queries, f"expected no request to the redirect URI for an unknown client: {cb.queries!r}"
        assert _stylesheet_applied(driver), "expected keyzone.css applied to the error page"
        _screenshot(driver, server.backend, "error-page")

        # 1. The sign-in page.
        driver.get(url)
        email = _wait(driver, EC.presence_of_element_located((By.NAME, "email")), "the sign-in page's email input")
        page = _text(driver)
        # The zone's name is shown upper-cased by the stylesheet (text-transform), so compare without case.
        assert "Sign in" in page and z["zone_name"].lower() in page.lower() and z["client_name"] in page, (
            f"expected the sign-in page to name the zone and the client: {page[:500]!r}")
        assert driver.current_url.startswith(z["issuer"] + "/"), f"expected the sign-in page on the issuer, at {driver.current_url!r}"
        assert _stylesheet_applied(driver), "expected keyzone.css applied to the sign-in page (the card is unstyled)"
        assert driver.execute_script("return document.scripts.length") == 0, "expected no script on the sign-in page"
        _screenshot(driver, server.backend, "sign-in")

        # 2. A wrong password: the same page with the error, tied to the fields.
        email.send_keys(z["email"])
        driver.find_element(By.NAME, "password").send_keys("not-the-password-" + secrets.token_hex(4))
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        _wait(driver, EC.staleness_of(email), "the sign-in page to be posted")
        err = _wait(driver, EC.visibility_of_element_located((By.CSS_SELECTOR, "[role=alert]")), "the sign-in error")
        assert "email or password is incorrect" in err.text, f"expected the wrong-password message, got {err.text!r}"
        pw = driver.find_element(By.NAME, "password")
        assert pw.get_attribute("aria-describedby") == err.get_attribute("id"), "expected the error tied to the password input"
        assert z["redirect_uri"] not in driver.current_url and not cb.queries, "expected no redirect after a wrong password"
        _screenshot(driver, server.backend, "sign-in-error")

        # 3. The right password, submitted with the Enter key: the form posts without any script.
        email = driver.find_element(By.NAME, "email")
        email.clear()
        email.send_keys(z["email"])
        pw.clear()
        pw.send_keys(z["password"] + Keys.ENTER)
        allow = _wait(driver, EC.element_to_be_clickable((By.CSS_SELECTOR, "button[name=decision][value=allow]")), "the consent page")
        page = _text(driver)
        assert z["client_name"] in page and z["resource"] in page, f"expected the consent page to name the client and the resource: {page[:500]!r}"
        buttons = driver.find_elements(By.CSS_SELECTOR, "form button[type=submit]")
        assert [(b.get_attribute("name"), b.get_attribute("value")) for b in buttons] == [("decision", "allow"), ("decision", "deny")], (
            "expected Allow then Deny on the consent form")
        assert _stylesheet_applied(driver), "expected keyzone.css applied to the consent page"
        zone_cookies(driver, z, "on the consent page, after signing in")
        _screenshot(driver, server.backend, "consent")

        # 4. Allow: the browser lands on the redirect URI with code, state and iss.
        allow.click()
        q = assert_landed(driver, cb, z, kept, 0, "after Allow")

        # 5. The cookies survived the cross-origin redirect (back on a zone URL: the stylesheet).
        driver.get(z["issuer"] + "/oauth/assets/keyzone.css")
        jar = zone_cookies(driver, z, "after the redirect to the client")

        # 6. The code redeems for tokens; the ID token carries the nonce.
        redeem(z, q["code"], kept)

        # 7. The same authorization again: the session and the remembered consent skip both pages.
        url2, kept2 = authorization_url(z)
        driver.get(url2)
        q2 = assert_landed(driver, cb, z, kept2, 1, "the second authorization (session and remembered consent)")
        assert q2["code"] != q["code"], "expected a fresh code for the second authorization"
        redeem(z, q2["code"], kept2)
        driver.get(z["issuer"] + "/oauth/assets/keyzone.css")
        again = zone_cookies(driver, z, "after the second authorization")
        assert again["kz_session"]["value"] == jar["kz_session"]["value"], "expected the same browser session to be reused"

    took = time.monotonic() - started
    assert took < 40, f"expected the browser test to finish within 40 s, took {took:.1f} s"
