"""The MCP tools: thin wrappers over `api.Agtrace`, one per question an agent asks about its history.

Each tool returns its pydantic view as structuredContent and the same data as compact JSON text (some
clients pass only one of the two to the model). Expected failures become tool errors (`isError`) whose
message says what to call instead. The docstrings are what the agent reads: they say when to call a tool
and what to call next.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import anyio.from_thread
import orjson
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, BeforeValidator, Field

from ..api import Agtrace
from ..redact import mask
from ..errors import AgtraceError
from ..views import SessionAnalysis, UsageReport
from ..views import (
    CurrentSession, FailureList, ProjectList, SearchResults, SecretFindings, SessionDetail, SessionList, ToolOutput, TurnDetail,
)

V = TypeVar("V", bound=BaseModel)
PROGRESS_EVERY_S = 0.5
log = logging.getLogger("agtrace_mcp.tools")

ProviderName = Literal["claude_code", "codex", "gemini_cli", "antigravity", "copilot_cli", "opencode"]
ErrorKindName = Literal["tool_error", "exit_code", "interrupted", "denied", "timeout"]
SearchKind = Literal["prompt", "message", "reasoning", "tool_call", "tool_output"]

def _as_text(v: Any) -> Any:
    """Clients (and the Inspector CLI) send an all-digit id prefix as a number: accept it as text."""
    return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


SessionId = Annotated[str, BeforeValidator(_as_text),
                      Field(description="Full session id or a unique prefix of at least 6 characters")]
OptSessionId = Annotated[str | None, BeforeValidator(_as_text),
                         Field(description="Only this session (full id or unique prefix)")]
Project = Annotated[str | None, Field(description="Absolute project path; matches sessions in it and below it")]
Provider = Annotated[ProviderName | None, Field(description="Only this agent's sessions")]
Since = Annotated[str | None, Field(description="ISO date/datetime (2026-11-01, 2026-11-01T10:00Z) or a span "
                                                "back from now: 30m, 6h, 2d, 1w")]
Until = Annotated[str | None, Field(description="ISO date/datetime or span; only activity up to then")]
Limit = Annotated[int, Field(ge=1, le=200, description="Page size")]
Cursor = Annotated[str | None, Field(description="`next_cursor` from the previous page (same other arguments)")]


def _ro(title: str) -> ToolAnnotations:
    return ToolAnnotations(title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                           open_world_hint=False)


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
    return fn.__self__  # type: ignore[attr-defined,no-any-return]


def register_tools(mcp: MCPServer, api: Agtrace) -> None:
    @mcp.tool(annotations=_ro("List sessions"))
    def list_sessions(ctx: Context, project: Project = None, provider: Provider = None, since: Since = None, until: Until = None,
                      query: Annotated[str | None, Field(description="Text to find in session titles")] = None,
                      has_failures: Annotated[bool | None, Field(description="true: only sessions with failed tool calls")] = None,
                      include_subagents: Annotated[bool, Field(description="Also list subagent sessions")] = False,
                      limit: Limit = 20, cursor: Cursor = None) -> Annotated[CallToolResult, SessionList]:
        """List recorded coding-agent sessions (Claude Code, Codex, Gemini CLI, …), newest activity first.

        Call this first to find a session id ("what did I do yesterday in this repo?"). Filter by `project`
        (your working directory) to see only this project's history. Next: `get_session` for one session's
        outline, or `current_session` to find the session you are in right now.
        """
        return _call(ctx, api.list_sessions, project=project, provider=provider, since=since, until=until, query=query,
                     has_failures=has_failures, include_subagents=include_subagents, limit=limit, cursor=cursor)

    @mcp.tool(annotations=_ro("Session outline"))
    def get_session(ctx: Context, session_id: SessionId, cursor: Cursor = None,
                    limit: Annotated[int, Field(ge=1, le=200, description="Turns per page")] = 50
                    ) -> Annotated[CallToolResult, SessionDetail]:
        """One session: metadata, token and tool stats, subagents, and an outline of its turns.

        Each turn in the outline has a prompt snippet, its step count, the tools it used with ok/failed
        counts, and a snippet of the final answer. Next: `get_turn(session_id, turn_index)` to read a turn in
        full, or `find_failed_tools(session_id=…)` for its failures.
        """
        return _call(ctx, api.get_session, session_id, cursor=cursor, turn_limit=limit)

    @mcp.tool(annotations=_ro("Read a turn"))
    def get_turn(ctx: Context, session_id: SessionId,
                 turn_index: Annotated[int, Field(description="0-based turn index; negative counts from the end "
                                                              "(-1 = the latest turn)")],
                 cursor: Cursor = None) -> Annotated[CallToolResult, TurnDetail]:
        """One turn in full: the user's prompt, then every model step with its reasoning, message, tool calls
        (arguments, outputs, failures with error kind and exit code) and token usage.

        Use `turn_index=-1` for the latest turn (e.g. of your own current session). Long outputs are cut head
        and tail; call `get_tool_output(session_id, call_id)` for the full text of one.
        """
        return _call(ctx, api.get_turn, session_id, turn_index, cursor=cursor)

    @mcp.tool(annotations=_ro("Find failed tool calls"))
    def find_failed_tools(ctx: Context, session_id: OptSessionId = None,
                          project: Project = None, provider: Provider = None,
                          tool: Annotated[str | None, Field(description="Only this tool name, e.g. Bash, shell_command")] = None,
                          kind: Annotated[ErrorKindName | None, Field(description="Only this kind of failure")] = None,
                          since: Since = None, limit: Limit = 20,
                          cursor: Cursor = None,
                          group_by: Annotated[Literal["tool", "error_kind", "error", "project"] | None, Field(
                              description="Group the failures instead of listing them: by tool, error kind, "
                                          "normalised error message, or project")] = None
                          ) -> Annotated[CallToolResult, FailureList]:
        """Failed tool executions, newest first: which calls failed and why.

        Each failure has its session/turn/step coordinates, the tool, an arguments preview, the error kind
        (tool_error, exit_code, interrupted, denied, timeout), the exit code when known and an error excerpt.
        Use it to avoid repeating what failed before. With `group_by` ("what usually fails in this project?")
        the answer is `groups` instead: counts, first/last seen and example coordinates per tool, error kind,
        normalised error message (numbers, ids, paths, quoted strings, times replaced) or project.
        Next: `get_turn` at the coordinates for the context, or `get_tool_output` for the full error output.
        """
        return _call(ctx, api.find_failed_tools, session_id=session_id, project=project, provider=provider, tool=tool,
                     kind=kind, since=since, limit=limit, cursor=cursor, group_by=group_by)

    @mcp.tool(annotations=_ro("Search history"))
    def search_history(ctx: Context, query: Annotated[str, Field(description="Words that must all appear; end a word with * "
                                                               "for a prefix")],
                       session_id: OptSessionId = None,
                       project: Project = None, provider: Provider = None,
                       kind: Annotated[list[SearchKind] | None, Field(description="Only these kinds of text")] = None,
                       since: Since = None, until: Until = None, limit: Limit = 20,
                       cursor: Cursor = None) -> Annotated[CallToolResult, SearchResults]:
        """Full-text search over past prompts, assistant messages, reasoning, tool calls and tool outputs.

        "What did I try last time for this error?" Each hit has a snippet and its session/turn/step
        coordinates. Next: `get_turn(session_id, turn_index)` to read a hit in context.
        """
        return _call(ctx, api.search_history, query, session_id=session_id, project=project, provider=provider,
                     kind=kind, since=since, until=until, limit=limit, cursor=cursor)

    @mcp.tool(annotations=_ro("List projects"))
    def list_projects(ctx: Context, limit: Annotated[int, Field(ge=1, le=200)] = 50,
                      cursor: Cursor = None) -> Annotated[CallToolResult, ProjectList]:
        """Project directories that have recorded sessions, with counts and last activity.

        Next: `list_sessions(project=…)`.
        """
        return _call(ctx, api.list_projects, limit=limit, cursor=cursor)

    @mcp.tool(annotations=_ro("Read a full tool output"))
    def get_tool_output(ctx: Context, session_id: SessionId,
                        call_id: Annotated[str, BeforeValidator(_as_text),
                                           Field(description="The tool call's call_id (from get_turn)")],
                        field: Annotated[Literal["output", "args"], Field(description="The output, or the call's "
                                                                                      "arguments")] = "output",
                        offset: Annotated[int, Field(ge=0, description="Character offset to start at")] = 0,
                        limit: Annotated[int, Field(ge=1, le=60000, description="Characters to return")] = 20000
                        ) -> Annotated[CallToolResult, ToolOutput]:
        """The full text of one tool output (or its arguments), paged by character offset: the rest of anything
        that `get_turn` cut. Pass `next_offset` back as `offset` until it is null.
        """
        return _call(ctx, api.get_tool_output, session_id, call_id, field=field, offset=offset, limit=limit)

    @mcp.tool(annotations=_ro("Which session am I?"))
    def current_session(ctx: Context, project: Annotated[str, Field(description="Your working directory (absolute path)")],
                        provider: Provider = None) -> Annotated[CallToolResult, CurrentSession]:
        """The newest session of a project directory (optionally of one agent): usually the session you are in.

        Call it with your working directory to inspect your own work so far. Next: `get_turn(session_id, -1)`
        for your latest turn, or `find_failed_tools(session_id=…)`.
        """
        return _call(ctx, api.current_session, project, provider)

    @mcp.tool(annotations=_ro("Find leaked credentials"))
    def secret_findings(ctx: Context, session_id: OptSessionId = None, project: Project = None, limit: Limit = 50,
                        cursor: Cursor = None) -> Annotated[CallToolResult, SecretFindings]:
        """Where credentials (API keys, tokens, private keys, passwords) appear in the recorded history, so the
        user can rotate them: type, a fingerprint (type + last 4 characters), how often, in which sessions and
        where (prompt, tool output, …). Values are never returned, here or by any other tool.
        """
        return _call(ctx, api.secret_findings, session_id=session_id, project=project, limit=limit, cursor=cursor)

    @mcp.tool(annotations=_ro("Am I stuck? Analyze a session"))
    def analyze_session(
            ctx: Context,
            session_id: SessionId,
            repeat_min: Annotated[int | None, Field(ge=2, le=1000, description="repeated_call: identical calls "
                                                                                "needed (default 3)")] = None,
            cycle_min_rounds: Annotated[int | None, Field(ge=2, le=100, description="cycle: times each call of the "
                                                                                    "set recurs (default 2)")] = None,
            cycle_max_distinct: Annotated[int | None, Field(ge=3, le=20, description="cycle: most distinct calls in "
                                                                                     "the set (default 8)")] = None,
            retry_min: Annotated[int | None, Field(ge=2, le=1000, description="retry_storm: failures of the same "
                                                                              "attempt (default 3)")] = None,
            retry_similarity: Annotated[float | None, Field(ge=0, le=1, description="retry_storm: argument "
                                                                                     "similarity 0..1 (default 0.8)")] = None,
            no_progress_min: Annotated[int | None, Field(ge=3, le=100000, description="no_progress: reads/searches "
                                                                                      "in a row (default 20)")] = None,
            slow_factor: Annotated[float | None, Field(ge=1, le=1000, description="slow_tool: × the tool's median "
                                                                                  "(default 5)")] = None,
            slow_abs_seconds: Annotated[float | None, Field(ge=1, le=864000, description="slow_tool: reported "
                                                                                         "outright above (default 120)")] = None,
            max_per_kind: Annotated[int | None, Field(ge=1, le=200, description="findings listed per kind "
                                                                                "(default 10)")] = None,
    ) -> Annotated[CallToolResult, SessionAnalysis]:
        """Am I stuck? Why did this go wrong? Precise, located findings about one session's behaviour.

        Kinds: retry_storm (a failing call retried 3+ times with the same or similar arguments, or the same
        file re-edited with any edit tool; says whether it ever succeeded), repeated_call (the same tool with
        the same normalised arguments 3+ times with no file change in between; whitespace, key order and
        description/timeout keys ignored; polling like BashOutput is not counted), cycle (3–8 distinct calls
        repeated in varying order, each 2+ times, with no file written), edit_pingpong (a file edited A→B then
        back B→A), no_progress (20+ reads/searches in a row in one turn with no write, command or answer),
        denied_call (refused by the user or sandbox; and whether it was tried again), interrupted_turn, and
        slow_tool (5× the tool's median and ≥ its p95 in this session, ≥ 5 timed calls and ≥ 10 s; or over
        120 s outright; durations include waits for approval). Each finding has a severity
        (info|warning|critical), its turn/step range, the call ids involved and a one-line explanation. A
        clean session has none. Use your own session id (`current_session`) to check yourself. Next:
        `get_turn(session_id, start_turn)` to read a finding, `get_tool_output` for a call's full output.
        """
        return _call(ctx, api.analyze_session, session_id, repeat_min=repeat_min, cycle_min_rounds=cycle_min_rounds,
                     cycle_max_distinct=cycle_max_distinct, retry_min=retry_min, retry_similarity=retry_similarity,
                     no_progress_min=no_progress_min, slow_factor=slow_factor, slow_abs_seconds=slow_abs_seconds,
                     max_per_kind=max_per_kind)

    @mcp.tool(annotations=_ro("Token and context usage"))
    def get_usage(ctx: Context, session_id: Annotated[str | None, BeforeValidator(_as_text),
                                        Field(description="One session (full id or prefix); leave out for a range "
                                                          "over project/provider/since/until")] = None,
                  turn: Annotated[int | None, Field(description="With session_id: one turn (negative counts from "
                                                                "the end)")] = None,
                  project: Project = None, provider: Provider = None, since: Since = None, until: Until = None,
                  limit: Annotated[int, Field(ge=1, le=200, description="Rows per page (turns or sessions)")] = 50,
                  cursor: Cursor = None) -> Annotated[CallToolResult, UsageReport]:
        """Tokens and context-window use: how full is my context, what did this cost, what fills it?

        For a session: input, cache read/write, output and reasoning tokens, cache hit rate, tokens per model,
        peak and current context against the model's window (the window the agent recorded, else a table of
        known models), each compaction with the context before/after, the largest tool outputs still in
        context (since the last compaction), subagent totals rolled up, and per-turn rows. With `turn`: that
        turn with per-step rows. Without session_id: totals and per-session rows over a project and/or time
        range. Next: `analyze_session` for loops and retries, `get_turn` for a heavy turn.
        """
        return _call(ctx, api.get_usage, session_id, turn=turn, project=project, provider=provider, since=since,
                     until=until, limit=limit, cursor=cursor)
