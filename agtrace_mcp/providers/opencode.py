"""OpenCode (sst/opencode): `$XDG_DATA_HOME/opencode` or `~/.local/share/opencode`.

Facts: research/log-formats-2.md §5.2, research/log-formats.md §4, and upstream's `session/session.sql.ts`,
`session/message-v2.ts`, `session/processor.ts`, `storage/json-migration.ts`, `tool/task.ts`, `tool/bash.ts`
(read, not copied). No real sample exists in the corpus; the fixtures follow that schema.

Layouts:
- **≥ 1.4**: one SQLite file, `opencode.db` (`opencode-<channel>.db` for other release channels), WAL mode. It is
  opened READ-ONLY and only the `session`, `message` and `part` tables are read (never `account`,
  `control_account`, `credential`, `session_share`, or anything else). `message.data` / `part.data` hold the same
  JSON as the old files minus the ids, which are columns. One file holds every session: `load_file(db)` returns
  them all. A read sees rows still in `opencode.db-wal` (SQLite reads through the WAL).
- **≤ 1.3**: JSON files under `storage/`: `session/<projectID>/ses_*.json` (one provider file per session),
  `message/<sessionID>/msg_*.json`, `part/<messageID>/prt_*.json`. Upstream copies all of it into the DB on the
  first start of 1.4 and leaves the files, so when a data dir has a DB its `storage/` is not discovered (the same
  session ids would otherwise be indexed twice, the frozen JSON copy shadowing the live DB).

Not incremental (the DB is rewritten in place and a JSON session's data lives in other files), but a DB is
re-read per session (`partial`): each session's signature (its row, and the count and newest times of its
messages and parts) is kept in the parser state, and only sessions whose signature changed, or that wrote a
row in the last hour, are read and indexed again. The hour is there because a running tool's part is rewritten
in place, and nothing upstream promises that such a rewrite moves `time_updated`.

Mapping:
- **Session**: `id`, `parent_id`/`parentID` → parent, `directory` → project, `version` → cli_version,
  `title` (upstream's placeholder "New session - …"/"Child session - …" is no title: the first prompt is used),
  times in epoch ms. A child's agent name is its first user message's `agent`. Sessions without messages are skipped.
- **Turn** = a `user` message with text the user wrote (non-synthetic, non-ignored `text` parts, or a file,
  agent or subtask part). A user message made only of synthetic text (the "Continue…" nudge after an automatic
  compaction, injected reminders) is not a turn. A user message with a `compaction` part is a compaction:
  `Compact(trigger=auto|manual, pre_tokens = context of the last step before it)` and a turn with origin
  `compaction` whose text is the summary the following `summary` assistant message wrote.
- **Step** = one model call = a `step-start` … `step-finish` span of an `assistant` message (older builds put
  several spans in one message, newer ones one per message; a message without `step-start` is one step). Key
  `<messageID>:<n>`, model = the message's `modelID`.
- **Parts**: `text` → message, `reasoning` → reasoning, `tool` → call (`callID`, `tool`, `state.input`) and, when
  `completed`/`error`, its result (`state.output` / `state.error`; status `error` → is_error; `metadata.exit` of
  bash → exit code, so a non-zero exit is a failure even when completed; `metadata.interrupted`, "Tool execution
  aborted", "(Command was aborted)" → interrupted; permission rejections → denied; "(Command timed out" →
  timeout). A `pending`/`running` tool has no result (missing, or in progress while live). A task tool's
  `state.metadata.sessionId` (or `sessionID`, or the `task_id: ses_…` line of its output) links the child session.
  `patch`, `snapshot`, `file`, `agent`, `retry`, `subtask` parts of assistant messages carry no conversation.
- **Errors**: `error.name == "MessageAbortedError"` → the turn is interrupted; any other message error (API,
  auth, output length, context overflow) → a failed step (the open span, or a step of its own when every span
  had finished).
- **Tokens** (decision, from upstream `Session.getUsage`): `input` is already uncached (cache read and write are
  subtracted upstream), `cache.read`/`cache.write` are separate. Current upstream stores `output` *without*
  reasoning (`output = outputTokens - reasoningTokens`); older builds stored the SDK's output, which included it.
  When `tokens.total` is present and equals input + cache + output, reasoning was already inside output; otherwise
  `output + reasoning` is the step's output. Each `step-finish` part carries its own call's tokens; the message's
  `tokens` is only the *last* call's (overwritten per step), so it is used only for a message that has no
  `step-finish` part (never both: nothing is counted twice).
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from ..engine import events as ev
from ..engine.timeutil import norm_ts
from .base import BaseProvider, Emit, ParseStats, SourceFile, list_dir
from .files import read_regular
from .jsonl import as_dict
from .jsonl import loads as jloads
from .sqlite_ro import connect_readonly

NAME = "opencode"
TABLES = ("session", "message", "part")  # the only tables ever read

_DEFAULT_TITLE = re.compile(r"^(?:New session|Child session) - \d{4}-\d\d-\d\dT")
_TASK_ID = re.compile(r"task_id:\s*(ses_[A-Za-z0-9]+)")
_SLASH = re.compile(r"^/[A-Za-z][\w:.-]*$")
_DENIED = re.compile(r"rejected permission|user rejected|prevents you from using this specific tool|"
                     r"specifically restricted access|not allowed to execute|permission denied by user", re.I)
_ABORTED = re.compile(r"Tool execution (?:was )?(?:aborted|interrupted)|\(Command was aborted\)|aborted by user",
                      re.I)
_TIMEOUT = re.compile(r"\(Command timed out after|timed out after \d+", re.I)
_CONTENT_PARTS = frozenset({"text", "reasoning", "tool"})
_QUIET_PARTS = frozenset({"patch", "snapshot", "file", "agent", "retry", "subtask", "compaction", "step-start",
                          "step-finish"})
# OpenCode's own tool names the shared vocabulary does not know.
_KINDS = {"list": "read", "webfetch": "read", "websearch": "search", "codesearch": "search",
          "todowrite": "plan", "todoread": "plan", "lsp_diagnostics": "read", "lsp_hover": "read",
          "question": "ask", "batch": "other", "invalid": "other"}


LIVE_MS = 3_600_000  # a session that wrote a row this recently is read again on every change of the DB


class OpenCodeProvider(BaseProvider):
    name = NAME
    label = "OpenCode"
    order = 60
    root_env = ("XDG_DATA_HOME",)  # the agent's own variables that move its logs
    incremental = False  # the DB is one file rewritten in place; a JSON session spans many files
    partial = True  # ... but a DB is re-read per session (see the module docstring)

    def default_roots(self, home: Path, env: dict[str, str]) -> list[Path]:
        ours = env.get(self.root_var)
        if ours:
            return [Path(ours).expanduser()]
        xdg = env.get("XDG_DATA_HOME")
        base = Path(xdg).expanduser() if xdg else home / ".local" / "share"
        return [base / "opencode"]

    # -- discovery ----------------------------------------------------------------------------------

    def discover(self, roots: list[Path]) -> Iterator[SourceFile]:
        for root in roots:
            if not root.is_dir():
                continue
            if root.name == "session" and root.parent.name == "storage":
                yield from _scan_sessions(root)
                continue
            if root.name == "storage":
                yield from _scan_sessions(root / "session")
                continue
            dbs = [e for e in list_dir(root) if _is_db(e.name) and _is_file(e)]
            for e in dbs:
                yield SourceFile(e.path, NAME, "db")
            if not dbs:  # after the 1.4 migration the DB holds everything storage/ held
                yield from _scan_sessions(root / "storage" / "session")

    def stamp(self, src: SourceFile) -> tuple[int, int, int]:
        """(size, mtime, inode) that change whenever the session data does: OpenCode's writes land in the
        database's `-wal` file first, and a JSON session's messages live in other files."""
        st = os.stat(src.path)
        size, mtime = st.st_size, st.st_mtime_ns
        if src.path.endswith(".db"):
            extra = [src.path + "-wal"]
        else:  # storage/session/<project>/ses_X.json: its messages (and their parts) change, not it
            storage = Path(src.path).parents[2]
            sid = Path(src.path).stem
            extra = [str(storage / "message" / sid)]
            try:
                msgs = sorted(e.name for e in os.scandir(storage / "message" / sid))
            except OSError:
                msgs = []
            extra += [str(storage / "message" / sid / m) for m in msgs]
            if msgs:  # a running tool's part is rewritten in place: watch the newest message's parts
                newest = storage / "part" / msgs[-1].removesuffix(".json")
                extra.append(str(newest))
                try:
                    extra += [e.path for e in os.scandir(newest)]
                except OSError:
                    pass
        for x in extra:
            try:
                xs = os.stat(x)
            except OSError:
                continue
            size += xs.st_size
            mtime = max(mtime, xs.st_mtime_ns)
        return size, mtime, st.st_ino

    def claims(self, path: str) -> int:
        """`opencode.db` (or `opencode-<channel>.db`), and `storage/session/…/ses_*.json` files."""
        low = path.replace("\\", "/").lower()
        name = low.rsplit("/", 1)[-1]
        return 2 if (name == "opencode.db" or (name.startswith("opencode-") and name.endswith(".db"))
                     or ("/storage/session/" in low and name.startswith("ses_"))) else 0

    def may_hold(self, path: str, ref: str) -> bool:
        """Session ids are `ses_…`; the database holds every session, the JSON layout names its file by it."""
        return ref in path or (ref.startswith("ses") and path.endswith(".db"))

    def describe(self, path: str) -> SourceFile:
        """What a single file's location says (no folder walk)."""
        if path.endswith(".db") or Path(path).name.endswith((".sqlite", ".sqlite3")):
            return SourceFile(path, NAME, "db")
        return SourceFile(path, NAME, "session_json")

    # -- parsing ------------------------------------------------------------------------------------

    def parse(self, src: SourceFile, offset: int, state: Any, emit: Emit, stats: ParseStats) -> tuple[int, Any]:
        new_state = None
        if src.kind == "db" or src.path.endswith(".db"):
            new_state = _parse_db(src, emit, stats, state if isinstance(state, dict) else None)
        else:
            _parse_json_session(src, emit, stats)
        try:
            return os.stat(src.path).st_size, new_state
        except OSError:
            return 0, new_state

    def present(self, state: Any) -> set[str]:
        """The sessions a DB held when it was last read (its state maps each to its signature)."""
        return set(state) if isinstance(state, dict) else set()

    # -- full outputs on demand ---------------------------------------------------------------------

    def read_output(self, src: SourceFile, offset: int, call_id: str) -> str | None:
        """A DB tool result is stored with its part's rowid: read that one row."""
        if offset < 0 or not (src.kind == "db" or src.path.endswith(".db")):
            return None
        try:
            con = connect_ro(src.path)
        except sqlite3.Error:
            return None
        try:
            row = con.execute("SELECT data FROM part WHERE rowid = ?", (offset,)).fetchone()
        except sqlite3.Error:
            return None
        finally:
            con.close()
        if row is None:
            return None
        try:
            part = jloads(row[0])
        except (orjson.JSONDecodeError, TypeError):
            return None
        if not isinstance(part, dict) or part.get("callID") != call_id:
            return None
        state = as_dict(part.get("state"))
        return _tool_output(state)


# -- the SQLite store -------------------------------------------------------------------------------------


def connect_ro(path: str) -> sqlite3.Connection:
    """Open the DB so that nothing is written in OpenCode's folder, not even its `-shm` (sqlite_ro.py)."""
    con = connect_readonly(path)
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        con.close()
        raise
    return con


def _parse_db(src: SourceFile, emit: Emit, stats: ParseStats,
              prev: dict[str, tuple[Any, ...]] | None) -> dict[str, tuple[Any, ...]] | None:
    """Emit the sessions of the DB that changed since `prev` (every session when it is None); returns the new
    state: session id -> (signature, records, bad rows). None when the DB could not be read (read it all next
    time)."""
    try:
        con = connect_ro(src.path)
    except sqlite3.Error as e:
        stats.bad(0, f"cannot open database: {e}", src.path)
        return None
    out: dict[str, tuple[Any, ...]] = {}
    try:
        have = {r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('session', 'message', 'part')")}
        if len(have) < len(TABLES):
            stats.bad(0, "not an OpenCode database (no session/message/part tables)", src.path)
            return None
        con.row_factory = sqlite3.Row
        con.execute("BEGIN")  # one snapshot for every query below
        try:
            sessions = [dict(r) for r in con.execute("SELECT * FROM session ORDER BY time_created, id")]
            marks = _activity(con)
            now_ms = time.time() * 1000
            for srow in sessions:
                sid = srow.get("id")
                if not isinstance(sid, str):
                    stats.bad(0, "session row without id", str(srow)[:120])
                    continue
                m, p = marks.get(("message", sid), (0, None, None)), marks.get(("part", sid), (0, None, None))
                sig = (zlib.crc32(repr(tuple(srow.values())).encode()), *m, *p)
                old = prev.get(sid) if prev else None
                newest = max((x for x in (*m[1:], *p[1:], srow.get("time_updated")) if isinstance(x, (int, float))),
                             default=0)
                if old is not None and old[0] == sig and now_ms - newest > LIVE_MS:
                    stats.records += old[1]  # unchanged: its rows stay in the index as they are
                    stats.lines += old[1]
                    stats.bad_lines += old[2]
                    out[sid] = old
                    continue
                records, bad = stats.records, stats.bad_lines
                messages = _db_messages(con, sid, stats)
                parts = _db_parts(con, sid, stats)
                sess = {"id": sid, "parent": srow.get("parent_id"), "directory": srow.get("directory"),
                        "title": srow.get("title"), "version": srow.get("version"),
                        "created": srow.get("time_created"), "updated": srow.get("time_updated")}
                emit_session(sess, messages, parts, src.path, emit, stats)
                out[sid] = (sig, stats.records - records, stats.bad_lines - bad)
        finally:
            con.execute("COMMIT")
    except sqlite3.Error as e:
        stats.bad(0, f"database read failed: {e}", src.path)
        return None
    finally:
        con.close()
    return out


def _activity(con: sqlite3.Connection) -> dict[tuple[str, str], tuple[Any, ...]]:
    """(table, session id) -> (rows, newest time_updated, newest time_created) of messages and parts: one pass
    over the two tables that reads no `data` column."""
    out: dict[tuple[str, str], tuple[Any, ...]] = {}
    for table in ("message", "part"):
        for r in con.execute(f"SELECT session_id, count(*), max(time_updated), max(time_created) FROM {table}"
                             " GROUP BY session_id"):
            out[(table, r[0])] = tuple(r[1:])
    return out


def _db_messages(con: sqlite3.Connection, sid: str, stats: ParseStats) -> list[dict[str, Any]]:
    out = []
    for r in con.execute("SELECT id, time_created, data FROM message WHERE session_id = ? ORDER BY time_created, id",
                         (sid,)):
        data = _loads(r["data"], stats)
        if data is None:
            continue
        data["id"] = r["id"]
        data["sessionID"] = sid
        data.setdefault("_t", r["time_created"])
        out.append(data)
    return out


def _db_parts(con: sqlite3.Connection, sid: str, stats: ParseStats) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in con.execute("SELECT rowid, id, message_id, time_created, data FROM part WHERE session_id = ?"
                         " ORDER BY message_id, id", (sid,)):
        data = _loads(r["data"], stats)
        if data is None:
            continue
        data["id"] = r["id"]
        data["messageID"] = r["message_id"]
        data["_off"] = r["rowid"]
        data["_t"] = r["time_created"]
        out.setdefault(r["message_id"], []).append(data)
    return out


def _loads(raw: Any, stats: ParseStats) -> dict[str, Any] | None:
    stats.records += 1
    stats.lines += 1
    if isinstance(raw, (bytes, str)):
        stats.bytes += len(raw)
    try:
        v = jloads(raw)
    except (orjson.JSONDecodeError, TypeError):
        stats.bad(0, "undecodable JSON in a data column", raw if isinstance(raw, (bytes, str)) else str(raw))
        return None
    if not isinstance(v, dict):
        stats.bad(0, "data column is not a JSON object", str(v))
        return None
    return v


# -- the JSON storage of ≤ 1.3 ------------------------------------------------------------------------------


def _parse_json_session(src: SourceFile, emit: Emit, stats: ParseStats) -> None:
    p = Path(src.path)
    doc = _read_json(p, stats)
    if doc is None:
        return
    storage = p.parent.parent.parent  # storage/session/<projectID>/ses_*.json
    # Ids come from file names, as upstream's own migration takes them (never a path read from the content).
    sid = p.stem
    messages = []
    for f in _json_files(storage / "message" / sid):
        m = _read_json(f, stats)
        if m is not None:
            m["id"] = f.stem
            messages.append(m)
    messages.sort(key=lambda m: (_num((m.get("time") or {}).get("created") if isinstance(m.get("time"), dict)
                                      else None), str(m.get("id"))))
    parts: dict[str, list[dict[str, Any]]] = {}
    for m in messages:
        mid = str(m["id"])
        found = [x for x in (_read_json(f, stats) for f in _json_files(storage / "part" / mid)) if x is not None]
        if not found and isinstance(m.get("parts"), list):  # very old builds kept parts inside the message
            found = [x for x in m["parts"] if isinstance(x, dict)]
        found.sort(key=lambda x: str(x.get("id", "")))
        parts[mid] = found
    t = as_dict(doc.get("time"))
    sess = {"id": sid, "parent": doc.get("parentID"), "directory": doc.get("directory"), "title": doc.get("title"),
            "version": doc.get("version"), "created": t.get("created"), "updated": t.get("updated")}
    emit_session(sess, messages, parts, src.path, emit, stats)


def _read_json(path: Path, stats: ParseStats) -> dict[str, Any] | None:
    try:
        raw = read_regular(path)
    except OSError as e:
        stats.bad(0, f"unreadable {path.name}: {e.__class__.__name__}", "")
        return None
    stats.bytes += len(raw)
    stats.lines += 1
    stats.records += 1
    try:
        v = jloads(raw)
    except orjson.JSONDecodeError:
        stats.bad(0, f"invalid JSON in {path.name} (half-written?)", raw[-120:])
        return None
    if not isinstance(v, dict):
        stats.bad(0, f"{path.name} is not a JSON object", raw[:120])
        return None
    return v


def _json_files(folder: Path) -> list[Path]:
    return [Path(e.path) for e in list_dir(folder) if e.name.endswith(".json") and _is_file(e)]


def _scan_sessions(folder: Path) -> Iterator[SourceFile]:
    for proj in list_dir(folder):
        if not proj.is_dir(follow_symlinks=False):
            continue
        for f in list_dir(Path(proj.path)):
            if f.name.startswith("ses_") and f.name.endswith(".json") and _is_file(f):
                yield SourceFile(f.path, NAME, "session_json")


# -- one session → events -------------------------------------------------------------------------------------


def emit_session(sess: dict[str, Any], messages: list[dict[str, Any]], parts: dict[str, list[dict[str, Any]]],
                 path: str, emit: Emit, stats: ParseStats) -> None:
    """Events of one session, given its row, its messages in order and their parts (same shape for both layouts)."""
    sid = sess["id"]
    if not messages:
        stats.skipped["session_without_messages"] += 1
        return
    parent = sess.get("parent") if isinstance(sess.get("parent"), str) and sess.get("parent") else None
    title = sess.get("title") if isinstance(sess.get("title"), str) else None
    if title and _DEFAULT_TITLE.match(title):
        title = None
    agent = None
    if parent:
        first_user = next((m for m in messages if m.get("role") == "user"), None)
        agent = first_user.get("agent") if first_user and isinstance(first_user.get("agent"), str) else None
    cwd = sess.get("directory") if isinstance(sess.get("directory"), str) and sess.get("directory") else None
    if cwd is None:
        cwd = next((m["path"]["cwd"] for m in messages if isinstance(m.get("path"), dict)
                    and isinstance(m["path"].get("cwd"), str)), None)
    version = sess.get("version") if isinstance(sess.get("version"), str) and sess.get("version") else None
    emit(ev.Meta(sid, provider=NAME, ts=_ts(sess.get("created")), cwd=cwd, cli_version=version, parent=parent,
                 agent_name=agent, title=title, source_file=path))
    ctx = _Ctx()
    for i, m in enumerate(messages):
        role = m.get("role")
        mparts = parts.get(str(m.get("id")), [])
        ctx.last_ts = _msg_ts(m) or ctx.last_ts
        if role == "user":
            _user(sid, m, mparts, messages, i, parts, ctx, emit, stats)
        elif role == "assistant":
            _assistant(sid, m, mparts, ctx, emit, stats)
        else:
            stats.unknown[f"message:{role}"] += 1


class _Ctx:
    __slots__ = ("in_turn", "last_context", "last_ts")

    def __init__(self) -> None:
        self.in_turn = False
        self.last_context: int | None = None  # prompt size of the last step (pre_tokens of a compaction)
        self.last_ts: str | None = None  # the newest message time (for a message written without one)


def _user(sid: str, m: dict[str, Any], mparts: list[dict[str, Any]], messages: list[dict[str, Any]], i: int,
          parts: dict[str, list[dict[str, Any]]], ctx: _Ctx, emit: Emit, stats: ParseStats) -> None:
    ts = _msg_ts(m)
    texts = [p["text"] for p in mparts if p.get("type") == "text" and isinstance(p.get("text"), str)
             and not p.get("synthetic") and not p.get("ignored") and p["text"].strip()]
    compaction = next((p for p in mparts if p.get("type") == "compaction"), None)
    if compaction is not None:
        at = ts or ctx.last_ts or _ts(m.get("_t"))
        if at is not None:
            emit(ev.Compact(sid, at, "auto" if compaction.get("auto") is True else "manual", ctx.last_context))
        else:
            stats.skipped["compaction_without_time"] += 1
        summary = _summary_after(m, messages, i, parts)
        emit(ev.Prompt(sid, ts, summary or "\n".join(texts), "compaction"))
        ctx.in_turn = True
        return
    others = [p for p in mparts if p.get("type") in ("file", "agent", "subtask")]
    if not texts and not others:
        stats.skipped["injected_user_message"] += 1  # synthetic only: the harness wrote it
        return
    text = "\n".join(texts)
    if not text:
        sub = next((p for p in others if p.get("type") == "subtask"), None)
        if sub is not None:
            text = _s(sub.get("prompt")) or _s(sub.get("description")) or ""
        if not text:
            text = " ".join(f"[{p.get('type')} {p.get('filename') or p.get('name') or ''}]".replace(" ]", "]")
                            for p in others)
    origin, slash = "user", None
    if text.startswith("/"):
        command = text.split(None, 1)[0]
        if _SLASH.match(command):
            origin, slash = "slash_command", command
    emit(ev.Prompt(sid, ts, text, origin, slash))
    ctx.in_turn = True


def _summary_after(m: dict[str, Any], messages: list[dict[str, Any]], i: int,
                   parts: dict[str, list[dict[str, Any]]]) -> str:
    """The text of the `summary` assistant message answering a compaction request."""
    for nxt in messages[i + 1:i + 4]:
        if nxt.get("role") == "assistant" and nxt.get("summary") and nxt.get("parentID") in (m.get("id"), None):
            return "\n".join(p["text"] for p in parts.get(str(nxt.get("id")), [])
                             if p.get("type") == "text" and isinstance(p.get("text"), str)).strip()
        if nxt.get("role") == "user":
            break
    return ""


def _assistant(sid: str, m: dict[str, Any], mparts: list[dict[str, Any]], ctx: _Ctx, emit: Emit,
               stats: ParseStats) -> None:
    mid = str(m.get("id"))
    model = _s(m.get("modelID"))
    mts = _msg_ts(m)
    _row_times(m, mparts)
    # Split the parts into model calls: step-start … step-finish.
    spans: list[list[dict[str, Any]]] = []
    open_span: list[dict[str, Any]] | None = None
    finished: list[bool] = []
    for p in mparts:
        t = p.get("type")
        if t == "step-start":
            open_span = [p]
            spans.append(open_span)
            finished.append(False)
            continue
        if open_span is None:
            if t not in _CONTENT_PARTS:
                if t not in _QUIET_PARTS:
                    stats.unknown[f"part:{t}"] += 1
                continue  # a patch after step-finish, a snapshot: no conversation
            open_span = []
            spans.append(open_span)
            finished.append(False)
        open_span.append(p)
        if t == "step-finish":
            finished[-1] = True
            open_span = None
    has_finish = any(finished)
    last_key: str | None = None
    last_ts = mts  # parts without a time of their own follow what came before them
    for j, span in enumerate(spans):
        key = f"{mid}:{j}"
        last_key = key
        last_ts = _span_ts(span) or last_ts
        emit(ev.StepBegin(sid, key, last_ts, model))
        for p in span:
            t = p.get("type")
            pts = _part_ts(p) or last_ts
            last_ts = pts
            if t == "text":
                if isinstance(p.get("text"), str) and p["text"] and not p.get("ignored"):
                    emit(ev.Text(sid, "message", p["text"], pts))
            elif t == "reasoning":
                if isinstance(p.get("text"), str) and p["text"]:
                    emit(ev.Text(sid, "reasoning", p["text"], pts))
            elif t == "tool":
                _tool(sid, p, pts, emit, stats)
            elif t == "step-finish":
                usage = _usage(p.get("tokens"))
                if usage is not None:
                    emit(ev.StepUsage(sid, key, *usage))
                    ctx.last_context = usage[0] + usage[1] + usage[2]
                if p.get("_t") is not None:
                    emit(ev.Meta(sid, ts=_ts(p["_t"])))  # the call ended when its step-finish was written
            elif t not in _QUIET_PARTS:
                stats.unknown[f"part:{t}"] += 1
    if not has_finish and last_key is not None:
        usage = _usage(m.get("tokens"))  # no per-call tokens: the message's (= its only call's) tokens
        if usage is not None:
            emit(ev.StepUsage(sid, last_key, *usage))
            ctx.last_context = usage[0] + usage[1] + usage[2]
    end = _ts(m["time"].get("completed")) if isinstance(m.get("time"), dict) else None
    err = m.get("error")
    if spans and end and not (isinstance(err, dict) and err):
        emit(ev.Meta(sid, ts=end))  # the message completed then: the step and turn last until here
    if isinstance(err, dict) and err:
        name = _s(err.get("name")) or "Error"
        data = as_dict(err.get("data"))
        if name == "MessageAbortedError":
            if ctx.in_turn:
                emit(ev.Interrupt(sid, end or mts))
            else:
                stats.skipped["abort_outside_turn"] += 1
            return
        message = _s(data.get("message")) or name
        if last_key is None or (spans and finished[-1]):
            emit(ev.StepBegin(sid, f"{mid}:error", end or mts, model))  # the call that failed had no parts
        emit(ev.StepFailed(sid, end or mts, f"{name}: {message}" if message != name else name))
    elif not spans:
        stats.skipped["assistant_message_without_parts"] += 1


def _tool(sid: str, p: dict[str, Any], pts: str | None, emit: Emit, stats: ParseStats) -> None:
    call_id = _s(p.get("callID")) or _s(p.get("id"))
    if not call_id:
        stats.bad(0, "tool part without callID", str(p)[:120])
        return
    name = _s(p.get("tool")) or ""
    state = as_dict(p.get("state"))
    times = as_dict(state.get("time"))
    start = _ts(times.get("start")) or pts
    emit(ev.Call(sid, call_id, name, state.get("input"), start, _KINDS.get(name)))
    status = state.get("status")
    if status not in ("completed", "error"):
        return  # pending / running: never finished (missing, or in progress while the session is live)
    md = as_dict(state.get("metadata"))
    output = _tool_output(state)
    end = _ts(times.get("end"))
    is_error = status == "error"
    code = None
    for k in ("exit", "exitCode", "exit_code"):
        v = md.get(k)
        if isinstance(v, int) and not isinstance(v, bool):
            code = v
            break
    hint = None
    error_text = _s(state.get("error")) or ""
    if md.get("interrupted") is True or _ABORTED.search(error_text[:300]) or _ABORTED.search(output[-300:]):
        hint = "interrupted"
    elif is_error and _DENIED.search(error_text[:500]):
        hint = "denied"
    elif _TIMEOUT.search(output[-300:]) or (is_error and _TIMEOUT.search(error_text[:300])):
        hint = "timeout"
    child = _s(md.get("sessionId")) or _s(md.get("sessionID"))
    if child is None and name in ("task", "subagent"):
        found = _TASK_ID.search(output[:500])
        child = found.group(1) if found else None
    off = p.get("_off")
    emit(ev.Result(sid, call_id, end or start, output, is_error, code, hint, error_text or None, child,
                   off if isinstance(off, int) else -1))


def _tool_output(state: dict[str, Any]) -> str:
    if state.get("status") == "error":
        md = as_dict(state.get("metadata"))
        out = md.get("output") if md.get("interrupted") is True else None
        err = state.get("error")
        return out if isinstance(out, str) and out else (err if isinstance(err, str) else "")
    out = state.get("output")
    if isinstance(out, str):
        return out
    if out is None:
        return ""
    try:
        return orjson.dumps(out).decode()
    except TypeError:  # integers beyond 64 bits, odd keys
        return str(out)


def _usage(tokens: Any) -> tuple[int, int, int, int, int] | None:
    """(input, cache_read, cache_write, output incl. reasoning, reasoning) of an OpenCode `tokens` object."""
    if not isinstance(tokens, dict):
        return None
    inp, out, rea = _int(tokens.get("input")), _int(tokens.get("output")), _int(tokens.get("reasoning"))
    cache = as_dict(tokens.get("cache"))
    cr, cw = _int(cache.get("read")), _int(cache.get("write"))
    if not (inp or out or rea or cr or cw):
        return None  # an all-zero record (an aborted call, a migrated session) says nothing
    total = tokens.get("total")
    if rea and isinstance(total, int) and total == inp + cr + cw + out:
        return inp, cr, cw, out, rea  # this build's output already included reasoning
    return inp, cr, cw, out + rea, rea


# -- small helpers ----------------------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DAYS: dict[int, str] = {}


def _ts(v: Any) -> str | None:
    """`norm_ts` with a fast path for OpenCode's epoch milliseconds (several per part: the hot spot of a read)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and 1e11 < v < 1e14:
        s, ms = divmod(int(v), 1000)
        day, rem = divmod(s, 86400)
        date = _DAYS.get(day)
        if date is None:
            if len(_DAYS) > 4096:
                _DAYS.clear()
            date = _DAYS[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
        h, rem = divmod(rem, 3600)
        m, sec = divmod(rem, 60)
        return f"{date}T{h:02d}:{m:02d}:{sec:02d}.{ms:03d}Z"
    return norm_ts(v)


def _msg_ts(m: dict[str, Any]) -> str | None:
    t = m.get("time")
    if isinstance(t, dict) and t.get("created") is not None:
        return _ts(t.get("created"))
    return _ts(m.get("_t"))


def _part_ts(p: dict[str, Any]) -> str | None:
    t = p.get("time")
    if isinstance(t, dict) and t.get("start") is not None:
        return _ts(t["start"])
    state = p.get("state")
    if isinstance(state, dict) and isinstance(state.get("time"), dict) and state["time"].get("start") is not None:
        return _ts(state["time"]["start"])
    return _ts(p.get("_t"))  # the row's time_created, kept only when trusted (see _row_times)


def _row_times(m: dict[str, Any], mparts: list[dict[str, Any]]) -> None:
    """Drop part rows' `time_created` that cannot be when the part was written.

    A DB written by OpenCode itself stamps each part row when it is stored; the 1.4 JSON→SQLite migration stamps
    every part it copies with the migration time. A row time outside the message's [created, completed] window is
    such a stamp and would stretch the session to the day of the upgrade."""
    t = as_dict(m.get("time"))
    lo = t.get("created") if isinstance(t.get("created"), (int, float)) else m.get("_t")
    hi = t.get("completed") if isinstance(t.get("completed"), (int, float)) else None
    for p in mparts:
        v = p.get("_t")
        if v is None:
            continue
        if not isinstance(v, (int, float)) or (isinstance(lo, (int, float)) and v < lo) or (hi is not None and v > hi):
            p["_t"] = None


def _span_ts(span: list[dict[str, Any]]) -> str | None:
    for p in span:
        ts = _part_ts(p)
        if ts:
            return ts
    return None


def _is_db(name: str) -> bool:
    return name == "opencode.db" or (name.startswith("opencode-") and name.endswith(".db"))


def _is_file(e: os.DirEntry[str]) -> bool:
    try:
        return e.is_file(follow_symlinks=False)
    except OSError:
        return False


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0


def _int(v: Any) -> int:
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return max(v, 0)
    if isinstance(v, float) and v == v:
        return max(int(v), 0)
    return 0


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None
