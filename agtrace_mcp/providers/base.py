"""What every provider is: discover files under its roots, parse one file into events.

`parse` is resumable: it reads from a byte offset with the state it returned last time and returns the
offset where it stopped (before a torn last line) with its new state. A provider whose format is not
append-only sets `incremental = False` and is always parsed from 0; one whose format is append-only most of
the time (Gemini's and Antigravity's logs, which rewind or rewrite now and then) resumes, and raises
`NeedsFullRead` when what was appended is not a plain continuation.

A provider whose one file holds many sessions (OpenCode's database) may also set `partial = True`: `parse`
then gets the state it returned last time even though it reads from 0, emits only the sessions that changed,
and `present(state)` names every session the file still holds. The index replaces the sessions emitted,
keeps the others as they are, and marks the ones no longer present as not on disk.
"""

from __future__ import annotations

import fnmatch
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..redact import mask

Emit = Callable[[object], None]

# bad-line previews are masked over this many characters, then cut to 120
PREVIEW_SCAN = 4096

# What a record of an unexpected shape raises inside a parser (a list where a dict was expected, a number
# for a string…). Parsers catch these per record: the record is skipped and counted, never fatal.
SHAPE_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError)

# provider -> (our override variable, CLI flag); the override names the agent's own data dir.
ROOT_VARS: dict[str, tuple[str, str]] = {
    "claude_code": ("AGTRACE_MCP_CLAUDE_DIR", "--claude-dir"),
    "codex": ("AGTRACE_MCP_CODEX_DIR", "--codex-dir"),
    "gemini_cli": ("AGTRACE_MCP_GEMINI_DIR", "--gemini-dir"),
    "antigravity": ("AGTRACE_MCP_ANTIGRAVITY_DIR", "--antigravity-dir"),
    "copilot_cli": ("AGTRACE_MCP_COPILOT_DIR", "--copilot-dir"),
    "opencode": ("AGTRACE_MCP_OPENCODE_DIR", "--opencode-dir"),
}


def agent_dir(env: dict[str, str], provider: str, home: Path, agent_var: str | None, default: str) -> Path:
    """An agent's data dir: our override, else the agent's own variable, else its default under HOME."""
    ours = env.get(ROOT_VARS[provider][0])
    if ours:
        return Path(ours).expanduser()
    if agent_var and env.get(agent_var):
        return Path(env[agent_var]).expanduser()
    return home / default


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One log file of one provider, with what its location says about it."""

    path: str
    provider: str
    kind: str = "session"  # session | subagent | legacy_json | ...
    parent: str | None = None  # parent session id implied by the location (Claude subagents/, Gemini chats/<parent>/)


@dataclass(slots=True)
class ParseStats:
    """What reading one file met; reported by `doctor`, never raised."""

    lines: int = 0
    records: int = 0
    bytes: int = 0
    bad_lines: int = 0
    bad_samples: list[tuple[int, str, str]] = field(default_factory=list)  # (byte offset, reason, preview)
    unknown: Counter[str] = field(default_factory=Counter)
    torn_tail: bool = False
    skipped: Counter[str] = field(default_factory=Counter)  # records deliberately not used, by reason
    long_lines: int = 0  # lines over the line cap: skipped, never held in memory
    stopped_at_bound: bool = False  # a compressed file whose output went over its bound: the rest not read

    def long_line(self, offset: int) -> None:
        """Count a line over the line cap (it is skipped)."""
        from .files import MAX_LINE_BYTES

        self.long_lines += 1
        self.bad(offset, f"line longer than {MAX_LINE_BYTES >> 20} MB (AGTRACE_MCP_MAX_LINE_MB); skipped", b"")

    def shape(self, offset: int, err: BaseException, record: Any) -> None:
        """Count a record whose shape a parser could not handle (it is skipped)."""
        try:
            preview = repr(record)[:PREVIEW_SCAN] if len(self.bad_samples) < 5 else ""
        except RecursionError:
            preview = "<deeply nested record>"
        self.bad(offset, f"unexpected record shape ({type(err).__name__}: {mask(str(err)[:PREVIEW_SCAN])[:80]})",
                 preview)

    def bad(self, offset: int, reason: str, preview: bytes | str) -> None:
        """Count a line that could not be used, keeping a few (masked) samples for `doctor`."""
        self.bad_lines += 1
        if len(self.bad_samples) < 5:
            if isinstance(preview, bytes):
                preview = preview[:PREVIEW_SCAN].decode("utf-8", "replace")
            # masked before it is cut, so the cut cannot leave part of a secret
            self.bad_samples.append((offset, reason, mask(preview[:PREVIEW_SCAN])[:120]))

    def merge(self, other: ParseStats) -> None:
        self.lines += other.lines
        self.records += other.records
        self.bytes += other.bytes
        self.bad_lines += other.bad_lines
        self.long_lines += other.long_lines
        self.stopped_at_bound = self.stopped_at_bound or other.stopped_at_bound
        for s in other.bad_samples:
            if len(self.bad_samples) < 5:
                self.bad_samples.append(s)
        self.unknown.update(other.unknown)
        self.skipped.update(other.skipped)


class NeedsFullRead(Exception):  # noqa: N818 - a signal, not an error
    """Raised by `parse` resuming from an offset, before it emits anything, when what was appended cannot be
    read as a continuation (a rewind into steps already read, say): the index then reads the file again from
    the start."""


class KeepIndexed(Exception):  # noqa: N818 - a signal, not an error
    """Raised by `parse`, before it emits anything, when a file written whole on every change (Gemini's and
    Copilot's JSON documents) is caught half-written: the index keeps what it has from that file and reads it
    again on the next refresh, instead of losing its session until the file is whole again."""

    def __init__(self, reason: str, preview: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.preview = preview


class Provider(Protocol):
    name: str
    label: str  # the agent's name for people: "Claude Code"
    root_env: tuple[str, ...]  # the agent's own environment variables that move its logs (CODEX_HOME…)
    incremental: bool

    def default_roots(self, home: Path, env: dict[str, str]) -> list[Path]: ...

    def discover(self, roots: list[Path]) -> Iterator[SourceFile]: ...

    def describe(self, path: str) -> SourceFile:
        """Describe one file from its path alone (for `load_file` on a bare path)."""
        ...

    def parse(self, src: SourceFile, offset: int, state: Any, emit: Emit, stats: ParseStats) -> tuple[int, Any]: ...

    def read_output(self, src: SourceFile, offset: int, call_id: str) -> str | None:
        """Fast path for the full output of one tool result stored at `offset`; None = not supported."""
        ...


def may_hold(src: SourceFile, ref: str) -> bool:
    """Whether the file's location says it may hold the session `ref` (an id or a prefix of one of 6+
    characters): most agents put the session id in the file or folder name. A provider whose names hold
    only part of the id, or none of it, says so with its own `may_hold(path, ref)`."""
    from . import REGISTRY

    own = getattr(REGISTRY.get(src.provider), "may_hold", None)
    if own is not None:
        return bool(own(src.path, ref))
    return ref in src.path


def list_dir(folder: Path | str) -> list[os.DirEntry[str]]:
    """A folder's entries sorted by name; empty when it cannot be read (or vanished)."""
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError:
        return []


def safe_walk(root: Path, pattern: str) -> Iterator[tuple[str, str]]:
    """(path, name) of the files under `root` whose name matches `pattern`, in no particular order.

    Plain strings, not Path objects: building a Path per file was most of a no-change refresh.

    os.scandir-based (a no-change refresh walks thousands of files, rglob is several times slower);
    survives unreadable folders and files that vanish mid-walk; never follows symlinked folders. What is
    not a regular file (a FIFO, a link to a device) is yielded too: the index refuses it, and says so.
    """
    stack = [str(root)]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            continue
        subdirs = []
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    if e.name != ".git":
                        subdirs.append(e.path)
                elif fnmatch.fnmatchcase(e.name, pattern):
                    yield e.path, e.name
            except OSError:
                continue
        stack.extend(subdirs)
