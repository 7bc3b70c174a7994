"""The index schema, evolved by small numbered migrations (never by deleting the user's index).

Each migration runs once, in order, inside a transaction; `_migrations` records what ran. Add a new
function at the end to change the schema; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = []


def run_script(db: sqlite3.Connection, script: str) -> None:
    """Execute statements one by one (`executescript` would commit the surrounding transaction)."""
    stmt = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        stmt += line
        if sqlite3.complete_statement(stmt):
            db.execute(stmt)
            stmt = ""
    if stmt.strip():
        db.execute(stmt)


def migration(fn: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        CREATE TABLE files (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            provider TEXT NOT NULL,
            kind TEXT NOT NULL,
            parent TEXT,
            size INTEGER NOT NULL DEFAULT 0,
            mtime_ns INTEGER NOT NULL DEFAULT 0,
            inode INTEGER NOT NULL DEFAULT 0,
            offset INTEGER NOT NULL DEFAULT 0,
            state BLOB,
            parser_version INTEGER NOT NULL DEFAULT 0,
            on_disk INTEGER NOT NULL DEFAULT 1,
            lines INTEGER NOT NULL DEFAULT 0,
            records INTEGER NOT NULL DEFAULT 0,
            bad_lines INTEGER NOT NULL DEFAULT 0,
            torn_tail INTEGER NOT NULL DEFAULT 0,
            report TEXT,               -- JSON: unknown record types, skipped records, bad line samples
            indexed_at TEXT
        );
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            file_id INTEGER NOT NULL,
            project_root TEXT,
            git_branch TEXT,
            title TEXT NOT NULL DEFAULT '',
            started_at TEXT,
            ended_at TEXT,
            models TEXT NOT NULL DEFAULT '[]',
            cli_version TEXT,
            parent_id TEXT,
            agent_name TEXT,
            source_files TEXT NOT NULL DEFAULT '[]',
            context_window INTEGER,
            turns INTEGER NOT NULL DEFAULT 0,
            steps INTEGER NOT NULL DEFAULT 0,
            tool_calls INTEGER NOT NULL DEFAULT 0,
            failed_tools INTEGER NOT NULL DEFAULT 0,
            input INTEGER NOT NULL DEFAULT 0,
            cache_read INTEGER NOT NULL DEFAULT 0,
            cache_write INTEGER NOT NULL DEFAULT 0,
            output INTEGER NOT NULL DEFAULT 0,
            reasoning INTEGER NOT NULL DEFAULT 0,
            peak_context INTEGER NOT NULL DEFAULT 0,
            on_disk INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX sessions_ended ON sessions(ended_at DESC);
        CREATE INDEX sessions_project ON sessions(project_root, ended_at DESC);
        CREATE INDEX sessions_parent ON sessions(parent_id);
        CREATE INDEX sessions_file ON sessions(file_id);
        CREATE TABLE turns (
            session_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            started_at TEXT,
            ended_at TEXT,
            text TEXT NOT NULL DEFAULT '',
            text_len INTEGER NOT NULL DEFAULT 0,
            origin TEXT NOT NULL DEFAULT 'user',
            slash TEXT,
            interrupted INTEGER NOT NULL DEFAULT 0,
            off INTEGER NOT NULL DEFAULT -1,
            steps INTEGER NOT NULL DEFAULT 0,
            tool_calls INTEGER NOT NULL DEFAULT 0,
            failed_tools INTEGER NOT NULL DEFAULT 0,
            input INTEGER NOT NULL DEFAULT 0,
            cache_read INTEGER NOT NULL DEFAULT 0,
            cache_write INTEGER NOT NULL DEFAULT 0,
            output INTEGER NOT NULL DEFAULT 0,
            reasoning INTEGER NOT NULL DEFAULT 0,
            peak_context INTEGER NOT NULL DEFAULT 0,
            final_message TEXT,
            PRIMARY KEY (session_id, idx)
        ) WITHOUT ROWID;
        CREATE TABLE steps (
            session_id TEXT NOT NULL,
            turn_idx INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            started_at TEXT,
            ended_at TEXT,
            model TEXT,
            reasoning TEXT,
            reasoning_len INTEGER NOT NULL DEFAULT 0,
            message TEXT,
            message_len INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'done',
            error TEXT,
            has_usage INTEGER NOT NULL DEFAULT 0,
            input INTEGER NOT NULL DEFAULT 0,
            cache_read INTEGER NOT NULL DEFAULT 0,
            cache_write INTEGER NOT NULL DEFAULT 0,
            output INTEGER NOT NULL DEFAULT 0,
            reasoning_tokens INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (session_id, turn_idx, idx)
        ) WITHOUT ROWID;
        CREATE TABLE tools (
            session_id TEXT NOT NULL,
            turn_idx INTEGER NOT NULL,
            step_idx INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            call_id TEXT NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            args TEXT,                 -- JSON, long strings inside cut (full text: read from the log)
            args_len INTEGER NOT NULL DEFAULT 0,
            started_at TEXT,
            ended_at TEXT,
            duration_ms INTEGER,
            status TEXT NOT NULL,
            error_kind TEXT,
            exit_code INTEGER,
            error_message TEXT,
            output TEXT,               -- head + tail preview
            output_len INTEGER NOT NULL DEFAULT 0,
            out_off INTEGER NOT NULL DEFAULT -1,
            child_id TEXT,
            PRIMARY KEY (session_id, turn_idx, step_idx, seq)
        ) WITHOUT ROWID;
        CREATE INDEX tools_call ON tools(session_id, call_id);
        CREATE INDEX tools_failed ON tools(started_at DESC) WHERE status = 'error';
        CREATE INDEX tools_name ON tools(name);
        CREATE TABLE compactions (
            session_id TEXT NOT NULL,
            turn_idx INTEGER NOT NULL,
            at TEXT,
            trigger TEXT,
            pre_tokens INTEGER,
            PRIMARY KEY (session_id, turn_idx, at)
        ) WITHOUT ROWID;
        -- Search: the text of every prompt, message, reasoning, call and output, cut to a few KB each
        -- (the full text stays in the log); FTS5 over it with external content.
        CREATE TABLE docs (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            turn_idx INTEGER NOT NULL,
            step_idx INTEGER NOT NULL,  -- -1 for the prompt
            call_id TEXT,
            kind TEXT NOT NULL,         -- prompt | message | reasoning | tool_call | tool_output
            text TEXT NOT NULL
        );
        CREATE INDEX docs_where ON docs(session_id, turn_idx, step_idx);
        CREATE VIRTUAL TABLE docs_fts USING fts5(
            text, content='docs', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
        );
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        """
    )


@migration
def m002_secret_findings(db: sqlite3.Connection) -> None:
    # Where credentials appear in the history: type and fingerprint only, never the value.
    run_script(
        db,
        """
        CREATE TABLE secrets (
            session_id TEXT NOT NULL,
            turn_idx INTEGER NOT NULL,
            step_idx INTEGER NOT NULL,
            call_id TEXT,
            kind TEXT NOT NULL,          -- where: prompt | message | reasoning | tool_call | tool_output
            type TEXT NOT NULL,          -- openai_key, github_token, credential, ...
            fingerprint TEXT NOT NULL
        );
        CREATE INDEX secrets_session ON secrets(session_id, turn_idx, step_idx);
        CREATE INDEX secrets_fingerprint ON secrets(fingerprint);
        """,
    )


@migration
def m003_tools_child_index(db: sqlite3.Connection) -> None:
    # Subagents whose own log does not name their parent are linked from the parent's spawning call.
    db.execute("CREATE INDEX tools_child ON tools(child_id) WHERE child_id IS NOT NULL")


@migration
def m004_compact_storage(db: sqlite3.Connection) -> None:
    """Smaller and faster: rowid tables for steps and tools (their 1-4 KB rows overflowed the pages of a
    WITHOUT ROWID table, wasting half of them), and search docs that no longer keep a second copy of each
    text: the FTS index reads the text from the rows themselves through the `doc_text` view."""
    run_script(
        db,
        """
        CREATE TABLE steps_new (
            session_id TEXT NOT NULL, turn_idx INTEGER NOT NULL, idx INTEGER NOT NULL, started_at TEXT,
            ended_at TEXT, model TEXT, reasoning TEXT, reasoning_len INTEGER NOT NULL DEFAULT 0, message TEXT,
            message_len INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'done', error TEXT,
            has_usage INTEGER NOT NULL DEFAULT 0, input INTEGER NOT NULL DEFAULT 0,
            cache_read INTEGER NOT NULL DEFAULT 0, cache_write INTEGER NOT NULL DEFAULT 0,
            output INTEGER NOT NULL DEFAULT 0, reasoning_tokens INTEGER NOT NULL DEFAULT 0
        );
        INSERT INTO steps_new SELECT session_id, turn_idx, idx, started_at, ended_at, model, reasoning, reasoning_len,
            message, message_len, status, error, has_usage, input, cache_read, cache_write, output, reasoning_tokens
            FROM steps ORDER BY session_id, turn_idx, idx;
        DROP TABLE steps;
        ALTER TABLE steps_new RENAME TO steps;
        CREATE UNIQUE INDEX steps_key ON steps(session_id, turn_idx, idx);
        CREATE TABLE tools_new (
            session_id TEXT NOT NULL, turn_idx INTEGER NOT NULL, step_idx INTEGER NOT NULL, seq INTEGER NOT NULL,
            call_id TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, args TEXT,
            args_len INTEGER NOT NULL DEFAULT 0, started_at TEXT, ended_at TEXT, duration_ms INTEGER,
            status TEXT NOT NULL, error_kind TEXT, exit_code INTEGER, error_message TEXT, output TEXT,
            output_len INTEGER NOT NULL DEFAULT 0, out_off INTEGER NOT NULL DEFAULT -1, child_id TEXT
        );
        INSERT INTO tools_new SELECT session_id, turn_idx, step_idx, seq, call_id, name, kind, args, args_len,
            started_at, ended_at, duration_ms, status, error_kind, exit_code, error_message, output, output_len,
            out_off, child_id FROM tools ORDER BY session_id, turn_idx, step_idx, seq;
        DROP TABLE tools;
        ALTER TABLE tools_new RENAME TO tools;
        CREATE UNIQUE INDEX tools_key ON tools(session_id, turn_idx, step_idx, seq);
        CREATE INDEX tools_call ON tools(session_id, call_id);
        CREATE INDEX tools_failed ON tools(started_at DESC, session_id) WHERE status = 'error';
        CREATE INDEX tools_name ON tools(name);
        CREATE INDEX tools_child ON tools(child_id) WHERE child_id IS NOT NULL;
        DROP TABLE docs_fts;
        CREATE TABLE docs_new (
            id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, turn_idx INTEGER NOT NULL,
            step_idx INTEGER NOT NULL, call_id TEXT, kind TEXT NOT NULL
        );
        INSERT INTO docs_new SELECT id, session_id, turn_idx, step_idx, call_id, kind FROM docs;
        DROP TABLE docs;
        ALTER TABLE docs_new RENAME TO docs;
        CREATE INDEX docs_where ON docs(session_id, turn_idx, step_idx);
        CREATE VIEW doc_text AS SELECT d.id AS id, CASE d.kind
            WHEN 'prompt' THEN (SELECT t.text FROM turns t WHERE t.session_id = d.session_id AND t.idx = d.turn_idx)
            WHEN 'message' THEN (SELECT s.message FROM steps s WHERE s.session_id = d.session_id
                                 AND s.turn_idx = d.turn_idx AND s.idx = d.step_idx)
            WHEN 'reasoning' THEN (SELECT s.reasoning FROM steps s WHERE s.session_id = d.session_id
                                   AND s.turn_idx = d.turn_idx AND s.idx = d.step_idx)
            WHEN 'tool_call' THEN (SELECT x.name || char(10) || coalesce(x.args, '') FROM tools x
                                   WHERE x.session_id = d.session_id AND x.call_id = d.call_id
                                   AND x.turn_idx = d.turn_idx AND x.step_idx = d.step_idx)
            WHEN 'tool_output' THEN (SELECT x.output FROM tools x WHERE x.session_id = d.session_id
                                     AND x.call_id = d.call_id AND x.turn_idx = d.turn_idx AND x.step_idx = d.step_idx)
            END AS text FROM docs d;
        CREATE VIRTUAL TABLE docs_fts USING fts5(
            text, content='doc_text', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
        );
        INSERT INTO docs_fts(docs_fts) VALUES ('rebuild');
        """,
    )


@migration
def m005_lazy_secret_scan(db: sqlite3.Connection) -> None:
    # secrets are now found after ingest (store/secrets.py), per search doc, from a watermark
    db.execute("DELETE FROM secrets")
    db.execute("ALTER TABLE secrets ADD COLUMN doc_id INTEGER")
    db.execute("DELETE FROM meta WHERE key = 'secrets_scanned'")


# view doc_text as of m004 (recreated unchanged by migrations that rebuild the tables it reads)
DOC_TEXT_VIEW = """
        CREATE VIEW doc_text AS SELECT d.id AS id, CASE d.kind
            WHEN 'prompt' THEN (SELECT t.text FROM turns t WHERE t.session_id = d.session_id AND t.idx = d.turn_idx)
            WHEN 'message' THEN (SELECT s.message FROM steps s WHERE s.session_id = d.session_id
                                 AND s.turn_idx = d.turn_idx AND s.idx = d.step_idx)
            WHEN 'reasoning' THEN (SELECT s.reasoning FROM steps s WHERE s.session_id = d.session_id
                                   AND s.turn_idx = d.turn_idx AND s.idx = d.step_idx)
            WHEN 'tool_call' THEN (SELECT x.name || char(10) || coalesce(x.args, '') FROM tools x
                                   WHERE x.session_id = d.session_id AND x.call_id = d.call_id
                                   AND x.turn_idx = d.turn_idx AND x.step_idx = d.step_idx)
            WHEN 'tool_output' THEN (SELECT x.output FROM tools x WHERE x.session_id = d.session_id
                                     AND x.call_id = d.call_id AND x.turn_idx = d.turn_idx AND x.step_idx = d.step_idx)
            END AS text FROM docs d;
"""


@migration
def m006_turns_rowid(db: sqlite3.Connection) -> None:
    # turns hold prompts up to 16 KB: as a WITHOUT ROWID table half of its pages were overflow waste
    run_script(
        db,
        """
        DROP VIEW doc_text;
        CREATE TABLE turns_new (
            session_id TEXT NOT NULL, idx INTEGER NOT NULL, started_at TEXT, ended_at TEXT,
            text TEXT NOT NULL DEFAULT '', text_len INTEGER NOT NULL DEFAULT 0, origin TEXT NOT NULL DEFAULT 'user',
            slash TEXT, interrupted INTEGER NOT NULL DEFAULT 0, off INTEGER NOT NULL DEFAULT -1,
            steps INTEGER NOT NULL DEFAULT 0, tool_calls INTEGER NOT NULL DEFAULT 0,
            failed_tools INTEGER NOT NULL DEFAULT 0, input INTEGER NOT NULL DEFAULT 0,
            cache_read INTEGER NOT NULL DEFAULT 0, cache_write INTEGER NOT NULL DEFAULT 0,
            output INTEGER NOT NULL DEFAULT 0, reasoning INTEGER NOT NULL DEFAULT 0,
            peak_context INTEGER NOT NULL DEFAULT 0, final_message TEXT
        );
        INSERT INTO turns_new SELECT session_id, idx, started_at, ended_at, text, text_len, origin, slash, interrupted,
            off, steps, tool_calls, failed_tools, input, cache_read, cache_write, output, reasoning, peak_context,
            final_message FROM turns ORDER BY session_id, idx;
        DROP TABLE turns;
        ALTER TABLE turns_new RENAME TO turns;
        CREATE UNIQUE INDEX turns_key ON turns(session_id, idx);
        """ + DOC_TEXT_VIEW,
    )
    # the resume state is now zlib-compressed: read every file again (rows are replaced, history kept)
    db.execute("UPDATE files SET parser_version = -1")


DOC_KINDS = ("prompt", "message", "reasoning", "tool_call", "tool_output")  # docs.kind is the index in this tuple

DOC_TEXT_VIEW_V2 = """
        CREATE VIEW doc_text AS SELECT d.id AS id, CASE d.kind
            WHEN 0 THEN (SELECT t.text FROM turns t WHERE t.session_id = s.id AND t.idx = d.turn_idx)
            WHEN 1 THEN (SELECT x.message FROM steps x WHERE x.session_id = s.id AND x.turn_idx = d.turn_idx
                         AND x.idx = d.step_idx)
            WHEN 2 THEN (SELECT x.reasoning FROM steps x WHERE x.session_id = s.id AND x.turn_idx = d.turn_idx
                         AND x.idx = d.step_idx)
            WHEN 3 THEN (SELECT x.name || char(10) || coalesce(x.args, '') FROM tools x WHERE x.session_id = s.id
                         AND x.turn_idx = d.turn_idx AND x.step_idx = d.step_idx AND x.seq = d.seq)
            WHEN 4 THEN (SELECT x.output FROM tools x WHERE x.session_id = s.id AND x.turn_idx = d.turn_idx
                         AND x.step_idx = d.step_idx AND x.seq = d.seq)
            END AS text FROM docs d JOIN sessions s ON s.rowid = d.skey;
"""


@migration
def m007_compact_docs(db: sqlite3.Connection) -> None:
    """Search docs name their session by its row number and their tool call by its position, and their
    kind by a number: a quarter of the bytes per doc, and there are hundreds of thousands of docs."""
    run_script(
        db,
        """
        DROP VIEW doc_text;
        CREATE TABLE docs_new (
            id INTEGER PRIMARY KEY, skey INTEGER NOT NULL, turn_idx INTEGER NOT NULL, step_idx INTEGER NOT NULL,
            seq INTEGER NOT NULL, kind INTEGER NOT NULL
        );
        INSERT INTO docs_new SELECT d.id, s.rowid, d.turn_idx, d.step_idx,
            coalesce((SELECT min(x.seq) FROM tools x WHERE x.session_id = d.session_id AND x.turn_idx = d.turn_idx
                      AND x.step_idx = d.step_idx AND x.call_id = d.call_id), -1),
            CASE d.kind WHEN 'prompt' THEN 0 WHEN 'message' THEN 1 WHEN 'reasoning' THEN 2 WHEN 'tool_call' THEN 3
                        ELSE 4 END
            FROM docs d JOIN sessions s ON s.id = d.session_id;
        DROP TABLE docs;
        ALTER TABLE docs_new RENAME TO docs;
        CREATE INDEX docs_where ON docs(skey, turn_idx, step_idx);
        """ + DOC_TEXT_VIEW_V2 + """
        INSERT INTO docs_fts(docs_fts) VALUES ('rebuild');
        """,
    )


@migration
def m008_turns_slash_index(db: sqlite3.Connection) -> None:
    # Codex review sub-agents are linked to the `/review` turn that started them (ingest.link_children)
    db.execute("CREATE INDEX turns_slash ON turns(slash, started_at) WHERE slash IS NOT NULL")


@migration
def m009_masked_index(db: sqlite3.Connection) -> None:
    """The index holds masked text only (issue 16). Secret findings are now recorded while rows are prepared,
    with the position of each in its whole text; what is already indexed is masked in place (with its
    full-text entries, so a search can no longer find a secret's characters), project roots are normalised,
    and every file is read again, so that previews and findings come from whole masked texts."""
    db.execute("ALTER TABLE secrets ADD COLUMN pos INTEGER")
    db.execute("DELETE FROM meta WHERE key = 'secrets_scanned'")
    # Every log still on disk is read again (parser version) and masked then; masking all of it here would
    # hold the first start after the upgrade for ~20 s per GB of logs. Until a log is read again, its
    # sessions keep no search docs (search can find no secret in them; by-id answers read the log first;
    # every answer is masked on its way out); the sessions whose logs are gone are masked in place now.
    import os

    gone = [(p,) for (p,) in db.execute("SELECT path FROM files WHERE on_disk = 1") if not os.path.exists(p)]
    # logs deleted since the last refresh: their sessions can only be masked here (one stat per log)
    db.executemany("UPDATE files SET on_disk = 0 WHERE path = ?", gone)
    db.execute("UPDATE sessions SET on_disk = 0 WHERE file_id IN (SELECT id FROM files WHERE on_disk = 0)")
    on_disk = "SELECT rowid FROM sessions WHERE on_disk = 1"
    db.execute("INSERT INTO docs_fts (docs_fts) VALUES ('delete-all')")
    db.execute(f"DELETE FROM docs WHERE skey IN ({on_disk})")
    db.execute("DELETE FROM secrets WHERE session_id IN (SELECT id FROM sessions WHERE on_disk = 1)")
    mask_in_place(db, sessions="SELECT id FROM sessions WHERE on_disk = 0", fts_empty=True)
    db.execute("UPDATE files SET parser_version = -1")


# the text columns an answer can show; args hold JSON (masking keeps it valid JSON: a marker has no quote)
MASKED_COLUMNS = (("turns", "text"), ("turns", "final_message"), ("steps", "message"), ("steps", "reasoning"),
                  ("steps", "error"), ("tools", "name"), ("tools", "args"), ("tools", "output"),
                  ("tools", "error_message"), ("sessions", "title"), ("sessions", "project_root"),
                  ("sessions", "git_branch"))


def mask_in_place(db: sqlite3.Connection, sessions: str | None = None, fts_empty: bool = False) -> int:
    """Mask every text column of the index (of the `sessions` that subquery selects) where it holds a
    credential, keeping the full-text index equal to the rows (an FTS5 entry is deleted with the text it was
    made from; `fts_empty`: the FTS index was emptied, so every remaining doc is indexed again afterwards);
    normalise project roots. Returns how many search docs changed."""
    from ..paths import normalize_root
    from ..redact import find_secrets, mask

    db.create_function("agtrace_mask", 1, lambda t: mask(t) if isinstance(t, str) else t, deterministic=True)
    db.create_function("agtrace_root", 1, lambda t: normalize_root(t) if isinstance(t, str) else t,
                       deterministic=True)
    docs = "SELECT id, text FROM doc_text WHERE text IS NOT NULL"
    if sessions is not None:
        docs += f" AND id IN (SELECT d.id FROM docs d JOIN sessions s ON s.rowid = d.skey WHERE s.id IN ({sessions}))"
    changed = [(i, t) for i, t in db.execute(docs) if next(find_secrets(t), None) is not None]
    if not fts_empty:
        db.executemany("INSERT INTO docs_fts (docs_fts, rowid, text) VALUES ('delete', ?, ?)", changed)
    for table, col in MASKED_COLUMNS:
        key = "id" if table == "sessions" else "session_id"
        only = f" AND {key} IN ({sessions})" if sessions is not None else ""
        db.execute(f"UPDATE {table} SET {col} = agtrace_mask({col}) WHERE {col} IS NOT NULL{only}"
                   f" AND agtrace_mask({col}) IS NOT {col}")
    db.execute("UPDATE sessions SET project_root = agtrace_root(project_root) WHERE project_root IS NOT NULL"
               " AND agtrace_root(project_root) IS NOT project_root")
    if fts_empty:
        db.execute("INSERT INTO docs_fts (rowid, text) SELECT id, text FROM doc_text WHERE text IS NOT NULL")
    else:
        db.executemany("INSERT INTO docs_fts (rowid, text) SELECT id, text FROM doc_text WHERE id = ?"
                       " AND text IS NOT NULL", [(i,) for i, _ in changed])
    return len(changed)


DOC_TEXT_VIEW_V3 = """
        CREATE VIEW doc_text AS SELECT d.id AS id, CASE d.kind
            WHEN 0 THEN CASE WHEN d.seq < 0
                THEN (SELECT t.text FROM turns t WHERE t.session_id = s.id AND t.idx = d.turn_idx)
                ELSE (SELECT i.text FROM interjections i WHERE i.session_id = s.id AND i.turn_idx = d.turn_idx
                      AND i.seq = d.seq) END
            WHEN 1 THEN (SELECT x.message FROM steps x WHERE x.session_id = s.id AND x.turn_idx = d.turn_idx
                         AND x.idx = d.step_idx)
            WHEN 2 THEN (SELECT x.reasoning FROM steps x WHERE x.session_id = s.id AND x.turn_idx = d.turn_idx
                         AND x.idx = d.step_idx)
            WHEN 3 THEN (SELECT x.name || char(10) || coalesce(x.args, '') FROM tools x WHERE x.session_id = s.id
                         AND x.turn_idx = d.turn_idx AND x.step_idx = d.step_idx AND x.seq = d.seq)
            WHEN 4 THEN (SELECT x.output FROM tools x WHERE x.session_id = s.id AND x.turn_idx = d.turn_idx
                         AND x.step_idx = d.step_idx AND x.seq = d.seq)
            END AS text FROM docs d JOIN sessions s ON s.rowid = d.skey;
"""


@migration
def m010_turn_state_interjections(db: sqlite3.Connection) -> None:
    """Turn state (completed | interrupted | incomplete) and final answer; calls whose result never came counted
    apart; messages the user typed while the agent worked, searchable as prompts (a prompt doc with `seq` ≥ 0 is
    the turn's interjection number `seq`). The parser version moved with it, so every log is read again."""
    run_script(
        db,
        """
        ALTER TABLE turns ADD COLUMN status TEXT NOT NULL DEFAULT 'incomplete';
        ALTER TABLE turns ADD COLUMN final_answer TEXT;
        ALTER TABLE turns ADD COLUMN final_answer_len INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE turns ADD COLUMN missing_tools INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE sessions ADD COLUMN missing_tools INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE interjections (
            session_id TEXT NOT NULL, turn_idx INTEGER NOT NULL, seq INTEGER NOT NULL, at TEXT,
            after_step INTEGER NOT NULL DEFAULT -1, text TEXT NOT NULL DEFAULT '', text_len INTEGER NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX interjections_key ON interjections(session_id, turn_idx, seq);
        DROP VIEW doc_text;
        """ + DOC_TEXT_VIEW_V3,
    )


@migration
def m011_push_revisions(db: sqlite3.Connection) -> None:
    """What changed since a push to a team database (`store/postgres/push.py`): every write stamps the
    sessions and turns it changed with a new revision (`meta.rev`, one per ingest), and the index gets an
    id of its own, so a push can tell a rebuilt index (whose revisions start again) from the one it knew."""
    db.execute("ALTER TABLE sessions ADD COLUMN rev INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE turns ADD COLUMN rev INTEGER NOT NULL DEFAULT 0")
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('index_id', lower(hex(randomblob(16))))")


def next_rev(db: sqlite3.Connection) -> int:
    """A new revision number for what this write changes (inside the caller's write transaction)."""
    return int(db.execute("INSERT INTO meta (key, value) VALUES ('rev', '1') ON CONFLICT(key) DO UPDATE"
                          " SET value = CAST(value AS INTEGER) + 1 RETURNING value").fetchone()[0])


def migrate(db: sqlite3.Connection) -> int:
    """Apply every migration not yet applied; returns how many ran."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    done = {r[0] for r in db.execute("SELECT name FROM _migrations")}
    ran = 0
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            # another process may have applied it while we waited for the lock
            if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (fn.__name__,)).fetchone() is None:
                fn(db)
                db.execute("INSERT INTO _migrations VALUES (?, datetime('now'))", (fn.__name__,))
                ran += 1
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite may have rolled back already (disk full, I/O error)
                db.execute("ROLLBACK")
            raise
    return ran
