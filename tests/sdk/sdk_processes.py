"""Starting and stopping the processes the SDK suite talks to: `keyzone serve` and the KMS mock (moto).

Shared by conftest.py (the session's server) and tests that need a server of their own (test_kms.py restarts
one), so every keyzone process gets the same hermetic environment.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "keyzone"
MOTO_LAUNCHER = Path(__file__).resolve().parent / "moto_kms_server.py"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0

# Dummy credentials: moto accepts any, and AWS_EC2_METADATA_DISABLED keeps the AWS credential chain from
# probing the instance-metadata endpoint.
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def keyzone_bin() -> Path:
    return Path(os.environ.get("KEYZONE_BIN") or DEFAULT_BIN).resolve()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_pdeathsig() -> None:
    """In the child: get SIGTERM if the pytest process dies without cleaning up (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except Exception:
        pass


def spawn(argv: List[str], env: Dict[str, str], cwd: Path, stdout_log: Path, stderr_log: Path) -> subprocess.Popen:
    """Start a child in its own session, logs appended to the given files."""
    with open(stdout_log, "ab") as out, open(stderr_log, "ab") as err:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=str(cwd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=set_pdeathsig if sys.platform.startswith("linux") else None,
        )


def stop(proc: subprocess.Popen, name: str = "keyzone") -> Optional[int]:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; returns the exit code."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"\nWARNING: {name} (pid {proc.pid}) ignored SIGTERM for {STOP_TIMEOUT_S}s; killing it", file=sys.stderr)
        proc.kill()
        return proc.wait(timeout=10)


def wait_ready(proc: subprocess.Popen, url: str, timeout: float = READY_TIMEOUT_S, ok: Tuple[int, ...] = (200,)) -> Tuple[bool, str]:
    """Poll GET `url` until it answers with a status in `ok`; (ready, what the last attempt saw)."""
    deadline = time.monotonic() + timeout
    last = "no attempt made"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False, f"process exited with code {proc.returncode}"
        try:
            r = httpx.get(url, timeout=2.0, trust_env=False)
            if r.status_code in ok:
                return True, f"GET {url} -> {r.status_code}"
            last = f"GET {url} -> {r.status_code} {r.text[:200]!r}"
        except httpx.TransportError as e:
            last = f"GET {url} -> {type(e).__name__}: {e}"
        time.sleep(0.1)
    return False, last


def moto_argv(port: int) -> List[str]:
    """moto's server (moto_server's own entry point) with AWS KMS's key-state rules added: see moto_kms_server.py."""
    return [sys.executable, str(MOTO_LAUNCHER), "-H", "127.0.0.1", "-p", str(port)]


def moto_env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    env.update(AWS_TEST_ENV)
    return env


def keyzone_env(
    *,
    port: int,
    data_dir: Path,
    api_key: str,
    public_url: str,
    kms_endpoint: str,
    database_url: Optional[str] = None,
    master_key: Optional[str] = None,
) -> Dict[str, str]:
    """Hermetic environment for `keyzone serve`: nothing KEYZONE_* or AWS_* leaks in from the caller (e.g. a
    KEYZONE_DATABASE_URL would silently turn the sqlite run into a postgres one, an AWS_PROFILE or session token
    would change what the AWS credential chain finds)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYZONE_", "AWS_"))}
    env.update(AWS_TEST_ENV)
    env.update(
        KEYZONE_LISTEN=f"127.0.0.1:{port}",
        KEYZONE_DATA_DIR=str(data_dir),
        KEYZONE_BOOTSTRAP_API_KEY=api_key,
        KEYZONE_PUBLIC_URL=public_url,
        KEYZONE_LOG_FORMAT="json",
        KEYZONE_AWS_KMS_ENDPOINT=kms_endpoint,
        # The suite's JWT issuers and client identity documents are served on
        # loopback over http; a real deployment keeps the SSRF guard on.
        KEYZONE_OUTBOUND_ALLOW_PRIVATE="true",
        # Short, so test_hostile_input sees a slow client disconnected quickly.
        KEYZONE_HTTP_HEADER_TIMEOUT_SECS="3",
    )
    if database_url:
        env["KEYZONE_DATABASE_URL"] = database_url
    if master_key:
        env["KEYZONE_MASTER_KEY"] = master_key
    return env


def kms_client(endpoint: str, region: str = "us-east-1"):
    """A boto3 KMS client for the mock, with the dummy credentials."""
    import boto3

    return boto3.client(
        "kms",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=AWS_TEST_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
    )
