"""Protect an MCP server with Keyzone and keycardai-mcp. docs/guide-mcp-server.md walks through this file.

    pip install -r examples/requirements.txt
    export KEYZONE_SERVER=http://127.0.0.1:8080 KEYZONE_API_KEY=kz_...   # the admin key from the server's banner
    python examples/mcp_server.py            # set up a zone, then serve the MCP server until Ctrl-C
    python examples/mcp_server.py --check    # the same, but call its tools once as an agent, then exit

Three parties, one function each, and each holds only its own secret:
  set_up_zone()   the administrator (admin API key): the MCP server's application and resource, the API its
                  tools call, the dependency that lets it call that API, and an agent that calls the MCP server;
  build_server()  the MCP server (its own client credential): verifies callers' tokens, exchanges them in @grant;
  call_tools()    the agent (its own client credential): gets a token for the MCP server and calls two tools.

MCP_PORT (default 8000) is the port the MCP server listens on, on 127.0.0.1.
"""

# No `from __future__ import annotations` here: keycardai-mcp's @grant finds the AccessContext and Context
# parameters by their annotation objects, which string annotations would hide.
import argparse
import asyncio
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Tuple

import httpx2
import uvicorn
from keycardai.mcp.server.auth import AccessContext, AuthProvider, ClientSecret
from keycardai.oauth import BasicAuth, Client
from keycardai.oauth.utils.jwt import get_claims
from keycardai_api import KeycardAPI
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context, MCPServer  # mcp 2.x; FastMCP (mcp.server.fastmcp) is gone

API = "https://api.example.com"  # the API the MCP server's tools call on their callers' behalf


@dataclass
class Setup:
    issuer: str  # the zone's issuer: http://127.0.0.1:8080/z/<zone id>
    mcp_url: str  # the MCP server's URL, also its resource identifier: the audience of tokens for it
    server_credential: Tuple[str, str]  # (client_id, client_secret) of the MCP server's application
    agent_credential: Tuple[str, str]  # (client_id, client_secret) of the agent that calls it
    agent_id: str  # the agent's application id: the `sub` of its tokens


def set_up_zone(api: KeycardAPI, mcp_url: str) -> Setup:
    zone = api.zones.create(name="MCP server guide")

    # The MCP server is an application, and it provides a resource: its own URL.
    server = api.zones.applications.create(zone.id, identifier="invoices-mcp", name="Invoices MCP server")
    mcp_resource = api.zones.resources.create(
        zone.id, identifier=mcp_url, name="Invoices MCP server", application_id=server.id
    )

    # The API its tools call, and the dependency that lets the MCP server exchange a caller's token for a token
    # for that API: only a token the caller holds for this MCP server (when_accessing).
    api_resource = api.zones.resources.create(zone.id, identifier=API, name="Invoices API", scopes=["invoices:read"])
    api.zones.applications.dependencies.add(
        api_resource.id, zone_id=zone.id, id=server.id, when_accessing=[mcp_resource.id]
    )
    server_secret = api.zones.application_credentials.create(zone.id, type="password", application_id=server.id)

    # An agent that calls the MCP server. It needs no dependency: its own token comes from client_credentials.
    agent = api.zones.applications.create(zone.id, identifier="billing-agent", name="Billing agent")
    agent_secret = api.zones.application_credentials.create(zone.id, type="password", application_id=agent.id)

    return Setup(
        issuer=zone.protocols.oauth2.issuer,
        mcp_url=mcp_url,
        server_credential=(server_secret.identifier, server_secret.password),
        agent_credential=(agent_secret.identifier, agent_secret.password),
        agent_id=agent.id,
    )


def build_server(issuer: str, mcp_url: str, credential: Tuple[str, str]):
    auth = AuthProvider(
        zone_url=issuer,  # the zone's issuer, e.g. http://127.0.0.1:8080/z/<zone id>
        mcp_server_name="Invoices MCP server",
        audience=mcp_url,  # accept only tokens issued for this MCP server
        application_credential=ClientSecret(credential),  # authenticates @grant's token exchanges
    )
    mcp = MCPServer("invoices", log_level="WARNING")

    @mcp.tool()
    async def whoami(ctx: Context) -> dict:
        """The caller, as the verified token names it."""
        caller = ctx.request_context.request.user
        return {"sub": caller.sub, "client_id": caller.client_id}

    @mcp.tool()
    @auth.grant(API, request_scopes="invoices:read")
    async def list_invoices(access_ctx: AccessContext, ctx: Context) -> dict:
        """Calls the invoices API for the caller, with a token the zone issued for that API."""
        if access_ctx.has_errors():
            return {"errors": access_ctx.get_errors()}
        token = access_ctx.access(API).access_token
        # A real tool calls the API here, with `Authorization: Bearer <token>`. This one shows what it would send.
        claims = get_claims(token)
        return {"aud": claims["aud"], "sub": claims["sub"], "act": claims["act"], "scope": claims["scope"]}

    return auth.app(mcp)


def agent_token(issuer: str, credential: Tuple[str, str], resource: str) -> str:
    with Client(issuer, auth=BasicAuth(*credential)) as oauth:
        return oauth.client_credentials_grant(resource=resource).access_token


async def call_tools(mcp_url: str, token: str) -> dict:
    results = {}
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with streamable_http_client(mcp_url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                for name in ("whoami", "list_invoices"):
                    result = await session.call_tool(name, {})
                    results[name] = json.loads(result.content[0].text)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description="Protect an MCP server with Keyzone (docs/guide-mcp-server.md).")
    parser.add_argument("--check", action="store_true", help="call the tools once as an agent, then exit")
    args = parser.parse_args()
    port = int(os.environ.get("MCP_PORT", "8000"))
    mcp_url = f"http://127.0.0.1:{port}/mcp"

    api = KeycardAPI(
        base_url=os.environ.get("KEYZONE_SERVER", "http://127.0.0.1:8080"), api_key=os.environ["KEYZONE_API_KEY"]
    )
    setup = set_up_zone(api, mcp_url)
    app = build_server(setup.issuer, mcp_url, setup.server_credential)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))

    if not args.check:
        client_id, client_secret = setup.agent_credential
        print(f"MCP server at {mcp_url}, protected by the zone {setup.issuer}")
        print(f"The agent's credential (a demo: keep real ones secret): {client_id} {client_secret}")
        try:
            server.run()
        except KeyboardInterrupt:  # Ctrl-C: uvicorn has shut down, and re-raises the interrupt
            pass
        return 0

    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            print(f"the MCP server did not start on 127.0.0.1:{port}", file=sys.stderr)
            return 1
        time.sleep(0.05)
    try:
        token = agent_token(setup.issuer, setup.agent_credential, mcp_url)
        results = asyncio.run(call_tools(mcp_url, token))
    finally:
        server.should_exit = True
        thread.join(timeout=10)

    print(json.dumps(results, indent=2))
    invoices = results["list_invoices"]
    ok = (
        results["whoami"]["sub"] == setup.agent_id
        and "errors" not in invoices
        and invoices["aud"] == API
        and invoices["sub"] == setup.agent_id  # still the agent...
        and "sub" in invoices["act"]  # ...with the MCP server acting for it
    )
    print("ok" if ok else "FAILED", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
