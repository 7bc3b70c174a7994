"""Self-reflection analysis (`analyze_session`): each finding kind on a log written for it (positive and
negative), at the right coordinates, and nothing on a clean session.

The logs are real on-disk layouts in a temporary HOME (Claude Code JSONL under `.claude/projects/`, a Codex
rollout under `.codex/sessions/`), written by the small builders below; everything goes through discovery,
the index and the API, as an agent's call would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from claudelog import ClaudeLog

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.engine.analysis import (
    Call,
    Thresholds,
    TurnInfo,
    analyze,
    edits_of,
    normalize_args,
    normalize_error,
    shell_reads_only,
    shell_writes,
)
from agtrace_mcp.errors import BadArgumentError
from agtrace_mcp.providers import REGISTRY

DENIED = ("The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was a file "
          "edit, the new_string was NOT written to the file). STOP what you are doing and wait for the user to tell "
          "you how to proceed.")


def codex_rollout(home: Path, sid: str, patches: list[tuple[str, str]]) -> Path:
    """A Codex rollout whose one turn applies these patches (call id, patch body) with apply_patch."""
    ts = iter(f"2026-06-02T09:{m:02d}:{s:02d}.000Z" for m in range(60) for s in range(0, 60, 5))
    recs = [{"timestamp": next(ts), "type": "session_meta",
             "payload": {"id": sid, "timestamp": "2026-06-02T09:00:00.000Z", "cwd": "/home/dev/codexapp",
                         "originator": "codex_cli_rs", "cli_version": "0.66.0", "source": "cli"}},
            {"timestamp": next(ts), "type": "event_msg",
             "payload": {"type": "user_message", "message": "fix the price rounding", "images": []}},
            {"timestamp": next(ts), "type": "turn_context",
             "payload": {"cwd": "/home/dev/codexapp", "model": "gpt-5.1-codex-max"}}]
    total = 0
    for cid, body in patches:
        recs.append({"timestamp": next(ts), "type": "response_item",
                     "payload": {"type": "custom_tool_call", "status": "completed", "call_id": cid,
                                 "name": "apply_patch", "input": body}})
        total += 1100
        recs.append({"timestamp": next(ts), "type": "event_msg", "payload": {"type": "token_count", "info": {
            "total_token_usage": {"input_tokens": total, "cached_input_tokens": 0, "output_tokens": 100,
                                  "reasoning_output_tokens": 0, "total_tokens": total + 100},
            "last_token_usage": {"input_tokens": 1100, "cached_input_tokens": 1000, "output_tokens": 100,
                                 "reasoning_output_tokens": 0, "total_tokens": 1200},
            "model_context_window": 258400}}})
        recs.append({"timestamp": next(ts), "type": "response_item", "payload": {
            "type": "custom_tool_call_output", "call_id": cid,
            "output": json.dumps({"output": "Success. Updated the following files:\nM src/price.py\n",
                                  "metadata": {"exit_code": 0, "duration_seconds": 0.0}})}})
    d = home / ".codex" / "sessions" / "2026" / "06" / "02"
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"rollout-2026-06-02T09-00-00-{sid}.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return p


def patch(old: str, new: str) -> str:
    return f"*** Begin Patch\n*** Update File: src/price.py\n@@ def total(items):\n-{old}\n+{new}\n*** End Patch"


# -- one session per behaviour ------------------------------------------------------------------------

S = {k: f"{i:08x}-aaaa-4000-8000-{i:012x}" for i, k in enumerate(
    ["clean", "repeat", "repeat_neg", "poll", "cycle", "cycle_neg", "pingpong", "pingpong_neg", "storm",
     "storm_ok", "storm_neg", "noprog", "noprog_neg", "slow", "slow_neg", "interrupt", "denied", "denied_retry",
     "repeat_turns", "interrupt_end", "typed"], 1)}
CODEX_PP = "019e0000-0000-7000-8000-0000000000a1"
CODEX_PP_NEG = "019e0000-0000-7000-8000-0000000000a2"
IDS: dict[str, list[str]] = {}


def _sessions(home: Path) -> None:
    # a clean session: look, edit, test (passes), answer
    log = ClaudeLog(S["clean"]).prompt("fix the total")
    log.tool("Read", {"file_path": "/home/dev/app/src/cart.py"})
    log.tool("Grep", {"pattern": "def total", "path": "/home/dev/app/src"})
    log.tool("Edit", {"file_path": "/home/dev/app/src/cart.py", "old_string": "a + b", "new_string": "a + b + c"})
    log.tool("Bash", {"command": "pytest -q", "description": "run the tests"}, "5 passed")
    log.tool("Bash", {"command": "git diff --stat"}, " src/cart.py | 2 +-")
    log.answer("Fixed.").write(home)

    # the same call three times, spelled differently (whitespace, key order, description), nothing changed
    log = ClaudeLog(S["repeat"]).prompt("is the build green?")
    log.tool("Read", {"file_path": "/home/dev/app/README.md"})
    a = log.tool("Bash", {"command": "npm run lint", "description": "lint"}, "ok")
    log.tool("Grep", {"pattern": "TODO"})
    b = log.tool("Bash", {"description": "lint again", "command": "npm  run   lint "}, "ok")
    c = log.tool("Bash", {"command": "npm run lint", "timeout": 60000}, "ok")
    IDS["repeat"] = [a, b, c]
    log.answer().write(home)

    # the same call three times, but a file was edited between each: not a repeat
    log = ClaudeLog(S["repeat_neg"]).prompt("make lint pass")
    for k in range(3):
        log.tool("Bash", {"command": "npm run lint"}, "ok")
        log.tool("Edit", {"file_path": "/home/dev/app/src/a.ts", "old_string": f"x{k}", "new_string": f"y{k}"})
    log.answer().write(home)

    # the same call once per turn, each time because the user asked again: reported, but only as info
    log = ClaudeLog(S["repeat_turns"])
    for _ in range(3):
        log.prompt("is lint clean now?")
        log.tool("Bash", {"command": "npm run lint"}, "ok")
        log.answer("Yes.")
    log.write(home)

    # polling a background shell is not repeating oneself
    log = ClaudeLog(S["poll"]).prompt("start the dev server and wait for it")
    log.tool("Bash", {"command": "npm run dev", "run_in_background": True}, "started bash_1")
    for _ in range(6):
        log.tool("BashOutput", {"bash_id": "bash_1"}, "compiling…")
    log.answer().write(home)

    # a rotation of three calls in varying order, each three times, with no file written
    log = ClaudeLog(S["cycle"]).prompt("why does the test fail?")
    calls = {"r": ("Read", {"file_path": "/home/dev/app/src/cart.py"}),
             "g": ("Grep", {"pattern": "def total", "path": "/home/dev/app"}),
             "t": ("Bash", {"command": "pytest tests/test_cart.py -q"})}
    IDS["cycle"] = []
    for k in "rgt" "tgr" "rtg":
        name, args = calls[k]
        IDS["cycle"].append(log.tool(name, args, "1 passed" if name == "Bash" else "…"))
    log.answer().write(home)

    # the same rotation with an edit after every round: work is being done
    log = ClaudeLog(S["cycle_neg"]).prompt("fix it step by step")
    for rnd, order in enumerate(("rgt", "tgr", "rtg")):
        for k in order:
            log.tool(*calls[k], "…")
        log.tool("Edit", {"file_path": "/home/dev/app/src/cart.py", "old_string": f"v{rnd}", "new_string": f"v{rnd + 1}"})
    log.answer().write(home)

    # edit ping-pong: A→B, something else, B→A
    log = ClaudeLog(S["pingpong"]).prompt("round the total")
    e1 = log.tool("Edit", {"file_path": "/home/dev/app/src/price.py", "old_string": "return round(x, 2)",
                           "new_string": "return math.floor(x * 100) / 100"})
    log.tool("Bash", {"command": "pytest -q"}, "1 failed", is_error=True)
    e2 = log.tool("Edit", {"file_path": "/home/dev/app/src/price.py", "old_string": "return math.floor(x * 100) / 100",
                           "new_string": "return  round(x, 2)"})
    IDS["pingpong"] = [e1, e2]
    log.answer().write(home)

    # A→B then B→C: a change that moves on is not a revert
    log = ClaudeLog(S["pingpong_neg"]).prompt("round the total")
    log.tool("Edit", {"file_path": "/home/dev/app/src/price.py", "old_string": "return round(x, 2)",
                      "new_string": "return math.floor(x * 100) / 100"})
    log.tool("Edit", {"file_path": "/home/dev/app/src/price.py", "old_string": "return math.floor(x * 100) / 100",
                      "new_string": "return Decimal(x).quantize(Decimal('0.01'))"})
    log.answer().write(home)

    # a failing call retried with small changes, never succeeding
    log = ClaudeLog(S["storm"]).prompt("run the migration")
    log.tool("Read", {"file_path": "/home/dev/app/db/migrate.py"})
    f1 = log.tool("Bash", {"command": "python db/migrate.py --env dev"}, "Error: connection refused 127.0.0.1:5432",
                  is_error=True)
    f2 = log.tool("Bash", {"command": "python db/migrate.py --env=dev"}, "Error: connection refused 127.0.0.1:5432",
                  is_error=True)
    f3 = log.tool("Bash", {"command": "python  db/migrate.py --env dev", "description": "retry"},
                  "Error: connection refused 127.0.0.1:5432", is_error=True)
    IDS["storm"] = [f1, f2, f3]
    log.answer("The database is not running.").write(home)

    # …and the same storm that finally succeeds
    log = ClaudeLog(S["storm_ok"]).prompt("run the migration")
    g = [log.tool("Bash", {"command": "python db/migrate.py --env dev"}, "Error: connection refused", is_error=True)
         for _ in range(3)]
    log.tool("Bash", {"command": "docker compose up -d db"}, "started")
    ok = log.tool("Bash", {"command": "python db/migrate.py --env dev"}, "migrated 3")
    IDS["storm_ok"] = [*g, ok]
    log.answer().write(home)

    # three failures of unrelated commands, and a call that failed only twice: no storm
    log = ClaudeLog(S["storm_neg"]).prompt("set things up")
    log.tool("Bash", {"command": "python db/migrate.py --env dev"}, "Error: connection refused", is_error=True)
    log.tool("Bash", {"command": "python db/migrate.py --env dev"}, "Error: connection refused", is_error=True)
    log.tool("Bash", {"command": "cargo build --release"}, "error[E0425]: cannot find value", is_error=True)
    log.tool("Bash", {"command": "ls /nonexistent/dir"}, "ls: cannot access", is_error=True)
    log.answer().write(home)

    # 22 reads and searches in a row (two via read-only shell commands), no write, no answer
    log = ClaudeLog(S["noprog"]).prompt("where is the bug?")
    IDS["noprog"] = []
    for k in range(20):
        IDS["noprog"].append(log.tool("Read", {"file_path": f"/home/dev/app/src/mod{k}.py"}))
    IDS["noprog"].append(log.tool("Bash", {"command": "rg -n 'def total' src | head -20"}, "src/cart.py:3"))
    IDS["noprog"].append(log.tool("Bash", {"command": "cat src/cart.py && git log -3 --oneline"}, "…"))
    log.tool("Edit", {"file_path": "/home/dev/app/src/cart.py", "old_string": "a", "new_string": "b"})
    log.answer().write(home)

    # the same reads, but the turn answers after 12 of them and the next turn reads 10 more: no run is long
    log = ClaudeLog(S["noprog_neg"]).prompt("where is the bug?")
    for k in range(12):
        log.tool("Read", {"file_path": f"/home/dev/app/src/mod{k}.py"})
    log.answer("It is in cart.py or price.py.").prompt("look at the rest")
    for k in range(12, 22):
        log.tool("Read", {"file_path": f"/home/dev/app/src/mod{k}.py"})
    log.answer().write(home)

    # slow tools: one 60 s test run among 1 s runs (relative), and a 200 s build (absolute)
    log = ClaudeLog(S["slow"]).prompt("run the tests a few times")
    for k in range(6):
        log.tool("Bash", {"command": f"pytest tests/test_{k}.py -q"}, "ok", took=1.0)
    IDS["slow_rel"] = [log.tool("Bash", {"command": "pytest tests/test_all.py -q"}, "ok", took=60.0)]
    IDS["slow_abs"] = [log.tool("WebFetch", {"url": "https://example.invalid/docs"}, "…", took=200.0)]
    log.answer().write(home)

    log = ClaudeLog(S["slow_neg"]).prompt("run the tests a few times")
    for k in range(7):
        log.tool("Bash", {"command": f"pytest tests/test_{k}.py -q"}, "ok", took=1.0 + k / 10)
    log.answer().write(home)

    # an interrupted turn (the second), then a new prompt
    log = ClaudeLog(S["interrupt"]).prompt("refactor the cart")
    log.tool("Read", {"file_path": "/home/dev/app/src/cart.py"})
    log.answer("Refactored.").prompt("now rename everything")
    log.tool("Grep", {"pattern": "cart"})
    log.tool("Read", {"file_path": "/home/dev/app/src/checkout.py"})
    log.interrupt().prompt("stop, just explain").answer("Sure.").write(home)

    # the same, but nobody followed the interrupt up
    log = ClaudeLog(S["interrupt_end"]).prompt("refactor the cart")
    log.tool("Read", {"file_path": "/home/dev/app/src/cart.py"})
    log.answer("Refactored.").prompt("now rename everything")
    log.tool("Grep", {"pattern": "cart"})
    log.tool("Read", {"file_path": "/home/dev/app/src/checkout.py"})
    log.interrupt().write(home)

    # a message typed while a tool ran: it reached the model with the tool's result
    log = ClaudeLog(S["typed"]).prompt("install the deps and build")
    log.tool("Read", {"file_path": "/home/dev/app/package.json"})
    cid = log.call("Bash", {"command": "npm install"})
    log.result(cid, "added 12 packages", typed="use pnpm, not npm")
    log.tool("Bash", {"command": "pnpm install"})
    log.answer("Installed with pnpm.").write(home)

    # a denied call, not tried again
    log = ClaudeLog(S["denied"]).prompt("clean up")
    IDS["denied"] = [log.tool("Bash", {"command": "rm -rf build/"}, DENIED, is_error=True)]
    log.answer("Understood, I will not delete it.").write(home)

    # a denied call tried again as it was: critical
    log = ClaudeLog(S["denied_retry"]).prompt("clean up")
    d1 = log.tool("Bash", {"command": "rm -rf build/", "description": "remove build"}, DENIED, is_error=True)
    log.tool("Read", {"file_path": "/home/dev/app/README.md"})
    d2 = log.tool("Bash", {"command": "rm -rf build/", "description": "remove the build dir"}, "removed")
    IDS["denied_retry"] = [d1, d2]
    log.answer().write(home)

    # Codex apply_patch ping-pong on one file, and a patch sequence that moves on
    codex_rollout(home, CODEX_PP, [("call_p1", patch("    return round(t, 2)", "    return round(t, 1)")),
                                   ("call_p2", patch("import math", "import math, decimal")),
                                   ("call_p3", patch("    return round(t, 1)", "    return round(t, 2)"))])
    codex_rollout(home, CODEX_PP_NEG, [("call_q1", patch("    return round(t, 2)", "    return round(t, 1)")),
                                       ("call_q2", patch("    return round(t, 1)", "    return round(t, 3)"))])


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Agtrace:
    home = tmp_path_factory.mktemp("ana") / "home"
    _sessions(home)
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path_factory.mktemp("anadata"))
    cfg.live_seconds = 0
    a = Agtrace(cfg)
    a.refresh()
    yield a
    a.close()


def kinds(api: Agtrace, key: str, **th: object) -> list:
    return api.analyze_session(S.get(key, key), **th).findings


# -- the clean session ----------------------------------------------------------------------------


def test_a_clean_session_has_no_findings(api: Agtrace):
    res = api.analyze_session(S["clean"])
    assert res.findings == [] and set(res.counts.values()) == {0}
    assert "no findings" in res.note


# -- repeated identical calls -----------------------------------------------------------------------


def test_repeated_identical_call_is_found_despite_spelling_and_volatile_keys(api: Agtrace):
    [f] = kinds(api, "repeat")
    assert (f.kind, f.severity, f.count) == ("repeated_call", "warning", 3)
    assert f.call_ids == IDS["repeat"]
    assert (f.start_turn, f.start_step, f.end_turn, f.end_step) == (0, 1, 0, 4)
    assert "with other calls in between" in f.explanation and "npm run lint" in f.explanation


def test_identical_calls_one_per_user_prompt_are_only_info(api: Agtrace):
    [f] = kinds(api, "repeat_turns")
    assert (f.kind, f.severity, f.count, f.start_turn, f.end_turn) == ("repeated_call", "info", 3, 0, 2)
    assert "across 3 turns" in f.explanation


def test_a_file_change_between_identical_calls_is_not_a_repeat(api: Agtrace):
    assert kinds(api, "repeat_neg") == []


def test_polling_a_background_shell_is_not_a_repeat(api: Agtrace):
    assert kinds(api, "poll") == []


# -- cycles -----------------------------------------------------------------------------------------


def test_a_rotation_of_three_calls_with_no_write_is_a_cycle(api: Agtrace):
    fs = kinds(api, "cycle")
    assert [f.kind for f in fs] == ["cycle"]  # its repeated calls are not reported again on their own
    f = fs[0]
    assert f.call_ids == IDS["cycle"] and f.count == 9
    assert (f.start_turn, f.start_step, f.end_step) == (0, 0, 8)
    assert "3 distinct calls repeated 3+ times" in f.explanation


def test_the_same_rotation_with_edits_between_rounds_is_no_cycle(api: Agtrace):
    assert kinds(api, "cycle_neg") == []


# -- edit ping-pong -------------------------------------------------------------------------------


def test_an_edit_undone_later_is_ping_pong(api: Agtrace):
    [f] = [f for f in kinds(api, "pingpong") if f.kind == "edit_pingpong"]
    assert f.target == "/home/dev/app/src/price.py" and f.count == 1
    assert f.call_ids == IDS["pingpong"]
    assert (f.start_step, f.end_step) == (0, 2)


def test_edits_that_move_on_are_not_ping_pong(api: Agtrace):
    assert kinds(api, "pingpong_neg") == []


def test_codex_apply_patch_hunks_reverted_are_ping_pong(api: Agtrace):
    [f] = kinds(api, CODEX_PP)
    assert (f.kind, f.target, f.call_ids) == ("edit_pingpong", "src/price.py", ["call_p1", "call_p3"])
    assert kinds(api, CODEX_PP_NEG) == []


# -- retry storms ---------------------------------------------------------------------------------


def test_a_failing_call_retried_with_small_changes_is_a_storm_that_never_succeeded(api: Agtrace):
    [f] = kinds(api, "storm")
    assert (f.kind, f.severity, f.count, f.resolved) == ("retry_storm", "critical", 3, False)
    assert f.call_ids == IDS["storm"]
    assert (f.start_step, f.end_step) == (1, 3)
    assert "never succeeded" in f.explanation and "connection refused" in f.explanation


def test_a_storm_that_finally_succeeded_says_so(api: Agtrace):
    [f] = kinds(api, "storm_ok")
    assert (f.kind, f.severity, f.resolved, f.count) == ("retry_storm", "warning", True, 3)
    assert f.call_ids == IDS["storm_ok"] and f.end_step == 4
    assert IDS["storm_ok"][-1] in f.explanation


def test_two_failures_or_unrelated_failures_are_no_storm(api: Agtrace):
    assert kinds(api, "storm_neg") == []


def test_retry_min_is_adjustable(api: Agtrace):
    [f] = kinds(api, "storm_neg", retry_min=2)
    assert f.kind == "retry_storm" and f.count == 2


# -- no progress ----------------------------------------------------------------------------------


def test_a_long_run_of_reads_and_read_only_commands_is_no_progress(api: Agtrace):
    [f] = kinds(api, "noprog")
    assert (f.kind, f.count, f.call_ids[:3]) == ("no_progress", 22, IDS["noprog"][:3])
    assert f.calls_total == 22 and len(f.call_ids) == 10
    assert (f.start_step, f.end_step) == (0, 21)


def test_an_answer_to_the_user_ends_a_read_run(api: Agtrace):
    assert kinds(api, "noprog_neg") == []
    runs = kinds(api, "noprog_neg", no_progress_min=10)
    assert sorted((f.start_turn, f.end_turn, f.count) for f in runs) == [(0, 0, 12), (1, 1, 10)]


# -- slow tools -----------------------------------------------------------------------------------


def test_slow_outliers_relative_to_the_session_and_absolute(api: Agtrace):
    fs = {f.call_ids[0]: f for f in kinds(api, "slow")}
    assert set(fs) == {IDS["slow_rel"][0], IDS["slow_abs"][0]}
    rel, ab = fs[IDS["slow_rel"][0]], fs[IDS["slow_abs"][0]]
    assert (rel.kind, rel.severity, rel.start_step) == ("slow_tool", "info", 6)
    assert "60.0s" in rel.explanation and "median" in rel.explanation
    assert (ab.severity, ab.tool) == ("warning", "WebFetch") and "120s limit" in ab.explanation


def test_even_durations_have_no_slow_outlier(api: Agtrace):
    assert kinds(api, "slow_neg") == []
    assert kinds(api, "slow", slow_abs_seconds=300, slow_factor=100) == []


# -- interruptions and denials --------------------------------------------------------------------


def test_an_interrupt_followed_by_a_new_instruction_is_a_user_correction(api: Agtrace):
    [f] = kinds(api, "interrupt")
    assert (f.kind, f.start_turn, f.start_step, f.end_turn) == ("user_correction", 1, 1, 2)
    assert "stopped turn 1" in f.explanation and "stop, just explain" in f.explanation


def test_an_interrupted_turn_nobody_followed_up_is_located(api: Agtrace):
    [f] = kinds(api, "interrupt_end")
    assert (f.kind, f.start_turn, f.end_turn, f.end_step) == ("interrupted_turn", 1, 1, 1)
    assert "interrupted turn 1" in f.explanation


def test_a_message_typed_while_the_agent_worked_is_a_user_correction(api: Agtrace):
    [f] = kinds(api, "typed")
    assert (f.kind, f.start_turn, f.start_step) == ("user_correction", 0, 1)
    assert "use pnpm, not npm" in f.explanation and f.target == "use pnpm, not npm"


def test_a_denied_call_not_tried_again(api: Agtrace):
    [f] = kinds(api, "denied")
    assert (f.kind, f.severity, f.call_ids) == ("denied_call", "warning", IDS["denied"])
    assert "not tried again" in f.explanation


def test_a_denied_call_tried_again_as_it_was_is_critical(api: Agtrace):
    [f] = kinds(api, "denied_retry")
    assert (f.kind, f.severity, f.call_ids, f.end_step) == ("denied_call", "critical", IDS["denied_retry"], 2)


# -- output bounds and arguments ------------------------------------------------------------------


def test_findings_are_capped_per_kind_with_counts_of_the_rest(api: Agtrace):
    res = api.analyze_session(S["slow"], max_per_kind=1)
    assert res.counts["slow_tool"] == 2 and len(res.findings) == 1
    assert "max_per_kind" in res.note


def test_bad_thresholds_are_errors_that_name_the_valid_ones(api: Agtrace):
    with pytest.raises(BadArgumentError, match="repeat_min"):
        api.analyze_session(S["clean"], repeat_mni=3)
    with pytest.raises(BadArgumentError, match="between"):
        api.analyze_session(S["clean"], retry_similarity=2.0)


def test_the_thresholds_used_are_returned(api: Agtrace):
    res = api.analyze_session(S["clean"], repeat_min=4)
    assert res.thresholds.repeat_min == 4 and res.thresholds.retry_min == Thresholds().retry_min


# -- the pure module ------------------------------------------------------------------------------


def test_normalised_arguments_ignore_whitespace_key_order_and_volatile_keys():
    a = normalize_args({"command": "npm  run\tlint", "description": "x", "timeout": 5})
    b = normalize_args({"timeout": 9, "command": " npm run lint ", "description": "y"})
    assert a == b
    assert normalize_args({"command": ["bash", "-lc", "ls  src"]}) == normalize_args({"command": "ls src"})
    assert normalize_args({"file_path": "a.py"}) != normalize_args({"file_path": "b.py"})


@pytest.mark.parametrize("cmd,reads,writes", [
    ("rg -n 'a|b' src | head", True, False),
    ("sed -n '1,20p' a.py", True, False),
    ("sed -i 's/a/b/' a.py", False, True),
    ("cat > out.txt << 'EOF'\nx > y\nEOF", False, True),
    ("git status && git diff", True, False),
    ("git checkout main", False, True),
    ("npm test", False, False),
    ("echo 'a > b'", True, False),
    ("pytest -q 2>&1 | tail -5", False, False),
])
def test_shell_commands_are_classified(cmd: str, reads: bool, writes: bool):
    assert (shell_reads_only(cmd), shell_writes(cmd)) == (reads, writes)


def _call(name: str, args: object, kind: str = "write", agent: str = "claude_code") -> Call:
    return Call(turn=0, step=0, seq=0, call_id="c", name=name, kind=kind, args=args,
                shapes=REGISTRY[agent].tool_shapes)


def test_edits_are_read_per_tool_family():
    """Each agent's provider declares how its edit tools spell path, old and new text (tool_shapes)."""
    claude = edits_of(_call("Edit", {"file_path": "a.py", "old_string": "x", "new_string": "y"}))
    gemini = edits_of(_call("replace", {"file_path": "a.py", "old_string": "x ", "new_string": " y"},
                            agent="gemini_cli"))
    assert [e[:2] for e in claude] == [("a.py", "replace")] and claude == gemini  # whitespace collapsed
    multi = edits_of(_call("MultiEdit", {"file_path": "a.py", "edits": [{"old_string": "1", "new_string": "2"},
                                                                        {"old_string": "3", "new_string": "4"}]}))
    assert len(multi) == 2
    agy = edits_of(_call("replace_file_content", {"TargetFile": "a.py", "TargetContent": "x",
                                                  "ReplacementContent": "y"}, agent="antigravity"))
    assert edits_of(_call("replace_file_content", {"TargetFile": "a.py", "TargetContent": "x",
                                                   "ReplacementContent": "y"})) == []  # not a Claude tool's shape
    copilot = edits_of(_call("edit", {"path": "a.py", "old_str": "x", "new_str": "y"}, agent="copilot_cli"))
    assert copilot == claude
    assert agy == claude
    write = edits_of(_call("write_file", {"file_path": "a.py", "content": "hello"}))
    assert write[0][:2] == ("a.py", "write")
    codex = edits_of(_call("apply_patch", "*** Begin Patch\n*** Update File: a.py\n@@\n-x\n+y\n"
                                          "*** Add File: b.py\n+hello\n*** End Patch", agent="codex"))
    assert codex[0] == claude[0] and codex[1] == ("b.py", *write[0][1:])


def test_ping_pong_of_whole_file_writes():
    calls = [_call("write_file", {"file_path": "a.py", "content": c}) for c in ("v1", "v2", "v1")]
    for i, c in enumerate(calls):
        c.step, c.call_id = i, f"w{i}"
    [f] = analyze(calls, [TurnInfo(index=0, steps=3)])
    assert (f.kind, f.call_ids) == ("edit_pingpong", ["w0", "w2"])
    same = [_call("write_file", {"file_path": "a.py", "content": "v1"}) for _ in range(2)]
    assert [f.kind for f in analyze(same, [TurnInfo(index=0, steps=1)])] == []


def test_error_messages_are_normalised_for_grouping():
    a = normalize_error("Error: connection refused 127.0.0.1:5432 at 2026-07-29T23:01:38.32Z (id 9f8e7d6c5b)")
    b = normalize_error("Error: connection refused 10.0.0.7:6543 at 2026-08-01T01:00:00Z (id 0a1b2c3d4e)")
    assert a == b and "<n>" in a and "<time>" in a
    assert normalize_error("ls: cannot access '/tmp/x/y': No such file") == \
        normalize_error("ls: cannot access '/var/z': No such file")
    assert normalize_error("FileNotFoundError: /home/me/a.py") == normalize_error("FileNotFoundError: src/b.py")
    assert normalize_error("<tool_use_error>String to replace not found in file.</tool_use_error>") == \
        "String to replace not found in file."
