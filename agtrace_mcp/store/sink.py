"""The builder's sink for the index: turns, steps and tools become rows; their text becomes search docs.

Rows hold previews, not whole bodies: long tool outputs keep a head and a tail plus the byte offset of
the record in the log, so the full text is read from the log on demand (`get_tool_output`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from ..engine.records import CompactRec, SessionMetaRec, StepRec, ToolRec, TurnRec
from ..engine.timeutil import ms_between
from ..redact import find_secrets

OUT_HEAD, OUT_TAIL = 1500, 500  # tool output preview kept in the index
TEXT_CAP = 16_000  # prompt / message / reasoning kept in the index
ARG_STR_CAP = 1000  # long strings inside tool arguments
DOC_CAP = 2000  # text per search doc; the first KBs of a body are what search sees
DOC_TAIL = 500


def cap_text(text: str | None, cap: int) -> str | None:
    if text is None or len(text) <= cap:
        return text
    return text[: cap - 200] + f"\n…[{len(text) - cap + 200} chars cut]…\n" + text[-150:]


def preview(text: str) -> str:
    if len(text) <= OUT_HEAD + OUT_TAIL:
        return text
    return f"{text[:OUT_HEAD]}\n…[{len(text) - OUT_HEAD - OUT_TAIL} chars cut]…\n{text[-OUT_TAIL:]}"


def doc_text(text: str) -> str:
    if len(text) <= DOC_CAP + DOC_TAIL:
        return text
    return text[:DOC_CAP] + "\n" + text[-DOC_TAIL:]


def cap_strings(value: Any, cap: int = ARG_STR_CAP) -> Any:
    """Cut long strings inside a JSON value, keeping it valid JSON (arguments of Write/apply_patch…)."""
    if isinstance(value, str):
        if len(value) > cap:
            return value[: cap * 2 // 3] + f"…[{len(value) - cap} chars cut]…" + value[-(cap // 3):]
        return value
    if isinstance(value, dict):
        return {k: cap_strings(v, cap) for k, v in value.items()}
    if isinstance(value, list):
        return [cap_strings(v, cap) for v in value]
    return value


def args_json(args: Any) -> tuple[str | None, int]:
    if args is None:
        return None, 0
    try:
        full = orjson.dumps(args)
    except TypeError:
        full = orjson.dumps(str(args))
    if len(full) <= ARG_STR_CAP * 2:
        return full.decode(), len(full)
    return orjson.dumps(cap_strings(args)).decode(), len(full)


def args_search_text(name: str, args: Any) -> str:
    if isinstance(args, dict):
        parts = [name]
        for v in args.values():
            parts.append(v if isinstance(v, str) else orjson.dumps(v).decode() if v is not None else "")
        return doc_text("\n".join(parts))
    if isinstance(args, str):
        return doc_text(f"{name}\n{args}")
    return name


class StoreSink:
    """Writes one file's records inside the caller's transaction."""

    def __init__(self, db: sqlite3.Connection, file_id: int, fresh: bool) -> None:
        self.db = db
        self.file_id = file_id
        self.fresh = fresh  # nothing of this file is in the index yet: skip existence checks
        self.accepted: dict[str, bool] = {}  # session -> written by this file (False: another file owns it)
        self.new_sessions: set[str] = set()
        self.touched: dict[str, int] = {}  # session -> lowest turn index touched

    # -- ownership ------------------------------------------------------------------------------

    def _ok(self, sid: str) -> bool:
        ok = self.accepted.get(sid)
        if ok is not None:
            return ok
        row = self.db.execute("SELECT file_id FROM sessions WHERE id = ?", (sid,)).fetchone()
        if row is None:
            ok = True
            self.new_sessions.add(sid)
        elif row[0] == self.file_id:
            ok = True
        else:
            other = self.db.execute("SELECT on_disk FROM files WHERE id = ?", (row[0],)).fetchone()
            if other is not None and other[0]:
                ok = False  # the same session id is already indexed from another file still on disk
            else:
                purge_sessions(self.db, [sid])  # its file is gone: this copy takes over
                self.new_sessions.add(sid)
                ok = True
        self.accepted[sid] = ok
        return ok

    def _is_new(self, sid: str) -> bool:
        return self.fresh or sid in self.new_sessions

    def _touch(self, sid: str, turn_idx: int) -> None:
        cur = self.touched.get(sid)
        if cur is None or turn_idx < cur:
            self.touched[sid] = turn_idx

    # -- sink protocol --------------------------------------------------------------------------

    def meta(self, sid: str, m: SessionMetaRec) -> None:
        if not self._ok(sid):
            return
        self.touched.setdefault(sid, 1 << 30)
        self.db.execute(
            """INSERT INTO sessions (id, provider, file_id, project_root, git_branch, title, started_at, ended_at,
                   models, cli_version, parent_id, agent_name, source_files, context_window, on_disk)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,1)
               ON CONFLICT(id) DO UPDATE SET provider=excluded.provider, file_id=excluded.file_id,
                   project_root=excluded.project_root, git_branch=excluded.git_branch, title=excluded.title,
                   started_at=excluded.started_at, ended_at=excluded.ended_at, models=excluded.models,
                   cli_version=excluded.cli_version, parent_id=excluded.parent_id, agent_name=excluded.agent_name,
                   source_files=excluded.source_files, context_window=excluded.context_window, on_disk=1""",
            (sid, m.provider, self.file_id, m.project_root, m.git_branch or None, m.title, m.started_at,
             m.ended_at, orjson.dumps(m.models).decode(), m.cli_version, m.parent_session_id, m.agent_name,
             orjson.dumps(m.source_files).decode(), m.context_window))

    def turn(self, sid: str, t: TurnRec) -> None:
        if not self._ok(sid):
            return
        self._touch(sid, t.index)
        new = self._is_new(sid) or self.db.execute(
            "SELECT 1 FROM turns WHERE session_id = ? AND idx = ?", (sid, t.index)).fetchone() is None
        if new:
            self.db.execute(
                "INSERT INTO turns (session_id, idx, started_at, ended_at, text, text_len, origin, slash, interrupted, off)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (sid, t.index, t.started_at, t.ended_at, cap_text(t.text, TEXT_CAP), len(t.text), t.origin, t.slash,
                 int(t.interrupted), t.off))
            if t.text:
                self._doc(sid, t.index, -1, None, "prompt", doc_text(t.text))
        else:
            self.db.execute("UPDATE turns SET ended_at = ?, interrupted = ? WHERE session_id = ? AND idx = ?",
                            (t.ended_at, int(t.interrupted), sid, t.index))

    def step(self, sid: str, s: StepRec) -> None:
        if not self._ok(sid):
            return
        self._touch(sid, s.turn_index)
        db = self.db
        if not self._is_new(sid):
            db.execute("DELETE FROM tools WHERE session_id = ? AND turn_idx = ? AND step_idx = ?",
                       (sid, s.turn_index, s.index))
            self._drop_docs(sid, s.turn_index, s.index)
        reasoning, message = s.reasoning_text, s.message_text
        u = s.usage or (0, 0, 0, 0, 0)
        status = "failed" if s.failed else ("in_progress" if s.in_progress else "done")
        db.execute(
            "INSERT OR REPLACE INTO steps (session_id, turn_idx, idx, started_at, ended_at, model, reasoning,"
            " reasoning_len, message, message_len, status, error, has_usage, input, cache_read, cache_write, output,"
            " reasoning_tokens) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (sid, s.turn_index, s.index, s.started_at, s.ended_at, s.model, cap_text(reasoning, TEXT_CAP),
             len(reasoning or ""), cap_text(message, TEXT_CAP), len(message or ""), status, s.error,
             int(s.usage is not None), u[0], u[1], u[2], u[3], u[4]))
        if s.tools:
            rows = []
            for seq, t in enumerate(s.tools):
                a, alen = args_json(t.args)
                rows.append((sid, s.turn_index, s.index, seq, t.call_id, t.name, t.kind, a, alen, t.started_at,
                             t.ended_at, ms_between(t.started_at, t.ended_at) if t.has_result else None, t.status,
                             t.error_kind, t.exit_code, t.error_message, preview(t.output), len(t.output), t.out_off,
                             t.child))
            db.executemany(
                "INSERT OR REPLACE INTO tools (session_id, turn_idx, step_idx, seq, call_id, name, kind, args, args_len,"
                " started_at, ended_at, duration_ms, status, error_kind, exit_code, error_message, output, output_len,"
                " out_off, child_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        if message:
            self._doc(sid, s.turn_index, s.index, None, "message", doc_text(message))
        if reasoning:
            self._doc(sid, s.turn_index, s.index, None, "reasoning", doc_text(reasoning))
        for t in s.tools:
            self._doc(sid, s.turn_index, s.index, t.call_id, "tool_call", args_search_text(t.name, t.args))
            if t.output:
                self._doc(sid, s.turn_index, s.index, t.call_id, "tool_output", doc_text(t.output))

    def patch_tool(self, sid: str, turn_index: int, step_index: int, t: ToolRec) -> None:
        if not self._ok(sid):
            return
        self._touch(sid, turn_index)
        if t.has_result:
            row = self.db.execute(
                "SELECT started_at FROM tools WHERE session_id = ? AND call_id = ? AND turn_idx = ? AND step_idx = ?",
                (sid, t.call_id, turn_index, step_index)).fetchone()
            started = row[0] if row else t.started_at
            self.db.execute(
                "UPDATE tools SET ended_at = ?, duration_ms = ?, status = ?, error_kind = ?, exit_code = ?,"
                " error_message = ?, output = ?, output_len = ?, out_off = ?, child_id = coalesce(?, child_id)"
                " WHERE session_id = ? AND call_id = ? AND turn_idx = ? AND step_idx = ?",
                (t.ended_at, ms_between(started, t.ended_at), t.status, t.error_kind, t.exit_code, t.error_message,
                 preview(t.output), len(t.output), t.out_off, t.child, sid, t.call_id, turn_index, step_index))
            if t.output:
                self._doc(sid, turn_index, step_index, t.call_id, "tool_output", doc_text(t.output))
        elif t.child:
            self.db.execute(
                "UPDATE tools SET child_id = ? WHERE session_id = ? AND call_id = ? AND turn_idx = ? AND step_idx = ?",
                (t.child, sid, t.call_id, turn_index, step_index))

    def patch_usage(self, sid: str, turn_index: int, step_index: int, u: tuple[int, ...]) -> None:
        if not self._ok(sid):
            return
        self._touch(sid, turn_index)
        self.db.execute(
            "UPDATE steps SET has_usage = 1, input = ?, cache_read = ?, cache_write = ?, output = ?, reasoning_tokens = ?"
            " WHERE session_id = ? AND turn_idx = ? AND idx = ?", (*u, sid, turn_index, step_index))

    def compaction(self, sid: str, c: CompactRec) -> None:
        if not self._ok(sid):
            return
        self.db.execute("INSERT OR REPLACE INTO compactions VALUES (?,?,?,?,?)",
                        (sid, c.turn_index, c.at, c.trigger, c.pre_tokens))

    # -- search docs ----------------------------------------------------------------------------

    def _doc(self, sid: str, turn_idx: int, step_idx: int, call_id: str | None, kind: str, text: str) -> None:
        cur = self.db.execute("INSERT INTO docs (session_id, turn_idx, step_idx, call_id, kind, text) VALUES (?,?,?,?,?,?)",
                              (sid, turn_idx, step_idx, call_id, kind, text))
        self.db.execute("INSERT INTO docs_fts (rowid, text) VALUES (?, ?)", (cur.lastrowid, text))
        found = {(f.type, f.fingerprint) for f in find_secrets(text)}
        if found:
            self.db.executemany("INSERT INTO secrets VALUES (?,?,?,?,?,?,?)",
                                [(sid, turn_idx, step_idx, call_id, kind, t, fp) for t, fp in sorted(found)])

    def _drop_docs(self, sid: str, turn_idx: int, step_idx: int) -> None:
        self.db.execute(
            "INSERT INTO docs_fts (docs_fts, rowid, text) SELECT 'delete', id, text FROM docs"
            " WHERE session_id = ? AND turn_idx = ? AND step_idx = ?", (sid, turn_idx, step_idx))
        self.db.execute("DELETE FROM docs WHERE session_id = ? AND turn_idx = ? AND step_idx = ?",
                        (sid, turn_idx, step_idx))
        self.db.execute("DELETE FROM secrets WHERE session_id = ? AND turn_idx = ? AND step_idx = ?",
                        (sid, turn_idx, step_idx))

    # -- aggregates -----------------------------------------------------------------------------

    def finalize(self) -> None:
        """Recompute turn and session stats for what this ingest touched."""
        for sid, low in self.touched.items():
            recompute_stats(self.db, sid, low)


def recompute_stats(db: sqlite3.Connection, sid: str, low: int = 0) -> None:
    low = min(low, 1 << 30)
    db.execute(
        """UPDATE turns SET steps = a.n, input = a.i, cache_read = a.cr, cache_write = a.cw, output = a.o,
               reasoning = a.r, peak_context = a.peak
           FROM (SELECT turn_idx, count(*) AS n, sum(input) AS i, sum(cache_read) AS cr, sum(cache_write) AS cw,
                        sum(output) AS o, sum(reasoning_tokens) AS r, max(input + cache_read + cache_write) AS peak
                 FROM steps WHERE session_id = ? AND turn_idx >= ? GROUP BY turn_idx) AS a
           WHERE turns.session_id = ? AND turns.idx = a.turn_idx""", (sid, low, sid))
    db.execute(
        """UPDATE turns SET tool_calls = a.n, failed_tools = a.f
           FROM (SELECT turn_idx, count(*) AS n, sum(status = 'error') AS f
                 FROM tools WHERE session_id = ? AND turn_idx >= ? GROUP BY turn_idx) AS a
           WHERE turns.session_id = ? AND turns.idx = a.turn_idx""", (sid, low, sid))
    db.execute(
        """UPDATE turns SET final_message = (
               SELECT substr(message, 1, 400) FROM steps
               WHERE steps.session_id = turns.session_id AND steps.turn_idx = turns.idx AND message IS NOT NULL
               ORDER BY idx DESC LIMIT 1)
           WHERE session_id = ? AND idx >= ?""", (sid, low))
    db.execute(
        """UPDATE sessions SET turns = a.t, steps = a.s, tool_calls = a.tc, failed_tools = a.f, input = a.i,
               cache_read = a.cr, cache_write = a.cw, output = a.o, reasoning = a.r, peak_context = a.peak
           FROM (SELECT count(*) AS t, coalesce(sum(steps), 0) AS s, coalesce(sum(tool_calls), 0) AS tc,
                        coalesce(sum(failed_tools), 0) AS f, coalesce(sum(input), 0) AS i,
                        coalesce(sum(cache_read), 0) AS cr, coalesce(sum(cache_write), 0) AS cw,
                        coalesce(sum(output), 0) AS o, coalesce(sum(reasoning), 0) AS r,
                        coalesce(max(peak_context), 0) AS peak
                 FROM turns WHERE session_id = ?) AS a
           WHERE sessions.id = ?""", (sid, sid))


def purge_sessions(db: sqlite3.Connection, sids: list[str]) -> None:
    """Remove every row of these sessions (before re-reading their file from the start)."""
    for sid in sids:
        db.execute("INSERT INTO docs_fts (docs_fts, rowid, text) SELECT 'delete', id, text FROM docs WHERE session_id = ?",
                   (sid,))
        for table, col in (("docs", "session_id"), ("secrets", "session_id"), ("tools", "session_id"), ("steps", "session_id"),
                           ("turns", "session_id"), ("compactions", "session_id"), ("sessions", "id")):
            db.execute(f"DELETE FROM {table} WHERE {col} = ?", (sid,))
