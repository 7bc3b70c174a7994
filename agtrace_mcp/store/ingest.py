"""Incremental ingest: keep the index equal to the logs at the cost of one `stat` per unchanged file.

Per file the index keeps (size, mtime, inode, byte offset, parser state). A grown JSONL file is read from
its offset with the saved state; a rewritten, truncated or replaced file (or a provider that is not
append-only) is read again from the start, replacing what that file had produced; a vanished file keeps its
sessions, marked as no longer on disk. Each file is ingested in one write transaction, under SQLite's
writer lock, after re-checking its row: several processes can refresh at once, and a process killed
mid-ingest leaves the previous consistent state for the next one to complete.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import sqlite3
import stat
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..config import Config
from ..engine.builder import SessionBuilder
from ..providers import REGISTRY, KeepIndexed, NeedsFullRead, ParseStats, SourceFile
from ..providers.files import RootCheck
from .lock import IndexLock
from .lock import Progress as LockProgress
from .migrations import next_rev
from .rows import replay
from .sink import StoreSink, purge_sessions
from .workers import ParsedFile, ParsePool

log = logging.getLogger("agtrace_mcp.store")

BATCH_BYTES = 32 << 20
BATCH_FILES = 256
POOL_MIN_BYTES = 48 << 20  # whole reads worth starting parse workers for (each costs ~0.3 s to start)

# Bump when a provider or the builder changes what it produces: every file is then read again.
# 5: texts masked whole before they are capped (issue 16); 6: turn state, final answers, interjections (issue 12)
PARSER_VERSION = 6


@dataclass
class RefreshReport:
    files_seen: int = 0
    files_ingested: int = 0
    files_skipped_locked: int = 0
    files_gone: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (provider, path, why): not read


@dataclass(slots=True)
class Found:
    src: SourceFile
    size: int
    mtime_ns: int
    inode: int


def stat_file(src: SourceFile) -> Found | None:
    """One file with its stat (None: it is gone)."""
    stamp = REGISTRY[src.provider].stamp
    try:
        if stamp is not None:
            return Found(src, *stamp(src))
        st = os.stat(src.path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):  # replaced by a FIFO or a device since it was found: never read
        return None
    return Found(src, st.st_size, st.st_mtime_ns, st.st_ino)


def discover(config: Config, providers: Iterable[str] | None = None,
             refused: list[tuple[str, str, str]] | None = None,
             indexed: Mapping[str, tuple[Any, ...]] | None = None) -> list[Found]:
    """Every log file of every provider under the configured roots, with its stat.

    Only regular files are taken, and a symlink only when it leads to a file under its agent's own roots
    (a FIFO would block the read, a link to /dev/zero never end it, a link to ~/.ssh leak a file that is not
    a log); the others go to `refused` as (provider, path, why). `indexed` (path → files row: id, size,
    mtime_ns, inode, ...): a regular file that is exactly what the index read is not checked again (the
    folder check is most of a no-change refresh).
    """
    indexed = indexed or {}
    out: list[Found] = []
    seen: set[str] = set()
    check = RootCheck()
    for name in providers or REGISTRY:
        prov = REGISTRY[name]
        roots = [str(r) for r in config.roots.get(name, [])]
        stamp = prov.stamp  # providers whose data also lives in side files (SQLite -wal)
        try:
            for src in prov.discover(config.roots.get(name, [])):
                if src.path in seen:
                    continue
                seen.add(src.path)
                if not _utf8(src.path):  # a name that is not UTF-8 cannot be stored, printed or sent
                    if refused is not None:
                        refused.append((name, os.fsencode(src.path).decode("utf-8", "backslashreplace"),
                                        "its name is not UTF-8"))
                    continue
                try:
                    lst = os.lstat(src.path)
                    row = indexed.get(src.path)
                    same = (row is not None and stat.S_ISREG(lst.st_mode) and row[1] == lst.st_size
                            and row[2] == lst.st_mtime_ns and row[3] == lst.st_ino)
                    if not same and not check.inside(src.path, roots, lst):
                        if refused is not None:
                            refused.append((name, src.path, "not a regular file, or a link out of the agent's "
                                                            "folder"))
                        continue
                    if stamp is not None:
                        out.append(Found(src, *stamp(src)))
                        continue
                    st = os.stat(src.path) if stat.S_ISLNK(lst.st_mode) else lst
                except OSError:
                    continue
                out.append(Found(src, st.st_size, st.st_mtime_ns, st.st_ino))
        except Exception as e:  # a provider's discovery must never break the others
            log.warning("discovery failed for %s: %s", name, e)
    return out


def _utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


@dataclass
class Pending:
    """What the index lacks: files new or changed since they were read (oldest first), with the files rows
    of the changed ones, and the indexed files no longer on disk."""

    todo: list[Found]
    gone: list[str]
    known: dict[str, tuple[Any, ...]]
    seen: int
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (provider, path, why) not to be read

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.todo)


def pending(db: sqlite3.Connection, config: Config) -> Pending:
    """Compare the logs on disk with the index: one `stat` per file (files not to be read go to `refused`)."""
    refused: list[tuple[str, str, str]] = []
    rows = {r[0]: tuple(r[1:]) for r in db.execute(
        "SELECT path, id, size, mtime_ns, inode, offset, CASE WHEN state IS NULL THEN NULL ELSE 1 END,"
        " parser_version, on_disk FROM files")}
    found = discover(config, refused=refused, indexed=rows)
    todo: list[Found] = []
    known: dict[str, tuple[Any, ...]] = {}
    for f in found:
        row = rows.pop(f.src.path, None)
        if row is None or row[1] != f.size or row[2] != f.mtime_ns or row[3] != f.inode \
                or row[6] != PARSER_VERSION or not row[7]:
            todo.append(f)
            if row is not None:
                known[f.src.path] = row
    todo.sort(key=lambda f: f.mtime_ns)  # oldest first: search doc ids then grow with time
    gone = [p for p, r in rows.items() if r[7]]
    return Pending(todo, gone, known, len(found), refused)


Progress = Callable[[int, int, str], None]


@dataclass
class _Run:
    """One refresh's bookkeeping: what it reports, and whom it tells how far it got."""

    report: RefreshReport
    total: int
    files_total: int
    progress: Progress | None
    lock: IndexLock | None
    done: int = 0
    files_done: int = 0
    last_yield_check: float = 0.0

    def tell(self, path: str) -> None:
        if self.progress:
            self.progress(self.done, self.total, path)
        if self.lock is not None:
            self.lock.publish(LockProgress(self.done, self.total, self.files_done, self.files_total))


def refresh(db: sqlite3.Connection, config: Config, *, wait: bool = True, progress: Progress | None = None,
            lock: IndexLock | None = None, workers: int = 0, listed: Pending | None = None) -> RefreshReport:
    """Bring the index up to date with the logs.

    With `wait=False` (query-time freshness) a file another process is writing is skipped instead of
    waited for: queries never queue behind a long cold index in another process. With `workers`, a refresh
    with much to read whole (a first index) parses in that many worker processes; this connection writes.
    `lock` (held by the caller) gets the progress, for other processes that wait for this run. `listed`: what
    the caller's own `pending` found just now (with the same lock held), so the logs are not listed twice.
    """
    t0 = time.perf_counter()
    report = RefreshReport()
    p = listed if listed is not None else pending(db, config)
    report.refused.extend(p.refused)
    todo, gone, known = p.todo, p.gone, p.known
    report.files_seen = p.seen
    if gone:
        report.files_gone = len(gone)
        _mark_gone(db, gone, wait)
    total = sum(f.size for f in todo)
    run = _Run(report, total, len(todo), progress, lock)
    pool = None
    if wait and workers > 0:
        whole = [f for f in todo if _whole_read(known.get(f.src.path), f)]
        if sum(f.size for f in whole) >= POOL_MIN_BYTES:
            pool = ParsePool(workers, config.live_seconds, config.data_dir / "spool")
            pool.plan([(f.src, f.size, f.mtime_ns) for f in whole])
    try:
        # (Switching the cyclic GC off here was measured: 1 % faster on 1.1 GB, 50 MB more peak RSS. Not worth it.)
        # No "recent files first" pass: a session named by id is read ahead of the rest (`Store.locate`), the
        # newest session of a project too (`Store.settle_newest`), and every other answer waits for the end.
        _ingest_batches(db, config, todo, run, wait, pool)
    finally:
        if pool is not None:
            pool.close()
    if report.files_ingested:
        link_children(db, wait)
    if progress and total:
        progress(total, total, "")
    report.seconds = time.perf_counter() - t0
    return report


def _whole_read(row: tuple[Any, ...] | None, f: Found) -> bool:
    """Whether this changed file will be read from its start (so a parse worker can read it)."""
    prov = REGISTRY[f.src.provider]
    if row is None:
        return True  # a database of many sessions too: the first read takes them all
    if prov.partial:
        return False
    # row: id, size, mtime_ns, inode, offset, has_state, parser_version, on_disk
    return not _can_resume(prov, f, size=row[1], inode=row[3], offset=row[4], has_state=row[5] is not None,
                           version=row[6])


def ingest_now(db: sqlite3.Connection, config: Config, files: list[Found], lock: IndexLock | None = None) -> int:
    """Read these files into the index now, ahead of any indexing run (a session named by id); waits for
    SQLite's write lock, asking a busy indexer to pause. Returns the files read."""
    if not files:
        return 0
    if lock is not None:
        lock.request_yield()
    try:
        report = RefreshReport()
        run = _Run(report, sum(f.size for f in files), len(files), None, None)
        _ingest_batches(db, config, files, run, True, None)
    finally:
        if lock is not None:
            lock.end_yield()
    if report.files_ingested:
        link_children(db, True)
    return report.files_ingested


def _ingest_batches(db: sqlite3.Connection, config: Config, todo: list[Found], run: _Run, wait: bool,
                    pool: ParsePool | None) -> None:
    report = run.report
    i = 0
    while i < len(todo):
        # Several files per write transaction (one commit per ~32 MB or 256 files): commits dominate the cost
        # of many small files. A query that must read one file ahead of the rest (a session named by id) asks
        # through the lock's yield file: the batch then ends early and the run pauses while it writes.
        try:
            _begin(db, wait)
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                j = _batch_end(todo, i)
                report.files_skipped_locked += j - i
                i = j
                continue
            raise
        start, t0, size, done0, files0 = i, time.monotonic(), 0, run.done, run.files_done
        counted = [0, 0]
        try:
            try:
                while i < len(todo) and (i == start or (size < BATCH_BYTES and i - start < BATCH_FILES
                                                         and not _asked_to_yield(run, t0))):
                    f = todo[i]
                    run.tell(f.src.path)
                    parsed = None
                    if pool is not None and pool.has(f.src.path):
                        try:
                            parsed = pool.result(f.src.path, f.size)
                        except KeepIndexed:  # caught half-written: read here, where what is indexed stays
                            parsed = None
                        except BrokenProcessPool as e:  # a worker died (killed, out of memory): go on here
                            log.warning("parse workers stopped (%s); reading in this process", e)
                            pool.close()
                            pool = None
                    n = ingest_file(db, f, live_seconds=config.live_seconds, parsed=parsed)
                    run.done += f.size
                    run.files_done += 1
                    size += f.size
                    i += 1
                    if n >= 0:
                        counted[0] += 1
                        counted[1] += n
                db.execute("COMMIT")
                report.files_ingested += counted[0]
                report.bytes_read += counted[1]
            except OSError:
                # A file vanished or became unreadable mid-batch (rare): undo the batch and redo it one file
                # per transaction, so the other files still land. (No savepoint per file: releasing one makes
                # FTS5 flush a segment each time, 20 % of a cold index.)
                if db.in_transaction:
                    db.execute("ROLLBACK")
                end = max(i, start + 1)
                for f in todo[start:end]:
                    _begin(db, wait)
                    try:
                        n = ingest_file(db, f, live_seconds=config.live_seconds)
                        db.execute("COMMIT")
                    except OSError as e:
                        db.execute("ROLLBACK")
                        report.errors.append(f"{f.src.path}: {e}")
                        continue
                    if n >= 0:
                        report.files_ingested += 1
                        report.bytes_read += n
                i = end
                run.done = done0 + sum(f.size for f in todo[start:end])
                run.files_done = files0 + end - start
        except sqlite3.OperationalError as e:
            if db.in_transaction:
                db.execute("ROLLBACK")
            msg = str(e)
            if "full" in msg or "readonly" in msg or "read-only" in msg or "disk i/o" in msg.lower():
                # nothing of this batch was committed; what is indexed stays usable
                report.errors.append(f"the index cannot be written ({msg}); free space in "
                                     f"{config.data_dir} or set AGTRACE_MCP_DATA_DIR to a writable folder")
                return
            raise
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        if run.lock is not None:
            run.lock.pause_if_asked()


def _asked_to_yield(run: _Run, t0: float) -> bool:
    """Someone waits to read one file ahead of this run (a session named by id): end the batch early.
    Looked at every 50 ms, not per file (a stat each)."""
    if run.lock is None or time.monotonic() - run.last_yield_check < 0.05:
        return False
    run.last_yield_check = time.monotonic()
    return run.lock.yield_requested()


def _batch_end(todo: list[Found], i: int) -> int:
    size, j = 0, i
    while j < len(todo) and (j == i or (size < BATCH_BYTES and j - i < BATCH_FILES)):
        size += todo[j].size
        j += 1
    return j


def renumber_docs(db: sqlite3.Connection, paths: list[str], wait: bool) -> None:
    """Give the search docs of these files (newest logs read ahead of an indexing run, by id) ids above every
    other doc: search lists hits newest first by doc id, and the history read after them is older. Their FTS
    entries move with them (secret findings name their place by session, turn, step and call, not by doc)."""
    try:
        _begin(db, wait)
    except sqlite3.OperationalError:
        return  # another process is writing: the order of these few docs stays as it is
    try:
        db.execute("CREATE TEMP TABLE IF NOT EXISTS recent_files (path TEXT PRIMARY KEY)")
        db.execute("DELETE FROM recent_files")
        db.executemany("INSERT OR IGNORE INTO recent_files VALUES (?)", [(p,) for p in paths])
        moved = ("SELECT s.rowid FROM sessions s JOIN files f ON f.id = s.file_id"
                 " JOIN recent_files r ON r.path = f.path")
        lo, hi = db.execute(f"SELECT min(id), max(id) FROM docs WHERE skey IN ({moved})").fetchone()
        top = db.execute("SELECT max(id) FROM docs").fetchone()[0]
        if lo is not None and top > hi:
            delta = top - lo + 1
            db.execute("INSERT INTO docs_fts (docs_fts, rowid, text) SELECT 'delete', x.id, x.text FROM doc_text x"
                       f" JOIN docs d ON d.id = x.id WHERE d.skey IN ({moved}) AND x.text IS NOT NULL")
            db.execute(f"UPDATE docs SET id = id + ? WHERE skey IN ({moved})", (delta,))
            db.execute("INSERT INTO docs_fts (rowid, text) SELECT id, text FROM doc_text"
                       " WHERE id > ? AND text IS NOT NULL", (top,))
        db.execute("COMMIT")
    except sqlite3.OperationalError as e:  # a full disk, say: every row is in; only their order stays as it is
        if db.in_transaction:
            db.execute("ROLLBACK")
        log.warning("could not move the recent search docs after the older ones: %s", e)
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def link_children(db: sqlite3.Connection, wait: bool) -> None:
    """Give a parent to every subagent whose parent's spawning call names it but whose own log does not
    (Antigravity children, 2.0 Claude agent files without a parent in their records), and to the subagents a
    provider's `slash_parent` rule describes (Codex review sub-agents, whose logs name no parent: the session
    of the same agent and project whose `/review` turn started last before them, within its window)."""
    try:
        _begin(db, wait)
    except sqlite3.OperationalError:
        return
    try:
        rev = next_rev(db)  # a session given a parent is pushed again (store/postgres/push.py)
        db.execute(
            "WITH p AS (SELECT c.id AS cid, (SELECT t.session_id FROM tools t WHERE t.child_id = c.id"
            "  AND t.session_id != c.id LIMIT 1) AS pid FROM sessions c"
            "  WHERE c.parent_id IS NULL AND c.id IN (SELECT child_id FROM tools WHERE child_id IS NOT NULL))"
            " UPDATE sessions SET parent_id = p.pid, rev = ? FROM p WHERE sessions.id = p.cid AND p.pid IS NOT NULL",
            (rev,))
        for name, prov in REGISTRY.items():
            rule = prov.slash_parent
            if rule is None:
                continue
            db.execute(
                "WITH p AS (SELECT c.id AS cid, (SELECT t.session_id FROM turns t"
                "  JOIN sessions s ON s.id = t.session_id"
                "  WHERE t.slash = ? AND s.provider = c.provider AND s.id != c.id"
                "  AND s.project_root IS c.project_root AND t.started_at <= c.started_at"
                "  AND t.started_at >= strftime('%Y-%m-%dT%H:%M:%fZ', c.started_at, ?)"
                "  ORDER BY t.started_at DESC LIMIT 1) AS pid FROM sessions c"
                "  WHERE c.provider = ? AND c.agent_name = ? AND c.parent_id IS NULL AND c.started_at IS NOT NULL)"
                " UPDATE sessions SET parent_id = p.pid, rev = ? FROM p"
                " WHERE sessions.id = p.cid AND p.pid IS NOT NULL",
                (rule.slash, f"-{int(rule.window_s)} seconds", name, rule.agent_name, rev))
        resolve_projects(db)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


_ABS_PATH = re.compile(r"(?:(?<=[\"'\s=:(])|^)"
                       r"(/(?:[\w.@+~-]+/)*[\w.@+~-]+|[A-Za-z]:\\\\(?:[^\\\\\"'\s]+\\\\)*[^\\\\\"'\s]+)")


def _ancestors(path: str) -> list[str]:
    """A path and the folders above it (not the filesystem root)."""
    out = []
    sep = "\\" if ("\\" in path and "/" not in path) else "/"
    p = path.rstrip(sep)
    while p and p not in ("/", "") and not (len(p) <= 3 and p[1:2] == ":"):
        out.append(p)
        cut = p.rfind(sep)
        if cut <= 0:
            break
        p = p[:cut]
    return out


def resolve_projects(db: sqlite3.Connection) -> None:
    """Projects the logs themselves do not name. A log whose provider can tell its project from known paths
    (Gemini CLI's `tmp/<sha256>/` folders) gets the one that matches: a project another agent worked in, or a
    path in the session's own tool arguments. A subagent with no project counts in its parent's."""
    rows = db.execute("SELECT s.id, s.provider, f.path FROM sessions s JOIN files f ON f.id = s.file_id"
                      " WHERE s.project_root IS NULL").fetchall()
    if not rows:
        return
    rev = next_rev(db)  # a session given its project is pushed again (store/postgres/push.py)
    known: list[str] | None = None
    for sid, provider, path in rows:
        prov = REGISTRY.get(provider)
        find = prov.project_from_known if prov is not None else None
        if find is None:
            continue
        if known is None:
            known = []
            for (root,) in db.execute("SELECT DISTINCT project_root FROM sessions WHERE project_root IS NOT NULL"):
                known.extend(_ancestors(root))
        own: list[str] = []
        for (args,) in db.execute("SELECT args FROM tools WHERE session_id = ? AND args IS NOT NULL LIMIT 2000",
                                  (sid,)):
            for m in _ABS_PATH.finditer(args):
                own.extend(_ancestors(m.group(1).replace("\\\\", "\\")))
        root = find(path, dict.fromkeys([*own, *known]))
        if root is not None:
            db.execute("UPDATE sessions SET project_root = ?, rev = ? WHERE id = ?", (root, rev, sid))
    for _ in range(4):  # subagents of subagents: a few levels
        n = db.execute("UPDATE sessions SET project_root = (SELECT p.project_root FROM sessions p"
                       " WHERE p.id = sessions.parent_id), rev = ? WHERE project_root IS NULL AND parent_id IS NOT NULL"
                       " AND (SELECT p.project_root FROM sessions p WHERE p.id = sessions.parent_id) IS NOT NULL",
                       (rev,)).rowcount
        if not n:
            break


def _begin(db: sqlite3.Connection, wait: bool) -> None:
    if wait:
        db.execute("BEGIN IMMEDIATE")
        return
    db.execute("PRAGMA busy_timeout = 200")
    try:
        db.execute("BEGIN IMMEDIATE")
    finally:
        db.execute("PRAGMA busy_timeout = 30000")


def _mark_gone(db: sqlite3.Connection, paths: list[str], wait: bool) -> None:
    try:
        _begin(db, wait)
    except sqlite3.OperationalError:
        return
    try:
        rev = next_rev(db)
        for p in paths:
            db.execute("UPDATE files SET on_disk = 0 WHERE path = ?", (p,))
            db.execute("UPDATE sessions SET on_disk = 0, rev = ? WHERE file_id = (SELECT id FROM files WHERE path = ?)",
                       (rev, p))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # SQLite may have rolled back already (disk full, I/O error)
            db.execute("ROLLBACK")
        raise


def ingest_file(db: sqlite3.Connection, f: Found, *, live_seconds: float = 300,
                parsed: ParsedFile | None = None) -> int:
    """Read what is new in one file into the index, inside the caller's write transaction; returns the
    bytes read (-1: another process already brought it up to date).

    `parsed`: the file read whole by a parse worker. It is used when a whole read is what the file needs
    now (new, replaced or rewritten); otherwise it is dropped and the file is read here."""
    src = f.src
    prov = REGISTRY[src.provider]
    row = db.execute("SELECT id, size, mtime_ns, inode, offset, state, parser_version, lines, records, bad_lines,"
                     " report FROM files WHERE path = ?", (src.path,)).fetchone()
    if row is not None and (row[1], row[2], row[3], row[6]) == (f.size, f.mtime_ns, f.inode, PARSER_VERSION):
        db.execute("UPDATE files SET on_disk = 1 WHERE id = ?", (row[0],))
        if parsed is not None:
            parsed.discard()
        return -1  # another process got here first
    partial = prov.partial
    resume = row is not None and _can_resume(prov, f, size=row[1], inode=row[3], offset=row[4],
                                             has_state=row[5] is not None, version=row[6])
    pstate: Any = None
    bstate: dict[str, Any] | None = None
    offset = 0
    if resume:
        try:
            pstate, bstate = pickle.loads(zlib.decompress(row[5]))
            offset = row[4]
        except Exception:  # state from an older build: read the file again
            resume = False
    if parsed is not None and (resume or (partial and row is not None)):
        parsed.discard()
        parsed = None
    stale: list[str] = []  # the file's sessions, replaced by a whole read
    file_id: int
    if row is None:
        new_id = db.execute("INSERT INTO files (path, provider, kind, parent) VALUES (?,?,?,?)",
                            (src.path, src.provider, src.kind, src.parent)).lastrowid
        assert new_id is not None  # an INSERT into a rowid table always has one
        file_id = new_id
    else:
        file_id = row[0]
        if partial:
            pstate = _partial_state(row[5]) if row[6] == PARSER_VERSION else None
        elif not resume:
            stale = [r[0] for r in db.execute("SELECT id FROM sessions WHERE file_id = ?", (file_id,))]
    if parsed is not None:
        purge_sessions(db, stale)
        stale = []
        sink = StoreSink(db, file_id, fresh=True)
        for ops in parsed.chunks():
            replay(ops, sink)
        sink.finalize()
        stats, end, state_blob = parsed.stats, parsed.end, parsed.state
    else:
        stats = ParseStats()
        # after a purge (or for a new file) nothing this file produces is in the index yet; a partial re-read
        # purges each session it emits again on first sight
        sink = StoreSink(db, file_id, fresh=not resume, replace=partial)
        builder = SessionBuilder(sink, bstate)

        def feed(event: object) -> None:
            # the old rows go when the first event comes, not before the read: a file caught half-written
            # (KeepIndexed, raised before any event) keeps what it had
            if stale:
                purge_sessions(db, stale)
                stale.clear()
            builder.feed(event)

        try:
            end, pstate = prov.parse(src, offset, pstate, feed, stats)
        except KeepIndexed as e:
            # for doctor; the file's size and time stay as they were, so the next refresh reads it again
            stats.bad(0, e.reason, e.preview)
            db.execute("UPDATE files SET on_disk = 1, report = ? WHERE id = ?",
                       (orjson.dumps(_merge_report(_report(row[10]) if row is not None else {}, stats)).decode(),
                        file_id))
            return 0
        except NeedsFullRead:  # raised before anything was emitted: forget the file's rows and read it whole
            resume = False
            purge_sessions(db, [r[0] for r in db.execute("SELECT id FROM sessions WHERE file_id = ?", (file_id,))])
            stats = ParseStats()
            sink = StoreSink(db, file_id, fresh=True)
            builder = SessionBuilder(sink, None)
            end, pstate = prov.parse(src, 0, None, builder.feed, stats)
        if stale:  # the file holds no session any more
            purge_sessions(db, stale)
        builder.flush(live=time.time_ns() - f.mtime_ns < live_seconds * 1e9)
        sink.finalize()
        state_blob = None
        if prov.incremental:  # zlib: a pickled open step compresses 4-6x, and there is one state per file
            state_blob = zlib.compress(pickle.dumps((pstate, builder.sessions), protocol=pickle.HIGHEST_PROTOCOL), 1)
        elif partial and pstate is not None and prov.present is not None:
            state_blob = zlib.compress(pickle.dumps((pstate, None), protocol=pickle.HIGHEST_PROTOCOL), 1)
            present = prov.present(pstate)
            # sessions deleted from the file keep their history, like the sessions of a deleted log file
            for (sid,) in db.execute("SELECT id FROM sessions WHERE file_id = ? AND on_disk = 1",
                                     (file_id,)).fetchall():
                if sid not in present:
                    db.execute("UPDATE sessions SET on_disk = 0, rev = ? WHERE id = ?", (next_rev(db), sid))
    prev = _report(row[10]) if (row is not None and resume) else {}
    report = _merge_report(prev, stats)
    db.execute(
        "UPDATE files SET size = ?, mtime_ns = ?, inode = ?, offset = ?, state = ?, parser_version = ?, on_disk = 1,"
        " lines = ?, records = ?, bad_lines = ?, torn_tail = ?, report = ?, indexed_at = ?, provider = ?, kind = ?,"
        " parent = ? WHERE id = ?",
        (f.size, f.mtime_ns, f.inode, end, state_blob, PARSER_VERSION,
         (row[7] if resume else 0) + stats.lines, (row[8] if resume else 0) + stats.records,
         (row[9] if resume else 0) + stats.bad_lines, int(stats.torn_tail), orjson.dumps(report).decode(),
         time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), src.provider, src.kind, src.parent, file_id))
    return stats.bytes


def _can_resume(prov: Any, f: Found, *, size: int, inode: int, offset: int, has_state: bool, version: int) -> bool:
    """Whether a file indexed as (size, inode, offset, state, version) can be read on from where the index
    stopped: it only grew, and its provider continues reads (else it is read whole)."""
    return (prov.incremental and version == PARSER_VERSION and inode == f.inode and f.size > size and has_state
            and offset <= f.size)


def _partial_state(blob: bytes | None) -> Any:
    """The state a partial provider returned last time (None: read every session again)."""
    if blob is None:
        return None
    try:
        return pickle.loads(zlib.decompress(blob))[0]
    except Exception:  # state from an older build
        return None


def _report(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        d = orjson.loads(raw)
        return d if isinstance(d, dict) else {}
    except orjson.JSONDecodeError:
        return {}


def _merge_report(prev: dict[str, Any], stats: ParseStats) -> dict[str, Any]:
    unknown = dict(prev.get("unknown", {}))
    for k, v in stats.unknown.items():
        unknown[k] = unknown.get(k, 0) + v
    skipped = dict(prev.get("skipped", {}))
    for k, v in stats.skipped.items():
        skipped[k] = skipped.get(k, 0) + v
    samples = list(prev.get("bad_samples", []))
    for s in stats.bad_samples:
        if len(samples) < 5:
            samples.append(list(s))
    return {"unknown": unknown, "skipped": skipped, "bad_samples": samples,
            "long_lines": int(prev.get("long_lines", 0) or 0) + stats.long_lines,
            "stopped_at_bound": bool(prev.get("stopped_at_bound")) or stats.stopped_at_bound}
