"""`agtrace-mcp watch`, run in a real pseudo-terminal while a test writes a Claude Code log the way the agent
does: a line at a time. Each test waits for what it expects with a deadline; only the first says how long
an appended step may take to show (one second, the promise of `watch`)."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from claudelog import ClaudeLog
from pty_run import Terminal, cli_env, command, plain

SID = "5a5a5a5a-0000-4000-8000-000000000001"
NEWER = "6b6b6b6b-0000-4000-8000-000000000002"
STARTUP = 30  # seconds a cold start (interpreter, first index) may take on a loaded machine


def recent(minutes: float = 1) -> str:
    """A start time `minutes` ago: the log is live, as a session being written is."""
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def log(home: Path) -> ClaudeLog:
    log = ClaudeLog(SID, cwd="/home/dev/app", start=recent())
    log.prompt("Make the build pass")
    log.tool("Bash", {"command": "ls"}, "src tests")
    log.write(home)
    return log


@pytest.fixture
def watch(home: Path, tmp_path: Path, log: ClaudeLog):
    """`agtrace-mcp watch ARGS` in an 80-column terminal, started and showing the session's history."""
    started: list[Terminal] = []

    def start(*args: str, ready: str = "✓ Bash  ls") -> Terminal:
        term = Terminal(command("watch", *args, "--home", str(home), "--data-dir", str(tmp_path / "d")),
                        cli_env(80))
        started.append(term)
        assert term.wait_for(ready, STARTUP), plain(term.output)
        return term

    yield start
    for term in started:
        if term.proc.poll() is None:
            term.proc.kill()
            term.finish(5)


def test_a_step_appended_to_the_log_shows_within_a_second(watch, log: ClaudeLog, home: Path):
    term = watch()
    log.tool("Read", {"file_path": "/home/dev/app/package.json"}, "{}")
    log.append(home)
    assert term.wait_for("Read  /home/dev/app/package.json", 1.0), plain(term.output)


def test_a_failed_call_is_shown_with_its_error_line(watch, log: ClaudeLog, home: Path):
    term = watch()
    log.tool("Bash", {"command": "npm run build"}, "Error: Cannot find module 'left-pad'", is_error=True)
    log.append(home)
    assert term.wait_for("✗ Bash  npm run build", 5)
    assert term.wait_for("Error: Cannot find module 'left-pad'", 5)


def test_a_call_still_running_is_followed_until_it_ends(watch, log: ClaudeLog, home: Path):
    term = watch()
    cid = log.call("Bash", {"command": "npm test"})
    log.append(home)
    assert term.wait_for("… Bash  npm test", 5)
    log.result(cid, "1 failing", is_error=True, took=12)
    log.append(home)
    assert term.wait_for("↳ ✗ Bash failed in 12.0 s", 5), plain(term.output)


def test_a_retry_storm_is_reported_as_it_appears(watch, log: ClaudeLog, home: Path):
    term = watch()
    for _ in range(4):
        log.tool("Bash", {"command": "npm run build"}, "Error: Cannot find module 'left-pad'", is_error=True)
    log.append(home)
    assert term.wait_for("retry_storm at turn.step 0.1→0.4", 10), plain(term.output)


def test_the_footer_shows_tokens_and_context_use(watch, log: ClaudeLog, home: Path):
    term = watch()
    assert term.wait_for("context 1,035 of 200,000", 5), plain(term.output)
    log.answer("Built.")
    log.append(home)
    assert term.wait_for("context 2,005 of 200,000", 5), plain(term.output)


def test_a_new_turn_shows_its_prompt(watch, log: ClaudeLog, home: Path):
    term = watch()
    log.prompt("Now add a changelog entry")
    log.append(home)
    assert term.wait_for("── turn 1", 5) and term.wait_for("you: Now add a changelog entry", 5)


def test_a_newer_session_of_the_project_is_followed_when_it_starts(watch, home: Path):
    term = watch("--in", "/home/dev/app")
    ClaudeLog(NEWER, cwd="/home/dev/app", start=recent(0)).prompt("Second task").write(home)
    assert term.wait_for("now following a newer session 6b6b6b6b", 10), plain(term.output)
    assert term.wait_for("you: Second task", 5)


def test_a_named_session_is_followed_even_when_a_newer_one_starts(watch, log: ClaudeLog, home: Path):
    term = watch(SID[:8])
    ClaudeLog(NEWER, cwd="/home/dev/app", start=recent(0)).prompt("Second task").write(home)
    log.tool("Grep", {"pattern": "TODO"}, "none")
    log.append(home)
    assert term.wait_for("Grep  TODO", 5)
    assert "newer session" not in plain(term.output)


def test_ctrl_c_stops_watch_cleanly(watch):
    term = watch()
    assert term.interrupt() in (0, 130), plain(term.output)[-3000:]
    assert "Traceback" not in term.output


def test_piped_json_has_one_event_per_line(home: Path, tmp_path: Path, log: ClaudeLog):
    with subprocess.Popen(command("watch", "--json", "--home", str(home), "--data-dir", str(tmp_path / "d")),
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                          env=cli_env(80), text=True) as proc:
        try:
            events = []
            deadline = time.monotonic() + STARTUP
            while time.monotonic() < deadline and not any(e["event"] == "usage" for e in events):
                events.append(json.loads(proc.stdout.readline()))
        finally:
            proc.kill()
    kinds = [e["event"] for e in events]
    assert kinds[:3] == ["session", "turn", "step"] and "usage" in kinds
    assert events[2]["step"]["tools"][0]["name"] == "Bash" and events[0]["session"]["session_id"] == SID
