"""Antigravity: Google's `agy` CLI (successor of Gemini CLI) and the Antigravity IDE / 2.0 app.

Facts: research/log-formats-2.md §1.

Layout. Three roots under `~/.gemini` (or `$AGTRACE_MCP_ANTIGRAVITY_DIR`): `antigravity-cli/` (the CLI),
`antigravity/` (the IDE until mid-2026 and the 2.0 app) and `antigravity-ide/` (the IDE from Jul 2026). One
session = one `brain/<conversation-uuid>/` folder; its id is the folder name. The log is
`.system_generated/logs/transcript_full.jsonl`; `transcript.jsonl` (long fields cut to ~4 KB head+tail, every
tool argument JSON-encoded a second time) is read only when the full one is absent. `logs/chunks/` (byte-identical
copies) and the brain's `.git/` are never read.

Reading. Lines can be written out of order, and a rewind writes reused step numbers after the old ones, so the
first read of a file reads it whole, replays it (a `step_index` seen again drops every earlier-written step with
an index ≥ it, unless the record is an identical copy; survivors are ordered by `step_index`) and then emits
events in step order. A later read continues from the byte offset where the last one stopped (`_Tail`: the
calls still waiting for their result slots, running background tasks, the cwd votes) when every appended step
has a higher index than all before it; a lower index (rewind, out-of-order line), the completion of a
background task started before, or tokens that come from the conversation DB make the index read the whole
file again (`NeedsFullRead`).

Decisions (where the research left a choice):
- Surface and shortened transcripts. The session's `cli_version` (agy records no version anywhere) carries the
  surface: the root folder name, `antigravity-cli`, `antigravity` or `antigravity-ide`. When the session was read
  from the shortened `transcript.jsonl` it gets the suffix ` [transcript.jsonl: shortened]` (and the file is
  described with kind `shortened`): outputs, checkpoints and long arguments are cut in the middle there.
  `agent_name` stays free for sub-agent roles.
- Turns. A `USER_INPUT` is a turn; its text is the `<USER_REQUEST>` body plus any text outside the harness blocks
  (IDE artifact reviews: "Comments on artifact URI: …, The user has approved this document."). A `USER_INPUT` made
  only of `<USER_SETTINGS_CHANGE>`/`<ADDITIONAL_METADATA>` is not a turn; a "`Model Selection` from X to Y"
  change sets the model for the following steps. A request starting with `/command` is a slash command.
  SYSTEM_MESSAGE, CHECKPOINT, EPHEMERAL_MESSAGE, CONVERSATION_HISTORY and KNOWLEDGE_ARTIFACTS are not turns, with
  one exception: a SYSTEM_MESSAGE before anything else in the file (a sub-agent's task) opens a turn with origin
  `system`, and when its sender is another conversation that conversation is taken as the parent session.
- Compaction. `{{ CHECKPOINT n }}` with n ≥ 1 is a compaction (`Compact`, trigger `auto`); the continuation is
  NOT a turn (the checkpoint is injected in the middle of the model's work, and the old steps stay in the file).
  `CHECKPOINT 0`, written at step 1–4 of nearly every conversation, summarises nothing and is skipped.
- Steps and calls. Each `PLANNER_RESPONSE` is one step (`thinking` → reasoning, `content` → message with injected
  `<EPHEMERAL_MESSAGE>` blocks removed, `tool_calls` → calls with ids `s<step_index>.<k>`). Call k of the planner
  at S is answered by step S+1+k exactly (by index, not by file position); a hole leaves that call without a
  result (`missing`: the IDE leaves calls awaiting approval that way, so a hole is not taken as a failure), and a
  PLANNER_RESPONSE or USER_INPUT in a slot ends the pairing. A tool result no call claims (its planner line is
  lost, or the file starts mid-conversation) becomes a call of a synthetic step of its own, named after the result
  type, so that the execution is not dropped. Typed result steps the *user* made in the IDE (`USER_EXPLICIT`
  VIEW_FILE/CODE_ACTION) are not model calls and are skipped.
- Failures. Result `status: ERROR` → tool error; "user denied permission", "tool call denied", a pre-tool hook
  denial and the sandbox's "Permission denied for <tool>(…)" → `denied`. An `ERROR_MESSAGE` in a call's slot is
  that call's result (an error; when the batch was rejected, the later calls of the same planner that have no
  result of their own get it too). Any other `ERROR_MESSAGE` is a failed step of its own. Exit codes are read
  from `run_command` outputs only ("failed with exit code: N", "exited with code N.").
- Background work. A `RUNNING` result is the "started in the background" notice the model got. When the file
  later has the `SYSTEM_MESSAGE` "Task id \"<conv>/task-N\" …" for it (N = the RUNNING step), the call's result is
  emitted there: notice + completion text, its exit code, dated by the message (the output is then only
  available by re-reading the file). Without a completion the notice itself is the result (ok): the call did
  start, and that is all the log says.
- Outputs drop the leading `Created At:`/`Completed At:` lines; `Completed At` dates the result.
- Interrupts leave no record in agy logs; no turn is marked interrupted and calls left without a result stay
  `missing`.
- Tokens. From the transcript when any PLANNER_RESPONSE has `input_tokens`/`cache_read_tokens`/`output_tokens`
  (1.3.x+; input and cache_read disjoint; output taken as including thinking, reasoning unknown = 0). Otherwise
  from `conversations/<id>.db` (steps.metadata field 9 ModelUsage, per PLANNER_RESPONSE step index, deduplicated
  on the response id). The DB is copied (db + -wal) to a temporary folder and read there, because even a
  `mode=ro` connection creates `-wal`/`-shm` files next to a WAL database. Any decoding doubt drops every DB token
  of the session: no numbers rather than wrong ones.
- Model: `<USER_SETTINGS_CHANGE>` in the transcript, else the first display label of the DB's `gen_metadata`.
- Project: `history.jsonl` (`conversationId` → `workspace`), `cache/last_conversations.json`, the DB's
  `trajectory_metadata_blob` (a workspace `file://` URI, or a project id → `~/.gemini/config/projects/<id>.json`
  `folderUri` or `cache/projects.json`), and last the most frequent `Cwd` of `run_command` calls (outside the
  agent's own brain folder when possible). URIs become paths; Windows paths stay Windows paths (`C:\\Users\\x`).
- Sub-agents. An `invoke_subagent` result "Created the following subagents:" followed by JSON objects with
  `conversationId` links the call to the (first) child (`Result.child` + `Link`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import stat
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson

from ..engine import events as ev
from ..engine.failures import exit_code_in
from ..engine.shapes import GENERIC
from ..engine.timeutil import norm_ts
from .base import BaseProvider, Emit, NeedsFullRead, ParseStats, SourceFile, list_dir
from .files import read_regular
from .jsonl import JsonlReader, read_line_at
from .jsonl import loads as jloads

NAME = "antigravity"
# a run_command result: "… exited with code N" or "… failed with exit code: N"
EXIT_CODE = re.compile(r"(?:exited with code (-?\d+)|failed with exit code: (-?\d+))")
# background commands and tasks: command_status and manage_task {Action: status} only look at one
# (`CommandId`, `TaskId`); edits: replace_file_content {TargetFile, TargetContent, ReplacementContent} or its
# ReplacementChunks, write_to_file {TargetFile, CodeContent}; run_command {CommandLine}
TOOL_SHAPES = GENERIC.extend(
    poll_tools=("command_status",), status_tools={"manage_task": ("Action", "action")},
    process_keys=("TaskId", "taskId", "task_id", "CommandId", "commandId", "command_id"),
    command_keys=("CommandLine", "commandLine"), path_keys=("TargetFile", "target_file"),
    old_keys=("TargetContent",), new_keys=("ReplacementContent",), content_keys=("CodeContent",),
    chunk_keys=("ReplacementChunks",))
SURFACES = ("antigravity-cli", "antigravity", "antigravity-ide")
FULL = "transcript_full.jsonl"
SHORT = "transcript.jsonl"
SHORT_MARK = " [transcript.jsonl: shortened]"
DB_MAX_BYTES = 512 << 20

_PLANNER = "PLANNER_RESPONSE"
_USER = "USER_INPUT"
_ERROR = "ERROR_MESSAGE"
_SYSMSG = "SYSTEM_MESSAGE"
_CHECKPOINT = "CHECKPOINT"
_SYSTEM_TYPES = frozenset({_SYSMSG, _CHECKPOINT, "EPHEMERAL_MESSAGE", "CONVERSATION_HISTORY", "KNOWLEDGE_ARTIFACTS"})
# Typed tool-result steps and the tool each answers (the name is used when the call itself is lost).
_RESULT_NAMES = {
    "GENERIC": "generic_tool", "VIEW_FILE": "view_file", "LIST_DIRECTORY": "list_dir", "RUN_COMMAND": "run_command",
    "CODE_ACTION": "code_action", "GREP_SEARCH": "grep_search", "SEARCH_WEB": "search_web",
    "READ_URL_CONTENT": "read_url_content", "GENERATE_IMAGE": "generate_image", "ASK_QUESTION": "ask_question",
    "MCP_TOOL": "call_mcp_tool", "INVOKE_SUBAGENT": "invoke_subagent",
}
_KNOWN_TYPES = frozenset({_PLANNER, _USER, _ERROR}) | _SYSTEM_TYPES | frozenset(_RESULT_NAMES)
_KIND_OVERRIDES = {"call_mcp_tool": "mcp", "code_action": "write", "browser_subagent": "plan",
                   "list_permissions": "other", "find_by_name": "search"}
_SHELL_TOOLS = frozenset({"run_command"})

_UUID_RE = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID = re.compile(rf"^{_UUID_RE}$")
_MODEL_SWITCH = re.compile(r"`Model Selection` from (.*?) to (.+?)\.(?=\s|$)")
_BLOCK = re.compile(r"<(ADDITIONAL_METADATA|USER_SETTINGS_CHANGE|EPHEMERAL_MESSAGE)>.*?(?:</\1>|\Z)", re.S)
_EPHEMERAL = re.compile(r"<EPHEMERAL_MESSAGE>.*?(?:</EPHEMERAL_MESSAGE>|\Z)", re.S)
_SLASH = re.compile(r"^/[A-Za-z][\w:.-]*$")
_HEADER = re.compile(r"\A(?:Created At: ([^\n]*)\n)?(?:Completed At: ([^\n]*)\n)?")
_MESSAGE = re.compile(r"\[Message\] timestamp=(\S+) sender=(\S+) priority=\S+ content=(.*?)"
                      r"(?=\n\[Message\] timestamp=|\n</SYSTEM_MESSAGE>|\Z)", re.S)
_TASK_SENDER = re.compile(rf"^({_UUID_RE})/task-(\d+)$")
_CHECKPOINT_N = re.compile(r"\{\{\s*CHECKPOINT\s+(\d+)\s*\}\}")
_DENIED = re.compile(r"user denied permission|tool call denied|denied by (?:the )?pre-tool hook|"
                     r"Permission denied for [\w.]+\(|hardcoded system protection", re.I)
_STEP_ERROR = re.compile(r"Encountered error in step execution: ([^\n]*)")
_SUBAGENTS = "Created the following subagents:"
_SID_HINT = re.compile(rf"(?:brain[\\/]+({_UUID_RE}))|(?:({_UUID_RE})/task-\d+)")
_SURFACE_HINT = re.compile(r"\.gemini[\\/]+(antigravity(?:-cli|-ide)?)[\\/]+brain")
_PBTXT_TITLE = re.compile(r'title\s*:\s*"((?:[^"\\]|\\.)*)"')


# -- the replayed transcript -----------------------------------------------------------------------------


class _Rec:
    """One step record: its index, the byte offset of its line, its type and the decoded object."""

    __slots__ = ("idx", "off", "o", "type")

    def __init__(self, idx: int, off: int, o: dict[str, Any]) -> None:
        self.idx = idx
        self.off = off
        self.o = o
        t = o.get("type")
        self.type: str = t if isinstance(t, str) else ""


def replay(path: str, stats: ParseStats) -> tuple[list[_Rec], int]:
    """Every surviving step of a transcript, ordered by `step_index`, and the byte offset where reading stopped."""
    by_idx: dict[int, _Rec] = {}
    reader = JsonlReader(path, 0, stats)
    try:
        for off, o in reader:
            if not isinstance(o, dict) or not isinstance(o.get("step_index"), int) or isinstance(o["step_index"], bool):
                stats.bad(off, "not a transcript step", repr(o)[:120])
                continue
            i = o["step_index"]
            seen = by_idx.get(i)
            if seen is not None and seen.o == o:  # the same record written twice is no rewind
                stats.skipped["duplicate_step"] += 1
                continue
            if seen is not None:  # rewind: the steps from `i` on that were written before are gone
                dropped = [k for k in by_idx if k >= i]
                for k in dropped:
                    del by_idx[k]
                stats.skipped["rewound_step"] += len(dropped)
            by_idx[i] = _Rec(i, off, o)
    except OSError as e:
        stats.bad(0, f"unreadable: {e.__class__.__name__}", "")
    return [by_idx[k] for k in sorted(by_idx)], reader.end


# -- small text helpers ----------------------------------------------------------------------------------


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def split_header(text: str) -> tuple[str | None, str]:
    """(`Completed At` or `Created At` value, text without those two leading lines) of a tool result."""
    m = _HEADER.match(text)
    if not m or not m.group(0):
        return None, text
    return (m.group(2) or m.group(1)), text[m.end():]


def split_result(o: dict[str, Any]) -> tuple[str | None, str]:
    """(completion time as written, output text) of a result step; the text is what `read_output` returns."""
    content = _str(o.get("content"))
    done_at, body = split_header(content) if content else (None, "")
    if o.get("type") == _ERROR and not body.strip():
        body = _str(o.get("error"))
    return done_at, body


def result_output(o: dict[str, Any]) -> str:
    return split_result(o)[1]


def user_prompt(content: str) -> tuple[str | None, str | None]:
    """(prompt text or None when this input is not a human turn, model the user switched to)."""
    model = None
    m = _MODEL_SWITCH.search(content)
    if m:
        model = m.group(2).strip() or None
    request = None
    rest = content
    i = content.find("<USER_REQUEST>")
    if i >= 0:
        j = content.find("</USER_REQUEST>", i)
        request = content[i + len("<USER_REQUEST>"): j if j >= 0 else len(content)].strip()
        rest = content[:i] + (content[j + len("</USER_REQUEST>"):] if j >= 0 else "")
    outside = _BLOCK.sub("", rest).strip()
    text = "\n\n".join(p for p in (outside, request) if p)
    return (text or None), model


def _decode_args(args: Any) -> Any:
    """`transcript.jsonl` encodes every argument value as JSON a second time; undo it where it decodes."""
    if not isinstance(args, dict):
        return args
    out: dict[str, Any] = {}
    for k, v in args.items():
        if isinstance(v, str):
            try:
                v = jloads(v)
            except orjson.JSONDecodeError:
                pass  # shortened (`<truncated N bytes>`) or not encoded: keep as written
        out[k] = v
    return out


def subagent_ids(text: str) -> list[str]:
    """Child conversation ids of an `invoke_subagent` result: only JSON right after the heading counts."""
    i = text.find(_SUBAGENTS)
    if i < 0:
        return []
    dec = json.JSONDecoder()
    pos = i + len(_SUBAGENTS)
    ids: list[str] = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] not in "{[":
            break
        try:
            value, pos = dec.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and isinstance(item.get("conversationId"), str) and item["conversationId"]:
                ids.append(item["conversationId"])
    return ids


def norm_path(value: str) -> str | None:
    """A workspace path or `file://` URI as a plain path; Windows paths stay Windows paths (drive upper-cased)."""
    s = value.strip()
    if not s:
        return None
    if s.lower().startswith("file:"):
        s = unquote(s[5:])
        if s.startswith("//"):
            s = s[2:]
            if s and not s.startswith("/") and not re.match(r"^[A-Za-z]:", s):  # file://host/share
                return "\\\\" + s.replace("/", "\\").rstrip("\\")
        if re.match(r"^/[A-Za-z]:", s):
            s = s[1:]
    if re.match(r"^[A-Za-z]:", s):
        s = s[0].upper() + s[1:].replace("/", "\\")
        s = s.rstrip("\\")
        return s + "\\" if len(s) == 2 else s
    if len(s) > 1:
        s = s.rstrip("/")
    return s or None


def _in_agent_dir(path: str) -> bool:
    low = path.replace("\\", "/").lower()
    return "/.gemini/antigravity" in low


# -- protobuf wire format (for the SQLite store) -------------------------------------------------------------


class _PbError(ValueError):
    pass


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = 0
    result = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise _PbError("bad varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def pb_fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """Decode one protobuf message into (field, wire type, value); raises `_PbError` on anything malformed."""
    out: list[tuple[int, int, Any]] = []
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        fno, wt = key >> 3, key & 7
        if fno == 0:
            raise _PbError("field 0")
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            if i + 8 > n:
                raise _PbError("short fixed64")
            v, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wt == 2:
            ln, i = _varint(buf, i)
            if i + ln > n:
                raise _PbError("short bytes")
            v, i = bytes(buf[i:i + ln]), i + ln  # type: ignore[assignment]  # a field holds int or bytes
        elif wt == 5:
            if i + 4 > n:
                raise _PbError("short fixed32")
            v, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise _PbError(f"wire type {wt}")
        out.append((fno, wt, v))
    return out


def _one(fields: list[tuple[int, int, Any]], fno: int, wt: int) -> Any:
    """The single value of field `fno`; None when absent; `_PbError` when repeated or of another wire type."""
    found = [f for f in fields if f[0] == fno]
    if not found:
        return None
    if len(found) > 1 or found[0][1] != wt:
        raise _PbError(f"field {fno}: unexpected shape")
    return found[0][2]


_SANE = 1 << 31


def model_usage(metadata: bytes) -> tuple[tuple[int, int, int, int, int], bytes | None] | None:
    """(input, cache_read, cache_write, output, reasoning), response id — from `steps.metadata` field 9."""
    mu = _one(pb_fields(metadata), 9, 2)
    if mu is None:
        return None
    f = pb_fields(mu)
    vals = []
    for fno in (2, 5, 4, 3, 9):
        v = _one(f, fno, 0)
        v = 0 if v is None else v
        if not 0 <= v < _SANE:
            raise _PbError(f"usage field {fno} out of range")
        vals.append(v)
    inp, cache_read, cache_write, out, thinking = vals
    if thinking > out:  # field 3 includes thinking; anything else means the layout is not what we think
        raise _PbError("thinking > output")
    rid = _one(f, 11, 2)
    return (inp, cache_read, cache_write, out, thinking), rid


def _strings(buf: bytes, depth: int = 0) -> Iterator[str]:
    """Every UTF-8 string inside a protobuf message, nested messages included (best effort)."""
    try:
        fields = pb_fields(buf)
    except _PbError:
        return
    for _f, wt, v in fields:
        if wt != 2:
            continue
        try:
            s = v.decode("utf-8")
        except UnicodeDecodeError:
            s = None
        if s is not None and s.isprintable() and s:
            yield s
        elif depth < 6:
            yield from _strings(v, depth + 1)


@dataclass
class DbInfo:
    usage: dict[int, tuple[int, int, int, int, int]] = field(default_factory=dict)
    usage_ok: bool = False
    models: list[str] = field(default_factory=list)
    workspaces: list[str] = field(default_factory=list)
    project_ids: list[str] = field(default_factory=list)


def read_db(db_path: Path, sid: str, stats: ParseStats) -> DbInfo | None:
    """Usage, model labels and workspace hints from `conversations/<id>.db`, read from a private copy."""
    try:
        st = db_path.stat()
        size = st.st_size
        wal = Path(str(db_path) + "-wal")
        if wal.exists():
            wst = wal.stat()
            if not stat.S_ISREG(wst.st_mode):
                return None
            size += wst.st_size
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):  # a FIFO or a device would block or never end the copy
        return None
    if size > DB_MAX_BYTES:
        stats.skipped["db_too_large"] += 1
        return None
    tmp = tempfile.mkdtemp(prefix="agtrace-agy-")
    info = DbInfo()
    try:
        copy = Path(tmp) / "c.db"
        try:
            shutil.copyfile(db_path, copy)
            if wal.exists():
                shutil.copyfile(wal, Path(str(copy) + "-wal"))
        except OSError:
            return None
        try:
            con = sqlite3.connect(str(copy))
        except sqlite3.Error:
            return None
        try:
            _db_usage(con, info, stats)
            _db_models(con, info)
            _db_workspace(con, info, sid)
        finally:
            con.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info


def _db_usage(con: sqlite3.Connection, info: DbInfo, stats: ParseStats) -> None:
    try:
        rows = con.execute("SELECT idx, step_type, metadata FROM steps ORDER BY idx").fetchall()
    except sqlite3.Error:
        return
    usage: dict[int, tuple[int, int, int, int, int]] = {}
    seen: set[bytes] = set()
    try:
        for idx, step_type, meta in rows:
            if not isinstance(idx, int) or meta is None:
                continue
            if not isinstance(meta, bytes):
                raise _PbError("metadata is not a blob")
            got = model_usage(meta)
            if got is None:
                continue
            u, rid = got
            if rid:
                if rid in seen:
                    continue
                seen.add(rid)
            if step_type != 15:  # only PLANNER_RESPONSE steps are steps of ours
                stats.skipped["db_usage_not_planner"] += 1
                continue
            usage[idx] = u
    except _PbError:
        stats.skipped["db_usage_undecodable"] += 1
        return  # any doubt: no tokens at all
    info.usage = usage
    info.usage_ok = True


def _db_models(con: sqlite3.Connection, info: DbInfo) -> None:
    try:
        rows = con.execute("SELECT data FROM gen_metadata ORDER BY idx").fetchall()
    except sqlite3.Error:
        return
    for (data,) in rows:
        if not isinstance(data, bytes):
            continue
        try:
            chat = _one(pb_fields(data), 1, 2)
            if chat is None:
                continue
            f = pb_fields(chat)
            label = _one(f, 21, 2) or _one(f, 19, 2)
            if label:
                name = label.decode("utf-8")
                if name and name not in info.models:
                    info.models.append(name)
        except (_PbError, UnicodeDecodeError):
            continue


def _db_workspace(con: sqlite3.Connection, info: DbInfo, sid: str) -> None:
    try:
        rows = con.execute("SELECT data FROM trajectory_metadata_blob").fetchall()
    except sqlite3.Error:
        return
    for (data,) in rows:
        if not isinstance(data, bytes):
            continue
        for s in _strings(data):
            if s.lower().startswith("file:"):
                p = norm_path(s)
                if p and not _in_agent_dir(p) and p not in info.workspaces:
                    info.workspaces.append(p)
            elif _UUID.match(s) and s.lower() != sid.lower() and s not in info.project_ids:
                info.project_ids.append(s)


# -- side files, cached per path and (mtime, size) -------------------------------------------------------


class _SideFiles:
    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[int, int], Any]] = {}

    def _load(self, path: Path, reader: Any) -> Any:
        key = str(path)
        try:
            st = os.stat(key)
        except OSError:
            self._cache.pop(key, None)
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        try:
            value = reader(read_regular(key))
        except (OSError, ValueError):
            value = None
        self._cache[key] = (stamp, value)
        return value

    def history(self, root: Path) -> dict[str, str]:
        """`history.jsonl`: conversation id → workspace (the first one a conversation was seen in)."""
        def read(data: bytes) -> dict[str, str]:
            out: dict[str, str] = {}
            for line in data.splitlines():
                try:
                    o = jloads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(o, dict):
                    cid, ws = o.get("conversationId"), o.get("workspace")
                    if isinstance(cid, str) and isinstance(ws, str) and ws and cid not in out:
                        out[cid] = ws
            return out
        return self._load(root / "history.jsonl", read) or {}

    def _json_map(self, path: Path) -> dict[str, str]:
        def read(data: bytes) -> dict[str, str]:
            o = jloads(data)
            if not isinstance(o, dict):
                return {}
            return {k: v for k, v in o.items() if isinstance(k, str) and isinstance(v, str)}
        return self._load(path, read) or {}

    def last_conversations(self, root: Path) -> dict[str, str]:
        """`cache/last_conversations.json` inverted: conversation id → workspace."""
        return {cid: ws for ws, cid in self._json_map(root / "cache" / "last_conversations.json").items()}

    def projects(self, root: Path) -> dict[str, str]:
        """`cache/projects.json` inverted: project id → workspace."""
        return {pid: ws for ws, pid in self._json_map(root / "cache" / "projects.json").items()}

    def project_folder(self, gemini: Path, project_id: str) -> str | None:
        """`~/.gemini/config/projects/<id>.json` → its first `folderUri`."""
        def read(data: bytes) -> str | None:
            o = jloads(data)
            res = o.get("projectResources", {}).get("resources") if isinstance(o, dict) else None
            for r in res if isinstance(res, list) else []:
                if isinstance(r, dict) and isinstance(r.get("folderUri"), str) and r["folderUri"]:
                    return r["folderUri"]
            return None
        if not _UUID.match(project_id):
            return None
        return self._load(gemini / "config" / "projects" / f"{project_id}.json", read)

    def title(self, root: Path, sid: str) -> str | None:
        """`annotations/<id>.pbtxt` (1.4.x): `title:"…"`."""
        def read(data: bytes) -> str | None:
            m = _PBTXT_TITLE.search(data.decode("utf-8", "replace"))
            return (_unescape_text_proto(m.group(1)).strip() or None) if m else None
        return self._load(root / "annotations" / f"{sid}.pbtxt", read)


def _unescape_text_proto(s: str) -> str:
    """C-style escapes of a text-proto string (`\\"`, `\\n`, octal `\\344` UTF-8 bytes) back to text."""
    out = bytearray()
    i, n = 0, len(s)
    simple = {"n": b"\n", "t": b"\t", "r": b"\r", '"': b'"', "'": b"'", "\\": b"\\"}
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n:
            d = s[i + 1]
            if d in simple:
                out += simple[d]
                i += 2
                continue
            if d in "01234567":
                j = i + 1
                while j < n and j < i + 4 and s[j] in "01234567":
                    j += 1
                out.append(int(s[i + 1:j], 8) & 0xFF)
                i = j
                continue
            if d == "x" and re.match(r"[0-9A-Fa-f]{2}", s[i + 2:i + 4]):
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
        out += c.encode("utf-8")
        i += 1
    return out.decode("utf-8", "replace")


# -- layout ----------------------------------------------------------------------------------------------


def layout(path: str) -> tuple[Path | None, str | None]:
    """(root, conversation id) of a transcript at `<root>/brain/<id>/.system_generated/logs/<file>`."""
    p = Path(path)
    parents = p.parents
    if len(parents) >= 5 and parents[0].name == "logs" and parents[1].name == ".system_generated" \
            and parents[3].name == "brain":
        return parents[4], parents[2].name
    return None, None


def _is_file(path: str) -> bool:
    try:
        return os.path.isfile(path)
    except OSError:
        return False


def _transcript_of(brain: str) -> SourceFile | None:
    logs = os.path.join(brain, ".system_generated", "logs")
    full = os.path.join(logs, FULL)
    if _is_file(full):
        return SourceFile(full, NAME, "session")
    short = os.path.join(logs, SHORT)
    if _is_file(short):
        return SourceFile(short, NAME, "shortened")
    return None


# -- the provider ----------------------------------------------------------------------------------------


class AntigravityProvider(BaseProvider):
    name = NAME
    label = "Antigravity"
    order = 40
    aliases = ("agy", "antigravity-cli")
    root_env = ()  # the agent's own variables that move its logs
    incremental = True  # appended steps continue the last read; anything else reads the whole file (_Tail)
    exit_pattern = EXIT_CODE
    tool_shapes = TOOL_SHAPES

    def __init__(self) -> None:
        self._side = _SideFiles()

    def default_roots(self, home: Path, env: dict[str, str]) -> list[Path]:
        base = self.agent_dir(env, home, ".gemini")
        return [base / s for s in SURFACES]

    def claims(self, path: str) -> int:
        """Transcripts under an `antigravity*` folder (inside `.gemini`, where Gemini CLI's own logs are too)."""
        low = path.replace("\\", "/").lower()
        return 3 if "/antigravity" in low and low.endswith(".jsonl") else 0

    def sniff(self, path: str, first: Any) -> int:
        return 2 if isinstance(first, dict) and "step_index" in first and "source" in first else 0

    def discover(self, roots: list[Path]) -> Iterator[SourceFile]:
        """One transcript per brain folder. A root may be a surface root, its `brain` folder or one brain."""
        for root in roots:
            if not root.is_dir():
                continue
            if (root / "brain").is_dir():
                brains = root / "brain"
            elif root.name == "brain":
                brains = root
            elif (root / ".system_generated").is_dir():
                src = _transcript_of(str(root))
                if src is not None:
                    yield src
                continue
            else:
                continue
            for entry in list_dir(brains):
                try:
                    if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                        continue
                except OSError:
                    continue
                src = _transcript_of(entry.path)
                if src is not None:
                    yield src

    def describe(self, path: str) -> SourceFile:
        return SourceFile(path, NAME, "session" if path.endswith(FULL) else "shortened")

    # -- parsing ------------------------------------------------------------------------------------------

    def parse(self, src: SourceFile, offset: int, state: Any, emit: Emit, stats: ParseStats) -> tuple[int, Any]:
        if offset:
            if not isinstance(state, _Tail):
                raise NeedsFullRead  # nothing to continue from (the last read found no step)
            return self._continue(src, offset, state, emit, stats)
        recs, end = replay(src.path, stats)
        if not recs:
            return end, None
        sess = _Session(self, src, recs, emit, stats)
        sess.run()
        return end, sess.tail_state()

    def _continue(self, src: SourceFile, offset: int, st: _Tail, emit: Emit,
                  stats: ParseStats) -> tuple[int, Any]:
        """Steps appended after the last read, when they can only be a continuation: every new step index above
        every one read before (a lower one is a rewind or an out-of-order line, which the whole file decides),
        no batch rejected by an error still waiting for slots, tokens from the transcript (or none at all,
        rather than from the conversation DB), and no first model switch when the DB named the model.
        Otherwise NeedsFullRead, raised before anything is emitted."""
        if not st.resumable or (not st.has_tokens and st.db_present):
            raise NeedsFullRead
        reader = JsonlReader(src.path, offset, stats)
        recs: list[_Rec] = []
        last = st.max_idx
        for off, o in reader:
            if not isinstance(o, dict) or not isinstance(o.get("step_index"), int) or isinstance(o["step_index"], bool):
                stats.bad(off, "not a transcript step", repr(o)[:120])
                continue
            if o["step_index"] <= last:
                raise NeedsFullRead
            last = o["step_index"]
            recs.append(_Rec(last, off, o))
        if not recs:
            return reader.end, st
        if not st.has_switch and st.db_present and any(
                r.type == _USER and _MODEL_SWITCH.search(_str(r.o.get("content"))) for r in recs):
            raise NeedsFullRead  # the first model then comes from the transcript, not from the DB
        if st.running and any(int(t.group(2)) in st.running for r in recs if r.type == _SYSMSG
                              for m in _MESSAGE.finditer(_str(r.o.get("content")))
                              if (t := _TASK_SENDER.match(m.group(2)))):
            raise NeedsFullRead  # a background task an earlier read saw start has finished: its call's result
            # becomes the completion, which only a whole read places (the notice was emitted as the result)
        sess = _Session(self, src, recs, emit, stats)
        sess.run_tail(st)
        return reader.end, sess.tail_state(st)

    def read_output(self, src: SourceFile, offset: int, call_id: str) -> str | None:
        if offset < 0:
            return None
        try:
            values = read_line_at(src.path, offset)
        except OSError:
            return None
        for o in values:
            if isinstance(o, dict) and isinstance(o.get("step_index"), int):
                if o.get("status") == "RUNNING":
                    return None  # a background result may have been merged with its completion: re-read
                return result_output(o)
        return None


@dataclass(slots=True)
class _Claim:
    call_id: str
    name: str
    planner: int
    extra: list[str] = field(default_factory=list)  # later calls of a batch an ERROR_MESSAGE rejected


@dataclass(slots=True)
class _Pending:
    """A planner whose later call slots were not written yet when a read ended."""

    planner: int
    calls: list[tuple[int, str, str]]  # (k, call id, tool name) of every call
    next_k: int  # the first call whose slot (planner + 1 + k) is beyond what was read


@dataclass(slots=True)
class _Tail:
    """The parser state: what a later read needs to continue the transcript where this one stopped."""

    sid: str
    max_idx: int
    has_tokens: bool
    has_switch: bool
    db_present: bool
    started: bool
    orphan_step: int
    pending: list[_Pending]
    running: set[int]  # RUNNING results not completed yet (a completion in a later read needs a whole read)
    cwds: Counter[str]
    cwd_order: dict[str, int]
    project: str | None
    project_from_db: bool
    title: str | None
    resumable: bool  # False: an error-rejected batch still waits for slots, read the whole file next time


class _Session:
    """One parse of one transcript: pre-passes over the replayed steps, then events in step order."""

    def __init__(self, prov: AntigravityProvider, src: SourceFile, recs: list[_Rec], emit: Emit,
                 stats: ParseStats) -> None:
        self.prov = prov
        self.src = src
        self.recs = recs
        self.emit = emit
        self.stats = stats
        self.short = not src.path.endswith(FULL)
        self.root, brain_id = layout(src.path)
        self.sid = brain_id or self._sid_from_content() or Path(src.path).name.split(".")[0]
        self.by_idx = {r.idx: r for r in recs}
        self.claims: dict[int, _Claim] = {}
        self.calls: dict[int, list[tuple[str, str, Any]]] = {}
        self.cwds: Counter[str] = Counter()
        self.cwd_order: dict[str, int] = {}
        self.has_tokens = False
        self.has_switch = False
        # SYSTEM_MESSAGE idx -> (RUNNING result idx, its message) for each background task it reports on
        self.deferred: dict[int, list[tuple[int, re.Match[str]]]] = {}
        self.completed: set[int] = set()
        self.db: DbInfo | None = None
        self.db_loaded = False
        self._ts: dict[Any, str | None] = {}
        self.started = False  # has a turn or a step been opened yet
        self.orphan_step = -2  # index of the last result put in a synthetic step (results whose calls are lost)
        self.pending: list[_Pending] = []
        self.resumable = True
        self.project: str | None = None
        self.project_from_db = False
        self.title: str | None = None

    def ts(self, value: Any) -> str | None:
        """`norm_ts` memoised: steps of one model call share their second-precision `created_at`."""
        try:
            return self._ts[value]
        except KeyError:
            out = self._ts[value] = norm_ts(value)
            return out
        except TypeError:  # unhashable junk
            return None

    # -- pre-passes -----------------------------------------------------------------------------------------

    def _sid_from_content(self) -> str | None:
        """A bare file outside the brain layout: the conversation its own paths and task ids name."""
        votes: Counter[str] = Counter()
        for r in self.recs[:400]:
            text = _str(r.o.get("content"))[:8000]
            for m in _SID_HINT.finditer(text):
                votes[(m.group(1) or m.group(2)).lower()] += 1
        return votes.most_common(1)[0][0] if votes else None

    def _surface(self) -> str | None:
        if self.root is not None:
            return self.root.name if self.root.name in SURFACES else None
        for r in self.recs[:400]:
            m = _SURFACE_HINT.search(_str(r.o.get("content"))[:8000])
            if m:
                return m.group(1)
        return None

    def _pair(self, earlier: Sequence[_Pending] = ()) -> None:
        last = self.recs[-1].idx
        for p in earlier:  # planners of an earlier read whose later slots may be in this one
            self._claim_slots(p.planner, p.calls, p.next_k, last)
        for r in self.recs:
            o = r.o
            if r.type == _USER and _MODEL_SWITCH.search(_str(o.get("content"))):
                self.has_switch = True
            if r.type != _PLANNER:
                continue
            if any(k in o for k in ("input_tokens", "cache_read_tokens", "output_tokens")):
                self.has_tokens = True
            tcs = o.get("tool_calls")
            if not isinstance(tcs, list) or not tcs:
                continue
            calls: list[tuple[str, str, Any]] = []
            slots: list[tuple[int, str, str]] = []
            for k, tc in enumerate(tcs):
                if not isinstance(tc, dict):
                    continue
                name = _str(tc.get("name")) or "unknown_tool"
                args = tc.get("args")
                if self.short:
                    args = _decode_args(args)
                cid = f"s{r.idx}.{k}"
                calls.append((cid, name, args))
                slots.append((k, cid, name))
                if name in _SHELL_TOOLS and isinstance(args, dict) and isinstance(args.get("Cwd"), str):
                    cwd = norm_path(args["Cwd"])
                    if cwd:
                        self.cwds[cwd] += 1
                        self.cwd_order.setdefault(cwd, len(self.cwd_order))
            self._claim_slots(r.idx, slots, 0, last)
            self.calls[r.idx] = calls
        # Results no call claimed: their planner line is lost (or precedes the file). They become synthetic calls.
        for r in self.recs:
            if r.idx not in self.claims and r.type != _ERROR and self._is_result(r):
                name = _RESULT_NAMES.get(r.type, r.type.lower() or "unknown_tool")
                self.claims[r.idx] = _Claim(f"r{r.idx}", name, -1)

    def _claim_slots(self, planner: int, calls: list[tuple[int, str, str]], start: int, last: int) -> None:
        """Call k of the planner is answered by step planner + 1 + k; a planner or a prompt in a slot ends the
        pairing, a hole leaves the call without a result. Slots beyond `last` (not written yet) are kept as
        pending for the next read."""
        error_claim: _Claim | None = None
        for n, (k, cid, name) in enumerate(calls):
            if k < start:
                continue
            if planner + 1 + k > last:  # this slot and the next ones are not written yet
                self.pending.append(_Pending(planner, calls[n:], k))
                if error_claim is not None:  # they may still be claimed by the error: the next read decides
                    self.resumable = False
                    error_claim.extra.extend(c for _, c, _ in calls[n:])
                return
            slot = self.by_idx.get(planner + 1 + k)
            if slot is None:
                if error_claim is not None:
                    error_claim.extra.append(cid)
                continue  # a hole: this call has no result step
            if slot.type in (_PLANNER, _USER):  # the pairing ends (the later calls get nothing, not even the error)
                if error_claim is not None:
                    error_claim.extra.append(cid)
                return
            if self._is_result(slot):
                claim = _Claim(cid, name, planner)
                self.claims[slot.idx] = claim
                if slot.type == _ERROR:
                    error_claim = claim
            elif error_claim is not None:
                error_claim.extra.append(cid)

    @staticmethod
    def _is_result(r: _Rec) -> bool:
        """Could this step answer a tool call? Tool results are MODEL steps (an ERROR_MESSAGE can stand in)."""
        t = r.type
        if t == _ERROR:
            return True
        if t in (_PLANNER, _USER) or t in _SYSTEM_TYPES:
            return False
        source = r.o.get("source")
        return source == "MODEL" or (source is None and t in _RESULT_NAMES)

    def _background(self) -> None:
        """Pair `Task id "<conv>/task-N" …` messages with the RUNNING result N they complete."""
        own = self.sid.lower() if _UUID.match(self.sid) else None
        for r in self.recs:
            if r.type != _SYSMSG:
                continue
            for m in _MESSAGE.finditer(_str(r.o.get("content"))):
                t = _TASK_SENDER.match(m.group(2))
                if not t or (own is not None and t.group(1).lower() != own):
                    continue
                n = int(t.group(2))
                res = self.by_idx.get(n)
                if res is None or n not in self.claims or res.o.get("status") != "RUNNING" or n >= r.idx \
                        or n in self.completed:
                    continue
                self.completed.add(n)
                self.deferred.setdefault(r.idx, []).append((n, m))

    def _db_path(self) -> Path | None:
        if self.root is not None:
            db = self.root / "conversations" / f"{self.sid}.db"
            if db.is_file():
                return db
        return None

    def _load_db(self) -> DbInfo | None:
        if not self.db_loaded:
            self.db_loaded = True
            db = self._db_path()
            if db is not None:
                self.db = read_db(db, self.sid, self.stats)
        return self.db

    def _project(self) -> str | None:
        root = self.root
        if root is not None:
            ws = self.prov._side.history(root).get(self.sid) or self.prov._side.last_conversations(root).get(self.sid)
            if ws:
                return norm_path(ws)
            db = self._load_db()
            if db is not None:
                self.project_from_db = True
                if db.workspaces:
                    return db.workspaces[0]
                for pid in db.project_ids:
                    uri = self.prov._side.project_folder(root.parent, pid) or self.prov._side.projects(root).get(pid)
                    if uri:
                        return norm_path(uri)
                self.project_from_db = False
        if not self.cwds:
            return None
        ranked = sorted(self.cwds, key=lambda p: (_in_agent_dir(p), -self.cwds[p], self.cwd_order[p]))
        return ranked[0]

    # -- emission -------------------------------------------------------------------------------------------

    def run(self) -> None:
        self._pair()
        self._background()
        sid, emit = self.sid, self.emit
        first_ts = next((t for t in (self.ts(r.o.get("created_at")) for r in self.recs) if t), None)
        surface = self._surface()
        version = ((surface or "") + SHORT_MARK).strip() if self.short else surface
        self.title = self.prov._side.title(self.root, sid) if self.root is not None else None
        self.project = self._project()
        emit(ev.Meta(sid, provider=NAME, ts=first_ts, cwd=self.project, cli_version=version or None,
                     title=self.title, source_file=self.src.path))
        db = self._load_db() if (not self.has_tokens or not self.has_switch) else None
        db_usage = db.usage if (db is not None and db.usage_ok and not self.has_tokens) else {}
        if db is not None and db.models and not self.has_switch:
            emit(ev.Meta(sid, model=db.models[0]))
        self._steps(db_usage)

    def run_tail(self, st: _Tail) -> None:
        """Continue after the steps an earlier read saw (`st`); `recs` are only the new steps."""
        self.sid = st.sid
        self.has_tokens, self.has_switch = st.has_tokens, st.has_switch
        self.cwds, self.cwd_order = st.cwds, st.cwd_order
        self.started, self.orphan_step = st.started, st.orphan_step
        self.project, self.project_from_db, self.title = st.project, st.project_from_db, st.title
        self._pair(st.pending)
        self._background()
        title = self.prov._side.title(self.root, self.sid) if self.root is not None else None
        project = self._tail_project()
        if (project, title) != (st.project, st.title):
            self.project, self.title = project, title
            self.emit(ev.Meta(self.sid, cwd=project, title=title))
        self._steps({})

    def _tail_project(self) -> str | None:
        """`_project` for a continuation: the side files, else what the DB said last time, else the shell cwds."""
        if self.root is not None:
            ws = self.prov._side.history(self.root).get(self.sid) \
                or self.prov._side.last_conversations(self.root).get(self.sid)
            if ws:
                return norm_path(ws)
        if self.project_from_db:
            return self.project
        if not self.cwds:
            return None
        return sorted(self.cwds, key=lambda p: (_in_agent_dir(p), -self.cwds[p], self.cwd_order[p]))[0]

    def tail_state(self, earlier: _Tail | None = None) -> _Tail:
        running = set(earlier.running) if earlier is not None else set()
        running.update(n for n in self.claims if n not in self.completed
                       and self.by_idx.get(n) is not None and self.by_idx[n].o.get("status") == "RUNNING")
        return _Tail(self.sid, self.recs[-1].idx, self.has_tokens, self.has_switch, self._db_path() is not None,
                     self.started, self.orphan_step, self.pending, running, self.cwds, self.cwd_order, self.project,
                     self.project_from_db, self.title, self.resumable)

    def _steps(self, db_usage: dict[int, tuple[int, int, int, int, int]]) -> None:
        """Events of the steps, in step order."""
        sid, emit = self.sid, self.emit
        started, orphan_step = self.started, self.orphan_step
        for r in self.recs:
            o, t, i = r.o, r.type, r.idx
            ts = self.ts(o.get("created_at"))
            if t not in _KNOWN_TYPES:
                self.stats.unknown[t or "(no type)"] += 1
            if t == _USER:
                text, model = user_prompt(_str(o.get("content")))
                if model:
                    emit(ev.Meta(sid, model=model))
                if text is None:
                    self.stats.skipped["settings_only_input" if model else "empty_input"] += 1
                    continue
                origin, slash = "user", None
                first = text.split(None, 1)[0] if text.strip() else ""
                if _SLASH.match(first):
                    origin, slash = "slash_command", first
                emit(ev.Prompt(sid, ts, text, origin, slash, r.off))
                started, orphan_step = True, -2
            elif t == _PLANNER:
                self._planner(r, ts, db_usage)
                started, orphan_step = True, -2
            elif i in self.claims:
                claim = self.claims[i]
                if claim.planner < 0:  # a result whose call was never written: a synthetic call of its own
                    if orphan_step != i - 1:  # results at consecutive indexes answer one lost planner
                        emit(ev.StepBegin(sid, f"x{i}", ts))
                    orphan_step = i
                    emit(ev.Call(sid, claim.call_id, claim.name, None, ts, _KIND_OVERRIDES.get(claim.name)))
                    self.stats.skipped["result_without_call"] += 1
                    started = True
                self._result(r, claim, ts)
            elif t == _ERROR:
                msg = _str(o.get("error")) or result_output(o).strip() or "agent error"
                emit(ev.StepBegin(sid, f"s{i}", ts))
                emit(ev.StepFailed(sid, ts, msg))
                started, orphan_step = True, -2
            elif t == _SYSMSG:
                if i in self.deferred:
                    for n, m in self.deferred[i]:
                        self._completion(n, m, ts)
                elif not started:
                    self._system_start(r, ts)
                    started = True
                else:
                    self.stats.skipped["system_message"] += 1
            elif t == _CHECKPOINT:
                cp = _CHECKPOINT_N.search(_str(o.get("content")))
                if cp and int(cp.group(1)) == 0:
                    self.stats.skipped["initial_checkpoint"] += 1
                else:
                    emit(ev.Compact(sid, ts, "auto"))
            elif t in _SYSTEM_TYPES:
                continue
            elif o.get("source") == "USER_EXPLICIT":
                self.stats.skipped["user_action"] += 1  # the user's own file view/edit in the IDE
            # anything else is an unknown system step, already counted
        self.started, self.orphan_step = started, orphan_step

    def _planner(self, r: _Rec, ts: str | None, db_usage: dict[int, tuple[int, int, int, int, int]]) -> None:
        sid, emit, o = self.sid, self.emit, r.o
        key = f"s{r.idx}"
        emit(ev.StepBegin(sid, key, ts))
        thinking = _str(o.get("thinking"))
        if thinking.strip():
            emit(ev.Text(sid, "reasoning", thinking, ts))
        content = _str(o.get("content"))
        if "<EPHEMERAL_MESSAGE>" in content:
            content = _EPHEMERAL.sub("", content).strip()
        if content.strip():
            emit(ev.Text(sid, "message", content, ts))
        for cid, name, args in self.calls.get(r.idx, ()):
            emit(ev.Call(sid, cid, name, args, ts, _KIND_OVERRIDES.get(name)))
        if self.has_tokens:
            inp, cr, out = _int(o.get("input_tokens")), _int(o.get("cache_read_tokens")), _int(o.get("output_tokens"))
            if inp or cr or out:
                emit(ev.StepUsage(sid, key, inp, cr, 0, out, 0))
        elif r.idx in db_usage:
            u = db_usage[r.idx]
            if any(u):
                emit(ev.StepUsage(sid, key, *u))

    def _result(self, r: _Rec, claim: _Claim, ts: str | None) -> None:
        o = r.o
        if r.idx in self.completed:
            return  # emitted with its completion message
        done_at, output = split_result(o)
        end = (norm_ts(done_at) if done_at else None) or ts
        is_error = o.get("status") == "ERROR" or r.type == _ERROR
        message = None
        hint = None
        if is_error:
            if r.type == _ERROR:
                message = _str(o.get("error")).strip() or output.strip()
            else:
                m = _STEP_ERROR.search(output)
                message = m.group(1).strip() if m else None
            if _DENIED.search(output[:4000]) or (message and _DENIED.search(message)):
                hint = "denied"
        code = _exit_code(output) if claim.name in _SHELL_TOOLS and not is_error else None
        child = None
        if claim.name == "invoke_subagent" and not is_error:
            kids = subagent_ids(output)
            child = kids[0] if kids else None
        for cid in [claim.call_id, *claim.extra]:
            self.emit(ev.Result(self.sid, cid, end, output, is_error=True if is_error else None, exit_code=code,
                                hint=hint, message=message, child=child, off=r.off))
            if child:
                self.emit(ev.Link(self.sid, cid, child))

    def _completion(self, n: int, m: re.Match[str], ts: str | None) -> None:
        """The background task started by result step `n` reported back: that call's result, dated now."""
        res = self.by_idx[n]
        claim = self.claims[n]
        body = m.group(3).strip("\n")
        notice = result_output(res.o).rstrip()
        output = f"{notice}\n\n{body}" if notice else body
        end = norm_ts(m.group(1)) or ts
        code = _exit_code(body) if claim.name in _SHELL_TOOLS else None
        for cid in [claim.call_id, *claim.extra]:
            self.emit(ev.Result(self.sid, cid, end, output, exit_code=code, off=-1))

    def _system_start(self, r: _Rec, ts: str | None) -> None:
        """A transcript that begins with a message (a sub-agent's task): a `system` turn; its sender is the parent."""
        content = _str(r.o.get("content"))
        m = _MESSAGE.search(content)
        text = m.group(3).strip() if m else content.strip()
        if m:
            sender = m.group(2)
            if _UUID.match(sender) and sender.lower() != self.sid.lower():
                self.emit(ev.Meta(self.sid, parent=sender))
        self.emit(ev.Prompt(self.sid, ts, text, "system", None, r.off))


def _int(v: Any) -> int:
    """A token count: a positive int of a sane size, else 0."""
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 < v < _SANE else 0


def _exit_code(text: str) -> int | None:
    code = exit_code_in(text, EXIT_CODE)
    return code if code is not None and -(1 << 31) <= code < (1 << 32) else None
