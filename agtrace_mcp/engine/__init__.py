"""The engine: events → sessions. Usable on a bare file path, with no index:

    from agtrace_mcp.engine import load_session
    session = load_session("~/.claude/projects/-x/4f…jsonl")
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from typing import TYPE_CHECKING, Any

from ..errors import UnknownFormatError
from .builder import SessionBuilder

if TYPE_CHECKING:  # providers import engine.events; import them lazily to keep the package acyclic
    from .. import model as m
    from ..providers import ParseStats, SourceFile
    from .memory import MemorySink


def __getattr__(name: str) -> Any:
    # the pydantic model is only needed to build whole sessions in memory, not to index: parse workers and
    # the server start without importing it
    if name == "MemorySink":
        from .memory import MemorySink

        return MemorySink
    raise AttributeError(name)

LIVE_SECONDS = 300  # a file written to in the last 5 minutes may still be growing


def is_live(path: str, seconds: float = LIVE_SECONDS) -> bool:
    """Was the file written to within `seconds` (so that a call without a result may still be running)?"""
    try:
        return time.time() - os.stat(path).st_mtime < seconds
    except OSError:
        return False


def source_for(path: str | os.PathLike[str], provider: str | None = None) -> SourceFile:
    """Describe a log file given only its path (the provider is detected when not named)."""
    from ..providers import detect_provider, get

    p = str(Path(path).expanduser())
    prov = provider or detect_provider(p)
    if prov is None:
        raise UnknownFormatError(f"cannot tell which agent wrote {p}; pass the provider explicitly")
    return get(prov).describe(p)


def load_file(path: str | os.PathLike[str], provider: str | None = None,
              stats: ParseStats | None = None) -> list[m.Session]:
    """Every session a log file holds (the file's own first; inline subagents after it)."""
    return load_file_source(source_for(path, provider), stats)


def load_file_source(src: SourceFile, stats: ParseStats | None = None) -> list[m.Session]:
    """Every session one described log file holds."""
    from ..providers import ParseStats, get
    from ..providers.base import KeepIndexed
    from .memory import MemorySink

    sink = MemorySink()
    builder = SessionBuilder(sink)
    stats = stats if stats is not None else ParseStats()
    try:
        get(src.provider).parse(src, 0, None, builder.feed, stats)
    except KeepIndexed as e:  # a document caught mid-write holds no session yet
        stats.bad(0, e.reason, e.preview)
    builder.finish(live=is_live(src.path))
    sessions = sink.to_models()
    sessions.sort(key=lambda s: (s.parent_session_id is not None, s.started_at is None, s.started_at))
    return sessions


def load_session(path: str | os.PathLike[str], provider: str | None = None) -> m.Session:
    """The session a log file records (not its inline subagents)."""
    sessions = load_file(path, provider)
    if not sessions:
        raise UnknownFormatError(f"no session found in {path}")
    return sessions[0]


__all__ = ["SessionBuilder", "MemorySink", "load_file", "load_file_source", "load_session", "source_for", "is_live"]
