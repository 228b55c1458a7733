"""Email verification by a one-time code, zone user invitations and the common-password blocklist (issue #12; client
contract D.4.2's note on verification in tests, D.12 item 17), driven with raw HTTP like a browser without JavaScript.

A second node of the suite's deployment (same database, same master key) runs with `KEYZONE_SMTP_URL` pointed at a
local SMTP sink (smtp_sink.py) that records every message, so the tests read the codes and links people would get.
The suite's main node has no SMTP: its start-up log says so, and its users keep email_verified false."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
from dataclasses import dataclass, replace
from typing import Any, Iterator, Tuple
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from smtp_sink import SmtpSink
from sdk_processes import free_port, keyzone_bin, keyzone_env, spawn, stop, wait_ready


@dataclass
class MailNode:
    base_url: str
    http: httpx.Client
    sink: SmtpSink
    log: Any


@pytest.fixture(scope="module")
def mail_node(server, database_url) -> Iterator[MailNode]:
    with SmtpSink() as sink:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = keyzone_env(port=port, data_dir=server.tmp_dir / "data", api_key=server.api_key, public_url=base_url,
                          kms_endpoint=server.kms_endpoint, database_url=database_url)
        env["KEYZONE_MASTER_KEY_FILE"] = str(server.tmp_dir / "data" / "master.key")
        env["KEYZONE_SMTP_URL"] = sink.url
        env["KEYZONE_SMTP_FROM"] = "Keyzone <no-reply@keyzone.test>"
        env["KEYZONE_SMTP_TIMEOUT_SECS"] = "5"
        log = server.tmp_dir / "mail.stderr.log"
        proc = spawn([str(keyzone_bin()), "serve"], env, server.tmp_dir, server.tmp_dir / "mail.stdout.log", log)
        try:
            ready, last = wait_ready(proc, f"{base_url}/readyz")
            assert ready, f"the SMTP node did not start: {last}"
            with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {server.api_key}"},
                              timeout=30.0, follow_redirects=False, trust_env=False) as http:
                yield MailNode(base_url, http, sink, log)
        finally:
            stop(proc)


def pkce() -> Tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(location: str) -> dict:
    return dict(parse_qsl(urlsplit(location).query))


def hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert m, f"expected a hidden {name} input in:\n{page[:2000]}"
    return html.unescape(m.group(1))


def claims(jwt: str) -> dict:
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def code_in(text: str) -> str:
    m = re.search(r"verification code is (\d{6})", text)
    assert m, f"no 6-digit code in the mail:\n{text}"
    return m.group(1)


def make_zone(http: httpx.Client, requires_invitation: bool) -> Tuple[str, str]:
    z = http.post("/zones", json={"name": "Mail " + secrets.token_hex(3), "requires_invitation": requires_invitation})
    assert z.status_code == 201, z.text
    zone = z.json()["id"]
    app = http.post(f"/zones/{zone}/applications", json={
        "identifier": "web-" + secrets.token_hex(3), "name": "Web App",
        "protocols": {"oauth2": {"redirect_uris": ["http://127.0.0.1/cb"]}}})
    assert app.status_code == 201, app.text
    client_id = "web-public-" + secrets.token_hex(3)
    r = http.post(f"/zones/{zone}/application-credentials",
                  json={"type": "public", "application_id": app.json()["id"], "identifier": client_id})
    assert r.status_code == 201, r.text
    return zone, client_id


class Flow:
    """One browser's authorization request (PKCE, openid email) against a zone."""

    def __init__(self, node: MailNode, zone: str, client_id: str):
        self.node, self.zone, self.client_id = node, zone, client_id
        self.iss = f"{node.base_url}/z/{zone}"
        self.verifier, challenge = pkce()
        self.q = dict(response_type="code", client_id=client_id, redirect_uri="http://127.0.0.1/cb", state="st",
                      code_challenge=challenge, code_challenge_method="S256", scope="openid email")
        self.browser = httpx.Client(follow_redirects=False, trust_env=False, timeout=30.0)

    def authorize(self) -> httpx.Response:
        return self.browser.get(self.iss + "/oauth/authorize", params=self.q)

    def sign_up(self, email: str, password: str) -> httpx.Response:
        page = self.authorize()
        assert page.status_code == 200, page.text
        link = html.unescape(re.search(r'href="([^"]*signup[^"]*)"', page.text).group(1))
        form = self.browser.get(link)
        assert form.status_code == 200, form.text
        return self.browser.post(self.iss + "/oauth/signup",
                                 data={"txn": hidden(form.text, "txn"), "email": email, "password": password})

    def sign_in(self, email: str, password: str) -> httpx.Response:
        page = self.authorize()
        assert page.status_code == 200, page.text
        return self.browser.post(self.iss + "/oauth/login",
                                 data={"txn": hidden(page.text, "txn"), "email": email, "password": password})

    def verify_page(self, res: httpx.Response) -> str:
        """Follows the 303 to the verification page; its HTML."""
        assert res.status_code == 303, f"expected a 303 to the verification page, got {res.status_code}: {res.text}"
        loc = res.headers["location"]
        assert loc.startswith(self.iss + "/oauth/verify?txn="), loc
        page = self.browser.get(loc)
        assert page.status_code == 200, page.text
        # One labelled code input, the verify button first (what a headless driver posts).
        assert re.search(r'<label for="code">', page.text) and page.text.count('name="code"') == 1, page.text
        buttons = re.findall(r'<button type="submit" name="action" value="(\w+)"', page.text)
        assert buttons == ["verify", "resend"], buttons
        assert "no-store" in page.headers["cache-control"] and "script-src" not in page.headers["content-security-policy"]
        return page.text

    def submit(self, page: str, code: str, action: str = "verify") -> httpx.Response:
        return self.browser.post(self.iss + "/oauth/verify",
                                 data={"txn": hidden(page, "txn"), "code": code, "action": action})

    def redeem(self, res: httpx.Response) -> dict:
        assert res.status_code == 303, f"{res.status_code}: {res.text}"
        qs = query_of(res.headers["location"])
        assert res.headers["location"].startswith("http://127.0.0.1/cb?") and "code" in qs, res.headers["location"]
        t = httpx.post(self.iss + "/oauth/token", data={
            "grant_type": "authorization_code", "code": qs["code"], "redirect_uri": self.q["redirect_uri"],
            "client_id": self.client_id, "code_verifier": self.verifier}, trust_env=False)
        assert t.status_code == 200, t.text
        return t.json()


def user_of(http: httpx.Client, zone: str, email: str) -> dict:
    users = [u for u in http.get(f"/zones/{zone}/users").json()["items"] if u["email"] == email]
    assert len(users) == 1, users
    return users[0]


def test_sign_up_mails_a_code_and_the_right_code_verifies_the_email(mail_node):
    http, sink = mail_node.http, mail_node.sink
    zone, client_id = make_zone(http, requires_invitation=False)
    email = f"ada-{secrets.token_hex(3)}@example.com"
    f = Flow(mail_node, zone, client_id)
    page = f.verify_page(f.sign_up(email, "a long enough phrase"))
    assert email in page
    mail = sink.wait_for(lambda m: m.to == [email])
    assert mail.sender == "no-reply@keyzone.test" and "verification code" in mail.subject.lower(), mail
    code = code_in(mail.text)
    assert user_of(http, zone, email)["email_verified"] is False
    # No code to the client before the email is verified: authorize again lands on the verification page.
    f.verify_page(f.authorize())
    assert len(sink.to(email)) == 1, "a live code is not sent again"
    wrong = "000000" if code != "000000" else "111111"
    bad = f.submit(page, wrong)
    assert bad.status_code == 400 and "4 attempts left" in bad.text, bad.text
    assert 'aria-invalid="true"' in bad.text and 'aria-describedby="code-error"' in bad.text
    malformed = f.submit(page, "12ab")
    assert malformed.status_code == 400 and "6-digit" in malformed.text
    t = f.redeem(f.submit(page, code[:3] + " " + code[3:]))  # spaces are forgiven
    idt = claims(t["id_token"])
    assert idt["email"] == email and idt["email_verified"] is True, idt
    info = httpx.get(f.iss + "/oauth/userinfo", headers={"Authorization": f"Bearer {t['access_token']}"},
                     trust_env=False).json()
    assert info["email_verified"] is True, info
    assert user_of(http, zone, email)["email_verified"] is True
    # Single use: the page's code no longer works (the user is verified: straight on to the client).
    again = f.submit(page, code)
    assert again.status_code == 303 and "code" in query_of(again.headers["location"])


def test_an_unverified_password_user_verifies_at_sign_in(mail_node):
    http, sink = mail_node.http, mail_node.sink
    zone, client_id = make_zone(http, requires_invitation=True)
    email = f"bo-{secrets.token_hex(3)}@example.com"
    r = http.post(f"/zones/{zone}/users", json={"email": email, "password": "provisioned phrase"})
    assert r.status_code == 201 and r.json()["email_verified"] is False, r.text
    f = Flow(mail_node, zone, client_id)
    page = f.verify_page(f.sign_in(email, "provisioned phrase"))
    code = code_in(sink.wait_for(lambda m: m.to == [email]).text)
    t = f.redeem(f.submit(page, code))
    assert claims(t["id_token"])["email_verified"] is True
    # Verified users are not asked again.
    g = Flow(mail_node, zone, client_id)
    g.redeem(g.sign_in(email, "provisioned phrase"))
    assert len(sink.to(email)) == 1


def test_too_many_wrong_codes_need_a_new_one_and_resend_is_throttled(mail_node):
    http, sink = mail_node.http, mail_node.sink
    zone, client_id = make_zone(http, requires_invitation=False)
    email = f"cy-{secrets.token_hex(3)}@example.com"
    f = Flow(mail_node, zone, client_id)
    page = f.verify_page(f.sign_up(email, "another long phrase"))
    code = code_in(sink.wait_for(lambda m: m.to == [email]).text)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        r = f.submit(page, wrong)
        assert r.status_code == 400 and f"{left} attempt" in r.text, r.text
    r = f.submit(page, wrong)
    assert r.status_code == 400 and "Too many wrong codes" in r.text, r.text
    # The right code is refused now: the code is used up.
    r = f.submit(page, code)
    assert r.status_code == 400 and "no longer be used" in r.text, r.text
    # Resend within a minute of the last mail is refused, and sends nothing.
    r = f.submit(page, "", action="resend")
    assert r.status_code == 400 and "less than a minute" in r.text, r.text
    assert len(sink.to(email)) == 1
    # Coming back through the application mails a fresh code (the old one is dead).
    page = f.verify_page(f.authorize())
    mails = sink.to(email)
    assert len(mails) == 2, [m.subject for m in mails]
    t = f.redeem(f.submit(page, code_in(mails[1].text)))
    assert claims(t["id_token"])["email_verified"] is True


def test_invitation_link_sets_a_password_and_admits_the_invited_only(mail_node):
    http, sink = mail_node.http, mail_node.sink
    zone, client_id = make_zone(http, requires_invitation=True)
    email = f"di-{secrets.token_hex(3)}@example.com"
    r = http.post(f"/zones/{zone}/user-invitations", json={"email": email.upper()})
    assert r.status_code == 201, r.text
    inv = r.json()
    assert inv["email"] == email and inv["status"] == "pending" and inv["email_sent"] is True, inv
    again = http.post(f"/zones/{zone}/user-invitations", json={"email": email})
    assert again.status_code == 409, again.text
    mail = sink.wait_for(lambda m: m.to == [email])
    link = re.search(r"(http://\S+/oauth/invitation\?token=\S+)", mail.text).group(1)
    assert link == inv["invitation_url"]
    # The token is never in the server's log.
    token = query_of(link)["token"]
    browser = httpx.Client(follow_redirects=False, trust_env=False, timeout=30.0)
    form = browser.get(link)
    assert form.status_code == 200 and email in form.text and 'name="password"' in form.text, form.text
    common = browser.post(f"{mail_node.base_url}/z/{zone}/oauth/invitation",
                          data={"token": token, "password": "Password123"})
    assert common.status_code == 400 and "most common passwords" in common.text, common.text
    done = browser.post(f"{mail_node.base_url}/z/{zone}/oauth/invitation",
                        data={"token": token, "password": "my own long phrase"})
    assert done.status_code == 200 and "Your account is ready" in done.text, done.text
    u = user_of(http, zone, email)
    assert u["email_verified"] is True
    listed = http.get(f"/zones/{zone}/user-invitations").json()["items"]
    assert [(i["email"], i["status"]) for i in listed] == [(email, "accepted")], listed
    assert all("invitation_url" not in i for i in listed)
    # The link works once.
    used = browser.get(link)
    assert used.status_code == 400 and "cannot be used" in used.text
    # The new account signs in; its email is verified already, so no code.
    f = Flow(mail_node, zone, client_id)
    t = f.redeem(f.sign_in(email, "my own long phrase"))
    assert claims(t["id_token"])["email_verified"] is True
    assert len(sink.to(email)) == 1
    assert token not in mail_node.log.read_text()

    # In this zone an uninvited email may not sign up; an invited one may (then verifies by code).
    g = Flow(mail_node, zone, client_id)
    refused = g.sign_up(f"nobody-{secrets.token_hex(3)}@example.com", "a long enough phrase")
    assert refused.status_code == 400 and "only invited" in refused.text, refused.text
    invited = f"ed-{secrets.token_hex(3)}@example.com"
    assert http.post(f"/zones/{zone}/user-invitations", json={"email": invited}).status_code == 201
    h = Flow(mail_node, zone, client_id)
    page = h.verify_page(h.sign_up(invited, "a long enough phrase"))
    code = code_in(sink.wait_for(lambda m: m.to == [invited] and "verification code" in m.text).text)
    h.redeem(h.submit(page, code))
    statuses = {i["email"]: i["status"] for i in http.get(f"/zones/{zone}/user-invitations").json()["items"]}
    assert statuses[invited] == "accepted", statuses
    # A revoked invitation's link stops working.
    late = f"fy-{secrets.token_hex(3)}@example.com"
    r = http.post(f"/zones/{zone}/user-invitations", json={"email": late}).json()
    assert http.delete(f"/zones/{zone}/user-invitations/{r['id']}").status_code == 204
    assert browser.get(r["invitation_url"]).status_code == 400


def test_common_passwords_are_refused_at_sign_up(mail_node):
    zone, client_id = make_zone(mail_node.http, requires_invitation=False)
    f = Flow(mail_node, zone, client_id)
    r = f.sign_up(f"gu-{secrets.token_hex(3)}@example.com", "QWERTY123")
    assert r.status_code == 400 and "most common passwords" in r.text, r.text
    assert 'aria-describedby="sign-up-error"' in r.text


def test_without_smtp_the_start_up_log_says_so_and_emails_stay_unverified(server, http):
    log = server.stderr_log.read_text() + server.stdout_log.read_text()
    lines = [l for l in log.splitlines() if "SMTP is not configured" in l]
    assert len(lines) == 1, f"expected one start-up line about SMTP, got {lines}"
    zone, client_id = make_zone(http, requires_invitation=False)
    node = MailNode(server.base_url, http, None, None)  # type: ignore[arg-type]
    f = Flow(node, zone, client_id)
    email = f"ha-{secrets.token_hex(3)}@example.com"
    t = f.redeem(f.sign_up(email, "a long enough phrase"))
    assert claims(t["id_token"])["email_verified"] is False
    assert user_of(http, zone, email)["email_verified"] is False
    # Invitations still work without SMTP: the link comes back in the response, unsent.
    r = http.post(f"/zones/{zone}/user-invitations", json={"email": f"in-{secrets.token_hex(3)}@example.com"})
    assert r.status_code == 201 and r.json()["email_sent"] is False and "/oauth/invitation?token=" in r.json()["invitation_url"]


def _expire_codes(db, zone: str) -> None:
    """Ages the zone's codes past their 10 minutes, straight in the database (the node shares the suite's)."""
    sql = f"UPDATE email_codes SET expires_at = 1 WHERE zone_id = '{zone}'"
    if db.backend == "postgres":
        db.psql(sql)
        return
    import sqlite3

    conn = sqlite3.connect(str(db.sqlite_path), timeout=30)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def test_an_expired_code_is_refused_and_a_new_one_is_mailed(mail_node, server_db):
    http, sink = mail_node.http, mail_node.sink
    zone, client_id = make_zone(http, requires_invitation=False)
    email = f"ex-{secrets.token_hex(3)}@example.com"
    f = Flow(mail_node, zone, client_id)
    page = f.verify_page(f.sign_up(email, "yet another phrase"))
    code = code_in(sink.wait_for(lambda m: m.to == [email]).text)
    _expire_codes(server_db, zone)
    r = f.submit(page, code)
    assert r.status_code == 400 and "no longer be used" in r.text, r.text
    assert user_of(http, zone, email)["email_verified"] is False
    page = f.verify_page(f.authorize())
    mails = sink.to(email)
    assert len(mails) == 2, [m.subject for m in mails]
    f.redeem(f.submit(page, code_in(mails[1].text)))
    assert user_of(http, zone, email)["email_verified"] is True
