"""Schemathesis hooks for tests/sdk/test_schemathesis.py (loaded through the generated schemathesis.toml).

A schema can say what an id looks like, not which ids exist: a body field that must name a record of the zone
(`application_id`, `dependencies[].id`, …) holds a well-formed id that names nothing when schemathesis draws it,
and the server rightly answers 400 on that field. So every such field that holds a well-formed id is given the id
of a real record of the right kind instead, and a well-formed KMS key ARN becomes the ARN of a real key of the
session's mock KMS. A value that is not well-formed is left as it is: whether the case is valid by the schema does
not change, so positive cases stay positive and negative ones negative.

The records come from KEYZONE_SCHEMATHESIS_IDS (JSON, written by the test).

A schema cannot say "not one of the most common passwords" (the server compares case-insensitively against
crates/authserver/src/common_passwords.txt): a well-formed password that is on that list is replaced by one of the
same length that is not, so a positive case stays positive; a malformed one is left as it is.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Tuple

import schemathesis

IDS: Dict[str, Any] = json.loads(os.environ.get("KEYZONE_SCHEMATHESIS_IDS", "{}"))
ID_RE = re.compile(r"[a-z][a-z0-9]{19}")
# KmsKeyArn in crates/api/src/openapi.rs.
ARN_RE = re.compile(
    r"arn:aws(?:-[a-z]+)*:kms:[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?:[0-9]{12}:(?:key/[A-Za-z0-9-]{1,128}|alias/[A-Za-z0-9/_-]{1,256})"
)

_LIST = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "authserver", "src", "common_passwords.txt")
with open(_LIST, encoding="utf-8") as _f:
    COMMON_PASSWORDS = {ln.strip().lower() for ln in _f if ln.strip() and not ln.startswith("#")}
# Password in crates/api/src/openapi.rs: 8 to 1024 bytes, no C0 controls but tab, LF and CR.
PASSWORD_RE = re.compile(r"[^\x00-\x08\x0b\x0c\x0e-\x1f]{8,}")


def _uncommon_password(body: Any) -> Any:
    if not isinstance(body, dict):
        return body
    pw = body.get("password")
    if isinstance(pw, str) and pw.lower() in COMMON_PASSWORDS and PASSWORD_RE.fullmatch(pw) \
            and len(pw.encode()) <= 1024:
        return {**body, "password": "Kz" + "7" * (len(pw) - 2)}
    return body


# operationId -> [(path into the body, kind of record)]; "*" walks every item of a list.
REFERENCES: Dict[str, List[Tuple[Tuple[str, ...], str]]] = {
    "createZone": [(("encryption_key", "arn"), "kms_key")],
    "updateZone": [
        (("default_mcp_gateway_application_id",), "application"),
        (("default_resource_id",), "resource"),
        (("user_identity_provider_id",), "provider"),
        (("encryption_key", "arn"), "kms_key"),
    ],
    "createSecret": [(("zone_id",), "zone")],
    "createApplication": [(("dependencies", "*", "id"), "resource")],
    "createResource": [(("application_id",), "application"), (("credential_provider_id",), "provider")],
    "updateResource": [(("application_id",), "application"), (("credential_provider_id",), "provider")],
    "createCredential": [(("application_id",), "application"), (("provider_id",), "provider")],
}


def _well_formed(kind: str, value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 2048:
        return False
    if kind == "kms_key":
        return ARN_RE.fullmatch(value) is not None
    return ID_RE.fullmatch(value) is not None


def _substitute(node: Any, path: Tuple[str, ...], kind: str) -> Any:
    if not path:
        return IDS[kind] if _well_formed(kind, node) else node
    head, rest = path[0], path[1:]
    if head == "*":
        return [_substitute(item, rest, kind) for item in node] if isinstance(node, list) else node
    if isinstance(node, dict) and head in node:
        return {**node, head: _substitute(node[head], rest, kind)}
    return node


# What an update of a credential may change depends on the type of the credential in the path (the body schema
# has one branch per type, `CredentialUpdate` in crates/api/src/openapi.rs), which a schema cannot tie to the path.
# So a body is sent to a credential of the type it is written for: its `type` when that names one, else a token
# credential for a `subject`, a public one for an `identifier` (every URL credential's identifier is a public
# one's too), else the password credential the operation is pinned to. A case whose path id is not the pinned
# one (a negative path parameter) is left as it is.
CREDENTIAL_TYPES = ("token", "password", "public-key", "url", "public")


def _credential_for(body: Any) -> str:
    if not isinstance(body, dict):
        return "password"
    kind = body.get("type")
    if isinstance(kind, str) and kind in CREDENTIAL_TYPES:
        return kind
    if "subject" in body:
        return "token"
    if "identifier" in body:
        return "public"
    return "password"


@schemathesis.hook
def map_case(ctx: Any, case: Any) -> Any:
    # `map_case`, not `map_body`: the coverage phase applies only case hooks.
    raw = getattr(getattr(case.operation, "definition", None), "raw", None) or {}
    op_id = raw.get("operationId", "")
    if op_id == "updateCredential" and case.path_parameters.get("id") == IDS["credentials"]["password"]:
        case.path_parameters = {**case.path_parameters, "id": IDS["credentials"][_credential_for(case.body)]}
    refs = REFERENCES.get(op_id, [])
    body = _uncommon_password(case.body) if op_id == "createUser" else case.body
    for path, kind in refs:
        if kind in IDS:
            body = _substitute(body, path, kind)
    if body is not case.body:
        case.body = body
    return case
