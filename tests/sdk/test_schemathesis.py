"""Property-based conformance of the management API to its own OpenAPI document (schemathesis).

One bounded schemathesis run per backend against the session's `keyzone serve`, reading the document the server
serves at `/openapi.json`, with these checks, and nothing else:

  not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance,
  response_headers_conformance, positive_data_acceptance, negative_data_rejection

Any finding fails the test (schemathesis exits non-zero); its report is printed in the failure message.

The run is bounded and reproducible: a pinned schemathesis and generator (tests/sdk/requirements.txt), a fixed
seed, a small `max-examples` per operation, one worker, no example database. The server's ids are random, so two
runs draw the same inputs but may meet different ids. It takes about 2 minutes on SQLite and 3 on PostgreSQL on two
cores, most of it in the coverage phase (boundary values of every field), which max-examples does not bound.

Zone-scoped operations are reached with real records: the test creates a zone and, in it, a provider, an
application, a resource (a dependency of the application), a credential of each type, a secret, and (straight into the
database, as the zone's authorization server would) a user, a user agent, a session and a delegated grant, and pins
the path parameters of every operation to them in a generated schemathesis.toml. Every DELETE gets records of its
own (and the zone DELETE a zone of its own), so the records the other operations read stay in place whatever order
the phases run in. Body fields that must name a record of the zone (`application_id`, `credential_provider_id`,
`provider_id`, `dependencies[].id`, the zone's default resource, gateway and identity provider, a secret's `zone_id`)
get those records' ids when the generator puts a well-formed id there, and a well-formed KMS key ARN becomes a real
key of the session's mock KMS (schemathesis_hooks.py): a schema cannot say "an id that exists", and a well-formed id
of nothing is, rightly, a 400 naming the field.

Two inputs are pinned rather than generated, because no schema can describe them:
  * pagination cursors (`after`, `cursor`, `before`) are opaque values the server hands out; they are sent empty,
    which the server reads as absent;
  * `when_accessing` of PUT .../dependencies/{id} must name resources of the zone; it is pinned to the resource.

No finding is accepted: the run fails on any.

`PATCH .../application-credentials/{id}` takes different fields for each type of credential (its body schema has
one branch per type), so the run holds one credential of each type and schemathesis_hooks.map_case sends each body
to the credential of the type it is written for.

test_string_rules_agree_with_the_server complements the run with fixed telling values for each string rule.

Environment:
  KEYZONE_SCHEMATHESIS_MAX_EXAMPLES  examples per operation and phase (default below)
  KEYZONE_SCHEMATHESIS_SEED          the seed (default below)
  KEYZONE_SCHEMATHESIS_KEEP=1        keep the generated config and the reports (printed path)
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import httpx
import pytest

from sdk_support import ServerDatabase, random_record_id

SCHEMATHESIS_SEED = int(os.environ.get("KEYZONE_SCHEMATHESIS_SEED", "20240610"))
MAX_EXAMPLES = int(os.environ.get("KEYZONE_SCHEMATHESIS_MAX_EXAMPLES", "12"))
# A hard ceiling for one run; the run itself is bounded by MAX_EXAMPLES and normally takes far less.
RUN_TIMEOUT_S = 900
CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
)
HOUR_US = 3_600_000_000
HOOKS = Path(__file__).resolve().parent / "schemathesis_hooks.py"


def _schemathesis_bin() -> Path:
    exe = Path(sys.executable).parent / "schemathesis"
    if not exe.is_file():
        pytest.fail(f"schemathesis is not installed next to {sys.executable} (see tests/sdk/requirements.txt)")
    return exe


# --------------------------------------------------------------------------- the records the run works on


class Seeder:
    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def post(self, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        r = self.http.post(path, json=body)
        assert r.status_code == 201, f"POST {path} {body!r} -> {r.status_code} {r.text}"
        return r.json()

    def put(self, path: str, params: Dict[str, Any]) -> None:
        r = self.http.put(path, params=params)
        assert r.status_code == 204, f"PUT {path} -> {r.status_code} {r.text}"

    def zone(self, label: str) -> Dict[str, Any]:
        return self.post("/zones", {"name": f"schemathesis {label} {secrets.token_hex(3)}"})

    def provider(self, zone_id: str) -> str:
        tag = secrets.token_hex(4)
        return self.post(f"/zones/{zone_id}/providers", {"identifier": f"prov-{tag}", "name": f"provider {tag}"})["id"]

    def application(self, zone_id: str) -> str:
        tag = secrets.token_hex(4)
        return self.post(f"/zones/{zone_id}/applications", {"identifier": f"app-{tag}", "name": f"application {tag}"})[
            "id"
        ]

    def resource(self, zone_id: str, **extra: Any) -> str:
        tag = secrets.token_hex(4)
        body = {"identifier": f"https://api.example.com/r-{tag}", "name": f"resource {tag}", "scopes": ["read"], **extra}
        return self.post(f"/zones/{zone_id}/resources", body)["id"]

    def credential(self, zone_id: str, application_id: str, kind: str = "password", **extra: Any) -> str:
        body = {"type": kind, "application_id": application_id, **extra}
        return self.post(f"/zones/{zone_id}/application-credentials", body)["id"]

    def credentials(self, zone_id: str, application_id: str, provider_id: str) -> Dict[str, str]:
        """One credential of each type, by type."""
        tag = secrets.token_hex(4)
        return {
            "token": self.credential(zone_id, application_id, "token", provider_id=provider_id, subject=f"sub-{tag}"),
            "password": self.credential(zone_id, application_id),
            "public-key": self.credential(zone_id, application_id, "public-key", jwks_uri="https://a.example.com/jwks"),
            "url": self.credential(zone_id, application_id, "url", identifier=f"https://a.example.com/{tag}/client.json"),
            "public": self.credential(zone_id, application_id, "public"),
        }

    def secret(self, zone_id: str, entity_id: str) -> str:
        body = {"name": f"secret {secrets.token_hex(4)}", "entity_id": entity_id, "data": {"type": "token", "token": "t"}}
        return self.post(f"/zones/{zone_id}/secrets", body)["id"]


def _now_us() -> int:
    return int(time.time() * 1000) * 1000


def _identity_rows(db: ServerDatabase, zone_id: str, resource_id: str, provider_id: str) -> Dict[str, List[str]]:
    """A user, a user agent, two sessions and two delegated grants of the user, as the authorization server writes
    them (crates/store/migrations/*/0004_identity.sql)."""
    now = _now_us()
    created = now - HOUR_US
    user_id = random_record_id()
    tag = secrets.token_hex(4)
    db.insert(
        "users",
        dict(
            id=user_id, zone_id=zone_id, identifier=user_id, email=f"user-{tag}@example.com", email_verified=True,
            external=False, status="active", issuer="https://idp.example.com", subject=f"sub-{tag}", provider_id=None,
            authenticated_at=created, created_at=created, updated_at=created,
        ),
    )
    meta = json.dumps(
        {
            "client_name": f"agent {tag}",
            "redirect_uris": ["http://127.0.0.1:33333/callback"],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "none",
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    user_agent_id = random_record_id()
    db.insert(
        "user_agents",
        dict(
            id=user_agent_id, zone_id=zone_id, identifier="ua:" + hashlib.sha256(meta.encode()).hexdigest(),
            name=f"agent {tag}", slug=f"agent-{tag}", metadata=meta, created_at=created, updated_at=created,
        ),
    )
    sessions, grants = [], []
    for i in range(2):
        sid = random_record_id()
        db.insert(
            "sessions",
            dict(
                id=sid, zone_id=zone_id, session_type="user", parent_id=None, user_id=user_id, application_id=None,
                user_agent_id=None, provider_id=None, issuer=None, subject=None, status="active", name=None,
                session_data=None, authenticated_at=created + i, expires_at=now + HOUR_US, created_at=created + i,
                updated_at=created + i,
            ),
        )
        sessions.append(sid)
        gid = random_record_id()
        db.insert(
            "delegated_grants",
            dict(
                id=gid, zone_id=zone_id, user_id=user_id, resource_id=resource_id, provider_id=provider_id,
                scopes=json.dumps(["read"]), status="active", refresh_token_set=False, expires_at=now + HOUR_US,
                refreshed_at=None, created_at=created + i, updated_at=created + i,
            ),
        )
        grants.append(gid)
    return {"user": [user_id], "user_agent": [user_agent_id], "session": sessions, "grant": grants}


def hook_ids(ids: Dict[str, Any]) -> Dict[str, str]:
    """What schemathesis_hooks.py puts in body fields that must name a record."""
    return {k: ids[k] for k in ("zone", "application", "resource", "provider", "kms_key", "credentials")}


# --------------------------------------------------------------------------- the configuration


def _toml(value: Any) -> str:
    """A TOML value for the JSON-ish values used here (TOML basic strings take JSON's escapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def _config(api_key: str, ids: Dict[str, Any]) -> str:
    zone, zone_del = ids["zone"], ids["zone_del"]
    lines = [
        "# Generated by tests/sdk/test_schemathesis.py for one run.",
        f"seed = {SCHEMATHESIS_SEED}",
        "workers = 1",
        "request-timeout = 30",
        # No retries: a failed connection is a finding, not noise to paper over.
        "request-retries = 0",
        f"headers = {_toml({'Authorization': f'Bearer {api_key}'})}",
        "",
        f"hooks = {_toml(str(HOOKS))}",
        "",
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        'database = "none"',
        "",
        "[checks]",
        "enabled = false",
    ]
    for check in CHECKS:
        lines.append(f"{check}.enabled = true")
    lines += [
        "",
        "[parameters]",
        f'"path.zone_id" = {_toml(zone)}',
        # Opaque cursors: sent empty, which the server reads as absent.
        '"query.after" = ""',
        '"query.before" = ""',
        '"query.cursor" = ""',
    ]

    def op(op_ids: List[str], params: Dict[str, Any], extra: str = "") -> None:
        lines.extend(["", "[[operations]]", f"include-operation-id = {_toml(op_ids)}", f"parameters = {_toml(params)}"])
        if extra:
            lines.append(extra)

    op(["deleteZone"], {"path.zone_id": zone_del})
    op(["getSecret", "updateSecret"], {"path.id": ids["secret"]})
    op(["deleteSecret"], {"path.id": ids["secret_del"]})
    op(["getProvider", "updateProvider"], {"path.id": ids["provider"]})
    op(["deleteProvider"], {"path.id": ids["provider_del"]})
    op(["getResource", "updateResource"], {"path.id": ids["resource"]})
    op(["deleteResource"], {"path.id": ids["resource_del"]})
    op(
        ["getApplication", "updateApplication", "listApplicationResources", "listApplicationCredentials", "listDependencies"],
        {"path.id": ids["application"]},
    )
    op(["deleteApplication"], {"path.id": ids["application_del"]})
    op(["getDependency"], {"path.id": ids["application"], "path.dependency_id": ids["resource"]})
    op(
        ["addDependency"],
        {"path.id": ids["application"], "path.dependency_id": ids["resource_dep"], "query.when_accessing": [ids["resource"]]},
    )
    op(["removeDependency"], {"path.id": ids["application"], "path.dependency_id": ids["resource_dep_del"]})
    op(["getCredential"], {"path.id": ids["credential"]})
    # The password credential; map_case moves a body written for another type to that type's credential.
    op(["updateCredential"], {"path.id": ids["credential"]})
    op(["deleteCredential"], {"path.id": ids["credential_del"]})
    op(["getUser"], {"path.id": ids["user"][0]})
    op(["getUserAgent"], {"path.id": ids["user_agent"][0]})
    op(["getSession", "revokeSession"], {"path.id": ids["session"][0]})
    op(["deleteSession"], {"path.id": ids["session"][1]})
    op(["getDelegatedGrant", "revokeDelegatedGrant"], {"path.id": ids["grant"][0]})
    op(["deleteDelegatedGrant"], {"path.id": ids["grant"][1]})
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the string rules, value by value

# Telling values for each string rule of the document (components `Name`, `Slug`, …, in crates/api/src/openapi.rs),
# each sent to the server in a request that varies only that field. The schema and the server must agree on every
# one: accepted (2xx) exactly when the schema's pattern and lengths admit it. STRICTER lists the values the schema
# refuses on purpose although the server takes them (its patterns keep to URLs every URL parser reads the same way);
# the reverse, a value the schema admits and the server refuses, is never allowed.
RULE_VALUES: Dict[str, List[str]] = {
    "Name": ["Production", "a < b", "  x ", "é", "x" * 255, "x" * 256, "", " ", "\u00a0", "<b>x</b>", "a\tb", "a\u0085b"],
    "Slug": ["my-zone-1", "0", "a" * 63, "a" * 64, "-a", "a-", "A", "a_b", ""],
    "Description": ["", "two\nlines\tand tabs", "x" * 2048, "x" * 2049, "<div>", "a < b", "bell\u0007", "c1\u0085"],
    "Identifier": ["app-1", "ü", "x" * 255, "x" * 256, "", "a b", "a\u3000b", "a\u00a0b"],
    "AbsoluteUri": [
        "https://api.example.com/v1", "urn:example:thing", "spiffe://cluster.local/ns/a", "HTTPS://Example.COM:443/x?y=1",
        "a:b", "relative/path", "https://a.test/#frag", "http://a.1/", "http://1.2.3.4.5/", "http:", "a://[",
        "https://a.test:65536/", "https://xn--a.test/", "ws://a.test/", "https://a_b.test/",
    ],
    "HttpUrl": [
        "https://a.test/x", "http://a", "http://a.b-c.test:8080/p?q", "ftp://a.test/", "https://", "https://a.test/#f",
        "https://user@a.test/x",
    ],
    "HttpsUrl": ["https://a.test/jwks", "http://localhost:8080/jwks", "http://127.0.0.1/j", "http://a.test/jwks"],
    "Scope": ["read:all", "a" * 255, "a" * 256, "a b", 'a"b', "é", ""],
    # POST /zones/{zone_id}/users (a Keyzone extension); a taken email is a 409, past the rule.
    "Email": [
        "ada@example.com", " \tAda@Example.COM\n", "a@b@c.de",
        "x@" + "y" * 248 + ".co", "x@" + "y" * 249 + ".co", "x@" + "y" * 250 + ".co",  # 253, 254, 255 characters
        "a@b", "@b.co", "a@.b.co", "a@b.co.", "a b@c.de", "a@b.c\u00a0d", "a@b.c\u0085", "", " ",
    ],
    # POST /zones/{zone_id}/user-invitations (a Keyzone extension): stricter, no trimming.
    "InvitationEmail": [
        "ada@example.com", "Ada@Example.COM", " ada@example.com", "a@b@c.de", "a@b", "@b.co", "a@.b.co", "a@b.co.",
        "a b@c.de", "é@b.co", "", "x@" + "y" * 249 + ".co", "x@" + "y" * 250 + ".co",
    ],
    "Password": ["k7q!zv2m", "k7q!zv2", "x" * 1024, "x" * 1025, "tabs\tand\nlines", "\u00e9" * 8],
    # Well-formed ARNs of no key: KMS refuses them (503), past the rule.
    "KmsKeyArn": [
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/my/app_key", "arn:foo", "arn:aws:kms:eu-west-1:1:key/x",
        "arn:aws:s3:::bucket", "arn:aws:kms:eu-west-1:111122223333:key/", "arn:aws:kms:EU:111122223333:key/x", "",
    ],
    "CimdAllowlistEntry": [
        "*", "https://*.example.com", "https://app.example.org/client.json", "http://localhost:3000/c.json",
        "https://*.com", "http://example.com/c.json", "https://a.*.example.com", "https://*.example.com/path",
        "HTTPS://a.test/c", "https://a.test/c#f",
    ],
}
STRICTER = {
    ("AbsoluteUri", "ws://a.test/"),  # the special schemes other than http(s) are left out
    ("AbsoluteUri", "https://a_b.test/"),  # hosts are DNS names in the schema
    ("HttpUrl", "https://user@a.test/x"),  # no user info in the schema
}


def _rule_request(http: httpx.Client, zone_id: str, rule: str, value: str, app_id: str):
    """A request that sends `value` where `rule` applies; (response, the field that would be named)."""
    tag = secrets.token_hex(4)
    if rule == "Name":
        return http.post(f"/zones/{zone_id}/providers", json={"identifier": f"p-{tag}", "name": value}), "name"
    if rule == "Slug":
        return http.post("/zones", json={"name": f"slug {tag}", "slug": value}), "slug"
    if rule == "Description":
        return http.patch(f"/zones/{zone_id}", json={"description": value}), "description"
    if rule == "Identifier":
        return http.post(f"/zones/{zone_id}/providers", json={"identifier": value, "name": f"p {tag}"}), "identifier"
    if rule == "AbsoluteUri":
        return http.post(f"/zones/{zone_id}/resources", json={"identifier": value, "name": f"r {tag}"}), "identifier"
    if rule == "HttpUrl":
        body = {"identifier": f"p-{tag}", "name": f"p {tag}", "metadata": {"icon_url": value}}
        return http.post(f"/zones/{zone_id}/providers", json=body), "metadata.icon_url"
    if rule == "HttpsUrl":
        body = {"type": "public-key", "application_id": app_id, "jwks_uri": value}
        return http.post(f"/zones/{zone_id}/application-credentials", json=body), "jwks_uri"
    if rule == "Scope":
        body = {"identifier": f"https://api.example.com/{tag}", "name": f"r {tag}", "scopes": [value]}
        return http.post(f"/zones/{zone_id}/resources", json=body), "scopes[0]"
    if rule == "Email":
        return http.post(f"/zones/{zone_id}/users", json={"email": value}), "email"
    if rule == "InvitationEmail":
        return http.post(f"/zones/{zone_id}/user-invitations", json={"email": value}), "email"
    if rule == "Password":
        return http.post(f"/zones/{zone_id}/users", json={"email": f"p-{tag}@example.com", "password": value}), "password"
    if rule == "KmsKeyArn":
        return http.patch(f"/zones/{zone_id}", json={"encryption_key": {"type": "aws", "arn": value}}), "encryption_key.arn"
    if rule == "CimdAllowlistEntry":
        body = {"protocols": {"oauth2": {"cimd": {"enabled": False, "allowed_client_ids": [value]}}}}
        return http.patch(f"/zones/{zone_id}", json=body), "protocols.oauth2.cimd.allowed_client_ids[0]"
    raise AssertionError(rule)


def test_string_rules_agree_with_the_server(server, http: httpx.Client) -> None:
    import jsonschema_rs

    doc = http.get("/openapi.json").json()
    seed = Seeder(http)
    zone_id = seed.zone("rules")["id"]
    app_id = seed.application(zone_id)
    disagreements = []
    for rule, values in RULE_VALUES.items():
        schema = doc["components"]["schemas"][rule]
        validator = jsonschema_rs.Draft202012Validator(schema, pattern_options=jsonschema_rs.FancyRegexOptions())
        for value in values:
            valid = validator.is_valid(value)
            res, field = _rule_request(http, zone_id, rule, value, app_id)
            # A 409 (the slug or identifier is taken) got past the rules, as did a 503 (KMS refused the key).
            accepted = res.status_code < 300 or res.status_code in (409, 503)
            if not accepted:
                assert res.status_code == 400, f"{rule} {value!r}: {res.status_code} {res.text}"
                fields = [d["field"] for d in res.json()["details"]]
                assert field in fields, f"{rule} {value!r}: refused, but not on {field}: {res.text}"
            if (rule, value) in STRICTER:
                assert accepted and not valid, f"{rule} {value!r} is no longer stricter: schema {valid}, server {accepted}"
                continue
            if valid and not accepted:
                disagreements.append(f"{rule}: the schema admits {value!r}, the server refuses it: {res.text[:300]}")
            if accepted and not valid:
                disagreements.append(f"{rule}: the server accepts {value!r}, the schema refuses it")
    assert not disagreements, "\n".join(disagreements)


# --------------------------------------------------------------------------- the run


def seed_records(http: httpx.Client, db: ServerDatabase) -> Dict[str, Any]:
    """The records the run works on; their ids by role."""
    seed = Seeder(http)
    zone_id = seed.zone("main")["id"]
    provider = seed.provider(zone_id)
    application = seed.application(zone_id)
    resource = seed.resource(zone_id, application_id=application, credential_provider_id=provider)
    resource_dep_del = seed.resource(zone_id)
    seed.put(f"/zones/{zone_id}/applications/{application}/dependencies/{resource}", {})
    seed.put(f"/zones/{zone_id}/applications/{application}/dependencies/{resource_dep_del}", {})
    ids: Dict[str, Any] = dict(
        zone=zone_id,
        zone_del=seed.zone("deleted")["id"],
        provider=provider,
        provider_del=seed.provider(zone_id),
        application=application,
        application_del=seed.application(zone_id),
        resource=resource,
        resource_del=seed.resource(zone_id),
        resource_dep=seed.resource(zone_id),
        resource_dep_del=resource_dep_del,
        credentials=seed.credentials(zone_id, application, provider),
        credential_del=seed.credential(zone_id, application),
        secret=seed.secret(zone_id, resource),
        secret_del=seed.secret(zone_id, resource),
    )
    ids["credential"] = ids["credentials"]["password"]
    ids.update(_identity_rows(db, zone_id, resource, provider))
    return ids


def test_management_api_conforms_to_its_openapi_document(server, server_db, http: httpx.Client, new_kms_key) -> None:
    ids = seed_records(http, server_db)
    ids["kms_key"] = new_kms_key()
    work = Path(tempfile.mkdtemp(prefix=f"keyzone-schemathesis-{server.backend}-"))
    config = work / "schemathesis.toml"
    config.write_text(_config(server.api_key, ids))
    argv = [
        str(_schemathesis_bin()),
        "--config-file",
        str(config),
        "run",
        f"{server.base_url}/openapi.json",
        "--url",
        server.base_url,
        "--seed",
        str(SCHEMATHESIS_SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--report",
        "junit,ndjson",
        "--report-dir",
        str(work / "report"),
        "--no-color",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
    env["KEYZONE_SCHEMATHESIS_IDS"] = json.dumps(hook_ids(ids))
    started = time.monotonic()
    try:
        res = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"schemathesis did not finish within {RUN_TIMEOUT_S}s; kept {work}\n{e.stdout or ''}")
    elapsed = time.monotonic() - started
    (work / "schemathesis.out").write_text(res.stdout + "\n--- stderr ---\n" + res.stderr)
    keep = res.returncode != 0 or os.environ.get("KEYZONE_SCHEMATHESIS_KEEP") == "1"
    summary = f"schemathesis ({server.backend}) exit {res.returncode} in {elapsed:.0f}s"
    print(f"\n{summary}\n{res.stdout[-4000:]}")
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    assert res.returncode == 0, (
        f"{summary}: findings against {server.base_url}/openapi.json (config and reports kept in {work}; "
        f"command: {' '.join(argv)})\n--- stdout ---\n{res.stdout[-60000:]}\n--- stderr ---\n{res.stderr[-5000:]}"
    )
