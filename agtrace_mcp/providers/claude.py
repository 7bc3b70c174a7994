"""Claude Code: `~/.claude/projects/<slug>/<session>.jsonl` and its subagent files.

Layouts of subagents: inline `isSidechain` runs inside the session file (1.x), sibling
`agent-<id>.jsonl` (2.0), and `<session>/subagents/agent-<id>.jsonl` (2.1). Facts: research/log-formats.md §1.
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
from .base import SHAPE_ERRORS, BaseProvider, Emit, ParseStats, SourceFile, safe_walk
from .files import read_regular
from .jsonl import JsonlReader, as_dict, read_line_at
from .jsonl import loads as jloads

NAME = "claude_code"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_COMMAND = re.compile(r"<command-name>\s*(/?[^<]*?)\s*</command-name>", re.S)
_COMMAND_ARGS = re.compile(r"<command-args>(.*?)</command-args>", re.S)
# Harness blocks the user did not type; a prompt made only of these is not a turn.
_HARNESS_BLOCK = re.compile(
    r"<(system-reminder|ide_opened_file|ide_selection|ide_diagnostics|user-memory-input|"
    r"local-command-caveat|session-start-hook|user-prompt-submit-hook)>.*?</\1>", re.S)
_NOT_PROMPT_PREFIXES = (
    "<local-command-stdout>", "<local-command-stderr>", "<local-command-caveat>",
    "Caveat: The messages below were generated", "<bash-input>", "<bash-stdout>", "<bash-stderr>",
    "<command-stdout>", "<task-notification>",
)
_INTERRUPT = "[Request interrupted by user"
_KNOWN_TYPES = frozenset({
    "user", "assistant", "system", "progress", "attachment", "summary", "file-history-snapshot",
    "file-history-delta", "queue-operation", "last-prompt", "custom-title", "ai-title", "agent-name", "mode",
    "permission-mode", "pr-link", "worktree-state", "relocated", "atis-latch", "frame-link", "bridge-session",
    "api-request", "api-request-blob", "api-request-shape", "cost-state", "tag", "agent-color",
})
_TASK_TOOLS = ("Task", "Agent")
# `Exit code N` (or `Error: Exit code N`) starts the output of a failed Bash call
EXIT_CODE = re.compile(r"^(?:Error: )?Exit code (-?\d+)", re.MULTILINE)
# BashOutput/TaskOutput only read what a background shell or task (`bash_id`, `shell_id`, `task_id`) printed;
# MultiEdit lists its edits under `edits` (the default), NotebookEdit names `notebook_path`
TOOL_SHAPES = GENERIC.extend(poll_tools=("BashOutput", "TaskOutput"), process_keys=("bash_id", "shell_id", "task_id"))


@dataclass
class ClaudeState:
    sid: str | None  # the session of this file (None until known: file names that are not UUIDs)
    agent_file: bool
    parent: str | None
    agent_name: str | None = None
    versions: dict[str, str] = field(default_factory=dict)  # sid -> last version announced
    sc_of: dict[str, str] = field(default_factory=dict)  # record uuid -> inline sidechain session id
    last_sc: str | None = None
    task_prompts: dict[str, str] = field(default_factory=dict)  # Task prompt -> call id awaiting a sidechain
    pending_slash: tuple[str, str | None, str, str, int] | None = None  # sid, ts, text, command, offset
    seen_user: bool = False  # agent files: records before the first user record are copies of the parent's
    # Prompts typed while the agent worked (`queue-operation` enqueue): text and time, oldest first. A dequeue
    # turns the oldest into the next prompt (a user record follows); a remove means the running turn took it in.
    queued: list[tuple[str, str | None]] = field(default_factory=list)
    absorbed: list[str] = field(default_factory=list)  # texts already taken from `queued_command` attachments


def block_text(content: Any) -> str:
    """Text of a message or tool_result content: a string, or blocks (images shown as markers)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return "" if content is None else str(content)
    parts: list[str] = []
    for b in content:
        if isinstance(b, dict):
            t = b.get("type")
            if t == "text":
                parts.append(str(b.get("text", "")))
            elif t == "image":
                parts.append("[image]")
            elif t == "document":
                parts.append("[document]")
            elif t == "tool_reference":
                parts.append(f"[tool {b.get('tool_name', '')}]")
        elif isinstance(b, str):
            parts.append(b)
    return "\n".join(parts)


def _result_output(block: dict[str, Any]) -> str:
    return block_text(block.get("content"))


class ClaudeProvider(BaseProvider):
    name = NAME
    label = "Claude Code"
    order = 10
    short_name = "claude"
    aliases = ("claude-code", "claude code")
    root_env = ("CLAUDE_CONFIG_DIR",)  # the agent's own variables that move its logs
    incremental = True
    exit_pattern = EXIT_CODE
    tool_shapes = TOOL_SHAPES

    def default_roots(self, home: Path, env: dict[str, str]) -> list[Path]:
        return [self.agent_dir(env, home, ".claude") / "projects"]

    def claims(self, path: str) -> int:
        """Anything under a `.claude` folder; other agents' layouts are more specific and win."""
        return 1 if "/.claude/" in path.replace("\\", "/").lower() else 0

    def sniff(self, path: str, first: Any) -> int:
        if isinstance(first, dict) and ("sessionId" in first or first.get("type") in (
                "summary", "file-history-snapshot", "user", "assistant", "queue-operation")):
            return 1  # Gemini JSONL records have a sessionId too, with a projectHash: Gemini is surer
        return 0

    def discover(self, roots: list[Path]) -> Iterator[SourceFile]:
        for root in roots:
            if not root.is_dir():
                continue
            base = len(str(root)) + 1
            for path, name in safe_walk(root, "*.jsonl"):
                rel = path[base:].split(os.sep)
                if "tool-results" in rel:
                    continue
                if "subagents" in rel:
                    # <slug>/<session>/subagents/[workflows/...]/agent-<id>.jsonl
                    i = rel.index("subagents")
                    yield SourceFile(path, NAME, "subagent", parent=rel[i - 1] if i > 0 else None)
                elif name.startswith("agent-"):
                    yield SourceFile(path, NAME, "subagent")  # 2.0: parent = the records' sessionId
                else:
                    yield SourceFile(path, NAME, "session")

    def describe(self, path: str) -> SourceFile:
        """What a single file's location says (no folder walk)."""
        parts = Path(path).parts
        if "subagents" in parts:
            i = parts.index("subagents")
            return SourceFile(path, NAME, "subagent", parent=parts[i - 1] if i > 0 else None)
        if Path(path).name.startswith("agent-"):
            return SourceFile(path, NAME, "subagent")
        return SourceFile(path, NAME, "session")

    # -- parsing ----------------------------------------------------------------------------------

    def _init_state(self, src: SourceFile) -> ClaudeState:
        stem = Path(src.path).name.removesuffix(".jsonl")
        if src.kind == "subagent" or stem.startswith("agent-"):
            agent_id = stem.removeprefix("agent-")
            return ClaudeState(sid=agent_id, agent_file=True, parent=src.parent,
                               agent_name=_agent_name(src.path, agent_id))
        # The file name is the session id; copies renamed by other tools fall back to the records' sessionId.
        return ClaudeState(sid=stem if _UUID.match(stem) else None, agent_file=False, parent=None)

    def parse(self, src: SourceFile, offset: int, state: ClaudeState | None, emit: Emit,
              stats: ParseStats) -> tuple[int, ClaudeState]:
        st = state if state is not None else self._init_state(src)
        reader = JsonlReader(src.path, offset, stats)
        for off, o in reader:
            try:
                if not isinstance(o, dict):
                    stats.bad(off, "not a JSON object", str(o))
                    continue
                t = o.get("type")
                if t in ("user", "assistant", "system"):
                    sid = self._route(st, o, src, emit, stats)
                    if sid is None:
                        continue
                    if t == "assistant":
                        if st.agent_file and not st.seen_user:
                            stats.skipped["copied_from_parent"] += 1
                            continue
                        self._assistant(st, sid, o, emit)
                    elif t == "user":
                        st.seen_user = True
                        self._user(st, sid, o, off, emit)
                    else:
                        self._system(st, sid, o, emit)
                elif t == "queue-operation":
                    self._queue(st, o, emit)
                elif t == "attachment":
                    self._attachment(st, o, src, emit, stats)
                elif t not in _KNOWN_TYPES:
                    stats.unknown[str(t)] += 1
            except SHAPE_ERRORS as e:
                stats.shape(off, e, o)
        return reader.end, st

    def _route(self, st: ClaudeState, o: dict[str, Any], src: SourceFile, emit: Emit,
               stats: ParseStats) -> str | None:
        """Which session a conversation record belongs to (None: not this file's own record)."""
        rec_sid = o.get("sessionId")
        ts = norm_ts(o.get("timestamp"))
        if st.agent_file:
            sid = st.sid or str(rec_sid)
            if st.parent is None and rec_sid and rec_sid != sid:
                st.parent = rec_sid
            parent = st.parent
        elif o.get("isSidechain"):
            # ids of another type (damaged records) are no ids: they must never become a session id
            uuid, parent_uuid, agent_id = (v if isinstance(v, str) else None
                                           for v in (o.get("uuid"), o.get("parentUuid"), o.get("agentId")))
            sc = st.sc_of.get(parent_uuid) if parent_uuid else None
            if sc is None:
                sc = (agent_id or uuid or st.last_sc) if parent_uuid is None or st.last_sc is None \
                    else st.last_sc
            if sc is None:
                return None
            if uuid:
                st.sc_of[uuid] = sc
            st.last_sc = sc
            sid = sc
            parent = st.sid
        else:
            if st.sid is None and isinstance(rec_sid, str):
                st.sid = rec_sid
            if isinstance(rec_sid, str) and rec_sid != st.sid:
                # Copied history of another session (resume/fork copies earlier records in).
                stats.skipped["copied_from_other_session"] += 1
                return None
            sid = st.sid or "unknown"
            parent = None
        version = o.get("version")
        if sid not in st.versions or (version and st.versions[sid] != version):
            first = sid not in st.versions
            st.versions[sid] = version or ""
            emit(ev.Meta(sid, provider=NAME, ts=ts, cwd=o.get("cwd") if first else None,
                         git_branch=(o.get("gitBranch") or None) if first else None, cli_version=version,
                         parent=parent, source_file=src.path if first else None,
                         agent_name=st.agent_name if (first and st.agent_file) else None))
        return sid

    def _assistant(self, st: ClaudeState, sid: str, o: dict[str, Any], emit: Emit) -> None:
        msg = o.get("message")
        if not isinstance(msg, dict):
            return
        model = msg.get("model")
        api_error = bool(o.get("isApiErrorMessage"))
        if model == "<synthetic>" and not api_error:
            return  # text the harness wrote itself ("No response requested."), not a model response
        self._emit_pending_slash(st, sid, emit)
        ts = norm_ts(o.get("timestamp"))
        key = msg.get("id") or o.get("requestId") or o.get("uuid") or ""
        emit(ev.StepBegin(sid, key, ts, None if model == "<synthetic>" else model))
        content = msg.get("content")
        if api_error:
            emit(ev.StepFailed(sid, ts, block_text(content) or str(o.get("error") or "API error")))
            return
        if isinstance(content, str):
            emit(ev.Text(sid, "message", content, ts))
        elif isinstance(content, list):
            for b in content:
                if not isinstance(b, dict):
                    continue
                bt = b.get("type")
                if bt == "text":
                    emit(ev.Text(sid, "message", str(b.get("text", "")), ts))
                elif bt == "thinking":
                    emit(ev.Text(sid, "reasoning", str(b.get("thinking", "")), ts))
                elif bt in ("tool_use", "server_tool_use"):
                    call_id = str(b.get("id", ""))
                    name = str(b.get("name", ""))
                    args = b.get("input")
                    emit(ev.Call(sid, call_id, name, args, ts))
                    if name in _TASK_TOOLS and isinstance(args, dict) and isinstance(args.get("prompt"), str):
                        st.task_prompts[args["prompt"].strip()] = call_id
        usage = msg.get("usage")
        if isinstance(usage, dict) and model != "<synthetic>":
            emit(ev.StepUsage(sid, key, _int(usage.get("input_tokens")), _int(usage.get("cache_read_input_tokens")),
                              _int(usage.get("cache_creation_input_tokens")), _int(usage.get("output_tokens")), 0))

    def _user(self, st: ClaudeState, sid: str, o: dict[str, Any], off: int, emit: Emit) -> None:
        msg = o.get("message")
        if not isinstance(msg, dict) or o.get("isMeta"):
            return
        ts = norm_ts(o.get("timestamp"))
        content = msg.get("content")
        if o.get("isCompactSummary"):
            st.pending_slash = None
            emit(ev.Prompt(sid, ts, block_text(content), "compaction", off=off))
            return
        if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
            self._tool_results(sid, o, content, ts, off, emit)
            return
        text = block_text(content)
        stripped = text.strip()
        if stripped.startswith(_INTERRUPT):
            emit(ev.Interrupt(sid, ts))
            return
        if "<command-name>" in stripped:
            m = _COMMAND.search(stripped)
            command = m.group(1).strip() if m else ""
            if command and not command.startswith("/"):
                command = "/" + command
            am = _COMMAND_ARGS.search(stripped)
            args = am.group(1).strip() if am else ""
            st.pending_slash = (sid, ts, f"{command} {args}".strip(), command, off)
            return
        if stripped.startswith(_NOT_PROMPT_PREFIXES):
            if stripped.startswith(("<local-command-stdout>", "<local-command-stderr>")):
                st.pending_slash = None  # the command ran locally; the model never saw a prompt
            return
        cleaned = _HARNESS_BLOCK.sub("", text).strip()
        if not cleaned:
            return
        st.pending_slash = None
        if st.agent_file is False and o.get("isSidechain") and o.get("parentUuid") is None:
            self._link_sidechain(st, sid, cleaned, emit)
        elif st.agent_file and cleaned == "Warmup":
            emit(ev.Meta(sid, agent_name="warmup"))
        emit(ev.Prompt(sid, ts, cleaned, "user", off=off))

    # -- messages typed while the agent works ------------------------------------------------------

    def _queue(self, st: ClaudeState, o: dict[str, Any], emit: Emit) -> None:
        """`queue-operation` records: what the user typed while the agent was busy. Older builds (2.1.2x) record
        a message the running turn took in only as enqueue + remove; newer ones also write a `queued_command`
        attachment (taken first, see `_attachment`)."""
        if st.agent_file:
            return
        op = o.get("operation")
        if op == "enqueue":
            content = o.get("content")
            text = block_text(content).strip() if content is not None else ""
            if text:
                st.queued.append((text, norm_ts(o.get("timestamp"))))
                del st.queued[:-16]  # bounded: the state is pickled
        elif op == "dequeue":
            if st.queued:
                st.queued.pop(0)  # it becomes the next prompt: its user record follows
        elif op == "remove":
            if not st.queued:
                return
            text, ts = st.queued.pop(0)
            if text in st.absorbed:
                st.absorbed.remove(text)
                return
            sid = st.sid or (o.get("sessionId") if isinstance(o.get("sessionId"), str) else None)
            if sid and not text.startswith(("<", "/")):  # task notifications and slash commands are not typed text
                emit(ev.Interjection(sid, ts or norm_ts(o.get("timestamp")), text))

    def _attachment(self, st: ClaudeState, o: dict[str, Any], src: SourceFile, emit: Emit, stats: ParseStats) -> None:
        """A `queued_command` attachment of a human prompt: the message the running turn took in."""
        a = o.get("attachment")
        if not isinstance(a, dict) or a.get("type") != "queued_command" or a.get("isMeta") or o.get("isMeta"):
            return
        if a.get("commandMode", "prompt") != "prompt":
            return  # task notifications and the like: the harness, not the user
        origin = a.get("origin")
        if isinstance(origin, dict) and origin.get("kind", "human") != "human":
            return
        text = _HARNESS_BLOCK.sub("", block_text(a.get("prompt"))).strip()
        if not text:
            return
        sid = self._route(st, o, src, emit, stats)
        if sid is None:
            return
        emit(ev.Interjection(sid, norm_ts(o.get("timestamp")), text))
        for _i, (queued, _ts) in enumerate(st.queued):
            if queued == text:  # its queue record's remove comes next: do not take it twice
                st.absorbed.append(text)
                del st.absorbed[:-16]
                break

    def _link_sidechain(self, st: ClaudeState, sid: str, prompt: str, emit: Emit) -> None:
        if prompt == "Warmup":
            emit(ev.Meta(sid, agent_name="warmup"))
            return
        call_id = st.task_prompts.pop(prompt, None)
        if call_id and st.sid:
            emit(ev.Link(st.sid, call_id, sid))
            emit(ev.Meta(sid, agent_name="task"))

    def _tool_results(self, sid: str, o: dict[str, Any], content: list[Any], ts: str | None, off: int,
                      emit: Emit) -> None:
        tur = o.get("toolUseResult")
        interrupted = isinstance(tur, dict) and tur.get("interrupted") is True
        child = None
        if isinstance(tur, dict) and isinstance(tur.get("agentId"), str):
            child = tur["agentId"]
        tur_error = isinstance(tur, str) and tur.startswith("Error")
        n_results = 0
        said: list[str] = []
        for b in content:
            if not isinstance(b, dict):
                continue
            if b.get("type") != "tool_result":
                if b.get("type") == "text":
                    text = str(b.get("text", ""))
                    if text.startswith(_INTERRUPT):
                        emit(ev.Interrupt(sid, ts))
                    else:
                        # Typed while the tools ran: it reached the model with their results (2.1.x).
                        typed = _HARNESS_BLOCK.sub("", text).strip()
                        if typed and not typed.startswith(_NOT_PROMPT_PREFIXES):
                            said.append(typed)
                continue
            n_results += 1
            output = _result_output(b)
            flag = b.get("is_error")
            is_error = bool(flag) if flag is not None else (True if tur_error and n_results == 1 else None)
            code = exit_code_in(output, EXIT_CODE) if is_error else None
            emit(ev.Result(sid, str(b.get("tool_use_id", "")), ts, output, is_error=is_error, exit_code=code,
                           hint="interrupted" if interrupted else None, child=child, off=off))
        for text in said:
            emit(ev.Interjection(sid, ts, text))

    def _system(self, st: ClaudeState, sid: str, o: dict[str, Any], emit: Emit) -> None:
        sub = o.get("subtype")
        if sub == "compact_boundary":
            cm = as_dict(o.get("compactMetadata"))
            emit(ev.Compact(sid, norm_ts(o.get("timestamp")), cm.get("trigger"), _int_or_none(cm.get("preTokens"))))
        elif sub == "local_command":
            st.pending_slash = None
        elif sub in ("turn_duration", "stop_hook_summary") and not o.get("preventedContinuation"):
            # the agent stopped: the turn ended (its Stop hooks ran), with or without an answer written
            emit(ev.TurnEnd(sid, norm_ts(o.get("timestamp"))))

    @staticmethod
    def _emit_pending_slash(st: ClaudeState, sid: str, emit: Emit) -> None:
        p = st.pending_slash
        if p is not None and p[0] == sid:
            st.pending_slash = None
            emit(ev.Prompt(sid, p[1], p[2], "slash_command", slash=p[3], off=p[4]))

    def read_output(self, src: SourceFile, offset: int, call_id: str) -> str | None:
        for o in read_line_at(src.path, offset):
            msg = o.get("message") if isinstance(o, dict) else None
            content = msg.get("content") if isinstance(msg, dict) else None
            if isinstance(content, list):
                for b in content:
                    if isinstance(b, dict) and b.get("type") == "tool_result" and b.get("tool_use_id") == call_id:
                        return _result_output(b)
        return None


def _agent_name(path: str, agent_id: str) -> str | None:
    """The subagent's type from its `.meta.json` sidecar (2.1.9x), or the kind of harness side-agent."""
    meta = Path(path[: -len(".jsonl")] + ".meta.json")
    try:
        data = jloads(read_regular(meta, 1 << 20))
        if isinstance(data, dict) and isinstance(data.get("agentType"), str):
            return data["agentType"]
    except (OSError, orjson.JSONDecodeError):
        pass
    for side in ("prompt_suggestion", "compact"):
        if agent_id.startswith("a" + side + "-"):
            return side
    return None


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None
