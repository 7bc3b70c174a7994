"""The MCP surface: tools, resources and prompts over the Python API, served over stdio or HTTP."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import Tool as MCPTool
from pydantic import ValidationError

from .. import __version__
from ..api import Agtrace
from ..providers import REGISTRY
from .prompts import register_prompts
from .resources import register_resources
from .schemas import argument_error, compact_input, compact_output, unknown_arguments
from .tools import register_tools

INSTRUCTIONS = """\
Read-only access to the session history that coding agents ({labels}) write on this machine, including your
own current session.

Typical order:
1. current_session(project=<your working directory>) tells which session you are in; list_sessions(project=…)
   lists past ones.
2. get_session(session_id) gives stats and one line per turn; get_turn(session_id, turn_index) reads a turn
   (turn_index=-1 is the latest): a long one as an outline, detail="full" for every field.
3. find_failed_tools(session_id=… or project=…) answers "what failed and why"; search_history(query) "what did I
   try before"; analyze_session(session_id) "am I stuck?". All give turn/step coordinates for get_turn.
4. get_text(...) returns anything that was cut, whole: every cut names the call.
Arguments: session_id is a full id or a unique prefix of 6+ characters; project is an absolute path (~ allowed)
and covers the folders below it; provider is {providers}; since/until take an ISO date or time
(2026-11-01, 2026-11-01T10:00Z) or a span back from now (30m, 6h, 2d, 1w); limit is a page size (1-200);
pass next_cursor back as cursor for the next page; machine/user narrow a team database to one machine or user.
Secrets in the logs are masked in every answer."""


def instructions() -> str:
    """The server's instructions, naming the agents the registry knows (plugins' too)."""
    names = [f"{n} ({p.short})" if p.short != n else n for n, p in REGISTRY.items()]
    providers = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)
    labels = ", ".join(p.label or n for n, p in REGISTRY.items())
    return INSTRUCTIONS.format(labels=labels, providers=providers)


class AgtraceServer(MCPServer):
    """MCPServer with compact tool definitions and argument errors in this project's words."""

    _listed: list[MCPTool] | None = None

    async def list_tools(self) -> list[MCPTool]:
        if self._listed is None:  # the tools never change after start-up
            self._listed = [t.model_copy(update={"input_schema": compact_input(t.input_schema),
                                                 "output_schema": compact_output(t.output_schema)})
                            for t in await super().list_tools()]
        return self._listed

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            unknown = unknown_arguments(name, arguments or {}, tool.parameters)
            if unknown:
                raise ToolError(unknown)
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise
        except ToolError as e:
            cause = e.__cause__
            if isinstance(cause, ValidationError):
                raise ToolError(argument_error(name, cause, tool.parameters if tool else None)) from cause
            prefix = f"Error executing tool {name}: "
            msg = str(e)
            if msg.startswith(prefix):  # the SDK's wrapping adds nothing the message does not say
                raise ToolError(msg[len(prefix):]) from cause
            raise


TEAM_INSTRUCTIONS = """
This server answers from a team database: the sessions of many machines (pushed with `agtrace-mcp push`).
Each session says where it ran (machine, user); list_sessions, find_failed_tools, search_history, get_usage
and list_projects take machine= and user= filters. Whole long texts stay on their machine: get_text returns what
was pushed (texts up to 16 KB, the head and tail of long outputs), with complete=false when it was cut."""


def build_server(api: Agtrace) -> MCPServer:
    mcp: MCPServer = AgtraceServer("agtrace", title="agtrace: coding-agent session history", version=__version__,
                               instructions=instructions() + (TEAM_INSTRUCTIONS if api.team else ""),
                               log_level="WARNING",
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


__all__ = ["build_server", "serve", "instructions", "AgtraceServer"]
