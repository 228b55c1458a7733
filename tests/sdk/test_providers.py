"""Providers (`/zones/{zone_id}/providers`, `/zones/{zone_id}/providers/{id}`) through the official SDK, unchanged,
with strict response validation and no retries.

Every test creates its own zones (a fresh zone holds exactly the two platform providers, `keycard-sts` and
`keycard-vault`), so list contents are known exactly.

Decided server behaviour tested here:
  * every new zone has two platform-owned providers (type/identifier `keycard-sts` and `keycard-vault`,
    owner_type `platform`) that cannot be updated or deleted (403);
  * providers created through the API have type `external` and owner_type `customer`;
  * `client_secret` is write-only (never in any response), `client_secret_set` says whether one is stored;
  * `protocols.oauth2` / `protocols.openid` round-trip; `issuer` is required when `oauth2` is given and endpoints
    must be absolute http(s) URLs;
  * PATCH with null unsets description, client_id, client_secret, metadata, protocols;
  * a provider used by a resource (credential_provider_id) or a token credential cannot be deleted (409 naming it).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from keycardai_api import BadRequestError, ConflictError, KeycardAPI, NotFoundError, PermissionDeniedError
from keycardai_api.types import Zone
from keycardai_api.types.zones import Provider

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
PLATFORM_TYPES = {"keycard-sts", "keycard-vault"}

OAUTH2 = {
    "issuer": "https://idp.example.com",
    "authorization_endpoint": "https://idp.example.com/oauth/authorize",
    "authorization_parameters": {"prompt": "consent", "access_type": "offline"},
    "authorization_resource_enabled": True,
    "authorization_resource_parameter": "audience",
    "code_challenge_methods_supported": ["S256", "plain"],
    "jwks_uri": "https://idp.example.com/.well-known/jwks.json",
    "registration_endpoint": "https://idp.example.com/oauth/register",
    "scope_parameter": "user_scope",
    "scope_separator": ",",
    "scopes_supported": ["openid", "email", "repo:read"],
    "token_endpoint": "http://idp.example.com:8080/oauth/token",
    "token_response_access_token_pointer": "authed_user.access_token",
}
OPENID = {
    "scopes": ["groups", "offline_access"],
    "single_logout_enabled": True,
    "user_identifier_claim": "email",
    "userinfo_endpoint": "https://idp.example.com/userinfo",
}


# --------------------------------------------------------------------------- helpers and fixtures


def new_identifier(label: str = "prov") -> str:
    return f"{label}-{secrets.token_hex(4)}"


def new_provider(client: KeycardAPI, zone_id: str, **kwargs: Any) -> Provider:
    return client.zones.providers.create(
        zone_id,
        identifier=kwargs.pop("identifier", None) or new_identifier(),
        name=kwargs.pop("name", None) or unique_name("provider"),
        **kwargs,
    )


def provider_list(client: KeycardAPI, zone_id: str):
    return partial(client.zones.providers.list, zone_id)


def platform_providers(client: KeycardAPI, zone_id: str) -> list:
    return [p for p in client.zones.providers.list(zone_id, limit=100).items if p.owner_type == "platform"]


def assert_no_client_secret(body: Any, what: str) -> None:
    def walk(obj: Any, path: str) -> None:
        if isinstance(obj, dict):
            assert "client_secret" not in obj, (
                f"expected {what} never to contain 'client_secret' (write-only), found it at {path or 'top level'}: {obj!r:.500}"
            )
            for k, v in obj.items():
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                walk(v, f"{path}[{i}]")

    walk(body, "")


@pytest.fixture
def zone(client: KeycardAPI) -> Zone:
    return client.zones.create(name=unique_name("providers"))


@pytest.fixture
def other_zone(client: KeycardAPI) -> Zone:
    return client.zones.create(name=unique_name("providers-other"))


# --------------------------------------------------------------------------- platform providers


def test_new_zone_has_exactly_the_two_platform_providers(client, zone):
    page = client.zones.providers.list(zone.id)  # strict: items, page_info, pagination all required
    assert isinstance(page.page_info.has_next_page, bool) and isinstance(page.page_info.has_previous_page, bool)
    got = {p.type: p for p in page.items}
    assert len(page.items) == 2 and set(got) == PLATFORM_TYPES, (
        f"expected a fresh zone to list exactly the providers of type {sorted(PLATFORM_TYPES)}, got "
        f"{[(p.type, p.identifier, p.owner_type) for p in page.items]}"
    )
    for t, p in got.items():
        assert p.identifier == t, f"expected the {t} provider to have identifier {t!r}, got {p.identifier!r}"
        assert p.owner_type == "platform", f"expected the {t} provider to be owner_type 'platform', got {p.owner_type!r}"
        assert p.zone_id == zone.id, f"expected zone_id {zone.id}, got {p.zone_id!r}"
        assert p.organization_id == zone.organization_id, f"expected organization_id {zone.organization_id}, got {p.organization_id!r}"
        assert SLUG_RE.match(p.slug), f"expected a slug of [a-z0-9-] for {t}, got {p.slug!r}"
        got_one = client.zones.providers.retrieve(p.id, zone_id=zone.id)
        assert got_one.model_dump() == p.model_dump(), (
            f"expected GET of the {t} provider to equal its list entry\nlist: {p.model_dump()}\nGET:  {got_one.model_dump()}"
        )
    assert got["keycard-sts"].id != got["keycard-vault"].id
    assert page.page_info.has_next_page is False and page.pagination.after_cursor is None


def test_each_zone_has_its_own_platform_providers(client, zone, other_zone):
    mine = {p.id for p in platform_providers(client, zone.id)}
    theirs = {p.id for p in platform_providers(client, other_zone.id)}
    assert len(mine) == 2 and len(theirs) == 2
    assert not mine & theirs, f"expected each zone to have its own platform provider ids, shared: {mine & theirs}"


@pytest.mark.parametrize("ptype", sorted(PLATFORM_TYPES))
def test_platform_providers_cannot_be_updated_or_deleted(client, zone, ptype):
    p = next(p for p in platform_providers(client, zone.id) if p.type == ptype)
    for kwargs in ({"name": "renamed"}, {"description": "x"}, {"client_id": "hijack", "client_secret": "s3cret"}):
        err = expect_error(
            PermissionDeniedError, f"PATCH of the {ptype} platform provider with {kwargs}",
            client.zones.providers.update, p.id, zone_id=zone.id, **kwargs,
        )
        assert_sdk_error(err, 403, "forbidden", context=f"PATCH platform provider {ptype}")
    err = expect_error(PermissionDeniedError, f"DELETE of the {ptype} platform provider", client.zones.providers.delete, p.id, zone_id=zone.id)
    assert_sdk_error(err, 403, "forbidden", context=f"DELETE platform provider {ptype}")
    after = client.zones.providers.retrieve(p.id, zone_id=zone.id)
    assert after.model_dump() == p.model_dump(), "expected the platform provider to be untouched by the rejected requests"


# --------------------------------------------------------------------------- create


def test_create_minimal_defaults(client, zone):
    identifier = new_identifier("minimal")
    before = datetime.now(timezone.utc)
    raw = client.zones.providers.with_raw_response.create(zone.id, identifier=identifier, name="Alpha Beta 42")
    p = raw.parse()
    assert_no_client_secret(raw_body(raw, "POST providers"), "the create response")

    assert p.identifier == identifier and p.name == "Alpha Beta 42"
    assert p.type == "external", f"expected a customer provider to have type 'external', got {p.type!r}"
    assert p.owner_type == "customer", f"expected owner_type 'customer', got {p.owner_type!r}"
    assert p.zone_id == zone.id and p.organization_id == zone.organization_id
    assert p.id and p.id not in {q.id for q in platform_providers(client, zone.id)}
    assert p.slug == "alpha-beta-42", f"expected the slug derived from the name 'Alpha Beta 42' -> 'alpha-beta-42', got {p.slug!r}"
    assert p.client_secret_set is False, f"expected client_secret_set False without a secret, got {p.client_secret_set!r}"
    assert p.client_id is None and p.description is None, f"expected no client_id/description, got {p.client_id!r} {p.description!r}"
    assert p.metadata is None or p.metadata.icon_url is None, f"expected no metadata, got {p.metadata!r}"
    assert p.protocols is None or (p.protocols.oauth2 is None and p.protocols.openid is None), (
        f"expected no protocols, got {p.protocols!r}"
    )
    for field in ("created_at", "updated_at"):
        ts = getattr(p, field)
        assert ts.tzinfo is not None and abs(ts - before) < timedelta(minutes=5), f"expected {field} close to now, got {ts!r}"
    assert p.updated_at >= p.created_at


def test_create_full_round_trips_and_hides_the_secret(client, zone):
    identifier = new_identifier("full")
    raw = client.zones.providers.with_raw_response.create(
        zone.id,
        identifier=identifier,
        name=unique_name("full provider"),
        description="An upstream IdP",
        client_id="client-123",
        client_secret="very-secret-value-" + secrets.token_hex(8),
        metadata={"icon_url": "https://idp.example.com/icon.png"},
        protocols={"oauth2": OAUTH2, "openid": OPENID},
    )
    created = raw.parse()
    assert_no_client_secret(raw_body(raw, "POST providers"), "the create response")
    got_raw = client.zones.providers.with_raw_response.retrieve(created.id, zone_id=zone.id)
    got = got_raw.parse()
    assert_no_client_secret(raw_body(got_raw, "GET provider"), "GET of one provider")
    for label, p in (("create response", created), ("retrieve", got)):
        assert p.description == "An upstream IdP", f"{label}: description {p.description!r}"
        assert p.client_id == "client-123", f"{label}: client_id {p.client_id!r}"
        assert p.client_secret_set is True, f"{label}: expected client_secret_set True, got {p.client_secret_set!r}"
        assert p.metadata is not None and p.metadata.icon_url == "https://idp.example.com/icon.png", f"{label}: metadata {p.metadata!r}"
        assert p.protocols is not None and p.protocols.oauth2 is not None and p.protocols.openid is not None, f"{label}: {p.protocols!r}"
        assert p.protocols.oauth2.model_dump() == OAUTH2, (
            f"{label}: expected protocols.oauth2 to round-trip\nsent: {OAUTH2}\ngot:  {p.protocols.oauth2.model_dump()}"
        )
        assert p.protocols.openid.model_dump() == OPENID, (
            f"{label}: expected protocols.openid to round-trip\nsent: {OPENID}\ngot:  {p.protocols.openid.model_dump()}"
        )
    assert got.model_dump() == created.model_dump(), (
        f"expected GET to return exactly what POST returned (timestamps included)\nPOST: {created.model_dump()}\nGET:  {got.model_dump()}"
    )
    list_raw = client.zones.providers.with_raw_response.list(zone.id, limit=100)
    list_raw.parse()
    assert_no_client_secret(raw_body(list_raw, "GET providers"), "the provider list")


def test_create_oauth2_with_issuer_only_and_openid_only(client, zone):
    p = new_provider(client, zone.id, protocols={"oauth2": {"issuer": "https://accounts.example.org"}})
    assert p.protocols.oauth2.issuer == "https://accounts.example.org"
    assert p.protocols.oauth2.token_endpoint is None
    q = new_provider(client, zone.id, protocols={"openid": {"scopes": ["groups"]}})
    assert q.protocols is not None and q.protocols.openid is not None and q.protocols.openid.scopes == ["groups"], (
        f"expected openid-only protocols to round-trip, got {q.protocols!r}"
    )
    assert q.protocols.oauth2 is None, f"expected no oauth2 block when none was given, got {q.protocols.oauth2!r}"


def test_duplicate_identifier_is_409_and_other_zones_may_reuse_it(client, zone, other_zone):
    identifier = new_identifier("dup")
    first = new_provider(client, zone.id, identifier=identifier)
    err = expect_error(ConflictError, "a second provider with the same identifier", new_provider, client, zone.id, identifier=identifier)
    assert_conflict(err, "duplicate provider identifier")
    err = expect_error(ConflictError, "a provider with identifier 'keycard-sts'", new_provider, client, zone.id, identifier="keycard-sts")
    assert_conflict(err, "provider identifier equal to the platform provider's")
    assert list_all_ids(provider_list(client, zone.id), identifier=identifier) == [first.id]
    in_other = new_provider(client, other_zone.id, identifier=identifier)
    assert in_other.identifier == identifier, "expected the same identifier to be usable in another zone"
    second = new_provider(client, zone.id)
    err = expect_error(
        ConflictError, "renaming a provider's identifier onto another's",
        client.zones.providers.update, second.id, zone_id=zone.id, identifier=identifier,
    )
    assert_conflict(err, "PATCH identifier onto an existing one")
    assert client.zones.providers.retrieve(second.id, zone_id=zone.id).identifier == second.identifier


def test_same_name_gets_distinct_slugs(client, zone):
    a = new_provider(client, zone.id, name="Same Name")
    b = new_provider(client, zone.id, name="Same Name")
    for p in (a, b):
        assert SLUG_RE.match(p.slug), f"expected a slug of [a-z0-9-], 1..63 chars, got {p.slug!r}"
        assert p.slug.startswith("same-name"), f"expected the slug derived from 'Same Name' (same-name…), got {p.slug!r}"
    assert a.slug != b.slug, f"expected slugs unique per zone, both got {a.slug!r}"
    assert ids(client.zones.providers.list(zone.id, slug=b.slug).items) == [b.id]


@pytest.mark.parametrize("name", ["Ünïcödé Prövider — 東京", "日本語", "!!! ???", "x" * 255])
def test_edge_names_get_valid_slugs(client, zone, name):
    p = new_provider(client, zone.id, name=name)
    assert p.name == name
    assert SLUG_RE.match(p.slug), f"expected a valid slug for {name!r}, got {p.slug!r}"


INVALID_CREATES = [
    pytest.param({"identifier": ""}, "identifier", id="empty-identifier"),
    pytest.param({"identifier": "bell\x07id"}, "identifier", id="identifier-control-char"),
    pytest.param({"name": ""}, "name", id="empty-name"),
    pytest.param({"name": "<script>alert(1)</script>"}, "name", id="name-script-tag"),
    pytest.param({"description": "<div>x</div>"}, "description", id="description-html"),
    pytest.param({"metadata": {"icon_url": "not a url"}}, "metadata.icon_url", id="icon-url-not-a-url"),
    pytest.param({"protocols": {"oauth2": {"token_endpoint": "https://idp.example.com/token"}}}, "issuer", id="oauth2-without-issuer"),
    pytest.param({"protocols": {"oauth2": {"issuer": "not a url"}}}, "issuer", id="issuer-not-a-url"),
    pytest.param({"protocols": {"oauth2": {"issuer": "https://idp.example.com", "token_endpoint": "/oauth/token"}}}, "token_endpoint", id="token-endpoint-relative"),
    pytest.param({"protocols": {"oauth2": {"issuer": "https://idp.example.com", "authorization_endpoint": "idp.example.com/authorize"}}}, "authorization_endpoint", id="authorization-endpoint-no-scheme"),
    pytest.param({"protocols": {"oauth2": {"issuer": "https://idp.example.com", "jwks_uri": "ftp://idp.example.com/jwks"}}}, "jwks_uri", id="jwks-uri-ftp"),
    pytest.param({"protocols": {"oauth2": {"issuer": "https://idp.example.com", "registration_endpoint": "urn:example:register"}}}, "registration_endpoint", id="registration-endpoint-urn"),
    pytest.param({"protocols": {"openid": {"userinfo_endpoint": "/userinfo"}}}, "userinfo_endpoint", id="userinfo-endpoint-relative"),
]


@pytest.mark.parametrize("override, field_part", INVALID_CREATES)
def test_create_invalid_is_400_and_creates_nothing(client, zone, override, field_part):
    kwargs = {"identifier": new_identifier("bad"), "name": unique_name("bad"), **override}
    before = client.zones.providers.list(zone.id, limit=1, expand=["total_count"]).pagination.total_count
    err = expect_error(BadRequestError, f"create provider with {override!r:.150}", client.zones.providers.create, zone.id, **kwargs)
    body = assert_sdk_error(err, 400, "validation_error", context=f"create provider {override!r:.150}")
    assert_detail_field(body, lambda f: field_part in f, f"contains {field_part!r}")
    assert err.response.headers.get("x-should-retry") == "false", "expected x-should-retry: false on a 400"
    after = client.zones.providers.list(zone.id, limit=1, expand=["total_count"]).pagination.total_count
    assert after == before, f"expected no provider created by a rejected request (total_count {before} -> {after})"


def test_create_in_unknown_zone_is_404(client):
    err = expect_error(NotFoundError, "create provider in an unknown zone", new_provider, client, UNKNOWN_ID)
    assert_sdk_error(err, 404, "not_found", context="POST providers of unknown zone")


# --------------------------------------------------------------------------- retrieve / update


@pytest.mark.parametrize("op", ["retrieve", "update", "delete"])
def test_unknown_provider_is_404(client, zone, op):
    call = getattr(client.zones.providers, op)
    kwargs = {"name": "x"} if op == "update" else {}
    err = expect_error(NotFoundError, f"{op} of an unknown provider", call, UNKNOWN_ID, zone_id=zone.id, **kwargs)
    assert_sdk_error(err, 404, "not_found", context=f"{op} unknown provider")


def test_update_name_keeps_everything_else(client, zone):
    p = new_provider(client, zone.id, description="keep", client_id="cid", client_secret="sec", metadata={"icon_url": "https://x.example.com/i.png"}, protocols={"oauth2": OAUTH2, "openid": OPENID})
    new_name = unique_name("renamed")
    raw = client.zones.providers.with_raw_response.update(p.id, zone_id=zone.id, name=new_name)
    updated = raw.parse()
    assert_no_client_secret(raw_body(raw, "PATCH provider"), "the update response")
    assert updated.name == new_name
    assert updated.updated_at >= p.updated_at
    unchanged = ("name", "updated_at", "slug")
    assert dump_without(updated, *unchanged) == dump_without(p, *unchanged), (
        f"expected only name/updated_at (and possibly slug) to change\nbefore: {p.model_dump()}\nafter:  {updated.model_dump()}"
    )
    assert client.zones.providers.retrieve(p.id, zone_id=zone.id).model_dump() == updated.model_dump()


def test_update_empty_body_changes_nothing(client, zone):
    p = new_provider(client, zone.id, description="still here", client_secret="s")
    updated = client.zones.providers.update(p.id, zone_id=zone.id)
    assert dump_without(updated, "updated_at") == dump_without(p, "updated_at")


def test_update_null_unsets_nullable_fields(client, zone):
    p = new_provider(client, zone.id, description="d", client_id="cid", client_secret="sec", metadata={"icon_url": "https://x.example.com/i.png"}, protocols={"oauth2": OAUTH2, "openid": OPENID})
    cleared = client.zones.providers.update(
        p.id, zone_id=zone.id, description=None, client_id=None, client_secret=None, metadata=None, protocols=None
    )
    for label, q in (("PATCH response", cleared), ("retrieve", client.zones.providers.retrieve(p.id, zone_id=zone.id))):
        assert q.description is None, f"{label}: expected description cleared, got {q.description!r}"
        assert q.client_id is None, f"{label}: expected client_id cleared, got {q.client_id!r}"
        assert q.client_secret_set is False, f"{label}: expected client_secret_set False after client_secret=null, got {q.client_secret_set!r}"
        assert q.metadata is None or q.metadata.icon_url is None, f"{label}: expected metadata cleared, got {q.metadata!r}"
        assert q.protocols is None or (q.protocols.oauth2 is None and q.protocols.openid is None), (
            f"{label}: expected protocols cleared, got {q.protocols!r}"
        )
        assert (q.name, q.identifier, q.type, q.owner_type) == (p.name, p.identifier, "external", "customer")


def test_update_client_secret_set_and_unset(client, zone):
    p = new_provider(client, zone.id)
    assert p.client_secret_set is False
    raw = client.zones.providers.with_raw_response.update(p.id, zone_id=zone.id, client_secret="s3cret-" + secrets.token_hex(8))
    assert raw.parse().client_secret_set is True
    assert_no_client_secret(raw_body(raw, "PATCH provider"), "the update response")
    assert client.zones.providers.retrieve(p.id, zone_id=zone.id).client_secret_set is True
    # Changing something else keeps the secret.
    assert client.zones.providers.update(p.id, zone_id=zone.id, name=unique_name("other")).client_secret_set is True
    assert client.zones.providers.update(p.id, zone_id=zone.id, client_secret=None).client_secret_set is False
    assert client.zones.providers.retrieve(p.id, zone_id=zone.id).client_secret_set is False


def test_update_replaces_protocols(client, zone):
    p = new_provider(client, zone.id, protocols={"oauth2": OAUTH2, "openid": OPENID})
    new_oauth2 = {**OAUTH2, "issuer": "https://login.example.net", "scopes_supported": ["a"], "authorization_parameters": {"x": "y"}}
    new_openid = {**OPENID, "scopes": ["email"], "single_logout_enabled": False, "user_identifier_claim": "sub"}
    updated = client.zones.providers.update(p.id, zone_id=zone.id, protocols={"oauth2": new_oauth2, "openid": new_openid})
    for label, q in (("PATCH response", updated), ("retrieve", client.zones.providers.retrieve(p.id, zone_id=zone.id))):
        assert q.protocols.oauth2.model_dump() == new_oauth2, f"{label}: oauth2 {q.protocols.oauth2.model_dump()}"
        assert q.protocols.openid.model_dump() == new_openid, f"{label}: openid {q.protocols.openid.model_dump()}"


@pytest.mark.parametrize(
    "kwargs, field_part",
    [
        pytest.param({"name": ""}, "name", id="empty-name"),
        pytest.param({"identifier": ""}, "identifier", id="empty-identifier"),
        pytest.param({"protocols": {"oauth2": {"issuer": "https://idp.example.com", "token_endpoint": "nope"}}}, "token_endpoint", id="bad-token-endpoint"),
        pytest.param({"metadata": {"icon_url": "ftp://x.example.com/i.png"}}, "metadata.icon_url", id="icon-url-ftp"),
    ],
)
def test_update_invalid_is_400_and_changes_nothing(client, zone, kwargs, field_part):
    p = new_provider(client, zone.id, protocols={"oauth2": {"issuer": "https://idp.example.com"}})
    err = expect_error(BadRequestError, f"PATCH provider with {kwargs!r:.150}", client.zones.providers.update, p.id, zone_id=zone.id, **kwargs)
    body = assert_sdk_error(err, 400, "validation_error", context=f"PATCH provider {kwargs!r:.150}")
    assert_detail_field(body, lambda f: field_part in f, f"contains {field_part!r}")
    assert client.zones.providers.retrieve(p.id, zone_id=zone.id).model_dump() == p.model_dump(), "expected a rejected PATCH to change nothing"


# --------------------------------------------------------------------------- list


def test_list_pagination_both_ways_and_total_count(client, zone):
    mine = [new_provider(client, zone.id).id for _ in range(5)]
    fn = provider_list(client, zone.id)
    items = assert_walks_both_ways(fn, limit=2, what="providers.list", min_pages=4)
    seq = [i.id for i in items]
    assert set(seq) == set(mine) | {p.id for p in platform_providers(client, zone.id)}, (
        f"expected the 5 created + 2 platform providers while paging, got {seq}"
    )
    assert len(seq) == 7
    total = client.zones.providers.list(zone.id, limit=1, expand=["total_count"]).pagination.total_count
    assert total == 7, f"expected total_count 7 (5 customer + 2 platform) with expand[]=total_count, got {total!r}"
    assert client.zones.providers.list(zone.id, limit=1, expand="total_count").pagination.total_count == 7
    assert client.zones.providers.list(zone.id, limit=1).pagination.total_count is None, "expected no total_count without expand"

    first = client.zones.providers.list(zone.id, limit=2)
    cur = list_after_cursor(first)
    via_after = ids(client.zones.providers.list(zone.id, limit=2, after=cur).items)
    via_cursor = ids(client.zones.providers.list(zone.id, limit=2, cursor=cur).items)
    assert via_cursor == via_after, f"expected cursor= to behave like after=: after {via_after}, cursor {via_cursor}"


@pytest.mark.parametrize("field", ["name", "identifier"])
def test_list_sort_by_text_field_both_directions(client, zone, field):
    tag = secrets.token_hex(3)
    # Created out of order; names/identifiers differ only in the last letter so every collation agrees.
    made = {}
    for letter in "dbeac":
        p = new_provider(client, zone.id, identifier=f"sortp-{tag}-{letter}", name=f"sortp {tag} {letter}")
        made[letter] = p.id
    expected_mine = [made[c] for c in "abcde"]
    fn = provider_list(client, zone.id)

    asc = [i.id for i in assert_walks_both_ways(fn, limit=2, what="providers.list", sort=field)]
    assert [i for i in asc if i in made.values()] == expected_mine, (
        f"expected sort={field} to order my providers a..e, got {[i for i in asc if i in made.values()]} (want {expected_mine})"
    )
    desc = [i.id for i in assert_walks_both_ways(fn, limit=2, what="providers.list", sort=f"-{field}")]
    assert desc == list(reversed(asc)), f"expected sort=-{field} to be the exact reverse of sort={field}\nasc:  {asc}\ndesc: {desc}"


def test_list_sort_by_created_at_both_directions(client, zone):
    for _ in range(4):
        new_provider(client, zone.id)
    fn = provider_list(client, zone.id)
    asc = assert_walks_both_ways(fn, limit=2, what="providers.list", sort="created_at")
    stamps = [i.created_at for i in asc]
    assert stamps == sorted(stamps), f"expected sort=created_at to be ascending by created_at, got {stamps}"
    desc = assert_walks_both_ways(fn, limit=2, what="providers.list", sort="-created_at")
    stamps = [i.created_at for i in desc]
    assert stamps == sorted(stamps, reverse=True), f"expected sort=-created_at to be descending, got {stamps}"
    assert sorted(ids(asc)) == sorted(ids(desc))
    # Several fields at once are accepted.
    assert len(client.zones.providers.list(zone.id, sort="name,-created_at").items) == 6


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "bogus"},
        {"sort": "-bogus"},
        {"sort": "name,bogus"},
        {"limit": 0},
        {"limit": 101},
        {"filter_id": [f"id{i}" for i in range(101)]},
    ],
    ids=["sort-unknown", "sort-unknown-desc", "sort-one-unknown", "limit-0", "limit-101", "filter-id-101"],
)
def test_list_invalid_params_are_400(client, zone, params):
    err = expect_error(BadRequestError, f"providers.list with {str(params)[:80]}", client.zones.providers.list, zone.id, **params)
    assert_sdk_error(err, 400, None, context=f"GET providers {str(params)[:80]}")


def test_list_filter_id_with_cursor_is_400(client, zone):
    p = new_provider(client, zone.id)
    first = client.zones.providers.list(zone.id, limit=1)
    cur = list_after_cursor(first)
    for key in ("after", "before"):
        err = expect_error(BadRequestError, f"filter[id] with {key}", client.zones.providers.list, zone.id, filter_id=[p.id], **{key: cur})
        assert_sdk_error(err, 400, None, context=f"filter[id] + {key}")


def test_list_filters(client, zone):
    tag = secrets.token_hex(3)
    a = new_provider(client, zone.id, identifier=f"alpha-{tag}", name=f"Alpha Widget {tag}")
    b = new_provider(client, zone.id, identifier=f"widget-b-{tag}", name=f"Beta {tag}")
    c = new_provider(client, zone.id, identifier=f"gamma-{tag}", name=f"Gamma {tag}")
    L = client.zones.providers.list

    def got(**params):
        return set(ids(L(zone.id, limit=100, **params).items))

    assert got(filter_id=[a.id, c.id, UNKNOWN_ID]) == {a.id, c.id}, "filter[id] (unknown ids silently omitted)"
    assert got(filter_id=b.id) == {b.id}, "filter[id] single value"
    assert got(filter_identifier=[a.identifier, b.identifier]) == {a.id, b.id}, "filter[identifier] repeated"
    assert got(filter_identifier=c.identifier) == {c.id}, "filter[identifier] single"
    assert got(filter_slug=[a.slug]) == {a.id}, "filter[slug]"
    assert got(identifier=b.identifier) == {b.id}, "identifier="
    assert got(identifier=f"widget-{tag}") == set(), "identifier= is exact, not a substring"
    assert got(slug=c.slug) == {c.id}, "slug="
    assert got(query="WIDGET") == {a.id, b.id}, "query[] matches name or identifier, case-insensitively"
    assert got(query=tag.upper()) == {a.id, b.id, c.id}, "query[] substring"
    assert got(query_name="widget") == {a.id}, "query[name]"
    assert got(query_identifier="WIDGET") == {b.id}, "query[identifier]"
    assert got(query="no-such-thing-" + tag) == set(), "query[] without a match"


def test_list_filter_by_type(client, zone):
    mine = {new_provider(client, zone.id).id for _ in range(2)}
    L = client.zones.providers.list
    by_type = {t: L(zone.id, type=t).items for t in ("external", "keycard-sts", "keycard-vault")}
    assert set(ids(by_type["external"])) == mine, f"expected type=external to list only customer providers, got {ids(by_type['external'])}"
    for t in PLATFORM_TYPES:
        assert [p.type for p in by_type[t]] == [t], f"expected type={t} to list exactly that platform provider, got {by_type[t]!r}"
    assert set(ids(L(zone.id, filter_type="external").items)) == mine, "filter[type]=external"
    both = L(zone.id, filter_type=["keycard-sts", "keycard-vault"]).items
    assert sorted(p.type for p in both) == sorted(PLATFORM_TYPES), f"expected repeated filter[type] to OR, got {[p.type for p in both]}"


# --------------------------------------------------------------------------- delete


def test_delete_then_404(client, zone):
    p = new_provider(client, zone.id)
    keep = new_provider(client, zone.id)
    assert client.zones.providers.delete(p.id, zone_id=zone.id) is None
    for op, kwargs in (("retrieve", {}), ("update", {"name": "x"}), ("delete", {})):
        err = expect_error(NotFoundError, f"{op} of a deleted provider", getattr(client.zones.providers, op), p.id, zone_id=zone.id, **kwargs)
        assert_sdk_error(err, 404, "not_found", context=f"{op} deleted provider")
    seq = list_all_ids(provider_list(client, zone.id))
    assert p.id not in seq and keep.id in seq


def test_delete_provider_used_by_a_resource_is_409_naming_it(client, zone):
    p = new_provider(client, zone.id)
    res = client.zones.resources.create(
        zone.id, identifier=f"https://api.example.com/{secrets.token_hex(4)}", name=unique_name("uses provider"), credential_provider_id=p.id
    )
    err = expect_error(ConflictError, "DELETE of a provider used by a resource", client.zones.providers.delete, p.id, zone_id=zone.id)
    body = assert_conflict(err, "DELETE provider used by a resource")
    assert res.id in body["message"] or res.identifier in body["message"], (
        f"expected the 409 message to name the resource using the provider ({res.id} / {res.identifier}), got {body['message']!r}"
    )
    client.zones.providers.retrieve(p.id, zone_id=zone.id)  # still there
    client.zones.resources.delete(res.id, zone_id=zone.id)
    assert client.zones.providers.delete(p.id, zone_id=zone.id) is None
    expect_error(NotFoundError, "GET of the deleted provider", client.zones.providers.retrieve, p.id, zone_id=zone.id)


def test_delete_provider_used_by_a_token_credential_is_409_naming_it(client, zone):
    p = new_provider(client, zone.id)
    app = client.zones.applications.create(zone.id, identifier=new_identifier("app"), name=unique_name("app"))
    subject = "workload-" + secrets.token_hex(4)
    cred = client.zones.application_credentials.create(zone.id, type="token", application_id=app.id, provider_id=p.id, subject=subject)
    err = expect_error(ConflictError, "DELETE of a provider used by a token credential", client.zones.providers.delete, p.id, zone_id=zone.id)
    body = assert_conflict(err, "DELETE provider used by a credential")
    assert cred.id in body["message"] or subject in body["message"], (
        f"expected the 409 message to name the credential using the provider ({cred.id} / {subject}), got {body['message']!r}"
    )
    client.zones.providers.retrieve(p.id, zone_id=zone.id)  # still there
    client.zones.application_credentials.delete(cred.id, zone_id=zone.id)
    assert client.zones.providers.delete(p.id, zone_id=zone.id) is None
    expect_error(NotFoundError, "GET of the deleted provider", client.zones.providers.retrieve, p.id, zone_id=zone.id)


def test_deleting_the_zone_deletes_its_providers(client):
    z = client.zones.create(name=unique_name("providers-doomed"))
    p = new_provider(client, z.id)
    client.zones.delete(z.id)
    err = expect_error(NotFoundError, "GET of a provider of a deleted zone", client.zones.providers.retrieve, p.id, zone_id=z.id)
    assert_sdk_error(err, 404, "not_found", context="GET provider of deleted zone")


# --------------------------------------------------------------------------- zone settings referring to providers


def test_zone_user_identity_provider_must_be_a_provider_of_the_zone(client, zone, other_zone):
    mine = new_provider(client, zone.id)
    updated = client.zones.update(zone.id, user_identity_provider_id=mine.id)
    assert updated.user_identity_provider_id == mine.id
    assert client.zones.retrieve(zone.id).user_identity_provider_id == mine.id

    theirs = new_provider(client, other_zone.id)
    err = expect_error(BadRequestError, "zones.update with another zone's provider", client.zones.update, zone.id, user_identity_provider_id=theirs.id)
    body = assert_sdk_error(err, 400, "validation_error", context="user_identity_provider_id of another zone")
    assert_detail_field(body, lambda f: f == "user_identity_provider_id", "== 'user_identity_provider_id'")
    assert client.zones.retrieve(zone.id).user_identity_provider_id == mine.id, "expected the rejected update to change nothing"

    assert client.zones.update(zone.id, user_identity_provider_id=None).user_identity_provider_id is None


# --------------------------------------------------------------------------- isolation


def test_other_zone_path_cannot_see_or_touch_a_provider(client, zone, other_zone):
    p = new_provider(client, other_zone.id, description="in zone B")
    where = f"provider {p.id} of zone {other_zone.id} through zone {zone.id}'s path"
    err = expect_error(NotFoundError, f"GET of {where}", client.zones.providers.retrieve, p.id, zone_id=zone.id)
    assert_sdk_error(err, 404, "not_found", context=f"GET {where}")
    err = expect_error(NotFoundError, f"PATCH of {where}", client.zones.providers.update, p.id, zone_id=zone.id, name="hijacked")
    assert_sdk_error(err, 404, "not_found", context=f"PATCH {where}")
    err = expect_error(NotFoundError, f"DELETE of {where}", client.zones.providers.delete, p.id, zone_id=zone.id)
    assert_sdk_error(err, 404, "not_found", context=f"DELETE {where}")

    assert p.id not in list_all_ids(provider_list(client, zone.id)), f"expected zone {zone.id}'s list not to contain {p.id}"
    assert client.zones.providers.list(zone.id, filter_id=[p.id]).items == []
    assert client.zones.providers.list(zone.id, identifier=p.identifier).items == []
    got = client.zones.providers.retrieve(p.id, zone_id=other_zone.id)
    assert got.model_dump() == p.model_dump(), "expected the provider untouched by the rejected cross-zone requests"
