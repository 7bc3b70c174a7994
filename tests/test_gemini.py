"""Gemini CLI provider: discovery, replay of both containers, and the session model rules (DESIGN §3).

Fixtures (fixtures/home/.gemini), one per rule:
- tmp/<sha256 of /home/dev/legacy-app>/chats/session-2025-12-01T10-00-1e9ac7a1.json — legacy single-object file in
  a hash-named project dir: a shell call printing `Exit Code: 1` under `status: success`, a `write_file` with
  `status: error`, an MCP error notice before the first prompt, an update notice, an API error after the
  second prompt. Next to it `logs.json` and `checkpoint-before-fix.json`, which are not sessions.
- tmp/webshop/chats/session-2026-05-02T09-15-5eb0c0de.jsonl — JSONL in a slug dir registered in projects.json:
  a message dropped by a `$set.messages` checkpoint, the injected `<session_context>` message, repeated ids
  (first copy with tokens, second with toolCalls), a `/review` slash command (displayContent), a cancelled tool
  followed by "Request cancelled.", a prompt and reply removed by `$rewindTo`, an inline image, a tool left
  `executing`, the "Please continue." nudge, an unknown `$patch` op, and a torn last line.
- tmp/webshop/chats/5eb0c0de-…/9a8b7c6d-….jsonl — a subagent session in its parent's folder.
- tmp/webshop/chats/session-2026-04-20T08-00-a11ce000.json and .jsonl — a legacy file and its migrated twin.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from indexcheck import api_over, grow, index_rows, spy_continuations

from agtrace_mcp.load import load_file, load_session
from agtrace_mcp.providers import ParseStats, SourceFile
from agtrace_mcp.providers.gemini import GeminiProvider, shell_exit_code

GEMINI = "gemini_cli"
LEGACY_HASH = hashlib.sha256(b"/home/dev/legacy-app").hexdigest()
WEBSHOP_HASH = hashlib.sha256(b"/home/dev/webshop").hexdigest()
MAIN_SID = "5eb0c0de-1d2e-4f3a-8b9c-0a1b2c3d4e5f"
SUB_SID = "9a8b7c6d-1111-4222-8333-444455556666"


@pytest.fixture
def tmp_root(fixtures_home: Path) -> Path:
    return fixtures_home / ".gemini" / "tmp"


@pytest.fixture
def legacy_file(tmp_root: Path) -> Path:
    return tmp_root / LEGACY_HASH / "chats" / "session-2025-12-01T10-00-1e9ac7a1.json"


@pytest.fixture
def jsonl_file(tmp_root: Path) -> Path:
    return tmp_root / "webshop" / "chats" / "session-2026-05-02T09-15-5eb0c0de.jsonl"


@pytest.fixture
def sub_file(tmp_root: Path) -> Path:
    return tmp_root / "webshop" / "chats" / MAIN_SID / f"{SUB_SID}.jsonl"


@pytest.fixture
def twin_json(tmp_root: Path) -> Path:
    return tmp_root / "webshop" / "chats" / "session-2026-04-20T08-00-a11ce000.json"


def tools_of(session):
    return [t for turn in session.turns for step in turn.steps for t in step.tools]


def tool(session, call_id: str):
    return next(t for t in tools_of(session) if t.call_id == call_id)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def jsonl(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


# -- discovery ------------------------------------------------------------------------------------------


def test_default_root_is_gemini_tmp() -> None:
    assert GeminiProvider().default_roots(Path("/h"), {}) == [Path("/h/.gemini/tmp")]


def test_discovery_finds_sessions_in_hash_and_slug_project_dirs(tmp_root: Path, legacy_file: Path,
                                                                jsonl_file: Path) -> None:
    found = {Path(s.path) for s in GeminiProvider().discover([tmp_root])}
    assert legacy_file in found
    assert jsonl_file in found


def test_discovery_prefers_jsonl_over_its_migrated_json_twin(tmp_root: Path, twin_json: Path) -> None:
    found = {Path(s.path) for s in GeminiProvider().discover([tmp_root])}
    assert twin_json.with_suffix(".jsonl") in found
    assert twin_json not in found


def test_discovery_marks_subagent_file_with_parent_from_folder(tmp_root: Path, sub_file: Path) -> None:
    src = next(s for s in GeminiProvider().discover([tmp_root]) if Path(s.path) == sub_file)
    assert src.kind == "subagent"
    assert src.parent == MAIN_SID


def test_discovery_skips_logs_and_checkpoint_files(tmp_root: Path) -> None:
    names = {Path(s.path).name for s in GeminiProvider().discover([tmp_root])}
    assert "logs.json" not in names
    assert not any(n.startswith("checkpoint-") for n in names)
    assert len(names) == 4


def test_discovery_accepts_a_chats_folder_as_root(jsonl_file: Path) -> None:
    found = {Path(s.path) for s in GeminiProvider().discover([jsonl_file.parent])}
    assert jsonl_file in found


def test_discovery_of_missing_root_yields_nothing(tmp_path: Path) -> None:
    assert list(GeminiProvider().discover([tmp_path / "absent"])) == []


# -- legacy single-object .json -------------------------------------------------------------------------


def test_legacy_session_id_provider_and_title(legacy_file: Path) -> None:
    s = load_session(legacy_file)
    assert s.session_id == "1e9ac7a1-5b0c-4c1e-9d2a-7f3e8a1b2c3d"
    assert s.provider == GEMINI
    assert s.title == "run the unit tests and fix what fails"
    assert s.source_files == [str(legacy_file)]


def test_shell_exit_code_1_under_status_success_is_an_exit_code_failure(legacy_file: Path) -> None:
    t = tool(load_session(legacy_file), "run_shell_command-1764583209500-aa01")
    assert t.status == "error"
    assert t.error is not None and t.error.kind == "exit_code" and t.error.exit_code == 1
    assert "Exit Code: 1" in t.output


def test_shell_exit_code_0_is_ok(legacy_file: Path) -> None:
    t = tool(load_session(legacy_file), "run_shell_command-1764583223000-dd04")
    assert t.status == "ok" and t.error is None


def test_tool_status_error_is_a_tool_error_with_the_error_text(legacy_file: Path) -> None:
    t = tool(load_session(legacy_file), "write_file-1764583216000-bb02")
    assert t.status == "error"
    assert t.error is not None and t.error.kind == "tool_error"
    assert t.output == "Permission denied: /home/dev/legacy-app/readonly/math.py"


def test_notices_before_and_between_prompts_are_neither_turns_nor_steps(legacy_file: Path) -> None:
    s = load_session(legacy_file)
    assert [t.user.text for t in s.turns] == ["run the unit tests and fix what fails", "now add a test for subtract"]
    assert len(s.turns[0].steps) == 5  # five gemini messages; the update notice between them is not a step


def test_api_error_inside_a_turn_is_a_failed_step(legacy_file: Path) -> None:
    last = load_session(legacy_file).turns[1]
    assert len(last.steps) == 1
    assert last.steps[0].status == "failed"
    assert "exhausted your daily quota" in (last.steps[0].message or "")


def test_thoughts_become_reasoning_and_content_the_message(legacy_file: Path) -> None:
    step = load_session(legacy_file).turns[0].steps[0]
    assert step.reasoning == "Planning the test run\nStart by running pytest to see what fails."
    assert step.message == "I'll run the test suite first."
    assert step.model == "gemini-2.5-flash"


def test_tool_starts_with_its_message_and_ends_at_its_completion_timestamp(legacy_file: Path) -> None:
    t = tool(load_session(legacy_file), "run_shell_command-1764583209500-aa01")
    assert t.started_at is not None and t.started_at.isoformat() == "2025-12-01T10:00:09.500000+00:00"
    assert t.ended_at is not None and t.ended_at.isoformat() == "2025-12-01T10:00:14.250000+00:00"
    assert t.duration_ms == 4750


def test_tool_end_is_unknown_when_its_timestamp_equals_the_message_timestamp(legacy_file: Path) -> None:
    t = tool(load_session(legacy_file), "write_file-1764583216000-bb02")
    assert t.ended_at is None and t.duration_ms is None


def test_legacy_tokens_input_excludes_cached_and_output_includes_thoughts(legacy_file: Path) -> None:
    usage = load_session(legacy_file).turns[0].steps[0].usage
    assert usage is not None
    assert (usage.input, usage.cache_read, usage.cache_write, usage.output, usage.reasoning) == (4000, 8000, 0, 100, 60)


def test_half_written_legacy_json_is_reported_and_yields_no_session(tmp_path: Path, legacy_file: Path) -> None:
    half = legacy_file.read_text()[:700]
    path = write(tmp_path / ".gemini" / "tmp" / LEGACY_HASH / "chats" / legacy_file.name, half)
    stats = ParseStats()
    assert load_file(path, provider=GEMINI, stats=stats) == []
    assert stats.bad_lines == 1 and stats.bad_samples[0][0] == 0


def test_a_json_document_that_is_not_a_session_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "chats" / "session-x.json", "[1, 2, 3]")
    stats = ParseStats()
    assert load_file(path, provider=GEMINI, stats=stats) == []
    assert stats.bad_lines == 1


# -- JSONL replay ---------------------------------------------------------------------------------------


def test_parse_stops_before_the_torn_line_with_a_state_to_continue_from(jsonl_file: Path) -> None:
    p = GeminiProvider()
    stats = ParseStats()
    end, state = p.parse(SourceFile(str(jsonl_file), GEMINI), 0, None, lambda e: None, stats)
    data = jsonl_file.read_bytes()
    assert state is not None and state.n == 12  # the messages that survive the replay
    assert end == data.rindex(b"\n") + 1
    assert stats.torn_tail is True and stats.bad_lines == 0


def test_a_legacy_document_is_never_continued_from_an_offset(legacy_file: Path) -> None:
    end, state = GeminiProvider().parse(SourceFile(str(legacy_file), GEMINI), 0, None, lambda e: None, ParseStats())
    assert state is None and end > legacy_file.stat().st_size  # the index's resume check then always fails


def test_repeated_message_id_is_one_step_carrying_the_last_copys_tool_calls(jsonl_file: Path) -> None:
    first = load_session(jsonl_file).turns[0]
    assert [len(s.tools) for s in first.steps] == [1, 1, 0]
    assert first.steps[0].message == "I'll read server.py first."
    assert first.steps[0].tools[0].output == "from flask import Flask\napp = Flask(__name__)\n"


def test_tokens_of_a_repeated_id_are_counted_once(jsonl_file: Path) -> None:
    s = load_session(jsonl_file)
    # the six gemini messages that survive replay: totals 9150 + 9540 + 9730 + 10290 + 10855 + 10928
    assert s.stats.steps == 6
    assert s.stats.input + s.stats.cache_read + s.stats.output == 60493
    assert s.stats.cache_read == 4000 + 8900 + 9200 + 9600 + 10200 + 10500
    assert s.stats.reasoning == 120 + 80 + 10 + 50 + 30 + 8


def test_set_messages_checkpoint_replaces_the_message_list(jsonl_file: Path) -> None:
    s = load_session(jsonl_file)
    assert all("draft question" not in t.user.text for t in s.turns)
    assert all(step.message != "Draft answer." for t in s.turns for step in t.steps)


def test_rewind_removes_the_message_and_everything_after_it(jsonl_file: Path) -> None:
    s = load_session(jsonl_file)
    assert [t.user.text.split("\n")[0] for t in s.turns] == [
        "Add a /health endpoint to server.py", "/review server.py", "Run the tests, this is the error I see"]
    assert all(step.message != "Running bandit with -ll." for t in s.turns for step in t.steps)


def test_rewind_to_an_unknown_id_clears_every_message(tmp_path: Path) -> None:
    path = write(tmp_path / "chats" / "session-2026-05-01T00-00-0000aaaa.jsonl", jsonl(
        {"sessionId": "0000aaaa-0000-4000-8000-000000000000", "projectHash": WEBSHOP_HASH, "startTime": "2026-05-01T00:00:00.000Z"},
        {"id": "m1", "timestamp": "2026-05-01T00:00:01.000Z", "type": "user", "content": [{"text": "hello"}]},
        {"$rewindTo": "no-such-id"},
        {"id": "m2", "timestamp": "2026-05-01T00:00:02.000Z", "type": "user", "content": [{"text": "again"}]},
    ))
    assert [t.user.text for t in load_session(path).turns] == ["again"]


def test_a_later_header_is_a_restart_and_the_first_session_id_stays(tmp_path: Path) -> None:
    head = {"sessionId": "1111bbbb-0000-4000-8000-000000000000", "projectHash": WEBSHOP_HASH,
            "startTime": "2026-05-01T00:00:00.000Z"}
    path = write(tmp_path / "chats" / "session-2026-05-01T00-00-1111bbbb.jsonl", jsonl(
        head,
        {"id": "m1", "timestamp": "2026-05-01T00:00:01.000Z", "type": "user", "content": [{"text": "first run"}]},
        dict(head, sessionId="2222cccc-0000-4000-8000-000000000000", startTime="2026-05-01T01:00:00.000Z"),
        {"id": "m2", "timestamp": "2026-05-01T01:00:01.000Z", "type": "user", "content": [{"text": "second run"}]},
    ))
    stats = ParseStats()
    sessions = load_file(path, provider=GEMINI, stats=stats)
    assert [s.session_id for s in sessions] == ["1111bbbb-0000-4000-8000-000000000000"]
    assert len(sessions[0].turns) == 2
    assert stats.bad_lines == 0 and stats.skipped["repeated_header"] == 1


def test_injected_session_context_and_please_continue_are_not_turns(jsonl_file: Path) -> None:
    stats = ParseStats()
    s = load_file(jsonl_file, provider=GEMINI, stats=stats)[0]
    assert all(not t.user.text.startswith("<session_context>") for t in s.turns)
    assert all(t.user.text != "Please continue." for t in s.turns)
    assert len(s.turns[2].steps) == 2  # the nudge did not split the turn
    assert stats.skipped["injected_user_message"] == 2


def test_cancelled_tool_is_an_interrupted_failure(jsonl_file: Path) -> None:
    t = tool(load_session(jsonl_file), "sh3ll003")
    assert t.status == "error"
    assert t.error is not None and t.error.kind == "interrupted"
    assert t.output.startswith("[Operation Cancelled]")


def test_request_cancelled_notice_marks_its_turn_interrupted(jsonl_file: Path) -> None:
    s = load_session(jsonl_file)
    assert [t.interrupted for t in s.turns] == [False, True, False]


def test_slash_command_comes_from_what_the_user_typed(jsonl_file: Path) -> None:
    user = load_session(jsonl_file).turns[1].user
    assert user.origin == "slash_command"
    assert user.slash_command == "/review"
    assert user.text == "/review server.py"


def test_prompt_text_with_a_slash_inside_is_a_plain_prompt(jsonl_file: Path) -> None:
    user = load_session(jsonl_file).turns[0].user
    assert user.origin == "user" and user.slash_command is None


def test_inline_image_part_becomes_a_marker(jsonl_file: Path) -> None:
    assert load_session(jsonl_file).turns[2].user.text == "Run the tests, this is the error I see\n[image]"


def test_tool_left_in_an_intermediate_status_has_no_result(jsonl_file: Path) -> None:
    t = tool(load_session(jsonl_file), "sh3ll004")
    assert t.status == "missing"
    assert t.output == "" and t.ended_at is None


def test_unknown_dollar_op_is_counted_not_fatal(jsonl_file: Path) -> None:
    stats = ParseStats()
    load_file(jsonl_file, provider=GEMINI, stats=stats)
    assert stats.unknown["$patch"] == 1


def test_each_step_has_the_model_of_its_message(jsonl_file: Path) -> None:
    s = load_session(jsonl_file)
    assert s.turns[1].steps[0].model == "gemini-3.1-pro-preview"
    assert s.models == ["gemini-3-flash-preview", "gemini-3.1-pro-preview"]


def test_jsonl_session_spans_first_to_last_message(jsonl_file: Path) -> None:
    s = load_session(jsonl_file)
    assert s.started_at is not None and s.started_at.isoformat() == "2026-05-02T09:15:00+00:00"
    assert s.ended_at is not None and s.ended_at.isoformat() == "2026-05-02T09:23:30+00:00"


def checkpoint_rebuilt_session(tmp_path: Path) -> Path:
    """A `$set.messages` checkpoint rebuilt from the model history: it can hold tool results as `user`
    messages and, after /compress, the `<state_snapshot>` summary the history now starts with."""
    return write(tmp_path / "chats" / "session-2026-06-01T00-00-6666aaaa.jsonl", jsonl(
        {"sessionId": "6666aaaa-0000-4000-8000-000000000000", "projectHash": WEBSHOP_HASH,
         "startTime": "2026-06-01T00:00:00.000Z"},
        {"$set": {"messages": [
            {"id": "s1", "timestamp": "2026-06-01T00:00:01.000Z", "type": "user",
             "content": [{"text": "<state_snapshot>\n<overall_goal>ship /health</overall_goal>\n</state_snapshot>"}]},
            {"id": "s2", "timestamp": "2026-06-01T00:00:02.000Z", "type": "gemini",
             "content": [{"text": "Got it. Thanks for the additional context!"}]},
            {"id": "s3", "timestamp": "2026-06-01T00:00:03.000Z", "type": "user", "content": [{"text": "go on"}]},
            {"id": "s4", "timestamp": "2026-06-01T00:00:04.000Z", "type": "gemini", "content": "",
             "toolCalls": [{"id": "q1", "name": "list_tables", "args": {}, "status": "success",
                            "timestamp": "2026-06-01T00:00:05.000Z", "displayName": "list_tables (postgres MCP Server)",
                            "result": [{"functionResponse": {"id": "q1", "name": "list_tables", "response": {"output": "users"}}}]}]},
            {"id": "s5", "timestamp": "2026-06-01T00:00:05.000Z", "type": "user",
             "content": [{"functionResponse": {"id": "q1", "name": "list_tables", "response": {"output": "users"}}}]},
        ]}},
    ))


def test_state_snapshot_summary_starts_a_compaction_turn(tmp_path: Path) -> None:
    s = load_session(checkpoint_rebuilt_session(tmp_path))
    assert s.turns[0].user.origin == "compaction"
    assert len(s.compactions) == 1
    assert s.title == "go on"


def test_user_message_holding_only_tool_results_is_not_a_turn(tmp_path: Path) -> None:
    s = load_session(checkpoint_rebuilt_session(tmp_path))
    assert [t.user.text for t in s.turns][1:] == ["go on"]


def test_unprefixed_mcp_tool_is_recognised_by_its_display_name(tmp_path: Path) -> None:
    assert tool(load_session(checkpoint_rebuilt_session(tmp_path)), "q1").kind == "mcp"


# -- project root ---------------------------------------------------------------------------------------


def test_slug_dir_project_root_comes_from_the_registry(jsonl_file: Path) -> None:
    assert load_session(jsonl_file).project_root == "/home/dev/webshop"


def test_hash_dir_project_root_is_the_registered_path_with_that_hash(legacy_file: Path) -> None:
    assert load_session(legacy_file).project_root == "/home/dev/legacy-app"


def test_unresolvable_hash_dir_leaves_project_root_unknown(tmp_path: Path, legacy_file: Path) -> None:
    copy = tmp_path / ".gemini" / "tmp" / LEGACY_HASH / "chats" / legacy_file.name
    copy.parent.mkdir(parents=True)
    shutil.copy(legacy_file, copy)
    assert load_session(copy).project_root is None


def test_slug_dir_marker_file_gives_the_project_root(tmp_path: Path) -> None:
    project = tmp_path / ".gemini" / "tmp" / "shop"  # no projects.json next to tmp/
    write(project / ".project_root", "/srv/shop\n")
    path = write(project / "chats" / "session-2026-05-01T00-00-4444eeee.jsonl", jsonl(
        {"sessionId": "4444eeee-0000-4000-8000-000000000000", "projectHash": "0" * 64,
         "startTime": "2026-05-01T00:00:00.000Z"}))
    assert load_session(path).project_root == "/srv/shop"


def test_workspace_dir_listed_by_the_harness_resolves_an_unregistered_slug_dir(tmp_path: Path,
                                                                             jsonl_file: Path) -> None:
    copy = tmp_path / ".gemini" / "tmp" / "webshop" / "chats" / jsonl_file.name
    copy.parent.mkdir(parents=True)
    shutil.copy(jsonl_file, copy)
    # no projects.json, no marker: the <session_context> lists /home/dev/webshop, whose sha256 is projectHash
    assert load_session(copy).project_root == "/home/dev/webshop"


def test_slug_folder_name_is_never_taken_as_the_project_root(tmp_path: Path) -> None:
    path = write(tmp_path / ".gemini" / "tmp" / "myapp" / "chats" / "session-2026-05-01T00-00-5555ffff.jsonl", jsonl(
        {"sessionId": "5555ffff-0000-4000-8000-000000000000", "projectHash": "1" * 64,
         "startTime": "2026-05-01T00:00:00.000Z"},
        {"id": "m1", "timestamp": "2026-05-01T00:00:01.000Z", "type": "user", "content": [{"text": "hi"}]}))
    assert load_session(path).project_root is None


def test_directories_are_used_only_when_their_hash_matches(tmp_path: Path) -> None:
    root = "/work/app"
    head = {"sessionId": "3333dddd-0000-4000-8000-000000000000",
            "projectHash": hashlib.sha256(root.encode()).hexdigest(), "startTime": "2026-05-01T00:00:00.000Z",
            "kind": "subagent", "directories": ["/elsewhere", root]}
    folder = tmp_path / ".gemini" / "tmp" / head["projectHash"] / "chats"
    path = write(folder / "session-2026-05-01T00-00-3333dddd.jsonl", jsonl(head))
    assert load_session(path).project_root == root
    head["directories"] = ["/elsewhere"]
    write(path, jsonl(head))
    assert load_session(path).project_root is None


# -- subagents and migrated twins -----------------------------------------------------------------------


def test_subagent_session_has_its_parent_from_the_folder(sub_file: Path) -> None:
    s = load_session(sub_file)
    assert s.session_id == SUB_SID
    assert s.parent_session_id == MAIN_SID
    assert s.project_root == "/home/dev/webshop"
    assert [t.name for t in tools_of(s)] == ["grep_search"]


def test_subagent_parent_is_known_from_the_layout_alone(tmp_path: Path, sub_file: Path) -> None:
    copy = tmp_path / "chats" / MAIN_SID / sub_file.name
    copy.parent.mkdir(parents=True)
    shutil.copy(sub_file, copy)
    src = SourceFile(str(copy), GEMINI)  # no kind, no parent: as if described without discovery
    events: list[object] = []
    GeminiProvider().parse(src, 0, None, events.append, ParseStats())
    assert events[0].parent == MAIN_SID


def test_migrated_jsonl_twin_holds_the_old_and_the_new_turns(twin_json: Path) -> None:
    old = load_session(twin_json)
    new = load_session(twin_json.with_suffix(".jsonl"))
    assert old.session_id == new.session_id == "a11ce000-2b3c-4d5e-8f90-123456789abc"
    assert [t.user.text for t in new.turns] == ["what does server.py do?", "and how do I run it?"]
    assert new.stats.input + new.stats.cache_read + new.stats.output == 2012 + 2112


# -- full output on demand ------------------------------------------------------------------------------


def test_read_output_returns_a_tools_full_output(legacy_file: Path, jsonl_file: Path) -> None:
    p = GeminiProvider()
    jsonl_src = SourceFile(str(jsonl_file), GEMINI)
    events: list[object] = []
    p.parse(jsonl_src, 0, None, events.append, ParseStats())
    off = next(e.off for e in events if type(e).__name__ == "Result" and e.call_id == "r1ead001")
    assert p.read_output(jsonl_src, off, "r1ead001") == "from flask import Flask\napp = Flask(__name__)\n"
    legacy_src = SourceFile(str(legacy_file), GEMINI)
    assert "Exit Code: 1" in (p.read_output(legacy_src, -1, "run_shell_command-1764583209500-aa01") or "")


# -- exit codes -----------------------------------------------------------------------------------------


def test_exit_code_is_read_from_the_trailer_after_long_output() -> None:
    body = "Output: " + "x\n" * 5000 + "Exit Code: 2\nProcess Group PGID: 1"
    assert shell_exit_code(body) == 2


def test_the_last_exit_code_line_is_the_trailer() -> None:
    body = "Output: child said\nExit Code: 3\nthen finished\nExit Code: 0\nProcess Group PGID: 1"
    assert shell_exit_code(body) == 0


def test_no_exit_code_trailer_means_no_exit_code() -> None:
    assert shell_exit_code("Output: ok\nProcess Group PGID: 1") is None  # newer builds omit it on success


# -- the real corpus ------------------------------------------------------------------------------------


def corpus_files(corpus: Path) -> list[Path]:
    return sorted((corpus / "gemini_cli").glob("*.json*"))


def raw_messages(path: Path) -> list[dict]:
    """The final message list, computed here independently: last copy of an id wins, `$set.messages` resets."""
    if path.suffix == ".json":
        return json.loads(path.read_text())["messages"]
    msgs: dict[str, dict] = {}
    for line in path.read_text().splitlines():
        o = json.loads(line)
        if "id" in o and "type" in o:
            msgs[o["id"]] = o
        elif isinstance(o.get("$set"), dict) and "messages" in o["$set"]:
            msgs = {m["id"]: m for m in o["$set"]["messages"]}
    return list(msgs.values())


def test_corpus_every_gemini_file_loads(corpus: Path) -> None:
    files = corpus_files(corpus)
    assert len(files) >= 7
    for path in files:
        stats = ParseStats()
        sessions = load_file(path, provider=GEMINI, stats=stats)
        assert len(sessions) == 1, path.name
        assert stats.bad_lines == 0, path.name


def test_corpus_shell_exit_code_1_is_failed_although_status_says_success(corpus: Path) -> None:
    path = next((corpus / "gemini_cli").glob("v-2025-12_session-*f0a689a6_shell-tools.json"))
    s = load_session(path, provider=GEMINI)
    failed = [t for t in tools_of(s) if t.status == "error"]
    assert len(failed) == 1
    assert failed[0].name == "run_shell_command"
    assert failed[0].error is not None and failed[0].error.kind == "exit_code" and failed[0].error.exit_code == 1
    raw = [tc for m in raw_messages(path) for tc in m.get("toolCalls", []) if tc["id"] == failed[0].call_id]
    assert raw[0]["status"] == "success"


def test_corpus_call_the_user_refused_is_denied_and_no_id_is_counted_twice(corpus: Path) -> None:
    path = next((corpus / "gemini_cli").glob("jsonl-2026-04_*e435870b*.jsonl"))
    s = load_session(path, provider=GEMINI)
    # status "cancelled" with "[Operation Cancelled] Reason: User denied execution."
    refused = [t for t in tools_of(s) if t.error is not None and t.error.kind == "denied"]
    assert [t.call_id for t in refused] == ["mt5u63mc"]
    raw = raw_messages(path)
    gemini_ids = [m["id"] for m in raw if m["type"] == "gemini"]
    assert s.stats.steps == len(gemini_ids) == len(set(gemini_ids))
    call_ids = [t.call_id for t in tools_of(s)]
    assert len(call_ids) == len(set(call_ids)) == sum(len(m.get("toolCalls", [])) for m in raw)
    assert s.models == ["gemini-3.1-pro-preview-customtools", "gemini-3-flash-preview"]


def test_corpus_status_success_with_exit_code_1_in_jsonl_is_failed(corpus: Path) -> None:
    path = next((corpus / "gemini_cli").glob("jsonl-2026-04_*e435870b*.jsonl"))
    t = tool(load_session(path, provider=GEMINI), "ku16wmft")
    assert t.error is not None and t.error.kind == "exit_code" and t.error.exit_code == 1


def test_corpus_token_totals_equal_deduplicated_raw_sums(corpus: Path) -> None:
    for path in corpus_files(corpus):
        tokens = [m["tokens"] for m in raw_messages(path) if m["type"] == "gemini" and m.get("tokens")]
        assert all(t["total"] == t["input"] + t["output"] + t["thoughts"] + t.get("tool", 0) for t in tokens)
        st = load_session(path, provider=GEMINI).stats
        assert st.input + st.cache_read + st.output == sum(t["total"] for t in tokens), path.name
        assert st.cache_read == sum(t["cached"] for t in tokens), path.name
        assert st.output == sum(t["output"] + t["thoughts"] for t in tokens), path.name
        assert st.reasoning == sum(t["thoughts"] for t in tokens), path.name
        assert st.cache_write == 0


def test_corpus_request_cancelled_after_a_prompt_interrupts_that_turn(corpus: Path) -> None:
    path = next((corpus / "gemini_cli").glob("jsonl-2026-04_*3494a697*.jsonl"))
    s = load_session(path, provider=GEMINI)
    assert [(t.user.text, t.interrupted) for t in s.turns][-1] == ("asd", True)
    assert not s.turns[0].interrupted


def test_corpus_a2a_server_file_has_no_real_turns(corpus: Path) -> None:
    path = next((corpus / "gemini_cli").glob("jsonl-2026-08_cloudshell-a2a-server*.jsonl"))
    s = load_session(path, provider=GEMINI)
    assert s.session_id == "a2a-server"
    assert s.turns == [] and s.title == ""
    assert s.project_root == "/home/zizoozaa01"  # its workspace dir, whose sha256 is the projectHash


def test_corpus_warning_only_file_is_a_session_without_turns(corpus: Path) -> None:
    path = next((corpus / "gemini_cli").glob("v-2026-02_*warning-only.json"))
    s = load_session(path, provider=GEMINI)
    assert s.session_id == "29eb990e-c773-4302-a4e7-317f0af0001f"
    assert s.turns == [] and s.stats.steps == 0


# -- appended lines: a continuation, not a new read ----------------------------------------------------------


def generated_session(home: Path) -> Path:
    """A realistic session of the benchmark generator: responses written twice (then with their tool calls)."""
    import random
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from generate import GeminiSession, Generator

    g = Generator(home, size_mb=1, big_session_mb=0.1, seed=3)
    s = GeminiSession(g, random.Random(5), g.projects[0], 1780000000.0, 60_000, legacy=False)
    s.run(fail_rate=0.2)
    return s.path


@pytest.fixture
def continuations(monkeypatch) -> list[bool]:
    return spy_continuations(monkeypatch, GeminiProvider)


@pytest.mark.parametrize("live", [False, True], ids=["closed", "live"])
@pytest.mark.parametrize("chunk", [1, 3])
def test_appending_to_jsonl_logs_gives_the_same_index_as_reading_them_whole(
        tmp_path: Path, fixtures_home: Path, continuations: list[bool], live: bool, chunk: int):
    home = tmp_path / "home"
    shutil.copytree(fixtures_home / ".gemini" / "tmp", home / ".gemini" / "tmp")
    shutil.copy(fixtures_home / ".gemini" / "projects.json", home / ".gemini" / "projects.json")
    generated_session(home)
    logs = {p: p.read_bytes().splitlines(keepends=True) for p in sorted((home / ".gemini").rglob("*.jsonl"))}
    assert len(logs) >= 3
    piecewise = api_over(home, tmp_path / "piecewise", live=live)
    grow(logs, 1, chunk, piecewise)
    whole = api_over(home, tmp_path / "whole", live=live)
    whole.refresh()
    assert index_rows(tmp_path / "piecewise") == index_rows(tmp_path / "whole")
    assert continuations.count(True) > 20  # most appends continued the last read...
    assert False in continuations  # ...and the rewind of the fixture was read whole


def test_a_new_copy_of_an_earlier_message_is_read_whole(tmp_path: Path, fixtures_home: Path,
                                                         continuations: list[bool]):
    home = tmp_path / "home"
    path = generated_session(home)
    lines = path.read_bytes().splitlines(keepends=True)
    api = api_over(home, tmp_path / "d", live=False)
    api.refresh()
    first = next(json.loads(ln) for ln in lines if b'"type":"user"' in ln)
    first["content"] = [{"text": "the first prompt, edited"}]
    with open(path, "ab") as f:
        f.write(json.dumps(first).encode() + b"\n")
    api.refresh()
    assert continuations == [False]
    sid = json.loads(lines[0])["sessionId"]
    assert api.get_turn(sid, 0).user.text == "the first prompt, edited"


def test_a_call_that_was_running_gets_its_result_from_the_next_copy(tmp_path: Path, continuations: list[bool]):
    sid = "0c0c0c0c-1111-4222-8333-444455556666"
    path = tmp_path / "home" / ".gemini" / "tmp" / "shop" / "chats" / "session-2026-07-01T10-00-0c0c0c0c.jsonl"
    path.parent.mkdir(parents=True)
    call = {"id": "run-1", "name": "run_shell_command", "args": {"command": "make"}, "status": "executing",
            "timestamp": "2026-07-01T10:00:03.000Z"}
    response = {"id": "g1", "timestamp": "2026-07-01T10:00:02.000Z", "type": "gemini", "content": "Building.",
                "thoughts": [], "model": "gemini-3-flash-preview", "toolCalls": [call],
                "tokens": {"input": 900, "output": 20, "cached": 0, "thoughts": 0, "tool": 0, "total": 920}}
    done = {**call, "status": "success", "timestamp": "2026-07-01T10:00:09.000Z",
            "result": [{"functionResponse": {"id": "run-1", "name": "run_shell_command",
                                             "response": {"output": "make: *** [all] Error 2\nExit Code: 2"}}}]}
    lines = [{"sessionId": sid, "projectHash": "0" * 64, "startTime": "2026-07-01T10:00:00.000Z", "kind": "main"},
             {"id": "u1", "timestamp": "2026-07-01T10:00:01.000Z", "type": "user", "content": [{"text": "build it"}]},
             response,
             {**response, "toolCalls": [done], "tokens": {**response["tokens"], "output": 35, "total": 935}}]
    text = [json.dumps(x) + "\n" for x in lines]
    path.write_text("".join(text[:3]))
    api = api_over(tmp_path / "home", tmp_path / "piecewise", live=True)
    assert api.get_turn(sid, 0).steps[0].tools[0].status == "in_progress"
    with open(path, "a") as f:
        f.write(text[3])
    tool = api.get_turn(sid, 0).steps[0].tools[0]
    assert continuations == [True]
    assert (tool.status, tool.error.exit_code if tool.error else None) == ("error", 2)
    api_over(tmp_path / "home", tmp_path / "whole", live=True).refresh()
    assert index_rows(tmp_path / "piecewise") == index_rows(tmp_path / "whole")
