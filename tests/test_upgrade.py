"""An index written by the first release (only migration m001 applied), with rows in it, opens under this one.

Built the way m001 left it: its tables as m001 created them, rows written as that release wrote them (search
docs naming their kind by word, a WITHOUT ROWID `tools` table, no turn state), one session whose log is gone
(its history lives only in the index) and one whose log is still on disk. Opening it runs every later
migration; the history must come through whole: sessions, turns, failed calls with their exit codes, search,
secrets masked, and the log still on disk read again by today's parser.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.store.ingest import PARSER_VERSION
from agtrace_mcp.store.migrations import MIGRATIONS, m001_initial

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "home"
GONE = "0ld5e551-0000-4000-8000-000000000001"
SECRET = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def _first_release_index(db_path: Path, home: Path) -> str:
    """An index as the first release wrote it; returns the path of the log that is still on disk."""
    on_disk_log = next(p for p in sorted((home / ".claude" / "projects").rglob("*.jsonl"))
                       if "subagents" not in p.parts and not p.name.startswith("agent-"))
    con = sqlite3.connect(db_path, isolation_level=None)
    try:
        con.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        m001_initial(con)
        con.execute("INSERT INTO _migrations VALUES ('m001_initial', '2026-01-01 00:00:00')")
        gone_log = str(home / ".claude" / "projects" / "-srv-shop" / f"{GONE}.jsonl")  # deleted since
        con.execute("INSERT INTO files (id, path, provider, kind, size, mtime_ns, inode, offset, parser_version,"
                    " lines, records) VALUES (1, ?, 'claude_code', 'session', 900, 1, 1, 900, 1, 6, 6)", (gone_log,))
        con.execute("INSERT INTO files (id, path, provider, kind, size, mtime_ns, inode, offset, parser_version)"
                    " VALUES (2, ?, 'claude_code', 'session', 1, 1, 1, 1, 1)", (str(on_disk_log),))
        con.execute(
            "INSERT INTO sessions (id, provider, file_id, project_root, title, started_at, ended_at, models, turns,"
            " steps, tool_calls, failed_tools, input, output, peak_context) VALUES (?, 'claude_code', 1, '/srv/shop',"
            " 'Deploy the shop', '2026-01-02T10:00:00.000Z', '2026-01-02T10:05:00.000Z', '[\"claude-sonnet-4\"]',"
            " 1, 2, 2, 1, 1500, 120, 1500)", (GONE,))
        con.execute("INSERT INTO turns (session_id, idx, started_at, ended_at, text, text_len, steps, tool_calls,"
                    " failed_tools, input, output) VALUES (?, 0, '2026-01-02T10:00:00.000Z',"
                    " '2026-01-02T10:05:00.000Z', 'Deploy the shop to staging', 26, 2, 2, 1, 1500, 120)", (GONE,))
        con.execute("INSERT INTO steps (session_id, turn_idx, idx, started_at, model, message, message_len, has_usage,"
                    " input, output) VALUES (?, 0, 0, '2026-01-02T10:00:01.000Z', 'claude-sonnet-4',"
                    " 'Deploying now.', 14, 1, 1500, 120)", (GONE,))
        con.execute("INSERT INTO steps (session_id, turn_idx, idx, started_at, model, message, message_len)"
                    " VALUES (?, 0, 1, '2026-01-02T10:04:00.000Z', 'claude-sonnet-4', 'The deploy failed.', 18)",
                    (GONE,))
        con.execute(
            "INSERT INTO tools (session_id, turn_idx, step_idx, seq, call_id, name, kind, args, args_len, started_at,"
            " ended_at, duration_ms, status, error_kind, exit_code, error_message, output, output_len) VALUES"
            " (?, 0, 0, 0, 'toolu_deploy', 'Bash', 'execute', '{\"command\":\"make deploy\"}', 25,"
            " '2026-01-02T10:00:02.000Z', '2026-01-02T10:03:02.000Z', 180000, 'error', 'exit_code', 2,"
            " 'make: *** [deploy] Error 2', ?, 60)",
            (GONE, f"pushing with token {SECRET}\nmake: *** [deploy] Error 2"))
        con.execute(
            "INSERT INTO tools (session_id, turn_idx, step_idx, seq, call_id, name, kind, args, status, output)"
            " VALUES (?, 0, 1, 0, 'toolu_log', 'Read', 'read', '{\"file_path\":\"/srv/shop/deploy.log\"}', 'ok',"
            " 'step 3 of 4: upload')", (GONE,))
        for i, (step, call, kind, text) in enumerate([
                (-1, None, "prompt", "Deploy the shop to staging"), (0, None, "message", "Deploying now."),
                (0, "toolu_deploy", "tool_output", f"pushing with token {SECRET}\nmake: *** [deploy] Error 2")], 1):
            con.execute("INSERT INTO docs (id, session_id, turn_idx, step_idx, call_id, kind, text)"
                        " VALUES (?, ?, 0, ?, ?, ?, ?)", (i, GONE, step, call, kind, text))
        con.execute("INSERT INTO docs_fts (docs_fts) VALUES ('rebuild')")
    finally:
        con.close()
    return str(on_disk_log)


def test_an_index_of_the_first_release_opens_with_its_history_whole(tmp_path: Path):
    home = tmp_path / "home"
    shutil.copytree(FIXTURES, home)
    data = tmp_path / "data"
    data.mkdir()
    on_disk_log = _first_release_index(data / "index.sqlite3", home)

    cfg = Config.load(env={"HOME": str(home)}, home=home, data_dir=data)
    cfg.refresh_interval = 3600  # look at the migrated index before any refresh reads the logs
    api = Agtrace(cfg)
    try:
        with api.store.read() as db:
            applied = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY name")]
            assert applied == sorted(fn.__name__ for fn in MIGRATIONS)
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            db.execute("INSERT INTO docs_fts (docs_fts) VALUES ('integrity-check')")
            row = db.execute("SELECT on_disk, turns, failed_tools, input, output FROM sessions WHERE id = ?",
                             (GONE,)).fetchone()
            assert tuple(row) == (0, 1, 1, 1500, 120)  # its log is gone: history kept, marked as not on disk
            assert db.execute("SELECT parser_version FROM files WHERE path = ?", (on_disk_log,)).fetchone()[0] == -1
            outputs = [r[0] for r in db.execute("SELECT output FROM tools WHERE session_id = ?", (GONE,))]
            assert not any(SECRET[4:20] in (o or "") for o in outputs)  # masked in place: no log to read again

        turn = api.get_turn(GONE, 0, detail="full")
        assert turn.user.text == "Deploy the shop to staging" and turn.status == "incomplete"
        deploy = turn.steps[0].tools[0]
        assert (deploy.call_id, deploy.status, deploy.duration_ms) == ("toolu_deploy", "error", 180000)
        assert deploy.error is not None and (deploy.error.kind, deploy.error.exit_code) == ("exit_code", 2)
        failures = api.find_failed_tools(session_id=GONE).failures
        assert [(f.call_id, f.exit_code) for f in failures] == [("toolu_deploy", 2)]
        assert [h.kind for h in api.search_history("staging", session_id=GONE).hits] == ["prompt"]
        assert api.search_history(SECRET).hits == []
        assert api.get_usage(GONE).tokens.input == 1500

        api.refresh()  # the log still on disk is read again by this release's parser; the gone one stays
        with api.store.read() as db:
            assert db.execute("SELECT parser_version FROM files WHERE path = ?",
                              (on_disk_log,)).fetchone()[0] == PARSER_VERSION
            assert db.execute("SELECT count(*) FROM sessions WHERE id = ?", (GONE,)).fetchone()[0] == 1
        assert GONE in {s.session_id for s in api.list_sessions(limit=200).sessions}
    finally:
        api.close()
