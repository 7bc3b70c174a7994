"""GitHub Copilot CLI: `$COPILOT_HOME` or `~/.copilot/`.

Facts: research/log-formats-2.md §5.1, research/log-formats.md §4, the real session in corpus/copilot_cli, and the
Copilot SDK's generated `session-events` schema (read, not copied).

Layouts, newest first:
- `session-state/<sessionId>/events.jsonl` (≥ 1.0, 2026) with sidecars `workspace.yaml` (cwd, branch) and, when
  driven from VS Code, `vscode.metadata.json` (`customTitle`). A folder holding only `workspace.yaml` is a launch
  with no prompt: not a session.
- `session-state/<sessionId>.jsonl` (2025): the same event log, flat.
- `history-session-state/session_*.json` (0.0.x): one JSON document `{sessionId, startTime, chatMessages[],
  timeline[]}`, rewritten whole.

Events are `{type, data, id, timestamp, parentId}`. Many `parentId`s point to ephemeral events that were never
written, so the file order is the order. How they map:
- **Session**: id = the folder (or file) name, else `session.start.data.sessionId`. Project = `context.cwd`
  (`workspace.yaml` fills what the log lacks), branch = `context.branch`, cli_version = `copilotVersion` (the
  literal "unknown" of VS Code-driven sessions is dropped), title = `vscode.metadata.json` `customTitle` (or an
  explicit `session.title_changed`), else the first prompt. `session.resume` continues the same session.
- **Turn** = `user.message`; its text is `content` (what the user typed) without the harness blocks VS Code adds
  (`<reminder>`, `<attachments>`, `<context>`, `<current_datetime>`, `<pr_metadata/>`). Messages the harness
  injected (`source: "skill-…"`, or nothing left after stripping) are not turns.
- **Step** = `assistant.message` (key `messageId`): `reasoningText` (or a preceding `assistant.reasoning`) →
  reasoning, `content` → message, `toolRequests[]` → calls. The step starts at its `assistant.turn_start`
  (the model call began there). `session.error` inside a turn is a failed step of its own (the model call that
  failed), `abort` interrupts the turn.
- **Tools** pair on `toolCallId`: `tool.execution_start` adds a call the message did not list (older builds,
  user-requested tools), `tool.execution_complete` is the result: `success:false` → `is_error`, `error.code`
  `rejected`/`denied` → denied; a shell result's `<exited with exit code N>` trailer (or a `terminal` content
  block's `exitCode`) is the exit code even under `success:true`. MCP tools (`mcpServerName`, or a
  `<server>-<tool>` name outside the built-in set) are kind `mcp`.
- **Subagents**: events carrying `data.parentToolCallId` belong to the subagent that call spawned: a session of
  its own whose id is that tool call id, with `parent_session_id` and a link from the parent's call.
- **Tokens** (decision): `assistant.message.outputTokens` is the only per-response count, so a step's usage is
  `output = outputTokens` with the prompt side (input, cache) left at 0 = unknown. The per-model totals of
  `session.shutdown.modelMetrics` (one per shutdown→resume cycle, each for that cycle) cannot be attributed to
  steps and are not used, so nothing is counted twice; in the real file the outputTokens sum equals the
  shutdown's output total (6391). A persisted `assistant.usage` (ephemeral in current builds) would replace the
  step's usage with the full split (`inputTokens` includes the cached part).
- **Compaction**: `session.compaction_complete` with `success` → `Compact(pre_tokens=preCompactionTokens)`.
  Copilot compacts in the background while the model keeps working, so no turn is started by it.

Incremental: events.jsonl is append-only (a rewind rewrites it shorter, which the index reads again from the
start), the state pickles. The legacy JSON document is rewritten whole: it is parsed from the start and its
returned offset is `_NO_RESUME` so that the index never resumes it from a byte offset.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..engine import events as ev
from ..engine.failures import exit_code_in
from ..engine.shapes import GENERIC
from ..engine.timeutil import norm_ts
from ..engine.tools import tool_kind
from .base import BaseProvider, Emit, KeepIndexed, ParseStats, SourceFile, list_dir
from .files import read_regular
from .jsonl import JsonlReader, as_dict, read_line_at
from .jsonl import loads as jloads

NAME = "copilot_cli"

# An end offset no file reaches: the index resumes a file only from an offset <= its size, so a document that is
# rewritten whole (legacy JSON) is always read again from the start and never resumed mid-way.
_NO_RESUME = 1 << 62
_RECENT = 512  # call ids / names remembered for pairing and kinds (bounded: the state is pickled)

_HARNESS_BLOCKS = re.compile(
    r"<(reminder|attachments|context|current_datetime|system-reminder|system_notification)>.*?</\1>\s*", re.S)
_SELF_CLOSING = re.compile(r"<(?:pr_metadata|user_query)\b[^>]*/?>\s*")
_USER_REQUEST = re.compile(r"<userRequest>(.*?)</userRequest>", re.S)
_SLASH = re.compile(r"^/[A-Za-z][\w:.-]*$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
# the `<exited with exit code N>` trailer of a shell result (the last one counts)
EXIT_CODE = re.compile(r"<exited with exit code (-?\d+)>")
# edit {path, old_str, new_str}, create {path, file_text}
TOOL_SHAPES = GENERIC.extend(old_keys=("old_str",), new_keys=("new_str",), content_keys=("file_text",))
_INTERRUPT_TEXT = re.compile(r"cancel+ed|aborted|interrupted", re.I)

_SHELL_TOOLS = frozenset({"bash", "powershell", "shell", "read_bash", "write_bash", "read_powershell",
                          "write_powershell", "search_bash"})
# Copilot's own tools whose names the shared vocabulary does not know (or knows differently).
_KINDS = {
    "update_todo": "plan", "task": "plan", "report_intent": "plan",
    "read_bash": "read", "read_powershell": "read",
    "write_bash": "execute", "write_powershell": "execute", "stop_bash": "execute", "stop_powershell": "execute",
    "list_bash": "execute", "list_powershell": "execute",
    "search_bash": "search", "semantic_code_search": "search", "search": "search",
    "insert": "write", "undo_edit": "write",
}
_BUILTIN = frozenset({
    "view", "edit", "create", "str_replace_editor", "str_replace", "bash", "powershell", "grep", "rg", "glob",
    "think", "web_fetch", "web_search", "reply_to_comment", "code_review", "report_progress",
    "fetch_copilot_cli_documentation",
    *_KINDS,
})
_DENIED_CODES = frozenset({"rejected", "denied", "permission_denied"})
_INTERRUPT_CODES = frozenset({"aborted", "cancelled", "canceled", "interrupted"})
_INJECTED_SOURCES = ("skill", "system", "hook", "harness")

# Event types read on purpose but not turned into events (counted as skipped, not unknown).
_IGNORED = frozenset({
    "session.compaction_start", "session.info", "session.warning",
    "session.mode_changed", "session.plan_changed", "session.workspace_file_changed", "session.handoff",
    "session.truncation", "session.snapshot_rewind", "session.context_changed",
    "session.remote_steerable_changed", "session.schedule_created", "session.schedule_cancelled",
    "session.autopilot_objective_changed", "session.permissions_changed", "session.custom_notification",
    "session.tools_updated", "session.background_tasks_changed", "session.skills_loaded",
    "session.custom_agents_updated", "session.mcp_servers_loaded", "session.mcp_server_status_changed",
    "session.extensions_loaded", "session.usage_checkpoint", "session.context_cleared",
    "pending_messages.modified", "assistant.intent", "assistant.reasoning_delta", "assistant.streaming_delta",
    "assistant.message_start", "assistant.message_delta", "assistant.turn_retry", "model.call_failure",
    "tool.execution_partial_result", "tool.execution_progress", "skill.invoked", "subagent.completed",
    "subagent.failed", "subagent.selected", "subagent.deselected", "hook.start", "hook.end", "system.message",
    "system.notification", "permission.requested", "permission.completed", "user_input.requested",
    "user_input.completed", "elicitation.requested", "elicitation.completed", "sampling.requested",
    "sampling.completed", "mcp.oauth_required", "mcp.oauth_completed", "external_tool.requested",
    "external_tool.completed", "command.queued", "command.execute", "command.completed",
    "auto_mode_switch.requested", "auto_mode_switch.completed", "commands.changed", "capabilities.changed",
    "exit_plan_mode.requested", "exit_plan_mode.completed", "mcp_app.tool_call_complete",
})


@dataclass
class CopilotState:
    """What a resumed read of one events file needs to know (pickled by the index)."""

    sid: str | None
    folder: str | None  # the session folder holding the sidecars (None for the flat layout)
    cwd: str | None = None
    model: str | None = None  # the selected model (a subagent starts with it)
    in_turn: bool = False  # a prompt has opened a turn
    busy: bool = False  # the agent is working on the turn: a model call is due (tools requested, no answer yet)
    turn_ts: str | None = None  # assistant.turn_start of the open model call
    turn_key: str | None = None  # key of that model call; None once it produced a message or ended
    reasoning: list[str] = field(default_factory=list)  # assistant.reasoning waiting for its message
    last_key: dict[str, str] = field(default_factory=dict)  # session -> key of its last step (assistant.usage)
    names: dict[str, str] = field(default_factory=dict)  # recent call id -> tool name
    task_prompts: dict[str, str] = field(default_factory=dict)  # recent call id -> subagent prompt
    agent_names: dict[str, str] = field(default_factory=dict)  # spawning call id -> subagent name
    children: set[str] = field(default_factory=set)
    sidecars_read: bool = False
    title: str | None = None
    last_ts: str | None = None  # the newest event time seen (for events written without one)


class CopilotProvider(BaseProvider):
    name = NAME
    label = "GitHub Copilot CLI"
    order = 50
    short_name = "copilot"
    aliases = ("copilot-cli", "github copilot")
    root_env = ("COPILOT_HOME",)  # the agent's own variables that move its logs
    incremental = True
    exit_pattern = EXIT_CODE
    tool_shapes = TOOL_SHAPES

    def default_roots(self, home: Path, env: dict[str, str]) -> list[Path]:
        base = self.agent_dir(env, home, ".copilot")
        return [base / "session-state", base / "history-session-state"]

    def claims(self, path: str) -> int:
        """Anything under `.copilot`, `session-state/` or `history-session-state/`."""
        low = path.replace("\\", "/").lower()
        return 2 if "/.copilot/" in low or "/session-state/" in low or "/history-session-state/" in low else 0

    def sniff(self, path: str, first: Any) -> int:
        kind = first.get("type") if isinstance(first, dict) else None
        return 2 if isinstance(kind, str) and kind.startswith("session.") and "data" in first else 0

    # -- discovery ----------------------------------------------------------------------------------

    def discover(self, roots: list[Path]) -> Iterator[SourceFile]:
        for root in roots:
            if not root.is_dir():
                continue
            if root.name == "history-session-state":
                yield from self._scan_history(root)
            elif root.name == "session-state":
                yield from self._scan_state(root)
            elif (root / "events.jsonl").is_file():  # one session folder
                yield SourceFile(str(root / "events.jsonl"), NAME, "session")
            else:  # a Copilot home
                if (root / "session-state").is_dir():
                    yield from self._scan_state(root / "session-state")
                if (root / "history-session-state").is_dir():
                    yield from self._scan_history(root / "history-session-state")

    @staticmethod
    def _scan_state(root: Path) -> Iterator[SourceFile]:
        for entry in list_dir(root):
            try:
                if entry.is_dir(follow_symlinks=False):
                    events = os.path.join(entry.path, "events.jsonl")
                    if os.path.isfile(events):  # folders with only workspace.yaml: a launch with no prompt
                        yield SourceFile(events, NAME, "session")
                elif entry.name.endswith(".jsonl") and entry.is_file(follow_symlinks=False):
                    yield SourceFile(entry.path, NAME, "flat")
            except OSError:
                continue

    @staticmethod
    def _scan_history(root: Path) -> Iterator[SourceFile]:
        for entry in list_dir(root):
            try:
                if entry.name.endswith(".json") and entry.is_file(follow_symlinks=False):
                    yield SourceFile(entry.path, NAME, "legacy_json")
            except OSError:
                continue

    def describe(self, path: str) -> SourceFile:
        """What a single file's location says (no folder walk)."""
        name = Path(path).name
        if name == "events.jsonl":
            return SourceFile(path, NAME, "session")
        if name.endswith(".json"):
            return SourceFile(path, NAME, "legacy_json")
        return SourceFile(path, NAME, "flat")

    # -- parsing ------------------------------------------------------------------------------------

    def parse(self, src: SourceFile, offset: int, state: Any, emit: Emit, stats: ParseStats) -> tuple[int, Any]:
        if src.kind == "legacy_json" or src.path.endswith(".json"):
            _parse_legacy(src, emit, stats)
            return _NO_RESUME, None
        st = state if isinstance(state, CopilotState) else None
        if st is None or offset == 0:
            st = self._init_state(src)
            if st.sid:
                emit(ev.Meta(st.sid, provider=NAME, source_file=src.path))
        reader = JsonlReader(src.path, offset, stats)
        for off, o in reader:
            if not isinstance(o, dict):
                stats.bad(off, "not a JSON object", str(o))
                continue
            t = o.get("type")
            data = o.get("data")
            if not isinstance(t, str) or not isinstance(data, dict):
                stats.bad(off, "not a Copilot event", str(o)[:120])
                continue
            if st.sid is None and t != "session.start":  # no session.start first: the file name must do
                st.sid = _file_sid(src.path)
                emit(ev.Meta(st.sid, provider=NAME, source_file=src.path))
            handler = _HANDLERS.get(t)
            ts = norm_ts(o.get("timestamp"))
            if ts is not None:
                st.last_ts = ts
            if handler is not None:
                handler(self, st, src, o, data, ts, off, emit, stats)
            elif t in _IGNORED:
                stats.skipped[t] += 1
            else:
                stats.unknown[t] += 1
        self._sidecars(st, emit)
        return reader.end, st

    @staticmethod
    def _init_state(src: SourceFile) -> CopilotState:
        """The id is the folder (or flat file) name when it is a session id; else session.start says it."""
        p = Path(src.path)
        if p.name == "events.jsonl":
            return CopilotState(sid=p.parent.name if _UUID.match(p.parent.name) else None, folder=str(p.parent))
        stem = p.name.removesuffix(".jsonl")
        return CopilotState(sid=stem if _UUID.match(stem) else None, folder=None)

    def _sidecars(self, st: CopilotState, emit: Emit) -> None:
        """workspace.yaml fills what the log did not say (read once); vscode.metadata.json's title may change."""
        if st.folder is None or st.sid is None:
            return
        if not st.sidecars_read:
            st.sidecars_read = True
            ws = read_workspace_yaml(os.path.join(st.folder, "workspace.yaml"))
            if ws.get("cwd") or ws.get("branch"):
                emit(ev.Meta(st.sid, cwd=ws.get("cwd") or ws.get("git_root") or None,
                             git_branch=ws.get("branch") or None))
                st.cwd = st.cwd or ws.get("cwd") or None
        try:
            meta = jloads(read_regular(Path(st.folder, "vscode.metadata.json")))
        except (OSError, orjson.JSONDecodeError):
            return
        title = meta.get("customTitle") if isinstance(meta, dict) else None
        if isinstance(title, str) and title.strip() and title != st.title:
            st.title = title
            emit(ev.Meta(st.sid, title=title.strip()))

    # -- event handlers -----------------------------------------------------------------------------

    def _session_start(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
                       ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        if not st.sid:
            rec = d.get("sessionId")
            st.sid = rec if isinstance(rec, str) and rec else _file_sid(src.path)
        ctx = as_dict(d.get("context"))
        version = d.get("copilotVersion")
        cwd = _str(ctx.get("cwd")) or _str(ctx.get("gitRoot"))
        st.cwd = st.cwd or cwd
        st.model = _str(d.get("selectedModel")) or st.model
        emit(ev.Meta(st.sid, provider=NAME, ts=norm_ts(d.get("startTime")) or ts, cwd=cwd,
                     git_branch=_str(ctx.get("branch")),
                     cli_version=version if isinstance(version, str) and version not in ("", "unknown") else None,
                     model=_str(d.get("selectedModel")), source_file=src.path))

    def _session_resume(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
                        ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        st.busy = False  # a resumed session waits for the user
        ctx = as_dict(d.get("context"))
        st.cwd = st.cwd or _str(ctx.get("cwd"))
        st.model = _str(d.get("selectedModel")) or st.model
        emit(ev.Meta(_sid(st), ts=ts, cwd=_str(ctx.get("cwd")), git_branch=_str(ctx.get("branch")),
                     model=_str(d.get("selectedModel"))))

    def _model_change(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
                      ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        st.model = _str(d.get("newModel")) or st.model
        emit(ev.Meta(_sid(st), ts=ts, model=_str(d.get("newModel"))))

    def _title(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
               ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        title = _str(d.get("title"))
        if title:
            st.title = title
            emit(ev.Meta(_sid(st), title=title))

    def _usage_info(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
                    ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        limit = d.get("tokenLimit")
        if isinstance(limit, int) and limit > 0:
            emit(ev.Meta(_sid(st), context_window=limit))

    def _user(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
              ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        source = d.get("source")
        if isinstance(source, str) and source.lower().startswith(_INJECTED_SOURCES):
            stats.skipped["injected_user_message"] += 1
            return
        text = prompt_text(d.get("content"))
        if not text:
            stats.skipped["injected_user_message"] += 1
            return
        if _steers(d, st):
            # Typed while the agent worked (Copilot's "steering"): it joins the running turn.
            emit(ev.Interjection(_sid(st), ts, text))
            return
        origin, slash = "user", None
        if text.startswith("/"):
            command = text.split(None, 1)[0]
            if _SLASH.match(command):
                origin, slash = "slash_command", command
        emit(ev.Prompt(_sid(st), ts, text, origin, slash, off))
        st.in_turn = True
        st.busy = True
        st.turn_key = None
        st.reasoning.clear()

    def _turn_start(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
                    ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        st.turn_ts = ts
        st.turn_key = f"call:{o.get('id') or off}"

    def _turn_end(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
                  ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        st.turn_key = None

    def _reasoning(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
                   ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        text = _str(d.get("content"))
        if text:
            st.reasoning.append(text)

    def _assistant(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
                   ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        sid = self._route(st, src, d, ts, emit)
        key = _str(d.get("messageId")) or _str(o.get("id")) or f"msg@{off}"
        start = ts
        if sid == st.sid and st.turn_key is not None:
            start = st.turn_ts or ts  # the model call began at its turn_start
            st.turn_key = None
        emit(ev.StepBegin(sid, key, start, _str(d.get("model"))))
        st.last_key[sid] = key
        reasoning = _str(d.get("reasoningText"))
        if sid == st.sid:
            for r in st.reasoning:
                if r != reasoning:
                    emit(ev.Text(sid, "reasoning", r, ts))
            st.reasoning.clear()
        if reasoning:
            emit(ev.Text(sid, "reasoning", reasoning, ts))
        content = _str(d.get("content"))
        if content:
            emit(ev.Text(sid, "message", content, ts))
        requests = d.get("toolRequests")
        if sid == st.sid:
            # a response that asks for tools is followed by another model call; one that does not is the answer
            st.busy = isinstance(requests, list) and any(isinstance(r, dict) for r in requests)
        if isinstance(requests, list):
            for tr in requests:
                if not isinstance(tr, dict):
                    continue
                call_id = _str(tr.get("toolCallId"))
                if not call_id:
                    continue
                name = _str(tr.get("name")) or ""
                args = tr.get("arguments")
                self._remember(st, call_id, name, args)
                emit(ev.Call(sid, call_id, name, args, ts, _kind(name, None, args)))
        out = d.get("outputTokens")
        if isinstance(out, int) and not isinstance(out, bool) and out >= 0:
            emit(ev.StepUsage(sid, key, 0, 0, 0, out, 0))

    def _assistant_usage(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
                         ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        sid = self._route(st, src, d, ts, emit)
        key = st.last_key.get(sid)
        if key is None:
            stats.skipped["usage_without_step"] += 1
            return
        inp, out = _int(d.get("inputTokens")), _int(d.get("outputTokens"))
        cr, cw = _int(d.get("cacheReadTokens")), _int(d.get("cacheWriteTokens"))
        emit(ev.StepUsage(sid, key, max(inp - cr - cw, 0), cr, cw, out, 0))

    def _tool_start(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
                    ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        call_id = _str(d.get("toolCallId"))
        if not call_id:
            stats.bad(off, "tool event without toolCallId", str(d)[:120])
            return
        sid = self._route(st, src, d, ts, emit)
        if call_id in st.names:
            return  # already announced by its assistant.message
        name = _str(d.get("toolName")) or ""
        args = d.get("arguments")
        self._remember(st, call_id, name, args)
        emit(ev.Call(sid, call_id, name, args, ts, _kind(name, d.get("mcpServerName"), args)))

    def _tool_complete(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
                       ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        call_id = _str(d.get("toolCallId"))
        if not call_id:
            stats.bad(off, "tool event without toolCallId", str(d)[:120])
            return
        sid = self._route(st, src, d, ts, emit)
        output, is_error, code, hint, message = tool_result(d, st.names.get(call_id))
        child = call_id if call_id in st.children else None
        emit(ev.Result(sid, call_id, ts, output, is_error, code, hint, message, child, off))

    def _error(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
               ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        if not st.in_turn:
            stats.skipped["error_outside_turn"] += 1
            return
        sid = self._route(st, src, d, ts, emit)
        kind, msg = _str(d.get("errorType")), _str(d.get("message")) or "model request failed"
        # The model call that failed is a step of its own (the previous response completed).
        key = st.turn_key if (sid == st.sid and st.turn_key) else f"error:{o.get('id') or off}"
        start = st.turn_ts if (sid == st.sid and st.turn_key) else ts
        st.turn_key = None
        emit(ev.StepBegin(sid, key, start or ts))
        emit(ev.StepFailed(sid, ts, f"{kind}: {msg}" if kind else msg))

    def _idle(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
              ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        """The agent stopped working (idle, shut down, resumed later): what the user types next is a prompt."""
        stats.skipped[str(o.get("type"))] += 1
        st.busy = False

    def _task_complete(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
                       ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        """The agent declared the task done, with its summary: the turn's final answer."""
        st.busy = False
        if st.in_turn:
            emit(ev.TurnEnd(_sid(st), ts, _str(d.get("summary"))))

    def _abort(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
               ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        st.busy = False
        if st.in_turn:
            emit(ev.Interrupt(_sid(st), ts))
        else:
            stats.skipped["abort_outside_turn"] += 1

    def _compaction(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
                    ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        if d.get("success") is False:
            stats.skipped["compaction_failed"] += 1
            return
        at = ts or st.last_ts
        if at is None:
            stats.skipped["compaction_without_time"] += 1
            return
        pre = d.get("preCompactionTokens")
        emit(ev.Compact(_sid(st), at, None, pre if isinstance(pre, int) and not isinstance(pre, bool) else None))

    def _subagent_started(self, st: CopilotState, src: SourceFile, o: dict[str, Any], d: dict[str, Any],
                          ts: str | None, off: int, emit: Emit, stats: ParseStats) -> None:
        call_id = _str(d.get("toolCallId"))
        name = _str(d.get("agentName")) or _str(d.get("agentDisplayName"))
        if call_id and name:
            _put(st.agent_names, call_id, name)
            if call_id in st.children:
                emit(ev.Meta(call_id, agent_name=name))

    # -- helpers ------------------------------------------------------------------------------------

    @staticmethod
    def _remember(st: CopilotState, call_id: str, name: str, args: Any) -> None:
        _put(st.names, call_id, name)
        if name == "task" and isinstance(args, dict):
            prompt = args.get("prompt") or args.get("description")
            if isinstance(prompt, str) and prompt:
                _put(st.task_prompts, call_id, prompt)

    @staticmethod
    def _route(st: CopilotState, src: SourceFile, d: dict[str, Any], ts: str | None, emit: Emit) -> str:
        """The session an event belongs to: a subagent's events name the tool call that spawned it."""
        parent_call = d.get("parentToolCallId")
        if not isinstance(parent_call, str) or not parent_call:
            return _sid(st)
        if parent_call not in st.children:
            st.children.add(parent_call)
            emit(ev.Meta(parent_call, provider=NAME, ts=ts, cwd=st.cwd, parent=st.sid, model=st.model,
                         agent_name=st.agent_names.get(parent_call), source_file=src.path))
            prompt = st.task_prompts.get(parent_call)
            if prompt:
                emit(ev.Prompt(parent_call, ts, prompt, "user"))
            emit(ev.Link(_sid(st), parent_call, parent_call))
        return parent_call

    # -- full outputs on demand ---------------------------------------------------------------------

    def read_output(self, src: SourceFile, offset: int, call_id: str) -> str | None:
        if offset < 0 or not src.path.endswith(".jsonl"):
            return None
        try:
            values = read_line_at(src.path, offset)
        except OSError:
            return None
        for v in values:
            d = v.get("data") if isinstance(v, dict) else None
            if isinstance(d, dict) and d.get("toolCallId") == call_id:
                return tool_result(d, None)[0]
        return None


_Handler = Any
_HANDLERS: dict[str, _Handler] = {
    "session.start": CopilotProvider._session_start,
    "session.resume": CopilotProvider._session_resume,
    "session.model_change": CopilotProvider._model_change,
    "session.title_changed": CopilotProvider._title,
    "session.usage_info": CopilotProvider._usage_info,
    "session.error": CopilotProvider._error,
    "session.compaction_complete": CopilotProvider._compaction,
    "user.message": CopilotProvider._user,
    "assistant.turn_start": CopilotProvider._turn_start,
    "assistant.turn_end": CopilotProvider._turn_end,
    "assistant.reasoning": CopilotProvider._reasoning,
    "assistant.message": CopilotProvider._assistant,
    "assistant.usage": CopilotProvider._assistant_usage,
    "tool.execution_start": CopilotProvider._tool_start,
    "tool.user_requested": CopilotProvider._tool_start,
    "tool.execution_complete": CopilotProvider._tool_complete,
    "abort": CopilotProvider._abort,
    "session.idle": CopilotProvider._idle,
    "session.shutdown": CopilotProvider._idle,
    "session.task_complete": CopilotProvider._task_complete,
    "subagent.started": CopilotProvider._subagent_started,
}


# -- shared pieces ------------------------------------------------------------------------------------


_STEER = ("steer", "immediate", "inject")
_START = ("idle", "start", "submit", "new")


def _steers(d: dict[str, Any], st: CopilotState) -> bool:
    """Whether a user message joined the running turn. Newer builds say how it was delivered (`delivery`:
    idle-start against steering/queued while busy); otherwise it did when the agent was still working: a
    prompt had opened the turn and its last response asked for tools (another model call was due)."""
    delivery = d.get("delivery")
    if isinstance(delivery, str) and delivery:
        low = delivery.lower()
        if low.startswith(_STEER):
            return True
        if low.startswith(_START) or "queue" in low:
            return False
    return st.in_turn and st.busy


def prompt_text(content: Any) -> str:
    """What the user typed: `content` without the harness blocks VS Code wraps around it."""
    if not isinstance(content, str):
        return ""
    text = _HARNESS_BLOCKS.sub("", content)
    text = _SELF_CLOSING.sub("", text)
    m = _USER_REQUEST.search(text)
    stripped = _USER_REQUEST.sub("", text).strip()
    if not stripped and m:
        return m.group(1).strip()
    return stripped


def tool_result(d: dict[str, Any], name: str | None) -> tuple[str, bool | None, int | None, str | None, str | None]:
    """(output, is_error, exit_code, hint, message) of a `tool.execution_complete` payload."""
    result = d.get("result")
    output = ""
    code: int | None = None
    if isinstance(result, dict):
        output = _str(result.get("content")) or _str(result.get("detailedContent")) or ""
        contents = result.get("contents")
        if isinstance(contents, list):
            for block in contents:
                if isinstance(block, dict) and block.get("type") == "terminal":
                    ec = block.get("exitCode")
                    if isinstance(ec, int) and not isinstance(ec, bool):
                        code = ec
                    if not output and isinstance(block.get("text"), str):
                        output = block["text"]
    elif isinstance(result, str):
        output = result
    success = d.get("success")
    is_error = (not success) if isinstance(success, bool) else None
    err = d.get("error")
    message: str | None = None
    err_code = ""
    if isinstance(err, dict):
        message = _str(err.get("message"))
        err_code = (_str(err.get("code")) or "").lower()
    elif isinstance(err, str) and err:
        message = err
    if is_error and not output:
        output = message or ""
    if code is None and (name is None or name in _SHELL_TOOLS or name.endswith(("_bash", "_powershell"))):
        code = exit_code(output)
    hint = None
    if is_error:
        if err_code in _DENIED_CODES:
            hint = "denied"
        elif err_code in _INTERRUPT_CODES:
            hint = "interrupted"
        elif err_code == "timeout":
            hint = "timeout"
        elif message and err_code not in ("failure", "error") and _INTERRUPT_TEXT.search(message[:200]):
            hint = "interrupted"
    return output, is_error, code, hint, message


def exit_code(output: str) -> int | None:
    """The `<exited with exit code N>` trailer a Copilot shell result ends with (the last one counts)."""
    return exit_code_in(output, EXIT_CODE, last=True)


def read_workspace_yaml(path: str) -> dict[str, str]:
    """The flat `key: value` YAML of `workspace.yaml` (block scalars `|`/`|-` kept as text); {} if unreadable."""
    try:
        text = read_regular(path, 1 << 20).decode("utf-8", "replace")
    except OSError:
        return {}
    out: dict[str, str] = {}
    block_key: str | None = None
    block: list[str] = []
    for line in text.splitlines():
        if block_key is not None:
            if not line.strip() or line[:1] in (" ", "\t"):
                block.append(line.strip())
                continue
            out[block_key] = "\n".join(block).strip()
            block_key = None
        m = re.match(r"^([A-Za-z_][\w.-]*):\s*(.*?)\s*$", line)
        if not m:
            continue
        key, value = m.groups()
        if value in ("|", "|-", "|+", ">", ">-", ">+"):
            block_key, block = key, []
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                value = jloads(value)  # double-quoted YAML escapes are JSON's
            except orjson.JSONDecodeError:
                value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1].replace("''", "'")
        out[key] = value
    if block_key is not None:
        out[block_key] = "\n".join(block).strip()
    return out


def _kind(name: str, mcp_server: Any, args: Any = None) -> str | None:
    if isinstance(mcp_server, str) and mcp_server:
        return "mcp"
    if name == "str_replace_editor" and isinstance(args, dict) and args.get("command") == "view":
        return "read"  # older builds had one editor tool for reading and writing
    k = _KINDS.get(name)
    if k is not None:
        return k
    if tool_kind(name) == "other" and "-" in name and name not in _BUILTIN:
        return "mcp"  # Copilot names MCP tools `<server>-<tool>`
    return None


def _put(d: dict[str, str], key: str, value: str) -> None:
    d[key] = value
    if len(d) > _RECENT:
        d.pop(next(iter(d)))


def _json_text(v: Any) -> str:
    try:
        return orjson.dumps(v).decode()
    except TypeError:  # integers beyond 64 bits, odd keys
        return str(v)


def _file_sid(path: str) -> str:
    p = Path(path)
    return p.parent.name if p.name == "events.jsonl" else p.name.removesuffix(".jsonl")


def _sid(st: CopilotState) -> str:
    return st.sid or "unknown"


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


# -- the 0.0.x history document -----------------------------------------------------------------------


def _parse_legacy(src: SourceFile, emit: Emit, stats: ParseStats) -> None:
    """`history-session-state/session_*.json`: `timeline[]` (typed, timed) or else `chatMessages[]` (OpenAI chat)."""
    try:
        raw = read_regular(src.path)
    except OSError as e:
        stats.bad(0, f"unreadable: {e.__class__.__name__}", "")
        return
    if not raw.strip():
        raise KeepIndexed("empty JSON document (being rewritten?)")
    stats.bytes += len(raw)
    stats.lines += raw.count(b"\n") + (1 if raw and not raw.endswith(b"\n") else 0)
    try:
        doc = jloads(raw)
    except orjson.JSONDecodeError:
        raise KeepIndexed("invalid JSON document (half-written?)", raw[-120:]) from None
    if not isinstance(doc, dict):
        stats.bad(0, "not a Copilot history document", raw[:120])
        return
    stats.records += 1
    sid = _str(doc.get("sessionId")) or Path(src.path).stem.removeprefix("session_")
    emit(ev.Meta(sid, provider=NAME, ts=norm_ts(doc.get("startTime")), source_file=src.path))
    timeline = doc.get("timeline")
    if isinstance(timeline, list) and timeline:
        _legacy_timeline(sid, timeline, emit, stats)
    else:
        messages = doc.get("chatMessages")
        if isinstance(messages, list):
            _legacy_chat(sid, messages, emit, stats)


def _legacy_timeline(sid: str, timeline: list[Any], emit: Emit, stats: ParseStats) -> None:
    step_open = False  # a model response is open (its calls follow its text)
    in_turn = False
    names: dict[str, str] = {}
    for i, item in enumerate(timeline):
        if not isinstance(item, dict):
            stats.bad(0, "timeline item is not an object", str(item))
            continue
        t = item.get("type")
        ts = norm_ts(item.get("timestamp"))
        key = _str(item.get("id")) or f"#{i}"
        if t == "user":
            text = prompt_text(item.get("text")) or prompt_text(item.get("expandedText"))
            if not text:
                stats.skipped["injected_user_message"] += 1
                continue
            origin, slash = "user", None
            if text.startswith("/") and _SLASH.match(text.split(None, 1)[0]):
                origin, slash = "slash_command", text.split(None, 1)[0]
            emit(ev.Prompt(sid, ts, text, origin, slash))
            in_turn, step_open = True, False
        elif t == "copilot":
            emit(ev.StepBegin(sid, key, ts))
            text = _str(item.get("text")) or ""
            if text:
                emit(ev.Text(sid, "message", text, ts))
            step_open = True
        elif t in ("tool_call_requested", "tool_call_completed"):
            call_id = _str(item.get("callId")) or f"{key}:call"
            name = _str(item.get("name")) or _str(item.get("toolTitle")) or ""
            if call_id not in names:
                if not step_open:  # a response made only of calls
                    emit(ev.StepBegin(sid, key, ts))
                    step_open = True
                names[call_id] = name
                emit(ev.Call(sid, call_id, name, item.get("arguments"), ts, _kind(name, None, item.get("arguments"))))
            if t == "tool_call_completed":
                result = item.get("result")
                rtype = _str(result.get("type")) if isinstance(result, dict) else None
                output = ""
                if isinstance(result, dict):
                    log = result.get("log")
                    output = log if isinstance(log, str) else (_json_text(result) if result else "")
                is_error = (rtype != "success") if rtype else None
                code = exit_code(output) if name in _SHELL_TOOLS else None
                emit(ev.Result(sid, call_id, ts, output, is_error, code))
                step_open = False
        elif t == "info":
            text = _str(item.get("text")) or ""
            if in_turn and _INTERRUPT_TEXT.search(text):
                emit(ev.Interrupt(sid, ts))
            else:
                stats.skipped["info"] += 1
        elif t == "error":
            text = _str(item.get("text")) or "error"
            if in_turn:
                emit(ev.StepBegin(sid, f"{key}:error", ts))
                emit(ev.StepFailed(sid, ts, text))
                step_open = False
            else:
                stats.skipped["error_outside_turn"] += 1
        else:
            stats.unknown[f"timeline:{t}"] += 1


def _legacy_chat(sid: str, messages: list[Any], emit: Emit, stats: ParseStats) -> None:
    names: dict[str, str] = {}
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            stats.bad(0, "chat message is not an object", str(m))
            continue
        role = m.get("role")
        content = m.get("content")
        text = content if isinstance(content, str) else _parts_text(content)
        if role == "user":
            text = prompt_text(text)
            if text:
                emit(ev.Prompt(sid, None, text))
            else:
                stats.skipped["injected_user_message"] += 1
        elif role == "assistant":
            emit(ev.StepBegin(sid, f"m{i}", None))
            if text:
                emit(ev.Text(sid, "message", text))
            calls = m.get("tool_calls")
            for j, tc in enumerate(calls if isinstance(calls, list) else []):
                if not isinstance(tc, dict):
                    continue
                fn = as_dict(tc.get("function"))
                name = _str(fn.get("name")) or ""
                args: Any = fn.get("arguments")
                if isinstance(args, str):
                    try:
                        args = jloads(args)
                    except orjson.JSONDecodeError:
                        pass
                call_id = _str(tc.get("id")) or f"m{i}:call{j}"
                names[call_id] = name
                emit(ev.Call(sid, call_id, name, args, None, _kind(name, None, args)))
        elif role == "tool":
            result_id = _str(m.get("tool_call_id"))
            if result_id:
                name = names.get(result_id, "")
                emit(ev.Result(sid, result_id, None, text, None, exit_code(text) if name in _SHELL_TOOLS else None))
            else:
                stats.skipped["tool_message_without_id"] += 1
        elif role in ("system", "developer"):
            stats.skipped[f"{role}_message"] += 1
        else:
            stats.unknown[f"role:{role}"] += 1


def _parts_text(content: Any) -> str:
    if not isinstance(content, list):
        return ""
    out = []
    for p in content:
        if isinstance(p, dict) and isinstance(p.get("text"), str):
            out.append(p["text"])
        elif isinstance(p, str):
            out.append(p)
    return "\n".join(out)
