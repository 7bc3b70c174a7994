"""What the index keeps of each record, prepared without the database.

The builder's records (`engine/records.py`) carry whole texts; the index keeps them masked (whole, before
any cut), then capped texts, previews of tool outputs and capped argument JSON. Preparing those is pure
Python and most of a sink's work, so it lives here, apart from the SQL: a parse worker process
(`store/workers.py`) prepares the rows of a whole file and the one writer (`store/sink.py`) only writes
them. Every prepared value is a snapshot: the builder goes on mutating its records after emitting them.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from ..engine.failures import error_excerpt
from ..engine.records import CompactRec, InterjectionRec, SessionMetaRec, StepRec, ToolRec, TurnRec
from ..engine.timeutil import ms_between
from ..redact import Finding, mask, mask_with_findings

OUT_HEAD, OUT_TAIL = 800, 300  # tool output preview kept in the index (and searched)
TEXT_CAP = 16_000  # prompt / message / reasoning kept in the index
ARG_STR_CAP = 700  # long strings inside tool arguments
PROMPT, MESSAGE, REASONING, TOOL_CALL, TOOL_OUTPUT = range(5)  # docs.kind (migrations.DOC_KINDS)

# A credential found while masking: (docs.kind of the text it was in, type, fingerprint, position in the
# whole text). The writer keeps them for `secret_findings`; the value itself is gone before anything is kept.
Secret = tuple[int, str, str, int]


# -- masking: once, on whole texts, before anything is cut or indexed --------------------------------------
#
# Every text the index keeps is masked here, whole, before it is capped or cut to a preview: a cut can then
# never keep part of a secret, the full-text index holds no secret to be searched for (no search oracle),
# and the masking runs wherever rows are prepared (in the parse workers of a big refresh). The index holds
# masked text only, whatever `--no-redact` says: that option concerns what is read back from the logs.


# The same long text often comes twice (a step emitted while running and again when done, a Gemini message
# written twice, a repeated output): masking it again would cost a fifth of all masking. A small cache of
# the last long texts masked (their hash is computed once per string object anyway).
_CACHE: OrderedDict[str, tuple[str, list[Finding]]] = OrderedDict()
_CACHE_ENTRIES = 256
_CACHE_MIN_CHARS = 512


def _mask_cached(text: str) -> tuple[str, list[Finding]]:
    if len(text) < _CACHE_MIN_CHARS:
        return mask_with_findings(text)
    hit = _CACHE.get(text)
    if hit is not None:
        _CACHE.move_to_end(text)
        return hit
    hit = _CACHE[text] = mask_with_findings(text)
    if len(_CACHE) > _CACHE_ENTRIES:
        _CACHE.popitem(last=False)
    return hit


def masked(text: str | None, kind: int) -> tuple[str | None, tuple[Secret, ...]]:
    """`text` masked whole, and what was found in it."""
    if not text:
        return text, ()
    out, found = _mask_cached(text)
    return out, tuple((kind, f.type, f.fingerprint, f.start) for f in found)


def masked_args(args: Any) -> tuple[str | None, int, tuple[Secret, ...]]:
    """Tool arguments as stored: their JSON masked whole (positions in that JSON), then capped; and the
    length of the whole masked JSON (what `get_tool_output` pages through)."""
    full = _args_text(args)
    if full is None:
        return None, 0, ()
    text, found = masked(full, TOOL_CALL)
    if len(text) <= ARG_STR_CAP * 2:  # type: ignore[arg-type]
        return text, len(text), found  # type: ignore[arg-type]
    try:  # masked JSON is still JSON (a marker holds no quote or backslash): cap its long strings
        capped = orjson.dumps(cap_strings(orjson.loads(text))).decode()  # type: ignore[arg-type]
    except (TypeError, orjson.JSONDecodeError, RecursionError):
        capped = orjson.dumps(text[:ARG_STR_CAP * 2]).decode()  # type: ignore[index]
    return capped, len(text), found  # type: ignore[arg-type]


def masked_error(message: str | None, output: str, masked_output: str) -> str | None:
    """A failure's message, masked. One the engine cut from the output (`error_excerpt`) is cut again from
    the masked output, so its cut cannot keep part of a secret."""
    if not message:
        return message
    if output and message == error_excerpt(output):
        return error_excerpt(masked_output)
    return mask(message)


def cap_text(text: str | None, cap: int) -> str | None:
    if text is None or len(text) <= cap:
        return text
    return text[: cap - 200] + f"\n…[{len(text) - cap + 200} chars cut]…\n" + text[-150:]


def preview(text: str) -> str:
    if len(text) <= OUT_HEAD + OUT_TAIL:
        return text
    return f"{text[:OUT_HEAD]}\n…[{len(text) - OUT_HEAD - OUT_TAIL} chars cut]…\n{text[-OUT_TAIL:]}"


def cap_strings(value: Any, cap: int = ARG_STR_CAP) -> Any:
    """Cut long strings inside a JSON value, keeping it valid JSON (arguments of Write/apply_patch…)."""
    if isinstance(value, str):
        if len(value) > cap:
            return value[: cap * 2 // 3] + f"…[{len(value) - cap} chars cut]…" + value[-(cap // 3):]
        return value
    if isinstance(value, dict):
        return {k: cap_strings(v, cap) for k, v in value.items()}
    if isinstance(value, list):
        return [cap_strings(v, cap) for v in value]
    return value


def _args_text(args: Any) -> str | None:
    """The whole JSON of tool arguments (a text form when they are not JSON-able: too deep, huge ints)."""
    if args is None:
        return None
    try:
        return orjson.dumps(args).decode()
    except (TypeError, orjson.JSONEncodeError):
        try:
            return orjson.dumps(str(args)[:100_000]).decode()
        except RecursionError:
            return '"<unrepresentable arguments>"'


def args_json(args: Any) -> tuple[str | None, int]:
    """Tool arguments as stored (masked, capped) and the length of their whole JSON."""
    text, n, _ = masked_args(args)
    return text, n


# -- prepared records ----------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class MetaRow:
    provider: str
    project_root: str | None
    git_branch: str | None
    title: str
    started_at: str | None
    ended_at: str | None
    models: str  # JSON
    cli_version: str | None
    parent_session_id: str | None
    agent_name: str | None
    source_files: str  # JSON
    context_window: int | None


@dataclass(slots=True, frozen=True)
class TurnRow:
    index: int
    started_at: str | None
    ended_at: str | None
    text: str  # capped
    text_len: int
    origin: str
    slash: str | None
    interrupted: bool
    off: int
    status: str  # completed | interrupted | incomplete
    final_answer: str | None  # masked, capped
    final_answer_len: int  # of the whole masked answer
    secrets: tuple[Secret, ...] = ()


@dataclass(slots=True, frozen=True)
class InterjectionRow:
    turn_index: int
    seq: int
    at: str | None
    after_step: int
    text: str  # masked, capped
    text_len: int  # of the whole masked text
    secrets: tuple[Secret, ...] = ()


@dataclass(slots=True, frozen=True)
class ToolRow:
    """A tool execution as stored: argument JSON capped, output cut to a preview (the log keeps the rest)."""

    seq: int
    call_id: str
    name: str
    kind: str
    args: str | None
    args_len: int
    started_at: str | None
    ended_at: str | None
    duration_ms: int | None
    status: str
    error_kind: str | None
    exit_code: int | None
    error_message: str | None
    output: str
    output_len: int
    out_off: int
    child: str | None
    secrets: tuple[Secret, ...] = ()


@dataclass(slots=True, frozen=True)
class StepRow:
    turn_index: int
    index: int
    started_at: str | None
    ended_at: str | None
    model: str | None
    reasoning: str | None  # capped
    reasoning_len: int
    message: str | None  # capped
    message_len: int
    status: str
    error: str | None
    usage: tuple[int, ...] | None
    tools: tuple[ToolRow, ...]
    secrets: tuple[Secret, ...] = ()  # of the message and the reasoning (the tools carry their own)

    @property
    def failed_tools(self) -> int:
        return sum(1 for t in self.tools if t.status == "error")

    @property
    def missing_tools(self) -> int:
        return sum(1 for t in self.tools if t.status == "missing")


@dataclass(slots=True, frozen=True)
class ResultPatch:
    """A result (or a child link) that arrived for a call of an already emitted step."""

    call_id: str
    has_result: bool
    started_at: str | None
    ended_at: str | None
    status: str
    error_kind: str | None
    exit_code: int | None
    error_message: str | None
    output: str  # preview
    output_len: int
    out_off: int
    child: str | None
    secrets: tuple[Secret, ...] = ()


def meta_row(m: SessionMetaRec) -> MetaRow:
    # the title is masked by the builder before it is cut from the first prompt; masked again here (a title
    # the agent recorded, whole); a project root or branch name holding a credential is masked too
    return MetaRow(m.provider, mask(m.project_root) if m.project_root else m.project_root,
                   mask(m.git_branch) if m.git_branch else None, mask(m.title), m.started_at, m.ended_at,
                   orjson.dumps(m.models).decode(), m.cli_version, m.parent_session_id, m.agent_name,
                   orjson.dumps(m.source_files).decode(), m.context_window)


def turn_row(t: TurnRec) -> TurnRow:
    text, found = masked(t.text, PROMPT)
    # the final answer is a message of the turn (found and indexed there): masked here, not counted again
    answer = _mask_cached(t.final_answer)[0] if t.final_answer else None
    return TurnRow(t.index, t.started_at, t.ended_at, cap_text(text, TEXT_CAP) or "", len(text or ""), t.origin,
                   t.slash, t.interrupted, t.off, t.status, cap_text(answer, TEXT_CAP), len(answer or ""), found)


def interjection_row(i: InterjectionRec) -> InterjectionRow:
    text, found = masked(i.text, PROMPT)
    return InterjectionRow(i.turn_index, i.seq, i.at, i.after_step, cap_text(text, TEXT_CAP) or "", len(text or ""),
                           found)


def _output(t: ToolRec) -> tuple[str, int, str | None, tuple[Secret, ...]]:
    """A tool output's preview, its length masked (what `get_tool_output` pages through) and its error
    message, all from the output masked whole."""
    out, found = masked(t.output, TOOL_OUTPUT)
    err = masked_error(t.error_message, t.output, out or "")
    return preview(out or ""), len(out or ""), err, found


def tool_row(seq: int, t: ToolRec) -> ToolRow:
    a, alen, args_found = masked_args(t.args)
    out, out_len, err, out_found = _output(t)
    return ToolRow(seq, t.call_id, mask(t.name), t.kind, a, alen, t.started_at, t.ended_at,
                   ms_between(t.started_at, t.ended_at) if t.has_result else None, t.status, t.error_kind,
                   t.exit_code, err, out, out_len, t.out_off, t.child, args_found + out_found)


def step_row(s: StepRec) -> StepRow:
    status = "failed" if s.failed else ("in_progress" if s.in_progress else "done")
    reasoning, r_found = masked(s.reasoning_text, REASONING)
    message, m_found = masked(s.message_text, MESSAGE)
    return StepRow(s.turn_index, s.index, s.started_at, s.ended_at, s.model,
                   cap_text(reasoning, TEXT_CAP), sum(map(len, s.reasoning)),
                   cap_text(message, TEXT_CAP), sum(map(len, s.message)), status, mask(s.error) if s.error else s.error,
                   s.usage, tuple(tool_row(i, t) for i, t in enumerate(s.tools)), r_found + m_found)


def result_patch(t: ToolRec) -> ResultPatch:
    out, out_len, err, found = (_output(t) if t.has_result
                                else ("", 0, mask(t.error_message) if t.error_message else None, ()))
    return ResultPatch(t.call_id, t.has_result, t.started_at, t.ended_at, t.status, t.error_kind, t.exit_code,
                       err, out, out_len, t.out_off, t.child, found)


# -- a recorded stream of sink calls -------------------------------------------------------------------------

# op codes of a recorded stream (small ints pickle smaller than names)
META, TURN, STEP, PATCH_TOOL, PATCH_USAGE, COMPACTION, INTERJECTION = range(7)


class RecordingSink:
    """The builder's sink in a parse worker: prepares each record at once and records it for the writer.

    `drain()` hands over what was recorded so far, so a big file crosses to the writer in pieces.
    """

    def __init__(self) -> None:
        self.ops: list[tuple[Any, ...]] = []

    def meta(self, sid: str, m: SessionMetaRec) -> None:
        self.ops.append((META, sid, meta_row(m)))

    def turn(self, sid: str, t: TurnRec) -> None:
        self.ops.append((TURN, sid, turn_row(t)))

    def step(self, sid: str, s: StepRec) -> None:
        self.ops.append((STEP, sid, step_row(s)))

    def patch_tool(self, sid: str, turn_index: int, step_index: int, t: ToolRec) -> None:
        self.ops.append((PATCH_TOOL, sid, turn_index, step_index, result_patch(t)))

    def patch_usage(self, sid: str, turn_index: int, step_index: int, u: tuple[int, ...]) -> None:
        self.ops.append((PATCH_USAGE, sid, turn_index, step_index, tuple(u)))

    def compaction(self, sid: str, c: CompactRec) -> None:
        self.ops.append((COMPACTION, sid, CompactRec(c.turn_index, c.at, c.trigger, c.pre_tokens)))

    def interjection(self, sid: str, i: InterjectionRec) -> None:
        self.ops.append((INTERJECTION, sid, interjection_row(i)))

    def drain(self) -> list[tuple[Any, ...]]:
        ops, self.ops = self.ops, []
        return ops


def replay(ops: list[tuple[Any, ...]], sink: Any) -> None:
    """Write a recorded stream through a writing sink (`StoreSink`), in order."""
    write = (sink.write_meta, sink.write_turn, sink.write_step, sink.write_patch_tool, sink.write_patch_usage,
             sink.write_compaction, sink.write_interjection)
    for op in ops:
        write[op[0]](*op[1:])
