"""Google Gemini CLI: `~/.gemini/tmp/<project>/chats/session-*.json` (legacy) and `.jsonl` (≥ 0.39).

Facts: research/log-formats.md §3, research/log-formats-2.md §2.

Layout. `<project>` is a 64-hex sha256 of the project root (≤ 0.28) or a name slug registered in
`~/.gemini/projects.json` (≥ 0.29, with a `.project_root` marker file in the slug dir). Main sessions are
`chats/session-<utc minute>-<8 chars of sessionId>.json[l]`; subagent sessions are
`chats/<parentSessionId>/<sessionId>.jsonl`. A resumed legacy `x.json` is migrated to `x.jsonl` and the old
file stays: the `.jsonl` wins.

Reading. The legacy `.json` is rewritten whole: every change reads it again. The JSONL log replaces messages by
id and rewinds, so the first read replays it from the start into the final message list and emits events for
that list in order; a later read continues from where the last one stopped (`_Tail`) when what was appended
can only extend that list: new messages, or a new copy of the last message that only adds tool calls, results
of calls that were still running, or newer tokens (Gemini writes a response first, then again with its tool
calls). A rewind, a `$set` of the messages or of the header keys used here, a restarted process's header, a
new copy of an earlier message, or a project root that the new messages would change make the index read the
whole file again (`NeedsFullRead`).

Decisions taken from the real files and the upstream source (chatRecordingService.ts):
- Tool timestamps. A `toolCalls[]` entry carries one `timestamp`, set by `recordCompletedToolCalls` when the
  call *completed* (it is always later than its message's timestamp, and a cancelled call's timestamp is 1 ms
  before the "Request cancelled." notice). So the call starts at its message's timestamp (the model response
  that asked for it was recorded then) and its result is dated by `toolCall.timestamp`. When both are equal
  (older builds created the message only when the tools finished) the end is left unknown, so no made-up
  0 ms duration is reported. Calls completed in one batch share one timestamp: a duration is an upper bound
  (it includes waiting for approval and for sibling calls).
- Tokens. `input` (promptTokenCount) includes `cached`; `tool` (toolUsePromptTokenCount) is prompt-side and
  not inside `input` (total = input + output + thoughts + tool). Usage: input = input - cached + tool,
  cache_read = cached, output = output + thoughts, reasoning = thoughts. So per step
  input + cache_read + output == total. An all-zero `tokens` object (seen in a real file) is no usage.
- Interrupts. An `info` "Request cancelled." (or another user cancellation notice) inside a turn marks it
  interrupted. Other `info`/`warning` messages are UI notices, not turns or steps.
- Failed model requests. An `error` (or `info`) message that reports a failed model request (API error,
  quota, malformed function call, "This request failed") inside a turn becomes a failed step of its own: the
  request that failed is a new model request, not the previous (complete) response. Other errors (MCP server
  discovery, hooks) are notices and are skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..engine import events as ev
from ..engine.failures import exit_code_in
from ..engine.shapes import GENERIC
from ..engine.timeutil import norm_ts
from ..engine.tools import tool_kind
from .base import (
    SHAPE_ERRORS,
    BaseProvider,
    Emit,
    KeepIndexed,
    NeedsFullRead,
    ParseStats,
    SourceFile,
    list_dir,
)
from .files import read_regular
from .jsonl import JsonlReader, as_dict, as_list, as_str, read_line_at
from .jsonl import loads as jloads

NAME = "gemini_cli"

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FINAL_STATUSES = frozenset({"success", "error", "cancelled"})
_PENDING_STATUSES = frozenset({"validating", "scheduled", "executing", "awaiting_approval"})
_SHELL_TOOLS = frozenset({"run_shell_command", "shell", "run_command"})
_SLASH = re.compile(r"^/[A-Za-z][\w:.-]*$")
# User messages the harness wrote, not the human: the bootstrap context and the next-speaker nudge.
_INJECTED_PREFIXES = ("<session_context>", "<environment_context>", "[Continuing from previous context")
_INJECTED_EXACT = frozenset({"Please continue.", "System: Please continue."})
_COMPACTION_PREFIX = "<state_snapshot>"
_CANCELLED = re.compile(r"^\s*(?:Request cancelled|User cancelled|Operation cancelled|Cancelled by user)",
                        re.IGNORECASE)
_REQUEST_FAILED = re.compile(
    r"API Error|RESOURCE_EXHAUSTED|quota|rate.?limit|\b429\b|This request failed|"
    r"Response stopped due to|malformed function call|model .{0,80}(?:not found|unavailable|overloaded)|"
    r"stream ended|Failed to generate content",
    re.IGNORECASE)
_WORKDIR = re.compile(r"I'm currently working in the directory: (.+)")
# the `Exit Code: N` trailer of a run_shell_command result (even under status "success")
EXIT_CODE = re.compile(r"^Exit Code: (-?\d+)", re.MULTILINE)
# background processes: list_background_processes / read_background_output only look at one
TOOL_SHAPES = GENERIC.extend(poll_tools=("read_background_output", "list_background_processes"),
                             process_keys=("process_id", "processId"), path_keys=("absolute_path",))


_NO_RESUME = 1 << 62  # the offset stored for a legacy document: the index never resumes it
_HEADER_KEYS = frozenset({"sessionId", "startTime", "projectHash", "directories"})  # the ones read here


@dataclass(slots=True)
class _Tail:
    """The parser state of a JSONL log: what a later read needs to continue the message list."""

    sid: str
    header: dict[str, Any]
    ids: set[str]  # every message id read so far
    last: dict[str, Any] | None  # the last message as last read (a new copy of it may extend it)
    n: int  # messages so far
    in_turn: bool
    cwd: str | None
    msg_dirs: list[str]  # workspace directories the messages named (project root candidates)


class _Registry:
    """`~/.gemini/projects.json`, read once per change: slug <-> path and sha256(path) -> path."""

    __slots__ = ("stamp", "slug_paths", "by_hash")

    def __init__(self, stamp: tuple[int, int], projects: dict[str, Any]) -> None:
        self.stamp = stamp
        self.slug_paths: dict[str, list[str]] = {}
        self.by_hash: dict[str, str] = {}
        for path, slug in projects.items():
            if not isinstance(path, str) or not path:
                continue
            if isinstance(slug, str):
                self.slug_paths.setdefault(slug, []).append(path)
            self.by_hash.setdefault(_sha(path), path)


def _sha(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()


class GeminiProvider(BaseProvider):
    name = NAME
    label = "Gemini CLI"
    order = 30
    short_name = "gemini"
    aliases = ("gemini-cli",)
    root_env = ()  # the agent's own variables that move its logs
    incremental = True  # JSONL logs that only grew continue from the last read (see the module docstring)
    exit_pattern = EXIT_CODE
    tool_shapes = TOOL_SHAPES

    def __init__(self) -> None:
        self._registries: dict[str, _Registry | None] = {}
        self._markers: dict[str, tuple[tuple[int, int], str | None]] = {}

    def default_roots(self, home: Path, env: dict[str, str]) -> list[Path]:
        return [self.agent_dir(env, home, ".gemini") / "tmp"]

    def claims(self, path: str) -> int:
        """`.gemini/tmp/<project>/chats/` files."""
        low = path.replace("\\", "/").lower()
        return 2 if "/.gemini/" in low and "/chats/" in low else 0

    def sniff(self, path: str, first: Any) -> int:
        if isinstance(first, dict):
            return 2 if "sessionId" in first and "projectHash" in first else 0
        # a pretty-printed single JSON document: the legacy session file
        try:
            doc = orjson.loads(read_regular(path))
        except (OSError, orjson.JSONDecodeError):
            return 0
        return 2 if isinstance(doc, dict) and "messages" in doc and "sessionId" in doc else 0

    # -- discovery ----------------------------------------------------------------------------------

    def discover(self, roots: list[Path]) -> Iterator[SourceFile]:
        """Session files under each root. A root may be the tmp dir, one project dir, a `chats` dir or a
        subagent folder `chats/<parent>` (so that a bare file path can be described by its own folder)."""
        for root in roots:
            if not root.is_dir():
                continue
            if root.name == "chats":
                yield from self._scan_chats(root)
            elif root.parent.name == "chats":
                yield from self._scan_subagents(root)
            elif (root / "chats").is_dir():
                yield from self._scan_chats(root / "chats")
            else:
                for entry in list_dir(root):
                    if entry.is_dir(follow_symlinks=False):
                        chats = Path(entry.path) / "chats"
                        if chats.is_dir():
                            yield from self._scan_chats(chats)

    def _scan_chats(self, chats: Path) -> Iterator[SourceFile]:
        jsonl: set[str] = set()
        legacy: list[os.DirEntry[str]] = []
        subdirs: list[os.DirEntry[str]] = []
        for entry in list_dir(chats):
            name = entry.name
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(entry)
            elif name.startswith("session-"):
                if name.endswith(".jsonl"):
                    jsonl.add(name[:-1])  # the legacy twin's name
                    yield SourceFile(entry.path, NAME, "session")
                elif name.endswith(".json"):
                    legacy.append(entry)
        for entry in legacy:
            if entry.name not in jsonl:  # migrated: the .jsonl holds everything the .json did, and more
                yield SourceFile(entry.path, NAME, "legacy_json")
        for entry in subdirs:
            yield from self._scan_subagents(Path(entry.path))

    def _scan_subagents(self, folder: Path) -> Iterator[SourceFile]:
        parent = folder.name
        jsonl: set[str] = set()
        legacy: list[os.DirEntry[str]] = []
        for entry in list_dir(folder):
            name = entry.name
            if not entry.is_file(follow_symlinks=False):
                continue
            if name.endswith(".jsonl"):
                jsonl.add(name[:-1])
                yield SourceFile(entry.path, NAME, "subagent", parent=parent)
            elif name.endswith(".json"):
                legacy.append(entry)
        for entry in legacy:
            if entry.name not in jsonl:
                yield SourceFile(entry.path, NAME, "subagent", parent=parent)

    def may_hold(self, path: str, ref: str) -> bool:
        """Main session files carry only the first 8 characters of the id (`session-<minute>-<8>.json[l]`);
        a subagent's file is named by its own id, in a folder named by its parent's."""
        if ref in path:
            return True
        name = os.path.basename(path)
        if name.startswith("session-"):
            token = name.rsplit(".", 2)[0].rsplit("-", 1)[-1]
            return len(token) >= 6 and token[:len(ref)] == ref[:len(token)]
        return False

    def describe(self, path: str) -> SourceFile:
        """What a single file's location says (no folder walk)."""
        p = Path(path)
        if p.parent.name != "chats" and p.parent.parent.name == "chats":
            return SourceFile(path, NAME, "subagent", parent=p.parent.name)
        return SourceFile(path, NAME, "legacy_json" if p.name.endswith(".json") else "session")

    # -- parsing ------------------------------------------------------------------------------------

    def parse(self, src: SourceFile, offset: int, state: Any, emit: Emit, stats: ParseStats) -> tuple[int, Any]:
        path = src.path
        if path.endswith(".json"):
            loaded = _load_legacy(path, stats)
            if loaded is not None:
                header, messages, offsets, _ = loaded
                self._emit_session(src, header, messages, offsets, emit, stats)
            return _NO_RESUME, None
        if offset:
            if not isinstance(state, _Tail):
                raise NeedsFullRead  # the last read found nothing to continue
            return self._continue(src, offset, state, emit, stats)
        loaded = _replay_jsonl(path, stats)
        if loaded is None:
            return _size(path), None
        header, messages, offsets, end = loaded
        return end, self._emit_session(src, header, messages, offsets, emit, stats)

    def _emit_session(self, src: SourceFile, header: dict[str, Any], messages: list[dict[str, Any]],
                      offsets: dict[str, int], emit: Emit, stats: ParseStats) -> _Tail:
        p = Path(src.path)
        sid = header.get("sessionId")
        if not isinstance(sid, str) or not sid:
            sid = p.name.rsplit(".", 1)[0]
        chats, layout_parent = _chats_dir(p)
        parent = src.parent or layout_parent
        if parent == sid:
            parent = None
        msg_dirs = list(_message_dirs(messages))
        cwd = self._project_root(chats.parent if chats is not None else None, header, msg_dirs)
        emit(ev.Meta(sid, provider=NAME, ts=norm_ts(header.get("startTime")), cwd=cwd, parent=parent,
                     source_file=src.path))
        in_turn = False
        for i, m in enumerate(messages):
            mid = m.get("id")
            in_turn = self._message(sid, i, m, offsets.get(mid if isinstance(mid, str) and mid else f"#{i}", -1),
                                    in_turn, emit, stats)
        return _Tail(sid, {k: header[k] for k in _HEADER_KEYS if k in header}, set(offsets),
                     messages[-1] if messages else None, len(messages), in_turn, cwd, msg_dirs)

    def _message(self, sid: str, i: int, m: dict[str, Any], off: int, in_turn: bool, emit: Emit,
                 stats: ParseStats) -> bool:
        """Events of message `i`; returns whether a turn is open after it."""
        try:
            t = m.get("type")
            mid = m.get("id")
            key = mid if isinstance(mid, str) and mid else f"#{i}"
            ts = norm_ts(m.get("timestamp"))
            if t == "gemini":
                self._gemini(sid, key, m, ts, off, emit)
                return True  # the builder opens a turn for a response that came before any prompt
            if t == "user":
                prompt = _user_prompt(m)
                if prompt is None:
                    stats.skipped["injected_user_message"] += 1
                    return in_turn
                text, origin, slash = prompt
                if origin == "compaction":
                    emit(ev.Compact(sid, ts))
                emit(ev.Prompt(sid, ts, text, origin, slash, off))
                return True
            if t in ("info", "error", "warning"):
                text = _parts_text(m.get("content"))
                if t == "info" and _CANCELLED.match(text):
                    if in_turn:
                        emit(ev.Interrupt(sid, ts))
                    else:
                        stats.skipped["cancel_notice_outside_turn"] += 1
                elif t != "warning" and in_turn and _REQUEST_FAILED.search(text):
                    emit(ev.StepBegin(sid, key, ts, None))
                    emit(ev.StepFailed(sid, ts, text.strip()))
                else:
                    stats.skipped[f"{t}_message"] += 1
                return in_turn
            stats.unknown[f"message:{t}"] += 1
        except SHAPE_ERRORS as e:
            stats.shape(off, e, m)
        return in_turn

    def _continue(self, src: SourceFile, offset: int, st: _Tail, emit: Emit,
                  stats: ParseStats) -> tuple[int, Any]:
        """What was appended since the last read, when it only extends the message list (checked whole
        before anything is emitted; otherwise NeedsFullRead)."""
        reader = JsonlReader(src.path, offset, stats)
        plan: list[tuple[int, dict[str, Any], dict[str, Any] | None]] = []  # (offset, message, copy it extends)
        last = st.last
        for off, o in reader:
            if not isinstance(o, dict):
                stats.bad(off, "not a JSON object", str(o))
                continue
            mid = o.get("id")
            if isinstance(mid, str):
                if mid not in st.ids:
                    st.ids.add(mid)
                    plan.append((off, o, None))
                elif last is not None and mid == last.get("id") and _extends(last, o):
                    plan.append((off, o, last))
                else:
                    raise NeedsFullRead  # an earlier message rewritten: only a whole read places it
                last = o
                continue
            s = o.get("$set")
            if isinstance(s, dict):
                if "messages" in s or not _HEADER_KEYS.isdisjoint(s):
                    raise NeedsFullRead
                continue
            if isinstance(o.get("$rewindTo"), str) or ("sessionId" in o and "projectHash" in o):
                raise NeedsFullRead
            op = next((k for k in o if isinstance(k, str) and k.startswith("$")), None)
            stats.unknown[op or "record"] += 1
        msg_dirs = st.msg_dirs + list(_message_dirs(o for _, o, old in plan if old is None))
        chats, _ = _chats_dir(Path(src.path))
        if self._project_root(chats.parent if chats is not None else None, st.header, msg_dirs) != st.cwd:
            raise NeedsFullRead  # the builder keeps the first project root it was told
        for off, o, old in plan:
            if old is None:
                st.in_turn = self._message(st.sid, st.n, o, off, st.in_turn, emit, stats)
                st.n += 1
            else:
                self._extend(st.sid, old, o, off, emit)
        st.last, st.msg_dirs = last, msg_dirs
        return reader.end, st

    def _extend(self, sid: str, old: dict[str, Any], new: dict[str, Any], off: int, emit: Emit) -> None:
        """A new copy of the last (still open) response: its added calls, the results of calls that were still
        running (every result again, dated by this copy's line as a whole read would), newer tokens."""
        key = new["id"]
        ts = norm_ts(new.get("timestamp"))
        model = new.get("model")
        emit(ev.StepBegin(sid, key, ts, model if isinstance(model, str) and model else None))
        before = as_list(old.get("toolCalls"))
        calls = as_list(new.get("toolCalls"))
        for j, tc in enumerate(calls):
            if isinstance(tc, dict):
                if j < len(before):
                    self._tool_result(sid, key, j, tc, ts, off, emit)
                else:
                    self._tool_call(sid, key, j, tc, ts, off, emit)
        usage = _step_usage(new)
        if usage is not None and usage != _step_usage(old):
            emit(ev.StepUsage(sid, key, *usage))

    def _gemini(self, sid: str, key: str, m: dict[str, Any], ts: str | None, off: int, emit: Emit) -> None:
        model = m.get("model")
        emit(ev.StepBegin(sid, key, ts, model if isinstance(model, str) and model else None))
        thoughts = m.get("thoughts")
        if isinstance(thoughts, list):
            for th in thoughts:
                if isinstance(th, dict):
                    subject = th.get("subject")
                    desc = th.get("description")
                    text = "\n".join(s for s in (subject, desc) if isinstance(s, str) and s)
                    if text:
                        emit(ev.Text(sid, "reasoning", text, norm_ts(th.get("timestamp"))))
        content = m.get("content")
        if isinstance(content, str):
            if content:
                emit(ev.Text(sid, "message", content, ts))
        elif isinstance(content, list):
            said: list[str] = []
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]:
                    if part.get("thought"):
                        emit(ev.Text(sid, "reasoning", part["text"], ts))
                    else:
                        said.append(part["text"])
            if said:
                emit(ev.Text(sid, "message", "".join(said), ts))
        calls = m.get("toolCalls")
        if isinstance(calls, list):
            for j, tc in enumerate(calls):
                if isinstance(tc, dict):
                    self._tool_call(sid, key, j, tc, ts, off, emit)
        usage = _step_usage(m)
        if usage is not None:
            emit(ev.StepUsage(sid, key, *usage))

    @classmethod
    def _tool_call(cls, sid: str, key: str, j: int, tc: dict[str, Any], msg_ts: str | None, off: int,
                   emit: Emit) -> None:
        call_id = tc.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = f"{key}:tool{j}"
        name = as_str(tc.get("name"))
        start = msg_ts or norm_ts(tc.get("timestamp"))
        kind = None
        display = tc.get("displayName")
        if isinstance(display, str) and "MCP Server" in display and tool_kind(name) == "other":
            kind = "mcp"  # older builds named MCP tools without a prefix: "list_tables (postgres MCP Server)"
        emit(ev.Call(sid, call_id, name, tc.get("args"), start, kind))
        cls._tool_result(sid, key, j, tc, msg_ts, off, emit)

    @staticmethod
    def _tool_result(sid: str, key: str, j: int, tc: dict[str, Any], msg_ts: str | None, off: int,
                     emit: Emit) -> None:
        if not _finished(tc):
            return  # never finished: the builder reports the call as missing (or in progress while live)
        call_id = tc.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = f"{key}:tool{j}"
        name = as_str(tc.get("name"))
        tool_ts = norm_ts(tc.get("timestamp"))
        start = msg_ts or tool_ts
        status = tc.get("status")
        output, has_error_key = tool_output(tc)
        if status == "error" or status == "cancelled":
            is_error: bool | None = True
        elif status == "success":
            is_error = False
        else:
            is_error = True if has_error_key else None
        code = None
        if name in _SHELL_TOOLS or output.startswith(("Command: ", "Output: ")):
            code = shell_exit_code(output)
        end = tool_ts if (tool_ts is not None and (start is None or tool_ts > start)) else None
        emit(ev.Result(sid, call_id, end, output, is_error=is_error, exit_code=code,
                       hint=_cancel_kind(output) if status == "cancelled" else None, off=off))

    # -- project root ---------------------------------------------------------------------------------

    def _project_root(self, project_dir: Path | None, header: dict[str, Any], msg_dirs: list[str]) -> str | None:
        """The project root, never guessed from the folder name: a path whose sha256 is the file's
        `projectHash` (from projects.json, the slug dir's marker, `directories`, the workspace directories
        the harness wrote into the conversation), else the slug dir's registration."""
        h = header.get("projectHash")
        if not (isinstance(h, str) and _HEX64.match(h)):
            h = project_dir.name if project_dir is not None and _HEX64.match(project_dir.name) else None
        registry = self._registry(project_dir.parent.parent / "projects.json") if project_dir is not None else None
        marker = self._marker(project_dir / ".project_root") if project_dir is not None else None
        is_slug = project_dir is not None and not _HEX64.match(project_dir.name)
        slug_paths = registry.slug_paths.get(project_dir.name, []) if (registry and is_slug and project_dir) else []
        if h:
            if registry is not None and h in registry.by_hash:
                return registry.by_hash[h]
            for cand in _iter_candidates(marker, slug_paths, header, msg_dirs):
                if _sha(cand) == h:
                    return cand
        if is_slug:
            if marker:
                return marker
            if len(slug_paths) == 1:
                return slug_paths[0]
        return None

    def project_from_known(self, file_path: str, known: Iterable[str]) -> str | None:
        """The project of a log in a hash-named folder (`tmp/<sha256 of the project root>/`) whose root the log
        itself never wrote: the known path (another agent's cwd, a path in a tool argument) with that hash."""
        folder = Path(file_path).parent
        while folder.name and folder.name != "chats":
            folder = folder.parent
        h = folder.parent.name if folder.name == "chats" else ""
        if not _HEX64.match(h):
            return None
        for cand in known:
            if _sha(cand) == h:
                return cand
        return None

    def _registry(self, path: Path) -> _Registry | None:
        key = str(path)
        try:
            st = os.stat(key)
        except OSError:
            self._registries.pop(key, None)
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._registries.get(key)
        if cached is not None and cached.stamp == stamp:
            return cached
        try:
            data = jloads(read_regular(key))
        except (OSError, orjson.JSONDecodeError):
            return None
        projects = data.get("projects") if isinstance(data, dict) else None
        reg = _Registry(stamp, projects if isinstance(projects, dict) else {})
        self._registries[key] = reg
        return reg

    def _marker(self, path: Path) -> str | None:
        key = str(path)
        try:
            st = os.stat(key)
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._markers.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            text = read_regular(key, 1 << 16).decode("utf-8").strip() or None
        except (OSError, UnicodeDecodeError):
            text = None
        self._markers[key] = (stamp, text)
        return text

    # -- full outputs on demand -----------------------------------------------------------------------

    def read_output(self, src: SourceFile, offset: int, call_id: str) -> str | None:
        if src.path.endswith(".jsonl") and offset >= 0:
            try:
                values = read_line_at(src.path, offset)
            except OSError:
                return None
            for v in values:
                if isinstance(v, dict) and isinstance(v.get("$set"), dict):
                    msgs = v["$set"].get("messages")
                else:
                    msgs = [v]
                found = _find_output(msgs if isinstance(msgs, list) else [], call_id)
                if found is not None:
                    return found
            return None
        try:
            loaded = (_load_legacy(src.path, ParseStats()) if src.path.endswith(".json")
                      else _replay_jsonl(src.path, ParseStats()))
        except KeepIndexed:  # caught mid-write: the index's preview answers
            return None
        return _find_output(loaded[1], call_id) if loaded is not None else None


# -- reading the two containers ------------------------------------------------------------------------

Loaded = tuple[dict[str, Any], list[dict[str, Any]], dict[str, int], int]


def _load_legacy(path: str, stats: ParseStats) -> Loaded | None:
    """One pretty-printed document, rewritten whole on every change. A half-written file is reported, not raised."""
    try:
        data = read_regular(path)
    except OSError as e:
        stats.bad(0, f"unreadable: {e.__class__.__name__}", "")
        return None
    if not data.strip():
        raise KeepIndexed("empty JSON document (being rewritten?)")
    stats.bytes += len(data)
    stats.lines += data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    try:
        doc = jloads(data)
    except orjson.JSONDecodeError:
        # Gemini rewrites the whole document on every change: an invalid one is being written right now
        raise KeepIndexed("invalid JSON document (half-written?)", data[-120:]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
        stats.bad(0, "not a Gemini session document", data[:120])
        return None
    stats.records += 1
    by_id: dict[str, dict[str, Any]] = {}
    for i, m in enumerate(doc["messages"]):
        if isinstance(m, dict):
            mid = m.get("id")
            by_id[mid if isinstance(mid, str) and mid else f"#{i}"] = m
    header = {k: v for k, v in doc.items() if k != "messages"}
    return header, list(by_id.values()), {}, len(data)


def _replay_jsonl(path: str, stats: ParseStats) -> Loaded | None:
    """Replay the op log: header, messages (same id replaces in place), `$set`, `$rewindTo`."""
    header: dict[str, Any] = {}
    msgs: dict[str, dict[str, Any]] = {}
    offsets: dict[str, int] = {}
    reader = JsonlReader(path, 0, stats)
    try:
        for off, o in reader:
            if not isinstance(o, dict):
                stats.bad(off, "not a JSON object", str(o))
                continue
            mid = o.get("id")
            if isinstance(mid, str):
                msgs[mid] = o  # a repeated id replaces the earlier copy and keeps its position
                offsets[mid] = off
                continue
            s = o.get("$set")
            if isinstance(s, dict):
                checkpoint = s.get("messages")
                if isinstance(checkpoint, list):
                    msgs.clear()
                    offsets.clear()
                    for i, m in enumerate(checkpoint):
                        if isinstance(m, dict):
                            k = m.get("id")
                            k = k if isinstance(k, str) and k else f"#{off}:{i}"
                            msgs[k] = m
                            offsets[k] = off
                for k, v in s.items():
                    if k == "messages":
                        continue
                    if k == "sessionId" and header.get("sessionId"):
                        continue  # one session per file; the first id stays
                    header[k] = v
                continue
            rewind = o.get("$rewindTo")
            if isinstance(rewind, str):
                keys = list(msgs)
                try:
                    cut = keys.index(rewind)
                except ValueError:
                    cut = 0  # unknown id: everything goes
                for k in keys[cut:]:
                    del msgs[k]
                    offsets.pop(k, None)
                continue
            if "sessionId" in o and "projectHash" in o:
                if not header.get("sessionId"):
                    header.update(o)
                else:  # a later header: the process restarted and appended to the same file
                    stats.skipped["repeated_header"] += 1
                    for k, v in o.items():
                        if k not in ("sessionId", "startTime") and k not in header:
                            header[k] = v
                continue
            op = next((k for k in o if isinstance(k, str) and k.startswith("$")), None)
            stats.unknown[op or "record"] += 1
    except OSError as e:
        stats.bad(0, f"unreadable: {e.__class__.__name__}", "")
        return None
    return header, list(msgs.values()), offsets, reader.end


# -- message content -----------------------------------------------------------------------------------


def _parts_text(content: Any) -> str:
    """Text of a PartListUnion: a string, a part, or a list of parts (images and files become markers)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return ""
    out: list[str] = []
    for part in content:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict):
            text = part.get("text")
            if isinstance(text, str):
                if not part.get("thought"):
                    out.append(text)
            elif isinstance(part.get("inlineData"), dict) or isinstance(part.get("fileData"), dict):
                blob = as_dict(part.get("inlineData") or part.get("fileData"))
                mime = str(blob.get("mimeType", ""))
                marker = "[image]" if mime.startswith("image/") or not mime else f"[file {mime}]"
                if out and not out[-1].endswith(("\n", " ")):
                    out.append("\n")
                out.append(marker + "\n")
    return "".join(out).strip()


def _only_function_responses(content: Any) -> bool:
    return isinstance(content, list) and bool(content) and all(
        isinstance(p, dict) and ("functionResponse" in p or "functionCall" in p) for p in content)


def _user_prompt(m: dict[str, Any]) -> tuple[str, str, str | None] | None:
    """(text, origin, slash command) of a real prompt, or None for content the harness injected."""
    content = m.get("content")
    if _only_function_responses(content):
        return None  # tool results carried back to the model (checkpoints rebuilt from history)
    raw = _parts_text(content)
    if raw.startswith(_INJECTED_PREFIXES) or raw in _INJECTED_EXACT:
        return None
    if raw.startswith(_COMPACTION_PREFIX):
        return raw, "compaction", None
    display = m.get("displayContent")
    text = _parts_text(display) if display is not None else raw
    if not text:
        text = raw
    if not text:
        return None
    if text.startswith("/"):
        command = text.split(None, 1)[0]
        if _SLASH.match(command):
            return text, "slash_command", command
    return text, "user", None


def tool_output(tc: dict[str, Any]) -> tuple[str, bool]:
    """The text the model got back, and whether the response was an `error`.

    `result[].functionResponse.response.output` (or `.error`, or the whole response as compact JSON),
    text and inline-data parts next to it; `resultDisplay` only when the result says nothing."""
    pieces: list[str] = []
    has_error = False
    result = tc.get("result")
    if isinstance(result, dict):
        result = [result]
    if isinstance(result, list):
        for part in result:
            if isinstance(part, str):
                pieces.append(part)
                continue
            if not isinstance(part, dict):
                continue
            fr = part.get("functionResponse")
            if isinstance(fr, dict):
                resp = fr.get("response")
                if isinstance(resp, dict):
                    if "output" in resp:
                        pieces.append(_as_text(resp["output"]))
                    elif "error" in resp:
                        has_error = True
                        pieces.append(_as_text(resp["error"]))
                    elif resp:
                        pieces.append(orjson.dumps(resp).decode())
                elif resp is not None:
                    pieces.append(_as_text(resp))
                nested = fr.get("parts")
                if isinstance(nested, list):
                    extra = _parts_text(nested)
                    if extra:
                        pieces.append(extra)
            else:
                extra = _parts_text([part])
                if extra:
                    pieces.append(extra)
    output = "\n".join(p for p in pieces if p)
    if not output:
        display = tc.get("resultDisplay")
        if isinstance(display, str):
            output = display
    return output, has_error


def shell_exit_code(output: str) -> int | None:
    """The `Exit Code: N` trailer of a shell result. It follows the command's own output (which may be long
    and may itself print such a line), so the last occurrence near the end is the one that counts."""
    i = output.rfind("Exit Code: ")
    while i > 0 and output[i - 1] != "\n":
        i = output.rfind("Exit Code: ", 0, i)
    if i < 0 or len(output) - i > 4096:
        return None
    return exit_code_in(output[i:], EXIT_CODE)


def _find_output(messages: list[Any], call_id: str) -> str | None:
    for m in messages:
        calls = m.get("toolCalls") if isinstance(m, dict) else None
        if isinstance(calls, list):
            for tc in calls:
                if isinstance(tc, dict) and tc.get("id") == call_id:
                    return tool_output(tc)[0]
    return None


def _as_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    try:
        return orjson.dumps(v).decode()
    except TypeError:
        return str(v)


# -- paths ---------------------------------------------------------------------------------------------


def _chats_dir(p: Path) -> tuple[Path | None, str | None]:
    """The `chats` folder a file sits in, and the parent session id its subfolder names (subagents)."""
    if p.parent.name == "chats":
        return p.parent, None
    if p.parent.parent.name == "chats":
        return p.parent.parent, p.parent.name
    return None, None


def _iter_candidates(marker: str | None, slug_paths: list[str], header: dict[str, Any],
                     msg_dirs: list[str]) -> Iterator[str]:
    if marker:
        yield marker
    yield from slug_paths
    dirs = header.get("directories")
    if isinstance(dirs, list):
        yield from (d for d in dirs if isinstance(d, str) and d)
    yield from msg_dirs


def _message_dirs(messages: Iterable[Any]) -> Iterator[str]:
    """Workspace directories named by the harness's bootstrap context and `/directory` notices, in order."""
    for m in messages:
        if not isinstance(m, dict):
            continue
        t = m.get("type")
        if t not in ("user", "info"):
            continue
        try:
            text = _parts_text(m.get("content"))
        except SHAPE_ERRORS:
            continue
        if t == "user" and not text.startswith("<session_context>"):
            continue
        yield from _workspace_dirs(text[:20000])


def _finished(tc: dict[str, Any]) -> bool:
    """Does this tool call carry its result (else it is still running, or never finished)?"""
    status = tc.get("status")
    if status in _PENDING_STATUSES:
        return False
    return status in _FINAL_STATUSES or tc.get("result") is not None


def _step_usage(m: dict[str, Any]) -> tuple[int, int, int, int, int] | None:
    """(input, cache read, cache write, output, reasoning) of a response; None for no (or all-zero) tokens."""
    tokens = m.get("tokens")
    if not isinstance(tokens, dict):
        return None
    inp, cached = _int(tokens.get("input")), _int(tokens.get("cached"))
    out, thoughts_n, tool = _int(tokens.get("output")), _int(tokens.get("thoughts")), _int(tokens.get("tool"))
    if not (inp or cached or out or thoughts_n or tool):  # an all-zero record says nothing: usage unknown
        return None
    return max(inp - cached, 0) + tool, cached, 0, out + thoughts_n, thoughts_n


def _extends(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Is `new` a copy of the response `old` that only adds to it (calls, results of running calls, tokens)?"""
    if old.get("type") != "gemini" or new.get("type") != "gemini":
        return False
    if any(old.get(k) != new.get(k) for k in old.keys() | new.keys() if k not in ("toolCalls", "tokens")):
        return False
    before, after = old.get("toolCalls") or [], new.get("toolCalls") or []
    if not isinstance(before, list) or not isinstance(after, list) or len(after) < len(before):
        return False
    for a, b in zip(before, after):
        if a == b:
            continue
        if not isinstance(a, dict) or not isinstance(b, dict) or _finished(a):
            return False  # a result once emitted stays
        if any(a.get(k) != b.get(k) for k in ("id", "name", "args", "displayName")):
            return False
        if not isinstance(a.get("id"), str) or norm_ts(old.get("timestamp")) is None:
            return False  # the call's id or start would come from this copy
    return _step_usage(old) is None or _step_usage(new) is not None  # a usage once emitted stays


def _workspace_dirs(text: str) -> Iterator[str]:
    """Workspace directories the harness listed in its bootstrap context or a `/directory` notice."""
    m = _WORKDIR.search(text)
    if m:
        yield m.group(1).strip().rstrip(".")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "Workspace Directories" in line or line.startswith("Current workspace directories"):
            for nxt in lines[i + 1:]:
                s = nxt.strip()
                if not s.startswith("- "):
                    break
                yield s[2:].strip()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _cancel_kind(output: str) -> str:
    """A cancelled call: the user refused it ("User denied execution") or interrupted it."""
    return "denied" if "denied" in output[:500].lower() else "interrupted"
