"""Failures that explain themselves, and analysis without false alarms (issue 12, points 7 and 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from claudelog import ClaudeLog
from conftest import api_on

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.engine.analysis import normalize_error
from agtrace_mcp.engine.failures import error_excerpt

BG = "55ee0000-aaaa-4000-8000-000000000001"  # Claude: a background test run polled with BashOutput
TIMEOUTS = "55ee0000-aaaa-4000-8000-000000000002"
CODEX_STORM = "019f1111-0000-7000-8000-000000000d01"


# -- the telling line ---------------------------------------------------------------------------------------


def test_the_excerpt_is_the_fail_line_with_its_reason_not_the_first_line_of_the_log():
    out = ("Chunk ID: 1\nWall time: 90.3 seconds\nProcess exited with code 1\nOriginal token count: 9\nOutput:\n"
           "=== RUN   TestA\n--- PASS: TestA (0.00s)\n=== RUN   TestB\n--- FAIL: TestB (0.01s)\n"
           "    b_test.go:9: want 1, got 2\nFAIL\nFAIL\texample.com/b\t0.02s")
    assert error_excerpt(out) == "--- FAIL: TestB (0.01s) b_test.go:9: want 1, got 2"


def test_the_excerpt_of_a_traceback_is_its_last_line():
    out = ("INFO starting up\nTraceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n"
           "    main()\n  File \"app.py\", line 2, in main\n    raise KeyError('DATABASE_URL')\nKeyError: 'DATABASE_URL'")
    assert error_excerpt(out) == "KeyError: 'DATABASE_URL'"


def test_the_excerpt_prefers_an_error_line_to_a_line_that_only_mentions_error():
    out = "Compiling error-handling v0.3\nsrc/main.rs:4:5: error: cannot find value `x` in this scope\n"
    assert error_excerpt(out) == "src/main.rs:4:5: error: cannot find value `x` in this scope"


def test_the_excerpt_of_json_logs_is_the_message_of_the_error_line():
    out = ('{"time":"2026-07-29T22:51:01Z","level":"INFO","msg":"listening"}\n'
           '{"time":"2026-07-29T22:51:02Z","level":"ERROR","msg":"dial tcp 10.0.0.7:5432: connection refused"}')
    assert error_excerpt(out) == "dial tcp 10.0.0.7:5432: connection refused"


def test_an_error_key_keeps_units_whole():
    assert normalize_error("timed out after 30s") == normalize_error("timed out after 45s") == "timed out after <n>s"
    assert normalize_error("request took 500ms") == "request took <n>ms"
    assert normalize_error("disk full: 12.5GB used") == "disk full: <n>gb used"


def test_an_error_key_is_never_a_bare_error_a_path_or_a_json_log_line():
    assert normalize_error("Error") == ""
    assert normalize_error("Error: /home/me/app/x.py") == ""
    assert normalize_error('{"level":"error","time":"2026-01-01T00:00:00Z"}') == ""
    assert normalize_error('{"level":"error","msg":"queue full"}') == "queue full"
    assert normalize_error("Error\nconnection reset by peer") == "connection reset by peer"


# -- polls and their command; grouping ----------------------------------------------------------------------


def _codex_storm(home: Path) -> None:
    """A test run started with exec_command and polled with write_stdin, failing three times in a row."""
    ts = iter(f"2026-06-05T10:{m:02d}:{s:02d}.000Z" for m in range(60) for s in range(0, 60, 2))
    recs = [{"timestamp": next(ts), "type": "session_meta",
             "payload": {"id": CODEX_STORM, "timestamp": "2026-06-05T10:00:00.000Z", "cwd": "/home/dev/svc",
                         "originator": "codex_cli_rs", "cli_version": "0.145.0", "source": "cli"}},
            {"timestamp": next(ts), "type": "event_msg", "payload": {"type": "task_started", "turn_id": "t"}},
            {"timestamp": next(ts), "type": "event_msg", "payload": {"type": "user_message", "message": "fix e2e"}}]
    k = 0
    for attempt, proc in enumerate((101, 202, 303)):
        k += 1
        recs.append({"timestamp": next(ts), "type": "response_item", "payload": {
            "type": "function_call", "name": "exec_command", "call_id": f"start{attempt}",
            "arguments": json.dumps({"cmd": "go test ./e2e/..." if attempt != 1 else "make e2e"})}})
        recs.append({"timestamp": next(ts), "type": "response_item", "payload": {
            "type": "function_call_output", "call_id": f"start{attempt}",
            "output": f"Chunk ID: a\nWall time: 1.0 seconds\nProcess running with session ID {proc}\nOutput:\n"}})
        for poll in range(3):
            last = poll == 2
            recs.append({"timestamp": next(ts), "type": "response_item", "payload": {
                "type": "function_call", "name": "write_stdin", "call_id": f"poll{attempt}{poll}",
                "arguments": json.dumps({"session_id": proc, "chars": "", "yield_time_ms": 1000 * (poll + 1)})}})
            out = (f"Chunk ID: b\nWall time: 5.0 seconds\nProcess exited with code 1\nOutput:\n--- FAIL: TestE2E "
                   f"({30 + attempt}.0s)\n    e2e_test.go:40: timed out waiting for condition\nFAIL\n") if last else \
                f"Chunk ID: b\nWall time: 5.0 seconds\nProcess running with session ID {proc}\nOutput:\n"
            recs.append({"timestamp": next(ts), "type": "response_item", "payload": {
                "type": "function_call_output", "call_id": f"poll{attempt}{poll}", "output": out}})
        if attempt < 2:
            recs.append({"timestamp": next(ts), "type": "response_item", "payload": {
                "type": "custom_tool_call", "status": "completed", "call_id": f"patch{attempt}", "name": "apply_patch",
                "input": f"*** Begin Patch\n*** Update File: e2e/e2e_test.go\n@@\n-wait({attempt})\n+wait({attempt + 1})\n"
                         "*** End Patch"}})
            recs.append({"timestamp": next(ts), "type": "response_item", "payload": {
                "type": "custom_tool_call_output", "call_id": f"patch{attempt}",
                "output": json.dumps({"output": "Success.", "metadata": {"exit_code": 0}})}})
    d = home / ".codex" / "sessions" / "2026" / "06" / "05"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"rollout-2026-06-05T10-00-00-{CODEX_STORM}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, backend: str, request: pytest.FixtureRequest) -> Agtrace:
    """Over the local index, and over a team database the same logs were pushed to (`backend`)."""
    home = tmp_path_factory.mktemp("failures") / "home"
    log = ClaudeLog(BG).prompt("run the slow suite in the background")
    log.tool("Bash", {"command": "npm run test:e2e", "run_in_background": True},
             "Command running in background with ID: bash_1")
    for _ in range(4):
        log.tool("BashOutput", {"bash_id": "bash_1"}, "<status>running</status>")
    log.tool("BashOutput", {"bash_id": "bash_1"},
             "<status>failed</status>\n<exit_code>1</exit_code>\n<stdout>FAIL e2e/cart.spec.ts\n  ✕ adds an item (5002 ms)"
             "</stdout>", is_error=True)
    log.answer("The e2e suite failed: adding an item times out.").write(home)

    log = ClaudeLog(TIMEOUTS).prompt("call the api a few times")
    log.tool("Bash", {"command": "curl -m 30 https://api.example.invalid/a"}, "Exit code 28\ntimed out after 30s",
             is_error=True)
    log.tool("Bash", {"command": "curl -m 45 https://api.example.invalid/b"}, "Exit code 28\ntimed out after 45s",
             is_error=True)
    log.tool("Read", {"file_path": "/home/dev/app/missing.py"}, "Error", is_error=True)
    log.answer("The api times out.").write(home)
    _codex_storm(home)
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path_factory.mktemp("fdata"))
    cfg.live_seconds = 0
    a = api_on(backend, cfg, request)
    a.refresh()
    yield a
    a.close()


def test_a_failed_poll_names_the_command_that_started_it(api: Agtrace):
    [f] = api.find_failed_tools(session_id=BG).failures
    assert (f.tool, f.command) == ("BashOutput", "npm run test:e2e")
    assert f.started_by == api.get_turn(BG, 0, detail="full").steps[0].tools[0].call_id


def test_polling_a_started_process_is_not_a_repeated_call(api: Agtrace):
    kinds = {f.kind for f in api.analyze_session(BG).findings}
    assert "repeated_call" not in kinds and "cycle" not in kinds


def test_the_outline_shows_what_a_poll_waits_on(api: Agtrace):
    lines = api.get_turn(BG, 0, detail="outline").outline
    assert lines[1] == "#1 BashOutput: polls `npm run test:e2e` → ok (1.0s)"


def test_a_command_failing_three_times_through_its_polls_is_a_retry_storm(api: Agtrace):
    [f] = [x for x in api.analyze_session(CODEX_STORM).findings if x.kind == "retry_storm"]
    assert f.count == 3 and f.resolved is False and f.call_ids == ["start0", "start1", "start2"]
    assert "TestE2E" in f.explanation
    assert not [x for x in api.analyze_session(CODEX_STORM).findings if x.kind == "repeated_call"]


def test_failures_grouped_by_error_keep_units_and_skip_a_bare_error(api: Agtrace):
    groups = {g.key: g.count for g in api.find_failed_tools(session_id=TIMEOUTS, group_by="error").groups}
    assert groups == {"timed out after <n>s": 2, "(tool error, no message)": 1}


def test_corpus_a_failed_poll_is_the_failure_of_the_test_run_it_waited_on(codex_169_steps):
    a = codex_169_steps
    by_step = {f.step_index: f for f in a.find_failed_tools(session_id="019fb117").failures}
    f = by_step[130]
    assert (f.tool, f.exit_code, f.command, f.started_by) == ("write_stdin", 2, "make runtime-e2e",
                                                              "call_H4raU2GUAJDpAlQdM7hhwGCX")
    # the telling line (the FAIL and the reason under it), not the harness header or the first log line
    assert f.error == ("--- FAIL: TestRuntimeProcessesCompleteDisposableFixture (90.30s) "
                       "process_e2e_test.go:137: timed out waiting for condition")
    assert by_step[166].command is None and by_step[166].error.startswith("lstat go/internal/reasoning")
