"""The Python API. The CLI and the MCP tools are thin shells over this class.

    from agtrace_mcp.api import Agtrace
    at = Agtrace.from_env()
    at.list_sessions(project="/home/me/app", has_failures=True)

Every query first refreshes the index (throttled), so a caller sees the step its agent just took. Every
answer is bounded by the output budget: lists are cut (with `next_cursor`), long texts are cut head+tail
(the rest is one `get_tool_output` call away), and what was cut is said in `truncated`/`note`.
Expected failures raise typed errors (`errors.py`) whose message says what to call instead.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from . import model as m
from . import redact
from .config import Config
from .engine.failures import error_excerpt
from .engine.text import cut_middle, snippet
from .engine.timeutil import parse_user_time
from .errors import BadArgumentError, NotFoundError
from .model import ERROR_KINDS, PROVIDERS
from .providers import REGISTRY, SourceFile
from .store import Store
from .store import queries as q
from .views import (
    Compaction, CurrentSession, DoctorReport, FailedTool, FailureList, ProjectInfo, ProjectList, ProviderHealth,
    SearchHit, SearchResults, SecretFinding, SecretFindings, SecretPlace, SessionDetail, SessionList, SessionSummary, StepDetail, ToolDetail, ToolErrorView,
    ToolOutput, ToolUse, TurnDetail, TurnOutline, UserView,
)

V = TypeVar("V", bound=BaseModel)
MAX_LIMIT = 200
SEARCH_KINDS = ("prompt", "message", "reasoning", "tool_call", "tool_output")


class Agtrace:
    def __init__(self, config: Config | None = None, store: Store | None = None) -> None:
        self.config = config or Config.load()
        self._store = store

    @classmethod
    def from_env(cls, **overrides: Any) -> Agtrace:
        return cls(Config.load(**overrides))

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.config)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _fresh(self) -> None:
        self.store.refresh(wait=False)

    def refresh(self, *, rebuild: bool = False,
                progress: Callable[[int, int, str], None] | None = None) -> Any:
        """Index what changed in the logs now (the explicit form of the freshness check every query does)."""
        if rebuild:
            return self.store.rebuild(progress=progress)
        return self.store.refresh(force=True, wait=True, progress=progress)

    def _out(self, view: V) -> V:
        return redact.mask_model(view) if self.config.redact else view  # type: ignore[return-value]

    # -- sessions -------------------------------------------------------------------------------

    def resolve(self, session_id: str) -> str:
        """A full session id or unique prefix (≥ 6 chars) → the full id."""
        self._fresh()
        with self.store.read() as db:
            return q.resolve_session(db, session_id, self.store.scope)  # type: ignore[arg-type]

    def list_sessions(self, *, project: str | None = None, provider: str | None = None, since: str | None = None,
                      until: str | None = None, query: str | None = None, has_failures: bool | None = None,
                      include_subagents: bool = False, limit: int = 20, cursor: str | None = None) -> SessionList:
        """Sessions, newest activity first."""
        limit = _limit(limit)
        provider = _provider(provider)
        since_c, until_c = _time(since, "since"), _time(until, "until")
        filters = ("sessions", project, provider, since_c, until_c, query, has_failures, include_subagents)
        offset = _uncursor(cursor, filters)
        self._fresh()
        with self.store.read() as db:
            rows, total = q.list_sessions(db, self.store.scope, project=project, provider=provider,  # type: ignore[arg-type]
                                          since=since_c, until=until_c, query=query, has_failures=has_failures,
                                          include_subagents=include_subagents, limit=limit, offset=offset)
        items = [_summary(r) for r in rows]

        def build(k: int) -> SessionList:
            more = offset + k < total
            return SessionList(sessions=items[:k], total=total,
                               next_cursor=_cursor(filters, offset + k) if more else None,
                               truncated=k < len(items),
                               note=_join(None if k == len(items) else f"cut to {k} sessions to fit the output budget",
                                          self.store.indexing_note()))
        return self._out(self._fit(build, len(items)))

    def get_session(self, session_id: str, *, cursor: str | None = None, turn_limit: int = 50) -> SessionDetail:
        """Metadata, stats, subagents and an outline of the turns (paged)."""
        turn_limit = _limit(turn_limit)
        sid = self.resolve(session_id)
        filters = ("turns", sid)
        offset = _uncursor(cursor, filters)
        with self.store.read() as db:
            row = q.session_row(db, sid)  # type: ignore[arg-type]
            kids = q.children(db, sid)  # type: ignore[arg-type]
            trows = q.turns(db, sid, offset, offset + turn_limit)  # type: ignore[arg-type]
            counts = q.tool_counts(db, sid, offset, offset + turn_limit)  # type: ignore[arg-type]
            comps = q.compactions(db, sid)  # type: ignore[arg-type]
        total = row["turns"]
        outline = [_outline(t, counts.get(t["idx"], [])) for t in trows]

        def build(k: int) -> SessionDetail:
            more = offset + k < total
            return SessionDetail(
                session=_summary(row), cli_version=row["cli_version"], stats=_stats(row),
                context_window=row["context_window"], subagents=[_summary(k_) for k_ in kids[:50]],
                compactions=[Compaction(turn_index=c["turn_idx"], at=c["at"], trigger=c["trigger"],
                                        pre_tokens=c["pre_tokens"]) for c in comps],
                turns=outline[:k], turns_total=total, next_cursor=_cursor(filters, offset + k) if more else None,
                truncated=k < len(outline),
                note=(f"{len(kids)} subagents; " if len(kids) > 50 else "") +
                     ("call get_turn(session_id, turn_index) for a turn in full" if outline else "no turns recorded"))
        return self._out(self._fit(build, len(outline)))

    def current_session(self, project: str, provider: str | None = None) -> CurrentSession:
        """The newest top-level session of a project directory: "which session am I?"."""
        provider = _provider(provider)
        if not project:
            raise BadArgumentError("project is empty; pass your working directory (an absolute path)")
        self._fresh()
        with self.store.read() as db:
            row = q.current_session(db, self.store.scope, project, provider)  # type: ignore[arg-type]
            if row is None:
                raise NotFoundError(f"no session recorded for project {project!r}"
                                    + (f" and provider {provider}" if provider else "")
                                    + "; call list_projects to see the recorded project roots")
            last = None
            if row["turns"]:
                t = q.turns(db, row["id"], row["turns"] - 1, row["turns"])  # type: ignore[arg-type]
                c = q.tool_counts(db, row["id"], row["turns"] - 1, row["turns"])  # type: ignore[arg-type]
                last = _outline(t[0], c.get(t[0]["idx"], [])) if t else None
        return self._out(CurrentSession(session=_summary(row), latest_turn=last,
                                        note="the session with the most recent activity in this project; "
                                             "call get_turn(session_id, -1) for its latest turn"))

    # -- turns ----------------------------------------------------------------------------------

    def get_turn(self, session_id: str, turn_index: int, *, cursor: str | None = None) -> TurnDetail:
        """One turn in full: prompt, every step's reasoning, message, tool calls, outputs, failures, usage."""
        sid = self.resolve(session_id)
        with self.store.read() as db:
            srow = q.session_row(db, sid)  # type: ignore[arg-type]
            n = srow["turns"]
            idx = turn_index + n if turn_index < 0 else turn_index
            if n == 0:
                raise NotFoundError(f"session {sid} has no turns; call get_session to see what it holds")
            if not 0 <= idx < n:
                raise NotFoundError(f"turn {turn_index} is out of range: session {sid} has {n} turns "
                                    f"(0..{n - 1}, or -1 for the latest)")
            trow = q.turn_row(db, sid, idx)  # type: ignore[arg-type]
            srows = q.steps(db, sid, idx)  # type: ignore[arg-type]
            tool_rows = q.tools_of_turn(db, sid, idx)  # type: ignore[arg-type]
        assert trow is not None
        filters = ("turn", sid, idx)
        first = _uncursor(cursor, filters)
        by_step: dict[int, list[Any]] = {}
        for t in tool_rows:
            by_step.setdefault(t["step_idx"], []).append(t)
        srows = [s for s in srows if s["idx"] >= first]
        stats = _turn_stats(trow)

        def build_with(cap: int) -> Callable[[int], TurnDetail]:
            def build(k: int) -> TurnDetail:
                steps = [_step(s, by_step.get(s["idx"], []), cap) for s in srows[:k]]
                more = k < len(srows)
                notes = []
                if more:
                    notes.append(f"steps from {srows[k]['idx']} on were left out to fit the output budget; "
                                 "pass next_cursor to get them")
                if any(t.output_truncated or t.args_truncated for s in steps for t in s.tools):
                    notes.append("long outputs/arguments are cut head+tail; call get_tool_output(session_id, "
                                 "call_id) for the full text")
                return TurnDetail(
                    session_id=sid, index=idx, turns_total=n, started_at=trow["started_at"], ended_at=trow["ended_at"],
                    user=UserView(text=cut_middle(trow["text"], cap * 2), origin=trow["origin"],
                                  slash_command=trow["slash"]),
                    interrupted=bool(trow["interrupted"]), steps=steps, stats=stats,
                    next_cursor=_cursor(filters, srows[k]["idx"]) if more else None,
                    truncated=more or any(t.output_truncated for s_ in steps for t in s_.tools),
                    note="; ".join(notes) or None)
            return build

        # Shrink the per-field cap first, then drop trailing steps (they stay reachable through the cursor).
        for cap in (4000, 2000, 1000, 500, 240):
            view = build_with(cap)(len(srows))
            if self._size(view) <= self.config.budget_chars:
                return self._out(view)
        return self._out(self._fit(build_with(240), len(srows), minimum=1))

    def get_tool_output(self, session_id: str, call_id: str, *, field: str = "output", offset: int = 0,
                        limit: int = 20_000) -> ToolOutput:
        """The full text of one tool output (or its arguments), paged by character offset."""
        if field not in ("output", "args"):
            raise BadArgumentError(f"field must be 'output' or 'args', not {field!r}")
        if offset < 0:
            raise BadArgumentError("offset must be ≥ 0")
        limit = max(1, min(limit, self.config.budget_chars - 2000))
        sid = self.resolve(session_id)
        with self.store.read() as db:
            row = q.tool_row(db, sid, call_id)  # type: ignore[arg-type]
        if row is None:
            raise NotFoundError(f"no tool call {call_id!r} in session {sid}; call get_turn to see its call ids")
        text, source = _full_tool_text(row, field)
        if offset > len(text):
            raise BadArgumentError(f"offset {offset} is past the end ({len(text)} chars)")
        chunk = text[offset: offset + limit]
        nxt = offset + len(chunk)
        return self._out(ToolOutput(session_id=sid, call_id=call_id, field=field, offset=offset, text=chunk,  # type: ignore[arg-type]
                                    total_chars=len(text), next_offset=nxt if nxt < len(text) else None,
                                    source=source))  # type: ignore[arg-type]

    # -- failures and search --------------------------------------------------------------------

    def find_failed_tools(self, *, session_id: str | None = None, project: str | None = None,
                          provider: str | None = None, tool: str | None = None, kind: str | None = None,
                          since: str | None = None, limit: int = 20, cursor: str | None = None) -> FailureList:
        """Failed tool executions, newest first, with coordinates and an error excerpt."""
        limit = _limit(limit)
        provider = _provider(provider)
        if kind is not None and kind not in ERROR_KINDS:
            raise BadArgumentError(f"unknown error kind {kind!r}; use one of {', '.join(ERROR_KINDS)}")
        sid = self.resolve(session_id) if session_id else None
        since_c = _time(since, "since")
        filters = ("failures", sid, project, provider, tool, kind, since_c)
        offset = _uncursor(cursor, filters)
        self._fresh()
        with self.store.read() as db:
            rows, total = q.failed_tools(db, self.store.scope, session=sid, project=project, provider=provider,  # type: ignore[arg-type]
                                         tool=tool, kind=kind, since=since_c, limit=limit, offset=offset)
        items = [FailedTool(
            session_id=r["session_id"], provider=r["provider"], project_root=r["project_root"],
            turn_index=r["turn_idx"], step_index=r["step_idx"], call_id=r["call_id"], tool=r["name"],
            error_kind=r["error_kind"], exit_code=r["exit_code"],
            error=snippet(r["error_message"] or error_excerpt(r["output"] or ""), 400),
            args_preview=snippet(r["args"] or "", 240), at=r["started_at"]) for r in rows]

        def build(k: int) -> FailureList:
            more = offset + k < total
            return FailureList(failures=items[:k], total=total,
                               next_cursor=_cursor(filters, offset + k) if more else None,
                               truncated=k < len(items),
                               note=_join(None if k == len(items) else f"cut to {k} failures to fit the output budget",
                                          self.store.indexing_note()))
        return self._out(self._fit(build, len(items)))

    def search_history(self, query: str, *, session_id: str | None = None, project: str | None = None,
                       provider: str | None = None, kind: str | list[str] | None = None, since: str | None = None,
                       until: str | None = None, limit: int = 20, cursor: str | None = None) -> SearchResults:
        """Full-text search over prompts, messages, reasoning, tool calls and outputs."""
        limit = _limit(limit)
        provider = _provider(provider)
        kinds = [kind] if isinstance(kind, str) else (list(kind) if kind else None)
        for k in kinds or []:
            if k not in SEARCH_KINDS:
                raise BadArgumentError(f"unknown kind {k!r}; use one of {', '.join(SEARCH_KINDS)}")
        sid = self.resolve(session_id) if session_id else None
        since_c, until_c = _time(since, "since"), _time(until, "until")
        filters = ("search", query, sid, project, provider, tuple(kinds or ()), since_c, until_c)
        offset = _uncursor(cursor, filters)
        q.fts_query(query)  # validates
        self._fresh()
        with self.store.read() as db:
            rows = q.search(db, self.store.scope, query, session=sid, project=project, provider=provider,  # type: ignore[arg-type]
                            kinds=kinds, since=since_c, until=until_c, limit=limit + 1, offset=offset)
        more_rows = len(rows) > limit
        rows = rows[:limit]
        items = [SearchHit(session_id=r["session_id"], turn_index=r["turn_idx"],
                           step_index=None if r["step_idx"] < 0 else r["step_idx"], call_id=r["call_id"],
                           kind=r["kind"], snippet=self._snippet(r["text"], query), provider=r["provider"],
                           project_root=r["project_root"], session_title=snippet(r["title"], 120),
                           at=r["turn_started_at"]) for r in rows]

        def build(k: int) -> SearchResults:
            more = k < len(items) or more_rows
            return SearchResults(hits=items[:k], next_cursor=_cursor(filters, offset + k) if more else None,
                                 truncated=k < len(items),
                                 note=_join("call get_turn(session_id, turn_index) to read a hit in context" if items
                                            else "no hits; try fewer or different words, or a word prefix like 'pars*'",
                                            self.store.indexing_note()))
        return self._out(self._fit(build, len(items)))

    def list_projects(self, *, limit: int = 50, cursor: str | None = None) -> ProjectList:
        """Project roots with session counts and last activity."""
        limit = _limit(limit)
        filters = ("projects",)
        offset = _uncursor(cursor, filters)
        self._fresh()
        with self.store.read() as db:
            rows, total = q.projects(db, self.store.scope, limit, offset)  # type: ignore[arg-type]
        items = [ProjectInfo(project_root=r["project_root"], sessions=r["sessions"],
                             providers=sorted((r["providers"] or "").split(",")), first_activity=r["first_activity"],
                             last_activity=r["last_activity"], turns=r["turns"] or 0,
                             failed_tools=r["failed_tools"] or 0) for r in rows]

        def build(k: int) -> ProjectList:
            more = offset + k < total
            return ProjectList(projects=items[:k], total=total, next_cursor=_cursor(filters, offset + k) if more else None,
                               truncated=k < len(items))
        return self._out(self._fit(build, len(items)))

    def secret_findings(self, *, session_id: str | None = None, project: str | None = None, limit: int = 50,
                        cursor: str | None = None) -> SecretFindings:
        """Where credentials appear in the history (type, fingerprint, places) so they can be rotated.

        Never returns a value. Scans what the index keeps of every text (whole prompts, messages and
        arguments up to 16 KB; the first 2 KB and last 500 chars of each tool output).
        """
        limit = _limit(limit)
        sid = self.resolve(session_id) if session_id else None
        filters = ("secrets", sid, project)
        offset = _uncursor(cursor, filters)
        self._fresh()
        with self.store.read() as db:
            rows, total = q.secret_findings(db, self.store.scope, session=sid, project=project,  # type: ignore[arg-type]
                                            limit=limit, offset=offset)
            places = {r["fingerprint"]: q.secret_places(db, self.store.scope, r["fingerprint"], session=sid,  # type: ignore[arg-type]
                                                        project=project) for r in rows}
        items = [SecretFinding(
            type=r["type"], fingerprint=r["fingerprint"], occurrences=r["occurrences"], sessions=r["sessions"],
            first_seen=r["first_seen"], last_seen=r["last_seen"], found_in=sorted((r["kinds"] or "").split(",")),
            examples=[SecretPlace(session_id=p["session_id"], turn_index=p["turn_idx"],
                                  step_index=None if p["step_idx"] < 0 else p["step_idx"], call_id=p["call_id"],
                                  found_in=p["kind"], project_root=p["project_root"]) for p in places[r["fingerprint"]]])
            for r in rows]

        def build(k: int) -> SecretFindings:
            more = offset + k < total
            return SecretFindings(findings=items[:k], total=total,
                                  next_cursor=_cursor(filters, offset + k) if more else None, truncated=k < len(items),
                                  note="rotate these credentials; values are never returned" if items else
                                  "no credentials found in the indexed history")
        # fingerprints are not secrets: no masking pass (it would not change them anyway)
        return self._fit(build, len(items))

    # -- whole sessions (CLI `show`) -------------------------------------------------------------

    def load_session(self, session_id: str) -> m.Session:
        """The full session model, read from its log file (not from the index previews)."""
        sid = self.resolve(session_id)
        with self.store.read() as db:
            row = q.session_row(db, sid)  # type: ignore[arg-type]
            frow = db.execute("SELECT provider, kind, parent FROM files WHERE id = ?", (row["file_id"],)).fetchone()  # type: ignore[attr-defined]
        path = row["file_path"]
        if not row["on_disk"]:
            raise NotFoundError(f"the log of session {sid} ({path}) is no longer on disk; get_session and "
                                "get_turn still answer from the index")
        from .engine import load_file_source
        for s in load_file_source(SourceFile(path, frow["provider"], frow["kind"], frow["parent"])):
            if s.session_id == sid:
                return s
        raise NotFoundError(f"session {sid} is no longer in {path}; run `agtrace-mcp index` to refresh")

    # -- health ---------------------------------------------------------------------------------

    def doctor(self) -> DoctorReport:
        """Per provider: files and lines read, unknown record types, lines that could not be parsed."""
        rep = self.refresh()
        with self.store.read() as db:
            rows = q.file_report(db)  # type: ignore[arg-type]
            counts = dict(db.execute("SELECT provider, count(*) FROM sessions GROUP BY provider").fetchall())  # type: ignore[attr-defined]
        out: dict[str, ProviderHealth] = {}
        for name in REGISTRY:
            out[name] = ProviderHealth(provider=name, roots=[str(p) for p in self.config.roots.get(name, [])], files=0,
                                       files_gone=0, lines=0, records=0, bad_lines=0, torn_tails=0, unknown_types={},
                                       skipped={}, bad_samples=[], sessions=counts.get(name, 0))
        for r in rows:
            h = out.get(r["provider"])
            if h is None:
                continue
            h.files += 1
            h.files_gone += 0 if r["on_disk"] else 1
            h.lines += r["lines"]
            h.records += r["records"]
            h.bad_lines += r["bad_lines"]
            h.torn_tails += r["torn_tail"]
            rep_ = orjson.loads(r["report"]) if r["report"] else {}
            for k, v in rep_.get("unknown", {}).items():
                h.unknown_types[k] = h.unknown_types.get(k, 0) + v
            for k, v in rep_.get("skipped", {}).items():
                h.skipped[k] = h.skipped.get(k, 0) + v
            for smp in rep_.get("bad_samples", []):
                if len(h.bad_samples) < 10:
                    h.bad_samples.append({"file": r["path"], "offset": smp[0], "reason": smp[1], "preview": smp[2]})
        path = self.config.db_path
        size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
        return self._out(DoctorReport(index_path=str(path), index_bytes=size, providers=list(out.values()),
                                      refresh_seconds=rep.seconds if rep else None))

    def _snippet(self, text: str, query: str) -> str:
        """A window of `text` around the first query term, terms marked «like this».

        Built here rather than by FTS5's snippet(): the text is masked first, so a snippet can never
        show part of a secret that the window happened to cut.
        """
        if self.config.redact:
            text = redact.mask(text)
        return highlight(text, query)

    # -- budget ---------------------------------------------------------------------------------

    @staticmethod
    def _size(view: BaseModel) -> int:
        return len(view.model_dump_json())

    def _fit(self, build: Callable[[int], V], n: int, minimum: int = 0) -> V:
        """The view with the most items (≤ n) whose JSON fits the budget (at least `minimum`)."""
        budget = self.config.budget_chars
        full = build(n)
        if n == 0 or self._size(full) <= budget:
            return full
        lo, hi = minimum, n - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._size(build(mid)) <= budget:
                lo = mid
            else:
                hi = mid - 1
        return build(lo)


# -- helpers --------------------------------------------------------------------------------------


def highlight(text: str, query: str, width: int = 240) -> str:
    terms = [t.rstrip("*").strip('"').lower() for t in query.split() if t.rstrip("*").strip('"')]
    low = text.lower()
    hits = [(low.find(t), t) for t in terms if low.find(t) >= 0]
    start = min(hits)[0] if hits else 0
    a = max(0, start - width // 3)
    b = min(len(text), a + width)
    window = " ".join(text[a:b].split())
    for t in sorted({t for _, t in hits}, key=len, reverse=True):
        window = re.sub(re.escape(t), lambda m: f"«{m.group(0)}»", window, flags=re.IGNORECASE)
    return ("…" if a > 0 else "") + window + ("…" if b < len(text) else "")


def _join(*notes: str | None) -> str | None:
    return "; ".join(n for n in notes if n) or None


def _limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise BadArgumentError(f"limit must be a positive integer (1..{MAX_LIMIT}), not {limit!r}")
    return min(limit, MAX_LIMIT)


def _provider(p: str | None) -> str | None:
    if p in (None, ""):
        return None
    aliases = {"claude": "claude_code", "gemini": "gemini_cli", "copilot": "copilot_cli", "agy": "antigravity"}
    p = aliases.get(p, p)  # type: ignore[arg-type]
    if p not in PROVIDERS:
        raise BadArgumentError(f"unknown provider {p!r}; use one of {', '.join(PROVIDERS)}")
    return p


def _time(value: str | None, name: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return parse_user_time(value)  # type: ignore[arg-type]
    except ValueError as e:
        raise BadArgumentError(f"{name}: {e}") from None


def _fkey(filters: tuple[Any, ...]) -> str:
    return hashlib.blake2s(orjson.dumps(list(filters), default=str), digest_size=6).hexdigest()


def _cursor(filters: tuple[Any, ...], offset: int) -> str:
    raw = orjson.dumps({"o": offset, "f": _fkey(filters)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _uncursor(cursor: str | None, filters: tuple[Any, ...]) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        d = orjson.loads(raw)
        offset = d["o"]
        ok = isinstance(offset, int) and offset >= 0 and d["f"] == _fkey(filters)
    except Exception:
        ok = False
    if not ok:
        raise BadArgumentError("bad cursor: pass the next_cursor from the previous call, with the same other "
                               "arguments (or omit cursor to start from the first page)")
    return offset


def _summary(r: Any) -> SessionSummary:
    return SessionSummary(
        session_id=r["id"], provider=r["provider"], project_root=r["project_root"], title=r["title"] or "",
        started_at=r["started_at"], ended_at=r["ended_at"], turns=r["turns"], tool_calls=r["tool_calls"],
        failed_tools=r["failed_tools"], models=orjson.loads(r["models"] or "[]"), git_branch=r["git_branch"],
        parent_session_id=r["parent_id"], agent_name=r["agent_name"], on_disk=bool(r["on_disk"]))


def _stats(r: Any) -> m.Stats:
    from .engine.timeutil import ms_between
    return m.Stats(turns=r["turns"], steps=r["steps"], tool_calls=r["tool_calls"], failed_tools=r["failed_tools"],
                   input=r["input"], cache_read=r["cache_read"], cache_write=r["cache_write"], output=r["output"],
                   reasoning=r["reasoning"], peak_context_tokens=r["peak_context"],
                   duration_ms=ms_between(r["started_at"], r["ended_at"]))


def _turn_stats(t: Any) -> m.Stats:
    from .engine.timeutil import ms_between
    return m.Stats(turns=1, steps=t["steps"], tool_calls=t["tool_calls"], failed_tools=t["failed_tools"],
                   input=t["input"], cache_read=t["cache_read"], cache_write=t["cache_write"], output=t["output"],
                   reasoning=t["reasoning"], peak_context_tokens=t["peak_context"],
                   duration_ms=ms_between(t["started_at"], t["ended_at"]))


def _outline(t: Any, counts: list[tuple[str, int, int]]) -> TurnOutline:
    return TurnOutline(index=t["idx"], started_at=t["started_at"], ended_at=t["ended_at"], origin=t["origin"],
                       prompt=snippet(t["text"], 300), steps=t["steps"],
                       tools=[ToolUse(name=n, ok=ok, failed=f) for n, ok, f in counts[:20]],
                       failed_tools=t["failed_tools"], interrupted=bool(t["interrupted"]),
                       final_answer=snippet(t["final_message"], 300) or None)


def _step(s: Any, tools: list[Any], cap: int) -> StepDetail:
    usage = None
    if s["has_usage"]:
        usage = m.Usage(input=s["input"], cache_read=s["cache_read"], cache_write=s["cache_write"],
                        output=s["output"], reasoning=s["reasoning_tokens"])
    return StepDetail(index=s["idx"], started_at=s["started_at"], model=s["model"], status=s["status"],
                      reasoning=cut_middle(s["reasoning"], cap, "; the index keeps 16 KB") if s["reasoning"] else None,
                      message=cut_middle(s["message"], cap * 2, "; the index keeps 16 KB") if s["message"] else None,
                      tools=[_tool(t, cap) for t in tools], usage=usage)


def _tool(t: Any, cap: int) -> ToolDetail:
    args: Any = orjson.loads(t["args"]) if t["args"] else None
    if args is not None and not isinstance(args, (dict, str)):
        args = orjson.dumps(args).decode()
    args_cut = t["args_len"] > len(t["args"] or "")
    if args is not None and len(t["args"]) > cap:
        args = _cap_json(args, max(80, cap // 4))
        args_cut = True
    out = t["output"] or ""
    shown = cut_middle(out, cap, "; call get_tool_output for the full text") if len(out) > cap else out
    err = None
    if t["status"] == "error":
        err = ToolErrorView(kind=t["error_kind"] or "tool_error", exit_code=t["exit_code"],
                            message=snippet(t["error_message"] or "", 400))
    return ToolDetail(call_id=t["call_id"], name=t["name"], kind=t["kind"], args=args, args_truncated=args_cut,
                      status=t["status"], error=err, output=shown, output_chars=t["output_len"],
                      output_truncated=t["output_len"] > len(shown) or shown is not out,
                      started_at=t["started_at"], duration_ms=t["duration_ms"], child_session_id=t["child_id"])


def _cap_json(v: Any, cap: int) -> Any:
    from .store.sink import cap_strings
    return cap_strings(v, cap)


def _full_tool_text(row: Any, field: str) -> tuple[str, str]:
    """The full output (or arguments) of one tool call, from its log; the index preview if the log is gone."""
    src = SourceFile(row["file_path"], row["provider"], row["file_kind"], row["file_parent"])
    prov = REGISTRY[row["provider"]]
    try:
        if field == "output" and row["out_off"] >= 0:
            text = prov.read_output(src, row["out_off"], row["call_id"])
            if text is not None:
                return text, "log"
        from .engine import load_file_source
        for s in load_file_source(src):
            if s.session_id != row["session_id"]:
                continue
            for turn in s.turns:
                for step in turn.steps:
                    for t in step.tools:
                        if t.call_id == row["call_id"]:
                            if field == "output":
                                return t.output, "log"
                            return (t.args if isinstance(t.args, str) else
                                    orjson.dumps(t.args, option=orjson.OPT_INDENT_2).decode()), "log"
    except OSError:
        pass
    if field == "output":
        return row["output"] or "", "index"
    return row["args"] or "", "index"

