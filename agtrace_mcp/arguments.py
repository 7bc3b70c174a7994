"""Tool and CLI arguments: limits, agent names, times, and the opaque cursors that page through results.

Every check raises BadArgumentError with what to pass instead; the MCP server turns it into a tool error.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson

from .engine.timeutil import parse_user_time
from .errors import NEXT_PAGE, BadArgumentError
from .model import PROVIDERS

MAX_LIMIT = 200


def check_limit(limit: int) -> int:
    """A page size: a positive integer, capped at MAX_LIMIT."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise BadArgumentError(f"limit must be a positive integer (1..{MAX_LIMIT}), not {limit!r}")
    return min(limit, MAX_LIMIT)


def check_provider(p: str | None) -> str | None:
    """An agent name (or a short alias such as `claude`, `agy`); None for any agent."""
    if p in (None, ""):
        return None
    aliases = {"claude": "claude_code", "gemini": "gemini_cli", "copilot": "copilot_cli", "agy": "antigravity"}
    p = aliases.get(p, p)  # type: ignore[arg-type]
    if p not in PROVIDERS:
        raise BadArgumentError(f"unknown provider {p!r}; use one of {', '.join(PROVIDERS)}")
    return p


def check_time(value: str | None, name: str) -> str | None:
    """A user-given time (ISO date or datetime, or relative such as `2h`, `3d`) as an ISO UTC timestamp."""
    if value in (None, ""):
        return None
    try:
        return parse_user_time(value)  # type: ignore[arg-type]
    except ValueError as e:
        raise BadArgumentError(f"{name}: {e}") from None


def _filters_key(filters: tuple[Any, ...]) -> str:
    return hashlib.blake2s(orjson.dumps(list(filters), default=str), digest_size=6).hexdigest()


def cursor_for(filters: tuple[Any, ...], offset: int) -> str:
    """The opaque cursor of the page starting at `offset` of a query with these filters."""
    raw = orjson.dumps({"o": offset, "f": _filters_key(filters)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_offset(cursor: str | None, filters: tuple[Any, ...]) -> int:
    """Where a cursor points; refused when it is malformed or was made for other filters."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        d = orjson.loads(raw)
        offset = d["o"]
        ok = isinstance(offset, int) and offset >= 0 and d["f"] == _filters_key(filters)
    except Exception:
        ok = False
    if not ok:
        raise BadArgumentError("bad cursor", NEXT_PAGE)
    return offset
