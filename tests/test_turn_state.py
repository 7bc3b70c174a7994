"""Turn state, final answers, calls that never got a result, and messages typed while the agent worked
(issue 12, points 1 and 2): on logs written for each case in their real layouts, and on the real corpus.

Every case goes through discovery, the index and the API, as an agent's call would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from claudelog import ClaudeLog
from conftest import api_on
from indexcheck import session_shape

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.load import load_file_source
from agtrace_mcp.providers import SourceFile

S = {k: f"{i:08x}-bbbb-4000-8000-{i:012x}" for i, k in enumerate(
    ["answered", "interrupted", "cut_off", "api_error", "typed", "queued", "queued_next", "attachment",
     "missing"], 0x12000)}
CODEX_DONE = "019f0000-0000-7000-8000-000000000c01"
CODEX_OPEN = "019f0000-0000-7000-8000-000000000c02"
CODEX_ABORTED = "019f0000-0000-7000-8000-000000000c03"
COPILOT = "c1ff0001-0000-4000-8000-000000000001"


# -- logs written for each case ---------------------------------------------------------------------------


def _claude(home: Path) -> None:
    log = ClaudeLog(S["answered"]).prompt("fix the total")
    log.tool("Edit", {"file_path": "/home/dev/app/src/cart.py", "old_string": "a", "new_string": "b"})
    log.answer("Fixed: the total now rounds to cents.").write(home)

    log = ClaudeLog(S["interrupted"]).prompt("refactor everything")
    log.tool("Read", {"file_path": "/home/dev/app/src/cart.py"})
    log.interrupt().write(home)

    # the log ends while a call waits for its result: nothing says the turn ended
    log = ClaudeLog(S["cut_off"]).prompt("run the tests")
    log.answer("I'll run the tests now.")  # said before the call, in a response of its own
    log.call("Bash", {"command": "pytest -q"})
    log.write(home)

    log = ClaudeLog(S["api_error"]).prompt("summarise the repo")
    log.tool("Read", {"file_path": "/home/dev/app/README.md"})
    log._rec("assistant", {"id": "msg_err", "model": "<synthetic>", "role": "assistant",
                           "content": [{"type": "text", "text": "API Error: 529 Overloaded"}]}, isApiErrorMessage=True)
    log.write(home)

    log = ClaudeLog(S["typed"]).prompt("install the deps and build")
    cid = log.call("Bash", {"command": "npm install"})
    log.result(cid, "added 12 packages", typed="use pnpm, not npm")
    log.tool("Bash", {"command": "pnpm install"})
    log.answer("Installed with pnpm.").write(home)

    # 2.1.2x: typed while busy, taken in by the running turn (enqueue, then remove)
    log = ClaudeLog(S["queued"]).prompt("write the design doc")
    log.tool("Read", {"file_path": "/home/dev/app/docs/plan.md"})
    log.queued("did we create any new unit tests?")
    log.tool("Read", {"file_path": "/home/dev/app/tests/test_cart.py"})
    log.answer("Not yet: adding them now.").write(home)

    # queued, then sent as the next prompt once the turn ended (enqueue, then dequeue): a turn of its own
    log = ClaudeLog(S["queued_next"]).prompt("write the design doc")
    log.tool("Read", {"file_path": "/home/dev/app/docs/plan.md"})
    log.queued("and then the tests", absorbed=False)
    log.answer("Design written.").prompt("and then the tests").answer("Tests written.").write(home)

    # 2.1.1xx+: a queued_command attachment, and the remove that follows it (taken once)
    log = ClaudeLog(S["attachment"]).prompt("migrate the config")
    log.tool("Read", {"file_path": "/home/dev/app/config.toml"})
    log.lines.append({"type": "queue-operation", "operation": "enqueue", "timestamp": log._ts(0.1),
                      "sessionId": log.sid, "content": "keep the old keys as aliases"})
    log._rec("attachment", None, attachment={"type": "queued_command", "commandMode": "prompt",
                                             "origin": {"kind": "human"}, "prompt": "keep the old keys as aliases"})
    log.lines[-1].pop("message")
    log.lines.append({"type": "queue-operation", "operation": "remove", "timestamp": log._ts(0.1),
                      "sessionId": log.sid, "reason": "absorbed_mid_turn"})
    log.tool("Edit", {"file_path": "/home/dev/app/config.toml", "old_string": "x", "new_string": "y"})
    log.answer("Migrated; old keys still work.").write(home)

    # a call whose result never came, in a turn that went on and ended
    log = ClaudeLog(S["missing"]).prompt("look around")
    log.call("Bash", {"command": "ls"})
    log.tool("Read", {"file_path": "/home/dev/app/README.md"})
    log.answer("Done.").write(home)


def _rollout(home: Path, sid: str, events: list[tuple[str, dict]]) -> None:
    ts = iter(f"2026-06-03T10:{m:02d}:{s:02d}.000Z" for m in range(60) for s in range(0, 60, 2))
    recs = [{"timestamp": next(ts), "type": "session_meta",
             "payload": {"id": sid, "timestamp": "2026-06-03T10:00:00.000Z", "cwd": "/home/dev/codexapp",
                         "originator": "codex_cli_rs", "cli_version": "0.145.0", "source": "cli"}}]
    for kind, payload in events:
        recs.append({"timestamp": next(ts), "type": kind, "payload": payload})
    d = home / ".codex" / "sessions" / "2026" / "06" / "03"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"rollout-2026-06-03T10-00-00-{sid}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))


def _say(text: str, phase: str) -> list[tuple[str, dict]]:
    return [("response_item", {"type": "message", "role": "assistant", "phase": phase,
                               "content": [{"type": "output_text", "text": text}]}),
            ("event_msg", {"type": "agent_message", "message": text, "phase": phase})]


def _shell(cid: str, cmd: str, out: str) -> list[tuple[str, dict]]:
    return [("response_item", {"type": "function_call", "name": "exec_command", "call_id": cid,
                               "arguments": json.dumps({"cmd": cmd})}),
            ("response_item", {"type": "function_call_output", "call_id": cid, "output": out})]


def _codex(home: Path) -> None:
    _rollout(home, CODEX_DONE, [
        ("event_msg", {"type": "task_started", "turn_id": "t1"}),
        ("event_msg", {"type": "user_message", "message": "commit and push these changes"}),
        *_say("I'm using the gh-stack skill because this checkout is stack-managed.", "commentary"),
        *_shell("c1", "git push", "Process exited with code 0\nOutput:\nok\n"),
        ("event_msg", {"type": "user_message", "message": "push to the fork, not origin"}),
        *_shell("c2", "git push fork", "Process exited with code 0\nOutput:\nok\n"),
        *_say("Committed and pushed to the fork.", "final_answer"),
        ("event_msg", {"type": "task_complete", "turn_id": "t1",
                       "last_agent_message": "Committed and pushed to the fork."}),
        ("event_msg", {"type": "task_started", "turn_id": "t2"}),
        ("event_msg", {"type": "user_message", "message": "thanks"}),
        *_say("You're welcome.", "final_answer"),
        ("event_msg", {"type": "task_complete", "turn_id": "t2", "last_agent_message": "You're welcome."})])
    # a turn still running (or crashed): commentary only, no task_complete
    _rollout(home, CODEX_OPEN, [
        ("event_msg", {"type": "task_started", "turn_id": "t1"}),
        ("event_msg", {"type": "user_message", "message": "fix the e2e test"}),
        *_say("I'm using the gh-stack skill because these fixes must land on the earliest branch.", "commentary"),
        *_shell("c1", "go test ./...", "Process exited with code 0\nOutput:\nok\n"),
        *_say("Tests pass; now moving the fix down the stack.", "commentary")])
    _rollout(home, CODEX_ABORTED, [
        ("event_msg", {"type": "task_started", "turn_id": "t1"}),
        ("event_msg", {"type": "user_message", "message": "rewrite the parser"}),
        *_say("Starting with the tokenizer.", "commentary"),
        ("event_msg", {"type": "turn_aborted", "turn_id": "t1", "reason": "interrupted"})])


def _copilot(home: Path) -> None:
    n = iter(range(1000))

    def ev(t: str, data: dict) -> dict:
        k = next(n)
        return {"type": t, "data": data, "id": f"e{k:04d}", "timestamp": f"2026-06-04T09:00:{k:02d}.000Z",
                "parentId": None}

    events = [
        ev("session.start", {"sessionId": COPILOT, "version": 1, "producer": "copilot-agent", "copilotVersion": "1.0.80",
                             "startTime": "2026-06-04T09:00:00.000Z", "context": {"cwd": "/home/dev/api"}}),
        ev("user.message", {"content": "Deploy the service to staging"}),
        ev("assistant.turn_start", {"turnId": "0"}),
        ev("assistant.message", {"messageId": "m1", "content": "Running the deploy script.", "toolRequests": [
            {"toolCallId": "call_1", "name": "bash", "arguments": {"command": "./deploy.sh staging"}}]}),
        ev("tool.execution_start", {"toolCallId": "call_1", "toolName": "bash"}),
        ev("user.message", {"content": "use the blue-green script instead"}),  # typed while the script ran
        ev("tool.execution_complete", {"toolCallId": "call_1", "success": True, "result": {"content": "deployed"}}),
        ev("assistant.turn_end", {"turnId": "0"}),
        ev("assistant.turn_start", {"turnId": "1"}),
        ev("assistant.message", {"messageId": "m2", "content": "Switching to blue-green.", "toolRequests": [
            {"toolCallId": "call_2", "name": "bash", "arguments": {"command": "./bluegreen.sh staging"}}]}),
        ev("tool.execution_complete", {"toolCallId": "call_2", "success": True, "result": {"content": "switched"}}),
        ev("assistant.turn_end", {"turnId": "1"}),
        ev("assistant.turn_start", {"turnId": "2"}),
        ev("assistant.message", {"messageId": "m3", "content": "Deployed to staging with blue-green."}),
        ev("assistant.turn_end", {"turnId": "2"}),
        ev("session.task_complete", {"summary": "Deployed to staging with blue-green.", "success": True}),
        ev("user.message", {"content": "now production"}),
        ev("assistant.turn_start", {"turnId": "0"}),
        ev("assistant.message", {"messageId": "m4", "content": "Done: production is on the new build."}),
        ev("assistant.turn_end", {"turnId": "0"}),
    ]
    d = home / ".copilot" / "session-state" / COPILOT
    d.mkdir(parents=True)
    (d / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("turnstate") / "home"
    _claude(h)
    _codex(h)
    _copilot(h)
    return h


@pytest.fixture(scope="module")
def api(home: Path, tmp_path_factory: pytest.TempPathFactory, backend: str, request: pytest.FixtureRequest) -> Agtrace:
    """Over the local index, and over a team database the same logs were pushed to (`backend`)."""
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path_factory.mktemp("tsdata"))
    cfg.live_seconds = 0
    a = api_on(backend, cfg, request)
    a.refresh()
    yield a
    a.close()


def turns(api: Agtrace, sid: str) -> list:
    return api.get_session(sid).turns


def test_a_session_rebuilt_from_the_store_keeps_turn_states_answers_and_typed_messages(api: Agtrace, home: Path,
                                                                                       tmp_path: Path):
    # the `show` of a session whose log is gone, or that ran on another machine (a team database)
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path / "ref")
    cfg.live_seconds = 0
    ref = Agtrace(cfg)
    ids = [s.session_id for s in ref.list_sessions(limit=200, include_subagents=True).sessions]
    assert any(t.interjections for sid in ids for t in ref.load_session(sid).turns)
    for sid in ids:
        assert session_shape(api.indexed_session(sid)) == session_shape(ref.load_session(sid)), sid


# -- 1. turn state and final answer -----------------------------------------------------------------------


def test_a_turn_that_ends_with_an_answer_is_completed_with_that_answer(api: Agtrace):
    [t] = turns(api, S["answered"])
    assert (t.status, t.final_answer) == ("completed", "Fixed: the total now rounds to cents.")
    full = api.get_turn(S["answered"], 0)
    assert full.status == "completed" and full.final_answer == "Fixed: the total now rounds to cents."


def test_a_turn_the_user_interrupted_is_interrupted_without_an_answer(api: Agtrace):
    [t] = turns(api, S["interrupted"])
    assert (t.status, t.final_answer) == ("interrupted", None)


def test_a_log_that_ends_while_a_call_waits_is_an_incomplete_turn(api: Agtrace):
    [t] = turns(api, S["cut_off"])
    # what the agent said before the call ("I'll run the tests now.") is not an answer
    assert (t.status, t.final_answer) == ("incomplete", None)


def test_a_turn_that_ended_on_an_api_error_is_incomplete(api: Agtrace):
    [t] = turns(api, S["api_error"])
    assert (t.status, t.final_answer) == ("incomplete", None)


def test_codex_final_answer_is_the_task_complete_message_never_the_commentary(api: Agtrace):
    t0, t1 = turns(api, CODEX_DONE)
    assert (t0.status, t0.final_answer) == ("completed", "Committed and pushed to the fork.")
    assert (t1.status, t1.final_answer) == ("completed", "You're welcome.")


def test_a_codex_turn_without_task_complete_is_incomplete_and_has_no_final_answer(api: Agtrace):
    [t] = turns(api, CODEX_OPEN)
    # its last step is a plain message, but it is phase "commentary": not an answer
    assert (t.status, t.final_answer) == ("incomplete", None)


def test_a_codex_turn_aborted_is_interrupted(api: Agtrace):
    [t] = turns(api, CODEX_ABORTED)
    assert (t.status, t.final_answer) == ("interrupted", None)


def test_copilot_task_complete_summary_is_the_final_answer(api: Agtrace):
    t0, t1 = turns(api, COPILOT)
    assert (t0.status, t0.final_answer) == ("completed", "Deployed to staging with blue-green.")
    assert (t1.status, t1.final_answer) == ("completed", "Done: production is on the new build.")


def test_turn_state_is_part_of_the_session_model_read_from_the_log(home: Path):
    path = next((home / ".codex").rglob(f"*{CODEX_OPEN}.jsonl"))
    [s] = load_file_source(SourceFile(str(path), "codex"))
    assert [(t.status, t.final_answer) for t in s.turns] == [("incomplete", None)]


# -- a call whose result never came ------------------------------------------------------------------------


def test_a_call_without_a_result_is_missing_counted_apart_from_ok_and_failed(api: Agtrace):
    [t] = turns(api, S["missing"])
    assert t.missing_tools == 1 and t.failed_tools == 0
    assert {(u.name, u.ok, u.failed, u.missing) for u in t.tools} == {("Bash", 0, 0, 1), ("Read", 1, 0, 0)}
    assert api.get_session(S["missing"]).stats.missing_tools == 1
    [summary] = [s for s in api.list_sessions(limit=200).sessions if s.session_id == S["missing"]]
    assert (summary.failed_tools, summary.missing_tools) == (0, 1)
    turn = api.get_turn(S["missing"], 0)
    assert turn.stats.missing_tools == 1 and turn.status == "completed"


# -- 2. messages typed while the agent worked ----------------------------------------------------------------


def test_text_typed_beside_a_tool_result_belongs_to_the_running_turn_after_that_step(api: Agtrace):
    [t] = turns(api, S["typed"])  # not a turn of its own
    assert t.interjections == 1 and t.status == "completed"
    full = api.get_turn(S["typed"], 0, detail="full")
    [i] = full.interjections
    assert (i.text, i.after_step) == ("use pnpm, not npm", 0)
    outline = api.get_turn(S["typed"], 0, detail="outline").outline
    assert outline.index("» user (typed mid-turn): use pnpm, not npm") == 1  # right after step 0


def test_a_queued_message_the_running_turn_took_in_is_an_interjection(api: Agtrace):
    [t] = turns(api, S["queued"])
    [i] = api.get_turn(S["queued"], 0, detail="full").interjections
    assert i.text == "did we create any new unit tests?" and i.after_step == 0 and t.interjections == 1


def test_a_queued_message_sent_after_the_turn_is_the_next_prompt(api: Agtrace):
    ts = turns(api, S["queued_next"])
    assert [t.prompt for t in ts] == ["write the design doc", "and then the tests"]
    assert [t.interjections for t in ts] == [0, 0]


def test_a_queued_command_attachment_is_taken_once(api: Agtrace):
    [i] = api.get_turn(S["attachment"], 0, detail="full").interjections
    assert i.text == "keep the old keys as aliases"


def test_codex_user_message_during_a_running_task_steers_that_turn(api: Agtrace):
    ts = turns(api, CODEX_DONE)
    assert len(ts) == 2 and ts[0].interjections == 1
    [i] = api.get_turn(CODEX_DONE, 0, detail="full").interjections
    assert i.text == "push to the fork, not origin" and i.after_step == 0  # after the commentary + first push


def test_copilot_user_message_while_the_agent_works_joins_the_turn(api: Agtrace):
    ts = turns(api, COPILOT)
    assert [t.prompt for t in ts] == ["Deploy the service to staging", "now production"]
    [i] = api.get_turn(COPILOT, 0, detail="full").interjections
    assert i.text == "use the blue-green script instead" and i.after_step == 0


def test_an_interjection_is_searchable_as_a_prompt_with_its_place(api: Agtrace):
    res = api.search_history("pnpm", kind="prompt")
    [hit] = [h for h in res.hits if h.session_id == S["typed"]]
    assert (hit.kind, hit.turn_index, hit.step_index, hit.interjection) == ("prompt", 0, 0, 0)
    assert "«pnpm»" in hit.snippet and hit.at is not None
    assert api.get_text(S["typed"], 0, "interjection", step_index=0).text == "use pnpm, not npm"


def test_interjections_survive_a_log_read_again_from_the_start(api: Agtrace, backend: str):
    if backend == "sqlite":  # (a team database is filled by push: it reads no log)
        api.refresh(rebuild=True)
    assert [i.text for i in api.get_turn(S["typed"], 0, detail="full").interjections] == ["use pnpm, not npm"]
    assert len(api.search_history("pnpm", kind="prompt").hits) >= 1


# -- the real corpus ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_api(corpus_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Agtrace:
    corpus = corpus_root
    home = tmp_path_factory.mktemp("tscorpus") / "home"
    proj = home / ".claude" / "projects" / "-corpus"
    proj.mkdir(parents=True)
    shutil.copy(corpus / "claude_code" / "v2.1.29_user-pasted-image-base64_062a8bdd.jsonl",
                proj / "062a8bdd-4322-4ffa-bc38-3e8b8bfb5a56.jsonl")
    cx = home / ".codex" / "sessions" / "2026" / "07" / "30"
    cx.mkdir(parents=True)
    for f in (corpus / "codex").glob("v0.145.0_*.jsonl"):
        shutil.copy(f, cx / f"rollout-2026-07-30T00-00-00-{f.stem}.jsonl")
    chats = home / ".gemini" / "tmp" / "corpus" / "chats"
    chats.mkdir(parents=True)
    src = next((corpus / "gemini_cli").glob("jsonl-2026-04_*3494a697*.jsonl"))
    shutil.copy(src, chats / "session-2026-04-25T08-41-3494a697.jsonl")
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path_factory.mktemp("tscdata"))
    cfg.live_seconds = 0
    a = Agtrace(cfg)
    a.refresh()
    yield a
    a.close()


def test_corpus_claude_2_1_29_messages_typed_mid_turn_stay_in_their_turn(corpus_api: Agtrace):
    d = corpus_api.get_session("062a8bdd")
    assert d.turns_total == 19  # neither message started a turn
    t = corpus_api.get_turn("062a8bdd", 18, detail="full")
    said = [(i.text, i.after_step) for i in t.interjections]
    # one typed beside a tool result (line 206), one queued and taken in (enqueue line 325, remove line 328)
    assert [s for s, _ in said] == ["let's not leave _all_ the tests to the very end...",
                                    "did we create any new unit tests?"]
    assert said[0][1] < said[1][1]
    assert [x.interjections for x in d.turns][18] == 2


def test_corpus_unfinished_codex_turn_is_incomplete_and_its_commentary_is_no_answer(corpus_api: Agtrace):
    [t] = corpus_api.get_session("019fb117").turns
    assert t.status == "incomplete" and t.final_answer is None
    turn = corpus_api.get_turn("019fb117", 0)
    assert turn.final_answer is None and "gh-stack" not in (turn.final_answer or "")
    assert turn.stats.missing_tools == 1


def test_corpus_codex_turns_with_task_complete_answer_with_its_message(corpus_api: Agtrace):
    ts = corpus_api.get_session("019fa6e3").turns
    assert [t.status for t in ts] == ["completed", "completed"]
    assert ts[1].final_answer.startswith("Committed and pushed successfully.")


def test_corpus_gemini_request_cancelled_interrupts_its_turn(corpus_api: Agtrace):
    ts = corpus_api.get_session("3494a697").turns
    assert [t.status for t in ts] == ["completed", "interrupted"]


def test_a_secret_typed_mid_turn_is_masked_everywhere_it_is_shown(tmp_path: Path):
    key = "sk-proj-Zx81Qw5Er3Ty7Ui9Op2As4Df6Gh8Jk0L"
    home = tmp_path / "home"
    log = ClaudeLog("12aa0000-bbbb-4000-8000-0000000000ee").prompt("deploy")
    cid = log.call("Bash", {"command": "./deploy.sh"})
    log.result(cid, "needs a key", typed=f"use this key: {key}")
    log.answer(f"Deployed with {key}.").write(home)
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path / "d")
    cfg.live_seconds = 0
    a = Agtrace(cfg)
    shown = [a.get_turn("12aa0000", 0, detail="full").model_dump_json(),
             a.get_turn("12aa0000", 0, detail="outline").model_dump_json(),
             a.get_text("12aa0000", 0, "interjection", step_index=0).model_dump_json(),
             a.get_text("12aa0000", 0, "final_answer").model_dump_json(),
             a.search_history("key", kind="prompt").model_dump_json()]
    assert all(key not in s and "Zx81Qw5Er3Ty7Ui9" not in s for s in shown)
    assert [f.type for f in a.secret_findings().findings]  # and it is reported where it was typed
