"""Parse worker processes: a cold index reads files in parallel, one process writes.

SQLite takes one writer at a time, and writing rows and the full-text index is about half of a cold index;
the other half is reading, JSON-decoding, parsing and preparing the rows. That half runs here, in worker
processes (spawned, not forked: the server has threads), one file per task. A worker returns the file's
prepared rows (`rows.RecordingSink`): small results in memory, big ones spooled to a temporary file in
chunks, so neither side ever holds a 200 MB session's rows at once. The writer (`ingest.py`) applies them
in the order the files were handed out.

Nothing outlives a killed writer for long: a worker ends when its parent is gone (a killed server's workers
would otherwise wait on their queue forever), and each pool spools into its own folder under the data dir's
`spool/`, named by the writer's pid, which the next pool removes once that pid is gone.
"""

from __future__ import annotations

import importlib.machinery
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..engine.builder import SessionBuilder
from ..providers import REGISTRY, ParseStats, SourceFile
from .rows import RecordingSink

SPILL_OPS = 4000  # recorded ops kept in memory before a chunk goes to the spool file
LOOKAHEAD_BYTES = 256 << 20  # log bytes handed out ahead of the writer (their rows wait spooled on disk)
MAX_WORKERS = 4


@dataclass(slots=True)
class ParsedFile:
    """A whole file read by a worker: its prepared rows and everything the files row needs."""

    path: str
    end: int
    state: bytes | None  # zlib-pickled (parser state, builder sessions), as ingest stores it
    stats: ParseStats
    ops: list[tuple[Any, ...]] = field(default_factory=list)  # the last chunk (all of them for a small file)
    spool: str | None = None  # earlier chunks, pickled one after another

    def chunks(self) -> Iterator[list[tuple[Any, ...]]]:
        """The recorded ops in order, chunk by chunk; the spool file is removed once read."""
        if self.spool is not None:
            try:
                with open(self.spool, "rb") as f:
                    while True:
                        try:
                            yield pickle.load(f)
                        except EOFError:
                            break
            finally:
                self.discard()
        yield self.ops

    def discard(self) -> None:
        if self.spool is not None:
            try:
                os.unlink(self.spool)
            except OSError:
                pass
            self.spool = None


class _SpillingSink(RecordingSink):
    def __init__(self, spool_dir: str) -> None:
        super().__init__()
        self.spool_dir = spool_dir
        self.spool: str | None = None
        self._f: Any = None

    def spill(self) -> None:
        if len(self.ops) < SPILL_OPS:
            return
        if self._f is None:
            fd, self.spool = tempfile.mkstemp(prefix="agtrace-parse-", suffix=".pickle", dir=self.spool_dir)
            self._f = os.fdopen(fd, "wb")
        pickle.dump(self.drain(), self._f, protocol=pickle.HIGHEST_PROTOCOL)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def parse_whole(src: SourceFile, mtime_ns: int, live_seconds: float, spool_dir: str) -> ParsedFile:
    """Read one file from its start into prepared rows (runs in a worker; also callable in-process)."""
    prov = REGISTRY[src.provider]
    sink = _SpillingSink(spool_dir)
    builder = SessionBuilder(sink)
    stats = ParseStats()
    feed = builder.feed

    def feed_and_spill(event: object) -> None:
        feed(event)
        if len(sink.ops) >= SPILL_OPS:
            sink.spill()

    try:
        end, pstate = prov.parse(src, 0, None, feed_and_spill, stats)
        builder.flush(live=time.time_ns() - mtime_ns < live_seconds * 1e9)
    except BaseException:
        sink.close()
        if sink.spool:
            os.unlink(sink.spool)
        raise
    sink.close()
    state = None
    if prov.incremental:  # zlib: a pickled open step compresses 4-6x, and there is one state per file
        state = zlib.compress(pickle.dumps((pstate, builder.sessions), protocol=pickle.HIGHEST_PROTOCOL), 1)
    elif prov.partial and pstate is not None:  # what the next partial re-read starts from
        state = zlib.compress(pickle.dumps((pstate, None), protocol=pickle.HIGHEST_PROTOCOL), 1)
    return ParsedFile(src.path, end, state, stats, sink.drain(), sink.spool)


WORKER_NICENESS = 10
PARENT_CHECK_SECONDS = 1.0


def _end_with_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_CHECK_SECONDS)
        if os.getppid() != parent:  # re-parented: the writer was killed (no queue EOF tells us: we hold its ends)
            os._exit(0)


def _init_worker(parent: int) -> None:
    # stdout may be an MCP client's protocol stream: nothing of a worker's may ever reach it
    os.dup2(2, 1)
    # Ctrl-C goes to the whole process group: the parent stops the pool, a worker just ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Parsing ahead is background work: a question about one session (read by the server itself, ahead of
    # the rest) and the writer go first, and so does whatever else the user runs meanwhile. On a busy CPU
    # the cold index gives way; on an idle one nothing changes.
    if hasattr(os, "nice"):
        try:
            os.nice(WORKER_NICENESS)
        except OSError:
            pass
    # `parent` is passed in: the writer may already be gone by the time a worker has started
    threading.Thread(target=_end_with_parent, args=(parent,), daemon=True, name="parent-watch").start()


def worker_count(env: dict[str, str]) -> int:
    """Parse workers for a big refresh: `AGTRACE_MCP_WORKERS` (0: parse in the writer), else the CPU count,
    capped at MAX_WORKERS."""
    raw = env.get("AGTRACE_MCP_WORKERS", "")
    if raw.strip().isdigit():
        return min(int(raw), 16)
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(n, MAX_WORKERS))


@contextmanager
def _main_not_reimported() -> Iterator[None]:
    """A spawned process first re-imports the parent's `__main__` (a user's script that calls the API
    without an `if __name__ == "__main__"` guard would run again in every worker). Workers need none of it:
    while they are started, `__main__` says it is a package's `__main__`, which multiprocessing skips."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    spec = getattr(main, "__spec__", None)
    main.__spec__ = importlib.machinery.ModuleSpec("agtrace_mcp.__main__", None)
    try:
        yield
    finally:
        main.__spec__ = spec


class ParsePool:
    """Hands files to worker processes ahead of the writer and gives back their results in order."""

    def __init__(self, workers: int, live_seconds: float, spool_root: Path | None = None) -> None:
        self.live_seconds = live_seconds
        self._spool_root = spool_root
        self.spool_dir = own_spool_dir(spool_root) if spool_root is not None else tempfile.mkdtemp(
            prefix="agtrace-spool-")
        self._ex = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                       initializer=_init_worker, initargs=(os.getpid(),))
        self._queue: deque[tuple[str, int]] = deque()  # (path, size) in hand-out order
        self._futures: dict[str, Future[ParsedFile]] = {}
        self._ahead = 0
        self._srcs: dict[str, tuple[SourceFile, int]] = {}

    def plan(self, files: list[tuple[SourceFile, int, int]]) -> None:
        """The files (src, size, mtime_ns) the writer will ask for, in the order it will ask.

        They are handed out by when a worker must start on each to have it ready when the writer gets there:
        a file's place in the writer's order less its own size. A 200 MB session is so started well ahead of
        its turn instead of holding up the writer (which applies files in order) while the other workers,
        their look-ahead full, wait too."""
        before, keyed = 0, []
        for src, size, mtime in files:
            keyed.append((before - size, src.path, size))
            self._srcs[src.path] = (src, mtime)
            before += size
        keyed.sort()
        self._queue.extend((path, size) for _, path, size in keyed)
        self._top_up()

    def _top_up(self) -> None:
        while self._queue and (self._ahead < LOOKAHEAD_BYTES or not self._futures):
            path, size = self._queue.popleft()
            src, mtime = self._srcs[path]
            self._futures[path] = self._submit(src, mtime)
            self._ahead += size

    def _submit(self, src: SourceFile, mtime: int) -> Future[ParsedFile]:
        with _main_not_reimported():  # a submit may start a worker
            return self._ex.submit(parse_whole, src, mtime, self.live_seconds, self.spool_dir)

    def has(self, path: str) -> bool:
        return path in self._futures or path in self._srcs

    def result(self, path: str, size: int) -> ParsedFile:
        """The parsed file (raises what the worker raised, e.g. OSError for a file gone)."""
        fut = self._futures.pop(path, None)
        if fut is None:  # asked out of the planned order: parse it now in the next free worker
            src, mtime = self._srcs[path]
            self._queue = deque(x for x in self._queue if x[0] != path)
            fut = self._submit(src, mtime)
            self._ahead += size
        self._srcs.pop(path, None)
        try:
            return fut.result()
        finally:
            self._ahead -= size
            self._top_up()

    def close(self) -> None:
        for fut in self._futures.values():
            fut.cancel()
        for fut in self._futures.values():  # results already made: drop their spool files
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                fut.result().discard()
        self._futures.clear()
        self._ex.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.spool_dir, ignore_errors=True)  # what a result not taken any more left there
        if self._spool_root is not None:
            try:
                self._spool_root.rmdir()  # spool/ itself, when no other run uses it
            except OSError:
                pass


def own_spool_dir(root: Path) -> str:
    """A fresh spool folder for this process under `root`, after removing those of processes now gone."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for d in root.iterdir():
        pid = d.name.partition("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root)


def _alive(pid: int) -> bool:
    if sys.platform == "win32":
        return True  # os.kill would end it there; leave the folder
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True
