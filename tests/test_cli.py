"""The human CLI's text output: readable in a standard 80-column terminal."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES_HOME

from agtrace_mcp.cli import main as cli_main


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("COLUMNS", "80")

    def run(*args: str) -> list[str]:
        assert cli_main([*args, "--home", str(FIXTURES_HOME), "--data-dir", str(tmp_path / "d")]) == 0
        return capsys.readouterr().out.splitlines()

    return run


def test_failures_put_each_error_on_its_own_line_within_80_columns(run):
    lines = run("failures", "--limit", "50")
    assert all(len(line) <= 80 for line in lines)
    assert lines.pop() == f"{len(lines) // 2} of 30 failures"
    errors = [line for line in lines if line.startswith("    ")]
    records = [line for line in lines if not line.startswith("    ")]
    assert [line.startswith("    ") for line in lines] == [False, True] * len(records)
    assert records and len(errors) == len(records)
    assert any("exit_code 7" in line for line in records)
    assert any("make: *** [all] Error 7" in line for line in errors)


def test_sessions_keep_whole_headers_and_the_title_within_80_columns(run):
    lines = run("sessions", "--limit", "5")
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].split() == ["id", "agent", "last", "activity", "turns", "tools", "failed", "title"]


def test_each_copy_of_the_demo_logs_gets_its_own_demo_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from agtrace_mcp import cli

    copy = tmp_path / "site-packages" / "agtrace_mcp" / "_demo" / "home"
    copy.parent.mkdir(parents=True)
    shutil.copytree(FIXTURES_HOME, copy)
    dirs = []
    files = None
    for home in (FIXTURES_HOME, copy):
        monkeypatch.setattr(cli, "demo_home", lambda home=home: home)
        args = cli.build_parser().parse_args(["sessions", "--demo", "--data-dir", str(tmp_path / "d")])
        api = cli.make_api(args)
        dirs.append(api.config.data_dir)
        if files is None:
            files = {p.provider: p.files for p in api.doctor().providers}
        assert api.list_sessions(limit=50).total == 34
        # this copy's files only: the other copy's are not in this index
        assert {p.provider: p.files for p in api.doctor().providers} == files
        api.close()
    assert dirs[0] != dirs[1]


def test_search_hits_wrap_under_their_indent_within_80_columns(run):
    lines = run("search", "error", "--limit", "5")
    assert all(len(line) <= 80 for line in lines)
    assert lines[-1].startswith("5 hits; next page: --cursor ")
    body = [line for line in lines[:-1] if not line[:1].isalnum()]  # everything but the hit headers
    assert body and all(line.startswith("  ") and not line.endswith(" ") for line in body)
