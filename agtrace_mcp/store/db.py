"""Opening the index: WAL, pragmas, migrations, and recovery from a missing or corrupt file."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import TextIO

from ..errors import IndexUnavailableError
from .migrations import migrate

log = logging.getLogger("agtrace_mcp.store")

BUSY_TIMEOUT_MS = 30_000
PAGE_SIZE = 16_384


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # New index files only (an existing file keeps its page size): rows of 1-4 KB (tool previews, messages)
    # left a quarter of each 4 KB page empty; 16 KB pages made a 1.1 GB corpus's index 9 % smaller.
    db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        raise sqlite3.DatabaseError(f"cannot switch the index to WAL mode (got {mode})")
    db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("PRAGMA cache_size = -32000")  # 32 MB page cache
    db.execute("PRAGMA temp_store = MEMORY")
    db.execute("PRAGMA journal_size_limit = 16777216")  # truncate the WAL after checkpoints
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA mmap_size = 268435456")
    return db


def open_db(path: Path) -> sqlite3.Connection:
    """Open (creating or migrating) the index at `path`.

    A corrupt index is moved aside (`*.corrupt-<time>`) and rebuilt from the logs, with a message on stderr:
    the index is a cache of the logs, so nothing is lost. A data dir that cannot be written raises
    IndexUnavailableError with what to do.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise IndexUnavailableError(
            f"cannot create the index folder {path.parent}: {e.strerror}; set AGTRACE_MCP_DATA_DIR "
            "(or --data-dir) to a writable folder") from e
    for attempt in (1, 2):
        db = None
        try:
            db = _connect(path)
            # Cheap: a file that is not an index fails here. (A full quick_check takes 1.4 s on a 300 MB index,
            # at every server start: the background run does it after indexing instead, see `Store`.)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            migrate(db)
            return db
        except sqlite3.DatabaseError as e:
            if db is not None:
                db.close()
            msg = str(e).lower()
            if "readonly" in msg or "read-only" in msg or "unable to open" in msg or "disk i/o" in msg \
                    or "full" in msg:
                raise IndexUnavailableError(
                    f"cannot use the index at {path}: {e}; set AGTRACE_MCP_DATA_DIR (or --data-dir) to a "
                    "writable folder with free space") from e
            if attempt == 2:
                raise IndexUnavailableError(f"the index at {path} cannot be rebuilt: {e}") from e
            aside = move_aside(path)
            log.warning("index %s is unreadable (%s); moved it to %s, rebuilding from the logs", path, e, aside)
            print(f"agtrace-mcp: the index at {path} was unreadable ({e}); rebuilding it from the logs "
                  f"(old file kept as {aside.name})", file=_stderr())
    raise AssertionError("unreachable")


def open_db_readonly(path: Path) -> sqlite3.Connection:
    """The existing index at `path`, opened so that nothing is written (for a read-only or full data dir).

    `mode=ro` reads the WAL too when its `-shm` can be used; when it cannot (no `-shm`, and no right to
    create one) `immutable=1` reads the main file alone, which is all there is once the last writer closed.
    IndexUnavailableError when there is no index, or when its schema is older than this build's.
    """
    from .migrations import MIGRATIONS

    try:
        exists = path.is_file()
    except OSError:
        exists = False
    if not exists:
        raise IndexUnavailableError(f"no index at {path} and the folder cannot be written; set "
                                    "AGTRACE_MCP_DATA_DIR (or --data-dir) to a writable folder with free space")
    uri = path.absolute().as_uri()
    last: Exception | None = None
    for query in ("mode=ro", "mode=ro&immutable=1"):
        db = None
        try:
            db = sqlite3.connect(f"{uri}?{query}", uri=True, isolation_level=None, check_same_thread=False,
                                 timeout=BUSY_TIMEOUT_MS / 1000)
            db.row_factory = sqlite3.Row
            done = {r[0] for r in db.execute("SELECT name FROM _migrations")}
        except sqlite3.Error as e:
            if db is not None:
                db.close()
            last = e
            continue
        if any(fn.__name__ not in done for fn in MIGRATIONS):
            db.close()
            raise IndexUnavailableError(f"the index at {path} was written by an older agtrace-mcp and its folder "
                                        "cannot be written to update it; set AGTRACE_MCP_DATA_DIR (or --data-dir) "
                                        "to a writable folder")
        return db
    raise IndexUnavailableError(f"cannot read the index at {path}: {last}; set AGTRACE_MCP_DATA_DIR (or "
                                "--data-dir) to a writable folder with free space")


def move_aside(path: Path) -> Path:
    """Move a damaged index (and its -wal/-shm) out of the way, keeping it for a post-mortem."""
    aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            try:
                os.replace(src, Path(str(aside) + suffix))
            except OSError:
                src.unlink(missing_ok=True)
    return aside


def _stderr() -> TextIO:
    """sys.stderr, looked up when used (a tiny indirection so that tests can capture it)."""
    import sys

    return sys.stderr
