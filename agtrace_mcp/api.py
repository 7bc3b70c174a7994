"""The Python API. The CLI and the MCP tools are thin shells over this class.

    from agtrace_mcp.api import Agtrace
    at = Agtrace.from_env()
    at.list_sessions(project="/home/me/app", has_failures=True)

Every query first refreshes the index (throttled), so a caller sees the step its agent just took. Every
answer is bounded by the output budget: lists are cut (with `next_cursor`), long texts are cut head+tail
(the rest is one `get_text` call away, and the cut says which), and what was cut is said in `truncated`/`note`.
Expected failures raise typed errors (`errors.py`) whose message says what to call instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from . import model as m
from . import redact
from . import rowviews as rv
from .arguments import (
    check_limit,
    check_project,
    check_provider,
    check_range,
    checked,
    cursor_for,
    cursor_offset,
)
from .config import Config
from .engine.analysis import KINDS as ANALYSIS_KINDS
from .engine.analysis import Thresholds, analyze, normalize_error
from .engine.failures import error_excerpt
from .engine.text import cut_middle, snippet
from .engine.usage import StepPoint
from .errors import (
    LOG_GONE,
    LOG_REWRITTEN,
    RANGE_OR_SESSION,
    READ_A_TURN,
    SEE_CALL_IDS,
    SEE_PROJECTS,
    SEE_SESSION,
    TURN_NEEDS_SESSION,
    BadArgumentError,
    NotFoundError,
)
from .model import ERROR_KINDS
from .providers import REGISTRY
from .store import IndexState, Store, logs
from .store import Progress as Progress
from .store.ingest import discover
from .store.rows import TEXT_CAP
from .views import (
    AnalysisThresholds,
    Compaction,
    CurrentSession,
    DoctorReport,
    FailedTool,
    FailureExample,
    FailureGroup,
    FailureList,
    Finding,
    IndexIncomplete,
    LogLocation,
    PluginProblem,
    ProjectInfo,
    ProjectList,
    ProviderHealth,
    SearchHit,
    SearchResults,
    SecretFinding,
    SecretFindings,
    SecretPlace,
    SessionAnalysis,
    SessionDetail,
    SessionList,
    SessionUsage,
    StepDetail,
    StepFeed,
    StepUsage,
    TextPage,
    TurnDetail,
    TurnStart,
    TurnStep,
    TurnUsage,
    UsageReport,
    UserView,
)

V = TypeVar("V", bound=BaseModel)
OUTLINE_OVER = 30  # a turn of more steps comes as an outline unless `detail` says otherwise
CAPS = (1 << 30, 16_000, 8_000, 6_000, 4_000, 3_000, 2_000)  # field caps tried in turn, biggest first
TEXT_FIELDS = ("prompt", "final_answer", "interjection", "message", "reasoning", "args", "output")
FAILURE_GROUPS = ("tool", "error_kind", "error", "project")
MAX_CALL_IDS = 10
SEARCH_KINDS = ("prompt", "message", "reasoning", "tool_call", "tool_output")


_PROGRESS: ContextVar[Progress | None] = ContextVar("agtrace_progress", default=None)


def _progress_cb() -> Progress | None:
    return _PROGRESS.get()


def _incomplete(state: IndexState) -> IndexIncomplete | None:
    if state.complete:
        return None
    return IndexIncomplete(files_pending=state.files_pending, mb_pending=round(state.bytes_pending / 1e6, 1),
                           message=f"{state.message()}; this answer covers only the logs read so far, ask again "
                                   "shortly for a complete one")


class Agtrace:
    def __init__(self, config: Config | None = None, store: Store | None = None) -> None:
        self.config = config or Config.load()
        self._store = store

    @classmethod
    def from_env(cls, **overrides: Any) -> Agtrace:
        return cls(Config.load(**overrides))

    @property
    def store(self) -> Store:
        """The history this API answers from: the local index (`Store`), or a team database (`--store
        postgresql://…`: `store.postgres.PgStore`, given to the constructor)."""
        if self._store is None:
            self._store = Store(self.config)
        return self._store

    @property
    def team(self) -> bool:
        """Whether this API answers from a team database (many machines' sessions) rather than this machine's
        index."""
        return self._store is not None and not isinstance(self._store, Store)

    @property
    def q(self) -> Any:
        """The store's read queries (`store/queries.py` for the local index, `store/postgres/queries.py` for a
        team database): the same functions, arguments and row keys, each in its own SQL."""
        return self.store.queries

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- the index behind every answer ----------------------------------------------------------

    @contextmanager
    def reporting(self, progress: Progress | None) -> Iterator[None]:
        """Within this block, a call that waits for the index reports `progress(done, total, message)`
        (bytes of logs read); the MCP tools pass the client's progress notifications here."""
        token = _PROGRESS.set(progress)
        try:
            yield
        finally:
            _PROGRESS.reset(token)

    def _deadline(self) -> float | None:
        w = self.config.wait_seconds
        return None if w is None else time.monotonic() + w

    def _complete(self) -> IndexIncomplete | None:
        """Wait (up to `wait_seconds`) until the index holds every log; None when it does, else what is left,
        which the answer then carries in `index_incomplete`."""
        return _incomplete(self.store.sync(deadline=self._deadline(), progress=_progress_cb()))

    def _known_state(self) -> IndexIncomplete | None:
        """For answers about one session: whether the rest of the index is complete, without waiting."""
        return _incomplete(self.store.peek())

    def refresh(self, *, rebuild: bool = False,
                progress: Callable[[int, int, str], None] | None = None) -> Any:
        """Index what changed in the logs now (the explicit form of the freshness check every query does)."""
        if self.store.read_only:  # reported like a full disk: what is indexed still answers
            from .store.ingest import RefreshReport

            return RefreshReport(errors=[f"the index cannot be updated: {self.store.read_only}; set "
                                         "AGTRACE_MCP_DATA_DIR (or --data-dir) to a writable folder to index the logs"])
        if rebuild:
            return self.store.rebuild(progress=progress)
        return self.store.refresh(force=True, wait=True, progress=progress)

    def _out(self, view: V) -> V:
        return redact.mask_model(view) if self.config.redact else view  # type: ignore[return-value]

    # -- sessions -------------------------------------------------------------------------------

    def resolve(self, session_id: str) -> str:
        """A full session id or unique prefix (≥ 6 chars) → the full id. A session the index does not have
        yet is read from its log first, ahead of the rest of the history."""
        return self.store.locate(session_id, deadline=self._deadline(), progress=_progress_cb())

    def list_sessions(self, *, project: str | None = None, provider: str | None = None, since: str | None = None,
                      until: str | None = None, query: str | None = None, has_failures: bool | None = None,
                      include_subagents: bool = False, machine: str | None = None, user: str | None = None,
                      limit: int = 20, cursor: str | None = None) -> SessionList:
        """Sessions, newest activity first (`machine`/`user`: only those that ran there, or by them)."""
        limit = check_limit(limit)
        provider = check_provider(provider)
        project = check_project(project)
        since_c, until_c = check_range(since, until)
        filters = ("sessions", project, provider, since_c, until_c, query, has_failures, include_subagents, machine,
                   user)
        offset = cursor_offset(cursor, filters)
        incomplete = self._complete()
        with self.store.read() as db:
            rows, total = self.q.list_sessions(db, self.store.scope, project=project, provider=provider,
                                          since=since_c, until=until_c, query=query, has_failures=has_failures,
                                          include_subagents=include_subagents, machine=machine, user=user,
                                          limit=limit, offset=offset)
            shown = self.q.visible(db, self.store.scope, {r["parent_id"] for r in rows})
        items = [rv.summary(r, shown) for r in rows]

        def build(k: int) -> SessionList:
            more = offset + k < total
            return SessionList(index_incomplete=incomplete, sessions=items[:k], total=total,
                               next_cursor=cursor_for(filters, offset + k) if more else None,
                               truncated=k < len(items),
                               note=None if k == len(items) else f"cut to {k} sessions to fit the output budget")
        return self._out(self._fit(build, len(items)))

    def get_session(self, session_id: str, *, cursor: str | None = None, turn_limit: int = 50) -> SessionDetail:
        """Metadata, stats, subagents and an outline of the turns (paged)."""
        turn_limit = check_limit(turn_limit)
        sid = self.resolve(session_id)
        incomplete = self._known_state()
        filters = ("turns", sid)
        offset = cursor_offset(cursor, filters)
        with self.store.read() as db:
            row = self.q.session_row(db, sid)
            kids = self.q.children(db, sid, self.store.scope)
            trows = self.q.turns(db, sid, offset, offset + turn_limit)
            counts = self.q.tool_counts(db, sid, offset, offset + turn_limit)
            said = self.q.interjection_counts(db, sid, offset, offset + turn_limit)
            comps = self.q.compactions(db, sid)
            shown = self.q.visible(db, self.store.scope, {row["parent_id"]})
        total = row["turns"]
        outline = [rv.outline(t, counts.get(t["idx"], []), said.get(t["idx"], 0)) for t in trows]

        def build(k: int) -> SessionDetail:
            more = offset + k < total
            return SessionDetail(
                index_incomplete=incomplete, session=rv.summary(row, shown), cli_version=row["cli_version"],
                stats=rv.stats(row),
                context_window=row["context_window"], subagents=[rv.summary(k_) for k_ in kids[:50]],
                compactions=[Compaction(turn_index=c["turn_idx"], at=c["at"], trigger=c["trigger"],
                                        pre_tokens=c["pre_tokens"]) for c in comps],
                turns=outline[:k], turns_total=total, next_cursor=cursor_for(filters, offset + k) if more else None,
                truncated=k < len(outline),
                note=(f"{len(kids)} subagents; " if len(kids) > 50 else "") +
                     ("call get_turn(session_id, turn_index) for a turn in full" if outline else "no turns recorded"))
        return self._out(self._fit(build, len(outline)))

    def current_session(self, project: str | None, provider: str | None = None) -> CurrentSession:
        """The newest top-level session of a project directory: "which session am I?". `project` may be any
        folder inside a recorded project (the deepest recorded project above it counts)."""
        provider = check_provider(provider)
        project = check_project(project)
        if not project:
            raise BadArgumentError("project is needed: pass your working directory (an absolute path)")

        def newest() -> str | None:
            with self.store.read() as db:
                r = self.q.current_session(db, self.store.scope, project, provider)
            # Only a session of exactly this folder is settled by time: an older unread log of a deeper
            # recorded project (or of this one) would win over one found above or below it.
            return (r["ended_at"] or "") if r is not None and r["project_root"] == project else None

        # the newest logs first, until no unread log can hold newer activity than the answer
        incomplete = _incomplete(self.store.settle_newest(newest, deadline=self._deadline(),
                                                          progress=_progress_cb()))
        with self.store.read() as db:
            row = self.q.current_session(db, self.store.scope, project, provider)
            if row is None:
                raise NotFoundError(f"no session recorded for project {project!r}"
                                    + (f" and provider {provider}" if provider else "")
                                    + ("" if incomplete is None
                                       else f" among the logs read so far ({incomplete.message})"),
                                    SEE_PROJECTS if incomplete is None else None)
            last = None
            if row["turns"]:
                t = self.q.turns(db, row["id"], row["turns"] - 1, row["turns"])
                c = self.q.tool_counts(db, row["id"], row["turns"] - 1, row["turns"])
                said = self.q.interjection_counts(db, row["id"], row["turns"] - 1, row["turns"])
                last = rv.outline(t[0], c.get(t[0]["idx"], []), said.get(row["turns"] - 1, 0)) if t else None
        return self._out(CurrentSession(index_incomplete=incomplete, session=rv.summary(row), latest_turn=last,
                                        note="the session with the most recent activity in this project; "
                                             "call get_turn(session_id, -1) for its latest turn"))

    # -- turns ----------------------------------------------------------------------------------

    def get_turn(self, session_id: str, turn_index: int, *, detail: str | None = None,
                 cursor: str | None = None) -> TurnDetail:
        """One turn: its state, the full prompt, the messages typed while it ran and the full final answer, with
        its steps either in full (`detail="full"`: reasoning, messages, calls with arguments and outputs,
        failures, usage) or as an outline (`detail="outline"`: one line per step). Without `detail`, a turn of
        more than OUTLINE_OVER steps comes as an outline. Whatever is cut says which get_text call returns it."""
        if detail in ("", "auto"):
            detail = None
        if detail is not None and detail not in ("outline", "full"):
            raise BadArgumentError(f"detail must be 'outline' or 'full', not {detail!r}")
        sid = self.resolve(session_id)
        with self.store.read() as db:
            srow = self.q.session_row(db, sid)
            idx = _turn_index(sid, srow["turns"], turn_index)
            trow = self.q.turn_row(db, sid, idx)
            srows = self.q.steps(db, sid, idx)
            tool_rows = self._in_scope_children(db, self.q.tools_of_turn(db, sid, idx))
            said = self.q.interjections(db, sid, idx)
        assert trow is not None
        n = srow["turns"]
        mode = detail or ("outline" if len(srows) > OUTLINE_OVER else "full")
        filters = ("turn", sid, idx, mode)
        first = cursor_offset(cursor, filters)
        by_step: dict[int, list[Any]] = {}
        for t in tool_rows:
            by_step.setdefault(t["step_idx"], []).append(t)
        page = [s for s in srows if s["idx"] >= first]
        stats = rv.turn_stats(trow)
        prompt_call = rv.text_call(sid, "prompt", idx)
        answer_call = rv.text_call(sid, "final_answer", idx)
        prompt = rv.name_cuts(trow["text"] or "", prompt_call)
        answer = rv.name_cuts(trow["final_answer"], answer_call) if trow["final_answer"] else None
        auto = "" if detail else f" (chosen for a turn of more than {OUTLINE_OVER} steps)"

        # the prompt and the final answer are never cut below ANSWER_FLOOR (a budget too small for that -- under
        # 32,000 chars -- gets a quarter of it for each)
        answer_floor = min(rv.ANSWER_FLOOR, self.config.budget_chars // 4)

        def view(cap: int, *, steps: list[StepDetail] | None = None, lines: list[str] | None = None,
                 more_at: int | None = None, tools_cut: bool = False) -> TurnDetail:
            floor = max(cap, answer_floor)
            notes = []
            if mode == "outline":
                notes.append(f"outline{auto}: one line per step; get_turn(session_id, {idx}, detail=full) has every "
                             "field, get_text one field whole")
            if more_at is not None:
                notes.append(f"steps from {more_at} on did not fit the output budget: pass next_cursor for them")
            if tools_cut:
                notes.append("a step had more tool calls than fit; find_failed_tools or get_text(call_id=…) reach "
                             "the rest")
            cut_any = tools_cut or more_at is not None or any(
                t.output_truncated or t.args_truncated for st_ in steps or [] for t in st_.tools)
            if cut_any or "chars cut;" in prompt or (answer and "chars cut;" in answer):
                notes.append("every cut says which get_text call returns the rest")
            return TurnDetail(
                session_id=sid, index=idx, turns_total=n, status=trow["status"], detail=mode,
                started_at=trow["started_at"], ended_at=trow["ended_at"],
                user=UserView(text=rv.cut(prompt, floor, prompt_call), origin=trow["origin"],
                              slash_command=trow["slash"]),
                interjections=[rv.interjection(r, cap, sid) for r in said] if mode == "full" else [],
                outline=lines, steps=steps or [],
                final_answer=rv.cut(answer, floor, answer_call) if answer else None, stats=stats,
                next_cursor=cursor_for(filters, more_at) if more_at is not None else None,
                truncated=cut_any, note="; ".join(notes) or None)

        budget = self.config.budget_chars - 600  # room for the notes and the cursor
        if mode == "outline":
            shapes = REGISTRY.tool_shapes(srow["provider"])  # how this agent's tools spell polls
            lines = rv.outline_lines(page, by_step, [r for r in said if r["after_step"] >= first - (first == 0)], sid,
                                     rv.poll_targets(tool_rows, shapes), shapes)
            for cap in CAPS[:3]:  # only the prompt and the answer can shrink here
                full = view(cap, lines=[line for _, line in lines])
                if self._size(full) <= budget:
                    return self._out(full)
            base = self._size(view(rv.KEEP_WHOLE, lines=[]))
            used, k = base, 0
            while k < len(lines) and used + len(lines[k][1]) + 4 <= budget:
                used += len(lines[k][1]) + 4
                k += 1
            while 0 < k < len(lines) and lines[k][0] == lines[k - 1][0]:  # never split a step from its » lines
                k -= 1
            more = lines[k][0] if k < len(lines) else None
            if more is not None and more == first:  # a single step's lines are over the budget: show them cut
                k, more = 1, (page[1]["idx"] if len(page) > 1 else None)
            return self._out(view(rv.KEEP_WHOLE, lines=[line for _, line in lines[:k]], more_at=more))

        # Full: shrink the biggest fields first (every field over the cap is cut to it), never below KEEP_WHOLE;
        # then keep the steps that fit (the rest stay reachable by cursor).
        for cap in CAPS:
            steps = [rv.step(st_, by_step.get(st_["idx"], []), cap, sid) for st_ in page]
            sizes = [len(x.model_dump_json()) + 1 for x in steps]
            base = self._size(view(cap, steps=[]))
            if base + sum(sizes) <= budget:
                return self._out(view(cap, steps=steps))
        used, k = base, 0
        while k < len(steps) and used + sizes[k] <= budget:
            used += sizes[k]
            k += 1
        if k == 0 and steps:  # one step alone is over the budget: keep as many of its calls as fit
            # (its own texts cut further if need be: the budget is a hard limit)
            first_step = rv.step(page[0], by_step.get(page[0]["idx"], []), 500, sid, whole=500)
            room = budget - base - len(first_step.model_copy(update={"tools": []}).model_dump_json())
            kept = []
            for t in first_step.tools:
                room -= len(t.model_dump_json()) + 1
                if room < 0:
                    break
                kept.append(t)
            trimmed = first_step.model_copy(update={"tools": kept})
            more_at = page[1]["idx"] if len(page) > 1 else None
            return self._out(view(rv.KEEP_WHOLE, steps=[trimmed], more_at=more_at,
                                  tools_cut=len(kept) < len(first_step.tools)))
        return self._out(view(rv.KEEP_WHOLE, steps=steps[:k], more_at=page[k]["idx"] if k < len(page) else None))

    # -- any text in full ---------------------------------------------------------------------------

    def get_text(self, session_id: str, turn_index: int | None = None, field: str = "output", *,
                 step_index: int | None = None, call_id: str | None = None, offset: int = 0,
                 limit: int | None = None) -> TextPage:
        """Any prompt, final answer, typed-mid-turn message, step message or reasoning, tool argument or output in
        full, paged by character offset: the rest of anything an answer cut. A text the index keeps whole comes
        from the index; a longer one is read from its log."""
        if field not in TEXT_FIELDS:
            raise BadArgumentError(f"field must be one of {', '.join(TEXT_FIELDS)}, not {field!r}")
        if not isinstance(offset, int) or offset < 0:
            raise BadArgumentError(f"offset must be a character position (0 or more), not {offset!r}")
        page = max(1, min(limit or self.config.budget_chars, self.config.budget_chars - 2000))
        sid = self.resolve(session_id)
        if field in ("args", "output"):
            if not call_id:
                raise BadArgumentError(f"field={field} needs the call's call_id", SEE_CALL_IDS, session_id=sid)
            with self.store.read() as db:
                row = self.q.tool_row(db, sid, call_id)
            if row is None:
                raise NotFoundError(f"no tool call {call_id!r} in session {sid}", SEE_CALL_IDS, session_id=sid)
            text, source = logs.full_tool_text(row, field)
            if self.config.redact:
                text = redact.mask(text)  # the whole text, before it is paged: a page never splits a secret
            whole = source == "log" or (row["output_len"] if field == "output" else row["args_len"]) <= len(text)
            turn_index, step_index = row["turn_idx"], row["step_idx"]
        else:
            if turn_index is None:
                raise BadArgumentError(f"field={field} needs turn_index", READ_A_TURN, session_id=sid)
            if field in ("message", "reasoning", "interjection") and step_index is None:
                what = "its number within the turn" if field == "interjection" else "the step"
                raise BadArgumentError(f"field={field} needs step_index ({what})", READ_A_TURN, session_id=sid)
            text, whole, source, turn_index = self._stored_text(sid, turn_index, field, step_index)
            if not whole:
                logged = self._logged_text(sid, turn_index, field, step_index)
                if logged is not None:
                    text, whole, source = logged, True, "log"
        if offset > len(text):
            raise BadArgumentError(f"offset {offset} is past the end ({len(text)} chars)")
        chunk = text[offset: offset + page]
        nxt = offset + len(chunk)
        return self._out(TextPage(session_id=sid, field=field, turn_index=turn_index, step_index=step_index,
                                  call_id=call_id, offset=offset, text=chunk, total_chars=len(text),
                                  next_offset=nxt if nxt < len(text) else None, source=source,
                                  complete=whole))

    def _stored_text(self, sid: str, turn_index: int, field: str,
                     step_index: int | None) -> tuple[str, bool, str, int]:
        """(text, whether the index holds it whole, "index", turn index) of a non-tool field."""
        with self.store.read() as db:
            n = self.q.session_row(db, sid)["turns"]
            idx = _turn_index(sid, n, turn_index)
            if field in ("prompt", "final_answer"):
                t = self.q.turn_row(db, sid, idx)
                assert t is not None
                if field == "prompt":
                    return t["text"] or "", t["text_len"] <= len(t["text"] or ""), "index", idx
                if not t["final_answer"]:
                    raise NotFoundError(f"turn {idx} of session {sid} has no final answer (its status is "
                                        f"{t['status']})")
                return t["final_answer"], t["final_answer_len"] <= len(t["final_answer"]), "index", idx
            if field == "interjection":
                r = self.q.interjection_text(db, sid, idx, step_index)
                if r is None:
                    raise NotFoundError(f"turn {idx} of session {sid} has no typed-mid-turn message {step_index}",
                                        READ_A_TURN, session_id=sid)
                return r[0], r[1] <= len(r[0]), "index", idx
            r = self.q.step_text(db, sid, idx, step_index, field)
        if r is None:
            raise NotFoundError(f"turn {idx} of session {sid} has no step {step_index}", READ_A_TURN, session_id=sid)
        text = r[0] or ""
        return text, r[1] <= len(text) and not (r[1] > TEXT_CAP - 400 and rv.index_cut(text)), "index", idx

    def _logged_text(self, sid: str, idx: int, field: str, step_index: int | None) -> str | None:
        """A field read whole from the session's log (None when the log is gone). The last few are kept, so
        that paging through one text reads its log once."""
        with self.store.read() as db:
            stamp = self.q.log_stamp(db, sid)
        if stamp is None and self.team:
            return None  # the log is on the machine the session ran on
        key = (sid, idx, field, step_index, stamp)
        cache = self.__dict__.setdefault("_texts", {})
        if key in cache:
            cache[key] = cache.pop(key)  # most recent last
            return cache[key]
        text = self._read_logged_text(sid, idx, field, step_index)
        cache[key] = text
        while len(cache) > 8:
            cache.pop(next(iter(cache)))
        return text

    def _read_logged_text(self, sid: str, idx: int, field: str, step_index: int | None) -> str | None:
        try:
            s = self.load_session(sid)
        except NotFoundError:
            return None
        if idx >= len(s.turns):
            return None
        turn = s.turns[idx]
        if field == "prompt":
            return turn.user.text
        if field == "final_answer":
            return turn.final_answer
        if field == "interjection":
            return turn.interjections[step_index].text if step_index is not None and \
                0 <= step_index < len(turn.interjections) else None
        step = next((x for x in turn.steps if x.index == step_index), None)
        return getattr(step, field) if step is not None else None

    def get_tool_output(self, session_id: str, call_id: str, *, field: str = "output", offset: int = 0,
                        limit: int = 20_000) -> TextPage:
        """The full text of one tool output (or its arguments), paged by character offset (see `get_text`)."""
        if field not in ("output", "args"):
            raise BadArgumentError(f"field must be 'output' or 'args', not {field!r}")
        return self.get_text(session_id, field=field, call_id=call_id, offset=offset, limit=limit)

    # -- failures and search --------------------------------------------------------------------

    def find_failed_tools(self, *, session_id: str | None = None, project: str | None = None,
                          provider: str | None = None, tool: str | None = None, kind: str | None = None,
                          since: str | None = None, until: str | None = None, limit: int = 20,
                          cursor: str | None = None, group_by: str | None = None, machine: str | None = None,
                          user: str | None = None) -> FailureList:
        """Failed tool executions, newest first, with coordinates and the line of the output that says what went
        wrong; a failed poll of a running process names the command that started it.

        With `group_by` (tool, error_kind, error, project): groups of failures with counts, first/last seen
        and the newest examples — "what usually fails here?"."""
        limit = check_limit(limit)
        provider = check_provider(provider)
        project = check_project(project)
        if kind is not None and kind not in ERROR_KINDS:
            raise BadArgumentError(f"unknown error kind {kind!r}; use one of {', '.join(ERROR_KINDS)}")
        if group_by is not None and group_by not in FAILURE_GROUPS:
            raise BadArgumentError(f"unknown group_by {group_by!r}; use one of {', '.join(FAILURE_GROUPS)}")
        since_c, until_c = check_range(since, until)
        sid = self.resolve(session_id) if session_id else None
        filters = ("failures", sid, project, provider, tool, kind, since_c, until_c, machine, user)
        if group_by is not None:
            return self._failure_groups(group_by, filters, limit, cursor)
        offset = cursor_offset(cursor, filters)
        incomplete = None if sid else self._complete()
        with self.store.read() as db:
            rows, total = self.q.failed_tools(db, self.store.scope, session=sid, project=project, provider=provider,
                                         tool=tool, kind=kind, since=since_c, until=until_c, machine=machine,
                                         user=user, limit=limit, offset=offset)
            starters = self.q.poll_starters(db, rows)
        items = [FailedTool(
            session_id=r["session_id"], provider=r["provider"], project_root=r["project_root"],
            turn_index=r["turn_idx"], step_index=r["step_idx"], call_id=r["call_id"], tool=r["name"],
            error_kind=r["error_kind"], exit_code=r["exit_code"],
            error=snippet(r["error_message"] or error_excerpt(r["output"] or ""), 400),
            args_preview=snippet(r["args"] or "", 240), command=starters.get(r["call_id"], (None, None))[1],
            started_by=starters.get(r["call_id"], (None, None))[0], at=r["started_at"], **rv.origin(r))
            for r in rows]

        def build(k: int) -> FailureList:
            more = offset + k < total
            return FailureList(index_incomplete=incomplete, failures=items[:k], total=total,
                               next_cursor=cursor_for(filters, offset + k) if more else None,
                               truncated=k < len(items),
                               note=None if k == len(items) else f"cut to {k} failures to fit the output budget")
        return self._out(self._fit(build, len(items)))

    def search_history(self, query: str, *, session_id: str | None = None, project: str | None = None,
                       provider: str | None = None, kind: str | list[str] | None = None, since: str | None = None,
                       until: str | None = None, sort: str = "newest", limit: int = 20,
                       cursor: str | None = None, machine: str | None = None,
                       user: str | None = None) -> SearchResults:
        """Full-text search over prompts (and messages typed mid-turn), messages, reasoning, tool calls and
        outputs: every word must appear, "a quoted phrase" as written, word* as a prefix, AND/OR/NOT in
        capitals as operators. Newest first, or by relevance (bm25)."""
        limit = check_limit(limit)
        provider = check_provider(provider)
        project = check_project(project)
        if sort not in ("newest", "relevance"):
            raise BadArgumentError(f"sort must be 'newest' or 'relevance', not {sort!r}")
        kinds = [kind] if isinstance(kind, str) else (list(kind) if kind else None)
        for k in kinds or []:
            if k not in SEARCH_KINDS:
                raise BadArgumentError(f"unknown kind {k!r}; use one of {', '.join(SEARCH_KINDS)}")
        since_c, until_c = check_range(since, until)
        parsed = self.q.parse_query(query)  # a query with nothing to search for is an error before any waiting
        sid = self.resolve(session_id) if session_id else None
        filters = ("search", query, sid, project, provider, tuple(kinds or ()), since_c, until_c, sort, machine,
                   user)
        offset = cursor_offset(cursor, filters)
        incomplete = None if sid else self._complete()
        with self.store.read() as db:
            rows = self.q.search(db, self.store.scope, parsed, session=sid, project=project, provider=provider,
                            kinds=kinds, since=since_c, until=until_c, sort=sort, machine=machine, user=user,
                            limit=limit + 1, offset=offset)
        more_rows = len(rows) > limit
        rows = rows[:limit]
        items = [SearchHit(session_id=r["session_id"], turn_index=r["turn_idx"],
                           step_index=None if r["step_idx"] < 0 else r["step_idx"], interjection=r["interjection"],
                           call_id=r["call_id"], kind=r["kind"], status=r["status"], error_kind=r["error_kind"],
                           snippet=self._snippet(r["text"] or "", parsed.terms), provider=r["provider"],
                           project_root=r["project_root"], session_title=snippet(r["title"], 120), at=r["at"],
                           **rv.origin(r))
                 for r in rows]

        def build(k: int) -> SearchResults:
            more = k < len(items) or more_rows
            return SearchResults(index_incomplete=incomplete, hits=items[:k], sort=sort, read_as=parsed.read_as,
                                 next_cursor=cursor_for(filters, offset + k) if more else None,
                                 truncated=k < len(items),
                                 note="call get_turn(session_id, turn_index) to read a hit in context" if items
                                 else "no hits; try fewer or different words, or a word prefix like 'pars*'")
        return self._out(self._fit(build, len(items)))

    def list_projects(self, *, limit: int = 50, cursor: str | None = None, machine: str | None = None,
                      user: str | None = None) -> ProjectList:
        """Project roots with session counts and last activity (in a team database: and the machines)."""
        limit = check_limit(limit)
        filters = ("projects", machine, user)
        offset = cursor_offset(cursor, filters)
        incomplete = self._complete()
        with self.store.read() as db:
            rows, total = self.q.projects(db, self.store.scope, limit, offset, machine=machine, user=user)
        items = [ProjectInfo(project_root=r["project_root"], sessions=r["sessions"],
                             providers=sorted((r["providers"] or "").split(",")), first_activity=r["first_activity"],
                             last_activity=r["last_activity"], turns=r["turns"] or 0,
                             failed_tools=r["failed_tools"] or 0, missing_tools=r["missing_tools"] or 0,
                             machines=rv.machines(r))
                 for r in rows]

        def build(k: int) -> ProjectList:
            more = offset + k < total
            return ProjectList(index_incomplete=incomplete, projects=items[:k], total=total,
                               next_cursor=cursor_for(filters, offset + k) if more else None,
                               truncated=k < len(items))
        return self._out(self._fit(build, len(items)))

    def secret_findings(self, *, session_id: str | None = None, project: str | None = None, limit: int = 50,
                        cursor: str | None = None) -> SecretFindings:
        """Where credentials appear in the history (type, fingerprint, places) so they can be rotated.

        Never returns a value. Every text is scanned whole when it is indexed (prompts, messages, reasoning,
        tool arguments and whole tool outputs), before it is masked and cut.
        """
        limit = check_limit(limit)
        project = check_project(project)
        sid = self.resolve(session_id) if session_id else None
        filters = ("secrets", sid, project)
        offset = cursor_offset(cursor, filters)
        incomplete = None if sid else self._complete()
        with self.store.read() as db:
            rows, total = self.q.secret_findings(db, self.store.scope, session=sid, project=project,
                                            limit=limit, offset=offset)
            places = {r["fingerprint"]: self.q.secret_places(db, self.store.scope, r["fingerprint"], session=sid,
                                                        project=project) for r in rows}
        items = [SecretFinding(
            type=r["type"], fingerprint=r["fingerprint"], occurrences=r["occurrences"], sessions=r["sessions"],
            first_seen=r["first_seen"], last_seen=r["last_seen"], found_in=sorted((r["kinds"] or "").split(",")),
            examples=[SecretPlace(session_id=p["session_id"], turn_index=p["turn_idx"],
                                  step_index=None if p["step_idx"] < 0 else p["step_idx"], call_id=p["call_id"],
                                  found_in=p["kind"], project_root=p["project_root"])
                      for p in places[r["fingerprint"]]])
            for r in rows]

        def build(k: int) -> SecretFindings:
            more = offset + k < total
            return SecretFindings(index_incomplete=incomplete, findings=items[:k], total=total,
                                  next_cursor=cursor_for(filters, offset + k) if more else None,
                                  truncated=k < len(items),
                                  note="rotate these credentials; values are never returned" if items else
                                  "no credentials found in the indexed history")
        # fingerprints keep only a type and 4 characters; the masking pass is for the project roots
        return self._out(self._fit(build, len(items)))

    # -- analysis and usage ---------------------------------------------------------------------

    def analyze_session(self, session_id: str, **thresholds: Any) -> SessionAnalysis:
        """Self-reflection findings of one session, located by turn/step and call ids: retry storms, repeated
        identical calls, cycles, edit ping-pong, no-progress runs, denied calls, interrupted turns, slow tools.

        Thresholds (`engine.analysis.Thresholds`) are keyword arguments; None keeps the default. Works from
        the index rows only, so it is fast on a session of any size."""
        try:
            th = Thresholds.build(**thresholds)
        except ValueError as e:
            raise BadArgumentError(str(e)) from None
        sid = self.resolve(session_id)
        with self.store.read() as db:
            srow = self.q.session_row(db, sid)
            calls, turns = self.q.analysis_input(db, sid)
        found = analyze(calls, turns, th)
        counts = dict.fromkeys(ANALYSIS_KINDS, 0)
        shown: list[Finding] = []
        for f in found:
            counts[f.kind] += 1
            if counts[f.kind] <= th.max_per_kind:
                shown.append(rv.finding(f))
        capped = [k for k, n in counts.items() if n > th.max_per_kind]

        def build(k: int) -> SessionAnalysis:
            notes = []
            if capped:
                notes.append(f"only the first {th.max_per_kind} findings of {', '.join(capped)} are listed "
                             "(`counts` has every kind's total; raise max_per_kind for more)")
            if k < len(shown):
                notes.append(f"cut to {k} findings to fit the output budget (the most severe are kept)")
            notes.append("call get_turn(session_id, start_turn) to read a finding in context" if found else
                         "no findings with these thresholds: no loops, retries, reverted edits, long read-only "
                         "runs, slow outliers, interruptions or denials")
            return SessionAnalysis(session_id=sid, provider=srow["provider"], turns=srow["turns"],
                                   tool_calls=srow["tool_calls"], findings=shown[:k], counts=counts,
                                   thresholds=AnalysisThresholds(**th.as_dict()), truncated=k < len(shown),
                                   note="; ".join(notes))
        return self._out(self._fit(build, len(shown)))

    def get_usage(self, session_id: str | None = None, *, turn: int | None = None, project: str | None = None,
                  provider: str | None = None, since: str | None = None, until: str | None = None,
                  limit: int = 50, cursor: str | None = None, machine: str | None = None,
                  user: str | None = None) -> UsageReport:
        """Tokens and context use: of one session (with per-turn rows), of one turn (with per-step rows), or
        of every session matching project/provider/since/until (with per-session rows). Subagents are rolled
        up into their parent."""
        limit = check_limit(limit)
        provider = check_provider(provider)
        if session_id:
            if project or provider or since or until or machine or user:
                raise BadArgumentError("project/provider/since/until choose sessions for a range", RANGE_OR_SESSION)
            sid = self.resolve(session_id)
            if turn is not None:
                return self._turn_usage(sid, turn)
            usage = self._session_usage(sid, limit, cursor)
            # subagents roll up from other logs, which may not all be read yet
            return usage.model_copy(update={"index_incomplete": self._known_state()})
        if turn is not None:
            raise BadArgumentError("a turn needs its session_id", TURN_NEEDS_SESSION)
        since_c, until_c = check_range(since, until)
        return self._range_usage(check_project(project), provider, since_c, until_c, limit, cursor, machine,
                                 user)

    def _session_usage(self, sid: str, limit: int, cursor: str | None) -> UsageReport:
        filters = ("usage", sid)
        offset = cursor_offset(cursor, filters)
        with self.store.read() as db:
            row = self.q.session_row(db, sid)
            steps = self.q.step_usage(db, sid)
            comps = self.q.compactions(db, sid)
            subs, models = self.q.family_usage(db, sid, self.store.scope)
            points = [StepPoint(s["turn_idx"], s["idx"], s["started_at"], s["context"])
                      for s in steps if s["has_usage"]]
            comp_views, after = rv.compactions(comps, points)
            outs = self.q.largest_outputs(db, sid, after=after)
            trows = self.q.turns(db, sid, offset, offset + limit)
        own = rv.tokens(row["input"], row["cache_read"], row["cache_write"], row["output"], row["reasoning"])
        context = rv.context_use(row["context_window"], steps, points)
        turn_views = [TurnUsage(index=t["idx"], started_at=t["started_at"], prompt=snippet(t["text"], 80),
                                tokens=rv.tokens(t["input"], t["cache_read"], t["cache_write"], t["output"],
                                               t["reasoning"]), peak_context_tokens=t["peak_context"])
                      for t in trows]
        total = row["turns"]

        def build(k: int) -> UsageReport:
            more = offset + k < total
            return UsageReport(
                scope="session", session_id=sid, tokens=own, **rv.subagent_fields(own, subs),
                by_model=rv.models(models), context=context, compactions=comp_views,
                largest_outputs_in_context=rv.outputs(outs), turns=turn_views[:k],
                next_cursor=cursor_for(filters, offset + k) if more else None, truncated=k < len(turn_views),
                note=rv.join_notes(f"per-turn rows {offset}..{offset + k - 1} of {total}; pass next_cursor for more"
                           if more else None,
                           "largest_outputs_in_context counts outputs since the last compaction"
                           if comp_views else None,
                           "call get_usage(session_id, turn=N) for one turn's steps"))
        return self._out(self._fit(build, len(turn_views)))

    def _turn_usage(self, sid: str, turn: int) -> UsageReport:
        with self.store.read() as db:
            row = self.q.session_row(db, sid)
            n = row["turns"]
            idx = turn + n if turn < 0 else turn
            if not 0 <= idx < n:
                raise NotFoundError(f"turn {turn} is out of range: session {sid} has {n} turns"
                                    + (f" (0..{n - 1}, or -1 for the latest)" if n else ""))
            trow = self.q.turn_row(db, sid, idx)
            steps = self.q.step_usage(db, sid, idx)
            all_points = [StepPoint(s["turn_idx"], s["idx"], s["started_at"], s["context"])
                          for s in self.q.step_usage(db, sid) if s["has_usage"]]
            comps = [c for c in self.q.compactions(db, sid) if c["turn_idx"] == idx]
            subs, models = self.q.turn_family_usage(db, sid, idx, self.store.scope)
            outs = self.q.largest_outputs(db, sid, turn=idx)
        assert trow is not None
        points = [StepPoint(s["turn_idx"], s["idx"], s["started_at"], s["context"]) for s in steps if s["has_usage"]]
        own = rv.tokens(trow["input"], trow["cache_read"], trow["cache_write"], trow["output"], trow["reasoning"])
        comp_views, _ = rv.compactions(comps, all_points)
        step_views = [StepUsage(index=s["idx"], model=s["model"], input=s["input"], cache_read=s["cache_read"],
                                cache_write=s["cache_write"], output=s["output"], reasoning=s["reasoning_tokens"],
                                context_tokens=s["context"]) for s in steps if s["has_usage"]]

        def build(k: int) -> UsageReport:
            return UsageReport(
                scope="turn", session_id=sid, turn_index=idx, tokens=own, **rv.subagent_fields(own, subs),
                by_model=rv.models(models), context=rv.context_use(row["context_window"], steps, points),
                compactions=comp_views, largest_outputs_in_context=rv.outputs(outs), steps=step_views[:k],
                truncated=k < len(step_views),
                note=rv.join_notes(f"cut to {k} of {len(step_views)} steps to fit the output budget"
                           if k < len(step_views) else None,
                           "subagents: sessions spawned by this turn's tool calls"))
        return self._out(self._fit(build, len(step_views)))

    def _range_usage(self, project: str | None, provider: str | None, since: str | None, until: str | None,
                     limit: int, cursor: str | None, machine: str | None = None,
                     user: str | None = None) -> UsageReport:
        filters = ("usage-range", project, provider, since, until, machine, user)
        offset = cursor_offset(cursor, filters)
        incomplete = self._complete()
        with self.store.read() as db:
            rows, subs, models = self.q.range_usage(db, self.store.scope, project=project, provider=provider,
                                                    since=since, until=until, machine=machine, user=user)
            page = rows[offset: offset + limit]
            kids = self.q.subagent_totals(db, page, self.store.scope)
        sums = [sum(r[c] for r in rows) for c in ("input", "cache_read", "cache_write", "output", "reasoning")]
        own = rv.tokens(*sums)
        items = []
        for r, kid in zip(page, kids):
            items.append(SessionUsage(
                session_id=r["id"], provider=r["provider"], project_root=r["project_root"],
                title=snippet(r["title"] or "", 80), ended_at=r["ended_at"],
                tokens=rv.tokens(r["input"], r["cache_read"], r["cache_write"], r["output"], r["reasoning"]),
                peak_context_tokens=r["peak_context"], subagents=kid["n"] if kid else 0,
                subagent_tokens=rv.tokens(kid["input"], kid["cache_read"], kid["cache_write"], kid["output"],
                                        kid["reasoning"]) if kid else None, **rv.origin(r)))
        total = len(rows)

        def build(k: int) -> UsageReport:
            more = offset + k < total
            return UsageReport(
                index_incomplete=incomplete, scope="range", tokens=own, **rv.subagent_fields(own, subs),
                by_model=rv.models(models),
                sessions=items[:k], sessions_total=total,
                next_cursor=cursor_for(filters, offset + k) if more else None, truncated=k < len(items),
                note=rv.join_notes("top-level sessions only; each one's subagents are rolled up into it",
                           None if total else "no sessions match; call list_sessions or list_projects"))
        return self._out(self._fit(build, len(items)))

    def _failure_groups(self, group_by: str, filters: tuple[Any, ...], limit: int, cursor: str | None) -> FailureList:
        _, sid, project, provider, tool, kind, since_c, until_c, machine, user = filters
        gfilters = (*filters, "group", group_by)
        offset = cursor_offset(cursor, gfilters)
        incomplete = None if sid else self._complete()
        with self.store.read() as db:
            rows = self.q.failure_rows(db, self.store.scope, session=sid, project=project, provider=provider,
                                  tool=tool, kind=kind, since=since_c, until=until_c, machine=machine, user=user)
        groups: dict[Any, list[Any]] = {}
        for r in rows:  # newest first
            msg = r["error_message"] or error_excerpt(r["out_head"] or "")
            key = {"tool": r["name"], "error_kind": r["error_kind"], "project": r["project_root"],
                   "error": _error_key(msg, r)}[group_by]
            groups.setdefault(key, []).append((r, msg))
        ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), -rv.ts_key(kv[1][0][0]["started_at"])))
        page = ordered[offset: offset + limit]
        items = []
        for key, members in page:
            tools: dict[str, int] = {}
            for r, _ in members:
                tools[r["name"]] = tools.get(r["name"], 0) + 1
            stamps = [r["started_at"] for r, _ in members if r["started_at"]]
            items.append(FailureGroup(
                key=key, count=len(members), sessions=len({r["session_id"] for r, _ in members}),
                tools=[t for t, _ in sorted(tools.items(), key=lambda x: -x[1])[:5]],
                first_seen=min(stamps) if stamps else None, last_seen=max(stamps) if stamps else None,
                examples=[FailureExample(session_id=r["session_id"], turn_index=r["turn_idx"], step_index=r["step_idx"],
                                         call_id=r["call_id"], tool=r["name"], error=snippet(msg, 240),
                                         at=r["started_at"], **rv.origin(r)) for r, msg in members[:3]]))
        total = len(ordered)

        def build(k: int) -> FailureList:
            more = offset + k < total
            return FailureList(index_incomplete=incomplete, failures=[], total=len(rows), group_by=group_by,
                               groups=items[:k], groups_total=total,
                               next_cursor=cursor_for(gfilters, offset + k) if more else None,
                               truncated=k < len(items),
                               note=rv.join_notes(None if k == len(items)
                                                  else f"cut to {k} groups to fit the output budget",
                                          "call find_failed_tools without group_by (and tool=/kind=) for the "
                                          "individual failures" if items else None))
        return self._out(self._fit(build, len(items)))

    # -- whole sessions (CLI `show`) -------------------------------------------------------------

    def load_session(self, session_id: str) -> m.Session:
        """The full session model, read from its log file (not from the index previews). A session whose log
        is gone raises NotFoundError (LOG_GONE); `indexed_session` still has it."""
        sid = self.resolve(session_id)
        with self.store.read() as db:
            row = self.q.session_row(db, sid)
        if row["file_path"] is None:  # a team database: the log is on the machine the session ran on
            return self._rebuilt(sid)
        path = row["file_path"]
        if not row["on_disk"]:
            raise NotFoundError(f"the log of session {sid} ({path}) is no longer on disk", LOG_GONE, session_id=sid)
        for s in logs.sessions_in_file(path, row["file_provider"], row["file_kind"], row["file_parent"],
                                       self.config.live_seconds):
            if s.session_id == sid:
                self._hide_out_of_scope(s)
                # masked whole, before any caller cuts its texts
                return redact.mask_model(s) if self.config.redact else s  # type: ignore[return-value]
        raise NotFoundError(f"session {sid} is no longer in {path}", LOG_REWRITTEN)

    def indexed_session(self, session_id: str) -> m.Session:
        """The session model as the index keeps it: every turn, step and call, with long texts cut as the
        index cuts them (prompts and messages past 16 KB, outputs as head and tail). For a session whose log
        is gone (agents delete old logs) or that ran on another machine (a team database)."""
        return self._rebuilt(self.resolve(session_id))

    def _rebuilt(self, sid: str) -> m.Session:
        everything = 1 << 62
        with self.store.read() as db:
            row = self.q.session_row(db, sid)
            rebuilt = rv.session_model(row, self.q.turns(db, sid, 0, everything),
                                       self.q.steps_after(db, sid, -1, -1, everything),
                                       self.q.tools_between(db, sid, (-1, -1), (everything, 0)),
                                       self.q.compactions(db, sid), self.q.session_interjections(db, sid))
        self._hide_out_of_scope(rebuilt)
        return redact.mask_model(rebuilt) if self.config.redact else rebuilt  # type: ignore[return-value]

    # -- for people at a terminal (CLI `sessions`, `watch`, the "no logs found" message) ----------

    def short_ids(self, session_ids: list[str], minimum: int = 8) -> dict[str, str]:
        """Each id's shortest prefix (at least `minimum` characters, or the whole id) that names it alone
        among every indexed session in scope, so `resolve` (and `show`) accepts it."""
        out: dict[str, str] = {}
        with self.store.read() as db:
            for sid in session_ids:
                n = minimum
                for other in self.q.id_neighbours(db, self.store.scope, sid):
                    if other is not None:
                        n = max(n, _common_prefix(sid, other) + 1)
                out[sid] = sid[:n]
        return out

    def log_locations(self) -> list[LogLocation]:
        """Per agent: the folders its logs are looked for in and the variables (and flag) that move them."""
        out = []
        for name, prov in REGISTRY.items():
            roots = self.config.roots.get(name, [])
            out.append(LogLocation(
                provider=name, agent=prov.label or name, roots=[str(r) for r in roots],
                found=any(r.exists() for r in roots), moved_by=[prov.root_var, *prov.root_env], flag=prov.root_flag))
        return out

    def steps_after(self, session_id: str, turn: int = -1, step: int = -1, *, limit: int = 100,
                    last: int | None = None) -> StepFeed:
        """What a session recorded after step (`turn`, `step`): the steps that landed since, oldest first,
        and the turns they belong to or that began since (the defaults ask from the start; `last=N` asks
        for the session's last N steps instead). For following a live session: ask again from the last step
        returned, or from before a step that may still grow or whose calls were still running. Bodies are
        cut to a few hundred characters."""
        limit = check_limit(limit)
        sid = self.resolve(session_id)
        with self.store.read() as db:
            if last is not None:
                turn, step = self.q.step_from_end(db, sid, max(0, last)) or (-1, -1)
                limit = max(limit, last)
            row = self.q.session_row(db, sid)
            srows = self.q.steps_after(db, sid, turn, step, limit + 1)
            more = len(srows) > limit
            srows = srows[:limit]
            first_turn = min(turn + 1, srows[0]["turn_idx"]) if srows else turn + 1
            trows = self.q.turns(db, sid, max(0, first_turn), 1 << 62)
            tool_rows = self.q.tools_between(db, sid, (srows[0]["turn_idx"], srows[0]["idx"]),
                                        (srows[-1]["turn_idx"], srows[-1]["idx"])) if srows else []
            tool_rows = self._in_scope_children(db, tool_rows)
            shown = self.q.visible(db, self.store.scope, {row["parent_id"]})
        by_step: dict[tuple[int, int], list[Any]] = {}
        for t in tool_rows:
            by_step.setdefault((t["turn_idx"], t["step_idx"]), []).append(t)
        steps = [TurnStep(turn_index=s["turn_idx"],
                          **dict(rv.step(s, by_step.get((s["turn_idx"], s["idx"]), []), 400, sid, whole=0)))
                 for s in srows]
        turns = [TurnStart(index=t["idx"], started_at=t["started_at"], origin=t["origin"],
                           prompt=cut_middle(t["text"] or "", 2000), interrupted=bool(t["interrupted"]),
                           status=t["status"])
                 for t in trows]
        return self._out(StepFeed(session=rv.summary(row, shown), turns=turns, steps=steps, more=more))

    def _in_scope_children(self, db: Any, tool_rows: list[Any]) -> list[Any]:
        """Tool rows whose child session outside the scope is not named (child_id None)."""
        shown = self.q.visible(db, self.store.scope, {t["child_id"] for t in tool_rows})
        return [t if not t["child_id"] or t["child_id"] in shown else {**dict(t), "child_id": None}
                for t in tool_rows]

    def _hide_out_of_scope(self, s: m.Session) -> None:
        """Forget the ids of a session's parent and children that are outside the scope."""
        if not self.store.scope.roots:
            return
        calls = [t for turn in s.turns for step in turn.steps for t in step.tools if t.child_session_id]
        with self.store.read() as db:
            shown = self.q.visible(db, self.store.scope,
                              {s.parent_session_id or ""} | {t.child_session_id or "" for t in calls})
        if s.parent_session_id not in shown:
            s.parent_session_id = None
        for t in calls:
            if t.child_session_id not in shown:
                t.child_session_id = None

    # -- health ---------------------------------------------------------------------------------

    def doctor(self) -> DoctorReport:
        """Per provider: files and lines read, unknown record types, lines that could not be parsed."""
        rep = None if self.store.read_only else self.refresh()
        unwritable = [e for e in (rep.errors if rep else []) if "cannot be written" in e]
        note = (f"the index cannot be updated: {self.store.read_only}" if self.store.read_only
                else unwritable[0] if unwritable else None)
        with self.store.read() as db:
            rows = self.q.file_report(db)
            counts = self.q.session_counts(db)
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
            h.long_lines += int(rep_.get("long_lines", 0) or 0)
            h.files_cut += 1 if rep_.get("stopped_at_bound") else 0
            for smp in rep_.get("bad_samples", []):
                if len(h.bad_samples) < 10:
                    h.bad_samples.append({"file": r["path"], "offset": smp[0], "reason": smp[1], "preview": smp[2]})
        if not self.team:  # the logs of this machine (a team database's are on theirs)
            refused: list[tuple[str, str, str]] = []
            discover(self.config, refused=refused)  # what no refresh reads (and so never reports on its own)
            for prov, p, why in refused:
                if prov in out and len(out[prov].files_refused) < 20:
                    out[prov].files_refused.append({"path": p, "reason": why})
        where, size = self.store.location()
        problems = [PluginProblem(entry_point=p.entry_point, package=p.package, error=redact.mask(p.error)[:500])
                    for p in REGISTRY.problems]
        return self._out(DoctorReport(index_path=where, index_bytes=size, providers=list(out.values()),
                                      plugin_problems=problems, refresh_seconds=rep.seconds if rep else None,
                                      note=note))

    def _snippet(self, text: str, terms: list[tuple[tuple[str, ...], bool]]) -> str:
        """A window of `text` around the first query term, terms marked «like this».

        The index holds masked text only (masked whole, before it was cut), so no window of it can show part
        of a secret.
        """
        return rv.highlight(text, terms)

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


def _error_key(msg: str | None, r: Any) -> str:
    """What failures of one kind have in common: the normalised message (a line that says something; the
    output's telling line when the message says nothing), else the kind and exit code."""
    key = normalize_error(msg) or normalize_error(error_excerpt(r["out_head"] or ""))
    if key:
        return key
    code = f" {r['exit_code']}" if r["exit_code"] is not None else ""
    return f"({(r['error_kind'] or 'error').replace('_', ' ')}{code}, no message)"


def _turn_index(sid: str, n: int, turn_index: int) -> int:
    """A turn index (negative: from the end) checked against the session's `n` turns."""
    if n == 0:
        raise NotFoundError(f"session {sid} has no turns", SEE_SESSION, session_id=sid)
    idx = turn_index + n if turn_index < 0 else turn_index
    if not 0 <= idx < n:
        raise NotFoundError(f"turn {turn_index} is out of range: session {sid} has {n} turns "
                            f"(0..{n - 1}, or -1 for the latest)")
    return idx


def _common_prefix(a: str, b: str) -> int:
    """How many leading characters `a` and `b` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


# Every public method refuses string arguments no query can use (a NUL, a lone surrogate, megabytes) with a
# message saying what to send instead, whichever surface called it (MCP, CLI, Python).
for _name in ("resolve", "list_sessions", "get_session", "current_session", "get_turn", "get_text",
              "get_tool_output", "find_failed_tools", "search_history", "list_projects", "secret_findings",
              "analyze_session", "get_usage", "load_session", "indexed_session", "steps_after"):
    setattr(Agtrace, _name, checked(getattr(Agtrace, _name)))
