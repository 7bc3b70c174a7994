"""ToyAgent's provider, through agtrace-mcp's public surfaces: the bare-file loader, the indexed API, the CLI.

Needs the plugin installed beside agtrace-mcp (`pip install -e examples/provider-plugin`): agtrace-mcp finds it
through its entry point, exactly as it would for a user.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agtrace_mcp import load_session
from agtrace_mcp.api import Agtrace
from agtrace_mcp.cli import main
from agtrace_mcp.config import Config
from agtrace_mcp.providers import REGISTRY, detect_provider

HOME = Path(__file__).parent / "home"
LOG = HOME / ".toyagent" / "sessions" / "toy-7f3a9c21.jsonl"
SID = "toy-7f3a9c21"


@pytest.fixture
def api(tmp_path: Path) -> Agtrace:
    return Agtrace(Config.load(env={"HOME": str(HOME)}, home=HOME, data_dir=tmp_path / "data"))


def test_agtrace_finds_the_plugin_through_its_entry_point():
    prov = REGISTRY["toyagent"]
    assert prov.label == "ToyAgent"
    assert not [p for p in REGISTRY.problems if "toyagent" in p.entry_point]


def test_a_log_is_recognised_by_its_location_and_by_its_first_record(tmp_path: Path):
    assert detect_provider(str(LOG)) == "toyagent"
    elsewhere = tmp_path / "copy.jsonl"
    shutil.copy(LOG, elsewhere)
    assert detect_provider(str(elsewhere)) == "toyagent"


def test_a_prompt_starts_a_turn_and_the_rest_belongs_to_it():
    s = load_session(LOG)
    assert (s.session_id, s.provider, s.project_root) == (SID, "toyagent", "/home/dev/toyshop")
    assert [t.user.text for t in s.turns] == ["Run the tests and fix what fails", "Deploy it"]
    assert [[t.call_id for st in turn.steps for t in st.tools] for turn in s.turns] == [
        ["c1", "c2", "c3", "c4"], ["c5"]]


def test_a_non_zero_exit_code_is_a_failure_of_kind_exit_code():
    s = load_session(LOG)
    tools = {t.call_id: t for turn in s.turns for st in turn.steps for t in st.tools}
    assert tools["c1"].status == "error" and tools["c1"].error is not None
    assert (tools["c1"].error.kind, tools["c1"].error.exit_code) == ("exit_code", 1)
    assert tools["c1"].error.message.startswith("FAILED tests/test_cart.py::test_total")
    assert (tools["c5"].error.kind, tools["c5"].error.exit_code) == ("exit_code", 2)
    assert all(tools[c].status == "ok" for c in ("c2", "c3", "c4"))
    assert s.stats.failed_tools == 2


def test_an_answer_carries_the_tokens_and_ends_the_turn():
    s = load_session(LOG)
    assert (s.stats.input, s.stats.output) == (2700, 105)
    assert s.turns[0].steps[-1].message == "The total was off by one; fixed in src/cart.py and the tests pass."
    assert [t.status for t in s.turns] == ["completed", "completed"]


def test_the_index_lists_it_and_answers_about_it(api: Agtrace):
    listed = api.list_sessions(provider="toyagent")
    assert [x.session_id for x in listed.sessions] == [SID]
    failures = api.find_failed_tools(session_id=SID)
    assert sorted((f.call_id, f.exit_code) for f in failures.failures) == [("c1", 1), ("c5", 2)]
    hits = api.search_history("deploy", session_id=SID)
    assert any(h.session_id == SID for h in hits.hits)


def test_toyagent_home_moves_the_logs(tmp_path: Path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(HOME / ".toyagent", moved)
    cfg = Config.load(env={"HOME": str(tmp_path), "TOYAGENT_HOME": str(moved)}, home=tmp_path,
                      data_dir=tmp_path / "data")
    assert cfg.roots["toyagent"] == [moved / "sessions"]
    assert [s.session_id for s in Agtrace(cfg).list_sessions().sessions] == [SID]


def test_the_cli_shows_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["show", SID, "--json", "--home", str(HOME), "--data-dir", str(tmp_path / "data")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["provider"] == "toyagent" and len(doc["turns"]) == 2
