"""Reading one bare log file, with no index: the layer above providers and engine (DESIGN §1).

    from agtrace_mcp import load_session
    session = load_session("~/.claude/projects/-x/4f…jsonl")

The provider is detected from the file's location and first record (`providers.detect_provider`) unless
named; every provider a plugin adds is known here too.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from . import model as m
from .engine.builder import SessionBuilder
from .engine.memory import MemorySink
from .errors import UnknownFormatError
from .providers import REGISTRY, KeepIndexed, ParseStats, SourceFile, detect_provider

LIVE_SECONDS = 300  # a file written to in the last 5 minutes may still be growing


def is_live(path: str, seconds: float = LIVE_SECONDS) -> bool:
    """Was the file written to within `seconds` (so that a call without a result may still be running)?"""
    try:
        return time.time() - os.stat(path).st_mtime < seconds
    except OSError:
        return False


def source_for(path: str | os.PathLike[str], provider: str | None = None) -> SourceFile:
    """Describe a log file given only its path (the provider is detected when not named; a name may be an
    alias such as `claude`)."""
    p = str(Path(path).expanduser())
    prov = REGISTRY.resolve(provider) if provider else detect_provider(p)
    if prov is None:
        if provider:
            raise UnknownFormatError(f"unknown provider {provider!r}; use one of {', '.join(REGISTRY)}")
        raise UnknownFormatError(f"cannot tell which agent wrote {p}; pass the provider explicitly")
    return REGISTRY[prov].describe(p)


def load_file(path: str | os.PathLike[str], provider: str | None = None,
              stats: ParseStats | None = None) -> list[m.Session]:
    """Every session a log file holds (the file's own first; inline subagents after it)."""
    return load_file_source(source_for(path, provider), stats)


def load_file_source(src: SourceFile, stats: ParseStats | None = None,
                     live_seconds: float = LIVE_SECONDS) -> list[m.Session]:
    """Every session one described log file holds (calls without a result in a file written within
    `live_seconds` may still be running)."""
    sink = MemorySink(src.provider)
    builder = SessionBuilder(sink)
    stats = stats if stats is not None else ParseStats()
    try:
        REGISTRY[src.provider].parse(src, 0, None, builder.feed, stats)
    except KeepIndexed as e:  # a document caught mid-write holds no session yet
        stats.bad(0, e.reason, e.preview)
    builder.finish(live=is_live(src.path, live_seconds))
    sessions = sink.to_models()
    sessions.sort(key=lambda s: (s.parent_session_id is not None, s.started_at is None, s.started_at))
    return sessions


def load_session(path: str | os.PathLike[str], provider: str | None = None) -> m.Session:
    """The session a log file records (not its inline subagents)."""
    sessions = load_file(path, provider)
    if not sessions:
        raise UnknownFormatError(f"no session found in {path}")
    return sessions[0]


__all__ = ["LIVE_SECONDS", "is_live", "load_file", "load_file_source", "load_session", "source_for"]
