"""An agent that gets its own access tokens with client credentials. docs/guide-agent.md walks through this file.

    pip install -r examples/requirements.txt
    export KEYZONE_SERVER=http://127.0.0.1:8080 KEYZONE_API_KEY=kz_...   # the admin key from the server's banner
    python examples/agent.py

Three parties, each holding only its own secret:
  register_agent()  the administrator (admin API key): a zone, the API the agent calls, the agent and its secret;
  TokenSource       the agent (its client_id and client_secret): asks the zone for tokens and reuses them;
  ReportsAPI        the API: verifies each token against the zone's keys, its audience and its scopes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Dict, Optional, Tuple

from keycardai.oauth import BasicAuth, Client, OAuthProtocolError
from keycardai.oauth.server import AccessToken, TokenVerifier
from keycardai_api import KeycardAPI

API = "https://api.example.com"


def register_agent(api: KeycardAPI) -> Tuple[str, str, str, str]:
    """(issuer, client_id, client_secret, agent application id)."""
    zone = api.zones.create(name="Agent guide")
    # The API: a prefix resource protects https://api.example.com and every URL under it.
    api.zones.resources.create(
        zone.id,
        identifier=API,
        name="Reports API",
        prefix=True,
        scopes=["reports:read", "reports:write"],
        credential_lifetime_seconds=900,
    )
    agent = api.zones.applications.create(zone.id, identifier="report-agent", name="Report agent")
    # The client secret is in this response only: store it where the agent reads its secrets.
    credential = api.zones.application_credentials.create(zone.id, type="password", application_id=agent.id)
    return zone.protocols.oauth2.issuer, credential.identifier, credential.password, agent.id


class TokenSource:
    """The agent's tokens: one per (resource, scope), reused until a minute before it expires."""

    def __init__(self, issuer: str, client_id: str, client_secret: str) -> None:
        self._oauth = Client(issuer, auth=BasicAuth(client_id, client_secret))
        self._cache: Dict[Tuple[str, str], Tuple[str, float]] = {}

    def token(self, resource: str, scope: str) -> str:
        cached = self._cache.get((resource, scope))
        if cached and cached[1] - 60 > time.time():
            return cached[0]
        response = self._oauth.client_credentials_grant(resource=resource, scope=scope)
        self._cache[(resource, scope)] = (response.access_token, time.time() + response.expires_in)
        return response.access_token

    def close(self) -> None:
        self._oauth.close()


class ReportsAPI:
    """What the API does with each request's bearer token: verify it against the zone's JWKS."""

    def __init__(self, issuer: str) -> None:
        self._verifier = TokenVerifier(issuer=issuer, audience=API, required_scopes=["reports:read"])

    def check(self, bearer: str) -> AccessToken:
        return asyncio.run(self._verifier.verify_token(bearer))


def main() -> int:
    api = KeycardAPI(
        base_url=os.environ.get("KEYZONE_SERVER", "http://127.0.0.1:8080"), api_key=os.environ["KEYZONE_API_KEY"]
    )
    issuer, client_id, client_secret, agent_id = register_agent(api)
    print(f"zone issuer: {issuer}")

    agent = TokenSource(issuer, client_id, client_secret)
    reports = ReportsAPI(issuer)
    try:
        # A URL under the prefix resource: the token's audience is the resource, https://api.example.com.
        token = agent.token(f"{API}/v1/reports", "reports:read")
        assert agent.token(f"{API}/v1/reports", "reports:read") == token, "expected the cached token"
        seen = reports.check(token)
        print(f"the API accepted a token for {seen.resource} with scopes {seen.scopes}, sub={seen.sub}")

        # A scope the resource does not define is refused by the zone, before any token exists.
        refused: Optional[OAuthProtocolError] = None
        try:
            agent.token(API, "reports:delete")
        except OAuthProtocolError as e:
            refused = e
            print(f"reports:delete refused: {e.error}: {e.error_description}")
    finally:
        agent.close()

    ok = seen.sub == agent_id and seen.client_id == client_id
    ok = ok and refused is not None and refused.error == "invalid_scope"
    print("ok" if ok else "FAILED", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
