"""The right project (issue 12, point 6): `current_session` from anywhere inside a recorded project, project
arguments that expand `~` and refuse relative paths, Gemini CLI hash folders named by paths other agents (or the
session's own tool calls) know, subagents in their parent's project, and the client's MCP roots."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from claudelog import ClaudeLog
from conftest import api_on
from mcp import Client
from mcp.types import ListRootsResult, Root

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.errors import BadArgumentError
from agtrace_mcp.server import build_server

ROOT_SID = "33cc0000-eeee-4000-8000-000000000001"  # in /home/dev/mono
PKG_SID = "33cc0000-eeee-4000-8000-000000000002"  # in /home/dev/mono/packages/api (older)
GEMINI_SID = "33cc0000-eeee-4000-8000-000000000003"
GEMINI_OWN = "33cc0000-eeee-4000-8000-000000000004"


def _gemini(home: Path, sid: str, project: str, args_path: str | None, when: str) -> None:
    """A legacy Gemini CLI session in the hash-named folder of `project` (the log itself names no path)."""
    h = hashlib.sha256(project.encode()).hexdigest()
    chats = home / ".gemini" / "tmp" / h / "chats"
    chats.mkdir(parents=True, exist_ok=True)
    calls = [] if args_path is None else [{
        "id": "c1", "name": "read_file", "args": {"absolute_path": args_path}, "status": "success",
        "timestamp": when, "result": [{"functionResponse": {"id": "c1", "name": "read_file",
                                                            "response": {"output": "ok"}}}]}]
    doc = {"sessionId": sid, "projectHash": h, "startTime": when, "lastUpdated": when, "messages": [
        {"id": "m1", "timestamp": when, "type": "user", "content": "look at the service"},
        {"id": "m2", "timestamp": when, "type": "gemini", "content": "Looked.", "toolCalls": calls,
         "model": "gemini-2.5-flash"}]}
    (chats / f"session-{when[:16].replace(':', '-')}-{sid[:8]}.json").write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("projects") / "home"
    ClaudeLog(ROOT_SID, cwd="/home/dev/mono", start="2026-06-02T10:00:00").prompt("build it").answer().write(h)
    ClaudeLog(PKG_SID, cwd="/home/dev/mono/packages/api", start="2026-06-01T10:00:00").prompt("api").answer().write(h)
    # Gemini in /home/dev/mono (a path the Claude session knows), and in a folder only its own call names
    _gemini(h, GEMINI_SID, "/home/dev/mono", None, "2026-05-30T09:00:00.000Z")
    _gemini(h, GEMINI_OWN, "/srv/lonely", "/srv/lonely/src/main.py", "2026-05-29T09:00:00.000Z")
    return h


@pytest.fixture(scope="module")
def api(home: Path, tmp_path_factory: pytest.TempPathFactory, backend: str, request: pytest.FixtureRequest) -> Agtrace:
    """Over the local index, and over a team database the same logs were pushed to (`backend`)."""
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path_factory.mktemp("pdata"))
    cfg.live_seconds = 0
    a = api_on(backend, cfg, request)
    a.refresh()
    yield a
    a.close()


def test_current_session_from_a_subfolder_is_the_deepest_recorded_project_above_it(api: Agtrace):
    # /home/dev/mono/src/lib is not recorded; /home/dev/mono is
    assert api.current_session("/home/dev/mono/src/lib").session.session_id == ROOT_SID
    # inside packages/api the deeper recorded project wins, although the mono session is newer
    assert api.current_session("/home/dev/mono/packages/api/src").session.session_id == PKG_SID


def test_current_session_of_a_folder_above_projects_is_the_newest_below_it(api: Agtrace):
    assert api.current_session("/home/dev").session.session_id == ROOT_SID


def test_project_arguments_expand_home_and_refuse_relative_paths(api: Agtrace, home: Path):
    (home / "dev").mkdir(exist_ok=True)
    with pytest.raises(BadArgumentError, match="absolute path"):
        api.list_sessions(project="dev/mono")
    with pytest.raises(BadArgumentError, match="absolute path"):
        api.current_session("./mono")
    import os
    old = os.environ.get("HOME")
    os.environ["HOME"] = "/home/dev"
    try:
        assert {s.session_id for s in api.list_sessions(project="~/mono/").sessions} == {ROOT_SID, PKG_SID, GEMINI_SID}
    finally:
        if old is not None:
            os.environ["HOME"] = old


def test_a_gemini_hash_folder_gets_the_project_another_agent_worked_in(api: Agtrace):
    [s] = [s for s in api.list_sessions(limit=50, provider="gemini").sessions if s.session_id == GEMINI_SID]
    assert s.project_root == "/home/dev/mono"
    assert GEMINI_SID in {x.session_id for x in api.list_sessions(project="/home/dev/mono").sessions}


def test_a_gemini_hash_folder_gets_the_project_its_own_tool_calls_name(api: Agtrace):
    [s] = [s for s in api.list_sessions(limit=50, provider="gemini").sessions if s.session_id == GEMINI_OWN]
    assert s.project_root == "/srv/lonely"


def test_a_gemini_hash_folder_nobody_knows_stays_without_a_project(tmp_path: Path):
    home = tmp_path / "home"
    _gemini(home, GEMINI_SID, "/home/dev/mono", None, "2026-05-30T09:00:00.000Z")
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path / "d")
    cfg.live_seconds = 0
    a = Agtrace(cfg)
    assert a.list_sessions().sessions[0].project_root is None  # never guessed from the folder name
    ClaudeLog(ROOT_SID, cwd="/home/dev/mono").prompt("x").answer().write(home)  # another agent knows it now
    cfg.refresh_interval = 0
    assert {s.session_id: s.project_root for s in a.list_sessions().sessions}[GEMINI_SID] == "/home/dev/mono"


def test_a_subagent_without_a_project_counts_in_its_parents(tmp_path: Path):
    from agtrace_mcp.store.ingest import resolve_projects
    a = Agtrace(Config.load(env={"HOME": str(tmp_path / "none")}, data_dir=tmp_path / "d"))
    with a.store.read() as db:
        db.execute("INSERT INTO files (id, path, provider, kind) VALUES (1, '/x', 'codex', 'session')")
        db.execute("INSERT INTO sessions (id, provider, file_id, project_root) VALUES ('p', 'codex', 1, '/repo')")
        db.execute("INSERT INTO sessions (id, provider, file_id, parent_id) VALUES ('c', 'codex', 1, 'p')")
        db.execute("INSERT INTO sessions (id, provider, file_id, parent_id) VALUES ('g', 'codex', 1, 'c')")
        resolve_projects(db)
        got = dict(db.execute("SELECT id, project_root FROM sessions").fetchall())
    assert got == {"p": "/repo", "c": "/repo", "g": "/repo"}


# -- the client's MCP roots --------------------------------------------------------------------------------


async def test_current_session_without_a_project_uses_the_clients_roots(home: Path, tmp_path: Path):
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path / "d")
    cfg.live_seconds = 0

    async def roots(_ctx: object) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri="file:///home/dev/mono/packages/api", name="api")])

    async with Client(build_server(Agtrace(cfg)), mode="legacy", list_roots_callback=roots) as c:
        r = await c.call_tool("current_session", {})
        assert not r.is_error, r.content[0].text
        assert r.structured_content["session"]["session_id"] == PKG_SID


async def test_current_session_without_a_project_or_roots_asks_for_the_folder(home: Path, tmp_path: Path):
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path / "d")
    async with Client(build_server(Agtrace(cfg)), mode="legacy") as c:
        r = await c.call_tool("current_session", {})
        assert r.is_error and "working directory" in r.content[0].text


# -- the real corpus -----------------------------------------------------------------------------------------


def test_corpus_gemini_hash_folder_project_is_the_one_claude_and_codex_worked_in(corpus_root: Path, tmp_path: Path):
    home = tmp_path / "home"
    src = next((corpus_root / "gemini_cli").glob("v-2025-12_session-*f0a689a6_shell-tools.json"))
    h = json.loads(src.read_text())["projectHash"]
    chats = home / ".gemini" / "tmp" / h / "chats"
    chats.mkdir(parents=True)
    shutil.copy(src, chats / "session-2025-12-09T19-50-f0a689a6.json")
    proj = home / ".claude" / "projects" / "-Users-zawakin-agent-sample"
    proj.mkdir(parents=True)
    shutil.copy(next((corpus_root / "claude_code").glob("v2.0.28_main-session_*7f2abd2d.jsonl")),
                proj / "7f2abd2d-7cfc-4447-9ddd-3ca8d14e02e9.jsonl")
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path / "d")
    cfg.live_seconds = 0
    a = Agtrace(cfg)
    roots = {s.session_id[:8]: s.project_root for s in a.list_sessions().sessions}
    assert roots == {"f0a689a6": "/Users/zawakin/agent-sample", "7f2abd2d": "/Users/zawakin/agent-sample"}
    assert a.current_session("/Users/zawakin/agent-sample/myapp", provider="gemini").session.session_id.startswith(
        "f0a689a6")
