"""Zone secrets (`/zones/{zone_id}/secrets`, `/zones/{zone_id}/secrets/{id}`) through the official SDK, unchanged,
with strict response validation and no retries.

Every test creates its own zones and secrets; none assumes an empty database. Entity ids are random strings:
the server does not (yet) check that `entity_id` names an existing entity.

Decisions where the spec is silent (the seeds only give the models):
  * `version` starts at 1 and is bumped only when `data` changes; a PATCH of name/description/metadata alone
    keeps it.
  * `metadata` given on PATCH replaces the stored object as a whole (no key-level merge).
  * The secret material (`data`) is returned only by GET of one secret: never by create, update or list.
"""

from __future__ import annotations

import secrets as _secrets
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import pytest
from keycardai_api import BadRequestError, KeycardAPI, NotFoundError, Omit, omit
from keycardai_api.types import Zone
from keycardai_api.types.zones import Secret, SecretPasswordFields, SecretRetrieveResponse, SecretTokenFields

from sdk_support import UNKNOWN_ZONE_ID, assert_detail_field, assert_sdk_error, expect_error, unique_name

# A well-formed id that no server will ever have issued for a secret.
UNKNOWN_SECRET_ID = "zzzzzzzzzzzzzzzzzzzz"
REQUEST_ID = "abc-123"
# Covers nesting, arrays, unicode, numbers, booleans and null: "any JSON object, returned as given".
RICH_METADATA = {
    "owner": "team-platform",
    "rotation": {"days": 30, "auto": True, "last": None},
    "tags": ["prod", "db", 3, 1.5, False],
    "ünïcødé": "東京 — ✓",
    "empty": {},
}
COMMON_FIELDS = ("id", "created_at", "updated_at", "entity_id", "name", "version", "zone_id", "description", "metadata")


# --------------------------------------------------------------------------- helpers and fixtures


def new_entity_id() -> str:
    return "res_" + _secrets.token_hex(8)


def token_data(value: Optional[str] = None) -> dict:
    return {"type": "token", "token": value or "tok_" + _secrets.token_hex(16)}


def password_data(username: str = "u", password: Optional[str] = None) -> dict:
    return {"type": "password", "username": username, "password": password or "pw_" + _secrets.token_hex(12)}


def new_secret(client: KeycardAPI, zone_id: str, data: Optional[dict] = None, **kwargs: Any) -> Secret:
    return client.zones.secrets.create(
        zone_id,
        data=data if data is not None else token_data(),
        entity_id=kwargs.pop("entity_id", None) or new_entity_id(),
        name=kwargs.pop("name", None) or unique_name("secret"),
        **kwargs,
    )


def raw_json(raw: Any, what: str) -> Any:
    """JSON body of a `.with_raw_response` result, checking it is served as JSON."""
    ctype = raw.headers.get("content-type", "")
    assert "json" in ctype, f"expected a JSON content-type for {what}, got {ctype!r}"
    return raw.http_response.json()


def assert_no_data_key(obj: Any, what: str) -> None:
    assert isinstance(obj, dict), f"expected a JSON object for {what}, got {type(obj).__name__}: {obj!r:.300}"
    assert "data" not in obj, (
        f"expected {what} NOT to contain the secret material ('data'); only GET of one secret returns it. Got {obj!r:.500}"
    )


def assert_timestamps(s: Any, context: str, not_before: Optional[datetime] = None) -> None:
    for field in ("created_at", "updated_at"):
        ts = getattr(s, field)
        assert isinstance(ts, datetime) and ts.tzinfo is not None, f"expected {field} with a UTC offset ({context}), got {ts!r}"
        if not_before is not None:
            assert abs(ts - not_before) < timedelta(minutes=5), f"expected {field} close to now ({context}), got {ts}"
    assert s.updated_at >= s.created_at, f"expected updated_at >= created_at ({context}): {s.updated_at} < {s.created_at}"


def assert_same_common_fields(a: Any, b: Any, context: str, skip: tuple = ()) -> None:
    for f in COMMON_FIELDS:
        if f in skip:
            continue
        assert getattr(a, f) == getattr(b, f), f"expected {f} to match ({context}): {getattr(a, f)!r} != {getattr(b, f)!r}"


def list_ids(client: KeycardAPI, zone_id: str, **params: Any) -> list:
    items = client.zones.secrets.list(zone_id, **params)
    assert isinstance(items, list), (
        f"expected secrets.list to return a python list (bare JSON array on the wire), got {type(items).__name__}: {items!r:.300}"
    )
    got = [s.id for s in items]
    dupes = sorted({i for i in got if got.count(i) > 1})
    assert not dupes, f"expected each secret at most once in GET /zones/{zone_id}/secrets {params}, duplicates: {dupes}"
    return got


@pytest.fixture
def zone(client: KeycardAPI) -> Zone:
    return client.zones.create(name=unique_name("secrets"))


@pytest.fixture
def other_zone(client: KeycardAPI) -> Zone:
    return client.zones.create(name=unique_name("secrets-other"))


# --------------------------------------------------------------------------- create


@pytest.mark.parametrize(
    "data",
    [pytest.param(token_data("tok_create"), id="token"), pytest.param(password_data("u", "p"), id="password")],
)
def test_create_returns_secret_without_data(client, zone, data):
    name, entity_id = unique_name("create"), new_entity_id()
    before = datetime.now(timezone.utc)
    raw = client.zones.secrets.with_raw_response.create(zone.id, data=data, entity_id=entity_id, name=name)
    assert raw.status_code in (200, 201), f"expected POST …/secrets -> 200/201, got {raw.status_code}"
    assert_no_data_key(raw_json(raw, "the create response"), "the create response")
    s = raw.parse()  # strict validation as Secret

    assert isinstance(s, Secret)
    assert s.id, "expected a non-empty secret id"
    assert s.name == name, f"expected name {name!r}, got {s.name!r}"
    assert s.entity_id == entity_id, f"expected entity_id {entity_id!r} echoed, got {s.entity_id!r}"
    assert s.zone_id == zone.id, f"expected zone_id == the path zone {zone.id!r}, got {s.zone_id!r}"
    assert s.type == data["type"], f"expected type == data.type {data['type']!r}, got {s.type!r}"
    assert s.version == 1, f"expected version 1 on a new secret, got {s.version!r}"
    assert s.description is None, f"expected no description when none was given, got {s.description!r}"
    assert s.metadata is None, f"expected no metadata when none was given, got {s.metadata!r}"
    assert_timestamps(s, "create response", not_before=before)


def test_create_with_description_and_metadata_echoed_and_persisted(client, zone):
    s = new_secret(client, zone.id, password_data(), description="db credentials", metadata=RICH_METADATA)
    got = client.zones.secrets.retrieve(s.id, zone_id=zone.id)
    listed = [x for x in client.zones.secrets.list(zone.id) if x.id == s.id]
    assert len(listed) == 1, f"expected the new secret {s.id} exactly once in the list, got {len(listed)}"
    for label, x in (("create response", s), ("retrieve", got), ("list item", listed[0])):
        assert x.description == "db credentials", f"{label}: expected description echoed, got {x.description!r}"
        assert x.metadata == RICH_METADATA, f"{label}: expected metadata returned exactly as given\nexpected {RICH_METADATA!r}\ngot      {x.metadata!r}"


def test_create_description_of_128_chars_is_accepted(client, zone):
    s = new_secret(client, zone.id, description="d" * 128)
    assert s.description == "d" * 128, f"expected the 128-char description echoed, got {s.description!r:.60}…"


def test_create_with_body_zone_id(client, zone):
    """The SDK names the path param `path_zone_id` and can also send `zone_id` in the body (`body_zone_id=`)."""
    entity_id = new_entity_id()
    s = client.zones.secrets.create(
        path_zone_id=zone.id, body_zone_id=zone.id, data=token_data(), entity_id=entity_id, name=unique_name("body-zone")
    )
    assert s.zone_id == zone.id, f"expected zone_id {zone.id!r} when zone_id is also in the body, got {s.zone_id!r}"
    got = client.zones.secrets.retrieve(s.id, zone_id=zone.id)
    assert got.entity_id == entity_id


def test_two_secrets_get_distinct_ids(client, zone):
    a, b = new_secret(client, zone.id), new_secret(client, zone.id)
    assert a.id != b.id, f"expected distinct ids for two secrets, both got {a.id!r}"


# --------------------------------------------------------------------------- retrieve


@pytest.mark.parametrize(
    "data, model",
    [
        pytest.param(token_data("tok_" + "x" * 40), SecretTokenFields, id="token"),
        pytest.param(password_data("svc-user", "p@ss w0rd ✓"), SecretPasswordFields, id="password"),
    ],
)
def test_retrieve_returns_stored_data(client, zone, data, model):
    created = new_secret(client, zone.id, data, description="round trip", metadata={"k": "v"})
    got = client.zones.secrets.retrieve(created.id, zone_id=zone.id)  # strict: SecretRetrieveResponse
    assert isinstance(got, SecretRetrieveResponse)
    assert isinstance(got.data, model), f"expected data parsed as {model.__name__} (by type), got {type(got.data).__name__}"
    assert got.data.model_dump() == data, f"expected retrieve to return the stored data {data!r}, got {got.data.model_dump()!r}"
    assert_same_common_fields(got, created, "retrieve vs create response")


def test_retrieve_unknown_secret_is_404(client, zone):
    err = expect_error(NotFoundError, "GET of an unknown secret", client.zones.secrets.retrieve, UNKNOWN_SECRET_ID, zone_id=zone.id)
    assert_sdk_error(err, 404, "not_found", context="GET unknown secret")


def test_retrieve_in_unknown_zone_is_404(client, zone):
    s = new_secret(client, zone.id)
    err = expect_error(NotFoundError, "GET of a secret through an unknown zone", client.zones.secrets.retrieve, s.id, zone_id=UNKNOWN_ZONE_ID)
    assert_sdk_error(err, 404, "not_found", context="GET secret in unknown zone")


# --------------------------------------------------------------------------- list


def test_list_is_bare_array_of_secrets_without_data(client, zone):
    made = {new_secret(client, zone.id, token_data()).id, new_secret(client, zone.id, password_data()).id}
    raw = client.zones.secrets.with_raw_response.list(zone.id)
    body = raw_json(raw, f"GET /zones/{zone.id}/secrets")
    assert isinstance(body, list), f"expected a bare JSON array (no envelope), got {type(body).__name__}: {body!r:.300}"
    for item in body:
        assert_no_data_key(item, "a secrets list item")
    items = raw.parse()  # strict: List[Secret]
    assert isinstance(items, list) and all(isinstance(x, Secret) for x in items), f"expected a list of Secret, got {items!r:.300}"
    assert {x.id for x in items} == made, f"expected exactly the 2 secrets of this fresh zone {made}, got {[x.id for x in items]}"
    for x in items:
        assert x.zone_id == zone.id, f"expected every listed secret to have zone_id {zone.id}, got {x.zone_id!r}"
        assert x.version == 1, f"expected version 1 for an untouched secret, got {x.version!r}"


def test_list_empty_zone_is_empty_array(client, zone):
    raw = client.zones.secrets.with_raw_response.list(zone.id)
    body = raw_json(raw, "list of an empty zone")
    assert body == [], f"expected [] for a zone without secrets, got {body!r:.300}"


def test_list_filters(client, zone):
    e1, e2 = new_entity_id(), new_entity_id()
    t1 = new_secret(client, zone.id, token_data(), entity_id=e1).id
    p1 = new_secret(client, zone.id, password_data(), entity_id=e1).id
    t2 = new_secret(client, zone.id, token_data(), entity_id=e2).id
    cases = [
        ({}, {t1, p1, t2}),
        ({"entity_id": e1}, {t1, p1}),
        ({"entity_id": e2}, {t2}),
        ({"type": "token"}, {t1, t2}),
        ({"type": "password"}, {p1}),
        ({"entity_id": e1, "type": "password"}, {p1}),
        ({"entity_id": e2, "type": "password"}, set()),
        ({"entity_id": new_entity_id()}, set()),
    ]
    for params, expected in cases:
        got = list_ids(client, zone.id, **params)
        assert set(got) == expected, f"expected GET …/secrets with {params or 'no filter'} to return {sorted(expected)}, got {sorted(got)}"
    for x in client.zones.secrets.list(zone.id, type="token"):
        assert x.type == "token", f"expected only token secrets with type=token, got {x.type!r} for {x.id}"


def test_list_never_shows_other_zones_secrets(client, zone, other_zone):
    entity_id = new_entity_id()  # the same entity id in both zones
    mine = new_secret(client, zone.id, entity_id=entity_id).id
    theirs = new_secret(client, other_zone.id, entity_id=entity_id).id
    for params in ({}, {"entity_id": entity_id}, {"type": "token"}):
        assert list_ids(client, zone.id, **params) == [mine], (
            f"expected only zone {zone.id}'s secret {mine} with {params or 'no filter'} (not {theirs} of zone {other_zone.id})"
        )
        assert list_ids(client, other_zone.id, **params) == [theirs], (
            f"expected only zone {other_zone.id}'s secret {theirs} with {params or 'no filter'} (not {mine} of zone {zone.id})"
        )


# --------------------------------------------------------------------------- update


def test_update_data_bumps_version_and_changes_value(client, zone):
    created = new_secret(client, zone.id, token_data("tok_old"), description="keep", metadata={"keep": True})
    new = token_data("tok_new")
    raw = client.zones.secrets.with_raw_response.update(created.id, zone_id=zone.id, data=new)
    assert_no_data_key(raw_json(raw, "the update response"), "the update response")
    updated = raw.parse()  # strict: Secret
    assert updated.version == 2, f"expected version 1 -> 2 after PATCH with new data, got {updated.version!r}"
    assert updated.type == "token", f"expected type 'token' kept, got {updated.type!r}"
    assert updated.updated_at >= created.updated_at, f"expected updated_at not to go back: {created.updated_at} -> {updated.updated_at}"
    assert_same_common_fields(updated, created, "update data only", skip=("version", "updated_at"))

    got = client.zones.secrets.retrieve(created.id, zone_id=zone.id)
    assert got.data.model_dump() == new, f"expected retrieve after PATCH to return the new data {new!r}, got {got.data.model_dump()!r}"
    assert got.version == 2, f"expected retrieve to show version 2, got {got.version!r}"

    again = client.zones.secrets.update(created.id, zone_id=zone.id, data=token_data("tok_newer"))
    assert again.version == 3, f"expected a second data change to bump version 2 -> 3, got {again.version!r}"


def test_update_password_data(client, zone):
    created = new_secret(client, zone.id, password_data("u", "p"))
    new = password_data("u2", "p2")
    updated = client.zones.secrets.update(created.id, zone_id=zone.id, data=new)
    assert updated.version == 2, f"expected version 2 after changing password data, got {updated.version!r}"
    got = client.zones.secrets.retrieve(created.id, zone_id=zone.id)
    assert isinstance(got.data, SecretPasswordFields) and got.data.model_dump() == new, (
        f"expected the new password data {new!r}, got {got.data.model_dump()!r}"
    )


def test_update_name_description_metadata_keeps_data_and_version(client, zone):
    data = token_data("tok_keep")
    created = new_secret(client, zone.id, data, description="old", metadata={"a": 1})
    new_name = unique_name("renamed")
    new_meta = {"b": [1, 2], "c": {"d": None}}
    updated = client.zones.secrets.update(created.id, zone_id=zone.id, name=new_name, description="new", metadata=new_meta)
    assert updated.name == new_name, f"expected name {new_name!r}, got {updated.name!r}"
    assert updated.description == "new", f"expected description 'new', got {updated.description!r}"
    assert updated.metadata == new_meta, f"expected metadata replaced by {new_meta!r}, got {updated.metadata!r}"
    assert updated.version == created.version == 1, (
        f"expected version unchanged (1) by a PATCH without data, got {updated.version!r}"
    )
    assert updated.type == created.type
    assert_same_common_fields(updated, created, "metadata-only update", skip=("name", "description", "metadata", "updated_at"))

    got = client.zones.secrets.retrieve(created.id, zone_id=zone.id)
    assert got.data.model_dump() == data, f"expected data kept as {data!r} by a PATCH without data, got {got.data.model_dump()!r}"
    assert got.version == 1, f"expected retrieve to still show version 1, got {got.version!r}"
    assert_same_common_fields(got, updated, "retrieve after metadata-only update")


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"name": "only-name"}, id="name"),
        pytest.param({"description": "only-description"}, id="description"),
        pytest.param({"metadata": {"only": "metadata"}}, id="metadata"),
        pytest.param({}, id="empty-body"),
    ],
)
def test_update_single_field_keeps_the_rest(client, zone, kwargs):
    data = password_data("keep-user", "keep-pass")
    created = new_secret(client, zone.id, data, description="orig", metadata={"orig": True})
    updated = client.zones.secrets.update(created.id, zone_id=zone.id, **kwargs)
    for field, value in kwargs.items():
        assert getattr(updated, field) == value, f"expected {field} set to {value!r}, got {getattr(updated, field)!r}"
    assert_same_common_fields(updated, created, f"PATCH {kwargs}", skip=(*kwargs, "updated_at"))
    got = client.zones.secrets.retrieve(created.id, zone_id=zone.id)
    assert got.data.model_dump() == data, f"expected data kept after PATCH {kwargs}, got {got.data.model_dump()!r}"
    assert got.version == 1, f"expected version 1 kept after PATCH {kwargs}, got {got.version!r}"


def test_update_unknown_secret_is_404(client, zone):
    err = expect_error(
        NotFoundError, "PATCH of an unknown secret", client.zones.secrets.update, UNKNOWN_SECRET_ID, zone_id=zone.id, name="x"
    )
    assert_sdk_error(err, 404, "not_found", context="PATCH unknown secret")


# --------------------------------------------------------------------------- zone isolation


def test_other_zone_path_cannot_see_or_touch_a_secret(client, zone, other_zone):
    data = token_data("tok_zone_b")
    s = new_secret(client, other_zone.id, data, name="in zone B")
    where = f"secret {s.id} of zone {other_zone.id} through zone {zone.id}'s path"

    err = expect_error(NotFoundError, f"GET of {where}", client.zones.secrets.retrieve, s.id, zone_id=zone.id)
    assert_sdk_error(err, 404, "not_found", context=f"GET {where}")
    err = expect_error(
        NotFoundError, f"PATCH of {where}", client.zones.secrets.update, s.id, zone_id=zone.id, name="hijacked", data=token_data("tok_evil")
    )
    assert_sdk_error(err, 404, "not_found", context=f"PATCH {where}")
    err = expect_error(NotFoundError, f"DELETE of {where}", client.zones.secrets.delete, s.id, zone_id=zone.id)
    assert_sdk_error(err, 404, "not_found", context=f"DELETE {where}")

    got = client.zones.secrets.retrieve(s.id, zone_id=other_zone.id)
    assert got.name == "in zone B" and got.version == 1, (
        f"expected the secret untouched by the rejected cross-zone requests, got name {got.name!r} version {got.version!r}"
    )
    assert got.data.model_dump() == data, f"expected the data untouched, got {got.data.model_dump()!r}"


# --------------------------------------------------------------------------- delete


def test_delete_then_404(client, zone):
    s = new_secret(client, zone.id)
    keep = new_secret(client, zone.id)
    assert client.zones.secrets.delete(s.id, zone_id=zone.id) is None

    err = expect_error(NotFoundError, "GET of a deleted secret", client.zones.secrets.retrieve, s.id, zone_id=zone.id)
    assert_sdk_error(err, 404, "not_found", context="GET deleted secret")
    err = expect_error(NotFoundError, "a second DELETE", client.zones.secrets.delete, s.id, zone_id=zone.id)
    assert_sdk_error(err, 404, "not_found", context="DELETE deleted secret")
    err = expect_error(NotFoundError, "PATCH of a deleted secret", client.zones.secrets.update, s.id, zone_id=zone.id, name="resurrect")
    assert_sdk_error(err, 404, "not_found", context="PATCH deleted secret")

    assert list_ids(client, zone.id) == [keep.id], f"expected only {keep.id} left in the list after deleting {s.id}"
    client.zones.secrets.retrieve(keep.id, zone_id=zone.id)  # the sibling is unaffected


def test_delete_unknown_secret_is_404(client, zone):
    err = expect_error(NotFoundError, "DELETE of an unknown secret", client.zones.secrets.delete, UNKNOWN_SECRET_ID, zone_id=zone.id)
    assert_sdk_error(err, 404, "not_found", context="DELETE unknown secret")


def test_deleting_the_zone_deletes_its_secrets(client):
    z = client.zones.create(name=unique_name("secrets-doomed"))
    s = new_secret(client, z.id, password_data())
    client.zones.delete(z.id)
    err = expect_error(NotFoundError, "GET of a secret of a deleted zone", client.zones.secrets.retrieve, s.id, zone_id=z.id)
    assert_sdk_error(err, 404, "not_found", context="GET secret of deleted zone")


# --------------------------------------------------------------------------- X-Client-Request-ID


def test_client_request_id_is_echoed_on_every_secrets_call(client, zone):
    sec = client.zones.secrets.with_raw_response
    created_raw = sec.create(zone.id, data=token_data(), entity_id=new_entity_id(), name=unique_name("rid"), x_client_request_id=REQUEST_ID)
    created = created_raw.parse()
    calls = {
        "create": created_raw,
        "list": sec.list(zone.id, x_client_request_id=REQUEST_ID),
        "retrieve": sec.retrieve(created.id, zone_id=zone.id, x_client_request_id=REQUEST_ID),
        "update": sec.update(created.id, zone_id=zone.id, name=unique_name("rid2"), x_client_request_id=REQUEST_ID),
        "delete": sec.delete(created.id, zone_id=zone.id, x_client_request_id=REQUEST_ID),
    }
    for op, raw in calls.items():
        got = raw.headers.get("x-request-id")
        assert got == REQUEST_ID, f"expected secrets.{op}(x_client_request_id={REQUEST_ID!r}) to get X-Request-ID {REQUEST_ID!r}, got {got!r}"
        if op != "delete":
            raw.parse()  # still strictly valid

    err = expect_error(
        NotFoundError, "GET of a deleted secret", client.zones.secrets.retrieve, created.id, zone_id=zone.id, x_client_request_id=REQUEST_ID
    )
    body = assert_sdk_error(err, 404, "not_found", context="GET deleted secret with x_client_request_id")
    assert body["request_id"] == REQUEST_ID, f"expected request_id {REQUEST_ID!r} in the error body, got {body['request_id']!r}"


# --------------------------------------------------------------------------- validation


INVALID_CREATES = [
    pytest.param({"data": omit}, lambda f: f == "data", "== 'data'", id="missing-data"),
    pytest.param(
        {"data": {"type": "certificate", "token": "x"}},
        lambda f: f == "data" or f.startswith("data."),
        "is 'data' or starts with 'data.'",
        id="unknown-data-type",
    ),
    pytest.param({"data": {"token": "x"}}, lambda f: f == "data" or f.startswith("data."), "is 'data' or starts with 'data.'", id="data-without-type"),
    pytest.param({"data": {"type": "token"}}, lambda f: f == "data.token", "== 'data.token'", id="token-without-token"),
    pytest.param(
        {"data": {"type": "password", "password": "p"}}, lambda f: f == "data.username", "== 'data.username'", id="password-without-username"
    ),
    pytest.param(
        {"data": {"type": "password", "username": "u"}}, lambda f: f == "data.password", "== 'data.password'", id="password-without-password"
    ),
    pytest.param({"name": ""}, lambda f: f == "name", "== 'name'", id="empty-name"),
    pytest.param({"description": "d" * 129}, lambda f: f == "description", "== 'description'", id="description-129"),
    pytest.param({"entity_id": omit}, lambda f: f == "entity_id", "== 'entity_id'", id="missing-entity-id"),
]


@pytest.mark.parametrize("override, field_pred, expectation", INVALID_CREATES)
def test_create_invalid_is_400_validation_error_and_creates_nothing(client, zone, override, field_pred, expectation):
    entity_id = new_entity_id()
    kwargs = {"data": token_data(), "entity_id": entity_id, "name": unique_name("invalid"), **override}
    shown = {k: ("<omitted>" if isinstance(v, Omit) else v) for k, v in override.items()}
    err = expect_error(BadRequestError, f"create with {shown!r:.120}", client.zones.secrets.create, zone.id, **kwargs)
    body = assert_sdk_error(err, 400, "validation_error", context=f"POST …/secrets {shown!r:.120}")
    assert_detail_field(body, field_pred, expectation)
    assert list_ids(client, zone.id) == [], f"expected no secret created by a rejected request ({shown!r:.120})"


INVALID_UPDATES = [
    pytest.param({"name": ""}, lambda f: f == "name", "== 'name'", id="empty-name"),
    pytest.param({"description": "d" * 129}, lambda f: f == "description", "== 'description'", id="description-129"),
    pytest.param(
        {"data": {"type": "certificate", "token": "x"}},
        lambda f: f == "data" or f.startswith("data."),
        "is 'data' or starts with 'data.'",
        id="unknown-data-type",
    ),
    pytest.param({"data": {"type": "token"}}, lambda f: f == "data.token", "== 'data.token'", id="token-without-token"),
]


@pytest.mark.parametrize("kwargs, field_pred, expectation", INVALID_UPDATES)
def test_update_invalid_is_400_and_changes_nothing(client, zone, kwargs, field_pred, expectation):
    data = token_data("tok_before")
    created = new_secret(client, zone.id, data, description="before")
    err = expect_error(BadRequestError, f"PATCH with {kwargs!r:.120}", client.zones.secrets.update, created.id, zone_id=zone.id, **kwargs)
    body = assert_sdk_error(err, 400, "validation_error", context=f"PATCH …/secrets/{{id}} {kwargs!r:.120}")
    assert_detail_field(body, field_pred, expectation)
    got = client.zones.secrets.retrieve(created.id, zone_id=zone.id)
    assert got.data.model_dump() == data and got.version == 1, (
        f"expected a rejected PATCH to change nothing; data {got.data.model_dump()!r}, version {got.version!r}"
    )
    assert_same_common_fields(got, created, f"after rejected PATCH {kwargs!r:.80}")
