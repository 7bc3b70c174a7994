"""How an agent's tools spell their arguments: what the analysis needs to know about one agent's tools.

The analysis (`engine.analysis`) is agent-neutral; it asks a call's `ToolShapes` which calls only wait on a
process an earlier call started (polls), which argument names that process, and where a shell command, a file
path, an edit's old and new text, a written file's content or a patch are found. Each provider declares its
agent's shapes (`Provider.tool_shapes`, usually `GENERIC.extend(...)`), so adding an agent never means editing
the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any


def _frozen(d: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return dict(d or {})


@dataclass(frozen=True)
class ToolShapes:
    """One agent's tool conventions. Tool names are compared in lower case; argument keys exactly."""

    # tools that only wait on, or read from, a process an earlier call started (Claude BashOutput)
    poll_tools: frozenset[str] = frozenset()
    # tool -> the argument holding the input it writes to a running process; with that argument empty the call
    # only polls (Codex write_stdin with no `chars`)
    input_tools: Mapping[str, str] = field(default_factory=_frozen)
    # tool -> the arguments naming its action; a poll when the action asks for a status (Antigravity manage_task)
    status_tools: Mapping[str, tuple[str, ...]] = field(default_factory=_frozen)
    # (poll function, start function) in a script argument: a script that calls the first and not the second
    # only polls (Codex code mode: `write_stdin(...)` without `exec_command(...)`)
    script_polls: tuple[tuple[str, str], ...] = ()
    # the arguments of a poll that name the polled process (its id also appears in the starter's output)
    process_keys: tuple[str, ...] = ()
    # where a shell call keeps its command (a string, or argv as a list)
    command_keys: tuple[str, ...] = ("command", "cmd")
    # where a file tool keeps its path, an edit its old and new text, a whole-file write its content
    path_keys: tuple[str, ...] = ("file_path", "filePath", "path")
    old_keys: tuple[str, ...] = ("old_string", "oldString")
    new_keys: tuple[str, ...] = ("new_string", "newString")
    content_keys: tuple[str, ...] = ("content",)
    # a list of {old, new} edits of one file (Claude MultiEdit `edits`)
    chunk_keys: tuple[str, ...] = ("edits",)
    # arguments that may hold an apply_patch body (`*** Begin Patch`)
    patch_keys: tuple[str, ...] = ("patch",)
    # what a call is about, for a one-line label, after the path and command keys
    label_keys: tuple[str, ...] = ("notebook_path", "pattern", "query", "url", "prompt", "description")

    def extend(self, **more: Any) -> ToolShapes:
        """These shapes with more names added to each field given (tuples keep their order, new ones last)."""
        values: dict[str, Any] = {}
        for f in fields(self):
            cur = getattr(self, f.name)
            add = more.pop(f.name, None)
            if add is None:
                values[f.name] = cur
            elif isinstance(cur, frozenset):
                values[f.name] = cur | frozenset(n.lower() for n in add)
            elif isinstance(cur, tuple):
                values[f.name] = tuple(dict.fromkeys((*cur, *add)))
            else:
                values[f.name] = {**cur, **{k.lower(): v for k, v in dict(add).items()}}
        if more:
            raise TypeError(f"unknown tool shape fields: {', '.join(sorted(more))}")
        return ToolShapes(**values)

    @cached_property
    def describe_keys(self) -> tuple[str, ...]:
        """Arguments that say what a call is about, most telling first: its file, command, pattern or query."""
        return tuple(dict.fromkeys((*self.path_keys, *self.command_keys, *self.label_keys)))


# What any agent's tools may look like: the spellings most agents (and common MCP file tools) share, and tools
# that only wait or read a terminal whatever the agent. A provider that declares nothing gets these.
GENERIC = ToolShapes().extend(
    poll_tools=("await", "read_terminal", "get_terminal_output"),
    path_keys=("absolute_path", "file", "filename"), old_keys=("old_text", "search"), new_keys=("new_text", "replace"),
    content_keys=("text", "contents"), chunk_keys=("replacements",))
