"""Typed errors of the public API. Each message says what went wrong and what to do instead.

The same error reaches two kinds of reader: an agent calling MCP tools, and a person at a shell. What went
wrong is the same for both; what to do is not ("call list_sessions" against "run `agtrace-mcp sessions`").
So an error carries a surface-neutral message and, optionally, a `Remedy` with one wording per surface:
`str(error)` (and `error.text("mcp")`) is the agent's wording, `error.text("cli")` the person's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Surface = Literal["mcp", "cli"]


@dataclass(frozen=True)
class Remedy:
    """What to do about an error, once per surface. Both texts may hold `{placeholders}` filled from the
    error's context (the session id, say)."""

    mcp: str
    cli: str

    def text(self, surface: Surface, context: dict[str, Any]) -> str:
        """This remedy in the words of `surface`, its placeholders filled from `context`."""
        return (self.mcp if surface == "mcp" else self.cli).format(**context)


# The remedies the API uses, named for what the reader should do next.
FIND_SESSION = Remedy("call list_sessions (or current_session) to find its id",
                      "run `agtrace-mcp sessions` to see the ids")
SEE_PROJECTS = Remedy("call list_projects to see the recorded project roots",
                      "run `agtrace-mcp projects` to see the recorded project roots")
SEE_SESSION = Remedy("call get_session to see what it holds",
                     "run `agtrace-mcp show {session_id}` to see what it holds")
SEE_CALL_IDS = Remedy("call get_turn to see its call ids",
                      "run `agtrace-mcp show {session_id} --turn N` to see the call ids of turn N")
READ_A_TURN = Remedy("call get_turn(session_id, turn_index) to read a turn",
                     "run `agtrace-mcp show {session_id} --turn N` to read turn N")
LOG_GONE = Remedy("get_session and get_turn still answer from the index",
                  "`agtrace-mcp show {session_id}`, `usage {session_id}`, `failures --session {session_id}` and "
                  "`search WORDS --session {session_id}` still answer from the index")
LOG_REWRITTEN = Remedy("call again in a moment", "run `agtrace-mcp index`, then try again")
RANGE_OR_SESSION = Remedy("with session_id leave project/provider/since/until out (or leave session_id out for a "
                          "range)", "with a session id leave --in/--provider/--since/--until out (or leave the id "
                                    "out for a range)")
TURN_NEEDS_SESSION = Remedy("call get_usage(session_id=…, turn=…)", "run `agtrace-mcp usage SESSION --turn N`")
NEXT_PAGE = Remedy("pass the next_cursor from the previous call, with the same other arguments (or omit cursor to "
                   "start from the first page)",
                   "pass the --cursor printed under the previous page, with the same other options (or leave "
                   "--cursor out to start from the first page)")


class AgtraceError(Exception):
    """Base of every error agtrace-mcp raises on purpose.

    `message` says what went wrong in words true on every surface; `remedy` (optional) what to do, per
    surface; `context` fills the remedy's placeholders. `str(e)` is the MCP wording, for compatibility with
    every caller that only knows one surface.
    """

    def __init__(self, message: str, remedy: Remedy | None = None, **context: Any) -> None:
        self.message = message
        self.remedy = remedy
        self.context = context
        super().__init__(self.text("mcp"))

    def text(self, surface: Surface) -> str:
        """The whole message (what went wrong; what to do) in the words of `surface`."""
        if self.remedy is None:
            return self.message
        return f"{self.message}; {self.remedy.text(surface, self.context)}"


class UnknownFormatError(AgtraceError):
    """A file that no provider recognises."""


class NotFoundError(AgtraceError):
    """An id, prefix, turn or tool call that does not exist."""


class AmbiguousIdError(NotFoundError):
    """A session id prefix that matches several sessions (in a team database: or one id pushed from several
    machines, told apart as ID@MACHINE)."""

    def __init__(self, prefix: str, candidates: list[str], hint: str = "pass more characters of the id") -> None:
        self.candidates = candidates
        shown = ", ".join(candidates[:10])
        super().__init__(f"session id prefix {prefix!r} matches {len(candidates)} sessions ({shown}); {hint}")


class BadArgumentError(AgtraceError):
    """An argument that cannot be used (bad date, bad cursor, out-of-range value)."""


class IndexUnavailableError(AgtraceError):
    """The index cannot be opened or written (read-only or full data dir)."""


class StoreError(AgtraceError):
    """A team database (`--store postgresql://…`, `push --to`) that cannot be used: a bad URL, a server that
    does not answer, a missing schema, a role without the rights it needs."""
