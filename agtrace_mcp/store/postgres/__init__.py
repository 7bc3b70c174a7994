"""A team's history in one PostgreSQL database: the second backend of the store.

Every machine pushes its local index (`push.py`: `agtrace-mcp push --to postgresql://…`), masked, with the
machine and user on every session; `serve --store postgresql://…` (and every CLI command) answers from it
through `PgStore`, with the same queries as the local index (`queries.py`). Schema: `migrations.py`.

A `PgStore` only reads: there is nothing here to index, so every freshness check says "complete" (what the
machines have pushed is the history), and its connections run read-only transactions whatever their role.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ...config import Config
from ...errors import StoreError
from .. import IndexState, RefreshReport
from ..queries import Scope
from . import queries
from .connect import check_url, connect, explain, pool, shown
from .migrations import check_current

COMPLETE = IndexState(True)


class PgStore:
    """The store interface (`store.Store`'s) over a team database."""

    queries = queries
    indexing = False  # nothing is ever indexed here
    background = False
    read_only = None  # (the local index's "cannot be updated"): a team database is not updated by answering

    def __init__(self, url: str, config: Config) -> None:
        self.url = check_url(url)
        self.config = config
        self.scope = Scope(list(config.projects))  # whose sessions: every row says (machine, user)
        self.last_report: RefreshReport | None = None
        self._pool: Any = None
        self._lock = threading.Lock()

    def _open(self) -> Any:
        """The reading pool, opened on first use after one direct connection: its failure is the one-line
        error the caller sees (the pool alone would only time out)."""
        with self._lock:
            if self._pool is None:
                conn = connect(self.url, read_only=True)
                try:
                    check_current(conn, shown(self.url))
                finally:
                    conn.close()
                p = pool(self.url)
                try:
                    p.open(wait=True, timeout=15)
                except Exception as e:
                    p.close()
                    raise StoreError(explain(e, self.url)) from None
                self._pool = p
            return self._pool

    @contextmanager
    def read(self) -> Iterator[queries.PgDb]:
        """One read transaction on a pooled connection."""
        import psycopg
        from psycopg_pool import PoolTimeout

        p = self._open()
        try:
            with p.connection() as conn:
                yield queries.PgDb(conn)
        except PoolTimeout as e:
            raise StoreError(explain(e, self.url, "get an answer from")) from None
        except psycopg.OperationalError as e:
            raise StoreError(explain(e, self.url, "get an answer from")) from None

    # -- the store's freshness calls: nothing to index, the database is the history ---------------------

    def sync(self, *, deadline: float | None = None, progress: Callable[[int, int, str], None] | None = None,
             force: bool = False) -> IndexState:
        return COMPLETE

    def peek(self) -> IndexState:
        return COMPLETE

    def settle_newest(self, newest: Callable[[], str | None], *, deadline: float | None = None,
                      progress: Callable[[int, int, str], None] | None = None) -> IndexState:
        return COMPLETE

    def locate(self, ref: str, *, deadline: float | None = None,
               progress: Callable[[int, int, str], None] | None = None) -> str:
        with self.read() as db:
            return queries.resolve_session(db, ref, self.scope)

    def refresh(self, *, force: bool = False, wait: bool = False,
                progress: Callable[[int, int, str], None] | None = None) -> RefreshReport | None:
        return None  # what the machines pushed is all there is

    def rebuild(self, progress: Callable[[int, int, str], None] | None = None) -> RefreshReport:
        raise StoreError("a team database is filled by `agtrace-mcp push` from each machine, not indexed here; "
                         "run `agtrace-mcp index` without --store to index this machine's logs")

    def start_background_refresh(self) -> None:
        """`serve`: connect now, so a bad URL or a server that does not answer is said at start (on stderr)."""
        self._open()

    def location(self) -> tuple[str, int]:
        """The database (its URL without the password) and its size in bytes."""
        with self.read() as db:
            size = db.execute("SELECT pg_database_size(current_database()) AS n").fetchone()["n"]
        return shown(self.url), int(size)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


def open_store(url: str, config: Config) -> PgStore:
    """The team database at `url` as a store (nothing is connected until the first answer)."""
    return PgStore(url, config)


__all__ = ["PgStore", "open_store"]
