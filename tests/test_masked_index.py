"""The index holds masked text only (issue 16, point 1): what it keeps was masked whole before it was cut,
the full-text index cannot find a secret's characters, findings keep their place, and an index written
before this (unmasked) is masked in place by a migration and read again."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from indexcheck import api_over

from agtrace_mcp.engine.records import StepRec, ToolRec, TurnRec
from agtrace_mcp.store.ingest import PARSER_VERSION
from agtrace_mcp.store.rows import OUT_HEAD, TEXT_CAP, step_row, turn_row

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "home"
LEAKY = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
LEAKY_LOG = ".claude/projects/-home-dev-infra/cccccccc-cccc-4ccc-8ccc-cccccccccccc.jsonl"
OPENAI = "sk-proj-Zx81Qw5Er3Ty7Ui9Op2As4Df6Gh8Jk0L"
DB_PASSWORD = "Tr0ub4dor-and-3"
GHP = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def test_a_secret_across_every_cut_is_masked_before_the_cut():
    # a secret exactly where the prompt cap, the output preview head and the output tail cut
    around_cap = "x" * (TEXT_CAP - 200 - 10) + " " + GHP + " " + "y" * 5000
    around_head = "a" * (OUT_HEAD - 10) + " " + GHP + " " + "b" * 5000
    around_tail = "c" * 5000 + " " + GHP + " " + "d" * 290
    t = turn_row(TurnRec(index=0, started_at=None, text=around_cap))
    assert not any(GHP[k:k + 8] in t.text for k in range(4, len(GHP) - 8)) and "[REDACTED" in t.text
    step = StepRec(turn_index=0, index=0, key="m1", started_at=None)
    for i, out in enumerate((around_head, around_tail)):
        step.tools.append(ToolRec(call_id=f"c{i}", name="Bash", kind="execute", args={"command": around_cap},
                                  started_at=None, output=out, has_result=True))
    row = step_row(step)
    for tool in row.tools:
        for text in (tool.output, tool.args or ""):
            assert not any(GHP[k:k + 8] in text for k in range(4, len(GHP) - 8)), text[:200]
        assert {(s[1], s[2]) for s in tool.secrets} == {("github_token", f"github_token:…{GHP[-4:]}")}
    positions = sorted(s[3] for tool in row.tools for s in tool.secrets)
    assert positions and all(p > 0 for p in positions)


def test_secret_findings_name_their_place_and_position(tmp_path: Path):
    home = tmp_path / "home"
    shutil.copytree(FIXTURES, home)
    api = api_over(home, tmp_path / "d")
    found = {f.fingerprint: f for f in api.secret_findings(limit=200).findings}
    assert "openai_key:…Jk0L" in found
    with api.store.read() as db:
        rows = db.execute("SELECT kind, call_id, pos FROM secrets WHERE fingerprint = 'openai_key:…Jk0L'").fetchall()
    assert rows and all(r[2] is not None and r[2] >= 0 for r in rows)


def _as_before_issue_16(db_path: Path) -> None:
    """Turn a fresh index into one written before masking at ingest: raw secrets in its rows and in its
    full-text index, no finding positions, migration 9 not run, files read by the old parser."""
    con = sqlite3.connect(db_path)
    try:
        con.execute("INSERT INTO docs_fts (docs_fts) VALUES ('delete-all')")
        for table, col in (("tools", "output"), ("tools", "args"), ("turns", "text"), ("steps", "message")):
            con.execute(f"UPDATE {table} SET {col} = replace(replace({col}, '[REDACTED:openai_key:…Jk0L]', ?),"
                        f" '[REDACTED:url_password:…nd-3]', ?)", (OPENAI, DB_PASSWORD))
        con.execute("INSERT INTO docs_fts (docs_fts) VALUES ('rebuild')")
        con.execute("ALTER TABLE secrets DROP COLUMN pos")
        con.execute("DELETE FROM _migrations WHERE name = 'm009_masked_index'")
        con.execute("UPDATE files SET parser_version = 4")
        con.commit()
        assert con.execute("SELECT count(*) FROM docs_fts WHERE docs_fts MATCH ?", (f'"{OPENAI}"',)).fetchone()[0]
    finally:
        con.close()


def test_an_index_written_before_masking_drops_its_secrets_at_once_and_masks_them_on_the_next_read(tmp_path: Path):
    home = tmp_path / "home"
    shutil.copytree(FIXTURES, home)
    data = tmp_path / "d"
    api = api_over(home, data)
    api.refresh()
    api.close()
    _as_before_issue_16(data / "index.sqlite3")
    (home / LEAKY_LOG).unlink()  # its session is now only in the index: nothing can read it again

    api = api_over(home, data)  # opening it runs the migration: it masks only what no log can give again
    with api.store.read() as db:
        gone = "SELECT id FROM sessions WHERE on_disk = 0"
        for table, col in (("tools", "output"), ("tools", "args"), ("turns", "text"), ("steps", "message")):
            assert not db.execute(f"SELECT count(*) FROM {table} WHERE session_id IN ({gone})"
                                  f" AND ({col} LIKE ? OR {col} LIKE ?)",
                                  (f"%{OPENAI}%", f"%{DB_PASSWORD}%")).fetchone()[0], (table, col)
        assert not db.execute("SELECT count(*) FROM docs_fts WHERE docs_fts MATCH ?", (f'"{OPENAI}"',)).fetchone()[0]
        assert db.execute("SELECT count(*) FROM docs_fts WHERE docs_fts MATCH 'Jk0L'").fetchone()[0]
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.execute("INSERT INTO docs_fts (docs_fts) VALUES ('integrity-check')")
    assert api.search_history(OPENAI).hits == []
    leaky = api.get_turn(LEAKY, 0).model_dump_json()
    assert OPENAI not in leaky and "[REDACTED:openai_key:…Jk0L]" in leaky
    api.refresh()  # every file still on disk is read again by the new parser, masked
    with api.store.read() as db:
        versions = {r[0] for r in db.execute("SELECT parser_version FROM files WHERE on_disk = 1")}
        for table, col in (("tools", "output"), ("tools", "args"), ("turns", "text"), ("steps", "message")):
            assert not db.execute(f"SELECT count(*) FROM {table} WHERE {col} LIKE ? OR {col} LIKE ?",
                                  (f"%{OPENAI}%", f"%{DB_PASSWORD}%")).fetchone()[0], (table, col)
        db.execute("INSERT INTO docs_fts (docs_fts) VALUES ('integrity-check')")
    assert versions == {PARSER_VERSION}
    assert api.search_history("Jk0L").hits


def test_a_session_named_by_id_is_read_again_before_it_is_answered_after_an_upgrade(tmp_path: Path):
    home = tmp_path / "home"
    shutil.copytree(FIXTURES, home)
    data = tmp_path / "d"
    api = api_over(home, data)
    api.refresh()
    sid = next(s.session_id for s in api.list_sessions(limit=200).sessions)
    api.close()
    _as_before_issue_16(data / "index.sqlite3")
    api = api_over(home, data)
    api.config.refresh_interval = 3600  # no whole-history refresh: only the by-id read
    api.get_session(sid)
    with api.store.read() as db:
        version = db.execute("SELECT f.parser_version FROM sessions s JOIN files f ON f.id = s.file_id"
                             " WHERE s.id = ?", (sid,)).fetchone()[0]
    assert version == PARSER_VERSION
