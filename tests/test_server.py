"""The MCP surface, through real MCP clients: the in-memory `mcp.Client` in both protocol eras, and a stdio
subprocess per era."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import api_on
from mcp import Client, StdioServerParameters

from agtrace_mcp import __version__
from agtrace_mcp.config import Config
from agtrace_mcp.server import build_server

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "home"
MAIN_ID = "11111111-1111-4111-8111-111111111111"
TOOLS = {"list_sessions", "get_session", "get_turn", "find_failed_tools", "search_history", "list_projects",
         "get_text", "current_session", "analyze_session", "get_usage", "secret_findings"}


def _twin(home: Path, sid: str) -> None:
    d = home / ".claude/projects/-home-dev-twins"
    d.mkdir(parents=True, exist_ok=True)
    rec = {"parentUuid": None, "isSidechain": False, "type": "user", "sessionId": sid, "uuid": "t-" + sid[-4:],
           "timestamp": "2026-03-01T10:00:00.000Z", "cwd": "/home/dev/twins", "version": "2.1.40",
           "message": {"role": "user", "content": f"twin {sid}"}}
    (d / f"{sid}.jsonl").write_text(json.dumps(rec) + "\n")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("srv") / "home"
    shutil.copytree(FIXTURES, h)
    _twin(h, "abcdef01-0000-4000-8000-000000000001")
    _twin(h, "abcdef02-0000-4000-8000-000000000002")
    return h


@pytest.fixture(scope="module")
def server(home: Path, tmp_path_factory: pytest.TempPathFactory, backend: str, request: pytest.FixtureRequest):
    """The server over the fixture logs: from this machine's index, and from a team database (`backend`)."""
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path_factory.mktemp("data"))
    cfg.live_seconds = 0
    return build_server(api_on(backend, cfg, request))


@pytest.fixture(params=["legacy", "auto"])
async def client(request: pytest.FixtureRequest, server):
    async with Client(server, mode=request.param) as c:
        yield c


async def call(client: Client, name: str, **args: object):
    r = await client.call_tool(name, args)
    return r


async def ok(client: Client, name: str, **args: object) -> dict:
    r = await call(client, name, **args)
    assert not r.is_error, r.content[0].text
    # the text content is the same data as structuredContent, as compact JSON
    assert json.loads(r.content[0].text) == r.structured_content
    return r.structured_content


async def err(client: Client, name: str, **args: object) -> str:
    r = await call(client, name, **args)
    assert r.is_error
    return r.content[0].text


# -- tool list -----------------------------------------------------------------------------------


async def test_every_tool_is_listed_read_only_with_an_output_schema(client: Client):
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert TOOLS <= set(tools)
    for t in tools.values():
        assert t.annotations.read_only_hint is True
        assert t.annotations.idempotent_hint is True
        assert t.annotations.open_world_hint is False
        assert t.output_schema is not None
        assert t.description and len(t.description) > 80


async def test_argument_names_are_the_contract(client: Client):
    tools = {t.name: t for t in (await client.list_tools()).tools}
    props = {n: set(t.input_schema["properties"]) for n, t in tools.items()}
    assert {"project", "provider", "since", "until", "query", "limit", "cursor"} <= props["list_sessions"]
    assert {"session_id", "turn_index"} <= props["get_turn"]
    assert {"session_id", "project", "provider", "since", "limit", "cursor"} <= props["find_failed_tools"]
    assert {"query", "session_id", "project", "provider", "since", "until", "limit", "cursor"} <= props["search_history"]


# -- each tool -----------------------------------------------------------------------------------


async def test_list_sessions_pages_with_a_cursor(client: Client):
    first = await ok(client, "list_sessions", limit=2)
    assert len(first["sessions"]) == 2 and first["next_cursor"]
    second = await ok(client, "list_sessions", limit=2, cursor=first["next_cursor"])
    ids = [s["session_id"] for s in first["sessions"] + second["sessions"]]
    assert len(set(ids)) == 4


async def test_list_sessions_filters_by_project_and_provider(client: Client):
    res = await ok(client, "list_sessions", project="/home/dev/webapp", provider="claude_code", limit=50)
    assert res["sessions"] and all(s["project_root"] == "/home/dev/webapp" for s in res["sessions"])


async def test_list_sessions_has_failures_filter(client: Client):
    res = await ok(client, "list_sessions", has_failures=True, limit=50)
    assert res["sessions"] and all(s["failed_tools"] > 0 for s in res["sessions"])


async def test_get_session_outlines_turns_with_tool_counts(client: Client):
    res = await ok(client, "get_session", session_id="111111")
    assert res["session"]["session_id"] == MAIN_ID
    t0 = res["turns"][0]
    assert {"name": "Bash", "ok": 0, "failed": 1, "missing": 0} in t0["tools"]
    assert res["turns"][1]["final_answer"].startswith("Fixed")


async def test_get_session_lists_subagents(client: Client):
    res = await ok(client, "get_session", session_id="33333333")
    assert [s["session_id"] for s in res["subagents"]] == ["a1b2c3d4e5f607182"]


async def test_get_turn_negative_index_is_the_latest(client: Client):
    res = await ok(client, "get_turn", session_id=MAIN_ID, turn_index=-1)
    assert res["index"] == 1 and res["user"]["text"].startswith("Use a + b + c")


async def test_get_turn_shows_failures_with_kind_and_exit_code(client: Client):
    res = await ok(client, "get_turn", session_id=MAIN_ID, turn_index=0)
    bash = res["steps"][0]["tools"][0]
    # the error line is the one that says what failed, not the last summary line of pytest
    assert bash["error"] == {"kind": "exit_code", "exit_code": 1,
                             "message": "FAILED tests/test_app.py::test_total - assert 3 == 4"}
    assert res["steps"][0]["usage"]["context_tokens"] == 1510


async def test_find_failed_tools_across_sessions_and_by_kind(client: Client):
    every = await ok(client, "find_failed_tools", limit=100)
    assert every["total"] >= 4
    denied = await ok(client, "find_failed_tools", kind="denied")
    assert denied["failures"] and all(f["error_kind"] == "denied" for f in denied["failures"])
    assert "Edit" in [f["tool"] for f in denied["failures"]]
    mine = await ok(client, "find_failed_tools", session_id="111111")
    assert {f["turn_index"] for f in mine["failures"]} == {0}


async def test_search_history_finds_tool_output_with_coordinates(client: Client):
    res = await ok(client, "search_history", query="test_total", kind=["tool_output"])
    assert all(h["kind"] == "tool_output" for h in res["hits"])
    hit = next(h for h in res["hits"] if h["session_id"] == MAIN_ID)
    assert (hit["session_id"], hit["turn_index"], hit["step_index"], hit["call_id"]) == (MAIN_ID, 0, 0, "toolu_pytest")


async def test_list_projects(client: Client):
    res = await ok(client, "list_projects")
    assert "/home/dev/webapp" in [p["project_root"] for p in res["projects"]]


async def test_get_text_reads_a_full_tool_output_from_the_log(client: Client, backend: str):
    res = await ok(client, "get_text", session_id=MAIN_ID, field="output", call_id="toolu_pytest")
    assert res["text"].startswith("Exit code 1") and res["next_offset"] is None
    # the log is on this machine; a team database has what was pushed (all of a short output)
    assert res["source"] == {"sqlite": "log", "postgres": "index"}[backend]


async def test_current_session_is_the_newest_of_the_project(client: Client):
    res = await ok(client, "current_session", project="/home/dev/webapp")
    newest = (await ok(client, "list_sessions", project="/home/dev/webapp", limit=1))["sessions"][0]
    assert res["session"]["session_id"] == newest["session_id"]
    assert res["latest_turn"]["index"] == newest["turns"] - 1


# -- errors are tool errors that say what to do --------------------------------------------------


async def test_unknown_session_id(client: Client):
    assert "list_sessions" in await err(client, "get_session", session_id="zzzzzzzz")


async def test_ambiguous_prefix_lists_the_candidates(client: Client):
    text = await err(client, "get_session", session_id="abcdef")
    assert "abcdef01-0000-4000-8000-000000000001" in text and "abcdef02-0000-4000-8000-000000000002" in text


async def test_too_short_prefix(client: Client):
    assert "6 characters" in await err(client, "get_session", session_id="111")


async def test_turn_out_of_range(client: Client):
    text = await err(client, "get_turn", session_id=MAIN_ID, turn_index=7)
    assert "2 turns" in text and "-1" in text


async def test_bad_cursor(client: Client):
    assert "next_cursor" in await err(client, "list_sessions", cursor="not-a-cursor")


async def test_cursor_from_other_filters_is_refused(client: Client):
    page = await ok(client, "list_sessions", limit=1)
    assert "same other arguments" in await err(client, "list_sessions", limit=1, cursor=page["next_cursor"],
                                                 provider="codex")


async def test_bad_date(client: Client):
    assert "ISO date" in await err(client, "list_sessions", since="last tuesday")


async def test_bad_provider_is_a_validation_error(client: Client):
    assert "claude_code" in await err(client, "list_sessions", provider="cursor")


async def test_unknown_call_id(client: Client):
    assert "get_turn" in await err(client, "get_text", session_id=MAIN_ID, field="output", call_id="nope")


async def test_current_session_of_an_unknown_project(client: Client):
    assert "list_projects" in await err(client, "current_session", project="/nowhere")


# -- resources and prompts -----------------------------------------------------------------------


async def test_session_and_turn_resources(client: Client):
    templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    assert {"agtrace://session/{session_id}", "agtrace://session/{session_id}/turn/{turn_index}"} <= templates
    r = await client.read_resource(f"agtrace://session/{MAIN_ID}/turn/-1")
    assert json.loads(r.contents[0].text)["index"] == 1


async def test_resource_of_an_unknown_session_is_not_found(client: Client):
    from mcp import MCPError

    with pytest.raises(MCPError):
        await client.read_resource("agtrace://session/zzzzzzzz")


async def test_prompts(client: Client):
    names = {p.name for p in (await client.list_prompts()).prompts}
    assert {"review_failures", "handoff_summary"} <= names
    p = await client.get_prompt("review_failures", {"session_id": MAIN_ID})
    assert "find_failed_tools" in p.messages[0].content.text


# -- real subprocesses over stdio ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stdio_subprocess(mode: str, home: Path, tmp_path: Path):
    params = StdioServerParameters(command=sys.executable, args=["-m", "agtrace_mcp", "serve"],
                                   env={"HOME": str(home), "AGTRACE_MCP_DATA_DIR": str(tmp_path / "d")})
    async with Client(params, mode=mode) as c:
        tools = {t.name for t in (await c.list_tools()).tools}
        assert TOOLS <= tools
        r = await c.call_tool("get_turn", {"session_id": "111111", "turn_index": 0})
        for _ in range(50):  # the first index runs in the background: the session appears within moments
            if not r.is_error:
                break
            import anyio
            await anyio.sleep(0.1)
            r = await c.call_tool("get_turn", {"session_id": "111111", "turn_index": 0})
        assert not r.is_error, r.content[0].text
        assert r.structured_content["steps"][0]["tools"][0]["status"] == "error"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stdio_subprocess_answering_from_a_team_database(mode: str, home: Path, tmp_path: Path, pg_url: str):
    from pgdb import push

    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path / "pushed-from")
    cfg.live_seconds = 0
    push(cfg, pg_url, machine="box-7", user="ana")
    # no logs and no index here: everything comes from the database named by AGTRACE_MCP_STORE
    empty = tmp_path / "empty-home"
    empty.mkdir()
    params = StdioServerParameters(command=sys.executable, args=["-m", "agtrace_mcp", "serve"],
                                   env={"HOME": str(empty), "AGTRACE_MCP_DATA_DIR": str(tmp_path / "d"),
                                        "AGTRACE_MCP_STORE": pg_url})
    async with Client(params, mode=mode) as c:
        r = await c.call_tool("get_turn", {"session_id": "111111", "turn_index": 0})
        assert not r.is_error, r.content[0].text
        assert r.structured_content["steps"][0]["tools"][0]["status"] == "error"
        r = await c.call_tool("list_sessions", {"machine": "box-7", "limit": 1})
        assert r.structured_content["sessions"][0]["machine"] == "box-7"
        assert r.structured_content["sessions"][0]["user"] == "ana"
    assert not (tmp_path / "d").exists(), "serving a team database writes no local index"


# -- server.json ---------------------------------------------------------------------------------


def test_server_json_is_valid_and_versioned_with_the_package():
    jsonschema = pytest.importorskip("jsonschema")
    # the MCP Registry's published schema (https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json)
    schema_path = ROOT / "tests" / "schemas" / "server.schema.2025-12-11.json"
    doc = json.loads((ROOT / "server.json").read_text())
    assert doc["version"] == __version__
    assert all(p["version"] == __version__ for p in doc["packages"])
    schema = json.loads(schema_path.read_text())
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(doc)


def test_server_json_names_every_variable_that_moves_an_agents_logs():
    """The agents' own variables come from their providers (`root_env`); the registry listing must name them."""
    from agtrace_mcp.providers import REGISTRY

    doc = json.loads((ROOT / "server.json").read_text())
    listed = {v["name"] for p in doc["packages"] for v in p.get("environmentVariables", [])}
    builtin = [p for p in REGISTRY.values() if type(p).__module__.startswith("agtrace_mcp.")]
    assert {v for p in builtin for v in p.root_env} <= listed


def test_readme_carries_the_registry_ownership_marker():
    doc = json.loads((ROOT / "server.json").read_text())
    assert f"mcp-name: {doc['name']}" in (ROOT / "README.md").read_text()
