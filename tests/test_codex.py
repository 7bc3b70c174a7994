"""Codex CLI provider: rollout files → sessions (DESIGN §3; research/log-formats.md §2).

Fixtures live in `fixtures/home/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl` (one behaviour each, named by the
last digits of their session id) and `fixtures/codex/` (a deliberately damaged file). Corpus tests read the
real logs in `shared/corpus/codex` and skip when it is absent.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import orjson
import pytest

from agtrace_mcp import model as m
from agtrace_mcp.engine.builder import SessionBuilder
from agtrace_mcp.engine.memory import MemorySink
from agtrace_mcp.engine.records import ToolRec
from agtrace_mcp.load import load_file, load_session
from agtrace_mcp.providers import ParseStats, SourceFile, get
from agtrace_mcp.providers.codex import CodexProvider, CodexState, header_exit_code

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = ROOT / "fixtures" / "home" / ".codex" / "sessions"
DAMAGED = ROOT / "fixtures" / "codex"

SHELL_EXIT_1 = "e001"  # 0.66-style shell_command "Exit code: 1", repeated token_count, event copies
JSON_METADATA = "e002"  # 0.39-style shell with JSON-string outputs (metadata.exit_code), bad arguments
LIST_OUTPUT = "e003"  # 0.145 unified exec "Process exited with code 2", list outputs, image prompt
ABORTED = "e004"  # turn_aborted, "aborted by user", "exec command rejected by user"
CHILD = "e005"  # forked subagent thread: own meta, then the parent's meta and copied history
PARENT = "e006"  # parent thread: spawn_agent + sub_agent_activity
EVENT_FAILURES = "e007"  # patch_apply_end success:false, mcp_tool_call_end Err / isError, late item_completed
PRE_ENVELOPE = "e008"  # bare header, record_type:state, bare items
NO_USER_MESSAGE = "e009"  # envelope file without user_message events
SEARCH_TOOLS = "e010"  # web_search_call, web_search_end, tool_search
COMPACTION = "e011"  # compacted + context_compacted mid-turn, usage-only request, error event
ORDINAL_CHILD = "e013"  # newer child thread: `ordinal` lines and session_meta.subagent_history_start_ordinal
USER_FORK = "e014"  # a thread forked by the user between two turns (no copied turn left open)


def fixture(tag: str) -> Path:
    found = sorted(SESSIONS.rglob(f"rollout-*{tag}.jsonl")) + sorted(DAMAGED.glob(f"rollout-*{tag}.jsonl"))
    assert len(found) == 1, f"fixture {tag}: {found}"
    return found[0]


def load(tag: str) -> m.Session:
    return load_session(fixture(tag))


def all_tools(s: m.Session) -> list[m.ToolExecution]:
    return [t for turn in s.turns for step in turn.steps for t in step.tools]


def tool(s: m.Session, call_id: str) -> m.ToolExecution:
    (t,) = [t for t in all_tools(s) if t.call_id == call_id]
    return t


def parse_pieces(path: Path, cuts: list[int], workdir: Path) -> list[m.Session]:
    """Parse `path` as a log that grows: write the bytes up to each cut, parse from the returned offset with
    the returned (pickled) provider and builder state, as the index does; then finish."""
    data = path.read_bytes()
    workdir.mkdir(parents=True, exist_ok=True)
    dst = workdir / path.name
    dst.write_bytes(b"")
    provider = get("codex")
    src = SourceFile(str(dst), "codex")
    sink = MemorySink()
    sessions = None
    state: CodexState | None = None
    offset = 0
    written = 0
    for cut in [*cuts, len(data)]:
        with open(dst, "ab") as f:
            f.write(data[written:cut])
        written = cut
        builder = SessionBuilder(sink, sessions)
        offset, state = provider.parse(src, offset, state, builder.feed, ParseStats())
        builder.flush()
        sessions = pickle.loads(pickle.dumps(builder.sessions))
        state = pickle.loads(pickle.dumps(state))
    SessionBuilder(sink, sessions).finish()
    return sink.to_models()


def dump(sessions: list[m.Session]) -> list[dict]:
    return [s.model_dump(exclude={"source_files"}) for s in sessions]


def tool_records(path: Path) -> tuple[SourceFile, list[ToolRec]]:
    """The builder's tool records (with the byte offset of each result) of one file."""
    src = SourceFile(str(path), "codex")
    sink = MemorySink()
    builder = SessionBuilder(sink)
    get("codex").parse(src, 0, None, builder.feed, ParseStats())
    builder.finish()
    recs = [t for c in sink.sessions.values() for step in c.steps.values() for t in step.tools]
    return src, recs


# -- discovery ----------------------------------------------------------------------------------------


def test_discovery_finds_every_rollout_under_the_date_folders():
    found = {Path(f.path).name for f in CodexProvider().discover([SESSIONS])}
    assert found == {p.name for p in SESSIONS.rglob("rollout-*.jsonl")}
    assert len(found) == 13


def test_discovery_prefers_the_plain_file_over_its_zst_twin(tmp_path):
    day = tmp_path / "2026" / "05" / "01"
    day.mkdir(parents=True)
    (day / "rollout-2026-05-01T10-00-00-a.jsonl").write_text("{}\n")
    (day / "rollout-2026-05-01T10-00-00-a.jsonl.zst").write_bytes(b"")
    (day / "rollout-2026-05-01T11-00-00-b.jsonl.zst").write_bytes(b"")
    (day / "history.jsonl").write_text("{}\n")
    names = sorted(Path(f.path).name for f in CodexProvider().discover([tmp_path, tmp_path / "missing"]))
    assert names == ["rollout-2026-05-01T10-00-00-a.jsonl", "rollout-2026-05-01T11-00-00-b.jsonl.zst"]


# -- session metadata ---------------------------------------------------------------------------------


def test_session_identity_and_project_come_from_session_meta():
    s = load(SHELL_EXIT_1)
    assert s.session_id == "019de2fb-1900-7a01-8000-00000000e001"
    assert s.provider == "codex"
    assert s.project_root == "/home/dev/shop"
    assert s.git_branch == "feature/cart"
    assert s.cli_version == "0.66.0"
    assert s.models == ["gpt-5.1-codex-max"]
    assert s.parent_session_id is None and s.agent_name is None
    assert s.title == "run the unit tests"
    assert s.source_files == [str(fixture(SHELL_EXIT_1))]


# -- turns ----------------------------------------------------------------------------------------------


def test_user_message_events_are_the_turns_and_their_response_item_copies_are_not():
    s = load(SHELL_EXIT_1)
    assert [t.user.text for t in s.turns] == ["run the unit tests"]
    assert s.turns[0].user.origin == "user"


def test_harness_user_content_never_starts_a_turn():
    # e003 has a developer message, an AGENTS.md + environment_context user message; e004 a <turn_aborted> note
    assert [t.user.text for t in load(LIST_OUTPUT).turns] == ["the build is broken, see the screenshot\n[image]"]
    assert [t.user.text for t in load(ABORTED).turns] == [
        "deploy to staging", "only do a dry run, and clean the build folder first"]


def test_file_without_user_message_events_takes_prompts_from_user_response_items():
    s = load(NO_USER_MESSAGE)
    assert [t.user.text for t in s.turns] == ["add a README", "thanks, now add a license"]
    assert [len(t.steps) for t in s.turns] == [1, 1]


def test_turn_aborted_marks_the_turn_interrupted_and_its_running_call():
    s = load(ABORTED)
    assert [t.interrupted for t in s.turns] == [True, False]
    deploy = tool(s, "call_e004_deploy")
    assert deploy.status == "error" and deploy.error is not None and deploy.error.kind == "interrupted"


def test_compaction_mid_turn_is_recorded_once_and_starts_no_turn():
    s = load(COMPACTION)
    assert len(s.turns) == 1
    assert len(s.compactions) == 1
    c = s.compactions[0]
    assert c.pre_tokens == 240000  # the context of the last request before it
    assert c.at is not None and c.at.isoformat().startswith("2026-05-02T09:20:10")


def test_review_mode_is_a_slash_command_turn(corpus):
    s = load_session(corpus / "codex" / "v0.77.0_review-parent_entered-review-mode_trimmed_019b88e0.jsonl", "codex")
    assert [(t.user.origin, t.user.slash_command) for t in s.turns] == [("user", None), ("slash_command", "/review")]


# -- steps ----------------------------------------------------------------------------------------------


def test_steps_split_at_tool_outputs_and_token_counts():
    s = load(LIST_OUTPUT)
    steps = s.turns[0].steps
    assert [[t.name for t in st.tools] for st in steps] == [["view_image"], ["exec_command"], ["exec"], []]
    assert steps[3].message == "Line 12 of src/cart.c is missing a semicolon."
    assert all(st.model == "gpt-5.6-sol" for st in steps)


def test_reasoning_and_messages_are_taken_once_not_also_from_event_copies():
    s = load(SHELL_EXIT_1)
    first, second = s.turns[0].steps
    assert first.reasoning == "**Running the test suite**"
    assert first.message is None
    assert second.message == "One test fails: `test_total` expects 42 but the cart sums to 41."


def test_error_event_is_a_failed_step():
    steps = load(COMPACTION).turns[0].steps
    assert [st.status for st in steps] == ["done", "done", "failed", "done"]
    assert steps[2].message is not None and steps[2].message.startswith("stream disconnected")


# -- tool calls and outputs -----------------------------------------------------------------------------


def test_function_call_arguments_are_parsed_and_bad_json_is_kept_raw():
    s = load(JSON_METADATA)
    assert tool(s, "call_e002_ls").args == {"command": ["bash", "-lc", "ls src"], "workdir": "/home/dev/shop",
                                            "timeout_ms": 120000}
    assert tool(s, "call_e002_plan").args == '{"plan": [{"step": "count lines"'


def test_custom_tool_call_input_is_the_free_form_string():
    t = tool(load(JSON_METADATA), "call_e002_patch")
    assert t.name == "apply_patch" and t.kind == "write"
    assert t.args == "*** Begin Patch\n*** Add File: NOTES.md\n+prices.py has 0 lines counted\n*** End Patch"


def test_shell_command_exit_code_1_in_output_text_is_an_exit_code_failure():
    t = tool(load(SHELL_EXIT_1), "call_e001_pytest")
    assert t.status == "error"
    assert t.error is not None and (t.error.kind, t.error.exit_code) == ("exit_code", 1)
    assert "AssertionError" in t.error.message
    assert t.output.startswith("Exit code: 1\nWall time: 2.9 seconds")


def test_exit_code_is_read_from_the_output_header_only():
    assert header_exit_code("Exit code: 0\nWall time: 1 seconds\nOutput:\nExit code: 1\n") == 0
    assert header_exit_code("Chunk ID: ab\nWall time: 0.1 seconds\nProcess exited with code 2\n"
                            "Original token count: 3\nOutput:\nx\n") == 2
    assert header_exit_code("Script completed\nWall time 0.1 seconds\nOutput:\nProcess exited with code 1\n") is None


def test_json_string_output_is_unwrapped_and_its_metadata_exit_code_used():
    s = load(JSON_METADATA)
    ok, failed = tool(s, "call_e002_ls"), tool(s, "call_e002_wc")
    assert (ok.status, ok.output) == ("ok", "cart.py\nprices.py\n")
    assert failed.output == "wc: src/pricing.py: No such file or directory\n"
    assert failed.error is not None and (failed.error.kind, failed.error.exit_code) == ("exit_code", 1)
    assert tool(s, "call_e002_patch").status == "ok"


def test_failed_to_parse_function_arguments_is_a_tool_error():
    t = tool(load(JSON_METADATA), "call_e002_plan")
    assert t.error is not None and t.error.kind == "tool_error"


def test_list_output_is_flattened_with_image_markers():
    s = load(LIST_OUTPUT)
    assert tool(s, "call_e003_view").output == "Attached image /tmp/build-error.png\n[image]"
    assert tool(s, "call_e003_exec").output.startswith("Script completed\nWall time 0.1 seconds\nOutput:\n")
    assert tool(s, "call_e003_exec").status == "ok"


def test_unified_exec_process_exited_with_code_2_after_the_chunk_header():
    t = tool(load(LIST_OUTPUT), "call_e003_make")
    assert t.error is not None and (t.error.kind, t.error.exit_code) == ("exit_code", 2)
    assert t.kind == "execute"


def test_object_output_with_success_false_is_a_tool_error():
    t = tool(load_session(fixture("e012"), "codex"), "call_e012_logs")
    assert (t.status, t.output) == ("error", "permission denied: /var/log/app.log")


def test_user_rejection_is_denied():
    t = tool(load(ABORTED), "call_e004_rm")
    assert t.error is not None and t.error.kind == "denied"
    assert tool(load(ABORTED), "call_e004_dry").status == "ok"


def test_patch_apply_end_failure_marks_the_apply_patch_call_failed():
    t = tool(load(EVENT_FAILURES), "call_e007_patch")
    assert t.status == "error" and t.error is not None and t.error.kind == "tool_error"
    assert "Failed to find expected lines" in t.error.message


def test_mcp_tool_call_end_err_or_is_error_marks_the_call_failed():
    s = load(EVENT_FAILURES)
    for call_id in ("call_e007_issue", "call_e007_search"):
        t = tool(s, call_id)
        assert t.status == "error" and t.kind == "mcp", call_id
    assert tool(s, "call_e007_search").output == "rate limited, retry in 30s"


def test_failure_evidence_arriving_after_the_output_still_marks_the_call():
    t = tool(load(EVENT_FAILURES), "call_e007_links")
    assert t.error is not None and (t.error.kind, t.error.exit_code) == ("exit_code", 3)
    assert t.output.startswith("Chunk ID: 5e6f70")  # the output itself, not the event's text


def test_web_search_calls_settle_from_their_status_or_web_search_end():
    s = load(SEARCH_TOOLS)
    first, second = tool(s, "ws_e010_1"), tool(s, "ws_e010_2")
    assert (first.name, first.kind, first.status) == ("web_search", "search", "ok")
    assert first.args == {"type": "search", "query": "Django latest release supported Python versions"}
    assert second.status == "ok" and second.output == "https://docs.djangoproject.com/en/stable/faq/install/"
    assert tool(s, "call_e010_tools").output == "pypi__package_info"


def test_spawn_agent_call_links_the_child_thread():
    s = load(PARENT)
    spawn = tool(s, "call_e006_spawn")
    assert spawn.name == "spawn_agent" and spawn.kind == "plan"
    assert spawn.child_session_id == "019de333-2e90-7b05-8000-00000000e005"


def test_read_output_returns_each_results_full_text(tmp_path):
    provider = get("codex")
    for tag in (SHELL_EXIT_1, JSON_METADATA, LIST_OUTPUT, ABORTED, EVENT_FAILURES, PRE_ENVELOPE, SEARCH_TOOLS):
        src, recs = tool_records(fixture(tag))
        settled = [t for t in recs if t.has_result]
        assert settled
        for t in settled:
            assert t.out_off >= 0
            assert provider.read_output(src, t.out_off, t.call_id) == t.output, (tag, t.call_id)


# -- forks and subagents --------------------------------------------------------------------------------


def test_resumed_thread_appends_its_own_session_meta_and_stays_one_session(tmp_path):
    path = tmp_path / fixture(SHELL_EXIT_1).name
    resumed_meta = {"timestamp": "2026-05-01T15:00:00.000Z", "type": "session_meta",
                    "payload": {"id": "019de2fb-1900-7a01-8000-00000000e001", "timestamp": "2026-05-01T15:00:00.000Z",
                                "cwd": "/home/dev/shop", "cli_version": "0.67.0", "source": "cli"}}
    prompt = {"timestamp": "2026-05-01T15:00:05.000Z", "type": "event_msg",
              "payload": {"type": "user_message", "message": "and fix it", "images": []}}
    path.write_bytes(fixture(SHELL_EXIT_1).read_bytes() + orjson.dumps(resumed_meta) + b"\n"
                     + orjson.dumps(prompt) + b"\n")
    (s,) = load_file(path)
    assert s.session_id == "019de2fb-1900-7a01-8000-00000000e001"
    assert [t.user.text for t in s.turns] == ["run the unit tests", "and fix it"]
    assert s.cli_version == "0.67.0"


def test_forked_child_is_its_own_session_with_parent_and_agent_name():
    s = load(CHILD)
    assert s.session_id == "019de333-2e90-7b05-8000-00000000e005"
    assert s.parent_session_id == "019de332-0780-7b06-8000-00000000e006"
    assert s.agent_name == "Noether"
    assert s.models == ["gpt-5.6-terra"]


def test_forked_child_does_not_count_the_copied_parent_history():
    stats = ParseStats()
    (s,) = load_file(fixture(CHILD), stats=stats)
    assert stats.skipped["copied_from_parent"] == 8
    assert len(s.turns) == 1
    assert s.turns[0].user.origin == "system"
    assert s.turns[0].user.text.endswith("Check docs/ for commands that no longer exist.")
    assert [t.call_id for t in all_tools(s)] == ["call_e005_rg", "call_e005_send"]
    # the parent's copied token_count (25 000 input) is not the child's
    assert (s.stats.input, s.stats.cache_read, s.stats.output) == (1700, 76800, 130)


def test_history_start_ordinal_marks_where_a_newer_childs_own_records_begin():
    stats = ParseStats()
    (s,) = load_file(fixture(ORDINAL_CHILD), stats=stats)
    assert stats.skipped["copied_from_parent"] == 7  # ordinals 1..7, whose copied turn had already completed
    assert s.parent_session_id == "019de821-7500-7b13-8000-0000000e013a" and s.agent_name == "worker"
    assert [t.user.text.splitlines()[0] for t in s.turns] == ["Message Type: NEW_TASK"]
    assert [t.call_id for t in all_tools(s)] == ["call_e013_patch"]
    assert (s.stats.input, s.stats.cache_read, s.stats.output) == (1300, 20800, 100)
    assert s.models == ["gpt-5.6-terra"]


def test_thread_forked_between_turns_starts_after_the_copy_burst():
    stats = ParseStats()
    (s,) = load_file(fixture(USER_FORK), stats=stats)
    assert stats.skipped["copied_from_parent"] == 7
    assert s.parent_session_id == "019de82a-9cc0-7b14-8000-0000000e014a" and s.agent_name is None
    assert [t.user.text for t in s.turns] == ["now simplify it"]
    assert s.title == "now simplify it"
    assert (s.stats.input, s.stats.cache_read, s.stats.output) == (400, 4900, 40)


def test_interaction_with_the_parent_is_not_a_child_link():
    assert tool(load(CHILD), "call_e005_send").child_session_id is None


# -- tokens ---------------------------------------------------------------------------------------------


def test_repeated_token_count_totals_are_counted_once():
    s = load(SHELL_EXIT_1)  # 4 token_counts with info: two are repeats, one has info:null
    first, second = s.turns[0].steps
    assert first.usage == m.Usage(input=1000, cache_read=3000, cache_write=0, output=120, reasoning=64)
    assert second.usage == m.Usage(input=300, cache_read=4000, cache_write=0, output=40, reasoning=0)
    assert (s.stats.input, s.stats.cache_read, s.stats.output, s.stats.reasoning) == (1300, 7000, 160, 64)
    assert s.stats.peak_context_tokens == 4300


def test_cache_write_tokens_are_part_of_input_tokens():
    first = load(SEARCH_TOOLS).turns[0].steps[0]
    assert first.usage == m.Usage(input=6000, cache_read=2000, cache_write=4000, output=150, reasoning=50)
    assert first.usage.context_tokens == 12000


def test_token_count_with_no_model_items_gets_a_step_of_its_own():
    steps = load(COMPACTION).turns[0].steps
    usage_only = steps[1]
    assert usage_only.tools == [] and usage_only.message is None and usage_only.reasoning is None
    assert usage_only.usage == m.Usage(input=42000, cache_read=0, cache_write=0, output=2000, reasoning=0)
    s = load(COMPACTION)
    assert (s.stats.input, s.stats.cache_read, s.stats.output) == (83000, 204000, 2400)


def test_context_window_comes_from_token_count():
    from agtrace_mcp.engine.builder import SessionBuilder as B

    sink = MemorySink()
    b = B(sink)
    get("codex").parse(SourceFile(str(fixture(SHELL_EXIT_1)), "codex"), 0, None, b.feed, ParseStats())
    b.finish()
    (c,) = sink.sessions.values()
    assert c.meta is not None and c.meta.context_window == 258400


# -- older formats, compression, damage ------------------------------------------------------------------


def test_pre_envelope_file_with_bare_header_and_items():
    s = load(PRE_ENVELOPE)
    assert s.session_id == "4d2c6f7e-3b1a-4c9d-8e7f-00000000e008"
    assert s.git_branch == "legacy-build"
    assert s.project_root == "/home/dev/legacy"  # from the <environment_context> the harness sent
    assert [t.user.text for t in s.turns] == ["why does the build fail?", "rename it back"]
    make = tool(s, "call_e008_make")
    assert make.error is not None and (make.error.kind, make.error.exit_code) == ("exit_code", 2)
    assert tool(s, "call_e008_ls").name == "local_shell_call" and tool(s, "call_e008_ls").status == "ok"
    assert [len(t.steps) for t in s.turns] == [3, 2]


def test_zst_rollout_written_without_content_size_reads_like_the_plain_file(tmp_path):
    import zstandard

    plain = fixture(LIST_OUTPUT)
    zst = tmp_path / (plain.name + ".zst")
    with open(zst, "wb") as f, zstandard.ZstdCompressor(level=3).stream_writer(f) as w:
        w.write(plain.read_bytes())
    assert zstandard.frame_content_size(zst.read_bytes()) == -1  # as Codex's streaming encoder writes it
    assert dump([load_session(zst)]) == dump([load_session(plain)])
    src, recs = tool_records(zst)
    t = next(r for r in recs if r.call_id == "call_e003_make")
    assert get("codex").read_output(src, t.out_off, t.call_id) == t.output


def test_damaged_lines_and_unknown_records_are_counted_never_raised():
    stats = ParseStats()
    (s,) = load_file(fixture("e012"), provider="codex", stats=stats)
    assert stats.bad_lines == 2  # a JSON array and a line that is not JSON
    assert stats.torn_tail  # the last line is still being written
    assert stats.unknown["hologram_record"] == 1
    assert stats.unknown["response_item/hologram"] == 1
    assert stats.unknown["event_msg/brand_new_event"] == 1
    assert [t.user.text for t in s.turns] == ["check the logs"]  # from two records on one line
    assert s.stats.input == 100 and s.stats.output == 10  # a repeated usage without totals counted once


# -- resumable parsing ----------------------------------------------------------------------------------


def test_state_pickles_and_parse_returns_the_end_offset():
    path = fixture(CHILD)
    off, state = get("codex").parse(SourceFile(str(path), "codex"), 0, None, lambda e: None, ParseStats())
    assert off == path.stat().st_size
    assert pickle.loads(pickle.dumps(state)) == state


@pytest.mark.parametrize("tag", [SHELL_EXIT_1, JSON_METADATA, LIST_OUTPUT, ABORTED, CHILD, PARENT,
                                 EVENT_FAILURES, PRE_ENVELOPE, NO_USER_MESSAGE, SEARCH_TOOLS, COMPACTION,
                                 ORDINAL_CHILD, USER_FORK])
def test_parsing_in_pieces_gives_the_same_session_as_parsing_whole(tag, tmp_path):
    path = fixture(tag)
    data = path.read_bytes()
    whole = dump(parse_pieces(path, [], tmp_path / "whole"))
    line_ends = [i + 1 for i, b in enumerate(data) if b == ord("\n")][:-1]
    for i, cut in enumerate(line_ends):  # after every line, and in the middle of the next one
        mid = cut + 7
        assert dump(parse_pieces(path, [cut], tmp_path / f"a{i}")) == whole, f"cut after byte {cut}"
        assert dump(parse_pieces(path, [mid], tmp_path / f"b{i}")) == whole, f"cut at byte {mid}"
    assert dump(parse_pieces(path, line_ends[::3], tmp_path / "many")) == whole


# -- the real corpus ------------------------------------------------------------------------------------


def corpus_files(corpus: Path) -> list[Path]:
    files = sorted((corpus / "codex").glob("*.jsonl"))
    assert files
    return files


def test_corpus_every_codex_file_loads(corpus):
    for path in corpus_files(corpus):
        stats = ParseStats()
        sessions = load_file(path, provider="codex", stats=stats)
        first_meta = orjson.loads(path.read_bytes().split(b"\n", 1)[0])["payload"]["id"]
        assert [s.session_id for s in sessions] == [first_meta], path.name
        assert stats.bad_lines == 0 and not stats.unknown, (path.name, stats.unknown)


def test_corpus_v066_has_two_turns_and_two_failed_shell_commands(corpus):
    s = load_session(corpus / "codex" / "v0.66.0_rollout-2025-12-10T04-55-16-019b04ae_shell-fail_apply-patch.jsonl",
                     "codex")
    assert [t.user.text for t in s.turns] == ["add myapp directory and create myapp/hoge.py which shows result "
                                              "of print(1+1).", "cd to myapp and run python hoge.py"]
    failed = [t for t in all_tools(s) if t.status == "error"]
    assert [(t.name, t.error.kind, t.error.exit_code) for t in failed if t.error] == [
        ("shell_command", "exit_code", 1), ("shell_command", "exit_code", 1)]
    assert tool(s, "call_pBXH93fl6ZXH2svDOFIlr8GA").output == "Success. Updated the following files:\nA myapp/hoge.py\n"
    assert s.git_branch == "codex" and s.project_root == "/Users/zawakin/agent-sample"


def test_corpus_exec_nonzero_exit_finds_the_four_nonzero_exits(corpus):
    s = load_session(corpus / "codex" / "v0.145.0_exec-nonzero-exit_compacted_019fb117.jsonl", "codex")
    exits = [(t.name, t.error.exit_code) for t in all_tools(s) if t.error and t.error.kind == "exit_code"]
    assert exits == [("write_stdin", 2), ("write_stdin", 1), ("write_stdin", 1), ("exec_command", 2)]
    assert len(s.turns) == 1 and len(s.compactions) == 1


def test_corpus_forked_child_does_not_count_the_parents_copied_turn(corpus):
    stats = ParseStats()
    (s,) = load_file(corpus / "codex" / "v0.145.0_subagent-child-thread_forked_Hume_019fa6e6-6081.jsonl", "codex",
                     stats=stats)
    assert s.session_id == "019fa6e6-6081-7703-89d8-b38b9e69be0d"
    assert s.parent_session_id == "019fa6e3-2df0-77e3-898a-c3a92802e636"
    assert s.agent_name == "Hume"
    assert len(s.turns) == 1 and s.turns[0].user.origin == "system"
    assert not any(t.user.text.startswith("create \n1.") for t in s.turns)
    assert stats.skipped["copied_from_parent"] == 16
    assert s.models == ["gpt-5.6-terra"]


def test_corpus_parent_links_its_spawned_children(corpus):
    s = load_session(corpus / "codex" / "v0.145.0_parent-thread-spawning-subagents_019fa6e3.jsonl", "codex")
    children = [t.child_session_id for t in all_tools(s) if t.child_session_id]
    assert children == ["019fa6e6-4f2e-7683-994d-3ffd33e17fa0", "019fa6e6-6081-7703-89d8-b38b9e69be0d"]
    assert len(s.turns) == 2


def test_corpus_review_subagent_is_named_by_its_source(corpus):
    s = load_session(corpus / "codex" / "v0.77.0_review-subagent_source-subagent-review_trimmed_019b88e5.jsonl",
                     "codex")
    assert s.agent_name == "review" and [t.user.text for t in s.turns] == ["Review the code changes"]


def _raw_usage_sums(path: Path) -> tuple[int, int, int, int, int]:
    """Deduplicated token sums computed straight from the raw JSON, independently of the provider.

    A token_count counts when its total_token_usage differs from the previous one. In a forked thread
    (a second session_meta with another id) the records copied from the parent are not the thread's own:
    its own records start at the first task_started whose turn_id is not that of the copied turn.
    """
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    own_from = 0
    metas = [i for i, r in enumerate(rows) if r.get("type") == "session_meta"]
    if len(metas) > 1 and rows[metas[1]]["payload"]["id"] != rows[metas[0]]["payload"]["id"]:
        starts = [i for i, r in enumerate(rows) if i > metas[1] and r.get("type") == "event_msg"
                  and r["payload"].get("type") == "task_started"]
        copied_turn = rows[starts[0]]["payload"]["turn_id"]
        own_from = next(i for i in starts if rows[i]["payload"]["turn_id"] != copied_turn)
    sums = [0, 0, 0, 0, 0]
    previous = None
    for i, r in enumerate(rows):
        p = r.get("payload") or {}
        if r.get("type") != "event_msg" or p.get("type") != "token_count" or not p.get("info"):
            continue
        total, last = p["info"]["total_token_usage"], p["info"]["last_token_usage"]
        if total == previous:
            continue
        previous = total
        if i < own_from:
            continue
        cached, write = last.get("cached_input_tokens", 0), last.get("cache_write_input_tokens", 0)
        sums[0] += last["input_tokens"] - cached - write
        sums[1] += cached
        sums[2] += write
        sums[3] += last["output_tokens"]
        sums[4] += last.get("reasoning_output_tokens", 0)
    return tuple(sums)  # type: ignore[return-value]


def test_corpus_token_totals_equal_the_deduplicated_raw_sums(corpus):
    for path in corpus_files(corpus):
        s = load_session(path, "codex")
        got = (s.stats.input, s.stats.cache_read, s.stats.cache_write, s.stats.output, s.stats.reasoning)
        assert got == _raw_usage_sums(path), path.name
    hume = corpus / "codex" / "v0.145.0_subagent-child-thread_forked_Hume_019fa6e6-6081.jsonl"
    assert _raw_usage_sums(hume)[0] == 50846  # the copied parent usage is left out


def test_corpus_read_output_returns_each_results_full_text(corpus):
    provider = get("codex")
    for path in corpus_files(corpus):
        src, recs = tool_records(path)
        for t in recs:
            if t.has_result:
                assert provider.read_output(src, t.out_off, t.call_id) == t.output, (path.name, t.call_id)


def test_corpus_parsing_in_pieces_gives_the_same_sessions(corpus, tmp_path):
    for path in corpus_files(corpus):
        size = path.stat().st_size
        whole = dump(parse_pieces(path, [], tmp_path / f"{path.stem}-whole"))
        cuts = [size * k // 9 for k in range(1, 9)]  # mostly in the middle of a line
        assert dump(parse_pieces(path, cuts, tmp_path / f"{path.stem}-cuts")) == whole, path.name
        line_ends = [i + 1 for i, b in enumerate(path.read_bytes()) if b == ord("\n")]
        for cut in line_ends[1:40:3]:  # the copied block of the forked child and the first turn
            assert dump(parse_pieces(path, [cut], tmp_path / f"{path.stem}-{cut}")) == whole, (path.name, cut)


# -- review sub-agents: linked to the /review that started them -----------------------------------------------


def _rollout(home: Path, tid: str, started: str, cwd: str, lines: list[dict], source: object = "cli") -> None:
    day = started[:10].replace("-", "/")
    path = home / ".codex" / "sessions" / day / f"rollout-{started[:19].replace(':', '-')}-{tid}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"timestamp": started, "type": "session_meta",
            "payload": {"id": tid, "timestamp": started, "cwd": cwd, "originator": "codex_cli_rs",
                        "cli_version": "0.66.0", "source": source, "model_provider": "openai"}}
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in [meta, *lines]))


def _said(ts: str, text: str) -> dict:
    return {"timestamp": ts, "type": "event_msg", "payload": {"type": "user_message", "message": text, "images": []}}


def test_a_review_sub_agent_is_linked_to_the_review_turn_that_started_it(tmp_path: Path):
    from agtrace_mcp.api import Agtrace
    from agtrace_mcp.config import Config

    parent, child, stray = ("019e0000-0000-7000-8000-0000000000a1", "019e0000-0000-7000-8000-0000000000a2",
                            "019e0000-0000-7000-8000-0000000000a3")
    _rollout(tmp_path, parent, "2026-05-02T10:00:00.000Z", "/home/dev/shop",
             [_said("2026-05-02T10:00:01.000Z", "fix the cart total"),
              {"timestamp": "2026-05-02T10:05:00.000Z", "type": "event_msg",
               "payload": {"type": "entered_review_mode", "user_facing_hint": "current changes"}}])
    _rollout(tmp_path, child, "2026-05-02T10:05:02.000Z", "/home/dev/shop",
             [_said("2026-05-02T10:05:02.500Z", "Review the current code changes")], source={"subagent": "review"})
    _rollout(tmp_path, stray, "2026-05-02T10:05:03.000Z", "/home/dev/other",  # another project: not its child
             [_said("2026-05-02T10:05:03.500Z", "Review the current code changes")], source={"subagent": "review"})
    api = Agtrace(Config.load(env={"HOME": str(tmp_path)}, data_dir=tmp_path / "index"))
    assert api.get_session(child).session.parent_session_id == parent
    assert [s.session_id for s in api.get_session(parent).subagents] == [child]
    assert api.get_session(stray).session.parent_session_id is None
