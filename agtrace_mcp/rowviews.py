"""Index rows (and engine results) → the result models of `views.py`: what the API returns."""

from __future__ import annotations

import re
from typing import Any

import orjson

from . import model as m
from .engine.analysis import Finding as AnalysisFinding
from .engine.context_windows import resolve_window
from .engine.shapes import GENERIC, ToolShapes
from .engine.text import snippet
from .engine.usage import StepPoint, cache_hit_rate, compaction_bounds, pct
from .views import (
    CompactionUsage,
    ContextUse,
    Finding,
    InterjectionView,
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


def highlight(text: str, terms: list[tuple[tuple[str, ...], bool]], width: int = 240) -> str:
    """About `width` characters of `text` around the first match, each matching word marked «like this».

    Marks whole words only, as the search matched them (a prefix term marks the words it begins): `in` marks
    the word "in", never the "in" inside "String"."""
    pats = []
    for tokens, prefix in terms:
        for i, tok in enumerate(tokens):
            tail = r"[^\W_]*" if prefix and i == len(tokens) - 1 else ""
            pats.append(re.escape(tok) + tail)
    if not pats:
        return snippet(text, width)
    word = re.compile(r"(?<![^\W_])(?:" + "|".join(sorted(pats, key=len, reverse=True)) + r")(?![^\W_])",
                      re.IGNORECASE)
    m = word.search(text)
    start = m.start() if m else 0
    a = max(0, start - width // 3)
    b = min(len(text), a + width)
    window = " ".join(text[a:b].split())
    window = word.sub(lambda mt: f"«{mt.group(0)}»", window)
    return ("…" if a > 0 else "") + window + ("…" if b < len(text) else "")


def join_notes(*notes: str | None) -> str | None:
    """The notes that are set, as one; None when none is."""
    return "; ".join(n for n in notes if n) or None


def origin(r: Any) -> dict[str, Any]:
    """Where a row's session ran (`machine`, `user`): only a team database's rows say; {} for the local index."""
    if "machine" not in r.keys():
        return {}
    return {"machine": r["machine"], "user": r["user"]}


def machines(r: Any) -> list[str] | None:
    """The machines of a `projects` row (a team database's; None for the local index)."""
    if "machines" not in r.keys():
        return None
    return sorted(m for m in (r["machines"] or "").split(",") if m)


def summary(r: Any, shown: set[str] | None = None) -> SessionSummary:
    """A `sessions` row as a list entry; its parent is named only when it is in `shown` (when given)."""
    parent = r["parent_id"]
    if shown is not None and parent not in shown:
        parent = None
    return SessionSummary(
        session_id=r["id"], provider=r["provider"], project_root=r["project_root"], title=r["title"] or "",
        started_at=r["started_at"], ended_at=r["ended_at"], turns=r["turns"], tool_calls=r["tool_calls"],
        failed_tools=r["failed_tools"], missing_tools=r["missing_tools"], models=orjson.loads(r["models"] or "[]"),
        git_branch=r["git_branch"], parent_session_id=parent, agent_name=r["agent_name"], on_disk=bool(r["on_disk"]),
        **origin(r))


def stats(r: Any) -> m.Stats:
    """A `sessions` row's totals."""
    from .engine.timeutil import ms_between
    return m.Stats(turns=r["turns"], steps=r["steps"], tool_calls=r["tool_calls"], failed_tools=r["failed_tools"],
                   missing_tools=r["missing_tools"],
                   input=r["input"], cache_read=r["cache_read"], cache_write=r["cache_write"], output=r["output"],
                   reasoning=r["reasoning"], peak_context_tokens=r["peak_context"],
                   duration_ms=ms_between(r["started_at"], r["ended_at"]))


def turn_stats(t: Any) -> m.Stats:
    """A `turns` row's totals."""
    from .engine.timeutil import ms_between
    return m.Stats(turns=1, steps=t["steps"], tool_calls=t["tool_calls"], failed_tools=t["failed_tools"],
                   missing_tools=t["missing_tools"],
                   input=t["input"], cache_read=t["cache_read"], cache_write=t["cache_write"], output=t["output"],
                   reasoning=t["reasoning"], peak_context_tokens=t["peak_context"],
                   duration_ms=ms_between(t["started_at"], t["ended_at"]))


def outline(t: Any, counts: list[tuple[str, int, int, int]], interjections: int = 0) -> TurnOutline:
    """A `turns` row with its (tool, ok, failed, missing) counts, as one line of a session outline."""
    return TurnOutline(index=t["idx"], started_at=t["started_at"], ended_at=t["ended_at"], origin=t["origin"],
                       status=t["status"], prompt=snippet(t["text"], 300), steps=t["steps"],
                       tools=[ToolUse(name=n, ok=ok, failed=f, missing=mi) for n, ok, f, mi in counts[:20]],
                       failed_tools=t["failed_tools"], missing_tools=t["missing_tools"], interjections=interjections,
                       final_answer=snippet(t["final_answer"], 300) or None)


# -- cutting texts so that nothing is lost: every marker names the call that returns the rest -------------

KEEP_WHOLE = 2000  # a field this short is never cut
ANSWER_FLOOR = 8000  # the prompt and the final answer are never cut below this
_INDEX_CUT = re.compile(r"\n…\[(\d+) chars cut\]…\n")  # what the index wrote where it kept head and tail
_INDEX_CUT_INLINE = re.compile(r"…\[(\d+) chars cut\]…")  # inside argument strings
_NAMED_CUT = re.compile(r"\n…\[(\d+) chars cut; get_text\([^)]*\) returns all\]…\n")


def index_cut(text: str) -> bool:
    """Whether the index kept only a head and a tail of this text (its marker sits before the last 150 chars)."""
    return _INDEX_CUT.search(text[-300:]) is not None


def text_call(sid: str, field: str, turn: int | None = None, step: int | None = None,
              call_id: str | None = None) -> str:
    """The get_text call that returns a field whole (no quotes: markers sit inside JSON strings)."""
    where = f"call_id={call_id}" if call_id else f"turn_index={turn}" + ("" if step is None else f", step_index={step}")
    return f"get_text(session_id={sid}, {where}, field={field})"


def cut(text: str, limit: int, call: str, whole: int = KEEP_WHOLE) -> str:
    """Head and tail of `text` within about `limit` chars; the marker says how much was cut and which call
    returns all of it. Texts of at most `limit` chars (or `whole`) come back unchanged."""
    limit = max(limit, whole)
    if len(text) <= limit:
        return text
    keep = max(limit, 60)  # the text kept is `limit` chars; the marker comes on top
    done = _NAMED_CUT.search(text)
    if done is not None:  # already a head and a tail (the index's copy): shorten the head, one marker in all
        head, tail = text[:done.start()], text[done.end():]
        missing = int(done.group(1))
        if len(tail) < keep:
            kept = head[:keep - len(tail)]
            return f"{kept}\n…[{missing + len(head) - len(kept)} chars cut; {call} returns all]…\n{tail}"
    n_head = keep * 2 // 3
    n_tail = keep - n_head
    return (f"{text[:n_head]}\n…[{len(text) - n_head - n_tail} chars cut; {call} returns all]…\n"
            f"{text[len(text) - n_tail:]}")


def name_cuts(text: str, call: str) -> str:
    """Rewrite the index's own cut markers (where it kept a head and a tail) to name the call for the rest."""
    if "chars cut]" not in text:
        return text
    return _INDEX_CUT.sub(lambda mt: f"\n…[{mt.group(1)} chars cut; {call} returns all]…\n", text)


def _name_cuts_json(v: Any, call: str) -> Any:
    if isinstance(v, str):
        return _INDEX_CUT_INLINE.sub(lambda mt: f"…[{mt.group(1)} chars cut; {call} returns all]…", v) \
            if "chars cut]" in v else v
    if isinstance(v, dict):
        return {k: _name_cuts_json(x, call) for k, x in v.items()}
    if isinstance(v, list):
        return [_name_cuts_json(x, call) for x in v]
    return v


def _cut_json(v: Any, limit: int, call: str, whole: int = KEEP_WHOLE) -> Any:
    """Cut the strings inside a JSON value longer than `limit`, keeping it valid JSON."""
    if isinstance(v, str):
        return cut(v, limit, call, whole)
    if isinstance(v, dict):
        return {k: _cut_json(x, limit, call, whole) for k, x in v.items()}
    if isinstance(v, list):
        return [_cut_json(x, limit, call, whole) for x in v]
    return v


def step(s: Any, tools: list[Any], cap: int, sid: str = "", whole: int = KEEP_WHOLE) -> StepDetail:
    """A step in full, every field longer than `cap` (and KEEP_WHOLE) cut with a marker naming get_text."""
    usage = None
    if s["has_usage"]:
        usage = m.Usage(input=s["input"], cache_read=s["cache_read"], cache_write=s["cache_write"],
                        output=s["output"], reasoning=s["reasoning_tokens"])
    ti, si = s["turn_idx"], s["idx"]

    def field(name: str) -> str | None:
        text = s[name]
        if not text:
            return None
        call = text_call(sid, name, ti, si)
        return cut(name_cuts(text, call), cap, call, whole)

    return StepDetail(index=si, started_at=s["started_at"], model=s["model"], status=s["status"],
                      reasoning=field("reasoning"), message=field("message"),
                      tools=[tool(t, cap, sid, whole) for t in tools], usage=usage)


def tool(t: Any, cap: int, sid: str = "", whole: int = KEEP_WHOLE) -> ToolDetail:
    args: Any = orjson.loads(t["args"]) if t["args"] else None
    if args is not None and not isinstance(args, (dict, str)):
        args = orjson.dumps(args).decode()
    args_call = text_call(sid, "args", call_id=t["call_id"])
    args_cut = t["args_len"] > len(t["args"] or "")
    if args is not None:
        args = _name_cuts_json(args, args_call)
        if len(t["args"]) > cap:
            shrunk = _cut_json(args, cap // 2, args_call, whole)
            args_cut = args_cut or shrunk != args
            args = shrunk
    out_call = text_call(sid, "output", call_id=t["call_id"])
    out = name_cuts(t["output"] or "", out_call)
    shown = cut(out, cap, out_call, whole)
    err = None
    if t["status"] == "error":
        err = ToolErrorView(kind=t["error_kind"] or "tool_error", exit_code=t["exit_code"],
                            message=snippet(t["error_message"] or "", 400))
    return ToolDetail(call_id=t["call_id"], name=t["name"], kind=t["kind"], args=args, args_truncated=args_cut,
                      status=t["status"], error=err, output=shown, output_chars=t["output_len"],
                      output_truncated=t["output_len"] > len(t["output"] or "") or shown is not out,
                      started_at=t["started_at"], duration_ms=t["duration_ms"], child_session_id=t["child_id"])


def interjection(r: Any, cap: int, sid: str) -> InterjectionView:
    call = text_call(sid, "interjection", r["turn_idx"], r["seq"])
    return InterjectionView(text=cut(name_cuts(r["text"], call), cap, call), at=r["at"], after_step=r["after_step"])


# -- a turn in outline: one line per step ---------------------------------------------------------------------


def duration(ms: int | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    return f"{ms // 60_000}m{ms // 1000 % 60:02d}s"


def _first_line(text: str | None, limit: int) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return snippet(line, limit)
    return ""


def call_of(t: Any, shapes: ToolShapes = GENERIC) -> Any:
    """An index tool row as the analysis engine's `Call` (its describe/command helpers read it); `shapes`: how
    the session's agent spells its tools' arguments."""
    from .engine.analysis import Call
    try:
        args = orjson.loads(t["args"]) if t["args"] else None
    except orjson.JSONDecodeError:
        args = t["args"]
    return Call(turn=t["turn_idx"], step=t["step_idx"], seq=t["seq"], call_id=t["call_id"], name=t["name"],
                kind=t["kind"], args=args, status=t["status"], error_kind=t["error_kind"], error=t["error_message"],
                started_at=t["started_at"], duration_ms=t["duration_ms"], output_len=t["output_len"],
                child=t["child_id"], shapes=shapes)


def poll_targets(tools: list[Any], shapes: ToolShapes = GENERIC) -> dict[str, str]:
    """Polls among a turn's tool rows → the command of the call (in the same rows) that started the process."""
    from .engine.analysis import link_polls
    calls = [call_of(t, shapes) for t in tools]
    link_polls(calls, {t["call_id"]: t["output"] or "" for t in tools})
    return {c.call_id: c.command for c in calls if c.command}


def tool_line(t: Any, polls: dict[str, str] | None = None, shapes: ToolShapes = GENERIC) -> str:
    """`Bash: npm test → error exit 1, 3.2s: FAIL src/a.test.ts` — the call, its target and how it ended; a poll
    names the command it waits on."""
    from .engine.analysis import describe
    started = (polls or {}).get(t["call_id"])
    call = call_of(t, shapes)
    sent = call.args.get("chars") if isinstance(call.args, dict) else None
    if started and sent:  # input written to the running process (a Ctrl-C, an answer to a prompt)
        target = f"sends {sent!r} to `{snippet(started, 60)}`"
    elif started:
        target = f"polls `{snippet(started, 70)}`"
    else:
        target = describe(call, 80)
    status = {"ok": "ok", "error": "error", "missing": "missing (no result)", "in_progress": "running"}.get(
        t["status"], t["status"])
    bits = []
    if t["status"] == "error" and t["error_kind"] and t["error_kind"] != "exit_code":
        bits.append(t["error_kind"])
    if t["exit_code"] is not None and (t["exit_code"] != 0 or t["status"] == "error"):
        bits.append(f"exit {t['exit_code']}")
    if t["duration_ms"] is not None:
        bits.append(duration(t["duration_ms"]))
    line = f"{t['name']}" + (f": {target}" if target else "") + f" → {status}"
    if bits:
        line += f" ({', '.join(bits)})"
    if t["status"] == "error":
        first = _first_line(t["error_message"], 160)
        if first:
            line += f": {first}"
    return line


def outline_lines(steps: list[Any], by_step: dict[int, list[Any]], said: list[Any], sid: str,
                  polls: dict[str, str] | None = None, shapes: ToolShapes = GENERIC) -> list[tuple[int, str]]:
    """(step index, line) per step, with a » line after the step each interjection followed."""
    after: dict[int, list[Any]] = {}
    for r in said:
        after.setdefault(r["after_step"], []).append(r)
    out: list[tuple[int, str]] = []

    def user_lines(k: int, at_step: int) -> None:
        for r in after.pop(k, []):
            call = text_call(sid, "interjection", r["turn_idx"], r["seq"])
            out.append((at_step, f"» user (typed mid-turn): {cut(name_cuts(r['text'], call), 600, call)}"))

    first = steps[0]["idx"] if steps else 0
    if first == 0:
        user_lines(-1, 0)
    for s in steps:
        tools = by_step.get(s["idx"], [])
        parts = []
        msg = _first_line(s["message"], 100 if tools else 200)
        if s["status"] == "failed":
            parts.append(f"model request failed: {_first_line(s['error'] or s['message'], 200)}")
        elif msg:
            parts.append(f"says: {msg}")
        parts += [tool_line(t, polls, shapes) for t in tools]
        if not parts:
            parts.append("(thinking)" if s["reasoning"] else "(no text)")
        out.append((s["idx"], f"#{s['idx']} " + "; ".join(parts)))
        user_lines(s["idx"], s["idx"])
    for k in sorted(after):  # after steps not shown on this page (or never written)
        user_lines(k, k)
    return out


def finding(f: AnalysisFinding) -> Finding:
    return Finding(kind=f.kind, severity=f.severity, start_turn=f.start[0], start_step=f.start[1],
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
    return ContextUse(model=model, context_window=window, window_source=source,
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


def session_model(row: Any, turns: list[Any], steps: list[Any], tools: list[Any], comps: list[Any],
                  said: list[Any]) -> m.Session:
    """A whole session rebuilt from its stored rows (texts as the store keeps them: capped, outputs cut head
    and tail): the `show` of a session whose log is gone or on another machine. `said`: its interjections."""
    typed: dict[int, list[m.Interjection]] = {}
    for i in said:
        typed.setdefault(i["turn_idx"], []).append(m.Interjection(text=i["text"] or "", at=i["at"] or None,
                                                                  after_step=i["after_step"]))
    by_step: dict[tuple[int, int], list[Any]] = {}
    for t in tools:
        by_step.setdefault((t["turn_idx"], t["step_idx"]), []).append(t)
    by_turn: dict[int, list[m.Step]] = {}
    for s in steps:
        usage = None
        if s["has_usage"]:
            usage = m.Usage(input=s["input"], cache_read=s["cache_read"], cache_write=s["cache_write"],
                            output=s["output"], reasoning=s["reasoning_tokens"])
        calls = []
        for t in by_step.get((s["turn_idx"], s["idx"]), []):
            try:
                args: Any = orjson.loads(t["args"]) if t["args"] else None
            except orjson.JSONDecodeError:
                args = t["args"]
            err = None
            if t["status"] == "error":
                err = m.ToolError(kind=t["error_kind"] or "tool_error", exit_code=t["exit_code"],
                                  message=t["error_message"] or "")
            calls.append(m.ToolExecution(call_id=t["call_id"], name=t["name"], kind=t["kind"], args=args,
                                         started_at=t["started_at"], ended_at=t["ended_at"],
                                         duration_ms=t["duration_ms"], output=t["output"] or "", status=t["status"],
                                         error=err, child_session_id=t["child_id"]))
        by_turn.setdefault(s["turn_idx"], []).append(m.Step(
            index=s["idx"], started_at=s["started_at"], model=s["model"], reasoning=s["reasoning"],
            message=s["message"], tools=calls, usage=usage, status=s["status"]))
    return m.Session(
        session_id=row["id"], provider=row["provider"], project_root=row["project_root"], git_branch=row["git_branch"],
        title=row["title"] or "", started_at=row["started_at"], ended_at=row["ended_at"],
        models=orjson.loads(row["models"] or "[]"), cli_version=row["cli_version"], parent_session_id=row["parent_id"],
        agent_name=row["agent_name"], source_files=orjson.loads(row["source_files"] or "[]"),
        turns=[m.Turn(index=t["idx"], started_at=t["started_at"], ended_at=t["ended_at"],
                      user=m.UserInput(text=t["text"] or "", origin=t["origin"], slash_command=t["slash"]),
                      steps=by_turn.get(t["idx"], []), interjections=typed.get(t["idx"], []),
                      interrupted=bool(t["interrupted"]), status=t["status"], final_answer=t["final_answer"],
                      stats=turn_stats(t))
               for t in turns],
        compactions=[m.Compaction(turn_index=c["turn_idx"], at=c["at"] or None, trigger=c["trigger"],
                                  pre_tokens=c["pre_tokens"]) for c in comps],
        stats=stats(row))
