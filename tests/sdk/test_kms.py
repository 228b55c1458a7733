"""Customer-managed AWS KMS keys (a zone's `encryption_key`) through the official SDK, unchanged, with strict
response validation and no retries, against the real server and a mock KMS (moto, with AWS KMS's key-state rules:
see moto_kms_server.py).

What the server promises: the zone's data key is wrapped with KMS Encrypt (encryption context
{"keyzone:zone": <zone id>}) when the zone is created or its encryption_key changes, and unwrapped with KMS
Decrypt the first time the process needs it (then cached in memory). When KMS refuses or cannot be reached the
API answers 503 `service_unavailable`, `x-should-retry: false`, a message naming the cause, and changes nothing.

Because of the per-process cache, a refusal on the read path can only be shown by a server that has not opened
the zone yet: `test_restart_with_disabled_key_*` runs its own server process on its own data (SQLite) and
restarts it. Every other test uses the session's server.
"""

from __future__ import annotations

import base64
import os
import secrets as _secrets
import signal
import uuid
from pathlib import Path
from typing import Any, Iterator, Optional, Tuple

import pytest
from keycardai_api import APIStatusError, BadRequestError, InternalServerError, KeycardAPI
from keycardai_api.types import Zone

from sdk_processes import free_port, keyzone_bin, keyzone_env, spawn, stop, wait_ready
from sdk_support import assert_sdk_error, expect_error, kms_key_id, total_zone_count, unique_name

# --------------------------------------------------------------------------- helpers


def aws_key(arn: str) -> dict:
    return {"type": "aws", "arn": arn}


def token_data(value: Optional[str] = None) -> dict:
    return {"type": "token", "token": value or "tok_" + _secrets.token_hex(16)}


def new_zone(client: KeycardAPI, label: str, arn: Optional[str] = None) -> Zone:
    kwargs: dict = {"encryption_key": aws_key(arn)} if arn else {}
    return client.zones.create(name=unique_name(label), **kwargs)


def new_secret(client: KeycardAPI, zone_id: str, data: dict) -> str:
    s = client.zones.secrets.create(zone_id, data=data, entity_id="res_" + _secrets.token_hex(8), name=unique_name("kms-secret"))
    return s.id


def read_secret(client: KeycardAPI, zone_id: str, secret_id: str) -> dict:
    return client.zones.secrets.retrieve(secret_id, zone_id=zone_id).data.model_dump()


def assert_secret_readable(client: KeycardAPI, zone_id: str, secret_id: str, data: dict, context: str) -> None:
    try:
        got = read_secret(client, zone_id, secret_id)
    except APIStatusError as e:
        pytest.fail(f"expected secret {secret_id} of zone {zone_id} to be readable ({context}), got HTTP {e.status_code}: {e.body!r:.500}", pytrace=False)
    assert got == data, f"expected secret {secret_id} to still hold {data!r} ({context}), got {got!r}"


def assert_kms_unavailable(err: APIStatusError, context: str, mentions: Tuple[str, ...]) -> dict:
    """503 service_unavailable, x-should-retry: false, and a message naming the KMS cause."""
    body = assert_sdk_error(err, 503, "service_unavailable", context=context)
    retry = err.response.headers.get("x-should-retry")
    assert retry == "false", f"expected x-should-retry: false on a 503 caused by KMS ({context}), got {retry!r}"
    msg = body["message"]
    assert any(m in msg for m in mentions), f"expected the 503 message ({context}) to mention one of {list(mentions)}, got {msg!r}"
    return body


def other_key_arn(existing_arn: str) -> str:
    """A well-formed ARN in the same region and account as `existing_arn`, naming a key that does not exist."""
    return existing_arn.rsplit(":key/", 1)[0] + f":key/{uuid.uuid4()}"


# --------------------------------------------------------------------------- session server


def test_zone_with_kms_key_stores_and_returns_secrets(client, new_kms_key):
    arn = new_kms_key()
    raw = client.zones.with_raw_response.create(name=unique_name("kms"), encryption_key=aws_key(arn))
    assert raw.status_code == 201, f"expected POST /zones with a usable KMS key -> 201, got {raw.status_code}"
    zone = raw.parse()
    assert zone.encryption_key is not None and zone.encryption_key.model_dump() == aws_key(arn), (
        f"expected the create response to echo encryption_key {aws_key(arn)!r}, got {zone.encryption_key!r}"
    )
    got = client.zones.retrieve(zone.id).encryption_key
    assert got is not None and got.model_dump() == aws_key(arn), f"expected GET to show encryption_key {arn!r}, got {got!r}"

    data = token_data()
    secret_id = new_secret(client, zone.id, data)
    assert_secret_readable(client, zone.id, secret_id, data, "zone under a KMS key")


def _unknown_key(kms, arn: str) -> Tuple[str, Tuple[str, ...]]:
    return other_key_arn(arn), ("NotFoundException",)


def _disabled_key(kms, arn: str) -> Tuple[str, Tuple[str, ...]]:
    kms.disable_key(KeyId=kms_key_id(arn))
    return arn, ("DisabledException",)


def _key_pending_deletion(kms, arn: str) -> Tuple[str, Tuple[str, ...]]:
    kms.schedule_key_deletion(KeyId=kms_key_id(arn), PendingWindowInDays=7)
    return arn, ("KMSInvalidStateException", "pending deletion")


@pytest.mark.parametrize(
    "make_key",
    [
        pytest.param(_unknown_key, id="key-does-not-exist"),
        pytest.param(_disabled_key, id="key-disabled"),
        pytest.param(_key_pending_deletion, id="key-pending-deletion"),
    ],
)
def test_create_with_refused_kms_key_is_503_and_creates_nothing(client, kms, new_kms_key, make_key):
    arn, mentions = make_key(kms, new_kms_key())
    before = total_zone_count(client)
    err = expect_error(
        InternalServerError, f"POST /zones with encryption_key {arn}", client.zones.create, name=unique_name("kms-refused"), encryption_key=aws_key(arn)
    )
    assert_kms_unavailable(err, f"create with {arn}", mentions)
    assert total_zone_count(client) == before, "expected no zone to be created when KMS refuses to wrap its data key"


MALFORMED_ARNS = [
    "arn:foo",
    "arn:aws:kms:us-east-1:1:key/x",  # the account is 12 digits
    "arn:aws:s3:::bucket",  # not KMS
    "arn:aws:kms:us-east-1:123456789012:1234abcd",  # neither key/ nor alias/
    "arn:aws:kms::123456789012:key/x",  # no region
]


@pytest.mark.parametrize("arn", MALFORMED_ARNS)
def test_malformed_arn_is_400_before_kms_is_asked(client, arn):
    """A malformed ARN is the client's mistake (400 on the field), not KMS's refusal (503), on create and PATCH."""
    before = total_zone_count(client)
    err = expect_error(BadRequestError, f"POST /zones with encryption_key {arn}", client.zones.create, name=unique_name("kms-bad"), encryption_key=aws_key(arn))
    body = assert_sdk_error(err, 400, "validation_error", context=f"create with {arn}")
    assert [d["field"] for d in body["details"]] == ["encryption_key.arn"], body
    assert total_zone_count(client) == before
    zone = new_zone(client, "kms-bad-patch")
    err = expect_error(BadRequestError, f"PATCH encryption_key {arn}", client.zones.update, zone.id, encryption_key=aws_key(arn))
    body = assert_sdk_error(err, 400, "validation_error", context=f"PATCH with {arn}")
    assert [d["field"] for d in body["details"]] == ["encryption_key.arn"], body
    assert client.zones.retrieve(zone.id).encryption_key is None


def test_rewrap_to_disabled_key_is_refused_then_allowed_once_enabled(client, kms, new_kms_key):
    k1, k2, k3 = new_kms_key(), new_kms_key(), new_kms_key()
    zone = new_zone(client, "kms-rewrap", k1)
    data = token_data()
    secret_id = new_secret(client, zone.id, data)
    kms.disable_key(KeyId=kms_key_id(k3))

    # (a) PATCH to a disabled key: 503, and the zone is exactly as before (also the name sent along).
    before = client.zones.retrieve(zone.id)
    err = expect_error(
        InternalServerError, "PATCH encryption_key to a disabled key", client.zones.update, zone.id, encryption_key=aws_key(k3)
    )
    assert_kms_unavailable(err, "PATCH to a disabled key", ("DisabledException",))
    err = expect_error(
        InternalServerError,
        "PATCH name + encryption_key to a disabled key",
        client.zones.update,
        zone.id,
        name=unique_name("kms-renamed"),
        encryption_key=aws_key(k3),
    )
    assert_kms_unavailable(err, "PATCH name + disabled key", ("DisabledException",))
    after = client.zones.retrieve(zone.id)
    assert after.model_dump() == before.model_dump(), (
        f"expected a PATCH refused by KMS to change nothing\nbefore: {before.model_dump()}\nafter:  {after.model_dump()}"
    )
    assert after.encryption_key is not None and after.encryption_key.arn == k1
    assert_secret_readable(client, zone.id, secret_id, data, "after a refused re-wrap")

    # (b) PATCH to an enabled key works.
    updated = client.zones.update(zone.id, encryption_key=aws_key(k2))
    assert updated.encryption_key is not None and updated.encryption_key.model_dump() == aws_key(k2), (
        f"expected encryption_key {k2!r} after PATCH, got {updated.encryption_key!r}"
    )
    got = client.zones.retrieve(zone.id).encryption_key
    assert got is not None and got.arn == k2, f"expected GET to show {k2!r} after PATCH, got {got!r}"
    assert_secret_readable(client, zone.id, secret_id, data, "after re-wrap to another key")

    # (c) Back to the deployment's master key.
    cleared = client.zones.update(zone.id, encryption_key=None)
    assert cleared.encryption_key is None, f"expected encryption_key cleared by null, got {cleared.encryption_key!r}"
    assert client.zones.retrieve(zone.id).encryption_key is None, "expected the cleared encryption_key to persist"
    assert_secret_readable(client, zone.id, secret_id, data, "after moving back to the master key")

    # (d) Once re-enabled, the key that was refused is accepted.
    kms.enable_key(KeyId=kms_key_id(k3))
    updated = client.zones.update(zone.id, encryption_key=aws_key(k3))
    assert updated.encryption_key is not None and updated.encryption_key.arn == k3, (
        f"expected encryption_key {k3!r} once the key is enabled again, got {updated.encryption_key!r}"
    )
    assert client.zones.retrieve(zone.id).encryption_key.arn == k3  # type: ignore[union-attr]
    assert_secret_readable(client, zone.id, secret_id, data, "after re-wrap to the re-enabled key")


# --------------------------------------------------------------------------- a server of the test's own


class OwnServer:
    """A `keyzone serve` of one test, on its own data dir and SQLite database, restartable on the same data:
    the API key and master key stay fixed across restarts, the port is new each time."""

    def __init__(self, tmp: Path, kms_endpoint: str):
        self.tmp = tmp
        self.data_dir = tmp / "data"
        self.data_dir.mkdir()
        self.kms_endpoint = kms_endpoint
        self.api_key = "kzsdk_" + _secrets.token_hex(24)
        self.master_key = base64.b64encode(os.urandom(32)).decode()
        self.stdout_log, self.stderr_log = tmp / "server.stdout.log", tmp / "server.stderr.log"
        self.proc: Any = None
        self.base_url = ""
        self.starts = 0

    def start(self) -> None:
        assert self.proc is None, "server already running"
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        env = keyzone_env(
            port=port,
            data_dir=self.data_dir,
            api_key=self.api_key,
            public_url=self.base_url,
            kms_endpoint=self.kms_endpoint,
            master_key=self.master_key,
        )
        self.starts += 1
        self.proc = spawn([str(keyzone_bin()), "serve"], env, self.tmp, self.stdout_log, self.stderr_log)
        ready, last = wait_ready(self.proc, f"{self.base_url}/readyz")
        if not ready:
            self.stop()
            pytest.fail(f"own keyzone server (start #{self.starts}) did not become ready: {last}\n{self.logs()}", pytrace=False)

    def stop(self) -> Optional[int]:
        if self.proc is None:
            return None
        code = stop(self.proc)
        self.proc = None
        return code

    def client(self) -> KeycardAPI:
        return KeycardAPI(base_url=self.base_url, api_key=self.api_key, max_retries=0, _strict_response_validation=True)

    def logs(self, lines: int = 60) -> str:
        out = []
        for p in (self.stderr_log, self.stdout_log):
            try:
                tail = p.read_text(errors="replace").splitlines()[-lines:]
            except OSError as e:
                tail = [f"<could not read: {e}>"]
            out.append(f"--- {p} (last {lines} lines) ---\n" + "\n".join(tail))
        return "\n".join(out)


@pytest.fixture
def own_server(tmp_path: Path, moto) -> Iterator[OwnServer]:
    srv = OwnServer(tmp_path, moto.endpoint)
    try:
        yield srv
    finally:
        srv.stop()


def test_restart_with_disabled_key_refuses_reads_until_enabled(own_server, kms, new_kms_key):
    arn = new_kms_key()
    own_server.start()
    with own_server.client() as c:
        zone = new_zone(c, "kms-restart", arn)
        data = token_data()
        secret_id = new_secret(c, zone.id, data)
        plain_zone = new_zone(c, "kms-restart-master")
        plain_data = token_data()
        plain_secret_id = new_secret(c, plain_zone.id, plain_data)
        assert_secret_readable(c, zone.id, secret_id, data, "before the restart")

    code = own_server.stop()
    assert code in (0, -signal.SIGTERM), f"expected keyzone to exit cleanly on SIGTERM, got {code}\n{own_server.logs()}"
    kms.disable_key(KeyId=kms_key_id(arn))
    own_server.start()

    with own_server.client() as c:
        # The zone and its secret records are not encrypted: they stay visible.
        got = c.zones.retrieve(zone.id)
        assert got.encryption_key is not None and got.encryption_key.arn == arn, f"expected the zone to keep {arn!r}, got {got.encryption_key!r}"
        listed = [s.id for s in c.zones.secrets.list(zone.id)]
        assert secret_id in listed, f"expected the secret to be listed although its zone key cannot be unwrapped, got {listed}"

        # The value is: KMS refuses to unwrap the zone's data key.
        err = expect_error(
            InternalServerError, "GET of a secret whose zone key is under a disabled KMS key", c.zones.secrets.retrieve, secret_id, zone_id=zone.id
        )
        assert_kms_unavailable(err, "read after restart with a disabled key", ("DisabledException",))
        # Still refused on a second try (a failed unwrap must not be cached as something else).
        err = expect_error(InternalServerError, "a second GET of that secret", c.zones.secrets.retrieve, secret_id, zone_id=zone.id)
        assert_kms_unavailable(err, "second read with a disabled key", ("DisabledException",))

        # Zones under the master key are unaffected.
        assert_secret_readable(c, plain_zone.id, plain_secret_id, plain_data, "master-key zone, KMS key disabled")

        # Once the key is enabled again, nothing was lost.
        kms.enable_key(KeyId=kms_key_id(arn))
        assert_secret_readable(c, zone.id, secret_id, data, "after re-enabling the key")


def test_unreachable_kms_is_503_and_changes_nothing(tmp_path, new_kms_key):
    """A server whose KMS endpoint does not answer: KMS keys cannot be used, master-key zones work as usual."""
    dead = OwnServer(tmp_path, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    dead.start()
    try:
        with dead.client() as c:
            before = total_zone_count(c)
            arn = new_kms_key()
            err = expect_error(
                InternalServerError, "POST /zones with KMS unreachable", c.zones.create, name=unique_name("kms-dead"), encryption_key=aws_key(arn)
            )
            assert_kms_unavailable(err, "create with KMS unreachable", ("KMS",))
            assert total_zone_count(c) == before, "expected no zone to be created when KMS is unreachable"

            zone = new_zone(c, "kms-dead-master")
            data = token_data()
            secret_id = new_secret(c, zone.id, data)
            err = expect_error(
                InternalServerError, "PATCH encryption_key with KMS unreachable", c.zones.update, zone.id, encryption_key=aws_key(arn)
            )
            assert_kms_unavailable(err, "PATCH with KMS unreachable", ("KMS",))
            got = c.zones.retrieve(zone.id)
            assert got.model_dump() == zone.model_dump(), (
                f"expected a PATCH that KMS could not serve to change nothing\nbefore: {zone.model_dump()}\nafter:  {got.model_dump()}"
            )
            assert_secret_readable(c, zone.id, secret_id, data, "master-key zone, KMS unreachable")
    finally:
        dead.stop()
