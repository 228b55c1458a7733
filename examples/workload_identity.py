"""A CI job that gets a Keyzone token with its CI system's OIDC token: no stored secret at all.
docs/guide-workload-identity.md walks through this file.

Once, as the administrator (admin API key), trust the CI system's issuer for one subject (one repository, branch...):

    export KEYZONE_SERVER=http://127.0.0.1:8080 KEYZONE_API_KEY=kz_...
    CI_OIDC_ISSUER=https://token.actions.githubusercontent.com \\
    CI_OIDC_SUBJECT=repo:acme/deploy:ref:refs/heads/main \\
        python examples/workload_identity.py setup

It prints KEYZONE_ISSUER and KEYZONE_RESOURCE, which are not secret: put them in the CI job's environment. Then, in
the job, with no Keyzone secret:

    TOKEN=$(python examples/workload_identity.py token)

`token` prints only the access token on stdout. It takes the CI system's OIDC token, issued for the audience
KEYZONE_ISSUER, from
  * GitHub Actions: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN (set by `permissions:
    id-token: write`); the audience is requested at run time;
  * anywhere else (GitLab `id_tokens`, a Kubernetes projected service-account token, CircleCI...): the file named by
    KEYZONE_OIDC_TOKEN_FILE, or the variable KEYZONE_OIDC_TOKEN, issued for the audience KEYZONE_ISSUER.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
import urllib.request

from keycardai.oauth import Client
from keycardai.oauth.utils.jwt import get_claims
from keycardai_api import KeycardAPI

RESOURCE = "https://deploy.example.com"  # what the CI job is allowed to call
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def setup() -> None:
    api = KeycardAPI(
        base_url=os.environ.get("KEYZONE_SERVER", "http://127.0.0.1:8080"), api_key=os.environ["KEYZONE_API_KEY"]
    )
    ci_issuer = os.environ.get("CI_OIDC_ISSUER", "https://token.actions.githubusercontent.com")
    ci_subject = os.environ["CI_OIDC_SUBJECT"]

    zone = api.zones.create(name="CI deployments")
    # The CI system is a provider: the zone fetches its keys from {issuer}/.well-known/openid-configuration.
    ci = api.zones.providers.create(
        zone.id, identifier="ci-oidc", name="CI OIDC issuer", protocols={"oauth2": {"issuer": ci_issuer}}
    )
    deployer = api.zones.applications.create(zone.id, identifier="ci-deployer", name="CI deployer")
    # A token credential: a token from that provider whose `sub` is this subject authenticates as the deployer.
    api.zones.application_credentials.create(
        zone.id, type="token", application_id=deployer.id, provider_id=ci.id, subject=ci_subject
    )
    api.zones.resources.create(zone.id, identifier=RESOURCE, name="Deploy API", scopes=["deploy"])

    print(f"export KEYZONE_ISSUER={zone.protocols.oauth2.issuer}")
    print(f"export KEYZONE_RESOURCE={RESOURCE}")


def ci_oidc_token(audience: str) -> str:
    """The CI system's OIDC token for `audience`."""
    request_url = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
    if request_url:  # GitHub Actions
        url = f"{request_url}&audience={urllib.parse.quote(audience, safe='')}"
        headers = {"Authorization": f"bearer {os.environ['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}"}
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as res:
            return json.load(res)["value"]
    path = os.environ.get("KEYZONE_OIDC_TOKEN_FILE")
    if path:
        with open(path) as f:
            return f.read().strip()
    return os.environ["KEYZONE_OIDC_TOKEN"]


def token() -> None:
    issuer = os.environ["KEYZONE_ISSUER"]
    resource = os.environ.get("KEYZONE_RESOURCE", RESOURCE)
    # The OIDC token is the client authentication (RFC 7523): no client_id and no secret.
    with Client(issuer) as oauth:
        response = oauth.client_credentials_grant(
            resource=resource,
            scope="deploy",
            client_assertion=ci_oidc_token(audience=issuer),
            client_assertion_type=JWT_BEARER,
        )
    claims = get_claims(response.access_token)
    print(f"token for {claims['aud']}, sub={claims['sub']}, expires in {response.expires_in} s", file=sys.stderr)
    print(response.access_token)


if __name__ == "__main__":
    commands = {"setup": setup, "token": token}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: {sys.argv[0]} setup|token")
    commands[sys.argv[1]]()
