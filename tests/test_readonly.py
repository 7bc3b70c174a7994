"""Read-only, really (issue 16, point 7): reading OpenCode's live WAL database changes none of its files,
not its `-shm` and not its `-wal`, and creates none."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from indexcheck import api_over
from test_opencode import MAIN, build_db

from agtrace_mcp.load import load_session


def _files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def live(tmp_path: Path):
    """An OpenCode database in WAL mode with its writer still connected: rows in the WAL, a `-shm` in use."""
    db = build_db(tmp_path / "opencode" / "opencode.db", wal=True)
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("UPDATE session SET title = 'Renamed while running' WHERE id = ?", (MAIN,))
    writer.commit()
    assert (db.parent / "opencode.db-wal").stat().st_size > 0 and (db.parent / "opencode.db-shm").exists()
    yield db, writer
    writer.close()


def test_indexing_and_every_read_of_a_live_wal_database_change_no_file(live, tmp_path: Path):
    db, _ = live
    before = _files(db.parent)
    assert {"opencode.db", "opencode.db-wal", "opencode.db-shm"} <= set(before)
    api = api_over(tmp_path, tmp_path / "index", env={"AGTRACE_MCP_OPENCODE_DIR": str(db.parent)})
    assert api.get_session(MAIN).session.title == "Renamed while running"  # what is only in the WAL is read
    for i in range(api.get_session(MAIN).turns_total):
        for step in api.get_turn(MAIN, i).steps:
            for t in step.tools:
                api.get_tool_output(MAIN, t.call_id)
    assert load_session(db).title == "Renamed while running"
    api.refresh(rebuild=True)
    assert _files(db.parent) == before


def test_a_database_with_an_empty_wal_is_read_immutable(live, tmp_path: Path):
    db, writer = live
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert (db.parent / "opencode.db-wal").stat().st_size == 0
    before = _files(db.parent)
    assert load_session(db).title == "Renamed while running"
    assert _files(db.parent) == before


def test_a_change_after_a_read_is_seen_by_the_next_read(live, tmp_path: Path):
    db, writer = live
    api = api_over(tmp_path, tmp_path / "index", env={"AGTRACE_MCP_OPENCODE_DIR": str(db.parent)})
    assert api.get_session(MAIN).session.title == "Renamed while running"
    writer.execute("UPDATE session SET title = 'Renamed again', time_updated = time_updated + 1 WHERE id = ?", (MAIN,))
    writer.commit()
    assert api.get_session(MAIN).session.title == "Renamed again"
