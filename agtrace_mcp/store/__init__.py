"""The SQLite index: one place for sessions, turns, steps, tool executions and full-text search.

`Store` is the small query interface the API uses; a shared server database could implement the same
methods later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..config import Config
from .db import open_db
from .ingest import RefreshReport, refresh
from .queries import Scope


class Store:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = open_db(config.db_path)
        self.scope = Scope(list(config.projects))
        self._lock = threading.RLock()  # one connection, used from MCP worker threads
        self._last_refresh = float("-inf")
        self.last_report: RefreshReport | None = None

    @contextmanager
    def read(self) -> Iterator[object]:
        with self._lock:
            yield self.db

    def refresh(self, *, force: bool = False, wait: bool = False,
                progress: Callable[[int, int, str], None] | None = None) -> RefreshReport | None:
        """Bring the index up to date; throttled to once per `refresh_interval` unless forced."""
        now = time.monotonic()
        if not force and now - self._last_refresh < self.config.refresh_interval:
            return None
        with self._lock:
            self._last_refresh = time.monotonic()
            self.last_report = refresh(self.db, self.config, wait=wait, progress=progress)
            return self.last_report

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


__all__ = ["Store", "Scope", "RefreshReport"]
