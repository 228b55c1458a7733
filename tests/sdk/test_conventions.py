"""Wire conventions the SDK relies on, checked with raw HTTP (httpx, which the SDK ships) where the SDK hides them."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from keycardai_api import NotFoundError

from sdk_support import UNKNOWN_ZONE_ID, assert_error_body, assert_raw_error, assert_sdk_error, expect_error, unique_name

ONE_MIB = 1024 * 1024


def create_raw(http: httpx.Client, payload: dict) -> dict:
    r = http.post("/zones", json=payload)
    assert r.status_code in (200, 201), f"expected POST /zones -> 200/201, got {r.status_code}: {r.text[:500]}"
    assert "json" in r.headers.get("content-type", ""), f"expected a JSON response, got {r.headers.get('content-type')!r}"
    return r.json()


# --------------------------------------------------------------------------- errors and routing


def test_unknown_route_is_404_json(http):
    r = http.get("/nope")
    body = assert_raw_error(r, 404, "not_found")
    assert "/nope" in body["path"], f"expected the error path to name the request path /nope, got {body['path']!r}"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-authorization"),
        pytest.param({"Authorization": "Bearer kzsdk_not_the_key"}, id="wrong-bearer"),
        pytest.param({"Authorization": "Bearer"}, id="bearer-without-token"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic-scheme"),
    ],
)
def test_unauthenticated_is_401_json(anon_http, headers):
    r = anon_http.get("/zones", headers=headers)
    assert_raw_error(r, 401, "unauthorized", context=f"GET /zones with {headers or 'no Authorization'}")
    r = anon_http.post("/zones", headers=headers, json={"name": unique_name("anon")})
    assert_raw_error(r, 401, "unauthorized", context=f"POST /zones with {headers or 'no Authorization'}")


def test_missing_name_is_400_with_field(http):
    body = assert_raw_error(http.post("/zones", json={}), 400, "validation_error", context="POST /zones {}")
    assert "name" in [d["field"] for d in body["details"]], f"expected a details[] entry for field 'name': {body!r}"


def test_malformed_json_is_400(http):
    r = http.post("/zones", content=b'{"name": ', headers={"Content-Type": "application/json"})
    body = assert_raw_error(r, 400, None, context="POST /zones with truncated JSON")
    assert body["code"] in ("bad_request", "validation_error"), f"expected code bad_request or validation_error, got {body['code']!r}"


def test_wrong_json_type_is_400(http):
    r = http.post("/zones", json={"name": 123})
    body = assert_raw_error(r, 400, None, context='POST /zones {"name": 123}')
    assert body["code"] in ("bad_request", "validation_error"), f"expected code bad_request or validation_error, got {body['code']!r}"


def test_400_carries_x_should_retry_false(http):
    r = http.post("/zones", json={"name": ""})
    assert_raw_error(r, 400, "validation_error")
    assert r.headers.get("x-should-retry") == "false", (
        f"expected x-should-retry: false on a deterministic 400, got {r.headers.get('x-should-retry')!r}"
    )


# --------------------------------------------------------------------------- request ids


@pytest.mark.parametrize(
    "method, path, authed, payload, status",
    [
        ("GET", "/healthz", False, None, 200),
        ("GET", "/readyz", False, None, 200),
        ("GET", "/zones", True, None, 200),
        ("POST", "/zones", True, {"name": ""}, 400),
        ("GET", "/zones", False, None, 401),
        ("GET", "/nope", True, None, 404),
        ("GET", f"/zones/{UNKNOWN_ZONE_ID}", True, None, 404),
        ("GET", "/openapi.json", True, None, 200),
        ("GET", "/metrics", True, None, 200),
    ],
)
def test_every_response_has_x_request_id(http, anon_http, method, path, authed, payload, status):
    c = http if authed else anon_http
    r = c.request(method, path, json=payload)
    assert r.status_code == status, f"expected {method} {path} -> {status}, got {r.status_code}: {r.text[:300]}"
    rid = r.headers.get("x-request-id")
    assert rid, f"expected a non-empty X-Request-ID header on {method} {path} ({status}); headers: {dict(r.headers)}"
    r2 = c.request(method, path, json=payload)
    assert r2.headers.get("x-request-id") not in (None, rid), (
        f"expected a fresh X-Request-ID per request on {method} {path}, got {rid!r} twice"
    )


def test_client_request_id_is_echoed(http):
    r = http.get(f"/zones/{UNKNOWN_ZONE_ID}", headers={"X-Client-Request-ID": "abc-123"})
    assert r.headers.get("x-request-id") == "abc-123", (
        f"expected X-Request-ID: abc-123 echoed from X-Client-Request-ID, got {r.headers.get('x-request-id')!r}"
    )
    body = assert_raw_error(r, 404, "not_found", context="GET unknown zone with X-Client-Request-ID")
    assert body["request_id"] == "abc-123", f"expected request_id 'abc-123' in the error body, got {body!r}"

    ok = http.get("/zones", params={"limit": 1}, headers={"X-Client-Request-ID": "abc-123"})
    assert ok.status_code == 200
    assert ok.headers.get("x-request-id") == "abc-123", "expected the echo on successful responses too"


def test_client_request_id_through_the_sdk(client):
    err = expect_error(
        NotFoundError,
        "GET of an unknown zone",
        client.zones.retrieve,
        UNKNOWN_ZONE_ID,
        extra_headers={"X-Client-Request-ID": "abc-123"},
    )
    body = assert_sdk_error(err, 404, "not_found", context="SDK retrieve with X-Client-Request-ID")
    assert body["request_id"] == "abc-123", f"expected request_id 'abc-123', got {body['request_id']!r}"


# --------------------------------------------------------------------------- query strings


def test_percent_encoded_expand_matches_bare_expand(http):
    create_raw(http, {"name": unique_name("qs")})
    results = {}
    for q in ("expand%5B%5D=total_count&limit=1", "expand=total_count&limit=1", "expand[]=total_count&limit=1"):
        r = http.get(f"/zones?{q}")
        assert r.status_code == 200, f"expected GET /zones?{q} -> 200, got {r.status_code}: {r.text[:300]}"
        results[q] = r.json()["pagination"].get("total_count")
        assert isinstance(results[q], int), f"expected total_count to be an int for ?{q}, got {results[q]!r}"
    assert len(set(results.values())) == 1, f"expected the same total_count for every spelling of expand[]: {results}"

    r = http.get("/zones?limit=1")
    assert r.json()["pagination"].get("total_count") is None, "expected no total_count without expand"

    both = http.get("/zones?expand%5B%5D=total_count&expand%5B%5D=permissions&limit=1").json()
    assert isinstance(both["pagination"].get("total_count"), int), "expected repeated expand[] keys to all apply"
    assert both["items"] and isinstance(both["items"][0].get("permissions"), dict), (
        "expected repeated expand[] keys to all apply (permissions missing)"
    )


def test_percent_encoded_request_really_is_encoded(http):
    # The premise of the test above: httpx sends the query exactly as written.
    r = http.build_request("GET", "/zones?expand%5B%5D=total_count")
    assert b"expand%5B%5D=total_count" in r.url.raw_path, f"httpx changed the query: {r.url.raw_path!r}"


def test_retrieve_expand_spellings(http):
    zone = create_raw(http, {"name": unique_name("qs-get")})
    for q in ("expand%5B%5D=permissions", "expand=permissions"):
        r = http.get(f"/zones/{zone['id']}?{q}")
        assert r.status_code == 200, f"expected 200 for ?{q}, got {r.status_code}"
        perms = r.json().get("permissions")
        assert isinstance(perms, dict) and perms, f"expected permissions populated for ?{q}, got {perms!r}"


# --------------------------------------------------------------------------- bodies


def test_body_over_1mib_is_413(server):
    payload = json.dumps({"name": unique_name("huge"), "description": "a" * (ONE_MIB + 16)}).encode()
    assert len(payload) > ONE_MIB
    last_error = None
    for _attempt in range(3):
        # A fresh connection each time: the server may close it after refusing the body.
        with httpx.Client(base_url=server.base_url, timeout=30.0, trust_env=False) as c:
            try:
                r = c.post(
                    "/zones",
                    content=payload,
                    headers={"Authorization": f"Bearer {server.api_key}", "Content-Type": "application/json"},
                )
            except httpx.TransportError as e:
                last_error = e
                continue
        assert r.status_code == 413, f"expected 413 for a {len(payload)}-byte body, got {r.status_code}: {r.text[:300]}"
        if "json" in r.headers.get("content-type", ""):
            assert_error_body(r.json(), 413, None, context="413 body")
        return
    pytest.fail(
        f"expected an HTTP 413 response for a {len(payload)}-byte body, but the connection failed 3 times "
        f"({type(last_error).__name__}: {last_error}); the server must send the 413 before closing"
    )


def test_unknown_fields_are_ignored(http, client):
    zone = create_raw(
        http,
        {
            "name": unique_name("extra"),
            "unknown_top_level": {"a": 1},
            "protocols": {"oauth2": {"pkce_required": True, "unknown_nested": "x"}},
        },
    )
    assert "unknown_top_level" not in zone, "expected unknown request fields not to be echoed"
    assert zone["protocols"]["oauth2"]["pkce_required"] is True
    assert "unknown_nested" not in zone["protocols"]["oauth2"]
    client.zones.retrieve(zone["id"])  # still a valid Zone under strict validation


def test_delete_with_json_content_type_and_empty_body(http, client):
    zone = client.zones.create(name=unique_name("raw-delete"))
    r = http.delete(f"/zones/{zone.id}", headers={"Content-Type": "application/json", "Accept": "*/*"})
    assert r.status_code in (200, 204), (
        f"expected DELETE with Content-Type: application/json and no body -> 200/204, got {r.status_code}: {r.text[:300]}"
    )
    assert http.get(f"/zones/{zone.id}").status_code == 404


def test_create_returns_json_2xx(http):
    zone = create_raw(http, {"name": unique_name("raw-create")})
    assert zone.get("id") and zone.get("name", "").startswith("sdk raw-create")


# --------------------------------------------------------------------------- operational endpoints


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_endpoints_without_auth(anon_http, path):
    r = anon_http.get(path)
    assert r.status_code == 200, f"expected GET {path} -> 200 without credentials, got {r.status_code}: {r.text[:300]}"


def test_metrics_prometheus_text(http):
    http.get("/zones", params={"limit": 1})  # make sure at least one request was counted
    r = http.get("/metrics")
    assert r.status_code == 200, f"expected GET /metrics -> 200, got {r.status_code}"
    ctype = r.headers.get("content-type", "")
    assert ctype.startswith("text/plain"), f"expected Prometheus text exposition (text/plain), got {ctype!r}"
    assert re.search(r"^keyzone_http_requests_total(\{[^}]*\})? \S+", r.text, re.M), (
        f"expected a keyzone_http_requests_total sample line in /metrics; got:\n{r.text[:2000]}"
    )


def test_openapi_document(http):
    r = http.get("/openapi.json")
    assert r.status_code == 200, f"expected GET /openapi.json -> 200, got {r.status_code}"
    doc = r.json()
    assert str(doc.get("openapi", "")).startswith("3.1"), f"expected openapi 3.1.x, got {doc.get('openapi')!r}"
    paths = doc.get("paths") or {}
    assert "/zones" in paths, f"expected /zones in the OpenAPI paths, got {sorted(paths)[:20]}"
    assert "/zones/{zoneId}" in paths or "/zones/{zone_id}" in paths, (
        f"expected /zones/{{zoneId}} or /zones/{{zone_id}} in the OpenAPI paths, got {sorted(paths)[:20]}"
    )
