"""Where credentials appear in the index: scanned lazily, after ingest, not during it.

Scanning every text for secrets costs about a fifth of a cold index, and only `secret_findings` needs the
result, so the scan runs after indexing (in the server's background thread) and catches up on whatever is
new when `secret_findings` is called. A watermark (the highest search-doc id scanned) makes it incremental;
docs that are replaced get new ids and are scanned again, and their old findings go with them.
"""

from __future__ import annotations

import sqlite3

from ..redact import find_secrets
from .migrations import DOC_KINDS

CHUNK = 2000


def scan_secrets(db: sqlite3.Connection) -> int:
    """Scan the search docs not scanned yet; returns how many were scanned."""
    row = db.execute("SELECT value FROM meta WHERE key = 'secrets_scanned'").fetchone()
    mark = int(row[0]) if row else 0
    scanned = 0
    while True:
        rows = db.execute(
            "SELECT d.id, s.id, d.turn_idx, d.step_idx,"
            " (SELECT c.call_id FROM tools c WHERE c.session_id = s.id AND c.turn_idx = d.turn_idx"
            "  AND c.step_idx = d.step_idx AND c.seq = d.seq), d.kind, x.text"
            " FROM docs d JOIN sessions s ON s.rowid = d.skey JOIN doc_text x ON x.id = d.id"
            " WHERE d.id > ? ORDER BY d.id LIMIT ?", (mark, CHUNK)).fetchall()
        if not rows:
            return scanned
        found = []
        for doc_id, sid, ti, si, call, kind, text in rows:
            if text:
                for typ, fp in sorted({(f.type, f.fingerprint) for f in find_secrets(text)}):
                    found.append((sid, ti, si, call, DOC_KINDS[kind], typ, fp, doc_id))
        mark = rows[-1][0]
        db.execute("BEGIN IMMEDIATE")
        try:
            if found:
                db.executemany("INSERT INTO secrets (session_id, turn_idx, step_idx, call_id, kind, type, fingerprint,"
                               " doc_id) VALUES (?,?,?,?,?,?,?,?)", found)
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('secrets_scanned', ?)", (str(mark),))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        scanned += len(rows)
