"""Streamable HTTP transport: loopback by default; any other bind needs a bearer token of 16+ characters.

The server stays up under hostile clients:
- a connection must deliver a whole request within REQUEST_TIMEOUT seconds (slowloris, slow POST bodies),
  and an idle keep-alive connection is closed after KEEP_ALIVE seconds;
- open connections are capped below the process's file-descriptor limit; at the cap a new connection takes
  the place of the oldest one still waiting for its request (one busy being answered is never dropped);
- an error of a kind already logged in the last minute is counted, not logged again: no flood of
  tracebacks on stderr;
- two requests of one session in flight with the same JSON-RPC id each get an answer (the second an error
  naming the id), where the SDK would route both answers to one of them and leave the other waiting;
- a lone surrogate in a request's arguments is answered by the argument checks (see jsontext.py).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import re
import socket
import sys
import time
from typing import Any

import orjson
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from ..jsontext import ARGUMENT_MARK, replace_lone_surrogates

MIN_TOKEN_CHARS = 16
def _seconds(name: str, default: float) -> float:
    try:
        return max(0.1, float(os.environ.get(name, "") or default))
    except ValueError:
        return default


REQUEST_TIMEOUT = _seconds("AGTRACE_MCP_HTTP_REQUEST_TIMEOUT", 10.0)  # to deliver a whole request (headers, body)
KEEP_ALIVE = 5.0  # seconds an idle keep-alive connection stays open
FD_RESERVE = 64  # descriptors kept for the index, the logs being read and the process itself
BODY_PEEK = 4 << 20  # bodies up to this size are read to check their JSON-RPC id (the SDK refuses larger)
LOG_WINDOW = 60.0  # seconds during which an error of one kind is logged once

log = logging.getLogger("agtrace_mcp.http")


class HttpSetupError(Exception):
    """A bad transport setting (port, token, address), explained in one line."""


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- startup checks ----------------------------------------------------------------------------------------


def check_settings(host: str, port: Any, token: str | None) -> int:
    """The port as an int; HttpSetupError when the port or the token cannot be used on this address."""
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise HttpSetupError(f"--port must be a number from 0 to 65535 (0: any free port), not {port!r}")
    if not is_loopback(host):
        if not token:
            raise HttpSetupError(f"refusing to listen on {host}: a non-loopback address needs a bearer token "
                                 "(--token or AGTRACE_MCP_TOKEN)")
        if len(token) < MIN_TOKEN_CHARS:
            raise HttpSetupError(
                f"refusing to listen on {host}: the bearer token has {len(token)} characters, a non-loopback "
                f"address needs at least {MIN_TOKEN_CHARS} (make one with: python3 -c "
                "'import secrets; print(secrets.token_urlsafe(24))')")
    return port


def bind(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket on host:port; HttpSetupError (one line) when it cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        raise HttpSetupError(f"cannot listen on {host}: {getattr(e, 'strerror', None) or e}; pass an address "
                             "of this machine with --host") from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(backlog)
    except OSError as e:
        sock.close()
        why = e.strerror or str(e)
        hint = "pick another --port" if e.errno in (98, 48, 10048) else "check --host and --port"
        raise HttpSetupError(f"cannot listen on {host}:{port}: {why.lower()}; {hint}") from None
    sock.set_inheritable(True)
    return sock


def allowed_hosts(host: str, port: int, extra: list[str]) -> list[str]:
    """Host header values accepted: the bound address and its host names (every local name and address
    when bound to all interfaces), loopback names, and what the user allows (`--allow-host`)."""
    names = {host, "127.0.0.1", "localhost", "[::1]"}
    any_addr = host in ("0.0.0.0", "::", "")
    if not is_loopback(host):
        local = {socket.gethostname(), socket.getfqdn()}
        for name in list(local):
            try:
                addrs = {str(i[4][0]) for i in socket.getaddrinfo(name, None)}
            except (socket.gaierror, UnicodeError):
                addrs = set()
            if any_addr or host in addrs:
                names.add(name)
                if any_addr:
                    names |= addrs
    names |= {h for h in extra if h}
    out = []
    for n in sorted(names):
        n = f"[{n}]" if ":" in n and not n.startswith("[") and n.count(":") > 1 else n
        if re.search(r":\d+$", n) and not n.endswith("]"):
            out.append(n)  # the user named a port
            continue
        out.append(f"{n}:{port}")
        if port == 80:
            out.append(n)
    return out


def fd_limits() -> tuple[int, int]:
    """(connections, listen backlog) that fit under the soft file-descriptor limit with FD_RESERVE to spare."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        soft = 1024
    if soft <= 0 or soft > 65536:  # RLIM_INFINITY or very large: a generous but finite cap
        soft = 65536
    backlog = min(128, max(8, soft // 8))
    return max(8, min(4096, soft - FD_RESERVE - backlog)), backlog


# -- logging: one line per kind of error -------------------------------------------------------------------


class OncePerKind(logging.Filter):
    """Let one record of each kind through per LOG_WINDOW, as one line (a traceback becomes its last line);
    the next one after the window says how many were held back."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[tuple[str, str, str], tuple[float, int]] = {}

    @staticmethod
    def kind(record: logging.LogRecord) -> tuple[str, str, str]:
        msg = record.getMessage()
        head = re.split(r"[:(\[{'\"]| - ", msg, maxsplit=1)[0].strip()[:80]
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        return record.name, head, exc

    def filter(self, record: logging.LogRecord) -> bool:
        key = self.kind(record)
        now = time.monotonic()
        first, held = self.seen.get(key, (0.0, -1))
        if held >= 0 and now - first < LOG_WINDOW:
            self.seen[key] = (first, held + 1)
            return False
        self.seen[key] = (now, 0)
        if record.exc_info and record.exc_info[1] is not None:
            err = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(err).__name__}: {str(err)[:200]})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        if held > 0:
            record.msg = f"{record.getMessage()} [{held} more like this in the last {LOG_WINDOW:.0f}s]"
            record.args = ()
        return True


def quiet_logging() -> None:
    """stderr only, WARNING and up, one line per kind of error (uvicorn's own logging setup is not used)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("agtrace-mcp %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(OncePerKind())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


# -- connections -------------------------------------------------------------------------------------------


class ConnectionGuard:
    """Open connections, oldest first, under a cap."""

    def __init__(self, max_connections: int, request_timeout: float = REQUEST_TIMEOUT) -> None:
        self.max = max_connections
        self.timeout = request_timeout
        self.open: dict[Any, None] = {}  # insertion-ordered: the oldest connection first

    def admit(self, conn: Any) -> bool:
        """Take `conn`, making room by dropping the oldest connection still waiting for its request; False
        when every open connection is busy with an answer."""
        if len(self.open) >= self.max:
            victim = next((c for c in self.open if c.waiting()), None)
            if victim is None:
                return False
            self.open.pop(victim, None)
            log.warning("connection limit (%d) reached: closed the oldest connection waiting for a request",
                        self.max)
            victim.transport.abort()
        self.open[conn] = None
        return True

    def leave(self, conn: Any) -> None:
        self.open.pop(conn, None)


def guarded_protocol(guard: ConnectionGuard) -> type:
    """uvicorn's h11 protocol with request deadlines and the connection cap of `guard`."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._deadline: asyncio.TimerHandle | None = None
            if not guard.admit(self):
                log.warning("connection limit (%d) reached and every connection busy: refused a connection",
                            guard.max)
                transport.abort()
                return
            self._arm()

        def waiting(self) -> bool:
            """Still waiting for (the rest of) a request: idle, in its headers, or in its body."""
            return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(guard.timeout, self._expire)

        def _expire(self) -> None:
            self._deadline = None
            if self.waiting() and not self.transport.is_closing():
                log.warning("closed a connection that sent no whole request within %.0fs", guard.timeout)
                guard.leave(self)
                self.transport.abort()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request on this connection has its own deadline

        def connection_lost(self, exc: Exception | None) -> None:
            guard.leave(self)
            if getattr(self, "_deadline", None) is not None:
                self._deadline.cancel()  # type: ignore[union-attr]
                self._deadline = None
            super().connection_lost(exc)

    return GuardedH11


# -- ASGI middleware ---------------------------------------------------------------------------------------


async def _send_json(send: Any, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


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
                await _send_json(send, 401, b'{"error":"missing or wrong bearer token (Authorization: Bearer '
                                            b'<token>)"}', [(b"www-authenticate", b'Bearer realm="agtrace-mcp"')])
                return
        await self.app(scope, receive, send)


class JsonRpcGuard:
    """ASGI middleware over the JSON-RPC bodies of POST requests:

    - the escape of a lone surrogate (legal JSON, refused by the SDK's parser) is marked so that the call
      reaches its tool and is answered by the argument checks (same length: Content-Length still holds);
    - a request whose id is already in flight in the same MCP session is answered at once with an error
      naming the id, instead of taking over the first request's answer.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.in_flight: set[tuple[bytes, str]] = set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        messages, body, whole = [], b"", True
        while True:
            m = await receive()
            messages.append(m)
            if m["type"] != "http.request":
                whole = False
                break
            body += m.get("body", b"")
            if len(body) > BODY_PEEK:
                whole = False  # the SDK refuses it; pass it on untouched
                break
            if not m.get("more_body"):
                break
        if whole:
            marked = replace_lone_surrogates(body, ARGUMENT_MARK)
            if marked is not body:
                messages = [{"type": "http.request", "body": marked, "more_body": False}]
                body = marked

        async def replay() -> Any:
            return messages.pop(0) if messages else await receive()

        session = dict(scope.get("headers") or []).get(b"mcp-session-id")
        key = None
        if whole and session:  # without a session every request is answered on its own
            try:
                msg = orjson.loads(body)
            except orjson.JSONDecodeError:
                msg = None
            if isinstance(msg, dict) and "method" in msg and msg.get("id") is not None:
                key = (session, str(msg["id"]))  # the SDK keys its answer routes by str(id) too
        if key is None:
            await self.app(scope, replay, send)
            return
        if key in self.in_flight:
            err = {"jsonrpc": "2.0", "id": msg["id"],
                   "error": {"code": -32600, "message": f"request id {key[1]} is already used by a request of this "
                                                        "session that has not been answered yet; send each "
                                                        "request with a new id"}}
            await _send_json(send, 200, orjson.dumps(err))
            return
        self.in_flight.add(key)
        try:
            await self.app(scope, replay, send)
        finally:
            self.in_flight.discard(key)


def build_app(mcp: MCPServer, host: str, port: int, token: str | None, allow_hosts: list[str] | None = None) -> Any:
    """The ASGI app: the SDK's streamable HTTP app behind Host/Origin checks, distinct request ids and (with
    a token) bearer authentication."""
    if "*" in (allow_hosts or []):
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    else:
        allowed = allowed_hosts(host, port, list(allow_hosts or []))
        origins = [f"{scheme}://{h}" for h in allowed for scheme in ("http", "https")]
        security = TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=allowed,
                                             allowed_origins=origins)
    app = JsonRpcGuard(mcp.streamable_http_app(transport_security=security))
    return BearerAuth(app, token) if token else app


def run_http(mcp: MCPServer, *, host: str, port: Any, token: str | None,
             allow_hosts: list[str] | None = None) -> int:
    """Serve until interrupted; prints `listening on http://HOST:PORT/mcp` on stderr once bound. A setting
    that cannot work is one line on stderr and exit code 2 (1 when the address cannot be had)."""
    token = token or os.environ.get("AGTRACE_MCP_TOKEN") or None
    try:
        port = check_settings(host, port, token)
    except HttpSetupError as e:
        print(f"agtrace-mcp: {e}", file=sys.stderr)
        return 2
    import uvicorn

    max_conns, backlog = fd_limits()
    try:
        sock = bind(host, port, backlog)
    except HttpSetupError as e:
        print(f"agtrace-mcp: {e}", file=sys.stderr)
        return 1
    bound = sock.getsockname()[1]
    quiet_logging()
    guard = ConnectionGuard(max_conns)
    app = build_app(mcp, host, bound, token, allow_hosts)
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False,
                            http=guarded_protocol(guard), timeout_keep_alive=int(KEEP_ALIVE), backlog=backlog,
                            lifespan="auto")
    shown = f"[{host}]" if ":" in host else host
    print(f"listening on http://{shown}:{bound}/mcp", file=sys.stderr, flush=True)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
