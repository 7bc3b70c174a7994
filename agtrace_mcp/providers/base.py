"""What every provider is: one module that says everything about one agent.

A provider names its agent (`name`, `aliases`, `label`), says where its logs live and what moves them
(`default_roots`, `root_env`, `root_var`, `root_flag`), how to recognise its files (`claims`, `sniff`), how
to discover and parse them (`discover`, `describe`, `parse`, `read_output`), and the agent's conventions
the engine needs (`exit_pattern`, `tool_shapes`, `slash_parent`). Everything else in agtrace-mcp (the model's
provider names, tool arguments, configuration, CLI flags, doctor) reads these from the registry
(`providers.registry`), so a name is written once, and a plugin package adds an agent by declaring an entry
point in the `agtrace_mcp.providers` group (see examples/provider-plugin). `BaseProvider` holds the defaults.

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

import builtins
import fnmatch
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..engine.shapes import GENERIC, ToolShapes
from ..redact import mask
from .files import MAX_LINE_BYTES

Emit = Callable[[object], None]

# bad-line previews are masked over this many characters, then cut to 120
PREVIEW_SCAN = 4096

# What a record of an unexpected shape raises inside a parser (a list where a dict was expected, a number
# for a string…). Parsers catch these per record: the record is skipped and counted, never fatal.
SHAPE_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError)

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

    def bad(self, offset: int, reason: str, preview: builtins.bytes | str) -> None:
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


class NeedsFullRead(Exception):
    """Raised by `parse` resuming from an offset, before it emits anything, when what was appended cannot be
    read as a continuation (a rewind into steps already read, say): the index then reads the file again from
    the start."""


class KeepIndexed(Exception):
    """Raised by `parse`, before it emits anything, when a file written whole on every change (Gemini's and
    Copilot's JSON documents) is caught half-written: the index keeps what it has from that file and reads it
    again on the next refresh, instead of losing its session until the file is whole again."""

    def __init__(self, reason: str, preview: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.preview = preview


@dataclass(frozen=True, slots=True)
class SlashParent:
    """A subagent whose log names no parent: its parent is the session of the same agent and project whose
    `slash` turn (a slash command such as `/review`) started last before it, within `window_s` seconds. The
    store applies the rule (Codex review sub-agents)."""

    agent_name: str  # the subagent's agent_name
    slash: str  # the parent's slash command
    window_s: int = 600


Stamp = tuple[int, int, int]  # (size, mtime_ns, inode)


class Provider(Protocol):
    """The contract of a provider. Members shown as properties are read-only; `BaseProvider` gives every one
    that may be left out a default (optional capabilities default to None: not supported)."""

    @property
    def name(self) -> str:
        """The agent's id in the index and in every answer (`claude_code`): lower case, letters, digits, `_`."""
    @property
    def label(self) -> str:
        """The agent's name for people: "Claude Code"."""
    @property
    def short(self) -> str:
        """The short name tables show and `root_var`/`root_flag` are made of (`claude`); also an alias."""
    @property
    def aliases(self) -> tuple[str, ...]:
        """Other names a user may type for the agent (`claude-code`, `agy`)."""
    @property
    def order(self) -> int:
        """Where the agent comes in lists (doctor, CLI flags, discovery): the built-in six are 10..60."""
    @property
    def root_env(self) -> tuple[str, ...]:
        """The agent's own environment variables that move its logs (`CODEX_HOME`)."""
    @property
    def root_var(self) -> str:
        """Our variable that names the agent's data dir (`AGTRACE_MCP_CLAUDE_DIR`)."""
    @property
    def root_flag(self) -> str:
        """The CLI flag that names it (`--claude-dir`)."""
    @property
    def incremental(self) -> bool:
        """Whether a grown file is read from where the last read stopped (else always from 0)."""
    @property
    def partial(self) -> bool:
        """Whether one file holds many sessions and a read emits only those that changed (see `present`)."""
    @property
    def exit_pattern(self) -> re.Pattern[str] | None:
        """How the agent writes a process exit code into a tool output (one group captures it)."""
    @property
    def tool_shapes(self) -> ToolShapes:
        """How the agent's tools spell polls, commands, paths and edits (for the analysis)."""
    @property
    def slash_parent(self) -> SlashParent | None:
        """Subagents whose parent is found by a slash command of the parent (Codex `/review`); None: none."""
    @property
    def stamp(self) -> Callable[[SourceFile], Stamp] | None:
        """(size, mtime_ns, inode) that change whenever the data does, for a provider whose data also lives in
        side files (a SQLite `-wal`); None: the file's own stat."""
    @property
    def present(self) -> Callable[[Any], set[str]] | None:
        """For a partial provider: the sessions a file still holds, from the state `parse` returned."""
    @property
    def may_hold(self) -> Callable[[str, str], bool] | None:
        """Whether the file at a path may hold the session `ref` (an id or a prefix of 6+ characters); None:
        the file's path holds the session id."""
    @property
    def project_from_known(self) -> Callable[[str, Iterable[str]], str | None] | None:
        """The project of a log whose records do not name it, among known paths (Gemini's hash folders)."""

    def default_roots(self, home: Path, env: dict[str, str]) -> list[Path]:
        """Where the agent keeps its logs, from HOME and the environment mapping given (never os.environ)."""
        ...

    def discover(self, roots: list[Path]) -> Iterator[SourceFile]:
        """Every log file under these roots (a walk that survives unreadable and vanishing folders)."""
        ...

    def describe(self, path: str) -> SourceFile:
        """Describe one file from its path alone (for `load_file` on a bare path)."""
        ...

    def claims(self, path: str) -> int:
        """How surely a path is one of this agent's logs by its location alone: 0 not at all, 1 a folder
        the agent owns (`/.claude/`), 2 its own layout, 3 a layout inside another agent's folder. The most sure
        provider wins (`detect_provider`)."""
        ...

    def sniff(self, path: str, first: Any) -> int:
        """How surely a file is this agent's by its first JSON value `first` (None when the first line is not
        JSON; the file may then be read): scored as `claims`."""
        ...

    def parse(self, src: SourceFile, offset: int, state: Any, emit: Emit, stats: ParseStats) -> tuple[int, Any]:
        """Emit the events of `src` from `offset` (with the state returned last time); return where it stopped
        (before a torn last line) and the state to continue from."""
        ...

    def read_output(self, src: SourceFile, offset: int, call_id: str) -> str | None:
        """Fast path for the full output of one tool result stored at `offset`; None = not supported."""
        ...


class BaseProvider:
    """Defaults for every member of `Provider` that a provider may leave out. Subclass it, set `name` and
    `label`, and write `default_roots`, `discover` and `parse`."""

    name: str = ""
    label: str = ""
    short_name: str = ""  # `short`, when it is not `name`
    aliases: tuple[str, ...] = ()
    order: int = 100  # after the built-in agents
    root_env: tuple[str, ...] = ()
    incremental: bool = True
    partial: bool = False
    exit_pattern: re.Pattern[str] | None = None
    tool_shapes: ToolShapes = GENERIC
    slash_parent: SlashParent | None = None
    stamp: Callable[[SourceFile], Stamp] | None = None
    present: Callable[[Any], set[str]] | None = None
    may_hold: Callable[[str, str], bool] | None = None
    project_from_known: Callable[[str, Iterable[str]], str | None] | None = None

    @property
    def short(self) -> str:
        return self.short_name or self.name

    @property
    def root_var(self) -> str:
        return f"AGTRACE_MCP_{re.sub(r'[^A-Za-z0-9]', '_', self.short).upper()}_DIR"

    @property
    def root_flag(self) -> str:
        return f"--{re.sub(r'[^a-z0-9]', '-', self.short.lower())}-dir"

    def agent_dir(self, env: dict[str, str], home: Path, default: str) -> Path:
        """The agent's data dir: our override (`root_var`), else the agent's own variable (the first of
        `root_env`), else `default` under HOME."""
        ours = env.get(self.root_var)
        if ours:
            return Path(ours).expanduser()
        for var in self.root_env[:1]:
            if env.get(var):
                return Path(env[var]).expanduser()
        return home / default

    def default_roots(self, home: Path, env: dict[str, str]) -> list[Path]:
        raise NotImplementedError

    def discover(self, roots: list[Path]) -> Iterator[SourceFile]:
        raise NotImplementedError

    def describe(self, path: str) -> SourceFile:
        return SourceFile(path, self.name)

    def claims(self, path: str) -> int:
        return 0

    def sniff(self, path: str, first: Any) -> int:
        return 0

    def parse(self, src: SourceFile, offset: int, state: Any, emit: Emit, stats: ParseStats) -> tuple[int, Any]:
        raise NotImplementedError

    def read_output(self, src: SourceFile, offset: int, call_id: str) -> str | None:
        return None


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
