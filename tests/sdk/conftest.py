"""Fixtures for the official-SDK conformance suite (keycardai-api 0.18.0).

One `keyzone serve` process is started per pytest session, on a free loopback
port with a fresh data directory, and killed at the end. The storage backend is
chosen by KEYZONE_SDK_BACKEND (`sqlite`, the default, or `postgres`).

Environment read here:
  KEYZONE_BIN                path to the server binary (default: <repo>/target/debug/keyzone)
  KEYZONE_SDK_BACKEND        sqlite | postgres
  KEYZONE_TEST_POSTGRES_URL  admin connection URL for the postgres run
                             (default: postgres://postgres@127.0.0.1:5432/test); a fresh
                             database kz_sdk_<hex> is created through it and dropped at the end
  KEYZONE_SDK_KEEP_TMP=1     keep the server's temp dir (data + logs) even if all tests pass
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from keycardai_api import KeycardAPI

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "keyzone"
DEFAULT_PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/test"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 200

# The SDK reads these from the environment when constructor arguments are None;
# a stray KEYCARD_API_CLIENT_ID/SECRET would make it fetch a token from the real
# api.keycard.ai. The suite passes everything explicitly, so drop them.
for _k in [k for k in os.environ if k.startswith("KEYCARD_API_")]:
    del os.environ[_k]
# Never send loopback traffic through a proxy (httpx honours *_PROXY env vars).
for _k in ("NO_PROXY", "no_proxy"):
    os.environ[_k] = ",".join(filter(None, [os.environ.get(_k, ""), "127.0.0.1", "localhost"]))

# Filled by the `server` fixture, read by pytest_terminal_summary.
_STATE: dict = {}


@dataclass(frozen=True)
class Server:
    backend: str
    port: int
    base_url: str  # http://127.0.0.1:<port>, no trailing slash
    public_url: str  # what KEYZONE_PUBLIC_URL was set to
    api_key: str
    tmp_dir: Path
    stdout_log: Path
    stderr_log: Path


def _backend() -> str:
    backend = os.environ.get("KEYZONE_SDK_BACKEND", "sqlite").strip().lower() or "sqlite"
    if backend not in ("sqlite", "postgres"):
        pytest.exit(f"KEYZONE_SDK_BACKEND must be 'sqlite' or 'postgres', got {backend!r}", returncode=4)
    return backend


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"<could not read {path}: {e}>"
    out = text.splitlines()[-lines:]
    return "\n".join(out) if out else "<empty>"


def _logs_report(stdout_log: Path, stderr_log: Path) -> str:
    return (
        f"--- server stderr ({stderr_log}), last {LOG_TAIL_LINES} lines ---\n{_tail(stderr_log)}\n"
        f"--- server stdout ({stdout_log}), last {LOG_TAIL_LINES} lines ---\n{_tail(stdout_log)}"
    )


def _set_pdeathsig() -> None:
    """In the child: get SIGTERM if the pytest process dies without cleaning up (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except Exception:
        pass


# --------------------------------------------------------------------------- postgres


def _psql(admin_url: Optional[str], sql: str) -> subprocess.CompletedProcess:
    if shutil.which("psql") is None:
        pytest.fail("KEYZONE_SDK_BACKEND=postgres but `psql` is not on PATH (needed to create the test database)")
    target = ["-d", admin_url] if admin_url else ["-h", "127.0.0.1", "-U", "postgres", "-d", "test"]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    return subprocess.run(
        ["psql", *target, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _server_db_url(admin_url: Optional[str], db: str) -> str:
    parts = urlsplit(admin_url or DEFAULT_PG_ADMIN_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + db, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def database_url() -> Iterator[Optional[str]]:
    """KEYZONE_DATABASE_URL for the server: None for sqlite, a fresh database for postgres."""
    if _backend() != "postgres":
        yield None
        return
    admin_url = os.environ.get("KEYZONE_TEST_POSTGRES_URL") or None
    db = f"kz_sdk_{secrets.token_hex(8)}"
    res = _psql(admin_url, f"CREATE DATABASE {db}")
    if res.returncode != 0:
        pytest.fail(
            f"could not create postgres database {db} via "
            f"{admin_url or 'psql -h 127.0.0.1 -U postgres -d test'}: exit {res.returncode}\n{res.stderr}"
        )
    try:
        yield _server_db_url(admin_url, db)
    finally:
        res = _psql(admin_url, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        if res.returncode != 0:
            print(f"\nWARNING: could not drop test database {db}: {res.stderr}", file=sys.stderr)


# --------------------------------------------------------------------------- server


def _stop(proc: subprocess.Popen) -> Optional[int]:
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"\nWARNING: keyzone (pid {proc.pid}) ignored SIGTERM for {STOP_TIMEOUT_S}s; killing it", file=sys.stderr)
        proc.kill()
        return proc.wait(timeout=10)


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest, database_url: Optional[str]) -> Iterator[Server]:
    backend = _backend()
    bin_path = Path(os.environ.get("KEYZONE_BIN") or DEFAULT_BIN).resolve()
    if not bin_path.is_file() or not os.access(bin_path, os.X_OK):
        pytest.fail(
            f"keyzone binary not found or not executable at {bin_path}; build it first "
            "(cargo build --bin keyzone) or point KEYZONE_BIN at it",
            pytrace=False,
        )

    tmp_dir = Path(tempfile.mkdtemp(prefix=f"keyzone-sdk-{backend}-"))
    data_dir = tmp_dir / "data"
    data_dir.mkdir()
    stdout_log = tmp_dir / "server.stdout.log"
    stderr_log = tmp_dir / "server.stderr.log"

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    api_key = "kzsdk_" + secrets.token_hex(24)

    # Hermetic environment: nothing KEYZONE_* leaks in from the caller (e.g. a
    # KEYZONE_DATABASE_URL would silently turn the sqlite run into a postgres one).
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYZONE_")}
    env.update(
        KEYZONE_LISTEN=f"127.0.0.1:{port}",
        KEYZONE_DATA_DIR=str(data_dir),
        KEYZONE_BOOTSTRAP_API_KEY=api_key,
        KEYZONE_PUBLIC_URL=base_url,
        KEYZONE_LOG_FORMAT="json",
    )
    if database_url:
        env["KEYZONE_DATABASE_URL"] = database_url

    with open(stdout_log, "wb") as out, open(stderr_log, "wb") as err:
        proc = subprocess.Popen(
            [str(bin_path), "serve"],
            env=env,
            cwd=str(tmp_dir),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=_set_pdeathsig if sys.platform.startswith("linux") else None,
        )
    atexit.register(_stop, proc)  # belt and braces if the session is torn down abnormally

    srv = Server(backend, port, base_url, base_url, api_key, tmp_dir, stdout_log, stderr_log)
    _STATE.update(server=srv)

    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no attempt made"
    ready = False
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            last = f"process exited with code {proc.returncode}"
            break
        try:
            r = httpx.get(f"{base_url}/readyz", timeout=2.0, trust_env=False)
            if r.status_code == 200:
                ready = True
                break
            last = f"GET /readyz -> {r.status_code} {r.text[:200]!r}"
        except httpx.TransportError as e:
            last = f"GET /readyz -> {type(e).__name__}: {e}"
        time.sleep(0.1)

    if not ready:
        _stop(proc)
        _STATE["keep_tmp"] = True
        # Every test reports this (session fixture errors are cached); the logs
        # are printed once, in the "keyzone server logs" section at the end.
        pytest.fail(
            f"keyzone ({backend}) failed to start: expected GET {base_url}/readyz -> 200 "
            f"within {READY_TIMEOUT_S:.0f}s; last: {last}. "
            f"Command: {bin_path} serve. Server logs: see the 'keyzone server logs' section below.",
            pytrace=False,
        )

    try:
        yield srv
    finally:
        code = _stop(proc)
        if code not in (0, None, -signal.SIGTERM):
            print(f"\nNOTE: keyzone exited with code {code} after SIGTERM", file=sys.stderr)
        if request.session.testsfailed or os.environ.get("KEYZONE_SDK_KEEP_TMP") == "1":
            _STATE["keep_tmp"] = True
        else:
            shutil.rmtree(tmp_dir, ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    srv: Optional[Server] = _STATE.get("server")
    if srv is None:
        return
    terminalreporter.write_line(f"keyzone SDK suite: backend={srv.backend} base_url={srv.base_url}")
    if _STATE.get("keep_tmp"):
        terminalreporter.write_line(f"server temp dir kept: {srv.tmp_dir}")
        if exitstatus != 0:
            terminalreporter.section("keyzone server logs (tail)")
            terminalreporter.write_line(_logs_report(srv.stdout_log, srv.stderr_log))


# --------------------------------------------------------------------------- clients


@pytest.fixture
def client(server: Server) -> Iterator[KeycardAPI]:
    """The official SDK, unchanged, with strict response validation and no retries."""
    c = KeycardAPI(
        base_url=server.base_url,
        api_key=server.api_key,
        max_retries=0,
        _strict_response_validation=True,
    )
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    """Raw HTTP client with the valid API key (no redirects, no proxies)."""
    with httpx.Client(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=30.0,
        follow_redirects=False,
        trust_env=False,
    ) as c:
        yield c


@pytest.fixture
def anon_http(server: Server) -> Iterator[httpx.Client]:
    """Raw HTTP client without any Authorization header."""
    with httpx.Client(base_url=server.base_url, timeout=30.0, follow_redirects=False, trust_env=False) as c:
        yield c
