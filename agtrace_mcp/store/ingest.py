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
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..config import Config
from ..engine.builder import SessionBuilder
from ..providers import REGISTRY, ParseStats, SourceFile
from ..providers.base import NeedsFullRead
from .sink import StoreSink, purge_sessions

log = logging.getLogger("agtrace_mcp.store")

BATCH_BYTES = 32 << 20
BATCH_FILES = 256
# A refresh with more than this to read (a first index, say) reads the files written in the last hour first,
# so that the sessions agents are in right now answer within seconds, not after gigabytes of history.
PRIORITY_MIN_BYTES = 64 << 20
PRIORITY_NS = 3600 * 10**9

# Bump when a provider or the builder changes what it produces: every file is then read again.
PARSER_VERSION = 4


@dataclass
class RefreshReport:
    files_seen: int = 0
    files_ingested: int = 0
    files_skipped_locked: int = 0
    files_gone: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Found:
    src: SourceFile
    size: int
    mtime_ns: int
    inode: int


def discover(config: Config, providers: Iterable[str] | None = None) -> list[_Found]:
    """Every log file of every provider under the configured roots, with its stat."""
    out: list[_Found] = []
    seen: set[str] = set()
    for name in providers or REGISTRY:
        prov = REGISTRY[name]
        stamp = getattr(prov, "stamp", None)  # providers whose data also lives in side files (SQLite -wal)
        try:
            for src in prov.discover(config.roots.get(name, [])):
                if src.path in seen:
                    continue
                seen.add(src.path)
                try:
                    if stamp is not None:
                        out.append(_Found(src, *stamp(src)))
                        continue
                    st = os.stat(src.path)
                except OSError:
                    continue
                out.append(_Found(src, st.st_size, st.st_mtime_ns, st.st_ino))
        except Exception as e:  # a provider's discovery must never break the others
            log.warning("discovery failed for %s: %s", name, e)
    return out


def refresh(db: sqlite3.Connection, config: Config, *, wait: bool = True,
            progress: Callable[[int, int, str], None] | None = None) -> RefreshReport:
    """Bring the index up to date with the logs.

    With `wait=False` (query-time freshness) a file another process is writing is skipped instead of
    waited for: queries never queue behind a long cold index in another process.
    """
    t0 = time.perf_counter()
    report = RefreshReport()
    found = discover(config)
    report.files_seen = len(found)
    rows = {r[0]: r[1:] for r in db.execute(
        "SELECT path, size, mtime_ns, inode, parser_version, on_disk FROM files")}
    todo: list[_Found] = []
    for f in found:
        row = rows.pop(f.src.path, None)
        if row is None or row[0] != f.size or row[1] != f.mtime_ns or row[2] != f.inode \
                or row[3] != PARSER_VERSION or not row[4]:
            todo.append(f)
    todo.sort(key=lambda f: f.mtime_ns)  # oldest first: search doc ids then grow with time
    gone = [p for p, r in rows.items() if r[4]]
    if gone:
        report.files_gone = len(gone)
        _mark_gone(db, gone, wait)
    total = sum(f.size for f in todo)
    # (Switching the cyclic GC off here was measured: 1 % faster on 1.1 GB, 50 MB more peak RSS. Not worth it.)
    recent_since = time.time_ns() - PRIORITY_NS
    recent = [f for f in todo if f.mtime_ns >= recent_since] if total > PRIORITY_MIN_BYTES else []
    recent_bytes = sum(f.size for f in recent)
    # only a small part first: when most files look new (logs copied without their times), a first pass and
    # the renumbering after it would cost more than they save
    if recent and recent_bytes <= total // 4:
        _ingest_batches(db, config, recent, report, wait, progress, total, 0)
        _ingest_batches(db, config, [f for f in todo if f.mtime_ns < recent_since], report, wait, progress, total,
                        recent_bytes)
        _renumber_docs(db, [f.src.path for f in recent], wait)
    else:
        _ingest_batches(db, config, todo, report, wait, progress, total, 0)
    if report.files_ingested:
        link_children(db, wait)
    if progress:
        progress(total, total, "")
    report.seconds = time.perf_counter() - t0
    return report


def _ingest_batches(db: sqlite3.Connection, config: Config, todo: list[_Found], report: RefreshReport, wait: bool,
                    progress: Callable[[int, int, str], None] | None, total: int, done: int) -> None:
    i = 0
    while i < len(todo):
        # Several files per write transaction (one commit per ~32 MB or 256 files): commits dominate
        # the cost of many small files.
        batch, size = [], 0
        while i < len(todo) and (not batch or (size < BATCH_BYTES and len(batch) < BATCH_FILES)):
            batch.append(todo[i])
            size += todo[i].size
            i += 1
        try:
            _begin(db, wait)
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                report.files_skipped_locked += len(batch)
                continue
            raise
        try:
            try:
                counted = [0, 0]
                for f in batch:
                    if progress:
                        progress(done, total, f.src.path)
                    n = ingest_file(db, f, live_seconds=config.live_seconds)
                    done += f.size
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
                for f in batch:
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


def _renumber_docs(db: sqlite3.Connection, paths: list[str], wait: bool) -> None:
    """Give the search docs of the recent files read first ids above every other doc: search lists hits
    newest first by doc id, and the history read after them is older. Their FTS entries move with them;
    secret findings from the lowest moved id on are dropped and the scan watermark is put back, so they are
    found again with the new ids."""
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
            db.execute("DELETE FROM secrets WHERE doc_id >= ?", (lo,))
            db.execute("UPDATE meta SET value = ? WHERE key = 'secrets_scanned' AND CAST(value AS INTEGER) >= ?",
                       (str(lo - 1), lo))
        db.execute("COMMIT")
    except sqlite3.OperationalError as e:  # a full disk, say: every row is in; only their order stays as it is
        if db.in_transaction:
            db.execute("ROLLBACK")
        log.warning("could not move the recent search docs after the older ones: %s", e)
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


REVIEW_WINDOW_S = 600  # a Codex review sub-agent starts within seconds of its parent's `/review`


def link_children(db: sqlite3.Connection, wait: bool) -> None:
    """Give a parent to every subagent whose parent's spawning call names it but whose own log does not
    (Antigravity children, 2.0 Claude agent files without a parent in their records), and to Codex review
    sub-agents, whose logs name no parent: the session in the same project whose `/review` turn started
    last before them, within REVIEW_WINDOW_S."""
    try:
        _begin(db, wait)
    except sqlite3.OperationalError:
        return
    try:
        db.execute(
            "UPDATE sessions SET parent_id = (SELECT t.session_id FROM tools t WHERE t.child_id = sessions.id"
            " AND t.session_id != sessions.id LIMIT 1)"
            " WHERE parent_id IS NULL AND id IN (SELECT child_id FROM tools WHERE child_id IS NOT NULL)")
        db.execute(
            "UPDATE sessions SET parent_id = (SELECT t.session_id FROM turns t JOIN sessions p ON p.id = t.session_id"
            "  WHERE t.slash = '/review' AND p.provider = 'codex' AND p.id != sessions.id"
            "  AND p.project_root IS sessions.project_root AND t.started_at <= sessions.started_at"
            "  AND t.started_at >= strftime('%Y-%m-%dT%H:%M:%fZ', sessions.started_at, ?)"
            "  ORDER BY t.started_at DESC LIMIT 1)"
            " WHERE provider = 'codex' AND agent_name = 'review' AND parent_id IS NULL AND started_at IS NOT NULL",
            (f"-{REVIEW_WINDOW_S} seconds",))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


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
        for p in paths:
            db.execute("UPDATE files SET on_disk = 0 WHERE path = ?", (p,))
            db.execute("UPDATE sessions SET on_disk = 0 WHERE file_id = (SELECT id FROM files WHERE path = ?)", (p,))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # SQLite may have rolled back already (disk full, I/O error)
            db.execute("ROLLBACK")
        raise


def ingest_file(db: sqlite3.Connection, f: _Found, *, live_seconds: float = 300) -> int:
    """Read what is new in one file into the index, inside the caller's write transaction; returns the
    bytes read (-1: another process already brought it up to date)."""
    src = f.src
    prov = REGISTRY[src.provider]
    row = db.execute("SELECT id, size, mtime_ns, inode, offset, state, parser_version, lines, records, bad_lines,"
                     " report FROM files WHERE path = ?", (src.path,)).fetchone()
    if row is not None and (row[1], row[2], row[3], row[6]) == (f.size, f.mtime_ns, f.inode, PARSER_VERSION):
        db.execute("UPDATE files SET on_disk = 1 WHERE id = ?", (row[0],))
        return -1  # another process got here first
    partial = getattr(prov, "partial", False)
    resume = (row is not None and prov.incremental and row[6] == PARSER_VERSION and row[3] == f.inode
              and f.size > row[1] and row[5] is not None and row[4] <= f.size)
    pstate: Any = None
    bstate: dict[str, Any] | None = None
    offset = 0
    if resume:
        try:
            pstate, bstate = pickle.loads(zlib.decompress(row[5]))
            offset = row[4]
        except Exception:  # state from an older build: read the file again
            resume = False
    if row is None:
        file_id = db.execute(
            "INSERT INTO files (path, provider, kind, parent) VALUES (?,?,?,?)",
            (src.path, src.provider, src.kind, src.parent)).lastrowid
    else:
        file_id = row[0]
        if partial:
            pstate = _partial_state(row[5]) if row[6] == PARSER_VERSION else None
        elif not resume:
            sids = [r[0] for r in db.execute("SELECT id FROM sessions WHERE file_id = ?", (file_id,))]
            purge_sessions(db, sids)
    stats = ParseStats()
    # after a purge (or for a new file) nothing this file produces is in the index yet; a partial re-read
    # purges each session it emits again on first sight
    sink = StoreSink(db, file_id, fresh=not resume, replace=partial)
    builder = SessionBuilder(sink, bstate)
    try:
        end, pstate = prov.parse(src, offset, pstate, builder.feed, stats)
    except NeedsFullRead:  # raised before anything was emitted: forget the file's rows and read it whole
        resume = False
        purge_sessions(db, [r[0] for r in db.execute("SELECT id FROM sessions WHERE file_id = ?", (file_id,))])
        stats = ParseStats()
        sink = StoreSink(db, file_id, fresh=True)
        builder = SessionBuilder(sink, None)
        end, pstate = prov.parse(src, 0, None, builder.feed, stats)
    builder.flush(live=time.time_ns() - f.mtime_ns < live_seconds * 1e9)
    sink.finalize()
    state_blob = None
    if prov.incremental:  # zlib: a pickled open step compresses 4-6x, and there is one state per file
        state_blob = zlib.compress(pickle.dumps((pstate, builder.sessions), protocol=pickle.HIGHEST_PROTOCOL), 1)
    elif partial and pstate is not None:
        state_blob = zlib.compress(pickle.dumps((pstate, None), protocol=pickle.HIGHEST_PROTOCOL), 1)
        present = prov.present(pstate)
        # sessions deleted from the file keep their history, like the sessions of a deleted log file
        for (sid,) in db.execute("SELECT id FROM sessions WHERE file_id = ? AND on_disk = 1", (file_id,)).fetchall():
            if sid not in present:
                db.execute("UPDATE sessions SET on_disk = 0 WHERE id = ?", (sid,))
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
    return {"unknown": unknown, "skipped": skipped, "bad_samples": samples}
