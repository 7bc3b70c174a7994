"""Claude Code on the real corpus (../shared/corpus, skipped when absent).

The corpus files are laid out in a temporary HOME as Claude Code writes them (session files named by their
id, subagents in `agent-*.jsonl` and `<session>/subagents/`), so discovery, the engine and the index are
all exercised. Expected numbers were checked by reading the files; raw sums are computed here from the raw
JSON, independently of the product.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.load import load_file
from agtrace_mcp.providers import ParseStats

SUBAGENT_PLACES = {
    "v2.0.28_agent-0c4c3cf8_warmup-sidechain.jsonl": "agent-0c4c3cf8.jsonl",
    "v2.1.27_subagents_agent-aprompt_suggestion-7508e4_side-agent.jsonl":
        "0c24fece-29a4-43d7-9632-9a4034dfb130/subagents/agent-aprompt_suggestion-7508e4.jsonl",
    "v2.1.92_subagents_agent-a85dc9d2e4735834b_Explore.jsonl":
        "b7c1b320-b4ec-485d-8469-2da4268cc07e/subagents/agent-a85dc9d2e4735834b.jsonl",
}


def _records(path: Path) -> list[dict]:
    out = []
    dec = json.JSONDecoder()
    for line in path.read_text(encoding="utf-8").splitlines():
        pos = 0
        while pos < len(line):  # the raw reading must not lose two records on one line either
            while pos < len(line) and line[pos].isspace():
                pos += 1
            if pos >= len(line):
                break
            try:
                obj, pos = dec.raw_decode(line, pos)
            except json.JSONDecodeError:
                break
            out.append(obj)
    return out


def _sid(path: Path) -> str:
    return next(r["sessionId"] for r in _records(path) if r.get("sessionId"))


@pytest.fixture(scope="module")
def claude_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import require_corpus

    src = require_corpus() / "claude_code"
    home = tmp_path_factory.mktemp("cc") / "home"
    proj = home / ".claude" / "projects" / "-corpus"
    for f in sorted(src.glob("*.jsonl")):
        dest = proj / SUBAGENT_PLACES.get(f.name, f"{_sid(f)}.jsonl")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest)
    meta = src / "v2.1.92_subagents_agent-a85dc9d2e4735834b.meta.json"
    shutil.copy(meta, proj / "b7c1b320-b4ec-485d-8469-2da4268cc07e/subagents/agent-a85dc9d2e4735834b.meta.json")
    return home


def _files(home: Path) -> list[Path]:
    return sorted((home / ".claude" / "projects").rglob("*.jsonl"))


def _tools(session):
    return [t for turn in session.turns for step in turn.steps for t in step.tools]


def test_every_corpus_file_loads_and_every_tool_has_a_status(claude_home: Path):
    for f in _files(claude_home):
        stats = ParseStats()
        sessions = load_file(f, stats=stats)
        assert sessions, f
        for s in sessions:
            assert all(t.status in ("ok", "error", "missing", "in_progress") for t in _tools(s))


def test_every_explicit_error_flag_is_a_failure(claude_home: Path):
    for f in _files(claude_home):
        flagged = {b["tool_use_id"] for r in _records(f) if r.get("type") == "user"
                   and isinstance(r.get("message", {}).get("content"), list)
                   for b in r["message"]["content"] if isinstance(b, dict) and b.get("type") == "tool_result"
                   and b.get("is_error") is True}
        status = {t.call_id: t.status for s in load_file(f) for t in _tools(s)}
        for call_id in flagged:
            if call_id in status:  # results of copied-in history have no call here
                assert status[call_id] == "error", (f.name, call_id)
        assert flagged & set(status) == flagged - (flagged - set(status))


def _raw_usage(records: list[dict], own) -> tuple[int, int, int, int]:
    """Usage once per message.id, from the last line of that id; only the records `own` accepts."""
    last: dict[str, dict] = {}
    for r in records:
        if r.get("type") != "assistant" or not own(r):
            continue
        m = r.get("message") or {}
        if m.get("model") == "<synthetic>" or not isinstance(m.get("usage"), dict):
            continue
        last[m.get("id") or r.get("requestId") or r["uuid"]] = m["usage"]
    sums = [0, 0, 0, 0]
    for u in last.values():
        sums[0] += u.get("input_tokens", 0)
        sums[1] += u.get("cache_read_input_tokens", 0)
        sums[2] += u.get("cache_creation_input_tokens", 0)
        sums[3] += u.get("output_tokens", 0)
    return tuple(sums)  # type: ignore[return-value]


def test_token_totals_equal_deduplicated_raw_sums(claude_home: Path):
    for f in _files(claude_home):
        recs = _records(f)
        sessions = load_file(f)
        agent_file = f.name.startswith("agent-")
        if agent_file:
            seen_user = False

            def own(r: dict) -> bool:
                return True
            # records before the first user record are copies of the parent's (side-agents)
            first_user = next(i for i, r in enumerate(recs) if r.get("type") == "user")
            raw = _raw_usage(recs[first_user:], own)
            got = sessions[0].stats
            assert (got.input, got.cache_read, got.cache_write, got.output) == raw, f.name
            del seen_user
            continue
        main_sid = f.stem
        main = next(s for s in sessions if s.session_id == main_sid)
        raw_main = _raw_usage(recs, lambda r, sid=main_sid: not r.get("isSidechain") and r.get("sessionId") == sid)
        st = main.stats
        assert (st.input, st.cache_read, st.cache_write, st.output) == raw_main, f.name
        raw_side = _raw_usage(recs, lambda r: bool(r.get("isSidechain")))
        side = [s for s in sessions if s.session_id != main_sid]
        assert tuple(sum(getattr(s.stats, k) for s in side) for k in ("input", "cache_read", "cache_write", "output")) \
            == raw_side, f.name


def test_claude_2_0_28_main_session_has_two_turns_and_its_failed_bash(claude_home: Path):
    s = load_file(claude_home / ".claude/projects/-corpus/7f2abd2d-7cfc-4447-9ddd-3ca8d14e02e9.jsonl")[0]
    assert [t.user.text[:20] for t in s.turns] == ["add myapp directory ", "cd to myapp and run "]
    failed = [t for t in _tools(s) if t.status == "error"]
    assert [(t.name, t.args["command"], t.error.kind) for t in failed] == \
           [("Bash", "cd myapp && python hoge.py", "tool_error")]
    assert "target shim binary not found" in failed[0].output


def test_two_records_on_one_line_lose_neither(claude_home: Path):
    path = claude_home / ".claude/projects/-corpus/86cc3044-7515-43f1-9c25-1444738c64c9.jsonl"
    line = path.read_text().splitlines()[114]
    first, second = _records_from_line(line)
    assert first["type"] == "assistant" and second["type"] == "file-history-snapshot"
    stats = ParseStats()
    s = load_file(path, stats=stats)[0]
    assert stats.bad_lines == 0
    mid = first["message"]["id"]
    block = first["message"]["content"][0]
    texts = [(st.message or "") + (st.reasoning or "") for t in s.turns for st in t.steps]
    tool_ids = {t.call_id for t in _tools(s)}
    if block["type"] == "tool_use":
        assert block["id"] in tool_ids
    else:
        assert any((block.get("text") or block.get("thinking") or "")[:40] in x for x in texts), mid


def _records_from_line(line: str) -> list[dict]:
    dec = json.JSONDecoder()
    a, end = dec.raw_decode(line)
    b, _ = dec.raw_decode(line, end)
    return [a, b]


def test_inline_sidechains_of_1_0_98_are_subagent_sessions(claude_home: Path):
    sessions = load_file(claude_home / ".claude/projects/-corpus/fe5e1c67-53e7-4862-81ae-d0e013e3270b.jsonl")
    main, subs = sessions[0], sessions[1:]
    assert main.session_id == "fe5e1c67-53e7-4862-81ae-d0e013e3270b"
    assert [t.user.origin for t in main.turns] == ["slash_command", "user"]
    assert main.turns[0].user.slash_command == "/orchestrator"
    assert len(subs) == 5 and all(s.parent_session_id == main.session_id for s in subs)
    linked = {t.child_session_id for t in _tools(main) if t.name == "Task"}
    assert {s.session_id for s in subs} <= linked


def test_compaction_turn_and_its_boundary(claude_home: Path):
    s = load_file(claude_home / ".claude/projects/-corpus/198393f2-22db-477b-ac77-1825bea883ae.jsonl")[0]
    origins = [t.user.origin for t in s.turns]
    assert origins.count("compaction") == 1
    assert s.compactions[0].pre_tokens == 155250 and s.compactions[0].trigger == "auto"
    assert s.compactions[0].turn_index == origins.index("compaction")


def test_interrupts_mark_turns_and_never_start_them(claude_home: Path):
    s = load_file(claude_home / ".claude/projects/-corpus/d64b50bb-125b-4b54-867a-e59841e553d8.jsonl")[0]
    assert not any(t.user.text.startswith("[Request interrupted") for t in s.turns)
    assert sum(t.interrupted for t in s.turns) == 2


def test_subagent_of_2_1_92_is_linked_both_ways_in_the_index(claude_home: Path, tmp_path: Path):
    cfg = Config.load(env={"HOME": str(claude_home)}, data_dir=tmp_path / "d")
    api = Agtrace(cfg)
    parent = api.get_session("b7c1b320-b4ec-485d-8469-2da4268cc07e")
    assert [c.session_id for c in parent.subagents] == ["a85dc9d2e4735834b"]
    assert parent.subagents[0].agent_name == "Explore"
    turn = api.get_turn("b7c1b320", 0)
    agent_call = next(t for s in turn.steps for t in s.tools if t.name == "Agent")
    assert agent_call.child_session_id == "a85dc9d2e4735834b"


def test_side_agent_copy_of_the_parent_message_is_not_counted(claude_home: Path):
    s = load_file(claude_home / ".claude/projects/-corpus/0c24fece-29a4-43d7-9632-9a4034dfb130/subagents/"
                                "agent-aprompt_suggestion-7508e4.jsonl")[0]
    assert s.agent_name == "prompt_suggestion"
    assert s.parent_session_id == "0c24fece-29a4-43d7-9632-9a4034dfb130"
    assert s.turns[0].user.text.startswith("[SUGGESTION MODE")


def test_show_prints_no_base64_of_a_pasted_image(claude_home: Path):
    path = claude_home / ".claude/projects/-corpus/062a8bdd-4322-4ffa-bc38-3e8b8bfb5a56.jsonl"
    assert path.stat().st_size > 1_500_000
    for extra in ([], ["--json"]):
        out = subprocess.run([sys.executable, "-m", "agtrace_mcp", "show", str(path), *extra],
                             capture_output=True, text=True, timeout=120, env={"HOME": str(claude_home), "PATH": ""})
        assert out.returncode == 0, out.stderr
        assert not re.search(r"[A-Za-z0-9+/]{500,}", out.stdout)
        assert len(out.stdout) < 600_000


def test_show_json_cuts_long_bodies_with_a_marker(claude_home: Path):
    path = claude_home / ".claude/projects/-corpus/062a8bdd-4322-4ffa-bc38-3e8b8bfb5a56.jsonl"
    out = subprocess.run([sys.executable, "-m", "agtrace_mcp", "show", str(path), "--json", "--cut", "500"],
                         capture_output=True, text=True, timeout=120, env={"HOME": str(claude_home), "PATH": ""})
    doc = json.loads(out.stdout)
    longest = max((len(t["output"]) for turn in doc["turns"] for st in turn["steps"] for t in st["tools"]), default=0)
    assert longest <= 600
    assert "chars cut; --full shows all" in out.stdout


def test_every_claude_corpus_session_reaches_the_index(claude_home: Path, tmp_path: Path):
    api = Agtrace(Config.load(env={"HOME": str(claude_home)}, data_dir=tmp_path / "i"))
    listed = {s.session_id for s in api.list_sessions(include_subagents=True, limit=200).sessions}
    expected = {s.session_id for f in _files(claude_home) for s in load_file(f)}
    assert listed == expected
    per_provider = defaultdict(int)
    for h in api.doctor().providers:
        per_provider[h.provider] = h.bad_lines
    assert per_provider["claude_code"] == 0
