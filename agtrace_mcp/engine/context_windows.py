"""Context windows of known models: how many prompt tokens a model accepts, by model-id prefix.

The longest matching prefix wins; an unknown model gives None (never a guess). A window the agent recorded
itself (Codex `model_context_window`, kept as `sessions.context_window`) is preferred by the callers, and a
Claude session whose observed context is larger than 200k must have run with the 1M-token context.

Numbers are the input (prompt) limits from the vendors' model pages. For the GPT-5 family the API window is
400k tokens of which 128k are reserved for output, so the prompt limit is 272k (Codex itself records 95 % of
that, 258,400, as `model_context_window`).
"""

from __future__ import annotations

import re

K = 1000
CLAUDE_1M = 1_000_000

# prefix -> prompt tokens; matched on the lower-cased model id after stripping a provider prefix
# ("anthropic/", "openai/", "models/", "us.anthropic." …).
WINDOWS: dict[str, int] = {
    # Anthropic: every Claude 3.x/4.x model has 200k; Sonnet 4/4.5 and Opus 4.6 have a 1M variant (see below).
    "claude-": 200 * K,
    "claude-2": 100 * K,
    "claude-instant": 100 * K,
    # OpenAI
    "gpt-5": 272 * K,
    "gpt-5-codex": 272 * K,
    "gpt-5.1": 272 * K,
    "gpt-5.2": 272 * K,
    "gpt-5.3": 272 * K,
    "gpt-5.4": 272 * K,
    "gpt-5.5": 272 * K,
    "gpt-5-mini": 272 * K,
    "gpt-5-nano": 272 * K,
    "codex-mini": 200 * K,
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128 * K,
    "gpt-4-turbo": 128 * K,
    "o1": 200 * K,
    "o3": 200 * K,
    "o4-mini": 200 * K,
    "gpt-oss": 131_072,
    # Google
    "gemini-1.5-pro": 2_097_152,
    "gemini-1.5-flash": 1_048_576,
    "gemini-2.0-flash": 1_048_576,
    "gemini-2.5-pro": 1_048_576,
    "gemini-2.5-flash": 1_048_576,
    "gemini-3": 1_048_576,
    "gemini-exp": 1_048_576,
}

_PREFIX = re.compile(r"^(?:[a-z0-9_-]+/|(?:us|eu|apac|global)\.anthropic\.|anthropic\.)")
_ONE_M = re.compile(r"(?:\[1m\]|[-_:]1m\b|-1m-|context-1m)", re.IGNORECASE)


def _clean(model: str) -> str:
    m = model.strip().lower()
    for _ in range(2):
        m = _PREFIX.sub("", m)
    return m


def context_window(model: str | None) -> int | None:
    """Prompt-token window of a model id, by longest known prefix; None when the model is unknown."""
    if not model:
        return None
    m = _clean(model)
    if m.startswith("claude") and _ONE_M.search(m):
        return CLAUDE_1M
    best = None
    for prefix, window in WINDOWS.items():
        if m.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, window)
    return best[1] if best else None


def resolve_window(recorded: int | None, model: str | None, peak_context: int = 0) -> tuple[int | None, str | None]:
    """(window, source): the window the agent recorded, else the model table, else None.

    A Claude session that held more context than the table's 200k ran with the 1M-token window
    (its model id does not say so: the 1M context is switched on by a request header).
    """
    if recorded:
        return recorded, "recorded"
    w = context_window(model)
    if w is None:
        return None, None
    if model and _clean(model).startswith("claude") and peak_context > w:
        return CLAUDE_1M, "inferred"
    return w, "model_table"
