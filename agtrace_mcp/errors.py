"""Typed errors of the public API. Each message says what to do instead."""

from __future__ import annotations


class AgtraceError(Exception):
    """Base of every error agtrace-mcp raises on purpose."""


class UnknownFormatError(AgtraceError):
    """A file that no provider recognises."""


class NotFoundError(AgtraceError):
    """An id, prefix, turn or tool call that does not exist."""


class AmbiguousIdError(NotFoundError):
    """A session id prefix that matches several sessions."""

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        self.candidates = candidates
        shown = ", ".join(candidates[:10])
        super().__init__(f"session id prefix {prefix!r} matches {len(candidates)} sessions ({shown}); "
                         "pass more characters of the id")


class BadArgumentError(AgtraceError):
    """An argument that cannot be used (bad date, bad cursor, out-of-range value)."""


class IndexUnavailableError(AgtraceError):
    """The index cannot be opened or written (read-only or full data dir)."""
