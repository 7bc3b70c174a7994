"""Hostile and broken input never crashes anything or loses data.

Property-based: random, truncated, deeply nested, huge-line and wrongly typed records are fed to every
provider (through the engine and through the index); a matrix of bad tool arguments is answered by clear
tool errors; faults (files vanishing, shrinking or being replaced mid-read, a full or read-only data dir, a
damaged index, a client that goes away mid-call) are survived and the next call works.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from indexcheck import api_over, fill_the_disk, index_rows
from mcp import Client

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.engine.builder import SessionBuilder
from agtrace_mcp.engine.memory import MemorySink
from agtrace_mcp.providers import REGISTRY, ParseStats
from agtrace_mcp.server import build_server
from agtrace_mcp.store.db import open_db
from agtrace_mcp.store.sink import StoreSink

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "home"
MAIN_ID = "11111111-1111-4111-8111-111111111111"
MAIN_REL = ".claude/projects/-home-dev-webapp/11111111-1111-4111-8111-111111111111.jsonl"

# keys and type values the providers look at, so random records reach deep into the parsers
KEYS = ["type", "message", "content", "role", "id", "model", "usage", "input_tokens", "output_tokens", "text",
        "thinking", "tool_use_id", "is_error", "name", "input", "sessionId", "uuid", "parentUuid", "isSidechain",
        "isMeta", "isCompactSummary", "timestamp", "cwd", "toolUseResult", "agentId", "subtype", "payload",
        "call_id", "arguments", "output", "info", "last_token_usage", "total_token_usage", "turn_id", "source",
        "toolCalls", "status", "result", "tokens", "thoughts", "$set", "$rewindTo", "messages", "step_index",
        "tool_calls", "args", "data", "toolCallId", "success", "toolRequests", "error", "parts", "state"]
TYPES = ["user", "assistant", "system", "progress", "summary", "session_meta", "response_item", "event_msg",
         "turn_context", "compacted", "message", "function_call", "function_call_output", "custom_tool_call",
         "token_count", "user_message", "turn_aborted", "gemini", "info", "error", "tool_result", "tool_use",
         "USER_INPUT", "PLANNER_RESPONSE", "RUN_COMMAND", "GENERIC", "ERROR_MESSAGE", "session.start",
         "user.message", "assistant.message", "tool.execution_complete", "text", "reasoning", "tool"]

scalars = (st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**64)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40) | st.sampled_from(TYPES))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=6),
                      max_leaves=25)
records = st.dictionaries(st.sampled_from(KEYS), values, max_size=8).map(
    lambda d: {**d, "type": d.get("type") if isinstance(d.get("type"), str) else "user"})


def _line(rec: object, how: int, cut: int) -> bytes:
    raw = json.dumps(rec).encode()
    if how == 1:
        return raw[: max(1, cut % (len(raw) + 1))]  # truncated
    if how == 2:
        return raw + raw  # two values on one line
    if how == 3:
        return b"[" * 3000 + b"]" * 3000  # deep nesting
    if how == 4:
        return bytes((cut + i) % 256 for i in range(64))  # binary garbage
    return raw


lines = st.lists(st.tuples(records, st.integers(0, 9), st.integers(0, 10_000)), max_size=25)

PATHS = {
    "claude_code": ".claude/projects/-x/0f0f0f0f-0000-4000-8000-000000000000.jsonl",
    "codex": ".codex/sessions/2026/01/01/rollout-2026-01-01T00-00-00-019b0000-0000-7000-8000-000000000000.jsonl",
    "gemini_cli": ".gemini/tmp/proj/chats/session-2026-01-01T00-00-0f0f0f0f.jsonl",
    "antigravity": ".gemini/antigravity-cli/brain/0f0f0f0f-0000-4000-8000-000000000000/.system_generated/logs/"
                   "transcript_full.jsonl",
    "copilot_cli": ".copilot/session-state/0f0f0f0f-0000-4000-8000-000000000000/events.jsonl",
}


def _write(tmp: Path, provider: str, content: list[tuple[dict, int, int]]) -> Path:
    path = tmp / PATHS[provider]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(_line(r, how if how <= 4 else 0, cut) for r, how, cut in content) + b"\n")
    return path


def _parse_everything(path: Path, provider: str, db_dir: Path) -> tuple[list[Any], ParseStats]:
    """Parse a file through the engine (pydantic sessions) and through the index sink; returns the sessions
    and what the read met."""
    prov = REGISTRY[provider]
    src = prov.describe(str(path))
    # through the engine
    builder = SessionBuilder(MemorySink(provider))
    stats = ParseStats()
    prov.parse(src, 0, None, builder.feed, stats)
    builder.finish()
    sessions = builder.sink.to_models()  # type: ignore[attr-defined]
    # and through the index sink (pydantic-free path, SQLite writes)
    db = open_db(db_dir / "fuzz.sqlite3")
    try:
        db.execute("BEGIN")
        sink = StoreSink(db, 1, fresh=False)
        b2 = SessionBuilder(sink)
        end, state = prov.parse(src, 0, None, b2.feed, ParseStats())
        b2.flush(live=True)
        sink.finalize()
        import pickle
        pickle.loads(pickle.dumps((state, b2.sessions)))  # resume state always pickles
        db.execute("ROLLBACK")
    finally:
        db.close()
    return sessions, stats


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("provider", sorted(p for p in PATHS if p in REGISTRY))
@FUZZ
@given(content=lines)
def test_random_records_never_crash_a_provider(provider: str, content, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fz")
    _parse_everything(_write(tmp, provider, content), provider, tmp)


def test_a_sidechain_record_whose_ids_are_not_strings_is_not_a_session(tmp_path: Path):
    # found by the fuzz test above: `uuid: true` became the id of a sidechain session
    path = _write(tmp_path, "claude_code", [({"type": "user", "isSidechain": 1, "uuid": True}, 0, 0)])
    sessions, _ = _parse_everything(path, "claude_code", tmp_path)
    assert [s.session_id for s in sessions if s.parent_session_id is not None] == []
    assert all(s.session_id not in ("True", "1") for s in sessions)


@pytest.mark.parametrize("provider", sorted(p for p in PATHS if p in REGISTRY))
def test_a_huge_line_is_read_not_fatal(provider: str, tmp_path: Path):
    big = {"type": "user", "message": {"role": "user", "content": "x" * 30_000_000},
           "sessionId": "0f0f0f0f-0000-4000-8000-000000000000",
           "uuid": "u", "timestamp": "2026-01-01T00:00:00.000Z"}
    path = _write(tmp_path, provider, [(big, 0, 0)])
    sessions, stats = _parse_everything(path, provider, tmp_path)
    # under the line cap (64 MB): read as a record like any other, not skipped as too long
    assert stats.long_lines == 0 and stats.records == 1  # (another agent counts it as a record not its own)
    if provider == "claude_code":  # the one agent whose record it is: its prompt, whole
        (s,) = sessions
        assert len(s.turns[0].user.text) == 30_000_000


@FUZZ
@given(doc=values)
def test_random_gemini_legacy_documents_never_crash(doc, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gl")
    path = tmp / ".gemini/tmp/0123abcd/chats/session-2026-01-01T00-00-0f0f0f0f.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc if not isinstance(doc, dict) else {**doc, "messages": doc.get("messages", [])}))
    _parse_everything(path, "gemini_cli", tmp)


# -- bad arguments -------------------------------------------------------------------------------

BAD_ARGS = [
    ("list_sessions", {"limit": -1}), ("list_sessions", {"limit": 0}), ("list_sessions", {"limit": 10**9}),
    ("list_sessions", {"limit": "ten"}), ("list_sessions", {"since": "yesterday-ish"}),
    ("list_sessions", {"since": "2026-13-45"}), ("list_sessions", {"until": "🙂"}),
    ("list_sessions", {"cursor": "!!!"}), ("list_sessions", {"cursor": "eyJvIjotNSwiZiI6IngifQ"}),
    ("list_sessions", {"provider": "cursor"}), ("list_sessions", {"provider": "claude-desktop"}),
    ("get_session", {"session_id": "../../etc/passwd"}), ("get_session", {"session_id": "'; DROP TABLE sessions;--"}),
    ("get_session", {"session_id": ""}), ("get_session", {"session_id": "🙂🙂🙂🙂🙂🙂"}),
    ("get_session", {"session_id": "%%%%%%%%"}), ("get_session", {"session_id": "________"}),
    ("get_session", {"session_id": "x" * 100_000}), ("get_session", {"session_id": None}),
    ("get_session", {"session_id": MAIN_ID, "cursor": "bm90IGEgY3Vyc29y"}),
    ("get_session", {"session_id": MAIN_ID, "limit": -3}),
    ("get_turn", {"session_id": MAIN_ID, "turn_index": 10**12}),
    ("get_turn", {"session_id": MAIN_ID, "turn_index": -10**12}),
    ("get_turn", {"session_id": MAIN_ID, "turn_index": "last"}), ("get_turn", {"session_id": MAIN_ID}),
    ("get_turn", {"session_id": "/etc/passwd", "turn_index": 0}),
    ("find_failed_tools", {"kind": "nope"}), ("find_failed_tools", {"since": "a week ago"}),
    ("find_failed_tools", {"session_id": "zzzzzzzz"}), ("find_failed_tools", {"limit": 201}),
    ("search_history", {"query": ""}), ("search_history", {"query": "   "}),
    ("search_history", {"query": "x", "kind": ["everything"]}), ("search_history", {"query": "x", "until": "later"}),
    ("search_history", {}), ("list_projects", {"limit": -1}), ("list_projects", {"cursor": "zz"}),
    ("get_text", {"session_id": MAIN_ID, "field": "output", "call_id": "../../x"}),
    ("get_text", {"session_id": MAIN_ID, "field": "output", "call_id": "toolu_pytest", "offset": -5}),
    ("get_text", {"session_id": MAIN_ID, "field": "output", "call_id": "toolu_pytest", "offset": 10**9}),
    ("get_text", {"session_id": MAIN_ID, "call_id": "toolu_pytest", "field": "stdout"}),
    ("get_text", {"session_id": MAIN_ID, "field": "output"}),
    ("get_text", {"session_id": MAIN_ID, "field": "message", "turn_index": 0}),
    ("get_turn", {"session_id": MAIN_ID, "turn_index": 0, "detail": "everything"}),
    ("get_turn", {"session_id": MAIN_ID, "turn_index": 0, "verbose": True}),
    ("list_sessions", {"since": "2026-05-02", "until": "2026-05-01"}),
    ("list_sessions", {"project": "relative/path"}),
    ("current_session", {"project": ""}), ("current_session", {"project": "/no/such/project"}),
    ("current_session", {"project": "/home/dev/webapp", "provider": "vim"}),
    ("secret_findings", {"limit": 0}), ("secret_findings", {"session_id": "nope-nope"}),
]


@pytest.fixture(scope="module")
def fixtures_server(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("h") / "home"
    shutil.copytree(FIXTURES, home)
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path_factory.mktemp("d"))
    return build_server(Agtrace(cfg))


@pytest.mark.parametrize("name,args", BAD_ARGS, ids=[f"{n}:{sorted(a)}" for n, a in BAD_ARGS])
async def test_bad_argument_is_a_clear_tool_error(fixtures_server, name: str, args: dict):
    async with Client(fixtures_server, mode="legacy") as c:
        r = await c.call_tool(name, args)
        assert r.is_error
        text = r.content[0].text
        # not a crash (a crash shows only "Error executing tool NAME"): one line in this project's words,
        # saying what is wrong, with no pydantic report or documentation links
        assert not text.startswith("Error executing tool"), text
        assert "\n" not in text and len(text) > 20, text
        assert "pydantic" not in text and "http" not in text and "validation error" not in text, text
        # and the server still answers
        assert not (await c.call_tool("list_sessions", {"limit": 1})).is_error


def test_the_bad_argument_matrix_is_large(request):
    assert len(BAD_ARGS) >= 45


# -- faults --------------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    shutil.copytree(FIXTURES, h)
    return h


def make_api(home: Path, data: Path) -> Agtrace:
    cfg = Config.load(env={"HOME": str(home)}, data_dir=data)
    cfg.refresh_interval = 0
    cfg.live_seconds = 0
    return Agtrace(cfg)


def _snapshot(api: Agtrace) -> dict:
    return {s.session_id: (s.turns, s.tool_calls, s.failed_tools)
            for s in api.list_sessions(include_subagents=True, limit=200).sessions}


def test_a_file_deleted_between_discovery_and_read_is_skipped_and_then_dropped(home: Path, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch):
    from agtrace_mcp.store import ingest

    victim = home / MAIN_REL
    real = ingest.ingest_file

    def vanish_then_ingest(db, f, **kw):
        if f.src.path == str(victim) and victim.exists():
            victim.unlink()
        return real(db, f, **kw)

    monkeypatch.setattr(ingest, "ingest_file", vanish_then_ingest)
    api = make_api(home, tmp_path / "d")
    rep = api.refresh()
    assert any(str(victim) in e for e in rep.errors)
    monkeypatch.undo()
    assert MAIN_ID not in _snapshot(api)
    assert len(_snapshot(api)) >= 10


@pytest.mark.parametrize("fault", ["truncate", "replace"])
def test_a_file_changed_while_being_read_ends_consistent(fault: str, home: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    from agtrace_mcp.engine import builder as builder_mod

    victim = home / MAIN_REL
    original = victim.read_bytes()
    calls = {"n": 0}
    real_feed = builder_mod.SessionBuilder.feed

    def meddling_feed(self, event):
        calls["n"] += 1
        if calls["n"] == 5:  # halfway through reading the file, someone rewrites it
            if fault == "truncate":
                victim.write_bytes(original[: len(original) // 3])
            else:
                tmp = victim.with_suffix(".new")
                tmp.write_bytes(original[: len(original) // 2])
                os.replace(tmp, victim)
        return real_feed(self, event)

    monkeypatch.setattr(builder_mod.SessionBuilder, "feed", meddling_feed)
    api = make_api(home, tmp_path / "d")
    api.refresh()
    monkeypatch.undo()
    api.refresh()  # the next look sees the new size/inode and reads the file again
    fresh = make_api(home, tmp_path / "clean")
    assert _snapshot(api) == _snapshot(fresh)


def test_a_full_data_dir_is_reported_and_what_is_indexed_stays_usable(home: Path, tmp_path: Path):
    api = make_api(home, tmp_path / "d")
    api.refresh()
    big = fill_the_disk(api, home)
    rep = api.refresh()
    assert rep.errors and "free space" in rep.errors[0]
    assert MAIN_ID in _snapshot(api)  # still answers from what was indexed
    with api.store.read() as db:
        db.execute("PRAGMA max_page_count = 1073741823")  # type: ignore[attr-defined]
    api.refresh()
    assert big.stem in _snapshot(api)


def test_a_read_only_data_dir_is_a_clear_error(home: Path, tmp_path: Path):
    data = tmp_path / "ro"
    data.mkdir()
    os.chmod(data, 0o555)
    os.chmod(tmp_path, 0o755)
    os.chmod(home.parent, 0o755)
    for p in [home, *home.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "AGTRACE_MCP_DATA_DIR": str(data)}
    run = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "agtrace_mcp",
           "sessions"] if os.geteuid() == 0 else [sys.executable, "-m", "agtrace_mcp", "sessions"]
    # root ignores permissions, so the check runs as `nobody`, who must be able to reach the interpreter and
    # the package (a CI venv may sit in a 0700 temp dir): let others traverse those folders for the test
    opened = []
    for d in {*Path(sys.prefix).parents, *Path(ROOT).parents, Path(sys.prefix), ROOT}:
        mode = d.stat().st_mode
        if os.geteuid() == 0 and not mode & 0o001:
            os.chmod(d, mode | 0o001)
            opened.append((d, mode))
    try:
        r = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60, cwd=str(ROOT))
    finally:
        for d, mode in opened:
            os.chmod(d, mode)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "AGTRACE_MCP_DATA_DIR" in r.stderr and "Traceback" not in r.stderr


def test_an_index_damaged_while_in_use_is_rebuilt_and_the_next_call_works(home: Path, tmp_path: Path):
    api = make_api(home, tmp_path / "d")
    before = _snapshot(api)
    path = api.config.db_path
    with api.store.read() as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[attr-defined]
    data = bytearray(path.read_bytes())
    for off in range(4096, len(data), 4096):  # scribble over every page header but the first
        data[off: off + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    from agtrace_mcp.errors import AgtraceError
    try:
        _snapshot(api)
    except AgtraceError as e:
        assert "rebuilt" in str(e) or "damaged" in str(e)
    assert _snapshot(api) == before
    assert list(path.parent.glob("index.sqlite3.corrupt-*"))


def test_a_client_that_disconnects_mid_call_leaves_a_working_server(home: Path, tmp_path: Path):
    env = {"HOME": str(home), "AGTRACE_MCP_DATA_DIR": str(tmp_path / "d"), "PATH": os.environ.get("PATH", "")}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "search_history", "arguments": {"query": "test"}}}
    p = subprocess.Popen([sys.executable, "-m", "agtrace_mcp", "serve"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write((json.dumps(init) + "\n").encode())
    p.stdin.flush()
    json.loads(p.stdout.readline())
    p.stdin.write((json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n"
                   + json.dumps(call) + "\n").encode())
    p.stdin.flush()
    p.stdin.close()  # the client goes away without waiting for the answer
    p.stdout.close()
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
        pytest.fail("the server did not exit after its client went away")
    # the next client (and the shared index) work
    api = make_api(home, tmp_path / "d")
    assert MAIN_ID in _snapshot(api)
    db = sqlite3.connect(api.config.db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


# -- a read that continues from an offset equals a read of the whole file ------------------------------------


def _rows_of(home: Path, data: Path) -> dict:
    api = api_over(home, data)
    api.refresh()
    api.close()
    return index_rows(data)


@pytest.mark.parametrize("provider", sorted(p for p in PATHS if p in REGISTRY))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(content=lines, cut=st.integers(0, 25))
def test_random_appends_read_as_a_continuation_equal_a_whole_read(provider: str, content, cut: int,
                                                                    tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cont")
    whole = _write(tmp / "home", provider, content).read_bytes()
    lines_ = whole.splitlines(keepends=True)
    path = tmp / "home" / PATHS[provider]
    path.write_bytes(b"".join(lines_[:cut]))
    api = api_over(tmp / "home", tmp / "piecewise")
    api.refresh()
    with open(path, "ab") as f:
        f.write(b"".join(lines_[cut:]))
    api.refresh()
    api.close()
    assert index_rows(tmp / "piecewise") == _rows_of(tmp / "home", tmp / "whole")
