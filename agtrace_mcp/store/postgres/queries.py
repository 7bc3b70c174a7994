"""Read queries over a team database: the PostgreSQL backend of the store's query interface.

The same functions as `store/queries.py` (the local index), with the same arguments, returning rows (dicts)
with the same keys, plus `machine` and `user` on every row about a session: the API cannot tell which
backend answered. The differences are the SQL's:

- sessions are keyed by `skey` (machine + id): a session id the API passes is resolved to its key first
  (`PgDb.session`), and may be qualified as `ID@MACHINE` when the same id was pushed from several machines;
- NULLs sort as in SQLite (first when ascending, last when descending), strings compare byte-wise;
- search matches tokens made by the pushing machine (`fts.py`) and lists hits newest first by the time of
  the step (or prompt) that holds the text; the local index lists them by indexing order, which is nearly
  the same order but not always;
- the texts are what was pushed: masked, and capped as the local index keeps them (full tool outputs stay in
  the logs, on their machine).
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import FIND_SESSION, AmbiguousIdError, BadArgumentError, NotFoundError
from ...providers import REGISTRY
from .. import queries as local
from ..migrations import DOC_KINDS
from ..queries import (
    MIN_PREFIX,
    ParsedQuery,
    Scope,
    Where,
    fts_query,
    parse_query,
    project_clause,
    roots_above,
    starters_of,
)
from .fts import tsquery

__all__ = ["MIN_PREFIX", "Scope", "fts_query", "parse_query", "PgDb"]

_HIGH = "\U0010ffff"
MACHINE_SEP = "@"

COLS = ("s.skey, s.id, s.provider, s.project_root, s.git_branch, s.title, s.started_at, s.ended_at, s.models,"
        " s.cli_version, s.parent_id, s.agent_name, s.source_files, s.context_window, s.turns, s.steps, s.tool_calls,"
        " s.failed_tools, s.missing_tools, s.input, s.cache_read, s.cache_write, s.output, s.reasoning,"
        " s.peak_context, s.on_disk, s.mid, s.machine, s.user_name AS \"user\"")
NOT_HERE = "NULL AS file_path, NULL AS file_provider, NULL AS file_kind, NULL AS file_parent"


class PgDb:
    """One read of the team database (a pooled connection inside one transaction), with the sessions it has
    resolved from ids to keys."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._sessions: dict[str, tuple[int, int, str] | None] = {}

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.conn.execute(sql, params)

    def session(self, sid: str) -> tuple[int, int, str] | None:
        """(skey, machine key, id) of a session the API resolved (`resolve_session`); None when unknown."""
        if sid in self._sessions:
            return self._sessions[sid]
        rows = self.execute("SELECT skey, mid, id, machine FROM sessions WHERE id = %s ORDER BY machine",
                            [sid]).fetchall()
        if not rows and MACHINE_SEP in sid:
            base, machine = sid.rsplit(MACHINE_SEP, 1)
            rows = self.execute("SELECT skey, mid, id, machine FROM sessions WHERE id = %s AND machine = %s",
                                [base, machine]).fetchall()
        if len(rows) > 1:
            raise _twins(sid, rows)
        found = (rows[0]["skey"], rows[0]["mid"], rows[0]["id"]) if rows else None
        self._sessions[sid] = found
        return found

    def skey(self, sid: str) -> int:
        s = self.session(sid)
        return s[0] if s else -1


def _pg(sql: str) -> str:
    """SQL built by the shared `Where`/`Scope` helpers (`?` placeholders) in psycopg's `%s` style."""
    return sql.replace("?", "%s")


def _twins(ref: str, rows: list[Any]) -> AmbiguousIdError:
    return AmbiguousIdError(ref, [f"{r['id']}{MACHINE_SEP}{r['machine']}" for r in rows],
                            hint="that id was pushed from several machines; name one as ID@MACHINE")


def _where(scope: Scope, project: str | None = None, *, machine: str | None = None,
           user: str | None = None) -> Where:
    w = Where(scope, project)
    w.add("s.machine = ?", machine)
    w.add("s.user_name = ?", user)
    return w


# -- sessions --------------------------------------------------------------------------------------


def resolve_session(db: PgDb, ref: str, scope: Scope) -> str:
    """A full id, a unique prefix of at least 6 characters, or either as ID@MACHINE → the id (qualified by
    its machine when the same id was pushed from several)."""
    ref = (ref or "").strip()
    if not ref:
        raise BadArgumentError("the session id is empty", FIND_SESSION)
    where, params = scope.sql()
    where = _pg(where)
    rows = db.execute(f"SELECT s.id, s.machine FROM sessions s WHERE s.id = %s{where} ORDER BY s.machine",
                      [ref, *params]).fetchall()
    machine = None
    base = ref
    if not rows and MACHINE_SEP in ref:
        base, machine = ref.rsplit(MACHINE_SEP, 1)
        rows = db.execute(f"SELECT s.id, s.machine FROM sessions s WHERE s.id = %s AND s.machine = %s{where}",
                          [base, machine, *params]).fetchall()
    if not rows:
        if len(base) < MIN_PREFIX:
            raise NotFoundError(f"no session {ref!r} (a prefix needs at least {MIN_PREFIX} characters)",
                                FIND_SESSION)
        on = " AND s.machine = %s" if machine else ""
        rows = db.execute(f"SELECT s.id, s.machine FROM sessions s WHERE s.id >= %s AND s.id < %s{on}{where}"
                          " ORDER BY s.id, s.machine LIMIT 11",
                          [base, base + _HIGH, *([machine] if machine else []), *params]).fetchall()
        if not rows:
            raise NotFoundError(f"no session matches {ref!r}", FIND_SESSION)
        ids = list(dict.fromkeys(r["id"] for r in rows))
        if len(ids) > 1:
            raise AmbiguousIdError(ref, ids)
    if len(rows) > 1:
        raise _twins(ref, rows)
    r = rows[0]
    if machine is None:
        if not scope.roots:
            return r["id"]  # with no scope every copy of the id was found: there is one
        twins = db.execute("SELECT count(*) AS n FROM sessions WHERE id = %s", [r["id"]]).fetchone()["n"]
        if twins == 1:
            return r["id"]
    return f"{r['id']}{MACHINE_SEP}{r['machine']}"


def list_sessions(db: PgDb, scope: Scope, *, project: str | None = None, provider: str | None = None,
                  since: str | None = None, until: str | None = None, query: str | None = None,
                  has_failures: bool | None = None, include_subagents: bool = False, parent: str | None = None,
                  machine: str | None = None, user: str | None = None, limit: int = 20,
                  offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    w = _where(scope, project, machine=machine, user=user)
    w.add("s.provider = ?", provider)
    w.add("s.ended_at >= ?", since)
    w.add("s.started_at <= ?", until)
    if query:
        # ILIKE: SQLite's LIKE ignores case; the title's trigram index serves it
        w.add("(s.title ILIKE ? ESCAPE '\\' OR s.id = ?)", "%" + re.sub(r"([\\%_])", r"\\\1", query) + "%", query)
    w.add("s.failed_tools > 0", when=has_failures is True)
    w.add("s.failed_tools = 0", when=has_failures is False)
    w.add("s.parent_id = ?", parent)
    w.add("s.parent_id IS NULL", when=not parent and not include_subagents)
    where, params = _pg(w.sql), w.params
    total = db.execute(f"SELECT count(*) AS n FROM sessions s WHERE true{where}", params).fetchone()["n"]
    rows = db.execute(f"SELECT {COLS} FROM sessions s WHERE true{where}"
                      " ORDER BY s.ended_at DESC NULLS LAST, s.id, s.machine LIMIT %s OFFSET %s",
                      [*params, limit, offset]).fetchall()
    return rows, total


def session_row(db: PgDb, sid: str) -> dict[str, Any]:
    """The session's row; its log is on the machine it ran on, so it names no file here."""
    row = db.execute(f"SELECT {COLS}, {NOT_HERE} FROM sessions s WHERE s.skey = %s", [db.skey(sid)]).fetchone()
    if row is None:
        raise NotFoundError(f"no session {sid!r}", FIND_SESSION)
    return row


def children(db: PgDb, sid: str, scope: Scope) -> list[dict[str, Any]]:
    """The subagent sessions of `sid` (on its machine) that the scope lets the caller see."""
    s = db.session(sid)
    if s is None:
        return []
    where, params = scope.sql()
    return db.execute(f"SELECT {COLS} FROM sessions s WHERE s.mid = %s AND s.parent_id = %s{_pg(where)}"
                      " ORDER BY s.started_at NULLS FIRST, s.id", [s[1], s[2], *params]).fetchall()


def visible(db: PgDb, scope: Scope, ids: set[str]) -> set[str]:
    """Those of `ids` that are sessions inside the scope (a parent or child id outside it is never named)."""
    ids = {i for i in ids if i}
    if not ids or not scope.roots:
        return ids
    where, params = scope.sql()
    return {r["id"] for r in db.execute(f"SELECT DISTINCT s.id FROM sessions s WHERE s.id = ANY(%s){_pg(where)}",
                                        [list(ids), *params])}


def turns(db: PgDb, sid: str, start: int, stop: int) -> list[dict[str, Any]]:
    return db.execute("SELECT * FROM turns WHERE skey = %s AND idx >= %s AND idx < %s ORDER BY idx",
                      [db.skey(sid), start, stop]).fetchall()


def tool_counts(db: PgDb, sid: str, start: int, stop: int) -> dict[int, list[tuple[str, int, int, int]]]:
    """Per turn: (tool name, ok, failed, missing)."""
    out: dict[int, list[tuple[str, int, int, int]]] = {}
    for r in db.execute(
            "SELECT turn_idx, name, count(*) FILTER (WHERE status = 'ok') AS ok,"
            " count(*) FILTER (WHERE status = 'error') AS f, count(*) FILTER (WHERE status = 'missing') AS m"
            " FROM tools WHERE skey = %s AND turn_idx >= %s AND turn_idx < %s GROUP BY turn_idx, name"
            " ORDER BY turn_idx, count(*) DESC, name", [db.skey(sid), start, stop]):
        out.setdefault(r["turn_idx"], []).append((r["name"], r["ok"], r["f"], r["m"]))
    return out


def interjection_counts(db: PgDb, sid: str, start: int, stop: int) -> dict[int, int]:
    """Per turn: how many messages the user typed while the agent worked."""
    return {r["turn_idx"]: r["n"] for r in db.execute(
        "SELECT turn_idx, count(*) AS n FROM interjections WHERE skey = %s AND turn_idx >= %s AND turn_idx < %s"
        " GROUP BY turn_idx", [db.skey(sid), start, stop])}


def interjections(db: PgDb, sid: str, turn: int) -> list[dict[str, Any]]:
    return db.execute("SELECT * FROM interjections WHERE skey = %s AND turn_idx = %s ORDER BY seq",
                      [db.skey(sid), turn]).fetchall()


def session_interjections(db: PgDb, sid: str) -> list[dict[str, Any]]:
    """Every message typed mid-turn in the session, in order."""
    return db.execute("SELECT * FROM interjections WHERE skey = %s ORDER BY turn_idx, seq", [db.skey(sid)]).fetchall()


def interjection_text(db: PgDb, sid: str, turn: int, seq: int) -> tuple[str, int] | None:
    """(text as kept, whole length) of a message typed mid-turn."""
    r = db.execute("SELECT text, text_len FROM interjections WHERE skey = %s AND turn_idx = %s AND seq = %s",
                   [db.skey(sid), turn, seq]).fetchone()
    return (r["text"], r["text_len"]) if r else None


def step_text(db: PgDb, sid: str, turn: int, step: int | None, field: str) -> tuple[str | None, int] | None:
    """(text as kept, whole length) of a step's `message` or `reasoning`."""
    assert field in ("message", "reasoning")
    r = db.execute(f"SELECT {field} AS t, {field}_len AS n FROM steps WHERE skey = %s AND turn_idx = %s AND idx = %s",
                   [db.skey(sid), turn, step]).fetchone()
    return (r["t"], r["n"]) if r else None


def log_stamp(db: PgDb, sid: str) -> None:
    """None: the session's log is on the machine it ran on (its texts are what was pushed)."""
    return None


def turn_row(db: PgDb, sid: str, idx: int) -> dict[str, Any] | None:
    return db.execute("SELECT * FROM turns WHERE skey = %s AND idx = %s", [db.skey(sid), idx]).fetchone()


def steps(db: PgDb, sid: str, turn: int) -> list[dict[str, Any]]:
    return db.execute("SELECT * FROM steps WHERE skey = %s AND turn_idx = %s ORDER BY idx",
                      [db.skey(sid), turn]).fetchall()


def tools_of_turn(db: PgDb, sid: str, turn: int) -> list[dict[str, Any]]:
    return db.execute("SELECT * FROM tools WHERE skey = %s AND turn_idx = %s ORDER BY step_idx, seq",
                      [db.skey(sid), turn]).fetchall()


def tool_row(db: PgDb, sid: str, call_id: str) -> dict[str, Any] | None:
    return db.execute(
        "SELECT t.*, s.id AS session_id, s.provider AS provider, NULL AS file_path, NULL AS file_kind,"
        " NULL AS file_parent FROM tools t JOIN sessions s ON s.skey = t.skey"
        " WHERE t.skey = %s AND t.call_id = %s ORDER BY t.turn_idx DESC LIMIT 1", [db.skey(sid), call_id]).fetchone()


def compactions(db: PgDb, sid: str) -> list[dict[str, Any]]:
    return db.execute("SELECT turn_idx, at, trigger, pre_tokens FROM compactions WHERE skey = %s ORDER BY turn_idx, at",
                      [db.skey(sid)]).fetchall()


# -- failures and search ---------------------------------------------------------------------------


SESSION_LIST_MAX = 5_000  # sessions matching a filter passed as a list of keys (more: as a subquery)


def _sessions_filter(db: PgDb, w: Where, col: str) -> tuple[str, list[Any]] | None:
    """A filter on sessions (`w`) as a condition on `col`, a session key: the keys themselves when they are few
    (the planner then knows how few), else the subquery. None when no session matches."""
    if not w.sql:
        return "", []
    keys = [r["skey"] for r in db.execute(f"SELECT s.skey FROM sessions s WHERE true{_pg(w.sql)}"
                                          f" LIMIT {SESSION_LIST_MAX + 1}", w.params)]
    if not keys:
        return None
    if len(keys) <= SESSION_LIST_MAX:
        return f" AND {col} = ANY(%s)", [keys]
    return f" AND {col} IN (SELECT s.skey FROM sessions s WHERE true{_pg(w.sql)})", list(w.params)


def failed_tools(db: PgDb, scope: Scope, *, session: str | None = None, project: str | None = None,
                 provider: str | None = None, tool: str | None = None, kind: str | None = None,
                 since: str | None = None, until: str | None = None, machine: str | None = None,
                 user: str | None = None, limit: int = 20, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    ws = _where(scope, project, machine=machine, user=user)
    ws.add("s.provider = ?", provider)
    on_sessions = _sessions_filter(db, ws, "t.skey")
    if on_sessions is None:
        return [], 0
    w = Where(Scope())
    w.add("t.skey = ?", db.skey(session) if session else None)
    w.add("t.name = ?", tool)
    w.add("t.error_kind = ?", kind)
    w.add("t.started_at >= ?", since)
    w.add("t.started_at <= ?", until)
    where, params = _pg(w.sql) + on_sessions[0], [*w.params, *on_sessions[1]]
    # counted from the failures' own index alone (it holds the columns filtered on)
    total = db.execute(f"SELECT count(*) AS n FROM tools t WHERE t.status = 'error'{where}", params).fetchone()["n"]
    rows = db.execute(
        f"SELECT t.*, s.id AS session_id, s.provider AS provider, s.project_root AS project_root, s.title AS title,"
        f" s.machine, s.user_name AS \"user\" FROM tools t JOIN sessions s ON s.skey = t.skey"
        f" WHERE t.status = 'error'{where}"
        " ORDER BY t.started_at DESC NULLS LAST, s.id, s.machine, t.turn_idx DESC, t.step_idx DESC, t.seq DESC"
        " LIMIT %s OFFSET %s", [*params, limit, offset]).fetchall()
    return rows, total


_DOC_TEXT = """CASE d.kind
    WHEN 0 THEN CASE WHEN d.seq < 0 THEN (SELECT x.text FROM turns x WHERE x.skey = d.skey AND x.idx = d.turn_idx)
                ELSE (SELECT i.text FROM interjections i WHERE i.skey = d.skey AND i.turn_idx = d.turn_idx
                      AND i.seq = d.seq) END
    WHEN 1 THEN (SELECT x.message FROM steps x WHERE x.skey = d.skey AND x.turn_idx = d.turn_idx AND x.idx = d.step_idx)
    WHEN 2 THEN (SELECT x.reasoning FROM steps x WHERE x.skey = d.skey AND x.turn_idx = d.turn_idx
                 AND x.idx = d.step_idx)
    WHEN 3 THEN (SELECT x.name || E'\\n' || coalesce(x.args, '') FROM tools x WHERE x.skey = d.skey
                 AND x.turn_idx = d.turn_idx AND x.step_idx = d.step_idx AND x.seq = d.seq)
    WHEN 4 THEN (SELECT x.output FROM tools x WHERE x.skey = d.skey AND x.turn_idx = d.turn_idx
                 AND x.step_idx = d.step_idx AND x.seq = d.seq)
    END"""


# How search finds the newest hits fast whatever the words and filters (4 GB of logs: a million documents).
# A common word is found by reading the newest documents in order until enough hit; a rare one through the
# word index, sorting what it finds. The planner picks between the two from its statistics of each word, but
# it cannot know that a common word is rare among the documents a filter keeps ("completed", in prompts
# only): so the choice is made here, and the newest-first read is bounded (WINDOW documents), the rest of
# the history then searched through the word index.
WINDOW = 8_000


def search(db: PgDb, scope: Scope, query: ParsedQuery | str, *, session: str | None = None,
           project: str | None = None, provider: str | None = None, kinds: list[str] | None = None,
           since: str | None = None, until: str | None = None, sort: str = "newest", machine: str | None = None,
           user: str | None = None, limit: int = 20, offset: int = 0) -> list[dict[str, Any]]:
    """Hits of a query (`queries.parse_query`), newest first (or by relevance), with the text each one was
    found in and where: the step's time, the call (and a tool output's status), the typed-mid-turn message."""
    pq = parse_query(query) if isinstance(query, str) else query
    tq = tsquery(pq.expr, [DOC_KINDS.index(k) for k in kinds] if kinds else None)
    if tq is None:
        return []
    # the filters on sessions, as the documents' session keys
    w = _where(scope, project, machine=machine, user=user)
    w.add("s.skey = ?", db.skey(session) if session else None)
    w.add("s.provider = ?", provider)
    w.add("s.ended_at >= ?", since)
    w.add("s.started_at <= ?", until)
    on_sessions = _sessions_filter(db, w, "d.skey")
    if on_sessions is None:
        return []
    cond, params = "d.tsv @@ %s::tsquery" + on_sessions[0], [tq, *on_sessions[1]]
    need = limit + offset
    if sort == "relevance":  # every match ranked (as FTS5's bm25 ranks them all): asked for on purpose
        with _planner(enable_indexscan="off", enable_seqscan="off")(db):
            ids = [r["id"] for r in db.execute(
                f"SELECT d.id FROM docs d WHERE {cond} ORDER BY ts_rank_cd(d.tsv, %s::tsquery) DESC, d.at DESC,"
                " d.id DESC LIMIT %s", [*params, tq, need])]
        return _hits(db, ids[offset:offset + limit])
    found: list[tuple[str, int]] = []
    boundary = None
    total = db.execute("SELECT reltuples::bigint AS n FROM pg_class WHERE oid = 'docs'::regclass").fetchone()["n"]
    expected = _estimate(db, cond, params)
    if expected > 0 and need * max(total, 1) / expected <= WINDOW / 2:
        # dense enough: the newest WINDOW documents, in order, until enough hit
        found = [(r["at"], r["id"]) for r in db.execute(
            f"SELECT d.at, d.id FROM (SELECT * FROM docs ORDER BY at DESC, id DESC LIMIT {WINDOW}) d"
            f" WHERE {cond} ORDER BY d.at DESC, d.id DESC LIMIT %s", [*params, need])]
        if len(found) < need:
            last = db.execute(f"SELECT at, id FROM docs ORDER BY at DESC, id DESC OFFSET {WINDOW - 1} LIMIT 1"
                              ).fetchone()
            boundary = (last["at"], last["id"]) if last else None
            if boundary is None:
                need = len(found)  # the window held every document
    if len(found) < need:
        # through the word index: every document that matches (older than the window, when it was read)
        older = " AND (d.at, d.id) < (%s, %s)" if boundary else ""
        with _planner(enable_indexscan="off", enable_seqscan="off")(db):
            found += [(r["at"], r["id"]) for r in db.execute(
                f"SELECT d.at, d.id FROM docs d WHERE {cond}{older} ORDER BY d.at DESC, d.id DESC LIMIT %s",
                [*params, *(boundary or ()), need - len(found)])]
    return _hits(db, [i for _, i in found[offset:offset + limit]])


def _hits(db: PgDb, ids: list[int]) -> list[dict[str, Any]]:
    """The search hits of these documents, in this order, with the keys the local index gives them."""
    if not ids:
        return []
    rows = {r["doc"]: r for r in db.execute(
        "SELECT d.id AS doc, s.id AS session_id, d.turn_idx, d.step_idx, d.seq, d.kind AS kind_no,"
        f" {_DOC_TEXT} AS text, s.provider, s.project_root, s.title, s.ended_at, s.machine,"
        " s.user_name AS \"user\", st.started_at AS step_at, x.call_id, x.status AS call_status,"
        " x.error_kind AS call_error_kind, i.at AS typed_at, i.after_step, t.started_at AS turn_at"
        " FROM docs d JOIN sessions s ON s.skey = d.skey"
        " LEFT JOIN steps st ON d.step_idx >= 0 AND st.skey = d.skey AND st.turn_idx = d.turn_idx"
        "  AND st.idx = d.step_idx"
        " LEFT JOIN tools x ON d.step_idx >= 0 AND d.seq >= 0 AND x.skey = d.skey AND x.turn_idx = d.turn_idx"
        "  AND x.step_idx = d.step_idx AND x.seq = d.seq"
        " LEFT JOIN interjections i ON d.step_idx < 0 AND d.seq >= 0 AND i.skey = d.skey"
        "  AND i.turn_idx = d.turn_idx AND i.seq = d.seq"
        " LEFT JOIN turns t ON t.skey = d.skey AND t.idx = d.turn_idx"
        " WHERE d.id = ANY(%s)", [ids])}
    out = []
    for doc in ids:
        r = rows[doc]
        kind = DOC_KINDS[r["kind_no"]]
        hit = {"session_id": r["session_id"], "turn_idx": r["turn_idx"], "step_idx": r["step_idx"], "seq": r["seq"],
               "kind_no": r["kind_no"], "text": r["text"], "provider": r["provider"],
               "project_root": r["project_root"], "title": r["title"], "ended_at": r["ended_at"],
               "machine": r["machine"], "user": r["user"], "kind": kind, "call_id": None, "status": None,
               "error_kind": None, "interjection": None}
        if r["step_idx"] >= 0:  # the time of the step that holds the text
            hit["at"] = r["step_at"]
            if r["seq"] >= 0 and r["call_id"] is not None:
                hit["call_id"] = r["call_id"]
                if kind == "tool_output":
                    hit["status"], hit["error_kind"] = r["call_status"], r["call_error_kind"]
        elif r["seq"] >= 0:  # a message typed mid-turn
            hit["at"] = r["typed_at"]
            hit["interjection"] = r["seq"]
            hit["step_idx"] = r["after_step"] if r["after_step"] is not None and r["after_step"] >= 0 else -1
        else:
            hit["at"] = r["turn_at"]
        out.append(hit)
    return out


def _estimate(db: PgDb, cond: str, params: list[Any]) -> float:
    """The planner's estimate of the documents matching `cond` (from its statistics; no document is read)."""
    plan = db.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM docs d WHERE {cond}", params).fetchone()
    return float(next(iter(plan.values()))[0]["Plan"]["Plan Rows"])


def _planner(**settings: str) -> Any:
    """Planner settings for one query, put back afterwards (the read transaction goes on)."""
    from contextlib import contextmanager

    @contextmanager
    def scoped(db: PgDb) -> Any:
        before = {k: db.execute("SELECT current_setting(%s) AS v", [k]).fetchone()["v"] for k in settings}
        for k, v in settings.items():
            db.execute("SELECT set_config(%s, %s, true)", [k, v])
        try:
            yield
        finally:
            for k, v in before.items():
                db.execute("SELECT set_config(%s, %s, true)", [k, v])
    return scoped


def projects(db: PgDb, scope: Scope, limit: int, offset: int, *, machine: str | None = None,
             user: str | None = None) -> tuple[list[dict[str, Any]], int]:
    w = _where(scope, machine=machine, user=user)
    where, params = _pg(w.sql), w.params
    total = db.execute("SELECT count(DISTINCT s.project_root) + (count(*) > count(s.project_root))::int AS n"
                       f" FROM sessions s WHERE s.parent_id IS NULL{where}", params).fetchone()["n"]
    rows = db.execute(
        "SELECT s.project_root, count(*) AS sessions, string_agg(DISTINCT s.provider, ',') AS providers,"
        " max(s.ended_at) AS last_activity, min(s.started_at) AS first_activity,"
        " sum(s.failed_tools)::bigint AS failed_tools, sum(s.missing_tools)::bigint AS missing_tools,"
        " sum(s.turns)::bigint AS turns,"
        " string_agg(DISTINCT s.machine, ',') AS machines"
        f" FROM sessions s WHERE s.parent_id IS NULL{where} GROUP BY s.project_root"
        " ORDER BY last_activity DESC NULLS LAST, s.project_root NULLS FIRST LIMIT %s OFFSET %s",
        [*params, limit, offset]).fetchall()
    return rows, total


def current_session(db: PgDb, scope: Scope, project: str, provider: str | None) -> dict[str, Any] | None:
    """The newest top-level session of the deepest recorded project at or above `project`; when no recorded
    project contains it, the newest session below it (as the local index's)."""
    where, params = scope.sql()
    prov, pp = (" AND s.provider = ?", [provider]) if provider else ("", [])
    row = db.execute(
        _pg(f"SELECT {COLS} FROM sessions s WHERE s.parent_id IS NULL AND s.project_root = ANY(?){prov}{where}"
            " ORDER BY length(s.project_root) DESC, s.ended_at DESC NULLS LAST, s.id, s.machine LIMIT 1"),
        [roots_above(project), *pp, *params]).fetchone()
    if row is not None:
        return row
    w2, p2 = project_clause(project)
    return db.execute(
        _pg(f"SELECT {COLS} FROM sessions s WHERE s.parent_id IS NULL{w2}{prov}{where}"
            " ORDER BY s.ended_at DESC NULLS LAST, s.id, s.machine LIMIT 1"), [*p2, *pp, *params]).fetchone()


def file_report(db: PgDb) -> list[dict[str, Any]]:
    return db.execute("SELECT provider, path, lines, records, bad_lines, torn_tail, report, on_disk, size"
                      " FROM files ORDER BY provider, path, mid").fetchall()


def session_counts(db: PgDb) -> dict[str, int]:
    """Sessions per provider."""
    return {r["provider"]: r["n"] for r in
            db.execute("SELECT provider, count(*) AS n FROM sessions GROUP BY provider")}


def secret_findings(db: PgDb, scope: Scope, *, session: str | None = None, project: str | None = None,
                    limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Credentials by fingerprint: where each appears (count, sessions, first/last place)."""
    w = _where(scope, project)
    w.add("x.skey = ?", db.skey(session) if session else None)
    where, params = _pg(w.sql), w.params
    base = f"FROM secrets x JOIN sessions s ON s.skey = x.skey WHERE true{where}"
    total = db.execute(f"SELECT count(DISTINCT x.fingerprint) AS n {base}", params).fetchone()["n"]
    rows = db.execute(
        "SELECT x.type, x.fingerprint, count(*) AS occurrences, count(DISTINCT x.skey) AS sessions,"
        " min(s.started_at) AS first_seen, max(s.ended_at) AS last_seen,"
        f" string_agg(DISTINCT x.kind, ',') AS kinds {base} GROUP BY x.type, x.fingerprint"
        " ORDER BY last_seen DESC NULLS LAST, x.fingerprint LIMIT %s OFFSET %s", [*params, limit, offset]).fetchall()
    return rows, total


def secret_places(db: PgDb, scope: Scope, fingerprint: str, *, session: str | None = None,
                  project: str | None = None, limit: int = 5) -> list[dict[str, Any]]:
    w = _where(scope, project)
    w.add("x.skey = ?", db.skey(session) if session else None)
    where, params = _pg(w.sql), w.params
    return db.execute(
        "SELECT s.id AS session_id, x.turn_idx, x.step_idx, x.call_id, x.kind, s.project_root, s.machine"
        f" FROM secrets x JOIN sessions s ON s.skey = x.skey WHERE x.fingerprint = %s{where}"
        " ORDER BY s.ended_at DESC NULLS LAST, s.id, s.machine, x.turn_idx, x.step_idx, x.kind, x.call_id NULLS FIRST"
        " LIMIT %s", [fingerprint, *params, limit]).fetchall()


# -- analysis and usage ----------------------------------------------------------------------------


def analysis_input(db: PgDb, sid: str) -> tuple[list[Any], list[Any]]:
    """One session's tool calls and turns as `engine.analysis` dataclasses (from the stored rows only)."""
    key = db.skey(sid)
    agent = db.execute("SELECT provider FROM sessions WHERE skey = %s", [key]).fetchone()
    calls = local.analysis_calls(db.execute(
        "SELECT turn_idx, step_idx, seq, call_id, name, kind, args, status, error_kind, error_message,"
        " CASE WHEN status = 'error' AND error_message IS NULL THEN substr(output, 1, 1500) END AS out_head,"
        " started_at, duration_ms, output_len, child_id FROM tools WHERE skey = %s"
        " ORDER BY turn_idx, step_idx, seq", [key]).fetchall(),
        REGISTRY.tool_shapes(agent["provider"] if agent is not None else ""))
    local.link_starters_of(calls, lambda proc: db.execute(
        "SELECT call_id, output FROM tools WHERE skey = %s AND strpos(output, %s) > 0", [key, proc]).fetchall())
    return calls, local.analysis_turns(
        db.execute("SELECT idx, steps, interrupted, origin, substr(text, 1, 400) AS prompt, status FROM turns"
                   " WHERE skey = %s ORDER BY idx", [key]).fetchall(),
        db.execute("SELECT turn_idx, text, after_step, at FROM interjections WHERE skey = %s ORDER BY turn_idx, seq",
                   [key]).fetchall())


def poll_starters(db: PgDb, rows: list[Any]) -> dict[str, tuple[str, str]]:
    """For the failed calls among `rows` that poll a started process: call id → (the starter's call id, what it
    ran)."""
    return starters_of(rows, lambda r, proc: db.execute(
        "SELECT call_id, name, kind, args, output, turn_idx, step_idx, seq FROM tools WHERE skey = %s"
        " AND (turn_idx, step_idx, seq) < (%s, %s, %s) AND strpos(output, %s) > 0"
        " ORDER BY turn_idx DESC, step_idx DESC, seq DESC",
        [r["skey"], r["turn_idx"], r["step_idx"], r["seq"], proc]).fetchall())


def failure_rows(db: PgDb, scope: Scope, *, session: str | None = None, project: str | None = None,
                 provider: str | None = None, tool: str | None = None, kind: str | None = None,
                 since: str | None = None, until: str | None = None, machine: str | None = None,
                 user: str | None = None) -> list[dict[str, Any]]:
    """Every failed call matching the filters (the columns grouping needs), newest first."""
    w = _where(scope, project, machine=machine, user=user)
    w.add("t.skey = ?", db.skey(session) if session else None)
    w.add("s.provider = ?", provider)
    w.add("t.name = ?", tool)
    w.add("t.error_kind = ?", kind)
    w.add("t.started_at >= ?", since)
    w.add("t.started_at <= ?", until)
    return db.execute(
        "SELECT s.id AS session_id, t.skey, t.turn_idx, t.step_idx, t.seq, t.call_id, t.name, t.kind, t.args,"
        " t.error_kind, t.exit_code, t.error_message, substr(t.output, 1, 1500) AS out_head, t.started_at,"
        " s.project_root, s.provider, s.machine, s.user_name AS \"user\""
        " FROM tools t JOIN sessions s ON s.skey = t.skey"
        f" WHERE t.status = 'error'{_pg(w.sql)}"
        " ORDER BY t.started_at DESC NULLS LAST, s.id, s.machine, t.turn_idx DESC, t.step_idx DESC, t.seq DESC",
        w.params).fetchall()


def step_usage(db: PgDb, sid: str, turn: int | None = None) -> list[dict[str, Any]]:
    """Steps (with their usage) of a session or of one turn, in order."""
    sql = ("SELECT turn_idx, idx, started_at, model, has_usage, input, cache_read, cache_write, output,"
           " reasoning_tokens, input + cache_read + cache_write AS context FROM steps WHERE skey = %s")
    if turn is None:
        return db.execute(sql + " ORDER BY turn_idx, idx", [db.skey(sid)]).fetchall()
    return db.execute(sql + " AND turn_idx = %s ORDER BY idx", [db.skey(sid), turn]).fetchall()


_SUMS = ("count(*) AS n, coalesce(sum(c.input), 0)::bigint AS input, coalesce(sum(c.cache_read), 0)::bigint AS"
         " cache_read, coalesce(sum(c.cache_write), 0)::bigint AS cache_write, coalesce(sum(c.output), 0)::bigint AS"
         " output, coalesce(sum(c.reasoning), 0)::bigint AS reasoning, coalesce(sum(c.steps), 0)::bigint AS steps")


def _family(roots: str) -> str:
    """A recursive CTE `fam(skey)`: the sessions `roots` selects (by skey) and their subagents at any depth
    (a subagent runs on its parent's machine)."""
    return (f"WITH RECURSIVE fam(skey, mid, id) AS (SELECT r.skey, r.mid, r.id FROM sessions r WHERE r.skey IN"
            f" ({roots}) UNION SELECT c.skey, c.mid, c.id FROM fam JOIN sessions c ON c.mid = fam.mid"
            " AND c.parent_id = fam.id)")


def _children_of(roots: str) -> str:
    return (f"SELECT k.skey FROM sessions k JOIN sessions p ON k.mid = p.mid AND k.parent_id = p.id"
            f" WHERE p.skey IN ({roots})")


def _models(ids: str) -> str:
    return ("SELECT coalesce(model, '') AS model, count(*) AS steps, sum(input)::bigint AS input,"
            " sum(cache_read)::bigint AS cache_read, sum(cache_write)::bigint AS cache_write,"
            " sum(output)::bigint AS output, sum(reasoning_tokens)::bigint AS reasoning"
            f" FROM steps WHERE has_usage = 1 AND skey IN ({ids}) GROUP BY coalesce(model, '')"
            " ORDER BY sum(input + cache_read + cache_write + output) DESC, coalesce(model, '')")


def family_usage(db: PgDb, sid: str, scope: Scope) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A session's subagents (any depth) with their summed tokens, and the tokens per model of the session and
    all its subagents."""
    key = db.skey(sid)
    subs = db.execute(_family(_children_of("%s")) + f" SELECT {_SUMS} FROM sessions c WHERE c.skey IN"
                      " (SELECT skey FROM fam)", [key]).fetchone()
    models = db.execute(_family("%s") + " " + _models("SELECT skey FROM fam"), [key]).fetchall()
    return subs, models


def turn_family_usage(db: PgDb, sid: str, turn: int, scope: Scope) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The subagents a turn's tool calls spawned (any depth) with their summed tokens, and the tokens per model
    of the session and those subagents."""
    key = db.skey(sid)
    spawned = ("SELECT c.skey FROM tools t JOIN sessions p ON p.skey = t.skey JOIN sessions c ON c.mid = p.mid"
               " AND c.id = t.child_id WHERE t.skey = %s AND t.turn_idx = %s AND t.child_id IS NOT NULL")
    subs = db.execute(_family(spawned) + f" SELECT {_SUMS} FROM sessions c WHERE c.skey IN (SELECT skey FROM fam)",
                      [key, turn]).fetchone()
    models = db.execute(_family(spawned) + " " + _models("SELECT %s UNION SELECT skey FROM fam"),
                        [key, turn, key]).fetchall()
    return subs, models


def range_usage(db: PgDb, scope: Scope, *, project: str | None = None, provider: str | None = None,
                since: str | None = None, until: str | None = None, machine: str | None = None,
                user: str | None = None) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    """The top-level sessions of a usage range (newest first), their subagents' summed tokens, and the tokens
    per model of all of them."""
    w = _where(scope, project, machine=machine, user=user)
    w.add("s.provider = ?", provider)
    w.add("s.ended_at >= ?", since)
    w.add("s.started_at <= ?", until)
    where, params = _pg(w.sql), w.params
    roots = f"SELECT s.skey FROM sessions s WHERE s.parent_id IS NULL{where}"
    rows = db.execute(
        "SELECT s.skey, s.id, s.provider, s.project_root, s.title, s.started_at, s.ended_at, s.models,"
        " s.context_window, s.steps, s.input, s.cache_read, s.cache_write, s.output, s.reasoning, s.peak_context,"
        f" s.machine, s.user_name AS \"user\" FROM sessions s WHERE s.parent_id IS NULL{where}"
        " ORDER BY s.ended_at DESC NULLS LAST, s.id, s.machine", params).fetchall()
    subs = db.execute(_family(_children_of(roots)) + f" SELECT {_SUMS} FROM sessions c WHERE c.skey IN"
                      " (SELECT skey FROM fam)", params).fetchone()
    models = db.execute(_family(roots) + " " + _models("SELECT skey FROM fam"), params).fetchall()
    return rows, subs, models


def subagent_totals(db: PgDb, rows: list[dict[str, Any]], scope: Scope) -> list[dict[str, Any] | None]:
    """For each of these `range_usage` rows: its subagents (any depth) and their summed tokens (None: none)."""
    if not rows:
        return []
    keys = [r["skey"] for r in rows]
    found = {r["root"]: r for r in db.execute(
        "WITH RECURSIVE d(root, mid, id) AS (SELECT p.skey, c.mid, c.id FROM sessions p JOIN sessions c"
        " ON c.mid = p.mid AND c.parent_id = p.id WHERE p.skey = ANY(%s)"
        " UNION SELECT d.root, c.mid, c.id FROM d JOIN sessions c ON c.mid = d.mid AND c.parent_id = d.id)"
        f" SELECT d.root AS root, {_SUMS} FROM d JOIN sessions c ON c.mid = d.mid AND c.id = d.id GROUP BY d.root",
        [keys])}
    return [found.get(k) for k in keys]


def largest_outputs(db: PgDb, sid: str, *, after: tuple[int, int] | None = None, turn: int | None = None,
                    limit: int = 10) -> list[dict[str, Any]]:
    """The biggest tool outputs of a session (from coordinates `after` on, or of one turn), by length."""
    where, params = "", [db.skey(sid)]
    if after is not None:
        where += " AND (turn_idx > %s OR (turn_idx = %s AND step_idx >= %s))"
        params += [after[0], after[0], after[1]]
    if turn is not None:
        where += " AND turn_idx = %s"
        params.append(turn)
    return db.execute(
        f"SELECT call_id, name, turn_idx, step_idx, output_len FROM tools WHERE skey = %s AND output_len > 0{where}"
        " ORDER BY output_len DESC, turn_idx, step_idx, seq LIMIT %s", [*params, limit]).fetchall()


# -- following a session, naming sessions briefly ---------------------------------------------------


def id_neighbours(db: PgDb, scope: Scope, sid: str) -> tuple[str | None, str | None]:
    """The session ids just before and just after `sid` in id order (within the scope)."""
    where, params = scope.sql()
    where = _pg(where)
    base = sid  # an id pushed from several machines is one id here: its prefix must name it alone either way
    if MACHINE_SEP in sid and db.execute("SELECT 1 FROM sessions WHERE id = %s LIMIT 1", [sid]).fetchone() is None:
        base = sid.rsplit(MACHINE_SEP, 1)[0]
    row = db.execute(f"SELECT (SELECT max(s.id) FROM sessions s WHERE s.id < %s{where}) AS lo,"
                     f" (SELECT min(s.id) FROM sessions s WHERE s.id > %s{where}) AS hi",
                     [base, *params, base, *params]).fetchone()
    return row["lo"], row["hi"]


def step_from_end(db: PgDb, sid: str, n: int) -> tuple[int, int] | None:
    """(turn, step) of a session's `n`-th step counted back from its last one (0: the last)."""
    row = db.execute("SELECT turn_idx, idx FROM steps WHERE skey = %s ORDER BY turn_idx DESC, idx DESC"
                     " LIMIT 1 OFFSET %s", [db.skey(sid), n]).fetchone()
    return (row["turn_idx"], row["idx"]) if row else None


def steps_after(db: PgDb, sid: str, turn: int, step: int, limit: int) -> list[dict[str, Any]]:
    """The first `limit` steps of a session that come after step (turn, step), in order."""
    return db.execute("SELECT * FROM steps WHERE skey = %s AND (turn_idx, idx) > (%s, %s)"
                      " ORDER BY turn_idx, idx LIMIT %s", [db.skey(sid), turn, step, limit]).fetchall()


def tools_between(db: PgDb, sid: str, first: tuple[int, int], last: tuple[int, int]) -> list[dict[str, Any]]:
    """The tool calls of the steps from `first` to `last` (turn, step), both included, in order."""
    return db.execute("SELECT * FROM tools WHERE skey = %s AND (turn_idx, step_idx) BETWEEN (%s, %s) AND (%s, %s)"
                      " ORDER BY turn_idx, step_idx, seq", [db.skey(sid), *first, *last]).fetchall()
