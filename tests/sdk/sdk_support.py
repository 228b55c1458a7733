"""Assertion helpers shared by the SDK conformance tests (plain module, not a conftest)."""

from __future__ import annotations

import re
import secrets
from typing import Any, Callable, Iterable, List, Optional

import httpx
import pytest
from keycardai_api import APIStatusError, KeycardAPI
from keycardai_api.types import ZoneListResponse

# Zone ids double as DNS labels: lowercase, starts with a letter, 20 chars.
ZONE_ID_RE = re.compile(r"^[a-z][a-z0-9]{19}$")
SLUG_RE = re.compile(r"^[a-z0-9-]{1,63}$")
RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
ERROR_KEYS = ("code", "message", "details", "path", "request_id", "status", "timestamp")
ERROR_CODES = {
    "validation_error",
    "bad_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "rate_limit_exceeded",
    "internal_error",
    "service_unavailable",
}
# A well-formed zone id that no server will ever have issued.
UNKNOWN_ZONE_ID = "zzzzzzzzzzzzzzzzzzzz"
MAX_PAGES = 500


def kms_key_id(arn: str) -> str:
    """The key id of `arn:aws:kms:<region>:<account>:key/<id>` (moto's DisableKey/EnableKey want the bare id)."""
    assert ":key/" in arn, f"expected a KMS key ARN, got {arn!r}"
    return arn.rsplit(":key/", 1)[1]


def unique_name(label: str) -> str:
    return f"sdk {label} {secrets.token_hex(4)}"


def assert_error_body(
    body: Any,
    status: int,
    code: Optional[str] = None,
    *,
    context: str = "",
    request_id: Optional[str] = None,
) -> dict:
    """Check the documented error envelope {code,message,details[],path,request_id,status,timestamp}."""
    where = f" ({context})" if context else ""
    assert isinstance(body, dict), f"expected a JSON object error body{where}, got {type(body).__name__}: {body!r}"
    missing = [k for k in ERROR_KEYS if k not in body]
    assert not missing, f"error body{where} is missing keys {missing}; got {body!r}"
    assert body["status"] == status, f"expected error body status == {status}{where}, got {body['status']!r}"
    assert isinstance(body["code"], str) and body["code"], f"expected a non-empty string code{where}, got {body!r}"
    if code is not None:
        assert body["code"] == code, f"expected error code {code!r}{where}, got {body['code']!r} in {body!r}"
    assert isinstance(body["message"], str) and body["message"], f"expected a non-empty message{where}: {body!r}"
    assert isinstance(body["details"], list), f"expected details to be a list{where}, got {body['details']!r}"
    for d in body["details"]:
        assert isinstance(d, dict) and {"code", "field", "message"} <= set(d), (
            f"expected every details entry{where} to be an object with code, field, message; got {d!r}"
        )
    assert isinstance(body["path"], str) and body["path"], f"expected a non-empty path{where}: {body!r}"
    assert isinstance(body["request_id"], str) and body["request_id"], f"expected a non-empty request_id{where}"
    if request_id is not None:
        assert body["request_id"] == request_id, (
            f"expected request_id {request_id!r}{where}, got {body['request_id']!r}"
        )
    assert isinstance(body["timestamp"], str) and RFC3339_RE.match(body["timestamp"]), (
        f"expected an RFC 3339 timestamp{where}, got {body['timestamp']!r}"
    )
    return body


def expect_error(exc_cls: type, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> APIStatusError:
    """Call an SDK method that must fail with `exc_cls`; fail with a readable message otherwise."""
    try:
        result = fn(*args, **kwargs)
    except exc_cls as e:
        return e
    except APIStatusError as e:
        pytest.fail(
            f"expected {what} to fail with {exc_cls.__name__}, got HTTP {e.status_code} "
            f"({type(e).__name__}): {e.body!r:.500}",
            pytrace=False,
        )
    pytest.fail(f"expected {what} to fail with {exc_cls.__name__}, but it succeeded: {result!r:.500}", pytrace=False)


def assert_sdk_error(err: APIStatusError, status: int, code: Optional[str] = None, *, context: str = "") -> dict:
    assert err.status_code == status, f"expected HTTP {status} ({context}), got {err.status_code}: {err.body!r}"
    ctype = err.response.headers.get("content-type", "")
    assert "json" in ctype, f"expected a JSON content-type on the {status} error ({context}), got {ctype!r}"
    body = assert_error_body(err.body, status, code, context=context)
    header_id = err.response.headers.get("x-request-id")
    assert header_id == body["request_id"], (
        f"expected error body request_id to equal the X-Request-ID header ({context}): "
        f"header {header_id!r}, body {body['request_id']!r}"
    )
    return body


def assert_raw_error(resp: httpx.Response, status: int, code: Optional[str] = None, *, context: str = "") -> dict:
    ctx = context or f"{resp.request.method} {resp.request.url.raw_path.decode()}"
    assert resp.status_code == status, f"expected HTTP {status} for {ctx}, got {resp.status_code}: {resp.text[:500]!r}"
    ctype = resp.headers.get("content-type", "")
    assert "json" in ctype, f"expected a JSON content-type for {ctx}, got {ctype!r} (body {resp.text[:200]!r})"
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError(f"expected a JSON error body for {ctx}, got {resp.text[:500]!r}") from None
    return assert_error_body(body, status, code, context=ctx)


def detail_fields(body: dict) -> List[str]:
    return [str(d.get("field")) for d in body.get("details", []) if isinstance(d, dict)]


def assert_detail_field(body: dict, pred: Callable[[str], bool], expectation: str) -> None:
    fields = detail_fields(body)
    assert any(pred(f) for f in fields), (
        f"expected a details[] entry whose field {expectation}; got fields {fields} in {body!r}"
    )


def total_zone_count(client: KeycardAPI) -> int:
    page = client.zones.list(limit=1, expand=["total_count"])
    tc = page.pagination.total_count
    assert isinstance(tc, int) and not isinstance(tc, bool), (
        f"expected pagination.total_count to be an int with expand[]=total_count, got {tc!r}"
    )
    return tc


def next_cursor(page: ZoneListResponse) -> Optional[str]:
    return page.pagination.after_cursor or page.page_info.end_cursor


def prev_cursor(page: ZoneListResponse) -> Optional[str]:
    return page.pagination.before_cursor or page.page_info.start_cursor


def page_forward(client: KeycardAPI, limit: int = 100, **params: Any) -> List[ZoneListResponse]:
    """Follow `after` cursors from the start until has_next_page is False; return every page."""
    pages: List[ZoneListResponse] = []
    page = client.zones.list(limit=limit, **params)
    seen_cursors = set()
    while True:
        pages.append(page)
        assert len(page.items) <= limit, f"expected at most limit={limit} items per page, got {len(page.items)}"
        if not page.page_info.has_next_page:
            return pages
        cur = next_cursor(page)
        assert cur, f"expected an after cursor (pagination.after_cursor or page_info.end_cursor) when has_next_page is True; page {len(pages)}"
        assert cur not in seen_cursors, f"server returned the same cursor {cur!r} twice: pagination is not advancing"
        seen_cursors.add(cur)
        assert len(pages) < MAX_PAGES, f"gave up after {MAX_PAGES} pages: has_next_page never became False"
        page = client.zones.list(limit=limit, after=cur, **params)


def all_zone_ids(client: KeycardAPI, **params: Any) -> List[str]:
    return [z.id for p in page_forward(client, **params) for z in p.items]


def ids(items: Iterable[Any]) -> List[str]:
    return [z.id for z in items]


# --------------------------------------------------------------------------- zone-scoped lists (generic)
#
# `list_fn` below is a zero-positional-argument callable taking the list's keyword parameters, e.g.
# `functools.partial(client.zones.providers.list, zone.id)` or
# `functools.partial(client.zones.applications.dependencies.list, app.id, zone_id=zone.id)`.
# Envelopes with `page_info` ({items, page_info, pagination}) and without it ({items, pagination}) are both handled:
# without page_info, a next/previous page exists iff pagination.after_cursor/before_cursor is set (null on the
# last/first page).


def list_has_next(page: Any) -> bool:
    pi = getattr(page, "page_info", None)
    if pi is not None:
        return bool(pi.has_next_page)
    return page.pagination.after_cursor is not None


def list_has_prev(page: Any) -> bool:
    pi = getattr(page, "page_info", None)
    if pi is not None:
        return bool(pi.has_previous_page)
    return page.pagination.before_cursor is not None


def list_after_cursor(page: Any) -> Optional[str]:
    pi = getattr(page, "page_info", None)
    return page.pagination.after_cursor or (pi.end_cursor if pi is not None else None)


def list_before_cursor(page: Any) -> Optional[str]:
    pi = getattr(page, "page_info", None)
    return page.pagination.before_cursor or (pi.start_cursor if pi is not None else None)


def walk_forward(list_fn: Callable[..., Any], *, limit: int = 100, what: str = "list", **params: Any) -> List[Any]:
    """Follow `after` cursors from the first page until there is no next page; return every page."""
    pages: List[Any] = []
    page = list_fn(limit=limit, **params)
    seen = set()
    while True:
        pages.append(page)
        assert len(page.items) <= limit, f"{what}: expected at most limit={limit} items per page, got {len(page.items)}"
        if not list_has_next(page):
            return pages
        cur = list_after_cursor(page)
        assert cur, f"{what}: expected an after cursor when a next page exists (page {len(pages)})"
        assert cur not in seen, f"{what}: server returned the same cursor {cur!r} twice: pagination is not advancing"
        seen.add(cur)
        assert len(pages) < MAX_PAGES, f"{what}: gave up after {MAX_PAGES} pages"
        page = list_fn(limit=limit, after=cur, **params)


def list_all_ids(list_fn: Callable[..., Any], what: str = "list", **params: Any) -> List[str]:
    seq = [i.id for p in walk_forward(list_fn, what=what, **params) for i in p.items]
    dupes = sorted({i for i in seq if seq.count(i) > 1})
    assert not dupes, f"{what} {params}: expected every item at most once, duplicates: {dupes}"
    return seq


def assert_walks_both_ways(
    list_fn: Callable[..., Any], *, limit: int, what: str, min_pages: int = 2, **params: Any
) -> List[Any]:
    """Page forward with `after`, then backward with `before` from the last page; both walks must agree.

    Returns the items in forward order (every item once).
    """
    forward = walk_forward(list_fn, limit=limit, what=what, **params)
    items = [i for p in forward for i in p.items]
    seq = [i.id for i in items]
    dupes = sorted({i for i in seq if seq.count(i) > 1})
    assert not dupes, f"{what} {params}: expected every item exactly once while paging forward, duplicates: {dupes}"
    assert len(forward) >= min_pages, (
        f"{what} {params}: expected at least {min_pages} pages of {limit} for {len(seq)} items, got {len(forward)}"
    )
    assert not list_has_prev(forward[0]), f"{what} {params}: expected no previous page on the first page"
    for n, p in enumerate(forward[:-1], 1):
        assert len(p.items) == limit, f"{what} {params}: expected a full page of {limit} before the last; page {n} has {len(p.items)}"
    assert forward[-1].items, f"{what} {params}: expected the last page to be non-empty"

    single = list_fn(limit=100, **params)
    assert [i.id for i in single.items] == seq[:100], (
        f"{what} {params}: expected paging with limit={limit} to give the same order as one page of 100\n"
        f"paged:  {seq}\nsingle: {[i.id for i in single.items]}"
    )

    expected = [[i.id for i in p.items] for p in reversed(forward[:-1])]
    page = forward[-1]
    backward: List[List[str]] = []
    for step in range(len(forward) - 1):
        assert list_has_prev(page), f"{what} {params}: expected a previous page {step} steps back from the last page"
        cur = list_before_cursor(page)
        assert cur, f"{what} {params}: expected a before cursor {step} steps back from the last page"
        page = list_fn(limit=limit, before=cur, **params)
        backward.append([i.id for i in page.items])
    assert backward == expected, (
        f"{what} {params}: expected paging backward with before= to return the forward pages in reverse\n"
        f"expected: {expected}\nbackward: {backward}"
    )
    assert not list_has_prev(page), f"{what} {params}: expected no previous page after walking back to the first page"
    return items


def assert_conflict(err: APIStatusError, context: str) -> dict:
    body = assert_sdk_error(err, 409, "conflict", context=context)
    assert err.response.headers.get("x-should-retry") == "false", (
        f"expected x-should-retry: false on a deterministic 409 ({context}), got {err.response.headers.get('x-should-retry')!r}"
    )
    return body


def raw_body(raw: Any, what: str) -> Any:
    """JSON body of a `.with_raw_response` result, checking it is served as JSON."""
    ctype = raw.headers.get("content-type", "")
    assert "json" in ctype, f"expected a JSON content-type for {what}, got {ctype!r}"
    return raw.http_response.json()


def dump_without(model: Any, *fields: str) -> dict:
    d = model.model_dump()
    for f in fields:
        d.pop(f, None)
    return d


# --------------------------------------------------------------------------- the server's database (direct access)
#
# Users, user agents, sessions and delegated grants are written by the zone's authorization server; until it exists,
# tests insert those rows themselves, exactly as the server would (see crates/store/migrations/*/0004_identity.sql).


def random_record_id() -> str:
    """An id as the server makes them: 20 chars of [a-z0-9], the first a letter."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return secrets.choice(alphabet[:26]) + "".join(secrets.choice(alphabet) for _ in range(19))


def _pg_literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    raise TypeError(f"unsupported SQL value {v!r}")


class ServerDatabase:
    """Rows straight into the session server's database: SQLite through sqlite3 (the server runs it in WAL mode, so
    concurrent access is fine), PostgreSQL through psql. Values are None, bool, int or str."""

    def __init__(self, backend: str, *, sqlite_path: Optional[Any] = None, pg_url: Optional[str] = None) -> None:
        assert backend in ("sqlite", "postgres"), backend
        assert (sqlite_path is not None) if backend == "sqlite" else bool(pg_url), "missing the database location"
        self.backend = backend
        self.sqlite_path = sqlite_path
        self.pg_url = pg_url

    def insert(self, table: str, *rows: dict) -> None:
        """Insert `rows` (dicts column -> value) into `table` in one transaction."""
        if not rows:
            return
        if self.backend == "sqlite":
            import sqlite3

            conn = sqlite3.connect(str(self.sqlite_path), timeout=30)
            try:
                conn.execute("PRAGMA foreign_keys = ON")  # as the server's connections have it
                conn.execute("PRAGMA busy_timeout = 30000")
                for row in rows:
                    cols = list(row)
                    conn.execute(
                        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                        [int(v) if isinstance(v, bool) else v for v in row.values()],
                    )
                conn.commit()
            finally:
                conn.close()
            return
        stmts = [
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(_pg_literal(v) for v in row.values())})"
            for row in rows
        ]
        self.psql("BEGIN; " + "; ".join(stmts) + "; COMMIT;")

    def psql(self, sql: str) -> str:
        """Run `sql` with psql against the server's PostgreSQL database; its unaligned output."""
        import os
        import subprocess

        res = subprocess.run(
            ["psql", "-d", str(self.pg_url), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql],
            env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 0, f"psql failed (exit {res.returncode}) on {sql[:500]!r}: {res.stderr}"
        return res.stdout
