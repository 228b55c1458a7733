"""Applications (`/zones/{zone_id}/applications[/{id}]`), their sub-lists (`…/resources`, `…/application-credentials`)
and dependencies (`…/dependencies[/{dependency_id}]`) through the official SDK, unchanged, with strict response
validation and no retries.

Every test creates its own zones, so list contents are known exactly.

Decided server behaviour tested here:
  * consent defaults to "implicit", owner_type is "customer", `dependencies_count` counts dependencies;
  * metadata URLs and redirect URIs must be absolute (redirect URIs without a fragment);
  * PATCH `metadata={"docs_url": None}` clears only docs_url (merge), `metadata=None` clears everything;
  * `dependencies=[{"id": …}]` on create adds those dependencies;
  * dependencies.add is an idempotent PUT that replaces `when_accessing`;
  * deleting an application deletes its credentials and dependencies and detaches the resources it provided.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from keycardai_api import APIStatusError, BadRequestError, ConflictError, KeycardAPI, NotFoundError
from keycardai_api.types import Zone
from keycardai_api.types.zones import Application
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
DOCS = "https://docs.example.com/app"
ICON = "https://cdn.example.com/icon.png"


# --------------------------------------------------------------------------- helpers and fixtures


def new_identifier(label: str = "app") -> str:
    return f"{label}-{secrets.token_hex(4)}"


def new_app(client: KeycardAPI, zone_id: str, **kwargs: Any) -> Application:
    return client.zones.applications.create(
        zone_id,
        identifier=kwargs.pop("identifier", None) or new_identifier(),
        name=kwargs.pop("name", None) or unique_name("application"),
        **kwargs,
    )


def new_resource(client: KeycardAPI, zone_id: str, **kwargs: Any) -> Resource:
    return client.zones.resources.create(
        zone_id,
        identifier=kwargs.pop("identifier", None) or f"https://api.example.com/{secrets.token_hex(6)}",
        name=kwargs.pop("name", None) or unique_name("resource"),
        **kwargs,
    )


def app_list(client: KeycardAPI, zone_id: str):
    return partial(client.zones.applications.list, zone_id)


def dep_ids(client: KeycardAPI, zone_id: str, app_id: str) -> list:
    return list_all_ids(partial(client.zones.applications.dependencies.list, app_id, zone_id=zone_id), what="dependencies.list")


def deps_count(client: KeycardAPI, zone_id: str, app_id: str) -> int:
    return client.zones.applications.retrieve(app_id, zone_id=zone_id).dependencies_count


def total(list_fn) -> int:
    tc = list_fn(limit=1, expand=["total_count"]).pagination.total_count
    assert isinstance(tc, int) and not isinstance(tc, bool), f"expected an int total_count with expand[]=total_count, got {tc!r}"
    return tc


def when_accessing_of(r: Resource) -> list:
    return sorted(r.when_accessing or [])


@pytest.fixture
def zone(client: KeycardAPI) -> Zone:
    return client.zones.create(name=unique_name("applications"))


@pytest.fixture
def other_zone(client: KeycardAPI) -> Zone:
    return client.zones.create(name=unique_name("applications-other"))


# --------------------------------------------------------------------------- create


def test_create_minimal_defaults(client, zone):
    identifier = new_identifier("minimal")
    before = datetime.now(timezone.utc)
    a = client.zones.applications.create(zone.id, identifier=identifier, name="Alpha Beta 42")
    assert a.identifier == identifier and a.name == "Alpha Beta 42"
    assert a.consent == "implicit", f"expected consent to default to 'implicit', got {a.consent!r}"
    assert a.owner_type == "customer", f"expected owner_type 'customer', got {a.owner_type!r}"
    assert a.dependencies_count == 0, f"expected dependencies_count 0, got {a.dependencies_count!r}"
    assert a.zone_id == zone.id and a.organization_id == zone.organization_id
    assert a.slug == "alpha-beta-42", f"expected the slug derived from 'Alpha Beta 42' -> 'alpha-beta-42', got {a.slug!r}"
    assert a.description is None, f"expected no description, got {a.description!r}"
    assert a.metadata is None or (a.metadata.docs_url is None and a.metadata.icon_url is None), f"metadata {a.metadata!r}"
    assert (
        a.protocols is None
        or a.protocols.oauth2 is None
        or (not a.protocols.oauth2.redirect_uris and not a.protocols.oauth2.post_logout_redirect_uris)
    ), f"expected no redirect URIs, got {a.protocols!r}"
    for field in ("created_at", "updated_at"):
        ts = getattr(a, field)
        assert ts.tzinfo is not None and abs(ts - before) < timedelta(minutes=5), f"expected {field} close to now, got {ts!r}"
    assert a.updated_at >= a.created_at
    got = client.zones.applications.retrieve(a.id, zone_id=zone.id)
    assert got.model_dump() == a.model_dump(), f"expected GET to equal the POST response\nPOST: {a.model_dump()}\nGET:  {got.model_dump()}"


def test_create_full_round_trips(client, zone):
    redirect = ["https://app.example.com/callback", "http://localhost:8080/cb", "com.example.app:/oauth"]
    post_logout = ["https://app.example.com/bye"]
    a = new_app(
        client,
        zone.id,
        description="Full application",
        consent="required",
        metadata={"docs_url": DOCS, "icon_url": ICON},
        protocols={"oauth2": {"redirect_uris": redirect, "post_logout_redirect_uris": post_logout}},
    )
    got = client.zones.applications.retrieve(a.id, zone_id=zone.id)
    for label, x in (("create response", a), ("retrieve", got)):
        assert x.description == "Full application", f"{label}: description {x.description!r}"
        assert x.consent == "required", f"{label}: consent {x.consent!r}"
        assert x.metadata is not None and x.metadata.model_dump() == {"docs_url": DOCS, "icon_url": ICON}, f"{label}: metadata {x.metadata!r}"
        assert x.protocols is not None and x.protocols.oauth2 is not None, f"{label}: protocols {x.protocols!r}"
        assert x.protocols.oauth2.redirect_uris == redirect, f"{label}: redirect_uris {x.protocols.oauth2.redirect_uris!r}"
        assert x.protocols.oauth2.post_logout_redirect_uris == post_logout, (
            f"{label}: post_logout_redirect_uris {x.protocols.oauth2.post_logout_redirect_uris!r}"
        )
    assert got.model_dump() == a.model_dump()


def test_create_with_dependencies(client, zone):
    r1, r2 = new_resource(client, zone.id), new_resource(client, zone.id)
    a = new_app(client, zone.id, dependencies=[{"id": r1.id}, {"id": r2.id}])
    assert a.dependencies_count == 2, f"expected dependencies_count 2 after creating with 2 dependencies, got {a.dependencies_count!r}"
    assert sorted(dep_ids(client, zone.id, a.id)) == sorted([r1.id, r2.id])
    assert deps_count(client, zone.id, a.id) == 2


@pytest.mark.parametrize("bad", ["unknown", "other-zone"])
def test_create_with_bad_dependency_is_rejected_and_creates_nothing(client, zone, other_zone, bad):
    rid = UNKNOWN_ID if bad == "unknown" else new_resource(client, other_zone.id).id
    before = total(app_list(client, zone.id))
    identifier = new_identifier("bad-dep")
    try:
        new_app(client, zone.id, identifier=identifier, dependencies=[{"id": rid}])
    except (BadRequestError, NotFoundError) as e:
        assert_sdk_error(e, e.status_code, None, context=f"create with a dependency on {bad} resource")
    except APIStatusError as e:
        pytest.fail(f"expected 400 or 404 for a dependency on an {bad} resource, got {e.status_code}: {e.body!r:.300}")
    else:
        pytest.fail(f"expected creating an application depending on an {bad} resource ({rid}) to fail")
    assert total(app_list(client, zone.id)) == before, "expected no application created by the rejected request"
    assert client.zones.applications.list(zone.id, identifier=identifier).items == []


def test_duplicate_identifier_is_409_and_other_zones_may_reuse_it(client, zone, other_zone):
    identifier = new_identifier("dup")
    first = new_app(client, zone.id, identifier=identifier)
    err = expect_error(ConflictError, "a second application with the same identifier", new_app, client, zone.id, identifier=identifier)
    assert_conflict(err, "duplicate application identifier")
    assert ids(client.zones.applications.list(zone.id, identifier=identifier).items) == [first.id]
    assert new_app(client, other_zone.id, identifier=identifier).identifier == identifier
    second = new_app(client, zone.id)
    err = expect_error(
        ConflictError, "PATCH identifier onto another application's",
        client.zones.applications.update, second.id, zone_id=zone.id, identifier=identifier,
    )
    assert_conflict(err, "PATCH application identifier onto an existing one")


def test_same_name_gets_distinct_slugs(client, zone):
    a = new_app(client, zone.id, name="Same Name")
    b = new_app(client, zone.id, name="Same Name")
    for x in (a, b):
        assert SLUG_RE.match(x.slug) and x.slug.startswith("same-name"), f"expected a slug derived from 'Same Name', got {x.slug!r}"
    assert a.slug != b.slug, f"expected unique slugs per zone, both got {a.slug!r}"


INVALID_CREATES = [
    pytest.param({"identifier": ""}, "identifier", id="empty-identifier"),
    pytest.param({"name": ""}, "name", id="empty-name"),
    pytest.param({"name": "<script>x</script>"}, "name", id="name-script-tag"),
    pytest.param({"description": "<div>x</div>"}, "description", id="description-html"),
    pytest.param({"metadata": {"docs_url": "not a url"}}, "metadata.docs_url", id="docs-url-not-a-url"),
    pytest.param({"metadata": {"icon_url": "/relative/icon.png"}}, "metadata.icon_url", id="icon-url-relative"),
    pytest.param({"protocols": {"oauth2": {"redirect_uris": ["https://app.example.com/cb#frag"]}}}, "redirect_uris", id="redirect-uri-fragment"),
    pytest.param({"protocols": {"oauth2": {"redirect_uris": ["/callback"]}}}, "redirect_uris", id="redirect-uri-relative"),
    pytest.param({"protocols": {"oauth2": {"post_logout_redirect_uris": ["https://app.example.com/#x"]}}}, "post_logout_redirect_uris", id="post-logout-fragment"),
]


@pytest.mark.parametrize("override, field_part", INVALID_CREATES)
def test_create_invalid_is_400_and_creates_nothing(client, zone, override, field_part):
    kwargs = {"identifier": new_identifier("bad"), "name": unique_name("bad"), **override}
    before = total(app_list(client, zone.id))
    err = expect_error(BadRequestError, f"create application with {override!r:.150}", client.zones.applications.create, zone.id, **kwargs)
    body = assert_sdk_error(err, 400, "validation_error", context=f"create application {override!r:.150}")
    assert_detail_field(body, lambda f: field_part in f, f"contains {field_part!r}")
    assert err.response.headers.get("x-should-retry") == "false"
    assert total(app_list(client, zone.id)) == before, "expected no application created by a rejected request"


# --------------------------------------------------------------------------- retrieve / update


@pytest.mark.parametrize("op", ["retrieve", "update", "delete", "list_credentials", "list_resources"])
def test_unknown_application_is_404(client, zone, op):
    kwargs = {"name": "x"} if op == "update" else {}
    err = expect_error(NotFoundError, f"{op} of an unknown application", getattr(client.zones.applications, op), UNKNOWN_ID, zone_id=zone.id, **kwargs)
    assert_sdk_error(err, 404, "not_found", context=f"{op} unknown application")


def test_update_name_keeps_everything_else(client, zone):
    a = new_app(client, zone.id, description="keep", consent="required", metadata={"docs_url": DOCS, "icon_url": ICON},
                protocols={"oauth2": {"redirect_uris": ["https://app.example.com/cb"]}})
    new_name = unique_name("renamed")
    updated = client.zones.applications.update(a.id, zone_id=zone.id, name=new_name)
    assert updated.name == new_name and updated.updated_at >= a.updated_at
    unchanged = ("name", "updated_at", "slug")
    assert dump_without(updated, *unchanged) == dump_without(a, *unchanged), (
        f"expected only name/updated_at (and possibly slug) to change\nbefore: {a.model_dump()}\nafter:  {updated.model_dump()}"
    )
    assert client.zones.applications.retrieve(a.id, zone_id=zone.id).model_dump() == updated.model_dump()


def test_update_empty_body_changes_nothing(client, zone):
    a = new_app(client, zone.id, description="still here")
    assert dump_without(client.zones.applications.update(a.id, zone_id=zone.id), "updated_at") == dump_without(a, "updated_at")


def test_update_fields_and_null_clears(client, zone):
    a = new_app(client, zone.id, description="d", protocols={"oauth2": {"redirect_uris": ["https://a.example.com/cb"], "post_logout_redirect_uris": ["https://a.example.com/bye"]}})
    u = client.zones.applications.update(a.id, zone_id=zone.id, consent="required", description="new d",
                                         protocols={"oauth2": {"redirect_uris": ["https://b.example.com/cb"], "post_logout_redirect_uris": ["https://b.example.com/bye"]}})
    assert u.consent == "required" and u.description == "new d"
    assert u.protocols.oauth2.redirect_uris == ["https://b.example.com/cb"]
    assert u.protocols.oauth2.post_logout_redirect_uris == ["https://b.example.com/bye"]
    c = client.zones.applications.update(a.id, zone_id=zone.id, description=None, protocols=None)
    for label, x in (("PATCH response", c), ("retrieve", client.zones.applications.retrieve(a.id, zone_id=zone.id))):
        assert x.description is None, f"{label}: expected description cleared by null, got {x.description!r}"
        assert x.protocols is None or x.protocols.oauth2 is None or (
            not x.protocols.oauth2.redirect_uris and not x.protocols.oauth2.post_logout_redirect_uris
        ), f"{label}: expected protocols cleared by null, got {x.protocols!r}"
        assert x.consent == "required"


def test_update_metadata_merges_and_null_clears(client, zone):
    a = new_app(client, zone.id, metadata={"docs_url": DOCS, "icon_url": ICON})
    only_icon = client.zones.applications.update(a.id, zone_id=zone.id, metadata={"docs_url": None})
    assert only_icon.metadata is not None and only_icon.metadata.model_dump() == {"docs_url": None, "icon_url": ICON}, (
        f"expected metadata={{docs_url: null}} to clear only docs_url, got {only_icon.metadata!r}"
    )
    new_docs = "https://docs.example.com/v2"
    both = client.zones.applications.update(a.id, zone_id=zone.id, metadata={"docs_url": new_docs})
    assert both.metadata.model_dump() == {"docs_url": new_docs, "icon_url": ICON}, (
        f"expected metadata={{docs_url: …}} to set docs_url and keep icon_url, got {both.metadata!r}"
    )
    assert client.zones.applications.retrieve(a.id, zone_id=zone.id).metadata.model_dump() == {"docs_url": new_docs, "icon_url": ICON}
    cleared = client.zones.applications.update(a.id, zone_id=zone.id, metadata=None)
    for label, x in (("PATCH response", cleared), ("retrieve", client.zones.applications.retrieve(a.id, zone_id=zone.id))):
        assert x.metadata is None or x.metadata.model_dump() == {"docs_url": None, "icon_url": None}, (
            f"{label}: expected metadata=null to clear all metadata, got {x.metadata!r}"
        )


@pytest.mark.parametrize(
    "kwargs, field_part",
    [
        pytest.param({"name": ""}, "name", id="empty-name"),
        pytest.param({"identifier": ""}, "identifier", id="empty-identifier"),
        pytest.param({"metadata": {"docs_url": "nope"}}, "metadata.docs_url", id="bad-docs-url"),
        pytest.param({"protocols": {"oauth2": {"redirect_uris": ["https://a.example.com/#f"]}}}, "redirect_uris", id="redirect-fragment"),
    ],
)
def test_update_invalid_is_400_and_changes_nothing(client, zone, kwargs, field_part):
    a = new_app(client, zone.id, metadata={"docs_url": DOCS})
    err = expect_error(BadRequestError, f"PATCH application with {kwargs!r:.150}", client.zones.applications.update, a.id, zone_id=zone.id, **kwargs)
    body = assert_sdk_error(err, 400, "validation_error", context=f"PATCH application {kwargs!r:.150}")
    assert_detail_field(body, lambda f: field_part in f, f"contains {field_part!r}")
    assert client.zones.applications.retrieve(a.id, zone_id=zone.id).model_dump() == a.model_dump()


# --------------------------------------------------------------------------- list


def test_list_pagination_both_ways_and_total_count(client, zone):
    mine = [new_app(client, zone.id).id for _ in range(5)]
    fn = app_list(client, zone.id)
    page = fn()  # strict: items, page_info, pagination all required
    assert isinstance(page.page_info.has_next_page, bool)
    seq = [i.id for i in assert_walks_both_ways(fn, limit=2, what="applications.list", min_pages=3)]
    assert sorted(seq) == sorted(mine), f"expected exactly the 5 created applications, got {seq}"
    assert total(fn) == 5
    assert fn(limit=1).pagination.total_count is None


@pytest.mark.parametrize("field", ["name", "identifier"])
def test_list_sort_by_text_field_both_directions(client, zone, field):
    tag = secrets.token_hex(3)
    made = {c: new_app(client, zone.id, identifier=f"sorta-{tag}-{c}", name=f"sorta {tag} {c}").id for c in "dbeac"}
    fn = app_list(client, zone.id)
    asc = [i.id for i in assert_walks_both_ways(fn, limit=2, what="applications.list", sort=field)]
    assert asc == [made[c] for c in "abcde"], f"expected sort={field} to give a..e, got {asc}"
    desc = [i.id for i in assert_walks_both_ways(fn, limit=2, what="applications.list", sort=f"-{field}")]
    assert desc == [made[c] for c in "edcba"], f"expected sort=-{field} to give e..a, got {desc}"


def test_list_sort_by_created_at_both_directions(client, zone):
    for _ in range(4):
        new_app(client, zone.id)
    fn = app_list(client, zone.id)
    asc = assert_walks_both_ways(fn, limit=3, what="applications.list", sort="created_at")
    assert [i.created_at for i in asc] == sorted(i.created_at for i in asc)
    desc = assert_walks_both_ways(fn, limit=3, what="applications.list", sort="-created_at")
    assert [i.created_at for i in desc] == sorted((i.created_at for i in desc), reverse=True)


@pytest.mark.parametrize(
    "params",
    [{"sort": "bogus"}, {"sort": "name,-bogus"}, {"limit": 0}, {"limit": 101}, {"filter_id": [f"id{i}" for i in range(101)]}],
    ids=["sort-unknown", "sort-one-unknown", "limit-0", "limit-101", "filter-id-101"],
)
def test_list_invalid_params_are_400(client, zone, params):
    err = expect_error(BadRequestError, f"applications.list with {str(params)[:80]}", client.zones.applications.list, zone.id, **params)
    assert_sdk_error(err, 400, None, context=f"GET applications {str(params)[:80]}")


def test_list_filter_id_with_cursor_is_400(client, zone):
    a = new_app(client, zone.id)
    new_app(client, zone.id)
    cur = list_after_cursor(client.zones.applications.list(zone.id, limit=1))
    for key in ("after", "before"):
        err = expect_error(BadRequestError, f"filter[id] with {key}", client.zones.applications.list, zone.id, filter_id=[a.id], **{key: cur})
        assert_sdk_error(err, 400, None, context=f"filter[id] + {key}")


def test_list_filters(client, zone):
    tag = secrets.token_hex(3)
    a = new_app(client, zone.id, identifier=f"alpha-{tag}", name=f"Alpha Widget {tag}")
    b = new_app(client, zone.id, identifier=f"widget-b-{tag}", name=f"Beta {tag}")
    c = new_app(client, zone.id, identifier=f"gamma-{tag}", name=f"Gamma {tag}")

    def got(**params):
        return set(ids(client.zones.applications.list(zone.id, limit=100, **params).items))

    assert got(filter_id=[a.id, c.id, UNKNOWN_ID]) == {a.id, c.id}, "filter[id]"
    assert got(filter_identifier=[a.identifier, b.identifier]) == {a.id, b.id}, "filter[identifier]"
    assert got(filter_slug=c.slug) == {c.id}, "filter[slug]"
    assert got(identifier=b.identifier) == {b.id}, "identifier="
    assert got(slug=a.slug) == {a.id}, "slug="
    assert got(query="WIDGET") == {a.id, b.id}, "query[] matches name or identifier case-insensitively"
    assert got(query_name="widget") == {a.id}, "query[name]"
    assert got(query_identifier="Widget") == {b.id}, "query[identifier]"
    assert got(query="nothing-" + tag) == set()


# --------------------------------------------------------------------------- list_resources / list_credentials


def test_list_resources_of_an_application(client, zone):
    app, other = new_app(client, zone.id), new_app(client, zone.id)
    mine = [new_resource(client, zone.id, application_id=app.id).id for _ in range(5)]
    new_resource(client, zone.id, application_id=other.id)
    new_resource(client, zone.id)
    fn = partial(client.zones.applications.list_resources, app.id, zone_id=zone.id)
    page = fn()  # strict: items and pagination required
    assert all(r.application_id == app.id for r in page.items)
    seq = [i.id for i in assert_walks_both_ways(fn, limit=2, what="applications.list_resources", min_pages=3)]
    assert sorted(seq) == sorted(mine), f"expected exactly the 5 resources provided by the application, got {seq}"
    assert total(fn) == 5
    cur = list_after_cursor(fn(limit=2))
    assert ids(fn(limit=2, cursor=cur).items) == ids(fn(limit=2, after=cur).items), "expected cursor= to behave like after="
    empty = client.zones.applications.list_resources(new_app(client, zone.id).id, zone_id=zone.id)
    assert empty.items == [] and empty.pagination.after_cursor is None


def test_list_credentials_of_an_application(client, zone):
    app, other = new_app(client, zone.id), new_app(client, zone.id)
    mine = [client.zones.application_credentials.create(zone.id, type="public", application_id=app.id).id for _ in range(3)]
    mine.append(client.zones.application_credentials.create(zone.id, type="password", application_id=app.id).id)
    client.zones.application_credentials.create(zone.id, type="public", application_id=other.id)
    fn = partial(client.zones.applications.list_credentials, app.id, zone_id=zone.id)
    page = fn()  # strict: items, page_info, pagination required
    assert isinstance(page.page_info.has_next_page, bool)
    for c in page.items:
        assert c.application_id == app.id
        assert type(c).__name__ in ("Public", "Password"), f"expected Public/Password union members, got {type(c).__name__}"
        if c.type == "password":
            assert c.password is None, "expected no password (client secret) in list_credentials"
    seq = [i.id for i in assert_walks_both_ways(fn, limit=2, what="applications.list_credentials", min_pages=2)]
    assert sorted(seq) == sorted(mine)
    assert total(fn) == 4
    cur = list_after_cursor(fn(limit=2))
    assert ids(fn(limit=2, cursor=cur).items) == ids(fn(limit=2, after=cur).items), "expected cursor= to behave like after="


# --------------------------------------------------------------------------- delete


def test_delete_then_404(client, zone):
    a, keep = new_app(client, zone.id), new_app(client, zone.id)
    assert client.zones.applications.delete(a.id, zone_id=zone.id) is None
    for op, kwargs in (("retrieve", {}), ("update", {"name": "x"}), ("delete", {})):
        err = expect_error(NotFoundError, f"{op} of a deleted application", getattr(client.zones.applications, op), a.id, zone_id=zone.id, **kwargs)
        assert_sdk_error(err, 404, "not_found", context=f"{op} deleted application")
    assert list_all_ids(app_list(client, zone.id)) == [keep.id]


def test_delete_cascades_to_credentials_dependencies_and_resources(client, zone):
    app = new_app(client, zone.id)
    provided = new_resource(client, zone.id, application_id=app.id)
    dep = new_resource(client, zone.id)
    client.zones.applications.dependencies.add(dep.id, zone_id=zone.id, id=app.id)
    creds = [
        client.zones.application_credentials.create(zone.id, type="password", application_id=app.id),
        client.zones.application_credentials.create(zone.id, type="public", application_id=app.id),
    ]
    client.zones.applications.delete(app.id, zone_id=zone.id)

    for c in creds:
        err = expect_error(NotFoundError, f"GET of credential {c.id} of a deleted application", client.zones.application_credentials.retrieve, c.id, zone_id=zone.id)
        assert_sdk_error(err, 404, "not_found", context="credential of deleted application")
    listed = list_all_ids(partial(client.zones.application_credentials.list, zone.id))
    assert not {c.id for c in creds} & set(listed), f"expected the deleted application's credentials gone from the list, got {listed}"
    expect_error(NotFoundError, "dependencies.list of a deleted application", client.zones.applications.dependencies.list, app.id, zone_id=zone.id)

    r = client.zones.resources.retrieve(provided.id, zone_id=zone.id)
    assert r.application_id is None, f"expected the provided resource detached (application_id None), got {r.application_id!r}"
    client.zones.resources.retrieve(dep.id, zone_id=zone.id)  # a dependency is not deleted with the application
    # The identifier is free again.
    assert new_app(client, zone.id, identifier=app.identifier).identifier == app.identifier


# --------------------------------------------------------------------------- dependencies


def test_dependencies_add_retrieve_list_remove(client, zone):
    app = new_app(client, zone.id)
    r1, r2, r3 = (new_resource(client, zone.id) for _ in range(3))
    D = client.zones.applications.dependencies

    assert D.add(r1.id, zone_id=zone.id, id=app.id) is None
    got = D.retrieve(r1.id, zone_id=zone.id, id=app.id)
    assert isinstance(got, Resource) and got.id == r1.id and got.identifier == r1.identifier
    assert when_accessing_of(got) == [], f"expected no when_accessing, got {got.when_accessing!r}"
    assert deps_count(client, zone.id, app.id) == 1

    D.add(r1.id, zone_id=zone.id, id=app.id, when_accessing=[r2.id, r3.id])
    got = D.retrieve(r1.id, zone_id=zone.id, id=app.id)
    assert when_accessing_of(got) == sorted([r2.id, r3.id]), f"expected when_accessing [r2, r3], got {got.when_accessing!r}"
    assert deps_count(client, zone.id, app.id) == 1, "expected a second add of the same dependency not to add another"

    D.add(r1.id, zone_id=zone.id, id=app.id, when_accessing=[r3.id])
    assert when_accessing_of(D.retrieve(r1.id, zone_id=zone.id, id=app.id)) == [r3.id], "expected add to replace when_accessing"
    D.add(r1.id, zone_id=zone.id, id=app.id, when_accessing=[r3.id])  # idempotent
    assert deps_count(client, zone.id, app.id) == 1

    D.add(r2.id, zone_id=zone.id, id=app.id)
    page = D.list(app.id, zone_id=zone.id)  # strict: items and pagination required
    by_id = {r.id: r for r in page.items}
    assert set(by_id) == {r1.id, r2.id}, f"expected dependencies r1 and r2, got {list(by_id)}"
    assert when_accessing_of(by_id[r1.id]) == [r3.id], f"expected the list to carry when_accessing, got {by_id[r1.id].when_accessing!r}"
    assert deps_count(client, zone.id, app.id) == 2
    assert D.list(app.id, zone_id=zone.id, expand=["total_count"]).pagination.total_count == 2

    assert D.remove(r1.id, zone_id=zone.id, id=app.id) is None
    err = expect_error(NotFoundError, "retrieve of a removed dependency", D.retrieve, r1.id, zone_id=zone.id, id=app.id)
    assert_sdk_error(err, 404, "not_found", context="removed dependency")
    assert dep_ids(client, zone.id, app.id) == [r2.id]
    assert deps_count(client, zone.id, app.id) == 1
    client.zones.resources.retrieve(r1.id, zone_id=zone.id)  # removing a dependency keeps the resource


def test_dependency_retrieve_of_a_non_dependency_is_404(client, zone):
    app, r = new_app(client, zone.id), new_resource(client, zone.id)
    err = expect_error(NotFoundError, "retrieve of a resource that is not a dependency", client.zones.applications.dependencies.retrieve, r.id, zone_id=zone.id, id=app.id)
    assert_sdk_error(err, 404, "not_found", context="non-dependency")


def test_dependencies_pagination(client, zone):
    app = new_app(client, zone.id)
    rs = [new_resource(client, zone.id).id for _ in range(5)]
    for rid in rs:
        client.zones.applications.dependencies.add(rid, zone_id=zone.id, id=app.id)
    fn = partial(client.zones.applications.dependencies.list, app.id, zone_id=zone.id)
    seq = [i.id for i in assert_walks_both_ways(fn, limit=2, what="dependencies.list", min_pages=3)]
    assert sorted(seq) == sorted(rs)
    cur = list_after_cursor(fn(limit=2))
    assert ids(fn(limit=2, cursor=cur).items) == ids(fn(limit=2, after=cur).items), "expected cursor= to behave like after="
    assert deps_count(client, zone.id, app.id) == 5


@pytest.mark.parametrize("bad", ["unknown", "other-zone"])
def test_dependency_on_a_foreign_or_unknown_resource_is_404(client, zone, other_zone, bad):
    app = new_app(client, zone.id)
    rid = UNKNOWN_ID if bad == "unknown" else new_resource(client, other_zone.id).id
    err = expect_error(NotFoundError, f"dependencies.add of an {bad} resource", client.zones.applications.dependencies.add, rid, zone_id=zone.id, id=app.id)
    assert_sdk_error(err, 404, "not_found", context=f"add dependency on {bad} resource")
    assert deps_count(client, zone.id, app.id) == 0


@pytest.mark.parametrize("bad", ["unknown", "other-zone"])
def test_dependency_when_accessing_a_foreign_or_unknown_resource_is_rejected(client, zone, other_zone, bad):
    app, r = new_app(client, zone.id), new_resource(client, zone.id)
    wid = UNKNOWN_ID if bad == "unknown" else new_resource(client, other_zone.id).id
    try:
        client.zones.applications.dependencies.add(r.id, zone_id=zone.id, id=app.id, when_accessing=[wid])
    except (BadRequestError, NotFoundError) as e:
        assert_sdk_error(e, e.status_code, None, context=f"when_accessing an {bad} resource")
    except APIStatusError as e:
        pytest.fail(f"expected 400 or 404 for when_accessing an {bad} resource, got {e.status_code}: {e.body!r:.300}")
    else:
        pytest.fail(f"expected dependencies.add with when_accessing=[{bad} resource] to fail")
    assert deps_count(client, zone.id, app.id) == 0, "expected the rejected add to add nothing"


def test_dependency_of_an_unknown_application_is_404(client, zone):
    r = new_resource(client, zone.id)
    D = client.zones.applications.dependencies
    for what, fn, args, kwargs in (
        ("add", D.add, (r.id,), {"id": UNKNOWN_ID}),
        ("retrieve", D.retrieve, (r.id,), {"id": UNKNOWN_ID}),
        ("remove", D.remove, (r.id,), {"id": UNKNOWN_ID}),
        ("list", D.list, (UNKNOWN_ID,), {}),
    ):
        err = expect_error(NotFoundError, f"dependencies.{what} of an unknown application", fn, *args, zone_id=zone.id, **kwargs)
        assert_sdk_error(err, 404, "not_found", context=f"dependencies.{what} unknown application")


# --------------------------------------------------------------------------- zone settings referring to applications


def test_zone_default_mcp_gateway_application_must_be_of_the_zone(client, zone, other_zone):
    mine = new_app(client, zone.id)
    updated = client.zones.update(zone.id, default_mcp_gateway_application_id=mine.id)
    assert updated.default_mcp_gateway_application_id == mine.id
    assert client.zones.retrieve(zone.id).default_mcp_gateway_application_id == mine.id
    theirs = new_app(client, other_zone.id)
    err = expect_error(BadRequestError, "zones.update with another zone's application", client.zones.update, zone.id, default_mcp_gateway_application_id=theirs.id)
    body = assert_sdk_error(err, 400, "validation_error", context="default_mcp_gateway_application_id of another zone")
    assert_detail_field(body, lambda f: f == "default_mcp_gateway_application_id", "== 'default_mcp_gateway_application_id'")
    assert client.zones.retrieve(zone.id).default_mcp_gateway_application_id == mine.id
    assert client.zones.update(zone.id, default_mcp_gateway_application_id=None).default_mcp_gateway_application_id is None


# --------------------------------------------------------------------------- isolation


def test_other_zone_path_cannot_see_or_touch_an_application(client, zone, other_zone):
    a = new_app(client, other_zone.id, description="in zone B")
    r = new_resource(client, other_zone.id)
    client.zones.applications.dependencies.add(r.id, zone_id=other_zone.id, id=a.id)
    before = client.zones.applications.retrieve(a.id, zone_id=other_zone.id)
    where = f"application {a.id} of zone {other_zone.id} through zone {zone.id}'s path"
    A, D = client.zones.applications, client.zones.applications.dependencies
    for what, fn, args, kwargs in (
        ("GET", A.retrieve, (a.id,), {}),
        ("PATCH", A.update, (a.id,), {"name": "hijacked"}),
        ("DELETE", A.delete, (a.id,), {}),
        ("list_credentials", A.list_credentials, (a.id,), {}),
        ("list_resources", A.list_resources, (a.id,), {}),
        ("dependencies.list", D.list, (a.id,), {}),
        ("dependencies.retrieve", D.retrieve, (r.id,), {"id": a.id}),
        ("dependencies.remove", D.remove, (r.id,), {"id": a.id}),
    ):
        err = expect_error(NotFoundError, f"{what} of {where}", fn, *args, zone_id=zone.id, **kwargs)
        assert_sdk_error(err, 404, "not_found", context=f"{what} {where}")
    assert a.id not in list_all_ids(app_list(client, zone.id))
    assert client.zones.applications.list(zone.id, filter_id=[a.id]).items == []
    assert client.zones.applications.list(zone.id, identifier=a.identifier).items == []
    got = client.zones.applications.retrieve(a.id, zone_id=other_zone.id)
    assert got.model_dump() == before.model_dump(), "expected the application untouched by the rejected cross-zone requests"
    assert got.dependencies_count == 1 and dep_ids(client, other_zone.id, a.id) == [r.id]
