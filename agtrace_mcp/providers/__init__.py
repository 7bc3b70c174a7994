"""Providers: one module per agent (DESIGN §4). The registry maps provider names to providers, found through
the `agtrace_mcp.providers` entry-point group (the built-in six register there too).

What a provider plugin needs is exported here: `BaseProvider` (the contract and its defaults), `SourceFile`,
`ParseStats`, `Emit`, the tolerant `JsonlReader` and the folder walkers; the events to emit are in
`agtrace_mcp.engine.events`, tool conventions in `agtrace_mcp.engine.shapes`.
"""

from __future__ import annotations

from .base import (
    BaseProvider,
    Emit,
    KeepIndexed,
    NeedsFullRead,
    ParseStats,
    Provider,
    SlashParent,
    SourceFile,
    list_dir,
    safe_walk,
)
from .jsonl import JsonlReader
from .registry import GROUP, REGISTRY, PluginProblem, Registry, detect_provider, get, may_hold

__all__ = ["GROUP", "REGISTRY", "BaseProvider", "Emit", "JsonlReader", "KeepIndexed", "NeedsFullRead", "ParseStats",
           "PluginProblem", "Provider", "Registry", "SlashParent", "SourceFile", "detect_provider", "get", "list_dir",
           "may_hold", "safe_walk"]
