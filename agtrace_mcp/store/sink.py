"""The builder's sink for the index: turns, steps and tools become rows; their text becomes search docs.

Rows hold previews, not whole bodies (prepared by `rows.py`, here or in a parse worker): long tool outputs
keep a head and a tail plus the byte offset of the record in the log, so the full text is read from the log on
demand (`get_text`). A search doc is only coordinates: the FTS index reads its text from the row it belongs
to (view `doc_text`), so nothing is stored twice. For the same reason a doc's text must be exactly the stored
column (`_doc_texts` below), and docs are dropped from the FTS index *before* the rows they read from are
replaced.

A cold read of a file ("fresh": nothing of it is in the index) takes the fast path: no existence checks,
search docs written in batches, turn stats accumulated here instead of recomputed by SQL.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from ..engine.records import CompactRec, InterjectionRec, SessionMetaRec, StepRec, ToolRec, TurnRec
from ..engine.timeutil import ms_between
from .migrations import DOC_KINDS, next_rev
from .rows import (
    MESSAGE,
    PROMPT,
    REASONING,
    TOOL_CALL,
    TOOL_OUTPUT,
    InterjectionRow,
    MetaRow,
    ResultPatch,
    Secret,
    StepRow,
    TurnRow,
    interjection_row,
    meta_row,
    result_patch,
    step_row,
    turn_row,
)

BATCH = 4000  # search docs buffered before a write


@dataclass(slots=True)
class _TurnAcc:
    """Turn stats accumulated while a fresh file streams through (instead of SQL aggregates later)."""

    steps: int = 0
    tools: int = 0
    failed: int = 0
    missing: int = 0
    usage: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    peak: int = 0


class StoreSink:
    """Writes one file's records inside the caller's transaction."""

    def __init__(self, db: sqlite3.Connection, file_id: int, fresh: bool, replace: bool = False) -> None:
        self.db = db
        self.file_id = file_id
        self.fresh = fresh  # nothing of this file is in the index yet: skip existence checks
        # a partial re-read (providers with `partial`): a session this file already produced is emitted again
        # whole, so its old rows go on first sight and the rest of the file's sessions stay
        self.replace = replace
        self.accepted: dict[str, bool] = {}  # session -> written by this file (False: another file owns it)
        self.new_sessions: set[str] = set()
        self.touched: dict[str, int] = {}  # session -> lowest turn index touched (SQL recompute from there)
        self.acc: dict[tuple[str, int], _TurnAcc] = {}  # fresh sessions: turn stats kept here
        self.step_usage: dict[tuple[str, int, int], tuple[int, ...]] = {}  # what each written step counted
        self.turns_written: set[tuple[str, int]] = set()
        self._docs: list[tuple[int, int, int, int, int, int]] = []
        self.skeys: dict[str, int] = {}  # session id -> its row number (docs refer to sessions by it)
        self._fts: list[tuple[int, str]] = []
        self._next_doc = (db.execute("SELECT coalesce(max(id), 0) FROM docs").fetchone()[0] or 0) + 1

    # -- ownership ------------------------------------------------------------------------------

    def _ok(self, sid: str) -> bool:
        ok = self.accepted.get(sid)
        if ok is not None:
            return ok
        row = self.db.execute("SELECT file_id, rowid FROM sessions WHERE id = ?", (sid,)).fetchone()
        if row is None:
            ok = True
            self.new_sessions.add(sid)
            self._claim(sid)
        elif row[0] == self.file_id and self.replace:
            self.flush()
            purge_sessions(self.db, [sid])
            self.new_sessions.add(sid)
            self._claim(sid)
            ok = True
        elif row[0] == self.file_id:
            ok = True
            self.skeys[sid] = row[1]
        else:
            other = self.db.execute("SELECT on_disk FROM files WHERE id = ?", (row[0],)).fetchone()
            if other is not None and other[0]:
                ok = False  # the same session id is already indexed from another file still on disk
            else:
                self.flush()
                purge_sessions(self.db, [sid])  # its file is gone: this copy takes over
                self.new_sessions.add(sid)
                self._claim(sid)
                ok = True
        self.accepted[sid] = ok
        return ok

    def _claim(self, sid: str) -> None:
        """The session's row, written now (filled in by `meta`) so that docs can refer to its row number."""
        rowid = self.db.execute("INSERT INTO sessions (id, provider, file_id) VALUES (?, '', ?)",
                                (sid, self.file_id)).lastrowid
        assert rowid is not None  # an INSERT into a rowid table always has one
        self.skeys[sid] = rowid

    def _is_new(self, sid: str) -> bool:
        return self.fresh or sid in self.new_sessions

    def _touch(self, sid: str, turn_idx: int) -> None:
        cur = self.touched.get(sid)
        if cur is None or turn_idx < cur:
            self.touched[sid] = turn_idx

    # -- sink protocol (the builder's records, prepared here and written at once) --------------

    def meta(self, sid: str, m: SessionMetaRec) -> None:
        self.write_meta(sid, meta_row(m))

    def turn(self, sid: str, t: TurnRec) -> None:
        self.write_turn(sid, turn_row(t))

    def step(self, sid: str, s: StepRec) -> None:
        self.write_step(sid, step_row(s))

    def patch_tool(self, sid: str, turn_index: int, step_index: int, t: ToolRec) -> None:
        self.write_patch_tool(sid, turn_index, step_index, result_patch(t))

    def patch_usage(self, sid: str, turn_index: int, step_index: int, u: tuple[int, ...]) -> None:
        self.write_patch_usage(sid, turn_index, step_index, u)

    def compaction(self, sid: str, c: CompactRec) -> None:
        self.write_compaction(sid, c)

    def interjection(self, sid: str, i: InterjectionRec) -> None:
        self.write_interjection(sid, interjection_row(i))

    # -- writes of prepared rows (`rows.py`; also replayed from a parse worker) -------------------

    def write_meta(self, sid: str, m: MetaRow) -> None:
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
                   cli_version=excluded.cli_version, parent_id=coalesce(excluded.parent_id, sessions.parent_id),
                   agent_name=excluded.agent_name, source_files=excluded.source_files,
                   context_window=excluded.context_window, on_disk=1""",
            (sid, m.provider, self.file_id, m.project_root, m.git_branch, m.title, m.started_at,
             m.ended_at, m.models, m.cli_version, m.parent_session_id, m.agent_name, m.source_files,
             m.context_window))

    def write_turn(self, sid: str, t: TurnRow) -> None:
        if not self._ok(sid):
            return
        self._touch(sid, t.index)
        key = (sid, t.index)
        if self._is_new(sid):
            new = key not in self.turns_written
        else:
            new = self.db.execute("SELECT 1 FROM turns WHERE session_id = ? AND idx = ?", key).fetchone() is None
        self.turns_written.add(key)
        if new:
            self.db.execute(
                "INSERT INTO turns (session_id, idx, started_at, ended_at, text, text_len, origin, slash, interrupted,"
                " off, status, final_answer, final_answer_len) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (sid, t.index, t.started_at, t.ended_at, t.text, t.text_len, t.origin, t.slash, int(t.interrupted),
                 t.off, t.status, t.final_answer, t.final_answer_len))
            if t.text:
                self._doc(sid, t.index, -1, -1, PROMPT, t.text)
            self._secrets(sid, t.index, -1, None, t.secrets)
        else:
            self.db.execute("UPDATE turns SET ended_at = ?, interrupted = ?, status = ?, final_answer = ?,"
                            " final_answer_len = ? WHERE session_id = ? AND idx = ?",
                            (t.ended_at, int(t.interrupted), t.status, t.final_answer, t.final_answer_len, sid,
                             t.index))

    def write_step(self, sid: str, s: StepRow) -> None:
        if not self._ok(sid):
            return
        self._touch(sid, s.turn_index)
        db = self.db
        fresh = self._is_new(sid) and (sid, s.turn_index, s.index) not in self.step_usage
        if not fresh:  # the step may be in the index already (provisional): replace it
            self.flush()
            self._drop_docs(sid, s.turn_index, s.index)  # before the rows they read from change
            db.execute("DELETE FROM tools WHERE session_id = ? AND turn_idx = ? AND step_idx = ?",
                       (sid, s.turn_index, s.index))
        u = s.usage or (0, 0, 0, 0, 0)
        db.execute(
            "INSERT OR REPLACE INTO steps (session_id, turn_idx, idx, started_at, ended_at, model, reasoning,"
            " reasoning_len, message, message_len, status, error, has_usage, input, cache_read, cache_write, output,"
            " reasoning_tokens) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (sid, s.turn_index, s.index, s.started_at, s.ended_at, s.model, s.reasoning, s.reasoning_len,
             s.message, s.message_len, s.status, s.error, int(s.usage is not None), u[0], u[1], u[2], u[3], u[4]))
        if s.tools:
            db.executemany(
                "INSERT OR REPLACE INTO tools (session_id, turn_idx, step_idx, seq, call_id, name, kind, args,"
                " args_len, started_at, ended_at, duration_ms, status, error_kind, exit_code, error_message, output,"
                " output_len, out_off, child_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(sid, s.turn_index, s.index, t.seq, t.call_id, t.name, t.kind, t.args, t.args_len, t.started_at,
                  t.ended_at, t.duration_ms, t.status, t.error_kind, t.exit_code, t.error_message, t.output,
                  t.output_len, t.out_off, t.child) for t in s.tools])
        if s.message:
            self._doc(sid, s.turn_index, s.index, -1, MESSAGE, s.message)
        if s.reasoning:
            self._doc(sid, s.turn_index, s.index, -1, REASONING, s.reasoning)
        for t in s.tools:
            self._doc(sid, s.turn_index, s.index, t.seq, TOOL_CALL, f"{t.name}\n{t.args or ''}")
            if t.output:
                self._doc(sid, s.turn_index, s.index, t.seq, TOOL_OUTPUT, t.output)
            self._secrets(sid, s.turn_index, s.index, t.call_id, t.secrets)
        self._secrets(sid, s.turn_index, s.index, None, s.secrets)
        acc = self.acc.setdefault((sid, s.turn_index), _TurnAcc()) if self._is_new(sid) else None
        if acc is not None:
            key = (sid, s.turn_index, s.index)
            prev = self.step_usage.get(key)
            if prev is None:
                acc.steps += 1
            else:  # the same step again (provisional, then final): replace what it counted
                for i in range(5):
                    acc.usage[i] -= prev[i]
                acc.tools -= prev[5]
                acc.failed -= prev[6]
                acc.missing -= prev[7]
            failed, missing = s.failed_tools, s.missing_tools
            for i in range(5):
                acc.usage[i] += u[i]
            acc.tools += len(s.tools)
            acc.failed += failed
            acc.missing += missing
            acc.peak = max(acc.peak, u[0] + u[1] + u[2])
            self.step_usage[key] = (*u, len(s.tools), failed, missing)

    def write_patch_tool(self, sid: str, turn_index: int, step_index: int, t: ResultPatch) -> None:
        if not self._ok(sid):
            return
        self._touch(sid, turn_index)
        if t.has_result:
            row = self.db.execute(
                "SELECT started_at, status, seq FROM tools WHERE session_id = ? AND call_id = ? AND turn_idx = ?"
                " AND step_idx = ?", (sid, t.call_id, turn_index, step_index)).fetchone()
            started = row[0] if row else t.started_at
            self.db.execute(
                "UPDATE tools SET ended_at = ?, duration_ms = ?, status = ?, error_kind = ?, exit_code = ?,"
                " error_message = ?, output = ?, output_len = ?, out_off = ?, child_id = coalesce(?, child_id)"
                " WHERE session_id = ? AND call_id = ? AND turn_idx = ? AND step_idx = ?",
                (t.ended_at, ms_between(started, t.ended_at), t.status, t.error_kind, t.exit_code, t.error_message,
                 t.output, t.output_len, t.out_off, t.child, sid, t.call_id, turn_index, step_index))
            if t.output and row is not None:
                self._doc(sid, turn_index, step_index, row[2], TOOL_OUTPUT, t.output)
            if row is not None:  # the findings of this output replace those of an earlier one
                self.db.execute("DELETE FROM secrets WHERE session_id = ? AND turn_idx = ? AND step_idx = ?"
                                " AND call_id = ? AND kind = 'tool_output'", (sid, turn_index, step_index, t.call_id))
                self._secrets(sid, turn_index, step_index, t.call_id, t.secrets)
            acc = self.acc.get((sid, turn_index))
            if acc is not None and row is not None:
                if (row[1] == "error") != (t.status == "error"):
                    acc.failed += 1 if t.status == "error" else -1
                if (row[1] == "missing") != (t.status == "missing"):
                    acc.missing += 1 if t.status == "missing" else -1
        elif t.child:
            self.db.execute(
                "UPDATE tools SET child_id = ? WHERE session_id = ? AND call_id = ? AND turn_idx = ? AND step_idx = ?",
                (t.child, sid, t.call_id, turn_index, step_index))

    def write_patch_usage(self, sid: str, turn_index: int, step_index: int, u: tuple[int, ...]) -> None:
        if not self._ok(sid):
            return
        self._touch(sid, turn_index)
        self.db.execute(
            "UPDATE steps SET has_usage = 1, input = ?, cache_read = ?, cache_write = ?, output = ?,"
            " reasoning_tokens = ? WHERE session_id = ? AND turn_idx = ? AND idx = ?",
            (*u, sid, turn_index, step_index))
        acc = self.acc.get((sid, turn_index))
        prev = self.step_usage.get((sid, turn_index, step_index))
        if acc is not None and prev is not None:
            for i in range(5):
                acc.usage[i] += u[i] - prev[i]
            acc.peak = max(acc.peak, u[0] + u[1] + u[2])
            self.step_usage[(sid, turn_index, step_index)] = (*u, *prev[5:])

    def write_compaction(self, sid: str, c: CompactRec) -> None:
        if not self._ok(sid):
            return
        self._touch(sid, c.turn_index)
        self.db.execute("INSERT OR REPLACE INTO compactions VALUES (?,?,?,?,?)",
                        (sid, c.turn_index, c.at or "", c.trigger, c.pre_tokens))  # time unknown: ""

    def write_interjection(self, sid: str, i: InterjectionRow) -> None:
        """A message typed mid-turn: a row of its own and a prompt doc (`seq` ≥ 0 names it; step -1, so that a
        re-emitted step never drops it)."""
        if not self._ok(sid):
            return
        key = (sid, i.turn_index, i.seq)
        if not self._is_new(sid):
            if self.db.execute("SELECT 1 FROM interjections WHERE session_id = ? AND turn_idx = ? AND seq = ?",
                               key).fetchone() is not None:
                return  # emitted once by the builder; a second copy would only come from a replayed read
        self.db.execute("INSERT OR IGNORE INTO interjections (session_id, turn_idx, seq, at, after_step, text,"
                        " text_len) VALUES (?,?,?,?,?,?,?)", (*key, i.at, i.after_step, i.text, i.text_len))
        if i.text:
            self._doc(sid, i.turn_index, -1, i.seq, PROMPT, i.text)
        self._secrets(sid, i.turn_index, -1, None, i.secrets)

    # -- secret findings ------------------------------------------------------------------------

    def _secrets(self, sid: str, turn_idx: int, step_idx: int, call_id: str | None,
                 found: tuple[Secret, ...]) -> None:
        """Where the masking (`rows.py`) found credentials: type, fingerprint and position, never a value."""
        if found:
            self.db.executemany(
                "INSERT INTO secrets (session_id, turn_idx, step_idx, call_id, kind, type, fingerprint, pos)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [(sid, turn_idx, step_idx, call_id, DOC_KINDS[k], typ, fp, pos) for k, typ, fp, pos in found])

    # -- search docs ----------------------------------------------------------------------------

    def _doc(self, sid: str, turn_idx: int, step_idx: int, seq: int, kind: int, text: str) -> None:
        """Index `text`, which must be exactly what view `doc_text` reads for this doc."""
        doc_id = self._next_doc
        self._next_doc += 1
        self._docs.append((doc_id, self.skeys[sid], turn_idx, step_idx, seq, kind))
        self._fts.append((doc_id, text))
        if len(self._docs) >= BATCH or not self.fresh:
            self.flush()

    def flush(self) -> None:
        if self._docs:
            self.db.executemany("INSERT INTO docs (id, skey, turn_idx, step_idx, seq, kind) VALUES (?,?,?,?,?,?)",
                                self._docs)
            self.db.executemany("INSERT INTO docs_fts (rowid, text) VALUES (?, ?)", self._fts)
            self._docs.clear()
            self._fts.clear()

    def _drop_docs(self, sid: str, turn_idx: int, step_idx: int) -> None:
        skey = self.skeys[sid]
        self.db.execute(
            "INSERT INTO docs_fts (docs_fts, rowid, text) SELECT 'delete', id, text FROM doc_text"
            " WHERE id IN (SELECT id FROM docs WHERE skey = ? AND turn_idx = ? AND step_idx = ?)"
            " AND text IS NOT NULL", (skey, turn_idx, step_idx))
        self.db.execute("DELETE FROM docs WHERE skey = ? AND turn_idx = ? AND step_idx = ?", (skey, turn_idx, step_idx))
        self.db.execute("DELETE FROM secrets WHERE session_id = ? AND turn_idx = ? AND step_idx = ?",
                        (sid, turn_idx, step_idx))

    # -- aggregates -----------------------------------------------------------------------------

    def finalize(self) -> None:
        """Write turn and session stats for what this ingest touched."""
        self.flush()
        if self.acc:
            self.db.executemany(
                "UPDATE turns SET steps = ?, tool_calls = ?, failed_tools = ?, missing_tools = ?, input = ?,"
                " cache_read = ?, cache_write = ?, output = ?, reasoning = ?, peak_context = ?"
                " WHERE session_id = ? AND idx = ?",
                [(a.steps, a.tools, a.failed, a.missing, *a.usage, a.peak, sid, ti)
                 for (sid, ti), a in self.acc.items()])
        if not self.touched:
            return
        rev = next_rev(self.db)  # what a push sends next: these sessions, and their turns from `low` on
        for sid, low in self.touched.items():
            if self._is_new(sid):
                low = 0
                recompute_session(self.db, sid)
            else:
                recompute_stats(self.db, sid, low)
            self.db.execute("UPDATE turns SET rev = ? WHERE session_id = ? AND idx >= ?", (rev, sid, low))
            self.db.execute("UPDATE sessions SET rev = ? WHERE id = ?", (rev, sid))


def recompute_stats(db: sqlite3.Connection, sid: str, low: int = 0) -> None:
    """Turn stats from their steps and tools (turns from `low` on), then the session's from its turns."""
    low = min(low, 1 << 30)
    db.execute(
        """UPDATE turns SET steps = a.n, input = a.i, cache_read = a.cr, cache_write = a.cw, output = a.o,
               reasoning = a.r, peak_context = a.peak
           FROM (SELECT turn_idx, count(*) AS n, sum(input) AS i, sum(cache_read) AS cr, sum(cache_write) AS cw,
                        sum(output) AS o, sum(reasoning_tokens) AS r, max(input + cache_read + cache_write) AS peak
                 FROM steps WHERE session_id = ? AND turn_idx >= ? GROUP BY turn_idx) AS a
           WHERE turns.session_id = ? AND turns.idx = a.turn_idx""", (sid, low, sid))
    db.execute(
        """UPDATE turns SET tool_calls = a.n, failed_tools = a.f, missing_tools = a.m
           FROM (SELECT turn_idx, count(*) AS n, sum(status = 'error') AS f, sum(status = 'missing') AS m
                 FROM tools WHERE session_id = ? AND turn_idx >= ? GROUP BY turn_idx) AS a
           WHERE turns.session_id = ? AND turns.idx = a.turn_idx""", (sid, low, sid))
    recompute_session(db, sid)


def recompute_session(db: sqlite3.Connection, sid: str) -> None:
    db.execute(
        """UPDATE sessions SET (turns, steps, tool_calls, failed_tools, missing_tools, input, cache_read, cache_write,
               output, reasoning, peak_context) = (
               SELECT count(*), coalesce(sum(steps), 0), coalesce(sum(tool_calls), 0), coalesce(sum(failed_tools), 0),
                      coalesce(sum(missing_tools), 0), coalesce(sum(input), 0), coalesce(sum(cache_read), 0),
                      coalesce(sum(cache_write), 0),
                      coalesce(sum(output), 0), coalesce(sum(reasoning), 0), coalesce(max(peak_context), 0)
               FROM turns WHERE session_id = ?)
           WHERE id = ?""", (sid, sid))


def purge_sessions(db: sqlite3.Connection, sids: list[str]) -> None:
    """Remove every row of these sessions (before re-reading their file from the start)."""
    for sid in sids:
        row = db.execute("SELECT rowid FROM sessions WHERE id = ?", (sid,)).fetchone()
        if row is not None:
            # the FTS entries first: they are dropped by giving back the text the rows still hold
            db.execute("INSERT INTO docs_fts (docs_fts, rowid, text) SELECT 'delete', id, text FROM doc_text"
                       " WHERE id IN (SELECT id FROM docs WHERE skey = ?) AND text IS NOT NULL", (row[0],))
            db.execute("DELETE FROM docs WHERE skey = ?", (row[0],))
        for table, col in (("secrets", "session_id"), ("interjections", "session_id"),
                           ("tools", "session_id"), ("steps", "session_id"),
                           ("turns", "session_id"), ("compactions", "session_id"), ("sessions", "id")):
            db.execute(f"DELETE FROM {table} WHERE {col} = ?", (sid,))
