"""Events → turns, steps and tool executions (DESIGN §3), streamed to a sink.

The builder owns the provider-independent rules: a prompt opens a turn, a new step key opens a step,
calls and results pair by call id across the whole session (a result for a call in an earlier, already
emitted step becomes a patch), failures are classified once for every agent, usage for a step key is
replaced rather than added. It never holds more than the open turn and step of each session, so a 200 MB
log streams through in bounded memory, and its whole state (`sessions`) pickles: the index stores it per
file and resumes a grown log from where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeGuard

from ..paths import normalize_root
from ..redact import mask
from . import events as ev
from .failures import classify
from .records import CompactRec, InterjectionRec, SessionMetaRec, StepRec, ToolRec, TurnRec
from .tools import tool_kind

MAX_ORPHANS = 2000
_RECENT_KEYS = 8


TITLE_CHARS = 200
TITLE_SCAN = 8_000  # a title is cut from at most this much of its text, masked first


def _title(text: str) -> str:
    """A session's title: its text masked, then cut (a title is cut from a prompt, and a cut made before the
    masking could keep part of a credential: titles are masked wherever they are shown, --no-redact too)."""
    return mask(text[:TITLE_SCAN])[:TITLE_CHARS]


def _note_last_step(turn: TurnRec, step: StepRec) -> None:
    """Remember whether the turn's latest step was a plain answer (a message, no calls, no failure): a turn
    that ends on such a step ended with an answer."""
    msg = step.message_text
    turn.last_clean = bool(msg and msg.strip()) and not step.tools and not step.failed
    turn.last_answer = msg if turn.last_clean else None
    turn.last_failed = step.failed


def _went_on(turn: TurnRec | None) -> None:
    """The agent worked after the turn's end mark (a Stop hook that sent it on): the turn did not end there."""
    if turn is not None and turn.ended:
        turn.ended, turn.end_answer = False, None


def _s(v: object) -> TypeGuard[str]:
    """A usable metadata string (logs can hold anything where a string belongs)."""
    return isinstance(v, str) and v != ""


class Sink(Protocol):
    """Receives records; every emission is an upsert keyed by (session, turn, step[, call])."""

    def meta(self, sid: str, meta: SessionMetaRec) -> None: ...
    def turn(self, sid: str, turn: TurnRec) -> None: ...
    def step(self, sid: str, step: StepRec) -> None: ...
    def patch_tool(self, sid: str, turn_index: int, step_index: int, tool: ToolRec) -> None: ...
    def patch_usage(self, sid: str, turn_index: int, step_index: int, usage: tuple[int, ...]) -> None: ...
    def compaction(self, sid: str, rec: CompactRec) -> None: ...
    def interjection(self, sid: str, rec: InterjectionRec) -> None: ...


@dataclass(slots=True)
class _Pending:
    turn_index: int
    step_index: int
    started_at: str | None
    name: str


@dataclass(slots=True)
class SessionState:
    meta: SessionMetaRec
    turn: TurnRec | None = None
    step: StepRec | None = None
    n_turns: int = 0
    open_calls: dict[str, ToolRec] = field(default_factory=dict)
    pending: dict[str, _Pending] = field(default_factory=dict)
    orphans: dict[str, ev.Result] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    recent_keys: dict[str, tuple[int, int]] = field(default_factory=dict)
    orphan_results: int = 0
    pending_compact: CompactRec | None = None  # placed once we know: before the next prompt, or mid-turn


class SessionBuilder:
    """Feed events with `feed`; call `flush` at the end of a read batch, `finish` at the end of a file."""

    def __init__(self, sink: Sink, sessions: dict[str, SessionState] | None = None) -> None:
        self.sink = sink
        self.sessions: dict[str, SessionState] = sessions if sessions is not None else {}
        self._dispatch: dict[type, Callable[[Any], None]] = {
            ev.Meta: self._meta,
            ev.Prompt: self._prompt,
            ev.Interrupt: self._interrupt,
            ev.Interjection: self._interjection,
            ev.TurnEnd: self._turn_end,
            ev.StepBegin: self._step_begin,
            ev.Text: self._text,
            ev.Call: self._call,
            ev.Result: self._result,
            ev.StepUsage: self._usage,
            ev.StepFailed: self._step_failed,
            ev.Compact: self._compact,
            ev.Link: self._link,
        }

    # -- entry points -------------------------------------------------------------------------

    def feed(self, event: object) -> None:
        self._dispatch[type(event)](event)

    # Providers pass what the log holds; a log can hold anything. The few fields the builder keys on or
    # joins are coerced here, once, so an odd value can never break a later flush.

    def flush(self, live: bool = False) -> None:
        """Emit every open turn and step as it stands (provisional: re-emitted when they close)."""
        for sid, st in self.sessions.items():
            self.sink.meta(sid, st.meta)
            if st.turn is not None:
                if st.step is not None:
                    _note_last_step(st.turn, st.step)  # provisional: the open step is the last one so far
                self.sink.turn(sid, st.turn)
            if st.step is not None:
                waiting = [t for t in st.step.tools if not t.has_result]
                for t in waiting:
                    t.status = "in_progress" if live else "missing"
                st.step.in_progress = live and bool(waiting)
                self.sink.step(sid, st.step)
                st.step.in_progress = False  # that was a snapshot: when the step closes later, it is done

    def finish(self, live: bool = False) -> None:
        """End of input: close everything. With `live`, calls still waiting in the newest step are in progress."""
        for sid, st in self.sessions.items():
            if st.step is not None and live:
                waiting = [t for t in st.step.tools if not t.has_result]
                for t in waiting:
                    t.status = "in_progress"
                st.step.in_progress = bool(waiting)
            self._close_turn(sid, st)
            self._place_compaction(sid, st, mid_turn=False)
            self.sink.meta(sid, st.meta)

    # -- helpers ------------------------------------------------------------------------------

    def _state(self, sid: str, ts: str | None) -> SessionState:
        if ts is not None and not isinstance(ts, str):
            ts = None
        st = self.sessions.get(sid)
        if st is None:
            st = SessionState(meta=SessionMetaRec(session_id=sid))
            self.sessions[sid] = st
        if ts is not None:
            m = st.meta
            if m.started_at is None or ts < m.started_at:
                m.started_at = ts
            if m.ended_at is None or ts > m.ended_at:
                m.ended_at = ts
            if st.turn is not None and (st.turn.ended_at is None or ts > st.turn.ended_at):
                st.turn.ended_at = ts
            if st.step is not None and (st.step.ended_at is None or ts > st.step.ended_at):
                st.step.ended_at = ts
        return st

    def _ensure_turn(self, sid: str, st: SessionState, ts: str | None) -> TurnRec:
        if st.turn is None:
            # Activity before any prompt (a subagent's task, a log that starts mid-conversation).
            st.turn = TurnRec(index=st.n_turns, started_at=ts, text="", origin="system", ended_at=ts)
            st.n_turns += 1
        return st.turn

    def _open_step(self, sid: str, st: SessionState, key: str, ts: str | None, model: str | None) -> StepRec:
        self._place_compaction(sid, st, mid_turn=True)
        turn = self._ensure_turn(sid, st, ts)
        self._close_step(sid, st)
        model = model or st.meta.current_model
        step = StepRec(turn_index=turn.index, index=turn.n_steps, key=key, started_at=ts, ended_at=ts,
                       model=model)
        turn.n_steps += 1
        st.step = step
        if model and model not in st.meta.models:
            st.meta.models.append(model)
        return step

    def _ensure_step(self, sid: str, st: SessionState, ts: str | None) -> StepRec:
        if st.step is None:
            turn = self._ensure_turn(sid, st, ts)
            return self._open_step(sid, st, f"auto:{turn.index}:{turn.n_steps}", ts, None)
        return st.step

    def _close_step(self, sid: str, st: SessionState) -> None:
        step = st.step
        if step is None:
            return
        for t in step.tools:
            if not t.has_result:
                t.status = "missing"
                st.pending[t.call_id] = _Pending(step.turn_index, step.index, t.started_at, t.name)
        if st.turn is not None and st.turn.index == step.turn_index:
            _note_last_step(st.turn, step)
        self.sink.step(sid, step)
        st.recent_keys[step.key] = (step.turn_index, step.index)
        if len(st.recent_keys) > _RECENT_KEYS:
            st.recent_keys.pop(next(iter(st.recent_keys)))
        st.step = None
        st.open_calls.clear()

    def _close_turn(self, sid: str, st: SessionState) -> None:
        self._close_step(sid, st)
        if st.turn is not None:
            self.sink.turn(sid, st.turn)
            st.turn = None

    @staticmethod
    def _apply_result(tool: ToolRec, r: ev.Result) -> None:
        status, kind, code, msg = classify(r.output, r.is_error, r.exit_code, r.hint, r.message)
        tool.status = status
        tool.error_kind = kind
        tool.exit_code = code
        tool.error_message = msg
        tool.output = r.output
        tool.ended_at = r.ts
        tool.out_off = r.off
        tool.has_result = True
        if r.child:
            tool.child = r.child

    # -- handlers -----------------------------------------------------------------------------

    def _meta(self, e: ev.Meta) -> None:
        st = self._state(e.sid, e.ts)
        m = st.meta
        if _s(e.provider):
            m.provider = e.provider
        if _s(e.cwd) and not m.project_root:
            m.project_root = normalize_root(e.cwd)  # `A/../shop` is /shop, not a folder of A
        if _s(e.git_branch) and not m.git_branch:
            m.git_branch = e.git_branch
        if _s(e.cli_version):
            m.cli_version = e.cli_version
        if _s(e.parent):
            m.parent_session_id = e.parent
        if _s(e.agent_name):
            m.agent_name = e.agent_name
        if _s(e.model):
            m.current_model = e.model
        if _s(e.title):
            m.title = _title(e.title)
        if isinstance(e.context_window, int) and not isinstance(e.context_window, bool) and e.context_window > 0:
            m.context_window = e.context_window
        if _s(e.source_file) and e.source_file not in m.source_files:
            m.source_files.append(e.source_file)

    def _prompt(self, e: ev.Prompt) -> None:
        if not isinstance(e.text, str):
            e.text = "" if e.text is None else str(e.text)
        st = self._state(e.sid, None)
        self._close_turn(e.sid, st)
        self._place_compaction(e.sid, st, mid_turn=False)
        st.turn = TurnRec(index=st.n_turns, started_at=e.ts, text=e.text, origin=e.origin, slash=e.slash,
                          ended_at=e.ts, off=e.off, end_marked=e.end_marked is True)
        st.n_turns += 1
        if not st.meta.title and e.origin in ("user", "slash_command") and e.text.strip():
            st.meta.title = _title(" ".join(e.text.split()))
        self._state(e.sid, e.ts)

    def _interrupt(self, e: ev.Interrupt) -> None:
        st = self._state(e.sid, e.ts)
        turn = st.turn
        if turn is None:
            return
        turn.interrupted = True
        # Calls of this turn that never returned were cut off by the interrupt.
        if st.step is not None:
            for t in st.step.tools:
                if not t.has_result:
                    self._apply_result(t, ev.Result(e.sid, t.call_id, e.ts, "", hint="interrupted",
                                                    message="interrupted before the tool returned"))
        for call_id, p in list(st.pending.items()):
            if p.turn_index == turn.index:
                patch = ToolRec(call_id=call_id, name=p.name, kind="", args=None, started_at=p.started_at)
                self._apply_result(patch, ev.Result(e.sid, call_id, e.ts, "", hint="interrupted",
                                                    message="interrupted before the tool returned"))
                self.sink.patch_tool(e.sid, p.turn_index, p.step_index, patch)
                del st.pending[call_id]

    def _interjection(self, e: ev.Interjection) -> None:
        if not isinstance(e.text, str) or not e.text.strip():
            return
        st = self._state(e.sid, e.ts)
        turn = st.turn
        if turn is None:  # nothing is running: what the user typed starts a turn after all
            self._prompt(ev.Prompt(e.sid, e.ts, e.text))
            return
        after = st.step.index if st.step is not None else turn.n_steps - 1
        rec = InterjectionRec(turn_index=turn.index, seq=turn.n_interjections, at=e.ts, after_step=after,
                              text=e.text)
        turn.n_interjections += 1
        turn.last_clean = False  # the user spoke after the last answer: the turn goes on
        self.sink.interjection(e.sid, rec)

    def _turn_end(self, e: ev.TurnEnd) -> None:
        st = self._state(e.sid, e.ts)
        turn = st.turn
        if turn is None:
            return
        turn.ended = True
        if isinstance(e.final_answer, str) and e.final_answer.strip():
            turn.end_answer = e.final_answer

    def _step_begin(self, e: ev.StepBegin) -> None:
        if not isinstance(e.key, str):
            e.key = str(e.key)
        if e.model is not None and not isinstance(e.model, str):
            e.model = None
        st = self._state(e.sid, None)
        if st.step is not None and st.step.key == e.key:
            if e.model and not st.step.model:
                st.step.model = e.model
            self._state(e.sid, e.ts)
            return
        self._open_step(e.sid, st, e.key, e.ts, e.model)
        self._state(e.sid, e.ts)

    def _text(self, e: ev.Text) -> None:
        st = self._state(e.sid, e.ts)
        if not e.text or not isinstance(e.text, str):
            return
        step = self._ensure_step(e.sid, st, e.ts)
        (step.reasoning if e.kind == "reasoning" else step.message).append(e.text)
        _went_on(st.turn)
        if e.kind != "reasoning" and e.phase is not None and st.turn is not None:
            st.turn.phased = True
            if e.phase == "final_answer":
                st.turn.phase_answer = e.text

    def _call(self, e: ev.Call) -> None:
        if not isinstance(e.call_id, str) or not isinstance(e.name, str):
            e.call_id, e.name = str(e.call_id), str(e.name)
        st = self._state(e.sid, e.ts)
        step = self._ensure_step(e.sid, st, e.ts)
        _went_on(st.turn)
        tool = ToolRec(call_id=e.call_id, name=e.name, kind=e.kind or tool_kind(e.name), args=e.args,
                       started_at=e.ts)
        child = st.links.pop(e.call_id, None)
        if child:
            tool.child = child
        orphan = st.orphans.pop(e.call_id, None)
        if orphan is not None:
            self._apply_result(tool, orphan)
        step.tools.append(tool)
        st.open_calls[e.call_id] = tool

    def _result(self, e: ev.Result) -> None:
        if not isinstance(e.call_id, str):
            e.call_id = str(e.call_id)
        if not isinstance(e.output, str):
            e.output = "" if e.output is None else str(e.output)
        st = self._state(e.sid, e.ts)
        tool = st.open_calls.get(e.call_id)
        if tool is not None:
            self._apply_result(tool, e)
            return
        p = st.pending.pop(e.call_id, None)
        if p is not None:
            patch = ToolRec(call_id=e.call_id, name=p.name, kind="", args=None, started_at=p.started_at)
            self._apply_result(patch, e)
            self.sink.patch_tool(e.sid, p.turn_index, p.step_index, patch)
            return
        if len(st.orphans) < MAX_ORPHANS:
            st.orphans[e.call_id] = e
        st.orphan_results += 1

    def _usage(self, e: ev.StepUsage) -> None:
        st = self._state(e.sid, None)
        i, cr, cw, o, r = (v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 62 else 0
                           for v in (e.input, e.cache_read, e.cache_write, e.output, e.reasoning))
        usage = (i, cr, cw, o, r)
        if st.step is not None and st.step.key == e.key:
            st.step.usage = usage
            return
        where = st.recent_keys.get(e.key)
        if where is not None:
            self.sink.patch_usage(e.sid, where[0], where[1], usage)

    def _step_failed(self, e: ev.StepFailed) -> None:
        st = self._state(e.sid, e.ts)
        step = self._ensure_step(e.sid, st, e.ts)
        step.failed = True
        step.error = e.message
        if e.message and e.message not in step.message:
            step.message.append(e.message)

    def _compact(self, e: ev.Compact) -> None:
        st = self._state(e.sid, e.ts)
        self._place_compaction(e.sid, st, mid_turn=True)
        st.pending_compact = CompactRec(turn_index=-1, at=e.ts, trigger=e.trigger, pre_tokens=e.pre_tokens)

    def _place_compaction(self, sid: str, st: SessionState, *, mid_turn: bool) -> None:
        """A compaction followed by a prompt belongs to that new turn (Claude's continuation); followed by
        more model work it happened inside the current turn (Codex compacts mid-turn)."""
        c = st.pending_compact
        if c is None:
            return
        st.pending_compact = None
        c.turn_index = st.turn.index if (mid_turn and st.turn is not None) else st.n_turns
        self.sink.compaction(sid, c)

    def _link(self, e: ev.Link) -> None:
        st = self._state(e.sid, None)
        tool = st.open_calls.get(e.call_id)
        if tool is not None:
            tool.child = e.child
            return
        p = st.pending.get(e.call_id)
        if p is not None:
            patch = ToolRec(call_id=e.call_id, name=p.name, kind="", args=None, started_at=p.started_at,
                            child=e.child)
            self.sink.patch_tool(e.sid, p.turn_index, p.step_index, patch)
            return
        st.links[e.call_id] = e.child
