"""The store behind every answer: sessions, turns, steps, tool executions and full-text search.

Two backends, one interface. `Store` is the local SQLite index of this machine's logs (the default): it
keeps itself up to date with the logs before it answers. `postgres.PgStore` is a team database filled by
`agtrace-mcp push` from every machine (`--store postgresql://…`): read-only, nothing to index. The API sees
only what both have: `read()` (a connection for the backend's `queries`), `scope`, the freshness calls
(`sync`, `peek`, `settle_newest`, `locate`) and `location()`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..config import Config
from ..errors import AmbiguousIdError, IndexUnavailableError, NotFoundError
from ..providers import SourceFile, may_hold
from . import queries as q
from .db import move_aside, open_db, open_db_readonly
from .ingest import PARSER_VERSION, Found, RefreshReport, ingest_now, pending, refresh, renumber_docs, stat_file
from .lock import IndexLock
from .queries import Scope
from .workers import worker_count

Progress = Callable[[int, int, str], None]

log = logging.getLogger("agtrace_mcp.store")


@dataclass
class IndexState:
    """Whether the index holds every log on disk; when it does not, how much is left and who is reading it."""

    complete: bool
    files_pending: int = 0
    bytes_pending: int = 0
    bytes_done: int = 0
    error: str | None = None  # the index cannot be brought up to date (read-only or full data dir)

    def message(self) -> str | None:
        if self.complete:
            return None
        if self.error:
            return f"the index cannot be updated: {self.error}"
        return (f"the index is still being built: {self.files_pending} log files "
                f"({self.bytes_pending / 1e6:.0f} MB) not read yet")


COMPLETE = IndexState(True)
NEWEST_FIRST_BYTES = 64 << 20  # `settle_newest` reads this much ahead of the rest, then waits like any query
NEWEST_FIRST_FILES = 16
INLINE_MAX_BYTES = 32 << 20  # more than this to read goes to the background run (server) instead of a query


class Store:
    """The local index (SQLite) of this machine's logs."""

    queries = q  # the read queries of this backend (module functions over a sqlite3 connection)

    def __init__(self, config: Config) -> None:
        self.config = config
        # a data dir that cannot be written (read-only, or full before a migration could run) still serves
        # the index there is, as it is: every answer then says it cannot be updated
        self.read_only: str | None = None
        try:
            self.db = open_db(config.db_path)
        except IndexUnavailableError as e:
            self.db = open_db_readonly(config.db_path)
            self.read_only = str(e).split("; set AGTRACE_MCP_DATA_DIR")[0]
        # one machine's, one user's history: a machine/user filter naming another answers nothing
        self.scope = Scope(list(config.projects), machine=config.machine, user=config.user)
        self._lock = threading.RLock()  # one connection, used from MCP worker threads
        self._complete_at = float("-inf")  # when a check last found the index complete (monotonic)
        self.last_report: RefreshReport | None = None
        self._bg: threading.Thread | None = None
        self._bg_running = threading.Event()
        self._damaged: Exception | None = None  # found by the background integrity check
        self.background = False  # serve: big refreshes run in a background thread, queries wait for it
        self.workers = worker_count(config.env)
        self.progress: tuple[int, int] = (0, 0)  # bytes done, bytes to do (background index)
        self._out_of_order: list[str] = []  # files read ahead of a background run, by id

    @property
    def indexing(self) -> bool:
        """This process's background run is indexing (until it lets go of the index lock)."""
        return self._bg_running.is_set()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._damaged is not None:
                err, self._damaged = self._damaged, None
                self._recover(err)
                raise IndexUnavailableError(
                    f"the index was damaged on disk ({err}); it has been moved aside and is being rebuilt from the "
                    "logs: call again in a moment")
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
        self._complete_at = float("-inf")

    # -- keeping the index complete ------------------------------------------------------------

    def sync(self, *, deadline: float | None = None, progress: Progress | None = None,
             force: bool = False) -> IndexState:
        """Make the index hold every log on disk, then say so (throttled to once per `refresh_interval`
        unless forced).

        This process indexes what changed when no one else is (holding the index lock); otherwise it waits
        for whoever is (another process, or this server's background run), reporting their progress, until
        the index is complete or `deadline` (time.monotonic()) passes. Past the deadline the state says how
        much is left: answers built then are incomplete and must say so."""
        if self.read_only:
            return IndexState(False, error=self.read_only)
        if not force and time.monotonic() - self._complete_at < self.config.refresh_interval:
            return COMPLETE
        try:
            return self._sync(deadline, progress)
        except sqlite3.DatabaseError as e:
            if not _is_corruption(e):
                raise
            with self._lock:
                self._recover(e)
            return self._sync(deadline, progress)

    def _sync(self, deadline: float | None, progress: Progress | None) -> IndexState:
        lock = IndexLock(self.config.data_dir)
        pause = 0.02
        while True:
            if not self.indexing and lock.try_acquire():
                try:
                    with self._lock:
                        started = time.monotonic()  # complete as of this moment: before the logs are listed
                        todo = pending(self.db, self.config) if self.background else None
                        if todo is not None and todo.bytes > INLINE_MAX_BYTES:
                            big = True
                        else:
                            big = False
                            rep = refresh(self.db, self.config, wait=True, progress=progress, lock=lock,
                                          workers=self.workers, listed=todo)
                            self.last_report = rep
                finally:
                    lock.release()
                if big:
                    self.start_background_refresh()
                    continue
                unwritable = [e for e in rep.errors if "cannot be written" in e]
                if unwritable:
                    return IndexState(False, error=unwritable[0])
                self._complete_at = started
                return COMPLETE
            done, total, _ = self._progress_elsewhere(lock)
            if progress is not None and total:
                progress(done, total, "")
            if deadline is not None and time.monotonic() >= deadline:
                with self._lock:  # what is not committed yet, whatever the indexer has read
                    left = pending(self.db, self.config)
                if not left.todo:
                    continue  # it just finished
                return IndexState(False, files_pending=len(left.todo), bytes_pending=left.bytes, bytes_done=done)
            time.sleep(pause)
            pause = min(0.2, pause * 2)

    def _progress_elsewhere(self, lock: IndexLock) -> tuple[int, int, int]:
        """(bytes done, bytes total, files left) of the indexing run that holds the lock."""
        if self.indexing:
            done, total = self.progress
            p = lock.read_progress()
            return done, total, (p.files_total - p.files_done) if p else 0
        p = lock.read_progress()
        if p is None:
            return 0, 0, 0
        return p.bytes_done, p.bytes_total, p.files_total - p.files_done

    def peek(self) -> IndexState:
        """The index's state now, without reading or waiting for anything (one `stat` per log, throttled)."""
        if self.read_only:
            return IndexState(False, error=self.read_only)
        if time.monotonic() - self._complete_at < self.config.refresh_interval and not self.indexing:
            return COMPLETE
        with self._lock:
            p = pending(self.db, self.config)
        if not p.todo:
            return COMPLETE
        lock = IndexLock(self.config.data_dir)
        done, total, _ = self._progress_elsewhere(lock) if (self.indexing or not lock.try_acquire()) else (0, 0, 0)
        lock.release()
        return IndexState(False, files_pending=len(p.todo), bytes_pending=p.bytes, bytes_done=done)

    def settle_newest(self, newest: Callable[[], str | None], *, deadline: float | None = None,
                      progress: Progress | None = None) -> IndexState:
        """Read the most recently written logs first until none still unread can hold activity newer than
        `newest()` (the newest answer so far, an ISO time); then the answer is right even if older history is
        still being read ("which session am I?"). A log's mtime is when its last record was written."""
        if self.read_only:
            return self.peek()
        spent = 0
        while spent < NEWEST_FIRST_BYTES:
            state = self.peek()
            if state.complete:
                return state
            with self._lock:
                todo = pending(self.db, self.config).todo
            best = newest()
            if best is not None:
                horizon = _iso_ns(best) - 2 * 10**9  # mtimes and record times come from different clocks
                todo = [f for f in todo if f.mtime_ns >= horizon]
                if not todo:
                    return COMPLETE  # what is left is older than the answer: it cannot change it
            batch = sorted(todo, key=lambda f: -f.mtime_ns)[:NEWEST_FIRST_FILES]
            self._ingest_now(batch)
            spent += sum(f.size for f in batch)
        return self.sync(deadline=deadline, progress=progress, force=True)

    def locate(self, ref: str, *, deadline: float | None = None, progress: Progress | None = None) -> str:
        """A session id or unique prefix → the full id, answered from the logs themselves when the index does
        not have the session yet: the files whose names can hold that id are read first, ahead of the rest;
        then the other unread files that contain it. "Not found" only once every log has been read."""
        self._quick_sync()
        found = self._resolve(ref)
        if found is not None:
            self._read_own(found)
            return found
        if len((ref or "").strip()) >= q.MIN_PREFIX:
            ref = ref.strip()
            with self._lock:
                todo = pending(self.db, self.config).todo
            if todo:
                first = [f for f in todo if may_hold(f.src, ref)] or _containing(todo, ref)
                if first:
                    self._ingest_now(sorted(first, key=lambda f: -f.mtime_ns)[:50])
                    found = self._resolve(ref)
                    if found is not None:
                        return found
        state = self.sync(deadline=deadline, progress=progress, force=True)
        found = self._resolve(ref)
        if found is not None:
            return found
        try:
            with self.read() as db:
                return q.resolve_session(db, ref, self.scope)
        except NotFoundError as e:
            if state.complete:
                raise
            raise NotFoundError(f"{e} (not among the logs read so far: {state.message()}; ask again shortly)") \
                from None

    def _quick_sync(self) -> None:
        """The freshness check of an answer about one session: when nobody is indexing and little changed
        (the usual case: what agents appended since the last call), read it all now; otherwise leave the
        rest to whoever indexes it and read only what the answer needs."""
        if time.monotonic() - self._complete_at < self.config.refresh_interval or self.indexing or self.read_only:
            return
        lock = IndexLock(self.config.data_dir)
        if not lock.try_acquire():
            return
        try:
            with self._lock:
                started = time.monotonic()
                todo = pending(self.db, self.config)
                if todo.bytes > INLINE_MAX_BYTES:
                    return
                rep = refresh(self.db, self.config, wait=True, lock=lock, listed=todo)
                self.last_report = rep
            if not any("cannot be written" in e for e in rep.errors):
                self._complete_at = started
        finally:
            lock.release()

    def _resolve(self, ref: str) -> str | None:
        with self.read() as db:
            try:
                return q.resolve_session(db, ref, self.scope)
            except AmbiguousIdError:
                raise
            except NotFoundError:
                return None

    def _read_own(self, sid: str) -> None:
        """Read what was appended to this session's own log, whatever else is still to be indexed: an agent
        asking about its own session must see the step it just took."""
        with self._lock:
            row = self.db.execute(
                "SELECT f.path, f.provider, f.kind, f.parent, f.size, f.mtime_ns, f.inode, f.parser_version"
                " FROM sessions s JOIN files f ON f.id = s.file_id WHERE s.id = ?", (sid,)).fetchone()
        if row is None:
            return
        f = stat_file(SourceFile(row[0], row[1], row[2], row[3]))
        # changed, or read by an older parser (after an upgrade: its rows are not masked yet, say)
        if f is not None and ((f.size, f.mtime_ns, f.inode) != (row[4], row[5], row[6])
                              or row[7] != PARSER_VERSION):
            self._ingest_now([f])

    def _ingest_now(self, files: list[Found]) -> None:
        if self.read_only:
            return
        with self._lock:
            n = ingest_now(self.db, self.config, files, IndexLock(self.config.data_dir))
        if n and self.indexing:
            self._out_of_order.extend(f.src.path for f in files)

    # -- the old entry points ------------------------------------------------------------------

    def refresh(self, *, force: bool = False, wait: bool = False,
                progress: Callable[[int, int, str], None] | None = None) -> RefreshReport | None:
        """Bring the index up to date (the whole of it, waiting for any other indexer); returns what this
        process read, None when the throttle or another indexer left it nothing to do.

        `wait=False` is the per-query freshness check: it never waits for another indexing run."""
        before = self.last_report
        deadline = None if wait else time.monotonic()
        self.sync(deadline=deadline, progress=progress, force=force)
        return self.last_report if self.last_report is not before else None

    def start_background_refresh(self) -> None:
        """Index in a thread with its own connection (and parse workers), so queries named by id answer at
        once while gigabytes of history are read; the others wait for it (`sync`)."""
        self.background = True
        if self._bg_running.is_set() or self.read_only:
            return
        self._bg_running.set()

        def progress(done: int, total: int, _path: str) -> None:
            self.progress = (done, total)

        def run() -> None:
            lock = IndexLock(self.config.data_dir)
            try:
                db = open_db(self.config.db_path)
                try:
                    while not lock.try_acquire():  # another process is indexing: let it finish
                        time.sleep(0.2)
                    try:
                        t0 = time.monotonic()
                        self.last_report = refresh(db, self.config, wait=True, progress=progress, lock=lock,
                                                   workers=self.workers)
                        # logs read ahead by id that agents are writing now belong above the older history
                        recent = [p for p in self._out_of_order if _written_within(p, 3600)]
                        self._out_of_order = []
                        if recent:
                            renumber_docs(db, recent, True)
                        if not any("cannot be written" in e for e in self.last_report.errors):
                            self._complete_at = t0
                    finally:
                        lock.release()
                        self._bg_running.clear()
                    check = db.execute("PRAGMA quick_check").fetchone()[0]  # off the start-up path
                    if check != "ok":
                        self._damaged = sqlite3.DatabaseError(f"quick_check: {check}")
                finally:
                    db.close()
            except Exception as e:  # never kill the server: queries fall back to their own refresh
                log.warning("background indexing failed: %s", e)
            finally:
                self._bg_running.clear()

        self._bg = threading.Thread(target=run, name="agtrace-index", daemon=True)
        self._bg.start()  # `indexing` is already true: queries wait for this run, not start their own

    def rebuild(self, progress: Callable[[int, int, str], None] | None = None) -> RefreshReport:
        """Forget every file's state and read all logs again (rows are replaced file by file)."""
        if self.read_only:
            raise IndexUnavailableError(f"the index cannot be updated: {self.read_only}; set AGTRACE_MCP_DATA_DIR "
                                        "(or --data-dir) to a writable folder to index the logs")
        with self._lock:
            self.db.execute("UPDATE files SET parser_version = -1")
        self.sync(force=True, progress=progress)
        assert self.last_report is not None
        return self.last_report

    def location(self) -> tuple[str, int]:
        """Where the index is, and its size in bytes (with its WAL)."""
        path = self.config.db_path
        return str(path), sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())

    def close(self) -> None:
        with self._lock:
            self.db.close()


def _written_within(path: str, seconds: float) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime < seconds
    except OSError:
        return False


def _iso_ns(ts: str) -> int:
    """An ISO time (as the index stores them) in ns since the epoch; 0 when unreadable."""
    from datetime import datetime, timezone

    try:
        d = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return int(d.timestamp() * 1e9)


def _containing(todo: list[Found], ref: str, budget: int = 2 << 30) -> list[Found]:
    """The unread files whose bytes contain `ref` (the "targeted look" for an id no file name holds),
    newest first, reading at most `budget` bytes."""
    needle = ref.encode()
    out: list[Found] = []
    for f in sorted(todo, key=lambda f: -f.mtime_ns):
        if budget <= 0:
            break
        budget -= f.size
        try:
            if _holds(f.src.path, needle):
                out.append(f)
        except OSError:
            continue
    return out


def _holds(path: str, needle: bytes, chunk: int = 1 << 20) -> bool:
    """Whether the file holds `needle`, read a chunk at a time (a log may be hundreds of MB)."""
    from ..providers.files import open_regular

    keep = max(0, len(needle) - 1)
    tail = b""
    with open_regular(path) as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                return False
            if needle in tail + block[:len(needle)] or needle in block:
                return True
            tail = block[-keep:] if keep else b""


def _is_corruption(e: Exception) -> bool:
    msg = str(e).lower()
    return "malformed" in msg or "not a database" in msg or "corrupt" in msg


__all__ = ["Store", "Scope", "RefreshReport", "IndexState"]
