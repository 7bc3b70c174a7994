"""The SQLite index: one place for sessions, turns, steps, tool executions and full-text search.

`Store` is the small query interface the API uses; a shared server database could implement the same
methods later.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..config import Config
from ..errors import IndexUnavailableError
from .db import move_aside, open_db
from .ingest import RefreshReport, refresh
from .queries import Scope
from .secrets import scan_secrets

log = logging.getLogger("agtrace_mcp.store")


class Store:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = open_db(config.db_path)
        self.scope = Scope(list(config.projects))
        self._lock = threading.RLock()  # one connection, used from MCP worker threads
        self._last_refresh = float("-inf")
        self.last_report: RefreshReport | None = None
        self._bg: threading.Thread | None = None
        self.indexing = False
        self.progress: tuple[int, int] = (0, 0)  # bytes done, bytes to do (background index)

    @contextmanager
    def read(self) -> Iterator[object]:
        with self._lock:
            try:
                yield self.db
            except sqlite3.DatabaseError as e:
                if not _is_corruption(e):
                    raise
                self._recover(e)
                raise IndexUnavailableError(
                    f"the index was damaged on disk ({e}); it has been moved aside and is being rebuilt from the "
                    "logs: call again in a moment") from None

    def _recover(self, err: Exception) -> None:
        """The index file went bad under a running process: move it aside and start a fresh one."""
        log.warning("index damaged while in use (%s); rebuilding", err)
        try:
            self.db.close()
        except sqlite3.Error:
            pass
        move_aside(self.config.db_path)
        self.db = open_db(self.config.db_path)
        self._last_refresh = float("-inf")

    def refresh(self, *, force: bool = False, wait: bool = False,
                progress: Callable[[int, int, str], None] | None = None) -> RefreshReport | None:
        """Bring the index up to date; throttled to once per `refresh_interval` unless forced."""
        try:
            return self._refresh(force=force, wait=wait, progress=progress)
        except sqlite3.DatabaseError as e:
            if not _is_corruption(e):
                raise
            with self._lock:
                self._recover(e)
            return self._refresh(force=True, wait=wait, progress=progress)

    def _refresh(self, *, force: bool, wait: bool,
                 progress: Callable[[int, int, str], None] | None) -> RefreshReport | None:
        now = time.monotonic()
        if self.indexing and not wait:
            return None  # the background index is on it; serve what is committed so far
        if not force and now - self._last_refresh < self.config.refresh_interval:
            return None
        with self._lock:
            self._last_refresh = time.monotonic()
            self.last_report = refresh(self.db, self.config, wait=wait, progress=progress)
            return self.last_report

    def start_background_refresh(self) -> None:
        """Index in a thread with its own connection, so the first queries answer at once (from what is
        committed so far) instead of waiting for a cold index of gigabytes of logs."""
        if self._bg is not None and self._bg.is_alive():
            return
        self.indexing = True

        def progress(done: int, total: int, _path: str) -> None:
            self.progress = (done, total)

        def run() -> None:
            try:
                db = open_db(self.config.db_path)
                try:
                    self.last_report = refresh(db, self.config, wait=True, progress=progress)
                    scan_secrets(db)  # ready before anyone asks secret_findings
                finally:
                    db.close()
            except Exception as e:  # never kill the server: queries fall back to their own refresh
                log.warning("background indexing failed: %s", e)
            finally:
                self._last_refresh = time.monotonic()
                self.indexing = False

        self._bg = threading.Thread(target=run, name="agtrace-index", daemon=True)
        self._bg.start()

    def indexing_note(self) -> str | None:
        if not self.indexing:
            return None
        done, total = self.progress
        return (f"the index is still being built ({done / 1e6:.0f} of {total / 1e6:.0f} MB read); "
                "results may be incomplete, ask again in a moment")

    def rebuild(self, progress: Callable[[int, int, str], None] | None = None) -> RefreshReport:
        """Forget every file's state and read all logs again (rows are replaced file by file)."""
        with self._lock:
            self.db.execute("UPDATE files SET parser_version = -1")
        report = self.refresh(force=True, wait=True, progress=progress)
        assert report is not None
        return report

    def close(self) -> None:
        with self._lock:
            self.db.close()


def _is_corruption(e: Exception) -> bool:
    msg = str(e).lower()
    return "malformed" in msg or "not a database" in msg or "corrupt" in msg


__all__ = ["Store", "Scope", "RefreshReport"]
