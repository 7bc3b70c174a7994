"""The stdio transport: the SDK's, with one repair before its messages reach the server.

A client line holding the JSON escape of a lone surrogate (`"\\ud800"`) is legal JSON, but the SDK's parser
refuses it and the request is never answered. Such a line is parsed again with each lone escape marked
(jsontext.ARGUMENT_MARK), so the call reaches its tool and the argument checks answer it with an error that
says what to send instead.
"""

from __future__ import annotations

from typing import Any

import anyio
from mcp import types
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from ..jsontext import ARGUMENT_MARK, replace_lone_surrogates


def repair(item: SessionMessage | Exception) -> SessionMessage | Exception:
    """A line the SDK could not parse, parsed again with its lone surrogates marked; anything else as is."""
    if not isinstance(item, ValidationError):
        return item
    try:
        line = item.errors()[0].get("input")
    except (IndexError, AttributeError):
        return item
    if not isinstance(line, str) or "\\u" not in line:
        return item
    fixed = replace_lone_surrogates(line.encode("utf-8", "surrogatepass"), ARGUMENT_MARK)
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(fixed, by_name=False))
    except ValidationError:
        return item


def _streams() -> tuple[Any, Any]:
    try:  # the SDK's context-carrying streams, as its own stdio transport uses
        from mcp.shared._context_streams import create_context_streams

        return create_context_streams[SessionMessage | Exception](0)
    except ImportError:  # pragma: no cover - a later SDK without them
        return anyio.create_memory_object_stream[SessionMessage | Exception](0)


async def run_stdio(mcp: MCPServer) -> None:
    """Serve `mcp` over stdin/stdout until the client goes away (MCPServer.run_stdio_async, plus `repair`)."""
    async with stdio_server() as (read_stream, write_stream):
        send, receive = _streams()

        async def pump() -> None:
            async with send:
                async for item in read_stream:
                    await send.send(repair(item))

        lowlevel = mcp._lowlevel_server  # what MCPServer.run_stdio_async runs, too
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump)
            await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())
            tg.cancel_scope.cancel()
