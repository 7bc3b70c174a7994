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
    if _PG_MISSED:
        n = sum(1 for r in terminalreporter.stats.get("skipped", [])
                if "PostgreSQL is not available" in str(r.longrepr))
        terminalreporter.write_line(
            f"WARNING: {n} tests of the team database (PostgreSQL) were SKIPPED: {_PG_MISSED[0]}", red=True, bold=True)
    if _MISSED:
        n = sum(1 for r in terminalreporter.stats.get("skipped", []) if "real-log corpus" in str(r.longrepr))
        terminalreporter.write_line(
            f"WARNING: {n} tests on real agent logs were SKIPPED: no corpus at {CORPUS} "
            "(set AGTRACE_MCP_CORPUS to the shared/corpus folder)", red=True, bold=True)


@pytest.fixture(scope="session")
def corpus_root() -> Path:
    """The corpus for module-scoped fixtures (an index built once per module; see `require_corpus`)."""
    return require_corpus()


CODEX_169_STEPS = "v0.145.0_exec-nonzero-exit_compacted_019fb117.jsonl"  # polls, exit codes, an unfinished turn


@pytest.fixture
def codex_169_steps(corpus_root: Path, tmp_path: Path):
    """An API over one real Codex log (session 019fb117: 169 steps, failed polls of `make runtime-e2e`), laid
    out as Codex lays it out and never treated as live."""
    import shutil

    from agtrace_mcp.api import Agtrace
    from agtrace_mcp.config import Config

    home = tmp_path / "home"
    day = home / ".codex" / "sessions" / "2026" / "07" / "30"
    day.mkdir(parents=True)
    src = corpus_root / "codex" / CODEX_169_STEPS
    shutil.copy(src, day / f"rollout-2026-07-30T00-00-00-{src.stem}.jsonl")
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path / "d")
    cfg.live_seconds = 0
    return Agtrace(cfg)


# -- a real PostgreSQL server for the team-database tests -----------------------------------------------

_PG_MISSED: list[str] = []
#
# AGTRACE_MCP_TEST_PG names a server (its admin URL); without it the tests start one of their own when this
# machine has PostgreSQL's programs (tests/pgserver.py), and skip, saying why, when it has not. CI
# (`.ci/run`) starts the server itself and sets AGTRACE_MCP_REQUIRE_PG=1: there, no server is a failure.


@pytest.fixture(scope="session")
def pg_admin(tmp_path_factory: pytest.TempPathFactory):
    """The admin URL of a running PostgreSQL server."""
    url = os.environ.get("AGTRACE_MCP_TEST_PG")
    if url:
        yield url
        return
    import tempfile

    from pgserver import NoPostgres, start, stop

    folder = Path(tempfile.mkdtemp(prefix="agtrace-test-pg-"))
    try:
        url = start(folder)
    except NoPostgres as e:
        folder.rmdir()
        if os.environ.get("AGTRACE_MCP_REQUIRE_PG"):
            pytest.fail(f"PostgreSQL is required here (AGTRACE_MCP_REQUIRE_PG): {e}")
        _PG_MISSED.append(str(e))
        pytest.skip(f"PostgreSQL is not available: {e}")
    try:
        yield url
    finally:
        stop(folder)
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_databases(pg_admin: str):
    """Makes fresh databases on the test server (`make()` → URL); drops them all at the end."""
    pytest.importorskip("psycopg",
                        reason="the PostgreSQL driver is not installed (pip install 'agtrace-mcp[postgres]')")
    from pgdb import Databases

    dbs = Databases(pg_admin)
    yield dbs
    dbs.drop_all()


@pytest.fixture
def pg_url(pg_databases) -> str:
    """A fresh, empty database for one test."""
    return pg_databases.make()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which store a module's API-level tests run on: this machine's index, or a team database the same logs
    were pushed to (tests that use it run on both and expect the same answers)."""
    return request.param


def api_on(backend: str, cfg, request: pytest.FixtureRequest):
    """The API over `cfg`'s logs, answering from `backend` (for "postgres": indexed, pushed to a fresh
    database, answered from it)."""
    from agtrace_mcp.api import Agtrace

    if backend == "sqlite":
        return Agtrace(cfg)
    dbs = request.getfixturevalue("pg_databases")
    from pgdb import team_api

    return team_api(cfg, dbs.make())



def indexed_total(home: Path, data_dir: Path, what: str = "sessions") -> int:
    """How many sessions (or failures) the index of `home` holds, as the CLI's JSON says: tests compare with
    this instead of pinning the fixtures' count, which every new fixture would change."""
    import contextlib
    import io
    import json

    from agtrace_mcp.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([what, "--json", "--limit", "1", "--home", str(home), "--data-dir", str(data_dir)]) == 0
    return int(json.loads(out.getvalue())["total"])
