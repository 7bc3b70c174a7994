"""agtrace-mcp: coding-agent session history for agents, over MCP.

The public Python API (everything else is internal and may change):

    from agtrace_mcp import Agtrace, Config, load_session

    session = load_session("~/.claude/projects/-home-me-app/4f2c…jsonl")   # one log file, no index
    api = Agtrace(Config.load())                                            # the indexed history
    api.find_failed_tools(project="/home/me/app")

Names are imported when first used, so that `agtrace-mcp serve` (and every parse worker) starts without
loading what it does not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_PUBLIC = {
    "Agtrace": "agtrace_mcp.api",
    "Config": "agtrace_mcp.config",
    "load_session": "agtrace_mcp.load", "load_file": "agtrace_mcp.load",
    "Session": "agtrace_mcp.model", "Turn": "agtrace_mcp.model", "Step": "agtrace_mcp.model",
    "ToolExecution": "agtrace_mcp.model", "ToolError": "agtrace_mcp.model", "Usage": "agtrace_mcp.model",
    "Stats": "agtrace_mcp.model",
    "AgtraceError": "agtrace_mcp.errors", "NotFoundError": "agtrace_mcp.errors",
    "AmbiguousIdError": "agtrace_mcp.errors", "BadArgumentError": "agtrace_mcp.errors",
    "UnknownFormatError": "agtrace_mcp.errors", "IndexUnavailableError": "agtrace_mcp.errors",
    "BaseProvider": "agtrace_mcp.providers", "SourceFile": "agtrace_mcp.providers",
    "REGISTRY": "agtrace_mcp.providers",
}

__all__ = [
    "REGISTRY", "AgtraceError", "Agtrace", "AmbiguousIdError", "BadArgumentError", "BaseProvider", "Config",
    "IndexUnavailableError", "NotFoundError", "Session", "SourceFile", "Stats", "Step", "ToolError", "ToolExecution",
    "Turn", "UnknownFormatError", "Usage", "__version__", "load_file", "load_session",
]

if TYPE_CHECKING:
    from .api import Agtrace
    from .config import Config
    from .errors import (
        AgtraceError,
        AmbiguousIdError,
        BadArgumentError,
        IndexUnavailableError,
        NotFoundError,
        UnknownFormatError,
    )
    from .load import load_file, load_session
    from .model import Session, Stats, Step, ToolError, ToolExecution, Turn, Usage
    from .providers import REGISTRY, BaseProvider, SourceFile


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'agtrace_mcp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
