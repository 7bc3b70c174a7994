"""No tool response exceeds the output budget, even on a 20+ MB session with thousands of turns and a
100,000-line tool output; what was cut is said, and the rest stays reachable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.server import build_server

SID = "b16b16b1-0000-4000-8000-00000000b16b"
TURNS = 3000
HUGE_TURN = 1234
HUGE_LINES = 100_000


def _rec(kind: str, i: int, **kw: object) -> str:
    base = {"parentUuid": None, "isSidechain": False, "type": kind, "sessionId": SID, "uuid": f"{kind[0]}{i}",
            "timestamp": f"2026-07-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}.000Z",
            "cwd": "/home/dev/big", "version": "2.1.90"}
    base.update(kw)
    return json.dumps(base) + "\n"


@pytest.fixture(scope="module")
def big_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("big") / "home"
    d = home / ".claude/projects/-home-dev-big"
    d.mkdir(parents=True)
    body = "\n".join(f"line {k}: collecting tests in module_{k % 97}.py ... ok" for k in range(80))
    huge = "\n".join(f"{k:06d} INFO worker-{k % 13} processed batch {k} in {k % 997} ms" for k in range(HUGE_LINES))
    with open(d / f"{SID}.jsonl", "w") as f:
        for i in range(TURNS):
            f.write(_rec("user", i, message={"role": "user", "content": f"turn {i}: run the test suite for "
                                                                        f"module_{i % 97} and report"}))
            call = f"toolu_{i:05d}"
            f.write(_rec("assistant", i, message={
                "id": f"msg_{i:05d}", "model": "claude-opus-4-5", "role": "assistant",
                "content": [{"type": "text", "text": f"Running the suite for module_{i % 97}."},
                            {"type": "tool_use", "id": call, "name": "Bash",
                             "input": {"command": f"pytest tests/test_module_{i % 97}.py -q"}}],
                "usage": {"input_tokens": 5, "cache_read_input_tokens": 20000 + i, "cache_creation_input_tokens": 300,
                          "output_tokens": 90}}))
            out = huge if i == HUGE_TURN else body
            f.write(_rec("user", i + 10_000_000, message={"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": call, "content": out, "is_error": i % 7 == 0}]}))
            f.write(_rec("assistant", i + 20_000_000, message={
                "id": f"msg_b{i:05d}", "model": "claude-opus-4-5", "role": "assistant",
                "content": [{"type": "text", "text": f"Done with turn {i}. " + "Summary sentence. " * 20}],
                "usage": {"input_tokens": 3, "cache_read_input_tokens": 21000, "cache_creation_input_tokens": 100,
                          "output_tokens": 60}}))
    assert (d / f"{SID}.jsonl").stat().st_size > 20_000_000
    return home


@pytest.fixture(scope="module")
def big_server(big_home: Path, tmp_path_factory: pytest.TempPathFactory, backend: str, request: pytest.FixtureRequest):
    """Over the local index, and over a team database the same logs were pushed to (`backend`)."""
    from conftest import api_on

    cfg = Config.load(env={"HOME": str(big_home)}, data_dir=tmp_path_factory.mktemp("bigdata"))
    cfg.live_seconds = 0
    api = api_on(backend, cfg, request)
    api.refresh()
    return build_server(api), cfg.budget_chars


@pytest.fixture
async def client(big_server):
    async with Client(big_server[0], mode="legacy") as c:
        yield c


CALLS = [
    ("list_sessions", {"limit": 200}),
    ("get_session", {"session_id": SID, "limit": 200}),
    ("get_turn", {"session_id": SID, "turn_index": HUGE_TURN}),
    ("get_turn", {"session_id": SID, "turn_index": -1}),
    ("find_failed_tools", {"limit": 200}),
    ("find_failed_tools", {"session_id": SID, "limit": 200}),
    ("search_history", {"query": "module_5", "limit": 200}),
    ("search_history", {"query": "processed batch", "kind": ["tool_output"], "limit": 200}),
    ("list_projects", {"limit": 200}),
    ("get_text", {"session_id": SID, "field": "output", "call_id": f"toolu_{HUGE_TURN:05d}"}),
    ("current_session", {"project": "/home/dev/big"}),
    ("find_failed_tools", {"group_by": "error", "limit": 200}),
    ("find_failed_tools", {"group_by": "tool", "limit": 200}),
    ("analyze_session", {"session_id": SID}),
    ("analyze_session", {"session_id": SID, "max_per_kind": 200, "repeat_min": 2, "retry_min": 2}),
    ("get_usage", {"session_id": SID, "limit": 200}),
    ("get_usage", {"session_id": SID, "turn": HUGE_TURN}),
    ("get_usage", {"limit": 200}),
]


@pytest.mark.parametrize("name,args", CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CALLS)])
async def test_response_stays_under_the_budget(client: Client, big_server, name: str, args: dict):
    budget = big_server[1]
    r = await client.call_tool(name, args)
    assert not r.is_error, r.content[0].text
    assert len(r.content[0].text) <= budget
    # as clients serialise it (JSON.stringify: compact)
    assert len(json.dumps(r.structured_content, ensure_ascii=False, separators=(",", ":"))) <= budget


async def test_cut_turn_list_says_so_and_pages_on(client: Client):
    r = (await client.call_tool("get_session", {"session_id": SID, "limit": 200})).structured_content
    assert r["turns_total"] == TURNS
    assert r["next_cursor"] is not None
    assert len(r["turns"]) <= 200


async def test_huge_output_is_cut_head_and_tail_with_its_full_length(client: Client):
    r = (await client.call_tool("get_turn", {"session_id": SID, "turn_index": HUGE_TURN})).structured_content
    tool = r["steps"][0]["tools"][0]
    assert tool["output_truncated"] is True
    assert tool["output_chars"] > 5_000_000
    assert tool["output"].startswith("000000 INFO")
    assert tool["output"].rstrip().endswith(f"{HUGE_LINES - 1:06d} INFO worker-{(HUGE_LINES - 1) % 13} processed batch "
                                            f"{HUGE_LINES - 1} in {(HUGE_LINES - 1) % 997} ms")
    # the cut says which call returns all of it
    assert f"get_text(session_id={SID}, call_id=toolu_{HUGE_TURN:05d}, field=output) returns all" in tool["output"]
    assert "get_text" in r["note"]


async def test_the_rest_of_a_huge_output_is_reachable_page_by_page(client: Client, backend: str):
    args = {"session_id": SID, "field": "output", "call_id": f"toolu_{HUGE_TURN:05d}"}
    first = (await client.call_tool("get_text", args)).structured_content
    if backend == "postgres":
        # the whole output stays in the log, on its machine: a team database has the head and tail pushed
        assert first["source"] == "index" and first["next_offset"] is None and first["complete"] is False
        return
    assert first["next_offset"] == len(first["text"])
    second = (await client.call_tool("get_text", {**args, "offset": first["next_offset"]})).structured_content
    assert second["offset"] == first["next_offset"]
    assert (first["text"] + second["text"]).split("\n")[1500].startswith("001500 INFO")


async def test_a_small_budget_cuts_lists_and_keeps_a_cursor(big_home: Path, tmp_path: Path):
    cfg = Config.load(env={"HOME": str(big_home)}, data_dir=tmp_path / "d", budget_tokens=1000)
    cfg.live_seconds = 0
    api = Agtrace(cfg)
    res = api.find_failed_tools(limit=200)
    assert res.truncated and res.next_cursor and 0 < len(res.failures) < 200
    assert len(res.model_dump_json()) <= cfg.budget_chars
    nxt = api.find_failed_tools(limit=200, cursor=res.next_cursor)
    assert nxt.failures[0].call_id != res.failures[-1].call_id
