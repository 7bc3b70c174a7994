"""Tool and CLI arguments: limits, agent names, times, and the opaque cursors that page through results.

Every check raises BadArgumentError with what to pass instead; the MCP server turns it into a tool error.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from .engine.timeutil import parse_user_time
from .errors import NEXT_PAGE, BadArgumentError
from .model import PROVIDERS

T = TypeVar("T")
MAX_LIMIT = 200
MAX_TEXT = 10_000  # characters of an id, path, cursor, tool name, date…: far more than any real one
MAX_QUERY = 2_000  # characters of a search query: a few words, not a document
LONE_SURROGATE_MARK = "\ufdd0"  # what the transports put where a client sent a lone surrogate (jsontext.py)


def check_text(name: str, value: str, limit: int = MAX_TEXT) -> None:
    """Refuse a string argument that no query can use, saying what to send instead."""
    if len(value) > limit:
        raise BadArgumentError(f"{name} is {len(value):,} characters long; send at most {limit:,}"
                               + (" (a few words)" if name == "query" else ""))
    if "\0" in value:
        raise BadArgumentError(f"{name} contains a NUL character; send the text without it")
    if LONE_SURROGATE_MARK in value:
        raise BadArgumentError(f"{name} contains a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), "
                               "which is not text; send valid Unicode")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise BadArgumentError(f"{name} contains a lone UTF-16 surrogate at character {e.start}, which is not "
                               "text; send valid Unicode") from None


def check_arguments(names: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """check_text over every string (or list of strings) among a call's arguments."""
    for name, value in (*zip(names, args), *kwargs.items()):
        for v in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(v, str):
                check_text(name, v, MAX_QUERY if name == "query" else MAX_TEXT)


def checked(fn: Callable[..., T]) -> Callable[..., T]:
    """Wrap an API method so that every string argument passes check_text first."""
    names = fn.__code__.co_varnames[1:fn.__code__.co_argcount]

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
        check_arguments(names, args, kwargs)
        return fn(self, *args, **kwargs)

    return wrapper


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
    except (ValueError, OverflowError) as e:
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
