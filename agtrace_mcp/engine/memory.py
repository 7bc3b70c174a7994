"""An in-memory sink: collects the builder's records and turns them into `model.Session` objects."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import model as m
from .records import CompactRec, InterjectionRec, SessionMetaRec, StepRec, ToolRec, TurnRec
from .timeutil import ms_between, parse_ts


@dataclass
class _Collected:
    meta: SessionMetaRec | None = None
    turns: dict[int, TurnRec] = field(default_factory=dict)
    steps: dict[tuple[int, int], StepRec] = field(default_factory=dict)
    compactions: list[CompactRec] = field(default_factory=list)
    interjections: dict[tuple[int, int], InterjectionRec] = field(default_factory=dict)


class MemorySink:
    """Collects what the builder produces and turns it into pydantic sessions; `provider` names the agent of a
    session whose records did not say it."""

    def __init__(self, provider: str = "") -> None:
        self.sessions: dict[str, _Collected] = {}
        self.provider = provider

    def _get(self, sid: str) -> _Collected:
        c = self.sessions.get(sid)
        if c is None:
            c = self.sessions[sid] = _Collected()
        return c

    def meta(self, sid: str, meta: SessionMetaRec) -> None:
        self._get(sid).meta = meta

    def turn(self, sid: str, turn: TurnRec) -> None:
        self._get(sid).turns[turn.index] = turn

    def step(self, sid: str, step: StepRec) -> None:
        self._get(sid).steps[(step.turn_index, step.index)] = step

    def patch_tool(self, sid: str, turn_index: int, step_index: int, tool: ToolRec) -> None:
        step = self._get(sid).steps.get((turn_index, step_index))
        if step is None:
            return
        for t in step.tools:
            if t.call_id == tool.call_id:
                apply_patch(t, tool)

    def patch_usage(self, sid: str, turn_index: int, step_index: int, usage: tuple[int, ...]) -> None:
        step = self._get(sid).steps.get((turn_index, step_index))
        if step is not None:
            step.usage = usage  # type: ignore[assignment]

    def compaction(self, sid: str, rec: CompactRec) -> None:
        self._get(sid).compactions.append(rec)

    def interjection(self, sid: str, rec: InterjectionRec) -> None:
        self._get(sid).interjections[(rec.turn_index, rec.seq)] = rec

    def to_models(self) -> list[m.Session]:
        return [to_session(c, self.provider) for c in self.sessions.values() if c.meta is not None]


def apply_patch(t: ToolRec, patch: ToolRec) -> None:
    """Copy what a late patch carries (a result, a child link) onto the emitted tool."""
    if patch.has_result:
        t.status, t.error_kind, t.exit_code = patch.status, patch.error_kind, patch.exit_code
        t.error_message, t.output, t.ended_at = patch.error_message, patch.output, patch.ended_at
        t.out_off, t.has_result = patch.out_off, True
    if patch.child:
        t.child = patch.child


def tool_model(t: ToolRec) -> m.ToolExecution:
    err = None
    if t.status == "error" and t.error_kind:
        err = m.ToolError(kind=t.error_kind, exit_code=t.exit_code, message=t.error_message or "")
    return m.ToolExecution(
        call_id=t.call_id, name=t.name, kind=t.kind, args=t.args,
        started_at=parse_ts(t.started_at), ended_at=parse_ts(t.ended_at),
        duration_ms=ms_between(t.started_at, t.ended_at) if t.has_result else None,
        output=t.output, status=t.status, error=err, child_session_id=t.child)


def usage_model(u: tuple[int, ...] | None) -> m.Usage | None:
    if u is None:
        return None
    return m.Usage(input=u[0], cache_read=u[1], cache_write=u[2], output=u[3], reasoning=u[4])


def step_model(s: StepRec) -> m.Step:
    status = "failed" if s.failed else ("in_progress" if s.in_progress else "done")
    return m.Step(index=s.index, started_at=parse_ts(s.started_at), model=s.model,
                  reasoning=s.reasoning_text, message=s.message_text,
                  tools=[tool_model(t) for t in s.tools], usage=usage_model(s.usage), status=status)


def add_step_stats(stats: m.Stats, step: StepRec) -> None:
    stats.steps += 1
    stats.tool_calls += len(step.tools)
    stats.failed_tools += sum(1 for t in step.tools if t.status == "error")
    stats.missing_tools += sum(1 for t in step.tools if t.status == "missing")
    if step.usage is not None:
        i, cr, cw, o, r = step.usage
        stats.input += i
        stats.cache_read += cr
        stats.cache_write += cw
        stats.output += o
        stats.reasoning += r
        stats.peak_context_tokens = max(stats.peak_context_tokens, i + cr + cw)


def to_session(c: _Collected, provider: str = "") -> m.Session:
    meta = c.meta
    assert meta is not None
    by_turn: dict[int, list[StepRec]] = {}
    for (ti, _si), s in sorted(c.steps.items()):
        by_turn.setdefault(ti, []).append(s)
    said: dict[int, list[m.Interjection]] = {}
    for (ti, _n), ij in sorted(c.interjections.items()):
        said.setdefault(ti, []).append(m.Interjection(text=ij.text, at=parse_ts(ij.at), after_step=ij.after_step))
    turns: list[m.Turn] = []
    total = m.Stats()
    for ti in sorted(c.turns):
        tr = c.turns[ti]
        steps = by_turn.get(ti, [])
        ts = m.Stats(turns=1, duration_ms=ms_between(tr.started_at, tr.ended_at))
        for s in steps:
            add_step_stats(ts, s)
            add_step_stats(total, s)
        turns.append(m.Turn(
            index=tr.index, started_at=parse_ts(tr.started_at), ended_at=parse_ts(tr.ended_at),
            user=m.UserInput(text=tr.text, origin=tr.origin, slash_command=tr.slash),
            steps=[step_model(s) for s in steps], interjections=said.get(ti, []), interrupted=tr.interrupted,
            status=tr.status, final_answer=tr.final_answer, stats=ts))
    total.turns = len(turns)
    total.duration_ms = ms_between(meta.started_at, meta.ended_at)
    return m.Session(
        session_id=meta.session_id, provider=meta.provider or provider,
        project_root=meta.project_root, git_branch=meta.git_branch or None, title=meta.title,
        started_at=parse_ts(meta.started_at), ended_at=parse_ts(meta.ended_at), models=list(meta.models),
        cli_version=meta.cli_version, parent_session_id=meta.parent_session_id, agent_name=meta.agent_name,
        source_files=list(meta.source_files), turns=turns,
        compactions=[m.Compaction(turn_index=x.turn_index, at=parse_ts(x.at), trigger=x.trigger,
                                  pre_tokens=x.pre_tokens) for x in c.compactions],
        stats=total)
