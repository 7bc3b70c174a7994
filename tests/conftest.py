"""Shared test fixtures: the bundled fixture HOME and the optional real-log corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES_HOME = ROOT / "fixtures" / "home"
CORPUS = Path(os.environ.get("AGTRACE_MCP_CORPUS", ROOT.parent / "shared" / "corpus"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fixtures_home() -> Path:
    return FIXTURES_HOME


def require_corpus() -> Path:
    """The real-log corpus. Absent next to the checkout: the test is skipped (and the run ends with a warning
    saying how many); absent where AGTRACE_MCP_CORPUS points (as in CI): the test fails."""
    if not CORPUS.is_dir():
        if os.environ.get("AGTRACE_MCP_CORPUS"):
            pytest.fail(f"AGTRACE_MCP_CORPUS={CORPUS} is not a folder: the tests on real logs cannot run")
        _MISSED.append(1)
        pytest.skip(f"real-log corpus not found at {CORPUS}")
    return CORPUS


_MISSED: list[int] = []


@pytest.fixture
def corpus() -> Path:
    """The real-log corpus next to the checkout (see `require_corpus`)."""
    return require_corpus()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _MISSED:
        n = sum(1 for r in terminalreporter.stats.get("skipped", []) if "real-log corpus" in str(r.longrepr))
        terminalreporter.write_line(
            f"WARNING: {n} tests on real agent logs were SKIPPED: no corpus at {CORPUS} "
            "(set AGTRACE_MCP_CORPUS to the shared/corpus folder)", red=True, bold=True)


@pytest.fixture(scope="session")
def corpus_root() -> Path:
    """The corpus for module-scoped fixtures (an index built once per module; see `require_corpus`)."""
    return require_corpus()
