"""Token and context arithmetic over index rows (pure; used by `get_usage`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class StepPoint:
    """One step's place and prompt size (only steps that carry usage)."""

    turn: int
    step: int
    at: str | None
    context: int


def cache_hit_rate(input_: int, cache_read: int, cache_write: int) -> float | None:
    """cache_read / (input + cache_read + cache_write): the share of the prompt served from the cache."""
    prompt = input_ + cache_read + cache_write
    return round(cache_read / prompt, 4) if prompt > 0 else None


def pct(part: int | None, whole: int | None) -> float | None:
    if part is None or not whole:
        return None
    return round(100.0 * part / whole, 1)


def compaction_bounds(points: list[StepPoint], turn_index: int, at: str | None,
                      pre_tokens: int | None) -> tuple[int | None, int | None, StepPoint | None]:
    """(tokens before, tokens after, first step after) of one compaction.

    Before: the agent's own count when it wrote one (Claude `preTokens`), else the prompt of the last step
    before the compaction. After: the prompt of the first step after it. "Before/after" is decided by the
    timestamp when both sides have one (a Codex compaction can happen in the middle of a turn), else by the
    turn index (the compaction's turn is the first turn after it).
    """
    def is_after(p: StepPoint) -> bool:
        if at and p.at:
            return p.at >= at
        return p.turn >= turn_index

    before = after = None
    for p in points:
        if is_after(p):
            after = p
            break
        before = p
    tokens_before = pre_tokens if pre_tokens else (before.context if before else None)
    return tokens_before, (after.context if after else None), after
