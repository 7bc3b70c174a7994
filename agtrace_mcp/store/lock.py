"""Who is indexing: one indexing run at a time per data dir, across threads and processes.

A run (a cold index of gigabytes, or the few lines appended since the last query) holds an exclusive
`flock` on `index.lock` in the data dir and writes its progress into that file. Anyone else who needs a
complete index waits for the lock instead of answering from half an index, and reads the holder's progress
meanwhile. The lock dies with its process, so a killed indexer leaves the next process to continue from what
was committed. (A flock belongs to an open file, so two threads of one process exclude each other too.)

A `yield` file asks the holder to pause between its write transactions: a query that must read one session's
log ahead of the rest (a session named by id) touches it while it waits for SQLite's write lock, which a
busy indexer would otherwise take back at once.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process at a time is then up to SQLite's own locks
    fcntl = None  # type: ignore[assignment]

YIELD_FRESH_S = 3.0  # a yield request older than this was left by a process that died


@dataclass(slots=True)
class Progress:
    """What the indexing run has done so far (bytes and files of the logs it has to read)."""

    bytes_done: int = 0
    bytes_total: int = 0
    files_done: int = 0
    files_total: int = 0
    pid: int = 0


class IndexLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "index.lock"
        self.yield_path = data_dir / "index.yield"
        self._fd: int | None = None
        self._last_write = 0.0

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it. False: another thread or process is indexing.

        A data dir where the lock file cannot be created (read-only) has nobody indexing it: True, and the
        run itself then reports why it cannot write."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return True
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
        self._fd = fd
        self.publish(Progress(pid=os.getpid()), force=True)
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        os.close(self._fd)  # closing the file releases the flock
        self._fd = None

    def publish(self, p: Progress, *, force: bool = False) -> None:
        """Write the holder's progress into the lock file (at most 4 times a second)."""
        now = time.monotonic()
        if self._fd is None or (not force and now - self._last_write < 0.25):
            return
        self._last_write = now
        p.pid = os.getpid()
        data = orjson.dumps({"bytes_done": p.bytes_done, "bytes_total": p.bytes_total, "files_done": p.files_done,
                             "files_total": p.files_total, "pid": p.pid})
        try:
            os.pwrite(self._fd, data.ljust(160), 0)
        except OSError:
            pass

    def read_progress(self) -> Progress | None:
        """The progress the current holder published (None: nothing readable)."""
        try:
            raw = self.path.read_bytes().strip()
            d = orjson.loads(raw) if raw else None
        except (OSError, orjson.JSONDecodeError):
            return None
        if not isinstance(d, dict):
            return None
        try:
            return Progress(int(d["bytes_done"]), int(d["bytes_total"]), int(d["files_done"]), int(d["files_total"]),
                            int(d["pid"]))
        except (KeyError, TypeError, ValueError):
            return None

    # -- asking the holder to pause -----------------------------------------------------------------

    def request_yield(self) -> None:
        try:
            self.yield_path.touch()
        except OSError:
            pass

    def end_yield(self) -> None:
        try:
            self.yield_path.unlink()
        except OSError:
            pass

    def yield_requested(self) -> bool:
        try:
            return time.time() - self.yield_path.stat().st_mtime <= YIELD_FRESH_S
        except OSError:
            return False

    def pause_if_asked(self, most: float = 2.0) -> None:
        """Between two write transactions: while a fresh yield request stands, let its maker write first."""
        end = time.monotonic() + most
        while time.monotonic() < end:
            try:
                age = time.time() - self.yield_path.stat().st_mtime
            except OSError:
                return
            if age > YIELD_FRESH_S:
                return
            time.sleep(0.01)
