"""What a user gets from `pip install agtrace-mcp` (a wheel), not from a checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import FIXTURES_HOME, ROOT

from agtrace_mcp import cli
from agtrace_mcp.errors import AgtraceError


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (whl,) = out.glob("agtrace_mcp-*.whl")
    return whl


def test_the_wheel_ships_every_demo_log_inside_the_package(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"agtrace_mcp/_demo/home/" + p.relative_to(FIXTURES_HOME).as_posix()
                for p in FIXTURES_HOME.rglob("*") if p.is_file()}
    assert expected  # hidden folders (.claude, .codex, .gemini…) included
    assert expected <= names


def test_the_wheel_has_the_console_script_and_no_tests(wheel: Path):
    z = zipfile.ZipFile(wheel)
    entry = next(n for n in z.namelist() if n.endswith("entry_points.txt"))
    assert "agtrace-mcp = agtrace_mcp.cli:main" in z.read(entry).decode()
    assert not any(n.startswith("tests/") for n in z.namelist())


def test_demo_home_uses_the_packaged_copy_when_there_is_no_checkout(tmp_path: Path, monkeypatch):
    pkg = tmp_path / "site-packages" / "agtrace_mcp"
    (pkg / "_demo" / "home" / ".claude").mkdir(parents=True)
    monkeypatch.setattr(cli, "__file__", str(pkg / "cli.py"))
    assert cli.demo_home() == pkg / "_demo" / "home"


def test_demo_home_missing_is_a_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(cli, "__file__", str(tmp_path / "agtrace_mcp" / "cli.py"))
    with pytest.raises(AgtraceError, match="reinstall"):
        cli.demo_home()
