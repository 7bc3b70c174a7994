"""Streamable HTTP transport: loopback by default; any other bind requires a bearer token."""

from __future__ import annotations

import hmac
import ipaddress
import os
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BearerAuth:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <token>`."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            auth = dict(scope.get("headers") or []).get(b"authorization", b"")
            ok = auth[:7].lower() == b"bearer " and hmac.compare_digest(auth[7:].strip(), self.token)
            if not ok:
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"www-authenticate", b'Bearer realm="agtrace-mcp"')]})
                await send({"type": "http.response.body",
                            "body": b'{"error":"missing or wrong bearer token (Authorization: Bearer <token>)"}'})
                return
        await self.app(scope, receive, send)


def build_app(mcp: MCPServer, host: str, port: int, token: str | None) -> Any:
    allowed = [f"{host}:{port}", f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"]
    security = TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=allowed,
                                         allowed_origins=[f"http://{h}" for h in allowed])
    app = mcp.streamable_http_app(transport_security=security)
    return BearerAuth(app, token) if token else app


def run_http(mcp: MCPServer, *, host: str, port: int, token: str | None) -> int:
    token = token or os.environ.get("AGTRACE_MCP_TOKEN") or None
    if not is_loopback(host) and not token:
        print(f"agtrace-mcp: refusing to listen on {host}: a non-loopback address needs a bearer token "
              "(--token or AGTRACE_MCP_TOKEN)", file=sys.stderr)
        return 2
    import uvicorn

    app = build_app(mcp, host, port, token)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
