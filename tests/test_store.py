"""The incremental index: one behaviour per test, on a private copy of fixtures/home."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from indexcheck import config_over

from agtrace_mcp.api import Agtrace
from agtrace_mcp.load import load_file_source
from agtrace_mcp.store import Store
from agtrace_mcp.store.ingest import discover

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "home"
MAIN_ID = "11111111-1111-4111-8111-111111111111"
MAIN_REL = ".claude/projects/-home-dev-webapp/11111111-1111-4111-8111-111111111111.jsonl"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    shutil.copytree(FIXTURES, h)
    return h


@pytest.fixture
def api(home: Path, tmp_path: Path) -> Agtrace:
    a = Agtrace(config_over(home, tmp_path / "data"))
    yield a
    a.close()


def prompt_line(sid: str, uuid: str, text: str, ts: str = "2026-05-05T09:00:00.000Z") -> str:
    return json.dumps({"parentUuid": None, "isSidechain": False, "type": "user", "sessionId": sid, "uuid": uuid,
                       "timestamp": ts, "cwd": "/home/dev/webapp", "version": "2.1.40",
                       "message": {"role": "user", "content": text}}) + "\n"


def answer_line(sid: str, uuid: str, mid: str, text: str, ts: str = "2026-05-05T09:00:02.000Z") -> str:
    return json.dumps({"parentUuid": None, "isSidechain": False, "type": "assistant", "sessionId": sid, "uuid": uuid,
                       "timestamp": ts, "cwd": "/home/dev/webapp", "version": "2.1.40",
                       "message": {"id": mid, "model": "claude-sonnet-4-5", "role": "assistant",
                                   "content": [{"type": "text", "text": text}],
                                   "usage": {"input_tokens": 3, "cache_read_input_tokens": 100,
                                             "cache_creation_input_tokens": 0, "output_tokens": 7}}}) + "\n"


def table_counts(db_path: Path) -> dict[str, int]:
    db = sqlite3.connect(db_path)
    try:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("sessions", "turns", "steps", "tools", "docs")}
    finally:
        db.close()


# -- what the index holds ------------------------------------------------------------------------


def test_index_stats_equal_the_engine_on_every_fixture(api: Agtrace, home: Path):
    api.refresh()
    found = discover(api.config)
    assert len(found) >= 12
    for f in found:
        path = f.src.path
        for s in load_file_source(f.src):
            st = api.get_session(s.session_id).stats
            assert (st.turns, st.steps, st.tool_calls, st.failed_tools) == \
                   (s.stats.turns, s.stats.steps, s.stats.tool_calls, s.stats.failed_tools), path
            assert (st.input, st.cache_read, st.cache_write, st.output) == \
                   (s.stats.input, s.stats.cache_read, s.stats.cache_write, s.stats.output), path


def test_sessions_are_listed_newest_activity_first(api: Agtrace):
    ended = [s.ended_at for s in api.list_sessions(limit=50).sessions]
    assert ended == sorted(ended, reverse=True)


def test_sessions_work_without_a_prior_index(api: Agtrace):
    assert api.list_sessions().total > 0


def test_search_hit_points_to_the_turn_that_holds_the_text(api: Agtrace):
    hits = api.search_history("signature").hits
    hit = next(h for h in hits if h.kind == "prompt")
    assert hit.session_id == MAIN_ID and hit.turn_index == 1 and hit.step_index is None
    turn = api.get_turn(MAIN_ID, hit.turn_index)
    assert "signature" in turn.user.text


def test_search_hit_in_a_tool_output_names_its_step_and_call(api: Agtrace):
    hit = next(h for h in api.search_history("FAILED test_total").hits if h.kind == "tool_output")
    turn = api.get_turn(hit.session_id, hit.turn_index)
    step = next(s for s in turn.steps if s.index == hit.step_index)
    assert hit.call_id in [t.call_id for t in step.tools]


# -- incremental ingest --------------------------------------------------------------------------


def test_unchanged_files_are_not_read_again(api: Agtrace):
    api.refresh()
    rep = api.refresh()
    assert rep.files_ingested == 0 and rep.bytes_read == 0


def test_appended_lines_are_read_from_where_the_last_read_stopped(api: Agtrace, home: Path):
    api.refresh()
    path = home / MAIN_REL
    before = path.stat().st_size
    added = prompt_line(MAIN_ID, "z01", "Now add a docstring") + answer_line(MAIN_ID, "z02", "msg_Z1", "Added.")
    with open(path, "a") as f:
        f.write(added)
    rep = api.refresh()
    assert rep.files_ingested == 1
    assert rep.bytes_read == len(added.encode())  # not the whole file
    detail = api.get_session(MAIN_ID)
    assert detail.turns_total == 3
    last = api.get_turn(MAIN_ID, -1)
    assert last.user.text == "Now add a docstring" and last.steps[0].message == "Added."
    assert path.stat().st_size == before + len(added.encode())


def test_appending_gives_the_same_index_as_reading_the_whole_file(home: Path, tmp_path: Path):
    path = home / MAIN_REL
    full = path.read_bytes()
    lines = full.splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:7]))
    piecewise = Agtrace(config_over(home, tmp_path / "a"))
    piecewise.refresh()
    for i in range(7, len(lines), 3):  # grow the file a few lines at a time, refreshing in between
        with open(path, "ab") as f:
            f.write(b"".join(lines[i:i + 3]))
        piecewise.refresh()
    whole = Agtrace(config_over(home, tmp_path / "b"))
    whole.refresh()
    for turn in range(2):
        a = piecewise.get_turn(MAIN_ID, turn).model_dump()
        b = whole.get_turn(MAIN_ID, turn).model_dump()
        assert a == b
    assert piecewise.get_session(MAIN_ID).stats == whole.get_session(MAIN_ID).stats


def cut_before_the_bash_result(home: Path) -> tuple[Path, bytes]:
    """Cut the main Claude session just before the result of its Bash call; returns the log and the cut-off rest."""
    path = home / MAIN_REL
    lines = path.read_bytes().splitlines(keepends=True)
    cut = next(i for i, ln in enumerate(lines) if b'"toolu_pytest"' in ln and b"tool_result" in ln)
    path.write_bytes(b"".join(lines[:cut]))
    return path, b"".join(lines[cut:])


def test_a_result_arriving_in_a_later_read_completes_its_call(api: Agtrace, home: Path):
    path, rest = cut_before_the_bash_result(home)
    api.refresh()
    bash = api.get_turn(MAIN_ID, 0).steps[0].tools[0]
    assert bash.status == "missing"
    with open(path, "ab") as f:
        f.write(rest)
    api.refresh()
    bash = api.get_turn(MAIN_ID, 0).steps[0].tools[0]
    assert bash.status == "error" and bash.error.exit_code == 1


def test_a_live_file_shows_a_waiting_call_as_in_progress(home: Path, tmp_path: Path):
    path, rest = cut_before_the_bash_result(home)
    api = Agtrace(config_over(home, tmp_path / "d", live_seconds=300))
    step = api.get_turn(MAIN_ID, 0).steps[0]
    assert step.tools[0].status == "in_progress" and step.status == "in_progress"


def test_a_step_shown_in_progress_is_done_once_its_result_arrives_in_a_later_read(home: Path, tmp_path: Path):
    path, rest = cut_before_the_bash_result(home)
    live = Agtrace(config_over(home, tmp_path / "live", live_seconds=300))
    assert live.get_turn(MAIN_ID, 0).steps[0].status == "in_progress"
    with open(path, "ab") as f:
        f.write(rest)
    whole = Agtrace(config_over(home, tmp_path / "whole", live_seconds=300))
    assert live.get_turn(MAIN_ID, 0).model_dump() == whole.get_turn(MAIN_ID, 0).model_dump()
    assert live.get_turn(MAIN_ID, 0).steps[0].status == "done"


def test_a_rewritten_file_is_read_again_without_duplicates(api: Agtrace, home: Path, tmp_path: Path):
    api.refresh()
    counts = table_counts(api.config.db_path)
    legacy = next(home.rglob("session-2025-12-01T10-00-1e9ac7a1.json"))
    doc = json.loads(legacy.read_text())
    doc["summary"] = "rewritten whole, as Gemini does on every update"
    legacy.write_text(json.dumps(doc, indent=2))
    os.utime(legacy, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    rep = api.refresh()
    assert rep.files_ingested == 1
    assert table_counts(api.config.db_path) == counts


def test_a_truncated_file_is_read_again_from_the_start(api: Agtrace, home: Path):
    api.refresh()
    path = home / MAIN_REL
    lines = path.read_bytes().splitlines(keepends=True)
    keep = next(i for i, ln in enumerate(lines) if b"Use a + b + c" in ln)
    path.write_bytes(b"".join(lines[:keep]))
    api.refresh()
    assert api.get_session(MAIN_ID).turns_total == 1
    assert api.get_session(MAIN_ID).stats.tool_calls == 2


def test_a_replaced_file_is_read_again(api: Agtrace, home: Path):
    api.refresh()
    path = home / MAIN_REL
    data = path.read_bytes() + prompt_line(MAIN_ID, "y01", "a third prompt").encode()
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # new inode
    api.refresh()
    assert api.get_session(MAIN_ID).turns_total == 3
    assert table_counts(api.config.db_path)["turns"] == sum(
        s.turns for s in api.list_sessions(include_subagents=True, limit=200).sessions)


def test_a_removed_file_keeps_its_sessions_marked_gone(api: Agtrace, home: Path):
    api.refresh()
    (home / MAIN_REL).unlink()
    api.refresh()
    s = next(s for s in api.list_sessions(limit=50).sessions if s.session_id == MAIN_ID)
    assert s.on_disk is False
    assert api.get_turn(MAIN_ID, 0).steps[0].tools[0].name == "Bash"


def test_torn_last_line_is_indexed_once_the_writer_finishes_it(api: Agtrace, home: Path):
    path = home / MAIN_REL
    line = prompt_line(MAIN_ID, "w01", "half written prompt")
    with open(path, "a") as f:
        f.write(line[:40])
    api.refresh()
    assert api.get_session(MAIN_ID).turns_total == 2
    with open(path, "a") as f:
        f.write(line[40:])
    api.refresh()
    assert api.get_turn(MAIN_ID, -1).user.text == "half written prompt"


def test_freshness_check_of_the_whole_history_is_throttled(home: Path, tmp_path: Path):
    api = Agtrace(config_over(home, tmp_path / "t", refresh_interval=3600))
    api.list_sessions()
    with open(home / MAIN_REL, "a") as f:
        f.write(prompt_line(MAIN_ID, "v01", "throttled"))
    def main_turns() -> int:
        return next(s.turns for s in api.list_sessions(limit=200).sessions if s.session_id == MAIN_ID)

    assert main_turns() == 2  # within the interval: not looked at again
    api.config.refresh_interval = 0
    assert main_turns() == 3


def test_a_session_named_by_id_always_sees_what_was_appended_to_its_log(home: Path, tmp_path: Path):
    api = Agtrace(config_over(home, tmp_path / "t", refresh_interval=3600))
    api.list_sessions()
    with open(home / MAIN_REL, "a") as f:
        f.write(prompt_line(MAIN_ID, "v01", "the step it just took"))
    assert api.get_turn(MAIN_ID, -1).user.text == "the step it just took"  # one stat, never throttled


# -- failures, corruption, concurrency -----------------------------------------------------------


def test_a_corrupt_index_is_rebuilt_with_a_message(home: Path, tmp_path: Path, capsys):
    data = tmp_path / "c"
    data.mkdir()
    (data / "index.sqlite3").write_bytes(b"this is not a database" * 100)
    api = Agtrace(config_over(home, data))
    assert api.list_sessions().total > 0
    assert "rebuilding" in capsys.readouterr().err
    assert list(data.glob("index.sqlite3.corrupt-*"))


def test_a_data_dir_that_cannot_be_created_is_a_clear_error(home: Path, tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    from agtrace_mcp.errors import IndexUnavailableError
    with pytest.raises(IndexUnavailableError, match="AGTRACE_MCP_DATA_DIR"):
        Store(config_over(home, blocker / "data"))


def test_schema_migrations_run_once(home: Path, tmp_path: Path):
    a = Store(config_over(home, tmp_path / "m"))
    a.close()
    db = sqlite3.connect(tmp_path / "m" / "index.sqlite3")
    names = [r[0] for r in db.execute("SELECT name FROM _migrations")]
    db.close()
    Store(config_over(home, tmp_path / "m")).close()
    db = sqlite3.connect(tmp_path / "m" / "index.sqlite3")
    assert [r[0] for r in db.execute("SELECT name FROM _migrations")] == names
    db.close()


_WORKER = """
import json, sys
from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
cfg = Config.load(env={"HOME": sys.argv[1]}, data_dir=sys.argv[2])
cfg.refresh_interval = 0
cfg.live_seconds = 0
api = Agtrace(cfg)
for _ in range(int(sys.argv[3])):
    api.refresh()
    s = api.list_sessions(include_subagents=True, limit=200)
    f = api.find_failed_tools(limit=200)
out = {x.session_id: [x.turns, x.tool_calls, x.failed_tools] for x in s.sessions}
print(json.dumps({"sessions": out, "failures": f.total}))
"""


def _big_session(path: Path, sid: str, turns: int, pad: int) -> None:
    with open(path, "w") as f:
        for i in range(turns):
            ts = f"2026-06-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}.000Z"
            f.write(prompt_line(sid, f"u{i}", f"prompt {i} " + "x" * pad, ts))
            f.write(answer_line(sid, f"a{i}", f"msg_{i}", f"answer {i} " + "y" * pad, ts))


def test_four_processes_indexing_and_querying_at_once_agree(home: Path, tmp_path: Path):
    big = home / ".claude/projects/-home-dev-webapp/77777777-7777-4777-8777-777777777777.jsonl"
    _big_session(big, "77777777-7777-4777-8777-777777777777", 3000, 400)
    data = tmp_path / "shared"
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(home), str(data), "3"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    results = [json.loads(out) for out, _ in outs]
    assert all(r == results[0] for r in results)
    assert results[0]["sessions"]["77777777-7777-4777-8777-777777777777"][0] == 3000
    counts = table_counts(data / "index.sqlite3")
    assert counts["turns"] == sum(v[0] for v in results[0]["sessions"].values())


def test_a_process_killed_mid_ingest_leaves_an_index_the_next_one_completes(home: Path, tmp_path: Path):
    big = home / ".claude/projects/-home-dev-webapp/88888888-8888-4888-8888-888888888888.jsonl"
    _big_session(big, "88888888-8888-4888-8888-888888888888", 40000, 300)
    data = tmp_path / "killed"
    p = subprocess.Popen([sys.executable, "-c", _WORKER, str(home), str(data), "1"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wal = data / "index.sqlite3-wal"
    deadline = time.time() + 60
    while time.time() < deadline and not (wal.exists() and wal.stat().st_size > 4_000_000):
        time.sleep(0.02)
    assert p.poll() is None, "the ingest finished before it could be killed; make the file bigger"
    p.kill()  # SIGKILL: no cleanup, an open write transaction
    p.wait()
    resumed = subprocess.run([sys.executable, "-c", _WORKER, str(home), str(data), "1"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    clean = subprocess.run([sys.executable, "-c", _WORKER, str(home), str(tmp_path / "clean"), "1"],
                           capture_output=True, text=True, timeout=300)
    assert json.loads(resumed.stdout) == json.loads(clean.stdout)
    assert table_counts(data / "index.sqlite3") == table_counts(tmp_path / "clean" / "index.sqlite3")


def test_every_spawned_subagent_in_the_index_points_back_to_its_parent(api: Agtrace):
    api.refresh()
    with api.store.read() as db:
        links = db.execute("SELECT t.session_id, t.child_id FROM tools t JOIN sessions c ON c.id = t.child_id"
                           " WHERE t.child_id IS NOT NULL").fetchall()
        assert len(links) >= 3  # Claude Agent/Task calls, Codex spawn_agent, Antigravity invoke_subagent
        for parent, child in links:
            got = db.execute("SELECT parent_id FROM sessions WHERE id = ?", (child,)).fetchone()[0]
            assert got == parent, (parent, child)


def _fts_consistent(api: Agtrace) -> None:
    # FTS5 checks its index against the text the rows hold (the `doc_text` view); a mismatch raises
    with api.store.read() as db:
        db.execute("INSERT INTO docs_fts(docs_fts, rank) VALUES ('integrity-check', 1)")


def test_search_index_matches_the_rows_after_appends_rewrites_and_purges(api: Agtrace, home: Path):
    path = home / MAIN_REL
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:6]))
    api.refresh()
    _fts_consistent(api)
    for i in range(6, len(lines), 2):  # provisional steps replaced as the file grows
        with open(path, "ab") as f:
            f.write(b"".join(lines[i:i + 2]))
        api.refresh()
        _fts_consistent(api)
    legacy = next(home.rglob("session-2025-12-01T10-00-1e9ac7a1.json"))  # a rewritten file is purged and re-read
    legacy.write_text(legacy.read_text() + "\n")
    os.utime(legacy, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    api.refresh()
    _fts_consistent(api)
    assert api.search_history("docstring OR signature").hits is not None


def test_a_broken_search_index_is_detected_by_the_consistency_check(api: Agtrace):
    api.refresh()
    db = sqlite3.connect(api.config.db_path)  # the check above must be able to fail
    try:
        doc = db.execute("SELECT id FROM docs WHERE kind = 0 LIMIT 1").fetchone()[0]  # a prompt
        db.execute("UPDATE turns SET text = 'something else entirely' WHERE (session_id, idx) ="
                   " (SELECT s.id, d.turn_idx FROM docs d JOIN sessions s ON s.rowid = d.skey WHERE d.id = ?)", (doc,))
        db.commit()
        with pytest.raises(sqlite3.DatabaseError):
            db.execute("INSERT INTO docs_fts(docs_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        db.close()


def test_a_new_index_uses_16k_pages_in_wal_mode(tmp_path: Path):
    from agtrace_mcp.store.db import PAGE_SIZE, open_db

    db = open_db(tmp_path / "index.sqlite3")
    assert db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 16_384
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_existing_index_keeps_its_page_size(tmp_path: Path):
    from agtrace_mcp.store.db import open_db

    path = tmp_path / "index.sqlite3"
    old = sqlite3.connect(path)
    old.execute("PRAGMA page_size = 4096")
    old.execute("CREATE TABLE t (x)")
    old.close()
    db = open_db(path)  # migrations run on it; its pages stay as they were
    assert db.execute("PRAGMA page_size").fetchone()[0] == 4096
    assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0


# -- a log read ahead of a background run keeps search newest-first ---------------------------------------------


def _age_all_but(home: Path, keep: Path) -> None:
    month_ago = time.time() - 30 * 86400
    for p in home.rglob("*"):  # folders too: some agents' freshness stamps include their folders' times
        if p != keep:
            os.utime(p, (month_ago, month_ago))
    os.utime(keep, None)  # written just now


def test_docs_of_a_log_read_out_of_order_move_above_the_older_history(home: Path, tmp_path: Path):
    from indexcheck import index_rows

    from agtrace_mcp.store import ingest

    recent = home / MAIN_REL
    _age_all_but(home, recent)
    plain = Agtrace(config_over(home, tmp_path / "plain"))
    plain.refresh()
    moved = Agtrace(config_over(home, tmp_path / "moved"))
    assert moved.secret_findings().total == plain.secret_findings().total > 0  # scanned before the move...
    with moved.store.read() as db:
        ingest.renumber_docs(db, [str(recent)], True)  # ...as a background run does for a log read by id
        newest = db.execute("SELECT s.id FROM docs d JOIN sessions s ON s.rowid = d.skey ORDER BY d.id DESC"
                            " LIMIT 1").fetchone()[0]
    assert newest == MAIN_ID
    assert index_rows(tmp_path / "moved") == index_rows(tmp_path / "plain")  # nothing lost or doubled
    _fts_consistent(moved)
    assert moved.search_history("the").hits[0].session_id == MAIN_ID
    assert moved.secret_findings().total == plain.secret_findings().total  # found again with the new ids
