"""The analysis tools through real MCP clients (in-memory `mcp.Client`, both protocol eras) on the demo
fixtures, and failure grouping (`find_failed_tools(group_by=…)`), whose ungrouped answer stays as it was."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import api_on
from mcp import Client

from agtrace_mcp.api import Agtrace
from agtrace_mcp.cli import main as cli_main
from agtrace_mcp.config import Config
from agtrace_mcp.server import build_server

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "home"
MAIN_ID = "11111111-1111-4111-8111-111111111111"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("amcp") / "home"
    shutil.copytree(FIXTURES, h)
    return h


@pytest.fixture(scope="module")
def api(home: Path, tmp_path_factory: pytest.TempPathFactory, backend: str, request: pytest.FixtureRequest) -> Agtrace:
    """Over the local index, and over a team database the same logs were pushed to (`backend`)."""
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path_factory.mktemp("amcpdata"))
    cfg.live_seconds = 0
    return api_on(backend, cfg, request)


@pytest.fixture(params=["legacy", "auto"])
async def client(request: pytest.FixtureRequest, api: Agtrace):
    async with Client(build_server(api), mode=request.param) as c:
        yield c


async def ok(client: Client, name: str, **args: object) -> dict:
    r = await client.call_tool(name, args)
    assert not r.is_error, r.content[0].text
    assert json.loads(r.content[0].text) == r.structured_content
    return r.structured_content


async def err(client: Client, name: str, **args: object) -> str:
    r = await client.call_tool(name, args)
    assert r.is_error
    return r.content[0].text


async def test_the_new_tools_are_listed_read_only_with_flat_arguments(client: Client):
    tools = {t.name: t for t in (await client.list_tools()).tools}
    for name in ("analyze_session", "get_usage"):
        t = tools[name]
        assert t.annotations.read_only_hint is True and t.annotations.open_world_hint is False
        assert t.output_schema is not None and "findings" in json.dumps(t.output_schema) or name == "get_usage"
        for p in t.input_schema["properties"].values():  # flat: no nested objects for thresholds
            assert "properties" not in p
    assert {"session_id", "repeat_min", "retry_min", "no_progress_min", "slow_abs_seconds", "max_per_kind"} <= \
        set(tools["analyze_session"].input_schema["properties"])
    assert {"session_id", "turn", "project", "since", "until", "limit", "cursor"} <= \
        set(tools["get_usage"].input_schema["properties"])
    assert "group_by" in tools["find_failed_tools"].input_schema["properties"]
    assert "groups" in json.dumps(tools["find_failed_tools"].output_schema)


async def test_analyze_session_on_the_demo_session(client: Client):
    # the inspector CI calls it with the numeric prefix 111111
    res = await ok(client, "analyze_session", session_id=111111)
    assert res["session_id"] == MAIN_ID
    by_kind = {f["kind"]: f for f in res["findings"]}
    denied = by_kind["denied_call"]
    # the denied Edit was made again after the user's next prompt: reported, but not as critical
    assert (denied["start_turn"], denied["start_step"], denied["call_ids"][0]) == (0, 1, "toolu_edit")
    assert denied["severity"] == "warning" and "after a new prompt" in denied["explanation"]
    # the refusal ended the turn ("[Request interrupted by user for tool use]"): one refusal, one finding
    assert "interrupted_turn" not in by_kind and "user_correction" not in by_kind


async def test_analyze_session_thresholds_and_errors(client: Client):
    res = await ok(client, "analyze_session", session_id=MAIN_ID, retry_min=2, max_per_kind=1)
    assert res["thresholds"]["retry_min"] == 2 and res["thresholds"]["max_per_kind"] == 1
    assert "list_sessions" in await err(client, "analyze_session", session_id="zzzzzzzz")
    await err(client, "analyze_session", session_id=MAIN_ID, retry_similarity=3)


async def test_get_usage_for_a_session_a_turn_and_a_range(client: Client):
    res = await ok(client, "get_usage", session_id=111111)
    assert res["scope"] == "session" and res["context"]["context_window"] == 200_000
    assert res["tokens"]["total"] == sum(t["tokens"]["total"] for t in res["turns"])
    turn = await ok(client, "get_usage", session_id=MAIN_ID, turn=0)
    assert turn["scope"] == "turn" and turn["steps"]
    assert turn["steps"][0]["context_tokens"] == 1510  # the value get_turn shows for that step
    rng = await ok(client, "get_usage", project="/home/dev/webapp")
    assert rng["scope"] == "range" and MAIN_ID in [s["session_id"] for s in rng["sessions"]]
    parent = next(s for s in rng["sessions"] if s["session_id"].startswith("33333333"))
    assert parent["subagents"] == 1
    assert "session_id" in await err(client, "get_usage", turn=1)


async def test_failures_grouped_by_error_kind_and_tool(client: Client):
    every = await ok(client, "find_failed_tools", limit=200)
    grouped = await ok(client, "find_failed_tools", group_by="error_kind", limit=200)
    assert grouped["failures"] == [] and grouped["group_by"] == "error_kind"
    assert grouped["total"] == every["total"] == sum(g["count"] for g in grouped["groups"])
    expected: dict[str, int] = {}
    for f in every["failures"]:
        expected[f["error_kind"]] = expected.get(f["error_kind"], 0) + 1
    assert {g["key"]: g["count"] for g in grouped["groups"]} == expected
    counts = [g["count"] for g in grouped["groups"]]
    assert counts == sorted(counts, reverse=True)
    for g in grouped["groups"]:
        assert g["first_seen"] <= g["last_seen"]
        ex = g["examples"][0]
        assert {"session_id", "turn_index", "step_index", "call_id"} <= set(ex)
    by_tool = await ok(client, "find_failed_tools", group_by="tool", limit=200)
    assert sum(g["count"] for g in by_tool["groups"]) == every["total"]


async def test_ungrouped_failures_answer_as_before(client: Client):
    res = await ok(client, "find_failed_tools", limit=5)
    assert set(res) == {"failures", "total", "next_cursor", "truncated", "note"}


async def test_grouped_failures_page_with_a_cursor(client: Client):
    first = await ok(client, "find_failed_tools", group_by="tool", limit=1)
    assert len(first["groups"]) == 1 and first["next_cursor"] and first["groups_total"] > 1
    second = await ok(client, "find_failed_tools", group_by="tool", limit=1, cursor=first["next_cursor"])
    assert second["groups"][0]["key"] != first["groups"][0]["key"]
    assert "next_cursor" in await err(client, "find_failed_tools", group_by="error", cursor=first["next_cursor"])


def test_failures_grouped_by_normalised_error_merge_variable_parts(tmp_path: Path):
    home = tmp_path / "home"
    d = home / ".claude" / "projects" / "-home-dev-g"
    d.mkdir(parents=True)
    lines = []
    for k, (sid, port, ts) in enumerate([("a", 5432, "2026-06-01T10:00:0"), ("b", 6543, "2026-06-02T10:00:0"),
                                         ("c", 7777, "2026-06-03T10:00:0")]):
        full = f"{sid * 8}-0000-4000-8000-000000000000"
        recs = [
            {"type": "user", "sessionId": full, "uuid": f"{sid}1", "timestamp": ts + "0.000Z", "cwd": f"/home/dev/{sid}",
             "message": {"role": "user", "content": "migrate"}},
            {"type": "assistant", "sessionId": full, "uuid": f"{sid}2", "timestamp": ts + "1.000Z",
             "cwd": f"/home/dev/{sid}", "message": {"id": f"m{sid}", "role": "assistant", "model": "claude-sonnet-4-5",
                                                     "content": [{"type": "tool_use", "id": f"t{sid}", "name": "Bash",
                                                                  "input": {"command": "make migrate"}}]}},
            {"type": "user", "sessionId": full, "uuid": f"{sid}3", "timestamp": ts + "2.000Z", "cwd": f"/home/dev/{sid}",
             "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{sid}", "is_error": True,
                                                      "content": f"Error: connection refused 127.0.0.1:{port} "
                                                                 f"(session {k}a9f3e{k}c7b1)"}]}},
        ]
        (d / f"{full}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
        lines.append(full)
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path / "data")
    cfg.live_seconds = 0
    api = Agtrace(cfg)
    res = api.find_failed_tools(group_by="error")
    [g] = res.groups
    assert g.count == 3 and g.sessions == 3 and g.key == "Error: connection refused <n> (session <id>)"
    assert (g.first_seen, g.last_seen) == ("2026-06-01T10:00:01.000Z", "2026-06-03T10:00:01.000Z")
    assert [e.session_id for e in g.examples] == lines[::-1]  # newest first
    by_project = api.find_failed_tools(group_by="project")
    assert sorted(x.key for x in by_project.groups) == ["/home/dev/a", "/home/dev/b", "/home/dev/c"]


def test_cli_analyze_usage_and_grouped_failures(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    base = ["--home", str(home), "--data-dir", str(tmp_path / "d")]
    assert cli_main(["analyze", "111111", "--json", *base]) == 0
    assert json.loads(capsys.readouterr().out)["session_id"] == MAIN_ID
    assert cli_main(["analyze", "111111", "--retry-min", "2", *base]) == 0
    assert "denied_call" in capsys.readouterr().out
    assert cli_main(["usage", "111111", "--turn", "-1", "--json", *base]) == 0
    assert json.loads(capsys.readouterr().out)["turn_index"] == 1
    assert cli_main(["usage", "--in", "/home/dev/webapp", *base]) == 0
    assert "sessions" in capsys.readouterr().out
    assert cli_main(["failures", "--group-by", "error_kind", "--json", *base]) == 0
    assert json.loads(capsys.readouterr().out)["group_by"] == "error_kind"
    assert cli_main(["analyze", "111111", "--repeat-min", "1", *base]) == 2  # a bad value is a usage error
    assert "repeat_min" in capsys.readouterr().err
