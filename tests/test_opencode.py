"""OpenCode → the session model: one rule per test, on fixtures/home/.local/share/opencode.

There is no real OpenCode sample; the fixtures follow upstream's schema (session.sql.ts, message-v2.ts).

Fixture (fixtures/home/.local/share/opencode/storage, the JSON layout of ≤ 1.3):
- session ses_…7T "Fix the login redirect" (/home/dev/webapp, version 1.3.10):
  msg 01 user: the prompt + a synthetic reminder part;
  msg 02 assistant, two model calls (step-start … step-finish): reasoning + bash (completed, metadata.exit 1) |
         read (status error) + task (completed, metadata.sessionId = the child) + text; then a patch part.
         Its message `tokens` repeat the last call's (must not be counted again);
  msg 03 user "Now run the database migration"; msg 04 assistant aborted (MessageAbortedError), bash `running`;
  msg 05 user with a `compaction` part (auto); msg 06 the `summary` assistant message;
  msg 07 user made only of the synthetic "Continue…" nudge; msg 08 assistant without step parts (tokens on
         the message only, an older build);
  msg 09 user "Open a pull request for it"; msg 10 assistant with an APIError.
- session ses_…8U: the task's child (parentID, agent "explore"), two calls, a grep.
- session ses_…9Y: no messages (skipped).

The SQLite layout (≥ 1.4) is built in each test from the same storage, the way upstream's json-migration.ts
copies it (part rows stamped with the migration time), next to tables holding secrets that must never be read.
"""

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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from indexcheck import api_over

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.engine.builder import SessionBuilder
from agtrace_mcp.engine.memory import MemorySink
from agtrace_mcp.load import load_file, load_session
from agtrace_mcp.providers import ParseStats, detect_provider
from agtrace_mcp.providers import opencode as oc
from agtrace_mcp.providers.opencode import OpenCodeProvider
from agtrace_mcp.store.db import open_db
from agtrace_mcp.store.sink import StoreSink

DATA = Path(__file__).resolve().parent.parent / "fixtures" / "home" / ".local" / "share" / "opencode"
STORAGE = DATA / "storage"
PID = "4b0ea68d7af9a6031a7ffda7ad66e0cb83315750"
MAIN = "ses_5f0c1a2b3ffe1Vn8Qe0mZrKd7T"
CHILD = "ses_5f1d1a2b4ffe2Kx9Wq1nYsLe8U"
EMPTY = "ses_5f2e1a2b5ffe3Pq0Rs2tUvWx9Y"
MAIN_JSON = STORAGE / "session" / PID / f"{MAIN}.json"
CHILD_JSON = STORAGE / "session" / PID / f"{CHILD}.json"

# The tables of upstream's Drizzle schema that matter here, plus three that hold secrets.
SCHEMA = """
CREATE TABLE project (id TEXT PRIMARY KEY, worktree TEXT NOT NULL, vcs TEXT, name TEXT,
    time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, time_initialized INTEGER, sandboxes TEXT);
CREATE TABLE session (id TEXT PRIMARY KEY, project_id TEXT NOT NULL REFERENCES project(id), workspace_id TEXT,
    parent_id TEXT, slug TEXT NOT NULL, directory TEXT NOT NULL, path TEXT, title TEXT NOT NULL, version TEXT NOT NULL,
    share_url TEXT, summary_additions INTEGER, summary_deletions INTEGER, summary_files INTEGER, summary_diffs TEXT,
    cost REAL NOT NULL DEFAULT 0, tokens_input INTEGER NOT NULL DEFAULT 0, tokens_output INTEGER NOT NULL DEFAULT 0,
    tokens_reasoning INTEGER NOT NULL DEFAULT 0, tokens_cache_read INTEGER NOT NULL DEFAULT 0,
    tokens_cache_write INTEGER NOT NULL DEFAULT 0, revert TEXT, permission TEXT, agent TEXT, model TEXT,
    time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, time_compacting INTEGER, time_archived INTEGER);
CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL REFERENCES session(id),
    time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE part (id TEXT PRIMARY KEY, message_id TEXT NOT NULL REFERENCES message(id), session_id TEXT NOT NULL,
    time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX message_session_time_created_id_idx ON message (session_id, time_created, id);
CREATE INDEX part_message_id_id_idx ON part (message_id, id);
CREATE INDEX part_session_idx ON part (session_id);
CREATE TABLE account (id TEXT PRIMARY KEY, email TEXT, access_token TEXT, refresh_token TEXT);
CREATE TABLE control_account (id TEXT PRIMARY KEY, token TEXT);
CREATE TABLE credential (id TEXT PRIMARY KEY, provider TEXT, secret TEXT);
CREATE TABLE session_share (session_id TEXT PRIMARY KEY, id TEXT, secret TEXT, url TEXT);
INSERT INTO account VALUES ('acc_1', 'dev@example.invalid', 'sk-live-NEVER-READ', 'rt-NEVER-READ');
INSERT INTO control_account VALUES ('ca_1', 'NEVER-READ');
INSERT INTO credential VALUES ('cred_1', 'anthropic', 'sk-ant-NEVER-READ');
"""


def build_db(db: Path, storage: Path = STORAGE, *, wal: bool = False) -> Path:
    """opencode.db from a JSON storage dir, as upstream's json-migration.ts fills it."""
    db.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db)
    try:
        if wal:
            con.execute("PRAGMA journal_mode = WAL")
        con.executescript(SCHEMA)
        now = int(time.time() * 1000)  # upstream stamps rows that lack a time with the migration time
        load = lambda f: json.loads(f.read_text())
        for f in sorted((storage / "project").glob("*.json")):
            p = load(f)
            con.execute("INSERT INTO project (id, worktree, vcs, time_created, time_updated) VALUES (?,?,?,?,?)",
                        (f.stem, p["worktree"], p.get("vcs"), p["time"]["created"], p["time"]["updated"]))
        for f in sorted((storage / "session").glob("*/*.json")):
            s = load(f)
            con.execute("INSERT INTO session (id, project_id, parent_id, slug, directory, title, version, time_created,"
                        " time_updated) VALUES (?,?,?,?,?,?,?,?,?)",
                        (f.stem, f.parent.name, s.get("parentID"), s.get("slug", ""), s.get("directory", ""),
                         s.get("title", ""), s.get("version", ""), s["time"]["created"], s["time"]["updated"]))
            con.execute("INSERT INTO session_share VALUES (?, 'shr_1', 'share-secret-NEVER-READ', 'https://x.invalid')",
                        (f.stem,))
        for f in sorted((storage / "message").glob("*/*.json")):
            m = load(f)
            created = m["time"]["created"]
            for k in ("id", "sessionID"):
                m.pop(k, None)
            con.execute("INSERT INTO message VALUES (?,?,?,?,?)",
                        (f.stem, f.parent.name, created, created, json.dumps(m)))
        for f in sorted((storage / "part").glob("*/*.json")):
            p = load(f)
            sid = p.pop("sessionID")
            for k in ("id", "messageID"):
                p.pop(k, None)
            stamp = (p.get("time") or {}).get("created", now)
            con.execute("INSERT INTO part VALUES (?,?,?,?,?,?)", (f.stem, f.parent.name, sid, stamp, stamp, json.dumps(p)))
        con.commit()
    finally:
        con.close()
    return db


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "opencode" / "opencode.db")


def tools_of(session):
    return [t for turn in session.turns for step in turn.steps for t in step.tools]


def tool(session, call_id: str):
    return next(t for t in tools_of(session) if t.call_id == call_id)


def by_id(sessions, sid: str):
    return next(s for s in sessions if s.session_id == sid)


# -- discovery ------------------------------------------------------------------------------------------


def test_discovery_finds_one_file_per_json_session_when_there_is_no_db():
    found = list(OpenCodeProvider().discover([DATA]))
    assert {Path(f.path).name for f in found} == {f"{MAIN}.json", f"{CHILD}.json", f"{EMPTY}.json"}
    assert {f.kind for f in found} == {"session_json"}


def test_discovery_prefers_the_db_and_skips_the_storage_it_was_migrated_from(tmp_path: Path):
    root = tmp_path / "opencode"
    shutil.copytree(STORAGE, root / "storage")
    build_db(root / "opencode.db")
    build_db(root / "opencode-dev.db")  # another release channel's DB
    (root / "opencode.db-wal").write_bytes(b"")
    found = list(OpenCodeProvider().discover([root]))
    assert [(Path(f.path).name, f.kind) for f in found] == [("opencode-dev.db", "db"), ("opencode.db", "db")]


def test_xdg_data_home_and_the_override_move_the_root(tmp_path: Path):
    p = OpenCodeProvider()
    assert p.default_roots(tmp_path, {}) == [tmp_path / ".local" / "share" / "opencode"]
    assert p.default_roots(tmp_path, {"XDG_DATA_HOME": "/x/data"}) == [Path("/x/data/opencode")]
    assert p.default_roots(tmp_path, {"XDG_DATA_HOME": "/x/data", "AGTRACE_MCP_OPENCODE_DIR": "/y/oc"}) == [Path("/y/oc")]


def test_describe_and_detect_provider_work_on_a_bare_path(db: Path):
    p = OpenCodeProvider()
    assert p.describe(str(db)).kind == "db"
    assert p.describe(str(MAIN_JSON)).kind == "session_json"
    assert detect_provider(str(db)) == "opencode"
    assert detect_provider(str(MAIN_JSON)) == "opencode"


# -- the SQLite store ---------------------------------------------------------------------------------------


def test_one_db_file_holds_every_session(db: Path):
    sessions = load_file(db)
    assert {s.session_id for s in sessions} == {MAIN, CHILD}  # the empty session is skipped
    assert load_session(db).session_id == MAIN  # the first top-level session


def test_db_and_json_layouts_give_the_same_sessions(db: Path):
    from_db = {s.session_id: s.model_dump(exclude={"source_files"}) for s in load_file(db)}
    from_json = {s.session_id: s.model_dump(exclude={"source_files"}) for p in (MAIN_JSON, CHILD_JSON)
                 for s in load_file(p)}
    assert from_db == from_json


def test_db_is_opened_read_only_and_only_session_message_part_are_read(db: Path, monkeypatch):
    read: set[str] = set()
    real_connect = sqlite3.connect

    def spy(*args, **kwargs):
        con = real_connect(*args, **kwargs)
        assert "mode=ro" in str(args[0]) and kwargs.get("uri")

        def authorizer(action, arg1, arg2, dbname, source):
            if action == sqlite3.SQLITE_READ:
                read.add(arg1)
            elif action not in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_FUNCTION):
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
        con.set_authorizer(authorizer)
        return con

    monkeypatch.setattr(oc.sqlite3, "connect", spy)
    stats = ParseStats()
    assert len(load_file(db, stats=stats)) == 2
    assert read <= {"session", "message", "part", "sqlite_master"}
    assert {"session", "message", "part"} <= read
    assert stats.bad_lines == 0


def test_rows_still_in_the_wal_are_read(tmp_path: Path):
    path = build_db(tmp_path / "oc" / "opencode.db", wal=True)
    writer = sqlite3.connect(path)
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("UPDATE session SET title = 'Renamed while running' WHERE id = ?", (MAIN,))
        writer.commit()
        assert (tmp_path / "oc" / "opencode.db-wal").stat().st_size > 0
        assert load_session(path).title == "Renamed while running"
    finally:
        writer.close()


def test_an_unrelated_sqlite_file_is_reported_not_raised(tmp_path: Path):
    path = tmp_path / "opencode.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x)")
    con.close()
    stats = ParseStats()
    assert load_file(path, provider="opencode", stats=stats) == []
    assert stats.bad_lines == 1 and "not an OpenCode database" in stats.bad_samples[0][1]


def test_undecodable_rows_are_counted_and_the_rest_is_read(db: Path):
    con = sqlite3.connect(db)
    con.execute("UPDATE part SET data = '{broken' WHERE id = 'prt_a0000000002h'")  # the text of the first answer
    con.commit()
    con.close()
    stats = ParseStats()
    s = by_id(load_file(db, stats=stats), MAIN)
    assert stats.bad_lines == 1
    assert s.stats.tool_calls == 4


def test_full_tool_output_is_read_from_one_part_row(db: Path, tmp_path: Path, monkeypatch):
    api = Agtrace(Config.load(env={"HOME": str(tmp_path), "AGTRACE_MCP_OPENCODE_DIR": str(db.parent)},
                              data_dir=tmp_path / "index"))
    offsets: list[int] = []
    real = OpenCodeProvider.read_output

    def recording(self, src, offset, call_id):
        offsets.append(offset)
        return real(self, src, offset, call_id)
    monkeypatch.setattr(OpenCodeProvider, "read_output", recording)
    out = api.get_tool_output(MAIN, "toolu_task01")
    assert "The redirect URL is built in src/auth/redirect.ts line 14." in out.text and out.source == "log"
    assert offsets and offsets[0] >= 0  # the part's rowid, not a re-read of the whole DB
    assert real(OpenCodeProvider(), OpenCodeProvider().describe(str(db)), offsets[0], "another-call") is None


# -- the session model ---------------------------------------------------------------------------------------


def test_session_fields_come_from_the_session_record():
    s = load_session(MAIN_JSON)
    assert (s.session_id, s.provider, s.project_root, s.cli_version) == (MAIN, "opencode", "/home/dev/webapp", "1.3.10")
    assert s.title == "Fix the login redirect"
    assert s.started_at.isoformat() == "2026-04-25T06:53:20+00:00"
    assert s.models == ["claude-sonnet-4-5"]


def test_placeholder_title_falls_back_to_the_first_prompt(tmp_path: Path):
    storage = tmp_path / "storage"
    shutil.copytree(STORAGE, storage)
    path = storage / "session" / PID / f"{MAIN}.json"
    doc = json.loads(path.read_text())
    doc["title"] = "New session - 2026-04-25T06:53:20.000Z"
    path.write_text(json.dumps(doc))
    assert load_session(path).title.startswith("Fix the login redirect: after signing in")


def test_turns_are_user_messages_with_text_the_user_wrote():
    s = load_session(MAIN_JSON)
    assert [(t.user.origin, t.user.text[:30]) for t in s.turns] == [
        ("user", "Fix the login redirect: after "),
        ("user", "Now run the database migration"),
        ("compaction", "Summary: the login redirect re"),
        ("user", "Open a pull request for it"),
    ]
    assert "system-reminder" not in s.turns[0].user.text  # the synthetic part is not the user's


def test_synthetic_continue_message_is_not_a_turn():
    s = load_session(MAIN_JSON)
    assert all("Continue if you have next steps" not in t.user.text for t in s.turns)
    assert [m.message for m in s.turns[2].steps][1] == "Nothing else is pending; the fix is in place."


def test_each_step_start_finish_span_is_a_step():
    turn = load_session(MAIN_JSON).turns[0]
    assert len(turn.steps) == 2
    first, second = turn.steps
    assert first.reasoning == "Run the tests to see the failing redirect." and first.message is None
    assert [t.name for t in first.tools] == ["bash"]
    assert [t.name for t in second.tools] == ["read", "task"]
    assert second.message.startswith("The redirect URL is built in src/auth/redirect.ts")


def test_tokens_come_from_each_step_finish_and_not_again_from_the_message():
    s = load_session(MAIN_JSON)
    u0, u1 = (st.usage for st in s.turns[0].steps)
    assert (u0.input, u0.cache_read, u0.cache_write, u0.output, u0.reasoning) == (1200, 5000, 300, 110, 30)
    assert (u1.input, u1.cache_read, u1.cache_write, u1.output) == (1500, 6000, 0, 60)
    assert (s.stats.input, s.stats.cache_read, s.stats.cache_write, s.stats.output, s.stats.reasoning) == \
           (12000, 20000, 300, 390, 30)


def test_message_tokens_count_when_the_message_has_no_step_finish():
    step = load_session(MAIN_JSON).turns[2].steps[1]
    assert (step.usage.input, step.usage.cache_read, step.usage.output) == (300, 9000, 20)


def test_reasoning_is_added_to_output_unless_the_total_shows_it_is_inside():
    separate = {"input": 10, "output": 5, "reasoning": 3, "cache": {"read": 100, "write": 0}}
    assert oc._usage(separate) == (10, 100, 0, 8, 3)
    assert oc._usage({**separate, "total": 10 + 100 + 5 + 3}) == (10, 100, 0, 8, 3)
    assert oc._usage({**separate, "total": 10 + 100 + 5}) == (10, 100, 0, 5, 3)
    assert oc._usage({"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}}) is None


def test_bash_exit_code_in_metadata_is_a_failure_even_when_completed():
    t = tool(load_session(MAIN_JSON), "toolu_bash01")
    assert (t.status, t.error.kind, t.error.exit_code) == ("error", "exit_code", 1)
    assert t.duration_ms == 6000


def test_tool_status_error_is_a_tool_error():
    t = tool(load_session(MAIN_JSON), "toolu_read01")
    assert (t.status, t.error.kind) == ("error", "tool_error")
    assert "File not found" in t.error.message


def test_aborted_message_interrupts_the_turn_and_its_running_tool():
    s = load_session(MAIN_JSON)
    assert [t.interrupted for t in s.turns] == [False, True, False, False]
    t = tool(s, "toolu_bash02")
    assert (t.status, t.error.kind) == ("error", "interrupted")


def test_api_error_is_a_failed_step():
    step = load_session(MAIN_JSON).turns[3].steps[0]
    assert step.status == "failed"
    assert step.message == "APIError: Overloaded"


def test_compaction_part_records_the_compaction_with_the_context_before_it():
    s = load_session(MAIN_JSON)
    (c,) = s.compactions
    assert (c.turn_index, c.trigger, c.pre_tokens) == (2, "auto", 1500 + 6000)
    assert s.turns[2].steps[0].message.startswith("Summary:")


def test_task_tool_links_the_child_session():
    t = tool(load_session(MAIN_JSON), "toolu_task01")
    assert (t.status, t.kind, t.child_session_id) == ("ok", "plan", CHILD)


def test_child_session_has_its_parent_and_agent_name():
    s = load_session(CHILD_JSON)
    assert (s.parent_session_id, s.agent_name) == (MAIN, "explore")
    assert [t.name for t in tools_of(s)] == ["grep"]
    assert s.stats.steps == 2


def test_session_without_messages_is_skipped():
    stats = ParseStats()
    assert load_file(STORAGE / "session" / PID / f"{EMPTY}.json", stats=stats) == []
    assert stats.skipped["session_without_messages"] == 1


def test_a_broken_part_file_is_counted_and_the_rest_is_read(tmp_path: Path):
    storage = tmp_path / "storage"
    shutil.copytree(STORAGE, storage)
    (storage / "part" / "msg_a0000000002" / "prt_a0000000002b.json").write_text('{"id": "prt_a0000000002b", "ty')
    stats = ParseStats()
    s = load_session(storage / "session" / PID / f"{MAIN}.json")
    load_file(storage / "session" / PID / f"{MAIN}.json", stats=stats)
    assert stats.bad_lines == 1
    assert s.turns[0].steps[0].reasoning is None and s.stats.tool_calls == 4


def test_every_tool_has_a_status_and_every_step_a_known_status(db: Path):
    for s in load_file(db):
        for turn in s.turns:
            for step in turn.steps:
                assert step.status in ("done", "failed", "in_progress")
                assert all(t.status in ("ok", "error", "missing", "in_progress") for t in step.tools)


# -- through the index and the CLI ----------------------------------------------------------------------------


def test_index_lists_db_sessions_and_finds_their_failures(db: Path, tmp_path: Path):
    api = Agtrace(Config.load(env={"HOME": str(tmp_path), "AGTRACE_MCP_OPENCODE_DIR": str(db.parent)},
                              data_dir=tmp_path / "index"))
    listed = api.list_sessions(provider="opencode", include_subagents=True)
    assert {s.session_id for s in listed.sessions} == {MAIN, CHILD}
    failed = api.find_failed_tools(provider="opencode")
    assert sorted((f.tool, f.error_kind) for f in failed.failures) == \
           [("bash", "exit_code"), ("bash", "interrupted"), ("read", "tool_error")]


def test_index_reads_the_fixture_home_json_sessions(tmp_path: Path, fixtures_home: Path):
    home = tmp_path / "home"
    shutil.copytree(fixtures_home / ".local", home / ".local")
    api = Agtrace(Config.load(env={"HOME": str(home)}, data_dir=tmp_path / "index"))
    s = api.get_session(MAIN)
    assert (s.stats.turns, s.stats.steps, s.stats.tool_calls, s.stats.failed_tools) == (4, 6, 4, 3)


def test_show_json_on_the_db_prints_every_session_in_the_model_shape(db: Path, tmp_path: Path):
    out = subprocess.run([sys.executable, "-m", "agtrace_mcp", "show", str(db), "--json", "--all"],
                         capture_output=True, text=True, timeout=120,
                         env={"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")})
    assert out.returncode == 0, out.stderr
    docs = json.loads(out.stdout)
    assert [d["session_id"] for d in docs] == [MAIN, CHILD]
    main = docs[0]
    assert set(main) >= {"session_id", "provider", "project_root", "title", "turns", "stats", "compactions"}
    assert main["stats"]["turns"] == 4 and main["turns"][0]["steps"][0]["tools"][0]["error"]["exit_code"] == 1


# -- hostile input ----------------------------------------------------------------------------------------------

_KEYS = ["role", "type", "text", "synthetic", "ignored", "time", "created", "completed", "start", "end", "error",
         "name", "data", "message", "tokens", "input", "output", "reasoning", "cache", "read", "write", "total",
         "callID", "tool", "state", "status", "metadata", "exit", "sessionId", "auto", "summary", "parentID",
         "modelID", "agent", "path", "cwd", "prompt", "filename"]
_VALUES = ["user", "assistant", "text", "reasoning", "tool", "step-start", "step-finish", "compaction", "subtask",
           "patch", "completed", "error", "running", "pending", "MessageAbortedError", "APIError", "task", "bash"]
_scalars = (st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**64)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20) | st.sampled_from(_VALUES))
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=6), inner, max_size=5), max_leaves=20)
_objects = st.dictionaries(st.sampled_from(_KEYS), _json, max_size=7)
_messages = st.lists(st.tuples(_objects, st.lists(_objects, max_size=4)), min_size=1, max_size=5)


def _parse_everything(path: Path, tmp: Path) -> None:
    prov = OpenCodeProvider()
    src = prov.describe(str(path))
    b = SessionBuilder(MemorySink())
    prov.parse(src, 0, None, b.feed, ParseStats())
    b.finish()
    b.sink.to_models()  # type: ignore[attr-defined]
    db = open_db(tmp / "index.sqlite3")
    try:
        db.execute("BEGIN")
        sink = StoreSink(db, 1, fresh=False)
        b2 = SessionBuilder(sink)
        prov.parse(src, 0, None, b2.feed, ParseStats())
        b2.flush(live=True)
        sink.finalize()
        db.execute("ROLLBACK")
    finally:
        db.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=_messages, raw=st.binary(max_size=40))
def test_random_messages_and_parts_never_crash_either_layout(messages, raw, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oc")
    sid = "ses_fuzz"
    # the JSON layout
    storage = tmp / "storage"
    session = storage / "session" / "p" / f"{sid}.json"
    session.parent.mkdir(parents=True)
    session.write_text(json.dumps({"id": sid, "directory": "/w", "title": "t", "version": "1",
                                   "time": {"created": 1, "updated": 2}}))
    # the DB layout, rows written as they come (data need not even be JSON)
    con = sqlite3.connect(tmp / "opencode.db")
    con.executescript(SCHEMA)
    con.execute("INSERT INTO project (id, worktree, time_created, time_updated) VALUES ('p', '/w', 1, 1)")
    con.execute("INSERT INTO session (id, project_id, slug, directory, title, version, time_created, time_updated)"
                " VALUES (?, 'p', 's', '/w', 't', '1', 1, 2)", (sid,))
    for i, (msg, parts) in enumerate(messages):
        mid = f"msg_{i:04d}"
        (storage / "message" / sid).mkdir(parents=True, exist_ok=True)
        (storage / "message" / sid / f"{mid}.json").write_text(json.dumps(msg))
        con.execute("INSERT INTO message VALUES (?,?,?,?,?)", (mid, sid, i, i, json.dumps(msg)))
        for j, part in enumerate(parts):
            (storage / "part" / mid).mkdir(parents=True, exist_ok=True)
            (storage / "part" / mid / f"prt_{i:04d}{j}.json").write_text(json.dumps(part))
            con.execute("INSERT INTO part VALUES (?,?,?,?,?,?)", (f"prt_{i:04d}{j}", mid, sid, i, i, json.dumps(part)))
    (storage / "part" / "msg_0000").mkdir(parents=True, exist_ok=True)
    (storage / "part" / "msg_0000" / "prt_zzzz.json").write_bytes(raw)
    con.execute("INSERT INTO part VALUES ('prt_zzzz', 'msg_0000', ?, 0, 0, ?)", (sid, raw))
    con.commit()
    con.close()
    _parse_everything(session, tmp)
    _parse_everything(tmp / "opencode.db", tmp)


def test_the_index_sees_a_write_still_in_the_wal(tmp_path: Path):
    path = build_db(tmp_path / "oc" / "opencode.db", wal=True)
    cfg = Config.load(env={"HOME": str(tmp_path), "AGTRACE_MCP_OPENCODE_DIR": str(path.parent)},
                      data_dir=tmp_path / "index")
    cfg.refresh_interval = 0
    api = Agtrace(cfg)
    assert api.get_session(MAIN).session.title != "Renamed while running"
    writer = sqlite3.connect(path)
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")  # the .db file itself does not change
        before = path.stat().st_mtime_ns, path.stat().st_size
        writer.execute("UPDATE session SET title = 'Renamed while running' WHERE id = ?", (MAIN,))
        writer.commit()
        assert (path.stat().st_mtime_ns, path.stat().st_size) == before
        assert api.get_session(MAIN).session.title == "Renamed while running"
    finally:
        writer.close()


# -- partial re-reads of the DB -------------------------------------------------------------------------------

LONG_AGO = 1777100000000  # 2026-04-25: no row of the session was written in the last hour


def aged_db(tmp_path: Path) -> Path:
    """The fixture DB with every row written long ago (build_db stamps parts that lack a time with now)."""
    path = build_db(tmp_path / "oc" / "opencode.db")
    con = sqlite3.connect(path)
    con.execute("UPDATE part SET time_created = ?, time_updated = ?", (LONG_AGO, LONG_AGO))
    con.commit()
    con.close()
    return path


def db_api(path: Path, tmp_path: Path) -> Agtrace:
    """An API over the OpenCode DB at `path` (just written: live), checking it on every call."""
    return api_over(tmp_path, tmp_path / "index", live=True, env={"AGTRACE_MCP_OPENCODE_DIR": str(path.parent)})


@pytest.fixture
def emitted(monkeypatch) -> list[str]:
    """The sessions the provider reads and emits, in order."""
    seen: list[str] = []
    real = oc.emit_session

    def spy(sess, *args, **kwargs):
        seen.append(sess["id"])
        return real(sess, *args, **kwargs)

    monkeypatch.setattr(oc, "emit_session", spy)
    return seen


def add_prompt(path: Path, sid: str, text: str, at: int) -> None:
    con = sqlite3.connect(path)
    mid, pid = f"msg_z{at}", f"prt_z{at}"
    con.execute("INSERT INTO message VALUES (?,?,?,?,?)",
                (mid, sid, at, at, json.dumps({"role": "user", "time": {"created": at}, "agent": "explore"})))
    con.execute("INSERT INTO part VALUES (?,?,?,?,?,?)",
                (pid, mid, sid, at, at, json.dumps({"type": "text", "text": text})))
    con.commit()
    con.close()


def test_a_db_change_reads_again_only_the_session_that_changed(tmp_path: Path, emitted: list[str]):
    path = aged_db(tmp_path)
    api = db_api(path, tmp_path)
    main_before = api.get_session(MAIN).model_dump(exclude={"subagents"})  # CHILD is one of them
    assert set(emitted) == {MAIN, CHILD, EMPTY}
    child_turns = api.get_session(CHILD).stats.turns
    emitted.clear()
    add_prompt(path, CHILD, "Also check the logout redirect", LONG_AGO + 50_000)
    assert api.get_session(CHILD).stats.turns == child_turns + 1
    assert emitted == [CHILD]
    assert api.get_session(MAIN).model_dump(exclude={"subagents"}) == main_before
    assert api.search_history("logout").hits[0].session_id == CHILD
    assert api.search_history("undefined").hits  # MAIN's search docs are untouched


def test_a_partial_re_read_counts_the_same_records_as_a_full_one(tmp_path: Path):
    path = aged_db(tmp_path)
    api = db_api(path, tmp_path)
    api.list_sessions()
    add_prompt(path, CHILD, "Also check the logout redirect", LONG_AGO + 50_000)
    api.list_sessions()
    fresh = db_api(path, tmp_path / "fresh")

    def health(a: Agtrace) -> tuple[int, int, int, int]:
        (h,) = [p for p in a.doctor().providers if p.provider == "opencode"]
        return h.lines, h.records, h.bad_lines, h.sessions

    assert health(api) == health(fresh)


def test_a_session_renamed_is_read_again(tmp_path: Path, emitted: list[str]):
    path = aged_db(tmp_path)
    api = db_api(path, tmp_path)
    api.list_sessions()
    emitted.clear()
    con = sqlite3.connect(path)
    con.execute("UPDATE session SET title = 'OAuth callback' WHERE id = ?", (CHILD,))  # time_updated unchanged
    con.commit()
    con.close()
    assert api.get_session(CHILD).session.title == "OAuth callback"
    assert emitted == [CHILD]


def test_a_live_session_is_read_again_even_when_its_row_counts_and_times_did_not_move(tmp_path: Path,
                                                                                    emitted: list[str]):
    path = build_db(tmp_path / "oc" / "opencode.db")  # parts stamped now: both sessions are live
    api = db_api(path, tmp_path)
    api.list_sessions()
    emitted.clear()
    con = sqlite3.connect(path)
    con.execute("UPDATE part SET data = json_set(data, '$.text', 'Find where the callback URL is built')"
                " WHERE id = 'prt_b0000000001a'")  # rewritten in place, time_updated untouched
    con.commit()
    con.close()
    assert api.get_turn(CHILD, 0).user.text == "Find where the callback URL is built"
    assert CHILD in emitted


def test_a_session_deleted_from_the_db_keeps_its_history_marked_off_disk(tmp_path: Path):
    path = aged_db(tmp_path)
    api = db_api(path, tmp_path)
    assert api.get_session(CHILD).session.on_disk
    con = sqlite3.connect(path)
    for table, col in (("part", "session_id"), ("message", "session_id"), ("session", "id")):
        con.execute(f"DELETE FROM {table} WHERE {col} = ?", (CHILD,))
    con.commit()
    con.close()
    child = api.get_session(CHILD)
    assert not child.session.on_disk
    assert child.stats.turns >= 1
    assert api.get_session(MAIN).session.on_disk
