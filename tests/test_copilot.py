"""GitHub Copilot CLI → the session model: one rule per test, on fixtures/home/.copilot and the real corpus.

Fixtures (fixtures/home/.copilot), one per rule:
- session-state/c0ffee01-…-0001/: events.jsonl + workspace.yaml + vscode.metadata.json ("Login test fix").
  Prompt 1: reasoning, bash whose result ends `<exited with exit code 1>` under `success:true`, a view, an edit
  the user rejected (`error.code: rejected`), a closing answer; 3 × outputTokens (120, 80, 40). Then
  `session.shutdown` (modelMetrics) → `session.resume` → `session.model_change` to gpt-5 → prompt 2 wrapped in a
  VS Code `<reminder>`: an edit and an MCP tool (`github-mcp-server-get_issue`), a compaction
  (preCompactionTokens 90000), an answer (60, 25 tokens), a second shutdown, an unknown event type, a damaged line.
- …-0002/: `abort` while bash runs; `session.error` (quota) in the next turn; a torn last line; no sidecars.
- …-0003/: a `task` call whose subagent's events carry `parentToolCallId` (one grep, two messages).
- …-0004/: only workspace.yaml (a launch with no prompt): not a session.
- session-state/c0ffee05-…-0005.jsonl: the 2025 flat layout (no turn brackets; calls only in execution_start).
- history-session-state/session_…-0006_*.json: 0.0.x `timeline` (a failed `rm`, "Operation cancelled by user");
  session_…-0007_*.json: `chatMessages` only.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.engine.builder import SessionBuilder
from agtrace_mcp.engine.memory import MemorySink
from agtrace_mcp.load import load_file, load_session
from agtrace_mcp.providers import ParseStats, detect_provider
from agtrace_mcp.providers.copilot import CopilotProvider, exit_code, prompt_text, read_workspace_yaml

COPILOT = Path(__file__).resolve().parent.parent / "fixtures" / "home" / ".copilot"
STATE = COPILOT / "session-state"
S1, S2, S3, S4, S5, S6, S7 = (f"c0ffee0{i}-0000-4000-8000-00000000000{i}" for i in range(1, 8))
MAIN = STATE / S1 / "events.jsonl"
ERRORS = STATE / S2 / "events.jsonl"
SUBAGENT = STATE / S3 / "events.jsonl"
FLAT = STATE / f"{S5}.jsonl"
TIMELINE = COPILOT / "history-session-state" / f"session_{S6}_1756720800000.json"
CHAT = COPILOT / "history-session-state" / f"session_{S7}_1755273600000.json"

CORPUS_ID = "252d6b6b-aaad-4790-8254-7ada091ee9fc"
CORPUS_PREFIX = "copilot_cli/2026-04_session-state_252d6b6b_"


def tools_of(session):
    return [t for turn in session.turns for step in turn.steps for t in step.tools]


def tool(session, call_id: str):
    return next(t for t in tools_of(session) if t.call_id == call_id)


@pytest.fixture
def corpus_home(corpus: Path, tmp_path: Path) -> Path:
    """The real session laid out as Copilot writes it: ~/.copilot/session-state/<id>/{events.jsonl, sidecars}."""
    home = tmp_path / "home"
    folder = home / ".copilot" / "session-state" / CORPUS_ID
    folder.mkdir(parents=True)
    for name, target in (("events_tools_compaction.jsonl", "events.jsonl"), ("workspace.yaml", "workspace.yaml"),
                         ("vscode.metadata.json", "vscode.metadata.json"),
                         ("vscode.requests.metadata.json", "vscode.requests.metadata.json"),
                         ("checkpoints_index.md", "checkpoints/index.md")):
        (folder / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus / (CORPUS_PREFIX + name), folder / target)
    return home


# -- discovery ------------------------------------------------------------------------------------------


def test_discovery_finds_every_layout_and_skips_folders_without_events():
    p = CopilotProvider()
    found = {Path(f.path).relative_to(COPILOT).as_posix(): f.kind for f in p.discover(p.default_roots(COPILOT.parent, {}))}
    assert found == {
        f"session-state/{S1}/events.jsonl": "session", f"session-state/{S2}/events.jsonl": "session",
        f"session-state/{S3}/events.jsonl": "session", f"session-state/{S5}.jsonl": "flat",
        f"history-session-state/session_{S6}_1756720800000.json": "legacy_json",
        f"history-session-state/session_{S7}_1755273600000.json": "legacy_json",
    }


def test_copilot_home_and_the_override_move_the_root(tmp_path: Path):
    p = CopilotProvider()
    assert p.default_roots(tmp_path, {})[0] == tmp_path / ".copilot" / "session-state"
    assert p.default_roots(tmp_path, {"COPILOT_HOME": "/c"})[0] == Path("/c/session-state")
    assert p.default_roots(tmp_path, {"COPILOT_HOME": "/c", "AGTRACE_MCP_COPILOT_DIR": "/o"}) == \
           [Path("/o/session-state"), Path("/o/history-session-state")]


def test_describe_and_detect_provider_work_on_a_bare_path():
    p = CopilotProvider()
    assert [p.describe(str(x)).kind for x in (MAIN, FLAT, TIMELINE)] == ["session", "flat", "legacy_json"]
    assert {detect_provider(str(x)) for x in (MAIN, FLAT, TIMELINE, CHAT)} == {"copilot_cli"}


# -- session metadata ---------------------------------------------------------------------------------------


def test_session_id_is_the_folder_name():
    assert load_session(MAIN).session_id == S1
    assert load_session(FLAT).session_id == S5


def test_project_branch_and_version_come_from_session_start():
    s = load_session(MAIN)
    assert (s.provider, s.project_root, s.git_branch, s.cli_version) == ("copilot_cli", "/home/dev/webapp",
                                                                        "feature/login", "1.0.41")


def test_workspace_yaml_fills_the_project_the_log_does_not_record(tmp_path: Path):
    folder = tmp_path / S1
    shutil.copytree(STATE / S1, folder)
    lines = (folder / "events.jsonl").read_text().splitlines(keepends=True)
    start = json.loads(lines[0])
    del start["data"]["context"]
    lines[0] = json.dumps(start) + "\n"
    (folder / "events.jsonl").write_text("".join(lines))
    s = load_session(folder / "events.jsonl", provider="copilot_cli")
    assert (s.project_root, s.git_branch) == ("/home/dev/webapp", "feature/login")


def test_workspace_yaml_block_scalars_and_quotes_are_read(tmp_path: Path):
    y = tmp_path / "workspace.yaml"
    y.write_text('id: x\ncwd: "c:\\\\Users\\\\me"\nsummary: |-\n  line one\n\n  line two\nbranch: main\n')
    assert read_workspace_yaml(str(y)) == {"id": "x", "cwd": "c:\\Users\\me", "summary": "line one\n\nline two",
                                           "branch": "main"}


def test_title_is_the_vscode_custom_title_else_the_first_prompt():
    assert load_session(MAIN).title == "Login test fix"
    assert load_session(ERRORS).title == "Deploy the service to staging"


def test_models_follow_the_selected_model_and_model_changes():
    s = load_session(MAIN)
    assert s.models == ["claude-sonnet-4.5", "gpt-5"]
    assert [st.model for t in s.turns for st in t.steps] == ["claude-sonnet-4.5"] * 3 + ["gpt-5"] * 2


def test_resume_continues_the_same_session():
    sessions = load_file(MAIN)
    assert [s.session_id for s in sessions] == [S1]
    assert sessions[0].stats.turns == 2


# -- turns and steps ----------------------------------------------------------------------------------------


def test_each_user_message_is_a_turn_without_the_harness_blocks():
    s = load_session(MAIN)
    assert [t.user.text for t in s.turns] == ["Fix the failing login test",
                                              "Go ahead and apply the fix, then check issue 42"]


def test_harness_text_is_stripped_from_a_prompt():
    assert prompt_text("<current_datetime>2026</current_datetime>\n\nhello <pr_metadata uri=\"x\"/>") == "hello"
    assert prompt_text("<reminder>only harness</reminder>") == ""
    assert prompt_text("<context>files</context><userRequest>do it</userRequest>") == "do it"


def test_each_assistant_message_is_a_step_with_reasoning_message_and_calls():
    step = load_session(MAIN).turns[0].steps[0]
    assert step.reasoning == "The user wants the login test fixed; run the suite to see the failure."
    assert step.message == "Let me run the tests first."
    assert [t.call_id for t in step.tools] == ["call_bash_1", "call_view_1"]
    assert [len(t.steps) for t in load_session(MAIN).turns] == [3, 2]


def test_a_step_starts_when_its_model_call_started():
    step = load_session(MAIN).turns[0].steps[0]
    assert step.started_at.isoformat() == "2026-05-04T09:00:05.200000+00:00"  # assistant.turn_start


def test_output_tokens_per_message_and_shutdown_totals_are_not_counted_again():
    s = load_session(MAIN)
    assert [st.usage.output for t in s.turns for st in t.steps] == [120, 80, 40, 60, 25]
    assert (s.stats.output, s.stats.input, s.stats.cache_read) == (325, 0, 0)  # prompt side: unknown per step


def test_compaction_records_its_pre_tokens():
    (c,) = load_session(MAIN).compactions
    assert (c.pre_tokens, c.at.isoformat()) == (90000, "2026-05-04T10:00:09+00:00")


# -- tools --------------------------------------------------------------------------------------------------


def test_calls_pair_with_results_by_call_id():
    t = tool(load_session(MAIN), "call_view_1")
    assert (t.name, t.kind, t.status, t.duration_ms) == ("view", "read", "ok", 50)
    assert t.args == {"path": "/home/dev/webapp/src/login.ts"}
    assert t.output.startswith("1. export function login")


def test_exit_code_trailer_is_a_failure_even_under_success_true():
    t = tool(load_session(MAIN), "call_bash_1")
    assert (t.status, t.error.kind, t.error.exit_code) == ("error", "exit_code", 1)
    assert exit_code("ok\n<exited with exit code 0>") == 0 and exit_code("no trailer") is None


def test_rejected_call_is_denied():
    t = tool(load_session(MAIN), "call_edit_1")
    assert (t.status, t.error.kind, t.error.message) == ("error", "denied", "The user rejected this tool call.")


def test_mcp_tools_are_kind_mcp():
    assert tool(load_session(MAIN), "call_mcp_1").kind == "mcp"


def test_abort_interrupts_the_turn_and_its_running_call():
    s = load_session(ERRORS)
    assert [t.interrupted for t in s.turns] == [True, False]
    t = tool(s, "call_deploy")
    assert (t.status, t.error.kind) == ("error", "interrupted")


def test_session_error_is_a_failed_step_of_its_own():
    turn = load_session(ERRORS).turns[1]
    assert [st.status for st in turn.steps] == ["failed"]
    assert turn.steps[0].message == "quota: You have exceeded your premium request allowance."


def test_subagent_events_form_a_child_session_linked_from_the_task_call():
    parent, child = load_file(SUBAGENT)
    task = tool(parent, "call_task_1")
    assert (task.kind, task.child_session_id) == ("plan", "call_task_1")
    assert (child.session_id, child.parent_session_id, child.agent_name) == ("call_task_1", S3, "code-review")
    assert child.turns[0].user.text == "Review src/auth for security issues"
    assert [t.name for t in tools_of(child)] == ["grep"] and child.stats.steps == 2
    assert [t.name for t in tools_of(parent)] == ["task"] and parent.stats.output == 60


# -- tolerance ----------------------------------------------------------------------------------------------


def test_unknown_events_and_damaged_lines_are_counted_not_fatal():
    stats = ParseStats()
    load_file(MAIN, stats=stats)
    assert stats.unknown == {"session.future_event": 1}
    assert stats.bad_lines == 1
    assert stats.skipped["session.shutdown"] == 2


def test_torn_last_line_is_read_once_complete(tmp_path: Path):
    path = tmp_path / S2 / "events.jsonl"
    shutil.copytree(STATE / S2, path.parent)
    stats = ParseStats()
    assert len(load_session(path, provider="copilot_cli").turns[1].steps) == 1
    load_file(path, provider="copilot_cli", stats=stats)
    assert stats.torn_tail and stats.bad_lines == 0
    with open(path, "a") as f:
        f.write(',"interactionId":"i-2"},"id":"x","timestamp":"2026-05-05T14:01:02.000Z","parentId":null}\n'
                '{"type":"assistant.message","data":{"messageId":"m-9","content":"Quota is fine now.","outputTokens":5},'
                '"id":"y","timestamp":"2026-05-05T14:01:05.000Z","parentId":null}\n')
    assert [st.status for st in load_session(path, provider="copilot_cli").turns[1].steps] == ["failed", "done"]


def test_reading_a_grown_file_from_its_offset_equals_reading_it_whole(tmp_path: Path):
    folder = tmp_path / S1
    shutil.copytree(STATE / S1, folder)
    data = MAIN.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    path = folder / "events.jsonl"
    path.write_bytes(data[:cut])
    prov = CopilotProvider()
    src = prov.describe(str(path))
    sink = MemorySink()
    b = SessionBuilder(sink)
    end, state = prov.parse(src, 0, None, b.feed, ParseStats())
    b.flush()
    state, sessions = pickle.loads(pickle.dumps((state, b.sessions)))  # what the index stores between reads
    path.write_bytes(data)
    b = SessionBuilder(sink, sessions)
    prov.parse(src, end, state, b.feed, ParseStats())
    b.finish()
    (piecewise,) = sink.to_models()
    whole = load_session(path, provider="copilot_cli")
    assert piecewise.model_dump() == whole.model_dump()


def test_every_tool_call_has_a_status():
    for path in (MAIN, ERRORS, SUBAGENT, FLAT, TIMELINE, CHAT):
        for s in load_file(path):
            assert all(t.status in ("ok", "error", "missing", "in_progress") for t in tools_of(s))


# -- older layouts ------------------------------------------------------------------------------------------


def test_flat_2025_file_gets_its_calls_from_execution_start():
    s = load_session(FLAT)
    assert (s.project_root, s.cli_version, s.stats.turns, s.stats.steps) == ("/home/dev/scripts", "0.0.340", 1, 2)
    t = tool(s, "toolu_du")
    assert (t.name, t.status, t.output) == ("bash", "ok", "1.2G\tlogs\n<exited with exit code 0>")


def test_history_timeline_document_gives_turns_failures_and_interrupts():
    s = load_session(TIMELINE)
    assert (s.session_id, s.started_at.isoformat()) == (S6, "2025-09-01T10:00:00+00:00")
    assert [t.user.text for t in s.turns] == ["List the files here", "Delete b.txt"]
    assert [len(t.steps) for t in s.turns] == [2, 1]
    assert [t.interrupted for t in s.turns] == [False, True]
    t = tool(s, "toolu_rm")
    assert (t.status, t.error.kind, t.error.exit_code) == ("error", "exit_code", 1)


def test_history_chat_messages_document_pairs_calls_and_results():
    s = load_session(CHAT)
    assert [t.user.text for t in s.turns] == ["What does make lint run?"]
    t = tool(s, "call_cat")
    assert (t.kind, t.args, t.output) == ("read", {"command": "view", "path": "Makefile"}, "lint:\n\truff check .")


def test_a_history_document_is_never_resumed_from_a_byte_offset():
    src = CopilotProvider().describe(str(TIMELINE))
    end, state = CopilotProvider().parse(src, 0, None, lambda e: None, ParseStats())
    assert end > TIMELINE.stat().st_size and state is None  # the index re-reads it whole when it changes


# -- the real corpus (../shared/corpus; skipped when absent) --------------------------------------------------


def test_corpus_session_gives_the_turns_steps_and_tool_failures_the_file_shows(corpus_home: Path):
    # By hand from the file: 1 user.message, 16 assistant.message (= 16 assistant.turn_start), 20 tool calls of
    # which 4 `powershell` calls have success:false ("pwsh is not available"), outputTokens summing to 6391
    # (= the shutdown's modelMetrics outputTokens), one completed compaction (preCompactionTokens 112275).
    path = corpus_home / ".copilot" / "session-state" / CORPUS_ID / "events.jsonl"
    stats = ParseStats()
    (s,) = load_file(path, stats=stats)
    assert (s.session_id, s.title, s.project_root, s.git_branch, s.cli_version, s.models) == (
        CORPUS_ID, "Document Issue Fixes and Verification", "c:\\Users\\loganf\\Documents\\IDAHO-VAULT", "main",
        None, ["claude-haiku-4.5"])
    assert (s.stats.turns, s.stats.steps, s.stats.tool_calls, s.stats.failed_tools) == (1, 16, 20, 4)
    failed = [t for t in tools_of(s) if t.status == "error"]
    assert {(t.name, t.error.kind) for t in failed} == {("powershell", "tool_error")}
    assert all("pwsh" in t.error.message for t in failed)
    assert s.stats.output == 6391
    assert [c.pre_tokens for c in s.compactions] == [112275]
    assert (stats.bad_lines, dict(stats.unknown)) == (0, {})


def test_find_failed_tools_finds_the_corpus_failures(corpus_home: Path, tmp_path: Path):
    api = Agtrace(Config.load(env={"HOME": str(corpus_home)}, data_dir=tmp_path / "index"))
    res = api.find_failed_tools(provider="copilot_cli", limit=50)
    assert res.total == 4
    assert {(f.session_id, f.tool, f.error_kind) for f in res.failures} == {(CORPUS_ID, "powershell", "tool_error")}
    assert all("pwsh" in f.error for f in res.failures)


def test_show_json_prints_the_corpus_session_in_the_model_shape(corpus_home: Path):
    path = corpus_home / ".copilot" / "session-state" / CORPUS_ID / "events.jsonl"
    out = subprocess.run([sys.executable, "-m", "agtrace_mcp", "show", str(path), "--json"], capture_output=True,
                         text=True, timeout=120, env={"HOME": str(corpus_home), "PATH": os.environ.get("PATH", "")})
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["session_id"], doc["provider"], doc["stats"]["turns"], doc["stats"]["failed_tools"]) == \
           (CORPUS_ID, "copilot_cli", 1, 4)
    assert len(doc["turns"][0]["steps"]) == 16
