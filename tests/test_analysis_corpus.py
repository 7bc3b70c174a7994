"""`analyze_session` on the real corpus (../shared/corpus, skipped when absent), laid out in a temporary HOME
as the agents write it. Every session is analysed (no error, under the budget); the findings below were
checked by reading the logs at their coordinates, and each test re-reads the RAW records to show the
evidence (identical inputs, error flags, timestamps), independently of the product.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config

INLINE = "v1.0.98_inline-sidechain-Task_summary_errors_fe5e1c67.jsonl"  # holds 5 inline sidechain sessions
PLAN = "v2.1.12_agent-progress-subagent_interrupts_plan-mode_d64b50bb.jsonl"
GLM = "v2.1.202-2.1.204_glm-5-model_attachments_ai-title_mode.jsonl"
CODEX_POLL = "v0.145.0_exec-nonzero-exit_compacted_019fb117.jsonl"
GEMINI_DENY = "jsonl-2026-04_session-e435870b_info-error-cancelled_repeated-ids_two-models.jsonl"
CLAUDE_SUB = {
    "v2.0.28_agent-0c4c3cf8_warmup-sidechain.jsonl": "agent-0c4c3cf8.jsonl",
    "v2.1.27_subagents_agent-aprompt_suggestion-7508e4_side-agent.jsonl":
        "0c24fece-29a4-43d7-9632-9a4034dfb130/subagents/agent-aprompt_suggestion-7508e4.jsonl",
    "v2.1.92_subagents_agent-a85dc9d2e4735834b_Explore.jsonl":
        "b7c1b320-b4ec-485d-8469-2da4268cc07e/subagents/agent-a85dc9d2e4735834b.jsonl",
}


def records(path: Path) -> list[dict]:
    out, dec = [], json.JSONDecoder()
    for line in path.read_text(encoding="utf-8").splitlines():
        pos = 0
        while pos < len(line):
            try:
                o, pos = dec.raw_decode(line, pos)
            except json.JSONDecodeError:
                break
            while pos < len(line) and line[pos].isspace():
                pos += 1
            out.append(o)
    return out


def claude_calls(path: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """tool_use blocks by id (name, input, timestamp, record index) and tool_result blocks by tool_use_id."""
    uses, results = {}, {}
    for i, o in enumerate(records(path)):
        content = (o.get("message") or {}).get("content")
        if not isinstance(content, list):
            continue
        for b in content:
            if not isinstance(b, dict):
                continue
            if b.get("type") == "tool_use":
                uses[b["id"]] = {"name": b["name"], "input": b["input"], "ts": o["timestamp"], "i": i}
            elif b.get("type") == "tool_result":
                c = b.get("content")
                text = c if isinstance(c, str) else json.dumps(c)
                results[b["tool_use_id"]] = {"is_error": b.get("is_error"), "text": text, "ts": o["timestamp"], "i": i}
    return uses, results


def _ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def corpus_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import CORPUS, require_corpus

    require_corpus()
    home = tmp_path_factory.mktemp("ac") / "home"
    proj = home / ".claude" / "projects" / "-corpus"
    for f in sorted((CORPUS / "claude_code").glob("*.jsonl")):
        sid = next(r["sessionId"] for r in records(f) if r.get("sessionId"))
        dest = proj / CLAUDE_SUB.get(f.name, f"{sid}.jsonl")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest)
    cx = home / ".codex" / "sessions" / "2026" / "01" / "01"
    cx.mkdir(parents=True)
    for f in sorted((CORPUS / "codex").glob("*.jsonl")):
        shutil.copy(f, cx / f"rollout-2026-01-01T00-00-00-{f.stem}.jsonl")
    chats = home / ".gemini" / "tmp" / "corpus" / "chats"
    chats.mkdir(parents=True)
    for k, f in enumerate(sorted((CORPUS / "gemini_cli").glob("*.json*"))):
        shutil.copy(f, chats / f"session-2026-01-0{k}T00-00-{f.stem[-8:]}{f.suffix}")
    return home


@pytest.fixture(scope="module")
def api(corpus_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Agtrace:
    cfg = Config.load(env={"HOME": str(corpus_home)}, data_dir=tmp_path_factory.mktemp("acdata"))
    cfg.live_seconds = 0
    a = Agtrace(cfg)
    a.refresh()
    yield a
    a.close()


def by_kind(api: Agtrace, sid: str, kind: str) -> list:
    return [f for f in api.analyze_session(sid).findings if f.kind == kind]


def inline_file(corpus_home: Path) -> Path:
    return corpus_home / ".claude/projects/-corpus/fe5e1c67-53e7-4862-81ae-d0e013e3270b.jsonl"


def test_every_corpus_session_is_analysed_within_the_budget(api: Agtrace):
    sessions = api.list_sessions(include_subagents=True, limit=200).sessions
    assert len(sessions) >= 30
    for s in sessions:
        res = api.analyze_session(s.session_id)
        assert len(res.model_dump_json()) <= api.config.budget_chars
        for f in res.findings:
            assert f.start_turn <= f.end_turn < max(s.turns, 1) + 1
            assert f.calls_total >= len(f.call_ids)


def test_npm_build_retried_four_times_unchanged_is_a_storm_that_never_succeeded(api: Agtrace, corpus_home: Path):
    # Claude Code 1.0.98 sidechain f4ab2bf6 (inline in fe5e1c67…), lines 402-412: `npm run build` four times, only
    # the description changes ("from correct directory", …), every result is_error with the same
    # "TypeError: generate is not a function"; the agent then gave up and ran `npx next dev`.
    [f] = [f for f in by_kind(api, "f4ab2bf6", "retry_storm") if f.tool == "Bash"]
    assert (f.severity, f.count, f.resolved) == ("critical", 4, False)
    assert (f.start_turn, f.start_step, f.end_turn, f.end_step) == (0, 42, 0, 45)
    uses, results = claude_calls(inline_file(corpus_home))
    assert {uses[c]["input"]["command"] for c in f.call_ids} == {"npm run build"}
    assert len({uses[c]["input"]["description"] for c in f.call_ids}) == 4
    assert all(results[c]["is_error"] and "generate is not a function" in results[c]["text"] for c in f.call_ids)
    first, last = uses[f.call_ids[0]]["i"], uses[f.call_ids[-1]]["i"]
    between = [u for u in uses.values() if first < u["i"] < last]
    assert between == [u for u in between if u["name"] == "Bash"]  # no file written in between


def test_one_file_rewritten_with_edit_multiedit_write_after_the_same_error(api: Agtrace, corpus_home: Path):
    # f4ab2bf6 steps 24-34: Write, Write, Edit, MultiEdit of useTodos.ts all fail with "File has not been read
    # yet" (even after a Read at step 25); the agent then created useSimpleTodos.ts instead.
    [f] = [f for f in by_kind(api, "f4ab2bf6", "retry_storm") if f.tool != "Bash"]
    assert (f.target, f.count, f.resolved, f.severity) == \
        ("/path/to/Demo/todo-app/src/hooks/useTodos.ts", 4, False, "critical")
    assert (f.start_step, f.end_step) == (24, 34)
    uses, results = claude_calls(inline_file(corpus_home))
    assert [uses[c]["name"] for c in f.call_ids] == ["Write", "Write", "Edit", "MultiEdit"]
    assert {uses[c]["input"]["file_path"] for c in f.call_ids} == {f.target}
    assert all("File has not been read yet" in results[c]["text"] for c in f.call_ids)


def test_a_storm_resolved_by_a_shell_heredoc_to_the_same_file(api: Agtrace, corpus_home: Path):
    # f4546a51 steps 8-12: Edit, Edit, MultiEdit, Write of types/index.ts fail ("not read yet"); at step 24 a
    # Bash `cat > types/index.ts << 'EOF'` writes it.
    [f] = by_kind(api, "f4546a51", "retry_storm")
    assert (f.target, f.count, f.resolved, f.severity) == ("/path/to/Demo/types/index.ts", 4, True, "warning")
    assert (f.start_step, f.end_step) == (8, 24)
    uses, results = claude_calls(inline_file(corpus_home))
    fixer = f.call_ids[-1]
    assert uses[fixer]["input"]["command"].startswith("cat > types/index.ts << 'EOF'")
    assert results[fixer]["is_error"] is False
    assert all(results[c]["is_error"] for c in f.call_ids[:-1])


def test_the_same_write_three_times(api: Agtrace, corpus_home: Path):
    # f4546a51: Write types/state.ts at step 4 (ok), again at 19 and 20 (both "not read yet"): identical inputs.
    [f] = by_kind(api, "f4546a51", "repeated_call")
    assert (f.tool, f.count, f.start_step, f.end_step) == ("Write", 3, 4, 20)
    uses, results = claude_calls(inline_file(corpus_home))
    assert len({json.dumps(uses[c]["input"], sort_keys=True) for c in f.call_ids}) == 1
    assert [bool(results[c]["is_error"]) for c in f.call_ids] == [False, True, True]


def test_the_same_edit_three_times(api: Agtrace, corpus_home: Path):
    # 60dade70 steps 15, 16, 18: the same Edit of page.tsx; the first two fail ("not read yet"), a Read at 17.
    [f] = by_kind(api, "60dade70", "repeated_call")
    assert (f.tool, f.count, f.start_step, f.end_step) == ("Edit", 3, 15, 18)
    uses, results = claude_calls(inline_file(corpus_home))
    assert len({json.dumps(uses[c]["input"], sort_keys=True) for c in f.call_ids}) == 1
    assert [bool(results[c]["is_error"]) for c in f.call_ids] == [True, True, False]


def test_a_long_exploration_without_a_write(api: Agtrace, corpus_home: Path):
    # f4ab2bf6 steps 0-25: finds, ls and Reads (a failed Write at 24 does not count as progress).
    [f] = by_kind(api, "f4ab2bf6", "no_progress")
    assert (f.start_step, f.end_step, f.count) == (0, 25, 24)
    uses, _ = claude_calls(inline_file(corpus_home))
    names = {uses[c]["name"] for c in f.call_ids}
    assert names == {"Bash", "Read"}
    assert all(uses[c]["input"]["command"].split()[0] in ("find", "ls") for c in f.call_ids
               if uses[c]["name"] == "Bash")


def test_a_denied_plan_resubmitted_and_denied_again(api: Agtrace, corpus_home: Path):
    # d64b50bb lines 34-44: ExitPlanMode rejected with the user's feedback, a revised plan submitted, rejected
    # again ("STOP what you are doing"), then "[Request interrupted by user for tool use]".
    fs = by_kind(api, "d64b50bb", "denied_call")
    assert [(f.start_turn, f.start_step) for f in fs] == [(1, 2), (1, 4)]
    assert fs[0].call_ids[1] == fs[1].call_ids[0] and "similar call was tried again" in fs[0].explanation
    uses, results = claude_calls(corpus_home / ".claude/projects/-corpus/d64b50bb-125b-4b54-867a-e59841e553d8.jsonl")
    for c in (fs[0].call_ids[0], fs[1].call_ids[0]):
        assert uses[c]["name"] == "ExitPlanMode" and "doesn't want to proceed" in results[c]["text"]
    assert uses[fs[0].call_ids[0]]["input"]["plan"] != uses[fs[1].call_ids[0]]["input"]["plan"]
    # one refusal is one finding: the interrupt that closed turn 1 after the second refusal is not another
    assert by_kind(api, "d64b50bb", "interrupted_turn") == []
    # turn 0 was stopped and the user said what to do instead
    [c] = [f for f in by_kind(api, "d64b50bb", "user_correction") if f.start_turn == 0]
    assert c.end_turn == 1 and "stopped turn 0" in c.explanation


def test_a_gemini_shell_command_the_user_denied(api: Agtrace, corpus_home: Path):
    [f] = by_kind(api, "e435870b", "denied_call")
    assert (f.tool, f.target, f.start_turn, f.start_step) == ("run_shell_command", "gemini mcp list", 0, 1)
    from conftest import CORPUS

    text = (CORPUS / "gemini_cli" / GEMINI_DENY).read_text()
    assert "User denied execution" in text and '"gemini mcp list"' in text


def test_a_bash_call_that_took_six_and_a_half_minutes(api: Agtrace, corpus_home: Path):
    # 467cacaa (glm-5 file) line 218 → 219: a `mkdir -p …` that returned 397.5 s later (waiting for approval).
    [f] = by_kind(api, "467cacaa", "slow_tool")
    assert (f.tool, f.start_turn, f.start_step, f.severity) == ("Bash", 7, 3, "warning")
    uses, results = claude_calls(corpus_home / ".claude/projects/-corpus/467cacaa-6d8b-4361-b30a-d1c1081e2a27.jsonl")
    c = f.call_ids[0]
    took = (_ts(results[c]["ts"]) - _ts(uses[c]["ts"])).total_seconds()
    assert took == 397.5 and "397.5s" in f.explanation
    assert "mkdir -p" in uses[c]["input"]["command"]


def test_codex_polling_is_not_a_repeated_call(api: Agtrace, corpus_home: Path):
    # 019fb117 steps 107-130: 24 `write_stdin` polls of the same running `make runtime-e2e` (session 21570, chars
    # "", only max_output_tokens differs). Waiting on a process is not a loop: no finding in this 169-call session.
    polls: dict[tuple, int] = {}
    path = next((corpus_home / ".codex/sessions").rglob(f"*{CODEX_POLL[:-6]}*"))
    for o in records(path):
        p = o.get("payload") or {}
        if p.get("type") == "function_call" and p.get("name") == "write_stdin":
            a = json.loads(p["arguments"])
            polls[(a["session_id"], a["chars"])] = polls.get((a["session_id"], a["chars"]), 0) + 1
    assert polls[(21570, "")] == 24
    res = api.analyze_session("019fb117")
    assert res.tool_calls == 169 and not [f for f in res.findings if f.kind == "repeated_call"]


def test_a_test_run_that_failed_three_times_through_its_polls_is_a_retry_storm(api: Agtrace):
    # 019fb117: `make runtime-e2e` started by `exec` (its output says SESSION_ID=21570) exits 2 under write_stdin
    # (step 130); then two `go test` runs of the same test (exec_command, polled, exit 1; the last one stopped
    # with Ctrl-C) fail the same way: --- FAIL: TestRuntimeProcessesCompleteDisposableFixture
    [f] = api.analyze_session("019fb117").findings
    assert (f.kind, f.severity, f.count, f.resolved) == ("retry_storm", "critical", 3, False)
    assert (f.start_turn, f.start_step) == (0, 106) and f.call_ids[0] == "call_H4raU2GUAJDpAlQdM7hhwGCX"
    assert "make runtime-e2e" in f.explanation and "TestRuntimeProcessesCompleteDisposableFixture" in f.explanation


@pytest.mark.parametrize("sid", ["7f2abd2d", "b7c1b320", "a85dc9d2e4735834b", "0c24fece", "019fa6e3", "f0a689a6"])
def test_sessions_with_nothing_to_report(api: Agtrace, sid: str):
    assert api.analyze_session(sid).findings == []
