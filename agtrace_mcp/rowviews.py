"""Index rows (and engine results) → the result models of `views.py`: what the API returns."""

from __future__ import annotations

import re
from typing import Any

import orjson

from . import model as m
from .engine.analysis import Finding as AnalysisFinding
from .engine.context_windows import resolve_window
from .engine.text import cut_middle, snippet
from .engine.usage import StepPoint, cache_hit_rate, compaction_bounds, pct
from .providers import REGISTRY, SourceFile
from .views import (
    CompactionUsage,
    ContextUse,
    Finding,
    ModelUsage,
    OutputInContext,
    SessionSummary,
    StepDetail,
    TokenTotals,
    ToolDetail,
    ToolErrorView,
    ToolUse,
    TurnOutline,
)

MAX_CALL_IDS = 10  # call ids listed per analysis finding


def highlight(text: str, query: str, width: int = 240) -> str:
    """About `width` characters of `text` around the first query term, each term marked «like this»."""
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


def join_notes(*notes: str | None) -> str | None:
    """The notes that are set, as one; None when none is."""
    return "; ".join(n for n in notes if n) or None


def summary(r: Any, shown: set[str] | None = None) -> SessionSummary:
    """A `sessions` row as a list entry; its parent is named only when it is in `shown` (when given)."""
    parent = r["parent_id"]
    if shown is not None and parent not in shown:
        parent = None
    return SessionSummary(
        session_id=r["id"], provider=r["provider"], project_root=r["project_root"], title=r["title"] or "",
        started_at=r["started_at"], ended_at=r["ended_at"], turns=r["turns"], tool_calls=r["tool_calls"],
        failed_tools=r["failed_tools"], models=orjson.loads(r["models"] or "[]"), git_branch=r["git_branch"],
        parent_session_id=parent, agent_name=r["agent_name"], on_disk=bool(r["on_disk"]))


def stats(r: Any) -> m.Stats:
    """A `sessions` row's totals."""
    from .engine.timeutil import ms_between
    return m.Stats(turns=r["turns"], steps=r["steps"], tool_calls=r["tool_calls"], failed_tools=r["failed_tools"],
                   input=r["input"], cache_read=r["cache_read"], cache_write=r["cache_write"], output=r["output"],
                   reasoning=r["reasoning"], peak_context_tokens=r["peak_context"],
                   duration_ms=ms_between(r["started_at"], r["ended_at"]))


def turn_stats(t: Any) -> m.Stats:
    """A `turns` row's totals."""
    from .engine.timeutil import ms_between
    return m.Stats(turns=1, steps=t["steps"], tool_calls=t["tool_calls"], failed_tools=t["failed_tools"],
                   input=t["input"], cache_read=t["cache_read"], cache_write=t["cache_write"], output=t["output"],
                   reasoning=t["reasoning"], peak_context_tokens=t["peak_context"],
                   duration_ms=ms_between(t["started_at"], t["ended_at"]))


def outline(t: Any, counts: list[tuple[str, int, int]]) -> TurnOutline:
    """A `turns` row with its (tool, ok, failed) counts, as one line of a session outline."""
    return TurnOutline(index=t["idx"], started_at=t["started_at"], ended_at=t["ended_at"], origin=t["origin"],
                       prompt=snippet(t["text"], 300), steps=t["steps"],
                       tools=[ToolUse(name=n, ok=ok, failed=f) for n, ok, f in counts[:20]],
                       failed_tools=t["failed_tools"], interrupted=bool(t["interrupted"]),
                       final_answer=snippet(t["final_message"], 300) or None)


def step(s: Any, tools: list[Any], cap: int) -> StepDetail:
    usage = None
    if s["has_usage"]:
        usage = m.Usage(input=s["input"], cache_read=s["cache_read"], cache_write=s["cache_write"],
                        output=s["output"], reasoning=s["reasoning_tokens"])
    return StepDetail(index=s["idx"], started_at=s["started_at"], model=s["model"], status=s["status"],
                      reasoning=cut_middle(s["reasoning"], cap, "; the index keeps 16 KB") if s["reasoning"] else None,
                      message=cut_middle(s["message"], cap * 2, "; the index keeps 16 KB") if s["message"] else None,
                      tools=[tool(t, cap) for t in tools], usage=usage)


def tool(t: Any, cap: int) -> ToolDetail:
    args: Any = orjson.loads(t["args"]) if t["args"] else None
    if args is not None and not isinstance(args, (dict, str)):
        args = orjson.dumps(args).decode()
    args_cut = t["args_len"] > len(t["args"] or "")
    if args is not None and len(t["args"]) > cap:
        args = cap_json(args, max(80, cap // 4))
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


def cap_json(v: Any, cap: int) -> Any:
    from .store.rows import cap_strings
    return cap_strings(v, cap)


def full_tool_text(row: Any, field: str) -> tuple[str, str]:
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


def finding(f: AnalysisFinding) -> Finding:
    return Finding(kind=f.kind, severity=f.severity, start_turn=f.start[0], start_step=f.start[1],  # type: ignore[arg-type]
                   end_turn=f.end[0], end_step=f.end[1], tool=f.tool, target=snippet(f.target or "", 200) or None,
                   count=f.count, resolved=f.resolved, call_ids=f.call_ids[:MAX_CALL_IDS],
                   calls_total=len(f.call_ids), explanation=f.explanation)


def tokens(input_: int, cache_read: int, cache_write: int, output: int, reasoning: int) -> TokenTotals:
    input_, cache_read, cache_write, output, reasoning = (int(x or 0) for x in
                                                          (input_, cache_read, cache_write, output, reasoning))
    return TokenTotals(input=input_, cache_read=cache_read, cache_write=cache_write, output=output,
                       reasoning=reasoning, total=input_ + cache_read + cache_write + output,
                       cache_hit_rate=cache_hit_rate(input_, cache_read, cache_write))


def subagent_fields(own: TokenTotals, subs: Any) -> dict[str, Any]:
    if not subs or not subs["n"]:
        return {"subagents": 0, "subagent_tokens": None, "tokens_with_subagents": None}
    sub = tokens(subs["input"], subs["cache_read"], subs["cache_write"], subs["output"], subs["reasoning"])
    both = tokens(own.input + sub.input, own.cache_read + sub.cache_read, own.cache_write + sub.cache_write,
                   own.output + sub.output, own.reasoning + sub.reasoning)
    return {"subagents": subs["n"], "subagent_tokens": sub, "tokens_with_subagents": both}


def models(rows: list[Any]) -> list[ModelUsage]:
    return [ModelUsage(model=r["model"] or "(unknown)", steps=r["steps"],
                       tokens=tokens(r["input"], r["cache_read"], r["cache_write"], r["output"], r["reasoning"]))
            for r in rows[:20]]


def context_use(recorded: int | None, steps: list[Any], points: list[StepPoint]) -> ContextUse:
    with_usage = [s for s in steps if s["has_usage"]]
    if not with_usage:
        return ContextUse(context_window=recorded, window_source="recorded" if recorded else None)
    peak = max(with_usage, key=lambda s: s["context"])
    last = with_usage[-1]
    model = next((s["model"] for s in reversed(with_usage) if s["model"] and s["model"] != "<synthetic>"), None)
    window, source = resolve_window(recorded, model, peak["context"])
    return ContextUse(model=model, context_window=window, window_source=source,  # type: ignore[arg-type]
                      peak_context_tokens=peak["context"], peak_turn=peak["turn_idx"], peak_step=peak["idx"],
                      peak_pct=pct(peak["context"], window), last_context_tokens=last["context"],
                      last_pct=pct(last["context"], window))


def compactions(comps: list[Any], points: list[StepPoint]) -> tuple[list[CompactionUsage], tuple[int, int] | None]:
    """Each compaction with its tokens before/after; and where the context of the last one starts."""
    out, after_at = [], None
    for c in comps:
        before, after, first = compaction_bounds(points, c["turn_idx"], c["at"], c["pre_tokens"])
        # a compaction in the middle of a turn (Codex) is recorded against the next turn: name the turn it hit
        turn = min(c["turn_idx"], first.turn) if first is not None else c["turn_idx"]
        out.append(CompactionUsage(turn_index=turn, at=c["at"], trigger=c["trigger"], tokens_before=before,
                                   tokens_after=after))
        after_at = (first.turn, first.step) if first is not None else (c["turn_idx"], 0)
    return out, after_at


def outputs(rows: list[Any]) -> list[OutputInContext]:
    return [OutputInContext(call_id=r["call_id"], tool=r["name"], turn_index=r["turn_idx"], step_index=r["step_idx"],
                            output_chars=r["output_len"]) for r in rows]


def ts_key(ts: str | None) -> float:
    """A sortable number for an ISO timestamp (newer = larger); 0 when missing."""
    if not ts:
        return 0.0
    from datetime import datetime
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
