"""Reading another program's live SQLite database without writing a byte next to it.

`mode=ro` is not enough for a database in WAL mode: a reader still writes the `-shm` index (its read marks),
and creates it when it is missing. So:
- with no WAL content, the database is opened `immutable=1`: no locks, no `-shm`, the main file only (which
  is then all there is);
- with WAL content, a private snapshot is read: the database and its WAL copied into a temporary folder (again
  when the database changed during the copy: a checkpoint moved pages out of the WAL), opened `mode=ro`.
  A snapshot is kept per database and reused until the database or its WAL changes.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import stat
import tempfile
import threading
from pathlib import Path

_lock = threading.Lock()
_snapshots: dict[str, tuple[tuple[int, ...], str]] = {}  # database -> (stamp of it and its WAL, snapshot dir)


def _stamp(path: str) -> tuple[int, ...]:
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise sqlite3.OperationalError(f"{path} is not a regular file")
    try:
        w = os.stat(path + "-wal")
        wal: tuple[int, ...] = (w.st_size, w.st_mtime_ns, w.st_ino)
    except FileNotFoundError:
        wal = (0, 0, 0)
    return st.st_size, st.st_mtime_ns, st.st_ino, *wal


def _snapshot(path: str, stamp: tuple[int, ...]) -> str:
    """A private copy of the database and its WAL (the cached one while both are unchanged)."""
    with _lock:
        cached = _snapshots.get(path)
        if cached is not None and cached[0] == stamp and os.path.exists(cached[1]):
            return os.path.join(cached[1], "db")
        folder = tempfile.mkdtemp(prefix="agtrace-sqlite-")
        copy = os.path.join(folder, "db")
        for _ in range(3):
            before = _stamp(path)
            shutil.copyfile(path, copy)
            try:
                shutil.copyfile(path + "-wal", copy + "-wal")
            except FileNotFoundError:
                pass
            stamp = _stamp(path)
            # a WAL that only grew during the copy is fine (a torn last frame fails its checksum and is not
            # read); a database that changed was checkpointed mid-copy: copy again
            if stamp[:3] == before[:3]:
                break
        if cached is not None:
            shutil.rmtree(cached[1], ignore_errors=True)
        _snapshots[path] = (stamp, folder)
        return copy


def connect_readonly(path: str, timeout: float = 5.0) -> sqlite3.Connection:
    """A connection that reads `path` (and its WAL) and writes nothing in its folder."""
    path = os.path.abspath(path)
    stamp = _stamp(path)
    if stamp[3] == 0:  # no WAL content: the main file is the whole database
        return sqlite3.connect(f"{Path(path).as_uri()}?mode=ro&immutable=1", uri=True, timeout=timeout)
    copy = _snapshot(path, stamp)
    return sqlite3.connect(f"{Path(copy).as_uri()}?mode=ro", uri=True, timeout=timeout)


@atexit.register
def _clean_up() -> None:
    with _lock:
        for _, folder in _snapshots.values():
            shutil.rmtree(folder, ignore_errors=True)
        _snapshots.clear()
