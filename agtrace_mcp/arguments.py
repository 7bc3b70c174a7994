"""Tool and CLI arguments: limits, agent names, times, and the opaque cursors that page through results.

Every check raises BadArgumentError with what to pass instead; the MCP server turns it into a tool error.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from .engine.timeutil import parse_user_time
from .errors import NEXT_PAGE, BadArgumentError
from .providers import REGISTRY

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
    """A page size: a whole number from 1 to MAX_LIMIT (more comes page by page, with the cursor)."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise BadArgumentError(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {limit!r} (pass "
                               "next_cursor for the next page)")
    return limit


def check_provider(p: str | None) -> str | None:
    """An agent name (or an alias such as `claude`, `gemini`, `copilot`, `agy`), as the registry knows them:
    a plugin's agent too; None for any agent."""
    if p in (None, ""):
        return None
    if not isinstance(p, str):
        raise BadArgumentError(f"provider must be an agent name, not {p!r}")
    name = REGISTRY.resolve(p)
    if name is None:
        shorts = [s for s in (REGISTRY[n].short for n in REGISTRY) if s not in REGISTRY]
        raise BadArgumentError(f"unknown provider {p!r}; use one of {', '.join(REGISTRY)}"
                               + (f" (or {', '.join(shorts)})" if shorts else ""))
    return name


def check_project(p: str | None) -> str | None:
    """A project folder: `~` expanded, `.`/`..` resolved, no trailing slash; a relative path is refused (the
    server's own working directory says nothing about the caller's)."""
    if p in (None, ""):
        return None
    if not isinstance(p, str):
        raise BadArgumentError(f"project must be a folder path, not {p!r}")
    path = os.path.expanduser(p.strip())
    if not (path.startswith("/") or (len(path) > 2 and path[1] == ":" and path[2] in "\\/")):
        raise BadArgumentError(f"project must be an absolute path (or start with ~), not {p!r}")
    if path.startswith("/"):
        path = os.path.normpath(path)
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
    return path.rstrip("/\\") or "/"


def check_time(value: str | None, name: str) -> str | None:
    """A user-given time (ISO date or datetime, or relative such as `2h`, `3d`) as an ISO UTC timestamp."""
    if value in (None, ""):
        return None
    try:
        return parse_user_time(value)
    except (ValueError, OverflowError) as e:
        raise BadArgumentError(f"{name}: {e}") from None


def check_range(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """`since` and `until` as ISO UTC timestamps; `since` after `until` is an error (nothing could match)."""
    since_c, until_c = check_time(since, "since"), check_time(until, "until")
    if since_c and until_c and since_c > until_c:
        raise BadArgumentError(f"since ({since}) is after until ({until}); swap them")
    return since_c, until_c


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
