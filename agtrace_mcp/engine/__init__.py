"""The engine: events → sessions. It knows no agent: providers feed it normalised events (`engine.events`) and
declare their agents' conventions (`engine.shapes`, exit-code patterns for `engine.failures`); reading a
log file with no index is one layer up (`agtrace_mcp.load`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .builder import SessionBuilder

if TYPE_CHECKING:
    from .memory import MemorySink


def __getattr__(name: str) -> Any:
    # the pydantic model is only needed to build whole sessions in memory, not to index: parse workers and
    # the server start without importing it
    if name == "MemorySink":
        from .memory import MemorySink

        return MemorySink
    raise AttributeError(name)


__all__ = ["MemorySink", "SessionBuilder"]
