"""Application credentials (`/zones/{zone_id}/application-credentials[/{id}]`) through the official SDK, unchanged,
with strict response validation and no retries.

Create/retrieve/update return a union `Token | Password | PublicKey | URL | Public`; the SDK picks the first member
that validates strictly and silently falls back to `Token` otherwise (client contract A.7), so every test checks the
class the SDK built, not only `.type`.

Decided server behaviour tested here:
  * password: identifier generated unless given; `password` (the client secret, >= 32 chars) only in the create
    response;
  * token: needs a provider of the zone; identifier == subject, or "*" without one; PATCH subject=null -> "*";
  * public-key: `jwks_uri` must be https; url: identifier must be an https URL; public: identifier generated unless given;
  * client identifiers are unique in the zone (409 on a duplicate explicit identifier);
  * deleting the application deletes its credentials.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from keycardai_api import APIStatusError, BadRequestError, ConflictError, KeycardAPI, NotFoundError
from keycardai_api.types import Zone
from keycardai_api.types.zones import URL, Password, Public, PublicKey, Token

from sdk_support import (
    SLUG_RE,
    assert_conflict,
    assert_detail_field,
    assert_sdk_error,
    assert_walks_both_ways,
    dump_without,
    expect_error,
    ids,
    list_after_cursor,
    list_all_ids,
    raw_body,
    unique_name,
)

UNKNOWN_ID = "zzzzzzzzzzzzzzzzzzzz"
JWKS = "https://workload.example.com/.well-known/jwks.json"
CLASSES = {"token": Token, "password": Password, "public-key": PublicKey, "url": URL, "public": Public}
BASE_FIELDS = ("id", "application_id", "created_at", "organization_id", "slug", "updated_at", "zone_id", "identifier", "type")


# --------------------------------------------------------------------------- helpers and fixtures


def new_app(client: KeycardAPI, zone_id: str):
    return client.zones.applications.create(zone_id, identifier=f"app-{secrets.token_hex(4)}", name=unique_name("application"))


def new_provider(client: KeycardAPI, zone_id: str):
    return client.zones.providers.create(
        zone_id, identifier=f"prov-{secrets.token_hex(4)}", name=unique_name("provider"),
        protocols={"oauth2": {"issuer": "https://issuer.example.com"}},
    )


def url_identifier() -> str:
    return f"https://client.example.com/{secrets.token_hex(4)}/metadata.json"


def create_kwargs(ctype: str, app_id: str, provider_id: str) -> dict:
    return {
        "token": {"provider_id": provider_id, "subject": "sub-" + secrets.token_hex(4)},
        "password": {},
        "public-key": {"jwks_uri": JWKS},
        "url": {"identifier": url_identifier()},
        "public": {},
    }[ctype]


def new_cred(client: KeycardAPI, zone_id: str, ctype: str, app_id: str, **kwargs: Any):
    return client.zones.application_credentials.create(zone_id, type=ctype, application_id=app_id, **kwargs)


def assert_cred(c: Any, ctype: str, zone: Zone, app_id: str, context: str) -> None:
    cls = CLASSES[ctype]
    assert type(c).__name__ == cls.__name__ and isinstance(c, cls), (
        f"{context}: expected the SDK to build a {cls.__name__} for type {ctype!r}, got {type(c).__name__} "
        f"(a union response missing a required field falls back to Token): {c!r:.500}"
    )
    assert c.type == ctype
    assert c.application_id == app_id, f"{context}: application_id {c.application_id!r}"
    assert c.zone_id == zone.id and c.organization_id == zone.organization_id, f"{context}: zone/org {c.zone_id!r} {c.organization_id!r}"
    assert isinstance(c.identifier, str) and c.identifier, f"{context}: expected a non-empty identifier, got {c.identifier!r}"
    assert SLUG_RE.match(c.slug), f"{context}: expected a slug of [a-z0-9-], got {c.slug!r}"
    assert c.created_at.tzinfo is not None and c.updated_at >= c.created_at


def assert_raw_has_base_fields(body: Any, context: str) -> None:
    missing = [f for f in BASE_FIELDS if body.get(f) in (None, "")]
    assert not missing, f"{context}: expected every base field present and non-null, missing {missing} in {body!r:.500}"


def assert_no_password(body: Any, context: str) -> None:
    assert isinstance(body, dict)
    assert body.get("password") is None, f"expected no password (client secret) in {context}, got {body!r:.300}"


@pytest.fixture
def zone(client: KeycardAPI) -> Zone:
    return client.zones.create(name=unique_name("credentials"))


@pytest.fixture
def other_zone(client: KeycardAPI) -> Zone:
    return client.zones.create(name=unique_name("credentials-other"))


@pytest.fixture
def app(client: KeycardAPI, zone: Zone):
    return new_app(client, zone.id)


@pytest.fixture
def provider(client: KeycardAPI, zone: Zone):
    return new_provider(client, zone.id)


# --------------------------------------------------------------------------- every type


@pytest.mark.parametrize("ctype", list(CLASSES))
def test_create_retrieve_list_update_delete_each_type(client, zone, app, provider, ctype):
    C = client.zones.application_credentials
    before = datetime.now(timezone.utc)
    raw = C.with_raw_response.create(zone.id, type=ctype, application_id=app.id, **create_kwargs(ctype, app.id, provider.id))
    created = raw.parse()
    body = raw_body(raw, f"POST application-credentials ({ctype})")
    assert_raw_has_base_fields(body, f"create {ctype}")
    assert_cred(created, ctype, zone, app.id, f"create {ctype}")
    assert abs(created.created_at - before) < timedelta(minutes=5)

    raw = C.with_raw_response.retrieve(created.id, zone_id=zone.id)
    got = raw.parse()
    body = raw_body(raw, f"GET application-credential ({ctype})")
    assert_raw_has_base_fields(body, f"retrieve {ctype}")
    assert_no_password(body, f"GET of a {ctype} credential")
    assert_cred(got, ctype, zone, app.id, f"retrieve {ctype}")
    assert dump_without(got, "password") == dump_without(created, "password"), (
        f"expected GET to equal the create response (but the password)\nPOST: {created.model_dump()}\nGET:  {got.model_dump()}"
    )

    raw = C.with_raw_response.list(zone.id)
    page = raw.parse()  # strict: items, page_info, pagination all required
    listed = {c.id: c for c in page.items}
    assert created.id in listed, f"expected the {ctype} credential in the zone's list, got {list(listed)}"
    assert_cred(listed[created.id], ctype, zone, app.id, f"list {ctype}")
    for item in raw_body(raw, "GET application-credentials")["items"]:
        assert_raw_has_base_fields(item, f"list item {item.get('id')}")
        assert_no_password(item, "the credential list")

    raw = C.with_raw_response.update(created.id, zone_id=zone.id)  # PATCH {}
    updated = raw.parse()
    assert_no_password(raw_body(raw, f"PATCH {ctype}"), f"PATCH of a {ctype} credential")
    assert_cred(updated, ctype, zone, app.id, f"update {ctype}")
    assert dump_without(updated, "password", "updated_at") == dump_without(created, "password", "updated_at")

    assert C.delete(created.id, zone_id=zone.id) is None
    for op, kwargs in (("retrieve", {}), ("update", {}), ("delete", {})):
        err = expect_error(NotFoundError, f"{op} of a deleted {ctype} credential", getattr(C, op), created.id, zone_id=zone.id, **kwargs)
        assert_sdk_error(err, 404, "not_found", context=f"{op} deleted credential")
    assert created.id not in list_all_ids(partial(C.list, zone.id))


# --------------------------------------------------------------------------- password


def test_password_generated_identifier_and_secret_only_on_create(client, zone, app):
    C = client.zones.application_credentials
    a = new_cred(client, zone.id, "password", app.id)
    b = new_cred(client, zone.id, "password", app.id)
    for c in (a, b):
        assert isinstance(c, Password)
        assert isinstance(c.password, str) and len(c.password) >= 32, (
            f"expected the create response to carry the client secret (>= 32 chars), got {c.password!r}"
        )
    assert a.identifier != b.identifier, f"expected generated identifiers to differ, both {a.identifier!r}"
    assert a.password != b.password, "expected distinct generated secrets"
    assert C.retrieve(a.id, zone_id=zone.id).password is None, "expected no password in GET"
    for c in C.list(zone.id, application_id=app.id).items:
        assert c.password is None, "expected no password in the list"
    for c in client.zones.applications.list_credentials(app.id, zone_id=zone.id).items:
        assert c.password is None, "expected no password in applications.list_credentials"


def test_password_with_explicit_identifier(client, zone, app):
    ident = "client-" + secrets.token_hex(6)
    c = new_cred(client, zone.id, "password", app.id, identifier=ident)
    assert isinstance(c, Password) and c.identifier == ident and c.password and len(c.password) >= 32


# --------------------------------------------------------------------------- token


def test_token_identifier_follows_subject(client, zone, app, provider):
    C = client.zones.application_credentials
    subject = "spiffe://example.org/ns/prod/sa/" + secrets.token_hex(3)
    t = new_cred(client, zone.id, "token", app.id, provider_id=provider.id, subject=subject)
    assert isinstance(t, Token)
    assert (t.identifier, t.subject, t.provider_id) == (subject, subject, provider.id), f"token: {t.model_dump()}"

    # Another provider: the server keeps (provider, subject) unique, and `t` below falls back to "*" for `provider`.
    anyone = new_cred(client, zone.id, "token", app.id, provider_id=new_provider(client, zone.id).id)
    assert isinstance(anyone, Token) and anyone.identifier == "*" and anyone.subject is None, (
        f"expected identifier '*' and no subject without a subject, got {anyone.identifier!r} / {anyone.subject!r}"
    )

    new_subject = "workload-" + secrets.token_hex(3)
    u = C.update(t.id, zone_id=zone.id, subject=new_subject)
    assert isinstance(u, Token) and (u.identifier, u.subject) == (new_subject, new_subject), f"after PATCH subject: {u.model_dump()}"
    cleared = C.update(t.id, zone_id=zone.id, subject=None)
    assert isinstance(cleared, Token) and cleared.subject is None and cleared.identifier == "*", (
        f"expected subject=null to unset the subject and make identifier '*', got {cleared.subject!r} / {cleared.identifier!r}"
    )
    got = C.retrieve(t.id, zone_id=zone.id)
    assert (got.subject, got.identifier, got.provider_id) == (None, "*", provider.id)


def test_token_with_platform_provider(client, zone, app):
    sts = client.zones.providers.list(zone.id, type="keycard-sts").items[0]
    t = new_cred(client, zone.id, "token", app.id, provider_id=sts.id, subject="s-" + secrets.token_hex(3))
    assert isinstance(t, Token) and t.provider_id == sts.id


def test_token_without_provider_is_400(client, zone, app):
    err = expect_error(BadRequestError, "token credential without provider_id", new_cred, client, zone.id, "token", app.id)
    body = assert_sdk_error(err, 400, "validation_error", context="token without provider_id")
    assert_detail_field(body, lambda f: f == "provider_id", "== 'provider_id'")


@pytest.mark.parametrize("bad", ["unknown", "other-zone"])
def test_token_provider_must_be_of_the_zone(client, zone, other_zone, app, bad):
    pid = UNKNOWN_ID if bad == "unknown" else new_provider(client, other_zone.id).id
    try:
        new_cred(client, zone.id, "token", app.id, provider_id=pid, subject="x")
    except (BadRequestError, NotFoundError) as e:
        assert_sdk_error(e, e.status_code, None, context=f"token with an {bad} provider")
    except APIStatusError as e:
        pytest.fail(f"expected 400 or 404 for a token credential with an {bad} provider, got {e.status_code}: {e.body!r:.300}")
    else:
        pytest.fail(f"expected a token credential with an {bad} provider ({pid}) to be rejected")
    assert client.zones.applications.list_credentials(app.id, zone_id=zone.id).items == []


# --------------------------------------------------------------------------- public-key / url / public


def test_public_key(client, zone, app):
    k = new_cred(client, zone.id, "public-key", app.id, jwks_uri=JWKS)
    assert isinstance(k, PublicKey) and k.jwks_uri == JWKS and k.identifier, f"public-key: {k.model_dump()}"
    ident = "pk-client-" + secrets.token_hex(4)
    k2 = new_cred(client, zone.id, "public-key", app.id, jwks_uri=JWKS, identifier=ident)
    assert isinstance(k2, PublicKey) and k2.identifier == ident
    assert k.identifier != k2.identifier


def test_url_credential_and_identifier_update(client, zone, app):
    C = client.zones.application_credentials
    ident = url_identifier()
    u = new_cred(client, zone.id, "url", app.id, identifier=ident)
    assert isinstance(u, URL) and u.identifier == ident
    new_ident = url_identifier()
    updated = C.update(u.id, zone_id=zone.id, identifier=new_ident)
    assert isinstance(updated, URL) and updated.identifier == new_ident
    assert C.retrieve(u.id, zone_id=zone.id).identifier == new_ident
    err = expect_error(BadRequestError, "PATCH url identifier to an http URL", C.update, u.id, zone_id=zone.id, identifier="http://client.example.com/m.json")
    body = assert_sdk_error(err, 400, "validation_error", context="PATCH url credential http identifier")
    assert_detail_field(body, lambda f: f == "identifier", "== 'identifier'")
    assert C.retrieve(u.id, zone_id=zone.id).identifier == new_ident


def test_public_credential(client, zone, app):
    C = client.zones.application_credentials
    p = new_cred(client, zone.id, "public", app.id)
    q = new_cred(client, zone.id, "public", app.id)
    assert isinstance(p, Public) and isinstance(q, Public)
    assert p.identifier and q.identifier and p.identifier != q.identifier, f"expected distinct generated identifiers, got {p.identifier!r} {q.identifier!r}"
    ident = "spa-" + secrets.token_hex(4)
    r = new_cred(client, zone.id, "public", app.id, identifier=ident)
    assert isinstance(r, Public) and r.identifier == ident
    new_ident = "spa-renamed-" + secrets.token_hex(4)
    u = C.update(r.id, zone_id=zone.id, identifier=new_ident)
    assert isinstance(u, Public) and u.identifier == new_ident


# A PATCH field that does not apply to the credential's type is refused on that field, not ignored (issue #10); the
# fields of a new credential that no update changes are refused on every type; `type` must be the credential's own.
INAPPLICABLE_UPDATES = [
    pytest.param("password", {"identifier": "renamed-client"}, "identifier", id="password-identifier"),
    pytest.param("password", {"subject": "sub-x"}, "subject", id="password-subject"),
    pytest.param("password", {"extra_body": {"jwks_uri": JWKS}}, "jwks_uri", id="password-jwks_uri"),
    pytest.param("public-key", {"extra_body": {"jwks_uri": JWKS}}, "jwks_uri", id="public-key-jwks_uri"),
    pytest.param("public-key", {"identifier": "pk-renamed"}, "identifier", id="public-key-identifier"),
    pytest.param("token", {"identifier": "tok-renamed"}, "identifier", id="token-identifier"),
    pytest.param("token", {"extra_body": {"provider_id": UNKNOWN_ID}}, "provider_id", id="token-provider_id"),
    pytest.param("url", {"subject": None}, "subject", id="url-subject-null"),
    pytest.param("public", {"extra_body": {"application_id": UNKNOWN_ID}}, "application_id", id="public-application_id"),
    pytest.param("public", {"type": "password"}, "type", id="public-type-changed"),
]


@pytest.mark.parametrize("ctype,kwargs,field", INAPPLICABLE_UPDATES)
def test_update_with_a_field_that_does_not_apply_is_400_and_changes_nothing(client, zone, app, provider, ctype, kwargs, field):
    C = client.zones.application_credentials
    c = new_cred(client, zone.id, ctype, app.id, **create_kwargs(ctype, app.id, provider.id))
    err = expect_error(BadRequestError, f"PATCH a {ctype} credential with {field}", C.update, c.id, zone_id=zone.id, **kwargs)
    body = assert_sdk_error(err, 400, "validation_error", context=f"PATCH {ctype} {field}")
    assert_detail_field(body, lambda f: f == field, f"== {field!r}")
    assert dump_without(C.retrieve(c.id, zone_id=zone.id), "password") == dump_without(c, "password")
    # The same body without that field, and with the credential's own type, is accepted.
    assert C.update(c.id, zone_id=zone.id, type=ctype).id == c.id


INVALID_CREATES = [
    pytest.param("public-key", {"jwks_uri": "http://workload.example.com/jwks.json"}, "jwks_uri", id="public-key-http-jwks"),
    pytest.param("public-key", {"jwks_uri": "not a url"}, "jwks_uri", id="public-key-bad-jwks"),
    pytest.param("public-key", {}, "jwks_uri", id="public-key-missing-jwks"),
    pytest.param("url", {"identifier": "http://client.example.com/m.json"}, "identifier", id="url-http"),
    pytest.param("url", {"identifier": "client-123"}, "identifier", id="url-not-a-url"),
    pytest.param("url", {}, "identifier", id="url-missing-identifier"),
]


@pytest.mark.parametrize("ctype, kwargs, field", INVALID_CREATES)
def test_create_invalid_is_400_and_creates_nothing(client, zone, app, ctype, kwargs, field):
    err = expect_error(BadRequestError, f"create {ctype} credential with {kwargs}", new_cred, client, zone.id, ctype, app.id, **kwargs)
    body = assert_sdk_error(err, 400, "validation_error", context=f"create {ctype} {kwargs}")
    assert_detail_field(body, lambda f: f == field, f"== {field!r}")
    assert err.response.headers.get("x-should-retry") == "false"
    assert client.zones.application_credentials.list(zone.id, application_id=app.id).items == []


@pytest.mark.parametrize("bad", ["unknown", "other-zone"])
def test_application_must_be_of_the_zone(client, zone, other_zone, bad):
    aid = UNKNOWN_ID if bad == "unknown" else new_app(client, other_zone.id).id
    try:
        new_cred(client, zone.id, "public", aid)
    except (BadRequestError, NotFoundError) as e:
        assert_sdk_error(e, e.status_code, None, context=f"credential for an {bad} application")
    except APIStatusError as e:
        pytest.fail(f"expected 400 or 404 for a credential of an {bad} application, got {e.status_code}: {e.body!r:.300}")
    else:
        pytest.fail(f"expected creating a credential for an {bad} application ({aid}) to fail")
    assert client.zones.application_credentials.list(zone.id).items == []


# --------------------------------------------------------------------------- identifier uniqueness


@pytest.mark.parametrize(
    "first, second",
    [("password", "password"), ("public", "public"), ("password", "public"), ("public", "public-key"), ("url", "url")],
)
def test_duplicate_client_identifier_is_409(client, zone, app, first, second):
    ident = url_identifier() if "url" in (first, second) else "client-" + secrets.token_hex(5)
    extra = {"public-key": {"jwks_uri": JWKS}}
    other_app = new_app(client, zone.id)
    new_cred(client, zone.id, first, app.id, identifier=ident, **extra.get(first, {}))
    err = expect_error(
        ConflictError, f"a {second} credential reusing the identifier of a {first} credential",
        new_cred, client, zone.id, second, other_app.id, identifier=ident, **extra.get(second, {}),
    )
    assert_conflict(err, f"duplicate client identifier ({first} then {second})")
    assert client.zones.applications.list_credentials(other_app.id, zone_id=zone.id).items == []


def test_duplicate_identifier_via_update_is_409_and_other_zone_may_reuse(client, zone, other_zone, app):
    ident = "client-" + secrets.token_hex(5)
    new_cred(client, zone.id, "public", app.id, identifier=ident)
    p = new_cred(client, zone.id, "public", app.id)
    err = expect_error(ConflictError, "PATCH a public credential's identifier onto another's", client.zones.application_credentials.update, p.id, zone_id=zone.id, identifier=ident)
    assert_conflict(err, "PATCH duplicate client identifier")
    assert client.zones.application_credentials.retrieve(p.id, zone_id=zone.id).identifier == p.identifier
    their_app = new_app(client, other_zone.id)
    assert new_cred(client, other_zone.id, "public", their_app.id, identifier=ident).identifier == ident


# --------------------------------------------------------------------------- list


def test_list_pagination_filter_and_total_count(client, zone, app, provider):
    other = new_app(client, zone.id)
    mine = [new_cred(client, zone.id, t, app.id, **create_kwargs(t, app.id, provider.id)).id for t in CLASSES]
    theirs = [new_cred(client, zone.id, "public", other.id).id for _ in range(2)]
    fn = partial(client.zones.application_credentials.list, zone.id)
    seq = [i.id for i in assert_walks_both_ways(fn, limit=2, what="application_credentials.list", min_pages=4)]
    assert sorted(seq) == sorted(mine + theirs), f"expected all 7 credentials while paging, got {seq}"
    tc = fn(limit=1, expand=["total_count"]).pagination.total_count
    assert tc == 7, f"expected total_count 7, got {tc!r}"
    assert fn(limit=1).pagination.total_count is None

    by_app = [i.id for i in assert_walks_both_ways(fn, limit=2, what="application_credentials.list", application_id=app.id)]
    assert sorted(by_app) == sorted(mine), f"expected applicationId= to list only that application's credentials, got {by_app}"
    assert fn(application_id=app.id, limit=1, expand=["total_count"]).pagination.total_count == 5
    assert sorted(ids(fn(application_id=other.id).items)) == sorted(theirs)

    cur = list_after_cursor(fn(limit=2))
    assert ids(fn(limit=2, cursor=cur).items) == ids(fn(limit=2, after=cur).items), "expected cursor= to behave like after="
    for c in fn(limit=100).items:
        assert type(c).__name__ == CLASSES[c.type].__name__, f"list item {c.id}: type {c.type!r} built as {type(c).__name__}"


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}], ids=["limit-0", "limit-101"])
def test_list_invalid_params_are_400(client, zone, params):
    err = expect_error(BadRequestError, f"application_credentials.list with {params}", client.zones.application_credentials.list, zone.id, **params)
    assert_sdk_error(err, 400, None, context=f"GET application-credentials {params}")


# --------------------------------------------------------------------------- delete / cascade


@pytest.mark.parametrize("op", ["retrieve", "update", "delete"])
def test_unknown_credential_is_404(client, zone, op):
    err = expect_error(NotFoundError, f"{op} of an unknown credential", getattr(client.zones.application_credentials, op), UNKNOWN_ID, zone_id=zone.id)
    assert_sdk_error(err, 404, "not_found", context=f"{op} unknown credential")


def test_deleting_the_application_deletes_its_credentials(client, zone, app, provider):
    keep_app = new_app(client, zone.id)
    doomed = [new_cred(client, zone.id, t, app.id, **create_kwargs(t, app.id, provider.id)).id for t in CLASSES]
    keep = new_cred(client, zone.id, "password", keep_app.id)
    client.zones.applications.delete(app.id, zone_id=zone.id)
    for cid in doomed:
        err = expect_error(NotFoundError, f"GET of credential {cid} of a deleted application", client.zones.application_credentials.retrieve, cid, zone_id=zone.id)
        assert_sdk_error(err, 404, "not_found", context="credential of a deleted application")
    assert list_all_ids(partial(client.zones.application_credentials.list, zone.id)) == [keep.id]
    assert client.zones.application_credentials.list(zone.id, application_id=app.id).items == []
    # The deleted credentials' identifiers are free again.
    assert isinstance(new_cred(client, zone.id, "public", keep_app.id), Public)


# --------------------------------------------------------------------------- isolation


def test_other_zone_path_cannot_see_or_touch_a_credential(client, zone, other_zone):
    their_app = new_app(client, other_zone.id)
    c = new_cred(client, other_zone.id, "public", their_app.id, identifier="iso-" + secrets.token_hex(4))
    where = f"credential {c.id} of zone {other_zone.id} through zone {zone.id}'s path"
    C = client.zones.application_credentials
    err = expect_error(NotFoundError, f"GET of {where}", C.retrieve, c.id, zone_id=zone.id)
    assert_sdk_error(err, 404, "not_found", context=f"GET {where}")
    err = expect_error(NotFoundError, f"PATCH of {where}", C.update, c.id, zone_id=zone.id, identifier="hijacked-" + secrets.token_hex(3))
    assert_sdk_error(err, 404, "not_found", context=f"PATCH {where}")
    err = expect_error(NotFoundError, f"DELETE of {where}", C.delete, c.id, zone_id=zone.id)
    assert_sdk_error(err, 404, "not_found", context=f"DELETE {where}")
    assert c.id not in list_all_ids(partial(C.list, zone.id))
    assert C.list(zone.id, application_id=their_app.id).items == []
    got = C.retrieve(c.id, zone_id=other_zone.id)
    assert got.model_dump() == c.model_dump(), "expected the credential untouched by the rejected cross-zone requests"
