"""The MCP surface: tools, resources and prompts over the Python API, served over stdio or HTTP."""

from __future__ import annotations

import argparse
import logging
import sys

from mcp.server.mcpserver import MCPServer

from .. import __version__
from ..api import Agtrace
from .prompts import register_prompts
from .resources import register_resources
from .tools import register_tools

INSTRUCTIONS = """\
Read-only access to the session history that coding agents (Claude Code, Codex CLI, Gemini CLI, Antigravity,
Copilot CLI, OpenCode) write on this machine, including your own current session.

Typical order:
1. current_session(project=<your working directory>) tells which session you are in; list_sessions(project=…)
   lists past ones (filters: provider, since/until, query, has_failures).
2. get_session(session_id) gives stats and an outline of its turns; get_turn(session_id, turn_index) reads one
   turn in full (turn_index=-1 is the latest).
3. find_failed_tools(project=… or session_id=…) answers "what failed and why"; search_history(query) answers
   "what did I try before". Both give session/turn/step coordinates to open with get_turn.
4. get_tool_output(session_id, call_id) returns the full text of anything that was cut.
Ids: a unique prefix of 6+ characters works. Lists are paged: pass next_cursor back as cursor.
Secrets in the logs are masked in every answer."""


def build_server(api: Agtrace) -> MCPServer:
    mcp: MCPServer = MCPServer("agtrace", title="agtrace: coding-agent session history", version=__version__,
                               instructions=INSTRUCTIONS, log_level="WARNING",
                               website_url="https://github.com/agtrace-mcp/agtrace-mcp")
    register_tools(mcp, api)
    register_resources(mcp, api)
    register_prompts(mcp)
    return mcp


def serve(args: argparse.Namespace, api: Agtrace) -> int:
    """Run the server until the client goes away. Only the protocol is ever written to stdout."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="agtrace-mcp %(levelname)s %(name)s: %(message)s")
    try:
        api.store.start_background_refresh()
    except Exception as e:
        # Keep serving: every tool call will answer with this error and what to do about it, which an
        # agent can relay; a server that exits at once only shows as "failed to connect".
        print(f"agtrace-mcp: {e}", file=sys.stderr)
    mcp = build_server(api)
    if args.transport == "stdio":
        import anyio

        from .stdio import run_stdio

        anyio.run(run_stdio, mcp)
        return 0
    from .http import run_http

    return run_http(mcp, host=args.host, port=args.port, token=args.token,
                    allow_hosts=getattr(args, "allow_host", None) or [])


__all__ = ["build_server", "serve", "INSTRUCTIONS"]
