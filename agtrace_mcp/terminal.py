"""The terminal the CLI writes to: its two consoles, whether each is a terminal, and the progress bar shown
on stderr while the index is being built.

Rich decides colour and width by itself (a pipe gets neither colour nor a width limit from us; `NO_COLOR`,
`FORCE_COLOR`, `TERM=dumb` and `COLUMNS` are honoured), so no command has to ask.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

ProgressCallback = Callable[[int, int, str], None]


def console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that wraps long lines on a terminal and never in a pipe (a pipe's
    reader, `less -S` or `grep`, wants a record per line)."""
    c = Console(stderr=stderr, highlight=False)
    c.soft_wrap = not c.is_terminal
    return c


@dataclass
class Screen:
    """Where a command's output goes: `out` (stdout) for the answer, `err` (stderr) for everything about it
    (progress, hints, the line that says what was cut)."""

    out: Console = field(default_factory=lambda: console())
    err: Console = field(default_factory=lambda: console(stderr=True))

    @property
    def tty(self) -> bool:
        """True when stdout is a terminal (a person reads it as it comes), False for a pipe or a file."""
        return self.out.is_terminal

    @property
    def width(self) -> int | None:
        """The width to fit lines to: the terminal's, or None (no limit) when the output is piped."""
        return self.out.width if self.tty else None

    def aside(self) -> Console:
        """Where to put a line about the answer (a page footer, a hint): under the answer on a terminal,
        on stderr when the answer is piped, so that a pipe carries only the answer."""
        return self.out if self.tty else self.err


class IndexProgress:
    """A progress callback for `Agtrace.refresh(progress=…)` drawing a bar on stderr: MB read of the total,
    files read, time left.

    Drawn only when stderr is a terminal, and only once the work is worth a bar: `min_bytes` to read in
    all, or `min_seconds` spent. A refresh that finds one grown log (every query's case) draws nothing, so
    a command never flickers. The bar is transient: it is gone when the command prints its answer.
    """

    def __init__(self, console: Console | None = None, *, min_bytes: int = 1_000_000, min_seconds: float = 0.5,
                 label: str = "indexing") -> None:
        self.console = console or Console(stderr=True)
        self.enabled = self.console.is_terminal
        self.min_bytes = min_bytes
        self.min_seconds = min_seconds
        self.label = label
        self._t0 = time.monotonic()
        self._files: set[str] = set()
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int, path: str) -> None:
        if not self.enabled:
            return
        if path:
            self._files.add(path)
        if self._bar is None:
            if done >= total > 0 or (total < self.min_bytes and time.monotonic() - self._t0 < self.min_seconds):
                return
            self._start(done, total)
        self._bar.update(self._task, completed=done, total=total or None, files=self._files_read())

    def _start(self, done: int, total: int) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn(self.label), BarColumn(), DownloadColumn(),
                             TextColumn("{task.fields[files]}"), TextColumn("ETA"),
                             TimeRemainingColumn(), console=self.console, transient=True)
        self._task = self._bar.add_task(self.label, total=total or None, completed=done, files=self._files_read())
        self._bar.start()

    def _files_read(self) -> str:
        # another process doing the indexing reports bytes only: then there is no file count to show
        n = len(self._files)
        return f"{n:,} file{'' if n == 1 else 's'}" if n else ""

    @property
    def shown(self) -> bool:
        """True once the bar has been drawn."""
        return self._bar is not None

    def close(self) -> None:
        """Take the bar off the screen (idempotent)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> IndexProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def refresh(api: Any, *, rebuild: bool = False, console: Console | None = None) -> Any:
    """Bring the index up to date before a command reads it, with a progress bar on stderr when that takes
    a while. Returns the refresh report."""
    with IndexProgress(console) as progress:
        return api.refresh(rebuild=rebuild, progress=progress)
