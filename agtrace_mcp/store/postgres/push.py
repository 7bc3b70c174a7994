"""`agtrace-mcp push --to postgresql://…`: this machine's indexed sessions into a team database.

What is sent: what changed since the last push. Every write to the local index stamps the sessions and turns
it changed with a new revision (`store/migrations.py` m009); the team database keeps, per session, the
revision it last received (the watermark). A push sends the sessions whose revision differs, and of each
only the turns changed after its watermark: appending to a 200 MB session sends its last turn, not the
session.

Idempotent and resumable: each transaction replaces whole turns (their old rows are deleted, the new ones
inserted) and moves the session's watermark in the same commit, under a lock on the session's row. A push
killed at any moment leaves every session either as it was or as it is now; the next push sends the rest.
Two pushes of one machine at once wait for each other (an advisory lock per machine).

Nothing secret leaves the machine: every text value of every row is masked (`redact.mask`, the masking of
the local answers) before it is sent, search tokens are made from the masked text, and ids are masked too
(the same id always masks the same way, so rows still join).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ... import redact
from ...config import Config
from ...errors import StoreError
from ..migrations import DOC_KINDS
from ..queries import Scope
from .connect import connect, explain, shown
from .fts import tsvector
from .migrations import migrate, pending

log = logging.getLogger("agtrace_mcp.push")

FLUSH_ROWS = 20_000  # rows buffered before they are written (COPY into a temp table, then one INSERT)
TX_SESSIONS = 200  # sessions per transaction at most (small ones: commits cost more than rows)
TX_ROWS = 100_000  # a transaction ends after the session that takes it past this many rows
TURN_CHUNK = 400  # turns of one session read at once (a 200 MB session is read in pieces)
PUSH_LOCK = 0x70757368  # advisory lock class of pushes ("push"), keyed by machine

Progress = Callable[[int, int, str], None]

# The columns pushed, per table (the team database adds skey and mid); doc kinds as in the local index.
TURN_COLS = ("idx", "started_at", "ended_at", "text", "text_len", "origin", "slash", "interrupted", "off", "steps",
             "tool_calls", "failed_tools", "input", "cache_read", "cache_write", "output", "reasoning",
             "peak_context", "final_message", "status", "final_answer", "final_answer_len", "missing_tools")
STEP_COLS = ("turn_idx", "idx", "started_at", "ended_at", "model", "reasoning", "reasoning_len", "message",
             "message_len", "status", "error", "has_usage", "input", "cache_read", "cache_write", "output",
             "reasoning_tokens")
TOOL_COLS = ("turn_idx", "step_idx", "seq", "call_id", "name", "kind", "args", "args_len", "started_at", "ended_at",
             "duration_ms", "status", "error_kind", "exit_code", "error_message", "output", "output_len", "out_off",
             "child_id")
COMPACTION_COLS = ("turn_idx", "at", "trigger", "pre_tokens")
INTERJECTION_COLS = ("turn_idx", "seq", "at", "after_step", "text", "text_len")
DOC_COLS = ("turn_idx", "step_idx", "seq", "kind", "at", "tsv")
SECRET_COLS = ("turn_idx", "step_idx", "call_id", "kind", "type", "fingerprint")
SESSION_COLS = ("id", "provider", "project_root", "git_branch", "title", "started_at", "ended_at", "models",
                "cli_version", "parent_id", "agent_name", "source_files", "context_window", "turns", "steps",
                "tool_calls", "failed_tools", "input", "cache_read", "cache_write", "output", "reasoning",
                "peak_context", "on_disk", "missing_tools", "rev")
FILE_COLS = ("path", "provider", "kind", "parent", "size", "lines", "records", "bad_lines", "torn_tail", "report",
             "on_disk", "indexed_at")
TABLES = {"turns": TURN_COLS, "steps": STEP_COLS, "tools": TOOL_COLS, "compactions": COMPACTION_COLS,
          "interjections": INTERJECTION_COLS, "docs": DOC_COLS, "secrets": SECRET_COLS}
JSON_COLS = {"args", "models", "source_files", "report"}
PROMPT, MESSAGE, REASONING, TOOL_CALL, TOOL_OUTPUT = range(len(DOC_KINDS))


@dataclass
class PushReport:
    """What one push sent."""

    database: str
    machine: str
    user: str
    sessions: int = 0  # sessions in the local index
    sessions_sent: int = 0
    turns_sent: int = 0
    rows_sent: int = 0
    files_sent: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


# -- masking: nothing secret is sent ------------------------------------------------------------------


def masked(value: Any) -> Any:
    """A text value as the local answers would show it (masked); anything else as it is."""
    if not isinstance(value, str) or not value:
        return value
    if not value.isascii() or "\x00" in value:
        value = _storable(value)
    return redact.mask(value)


def _storable(text: str) -> str:
    """Text PostgreSQL accepts: no NUL, valid UTF-8 (a lone surrogate becomes U+FFFD)."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode()
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode()
    return text


def masked_json(value: str | None) -> str | None:
    """A JSON text with every string inside it masked (parsed first: escapes do not hide a secret)."""
    if not value:
        return value
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return masked(value)
    clean = redact.mask_value(data)
    return value if clean == data else orjson.dumps(clean).decode()


def masked_row(row: sqlite3.Row | dict[str, Any], cols: Iterable[str]) -> list[Any]:
    return [masked_json(row[c]) if c in JSON_COLS else masked(row[c]) for c in cols]


# -- writing to the team database ---------------------------------------------------------------------


class _Writer:
    """Rows for the team database, buffered and written in bulk: COPY into a temporary table, then one INSERT
    … SELECT (row-level security does not allow COPY into the tables themselves)."""

    def __init__(self, pg: Any, mid: int) -> None:
        self.pg = pg
        self.mid = mid
        self.rows: dict[str, list[list[Any]]] = {t: [] for t in TABLES}
        self.buffered = 0
        self.written = 0

    @staticmethod
    def prepare(pg: Any) -> None:
        """The temporary tables of a connection (emptied at every commit)."""
        with pg.transaction():
            for t, cols in TABLES.items():
                pg.execute(f"CREATE TEMP TABLE IF NOT EXISTS push_{t} ON COMMIT DELETE ROWS AS"
                           f" SELECT skey, mid, {', '.join(cols)} FROM {t} WITH NO DATA")

    def add(self, table: str, skey: int, values: list[Any]) -> None:
        self.rows[table].append([skey, self.mid, *values])
        self.buffered += 1
        if self.buffered >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        for t, cols in TABLES.items():
            rows = self.rows[t]
            if not rows:
                continue
            names = ", ".join(("skey", "mid", *cols))
            with self.pg.cursor() as cur:
                with cur.copy(f"COPY push_{t} ({names}) FROM STDIN") as cp:
                    for r in rows:
                        cp.write_row(r)
                cur.execute(f"INSERT INTO {t} ({names}) SELECT {names} FROM push_{t}")
                cur.execute(f"TRUNCATE push_{t}")
            self.written += len(rows)
            rows.clear()
        self.buffered = 0


class Pusher:
    """Pushes one machine's local index to one team database (again and again with `watch`)."""

    def __init__(self, config: Config, url: str, *, machine: str, user: str,
                 progress: Progress | None = None) -> None:
        if not machine or "@" in machine:
            raise StoreError(f"the machine name {machine!r} cannot be used: pass --machine NAME (no '@')")
        self.config = config
        self.url = url
        self.machine = machine
        self.user = user
        self.progress = progress
        self.pg: Any = None
        self.local: sqlite3.Connection | None = None
        self.mid = 0

    # -- connections ----------------------------------------------------------------------------------

    def _connect(self) -> None:
        if self.pg is not None:
            return
        pg = connect(self.url, read_only=False, autocommit=True, application="agtrace-mcp push")
        try:
            if pending(pg):
                migrate(pg)
            # one push of a machine at a time (`push --watch` beside a manual push): the second one waits
            pg.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", [PUSH_LOCK, self.machine])
            _Writer.prepare(pg)
        except BaseException:
            pg.close()
            raise
        self.pg = pg
        path = self.config.db_path
        self.local = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=30)
        self.local.row_factory = sqlite3.Row

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()
            self.pg = None
        if self.local is not None:
            self.local.close()
            self.local = None

    def _register(self, index_id: str) -> None:
        """This machine's row (created on its first push), owned by the role that pushes; a local index the
        database has not seen (rebuilt, or another data dir) is pushed whole."""
        pg = self.pg
        with pg.transaction():
            pg.execute("INSERT INTO machines (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", [self.machine])
            # the owner of the tables (and a superuser) pushes for any machine: policies do not bind them
            row = pg.execute("SELECT m.id, m.owner, m.index_id, current_user AS me,"
                             " (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user) AS free,"
                             " pg_has_role(current_user, (SELECT relowner FROM pg_class"
                             " WHERE oid = 'sessions'::regclass), 'MEMBER') AS owns"
                             " FROM machines m WHERE m.name = %s", [self.machine]).fetchone()
            if row["owner"] != row["me"] and not (row["free"] or row["owns"]):
                raise StoreError(f"machine {self.machine!r} is pushed by role {row['owner']!r}, not {row['me']!r}; "
                                 "push it with that role, or name this machine otherwise (--machine NAME)")
            self.mid = row["id"]
            if row["index_id"] != index_id:
                pg.execute("UPDATE sessions SET rev = -1 WHERE mid = %s", [self.mid])
                pg.execute("UPDATE machines SET index_id = %s WHERE id = %s", [index_id, self.mid])

    # -- one push -------------------------------------------------------------------------------------

    def push(self) -> PushReport:
        """Send what changed since the last push (the local index must be up to date: `run_push` does it)."""
        import psycopg

        t0 = time.perf_counter()
        rep = PushReport(shown(self.url), self.machine, self.user)
        try:
            self._connect()
            assert self.local is not None
            meta = dict(self.local.execute("SELECT key, value FROM meta WHERE key = 'index_id'").fetchall())
            self._register(meta.get("index_id") or "")
            pushed = {r["id"]: r["rev"] for r in self.pg.execute(
                "SELECT id, rev FROM sessions WHERE mid = %s", [self.mid])}
            # --project: only the sessions under those roots leave this machine
            where, params = Scope(list(self.config.projects)).sql()
            local = self.local.execute(f"SELECT s.id, s.rev FROM sessions s WHERE 1=1{where} ORDER BY s.rowid",
                                       params).fetchall()
            rep.sessions = len(local)
            todo = [r["id"] for r in local if pushed.get(masked(r["id"])) != r["rev"]]
            self._send(todo, rep)
            rep.files_sent = self._send_files()
        except psycopg.Error as e:
            self.close()  # a broken connection is not reused by `watch`
            raise StoreError(explain(e, self.url, "push to")) from None
        rep.seconds = time.perf_counter() - t0
        return rep

    def _send(self, todo: list[str], rep: PushReport) -> None:
        pg, local = self.pg, self.local
        assert local is not None
        i = 0
        while i < len(todo):
            local.execute("BEGIN")  # one snapshot of the local index per transaction
            try:
                with pg.transaction():
                    w = _Writer(pg, self.mid)
                    n = 0
                    while i < len(todo) and n < TX_SESSIONS and w.written + w.buffered < TX_ROWS:
                        rep.turns_sent += self._send_session(todo[i], w)
                        i += 1
                        n += 1
                    w.flush()
                    pg.execute("UPDATE machines SET last_push = now() WHERE id = %s", [self.mid])
                rep.sessions_sent += n
                rep.rows_sent += w.written + n
            finally:
                local.execute("COMMIT")
            if self.progress:
                self.progress(i, len(todo), "")

    def _send_session(self, sid: str, w: _Writer) -> int:
        """One session's row and its turns changed since the team database's watermark; returns the turns."""
        pg, local = self.pg, self.local
        assert local is not None
        row = local.execute("SELECT * FROM sessions WHERE id = ?", (sid,)).fetchone()
        if row is None:
            return 0  # gone from the index since the list was read
        pid = masked(sid)
        have = pg.execute("SELECT skey, rev FROM sessions WHERE mid = %s AND id = %s FOR UPDATE",
                          [self.mid, pid]).fetchone()
        since = have["rev"] if have else -1
        revs = local.execute("SELECT idx, rev FROM turns WHERE session_id = ?", (sid,)).fetchall()
        changed = sorted(r["idx"] for r in revs if r["rev"] > since)
        end = max((r["idx"] for r in revs), default=-1) + 1
        values = masked_row(row, SESSION_COLS)
        cols = ", ".join(("mid", "machine", "user_name", *SESSION_COLS))
        skey = pg.execute(
            f"INSERT INTO sessions ({cols}) VALUES ({', '.join(['%s'] * (len(SESSION_COLS) + 3))})"
            " ON CONFLICT (mid, id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in ("machine", "user_name", *SESSION_COLS[1:]))
            + ", pushed_at = now() RETURNING skey", [self.mid, self.machine, self.user, *values]).fetchone()["skey"]
        if have is not None:  # replace the changed turns whole, and drop turns the session no longer has
            for t in TABLES:
                col = "idx" if t == "turns" else "turn_idx"
                pg.execute(f"DELETE FROM {t} WHERE skey = %s AND ({col} = ANY(%s::integer[]) OR {col} >= %s)",
                           [skey, changed, end])
        for k in range(0, len(changed), TURN_CHUNK):
            self._send_turns(sid, skey, set(changed[k:k + TURN_CHUNK]), w)
        return len(changed)

    def _send_turns(self, sid: str, skey: int, turns: set[int], w: _Writer) -> None:
        """The rows of these turns of one session, masked, and their search documents."""
        local = self.local
        assert local is not None
        lo, hi = min(turns), max(turns)
        args = (sid, lo, hi)
        trows = {r["idx"]: r for r in local.execute(
            "SELECT * FROM turns WHERE session_id = ? AND idx BETWEEN ? AND ?", args) if r["idx"] in turns}
        texts: dict[tuple[int, int, int, int], str | None] = {}
        at: dict[tuple[int, int], str | None] = {}
        for i, r in trows.items():
            v = masked_row(r, TURN_COLS)
            w.add("turns", skey, v)
            texts[(i, -1, -1, PROMPT)] = v[TURN_COLS.index("text")]
            at[(i, -1)] = r["started_at"]
        for r in local.execute("SELECT * FROM steps WHERE session_id = ? AND turn_idx BETWEEN ? AND ?", args):
            if r["turn_idx"] not in turns:
                continue
            v = masked_row(r, STEP_COLS)
            w.add("steps", skey, v)
            texts[(r["turn_idx"], r["idx"], -1, MESSAGE)] = v[STEP_COLS.index("message")]
            texts[(r["turn_idx"], r["idx"], -1, REASONING)] = v[STEP_COLS.index("reasoning")]
            at[(r["turn_idx"], r["idx"])] = r["started_at"] or at.get((r["turn_idx"], -1))
        for r in local.execute("SELECT * FROM tools WHERE session_id = ? AND turn_idx BETWEEN ? AND ?", args):
            if r["turn_idx"] not in turns:
                continue
            v = masked_row(r, TOOL_COLS)
            w.add("tools", skey, v)
            key = (r["turn_idx"], r["step_idx"], r["seq"])
            texts[key + (TOOL_CALL,)] = f"{v[TOOL_COLS.index('name')]}\n{v[TOOL_COLS.index('args')] or ''}"
            texts[key + (TOOL_OUTPUT,)] = v[TOOL_COLS.index("output")]
        for r in local.execute("SELECT * FROM compactions WHERE session_id = ? AND turn_idx BETWEEN ? AND ?", args):
            if r["turn_idx"] in turns:
                w.add("compactions", skey, masked_row(r, COMPACTION_COLS))
        for r in local.execute("SELECT * FROM interjections WHERE session_id = ? AND turn_idx BETWEEN ? AND ?", args):
            if r["turn_idx"] in turns:  # messages typed mid-turn: searched as prompts (their doc's seq ≥ 0)
                v = masked_row(r, INTERJECTION_COLS)
                w.add("interjections", skey, v)
                texts[(r["turn_idx"], -1, r["seq"], PROMPT)] = v[INTERJECTION_COLS.index("text")]
                at[(r["turn_idx"], -2 - r["seq"])] = r["at"] or at.get((r["turn_idx"], -1))
        for r in local.execute("SELECT turn_idx, step_idx, call_id, kind, type, fingerprint FROM secrets"
                               " WHERE session_id = ? AND turn_idx BETWEEN ? AND ?", args):
            if r["turn_idx"] in turns:
                w.add("secrets", skey, masked_row(r, SECRET_COLS))
        # the search documents the local index has for these turns, their text as pushed (masked)
        lkey = local.execute("SELECT rowid FROM sessions WHERE id = ?", (sid,)).fetchone()[0]
        for d in local.execute("SELECT turn_idx, step_idx, seq, kind FROM docs WHERE skey = ?"
                               " AND turn_idx BETWEEN ? AND ? ORDER BY id", (lkey, lo, hi)):
            ti, si, seq, kind = d["turn_idx"], d["step_idx"], d["seq"], d["kind"]
            if ti not in turns:
                continue
            text = texts.get((ti, -1, seq if seq >= 0 else -1, kind) if kind == PROMPT else
                             (ti, si, -1, kind) if kind in (MESSAGE, REASONING) else (ti, si, seq, kind))
            if not text:
                continue
            when = at.get((ti, -2 - seq)) if kind == PROMPT and seq >= 0 else at.get((ti, si))
            w.add("docs", skey, [ti, si, seq, kind, when or at.get((ti, -1)) or "", tsvector(text, kind)])

    def _send_files(self) -> int:
        """What this machine read of its logs (for `doctor`), where it changed."""
        pg, local = self.pg, self.local
        assert local is not None
        have = {r["path"]: (r["indexed_at"], r["on_disk"]) for r in pg.execute(
            "SELECT path, indexed_at, on_disk FROM files WHERE mid = %s", [self.mid])}
        rows = []
        for r in local.execute(f"SELECT {', '.join(FILE_COLS)} FROM files"):
            v = masked_row(r, FILE_COLS)
            if have.get(v[0]) != (r["indexed_at"], r["on_disk"]):
                rows.append([self.mid, *v])
        if rows:
            cols = ", ".join(("mid", *FILE_COLS))
            with pg.transaction(), pg.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO files ({cols}) VALUES ({', '.join(['%s'] * (len(FILE_COLS) + 1))})"
                    " ON CONFLICT (mid, path) DO UPDATE SET "
                    + ", ".join(f"{c} = excluded.{c}" for c in FILE_COLS[1:]), rows)
        return len(rows)


def run_push(config: Config, url: str, *, machine: str | None = None, user: str | None = None,
             progress: Progress | None = None, index_progress: Progress | None = None,
             pusher: Pusher | None = None) -> PushReport:
    """Bring this machine's index up to date with its logs, then push what changed (`pusher`: reuse the
    connections of an earlier push, for `watch`)."""
    from .. import Store

    store = Store(config)
    try:
        if store.read_only:
            raise StoreError(f"this machine's index cannot be updated ({store.read_only}); set AGTRACE_MCP_DATA_DIR "
                             "(or --data-dir) to a writable folder, then push again")
        store.sync(force=True, progress=index_progress)
    finally:
        store.close()
    own = pusher is None
    p = pusher or Pusher(config, url, machine=machine or config.machine, user=user or config.user,
                         progress=progress)
    try:
        return p.push()
    finally:
        if own:
            p.close()


def watch_push(config: Config, url: str, *, machine: str | None = None, user: str | None = None,
               interval: float = 5.0, rounds: int | None = None,
               report: Callable[[PushReport], None] | None = None) -> None:
    """Push again every `interval` seconds as the logs grow (until interrupted, or `rounds` pushes). A round
    that fails (the server restarting, say) is reported and the next one tries again."""
    p = Pusher(config, url, machine=machine or config.machine, user=user or config.user)
    done = 0
    try:
        while rounds is None or done < rounds:
            started = time.monotonic()
            try:
                rep = run_push(config, url, pusher=p)
            except StoreError as e:
                rep = PushReport(shown(url), p.machine, p.user, errors=[str(e)])
            if report:
                report(rep)
            done += 1
            if rounds is not None and done >= rounds:
                break
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        p.close()
