"""Resources mirror the two reading tools, for clients that browse resources rather than call tools."""

from __future__ import annotations

import orjson
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from ..api import Agtrace
from ..errors import AgtraceError


def register_resources(mcp: MCPServer, api: Agtrace) -> None:
    @mcp.resource("agtrace://session/{session_id}", name="session", mime_type="application/json",
                  description="One session: metadata, stats and the outline of its first turns (as get_session)")
    def session_resource(session_id: str) -> str:
        try:
            return orjson.dumps(api.get_session(session_id).model_dump(mode="json")).decode()
        except AgtraceError as e:
            raise ResourceNotFoundError(str(e)) from None

    @mcp.resource("agtrace://session/{session_id}/turn/{turn_index}", name="turn", mime_type="application/json",
                  description="One turn in full (as get_turn); turn_index may be negative (-1 = latest)")
    def turn_resource(session_id: str, turn_index: str) -> str:
        try:
            idx = int(turn_index)
        except ValueError:
            raise ResourceNotFoundError(f"turn index must be an integer, not {turn_index!r}") from None
        try:
            return orjson.dumps(api.get_turn(session_id, idx).model_dump(mode="json")).decode()
        except AgtraceError as e:
            raise ResourceNotFoundError(str(e)) from None
