"""The MCP tools: thin wrappers over `api.Agtrace`, one per question an agent asks about its history.

Each tool returns its pydantic view as structuredContent and the same data as compact JSON text (some
clients pass only one of the two to the model). Expected failures become tool errors (`isError`) whose
message says what to call instead.

The agent pays for the tool definitions on every request, so they are kept small (`schemas.py` measures and
compacts them; a test holds the model-facing part under 6,000 chars): a description says when to call the tool
and what to call next, an argument has a description only when its name does not say enough, and what every
tool shares (ids, times, paths, paging) is said once, in the server's instructions. Arguments are checked by
the API, which words every error in this project's terms.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import unquote, urlparse

import anyio.from_thread
import anyio.to_thread
import orjson
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, BeforeValidator, Field

from ..api import Agtrace
from ..errors import AgtraceError
from ..redact import mask
from ..views import (
    CurrentSession,
    FailureList,
    ProjectList,
    SearchResults,
    SecretFindings,
    SessionAnalysis,
    SessionDetail,
    SessionList,
    TextPage,
    TurnDetail,
    UsageReport,
)

V = TypeVar("V", bound=BaseModel)
PROGRESS_EVERY_S = 0.5
log = logging.getLogger("agtrace_mcp.tools")


def _as_text(v: Any) -> Any:
    """Clients (and the Inspector CLI) send an all-digit id prefix as a number: accept it as text."""
    return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


# Arguments every tool shares are explained once, in the server's instructions.
SessionId = Annotated[str, BeforeValidator(_as_text)]
OptSessionId = Annotated[str | None, BeforeValidator(_as_text)]
Project = str | None
Provider = str | None  # a name or an alias (claude, gemini, copilot): checked by the API
Since = str | None
Until = str | None
Limit = int
Cursor = str | None
TurnIndex = Annotated[int, Field(description="Negative counts from the end (-1: latest)")]
Threshold = int | None
Fraction = float | None
Machine = str | None  # a team database's: only sessions that ran there, or of this user
User = str | None


def _ro(title: str) -> ToolAnnotations:
    return ToolAnnotations(title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                           open_world_hint=False)


def _tool(mcp: MCPServer, title: str) -> Callable[[Callable[..., Any]], Any]:
    """Register a read-only tool; its docstring, on one line, is the description the agent reads."""
    def register(fn: Callable[..., Any]) -> Any:
        return mcp.tool(annotations=_ro(title), description=" ".join((fn.__doc__ or "").split()))(fn)
    return register


def _result(view: BaseModel) -> CallToolResult:
    data = view.model_dump(mode="json")
    return CallToolResult(content=[TextContent(type="text", text=orjson.dumps(data).decode())],
                          structured_content=data)


def _call(ctx: Context, fn: Callable[..., V], *args: Any, **kwargs: Any) -> CallToolResult:
    """Run one API call in this worker thread; while it waits for the index, the client gets progress
    notifications (when it sent a progress token: otherwise they cost nothing)."""
    last = [0.0]

    def progress(done: int, total: int, _path: str) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_S and done < total:
            return
        last[0] = now
        try:
            anyio.from_thread.run(ctx.report_progress, float(done), float(total) or None,
                                  f"indexing the agents' logs: {done / 1e6:.0f} of {total / 1e6:.0f} MB read")
        except Exception:  # the client went away, or no event loop to report to: the answer still comes
            pass

    try:
        with api_of(fn).reporting(progress):
            return _result(fn(*args, **kwargs))
    except AgtraceError as e:
        raise ToolError(str(e)) from None
    except Exception as e:  # a bug: still one line for the agent and one for the log, never a traceback
        msg = mask(str(e))[:300]
        log.warning("%s failed: %s: %s", getattr(fn, "__name__", "tool"), type(e).__name__, msg)
        raise ToolError(f"{getattr(fn, '__name__', 'the tool')} failed ({type(e).__name__}: {msg}); this is a "
                        "bug in agtrace-mcp: try other arguments, and please report it") from None


def api_of(fn: Callable[..., Any]) -> Agtrace:
    """The API a bound method of it belongs to (every tool calls one)."""
    owner = getattr(fn, "__self__", None)
    if not isinstance(owner, Agtrace):
        raise TypeError(f"{fn!r} is not a method of the API")
    return owner


async def client_root(ctx: Context) -> str | None:
    """The first local folder among the client's MCP roots (its workspace), when it declared any."""
    try:
        caps = ctx.client_capabilities
        if caps is None or getattr(caps, "roots", None) is None:
            return None
        with warnings.catch_warnings():  # roots are deprecated in the 2026-07-28 era; older clients still send them
            warnings.simplefilter("ignore")
            with anyio.fail_after(5):
                result = await ctx.session.list_roots()
    except Exception:  # no back-channel, a client that refuses or is slow: answer without roots
        return None
    for root in result.roots:
        uri = urlparse(str(root.uri))
        if uri.scheme == "file" and uri.path:
            return unquote(uri.path)
    return None


def register_tools(mcp: MCPServer, api: Agtrace) -> None:
    @_tool(mcp, "List sessions")
    def list_sessions(ctx: Context, project: Project = None, provider: Provider = None, since: Since = None,
                      until: Until = None,
                      query: Annotated[str | None, Field(description="Text in the session title")] = None,
                      has_failures: bool | None = None, include_subagents: bool = False,
                      limit: Limit = 20, cursor: Cursor = None, machine: Machine = None,
                      user: User = None) -> Annotated[CallToolResult, SessionList]:
        """Past sessions of coding agents, newest first: find a session id ("what did I do yesterday here?").
        Next: get_session."""
        return _call(ctx, api.list_sessions, project=project, provider=provider, since=since, until=until, query=query,
                     has_failures=has_failures, include_subagents=include_subagents, limit=limit, cursor=cursor,
                     machine=machine, user=user)

    @_tool(mcp, "Which session am I?")
    async def current_session(ctx: Context, project: Project = None,
                              provider: Provider = None) -> Annotated[CallToolResult, CurrentSession]:
        """The newest session in your project (your working directory; the client's roots when left out), with
        its latest turn: usually your own session. Next: get_turn(session_id, -1)."""
        if not project:
            project = await client_root(ctx)
        return await anyio.to_thread.run_sync(lambda: _call(ctx, api.current_session, project, provider))

    @_tool(mcp, "Session outline")
    def get_session(ctx: Context, session_id: SessionId, cursor: Cursor = None,
                    limit: Limit = 50) -> Annotated[CallToolResult, SessionDetail]:
        """A session's stats, subagents and one line per turn (status, tools ok/failed/missing, final answer).
        Next: get_turn."""
        return _call(ctx, api.get_session, session_id, cursor=cursor, turn_limit=limit)

    @_tool(mcp, "Read a turn")
    def get_turn(ctx: Context, session_id: SessionId, turn_index: TurnIndex,
                 detail: Annotated[Literal["outline", "full"] | None,
                                   Field(description="Default: outline over 30 steps")] = None,
                 cursor: Cursor = None) -> Annotated[CallToolResult, TurnDetail]:
        """One turn: status, full prompt, messages typed mid-turn, final answer, and its steps as an outline (a
        line per step: tool, target, status, exit code, duration, error) or in full. Next: the get_text call a cut
        names."""
        return _call(ctx, api.get_turn, session_id, turn_index, detail=detail, cursor=cursor)

    @_tool(mcp, "Read a text in full")
    def get_text(ctx: Context, session_id: SessionId,
                 field: Literal["prompt", "final_answer", "interjection", "message", "reasoning", "args", "output"],
                 turn_index: int | None = None,
                 step_index: Annotated[int | None, Field(description="Of message/reasoning; interjection: its "
                                                                     "number")] = None,
                 call_id: Annotated[str | None, BeforeValidator(_as_text),
                                    Field(description="Of args/output")] = None,
                 offset: int = 0) -> Annotated[CallToolResult, TextPage]:
        """Any prompt, answer, message, reasoning, tool argument or output in full, paged: the rest of what an
        answer cut. Pass next_offset back as offset."""
        return _call(ctx, api.get_text, session_id, turn_index, field, step_index=step_index, call_id=call_id,
                     offset=offset)

    @_tool(mcp, "Find failed tool calls")
    def find_failed_tools(ctx: Context, session_id: OptSessionId = None, project: Project = None,
                          provider: Provider = None, tool: str | None = None,
                          kind: Literal["tool_error", "exit_code", "interrupted", "denied", "timeout"] | None = None,
                          since: Since = None, until: Until = None,
                          group_by: Literal["tool", "error_kind", "error", "project"] | None = None,
                          limit: Limit = 20, cursor: Cursor = None, machine: Machine = None,
                          user: User = None) -> Annotated[CallToolResult, FailureList]:
        """Failed tool calls, newest first: what failed and why (error kind, exit code, the telling error line,
        the command a poll waited on). group_by: what usually fails. Next: get_turn, get_text(field=output)."""
        return _call(ctx, api.find_failed_tools, session_id=session_id, project=project, provider=provider, tool=tool,
                     kind=kind, since=since, until=until, limit=limit, cursor=cursor, group_by=group_by,
                     machine=machine, user=user)

    @_tool(mcp, "Search history")
    def search_history(ctx: Context,
                       query: Annotated[str, Field(description='All words must appear; "exact phrase", prefix*, '
                                                               "AND/OR/NOT")],
                       session_id: OptSessionId = None, project: Project = None, provider: Provider = None,
                       kind: list[Literal["prompt", "message", "reasoning", "tool_call", "tool_output"]] | None = None,
                       since: Since = None, until: Until = None,
                       sort: Literal["newest", "relevance"] = "newest",
                       limit: Limit = 20, cursor: Cursor = None, machine: Machine = None,
                       user: User = None) -> Annotated[CallToolResult, SearchResults]:
        """Search past prompts, messages, reasoning, tool calls and outputs ("what did I try last time?").
        Next: get_turn at a hit."""
        return _call(ctx, api.search_history, query, session_id=session_id, project=project, provider=provider,
                     kind=kind, since=since, until=until, sort=sort, limit=limit, cursor=cursor,
                     machine=machine, user=user)

    @_tool(mcp, "Am I stuck? Analyze a session")
    def analyze_session(ctx: Context, session_id: SessionId, repeat_min: Threshold = None,
                        cycle_min_rounds: Threshold = None, cycle_min_calls: Threshold = None,
                        cycle_max_distinct: Threshold = None, retry_min: Threshold = None,
                        retry_similarity: Fraction = None, retry_window: Threshold = None,
                        no_progress_min: Threshold = None, slow_factor: Fraction = None,
                        slow_min_count: Threshold = None, slow_min_seconds: Fraction = None,
                        slow_abs_seconds: Fraction = None,
                        max_per_kind: Threshold = None) -> Annotated[CallToolResult, SessionAnalysis]:
        """Am I stuck? Located findings: retry storms, repeated calls, cycles, edit ping-pong, no progress,
        denied calls, interrupts, user corrections, slow tools. Thresholds optional (the answer lists them). Next:
        get_turn at a finding."""
        return _call(ctx, api.analyze_session, session_id, repeat_min=repeat_min, cycle_min_rounds=cycle_min_rounds,
                     cycle_min_calls=cycle_min_calls, cycle_max_distinct=cycle_max_distinct, retry_min=retry_min,
                     retry_similarity=retry_similarity, retry_window=retry_window, no_progress_min=no_progress_min,
                     slow_factor=slow_factor, slow_min_count=slow_min_count, slow_min_seconds=slow_min_seconds,
                     slow_abs_seconds=slow_abs_seconds, max_per_kind=max_per_kind)

    @_tool(mcp, "Token and context usage")
    def get_usage(ctx: Context, session_id: OptSessionId = None,
                  turn: Annotated[int | None, Field(description="With session_id")] = None,
                  project: Project = None, provider: Provider = None, since: Since = None, until: Until = None,
                  limit: Limit = 50, cursor: Cursor = None, machine: Machine = None,
                  user: User = None) -> Annotated[CallToolResult, UsageReport]:
        """Tokens and context use of a session (per turn), a turn (per step) or, without session_id, a
        range (per session); subagents rolled up. Next: analyze_session."""
        return _call(ctx, api.get_usage, session_id, turn=turn, project=project, provider=provider, since=since,
                     until=until, limit=limit, cursor=cursor, machine=machine, user=user)

    @_tool(mcp, "List projects")
    def list_projects(ctx: Context, limit: Limit = 50, cursor: Cursor = None, machine: Machine = None,
                      user: User = None) -> Annotated[CallToolResult, ProjectList]:
        """Project folders with recorded sessions, newest first. Next: list_sessions(project=…)."""
        return _call(ctx, api.list_projects, limit=limit, cursor=cursor, machine=machine, user=user)

    @_tool(mcp, "Find leaked credentials")
    def secret_findings(ctx: Context, session_id: OptSessionId = None, project: Project = None, limit: Limit = 50,
                        cursor: Cursor = None) -> Annotated[CallToolResult, SecretFindings]:
        """Where credentials appear in the history (type, fingerprint, places), to rotate them. Never returns a
        value."""
        return _call(ctx, api.secret_findings, session_id=session_id, project=project, limit=limit, cursor=cursor)
