"""Prompts: ready-made requests a user can pick in their client."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from ..arguments import check_text
from ..errors import BadArgumentError


def _check(session_id: str) -> None:
    """A bad argument is an error that says what to send, not a failed rendering."""
    try:
        check_text("session_id", session_id)
    except BadArgumentError as e:
        raise MCPError(INVALID_PARAMS, str(e)) from None


def register_prompts(mcp: MCPServer) -> None:
    @mcp.prompt(title="Review a session's failures")
    def review_failures(session_id: str) -> str:
        """Review every failed tool call of a session and explain the root causes."""
        _check(session_id)
        return (f"Call find_failed_tools with session_id={session_id!r} (page through next_cursor until it is null). "
                "For each failure, open its turn with get_turn(session_id, turn_index) to see what the agent was "
                "trying to do, and get_text(session_id, field='output', call_id=…) when the error line is not enough. "
                "Then group the failures by root cause (wrong command, missing dependency, denied permission, "
                "flaky test, interrupted by the user, …) and, for each cause, say what to do differently next time.")

    @mcp.prompt(title="Hand-off summary of a session")
    def handoff_summary(session_id: str) -> str:
        """Summarise a session so another agent (or a person) can pick up the work."""
        _check(session_id)
        return (f"Call get_session with session_id={session_id!r} and read its turn outline; read the last turns "
                "in full with get_turn(session_id, -1), get_turn(session_id, -2), … until you understand the "
                "current state. Also call find_failed_tools(session_id=…) for what went wrong. Then write a "
                "hand-off note: the goal, what was done (files changed, commands run), what is verified, what "
                "failed and why, open questions, and the next concrete steps.")
