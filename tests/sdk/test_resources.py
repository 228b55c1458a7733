"""Resources (`/zones/{zone_id}/resources[/{id}]`) through the official SDK, unchanged, with strict response
validation and no retries.

Every test creates its own zones, so list contents are known exactly.

Decided server behaviour tested here:
  * `identifier` is an absolute URI, unique in the zone; `application_type` defaults to "native", `prefix` to false;
  * `credential_lifetime_seconds` is 60..86400; `credential_provider_id` must name a provider of the zone;
  * list `identifier=` matches prefix resources at path/query boundaries (longest prefix wins), exact otherwise;
  * deleting a resource removes it from every application's dependencies and clears the zone's default_resource_id.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from keycardai_api import APIStatusError, BadRequestError, ConflictError, KeycardAPI, NotFoundError
from keycardai_api.types import Zone
from keycardai_api.types.zones.applications import Resource

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
    unique_name,
)

UNKNOWN_ID = "zzzzzzzzzzzzzzzzzzzz"
DOCS = "https://docs.example.com/api"
ICON = "https://cdn.example.com/api.png"


# --------------------------------------------------------------------------- helpers and fixtures


def new_uri(label: str = "r") -> str:
    return f"https://api.example.com/{label}-{secrets.token_hex(4)}"


def new_resource(client: KeycardAPI, zone_id: str, **kwargs: Any) -> Resource:
    return client.zones.resources.create(
        zone_id,
        identifier=kwargs.pop("identifier", None) or new_uri(),
        name=kwargs.pop("name", None) or unique_name("resource"),
        **kwargs,
    )


def new_app(client: KeycardAPI, zone_id: str, **kwargs: Any):
    return client.zones.applications.create(
        zone_id, identifier=f"app-{secrets.token_hex(4)}", name=unique_name("application"), **kwargs
    )


def new_provider(client: KeycardAPI, zone_id: str):
    return client.zones.providers.create(zone_id, identifier=f"prov-{secrets.token_hex(4)}", name=unique_name("provider"))


def res_list(client: KeycardAPI, zone_id: str):
    return partial(client.zones.resources.list, zone_id)


def total(list_fn) -> int:
    tc = list_fn(limit=1, expand=["total_count"]).pagination.total_count
    assert isinstance(tc, int) and not isinstance(tc, bool), f"expected an int total_count with expand[]=total_count, got {tc!r}"
    return tc


@pytest.fixture
def zone(client: KeycardAPI) -> Zone:
    return client.zones.create(name=unique_name("resources"))


@pytest.fixture
def other_zone(client: KeycardAPI) -> Zone:
    return client.zones.create(name=unique_name("resources-other"))


# --------------------------------------------------------------------------- create


def test_create_minimal_defaults(client, zone):
    uri = new_uri("minimal")
    before = datetime.now(timezone.utc)
    r = client.zones.resources.create(zone.id, identifier=uri, name="Alpha Beta 42")
    assert r.identifier == uri and r.name == "Alpha Beta 42"
    assert r.application_type == "native", f"expected application_type to default to 'native', got {r.application_type!r}"
    assert r.prefix is False, f"expected prefix to default to False, got {r.prefix!r}"
    assert r.owner_type == "customer", f"expected owner_type 'customer', got {r.owner_type!r}"
    assert r.zone_id == zone.id and r.organization_id == zone.organization_id
    assert r.slug == "alpha-beta-42", f"expected the slug derived from 'Alpha Beta 42' -> 'alpha-beta-42', got {r.slug!r}"
    for f in ("application_id", "credential_provider_id", "credential_lifetime_seconds", "description", "when_accessing"):
        assert getattr(r, f) is None, f"expected {f} None on a minimal resource, got {getattr(r, f)!r}"
    assert not r.scopes, f"expected no scopes, got {r.scopes!r}"
    assert r.metadata is None or (r.metadata.docs_url is None and r.metadata.icon_url is None), f"metadata {r.metadata!r}"
    for field in ("created_at", "updated_at"):
        ts = getattr(r, field)
        assert ts.tzinfo is not None and abs(ts - before) < timedelta(minutes=5), f"expected {field} close to now, got {ts!r}"
    got = client.zones.resources.retrieve(r.id, zone_id=zone.id)
    assert got.model_dump() == r.model_dump(), f"expected GET to equal the POST response\nPOST: {r.model_dump()}\nGET:  {got.model_dump()}"


def test_create_full_round_trips(client, zone):
    app, prov = new_app(client, zone.id), new_provider(client, zone.id)
    r = new_resource(
        client,
        zone.id,
        identifier="urn:example:resource:" + secrets.token_hex(4),
        application_id=app.id,
        application_type="web",
        credential_lifetime_seconds=3600,
        credential_provider_id=prov.id,
        description="Full resource",
        metadata={"docs_url": DOCS, "icon_url": ICON},
        prefix=True,
        scopes=["read", "write:all", "admin"],
    )
    got = client.zones.resources.retrieve(r.id, zone_id=zone.id)
    for label, x in (("create response", r), ("retrieve", got)):
        assert x.application_id == app.id, f"{label}: application_id {x.application_id!r}"
        assert x.application_type == "web", f"{label}: application_type {x.application_type!r}"
        assert x.credential_lifetime_seconds == 3600, f"{label}: credential_lifetime_seconds {x.credential_lifetime_seconds!r}"
        assert x.credential_provider_id == prov.id, f"{label}: credential_provider_id {x.credential_provider_id!r}"
        assert x.description == "Full resource"
        assert x.metadata is not None and x.metadata.model_dump() == {"docs_url": DOCS, "icon_url": ICON}, f"{label}: {x.metadata!r}"
        assert x.prefix is True
        assert x.scopes == ["read", "write:all", "admin"], f"{label}: expected scopes to round-trip in order, got {x.scopes!r}"
    assert got.model_dump() == r.model_dump()


@pytest.mark.parametrize("seconds", [60, 86400])
def test_credential_lifetime_bounds_accepted(client, zone, seconds):
    assert new_resource(client, zone.id, credential_lifetime_seconds=seconds).credential_lifetime_seconds == seconds


def test_platform_provider_can_be_the_credential_provider(client, zone):
    sts = client.zones.providers.list(zone.id, type="keycard-sts").items[0]
    assert new_resource(client, zone.id, credential_provider_id=sts.id).credential_provider_id == sts.id


def test_duplicate_identifier_is_409_and_other_zones_may_reuse_it(client, zone, other_zone):
    uri = new_uri("dup")
    first = new_resource(client, zone.id, identifier=uri)
    err = expect_error(ConflictError, "a second resource with the same identifier", new_resource, client, zone.id, identifier=uri)
    assert_conflict(err, "duplicate resource identifier")
    assert ids(client.zones.resources.list(zone.id, filter_identifier=uri).items) == [first.id]
    assert new_resource(client, other_zone.id, identifier=uri).identifier == uri
    second = new_resource(client, zone.id)
    err = expect_error(ConflictError, "PATCH identifier onto another resource's", client.zones.resources.update, second.id, zone_id=zone.id, identifier=uri)
    assert_conflict(err, "PATCH resource identifier onto an existing one")
    assert client.zones.resources.retrieve(second.id, zone_id=zone.id).identifier == second.identifier


def test_same_name_gets_distinct_slugs(client, zone):
    a = new_resource(client, zone.id, name="Same Name")
    b = new_resource(client, zone.id, name="Same Name")
    for x in (a, b):
        assert SLUG_RE.match(x.slug) and x.slug.startswith("same-name"), f"expected a slug derived from 'Same Name', got {x.slug!r}"
    assert a.slug != b.slug, f"expected unique slugs per zone, both got {a.slug!r}"


INVALID_CREATES = [
    pytest.param({"identifier": ""}, "identifier", id="empty-identifier"),
    pytest.param({"identifier": "relative/path"}, "identifier", id="identifier-relative"),
    pytest.param({"identifier": "api.example.com"}, "identifier", id="identifier-no-scheme"),
    pytest.param({"name": ""}, "name", id="empty-name"),
    pytest.param({"name": "<script>x</script>"}, "name", id="name-script-tag"),
    pytest.param({"credential_lifetime_seconds": 59}, "credential_lifetime_seconds", id="lifetime-59"),
    pytest.param({"credential_lifetime_seconds": 86401}, "credential_lifetime_seconds", id="lifetime-86401"),
    pytest.param({"credential_lifetime_seconds": 0}, "credential_lifetime_seconds", id="lifetime-0"),
    pytest.param({"metadata": {"docs_url": "not a url"}}, "metadata.docs_url", id="docs-url-not-a-url"),
]


@pytest.mark.parametrize("override, field_part", INVALID_CREATES)
def test_create_invalid_is_400_and_creates_nothing(client, zone, override, field_part):
    kwargs = {"identifier": new_uri("bad"), "name": unique_name("bad"), **override}
    before = total(res_list(client, zone.id))
    err = expect_error(BadRequestError, f"create resource with {override!r:.150}", client.zones.resources.create, zone.id, **kwargs)
    body = assert_sdk_error(err, 400, "validation_error", context=f"create resource {override!r:.150}")
    assert_detail_field(body, lambda f: field_part in f, f"contains {field_part!r}")
    assert err.response.headers.get("x-should-retry") == "false"
    assert total(res_list(client, zone.id)) == before, "expected no resource created by a rejected request"


@pytest.mark.parametrize("bad", ["unknown", "other-zone"])
def test_credential_provider_must_be_of_the_zone(client, zone, other_zone, bad):
    pid = UNKNOWN_ID if bad == "unknown" else new_provider(client, other_zone.id).id
    before = total(res_list(client, zone.id))
    try:
        new_resource(client, zone.id, credential_provider_id=pid)
    except (BadRequestError, NotFoundError) as e:
        body = assert_sdk_error(e, e.status_code, None, context=f"create with an {bad} credential_provider_id")
        assert "credential_provider_id" in json.dumps(body), (
            f"expected the {e.status_code} error for an {bad} credential_provider_id to name the field 'credential_provider_id', got {body!r}"
        )
    except APIStatusError as e:
        pytest.fail(f"expected 400 or 404 for an {bad} credential_provider_id, got {e.status_code}: {e.body!r:.300}")
    else:
        pytest.fail(f"expected creating a resource with an {bad} credential_provider_id ({pid}) to fail")
    assert total(res_list(client, zone.id)) == before, "expected no resource created by the rejected request"

    r = new_resource(client, zone.id)
    try:
        client.zones.resources.update(r.id, zone_id=zone.id, credential_provider_id=pid)
    except (BadRequestError, NotFoundError) as e:
        body = assert_sdk_error(e, e.status_code, None, context=f"PATCH with an {bad} credential_provider_id")
        assert "credential_provider_id" in json.dumps(body), f"expected the error to name credential_provider_id, got {body!r}"
    else:
        pytest.fail(f"expected PATCH with an {bad} credential_provider_id to fail")
    assert client.zones.resources.retrieve(r.id, zone_id=zone.id).credential_provider_id is None


# --------------------------------------------------------------------------- retrieve / update


@pytest.mark.parametrize("op", ["retrieve", "update", "delete"])
def test_unknown_resource_is_404(client, zone, op):
    kwargs = {"name": "x"} if op == "update" else {}
    err = expect_error(NotFoundError, f"{op} of an unknown resource", getattr(client.zones.resources, op), UNKNOWN_ID, zone_id=zone.id, **kwargs)
    assert_sdk_error(err, 404, "not_found", context=f"{op} unknown resource")


def test_update_name_keeps_everything_else(client, zone):
    app, prov = new_app(client, zone.id), new_provider(client, zone.id)
    r = new_resource(client, zone.id, application_id=app.id, credential_provider_id=prov.id, credential_lifetime_seconds=120,
                     description="keep", metadata={"docs_url": DOCS}, prefix=True, scopes=["a"], application_type="web")
    new_name = unique_name("renamed")
    u = client.zones.resources.update(r.id, zone_id=zone.id, name=new_name)
    assert u.name == new_name and u.updated_at >= r.updated_at
    unchanged = ("name", "updated_at", "slug")
    assert dump_without(u, *unchanged) == dump_without(r, *unchanged), (
        f"expected only name/updated_at (and possibly slug) to change\nbefore: {r.model_dump()}\nafter:  {u.model_dump()}"
    )
    assert client.zones.resources.retrieve(r.id, zone_id=zone.id).model_dump() == u.model_dump()


def test_update_empty_body_changes_nothing(client, zone):
    r = new_resource(client, zone.id, description="still here", scopes=["x"])
    assert dump_without(client.zones.resources.update(r.id, zone_id=zone.id), "updated_at") == dump_without(r, "updated_at")


def test_update_fields(client, zone):
    app, prov = new_app(client, zone.id), new_provider(client, zone.id)
    r = new_resource(client, zone.id)
    uri = new_uri("moved")
    u = client.zones.resources.update(
        r.id, zone_id=zone.id, identifier=uri, application_id=app.id, application_type="web", credential_lifetime_seconds=86400,
        credential_provider_id=prov.id, description="d", metadata={"icon_url": ICON}, prefix=True, scopes=["s1", "s2"],
    )
    for label, x in (("PATCH response", u), ("retrieve", client.zones.resources.retrieve(r.id, zone_id=zone.id))):
        assert (x.identifier, x.application_id, x.application_type, x.credential_lifetime_seconds, x.credential_provider_id) == (
            uri, app.id, "web", 86400, prov.id
        ), f"{label}: {x.model_dump()}"
        assert x.description == "d" and x.prefix is True and x.scopes == ["s1", "s2"], f"{label}: {x.model_dump()}"
        assert x.metadata is not None and x.metadata.icon_url == ICON
    back = client.zones.resources.update(r.id, zone_id=zone.id, prefix=False, application_type="native")
    assert back.prefix is False and back.application_type == "native"


def test_update_null_clears_nullable_fields(client, zone):
    app, prov = new_app(client, zone.id), new_provider(client, zone.id)
    r = new_resource(client, zone.id, application_id=app.id, credential_provider_id=prov.id, credential_lifetime_seconds=600,
                     description="d", metadata={"docs_url": DOCS, "icon_url": ICON}, scopes=["a", "b"])
    c = client.zones.resources.update(r.id, zone_id=zone.id, application_id=None, credential_provider_id=None,
                                      credential_lifetime_seconds=None, description=None, metadata=None, scopes=None)
    for label, x in (("PATCH response", c), ("retrieve", client.zones.resources.retrieve(r.id, zone_id=zone.id))):
        for f in ("application_id", "credential_provider_id", "credential_lifetime_seconds", "description"):
            assert getattr(x, f) is None, f"{label}: expected {f} cleared by null, got {getattr(x, f)!r}"
        assert not x.scopes, f"{label}: expected scopes cleared by null, got {x.scopes!r}"
        assert x.metadata is None or x.metadata.model_dump() == {"docs_url": None, "icon_url": None}, f"{label}: metadata {x.metadata!r}"
        assert (x.identifier, x.name) == (r.identifier, r.name)


def test_update_metadata_merges(client, zone):
    r = new_resource(client, zone.id, metadata={"docs_url": DOCS, "icon_url": ICON})
    u = client.zones.resources.update(r.id, zone_id=zone.id, metadata={"docs_url": None})
    assert u.metadata is not None and u.metadata.model_dump() == {"docs_url": None, "icon_url": ICON}, (
        f"expected metadata={{docs_url: null}} to clear only docs_url, got {u.metadata!r}"
    )


@pytest.mark.parametrize(
    "kwargs, field_part",
    [
        pytest.param({"identifier": "not a uri"}, "identifier", id="bad-identifier"),
        pytest.param({"name": ""}, "name", id="empty-name"),
        pytest.param({"credential_lifetime_seconds": 59}, "credential_lifetime_seconds", id="lifetime-59"),
        pytest.param({"credential_lifetime_seconds": 86401}, "credential_lifetime_seconds", id="lifetime-86401"),
    ],
)
def test_update_invalid_is_400_and_changes_nothing(client, zone, kwargs, field_part):
    r = new_resource(client, zone.id, credential_lifetime_seconds=300)
    err = expect_error(BadRequestError, f"PATCH resource with {kwargs!r:.150}", client.zones.resources.update, r.id, zone_id=zone.id, **kwargs)
    body = assert_sdk_error(err, 400, "validation_error", context=f"PATCH resource {kwargs!r:.150}")
    assert_detail_field(body, lambda f: field_part in f, f"contains {field_part!r}")
    assert client.zones.resources.retrieve(r.id, zone_id=zone.id).model_dump() == r.model_dump()


# --------------------------------------------------------------------------- list


def test_list_pagination_both_ways_and_total_count(client, zone):
    mine = [new_resource(client, zone.id).id for _ in range(5)]
    fn = res_list(client, zone.id)
    page = fn()  # strict: items and pagination required
    assert page.pagination.after_cursor is None and page.pagination.before_cursor is None, (
        f"expected no cursors when everything fits one page, got {page.pagination!r}"
    )
    seq = [i.id for i in assert_walks_both_ways(fn, limit=2, what="resources.list", min_pages=3)]
    assert sorted(seq) == sorted(mine), f"expected exactly the 5 created resources, got {seq}"
    assert total(fn) == 5
    assert fn(limit=1).pagination.total_count is None


@pytest.mark.parametrize("field", ["name", "identifier"])
def test_list_sort_by_text_field_both_directions(client, zone, field):
    tag = secrets.token_hex(3)
    made = {c: new_resource(client, zone.id, identifier=f"https://sort.example.com/{tag}/{c}", name=f"sortr {tag} {c}").id for c in "dbeac"}
    fn = res_list(client, zone.id)
    asc = [i.id for i in assert_walks_both_ways(fn, limit=2, what="resources.list", sort=field)]
    assert asc == [made[c] for c in "abcde"], f"expected sort={field} to give a..e, got {asc}"
    desc = [i.id for i in assert_walks_both_ways(fn, limit=2, what="resources.list", sort=f"-{field}")]
    assert desc == [made[c] for c in "edcba"], f"expected sort=-{field} to give e..a, got {desc}"


def test_list_sort_by_created_at_both_directions(client, zone):
    for _ in range(4):
        new_resource(client, zone.id)
    fn = res_list(client, zone.id)
    asc = assert_walks_both_ways(fn, limit=3, what="resources.list", sort="created_at")
    assert [i.created_at for i in asc] == sorted(i.created_at for i in asc)
    desc = assert_walks_both_ways(fn, limit=3, what="resources.list", sort="-created_at")
    assert [i.created_at for i in desc] == sorted((i.created_at for i in desc), reverse=True)


@pytest.mark.parametrize(
    "params",
    [{"sort": "bogus"}, {"sort": "identifier,bogus"}, {"limit": 0}, {"limit": 101}, {"filter_id": [f"id{i}" for i in range(101)]}],
    ids=["sort-unknown", "sort-one-unknown", "limit-0", "limit-101", "filter-id-101"],
)
def test_list_invalid_params_are_400(client, zone, params):
    err = expect_error(BadRequestError, f"resources.list with {str(params)[:80]}", client.zones.resources.list, zone.id, **params)
    assert_sdk_error(err, 400, None, context=f"GET resources {str(params)[:80]}")


def test_list_filter_id_with_cursor_is_400(client, zone):
    r = new_resource(client, zone.id)
    new_resource(client, zone.id)
    cur = list_after_cursor(client.zones.resources.list(zone.id, limit=1))
    assert cur, "expected an after cursor on a first page of 1 out of 2"
    for key in ("after", "before"):
        err = expect_error(BadRequestError, f"filter[id] with {key}", client.zones.resources.list, zone.id, filter_id=[r.id], **{key: cur})
        assert_sdk_error(err, 400, None, context=f"filter[id] + {key}")


def test_list_filters(client, zone):
    tag = secrets.token_hex(3)
    a = new_resource(client, zone.id, identifier=f"https://alpha.example.com/{tag}", name=f"Alpha Widget {tag}")
    b = new_resource(client, zone.id, identifier=f"https://widget.example.com/{tag}", name=f"Beta {tag}")
    c = new_resource(client, zone.id, identifier=f"https://gamma.example.com/{tag}", name=f"Gamma {tag}")

    def got(**params):
        return set(ids(client.zones.resources.list(zone.id, limit=100, **params).items))

    assert got(filter_id=[a.id, c.id, UNKNOWN_ID]) == {a.id, c.id}, "filter[id]"
    assert got(filter_identifier=[a.identifier, b.identifier]) == {a.id, b.id}, "filter[identifier]"
    assert got(filter_slug=c.slug) == {c.id}, "filter[slug]"
    assert got(identifier=b.identifier) == {b.id}, "identifier= (exact)"
    assert got(slug=a.slug) == {a.id}, "slug="
    assert got(query="WIDGET") == {a.id, b.id}, "query[] matches name or identifier case-insensitively"
    assert got(query_name="widget") == {a.id}, "query[name]"
    assert got(query_identifier="Widget") == {b.id}, "query[identifier]"
    assert got(query="nothing-" + tag) == set()


def test_list_filter_by_credential_provider(client, zone):
    p1, p2 = new_provider(client, zone.id), new_provider(client, zone.id)
    with_p1 = {new_resource(client, zone.id, credential_provider_id=p1.id).id for _ in range(2)}
    with_p2 = {new_resource(client, zone.id, credential_provider_id=p2.id).id}
    new_resource(client, zone.id)
    assert set(ids(client.zones.resources.list(zone.id, credential_provider_id=p1.id).items)) == with_p1
    assert set(ids(client.zones.resources.list(zone.id, credential_provider_id=p2.id).items)) == with_p2
    assert client.zones.resources.list(zone.id, credential_provider_id=new_provider(client, zone.id).id).items == []


PREFIX_CASES = [
    ("https://api.example.com/v1/users?x=1", "v1"),
    ("https://api.example.com/v1", "v1"),
    ("https://api.example.com/v1/", "v1"),
    ("https://api.example.com/v1?q=2", "v1"),
    ("https://api.example.com/v1/admin/x", "admin"),
    ("https://api.example.com/v1/admin", "admin"),
    ("https://api.example.com/v10", None),
    ("https://api.example.com/v1admin", None),
    ("https://api.example.com/exact", "exact"),
    ("https://api.example.com/exact/sub", None),
    ("https://api.example.com/exact?x=1", None),
    ("http://api.example.com/v1/x", None),
    ("https://other.example.com/v1/x", None),
    ("https://api.example.com", None),
]


def test_list_identifier_prefix_matching(client, zone):
    made = {
        "v1": new_resource(client, zone.id, identifier="https://api.example.com/v1", prefix=True).id,
        "admin": new_resource(client, zone.id, identifier="https://api.example.com/v1/admin", prefix=True).id,
        "exact": new_resource(client, zone.id, identifier="https://api.example.com/exact", prefix=False).id,
    }
    failures = []
    for query, want in PREFIX_CASES:
        got = ids(client.zones.resources.list(zone.id, identifier=query).items)
        expected = [made[want]] if want else []
        if got != expected:
            failures.append(f"identifier={query}: expected {want or 'nothing'} {expected}, got {got}")
    assert not failures, "prefix matching via resources.list(identifier=…) is wrong:\n" + "\n".join(failures)
    assert set(ids(client.zones.resources.list(zone.id, filter_identifier="https://api.example.com/v1").items)) == {made["v1"]}, (
        "expected filter[identifier] to match exactly"
    )


# --------------------------------------------------------------------------- delete


def test_delete_then_404(client, zone):
    r, keep = new_resource(client, zone.id), new_resource(client, zone.id)
    assert client.zones.resources.delete(r.id, zone_id=zone.id) is None
    for op, kwargs in (("retrieve", {}), ("update", {"name": "x"}), ("delete", {})):
        err = expect_error(NotFoundError, f"{op} of a deleted resource", getattr(client.zones.resources, op), r.id, zone_id=zone.id, **kwargs)
        assert_sdk_error(err, 404, "not_found", context=f"{op} deleted resource")
    assert list_all_ids(res_list(client, zone.id)) == [keep.id]
    assert new_resource(client, zone.id, identifier=r.identifier).identifier == r.identifier, "expected the identifier to be free again"


def test_delete_removes_it_from_dependencies(client, zone):
    r, other = new_resource(client, zone.id), new_resource(client, zone.id)
    apps = [new_app(client, zone.id, dependencies=[{"id": r.id}, {"id": other.id}]) for _ in range(2)]
    for a in apps:
        assert a.dependencies_count == 2
    client.zones.resources.delete(r.id, zone_id=zone.id)
    for a in apps:
        deps = list_all_ids(partial(client.zones.applications.dependencies.list, a.id, zone_id=zone.id))
        assert deps == [other.id], f"expected only {other.id} left in application {a.id}'s dependencies, got {deps}"
        count = client.zones.applications.retrieve(a.id, zone_id=zone.id).dependencies_count
        assert count == 1, f"expected dependencies_count 1 after deleting a dependency, got {count!r}"
        expect_error(NotFoundError, "dependencies.retrieve of a deleted resource", client.zones.applications.dependencies.retrieve, r.id, zone_id=zone.id, id=a.id)


def test_zone_default_resource(client, zone, other_zone):
    r = new_resource(client, zone.id)
    updated = client.zones.update(zone.id, default_resource_id=r.id)
    assert updated.default_resource_id == r.id
    assert client.zones.retrieve(zone.id).default_resource_id == r.id

    theirs = new_resource(client, other_zone.id)
    err = expect_error(BadRequestError, "zones.update with another zone's resource", client.zones.update, zone.id, default_resource_id=theirs.id)
    body = assert_sdk_error(err, 400, "validation_error", context="default_resource_id of another zone")
    assert_detail_field(body, lambda f: f == "default_resource_id", "== 'default_resource_id'")
    assert client.zones.retrieve(zone.id).default_resource_id == r.id, "expected the rejected update to change nothing"

    client.zones.resources.delete(r.id, zone_id=zone.id)
    got = client.zones.retrieve(zone.id).default_resource_id
    assert got is None, f"expected deleting the default resource to clear the zone's default_resource_id, got {got!r}"

    r2 = new_resource(client, zone.id)
    assert client.zones.update(zone.id, default_resource_id=r2.id).default_resource_id == r2.id
    assert client.zones.update(zone.id, default_resource_id=None).default_resource_id is None


def test_deleting_the_zone_deletes_its_resources(client):
    z = client.zones.create(name=unique_name("resources-doomed"))
    r = new_resource(client, z.id)
    client.zones.delete(z.id)
    err = expect_error(NotFoundError, "GET of a resource of a deleted zone", client.zones.resources.retrieve, r.id, zone_id=z.id)
    assert_sdk_error(err, 404, "not_found", context="GET resource of deleted zone")


# --------------------------------------------------------------------------- isolation


def test_other_zone_path_cannot_see_or_touch_a_resource(client, zone, other_zone):
    r = new_resource(client, other_zone.id, description="in zone B", prefix=True)
    where = f"resource {r.id} of zone {other_zone.id} through zone {zone.id}'s path"
    err = expect_error(NotFoundError, f"GET of {where}", client.zones.resources.retrieve, r.id, zone_id=zone.id)
    assert_sdk_error(err, 404, "not_found", context=f"GET {where}")
    err = expect_error(NotFoundError, f"PATCH of {where}", client.zones.resources.update, r.id, zone_id=zone.id, name="hijacked")
    assert_sdk_error(err, 404, "not_found", context=f"PATCH {where}")
    err = expect_error(NotFoundError, f"DELETE of {where}", client.zones.resources.delete, r.id, zone_id=zone.id)
    assert_sdk_error(err, 404, "not_found", context=f"DELETE {where}")
    assert r.id not in list_all_ids(res_list(client, zone.id))
    assert client.zones.resources.list(zone.id, filter_id=[r.id]).items == []
    assert client.zones.resources.list(zone.id, identifier=r.identifier).items == []
    assert client.zones.resources.list(zone.id, identifier=r.identifier + "/sub").items == []
    assert client.zones.resources.retrieve(r.id, zone_id=other_zone.id).model_dump() == r.model_dump()
