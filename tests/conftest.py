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


@pytest.fixture
def corpus() -> Path:
    """The real-log corpus next to the checkout; tests using it skip cleanly when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"real-log corpus not found at {CORPUS}")
    return CORPUS
