"""Search that means what it says (issue 12, point 5): quoted phrases match exactly, relevance beside newest
first, whole-word highlights, a hit dated by the step that holds it, tool outputs with their call's status, and
a query read in a way the user may not expect says so."""

from __future__ import annotations

import pytest
from claudelog import ClaudeLog
from conftest import api_on

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.errors import BadArgumentError

OLD = "22bb0000-dddd-4000-8000-000000000001"
NEW = "22bb0000-dddd-4000-8000-000000000002"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, backend: str, request: pytest.FixtureRequest) -> Agtrace:
    """Over the local index, and over a team database the same logs were pushed to (`backend`)."""
    home = tmp_path_factory.mktemp("search") / "home"
    log = ClaudeLog(OLD, start="2026-06-01T09:00:00").prompt("why does the parser fail on nested quotes")
    log.tool("Bash", {"command": "pytest tests/test_parser.py"},
             "Exit code 1\nFAILED tests/test_parser.py::test_nested - connection refused by the mock", is_error=True)
    log.answer("The parser drops the escape: connection is refused because the mock is down. "
               "connection refused connection refused").write(home)
    # an hour later: words of the phrase apart, a String type, and a C++ build
    log = ClaudeLog(NEW, start="2026-06-01T10:00:00").prompt("the connection was fine but it was refused later")
    for _ in range(5):
        log.tool("Read", {"file_path": "/home/dev/app/src/Strings.cpp"}, "std::String in C++ is not a String")
    log.tool("Bash", {"command": "make build"}, "g++ -c x.cpp: ok")
    log.answer("Done: it is in the String class.").write(home)
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path_factory.mktemp("sdata"))
    cfg.live_seconds = 0
    a = api_on(backend, cfg, request)
    a.refresh()
    yield a
    a.close()


def test_a_quoted_phrase_matches_only_the_words_together(api: Agtrace):
    loose = {h.session_id for h in api.search_history("connection refused").hits}
    phrase = {h.session_id for h in api.search_history('"connection refused"').hits}
    assert loose == {OLD, NEW} and phrase == {OLD}


def test_newest_first_and_by_relevance(api: Agtrace):
    newest = api.search_history("connection refused")
    assert newest.sort == "newest" and newest.hits[0].session_id == NEW
    ranked = api.search_history("connection refused", sort="relevance")
    # the answer that says it three times ranks first
    assert ranked.sort == "relevance" and (ranked.hits[0].session_id, ranked.hits[0].kind) == (OLD, "message")


def test_highlights_mark_whole_words_only(api: Agtrace):
    hit = next(h for h in api.search_history("in", kind="tool_output").hits)
    assert "«in»" in hit.snippet
    assert "Str«in»g" not in hit.snippet and "«in»g" not in hit.snippet
    prefix = api.search_history("Str*", kind="tool_output").hits[0]
    assert "«Strings»" in prefix.snippet or "«String»" in prefix.snippet


def test_a_hit_is_dated_by_the_step_that_holds_it(api: Agtrace):
    hit = next(h for h in api.search_history("build", kind="tool_call").hits if h.session_id == NEW)
    turn_start = api.get_turn(NEW, 0).started_at
    step = api.get_turn(NEW, 0, detail="full").steps[hit.step_index]
    assert hit.at == step.started_at and hit.at != turn_start


def test_a_tool_output_hit_carries_the_calls_status_and_error_kind(api: Agtrace):
    [hit] = [h for h in api.search_history("nested", kind="tool_output").hits]
    assert (hit.status, hit.error_kind) == ("error", "exit_code")
    ok = next(h for h in api.search_history("std", kind="tool_output").hits)
    assert (ok.status, ok.error_kind) == ("ok", None)


def test_a_query_of_single_letters_says_how_it_was_read(api: Agtrace):
    res = api.search_history("C++")
    assert res.read_as.startswith("c — 'C++' is read as 'c'")
    assert api.search_history("connection").read_as is None


def test_operators_in_capitals_are_operators_and_say_so(api: Agtrace):
    either = api.search_history("nested OR Strings")
    assert {h.session_id for h in either.hits} == {OLD, NEW} and either.read_as.startswith("nested OR strings")
    minus = api.search_history("connection NOT fine")
    assert {h.session_id for h in minus.hits} == {OLD} and "NOT" in minus.read_as
    word = api.search_history("fine or refused")
    assert "'or' is searched as a word" in word.read_as


def test_a_query_with_nothing_to_search_for_is_an_error(api: Agtrace):
    with pytest.raises(BadArgumentError, match="no letters or digits"):
        api.search_history("++ --")


def test_corpus_output_hits_carry_the_failure_and_the_time_of_their_step(codex_169_steps):
    a = codex_169_steps
    res = a.search_history('"timed out waiting for condition"', kind="tool_output")
    failed = [h for h in res.hits if h.status == "error"]
    assert failed and all(h.error_kind == "exit_code" for h in failed)
    steps = {s.index: s.started_at for s in a.get_turn("019fb117", 0, detail="full", cursor=None).steps}
    for h in failed:
        if h.step_index in steps:
            assert h.at == steps[h.step_index]
    assert all("«timed» «out» «waiting» «for» «condition»" in h.snippet for h in res.hits)
