"""Zones (`/zones`, `/zones/{zoneId}`) through the official SDK, unchanged, with strict response validation.

Every test creates the zones it needs; none assumes an empty database. A zone's `encryption_key` must name a key
the server can really use (it wraps the zone's data key with it), so those tests create keys in the session's
mock KMS (`new_kms_key`); the KMS behaviour itself is tested in test_kms.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from keycardai_api import AuthenticationError, BadRequestError, ConflictError, KeycardAPI, NotFoundError
from keycardai_api.types import Zone

from sdk_support import (
    SLUG_RE,
    UNKNOWN_ZONE_ID,
    ZONE_ID_RE,
    all_zone_ids,
    assert_detail_field,
    assert_sdk_error,
    expect_error,
    ids,
    next_cursor,
    page_forward,
    prev_cursor,
    total_zone_count,
    unique_name,
)

CIMD_IDS = ["https://*.example.com", "https://app.example.org/client.json", "*"]


def new_zone(client: KeycardAPI, label: str = "zone", **kwargs) -> Zone:
    return client.zones.create(name=kwargs.pop("name", None) or unique_name(label), **kwargs)


def assert_permissions(perms, context: str) -> None:
    assert isinstance(perms, dict) and perms, f"expected a non-empty permissions dict ({context}), got {perms!r}"
    for resource, actions in perms.items():
        assert isinstance(actions, dict) and actions, (
            f"expected permissions[{resource!r}] to be a non-empty dict of action -> bool ({context}), got {actions!r}"
        )
        for action, allowed in actions.items():
            assert isinstance(allowed, bool), (
                f"expected permissions[{resource!r}][{action!r}] to be a bool ({context}), got {allowed!r}"
            )


def dump_without(zone: Zone, *fields: str) -> dict:
    d = zone.model_dump()
    for f in fields:
        d.pop(f, None)
    return d


# --------------------------------------------------------------------------- create


def test_create_minimal_defaults_and_protocol_urls(client, server):
    name = unique_name("minimal")
    before = datetime.now(timezone.utc)
    zone = client.zones.create(name=name)  # strict validation: every required field present and typed

    assert zone.name == name
    assert ZONE_ID_RE.match(zone.id), f"expected id to match ^[a-z][a-z0-9]{{19}}$ (DNS-label safe), got {zone.id!r}"
    assert SLUG_RE.match(zone.slug), f"expected slug of [a-z0-9-], 1..63 chars, got {zone.slug!r}"
    assert zone.organization_id, "expected a non-empty organization_id"
    assert zone.owner_type == "customer", f"expected owner_type 'customer', got {zone.owner_type!r}"
    assert zone.requires_invitation is True, f"expected requires_invitation to default to True, got {zone.requires_invitation!r}"
    assert zone.external_sync_enabled is False, f"expected external_sync_enabled False, got {zone.external_sync_enabled!r}"
    assert zone.description is None, f"expected no description, got {zone.description!r}"
    assert zone.encryption_key is None, f"expected no encryption_key, got {zone.encryption_key!r}"
    assert zone.permissions is None, f"expected permissions absent without expand, got {zone.permissions!r}"

    for field in ("created_at", "updated_at"):
        ts = getattr(zone, field)
        assert ts.tzinfo is not None, f"expected {field} with a UTC offset, got {ts!r}"
        assert abs(ts - before) < timedelta(minutes=5), f"expected {field} close to now ({before}), got {ts}"
    assert zone.updated_at >= zone.created_at, f"expected updated_at >= created_at, got {zone.updated_at} < {zone.created_at}"

    oauth2, openid = zone.protocols.oauth2, zone.protocols.openid
    issuer = oauth2.issuer
    assert issuer.startswith(server.public_url + "/"), f"expected issuer under {server.public_url + '/'!r}, got {issuer!r}"
    assert not issuer.endswith("/"), f"expected issuer without trailing slash, got {issuer!r}"
    urls = {
        "token_endpoint": oauth2.token_endpoint,
        "jwks_uri": oauth2.jwks_uri,
        "authorization_endpoint": oauth2.authorization_endpoint,
        "registration_endpoint": oauth2.registration_endpoint,
        "authorization_server_metadata": oauth2.authorization_server_metadata,
        "redirect_uri": oauth2.redirect_uri,
        "openid.provider_configuration": openid.provider_configuration,
        "openid.userinfo_endpoint": openid.userinfo_endpoint,
    }
    for key, url in urls.items():
        assert url.startswith(issuer + "/"), f"expected {key} to start with the issuer {issuer + '/'!r}, got {url!r}"
    assert oauth2.authorization_server_metadata == issuer + "/.well-known/oauth-authorization-server"
    assert openid.provider_configuration == issuer + "/.well-known/openid-configuration"
    assert isinstance(oauth2.dcr_enabled, bool) and isinstance(oauth2.pkce_required, bool)
    assert oauth2.cimd.model_dump() == {"enabled": False, "allowed_client_ids": []}, (
        f"expected cimd to default to {{enabled: False, allowed_client_ids: []}}, got {oauth2.cimd.model_dump()!r}"
    )


def test_create_two_zones_get_distinct_ids_and_issuers(client):
    a, b = new_zone(client, "distinct-a"), new_zone(client, "distinct-b")
    assert a.id != b.id
    assert a.protocols.oauth2.issuer != b.protocols.oauth2.issuer, (
        f"expected each zone to have its own issuer, both got {a.protocols.oauth2.issuer!r}"
    )
    assert a.organization_id == b.organization_id, "expected zones of one API key to share the organization"


def test_create_with_all_fields_echoed_and_persisted(client, new_kms_key):
    kms_arn = new_kms_key()
    name = unique_name("full")
    zone = client.zones.create(
        name=name,
        description="A zone with every field set",
        requires_invitation=False,
        protocols={
            "oauth2": {
                "dcr_enabled": True,
                "pkce_required": True,
                "cimd": {"enabled": True, "allowed_client_ids": CIMD_IDS},
            }
        },
        encryption_key={"type": "aws", "arn": kms_arn},
    )
    for label, z in (("create response", zone), ("retrieve", client.zones.retrieve(zone.id))):
        assert z.name == name, label
        assert z.description == "A zone with every field set", f"{label}: description {z.description!r}"
        assert z.requires_invitation is False, f"{label}: requires_invitation {z.requires_invitation!r}"
        assert z.protocols.oauth2.dcr_enabled is True, f"{label}: dcr_enabled {z.protocols.oauth2.dcr_enabled!r}"
        assert z.protocols.oauth2.pkce_required is True, f"{label}: pkce_required {z.protocols.oauth2.pkce_required!r}"
        assert z.protocols.oauth2.cimd.model_dump() == {"enabled": True, "allowed_client_ids": CIMD_IDS}, (
            f"{label}: expected cimd echoed in order, got {z.protocols.oauth2.cimd.model_dump()!r}"
        )
        assert z.encryption_key is not None and z.encryption_key.model_dump() == {"type": "aws", "arn": kms_arn}, (
            f"{label}: encryption_key {z.encryption_key!r}"
        )


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("x" * 255, id="255-chars"),
        pytest.param("Ünïcödé Zöne — 東京", id="unicode"),
        pytest.param("日本語", id="no-ascii-letters"),
        pytest.param("!!! ???", id="punctuation-only"),
    ],
)
def test_create_accepts_edge_names_and_derives_a_valid_slug(client, name):
    zone = client.zones.create(name=name)
    assert zone.name == name, f"expected the name echoed exactly, got {zone.name!r}"
    assert SLUG_RE.match(zone.slug), f"expected a derived slug of [a-z0-9-], 1..63 chars for {name!r}, got {zone.slug!r}"


def test_create_accepts_description_of_2048_chars(client):
    zone = new_zone(client, "desc-max", description="d" * 2048)
    assert zone.description == "d" * 2048


def test_create_same_name_twice_yields_distinct_slugs_or_conflict(client):
    name = unique_name("dup")
    first = client.zones.create(name=name)
    try:
        second = client.zones.create(name=name)
    except ConflictError as e:  # a deterministic 409 is acceptable too
        assert_sdk_error(e, 409, "conflict", context="duplicate zone name")
        assert e.response.headers.get("x-should-retry") == "false", "expected x-should-retry: false on a 409"
        return
    assert second.id != first.id
    assert second.slug != first.slug, f"expected slugs to be unique, both zones got {first.slug!r}"


INVALID_CREATES = [
    pytest.param({"name": ""}, lambda f: f == "name", "== 'name'", id="empty-name"),
    pytest.param({"name": "n" * 256}, lambda f: f == "name", "== 'name'", id="name-256-chars"),
    pytest.param({"name": "<script>alert(1)</script>"}, lambda f: f == "name", "== 'name'", id="name-script-tag"),
    pytest.param({"name": "hello <div>world</div>"}, lambda f: f == "name", "== 'name'", id="name-div-tag"),
    pytest.param({"name": "bell\x07name"}, lambda f: f == "name", "== 'name'", id="name-control-BEL"),
    pytest.param({"name": "nul\x00name"}, lambda f: f == "name", "== 'name'", id="name-control-NUL"),
    pytest.param({"name": "line\nbreak"}, lambda f: f == "name", "== 'name'", id="name-control-LF"),
    pytest.param(
        {"name": "ok", "description": "d" * 2049}, lambda f: f == "description", "== 'description'", id="description-2049"
    ),
    pytest.param(
        {"name": "ok", "description": "<script>x</script>"},
        lambda f: f == "description",
        "== 'description'",
        id="description-script-tag",
    ),
    *[
        pytest.param(
            {"name": "ok", "protocols": {"oauth2": {"cimd": {"enabled": True, "allowed_client_ids": [bad]}}}},
            lambda f: f.startswith("protocols") and "allowed_client_ids" in f,
            "starts with 'protocols' and names allowed_client_ids",
            id=f"cimd-{label}",
        )
        for label, bad in [
            ("two-stars", "https://*.*.example.com"),
            ("partial-label-star", "https://a*.example.com"),
            ("ftp-scheme", "ftp://x.example.com"),
        ]
    ],
    pytest.param(
        {"name": "ok", "encryption_key": {"type": "aws", "arn": ""}},
        lambda f: f.startswith("encryption_key"),
        "starts with 'encryption_key'",
        id="encryption-key-empty-arn",
    ),
]


@pytest.mark.parametrize("kwargs, field_pred, field_expectation", INVALID_CREATES)
def test_create_invalid_is_400_validation_error_and_creates_nothing(client, kwargs, field_pred, field_expectation):
    count_before = total_zone_count(client)
    err = expect_error(BadRequestError, f"create with {kwargs!r:.120}", client.zones.create, **kwargs)
    body = assert_sdk_error(err, 400, "validation_error", context=f"create {kwargs!r:.120}")
    assert_detail_field(body, field_pred, field_expectation)
    assert err.response.headers.get("x-should-retry") == "false", "expected x-should-retry: false on a 400"
    assert total_zone_count(client) == count_before, "expected no zone to be created by a rejected request"


# --------------------------------------------------------------------------- retrieve


def test_retrieve_round_trip(client):
    created = new_zone(client, "retrieve", description="round trip")
    got = client.zones.retrieve(created.id)
    assert got.model_dump() == created.model_dump(), (
        f"expected GET to return exactly what POST returned\nPOST: {created.model_dump()}\nGET:  {got.model_dump()}"
    )


def test_retrieve_expand_permissions(client):
    zone = new_zone(client, "perms")
    assert client.zones.retrieve(zone.id).permissions is None, "expected permissions None without expand[]"
    assert_permissions(client.zones.retrieve(zone.id, expand=["permissions"]).permissions, "expand=['permissions']")
    assert_permissions(client.zones.retrieve(zone.id, expand="permissions").permissions, "expand='permissions'")


@pytest.mark.parametrize("zone_id", [UNKNOWN_ZONE_ID, "does-not-exist"])
def test_retrieve_unknown_is_404(client, zone_id):
    err = expect_error(NotFoundError, f"GET /zones/{zone_id}", client.zones.retrieve, zone_id)
    assert_sdk_error(err, 404, "not_found", context=f"GET /zones/{zone_id}")


# --------------------------------------------------------------------------- update


def test_update_name_keeps_everything_else(client, new_kms_key):
    zone = new_zone(
        client,
        "upd-name",
        description="keep me",
        requires_invitation=False,
        protocols={"oauth2": {"dcr_enabled": True, "pkce_required": True, "cimd": {"enabled": True, "allowed_client_ids": ["*"]}}},
        encryption_key={"type": "aws", "arn": new_kms_key()},
    )
    new_name = unique_name("renamed")
    updated = client.zones.update(zone.id, name=new_name)
    assert updated.name == new_name
    assert updated.updated_at >= zone.updated_at, f"expected updated_at to not go back: {zone.updated_at} -> {updated.updated_at}"
    # Slug derivation on rename is not specified; everything else must be untouched.
    unchanged = ("name", "updated_at", "slug")
    assert dump_without(updated, *unchanged) == dump_without(zone, *unchanged), (
        f"expected only name/updated_at to change\nbefore: {zone.model_dump()}\nafter:  {updated.model_dump()}"
    )
    got = client.zones.retrieve(zone.id)
    assert got.model_dump() == updated.model_dump(), "expected GET after PATCH to match the PATCH response"


def test_update_empty_body_changes_nothing(client):
    zone = new_zone(client, "upd-empty", description="still here")
    updated = client.zones.update(zone.id)  # sends {}
    assert dump_without(updated, "updated_at") == dump_without(zone, "updated_at")


def test_update_description_set_then_clear_with_null(client):
    zone = new_zone(client, "upd-desc")
    got = client.zones.update(zone.id, description="now described").description
    assert got == "now described", f"expected PATCH to set description, got {got!r}"
    got = client.zones.retrieve(zone.id).description
    assert got == "now described", f"expected the new description to persist, got {got!r}"
    cleared = client.zones.update(zone.id, description=None)  # explicit JSON null = clear
    assert cleared.description is None, f"expected description cleared by null, got {cleared.description!r}"
    assert client.zones.retrieve(zone.id).description is None, "expected the cleared description to persist"


def test_update_flags(client):
    zone = new_zone(client, "upd-flags")
    updated = client.zones.update(zone.id, requires_invitation=False, external_sync_enabled=True)
    assert updated.requires_invitation is False, f"requires_invitation: {updated.requires_invitation!r}"
    assert updated.external_sync_enabled is True, f"external_sync_enabled: {updated.external_sync_enabled!r}"
    got = client.zones.retrieve(zone.id)
    assert (got.requires_invitation, got.external_sync_enabled) == (False, True), "expected flags to persist"
    back = client.zones.update(zone.id, external_sync_enabled=False)
    assert back.external_sync_enabled is False and back.requires_invitation is False


def test_update_protocols_is_partial(client):
    cimd = {"enabled": True, "allowed_client_ids": ["https://*.example.com"]}
    zone = new_zone(client, "upd-proto", protocols={"oauth2": {"dcr_enabled": False, "pkce_required": True, "cimd": cimd}})
    assert zone.protocols.oauth2.dcr_enabled is False

    updated = client.zones.update(zone.id, protocols={"oauth2": {"dcr_enabled": True}})
    o = updated.protocols.oauth2
    assert o.dcr_enabled is True, f"expected dcr_enabled True after update, got {o.dcr_enabled!r}"
    assert o.pkce_required is True, f"expected pkce_required kept (True), got {o.pkce_required!r}"
    assert o.cimd.model_dump() == cimd, f"expected cimd kept as {cimd!r}, got {o.cimd.model_dump()!r}"
    assert o.issuer == zone.protocols.oauth2.issuer, "expected the issuer to be unaffected by a protocols update"

    new_cimd = {"enabled": False, "allowed_client_ids": []}
    updated = client.zones.update(zone.id, protocols={"oauth2": {"cimd": new_cimd}})
    o = updated.protocols.oauth2
    assert o.cimd.model_dump() == new_cimd, f"expected cimd replaced by {new_cimd!r}, got {o.cimd.model_dump()!r}"
    assert (o.dcr_enabled, o.pkce_required) == (True, True), "expected dcr_enabled/pkce_required kept"
    assert client.zones.retrieve(zone.id).protocols.model_dump() == updated.protocols.model_dump()


def test_update_encryption_key_replace_and_clear(client, new_kms_key):
    # The second key lives in another region: the server must take the region from each ARN.
    kms_arn, kms_arn_2 = new_kms_key("us-east-1"), new_kms_key("eu-west-1")
    zone = new_zone(client, "upd-kms", encryption_key={"type": "aws", "arn": kms_arn})
    replaced = client.zones.update(zone.id, encryption_key={"type": "aws", "arn": kms_arn_2})
    assert replaced.encryption_key is not None and replaced.encryption_key.arn == kms_arn_2
    cleared = client.zones.update(zone.id, encryption_key=None)
    assert cleared.encryption_key is None, f"expected encryption_key cleared by null, got {cleared.encryption_key!r}"
    assert client.zones.retrieve(zone.id).encryption_key is None, "expected the cleared encryption_key to persist"


def test_update_unknown_zone_is_404(client):
    err = expect_error(NotFoundError, "PATCH of an unknown zone", client.zones.update, UNKNOWN_ZONE_ID, name="whatever")
    assert_sdk_error(err, 404, "not_found", context="PATCH unknown zone")


@pytest.mark.parametrize(
    "kwargs, field_pred, expectation",
    [
        pytest.param({"name": ""}, lambda f: f == "name", "== 'name'", id="empty-name"),
        pytest.param({"name": "<script>x</script>"}, lambda f: f == "name", "== 'name'", id="script-name"),
        pytest.param({"description": "d" * 2049}, lambda f: f == "description", "== 'description'", id="long-description"),
        pytest.param(
            {"protocols": {"oauth2": {"cimd": {"enabled": True, "allowed_client_ids": ["https://*.*.example.com"]}}}},
            lambda f: f.startswith("protocols") and "allowed_client_ids" in f,
            "starts with 'protocols' and names allowed_client_ids",
            id="bad-cimd",
        ),
    ],
)
def test_update_invalid_is_400_and_changes_nothing(client, kwargs, field_pred, expectation):
    zone = new_zone(client, "upd-invalid")
    err = expect_error(BadRequestError, f"PATCH with {kwargs!r:.120}", client.zones.update, zone.id, **kwargs)
    body = assert_sdk_error(err, 400, "validation_error", context=f"PATCH {kwargs!r:.120}")
    assert_detail_field(body, field_pred, expectation)
    assert client.zones.retrieve(zone.id).model_dump() == zone.model_dump(), "expected a rejected PATCH to change nothing"


# --------------------------------------------------------------------------- delete


def test_delete_then_404(client):
    zone = new_zone(client, "delete")
    assert client.zones.delete(zone.id) is None
    err = expect_error(NotFoundError, "GET of a deleted zone", client.zones.retrieve, zone.id)
    assert_sdk_error(err, 404, "not_found", context="GET deleted zone")
    err = expect_error(NotFoundError, "a second DELETE", client.zones.delete, zone.id)
    assert_sdk_error(err, 404, "not_found", context="DELETE deleted zone")
    expect_error(NotFoundError, "PATCH of a deleted zone", client.zones.update, zone.id, name="resurrect")
    assert client.zones.list(slug=zone.slug).items == [], "expected a deleted zone to disappear from the list"


def test_delete_unknown_is_404(client):
    err = expect_error(NotFoundError, "DELETE of an unknown zone", client.zones.delete, UNKNOWN_ZONE_ID)
    assert_sdk_error(err, 404, "not_found", context="DELETE unknown zone")


# --------------------------------------------------------------------------- list


def test_list_envelope(client):
    new_zone(client, "envelope")
    page = client.zones.list()  # strict validation: items, page_info, pagination all required
    assert page.items, "expected at least the zone just created"
    assert isinstance(page.page_info.has_next_page, bool) and isinstance(page.page_info.has_previous_page, bool)
    assert page.pagination.total_count is None, (
        f"expected total_count absent without expand[]=total_count, got {page.pagination.total_count!r}"
    )
    for z in page.items:
        assert z.permissions is None, f"expected no permissions without expand, zone {z.id} has {z.permissions!r}"


def test_list_pagination_forward_backward_and_total_count(client):
    mine = [new_zone(client, f"page-{i}").id for i in range(7)]
    limit = 3

    forward = page_forward(client, limit=limit)
    seq = [z.id for p in forward for z in p.items]
    dupes = sorted({i for i in seq if seq.count(i) > 1})
    assert not dupes, f"expected every zone exactly once while paging forward, duplicates: {dupes}"
    missing = [i for i in mine if i not in seq]
    assert not missing, f"expected all 7 created zones while paging forward with limit={limit}; missing {missing}"
    assert len(forward) >= 3, f"expected at least 3 pages of {limit} for >= 7 zones, got {len(forward)}"
    assert forward[0].page_info.has_previous_page is False, "expected has_previous_page False on the first page"
    for n, p in enumerate(forward[:-1], 1):
        assert len(p.items) == limit, f"expected a full page of {limit} before the last page; page {n} has {len(p.items)}"
        assert p.page_info.has_next_page is True
    assert forward[-1].page_info.has_next_page is False
    assert forward[-1].items, "expected the last page to be non-empty (has_next_page must be False on the page before)"

    # The order is stable: a second pass sees the same sequence.
    again = [z.id for p in page_forward(client, limit=limit) for z in p.items]
    assert again == seq, "expected a stable order across two identical forward passes"

    # total_count counts everything, independent of limit.
    total = client.zones.list(limit=1, expand=["total_count"]).pagination.total_count
    assert total == len(seq), f"expected total_count == {len(seq)} (zones seen while paging), got {total!r}"

    # Backward from the last page reproduces the forward pages in reverse, same order within each page.
    expected = [ids(p.items) for p in reversed(forward[:-1])]
    page = forward[-1]
    backward_pages = []
    for step in range(len(forward) - 1):
        cur = prev_cursor(page)
        assert cur, (
            f"expected a before cursor (pagination.before_cursor or page_info.start_cursor) "
            f"after {step} backward steps; page_info={page.page_info!r} pagination={page.pagination!r}"
        )
        page = client.zones.list(limit=limit, before=cur)
        backward_pages.append(ids(page.items))
        if step < len(forward) - 2:
            assert page.page_info.has_previous_page is True, (
                f"expected has_previous_page True {step + 1} pages back from the end (not yet at the first page)"
            )
    assert backward_pages == expected, (
        f"expected paging backward with before= to return the forward pages in reverse\n"
        f"expected: {expected}\nbackward: {backward_pages}"
    )
    assert page.page_info.has_previous_page is False, "expected has_previous_page False on the first page (backward)"


def test_list_cursor_aliases(client):
    for i in range(4):
        new_zone(client, f"cursor-{i}")
    first = client.zones.list(limit=2)
    assert first.page_info.has_next_page, "expected more than 2 zones"
    cur = next_cursor(first)
    via_after = ids(client.zones.list(limit=2, after=cur).items)
    via_cursor = ids(client.zones.list(limit=2, cursor=cur).items)
    assert via_cursor == via_after, f"expected cursor= to behave like after=: after {via_after}, cursor {via_cursor}"
    assert via_after and not set(via_after) & set(ids(first.items)), "expected the next page to hold different zones"
    if first.page_info.end_cursor and first.pagination.after_cursor:
        via_end = ids(client.zones.list(limit=2, after=first.page_info.end_cursor).items)
        assert via_end == via_after, "expected page_info.end_cursor and pagination.after_cursor to lead to the same page"


def test_list_total_count_expand(client):
    before = total_zone_count(client)
    new_zone(client, "count-a")
    new_zone(client, "count-b")
    assert total_zone_count(client) == before + 2, "expected total_count to grow by 2 after creating 2 zones"
    both = client.zones.list(limit=1, expand=["total_count", "permissions"])
    assert both.pagination.total_count == before + 2
    assert_permissions(both.items[0].permissions, "list expand=[total_count, permissions]")
    assert client.zones.list(limit=1).pagination.total_count is None, "expected total_count None without expand"


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"limit": -1}, {"after": "x" * 256}],
    ids=["limit-0", "limit-101", "limit-negative", "after-256-chars"],
)
def test_list_invalid_params_are_400(client, params):
    err = expect_error(BadRequestError, f"GET /zones with {params}", client.zones.list, **params)
    assert_sdk_error(err, 400, None, context=f"GET /zones {params}")


def test_list_limit_bounds_accepted(client):
    new_zone(client, "limits")
    assert len(client.zones.list(limit=1).items) == 1
    assert len(client.zones.list(limit=100).items) >= 1


def test_list_filter_by_slug(client):
    zone = new_zone(client, "slug-filter")
    new_zone(client, "slug-filter-other")
    page = client.zones.list(slug=zone.slug)
    assert ids(page.items) == [zone.id], f"expected slug={zone.slug!r} to return exactly {zone.id}, got {ids(page.items)}"
    assert client.zones.list(slug="no-such-slug-" + zone.id).items == []


def test_list_filter_by_organization_id(client):
    zone = new_zone(client, "org-filter")
    in_org = all_zone_ids(client, filter_organization_id=zone.organization_id)
    assert zone.id in in_org, f"expected filter[organization_id]={zone.organization_id} to include {zone.id}"
    assert set(in_org) == set(all_zone_ids(client)), "expected every zone of this key to be in its own organization"
    other = client.zones.list(filter_organization_id="org-that-does-not-exist")
    assert other.items == [], f"expected no zones for another organization id, got {ids(other.items)}"


def test_list_expand_permissions(client):
    new_zone(client, "list-perms")
    page = client.zones.list(limit=10, expand=["permissions"])
    assert page.items
    for z in page.items:
        assert_permissions(z.permissions, f"list expand=['permissions'], zone {z.id}")


# --------------------------------------------------------------------------- auth


def test_wrong_api_key_is_401(server):
    bad = KeycardAPI(base_url=server.base_url, api_key="kzsdk_wrong_" + "0" * 32, max_retries=0, _strict_response_validation=True)
    try:
        err = expect_error(AuthenticationError, "list with a wrong API key", bad.zones.list)
        assert_sdk_error(err, 401, "unauthorized", context="wrong API key")
        expect_error(AuthenticationError, "create with a wrong API key", bad.zones.create, name=unique_name("unauthorized"))
    finally:
        bad.close()
