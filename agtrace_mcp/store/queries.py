"""Read queries over the SQLite index: plain functions over a connection, returning sqlite3.Row objects.

This module is the SQLite backend of the store's query interface: the API calls these functions through
`store.queries` (`api.Agtrace.q`), and the PostgreSQL backend (`store/postgres/queries.py`) has the same
functions, with the same arguments and the same row keys, over a team database. SQL stays in its backend:
the API composes no SQL of its own.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ..engine.shapes import GENERIC, ToolShapes
from ..errors import FIND_SESSION, AmbiguousIdError, BadArgumentError, NotFoundError
from ..paths import normalize_root, subfolder_prefix
from ..providers import REGISTRY
from .migrations import DOC_KINDS

MIN_PREFIX = 6
_HIGH = "\U0010ffff"


def _under(col: str, root: str) -> tuple[str, list[Any]]:
    """`col` is the root itself or a path below it (both normalised: `A/../shop` is not below `A`)."""
    r = normalize_root(root)
    pre = subfolder_prefix(r)
    return f"({col} = ? OR ({col} >= ? AND {col} < ?))", [r, pre, pre + _HIGH]


@dataclass
class Scope:
    """Project roots the caller may see (empty: everything). A session outside them is invisible everywhere:
    not found by id, not listed, not counted, and its id never named (as a subagent, parent or child).
    `machine`/`user`: whose history this store holds (the local index holds one machine's and one user's
    sessions; None in a team database, whose sessions each say where they ran)."""

    roots: list[str] = field(default_factory=list)
    machine: str | None = None
    user: str | None = None

    def origin(self, machine: str | None, user: str | None) -> str:
        """" AND 0" when a `machine`/`user` filter names another machine or user than this index's."""
        if (machine and self.machine is not None and machine != self.machine) or \
                (user and self.user is not None and user != self.user):
            return " AND 0"
        return ""

    def sql(self, col: str = "s.project_root") -> tuple[str, list[Any]]:
        if not self.roots:
            return "", []
        parts, params = [], []
        for r in self.roots:
            part, p = _under(col, r)
            parts.append(part)
            params += p
        return " AND (" + " OR ".join(parts) + ")", params

    def inline(self, col: str) -> str:
        """The same condition with its values written into the SQL (for recursive queries whose parameters
        are already laid out); `TRUE` when there is no scope."""
        if not self.roots:
            return "1"
        where, params = self.sql(col)
        for v in params:
            where = where.replace("?", "'" + str(v).replace("'", "''") + "'", 1)
        return "(1" + where + ")"


def project_clause(project: str | None, col: str = "s.project_root") -> tuple[str, list[Any]]:
    """A project filter matches the root itself and everything under it (worktrees, subfolders)."""
    if not project:
        return "", []
    part, params = _under(col, project)
    return f" AND {part}", params


class Where:
    """The WHERE of a filtered query (`sql` starts with " AND …"): scope and project, then `add` per filter."""

    def __init__(self, scope: Scope, project: str | None = None, col: str = "s.project_root",
                 machine: str | None = None, user: str | None = None) -> None:
        self.sql, self.params = scope.sql(col)
        w, p = project_clause(project, col)
        self.sql += w + scope.origin(machine, user)
        self.params += p

    def add(self, clause: str, *values: Any, when: bool | None = None) -> None:
        """`AND clause`, its `?`s bound to `values`; skipped when the filter is not given (None or "")."""
        if when is None:
            when = all(v is not None and v != "" for v in values)
        if when:
            self.sql += f" AND {clause}"
            self.params += values


def resolve_session(db: sqlite3.Connection, ref: str, scope: Scope) -> str:
    """A full id or a unique prefix of at least 6 characters → the full id."""
    ref = (ref or "").strip()
    if not ref:
        raise BadArgumentError("the session id is empty", FIND_SESSION)
    where, params = scope.sql()
    row = db.execute(f"SELECT s.id FROM sessions s WHERE s.id = ?{where}", [ref, *params]).fetchone()
    if row:
        return row[0]
    if len(ref) < MIN_PREFIX:
        raise NotFoundError(f"no session {ref!r} (a prefix needs at least {MIN_PREFIX} characters)", FIND_SESSION)
    rows = db.execute(f"SELECT s.id FROM sessions s WHERE s.id >= ? AND s.id < ?{where} ORDER BY s.id LIMIT 11",
                      [ref, ref + _HIGH, *params]).fetchall()
    if not rows:
        raise NotFoundError(f"no session matches {ref!r}", FIND_SESSION)
    if len(rows) > 1:
        raise AmbiguousIdError(ref, [r[0] for r in rows])
    return rows[0][0]


def list_sessions(db: sqlite3.Connection, scope: Scope, *, project: str | None = None,
                  provider: str | None = None, since: str | None = None, until: str | None = None,
                  query: str | None = None, has_failures: bool | None = None, include_subagents: bool = False,
                  parent: str | None = None, machine: str | None = None, user: str | None = None, limit: int = 20,
                  offset: int = 0) -> tuple[list[sqlite3.Row], int]:
    w = Where(scope, project, machine=machine, user=user)
    w.add("s.provider = ?", provider)
    w.add("s.ended_at >= ?", since)
    w.add("s.started_at <= ?", until)
    if query:
        w.add("(s.title LIKE ? ESCAPE '\\' OR s.id = ?)", "%" + re.sub(r"([\\%_])", r"\\\1", query) + "%", query)
    w.add("s.failed_tools > 0", when=has_failures is True)
    w.add("s.failed_tools = 0", when=has_failures is False)
    w.add("s.parent_id = ?", parent)
    w.add("s.parent_id IS NULL", when=not parent and not include_subagents)
    where, params = w.sql, w.params
    total = db.execute(f"SELECT count(*) FROM sessions s WHERE 1=1{where}", params).fetchone()[0]
    rows = db.execute(
        f"SELECT s.* FROM sessions s WHERE 1=1{where} ORDER BY s.ended_at DESC, s.id LIMIT ? OFFSET ?",
        [*params, limit, offset]).fetchall()
    return rows, total


def session_row(db: sqlite3.Connection, sid: str) -> sqlite3.Row:
    """The session's row, with the log file it is read from (`file_path`, `file_provider`, `file_kind`,
    `file_parent`: None when the log is not on this machine)."""
    row = db.execute("SELECT s.*, f.path AS file_path, f.provider AS file_provider, f.kind AS file_kind,"
                     " f.parent AS file_parent FROM sessions s JOIN files f ON f.id = s.file_id WHERE s.id = ?",
                     (sid,)).fetchone()
    if row is None:
        raise NotFoundError(f"no session {sid!r}", FIND_SESSION)
    return row


def children(db: sqlite3.Connection, sid: str, scope: Scope) -> list[sqlite3.Row]:
    """The subagent sessions of `sid` that the scope lets the caller see."""
    where, params = scope.sql()
    return db.execute(f"SELECT s.* FROM sessions s WHERE s.parent_id = ?{where} ORDER BY s.started_at, s.id",
                      [sid, *params]).fetchall()


def visible(db: sqlite3.Connection, scope: Scope, ids: set[str]) -> set[str]:
    """Those of `ids` that are sessions inside the scope (a parent or child id outside it is never named)."""
    ids = {i for i in ids if i}
    if not ids:
        return set()
    if not scope.roots:
        return ids
    where, params = scope.sql()
    marks = ",".join("?" * len(ids))
    return {r[0] for r in db.execute(f"SELECT s.id FROM sessions s WHERE s.id IN ({marks}){where}",
                                     [*ids, *params])}


def turns(db: sqlite3.Connection, sid: str, start: int, stop: int) -> list[sqlite3.Row]:
    return db.execute("SELECT * FROM turns WHERE session_id = ? AND idx >= ? AND idx < ? ORDER BY idx",
                      (sid, start, stop)).fetchall()


def tool_counts(db: sqlite3.Connection, sid: str, start: int,
                stop: int) -> dict[int, list[tuple[str, int, int, int]]]:
    """Per turn: (tool name, ok, failed, missing) — a call whose result never came is neither ok nor failed."""
    out: dict[int, list[tuple[str, int, int, int]]] = {}
    for r in db.execute(
            "SELECT turn_idx, name, sum(status = 'ok'), sum(status = 'error'), sum(status = 'missing')"
            " FROM tools WHERE session_id = ? AND turn_idx >= ? AND turn_idx < ? GROUP BY turn_idx, name"
            " ORDER BY turn_idx, count(*) DESC, name", (sid, start, stop)):
        out.setdefault(r[0], []).append((r[1], r[2], r[3], r[4]))
    return out


def interjection_counts(db: sqlite3.Connection, sid: str, start: int, stop: int) -> dict[int, int]:
    """Per turn: how many messages the user typed while the agent worked."""
    return dict(db.execute("SELECT turn_idx, count(*) FROM interjections WHERE session_id = ? AND turn_idx >= ?"
                           " AND turn_idx < ? GROUP BY turn_idx", (sid, start, stop)).fetchall())


def interjections(db: sqlite3.Connection, sid: str, turn: int) -> list[sqlite3.Row]:
    return db.execute("SELECT * FROM interjections WHERE session_id = ? AND turn_idx = ? ORDER BY seq",
                      (sid, turn)).fetchall()


def session_interjections(db: sqlite3.Connection, sid: str) -> list[sqlite3.Row]:
    """Every message typed mid-turn in the session, in order."""
    return db.execute("SELECT * FROM interjections WHERE session_id = ? ORDER BY turn_idx, seq", (sid,)).fetchall()


def turn_row(db: sqlite3.Connection, sid: str, idx: int) -> sqlite3.Row | None:
    return db.execute("SELECT * FROM turns WHERE session_id = ? AND idx = ?", (sid, idx)).fetchone()


def steps(db: sqlite3.Connection, sid: str, turn: int) -> list[sqlite3.Row]:
    return db.execute("SELECT * FROM steps WHERE session_id = ? AND turn_idx = ? ORDER BY idx", (sid, turn)).fetchall()


def tools_of_turn(db: sqlite3.Connection, sid: str, turn: int) -> list[sqlite3.Row]:
    return db.execute("SELECT * FROM tools WHERE session_id = ? AND turn_idx = ? ORDER BY step_idx, seq",
                      (sid, turn)).fetchall()


def tool_row(db: sqlite3.Connection, sid: str, call_id: str) -> sqlite3.Row | None:
    return db.execute(
        "SELECT t.*, f.path AS file_path, f.provider AS provider, f.kind AS file_kind, f.parent AS file_parent"
        " FROM tools t JOIN sessions s ON s.id = t.session_id JOIN files f ON f.id = s.file_id"
        " WHERE t.session_id = ? AND t.call_id = ? ORDER BY t.turn_idx DESC LIMIT 1", (sid, call_id)).fetchone()


def compactions(db: sqlite3.Connection, sid: str) -> list[sqlite3.Row]:
    return db.execute("SELECT * FROM compactions WHERE session_id = ? ORDER BY turn_idx, at", (sid,)).fetchall()


def failed_tools(db: sqlite3.Connection, scope: Scope, *, session: str | None = None, project: str | None = None,
                 provider: str | None = None, tool: str | None = None, kind: str | None = None,
                 since: str | None = None, until: str | None = None, machine: str | None = None,
                 user: str | None = None, limit: int = 20, offset: int = 0) -> tuple[list[sqlite3.Row], int]:
    w = Where(scope, project, machine=machine, user=user)
    w.add("t.session_id = ?", session)
    w.add("s.provider = ?", provider)
    w.add("t.name = ?", tool)
    w.add("t.error_kind = ?", kind)
    w.add("t.started_at >= ?", since)
    w.add("t.started_at <= ?", until)
    where, params = w.sql, w.params
    base = f"FROM tools t JOIN sessions s ON s.id = t.session_id WHERE t.status = 'error'{where}"
    total = db.execute(f"SELECT count(*) {base}", params).fetchone()[0]
    rows = db.execute(
        f"SELECT t.*, s.provider AS provider, s.project_root AS project_root, s.title AS title {base}"
        " ORDER BY t.started_at DESC, t.session_id, t.turn_idx DESC, t.step_idx DESC, t.seq DESC LIMIT ? OFFSET ?",
        [*params, limit, offset]).fetchall()
    return rows, total


_TOKEN = re.compile(r"[^\W_]+")  # what FTS5's unicode61 tokenizer keeps: letters and digits ("_" separates)
_QUERY_PART = re.compile(r'"([^"]*)"?|(\S+)')
_OPERATORS = ("AND", "OR", "NOT")


@dataclass
class ParsedQuery:
    """A search as FTS5 runs it: `expr`; `terms` (tokens, prefix) to highlight; `read_as` says how the words
    were read when that may not be what the user meant (single letters, operators, dropped characters)."""

    expr: str
    terms: list[tuple[tuple[str, ...], bool]]
    read_as: str | None = None


def fts_query(text: str) -> str:
    """User words → an FTS5 query (see `parse_query`)."""
    return parse_query(text).expr


def parse_query(text: str) -> ParsedQuery:
    """User words → an FTS5 query: every word must appear; "a quoted phrase" must appear as written; a word
    ending in * is a prefix; AND, OR and NOT in capitals are operators. A word is matched by its letters and
    digits (`C++` is the word `c`, `foo.bar` the phrase `foo bar`): when that loses something the answer says so."""
    parts: list[str] = []  # FTS5 pieces
    shown: list[str] = []  # the same, for people
    terms: list[tuple[tuple[str, ...], bool]] = []
    notes: list[str] = []
    pending_op: str | None = None
    for m in _QUERY_PART.finditer(text or ""):
        phrase, word = m.group(1), m.group(2)
        if word in _OPERATORS:
            if parts and pending_op is None:
                pending_op = word
            else:
                notes.append(f"{word} needs a word on each side: ignored")
            continue
        raw = phrase if phrase is not None else word
        prefix = phrase is None and raw.endswith("*") and len(raw) > 1
        tokens = tuple(t.lower() for t in _TOKEN.findall(raw))
        if not tokens:
            if raw.strip():
                notes.append(f"{raw!r} has no letters or digits: left out")
            continue
        if word is not None and word.lower() in ("and", "or", "not"):
            notes.append(f"{word!r} is searched as a word (write {word.upper()} for the operator)")
        if all(len(t) == 1 for t in tokens):
            what = " ".join(tokens)
            notes.append(f"{raw!r} is read as {what!r}: a single letter matches every word that is just that letter")
        piece = '"' + " ".join(tokens) + '"' + ("*" if prefix else "")
        human = ((f'"{" ".join(tokens)}"' if len(tokens) > 1 or phrase is not None else tokens[0])
                 + ("*" if prefix else ""))
        if parts:
            op = pending_op or "AND"
            parts.append(op if pending_op else "")
            shown.append(op)
        pending_op = None
        parts.append(piece)
        shown.append(human)
        terms.append((tokens, prefix))
    if pending_op is not None:
        notes.append(f"{pending_op} at the end has no word after it: ignored")
    if not terms:
        raise BadArgumentError("query is empty; pass words to search for" if not notes else
                               "query has nothing to search for: " + "; ".join(notes))
    expr = " ".join(p for p in parts if p)
    operators = any(x in _OPERATORS and x != "AND" for x in shown) or any(p in _OPERATORS for p in parts if p)
    read_as = None
    if notes or operators:
        read_as = " ".join(shown) + (" — " + "; ".join(notes) if notes else "")
    return ParsedQuery(expr, terms, read_as)


def search(db: sqlite3.Connection, scope: Scope, query: ParsedQuery | str, *, session: str | None = None,
           project: str | None = None, provider: str | None = None, kinds: list[str] | None = None,
           since: str | None = None, until: str | None = None, sort: str = "newest", machine: str | None = None,
           user: str | None = None, limit: int = 20, offset: int = 0) -> list[dict[str, Any]]:
    """Hits of a query (`parse_query`), newest first (or by relevance), with the text each one was found in."""
    pq = parse_query(query) if isinstance(query, str) else query
    w = Where(scope, project, machine=machine, user=user)
    w.add("s.id = ?", session)
    w.add("s.provider = ?", provider)
    if kinds:
        w.add(f"d.kind IN ({','.join('?' * len(kinds))})", *[DOC_KINDS.index(k) for k in kinds])
    w.add("s.ended_at >= ?", since)
    w.add("s.started_at <= ?", until)
    where, params = w.sql, w.params
    # Newest first: doc ids grow with time (files are indexed oldest first, appends come later), and FTS5
    # walks its matches in id order, so the first page costs the same for a rare word and for "error".
    # By relevance, every match is ranked (bm25): slower for a common word, asked for on purpose.
    order = "docs_fts.rank, docs_fts.rowid DESC" if sort == "relevance" else "docs_fts.rowid DESC"
    rows = db.execute(
        "SELECT s.id AS session_id, d.turn_idx, d.step_idx, d.seq, d.kind AS kind_no,"
        " (SELECT x.text FROM doc_text x WHERE x.id = d.id) AS text, s.provider, s.project_root, s.title,"
        " s.ended_at FROM docs_fts JOIN docs d ON d.id = docs_fts.rowid JOIN sessions s ON s.rowid = d.skey"
        f" WHERE docs_fts MATCH ?{where} ORDER BY {order} LIMIT ? OFFSET ?",
        [pq.expr, *params, limit, offset]).fetchall()
    out = []
    for r in rows:
        hit = {**dict(r), "kind": DOC_KINDS[r["kind_no"]], "call_id": None, "status": None, "error_kind": None,
               "interjection": None}
        sid, ti, si, seq = r["session_id"], r["turn_idx"], r["step_idx"], r["seq"]
        if si >= 0:  # the time of the step that holds the text
            x = db.execute("SELECT started_at FROM steps WHERE session_id = ? AND turn_idx = ? AND idx = ?",
                           (sid, ti, si)).fetchone()
            hit["at"] = x[0] if x else None
            if seq >= 0:
                t = db.execute("SELECT call_id, status, error_kind FROM tools WHERE session_id = ? AND turn_idx = ?"
                               " AND step_idx = ? AND seq = ?", (sid, ti, si, seq)).fetchone()
                if t is not None:
                    hit["call_id"] = t[0]
                    if hit["kind"] == "tool_output":
                        hit["status"], hit["error_kind"] = t[1], t[2]
        elif seq >= 0:  # a message typed mid-turn
            x = db.execute("SELECT at, after_step FROM interjections WHERE session_id = ? AND turn_idx = ? AND seq = ?",
                           (sid, ti, seq)).fetchone()
            hit["at"] = x[0] if x else None
            hit["interjection"] = seq
            hit["step_idx"] = x[1] if x and x[1] >= 0 else -1
        else:
            x = db.execute("SELECT started_at FROM turns WHERE session_id = ? AND idx = ?", (sid, ti)).fetchone()
            hit["at"] = x[0] if x else None
        out.append(hit)
    return out


def projects(db: sqlite3.Connection, scope: Scope, limit: int, offset: int, *, machine: str | None = None,
             user: str | None = None) -> tuple[list[sqlite3.Row], int]:
    where, params = scope.sql()
    where += scope.origin(machine, user)
    # sessions with no recorded project are one group of their own (GROUP BY keeps NULL; count(DISTINCT) not)
    total = db.execute("SELECT count(DISTINCT s.project_root) + (count(*) > count(s.project_root))"
                       f" FROM sessions s WHERE s.parent_id IS NULL{where}", params).fetchone()[0]
    rows = db.execute(
        "SELECT s.project_root, count(*) AS sessions, group_concat(DISTINCT s.provider) AS providers,"
        " max(s.ended_at) AS last_activity, min(s.started_at) AS first_activity, sum(s.failed_tools) AS failed_tools,"
        " sum(s.missing_tools) AS missing_tools,"
        " sum(s.turns) AS turns"
        f" FROM sessions s WHERE s.parent_id IS NULL{where} GROUP BY s.project_root"
        " ORDER BY last_activity DESC, s.project_root LIMIT ? OFFSET ?", [*params, limit, offset]).fetchall()
    return rows, total


def current_session(db: sqlite3.Connection, scope: Scope, project: str, provider: str | None) -> sqlite3.Row | None:
    """The newest top-level session of the deepest recorded project at or above `project` (the agent may be in
    a subfolder of where it started); when no recorded project contains it, the newest session below it."""
    where, params = scope.sql()
    prov, pp = (" AND s.provider = ?", [provider]) if provider else ("", [])
    above = roots_above(project)
    marks = ",".join("?" * len(above))
    row = db.execute(
        f"SELECT s.* FROM sessions s WHERE s.parent_id IS NULL AND s.project_root IN ({marks}){prov}{where}"
        " ORDER BY length(s.project_root) DESC, s.ended_at DESC LIMIT 1", [*above, *pp, *params]).fetchone()
    if row is not None:
        return row
    w2, p2 = project_clause(project)
    return db.execute(
        f"SELECT s.* FROM sessions s WHERE s.parent_id IS NULL{w2}{prov}{where} ORDER BY s.ended_at DESC, s.id LIMIT 1",
        [*p2, *pp, *params]).fetchone()


def roots_above(project: str) -> list[str]:
    """`project` and every folder above it, deepest first (Windows paths too)."""
    sep = "\\" if ("\\" in project and "/" not in project) else "/"
    above, p = [], project.rstrip(sep) or sep
    while p:
        above.append(p)
        if p == sep:
            break
        cut = p.rfind(sep)
        p = p[:cut] if cut > 0 else (sep if sep == "/" else "")
    return above


def file_report(db: sqlite3.Connection) -> list[sqlite3.Row]:
    return db.execute("SELECT provider, path, lines, records, bad_lines, torn_tail, report, on_disk, size"
                      " FROM files ORDER BY provider, path").fetchall()


def secret_findings(db: sqlite3.Connection, scope: Scope, *, session: str | None = None, project: str | None = None,
                    limit: int = 50, offset: int = 0) -> tuple[list[sqlite3.Row], int]:
    """Credentials by fingerprint: where each appears (count, sessions, first/last place)."""
    w = Where(scope, project)
    w.add("x.session_id = ?", session)
    where, params = w.sql, w.params
    base = f"FROM secrets x JOIN sessions s ON s.id = x.session_id WHERE 1=1{where}"
    total = db.execute(f"SELECT count(DISTINCT x.fingerprint) {base}", params).fetchone()[0]
    rows = db.execute(
        f"SELECT x.type, x.fingerprint, count(*) AS occurrences, count(DISTINCT x.session_id) AS sessions,"
        f" min(s.started_at) AS first_seen, max(s.ended_at) AS last_seen,"
        f" group_concat(DISTINCT x.kind) AS kinds {base} GROUP BY x.type, x.fingerprint"
        f" ORDER BY last_seen DESC, x.fingerprint LIMIT ? OFFSET ?", [*params, limit, offset]).fetchall()
    return rows, total


def secret_places(db: sqlite3.Connection, scope: Scope, fingerprint: str, *, session: str | None = None,
                  project: str | None = None, limit: int = 5) -> list[sqlite3.Row]:
    w = Where(scope, project)
    w.add("x.session_id = ?", session)
    where, params = w.sql, w.params
    return db.execute(
        f"SELECT x.session_id, x.turn_idx, x.step_idx, x.call_id, x.kind, s.project_root FROM secrets x"
        f" JOIN sessions s ON s.id = x.session_id WHERE x.fingerprint = ?{where}"
        f" ORDER BY s.ended_at DESC, x.session_id, x.turn_idx, x.step_idx, x.kind, x.call_id LIMIT ?",
        [fingerprint, *params, limit]).fetchall()


# -- analysis and usage (issue 5) -----------------------------------------------------------------


def analysis_input(db: sqlite3.Connection, sid: str) -> tuple[list[Any], list[Any]]:
    """One session's tool calls and turns as `engine.analysis` dataclasses (from the index rows only)."""
    calls = analysis_calls(db.execute(
        "SELECT turn_idx, step_idx, seq, call_id, name, kind, args, status, error_kind, error_message,"
        " CASE WHEN status = 'error' AND error_message IS NULL THEN substr(output, 1, 1500) END AS out_head,"
        " started_at, duration_ms, output_len, child_id FROM tools WHERE session_id = ?"
        " ORDER BY turn_idx, step_idx, seq", (sid,)), tool_shapes(db, sid))
    link_starters(db, sid, calls)
    turns = analysis_turns(
        db.execute("SELECT idx, steps, interrupted, origin, substr(text, 1, 400) AS prompt, status FROM turns"
                   " WHERE session_id = ? ORDER BY idx", (sid,)),
        db.execute("SELECT turn_idx, text, after_step, at FROM interjections WHERE session_id = ?"
                   " ORDER BY turn_idx, seq", (sid,)))
    return calls, turns


def tool_shapes(db: sqlite3.Connection, sid: str) -> ToolShapes:
    """How the tools of session `sid`'s agent spell their arguments (its provider's `tool_shapes`)."""
    row = db.execute("SELECT provider FROM sessions WHERE id = ?", (sid,)).fetchone()
    return REGISTRY.tool_shapes(row[0] if row is not None else "")


def analysis_calls(rows: Any, shapes: ToolShapes = GENERIC) -> list[Any]:
    """`analysis_input`'s tool calls from its query's rows (the same columns in both backends); `shapes`: how
    the session's agent spells its tools' arguments."""
    import orjson

    from ..engine.analysis import Call
    from ..engine.failures import error_excerpt

    calls = []
    for r in rows:
        try:
            args = orjson.loads(r["args"]) if r["args"] else None
        except orjson.JSONDecodeError:
            args = r["args"]
        err = r["error_message"] if r["error_message"] is not None else \
            (error_excerpt(r["out_head"]) if r["out_head"] else None)
        calls.append(Call(turn=r["turn_idx"], step=r["step_idx"], seq=r["seq"], call_id=r["call_id"], name=r["name"],
                          kind=r["kind"], args=args, status=r["status"], error_kind=r["error_kind"], error=err,
                          started_at=r["started_at"], duration_ms=r["duration_ms"], output_len=r["output_len"],
                          child=r["child_id"], shapes=shapes))
    return calls


def analysis_turns(turn_rows: Any, interjection_rows: Any) -> list[Any]:
    """`analysis_input`'s turns (with the messages typed in them) from its queries' rows."""
    from ..engine.analysis import TurnInfo

    said: dict[int, list[tuple[str, int, str | None]]] = {}
    for r in interjection_rows:
        said.setdefault(r["turn_idx"], []).append((r["text"], r["after_step"], r["at"]))
    return [TurnInfo(index=r["idx"], steps=r["steps"], interrupted=bool(r["interrupted"]), origin=r["origin"],
                     prompt=r["prompt"] or "", status=r["status"], interjections=said.get(r["idx"], []))
            for r in turn_rows]


def poll_starters(db: sqlite3.Connection, rows: list[Any]) -> dict[str, tuple[str, str]]:
    """For the failed calls among `rows` (tool rows) that poll a started process: call id → (the starter's call
    id, what it ran). A failed poll is that command's failure."""
    return starters_of(rows, lambda r, proc: db.execute(
        "SELECT call_id, name, kind, args, output, turn_idx, step_idx, seq FROM tools WHERE session_id = ?"
        " AND (turn_idx, step_idx, seq) < (?, ?, ?) AND instr(output, ?) > 0"
        " ORDER BY turn_idx DESC, step_idx DESC, seq DESC",
        (r["session_id"], r["turn_idx"], r["step_idx"], r["seq"], proc)))


def starters_of(rows: list[Any], candidates: Any) -> dict[str, tuple[str, str]]:
    """`poll_starters`, given `candidates(row, process id)`: the earlier calls of the row's session whose output
    names the process, latest first (each backend has its own query for them)."""
    import orjson

    from ..engine.analysis import Call, announces, describe, poll_process

    def loads(text: str | None) -> Any:
        try:
            return orjson.loads(text) if text else None
        except orjson.JSONDecodeError:
            return text

    out: dict[str, tuple[str, str]] = {}
    for r in rows:
        shapes = REGISTRY.tool_shapes(r["provider"])  # the rows carry their session's agent
        proc = poll_process(Call(turn=r["turn_idx"], step=r["step_idx"], seq=r["seq"], call_id=r["call_id"],
                                 name=r["name"], kind=r["kind"], args=loads(r["args"]), shapes=shapes))
        if proc is None:
            continue
        for c in candidates(r, proc):
            starter = Call(turn=c["turn_idx"], step=c["step_idx"], seq=c["seq"], call_id=c["call_id"],
                           name=c["name"], kind=c["kind"], args=loads(c["args"]), shapes=shapes)
            if poll_process(starter) is None and announces(c["output"], proc):
                out[r["call_id"]] = (c["call_id"], describe(starter, 120))
                break
    return out


def link_starters(db: sqlite3.Connection, sid: str, calls: list[Any]) -> None:
    """Link the polls among `calls` (analysis `Call`s of session `sid`) to the calls that started the processes
    they poll: the latest earlier call whose output (as the index keeps it) names the process id."""
    link_starters_of(calls, lambda proc: db.execute(
        "SELECT call_id, output FROM tools WHERE session_id = ? AND instr(output, ?) > 0", (sid, proc)))


def link_starters_of(calls: list[Any], outputs_naming: Any) -> None:
    """`link_starters`, given `outputs_naming(process id)`: (call_id, output) rows whose output names it."""
    from ..engine.analysis import link_polls, poll_process

    outputs: dict[str, str] = {}
    for proc in {p for p in (poll_process(c) for c in calls) if p}:
        for r in outputs_naming(proc):
            outputs[r["call_id"]] = r["output"]
    if outputs:
        link_polls(calls, outputs)


def failure_rows(db: sqlite3.Connection, scope: Scope, *, session: str | None = None, project: str | None = None,
                 provider: str | None = None, tool: str | None = None, kind: str | None = None,
                 since: str | None = None, until: str | None = None, machine: str | None = None,
                 user: str | None = None) -> list[sqlite3.Row]:
    """Every failed call matching the filters (the columns grouping needs), newest first."""
    where, params = scope.sql()
    where += scope.origin(machine, user)
    w2, p2 = project_clause(project)
    where += w2
    params += p2
    for cond, value in ((" AND t.session_id = ?", session), (" AND s.provider = ?", provider),
                        (" AND t.name = ?", tool), (" AND t.error_kind = ?", kind), (" AND t.started_at >= ?", since),
                        (" AND t.started_at <= ?", until)):
        if value:
            where += cond
            params.append(value)
    return db.execute(
        "SELECT t.session_id, t.turn_idx, t.step_idx, t.seq, t.call_id, t.name, t.kind, t.args, t.error_kind,"
        " t.exit_code, t.error_message, substr(t.output, 1, 1500) AS out_head, t.started_at,"
        " s.project_root, s.provider FROM tools t JOIN sessions s ON s.id = t.session_id"
        f" WHERE t.status = 'error'{where}"
        " ORDER BY t.started_at DESC, t.session_id, t.turn_idx DESC, t.step_idx DESC, t.seq DESC", params).fetchall()


def step_usage(db: sqlite3.Connection, sid: str, turn: int | None = None) -> list[sqlite3.Row]:
    """Steps (with their usage) of a session or of one turn, in order."""
    sql = ("SELECT turn_idx, idx, started_at, model, has_usage, input, cache_read, cache_write, output,"
           " reasoning_tokens, input + cache_read + cache_write AS context FROM steps WHERE session_id = ?")
    if turn is None:
        return db.execute(sql + " ORDER BY turn_idx, idx", (sid,)).fetchall()
    return db.execute(sql + " AND turn_idx = ? ORDER BY idx", (sid, turn)).fetchall()


_DESCENDANTS = """WITH RECURSIVE d(root, id) AS (
    SELECT p.id, c.id FROM sessions p JOIN sessions c ON c.parent_id = p.id WHERE p.id IN ({roots}) AND {scope}
    UNION SELECT d.root, c.id FROM d JOIN sessions c ON c.parent_id = d.id AND {scope})"""
_SUMS = ("count(*) AS n, coalesce(sum(c.input), 0) AS input, coalesce(sum(c.cache_read), 0) AS cache_read,"
         " coalesce(sum(c.cache_write), 0) AS cache_write, coalesce(sum(c.output), 0) AS output,"
         " coalesce(sum(c.reasoning), 0) AS reasoning, coalesce(sum(c.steps), 0) AS steps")


def descendant_totals(db: sqlite3.Connection, roots_sql: str, params: list[Any],
                      scope: Scope | None = None) -> dict[str, sqlite3.Row]:
    """Subagent sessions (at any depth, inside the scope) of each root, with their summed tokens. `roots_sql`
    selects root ids."""
    rows = db.execute(_DESCENDANTS.format(roots=roots_sql, scope=(scope or Scope()).inline("c.project_root")) +
                      f" SELECT d.root AS root, {_SUMS} FROM d JOIN sessions c ON c.id = d.id GROUP BY d.root",
                      params).fetchall()
    return {r["root"]: r for r in rows}


def model_usage(db: sqlite3.Connection, ids_sql: str, params: list[Any]) -> list[sqlite3.Row]:
    """Token sums per model over the steps of the sessions `ids_sql` selects."""
    return db.execute(
        "SELECT coalesce(model, '') AS model, count(*) AS steps, sum(input) AS input, sum(cache_read) AS cache_read,"
        " sum(cache_write) AS cache_write, sum(output) AS output, sum(reasoning_tokens) AS reasoning"
        f" FROM steps WHERE has_usage = 1 AND session_id IN ({ids_sql}) GROUP BY coalesce(model, '')"
        " ORDER BY sum(input + cache_read + cache_write + output) DESC, coalesce(model, '')", params).fetchall()


def largest_outputs(db: sqlite3.Connection, sid: str, *, after: tuple[int, int] | None = None,
                    turn: int | None = None, limit: int = 10) -> list[sqlite3.Row]:
    """The biggest tool outputs of a session (from coordinates `after` on, or of one turn), by length."""
    where = ""
    params: list[Any] = [sid]
    if after is not None:
        where += " AND (turn_idx > ? OR (turn_idx = ? AND step_idx >= ?))"
        params += [after[0], after[0], after[1]]
    if turn is not None:
        where += " AND turn_idx = ?"
        params.append(turn)
    return db.execute(
        "SELECT call_id, name, turn_idx, step_idx, output_len FROM tools"
        f" WHERE session_id = ? AND output_len > 0{where}"
        " ORDER BY output_len DESC, turn_idx, step_idx, seq LIMIT ?", [*params, limit]).fetchall()


def usage_where(scope: Scope, *, project: str | None = None, provider: str | None = None, since: str | None = None,
                until: str | None = None, machine: str | None = None,
                user: str | None = None) -> tuple[str, list[Any]]:
    """WHERE clause (over `sessions s`) of the top-level sessions a usage range covers."""
    where, params = scope.sql()
    where += scope.origin(machine, user)
    w2, p2 = project_clause(project)
    where, params = " s.parent_id IS NULL" + where + w2, params + p2
    for cond, value in ((" AND s.provider = ?", provider), (" AND s.ended_at >= ?", since),
                        (" AND s.started_at <= ?", until)):
        if value:
            where += cond
            params.append(value)
    return where, params


def usage_sessions(db: sqlite3.Connection, where: str, params: list[Any]) -> list[sqlite3.Row]:
    return db.execute(
        "SELECT s.id, s.provider, s.project_root, s.title, s.started_at, s.ended_at, s.models, s.context_window,"
        " s.steps, s.input, s.cache_read, s.cache_write, s.output, s.reasoning, s.peak_context"
        f" FROM sessions s WHERE{where} ORDER BY s.ended_at DESC, s.id", params).fetchall()


def family_sql(roots_sql: str, scope: Scope | None = None) -> str:
    """SQL selecting the sessions `roots_sql` selects (inside the scope) plus all their subagents inside it,
    at any depth: tokens of a subagent recorded under a project out of scope are not rolled in."""
    inside = (scope or Scope()).inline("r.project_root")
    below = (scope or Scope()).inline("c.project_root")
    return (f"WITH RECURSIVE fam(id) AS (SELECT r.id FROM sessions r WHERE r.id IN ({roots_sql}) AND {inside}"
            f" UNION SELECT c.id FROM fam JOIN sessions c ON c.parent_id = fam.id AND {below}) SELECT id FROM fam")


def subagents_sql(roots_sql: str, scope: Scope | None = None) -> str:
    """SQL selecting every subagent session (any depth, inside the scope) under the sessions `roots_sql`
    selects."""
    return family_sql(f"SELECT k.id FROM sessions k WHERE k.parent_id IN ({roots_sql})", scope)


def sum_sessions(db: sqlite3.Connection, ids_sql: str, params: list[Any]) -> sqlite3.Row:
    """Session count and summed tokens of the sessions `ids_sql` selects."""
    return db.execute(f"SELECT {_SUMS} FROM sessions c WHERE c.id IN ({ids_sql})", params).fetchone()


def spawned_in_turn_sql() -> str:
    """SQL (params: session id, turn index) selecting the subagent sessions a turn's tool calls spawned."""
    return "SELECT t.child_id FROM tools t WHERE t.session_id = ? AND t.turn_idx = ? AND t.child_id IS NOT NULL"


# -- following a live session and naming sessions briefly (CLI `watch`, `sessions`) ----------------


def id_neighbours(db: sqlite3.Connection, scope: Scope, sid: str) -> tuple[str | None, str | None]:
    """The session ids just before and just after `sid` in id order (within the scope): how many of its
    characters a prefix needs to name it alone."""
    where, params = scope.sql()
    row = db.execute(f"SELECT (SELECT max(s.id) FROM sessions s WHERE s.id < ?{where}),"
                     f" (SELECT min(s.id) FROM sessions s WHERE s.id > ?{where})",
                     [sid, *params, sid, *params]).fetchone()
    return row[0], row[1]


def step_from_end(db: sqlite3.Connection, sid: str, n: int) -> tuple[int, int] | None:
    """(turn, step) of a session's `n`-th step counted back from its last one (0: the last); None when the
    session has no more than `n` steps."""
    row = db.execute("SELECT turn_idx, idx FROM steps WHERE session_id = ? ORDER BY turn_idx DESC, idx DESC"
                     " LIMIT 1 OFFSET ?", (sid, n)).fetchone()
    return (row[0], row[1]) if row else None


def steps_after(db: sqlite3.Connection, sid: str, turn: int, step: int, limit: int) -> list[sqlite3.Row]:
    """The first `limit` steps of a session that come after step (turn, step), in order."""
    return db.execute("SELECT * FROM steps WHERE session_id = ? AND (turn_idx, idx) > (?, ?)"
                      " ORDER BY turn_idx, idx LIMIT ?", (sid, turn, step, limit)).fetchall()


def tools_between(db: sqlite3.Connection, sid: str, first: tuple[int, int], last: tuple[int, int]) -> list[sqlite3.Row]:
    """The tool calls of the steps from `first` to `last` (turn, step), both included, in order."""
    return db.execute("SELECT * FROM tools WHERE session_id = ? AND (turn_idx, step_idx) BETWEEN (?, ?) AND (?, ?)"
                      " ORDER BY turn_idx, step_idx, seq", (sid, *first, *last)).fetchall()


# -- the rest of the query interface (both backends have these; the API composes no SQL) --------------


def session_counts(db: sqlite3.Connection) -> dict[str, int]:
    """Sessions per provider."""
    return dict(db.execute("SELECT provider, count(*) FROM sessions GROUP BY provider").fetchall())


def family_usage(db: sqlite3.Connection, sid: str, scope: Scope) -> tuple[sqlite3.Row, list[sqlite3.Row]]:
    """A session's subagents (any depth) with their summed tokens, and the tokens per model of the session and
    all its subagents."""
    return (sum_sessions(db, subagents_sql("?", scope), [sid]), model_usage(db, family_sql("?", scope), [sid]))


def turn_family_usage(db: sqlite3.Connection, sid: str, turn: int,
                      scope: Scope) -> tuple[sqlite3.Row, list[sqlite3.Row]]:
    """The subagents a turn's tool calls spawned (any depth) with their summed tokens, and the tokens per model
    of the session and those subagents."""
    spawned = family_sql(spawned_in_turn_sql(), scope)
    return (sum_sessions(db, spawned, [sid, turn]),
            model_usage(db, f"SELECT ? UNION SELECT x.id FROM ({spawned}) x", [sid, sid, turn]))


def range_usage(db: sqlite3.Connection, scope: Scope, *, project: str | None = None, provider: str | None = None,
                since: str | None = None, until: str | None = None, machine: str | None = None,
                user: str | None = None) -> tuple[list[sqlite3.Row], sqlite3.Row, list[sqlite3.Row]]:
    """The top-level sessions of a usage range (newest first), their subagents' summed tokens, and the tokens
    per model of all of them."""
    where, params = usage_where(scope, project=project, provider=provider, since=since, until=until,
                                machine=machine, user=user)
    roots = f"SELECT s.id FROM sessions s WHERE{where}"
    return (usage_sessions(db, where, params), sum_sessions(db, subagents_sql(roots, scope), params),
            model_usage(db, family_sql(roots, scope), params))


def subagent_totals(db: sqlite3.Connection, rows: list[Any], scope: Scope) -> list[sqlite3.Row | None]:
    """For each of these `range_usage` rows: its subagents (any depth) and their summed tokens (None: none)."""
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    found = descendant_totals(db, ",".join("?" * len(ids)), ids, scope)
    return [found.get(i) for i in ids]


def interjection_text(db: sqlite3.Connection, sid: str, turn: int, seq: int) -> tuple[str, int] | None:
    """(text as kept, whole length) of a message typed mid-turn."""
    r = db.execute("SELECT text, text_len FROM interjections WHERE session_id = ? AND turn_idx = ? AND seq = ?",
                   (sid, turn, seq)).fetchone()
    return (r[0], r[1]) if r else None


def step_text(db: sqlite3.Connection, sid: str, turn: int, step: int | None,
              field: str) -> tuple[str | None, int] | None:
    """(text as kept, whole length) of a step's `message` or `reasoning`."""
    assert field in ("message", "reasoning")
    r = db.execute(f"SELECT {field}, {field}_len FROM steps WHERE session_id = ? AND turn_idx = ? AND idx = ?",
                   (sid, turn, step)).fetchone()
    return (r[0], r[1]) if r else None


def log_stamp(db: sqlite3.Connection, sid: str) -> tuple[int, int] | None:
    """(size, mtime) of the session's log as last read: what a text read from it is valid for."""
    r = db.execute("SELECT f.size, f.mtime_ns FROM sessions s JOIN files f ON f.id = s.file_id WHERE s.id = ?",
                   (sid,)).fetchone()
    return (r[0], r[1]) if r else None
