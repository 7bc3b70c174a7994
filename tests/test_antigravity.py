"""Antigravity provider (`agy` CLI, Antigravity IDE): discovery, replay, pairing, failures, tokens, projects.

Fixtures (fixtures/home/.gemini), one brain per rule:
- antigravity-cli/brain/a0a0a0a0-… — CLI 1.0.x, typed results: a 2-call planner, `failed with exit code: 1`, a
  `run_command` and a `schedule` that go to the background (RUNNING) and finish later as SYSTEM_MESSAGEs, the
  initial `CHECKPOINT 0`, a settings-only USER_INPUT (model switch), a sandbox "Permission denied" LIST_DIRECTORY
  ERROR, an ERROR_MESSAGE in a call's slot, a "user denied permission" RUN_COMMAND ERROR, an ERROR_MESSAGE tied to
  no call (model unreachable), a `/review` slash command. Its `transcript.jsonl` twin and a `logs/chunks/` copy
  sit next to it and must not be read. Project from `history.jsonl`.
- antigravity-cli/brain/b0b0b0b0-… — CLI 1.1.x, GENERIC results only: `exited with code 7`, a result written
  before its planner, a rewind (steps 6–8 written twice), a line missing its head, `CHECKPOINT 1`, a torn last
  line. Project from `cache/last_conversations.json`.
- antigravity-cli/brain/c0c0c0c0-… — CLI 1.3.x with token fields; title from `annotations/<id>.pbtxt`.
- antigravity-cli/brain/d0d0d0d0-… — only `transcript.jsonl`: arguments JSON-encoded twice, content cut.
- antigravity-cli/brain/e0e0e0e0-… / f0f0f0f0-… — a parent whose `invoke_subagent` result names the child, and
  the child, whose transcript starts with the parent's message.
- antigravity-ide/brain/90909090-… — IDE (2026-08 root): KNOWLEDGE_ARTIFACTS, EPHEMERAL_MESSAGE, an artifact
  approval prompt, the user's own VIEW_FILE, a denied RUN_COMMAND, MCP_TOOL, Windows `Cwd`s.
- antigravity/brain/80808080-… — IDE under the older root.
- config/projects/a5a5a5a5-….json and antigravity-cli/cache/projects.json — used with a DB built in a test.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from indexcheck import api_over, grow, index_rows, spy_continuations

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.load import load_file, load_file_source, load_session, source_for
from agtrace_mcp.providers import REGISTRY, ParseStats, SourceFile, detect_provider
from agtrace_mcp.providers.antigravity import (
    AntigravityProvider,
    norm_path,
    pb_fields,
    replay,
    subagent_ids,
    user_prompt,
)

AG = "antigravity"
A = "a0a0a0a0-1111-4111-8111-000000000001"
B = "b0b0b0b0-2222-4222-8222-000000000002"
C = "c0c0c0c0-3333-4333-8333-000000000003"
D = "d0d0d0d0-4444-4444-8444-000000000004"
E = "e0e0e0e0-5555-4555-8555-000000000005"
F = "f0f0f0f0-6666-4666-8666-000000000006"
G = "90909090-7777-4777-8777-000000000007"
H = "80808080-8888-4888-8888-000000000008"
P = "a5a5a5a5-9999-4999-8999-000000000009"

CORPUS_FILES = {
    "perm": "cli-2026-06_win_6b284218_error-message_permission-denied_model-switch.transcript_full.jsonl",
    "bg": "cli-2026-06_win_d580aa81_background-tasks_schedule_task-messages.transcript_full.jsonl",
    "twin": "cli-2026-06_win_d580aa81_truncated-twin.transcript.jsonl",
    "head": "ide-2026-07_antigravity-brain_531e810e_head-missing-line_ephemeral.transcript.jsonl",
    "ooo": "ide-2026-07_antigravity-brain_ede1eb3f_error-message_out-of-order-steps.transcript_full.jsonl",
    "denied": "ide-2026-08_antigravity-ide-brain_knowledge-ephemeral_user-denied.transcript_full.jsonl",
}


def brain_log(home: Path, surface: str, sid: str, name: str = "transcript_full.jsonl") -> Path:
    return home / ".gemini" / surface / "brain" / sid / ".system_generated" / "logs" / name


def tools_of(session):
    return [t for turn in session.turns for step in turn.steps for t in step.tools]


def tool(session, call_id: str):
    return next(t for t in tools_of(session) if t.call_id == call_id)


def steps_of(session):
    return [s for turn in session.turns for s in turn.steps]


def parse(path: Path | str) -> tuple[object, ParseStats]:
    stats = ParseStats()
    sessions = load_file_source(source_for(path), stats)
    assert len(sessions) == 1
    return sessions[0], stats


def jsonl(*records: object) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


# -- roots and discovery --------------------------------------------------------------------------------


def test_registered_and_detected(fixtures_home: Path):
    assert isinstance(REGISTRY[AG], AntigravityProvider)
    assert detect_provider(str(brain_log(fixtures_home, "antigravity-cli", A))) == AG
    assert detect_provider(str(brain_log(fixtures_home, "antigravity-cli", D, "transcript.jsonl"))) == AG


def test_default_roots_scan_all_three_surfaces_and_follow_the_override(tmp_path: Path):
    p = AntigravityProvider()
    home = tmp_path / "h"
    assert p.default_roots(home, {}) == [home / ".gemini" / "antigravity-cli", home / ".gemini" / "antigravity",
                                         home / ".gemini" / "antigravity-ide"]
    base = tmp_path / "elsewhere"
    assert p.default_roots(home, {"AGTRACE_MCP_ANTIGRAVITY_DIR": str(base)}) == [
        base / "antigravity-cli", base / "antigravity", base / "antigravity-ide"]


def test_discover_one_transcript_per_brain(fixtures_home: Path):
    p = AntigravityProvider()
    found = {Path(s.path).parents[2].name: s for s in p.discover(p.default_roots(fixtures_home, {}))}
    assert set(found) == {A, B, C, D, E, F, G, H}
    # the full transcript wins over its twin; the chunk copies are never sessions
    assert found[A].path == str(brain_log(fixtures_home, "antigravity-cli", A))
    assert found[A].kind == "session"
    assert found[D].path.endswith("/transcript.jsonl") and found[D].kind == "shortened"
    assert all("chunks" not in s.path for s in found.values())


def test_discover_ignores_git_and_stray_entries(tmp_path: Path, fixtures_home: Path):
    root = tmp_path / ".gemini" / "antigravity-cli"
    shutil.copytree(fixtures_home / ".gemini" / "antigravity-cli" / "brain" / B, root / "brain" / B)
    git_log = root / "brain" / B / ".git" / "logs"
    git_log.mkdir(parents=True)
    (git_log / "transcript_full.jsonl").write_text("{}\n")  # a snapshot object, not a session
    (root / "brain" / ".git").mkdir()
    (root / "brain" / "notes.txt").write_text("x")
    (root / "brain" / "empty-brain").mkdir()
    p = AntigravityProvider()
    assert [s.path for s in p.discover([root])] == [str(brain_log(tmp_path, "antigravity-cli", B))]
    # a root may also be the brain folder or one brain
    assert len(list(p.discover([root / "brain"]))) == 1
    assert len(list(p.discover([root / "brain" / B]))) == 1


def test_describe_works_on_a_bare_path(tmp_path: Path):
    p = AntigravityProvider()
    assert p.describe("/x/transcript_full.jsonl") == SourceFile("/x/transcript_full.jsonl", AG, "session")
    assert p.describe("/x/transcript.jsonl").kind == "shortened"


# -- CLI 1.0.x: typed results, background tasks, failures ---------------------------------------------


def test_cli_typed_turns_steps_and_models(fixtures_home: Path):
    s, stats = parse(brain_log(fixtures_home, "antigravity-cli", A))
    assert s.session_id == A and s.provider == AG
    assert s.cli_version == "antigravity-cli"
    assert s.project_root == "/home/dev/shop"  # history.jsonl
    assert s.title == "list the files and run the tests"
    # the settings-only USER_INPUT is not a turn; it switches the model for what follows
    assert [t.user.text for t in s.turns] == ["list the files and run the tests", "read the agy config folder",
                                              "/review src"]
    assert s.turns[2].user.origin == "slash_command" and s.turns[2].user.slash_command == "/review"
    assert s.models == ["Gemini 3.5 Flash (Medium)", "Claude Opus 4.6 (Thinking)"]
    assert {st.model for st in s.turns[0].steps} == {"Gemini 3.5 Flash (Medium)"}
    assert {st.model for st in s.turns[1].steps} == {"Claude Opus 4.6 (Thinking)"}
    assert stats.skipped["settings_only_input"] == 1
    first = s.turns[0].steps[0]
    assert first.reasoning.startswith("**Looking around**") and first.message == "I will look at the workspace first."
    assert [t.call_id for t in first.tools] == ["s3.0", "s3.1"]  # two calls, answered by steps 4 and 5
    assert [t.status for t in first.tools] == ["ok", "ok"]
    assert first.tools[1].output.startswith("File Path: `file:///home/dev/shop/README.md`")  # header dropped
    assert first.tools[0].duration_ms == 3000  # planner at :02 → Completed At :05
    # CHECKPOINT 0 (the conversation's initial summary) is not a compaction
    assert s.compactions == [] and stats.skipped["initial_checkpoint"] == 1
    assert (s.stats.turns, s.stats.steps, s.stats.tool_calls, s.stats.failed_tools) == (3, 12, 8, 5)


def test_cli_background_task_is_paired_with_its_completion(fixtures_home: Path):
    s, _ = parse(brain_log(fixtures_home, "antigravity-cli", A))
    server = tool(s, "s8.0")
    assert server.output.startswith("Tool is running as a background task with task id:")
    assert "EADDRINUSE" in server.output  # the completion message, appended
    assert server.status == "error" and server.error.kind == "exit_code" and server.error.exit_code == 2
    assert server.ended_at.isoformat() == "2026-06-20T08:00:25+00:00"  # when the task reported back
    timer = tool(s, "s10.0")
    assert timer.status == "ok" and timer.output.endswith("timer was cancelled because you received another message.")
    # the completion messages are not turns
    assert len(s.turns) == 3


def test_cli_failures(fixtures_home: Path):
    s, _ = parse(brain_log(fixtures_home, "antigravity-cli", A))
    tests = tool(s, "s6.0")
    assert (tests.status, tests.error.kind, tests.error.exit_code) == ("error", "exit_code", 1)
    sandbox = tool(s, "s18.0")
    assert sandbox.error.kind == "denied"
    assert sandbox.error.message.startswith("Permission denied for read_file(")
    bad_call = tool(s, "s20.0")  # the ERROR_MESSAGE in its slot is its result
    assert bad_call.error.kind == "tool_error" and "invalid tool call" in bad_call.error.message
    assert bad_call.output.startswith("Error invalid tool call:")
    refused = tool(s, "s22.0")
    assert refused.error.kind == "denied" and refused.error.message.startswith("user denied permission")
    # the ERROR_MESSAGE tied to no call is a failed step of its own
    failed = [st for st in steps_of(s) if st.status == "failed"]
    assert len(failed) == 1 and failed[0].message.startswith("agent executor error: model unreachable")
    assert failed[0].tools == []


def test_read_output_returns_the_parsed_output(fixtures_home: Path):
    path = brain_log(fixtures_home, "antigravity-cli", A)
    p = AntigravityProvider()
    src = p.describe(str(path))
    stats = ParseStats()
    recs, _ = replay(str(path), stats)
    off = {r.idx: r.off for r in recs}
    s, _ = parse(path)
    assert p.read_output(src, off[7], "s6.0") == tool(s, "s6.0").output
    assert p.read_output(src, off[21], "s20.0") == tool(s, "s20.0").output
    assert p.read_output(src, off[9], "s8.0") is None  # merged with its completion: the API re-reads the file
    assert p.read_output(src, -1, "s8.0") is None


# -- CLI 1.1.x: GENERIC results, order, rewind, damaged lines ----------------------------------------------


def test_generic_results_order_rewind_and_damaged_lines(fixtures_home: Path):
    s, stats = parse(brain_log(fixtures_home, "antigravity-cli", B))
    assert s.project_root == "/home/dev/api"  # cache/last_conversations.json
    make = tool(s, "s1.0")  # its GENERIC result was written before the planner line
    assert (make.status, make.error.kind, make.error.exit_code) == ("error", "exit_code", 7)
    assert make.output.startswith("\nThe command exited with code 7.")
    # the rewind to step 6 replaced write_to_file with replace_file_content
    names = [t.name for t in tools_of(s)]
    assert "write_to_file" not in names and "replace_file_content" in names
    assert s.turns[0].steps[-1].message == "Fixed the failing rule."
    assert stats.skipped["rewound_step"] == 3
    assert stats.bad_lines == 1  # the line that starts mid-record
    assert stats.torn_tail  # a write in progress
    assert tool(s, "s11.0").status == "ok"  # exited with code 0
    assert len(s.compactions) == 1 and s.compactions[0].turn_index == 1  # mid-turn: the turn it happened in
    assert (s.stats.turns, s.stats.steps, s.stats.tool_calls, s.stats.failed_tools) == (2, 6, 4, 1)


# -- tokens ---------------------------------------------------------------------------------------------


def test_transcript_tokens_13x(fixtures_home: Path):
    s, _ = parse(brain_log(fixtures_home, "antigravity-cli", C))
    u = [st.usage for st in steps_of(s)]
    assert [(x.input, x.cache_read, x.cache_write, x.output, x.reasoning) for x in u] == [
        (1200, 800, 0, 150, 0), (1500, 2100, 0, 40, 0)]
    assert (s.stats.input, s.stats.cache_read, s.stats.output) == (2700, 2900, 190)
    assert s.stats.peak_context_tokens == 3600
    assert s.title == 'Find the "TODO" markers café'  # annotations/<id>.pbtxt
    assert s.project_root is None  # nothing records it: never guessed
    assert s.models == ["Gemini 3.8 Flash (High)"]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb(*fields: tuple[int, int | bytes | str]) -> bytes:
    """Hand-encode a protobuf message: ints as varints, bytes/str as length-delimited."""
    out = bytearray()
    for fno, v in fields:
        if isinstance(v, int):
            out += _varint(fno << 3) + _varint(v)
        else:
            data = v.encode() if isinstance(v, str) else v
            out += _varint(fno << 3 | 2) + _varint(len(data)) + data
    return bytes(out)


def usage_meta(inp: int, out: int, cache_write: int, cache_read: int, thinking: int, rid: str) -> bytes:
    ts = pb((1, 1781942400), (2, 5000))
    return pb((1, ts), (9, pb((1, 1020), (2, inp), (3, out), (4, cache_write), (5, cache_read), (6, 24), (9, thinking),
                             (10, max(out - thinking, 0)), (11, rid))))


def make_db(path: Path, steps: list[tuple[int, int, bytes | None]], gen: list[bytes], traj: bytes | None,
            keep_open: bool = False) -> sqlite3.Connection | None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.executescript("""
        CREATE TABLE trajectory_meta(trajectory_id text PRIMARY KEY, cascade_id text, trajectory_type int, source int);
        CREATE TABLE steps(idx int PRIMARY KEY, step_type int, status int, has_subtrajectory numeric, metadata blob,
            error_details blob, permissions blob, task_details blob, render_info blob, step_payload blob, step_format int);
        CREATE TABLE gen_metadata(idx int PRIMARY KEY, data blob, size int);
        CREATE TABLE executor_metadata(idx int PRIMARY KEY, data blob);
        CREATE TABLE parent_references(idx int PRIMARY KEY, data blob);
        CREATE TABLE trajectory_metadata_blob(id text PRIMARY KEY DEFAULT 'main', data blob);
        CREATE TABLE battle_mode_infos(idx int PRIMARY KEY, data blob);
    """)
    con.executemany("INSERT INTO steps(idx, step_type, status, metadata) VALUES (?,?,3,?)", steps)
    con.executemany("INSERT INTO gen_metadata(idx, data, size) VALUES (?,?,0)", [(i, g) for i, g in enumerate(gen)])
    if traj is not None:
        con.execute("INSERT INTO trajectory_metadata_blob(id, data) VALUES ('main', ?)", (traj,))
    con.commit()
    if keep_open:
        return con
    con.close()
    return None


def gen_row(enum: str, label: str) -> bytes:
    return pb((1, pb((3, 1020), (19, enum), (21, label))))


@pytest.fixture
def agy_home(tmp_path: Path, fixtures_home: Path) -> Path:
    """A private `.gemini` with brain H (no tokens, no model, no project) moved into the CLI root."""
    gem = tmp_path / ".gemini"
    shutil.copytree(fixtures_home / ".gemini" / "config", gem / "config")
    shutil.copytree(fixtures_home / ".gemini" / "antigravity-cli" / "cache", gem / "antigravity-cli" / "cache")
    shutil.copytree(fixtures_home / ".gemini" / "antigravity" / "brain" / H, gem / "antigravity-cli" / "brain" / H)
    log = brain_log(tmp_path, "antigravity-cli", H)
    # a second model call, so that usage lands on two steps
    log.write_text(log.read_text() + jsonl(
        {"step_index": 2, "source": "USER_EXPLICIT", "type": "USER_INPUT", "status": "DONE",
         "created_at": "2026-06-20T08:12:00Z", "content": "<USER_REQUEST>\nbuild it\n</USER_REQUEST>"},
        {"step_index": 3, "source": "SYSTEM", "type": "CHECKPOINT", "status": "DONE",
         "created_at": "2026-06-20T08:12:01Z", "content": "{{ CHECKPOINT 1 }}\n summary"},
        {"step_index": 4, "source": "MODEL", "type": "PLANNER_RESPONSE", "status": "DONE",
         "created_at": "2026-06-20T08:12:02Z", "content": "Built."}))
    return tmp_path


def db_steps() -> list[tuple[int, int, bytes | None]]:
    return [
        (0, 14, pb((1, pb((1, 1781942400))))),                      # USER_INPUT: no usage
        (1, 15, usage_meta(1000, 300, 0, 5000, 120, "resp-1")),     # PLANNER_RESPONSE
        (3, 23, usage_meta(9000, 900, 0, 0, 0, "resp-ck")),         # CHECKPOINT summarisation: not a step of ours
        (4, 15, usage_meta(200, 50, 64, 6000, 0, "resp-2")),
        (5, 15, usage_meta(200, 50, 64, 6000, 0, "resp-2")),        # same response id: counted once
        (6, 17, None),
    ]


def test_db_tokens_model_and_workspace(agy_home: Path):
    db = agy_home / ".gemini" / "antigravity-cli" / "conversations" / f"{H}.db"
    make_db(db, db_steps(), [gen_row("gemini-3-flash-a", "Gemini 3.5 Flash (Medium)")],
            pb((1, "2026-06-20"), (2, pb((1, "file:///home/dev/from-db"))), (3, H)))
    before = sorted(os.listdir(db.parent))
    stats = ParseStats()
    s = load_file_source(source_for(brain_log(agy_home, "antigravity-cli", H)), stats)[0]
    assert sorted(os.listdir(db.parent)) == before  # nothing created next to the user's database
    usage = [st.usage and (st.usage.input, st.usage.cache_read, st.usage.cache_write, st.usage.output,
                           st.usage.reasoning) for st in steps_of(s)]
    assert usage == [(1000, 5000, 0, 300, 120), (200, 6000, 64, 50, 0)]
    assert s.models == ["Gemini 3.5 Flash (Medium)"]
    assert s.project_root == "/home/dev/from-db"
    assert stats.skipped["db_usage_not_planner"] == 1


def test_db_read_while_agy_holds_it_open_includes_the_wal(agy_home: Path):
    db = agy_home / ".gemini" / "antigravity-cli" / "conversations" / f"{H}.db"
    con = make_db(db, db_steps(), [], None, keep_open=True)
    try:
        assert os.path.exists(str(db) + "-wal")
        before = sorted(os.listdir(db.parent))
        s = load_session(brain_log(agy_home, "antigravity-cli", H))
        assert sorted(os.listdir(db.parent)) == before
        assert s.stats.input == 1200 and s.stats.output == 350
    finally:
        assert con is not None
        con.close()


def test_db_project_id_resolves_through_config_and_cache(agy_home: Path):
    db = agy_home / ".gemini" / "antigravity-cli" / "conversations" / f"{H}.db"
    make_db(db, db_steps(), [], pb((1, pb((1, P)))))
    s = load_session(brain_log(agy_home, "antigravity-cli", H))
    assert s.project_root == "C:\\Users\\dev\\dbproj"  # config/projects/<id>.json folderUri file:///c%3A/…
    (agy_home / ".gemini" / "config" / "projects" / f"{P}.json").unlink()
    s = load_session(brain_log(agy_home, "antigravity-cli", H))
    assert s.project_root == "/home/dev/dbproj-cache"  # cache/projects.json, inverted


def test_db_that_does_not_decode_gives_no_tokens(agy_home: Path):
    db = agy_home / ".gemini" / "antigravity-cli" / "conversations" / f"{H}.db"
    steps = db_steps()
    steps[3] = (4, 15, usage_meta(200, 50, 64, 6000, 0, "r")[:-3])  # cut inside the usage message
    make_db(db, steps, [], None)
    stats = ParseStats()
    s = load_file_source(source_for(brain_log(agy_home, "antigravity-cli", H)), stats)[0]
    assert all(st.usage is None for st in steps_of(s))
    assert (s.stats.input, s.stats.output) == (0, 0)
    assert stats.skipped["db_usage_undecodable"] == 1
    # thinking larger than output: the layout is not what we think → no numbers either
    db.unlink()
    steps = db_steps()
    steps[1] = (1, 15, usage_meta(1000, 30, 0, 5000, 120, "resp-1"))
    make_db(db, steps, [], None)
    assert load_session(brain_log(agy_home, "antigravity-cli", H)).stats.output == 0


def test_transcript_tokens_win_over_the_db(tmp_path: Path, fixtures_home: Path):
    gem = tmp_path / ".gemini" / "antigravity-cli"
    shutil.copytree(fixtures_home / ".gemini" / "antigravity-cli" / "brain" / C, gem / "brain" / C)
    make_db(gem / "conversations" / f"{C}.db", [(1, 15, usage_meta(1, 1, 0, 1, 0, "x"))],
            [gen_row("gemini-pro-agent", "Gemini 3.1 Pro")], None)
    s = load_session(brain_log(tmp_path, "antigravity-cli", C))
    assert s.stats.input == 2700
    assert s.models == ["Gemini 3.8 Flash (High)"]


def test_pb_reader_rejects_malformed_input():
    assert pb_fields(pb((1, 5), (2, "x"))) == [(1, 0, 5), (2, 2, b"x")]
    for bad in (b"\x0a\x05ab", b"\x08", b"\x0b", b"\x00\x01"):
        with pytest.raises(ValueError):
            pb_fields(bad)


# -- shortened transcript.jsonl ---------------------------------------------------------------------------


def test_shortened_transcript_is_decoded_and_marked(fixtures_home: Path):
    s, _ = parse(brain_log(fixtures_home, "antigravity-cli", D, "transcript.jsonl"))
    assert s.cli_version == "antigravity-cli [transcript.jsonl: shortened]"
    view, tail = tool(s, "s1.0"), tool(s, "s1.1")
    assert view.args == {"AbsolutePath": "/home/dev/shop/app.log", "StartLine": 1, "EndLine": 400,
                         "toolAction": "Reading log", "toolSummary": "Reading log"}
    assert tail.args["SafeToAutoRun"] is True and tail.args["WaitMsBeforeAsync"] == 2000
    assert "<truncated 96000 bytes>" in view.output
    assert s.project_root == "/home/dev/shop"  # the Cwd of its run_command (decoded), as a last resort


# -- sub-agents -------------------------------------------------------------------------------------------


def test_subagent_link_and_parent(fixtures_home: Path):
    parent, stats = parse(brain_log(fixtures_home, "antigravity-cli", E))
    call = tool(parent, "s1.1")
    assert call.name == "invoke_subagent" and call.kind == "plan" and call.child_session_id == F
    assert tool(parent, "s1.0").child_session_id is None
    assert stats.skipped["system_message"] == 1  # the child's report is not a turn
    child, _ = parse(brain_log(fixtures_home, "antigravity-cli", F))
    assert child.parent_session_id == E
    assert child.turns[0].user.origin == "system" and child.turns[0].user.text == "rename foo to bar"
    assert child.title == ""


def test_subagent_ids_only_right_after_the_heading():
    text = ('Created the following subagents:\n{"conversationId": "c1", "workspaceUris": []}\n'
            '{"conversationId": "c2"}\nThe subagents will send you a message')
    assert subagent_ids(text) == ["c1", "c2"]
    assert subagent_ids("cat log: Created the following subagents: (none)\n{\"conversationId\": \"x\"}") == []
    assert subagent_ids("nothing") == []


# -- IDE ---------------------------------------------------------------------------------------------------


def test_ide_new_root(fixtures_home: Path):
    s, stats = parse(brain_log(fixtures_home, "antigravity-ide", G))
    assert s.cli_version == "antigravity-ide"
    assert s.project_root == "C:\\Users\\dev\\site"  # `c:/Users/dev/site` and `C:\Users\dev\site` are one folder
    approval = s.turns[1].user.text
    assert approval.startswith("Comments on artifact URI: file:///c%3A/Users/dev/")
    assert approval.endswith("The user has approved this document.")
    assert stats.skipped["user_action"] == 1  # the user's own VIEW_FILE is no model call
    install = s.turns[1].steps[0]
    assert install.message is None  # only an injected <EPHEMERAL_MESSAGE>
    assert install.tools[0].status == "ok"
    denied = tool(s, "s13.0")
    assert denied.error.kind == "denied" and denied.error.message.startswith("user denied permission for command(")
    assert tool(s, "s17.0").kind == "mcp"
    assert (s.stats.turns, s.stats.steps, s.stats.tool_calls, s.stats.failed_tools) == (2, 7, 5, 1)
    assert stats.unknown == {}


def test_ide_old_root(fixtures_home: Path):
    s, _ = parse(brain_log(fixtures_home, "antigravity", H))
    assert s.cli_version == "antigravity" and s.project_root is None
    assert [t.user.text for t in s.turns] == ["hello"]


# -- pairing and replay edge cases on small transcripts ----------------------------------------------------


def step(i: int, typ: str, source: str = "MODEL", status: str = "DONE", **kw: object) -> dict:
    return {"step_index": i, "source": source, "type": typ, "status": status,
            "created_at": f"2026-07-01T10:00:{i:02d}Z", **kw}


def test_pairing_holes_batches_and_lost_planners(tmp_path: Path):
    path = brain_log(tmp_path, "antigravity-cli", "12345678-1234-4234-8234-123456789012")
    path.parent.mkdir(parents=True)
    path.write_text(jsonl(
        step(0, "USER_INPUT", "USER_EXPLICIT", content="<USER_REQUEST>\ngo\n</USER_REQUEST>"),
        # three calls: slot 2 is a hole, slot 3 answers the third call
        step(1, "PLANNER_RESPONSE", tool_calls=[{"name": "view_file", "args": {}}, {"name": "list_dir", "args": {}},
                                                  {"name": "grep_search", "args": {}}]),
        step(2, "VIEW_FILE", content="a"),
        step(4, "GREP_SEARCH", content="c"),
        # a rejected batch: the ERROR_MESSAGE answers both calls
        step(5, "PLANNER_RESPONSE", tool_calls=[{"name": "view_file", "args": {}}, {"name": "view_file", "args": {}}]),
        step(6, "ERROR_MESSAGE", "SYSTEM", error="invalid tool call error (invalid_args)"),
        step(7, "PLANNER_RESPONSE", content="retrying"),
        # two results whose planner line is lost, then one from another lost planner
        step(9, "RUN_COMMAND", content="The command exited with code 3."),
        step(10, "VIEW_FILE", content="x"),
        step(11, "EPHEMERAL_MESSAGE", "SYSTEM"),
        step(13, "GENERIC", content="y"),
        step(14, "BRAND_NEW_TYPE", "SYSTEM"),
        step(15, "PLANNER_RESPONSE", content="done"),
        "[1, 2]",
        step(16, "PLANNER_RESPONSE", tool_calls=[{"name": "run_command", "args": {}}]),
        step(17, "USER_INPUT", "USER_EXPLICIT", content="<USER_REQUEST>\nnext\n</USER_REQUEST>"),
    ))
    s, stats = parse(path)
    first = s.turns[0].steps[0]
    assert [(t.call_id, t.status, t.output) for t in first.tools] == [
        ("s1.0", "ok", "a"), ("s1.1", "missing", ""), ("s1.2", "ok", "c")]
    batch = s.turns[0].steps[1].tools
    assert [(t.status, t.error.kind) for t in batch] == [("error", "tool_error"), ("error", "tool_error")]
    lost = s.turns[0].steps[3:5]
    assert [[(t.call_id, t.name) for t in st.tools] for st in lost] == [
        [("r9", "run_command"), ("r10", "view_file")], [("r13", "generic_tool")]]
    assert tool(s, "r9").error.exit_code == 3
    assert tool(s, "s16.0").status == "missing"  # the next prompt came instead of a result
    assert stats.unknown["BRAND_NEW_TYPE"] == 1
    assert stats.bad_lines == 1  # "[1, 2]" is no step
    assert stats.skipped["result_without_call"] == 3
    assert [t.user.text for t in s.turns] == ["go", "next"]


def test_an_identical_copy_of_a_step_is_no_rewind(tmp_path: Path):
    path = tmp_path / "x.transcript_full.jsonl"
    answer = step(1, "PLANNER_RESPONSE", content="a")
    path.write_text(jsonl(step(0, "USER_INPUT", "USER_EXPLICIT", content="hi"), answer,
                          step(2, "PLANNER_RESPONSE", content="b"), answer))
    s, stats = parse(path)
    assert [st.message for st in steps_of(s)] == ["a", "b"]
    assert stats.skipped["duplicate_step"] == 1 and stats.skipped["rewound_step"] == 0


def test_bare_file_takes_its_id_from_its_own_task_ids(tmp_path: Path):
    sid = "0badc0de-0000-4000-8000-000000000001"
    path = tmp_path / "some-copy.transcript_full.jsonl"
    path.write_text(jsonl(
        step(0, "USER_INPUT", "USER_EXPLICIT", content="<USER_REQUEST>\nrun\n</USER_REQUEST>"),
        step(1, "PLANNER_RESPONSE", tool_calls=[{"name": "run_command", "args": {"Cwd": "/srv/app"}}]),
        step(2, "RUN_COMMAND", status="RUNNING",
             content=f"Created At: 2026-07-01T10:00:02Z\nTool is running as a background task with task id: {sid}/task-2\n"
                     "Task logs are available at: file:///home/u/.gemini/antigravity-ide/brain/" + sid + "/x.log"),
        step(3, "PLANNER_RESPONSE", content="started"),
    ))
    s, _ = parse(path)
    assert s.session_id == sid
    assert s.cli_version == "antigravity-ide"
    assert s.project_root == "/srv/app"
    # no completion in the file: the notice the model got is the result
    assert tool(s, "s1.0").status == "ok" and "background task" in tool(s, "s1.0").output


def test_one_system_message_can_report_two_tasks(tmp_path: Path):
    sid = "0badc0de-0000-4000-8000-000000000002"
    path = brain_log(tmp_path, "antigravity-cli", sid)
    path.parent.mkdir(parents=True)

    def running(i: int) -> dict:
        return step(i, "RUN_COMMAND", status="RUNNING",
                    content=f"Created At: 2026-07-01T10:00:0{i}Z\nTool is running as a background task with task id: "
                            f"{sid}/task-{i}\nTask Description: job {i}")

    report = ("<SYSTEM_MESSAGE>\n"
              f"[Message] timestamp=2026-07-01T10:01:00Z sender={sid}/task-2 priority=MESSAGE_PRIORITY_HIGH "
              f'content=Task id "{sid}/task-2" finished with result:\nThe command exited with code 4.\nOutput:\nno\n'
              f"[Message] timestamp=2026-07-01T10:01:05Z sender={sid}/task-4 priority=MESSAGE_PRIORITY_HIGH "
              f'content=Task id "{sid}/task-4" finished with result:\nThe command exited with code 0.\n'
              "</SYSTEM_MESSAGE>")
    path.write_text(jsonl(
        step(0, "USER_INPUT", "USER_EXPLICIT", content="<USER_REQUEST>\nrun both\n</USER_REQUEST>"),
        step(1, "PLANNER_RESPONSE", tool_calls=[{"name": "run_command", "args": {}}]), running(2),
        step(3, "PLANNER_RESPONSE", tool_calls=[{"name": "run_command", "args": {}}]), running(4),
        step(5, "SYSTEM_MESSAGE", "SYSTEM", content=report),
        step(6, "PLANNER_RESPONSE", content="one failed"),
    ))
    s, _ = parse(path)
    first, second = tool(s, "s1.0"), tool(s, "s3.0")
    assert (first.status, first.error.exit_code) == ("error", 4)
    assert first.output.endswith("no") and "task-4" not in first.output.split("task-2", 2)[-1]
    assert second.status == "ok" and second.ended_at.isoformat() == "2026-07-01T10:01:05+00:00"


def test_user_prompt_text():
    assert user_prompt("<USER_REQUEST>\nfix it\n</USER_REQUEST>\n<ADDITIONAL_METADATA>\nx\n</ADDITIONAL_METADATA>") \
        == ("fix it", None)
    only = ("<USER_SETTINGS_CHANGE>\nThe user changed setting `Model Selection` from Gemini 3.5 Flash (Medium) to "
            "GPT-OSS 120B (Medium). No need to comment.\n</USER_SETTINGS_CHANGE>")
    assert user_prompt(only) == (None, "GPT-OSS 120B (Medium)")
    assert user_prompt("plain text") == ("plain text", None)
    assert user_prompt("<USER_REQUEST>\ncut in the mid") == ("cut in the mid", None)


@pytest.mark.parametrize("raw, want", [
    ("file:///c%3A/Users/x/proj", "C:\\Users\\x\\proj"),
    ("file://C:/Users/NETCOM/agy-cli-projects", "C:\\Users\\NETCOM\\agy-cli-projects"),
    ("file:///home/x/proj/", "/home/x/proj"),
    ("c:/Users/x/my proj", "C:\\Users\\x\\my proj"),
    ("C:\\Users\\x\\", "C:\\Users\\x"),
    ("C:\\", "C:\\"),
    ("/", "/"),
    ("", None),
])
def test_norm_path(raw: str, want: str | None):
    assert norm_path(raw) == want


# -- the engine and CLI on a transcript --------------------------------------------------------------------


def test_load_session_gives_the_model_shape(fixtures_home: Path):
    s = load_session(brain_log(fixtures_home, "antigravity-cli", A))
    doc = s.model_dump(mode="json")
    assert doc["provider"] == AG and doc["session_id"] == A
    t = doc["turns"][0]
    assert set(t) >= {"index", "started_at", "ended_at", "user", "steps", "interrupted", "stats"}
    assert set(t["steps"][0]["tools"][0]) >= {"call_id", "name", "kind", "args", "output", "status", "error"}
    assert doc["stats"]["failed_tools"] == 5


def test_cli_show_json(fixtures_home: Path, tmp_path: Path):
    path = brain_log(fixtures_home, "antigravity-cli", B)
    env = {**os.environ, "HOME": str(tmp_path), "AGTRACE_MCP_DATA_DIR": str(tmp_path / "data")}
    p = subprocess.run([sys.executable, "-m", "agtrace_mcp", "show", str(path), "--json"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["session_id"] == B and doc["provider"] == AG and doc["stats"]["turns"] == 2


def test_index_holds_the_parent_child_pair(tmp_path: Path, fixtures_home: Path):

    home = tmp_path / "home"
    shutil.copytree(fixtures_home / ".gemini", home / ".gemini")
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path / "data")
    cfg.refresh_interval = 0
    api = Agtrace(cfg)
    try:
        api.refresh()
        listed = {x.session_id for x in api.list_sessions(provider=AG, limit=50).sessions}
        assert {A, B, C, D, E, G, H} <= listed  # F is a sub-agent
        assert [x.session_id for x in api.get_session(E).subagents] == [F]
        failures = api.find_failed_tools(session_id=A)
        assert sorted(f.error_kind for f in failures.failures) == ["denied", "denied", "exit_code", "exit_code",
                                                                   "tool_error"]
    finally:
        api.close()


# -- the real corpus ---------------------------------------------------------------------------------------


# file: (session id, turns, steps, tool calls, failed tools, failure kinds by call id, surface label)
CORPUS_EXPECTED = {
    "perm": ("6b284218-b68c-4df8-b633-5aca70fd92a5", 22, 60, 36, 6,
             {"s17.0": ("exit_code", 1), "s37.0": ("exit_code", 1), "s41.0": ("exit_code", 1),
              "s97.0": ("denied", None), "s119.0": ("tool_error", None), "s123.0": ("tool_error", None)},
             "antigravity-cli"),
    "bg": ("d580aa81-0e52-43cd-b1e3-5e02cfa04729", 8, 64, 50, 8,
           {"s11.0": ("exit_code", 1), "s20.0": ("tool_error", None), "s24.0": ("exit_code", 1),
            "s50.0": ("exit_code", 1), "s83.0": ("exit_code", 1), "s85.0": ("exit_code", 1),
            "s89.0": ("exit_code", 1), "s95.0": ("exit_code", 1)},
           "antigravity-cli"),
    "twin": ("d580aa81-0e52-43cd-b1e3-5e02cfa04729", 8, 64, 50, 8, None,
             "antigravity-cli [transcript.jsonl: shortened]"),
    "head": ("531e810e-7437-45dd-b266-86c1e5b4f7a5", 7, 52, 47, 1, {"s362.0": ("exit_code", 1)},
             "antigravity [transcript.jsonl: shortened]"),
    "ooo": ("ede1eb3f-4bf1-4930-ab98-1f02a4585c24", 4, 13, 10, 4,
            {"s5.0": ("tool_error", None), "s17.0": ("tool_error", None), "s24.0": ("tool_error", None),
             "s28.0": ("exit_code", 1)},
            "antigravity"),
    "denied": ("d0dc40ea-510a-4362-9ed8-ae5320f47295", 3, 28, 25, 1, {"s61.0": ("denied", None)}, "antigravity-ide"),
}


@pytest.mark.parametrize("key", sorted(CORPUS_EXPECTED))
def test_corpus_transcript(corpus: Path, key: str):
    sid, turns, steps, calls, failed, kinds, surface = CORPUS_EXPECTED[key]
    s, stats = parse(corpus / "antigravity" / CORPUS_FILES[key])
    assert s.session_id == sid and s.cli_version == surface
    assert (s.stats.turns, s.stats.steps, s.stats.tool_calls, s.stats.failed_tools) == (turns, steps, calls, failed)
    if kinds is not None:
        got = {t.call_id: (t.error.kind, t.error.exit_code) for t in tools_of(s) if t.status == "error"}
        assert got == kinds
    assert stats.unknown == {}


def test_corpus_permission_denied_file(corpus: Path):
    s, _ = parse(corpus / "antigravity" / CORPUS_FILES["perm"])
    ls = tool(s, "s97.0")
    assert ls.name == "list_dir" and ls.error.kind == "denied"
    assert "Matches hardcoded system protection boundary rule" in ls.error.message
    # 22 typed prompts, every one a turn; the model from the first prompt's settings change
    assert s.turns[0].user.text == "hello" and s.models == ["Gemini 3.5 Flash (Medium)"]
    # the ERROR_MESSAGE after the last answer (model unreachable) is a failed step, not a tool failure
    failed = [st for st in steps_of(s) if st.status == "failed"]
    assert len(failed) == 1 and "model unreachable" in failed[0].message
    # the background `gcloud auth list` reported its exit code later, in a SYSTEM_MESSAGE
    gcloud = tool(s, "s17.0")
    assert "gcloud" in gcloud.output and gcloud.ended_at.isoformat() == "2026-06-16T16:13:02+00:00"
    assert s.project_root == "C:\\Users\\NETCOM\\agy-cli-projects"  # bare file: the Cwd of its commands


def test_corpus_user_denied_file(corpus: Path):
    s, _ = parse(corpus / "antigravity" / CORPUS_FILES["denied"])
    cmd = tool(s, "s61.0")
    assert cmd.name == "run_command" and cmd.args["CommandLine"] == "npx vite --port 5173 --host"
    assert cmd.error.kind == "denied" and cmd.error.message.startswith("user denied permission for command(")
    assert s.turns[1].user.text.startswith("Comments on artifact URI:")
    # the npm install (task-48) finished later; the timer (task-54) was cancelled
    assert "added 12 packages" in tool(s, "s47.0").output
    assert tool(s, "s53.0").output.endswith("Your scheduled timer was cancelled because you received another message.")


def test_corpus_truncated_twin_equals_the_full_transcript(corpus: Path):
    full, _ = parse(corpus / "antigravity" / CORPUS_FILES["bg"])
    short, _ = parse(corpus / "antigravity" / CORPUS_FILES["twin"])

    def shape(s):
        return [(t.user.text, [(st.message, [(x.call_id, x.name, x.status) for x in st.tools]) for st in t.steps])
                for t in s.turns]

    assert shape(full) == shape(short)
    # arguments decoded from their double encoding are the full transcript's (unless shortened themselves)
    for a, b in zip(tools_of(full), tools_of(short)):
        assert a.args == b.args, a.call_id
    assert short.cli_version.endswith("[transcript.jsonl: shortened]")


def test_corpus_out_of_order_and_head_missing(corpus: Path):
    s, _ = parse(corpus / "antigravity" / CORPUS_FILES["ooo"])
    ask = tool(s, "s22.0")  # step 23 was written before step 22
    assert ask.name == "ask_permission" and ask.status == "ok" and ask.output.startswith("Permission for write_file")
    assert s.models == ["GPT-OSS 120B (Medium)"]
    assert s.compactions == []  # only CHECKPOINT 0
    s, stats = parse(corpus / "antigravity" / CORPUS_FILES["head"])
    assert stats.bad_lines == 1
    assert len(s.compactions) == 2  # CHECKPOINT 4 and 5
    # the file starts mid-conversation: activity before the first prompt is a system turn
    assert s.turns[0].user.origin == "system" and s.turns[1].user.text == "Proceed"
    # calls left awaiting approval when the user typed again have no result
    assert [t.call_id for t in tools_of(s) if t.status == "missing"] == ["s334.0", "s337.0", "s343.0", "s387.0"]


def test_corpus_in_the_real_layout(corpus: Path, tmp_path: Path):
    """Real files copied into the on-disk layout: discovery, twins, and projects from the side files."""
    src = corpus / "antigravity"
    gem = tmp_path / ".gemini"
    cli = gem / "antigravity-cli"
    for key, sid in (("perm", "6b284218-b68c-4df8-b633-5aca70fd92a5"), ("bg", "d580aa81-0e52-43cd-b1e3-5e02cfa04729")):
        dst = brain_log(tmp_path, "antigravity-cli", sid)
        dst.parent.mkdir(parents=True)
        shutil.copyfile(src / CORPUS_FILES[key], dst)
    shutil.copyfile(src / CORPUS_FILES["twin"], brain_log(tmp_path, "antigravity-cli",
                                                          "d580aa81-0e52-43cd-b1e3-5e02cfa04729", "transcript.jsonl"))
    shutil.copyfile(src / "cli-2026-06_win_history.jsonl", cli / "history.jsonl")
    (cli / "cache").mkdir()
    shutil.copyfile(src / "cli-2026-06_win_cache_last_conversations.json", cli / "cache" / "last_conversations.json")
    shutil.copyfile(src / "cli-2026-06_win_cache_projects.json", cli / "cache" / "projects.json")
    (gem / "config" / "projects").mkdir(parents=True)
    shutil.copyfile(src / "cli-2026-06_win_config_projects_a5c30bb2.json",
                    gem / "config" / "projects" / "a5c30bb2-670c-47f5-9008-0dde9ce751c3.json")
    for key, surface, sid in (("ooo", "antigravity", "ede1eb3f-4bf1-4930-ab98-1f02a4585c24"),
                              ("denied", "antigravity-ide", "d0dc40ea-510a-4362-9ed8-ae5320f47295")):
        dst = brain_log(tmp_path, surface, sid)
        dst.parent.mkdir(parents=True)
        shutil.copyfile(src / CORPUS_FILES[key], dst)
    p = AntigravityProvider()
    found = list(p.discover(p.default_roots(tmp_path, {})))
    assert len(found) == 4 and all(f.path.endswith("transcript_full.jsonl") for f in found)
    sessions = {s.session_id: s for f in found for s in load_file_source(f)}
    # history.jsonl names the workspace each conversation was typed in
    assert sessions["6b284218-b68c-4df8-b633-5aca70fd92a5"].project_root == "C:\\Users\\NETCOM\\agy-cli-projects"
    assert sessions["d580aa81-0e52-43cd-b1e3-5e02cfa04729"].project_root == "C:\\Users\\NETCOM"
    assert sessions["d0dc40ea-510a-4362-9ed8-ae5320f47295"].project_root == \
        "C:\\Users\\PC\\.gemini\\antigravity-ide\\scratch\\sanjeevani-hospital-ambikapur"
    # without history.jsonl, cache/last_conversations.json gives the same answer
    (cli / "history.jsonl").unlink()
    d580 = load_file_source(next(f for f in found if "d580aa81" in f.path))[0]
    assert d580.project_root == "C:\\Users\\NETCOM"
    assert load_file(brain_log(tmp_path, "antigravity-cli", "d580aa81-0e52-43cd-b1e3-5e02cfa04729",
                               "transcript.jsonl"))[0].stats.tool_calls == 50


# -- appended steps: a continuation, not a new read -------------------------------------------------------------


@pytest.fixture
def continuations(monkeypatch) -> list[bool]:
    return spy_continuations(monkeypatch, AntigravityProvider)


@pytest.mark.parametrize("live", [False, True], ids=["closed", "live"])
@pytest.mark.parametrize("chunk", [1, 2, 5])
def test_appending_steps_gives_the_same_index_as_reading_each_transcript_whole(
        tmp_path: Path, fixtures_home: Path, continuations: list[bool], live: bool, chunk: int):
    home = tmp_path / "home"
    shutil.copytree(fixtures_home / ".gemini", home / ".gemini")
    logs = {p: p.read_bytes().splitlines(keepends=True)
            for p in sorted((home / ".gemini").glob("antigravity*/brain/*/.system_generated/logs/transcript*.jsonl"))}
    piecewise = api_over(home, tmp_path / "piecewise", live=live)
    grow(logs, 1, chunk, piecewise)
    whole = api_over(home, tmp_path / "whole", live=live)
    whole.refresh()
    assert index_rows(tmp_path / "piecewise") == index_rows(tmp_path / "whole")
    assert continuations.count(True) > 10  # most appends were read as continuations...
    assert False in continuations  # ...and the rewinds and out-of-order lines of the fixtures were read whole


def test_an_appended_step_is_read_from_the_offset(tmp_path: Path, fixtures_home: Path):
    home = tmp_path / "home"
    shutil.copytree(fixtures_home / ".gemini", home / ".gemini")
    log = brain_log(home, "antigravity-cli", A)
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-3]))
    api = api_over(home, tmp_path / "d", live=False)
    api.refresh()
    with open(log, "ab") as f:
        f.write(b"".join(lines[-3:]))
    report = api.refresh()
    assert report.bytes_read == len(b"".join(lines[-3:]))
