"""Text helpers shared by providers, engine and server: cutting long bodies honestly."""

from __future__ import annotations

import re

_WS = re.compile(r"\s+")


def cut_middle(text: str, limit: int, hint: str = "") -> str:
    """Keep the head and tail of `text` within `limit` chars, with a marker saying how much was cut."""
    if limit <= 0 or len(text) <= limit:
        return text
    marker_room = 60
    if limit <= marker_room * 2:
        return text[:limit]
    keep = limit - marker_room
    head = keep * 2 // 3
    tail = keep - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n…[{cut} chars cut{hint}]…\n{text[len(text) - tail:]}"


def snippet(text: str | None, limit: int = 200) -> str:
    """One-line preview: whitespace collapsed, cut at `limit` chars with an ellipsis."""
    if not text:
        return ""
    s = _WS.sub(" ", text).strip()
    return s if len(s) <= limit else s[: limit - 1] + "…"
