"""The CLI as a person sees it: run in a real pseudo-terminal 80 and 120 columns wide (and piped, for
contrast), on the fixture logs and on a generated corpus of a few MB."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES_HOME, ROOT, indexed_total
from pty_run import in_terminal, piped, plain

from agtrace_mcp.cli import main as cli_main

WIDTHS = [80, 120]


@pytest.fixture(scope="module")
def home_8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture logs without the Copilot ones, whose made-up ids share their first 35 characters (real
    Copilot ids are random UUIDs): every id here is told apart by its first 8 to 10."""
    home = tmp_path_factory.mktemp("home8") / "home"
    shutil.copytree(FIXTURES_HOME, home, ignore=shutil.ignore_patterns(".copilot"))
    return home


@pytest.fixture(scope="module")
def big_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated HOME of about 5 MB of logs: enough to index that the progress bar shows."""
    home = tmp_path_factory.mktemp("big") / "home"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--size-mb", "5", "--big-session-mb", "1",
                    "--quiet", str(home)], check=True, timeout=300)
    return home


def rows_of(output: str) -> list[str]:
    """The table lines of a `sessions` output (header first), without the footer."""
    lines = [line for line in plain(output).splitlines() if line.strip()]
    return [line for line in lines if not re.match(r"\d+ of \d+ sessions", line)]


@pytest.mark.parametrize("columns", WIDTHS)
def test_sessions_show_the_id_column_within_the_terminal_width(columns: int, home_8: Path, tmp_path: Path):
    code, out = in_terminal(["sessions", "--limit", "50", "--home", str(home_8), "--data-dir", str(tmp_path)],
                            columns)
    rows = rows_of(out)
    assert code == 0
    assert rows[0].split()[:3] == ["id", "when", "agent"] and rows[0].split()[-2:] == ["title", "project"]
    assert all(len(line) <= columns for line in rows)
    ids = [line.split()[0] for line in rows[1:]]
    assert len(ids) == min(50, indexed_total(home_8, tmp_path)) and all(len(i) >= 8 for i in ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("columns", WIDTHS)
def test_every_id_prefix_shown_opens_with_show(columns: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    where = ["--home", str(FIXTURES_HOME), "--data-dir", str(tmp_path)]
    code, out = in_terminal(["sessions", "--limit", "50", *where], columns)
    ids = [line.split()[0] for line in rows_of(out)[1:]]
    assert len(ids) == min(50, indexed_total(FIXTURES_HOME, tmp_path))
    for prefix in ids:
        assert cli_main(["show", prefix, "--json", *where]) == 0, prefix
        assert f'"session_id": "{prefix}' in capsys.readouterr().out


def test_a_title_cut_to_fit_ends_with_a_marker_after_a_whole_word(home_8: Path, tmp_path: Path):
    code, out = in_terminal(["sessions", "--provider", "codex", "--home", str(home_8), "--data-dir", str(tmp_path)], 80)
    titles = [line for line in rows_of(out)[1:] if "…" in line]
    assert titles
    assert any(re.search(r"\w…", line) for line in titles)
    full = {"refactor the pricing module", "which Python version does this project use?"}
    assert not any(t in plain(out) for t in full)


def test_the_empty_home_message_in_a_terminal(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    code, out = in_terminal(["sessions", "--home", str(home), "--data-dir", str(tmp_path / "d")], 80)
    text = plain(out)
    assert code == 0
    assert "no agent logs found. Looked in:" in text
    assert "Claude Code" in text and "CLAUDE_CONFIG_DIR" in text and "Codex CLI" in text and "CODEX_HOME" in text
    assert "agtrace-mcp sessions --demo" in text and "agtrace-mcp doctor" in text


def test_a_missing_home_in_a_terminal_is_one_line_and_creates_nothing(tmp_path: Path):
    code, out = in_terminal(["sessions"], 80, HOME=str(tmp_path / "gone"))
    assert code == 2
    assert len(plain(out).strip().splitlines()) == 1
    assert not (tmp_path / "gone").exists()


@pytest.mark.parametrize("command", [["sessions"], ["search", "error"], ["failures"]])
def test_the_first_run_shows_a_progress_bar_on_a_terminal(command: list[str], big_home: Path, tmp_path: Path):
    code, out = in_terminal([*command, "--home", str(big_home), "--data-dir", str(tmp_path)], 80)
    text = plain(out)
    assert code == 0
    assert re.search(r"indexing .* [\d.]+/[\d.]+ MB +\d+ files ETA", text)


def test_no_progress_bar_when_piped(big_home: Path, tmp_path: Path):
    res = piped(["sessions", "--home", str(big_home), "--data-dir", str(tmp_path)])
    assert res.returncode == 0
    assert "indexing" not in res.stderr and "\x1b" not in res.stderr + res.stdout


def test_no_progress_bar_once_the_index_is_up_to_date(home_8: Path, tmp_path: Path):
    where = ["--home", str(home_8), "--data-dir", str(tmp_path)]
    in_terminal(["index", *where], 80)
    code, out = in_terminal(["sessions", *where], 80)
    assert "indexing" not in plain(out)


def test_colour_on_a_terminal_and_none_with_no_color(home_8: Path, tmp_path: Path):
    args = ["show", "11111111", "--home", str(home_8), "--data-dir", str(tmp_path)]
    coloured = in_terminal(args, 80)[1]
    uncoloured = in_terminal(args, 80, NO_COLOR="1")[1]
    assert re.search(r"\x1b\[[0-9;]*3[12]m", coloured)  # green ✓ / red ✗
    assert not re.search(r"\x1b\[[0-9;]*3[0-9]m", uncoloured)
    assert plain(coloured) == plain(uncoloured)


def test_failures_fit_80_columns_with_headers(home_8: Path, tmp_path: Path):
    code, out = in_terminal(["failures", "--limit", "50", "--home", str(home_8), "--data-dir", str(tmp_path)], 80)
    lines = [line for line in plain(out).splitlines() if line.strip()]
    assert lines[0].split() == ["when", "session", "turn.step", "tool", "failure"]
    assert all(len(line) <= 80 for line in lines[:-1])


def test_a_page_footer_too_long_for_the_terminal_puts_the_cursor_on_its_own_line(home_8: Path, tmp_path: Path):
    code, out = in_terminal(["failures", "--limit", "1", "--home", str(home_8), "--data-dir", str(tmp_path)], 80)
    lines = [line for line in plain(out).splitlines() if line.strip()]
    assert code == 0 and all(len(line) <= 80 for line in lines)
    assert lines[-2].endswith("(turn.step: read it with show ID --turn N);")
    assert lines[-1].startswith("next page: --cursor ")


def test_search_hits_wrap_under_their_indent_within_80_columns(home_8: Path, tmp_path: Path):
    code, out = in_terminal(["search", "error", "--limit", "5", "--home", str(home_8), "--data-dir", str(tmp_path)], 80)
    lines = [line for line in plain(out).splitlines() if line.strip()]
    assert all(len(line) <= 80 for line in lines[:-1])
    assert lines[-1].startswith("5 hits; next page: --cursor ")
    body = [line for line in lines[:-1] if not line[:1].isalnum()]  # everything but the hit headers
    assert body and all(line.startswith("  ") and not line.endswith(" ") for line in body)
