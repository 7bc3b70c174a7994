"""OpenAI Codex CLI: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl[.zst]` and `archived_sessions/`.

Facts: research/log-formats.md §2, research/log-formats-2.md §4. How records become events:

- **Session**: the first `session_meta` (or the bare header line of the pre-envelope format). A later
  `session_meta` with the same id is a resume; one with another id starts a block of history copied from
  the parent (forked/spawned threads). That block is skipped until the first `task_started`/`turn_context`
  whose `turn_id` was not seen inside it (or, in newer builds, until `ordinal` reaches the own
  `session_meta.subagent_history_start_ordinal`).
- **Turns**: `event_msg/user_message`. A `response_item` user message is only a *candidate* prompt (kept in
  the state) until the first `user_message` has been seen: if a `user_message` follows, the candidate was
  its copy; if a model item follows first, the file has no `user_message` events and the candidate is the
  prompt. Pre-envelope files never have `user_message`, so their user messages are prompts at once.
- **Steps**: one step per model request. A step begins with the first model item (reasoning, assistant
  message, tool call) after a request boundary: a tool output, a `token_count`, a `turn_context`, a
  `task_started`, or a prompt. The key is a counter kept in the state.
- **Tokens**: `token_count.info.last_token_usage`, only when `total_token_usage` changed; it belongs to the
  step it closes. A counted `token_count` with no model item since the last one gets a step of its own
  (a request whose items were not persisted), so session totals equal the deduplicated raw sums.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..engine import events as ev
from ..engine.failures import exit_code_in
from ..engine.shapes import GENERIC
from ..engine.timeutil import norm_ts, parse_ts
from ..engine.tools import tool_kind
from .base import SHAPE_ERRORS, BaseProvider, Emit, ParseStats, SlashParent, SourceFile, safe_walk
from .jsonl import JsonlReader, as_dict, as_str, read_line_at
from .jsonl import loads as jloads

NAME = "codex"
# the header of a shell output: `Exit code: N` (shell) or `Process exited with code N` (exec_command)
EXIT_CODE = re.compile(r"^(?:Exit code: (-?\d+)|Process exited with code (-?\d+))", re.MULTILINE)
# `write_stdin` with no `chars` only polls the process `session_id` names (code mode: a script that calls
# write_stdin and not exec_command); `wait_agent` waits on a subagent; apply_patch sends its patch as `input`
TOOL_SHAPES = GENERIC.extend(poll_tools=("wait_agent",), input_tools={"write_stdin": "chars"},
                             script_polls=(("write_stdin", "exec_command"),), process_keys=("session_id",),
                             patch_keys=("input",))
# A `/review` starts a review sub-agent whose log names no parent (agent_name "review")
REVIEW = SlashParent(agent_name="review", slash="/review", window_s=600)
_RECORD_TYPES = ("session_meta", "response_item", "event_msg", "turn_context")
_UUID_IN_NAME = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", re.I)

# User-role content the harness injected (codex-rs `ContextualUserFragment` markers and older spellings).
_HARNESS_PREFIXES = (
    "<environment_context>", "<user_instructions>", "# AGENTS.md instructions", "<INSTRUCTIONS>",
    "<turn_aborted>", "<skills_instructions>", "<skill>", "<subagent_notification>", "<recommended_plugins>",
    "<goal_context>", "<codex_internal_context", "<permissions instructions>", "<collaboration_mode>",
    "<model_switch>", "<personality_spec>", "<apps_instructions>", "<hook_prompt", "<user_shell_command>",
    "<external_", "<system-reminder>",
)
_CWD = re.compile(r"<cwd>([^<]*)</cwd>")
_COMPACT_SUMMARY_PREFIXES = (
    "Another language model started to solve this problem",
    "This session is being continued from a previous conversation",
)
_MODEL_ITEMS = frozenset({
    "reasoning", "function_call", "custom_tool_call", "local_shell_call", "web_search_call", "tool_search_call",
    "image_generation_call",
})
_OUTPUT_ITEMS = frozenset({
    "function_call_output", "custom_tool_call_output", "local_shell_call_output", "tool_search_output",
})
_IGNORED_ITEMS = frozenset({
    "ghost_snapshot", "compaction", "context_compaction", "compaction_summary", "additional_tools", "other",
})
_TOP_TYPES = frozenset({
    "session_meta", "turn_context", "response_item", "event_msg", "compacted", "world_state",
    "inter_agent_communication", "inter_agent_communication_metadata", "token_usage_record", "realtime_item",
    "retained_context",
})
_IGNORED_EVENTS = frozenset({
    "agent_message", "agent_message_delta", "agent_reasoning", "agent_reasoning_delta",
    "agent_reasoning_raw_content", "agent_reasoning_raw_content_delta", "agent_reasoning_section_break",
    "exited_review_mode", "web_search_begin", "exec_command_begin",
    "exec_command_output_delta", "mcp_tool_call_begin", "patch_apply_begin", "thread_rolled_back",
    "thread_goal_updated", "item_started", "image_generation_end", "image_generation_begin",
    "plan_update", "view_image_tool_call", "background_event", "stream_error", "warning", "turn_diff",
    "session_configured", "mcp_list_tools_response", "list_custom_prompts_response", "get_history_entry_response",
    "shutdown_complete", "undo_started", "undo_completed", "deprecation_notice", "raw_response_item",
    "collab_agent_spawn_begin", "collab_agent_spawn_end", "collab_agent_interaction_begin",
    "collab_agent_interaction_end", "request_user_input", "elicitation_request", "dynamic_tool_call_request",
})
_BOUNDED = 256  # size of the small call-id memories kept in the state
_COPY_BURST_GAP = 5.0  # seconds: records copied from the parent are written in one burst


@dataclass
class CodexState:
    """Everything needed to resume a file from a byte offset (picklable: plain values only)."""

    sid: str | None = None
    path: str | None = None
    fmt: str | None = None  # envelope | bare (pre-envelope)
    meta_seen: bool = False
    cwd_known: bool = False
    agent_path: str | None = None
    history_start: int | None = None  # session_meta.subagent_history_start_ordinal
    copying: bool = False  # inside a block of history copied from the parent thread
    copied_turns: set[str] = field(default_factory=set)
    copy_open: bool = False  # a copied turn started and has not completed
    copy_last_ts: str | None = None
    cli_version: str | None = None
    model: str | None = None
    context_window: int | None = None
    step_n: int = 0
    step_open: bool = False  # the open step still accepts items of the same model request
    cur_key: str | None = None  # key of the newest step begun
    items_since_usage: bool = False  # model items arrived since the last counted token_count
    prev_total: tuple[int, ...] | None = None
    last_context: int | None = None
    seen_user_message: bool = False
    has_turn: bool = False  # a prompt or model item was emitted
    pending: tuple[str | None, str, int] | None = None  # candidate prompt from a response_item (ts, text, off)
    turn_unprompted: bool = False  # task_started seen and no prompt for it yet
    task_events: bool = False  # this file marks turns with task_started/task_complete (so ends are explicit)
    task_open: bool = False  # a task (turn) started and has not completed or been aborted
    task_prompted: bool = False  # the open task has its prompt: a further user_message steers it
    trigger_turn: bool = False
    compact_src: str | None = None  # which of `compacted`/`context_compacted` already recorded a compaction
    marks: dict[str, tuple[bool | None, int | None, str | None]] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)  # recent call ids whose result was emitted -> its offset
    ws_waiting: dict[str, None] = field(default_factory=dict)  # web_search_call ids awaiting web_search_end
    ws_ends: dict[str, tuple[str | None, str, int]] = field(default_factory=dict)  # early web_search_end


def _remember(d: dict[str, Any], key: str, value: Any) -> None:
    d.pop(key, None)
    d[key] = value
    if len(d) > _BOUNDED:
        d.pop(next(iter(d)))


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _int_or_none(v: Any) -> int | None:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    return None


def content_text(content: Any) -> str:
    """Text of a content-item list (`input_text`/`output_text`/…; images become `[image]`)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return "" if content is None else str(content)
    parts: list[str] = []
    for c in content:
        if isinstance(c, dict):
            t = c.get("type")
            if t in ("input_image", "image", "output_image"):
                parts.append("[image]")
            elif "text" in c:
                parts.append(str(c.get("text") or ""))
            elif t == "refusal":
                parts.append(str(c.get("refusal") or ""))
        elif isinstance(c, str):
            parts.append(c)
    return "\n".join(parts)


def _is_harness(text: str) -> bool:
    return text.lstrip().startswith(_HARNESS_PREFIXES)


def user_item_text(payload: dict[str, Any]) -> str:
    """The human part of a `response_item` user message (harness fragments dropped)."""
    content = payload.get("content")
    if isinstance(content, str):
        return "" if _is_harness(content) else content
    if not isinstance(content, list):
        return ""
    kinds = None
    meta = payload.get("internal_chat_message_metadata_passthrough")
    if isinstance(meta, dict) and isinstance(meta.get("content_item_kinds"), list):
        kinds = meta["content_item_kinds"] if len(meta["content_item_kinds"]) == len(content) else None
    parts: list[str] = []
    for i, c in enumerate(content):
        if not isinstance(c, dict):
            continue
        if kinds is not None:
            k = kinds[i] if isinstance(kinds[i], str) else ""
            if not (k.startswith("user.") or k in ("", "unknown")):
                continue
        t = c.get("type")
        if t in ("input_image", "image"):
            parts.append("[image]")
            continue
        text = c.get("text")
        if not isinstance(text, str) or (kinds is None and _is_harness(text)):
            continue
        parts.append(text)
    return "\n".join(parts)


def _parse_json_object(s: str) -> dict[str, Any] | None:
    if not s or s[0] != "{":
        return None
    try:
        v = jloads(s)
    except orjson.JSONDecodeError:
        return None
    return v if isinstance(v, dict) else None


def normalize_output(payload: dict[str, Any]) -> tuple[str, bool | None, int | None]:
    """(text, explicit error flag, exit code from metadata) of a tool-output item, whatever its shape."""
    if payload.get("type") == "tool_search_output":
        tools = payload.get("tools")
        names = [str(t.get("name")) for t in tools if isinstance(t, dict) and t.get("name")] \
            if isinstance(tools, list) else []
        text = "\n".join(names) if names else (orjson.dumps(tools).decode() if tools is not None else "")
        status = payload.get("status")
        return text, (True if status in ("failed", "error") else None), None
    out = payload.get("output")
    is_error: bool | None = None
    code: int | None = None
    if isinstance(out, str):
        obj = _parse_json_object(out) if out[:1] == "{" else None
        if obj is not None and ("output" in obj or ("content" in obj and "success" in obj)):
            out = obj
        else:
            text = out
    if isinstance(out, dict):
        if "output" in out:
            text = content_text(out.get("output"))
            md = out.get("metadata")
            if isinstance(md, dict):
                code = _int_or_none(md.get("exit_code"))
        elif "content" in out:
            text = content_text(out.get("content"))
        else:
            text = orjson.dumps(out).decode()
        if out.get("success") is False:
            is_error = True
    elif isinstance(out, list):
        text = content_text(out)
    elif out is None:
        text = ""
    elif not isinstance(out, str):
        text = str(out)
    if payload.get("status") in ("failed", "error", "incomplete"):
        is_error = True
    return text, is_error, code


def output_hint(text: str) -> tuple[bool | None, str | None]:
    """Failures Codex itself writes as the whole output: (is_error, hint)."""
    head = text[:200].lstrip().lower()
    if not head:
        return None, None
    if head.startswith(("aborted", "interrupted", "tool call was cancelled", "cancelled by user")):
        return True, "interrupted"
    first = head.split("\n", 1)[0]
    if "rejected by user" in first or "rejected due to unacceptable risk" in first or \
            head.startswith(("sandbox denied", "denied by", "user denied")):
        return True, "denied"
    if head.startswith(("failed to parse function arguments", "execution error:", "unsupported call",
                        "script failed", "apply_patch verification failed", "unknown tool",
                        "error: failed to")):
        return True, None
    return None, None


def header_exit_code(text: str) -> int | None:
    """The exit code in an output's header (`Exit code: N`, `Process exited with code N`).

    Shell outputs put a header before an `Output:` line; only the header is searched, so a line of the
    command's own output (or of a script's nested command) that happens to read "Exit code: 1" is not taken.
    """
    head = text[:4096]
    cut = head.find("\nOutput:")
    return exit_code_in(head[:cut] if cut >= 0 else head, EXIT_CODE)


def _sig(u: Any) -> tuple[int, ...] | None:
    if not isinstance(u, dict):
        return None
    return (_int(u.get("input_tokens")), _int(u.get("cached_input_tokens")), _int(u.get("cache_write_input_tokens")),
            _int(u.get("output_tokens")), _int(u.get("reasoning_output_tokens")), _int(u.get("total_tokens")))


def usage_of(last: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """(input, cache_read, cache_write, output, reasoning) of one `last_token_usage`.

    OpenAI's `input_tokens` includes the cached part (and the cache-write part, when reported), so
    `input` is what remains; `output_tokens` already includes `reasoning_output_tokens`.
    """
    inp = _int(last.get("input_tokens"))
    cached = _int(last.get("cached_input_tokens"))
    write = _int(last.get("cache_write_input_tokens"))
    return (max(0, inp - cached - write), cached, write, _int(last.get("output_tokens")),
            _int(last.get("reasoning_output_tokens")))


def _turn_id_of(p: dict[str, Any]) -> str | None:
    tid = p.get("turn_id")
    if isinstance(tid, str) and tid:
        return tid
    meta = p.get("internal_chat_message_metadata_passthrough")
    if isinstance(meta, dict) and isinstance(meta.get("turn_id"), str):
        return meta["turn_id"]
    return None


def _mcp_result(result: Any) -> tuple[str, bool]:
    """Text and error flag of `mcp_tool_call_end.result` (`{Ok:{content,isError}}` or `{Err:"…"}`)."""
    if isinstance(result, dict):
        if "Err" in result:
            err = result["Err"]
            return (err if isinstance(err, str) else orjson.dumps(err).decode()), True
        ok = result.get("Ok", result)
        if isinstance(ok, dict):
            return content_text(ok.get("content")), ok.get("isError") is True or ok.get("is_error") is True
    if isinstance(result, str):
        return result, False
    return "", False


def _web_search_text(p: dict[str, Any]) -> str:
    action = as_dict(p.get("action"))
    lines: list[str] = []
    q = p.get("query") or action.get("query") or action.get("url") or action.get("pattern")
    if q:
        lines.append(str(q))
    qs = action.get("queries")
    if isinstance(qs, list) and len(qs) > 1:
        lines.extend(str(x) for x in qs if x and x != q)
    results = p.get("results")
    if isinstance(results, list):
        for r in results:
            if isinstance(r, dict):
                title, url = r.get("title") or "", r.get("url") or ""
                if title or url:
                    lines.append(f"{title} {url}".strip())
    return "\n".join(lines)


def event_result_text(p: dict[str, Any]) -> str | None:
    """Output text carried by an event that can settle a call (patch/mcp/exec/web-search ends)."""
    t = p.get("type")
    if t == "patch_apply_end":
        return "\n".join(s for s in (p.get("stdout"), p.get("stderr")) if isinstance(s, str) and s)
    if t == "mcp_tool_call_end":
        return _mcp_result(p.get("result"))[0]
    if t == "exec_command_end":
        for k in ("formatted_output", "aggregated_output"):
            if isinstance(p.get(k), str) and p[k]:
                return p[k]
        return "\n".join(s for s in (p.get("stdout"), p.get("stderr")) if isinstance(s, str) and s)
    if t == "web_search_end":
        return _web_search_text(p)
    return None


class CodexProvider(BaseProvider):
    name = NAME
    label = "Codex CLI"
    order = 20
    aliases = ("codex-cli", "codex_cli")
    root_env = ("CODEX_HOME",)  # the agent's own variables that move its logs
    incremental = True
    exit_pattern = EXIT_CODE
    tool_shapes = TOOL_SHAPES
    slash_parent = REVIEW

    def default_roots(self, home: Path, env: dict[str, str]) -> list[Path]:
        base = self.agent_dir(env, home, ".codex")
        return [base / "sessions", base / "archived_sessions"]

    def claims(self, path: str) -> int:
        """`rollout-*` files, anything under a `.codex` folder."""
        low = path.replace("\\", "/").lower()
        return 2 if "/.codex/" in low or "/rollout-" in low or low.rsplit("/", 1)[-1].startswith("rollout-") else 0

    def sniff(self, path: str, first: Any) -> int:
        if path.endswith(".zst"):
            return 2  # only Codex compresses its logs
        if isinstance(first, dict) and (first.get("type") in _RECORD_TYPES or "record_type" in first):
            return 2
        return 0

    def describe(self, path: str) -> SourceFile:
        """What a single file's location says (no folder walk)."""
        return SourceFile(path, NAME)

    def discover(self, roots: list[Path]) -> Iterator[SourceFile]:
        for root in roots:
            if not root.is_dir():
                continue
            plain: set[str] = set()
            zst: list[str] = []
            for path, name in safe_walk(root, "rollout-*.jsonl*"):
                if name.endswith(".jsonl"):
                    plain.add(path)
                    yield SourceFile(path, NAME)
                elif name.endswith(".jsonl.zst"):
                    zst.append(path)
            for path in zst:  # when both exist the plain file wins
                if path[: -len(".zst")] not in plain:
                    yield SourceFile(path, NAME)

    # -- parsing ----------------------------------------------------------------------------------

    def parse(self, src: SourceFile, offset: int, state: CodexState | None, emit: Emit,
              stats: ParseStats) -> tuple[int, CodexState]:
        st = state if state is not None else CodexState()
        st.path = src.path
        reader = JsonlReader(src.path, offset, stats)
        for off, o in reader:
            try:
                if not isinstance(o, dict):
                    stats.bad(off, "not a JSON object", str(o))
                    continue
                t = o.get("type")
                payload = o.get("payload")
                if isinstance(payload, dict) and t in _TOP_TYPES:
                    if st.fmt is None:
                        st.fmt = "envelope"
                    self._record(src, st, t, payload, o, off, emit, stats)
                elif t is None and "record_type" in o:
                    continue  # pre-envelope `{"record_type":"state"}` marker
                elif t is None and "id" in o and "timestamp" in o and not st.meta_seen:
                    st.fmt = "bare"  # pre-envelope header line
                    self._session_meta(src, st, o, norm_ts(o.get("timestamp")), emit, stats)
                elif isinstance(t, str) and payload is None and (t in _MODEL_ITEMS or t in _OUTPUT_ITEMS
                                                                 or t == "message" or t in _IGNORED_ITEMS):
                    if st.fmt is None:
                        st.fmt = "bare"
                    sid = self._sid(src, st, emit)
                    self._item(st, sid, o, norm_ts(o.get("timestamp")), off, emit, stats)
                else:
                    stats.unknown[str(t)] += 1
            except SHAPE_ERRORS as e:
                stats.shape(off, e, o)
        return reader.end, st

    def _sid(self, src: SourceFile, st: CodexState, emit: Emit) -> str:
        """The session id; a file without any session_meta falls back to the id in its name."""
        if st.sid is None:
            m = _UUID_IN_NAME.search(Path(src.path).name)
            st.sid = m.group(1).lower() if m else Path(src.path).name.split(".")[0]
            emit(ev.Meta(st.sid, provider=NAME, source_file=src.path))
        return st.sid

    def _record(self, src: SourceFile, st: CodexState, t: str, p: dict[str, Any], o: dict[str, Any], off: int,
                emit: Emit, stats: ParseStats) -> None:
        ts = norm_ts(o.get("timestamp"))
        if t == "session_meta":
            self._session_meta(src, st, p, ts, emit, stats)
            return
        ordinal = o.get("ordinal") if st.history_start is not None else None
        if isinstance(ordinal, int):
            # Newer builds say where the inherited history ends: that decides alone.
            if ordinal < st.history_start:  # type: ignore[operator]
                self._copied(st, t, p, ts, stats)
                return
            st.copying = False
        elif st.copying:
            if self._copy_ends(st, t, p, ts):
                st.copying = False
            else:
                self._copied(st, t, p, ts, stats)
                return
        sid = self._sid(src, st, emit)
        if t == "response_item":
            self._item(st, sid, p, ts, off, emit, stats)
        elif t == "event_msg":
            self._event(st, sid, p, ts, off, emit, stats)
        elif t == "turn_context":
            st.step_open = False
            model = p.get("model")
            if isinstance(model, str) and model and model != st.model:
                st.model = model
                emit(ev.Meta(sid, model=model))
        elif t == "compacted":
            self._compaction(st, sid, ts, "record", emit)
        elif t == "inter_agent_communication_metadata":
            st.trigger_turn = p.get("trigger_turn") is True

    @staticmethod
    def _copy_ends(st: CodexState, t: str, p: dict[str, Any], ts: str | None) -> bool:
        """Is this record the first of the thread's own, after a block copied from its parent?

        The copy is written in one burst when the thread is forked, and a spawned child is forked in the
        middle of one of the parent's turns. So the thread's own records begin (a) at a turn start whose
        `turn_id` the copy did not contain while a copied turn is still open, or (b) at any record written
        well after the burst (older builds without turn ids; forks made between turns).
        """
        if t == "turn_context" or (t == "event_msg" and p.get("type") == "task_started"):
            tid = p.get("turn_id")
            if isinstance(tid, str) and tid and tid not in st.copied_turns and st.copy_open:
                return True
        if ts is not None and st.copy_last_ts is not None and ts > st.copy_last_ts:
            a, b = parse_ts(st.copy_last_ts), parse_ts(ts)
            if a is not None and b is not None and (b - a).total_seconds() > _COPY_BURST_GAP:
                return True
        return False

    def _copied(self, st: CodexState, t: str, p: dict[str, Any], ts: str | None, stats: ParseStats) -> None:
        """A record of the parent's history copied into a forked thread: not this session's own."""
        stats.skipped["copied_from_parent"] += 1
        if ts is not None:
            st.copy_last_ts = ts
        tid = _turn_id_of(p)
        if tid:
            st.copied_turns.add(tid)
        et = p.get("type") if t == "event_msg" else None
        if et == "task_started":
            st.copy_open = True
        elif et in ("task_complete", "turn_aborted"):
            st.copy_open = False
        if et == "token_count":
            info = p.get("info")
            if isinstance(info, dict):
                sig = _sig(info.get("total_token_usage"))
                if sig is not None:
                    st.prev_total = sig

    def _session_meta(self, src: SourceFile, st: CodexState, p: dict[str, Any], ts: str | None, emit: Emit,
                      stats: ParseStats) -> None:
        pid = p.get("id") if isinstance(p.get("id"), str) else None
        if not st.meta_seen:
            st.meta_seen = True
            first_event = st.sid is None
            if st.sid is None:
                if pid:
                    st.sid = pid
                else:
                    self._sid(src, st, emit)
                    first_event = False
            sid = st.sid
            assert sid is not None
            git = as_dict(p.get("git"))
            parent, agent = _lineage(p)
            st.agent_path = p.get("agent_path") if isinstance(p.get("agent_path"), str) else None
            hs = p.get("subagent_history_start_ordinal")
            st.history_start = _int_or_none(hs)
            cli = p.get("cli_version") if isinstance(p.get("cli_version"), str) else None
            st.cli_version = cli
            st.cwd_known = isinstance(p.get("cwd"), str) and bool(p.get("cwd"))
            emit(ev.Meta(sid, provider=NAME, ts=norm_ts(p.get("timestamp")) or ts,
                         cwd=p.get("cwd") if isinstance(p.get("cwd"), str) else None,
                         git_branch=git.get("branch") if isinstance(git.get("branch"), str) else None,
                         cli_version=cli, parent=parent, agent_name=agent,
                         source_file=src.path if first_event else None))
            return
        if pid and pid != st.sid:
            # Another thread's session_meta: the start of history copied from the parent.
            st.copying = True
            st.copy_open = False
            if ts is not None:
                st.copy_last_ts = ts
            stats.skipped["copied_from_parent"] += 1
            return
        st.copying = False  # the thread's own session_meta again: resumed, so its own records follow
        cli = p.get("cli_version")
        if isinstance(cli, str) and cli and cli != st.cli_version and st.sid:
            st.cli_version = cli  # resumed by a newer CLI
            emit(ev.Meta(st.sid, cli_version=cli))

    # -- response items ---------------------------------------------------------------------------

    def _begin(self, st: CodexState, sid: str, ts: str | None, emit: Emit) -> None:
        """A model item: continue the open step or begin the next one."""
        if st.pending is not None:
            self._flush_pending(st, sid, emit)
        if not st.step_open:
            st.step_n += 1
            st.cur_key = str(st.step_n)
            st.step_open = True
            emit(ev.StepBegin(sid, st.cur_key, ts, st.model))
        st.items_since_usage = True
        st.compact_src = None
        st.has_turn = True

    def _flush_pending(self, st: CodexState, sid: str, emit: Emit) -> None:
        p = st.pending
        st.pending = None
        if p is not None:
            self._prompt(st, sid, p[0], p[1], "user", p[2], emit)

    def _prompt(self, st: CodexState, sid: str, ts: str | None, text: str, origin: str, off: int, emit: Emit,
                slash: str | None = None) -> None:
        st.step_open = False
        st.turn_unprompted = False
        st.compact_src = None
        st.has_turn = True
        if st.task_open:
            st.task_prompted = True
        emit(ev.Prompt(sid, ts, text, origin, slash=slash, off=off, end_marked=st.task_events))

    def _item(self, st: CodexState, sid: str, p: dict[str, Any], ts: str | None, off: int, emit: Emit,
              stats: ParseStats) -> None:
        it = p.get("type")
        if it == "message":
            role = p.get("role")
            if role == "assistant":
                self._begin(st, sid, ts, emit)
                text = content_text(p.get("content"))
                if text:
                    phase = p.get("phase") if isinstance(p.get("phase"), str) else None
                    emit(ev.Text(sid, "message", text, ts, phase))
            elif role == "user":
                self._user_item(st, sid, p, ts, off, emit)
            return  # developer / system: harness instructions
        if it == "reasoning":
            self._begin(st, sid, ts, emit)
            for text in _reasoning_texts(p):
                emit(ev.Text(sid, "reasoning", text, ts))
            return
        if it in _OUTPUT_ITEMS:
            st.step_open = False
            call_id = str(p.get("call_id") or "")
            text, is_error, code = normalize_output(p)
            self._settle(st, sid, call_id, ts, off, text, is_error, code, emit)
            return
        if it in _MODEL_ITEMS:
            self._begin(st, sid, ts, emit)
            self._call(st, sid, it, p, ts, off, emit)
            return
        if it == "agent_message":
            # Inter-agent message (multi-agent runs). One that starts a turn of this thread (a parent's task
            # for a subagent, a child's report to an idle parent) is that turn's prompt.
            if st.trigger_turn and st.turn_unprompted:
                text = content_text(p.get("content"))
                if text.strip():
                    self._flush_pending(st, sid, emit)
                    self._prompt(st, sid, ts, text, "system", off, emit)
            st.trigger_turn = False
            return
        if it not in _IGNORED_ITEMS:
            stats.unknown[f"response_item/{it}"] += 1

    def _user_item(self, st: CodexState, sid: str, p: dict[str, Any], ts: str | None, off: int, emit: Emit) -> None:
        if not st.cwd_known:
            self._cwd_from_context(st, sid, p, emit)
        text = user_item_text(p)
        if not text.strip():
            return
        if text.lstrip().startswith(_COMPACT_SUMMARY_PREFIXES):
            self._flush_pending(st, sid, emit)
            self._prompt(st, sid, ts, text, "compaction", off, emit)
            return
        if st.seen_user_message:
            return  # the model-visible copy of a prompt already taken from its user_message event
        if st.fmt == "bare":
            self._prompt(st, sid, ts, text, "user", off, emit)
            return
        if st.pending is not None:
            self._flush_pending(st, sid, emit)
        st.pending = (ts, text, off)

    @staticmethod
    def _cwd_from_context(st: CodexState, sid: str, p: dict[str, Any], emit: Emit) -> None:
        """Old headers carry no cwd: take it from the `<environment_context>` the harness sent."""
        content = p.get("content")
        for c in content if isinstance(content, list) else ():
            text = c.get("text") if isinstance(c, dict) else None
            if isinstance(text, str) and "<environment_context>" in text[:200]:
                m = _CWD.search(text)
                if m and m.group(1).strip():
                    st.cwd_known = True
                    emit(ev.Meta(sid, cwd=m.group(1).strip()))
                    return

    def _call(self, st: CodexState, sid: str, it: str, p: dict[str, Any], ts: str | None, off: int,
              emit: Emit) -> None:
        call_id = str(p.get("call_id") or p.get("id") or f"{it}@{off}")
        kind: str | None = None
        if it == "function_call":
            name = str(p.get("name") or "")
            raw = p.get("arguments")
            args: Any = raw
            if isinstance(raw, str):
                try:
                    args = jloads(raw) if raw else {}
                except orjson.JSONDecodeError:
                    args = raw
            ns = p.get("namespace")
            kind = tool_kind(name)
            if isinstance(ns, str) and ns and ns not in ("functions", "collaboration"):
                if ns == "web":
                    kind = "search"
                elif ns.startswith("mcp"):
                    kind = "mcp"
                name = f"{ns}.{name}"
            elif kind == "other" and "__" in name.strip("_"):
                kind = "mcp"  # MCP tools are exposed as `server__tool`
        elif it == "custom_tool_call":
            name = str(p.get("name") or "")
            args = p.get("input")
        elif it == "local_shell_call":
            name, args = "local_shell_call", p.get("action")
        elif it == "tool_search_call":
            name = "tool_search_call"
            args = p.get("arguments")
            if isinstance(args, str):
                try:
                    args = jloads(args)
                except orjson.JSONDecodeError:
                    pass
        elif it == "web_search_call":
            name, args = "web_search", p.get("action")
        else:  # image_generation_call
            name, args = "image_generation", {"prompt": p.get("revised_prompt")}
        emit(ev.Call(sid, call_id, name, args, ts, kind=kind))
        if it == "web_search_call":
            early = st.ws_ends.pop(call_id, None)
            status = p.get("status")
            if early is not None:
                self._settle(st, sid, call_id, early[0], early[2], early[1], None, None, emit)
            elif status in ("completed", "failed", "incomplete", "error"):
                self._settle(st, sid, call_id, ts, off, _web_search_text(p), status != "completed", None, emit)
            else:
                _remember(st.ws_waiting, call_id, None)
        elif it == "image_generation_call":
            status = p.get("status")
            if status in ("completed", "failed", "incomplete", "error", "generating") or p.get("result"):
                self._settle(st, sid, call_id, ts, off, "[image]" if p.get("result") else "",
                             True if status in ("failed", "incomplete", "error") else None, None, emit)

    def _settle(self, st: CodexState, sid: str, call_id: str, ts: str | None, off: int, text: str,
                is_error: bool | None, code: int | None, emit: Emit, message: str | None = None) -> None:
        """Emit the result of a call, merged with failure evidence that arrived before it."""
        hint_err, hint = output_hint(text)
        if hint_err:
            is_error = True
        if code is None:
            code = header_exit_code(text)
        mark = st.marks.pop(call_id, None)
        if mark is not None:
            if mark[0]:
                is_error = True
            if code is None or code == 0:
                code = mark[1] if mark[1] is not None else code
            message = message or mark[2]
        _remember(st.done, call_id, off)
        emit(ev.Result(sid, call_id, ts, text, is_error=is_error, exit_code=code, hint=hint, message=message,
                       off=off))

    def _mark_failed(self, st: CodexState, sid: str, call_id: str, ts: str | None, p: dict[str, Any],
                     is_error: bool | None, code: int | None, message: str | None, emit: Emit) -> None:
        """Failure evidence from an event (patch_apply_end, mcp_tool_call_end, …) for `call_id`."""
        if not call_id:
            return
        out_off = st.done.get(call_id)
        if out_off is None:
            _remember(st.marks, call_id, (is_error, code, message))  # the output is still to come
            return
        # The output came first (rare): settle again, now failed, with the output re-read from its line.
        text = self.read_output(SourceFile(st.path, NAME), out_off, call_id) if st.path else None
        if text is None:
            text = event_result_text(p) or ""
        self._settle(st, sid, call_id, ts, out_off, text, is_error, code, emit, message)

    # -- events -----------------------------------------------------------------------------------

    def _event(self, st: CodexState, sid: str, p: dict[str, Any], ts: str | None, off: int, emit: Emit,
               stats: ParseStats) -> None:
        et = p.get("type")
        if et == "token_count":
            self._tokens(st, sid, p, ts, emit)
        elif et == "user_message":
            kind = p.get("kind")
            if kind not in (None, "plain"):
                return  # 0.3x: environment context / user instructions mirrored as user_message
            text = as_str(p.get("message"))
            n_images = sum(len(p[k]) for k in ("images", "local_images") if isinstance(p.get(k), list))
            if n_images:
                text = (text + "\n" if text else "") + " ".join(["[image]"] * n_images)
            if not text.strip() or _is_harness(text):
                return
            st.pending = None  # its response_item copy, if one came first
            st.seen_user_message = True
            if st.task_open and st.task_prompted:
                # Typed while the task ran (Codex steers the running turn with it): part of that turn.
                st.step_open = False
                emit(ev.Interjection(sid, ts, text))
                return
            self._prompt(st, sid, ts, text, "user", off, emit)
        elif et == "task_started":
            st.step_open = False
            st.turn_unprompted = True
            st.task_events = True
            st.task_open = True
            st.task_prompted = False
            self._context_window(st, sid, p.get("model_context_window"), emit)
        elif et == "task_complete":
            self._flush_pending(st, sid, emit)
            st.step_open = False
            st.task_open = False
            last = p.get("last_agent_message")
            emit(ev.TurnEnd(sid, ts, last if isinstance(last, str) else None))
        elif et == "turn_aborted":
            self._flush_pending(st, sid, emit)
            st.step_open = False
            st.turn_unprompted = False
            st.task_open = False
            emit(ev.Interrupt(sid, ts))
        elif et == "context_compacted":
            self._compaction(st, sid, ts, "event", emit)
        elif et == "sub_agent_activity":
            child = p.get("agent_thread_id")
            call_id = p.get("event_id") or p.get("call_id")
            if p.get("kind") == "started" and isinstance(child, str) and isinstance(call_id, str) and child != sid:
                emit(ev.Link(sid, call_id, child))
        elif et == "patch_apply_end":
            if p.get("success") is False:
                msg = p.get("stderr") if isinstance(p.get("stderr"), str) and p.get("stderr") else None
                self._mark_failed(st, sid, str(p.get("call_id") or ""), ts, p, True, None,
                                  msg.strip()[:300] if msg else "patch failed to apply", emit)
        elif et == "mcp_tool_call_end":
            text, failed = _mcp_result(p.get("result"))
            if failed:
                self._mark_failed(st, sid, str(p.get("call_id") or ""), ts, p, True, None,
                                  text.strip()[:300] or "MCP tool call failed", emit)
        elif et == "exec_command_end":
            code = _int_or_none(p.get("exit_code"))
            if code:
                self._mark_failed(st, sid, str(p.get("call_id") or ""), ts, p, None, code, None, emit)
        elif et == "item_completed":
            item = p.get("item")
            if isinstance(item, dict) and item.get("type") in ("CommandExecution", "FileChange", "McpToolCall"):
                code = _int_or_none(item.get("exit_code"))
                if item.get("status") == "failed" or code:
                    self._mark_failed(st, sid, str(item.get("id") or ""), ts, p,
                                      True if item.get("status") == "failed" else None, code, None, emit)
        elif et == "web_search_end":
            call_id = str(p.get("call_id") or "")
            if call_id in st.ws_waiting:
                del st.ws_waiting[call_id]
                self._settle(st, sid, call_id, ts, off, _web_search_text(p), None, None, emit)
            elif call_id and call_id not in st.done:
                _remember(st.ws_ends, call_id, (ts, _web_search_text(p), off))
                if len(st.ws_ends) > 32:
                    st.ws_ends.pop(next(iter(st.ws_ends)))
        elif et == "entered_review_mode":
            hint = p.get("user_facing_hint")
            self._flush_pending(st, sid, emit)
            self._prompt(st, sid, ts, "/review" + (f" {hint}" if isinstance(hint, str) and hint else ""),
                         "slash_command", off, emit, slash="/review")
        elif et == "thread_settings_applied":
            settings = p.get("thread_settings")
            model = settings.get("model") if isinstance(settings, dict) else None
            if isinstance(model, str) and model and model != st.model:
                st.model = model
                emit(ev.Meta(sid, model=model))
        elif et == "error":
            msg = p.get("message")
            if isinstance(msg, str) and msg and (st.has_turn or st.pending is not None):
                st.step_open = False  # the model request that failed is a step of its own
                self._begin(st, sid, ts, emit)
                emit(ev.StepFailed(sid, ts, msg))
                st.step_open = False
        elif et not in _IGNORED_EVENTS:
            stats.unknown[f"event_msg/{et}"] += 1

    def _context_window(self, st: CodexState, sid: str, value: Any, emit: Emit) -> None:
        cw = _int_or_none(value)
        if cw and cw != st.context_window:
            st.context_window = cw
            emit(ev.Meta(sid, context_window=cw))

    def _tokens(self, st: CodexState, sid: str, p: dict[str, Any], ts: str | None, emit: Emit) -> None:
        st.step_open = False
        info = p.get("info")
        if not isinstance(info, dict):
            return  # rate limits only
        self._context_window(st, sid, info.get("model_context_window"), emit)
        last = info.get("last_token_usage")
        total = _sig(info.get("total_token_usage"))
        if total is None:
            total = _sig(last)  # no cumulative totals: a repeat of the same last usage is the duplicate
        if total is None or total == st.prev_total:
            return
        st.prev_total = total
        if not isinstance(last, dict):
            return
        usage = usage_of(last)
        st.last_context = usage[0] + usage[1] + usage[2]
        if st.cur_key is not None and st.items_since_usage:
            key = st.cur_key
        else:
            # A request whose items were not persisted (or were copied): a step of its own.
            self._flush_pending(st, sid, emit)
            st.step_n += 1
            key = st.cur_key = str(st.step_n)
            emit(ev.StepBegin(sid, key, ts, st.model))
        st.items_since_usage = False
        emit(ev.StepUsage(sid, key, *usage))

    def _compaction(self, st: CodexState, sid: str, ts: str | None, src: str, emit: Emit) -> None:
        """`compacted` and `event_msg/context_compacted` describe one compaction: record it once."""
        st.step_open = False
        if st.compact_src is not None and st.compact_src != src:
            st.compact_src = None
            return
        self._flush_pending(st, sid, emit)
        st.compact_src = src
        emit(ev.Compact(sid, ts, None, st.last_context))

    # -- on-demand output -------------------------------------------------------------------------

    def read_output(self, src: SourceFile, offset: int, call_id: str) -> str | None:
        for o in read_line_at(src.path, offset):
            if not isinstance(o, dict):
                continue
            payload = o.get("payload")
            p: dict[str, Any] = payload if isinstance(payload, dict) else o
            t = p.get("type")
            if t in _OUTPUT_ITEMS and str(p.get("call_id") or "") == call_id:
                return normalize_output(p)[0]
            if t == "web_search_call":
                return _web_search_text(p)
            if t == "image_generation_call":
                return "[image]" if p.get("result") else ""
            if o.get("type") == "event_msg" and str(p.get("call_id") or "") == call_id:
                return event_result_text(p)
        return None


def _reasoning_texts(p: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    summary = p.get("summary")
    if isinstance(summary, list):
        for s in summary:
            if isinstance(s, dict) and isinstance(s.get("text"), str) and s["text"]:
                texts.append(s["text"])
    if not texts:
        content = p.get("content")
        if isinstance(content, list):
            for c in content:
                if isinstance(c, dict) and c.get("type") in ("reasoning_text", "text") and \
                        isinstance(c.get("text"), str) and c["text"]:
                    texts.append(c["text"])
    return texts


def _lineage(p: dict[str, Any]) -> tuple[str | None, str | None]:
    """(parent thread id, agent name) of a thread from its session_meta."""
    parent: str | None = None
    agent: str | None = None
    source = p.get("source")
    sub = source.get("subagent") if isinstance(source, dict) else None
    if isinstance(sub, str):
        agent = sub  # {"subagent":"review"} / {"subagent":"compact"}
    elif isinstance(sub, dict):
        spawn = sub.get("thread_spawn")
        if isinstance(spawn, dict):
            if isinstance(spawn.get("parent_thread_id"), str):
                parent = spawn["parent_thread_id"]
            for k in ("agent_nickname", "agent_role"):
                if isinstance(spawn.get(k), str) and spawn[k]:
                    agent = spawn[k]
                    break
        else:
            for k, v in sub.items():
                agent = v if isinstance(v, str) and v else str(k)
                break
    for k in ("parent_thread_id", "forked_from_id"):
        if parent is None and isinstance(p.get(k), str) and p[k]:
            parent = p[k]
    for k in ("agent_nickname", "agent_role"):
        if agent is None and isinstance(p.get(k), str) and p[k]:
            agent = p[k]
    return parent, agent
