"""Every argument gets an answer (issue 16, point 6): a NUL, a lone surrogate, megabytes of text, a span of
ten trillion days, 900 levels of nesting — each is a one-line tool error or CLI message that says what to
send instead, and the server keeps answering."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.errors import BadArgumentError
from agtrace_mcp.server import build_server

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "home"
MAIN_ID = "11111111-1111-4111-8111-111111111111"
DEEP_ID = "d0000000-0000-4000-8000-000000000001"
BAD_TEXT = {"nul": ("a\x00b", "NUL"), "surrogate": ("ab\ud800cdef", "surrogate"),
            "huge": ("x" * 2_000_001, "characters long")}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("ba") / "home"
    shutil.copytree(FIXTURES, home)
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path_factory.mktemp("bad"))
    return build_server(Agtrace(cfg))


def _string_params(schema: dict) -> list[str]:
    out = []
    for name, p in schema.get("properties", {}).items():
        kinds = {p.get("type")} | {a.get("type") for a in p.get("anyOf", [])}
        if "string" in kinds:
            out.append(name)
    return out


async def test_every_string_argument_of_every_tool_refuses_unusable_text(server):
    async with Client(server, mode="legacy") as c:
        tools = (await c.list_tools()).tools
        checked = 0
        for tool in tools:
            for param in _string_params(tool.input_schema):
                for what, (value, says) in BAD_TEXT.items():
                    args = {"session_id": MAIN_ID, "turn_index": 0, "call_id": "toolu_pytest", "query": "test",
                            "project": "/home/dev/webapp", "field": "output"}
                    args = {k: v for k, v in args.items() if k in tool.input_schema.get("properties", {})}
                    args[param] = value
                    r = await c.call_tool(tool.name, args)
                    text = r.content[0].text
                    assert r.is_error, (tool.name, param, what)
                    # either our check, or the schema (a string where an enum is expected): one line either way
                    assert "\n" not in text.strip(), (tool.name, param, text[:300])
                    if "must be one of" not in text:
                        assert says in text and param in text, (tool.name, param, text[:300])
                    checked += 1
        assert checked >= 40
        assert not (await c.call_tool("list_sessions", {"limit": 1})).is_error


def test_a_span_too_far_back_and_a_date_out_of_range_say_what_to_send(tmp_path: Path):
    cfg = Config.load(env={"HOME": str(FIXTURES)}, data_dir=tmp_path / "d")
    api = Agtrace(cfg)
    for since in ("9999999999999d", "9" * 5000 + "w", "99999-01-01"):
        with pytest.raises(BadArgumentError, match="ISO date"):
            api.list_sessions(since=since)


def _serve_stdio(home: Path, data: Path) -> subprocess.Popen[bytes]:
    env = {"HOME": str(home), "AGTRACE_MCP_DATA_DIR": str(data), "PATH": os.environ.get("PATH", "")}
    return subprocess.Popen([sys.executable, "-m", "agtrace_mcp", "serve"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def test_raw_json_with_lone_surrogates_nul_and_megabytes_is_answered_over_stdio(tmp_path: Path):
    """What a client sends on the wire (a legal `\\ud800` escape the SDK's parser refuses) gets an answer."""
    p = _serve_stdio(FIXTURES, tmp_path / "d")
    assert p.stdin is not None and p.stdout is not None and p.stderr is not None
    lines = [json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}),
        '{"jsonrpc":"2.0","method":"notifications/initialized"}',
        '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_session","arguments":'
        '{"session_id":"abc\\ud800def"}}}',
        '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search_history","arguments":'
        '{"query":"a\\u0000b"}}}',
        json.dumps({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
            "name": "search_history", "arguments": {"query": "x " * 5_000_000}}}),
        '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"list_sessions","arguments":'
        '{"since":"9999999999999d"}}}',
        '{"jsonrpc":"2.0","id":6,"method":"prompts/get","params":{"name":"review_failures","arguments":'
        '{"session_id":"a\\udc80"}}}',
        '{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"agtrace://session/ab\\ud800cdefg"}}',
        '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"list_sessions","arguments":{"limit":1}}}']
    p.stdin.write(("\n".join(lines) + "\n").encode())
    p.stdin.flush()
    answers: dict[int, dict] = {}
    try:
        while len(answers) < 8:
            ready, _, _ = select.select([p.stdout], [], [], 60)
            assert ready, f"no answer within 60 s; answered so far: {sorted(answers)}"
            msg = json.loads(p.stdout.readline())
            answers[msg["id"]] = msg
    finally:
        p.kill()
        _, err_b = p.communicate()
        err = err_b.decode()
    said = {i: json.dumps(a) for i, a in answers.items()}
    assert "surrogate" in said[2] and "surrogate" in said[6] and "surrogate" in said[7]
    assert "NUL" in said[3] and "at most 2,000" in said[4] and "36500d" in said[5]
    assert answers[8]["result"].get("isError") is not True
    assert "Traceback" not in err


def _deep_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    log = home / ".claude/projects/-x" / f"{DEEP_ID}.jsonl"
    log.parent.mkdir(parents=True)
    deep = '"x"'
    for _ in range(900):
        deep = '{"a":' + deep + "}"
    rec = [
        '{"type":"user","sessionId":"%s","uuid":"u1","parentUuid":null,"cwd":"/x","timestamp":'
        '"2026-05-01T10:00:00.000Z","message":{"role":"user","content":"go"}}' % DEEP_ID,
        '{"type":"assistant","sessionId":"%s","uuid":"a1","parentUuid":"u1","cwd":"/x","timestamp":'
        '"2026-05-01T10:00:01.000Z","message":{"id":"m1","role":"assistant","model":"c","content":[{"type":'
        '"tool_use","id":"toolu_deep","name":"Bash","input":%s}],"usage":{"input_tokens":1,"output_tokens":1}}}'
        % (DEEP_ID, deep),
        '{"type":"user","sessionId":"%s","uuid":"u2","parentUuid":"a1","cwd":"/x","timestamp":'
        '"2026-05-01T10:00:02.000Z","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":'
        '"toolu_deep","content":"ok"}]}}' % DEEP_ID]
    log.write_text("\n".join(rec) + "\n")
    return home


@pytest.mark.parametrize("argv", [["show", DEEP_ID, "--json"], ["show", DEEP_ID], ["output", DEEP_ID, "toolu_deep",
                                                                                    "--args"], ["index"],
                                  ["sessions", "--json"], ["doctor", "--json"]])
def test_900_levels_of_nested_tool_arguments_break_nothing(tmp_path: Path, argv: list[str]):
    home = _deep_home(tmp_path)
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "AGTRACE_MCP_DATA_DIR": str(tmp_path / "d")}
    r = subprocess.run([sys.executable, "-m", "agtrace_mcp", *argv], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    if "--json" in argv and argv[0] == "show":
        doc = json.loads(r.stdout)
        assert "nested deeper than 100 levels" in json.dumps(doc)
    if argv[0] == "sessions":
        assert DEEP_ID in r.stdout


def test_the_cli_refuses_unusable_text_in_one_line(tmp_path: Path):
    env = {"HOME": str(FIXTURES), "PATH": os.environ.get("PATH", ""), "AGTRACE_MCP_DATA_DIR": str(tmp_path / "d")}
    for argv in (["search", "x" * 3000], ["sessions", "--since", "9999999999999d"],
                 ["show", os.fsdecode(b"abc\xffdef")]):
        r = subprocess.run([sys.executable, "-m", "agtrace_mcp", *argv], capture_output=True, env=env, timeout=60)
        err = r.stderr.decode("utf-8", "replace")
        assert r.returncode in (1, 2) and err.count("\n") == 1 and "Traceback" not in err, err
