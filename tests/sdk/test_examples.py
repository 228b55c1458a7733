"""The programs in examples/ run as their guides say, against the suite's server (docs/development.md "Documentation
that is tested"):

  * examples/agent.py (docs/guide-agent.md): registers an agent, gets and reuses a client_credentials token, has it
    verified as the API would, and sees an undefined scope refused;
  * examples/mcp_server.py (docs/guide-mcp-server.md): `--check` sets up a zone, serves the keycardai-mcp protected MCP
    server and calls its tools as an agent, the `@grant` tool through token exchange; without `--check` it serves
    until SIGINT and refuses a call without a token;
  * examples/workload_identity.py (docs/guide-workload-identity.md): `setup` trusts a CI issuer for one subject;
    `token` exchanges that CI system's OIDC token for a zone token, taken from a file and from a GitHub-Actions-style
    token request endpoint. A loopback issuer (jwt_issuer.py) plays the CI system; a token for another subject is
    refused.

Each program gets the environment a reader's shell would have after the quick start (test_docs.block_env).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Iterator, List
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from keycardai.oauth.server import TokenVerifier
from keycardai.oauth.utils.jwt import get_claims

from jwt_issuer import LoopbackIssuer
from sdk_processes import REPO_ROOT
from test_docs import block_env, run_program, tail

EXAMPLES = REPO_ROOT / "examples"
TESTED = {"agent.py", "mcp_server.py", "workload_identity.py"}
CI_SUBJECT = "repo:acme/deploy:ref:refs/heads/main"
DEPLOY_API = "https://deploy.example.com"


def test_every_example_is_tested():
    found = {p.name for p in EXAMPLES.glob("*.py")}
    assert found == TESTED, (
        f"examples/ holds {sorted(found)}, this file tests {sorted(TESTED)}: add a test for each new example "
        f"(and drop the names of removed ones)"
    )


@pytest.fixture
def env(server, tmp_path) -> Dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return block_env(server, home)


def run_example(args: List[str], env: Dict[str, str]) -> subprocess.CompletedProcess:
    res = run_program([sys.executable, *args], env, f"python {' '.join(args)}")
    assert res.returncode == 0, (
        f"python {' '.join(args)} exited with {res.returncode}\n--- stdout\n{tail(res.stdout)}\n--- stderr\n{tail(res.stderr)}"
    )
    return res


def verified(issuer: str, audience: str, token: str):
    return asyncio.run(TokenVerifier(issuer=issuer, audience=audience).verify_token(token))


# --------------------------------------------------------------------------- agent


def test_agent(env):
    res = run_example(["examples/agent.py"], env)
    assert res.stderr.rstrip().endswith("ok"), f"expected the agent's own checks to pass:\n{tail(res.stderr)}"
    assert "the API accepted a token for https://api.example.com with scopes ['reports:read']" in res.stdout, res.stdout
    assert "reports:delete refused: invalid_scope" in res.stdout, res.stdout


# --------------------------------------------------------------------------- MCP server


def test_mcp_server_check(env):
    res = run_example(["examples/mcp_server.py", "--check"], env)
    assert res.stderr.rstrip().endswith("ok"), f"expected the example's own checks to pass:\n{tail(res.stderr)}"
    out = json.loads(res.stdout)
    who, invoices = out["whoami"], out["list_invoices"]
    assert invoices.get("aud") == "https://api.example.com" and invoices.get("scope") == "invoices:read", out
    assert invoices["sub"] == who["sub"], f"expected the exchanged token to keep the caller as subject: {out!r}"
    assert invoices["act"]["sub"] != who["sub"], f"expected the MCP server as the actor: {out!r}"


def test_mcp_server_serves_until_interrupted(env):
    """Without --check: it prints where it serves, refuses a call without a token (401 with a Bearer challenge), and
    stops on Ctrl-C (SIGINT) with status 0."""
    url = f"http://127.0.0.1:{env['MCP_PORT']}/mcp"
    proc = subprocess.Popen(
        [sys.executable, "examples/mcp_server.py"], cwd=REPO_ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith(f"MCP server at {url}, protected by the zone "), (
            f"unexpected first line {first!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        )
        body = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.post(url, json=body, headers={"Accept": "application/json, text/event-stream"}, timeout=10, trust_env=False)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, f"the MCP server did not come up on {url}"
                time.sleep(0.1)
        assert r.status_code == 401, f"expected 401 without a token, got {r.status_code}: {r.text[:300]!r}"
        assert (r.headers.get("www-authenticate") or "").startswith("Bearer "), r.headers
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0, f"expected exit status 0 after SIGINT; stderr:\n{tail(proc.stderr.read())}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


# --------------------------------------------------------------------------- workload identity


class GitHubTokenEndpoint:
    """What GitHub Actions gives a job with `id-token: write`: ACTIONS_ID_TOKEN_REQUEST_URL (with `?api-version=…`) and
    ACTIONS_ID_TOKEN_REQUEST_TOKEN. GET <url>&audience=<aud> with `Authorization: bearer <token>` answers
    {"count": 1, "value": <a JWT of the issuer for that audience>}."""

    def __init__(self, idp: LoopbackIssuer, subject: str) -> None:
        self.request_token = "ghs-request-token"
        self.audiences: List[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                q = parse_qs(urlsplit(self.path).query)
                ok = self.headers.get("Authorization") == f"bearer {owner.request_token}" and q.get("api-version") == ["2.0"]
                aud = (q.get("audience") or [""])[0]
                owner.audiences.append(aud)
                data = json.dumps({"count": 1, "value": idp.token(subject, aud)} if ok else {"message": "bad"}).encode()
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/token?api-version=2.0"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def idp() -> Iterator[LoopbackIssuer]:
    with LoopbackIssuer() as issuer:
        yield issuer


def exports(stdout: str) -> Dict[str, str]:
    out = {}
    for line in stdout.splitlines():
        assert line.startswith("export "), f"expected only export lines from setup, got {line!r}"
        k, v = line[len("export "):].split("=", 1)
        out[k] = v
    return out


def test_workload_identity(env, idp, server, tmp_path):
    res = run_example(["examples/workload_identity.py", "setup"], {**env, "CI_OIDC_ISSUER": idp.issuer, "CI_OIDC_SUBJECT": CI_SUBJECT})
    job = exports(res.stdout)
    issuer = job["KEYZONE_ISSUER"]
    assert issuer.startswith(f"{server.public_url}/z/") and job["KEYZONE_RESOURCE"] == DEPLOY_API, job

    # The CI job has no Keyzone secret: only the two exported values (and PATH, HOME).
    ci = {k: v for k, v in env.items() if k not in ("KEYZONE_SERVER", "KEYZONE_API_KEY")}
    ci.update(job)

    # 1. A token from a file (GitLab id_tokens, a Kubernetes projected token...).
    token_file = tmp_path / "oidc-token"
    token_file.write_text(idp.token(CI_SUBJECT, issuer) + "\n")
    res = run_example(["examples/workload_identity.py", "token"], {**ci, "KEYZONE_OIDC_TOKEN_FILE": str(token_file)})
    at = res.stdout.strip()
    assert "\n" not in at, f"expected only the token on stdout, got {res.stdout!r}"
    checked = verified(issuer, DEPLOY_API, at)
    assert checked.scopes == ["deploy"] and checked.sub_profile == "app", checked
    deployer = checked.sub

    # 2. GitHub Actions: the audience is requested at run time, and it is the zone's issuer.
    gh = GitHubTokenEndpoint(idp, CI_SUBJECT)
    try:
        res = run_example(
            ["examples/workload_identity.py", "token"],
            {**ci, "ACTIONS_ID_TOKEN_REQUEST_URL": gh.url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": gh.request_token},
        )
    finally:
        gh.close()
    assert gh.audiences == [issuer], f"expected one token request for the audience {issuer!r}, got {gh.audiences!r}"
    assert verified(issuer, DEPLOY_API, res.stdout.strip()).sub == deployer

    # 3. Another repository's token is not trusted.
    other = idp.token("repo:acme/other:ref:refs/heads/main", issuer)
    res = run_program([sys.executable, "examples/workload_identity.py", "token"], {**ci, "KEYZONE_OIDC_TOKEN": other}, "token (other subject)")
    assert res.returncode != 0 and not res.stdout.strip(), f"expected a refusal, got {res.returncode}: {res.stdout!r}"
    assert "invalid_client" in res.stderr, f"expected invalid_client in the error, got:\n{tail(res.stderr)}"
    assert get_claims(at)["iss"] == issuer
