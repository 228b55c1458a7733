"""Users, user agents, sessions and delegated grants (`/zones/{zone_id}/users`, `/user-agents`, `/sessions`,
`/delegated-grants`) through the official SDK, unchanged, with strict response validation and no retries.

The zone's authorization server, which creates these records, does not exist yet: every test inserts the rows
straight into the server's database (the `server_db` fixture), exactly as that server would, in a zone created
through the SDK. Every test creates its own zones, so list contents are known exactly.

Decided server behaviour tested here:
  * lists answer `{items, pagination}`; default order is creation order (then id), cursors work both ways;
  * users: `filter[email|identifier|issuer|subject|id]` are exact and OR'd across repeated values (and AND'd with each
    other); `query[]` is a case-insensitive substring of email or subject, `query[email]`/`query[subject]` of one;
    `%`/`_` in a query are literal; sort by created_at, email, authenticated_at (never-authenticated sorts first), ties
    by id ascending; `expand[]=grant_count|session_count` add counts of every grant/session of the user (nested ones
    included), absent otherwise; `expand[]=role-assignments|groups` give empty lists until the policy engine exists;
  * sessions: the list shows top-level sessions (no parent) unless `include_nested=true`; `status` is derived:
    `revoked` if revoked, else `expired` once `expires_at <= now`, else `active` (and `active` is status == active);
    `active=true` is `status=active`; PATCH `{"status": "revoked"}` revokes the session and every session nested
    under it; DELETE removes it and its nested sessions;
  * delegated grants: same derived status; PATCH revokes; DELETE removes; deleting a resource revokes its grants
    and keeps them (still retrievable, resource_id unchanged);
  * a PATCH with any status other than "revoked" is a 400 validation_error on `status` and changes nothing;
  * a record of another zone, an unknown id or a malformed id is a 404 through this zone's path.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, Dict, List, Optional

import pytest
from keycardai_api import BadRequestError, KeycardAPI, NotFoundError
from keycardai_api.types import Zone
from keycardai_api.types.zones import Grant, User, UserAgent
from keycardai_api.types.zones.session import IamApplicationSessionType, IamUserSessionType

from sdk_support import (
    ServerDatabase,
    assert_detail_field,
    assert_raw_error,
    assert_sdk_error,
    assert_walks_both_ways,
    expect_error,
    ids,
    list_all_ids,
    random_record_id,
    raw_body,
    unique_name,
)

UNKNOWN_ID = "zzzzzzzzzzzzzzzzzzzz"
MALFORMED_ID = "Not-An-Id"
HOUR_US = 3_600_000_000


# --------------------------------------------------------------------------- helpers and fixtures


def now_us() -> int:
    """Now in microseconds, rounded down to the millisecond (the API renders milliseconds)."""
    return int(time.time() * 1000) * 1000


def ts(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)


def parse_ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


class Records:
    """Rows of one zone, inserted as the authorization server would write them. Each record is created 1 ms after the
    previous one (starting an hour ago), so creation order is insertion order."""

    def __init__(self, db: ServerDatabase, zone_id: str) -> None:
        self.db = db
        self.zone_id = zone_id
        self._clock = now_us() - HOUR_US

    def tick(self) -> int:
        self._clock += 1000
        return self._clock

    def user(self, **kw: Any) -> Dict[str, Any]:
        uid = kw.pop("id", None) or random_record_id()
        tag = secrets.token_hex(4)
        created = kw.pop("created_at", None) or self.tick()
        row = dict(
            id=uid,
            zone_id=self.zone_id,
            identifier=uid,
            email=f"user-{tag}@example.com",
            email_verified=True,
            external=False,
            status="active",
            issuer="https://idp.example.com",
            subject=f"sub-{tag}",
            provider_id=None,
            authenticated_at=created + 500_000,
            created_at=created,
            updated_at=created,
        )
        row.update(kw)
        self.db.insert("users", row)
        return row

    def user_agent(self, **kw: Any) -> Dict[str, Any]:
        created = kw.pop("created_at", None) or self.tick()
        name = kw.pop("name", None) or unique_name("agent")
        metadata = {
            "client_name": name,
            "redirect_uris": [f"http://127.0.0.1:{33000 + secrets.randbelow(1000)}/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        }
        meta_text = json.dumps(metadata, sort_keys=True, separators=(",", ":"))
        row = dict(
            id=random_record_id(),
            zone_id=self.zone_id,
            identifier="ua:" + hashlib.sha256(meta_text.encode()).hexdigest(),
            name=name,
            slug=name.lower().replace(" ", "-"),
            metadata=meta_text,
            created_at=created,
            updated_at=created,
        )
        row.update(kw)
        self.db.insert("user_agents", row)
        return row

    def session(self, user_id: Optional[str] = None, **kw: Any) -> Dict[str, Any]:
        """A user session of `user_id`, unless session_type="application" is given (with application_id,
        provider_id, issuer and subject)."""
        created = kw.pop("created_at", None) or self.tick()
        row = dict(
            id=random_record_id(),
            zone_id=self.zone_id,
            session_type="user",
            parent_id=None,
            user_id=user_id,
            application_id=None,
            user_agent_id=None,
            provider_id=None,
            issuer=None,
            subject=None,
            status="active",
            name=None,
            session_data=None,
            authenticated_at=created,
            expires_at=now_us() + HOUR_US,
            created_at=created,
            updated_at=created,
        )
        row.update(kw)
        self.db.insert("sessions", row)
        return row

    def grant(self, user_id: str, resource_id: str, provider_id: str, **kw: Any) -> Dict[str, Any]:
        created = kw.pop("created_at", None) or self.tick()
        scopes = kw.pop("scopes", ["read"])
        row = dict(
            id=random_record_id(),
            zone_id=self.zone_id,
            user_id=user_id,
            resource_id=resource_id,
            provider_id=provider_id,
            scopes=json.dumps(scopes),
            status="active",
            refresh_token_set=False,
            expires_at=now_us() + HOUR_US,
            refreshed_at=None,
            created_at=created,
            updated_at=created,
        )
        row.update(kw)
        self.db.insert("delegated_grants", row)
        return row


def new_provider(client: KeycardAPI, zone_id: str):
    return client.zones.providers.create(zone_id, identifier=f"prov-{secrets.token_hex(4)}", name=unique_name("provider"))


def new_resource(client: KeycardAPI, zone_id: str):
    return client.zones.resources.create(
        zone_id, identifier=f"https://api.example.com/r-{secrets.token_hex(4)}", name=unique_name("resource")
    )


def new_app(client: KeycardAPI, zone_id: str):
    return client.zones.applications.create(zone_id, identifier=f"app-{secrets.token_hex(4)}", name=unique_name("application"))


def total(list_fn) -> int:
    tc = list_fn(limit=1, expand=["total_count"]).pagination.total_count
    assert isinstance(tc, int) and not isinstance(tc, bool), f"expected an int total_count with expand[]=total_count, got {tc!r}"
    return tc


def users_of(client: KeycardAPI, zone_id: str):
    return partial(client.zones.users.list, zone_id)


def sessions_of(client: KeycardAPI, zone_id: str):
    return partial(client.zones.sessions.list, zone_id)


def grants_of(client: KeycardAPI, zone_id: str):
    return partial(client.zones.delegated_grants.list, zone_id)


def same_set(got: List[str], want: List[str], what: str) -> None:
    assert sorted(got) == sorted(want), f"{what}: expected {sorted(want)}, got {sorted(got)}"


def in_order(got: List[str], want: List[str], what: str) -> None:
    assert got == want, f"{what}: expected {want}, got {got}"


@pytest.fixture
def zone(client: KeycardAPI) -> Zone:
    return client.zones.create(name=unique_name("identity"))


@pytest.fixture
def other_zone(client: KeycardAPI) -> Zone:
    return client.zones.create(name=unique_name("identity-other"))


@pytest.fixture
def rec(server_db: ServerDatabase, zone: Zone) -> Records:
    return Records(server_db, zone.id)


@pytest.fixture
def other_rec(server_db: ServerDatabase, other_zone: Zone) -> Records:
    return Records(server_db, other_zone.id)


@pytest.fixture
def provider(client: KeycardAPI, zone: Zone):
    return new_provider(client, zone.id)


@pytest.fixture
def resource(client: KeycardAPI, zone: Zone):
    return new_resource(client, zone.id)


# --------------------------------------------------------------------------- users


def assert_user_matches(u: User, row: Dict[str, Any], zone: Zone, context: str) -> None:
    assert isinstance(u, User), f"{context}: expected a User, got {type(u).__name__}"
    for f in ("id", "zone_id", "identifier", "email", "email_verified", "external", "status", "issuer", "subject", "provider_id"):
        assert getattr(u, f) == row[f], f"{context}: expected {f} {row[f]!r}, got {getattr(u, f)!r}"
    assert u.organization_id == zone.organization_id, f"{context}: organization_id {u.organization_id!r} != {zone.organization_id!r}"
    assert u.created_at == ts(row["created_at"]), f"{context}: created_at {u.created_at!r} != {ts(row['created_at'])!r}"
    assert u.updated_at == ts(row["updated_at"]), f"{context}: updated_at {u.updated_at!r} != {ts(row['updated_at'])!r}"
    if row["authenticated_at"] == 0:
        assert u.authenticated_at is None, f"{context}: expected authenticated_at None for a user who never signed in, got {u.authenticated_at!r}"
    else:
        assert isinstance(u.authenticated_at, str), f"{context}: expected an RFC 3339 string authenticated_at, got {u.authenticated_at!r}"
        assert parse_ts(u.authenticated_at) == ts(row["authenticated_at"]), (
            f"{context}: authenticated_at {u.authenticated_at!r} != {ts(row['authenticated_at']).isoformat()}"
        )


def test_user_retrieve_and_list_round_trip_every_field(client, zone, rec, provider):
    signed_in = rec.user(
        identifier="alice@corp.example",
        email="alice@corp.example",
        issuer="https://login.corp.example",
        subject="00u1alice",
        provider_id=provider.id,
        authenticated_at=now_us() - 60_000_000,
    )
    never = rec.user(
        email="bob@example.org",
        email_verified=False,
        external=True,
        status="disabled",
        issuer=None,
        subject=None,
        provider_id=None,
        authenticated_at=0,
    )
    for row in (signed_in, never):
        raw = client.zones.users.with_raw_response.retrieve(row["id"], zone_id=zone.id)
        body = raw_body(raw, "GET user")
        for absent in ("grant_count", "session_count", "role_assignments", "groups", "credentials"):
            assert absent not in body, f"expected no {absent!r} in a user without expand[], got {body!r}"
        u = raw.parse()
        assert_user_matches(u, row, zone, f"retrieve {row['email']}")
        for f in ("grant_count", "session_count", "role_assignments", "groups", "credentials"):
            assert getattr(u, f) is None, f"expected {f} None without expand[], got {getattr(u, f)!r}"

    page = client.zones.users.list(zone.id)
    in_order(ids(page.items), [signed_in["id"], never["id"]], "users.list in creation order")
    for item, row in zip(page.items, (signed_in, never)):
        assert_user_matches(item, row, zone, f"list item {row['email']}")
        assert item.model_dump() == client.zones.users.retrieve(row["id"], zone_id=zone.id).model_dump(), (
            "expected a list item to equal the retrieved user"
        )


def test_users_list_envelope_and_pagination_both_ways(client, zone, rec):
    rows = [rec.user() for _ in range(5)]
    raw = client.zones.users.with_raw_response.list(zone.id, limit=2)
    body = raw_body(raw, "GET users")
    assert set(body) == {"items", "pagination"}, f"expected the {{items, pagination}} envelope, got keys {sorted(body)}"
    assert set(body["pagination"]) == {"after_cursor", "before_cursor"}, f"pagination without expand: {body['pagination']!r}"
    assert body["pagination"]["before_cursor"] is None and body["pagination"]["after_cursor"], body["pagination"]

    items = assert_walks_both_ways(users_of(client, zone.id), limit=2, what="users.list", min_pages=3)
    in_order(ids(items), [r["id"] for r in rows], "users paged forward")
    assert total(users_of(client, zone.id)) == 5
    assert client.zones.users.list(zone.id).pagination.total_count is None, "expected no total_count without expand[]"

    last = client.zones.users.list(zone.id, limit=5)
    assert last.pagination.after_cursor is None and last.pagination.before_cursor is None, (
        f"expected no cursors when one page holds everything, got {last.pagination!r}"
    )


def test_users_list_of_an_empty_zone(client, zone):
    page = client.zones.users.list(zone.id)
    assert page.items == [] and page.pagination.after_cursor is None and page.pagination.before_cursor is None
    assert total(users_of(client, zone.id)) == 0


def test_users_list_filters(client, zone, rec):
    a = rec.user(email="ann.smith@alpha.example", identifier="ann", issuer="https://idp-a.example", subject="Sub-Ann_1")
    b = rec.user(email="BOB@beta.example", identifier="bob", issuer="https://idp-b.example", subject="sub-bob")
    c = rec.user(email="carol@alpha.example", identifier="carol", issuer="https://idp-a.example", subject="sub-carol", external=True)
    d = rec.user(email="dave%x@delta.example", identifier="dave", issuer=None, subject=None, external=True)
    lst = users_of(client, zone.id)

    def check(want: List[Dict[str, Any]], **params: Any) -> None:
        got = list_all_ids(lst, what="users.list", **params)
        in_order(got, [r["id"] for r in want], f"users.list({params})")

    check([a, b, c, d])
    check([a], filter_email="ann.smith@alpha.example")
    check([a, c], filter_email=["carol@alpha.example", "ann.smith@alpha.example"])
    check([], filter_email="ANN.SMITH@alpha.example")  # exact
    check([b], filter_identifier="bob")
    check([b, d], filter_identifier=["dave", "bob"])
    check([a, c], filter_issuer="https://idp-a.example")
    check([a, b, c], filter_issuer=["https://idp-a.example", "https://idp-b.example"])
    check([b], filter_subject="sub-bob")
    check([a, b], filter_subject=["sub-bob", "Sub-Ann_1"])
    check([c], filter_issuer="https://idp-a.example", filter_subject=["sub-carol", "sub-bob"])  # AND'd
    check([a, d], filter_id=[d["id"], a["id"], UNKNOWN_ID])
    check([c, d], filter_external=True)
    check([a, b], filter_external=False)
    check([a, c], query="ALPHA")  # email, case-insensitive
    check([a], query="sub-ann")  # subject, case-insensitive
    check([b, c], query=["bob", "carol"])  # OR'd
    check([a, b, c, d], query="example")
    check([a, c], query_email="@alpha.")
    check([b], query_email="bob@")
    check([], query_email="sub-bob")  # not the subject
    check([a, b, c], query_subject="SUB-")  # case-insensitive
    check([], query_subject="beta")  # not the email
    check([d], query="%")  # LIKE wildcards are literal
    check([a], query="_")
    check([c], query="alpha", filter_external=True)
    check([], filter_email="nobody@example.com")


def test_users_list_invalid_params_are_400(client, zone, rec):
    rec.user()
    for params, field in (({"sort": "name"}, "sort"), ({"limit": 0}, "limit"), ({"after": "garbage"}, "after")):
        err = expect_error(BadRequestError, f"users.list({params})", client.zones.users.list, zone.id, **params)
        body = assert_sdk_error(err, 400, "validation_error", context=f"users.list({params})")
        assert_detail_field(body, lambda f, field=field: f == field, f"== {field!r}")
    err = expect_error(BadRequestError, "filter[external]=maybe", client.zones.users.list, zone.id, extra_query={"filter[external]": "maybe"})
    assert_detail_field(assert_sdk_error(err, 400, "validation_error"), lambda f: f == "filter[external]", "== 'filter[external]'")


def test_users_list_filter_id_over_100_is_400(client, zone):
    err = expect_error(BadRequestError, "users.list with 101 filter[id]", client.zones.users.list, zone.id, filter_id=[random_record_id() for _ in range(101)])
    body = assert_sdk_error(err, 400, "validation_error", context="101 filter[id]")
    assert_detail_field(body, lambda f: f == "filter[id]", "== 'filter[id]'")


def test_users_list_filter_id_with_cursor_is_400(client, zone, rec):
    u = rec.user()
    rec.user()
    cur = client.zones.users.list(zone.id, limit=1).pagination.after_cursor
    assert cur, "expected an after cursor on a first page of 1 out of 2"
    for key in ("after", "before"):
        err = expect_error(BadRequestError, f"users.list filter[id] with {key}", client.zones.users.list, zone.id, filter_id=[u["id"]], **{key: cur})
        body = assert_sdk_error(err, 400, "validation_error", context=f"filter[id] + {key}")
        assert_detail_field(body, lambda f: f == "filter[id]", "== 'filter[id]'")


def test_users_list_filter_id_returns_every_requested_user_in_one_page(client, zone, rec):
    rows = [rec.user() for _ in range(25)]  # more than the default page size (20)
    page = client.zones.users.list(zone.id, filter_id=[r["id"] for r in reversed(rows)] + [UNKNOWN_ID])
    in_order(ids(page.items), [r["id"] for r in rows], "users.list(filter[id]=25 ids) without limit")
    assert page.pagination.after_cursor is None, f"expected a single page, got after_cursor {page.pagination.after_cursor!r}"


def test_users_sort(client, zone, rec):
    base = now_us() - 10 * 60_000_000
    # emails differ in their first letter, so byte order and any collation agree
    u1 = rec.user(email="delta@example.com", authenticated_at=base + 3_000_000)
    u2 = rec.user(email="alpha@example.com", authenticated_at=0)
    u3 = rec.user(email="charlie@example.com", authenticated_at=base + 1_000_000)
    u4 = rec.user(email="bravo@example.com", authenticated_at=0)
    u5 = rec.user(email="echo@example.com", authenticated_at=base + 2_000_000)
    never = sorted([u2["id"], u4["id"]])  # ties are broken by id, ascending, in either direction
    cases_ids = {
        "created_at": [r["id"] for r in (u1, u2, u3, u4, u5)],
        "-created_at": [r["id"] for r in (u5, u4, u3, u2, u1)],
        "email": [r["id"] for r in (u2, u4, u3, u1, u5)],
        "-email": [r["id"] for r in (u5, u1, u3, u4, u2)],
        "authenticated_at": never + [u3["id"], u5["id"], u1["id"]],
        "-authenticated_at": [u1["id"], u5["id"], u3["id"]] + never,
    }
    for sort, want in cases_ids.items():
        items = assert_walks_both_ways(users_of(client, zone.id), limit=2, what=f"users.list(sort={sort})", sort=sort)
        in_order(ids(items), want, f"users sorted by {sort}")


def test_users_expand_counts(client, zone, rec, provider, resource):
    busy, idle = rec.user(), rec.user()
    s1 = rec.session(busy["id"])
    rec.session(busy["id"], parent_id=s1["id"])  # nested: still one of the user's sessions
    rec.session(busy["id"])
    for _ in range(2):
        rec.grant(busy["id"], resource.id, provider.id)
    lst = users_of(client, zone.id)

    page = lst(expand=["grant_count", "session_count"])
    counts = {u.id: (u.grant_count, u.session_count) for u in page.items}
    assert counts == {busy["id"]: (2, 3), idle["id"]: (0, 0)}, f"expected (grant_count, session_count) per user, got {counts}"

    raw = client.zones.users.with_raw_response.list(zone.id, expand="grant_count")
    body = raw_body(raw, "GET users?expand[]=grant_count")
    for item in body["items"]:
        assert "grant_count" in item and "session_count" not in item, (
            f"expected grant_count and no session_count with expand[]=grant_count only, got {item!r}"
        )
    assert {u.id: u.grant_count for u in raw.parse().items} == {busy["id"]: 2, idle["id"]: 0}

    body = raw_body(client.zones.users.with_raw_response.list(zone.id), "GET users")
    for item in body["items"]:
        assert "grant_count" not in item and "session_count" not in item, f"expected no counts without expand[], got {item!r}"

    filtered = lst(filter_id=busy["id"], expand=["session_count", "total_count"])
    assert [(u.id, u.session_count, u.grant_count) for u in filtered.items] == [(busy["id"], 3, None)]
    assert filtered.pagination.total_count == 1


def test_users_expand_role_assignments_and_groups(client, zone, rec):
    row = rec.user()
    page = client.zones.users.list(zone.id, expand=["role-assignments", "groups"])
    assert len(page.items) == 1
    u = page.items[0]
    assert u.role_assignments == [] and u.groups == [], f"expected empty role_assignments and groups, got {u.role_assignments!r}, {u.groups!r}"
    assert u.grant_count is None and u.session_count is None

    got = client.zones.users.retrieve(row["id"], zone_id=zone.id, expand=["role-assignments", "groups"])
    assert got.role_assignments == [] and got.groups == [], f"retrieve with expand: {got.role_assignments!r}, {got.groups!r}"
    got = client.zones.users.retrieve(row["id"], zone_id=zone.id, expand="groups")
    assert got.groups == [] and got.role_assignments is None, f"retrieve with expand[]=groups: {got.groups!r}, {got.role_assignments!r}"
    body = raw_body(client.zones.users.with_raw_response.retrieve(row["id"], zone_id=zone.id, expand="role-assignments"), "GET user")
    assert body.get("role_assignments") == [] and "groups" not in body, f"expected only role_assignments, got {body!r}"


def test_user_not_found(client, zone, other_zone, rec, other_rec):
    mine, theirs = rec.user(), other_rec.user()
    for uid, what in ((UNKNOWN_ID, "an unknown user"), (MALFORMED_ID, "a malformed id"), (theirs["id"], "another zone's user")):
        err = expect_error(NotFoundError, f"users.retrieve of {what}", client.zones.users.retrieve, uid, zone_id=zone.id)
        assert_sdk_error(err, 404, "not_found", context=f"users.retrieve of {what}")
    assert list_all_ids(users_of(client, zone.id)) == [mine["id"]]
    assert list_all_ids(users_of(client, zone.id), filter_id=theirs["id"]) == []
    assert list_all_ids(users_of(client, other_zone.id)) == [theirs["id"]]
    assert client.zones.users.retrieve(theirs["id"], zone_id=other_zone.id).id == theirs["id"]
    for fn, what in ((partial(client.zones.users.list, UNKNOWN_ID), "users.list"), (partial(client.zones.users.retrieve, mine["id"], zone_id=UNKNOWN_ID), "users.retrieve")):
        err = expect_error(NotFoundError, f"{what} in an unknown zone", fn)
        assert_sdk_error(err, 404, "not_found", context=f"{what} in an unknown zone")


# --------------------------------------------------------------------------- user agents


def assert_agent_matches(a: UserAgent, row: Dict[str, Any], zone: Zone, context: str) -> None:
    assert isinstance(a, UserAgent), f"{context}: expected a UserAgent, got {type(a).__name__}"
    for f in ("id", "zone_id", "identifier", "name", "slug"):
        assert getattr(a, f) == row[f], f"{context}: expected {f} {row[f]!r}, got {getattr(a, f)!r}"
    assert a.organization_id == zone.organization_id
    assert a.created_at == ts(row["created_at"]) and a.updated_at == ts(row["updated_at"]), f"{context}: timestamps {a!r}"


def test_user_agents_retrieve_list_and_pagination(client, zone, rec):
    rows = [rec.user_agent() for _ in range(5)]
    for row in rows:
        a = client.zones.user_agents.retrieve(row["id"], zone_id=zone.id)
        assert_agent_matches(a, row, zone, f"retrieve {row['id']}")
        assert a.identifier.startswith("ua:") and len(a.identifier) == 3 + 64

    raw = client.zones.user_agents.with_raw_response.list(zone.id, limit=2)
    body = raw_body(raw, "GET user-agents")
    assert set(body) == {"items", "pagination"}, f"expected the {{items, pagination}} envelope, got keys {sorted(body)}"
    lst = partial(client.zones.user_agents.list, zone.id)
    items = assert_walks_both_ways(lst, limit=2, what="user_agents.list", min_pages=3)
    in_order(ids(items), [r["id"] for r in rows], "user agents in creation order")
    for item, row in zip(items, rows):
        assert_agent_matches(item, row, zone, f"list item {row['id']}")
    assert total(lst) == 5


def test_user_agent_not_found(client, zone, other_zone, rec, other_rec):
    mine, theirs = rec.user_agent(), other_rec.user_agent()
    for uid, what in ((UNKNOWN_ID, "an unknown user agent"), (MALFORMED_ID, "a malformed id"), (theirs["id"], "another zone's user agent")):
        err = expect_error(NotFoundError, f"user_agents.retrieve of {what}", client.zones.user_agents.retrieve, uid, zone_id=zone.id)
        assert_sdk_error(err, 404, "not_found", context=f"user_agents.retrieve of {what}")
    assert list_all_ids(partial(client.zones.user_agents.list, zone.id)) == [mine["id"]]
    assert list_all_ids(partial(client.zones.user_agents.list, other_zone.id)) == [theirs["id"]]
    err = expect_error(NotFoundError, "user_agents.list of an unknown zone", client.zones.user_agents.list, UNKNOWN_ID)
    assert_sdk_error(err, 404, "not_found")


# --------------------------------------------------------------------------- sessions


def test_user_session_round_trips_every_field(client, zone, rec, provider):
    user, agent, app = rec.user(), rec.user_agent(), new_app(client, zone.id)
    data = {"sub": "00u1", "email": "a@example.com", "amr": ["pwd", "mfa"], "nested": {"n": 1}}
    row = rec.session(
        user["id"],
        user_agent_id=agent["id"],
        application_id=app.id,
        provider_id=provider.id,
        issuer="https://login.example.com",
        subject="00u1",
        name="Claude Desktop",
        session_data=json.dumps(data),
        authenticated_at=now_us() - 120_000_000,
    )
    s = client.zones.sessions.retrieve(row["id"], zone_id=zone.id)
    assert isinstance(s, IamUserSessionType), f"expected an IamUserSessionType for session_type 'user', got {type(s).__name__}"
    assert s.session_type == "user" and s.id == row["id"] and s.zone_id == zone.id
    assert s.organization_id == zone.organization_id
    assert (s.user_id, s.user_agent_id, s.application_id, s.provider_id) == (user["id"], agent["id"], app.id, provider.id)
    assert (s.issuer, s.subject) == ("https://login.example.com", "00u1")
    assert s.metadata is not None and s.metadata.name == "Claude Desktop", f"expected metadata.name, got {s.metadata!r}"
    assert s.session_data == data, f"expected session_data to round-trip, got {s.session_data!r}"
    assert s.status == "active" and s.active is True, f"expected an active session, got status {s.status!r} active {s.active!r}"
    assert s.parent_id is None
    for f in ("created_at", "updated_at", "expires_at", "authenticated_at"):
        assert getattr(s, f) == ts(row[f]), f"expected {f} {ts(row[f])!r}, got {getattr(s, f)!r}"

    page = client.zones.sessions.list(zone.id)
    assert len(page.items) == 1 and page.items[0].model_dump() == s.model_dump(), "expected the list item to equal the retrieved session"

    # a minimal user session: only what a user session must have
    bare = rec.session(user["id"], authenticated_at=None)
    body = raw_body(client.zones.sessions.with_raw_response.retrieve(bare["id"], zone_id=zone.id), "GET session")
    for absent in ("application_id", "user_agent_id", "provider_id", "issuer", "subject", "metadata", "session_data", "parent_id", "authenticated_at"):
        assert body.get(absent) is None, f"expected no {absent} on a bare user session, got {body!r}"
    assert body["session_type"] == "user" and body["user_id"] == user["id"]


def test_application_session_round_trips(client, zone, rec, provider):
    app = new_app(client, zone.id)
    row = rec.session(
        session_type="application",
        application_id=app.id,
        provider_id=provider.id,
        issuer="https://token.actions.githubusercontent.com",
        subject="repo:acme/app:ref:refs/heads/main",
        session_data=json.dumps({"repository": "acme/app"}),
        name="deploy",
    )
    raw = client.zones.sessions.with_raw_response.retrieve(row["id"], zone_id=zone.id)
    body = raw_body(raw, "GET application session")
    assert "user_id" not in body and "user_agent_id" not in body, f"expected no user fields on an application session: {body!r}"
    s = raw.parse()
    assert isinstance(s, IamApplicationSessionType), f"expected an IamApplicationSessionType, got {type(s).__name__}"
    assert (s.session_type, s.application_id, s.provider_id) == ("application", app.id, provider.id)
    assert (s.issuer, s.subject) == ("https://token.actions.githubusercontent.com", "repo:acme/app:ref:refs/heads/main")
    assert s.session_data == {"repository": "acme/app"} and s.metadata is not None and s.metadata.name == "deploy"
    assert s.status == "active" and s.active is True and s.organization_id == zone.organization_id
    page = client.zones.sessions.list(zone.id, session_type="application")
    assert [type(i) for i in page.items] == [IamApplicationSessionType] and page.items[0].model_dump() == s.model_dump()


def test_sessions_list_filters(client, zone, rec, provider):
    ann, bob = rec.user(), rec.user()
    app = new_app(client, zone.id)
    past = now_us() - 60_000_000
    ann_top = rec.session(ann["id"])
    ann_child = rec.session(ann["id"], parent_id=ann_top["id"])
    ann_grandchild = rec.session(ann["id"], parent_id=ann_child["id"], status="revoked")
    bob_top = rec.session(bob["id"])
    bob_revoked = rec.session(bob["id"], status="revoked")
    bob_expired = rec.session(bob["id"], expires_at=past)
    app_top = rec.session(
        session_type="application", application_id=app.id, provider_id=provider.id, issuer="https://iss.example", subject="wl"
    )
    app_expired = rec.session(
        session_type="application", application_id=app.id, provider_id=provider.id, issuer="https://iss.example", subject="wl", expires_at=past
    )
    lst = sessions_of(client, zone.id)

    def check(want: List[Dict[str, Any]], **params: Any) -> None:
        got = list_all_ids(lst, what="sessions.list", **params)
        in_order(got, [r["id"] for r in want], f"sessions.list({params})")

    top = [ann_top, bob_top, bob_revoked, bob_expired, app_top, app_expired]
    everything = [ann_top, ann_child, ann_grandchild, bob_top, bob_revoked, bob_expired, app_top, app_expired]
    check(top)
    check(everything, include_nested="true")
    check([ann_top, bob_top, bob_revoked, bob_expired], session_type="user")
    check([app_top, app_expired], session_type="application")
    check([ann_top, ann_child, ann_grandchild], user_id=ann["id"], include_nested="true")
    check([ann_top], user_id=ann["id"])
    check([bob_top, bob_revoked, bob_expired], user_id=bob["id"])
    check([], user_id=UNKNOWN_ID)
    check([ann_top, bob_top, app_top], status="active")
    check([ann_top, bob_top, app_top], active="true")
    check([ann_top, ann_child, bob_top, app_top], active="true", include_nested="true")
    check([bob_revoked], status="revoked")
    check([ann_grandchild, bob_revoked], status="revoked", include_nested="true")
    check([bob_expired, app_expired], status="expired")
    check([app_expired], status="expired", session_type="application")
    check([bob_top], status="active", user_id=bob["id"], session_type="user")
    assert total(partial(lst, include_nested="true")) == 8
    assert total(partial(lst, status="expired")) == 2

    by_id = {s.id: s for s in lst(include_nested="true", limit=100).items}
    want_status = {
        ann_top["id"]: "active", ann_child["id"]: "active", ann_grandchild["id"]: "revoked", bob_top["id"]: "active",
        bob_revoked["id"]: "revoked", bob_expired["id"]: "expired", app_top["id"]: "active", app_expired["id"]: "expired",
    }
    got_status = {k: (v.status, v.active) for k, v in by_id.items()}
    assert got_status == {k: (v, v == "active") for k, v in want_status.items()}, f"(status, active) per session: {got_status}"
    for sid, s in by_id.items():
        want_cls = IamApplicationSessionType if sid in (app_top["id"], app_expired["id"]) else IamUserSessionType
        assert isinstance(s, want_cls), f"session {sid}: expected {want_cls.__name__}, got {type(s).__name__}"
    assert by_id[ann_child["id"]].parent_id == ann_top["id"] and by_id[ann_grandchild["id"]].parent_id == ann_child["id"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"status": "bogus"}, "status"),
        ({"active": "false"}, "active"),
        ({"session_type": "robot"}, "session_type"),
        ({"limit": 101}, "limit"),
        ({"before": "garbage"}, "before"),
    ],
)
def test_sessions_list_invalid_params_are_400(client, zone, params, field):
    err = expect_error(BadRequestError, f"sessions.list({params})", client.zones.sessions.list, zone.id, **params)
    body = assert_sdk_error(err, 400, "validation_error", context=f"sessions.list({params})")
    assert_detail_field(body, lambda f: f == field, f"== {field!r}")


def test_sessions_pagination_both_ways(client, zone, rec):
    user = rec.user()
    top = [rec.session(user["id"]) for _ in range(5)]
    nested = [rec.session(user["id"], parent_id=top[0]["id"]) for _ in range(2)]
    raw = client.zones.sessions.with_raw_response.list(zone.id, limit=2)
    assert set(raw_body(raw, "GET sessions")) == {"items", "pagination"}
    items = assert_walks_both_ways(sessions_of(client, zone.id), limit=2, what="sessions.list", min_pages=3)
    in_order(ids(items), [r["id"] for r in top], "top-level sessions in creation order")
    items = assert_walks_both_ways(sessions_of(client, zone.id), limit=3, what="sessions.list nested", include_nested="true")
    in_order(ids(items), [r["id"] for r in top + nested], "all sessions in creation order")


def test_revoking_a_session_revokes_the_sessions_nested_under_it(client, zone, rec):
    user = rec.user()
    parent = rec.session(user["id"])
    child = rec.session(user["id"], parent_id=parent["id"])
    grandchild = rec.session(user["id"], parent_id=child["id"])
    sibling = rec.session(user["id"])
    sibling_child = rec.session(user["id"], parent_id=sibling["id"])

    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    s = client.zones.sessions.update(parent["id"], zone_id=zone.id, status="revoked")
    assert isinstance(s, IamUserSessionType) and s.id == parent["id"]
    assert s.status == "revoked" and s.active is False, f"expected the PATCH response revoked, got {s.status!r} active {s.active!r}"
    assert s.updated_at is not None and s.updated_at >= before, f"expected updated_at to move to now, got {s.updated_at!r}"
    assert s.created_at == ts(parent["created_at"]) and s.expires_at == ts(parent["expires_at"])

    for row, want in ((parent, "revoked"), (child, "revoked"), (grandchild, "revoked"), (sibling, "active"), (sibling_child, "active")):
        got = client.zones.sessions.retrieve(row["id"], zone_id=zone.id)
        assert (got.status, got.active) == (want, want == "active"), (
            f"session {row['id']}: expected status {want!r} after revoking {parent['id']}, got {got.status!r} active {got.active!r}"
        )
    revoked = list_all_ids(sessions_of(client, zone.id), status="revoked", include_nested="true")
    same_set(revoked, [parent["id"], child["id"], grandchild["id"]], "revoked sessions")
    active = list_all_ids(sessions_of(client, zone.id), active="true", include_nested="true")
    same_set(active, [sibling["id"], sibling_child["id"]], "active sessions")

    # revoking a nested session leaves its parent alone; revoking again is harmless
    s = client.zones.sessions.update(sibling_child["id"], zone_id=zone.id, status="revoked")
    assert s.status == "revoked" and s.parent_id == sibling["id"]
    assert client.zones.sessions.retrieve(sibling["id"], zone_id=zone.id).status == "active"
    again = client.zones.sessions.update(parent["id"], zone_id=zone.id, status="revoked")
    assert again.status == "revoked" and again.active is False


def test_expired_session_status(client, zone, rec):
    user = rec.user()
    expired = rec.session(user["id"], expires_at=now_us() - 1_000_000)
    s = client.zones.sessions.retrieve(expired["id"], zone_id=zone.id)
    assert (s.status, s.active) == ("expired", False), f"expected an expired session, got {s.status!r} active {s.active!r}"
    assert s.expires_at == ts(expired["expires_at"])
    assert list_all_ids(sessions_of(client, zone.id), active="true") == []
    # revocation wins over expiry
    s = client.zones.sessions.update(expired["id"], zone_id=zone.id, status="revoked")
    assert (s.status, s.active) == ("revoked", False)
    assert list_all_ids(sessions_of(client, zone.id), status="expired") == []
    assert list_all_ids(sessions_of(client, zone.id), status="revoked") == [expired["id"]]


def test_delete_session_removes_it_and_its_nested_sessions(client, zone, rec):
    user = rec.user()
    parent = rec.session(user["id"])
    child = rec.session(user["id"], parent_id=parent["id"])
    grandchild = rec.session(user["id"], parent_id=child["id"])
    keep = rec.session(user["id"])
    keep_child = rec.session(user["id"], parent_id=keep["id"])

    assert client.zones.sessions.delete(parent["id"], zone_id=zone.id) is None
    for row in (parent, child, grandchild):
        for op, kwargs in (("retrieve", {}), ("update", {"status": "revoked"}), ("delete", {})):
            err = expect_error(NotFoundError, f"sessions.{op} of a deleted session", getattr(client.zones.sessions, op), row["id"], zone_id=zone.id, **kwargs)
            assert_sdk_error(err, 404, "not_found", context=f"sessions.{op} of deleted session {row['id']}")
    in_order(list_all_ids(sessions_of(client, zone.id), include_nested="true"), [keep["id"], keep_child["id"]], "sessions left")

    # deleting a nested session leaves its parent
    assert client.zones.sessions.delete(keep_child["id"], zone_id=zone.id) is None
    assert client.zones.sessions.retrieve(keep["id"], zone_id=zone.id).status == "active"
    got = client.zones.users.list(zone.id, expand="session_count").items
    assert [(u.id, u.session_count) for u in got] == [(user["id"], 1)], f"expected one session left for the user, got {got!r}"


def test_session_not_found_and_other_zone(client, zone, other_zone, rec, other_rec):
    mine = rec.session(rec.user()["id"])
    theirs = other_rec.session(other_rec.user()["id"])
    for sid, what in ((UNKNOWN_ID, "an unknown session"), (MALFORMED_ID, "a malformed id"), (theirs["id"], "another zone's session")):
        for op, kwargs in (("retrieve", {}), ("update", {"status": "revoked"}), ("delete", {})):
            err = expect_error(NotFoundError, f"sessions.{op} of {what}", getattr(client.zones.sessions, op), sid, zone_id=zone.id, **kwargs)
            assert_sdk_error(err, 404, "not_found", context=f"sessions.{op} of {what}")
    got = client.zones.sessions.retrieve(theirs["id"], zone_id=other_zone.id)
    assert got.status == "active", f"expected the other zone's session untouched, got {got.status!r}"
    assert list_all_ids(sessions_of(client, zone.id)) == [mine["id"]]
    assert list_all_ids(sessions_of(client, other_zone.id)) == [theirs["id"]]
    err = expect_error(NotFoundError, "sessions.list of an unknown zone", client.zones.sessions.list, UNKNOWN_ID)
    assert_sdk_error(err, 404, "not_found")


# --------------------------------------------------------------------------- delegated grants


def assert_grant_matches(g: Grant, row: Dict[str, Any], zone: Zone, context: str, status: str = "active") -> None:
    assert isinstance(g, Grant), f"{context}: expected a Grant, got {type(g).__name__}"
    for f in ("id", "zone_id", "user_id", "resource_id", "provider_id", "refresh_token_set"):
        assert getattr(g, f) == row[f], f"{context}: expected {f} {row[f]!r}, got {getattr(g, f)!r}"
    assert g.scopes == json.loads(row["scopes"]), f"{context}: scopes {g.scopes!r}"
    assert g.organization_id == zone.organization_id
    assert (g.status, g.active) == (status, status == "active"), f"{context}: expected status {status!r}, got {g.status!r} active {g.active!r}"
    for f in ("created_at", "expires_at"):
        assert getattr(g, f) == ts(row[f]), f"{context}: expected {f} {ts(row[f])!r}, got {getattr(g, f)!r}"
    want_refreshed = ts(row["refreshed_at"]) if row["refreshed_at"] is not None else None
    assert g.refreshed_at == want_refreshed, f"{context}: refreshed_at {g.refreshed_at!r} != {want_refreshed!r}"
    assert g.user is None and g.resource is None and g.provider is None, f"{context}: expected no expanded objects"


def test_grant_retrieve_and_list_round_trip(client, zone, rec, provider, resource):
    user = rec.user()
    full = rec.grant(
        user["id"], resource.id, provider.id,
        scopes=["read", "write:all", "offline_access"], refresh_token_set=True, refreshed_at=now_us() - 30_000_000,
    )
    bare = rec.grant(user["id"], resource.id, provider.id, scopes=[])
    for row in (full, bare):
        raw = client.zones.delegated_grants.with_raw_response.retrieve(row["id"], zone_id=zone.id)
        body = raw_body(raw, "GET delegated grant")
        assert isinstance(body["scopes"], list) and isinstance(body["active"], bool)
        g = raw.parse()
        assert_grant_matches(g, row, zone, f"retrieve {row['id']}")
        assert g.updated_at == ts(row["updated_at"])

    raw = client.zones.delegated_grants.with_raw_response.list(zone.id)
    assert set(raw_body(raw, "GET delegated-grants")) == {"items", "pagination"}
    page = raw.parse()
    in_order(ids(page.items), [full["id"], bare["id"]], "grants in creation order")
    for item, row in zip(page.items, (full, bare)):
        assert_grant_matches(item, row, zone, f"list item {row['id']}")
        assert item.model_dump() == client.zones.delegated_grants.retrieve(row["id"], zone_id=zone.id).model_dump()


def test_grants_list_filters_sort_and_pagination(client, zone, rec, provider):
    r1, r2 = new_resource(client, zone.id), new_resource(client, zone.id)
    ann, bob = rec.user(), rec.user()
    past = now_us() - 60_000_000
    g1 = rec.grant(ann["id"], r1.id, provider.id)
    g2 = rec.grant(ann["id"], r2.id, provider.id, status="revoked")
    g3 = rec.grant(bob["id"], r1.id, provider.id, expires_at=past)
    g4 = rec.grant(bob["id"], r2.id, provider.id)
    g5 = rec.grant(bob["id"], r1.id, provider.id, status="revoked", expires_at=past)
    lst = grants_of(client, zone.id)

    def check(want: List[Dict[str, Any]], **params: Any) -> None:
        got = list_all_ids(lst, what="delegated_grants.list", **params)
        in_order(got, [r["id"] for r in want], f"delegated_grants.list({params})")

    check([g1, g2, g3, g4, g5])
    check([g1, g4], active="true")
    check([g1, g4], status="active")
    check([g3], status="expired")
    check([g2, g5], status="revoked")  # revocation wins over expiry
    check([g1, g3, g5], resource_id=r1.id)
    check([g2, g4], resource_id=r2.id)
    check([g1, g2], user_id=ann["id"])
    check([g3, g4, g5], user_id=bob["id"])
    check([g4], user_id=bob["id"], resource_id=r2.id, active="true")
    check([], resource_id=UNKNOWN_ID)
    check([g1, g2, g3, g4, g5], sort="created_at")
    check([g5, g4, g3, g2, g1], sort="-created_at")
    statuses = {g.id: g.status for g in lst(limit=100).items}
    assert statuses == {g1["id"]: "active", g2["id"]: "revoked", g3["id"]: "expired", g4["id"]: "active", g5["id"]: "revoked"}, statuses
    assert total(lst) == 5 and total(partial(lst, status="revoked")) == 2

    items = assert_walks_both_ways(lst, limit=2, what="delegated_grants.list", min_pages=3)
    in_order(ids(items), [g["id"] for g in (g1, g2, g3, g4, g5)], "grants paged forward")
    items = assert_walks_both_ways(lst, limit=2, what="delegated_grants.list -created_at", sort="-created_at")
    in_order(ids(items), [g["id"] for g in (g5, g4, g3, g2, g1)], "grants paged forward, newest first")

    for params, field in (({"status": "bogus"}, "status"), ({"active": "false"}, "active"), ({"sort": "expires_at"}, "sort")):
        err = expect_error(BadRequestError, f"delegated_grants.list({params})", lst, **params)
        body = assert_sdk_error(err, 400, "validation_error", context=f"delegated_grants.list({params})")
        assert_detail_field(body, lambda f, field=field: f == field, f"== {field!r}")


def test_revoke_grant(client, zone, rec, provider, resource):
    user = rec.user()
    g, keep = rec.grant(user["id"], resource.id, provider.id), rec.grant(user["id"], resource.id, provider.id)
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    got = client.zones.delegated_grants.update(g["id"], zone_id=zone.id, status="revoked")
    assert_grant_matches(got, g, zone, "PATCH response", status="revoked")
    assert got.updated_at >= before, f"expected updated_at to move to now, got {got.updated_at!r}"
    assert_grant_matches(client.zones.delegated_grants.retrieve(g["id"], zone_id=zone.id), g, zone, "retrieve after revoke", status="revoked")
    assert_grant_matches(client.zones.delegated_grants.retrieve(keep["id"], zone_id=zone.id), keep, zone, "the other grant")
    assert list_all_ids(grants_of(client, zone.id), status="revoked") == [g["id"]]
    assert list_all_ids(grants_of(client, zone.id), active="true") == [keep["id"]]
    again = client.zones.delegated_grants.update(g["id"], zone_id=zone.id, status="revoked")
    assert again.status == "revoked" and again.active is False


def test_expired_grant_status(client, zone, rec, provider, resource):
    user = rec.user()
    g = rec.grant(user["id"], resource.id, provider.id, expires_at=now_us() - 1_000_000, refresh_token_set=True)
    assert_grant_matches(client.zones.delegated_grants.retrieve(g["id"], zone_id=zone.id), g, zone, "expired grant", status="expired")
    got = client.zones.delegated_grants.update(g["id"], zone_id=zone.id, status="revoked")
    assert (got.status, got.active) == ("revoked", False)


def test_delete_grant(client, zone, rec, provider, resource):
    user = rec.user()
    g, keep = rec.grant(user["id"], resource.id, provider.id), rec.grant(user["id"], resource.id, provider.id)
    assert client.zones.delegated_grants.delete(g["id"], zone_id=zone.id) is None
    for op, kwargs in (("retrieve", {}), ("update", {"status": "revoked"}), ("delete", {})):
        err = expect_error(NotFoundError, f"delegated_grants.{op} of a deleted grant", getattr(client.zones.delegated_grants, op), g["id"], zone_id=zone.id, **kwargs)
        assert_sdk_error(err, 404, "not_found", context=f"delegated_grants.{op} of a deleted grant")
    assert list_all_ids(grants_of(client, zone.id)) == [keep["id"]]
    got = client.zones.users.retrieve(user["id"], zone_id=zone.id)
    assert got.id == user["id"]
    counts = [(u.id, u.grant_count) for u in client.zones.users.list(zone.id, expand="grant_count").items]
    assert counts == [(user["id"], 1)], f"expected one grant left for the user, got {counts}"


def test_deleting_a_resource_revokes_its_grants(client, zone, rec, provider):
    doomed, other = new_resource(client, zone.id), new_resource(client, zone.id)
    user = rec.user()
    active = rec.grant(user["id"], doomed.id, provider.id)
    expired = rec.grant(user["id"], doomed.id, provider.id, expires_at=now_us() - 1_000_000)
    already = rec.grant(user["id"], doomed.id, provider.id, status="revoked")
    untouched = rec.grant(user["id"], other.id, provider.id)

    assert client.zones.resources.delete(doomed.id, zone_id=zone.id) is None
    for row in (active, expired, already):
        g = client.zones.delegated_grants.retrieve(row["id"], zone_id=zone.id)
        assert_grant_matches(g, row, zone, f"grant {row['id']} of the deleted resource", status="revoked")
    assert_grant_matches(client.zones.delegated_grants.retrieve(untouched["id"], zone_id=zone.id), untouched, zone, "grant of another resource")
    in_order(list_all_ids(grants_of(client, zone.id), resource_id=doomed.id), [active["id"], expired["id"], already["id"]], "grants of the deleted resource")
    assert list_all_ids(grants_of(client, zone.id), active="true") == [untouched["id"]]


def test_grant_not_found_and_other_zone(client, zone, other_zone, rec, other_rec, provider, resource):
    mine = rec.grant(rec.user()["id"], resource.id, provider.id)
    theirs_res, theirs_prov = new_resource(client, other_zone.id), new_provider(client, other_zone.id)
    theirs = other_rec.grant(other_rec.user()["id"], theirs_res.id, theirs_prov.id)
    for gid, what in ((UNKNOWN_ID, "an unknown grant"), (MALFORMED_ID, "a malformed id"), (theirs["id"], "another zone's grant")):
        for op, kwargs in (("retrieve", {}), ("update", {"status": "revoked"}), ("delete", {})):
            err = expect_error(NotFoundError, f"delegated_grants.{op} of {what}", getattr(client.zones.delegated_grants, op), gid, zone_id=zone.id, **kwargs)
            assert_sdk_error(err, 404, "not_found", context=f"delegated_grants.{op} of {what}")
    assert client.zones.delegated_grants.retrieve(theirs["id"], zone_id=other_zone.id).status == "active"
    assert list_all_ids(grants_of(client, zone.id)) == [mine["id"]]
    assert list_all_ids(grants_of(client, other_zone.id)) == [theirs["id"]]
    err = expect_error(NotFoundError, "delegated_grants.list of an unknown zone", client.zones.delegated_grants.list, UNKNOWN_ID)
    assert_sdk_error(err, 404, "not_found")


# --------------------------------------------------------------------------- PATCH takes only {"status": "revoked"}


@pytest.mark.parametrize("kind", ["sessions", "delegated_grants"])
@pytest.mark.parametrize("status", ["active", "expired", "REVOKED", ""])
def test_patch_with_another_status_is_400_and_changes_nothing(client, zone, rec, provider, resource, kind, status):
    user = rec.user()
    row = rec.session(user["id"]) if kind == "sessions" else rec.grant(user["id"], resource.id, provider.id)
    api = getattr(client.zones, kind)
    err = expect_error(BadRequestError, f"{kind}.update(status={status!r})", api.update, row["id"], zone_id=zone.id, status=status)
    body = assert_sdk_error(err, 400, "validation_error", context=f"{kind}.update(status={status!r})")
    assert_detail_field(body, lambda f: f == "status", "== 'status'")
    got = api.retrieve(row["id"], zone_id=zone.id)
    assert (got.status, got.active) == ("active", True), f"expected the rejected PATCH to change nothing, got {got.status!r}"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        pytest.param({"status": None}, id="status-null"),
        pytest.param({"status": 1}, id="status-number"),
        {"name": "x"},
    ],
)
@pytest.mark.parametrize("path", ["sessions", "delegated-grants"])
def test_patch_without_a_revoked_status_is_400(http, client, zone, rec, provider, resource, path, payload):
    user = rec.user()
    row = rec.session(user["id"]) if path == "sessions" else rec.grant(user["id"], resource.id, provider.id)
    resp = http.patch(f"/zones/{zone.id}/{path}/{row['id']}", json=payload)
    body = assert_raw_error(resp, 400, "validation_error")
    assert_detail_field(body, lambda f: f == "status", "== 'status'")
    api = client.zones.sessions if path == "sessions" else client.zones.delegated_grants
    assert api.retrieve(row["id"], zone_id=zone.id).status == "active"
