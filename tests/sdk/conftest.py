"""Fixtures for the official-SDK conformance suite (keycardai-api 0.18.0).

One `keyzone serve` process is started per pytest session, on a free loopback
port with a fresh data directory, and killed at the end. The storage backend is
chosen by KEYZONE_SDK_BACKEND (`sqlite`, the default, or `postgres`).

Before it, a mock AWS KMS (moto's server, see moto_kms_server.py) is started on
another free loopback port; the keyzone server reaches it through
KEYZONE_AWS_KMS_ENDPOINT with dummy AWS credentials. Tests create keys in it with
the `kms` (boto3 client) and `new_kms_key` fixtures.

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
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from keycardai_api import KeycardAPI

from sdk_processes import (
    READY_TIMEOUT_S,
    free_port,
    keyzone_bin,
    keyzone_env,
    kms_client,
    moto_argv,
    moto_env,
    spawn,
    stop,
    wait_ready,
)
from sdk_support import ServerDatabase

DEFAULT_PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/test"
LOG_TAIL_LINES = 200

# The SDK reads these from the environment when constructor arguments are None;
# a stray KEYCARD_API_CLIENT_ID/SECRET would make it fetch a token from the real
# api.keycard.ai. The suite passes everything explicitly, so drop them.
for _k in [k for k in os.environ if k.startswith("KEYCARD_API_")]:
    del os.environ[_k]
# Never send loopback traffic through a proxy (httpx honours *_PROXY env vars).
for _k in ("NO_PROXY", "no_proxy"):
    os.environ[_k] = ",".join(filter(None, [os.environ.get(_k, ""), "127.0.0.1", "localhost"]))

# Filled by the `server` and `moto` fixtures, read by pytest_terminal_summary.
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
    kms_endpoint: str  # the mock KMS the server was pointed at


@dataclass(frozen=True)
class Moto:
    port: int
    endpoint: str  # http://127.0.0.1:<port>
    tmp_dir: Path
    stdout_log: Path
    stderr_log: Path


def _backend() -> str:
    backend = os.environ.get("KEYZONE_SDK_BACKEND", "sqlite").strip().lower() or "sqlite"
    if backend not in ("sqlite", "postgres"):
        pytest.exit(f"KEYZONE_SDK_BACKEND must be 'sqlite' or 'postgres', got {backend!r}", returncode=4)
    return backend


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"<could not read {path}: {e}>"
    out = text.splitlines()[-lines:]
    return "\n".join(out) if out else "<empty>"


def _logs_report(stdout_log: Path, stderr_log: Path, what: str = "server") -> str:
    return (
        f"--- {what} stderr ({stderr_log}), last {LOG_TAIL_LINES} lines ---\n{_tail(stderr_log)}\n"
        f"--- {what} stdout ({stdout_log}), last {LOG_TAIL_LINES} lines ---\n{_tail(stdout_log)}"
    )


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


# --------------------------------------------------------------------------- mock AWS KMS (moto)


@pytest.fixture(scope="session")
def moto(request: pytest.FixtureRequest) -> Iterator[Moto]:
    """moto's server on a free loopback port, for the whole session (the keyzone server depends on it)."""
    tmp_dir = Path(tempfile.mkdtemp(prefix="keyzone-sdk-moto-"))
    stdout_log, stderr_log = tmp_dir / "moto.stdout.log", tmp_dir / "moto.stderr.log"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    argv = moto_argv(port)
    proc = spawn(argv, moto_env(), tmp_dir, stdout_log, stderr_log)
    atexit.register(stop, proc, "moto")
    m = Moto(port, endpoint, tmp_dir, stdout_log, stderr_log)
    _STATE.update(moto=m)

    # Any answer from moto's own API means the server is up and has imported its backends.
    ready, last = wait_ready(proc, f"{endpoint}/moto-api/data.json")
    if not ready:
        stop(proc, "moto")
        _STATE["keep_tmp"] = True
        pytest.fail(
            f"the mock KMS (moto) failed to start: expected GET {endpoint}/moto-api/data.json -> 200 within "
            f"{READY_TIMEOUT_S:.0f}s; last: {last}. Command: {' '.join(argv)}. "
            f"Logs: see the 'moto logs' section below.",
            pytrace=False,
        )
    try:
        yield m
    finally:
        stop(proc, "moto")
        if not (request.session.testsfailed or os.environ.get("KEYZONE_SDK_KEEP_TMP") == "1"):
            shutil.rmtree(tmp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def kms(moto: Moto) -> Any:
    """boto3 KMS client (us-east-1) for the mock, e.g. `kms.disable_key(KeyId=kms_key_id(arn))`."""
    return kms_client(moto.endpoint, "us-east-1")


@pytest.fixture(scope="session")
def new_kms_key(moto: Moto) -> Callable[..., str]:
    """`new_kms_key(region="us-east-1")` creates a fresh enabled symmetric key in the mock; returns its ARN."""
    clients: dict = {}

    def make(region: str = "us-east-1", description: str = "keyzone sdk suite") -> str:
        if region not in clients:
            clients[region] = kms_client(moto.endpoint, region)
        meta = clients[region].create_key(
            Description=description, KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT"
        )["KeyMetadata"]
        assert meta["KeyState"] == "Enabled" and meta["Arn"].startswith(f"arn:aws:kms:{region}:"), meta
        return meta["Arn"]

    return make


# --------------------------------------------------------------------------- server


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest, database_url: Optional[str], moto: Moto) -> Iterator[Server]:
    backend = _backend()
    bin_path = keyzone_bin()
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

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    api_key = "kzsdk_" + secrets.token_hex(24)

    env = keyzone_env(
        port=port,
        data_dir=data_dir,
        api_key=api_key,
        public_url=base_url,
        kms_endpoint=moto.endpoint,
        database_url=database_url,
    )
    proc = spawn([str(bin_path), "serve"], env, tmp_dir, stdout_log, stderr_log)
    atexit.register(stop, proc)  # belt and braces if the session is torn down abnormally

    srv = Server(backend, port, base_url, base_url, api_key, tmp_dir, stdout_log, stderr_log, moto.endpoint)
    _STATE.update(server=srv)

    ready, last = wait_ready(proc, f"{base_url}/readyz")
    if not ready:
        stop(proc)
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
        code = stop(proc)
        if code not in (0, None, -signal.SIGTERM):
            print(f"\nNOTE: keyzone exited with code {code} after SIGTERM", file=sys.stderr)
        if request.session.testsfailed or os.environ.get("KEYZONE_SDK_KEEP_TMP") == "1":
            _STATE["keep_tmp"] = True
        else:
            shutil.rmtree(tmp_dir, ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    srv: Optional[Server] = _STATE.get("server")
    m: Optional[Moto] = _STATE.get("moto")
    if srv is not None:
        terminalreporter.write_line(
            f"keyzone SDK suite: backend={srv.backend} base_url={srv.base_url} kms_endpoint={srv.kms_endpoint}"
        )
    if not _STATE.get("keep_tmp"):
        return
    if srv is not None:
        terminalreporter.write_line(f"server temp dir kept: {srv.tmp_dir}")
    if m is not None:
        terminalreporter.write_line(f"moto temp dir kept: {m.tmp_dir}")
    if exitstatus != 0:
        if srv is not None:
            terminalreporter.section("keyzone server logs (tail)")
            terminalreporter.write_line(_logs_report(srv.stdout_log, srv.stderr_log))
        if m is not None:
            terminalreporter.section("moto logs (tail)")
            terminalreporter.write_line(_logs_report(m.stdout_log, m.stderr_log, "moto"))


@pytest.fixture(scope="session")
def server_db(server: Server, database_url: Optional[str]) -> ServerDatabase:
    """Direct access to the session server's database (`<KEYZONE_DATA_DIR>/keyzone.db`, or the postgres
    database it was given), for rows only the authorization server writes (users, sessions, grants...)."""
    if server.backend == "postgres":
        assert database_url, "expected a database URL for the postgres backend"
        return ServerDatabase("postgres", pg_url=database_url)
    path = server.tmp_dir / "data" / "keyzone.db"
    assert path.is_file(), f"expected the server's SQLite database at {path}"
    return ServerDatabase("sqlite", sqlite_path=path)


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
