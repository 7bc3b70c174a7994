"""Claude Code logs → the session model: one rule of DESIGN §3 per test, on fixtures/home/.claude."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agtrace_mcp.load import load_file, load_session
from agtrace_mcp.providers import ParseStats
from agtrace_mcp.providers.claude import ClaudeProvider

PROJECTS = Path(__file__).resolve().parent.parent / "fixtures" / "home" / ".claude" / "projects"
MAIN = PROJECTS / "-home-dev-webapp" / "11111111-1111-4111-8111-111111111111.jsonl"
COMPACT = PROJECTS / "-home-dev-webapp" / "22222222-2222-4222-8222-222222222222.jsonl"
WITH_SUBAGENT = PROJECTS / "-home-dev-webapp" / "33333333-3333-4333-8333-333333333333.jsonl"
SUBAGENT = PROJECTS / "-home-dev-webapp" / "33333333-3333-4333-8333-333333333333" / "subagents" / "agent-a1b2c3d4e5f607182.jsonl"
INLINE = PROJECTS / "-home-dev-legacy" / "44444444-4444-4444-8444-444444444444.jsonl"
SIBLING_AGENT = PROJECTS / "-home-dev-legacy" / "agent-5e6f7a8b.jsonl"
TOLERANCE = PROJECTS / "-home-dev-webapp" / "66666666-6666-4666-8666-666666666666.jsonl"


def tools(session):
    return [t for turn in session.turns for step in turn.steps for t in step.tools]


def test_meta_messages_and_local_commands_are_not_turns():
    s = load_session(MAIN)
    assert [t.user.text for t in s.turns] == ["Run the tests and fix what fails", "Use a + b + c but keep the signature"]


def test_ide_blocks_are_stripped_from_the_prompt():
    assert load_session(MAIN).turns[0].user.text == "Run the tests and fix what fails"


def test_system_reminder_only_message_is_not_a_turn():
    assert all("system-reminder" not in t.user.text for t in load_session(MAIN).turns)


def test_interrupt_marks_the_turn_and_never_starts_one():
    s = load_session(MAIN)
    assert [t.interrupted for t in s.turns] == [True, False]


def test_lines_sharing_a_message_id_are_one_step():
    step = load_session(MAIN).turns[0].steps[0]
    assert step.reasoning == "I should run pytest first."
    assert step.message == "Running the test suite."
    assert [t.name for t in step.tools] == ["Bash"]


def test_usage_counted_once_per_message_from_its_last_line():
    s = load_session(MAIN)
    u = s.turns[0].steps[0].usage
    assert (u.input, u.cache_read, u.cache_write, u.output) == (10, 1000, 500, 120)
    assert u.context_tokens == 1510
    assert s.stats.output == 120 + 90 + 80 + 30


def test_bash_failure_keeps_its_exit_code():
    bash = tools(load_session(MAIN))[0]
    assert bash.status == "error"
    assert bash.error.kind == "exit_code" and bash.error.exit_code == 1
    assert "1 failed" in bash.output


def test_user_rejection_is_a_denied_failure():
    edit = tools(load_session(MAIN))[1]
    assert edit.status == "error" and edit.error.kind == "denied"


def test_tool_duration_comes_from_call_and_result_times():
    assert tools(load_session(MAIN))[0].duration_ms == 2300  # 10:00:03.200 → 10:00:05.500


def test_project_is_the_recorded_cwd_not_the_folder_name():
    s = load_session(MAIN)
    assert s.project_root == "/home/dev/webapp"
    assert s.git_branch == "main"


def test_title_is_the_first_real_prompt():
    assert load_session(MAIN).title == "Run the tests and fix what fails"


def test_unknown_record_types_are_counted_not_fatal():
    stats = ParseStats()
    load_file(MAIN, stats=stats)
    assert stats.unknown["brand-new-record-type"] == 1
    assert stats.bad_lines == 0


def test_slash_command_that_expands_into_a_prompt_is_a_turn():
    turn = load_session(COMPACT).turns[0]
    assert turn.user.origin == "slash_command"
    assert turn.user.slash_command == "/review"
    assert turn.user.text == "/review the auth module"


def test_compaction_continuation_is_a_turn_with_origin_compaction():
    s = load_session(COMPACT)
    assert s.turns[1].user.origin == "compaction"
    assert s.compactions[0].turn_index == 1
    assert s.compactions[0].pre_tokens == 155250 and s.compactions[0].trigger == "auto"


def test_subagent_file_is_its_own_session_linked_to_the_parent():
    child = load_session(SUBAGENT)
    assert child.session_id == "a1b2c3d4e5f607182"
    assert child.parent_session_id == "33333333-3333-4333-8333-333333333333"
    assert child.agent_name == "Explore"
    assert child.stats.tool_calls == 1


def test_spawning_call_carries_the_subagent_id():
    agent_call = tools(load_session(WITH_SUBAGENT))[0]
    assert agent_call.name == "Agent" and agent_call.child_session_id == "a1b2c3d4e5f607182"


def test_inline_sidechain_becomes_a_subagent_session_not_part_of_the_main_one():
    main, child = load_file(INLINE)
    assert main.session_id == "44444444-4444-4444-8444-444444444444"
    assert [t.name for t in tools(main)] == ["Task"]
    assert child.parent_session_id == main.session_id
    assert [t.name for t in tools(child)] == ["LS"]
    assert tools(main)[0].child_session_id == child.session_id


def test_inline_sidechain_tokens_are_not_counted_in_the_main_session():
    main, child = load_file(INLINE)
    assert main.stats.output == 50 + 400
    assert child.stats.output == 20 + 30


def test_sibling_agent_file_of_claude_2_0_is_a_warmup_subagent():
    s = load_session(SIBLING_AGENT)
    assert s.session_id == "5e6f7a8b"
    assert s.parent_session_id == "55555555-5555-4555-8555-555555555555"
    assert s.agent_name == "warmup"


def test_copied_history_of_another_session_is_not_this_sessions_own():
    stats = ParseStats()
    s = load_file(TOLERANCE, stats=stats)[0]
    assert s.session_id == "66666666-6666-4666-8666-666666666666"
    assert [t.user.text for t in s.turns] == ["Say hello", "And goodbye"]
    assert stats.skipped["copied_from_other_session"] == 2


def test_two_records_on_one_line_lose_neither():
    s = load_session(TOLERANCE)
    assert s.turns[0].steps[0].message == "Hello from the new session."
    assert s.stats.steps == 2


def test_undecodable_line_is_skipped_and_counted():
    stats = ParseStats()
    load_file(TOLERANCE, stats=stats)
    assert stats.bad_lines == 1
    assert stats.bad_samples[0][1] == "undecodable JSON"


def test_torn_last_line_is_not_corruption_and_is_read_once_complete(tmp_path):
    path = tmp_path / TOLERANCE.name
    shutil.copy(TOLERANCE, path)
    provider = ClaudeProvider()
    from agtrace_mcp.providers import SourceFile
    src = SourceFile(str(path), "claude_code")
    events: list[object] = []
    stats = ParseStats()
    end, state = provider.parse(src, 0, None, events.append, stats)
    assert stats.torn_tail and end < path.stat().st_size
    # the writer finishes the line: reading resumes from `end` and sees the whole record
    data = path.read_bytes()
    torn = data[end:]
    full = b'{"parentUuid": "k04", "isSidechain": false, "cwd": "/home/dev/webapp", "sessionId": "66666666-6666-4666-8666-666666666666", "type": "user", "uuid": "k05", "timestamp": "2026-05-04T11:01:00.000Z", "message": {"role": "user", "content": "a prompt still being written"}}\n'
    assert full.startswith(torn[:20])
    path.write_bytes(data[:end] + full)
    more: list[object] = []
    end2, _ = provider.parse(src, end, state, more.append, ParseStats())
    assert end2 == path.stat().st_size
    prompts = [e for e in more if type(e).__name__ == "Prompt"]
    assert [p.text for p in prompts] == ["a prompt still being written"]


def test_discovery_finds_every_layout(fixtures_home):
    found = {Path(s.path).name: s for s in ClaudeProvider().discover([fixtures_home / ".claude" / "projects"])}
    assert found["agent-a1b2c3d4e5f607182.jsonl"].kind == "subagent"
    assert found["agent-a1b2c3d4e5f607182.jsonl"].parent == "33333333-3333-4333-8333-333333333333"
    assert found["agent-5e6f7a8b.jsonl"].kind == "subagent"
    assert found["11111111-1111-4111-8111-111111111111.jsonl"].kind == "session"
    assert not any(n.endswith(".meta.json") for n in found)


def test_claude_config_dir_moves_the_root(tmp_path):
    roots = ClaudeProvider().default_roots(Path("/home/x"), {"CLAUDE_CONFIG_DIR": str(tmp_path)})
    assert roots == [tmp_path / "projects"]


@pytest.mark.parametrize("path", [MAIN, COMPACT, WITH_SUBAGENT, SUBAGENT, INLINE, SIBLING_AGENT, TOLERANCE])
def test_every_tool_call_has_a_status(path):
    for s in load_file(path):
        assert all(t.status in ("ok", "error", "missing", "in_progress") for t in tools(s))
