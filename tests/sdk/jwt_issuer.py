"""A loopback JWT issuer for the client-assertion tests (plain module, not a conftest).

`LoopbackIssuer()` starts an `http.server` on 127.0.0.1 (a free port, a daemon thread) that plays the part of a
workload identity platform (an OIDC issuer: Kubernetes, GitHub Actions, GCP...) and, for URL client identities, of a
web server publishing client documents. It serves:

  * `{issuer}/.well-known/openid-configuration` and `{issuer}/.well-known/oauth-authorization-server` with `issuer`
    and `jwks_uri` (each can be switched off, and the `issuer` they name can be overridden);
  * `{issuer}/jwks` (`jwks_uri`) with the public halves of the published keys, with a configurable `Cache-Control`;
  * any JSON document at any path (`serve(path, body)`), e.g. an RFC 9728 protected resource metadata document
    `{"resource": ..., "jwks_uri": ...}` or a client identity document.

It records every GET path it answered (`hits(path)`), and mints JWTs with joserfc: RS256 by default, ES256 and EdDSA
keys too, `alg: none` and HS256 tokens for the refusal tests. Keys can be rotated (`rotate()`).

Keyzone fetches these URLs itself, which the SDK suite's server allows for loopback (KEYZONE_OUTBOUND_ALLOW_PRIVATE).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

OPENID_CONFIGURATION = "/.well-known/openid-configuration"
OAUTH_METADATA = "/.well-known/oauth-authorization-server"
JWKS_PATH = "/jwks"
DROP = object()  # a claim value meaning "leave this claim out"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SigningKey:
    """A private key with its kid; `public()` is its public JWK (with kid, alg and use)."""

    def __init__(self, kid: Optional[str] = None, alg: str = "RS256") -> None:
        self.kid = kid or f"{alg.lower()}-{secrets.token_hex(4)}"
        self.alg = alg
        params = {"kid": self.kid, "alg": alg, "use": "sig"}
        if alg == "RS256":
            self.key = RSAKey.generate_key(2048, parameters=params, private=True)
        elif alg == "ES256":
            self.key = ECKey.generate_key("P-256", parameters=params, private=True)
        elif alg == "EdDSA":
            self.key = OKPKey.generate_key("Ed25519", parameters=params, private=True)
        else:
            raise ValueError(f"unsupported alg {alg!r}")

    def public(self) -> Dict[str, Any]:
        return self.key.as_dict(private=False)

    def sign(self, claims: Dict[str, Any], *, kid: Any = None, typ: Optional[str] = "JWT") -> str:
        """A compact JWS of `claims`; `kid=DROP` leaves the kid out of the header, a string overrides it."""
        header: Dict[str, Any] = {"alg": self.alg}
        if typ:
            header["typ"] = typ
        if kid is not DROP:
            header["kid"] = kid if kid is not None else self.kid
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # joserfc flags EdDSA as deprecated (RFC 9864); the server accepts it
            return jwt.encode(header, claims, self.key, algorithms=[self.alg])


def unsigned_token(claims: Dict[str, Any]) -> str:
    """An `alg: none` JWT (empty signature)."""
    return f"{b64url(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64url(json.dumps(claims).encode())}."


def hs256_token(claims: Dict[str, Any], secret: bytes = b"a shared secret the server must never accept") -> str:
    key = OctKey.import_key(secret)
    return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, key, algorithms=["HS256"])


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_GET(self) -> None:  # noqa: N802
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        owner._record(path)
        status, body, headers = owner._answer(path)
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        if body is not None and not isinstance(body, bytes):
            self.send_header("Content-Type", "application/json")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args: Any) -> None:  # keep pytest output clean
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: "LoopbackIssuer"


class LoopbackIssuer:
    """An OIDC-style issuer and document server on http://127.0.0.1:<free port>."""

    def __init__(self, *, alg: str = "RS256", jwks_cache_control: str = "max-age=300", issuer_path: str = "") -> None:
        """`issuer_path` (e.g. "/id/ABC123", as EKS or Azure issuers have) is appended to the origin to form the
        issuer; the discovery documents and the JWKS then live under it."""
        assert issuer_path == "" or (issuer_path.startswith("/") and not issuer_path.endswith("/")), issuer_path
        self._lock = threading.Lock()
        self._hits: List[str] = []
        self.documents: Dict[str, Tuple[int, Any, Dict[str, str]]] = {}
        self.jwks_cache_control = jwks_cache_control
        self.openid_configuration = True
        self.oauth_metadata = True
        self.discovery_issuer: Optional[str] = None  # override the `issuer` the discovery documents name
        self.signing_key = SigningKey(alg=alg)
        self.published: List[SigningKey] = [self.signing_key]
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer_path = issuer_path
        self.issuer = self.url + issuer_path
        self.jwks_uri = self.issuer + JWKS_PATH
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"loopback-issuer-{self.port}", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- serving

    def serve(self, path: str, body: Any, *, status: int = 200, headers: Optional[Dict[str, str]] = None) -> str:
        """Serve `body` (JSON, or raw bytes) at `path`; returns the absolute URL."""
        assert path.startswith("/"), path
        with self._lock:
            self.documents[path] = (status, body, dict(headers or {}))
        return self.url + path

    def jwks(self) -> Dict[str, Any]:
        return {"keys": [k.public() for k in self.published]}

    def _answer(self, path: str) -> Tuple[int, Any, Dict[str, str]]:
        with self._lock:
            if path in self.documents:
                return self.documents[path]
            metadata = {"issuer": self.discovery_issuer or self.issuer, "jwks_uri": self.jwks_uri}
            if path == self.issuer_path + OPENID_CONFIGURATION and self.openid_configuration:
                return 200, {**metadata, "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]}, {}
            if path == self.issuer_path + OAUTH_METADATA and self.oauth_metadata:
                return 200, metadata, {}
            if path == self.issuer_path + JWKS_PATH:
                return 200, self.jwks(), {"Cache-Control": self.jwks_cache_control}
        return 404, {"error": "not_found"}, {}

    def _record(self, path: str) -> None:
        with self._lock:
            self._hits.append(path)

    def hits(self, path: Optional[str] = None) -> int:
        """How many GETs this server answered (for `path`, or in total)."""
        with self._lock:
            return len(self._hits) if path is None else sum(1 for p in self._hits if p == path)

    def paths(self) -> List[str]:
        with self._lock:
            return list(self._hits)

    # ---------------------------------------------------------------- keys

    def rotate(self, *, alg: Optional[str] = None, keep_old: bool = True) -> SigningKey:
        """A new signing key with a new kid, published (next to the old ones unless keep_old=False)."""
        new = SigningKey(alg=alg or self.signing_key.alg)
        with self._lock:
            self.published = ([*self.published] if keep_old else []) + [new]
            self.signing_key = new
        return new

    # ---------------------------------------------------------------- tokens

    def claims(self, sub: str, aud: Any, *, lifetime: int = 300, **extra: Any) -> Dict[str, Any]:
        """Claims of a platform token: iss (this issuer), sub, aud, iat, exp (iat + lifetime); no jti (platform
        tokens often have none). Any keyword adds or overrides a claim; a value of DROP removes it."""
        now = int(time.time())
        c: Dict[str, Any] = {"iss": self.issuer, "sub": sub, "aud": aud, "iat": now, "exp": now + lifetime}
        c.update(extra)
        return {k: v for k, v in c.items() if v is not DROP}

    def token(self, sub: str, aud: Any, *, key: Optional[SigningKey] = None, kid: Any = None, **claims: Any) -> str:
        """A token signed with the current signing key (or `key`)."""
        return (key or self.signing_key).sign(self.claims(sub, aud, **claims), kid=kid)

    # ---------------------------------------------------------------- lifecycle

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "LoopbackIssuer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
