"""A small tool list and forgiving arguments with clear errors (issue 12, points 9 and 10), measured through
the official MCP client as an agent's host sees them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.server import build_server

ROOT = Path(__file__).resolve().parent.parent
MAIN_ID = "11111111-1111-4111-8111-111111111111"
MODEL_FACING_MAX = 6_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    cfg = Config.load(env={"HOME": str(ROOT / "fixtures" / "home")}, data_dir=tmp_path_factory.mktemp("tl"))
    cfg.live_seconds = 0
    return build_server(Agtrace(cfg))


@pytest.fixture
async def client(server):
    async with Client(server, mode="legacy") as c:
        yield c


def compact(v: object) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


async def listed(client: Client) -> list[dict]:
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in (await client.list_tools()).tools]


def _keys(node: object, out: list[str]) -> list[str]:
    """Every schema keyword in a JSON schema (property names excluded)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "properties" and isinstance(v, dict):
                for p in v.values():
                    _keys(p, out)
                continue
            out.append(k)
            _keys(v, out)
    elif isinstance(node, list):
        for v in node:
            _keys(v, out)
    return out


# -- 9. a small tool list ---------------------------------------------------------------------------------------


async def test_the_model_facing_tool_list_is_under_6000_chars(client: Client):
    tools = await listed(client)
    model_facing = sum(len(compact({"name": t["name"], "description": t["description"],
                                    "inputSchema": t["inputSchema"]})) for t in tools)
    assert model_facing <= MODEL_FACING_MAX, f"{model_facing} chars for {len(tools)} tools"


async def test_schemas_carry_no_pydantic_titles_null_unions_or_definitions(client: Client):
    for t in await listed(client):
        keys = _keys(t["inputSchema"], [])
        assert "title" not in keys and "$defs" not in keys and "anyOf" not in keys, t["name"]
        out = t["outputSchema"]
        assert "title" not in _keys(out, []), t["name"]
        refs = compact(out).count('"$ref"')
        for name in out.get("$defs", {}):  # a definition is kept only when several places use it
            assert compact(out).count(f'"#/$defs/{name}"') > 1, (t["name"], name, refs)


async def test_every_description_says_what_to_call_next(client: Client):
    for t in await listed(client):
        d = t["description"]
        assert "\n" not in d and len(d) <= 330, t["name"]
        if t["name"] not in ("secret_findings", "get_text"):
            assert "Next: " in d, t["name"]


async def test_every_threshold_the_readme_names_is_an_argument_of_analyze_session(client: Client):
    [tool] = [t for t in await listed(client) if t["name"] == "analyze_session"]
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Analysis"):readme.index("## What it gets right")]
    from agtrace_mcp.engine.analysis import Thresholds
    named = [n for n in Thresholds.names() if f"`{n}`" in section]
    assert len(named) >= 12 and set(named) <= set(tool["inputSchema"]["properties"])


# -- 10. forgiving arguments, clear errors ----------------------------------------------------------------------


async def error(client: Client, name: str, args: dict) -> str:
    r = await client.call_tool(name, args)
    assert r.is_error, r.structured_content
    text = r.content[0].text
    assert "\n" not in text and "pydantic" not in text and "http" not in text, text
    return text


async def test_a_wrongly_typed_argument_is_one_line_naming_it(client: Client):
    assert await error(client, "get_turn", {"session_id": MAIN_ID, "turn_index": "last"}) == \
        "get_turn: turn_index must be a whole number, not 'last'"


async def test_a_missing_argument_says_what_the_tool_takes(client: Client):
    assert await error(client, "get_turn", {"session_id": MAIN_ID}) == \
        "get_turn: turn_index is required (get_turn takes session_id, turn_index, detail, cursor)"


async def test_an_unknown_argument_is_an_error(client: Client):
    text = await error(client, "analyze_session", {"session_id": MAIN_ID, "retry_limit": 2})
    assert text.startswith("analyze_session: unknown argument 'retry_limit'; it takes session_id, repeat_min")


async def test_an_out_of_range_threshold_is_an_error_in_our_words(client: Client):
    assert await error(client, "analyze_session", {"session_id": MAIN_ID, "retry_similarity": 3}) == \
        "retry_similarity must be between 0.0 and 1.0, not 3.0"


async def test_provider_aliases_are_accepted(client: Client):
    for alias, name in (("claude", "claude_code"), ("gemini", "gemini_cli"), ("copilot", "copilot_cli"),
                        ("Claude", "claude_code")):
        r = await client.call_tool("list_sessions", {"provider": alias})
        assert not r.is_error, r.content[0].text
        assert {s["provider"] for s in r.structured_content["sessions"]} == {name}


async def test_since_after_until_is_an_error(client: Client):
    text = await error(client, "list_sessions", {"since": "2026-05-02", "until": "2026-05-01"})
    assert text == "since (2026-05-02) is after until (2026-05-01); swap them"
    assert "after until" in await error(client, "search_history", {"query": "x", "since": "1d", "until": "3d"})


async def test_an_enum_argument_names_its_choices(client: Client):
    assert await error(client, "get_turn", {"session_id": MAIN_ID, "turn_index": 0, "detail": "all"}) == \
        "get_turn: detail must be one of outline or full, not 'all'"
