"""The human CLI run in-process with its output piped: plain tables, errors in the CLI's own words, the
empty-history message, and HOME checks. What a terminal shows is in test_cli_terminal.py."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES_HOME, indexed_total

from agtrace_mcp.cli import main as cli_main
from agtrace_mcp.errors import NotFoundError


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`agtrace-mcp ARGS` over the fixture logs, piped: (exit code, stdout lines, stderr)."""
    monkeypatch.setenv("COLUMNS", "80")

    def run(*args: str, home: Path = FIXTURES_HOME) -> tuple[int, list[str], str]:
        code = cli_main([*args, "--home", str(home), "--data-dir", str(tmp_path / "d")])
        out, err = capsys.readouterr()
        return code, out.splitlines(), err

    return run


# -- piped output: plain, not squeezed ------------------------------------------------------------


def test_piped_sessions_are_a_plain_table_of_every_column_not_cut_to_80(run):
    code, lines, err = run("sessions", "--limit", "50")
    assert code == 0
    assert lines[0].split() == ["id", "when", "agent", "turns", "calls", "failed", "title", "project"]
    assert max(len(line) for line in lines) > 80
    assert any("Why does the deploy script fail to reach the database?  /home/dev/infra" in line for line in lines)
    assert "\x1b[" not in "".join(lines)  # no colour in a pipe


def test_piped_sessions_put_the_page_footer_on_stderr(run, tmp_path: Path):
    code, lines, err = run("sessions", "--limit", "3")
    assert len(lines) == 4  # the header and three sessions: a pipe carries only the table
    total = indexed_total(FIXTURES_HOME, tmp_path / "d")
    assert total > 3 and err.strip().startswith(f"3 of {total} sessions; next page: --cursor ")


def test_failures_have_column_headers_and_each_error_on_its_own_line(run, tmp_path: Path):
    code, lines, err = run("failures", "--limit", "50")
    assert lines[0].split() == ["when", "session", "turn.step", "tool", "failure"]
    records, errors = lines[1::2], lines[2::2]
    assert len(records) == len(errors) == min(50, indexed_total(FIXTURES_HOME, tmp_path / "d", "failures"))
    assert all(e.startswith("    ") for e in errors)
    assert all(re.search(r"  \d+\.\d+  ", r) for r in records)  # turn.step
    assert any("exit_code 7" in r for r in records)
    assert any("make: *** [all] Error 7" in e for e in errors)
    assert "30 of 30 failures (turn.step:" in err


def test_a_turn_reads_like_a_transcript_prompt_steps_and_final_answer(run):
    code, lines, err = run("show", "11111111", "--turn", "1")
    text = "\n".join(lines)
    assert text.index("you: Use a + b + c but keep the signature") < text.index("✓ Edit") \
        < text.index("answer: Fixed: `total` now adds all three values.")


def test_a_failed_call_in_show_has_its_error_line(run):
    code, lines, err = run("show", "11111111")
    i = next(k for k, line in enumerate(lines) if "✗ Bash  pytest -q" in line)
    assert lines[i + 1].strip() == "exit 1: FAILED tests/test_app.py::test_total - assert 3 == 4"


def test_numbers_have_thousands_separators(run):
    code, lines, err = run("usage", "--limit", "1")
    assert "cache read 553,600" in lines[0]


def test_a_long_text_cut_by_show_ends_its_kept_part_on_a_word_with_a_marker(run):
    code, lines, err = run("show", "cccccccc", "--json", "--cut", "120")
    import json

    doc = json.loads("\n".join(lines))
    cut = [t["output"] for turn in doc["turns"] for s in turn["steps"] for t in s["tools"] if "chars cut" in t["output"]]
    assert cut
    head = cut[0].split(" …[", 1)[0]
    assert "; --full shows all]… " in cut[0] and not head.endswith(" ") and head


# -- errors in the CLI's own words ----------------------------------------------------------------


def test_an_unknown_session_names_the_cli_command_that_lists_ids(run):
    code, lines, err = run("show", "zzzzzzzz")
    assert code == 1
    assert err.strip() == "agtrace-mcp: no session matches 'zzzzzzzz'; run `agtrace-mcp sessions` to see the ids"


def test_an_unknown_call_id_names_show_with_the_turn_flag(run):
    code, lines, err = run("output", "11111111", "no-such-call")
    assert "agtrace-mcp show 11111111-1111-4111-8111-111111111111 --turn N" in err
    assert "get_turn" not in err


def test_the_mcp_wording_stays_for_agents():
    e = NotFoundError("no session matches 'x'", __import__("agtrace_mcp.errors").errors.FIND_SESSION)
    assert str(e) == "no session matches 'x'; call list_sessions (or current_session) to find its id"
    assert e.text("cli") == "no session matches 'x'; run `agtrace-mcp sessions` to see the ids"


def test_a_bad_value_is_a_usage_error_of_the_subcommand(run):
    code, lines, err = run("sessions", "--cursor", "not-a-cursor")
    assert code == 2
    assert err.startswith("agtrace-mcp sessions: bad cursor; pass the --cursor printed under the previous page")


def test_a_bad_flag_prints_the_subcommands_usage(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["failures", "--bogus"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.startswith("usage: agtrace-mcp failures ")
    assert "agtrace-mcp failures: error: unrecognized arguments: --bogus" in err


# -- never an empty silence -----------------------------------------------------------------------


def test_no_logs_says_where_it_looked_per_agent_and_what_to_try(run, tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    code, lines, err = run("sessions", home=home)
    assert code == 0 and lines == []
    assert "no agent logs found" in err
    for folder, mover in [(".claude/projects", "CLAUDE_CONFIG_DIR"), (".codex/sessions", "CODEX_HOME"),
                          (".gemini/tmp", "AGTRACE_MCP_GEMINI_DIR"), (".gemini/antigravity-cli", "--antigravity-dir"),
                          (".copilot/session-state", "COPILOT_HOME"), (".local/share/opencode", "XDG_DATA_HOME")]:
        assert str(home / folder) in err and mover in err
    assert "agtrace-mcp sessions --demo" in err and "agtrace-mcp doctor" in err


def test_filters_that_match_nothing_say_so(run):
    code, lines, err = run("sessions", "--query", "no title says this")
    assert lines == [] and "no sessions match (44 sessions indexed)" in err


@pytest.mark.parametrize("home", [None, "missing", "file"])
def test_an_unusable_home_is_a_one_line_usage_error_that_creates_nothing(home, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch, capsys):
    for var in ("HOME", "AGTRACE_MCP_HOME", "AGTRACE_MCP_DATA_DIR", "XDG_DATA_HOME"):
        monkeypatch.delenv(var, raising=False)
    if home == "missing":
        monkeypatch.setenv("HOME", str(tmp_path / "nowhere"))
    elif home == "file":
        (tmp_path / "afile").write_text("")
        monkeypatch.setenv("HOME", str(tmp_path / "afile"))
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    assert cli_main(["sessions"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "--home" in err and "AGTRACE_MCP_DATA_DIR" in err
    assert sorted(tmp_path.rglob("*")) == before


def test_each_copy_of_the_demo_logs_gets_its_own_demo_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from agtrace_mcp import cli

    copy = tmp_path / "site-packages" / "agtrace_mcp" / "_demo" / "home"
    copy.parent.mkdir(parents=True)
    shutil.copytree(FIXTURES_HOME, copy)
    dirs = []
    files = None
    totals = []
    for home in (FIXTURES_HOME, copy):
        monkeypatch.setattr(cli, "demo_home", lambda home=home: home)
        args = cli.build_parser().parse_args(["sessions", "--demo", "--data-dir", str(tmp_path / "d")])
        api = cli.make_api(args)
        dirs.append(api.config.data_dir)
        if files is None:
            files = {p.provider: p.files for p in api.doctor().providers}
        totals.append(api.list_sessions(limit=50).total)
        # this copy's files only: the other copy's are not in this index
        assert {p.provider: p.files for p in api.doctor().providers} == files
        api.close()
    assert dirs[0] != dirs[1]
    assert totals[0] == totals[1] == indexed_total(FIXTURES_HOME, tmp_path / "plain")  # no session of the other


# -- what issue 12 added: turn state, messages typed mid-turn, answers, calls without a result ----------------


def test_show_says_a_turns_state_where_the_user_spoke_mid_turn_and_which_calls_never_returned(run, tmp_path):
    from claudelog import ClaudeLog

    home = tmp_path / "h"
    log = ClaudeLog("44dd0000-ffff-4000-8000-000000000001").prompt("install and build")
    log.call("Bash", {"command": "npm ci"})  # its result never came
    cid = log.call("Bash", {"command": "npm install"})
    log.result(cid, "added 12 packages", typed="use pnpm, not npm")
    log.answer("Installed with pnpm.").prompt("now deploy")
    log.tool("Bash", {"command": "./deploy.sh"})
    log.write(home)  # the log ends while the second turn works
    code, lines, err = run("show", "44dd0000", home=home)
    assert code == 0
    text = "\n".join(lines)
    assert "3 tool calls (1 without a result)" in text
    assert "no result was recorded for this call" in text
    i = next(k for k, line in enumerate(lines) if "npm install" in line)
    assert lines[i + 1].strip() == "you (mid-turn): use pnpm, not npm"  # right after the call it rode in with
    assert "answer: Installed with pnpm." in text
    assert any(line.startswith("── turn 1") and "incomplete" in line for line in lines)
    assert "… incomplete: no end recorded (still running, or it crashed)" in text


def test_sessions_table_counts_calls_without_a_result_apart(run, tmp_path):
    from claudelog import ClaudeLog

    home = tmp_path / "h"
    log = ClaudeLog("44dd0000-ffff-4000-8000-000000000002").prompt("look")
    log.call("Bash", {"command": "ls"})
    log.tool("Bash", {"command": "false"}, "Exit code 1", is_error=True)
    log.answer("Done.").write(home)
    code, lines, err = run("sessions", home=home)
    assert lines[1].split()[3:6] == ["1", "2", "1+1?"]  # turns, calls, failed (+ without a result)


def test_show_of_a_session_whose_log_is_gone_shows_it_as_the_index_keeps_it(run, tmp_path: Path):
    home = tmp_path / "home"
    shutil.copytree(FIXTURES_HOME / ".claude", home / ".claude")
    log = next(home.glob(".claude/projects/*/11111111-*.jsonl"))
    assert run("index", home=home)[0] == 0
    log.unlink()  # Claude Code deletes logs older than 30 days
    code, lines, err = run("show", "11111111", "--turn", "1", home=home)
    text = "\n".join(lines)
    assert code == 0
    assert text.index("you: Use a + b + c but keep the signature") < text.index("✓ Edit") \
        < text.index("answer: Fixed: `total` now adds all three values.")
    assert "no longer on disk: shown as the index keeps it" in err
