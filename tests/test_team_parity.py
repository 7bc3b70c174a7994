"""The team database answers as the local index does.

The fixture HOME (every agent's logs) is indexed into SQLite and pushed into a real PostgreSQL database;
then every query the API has is asked of both, with many filters, and the answers must be equal, except for
what only the team database says: where each session ran (`machine`, `user`), which must be the pushing
machine's. Two documented differences are checked for what they are instead: search hits come newest first
by the time of their step (the local index lists them by indexing order), and a full tool output comes from
the log on this machine, where the team database has the preview it was pushed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.errors import AgtraceError

pytest.importorskip("psycopg", reason="the PostgreSQL driver is not installed (pip install 'agtrace-mcp[postgres]')")

from pgdb import MACHINE, USER, origins, strip_origin, team_api

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "home"
MAIN_ID = "11111111-1111-4111-8111-111111111111"


def _twin(home: Path, sid: str, cwd: str = "/home/dev/twins") -> None:
    d = home / ".claude/projects/-home-dev-twins"
    d.mkdir(parents=True, exist_ok=True)
    rec = {"parentUuid": None, "isSidechain": False, "type": "user", "sessionId": sid, "uuid": "t-" + sid[-4:],
           "timestamp": "2026-03-01T10:00:00.000Z", "cwd": cwd, "version": "2.1.40",
           "message": {"role": "user", "content": f"twin {sid} Ünïcödé façade naïve_résumé foo.bar(baz) C++ x-y"}}
    (d / f"{sid}.jsonl").write_text(json.dumps(rec) + "\n")


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, pg_databases) -> tuple[Agtrace, Agtrace]:
    home = tmp_path_factory.mktemp("parity") / "home"
    shutil.copytree(FIXTURES, home)
    _twin(home, "abcdef01-0000-4000-8000-000000000001")
    _twin(home, "abcdef02-0000-4000-8000-000000000002")
    cfg = Config.load(env={"HOME": str(home)}, data_dir=home.parent / "data")
    cfg.live_seconds = 0
    cfg.machine, cfg.user = MACHINE, USER  # the local index's own machine and user: the ones pushed
    local = Agtrace(cfg)
    team = team_api(cfg, pg_databases.make())
    yield local, team
    local.close()
    team.close()


def ask(api: Agtrace, name: str, *args: Any, **kw: Any) -> Any:
    """An answer as JSON, or the error it raised (type and message)."""
    try:
        return getattr(api, name)(*args, **kw).model_dump(mode="json")
    except AgtraceError as e:
        return {"error": type(e).__name__, "message": str(e)}


def same(both: tuple[Agtrace, Agtrace], name: str, *args: Any, **kw: Any) -> Any:
    """Ask both; the answers must be equal but for where the sessions ran, which is the pushing machine."""
    local, team = both
    a, b = ask(local, name, *args, **kw), ask(team, name, *args, **kw)
    assert origins(a) == set(), "the local index names no machine"
    assert origins(b) <= {(MACHINE, USER)}
    assert strip_origin(b) == a, f"{name}{args}{kw}"
    return b


def all_sessions(local: Agtrace) -> list[dict[str, Any]]:
    out, cursor = [], None
    while True:
        page = local.list_sessions(include_subagents=True, limit=200, cursor=cursor).model_dump(mode="json")
        out += page["sessions"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


# -- sessions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [
    {}, {"limit": 3}, {"include_subagents": True, "limit": 200}, {"project": "/home/dev/webapp"},
    {"provider": "codex"}, {"provider": "claude_code", "include_subagents": True}, {"since": "2026-01-01"},
    {"until": "2026-01-01"}, {"since": "2025-06-01", "until": "2026-04-01"}, {"query": "fix"}, {"query": "TWIN"},
    {"query": "abcdef01-0000-4000-8000-000000000001"}, {"query": "100%_"}, {"has_failures": True},
    {"has_failures": False}, {"machine": MACHINE}, {"user": USER}, {"machine": "elsewhere"}, {"user": "nobody"},
    {"project": "/nowhere"},
])
def test_list_sessions(both, kw):
    same(both, "list_sessions", **kw)


def test_every_page_of_sessions(both):
    cursor = None
    for _ in range(30):
        page = same(both, "list_sessions", include_subagents=True, limit=4, cursor=cursor)
        cursor = page["next_cursor"]
        if not cursor:
            return
    pytest.fail("more pages than sessions")


def test_every_session_turn_usage_and_analysis(both):
    local, _ = both
    sessions = all_sessions(local)
    assert len(sessions) > 30
    for s in sessions:
        sid = s["session_id"]
        detail = same(both, "get_session", sid)
        same(both, "get_session", sid[:8], turn_limit=1)
        same(both, "analyze_session", sid)
        same(both, "get_usage", sid)
        same(both, "steps_after", sid, last=3)
        same(both, "steps_after", sid, 0, 0, limit=2)
        for t in range(min(detail["turns_total"], 4)):
            same(both, "get_turn", sid, t)
            same(both, "get_turn", sid, t, detail="outline")
            same(both, "get_turn", sid, t, detail="full")
            same(both, "get_usage", sid, turn=t)
            same(both, "get_text", sid, t, "prompt")
            same(both, "get_text", sid, t, "final_answer")
        same(both, "get_turn", sid, -1)
        same(both, "find_failed_tools", session_id=sid)
        same_hits(both, "the", session_id=sid, limit=200)


def test_short_ids_name_each_session_alone(both):
    local, team = both
    ids = [s["session_id"] for s in all_sessions(local)]
    assert local.short_ids(ids) == team.short_ids(ids)


@pytest.mark.parametrize("project", ["/home/dev/webapp", "/home/dev/twins", "/home/dev", "/nowhere"])
def test_current_session(both, project):
    same(both, "current_session", project)
    same(both, "current_session", project, provider="claude_code")


@pytest.mark.parametrize("ref", ["111111", "abcdef", "abc", "zzzzzzzz", "", "11111111-1111-4111-8111-111111111111"])
def test_id_prefixes_and_their_errors(both, ref):
    same(both, "get_session", ref)


def test_turn_out_of_range_and_unknown_call(both):
    same(both, "get_turn", MAIN_ID, 7)
    same(both, "get_usage", MAIN_ID, turn=-9)
    same(both, "get_tool_output", MAIN_ID, "nope")


# -- failures, projects, usage, secrets --------------------------------------------------------


@pytest.mark.parametrize("kw", [
    {}, {"limit": 2}, {"limit": 200}, {"kind": "denied"}, {"kind": "exit_code"}, {"kind": "tool_error"},
    {"tool": "Bash"}, {"provider": "gemini_cli"}, {"project": "/home/dev/webapp"}, {"since": "2026-01-01"},
    {"group_by": "tool"}, {"group_by": "error_kind"}, {"group_by": "error"}, {"group_by": "project"},
    {"group_by": "tool", "limit": 1}, {"machine": MACHINE}, {"machine": "elsewhere"}, {"user": "nobody"},
    {"until": "2026-01-01"}, {"since": "2025-06-01", "until": "2026-05-01", "group_by": "error"},
])
def test_find_failed_tools(both, kw):
    same(both, "find_failed_tools", **kw)


def test_every_page_of_failures(both):
    cursor = None
    for _ in range(50):
        page = same(both, "find_failed_tools", limit=3, cursor=cursor)
        cursor = page["next_cursor"]
        if not cursor:
            return
    pytest.fail("more pages than failures")


@pytest.mark.parametrize("kw", [{}, {"limit": 2}, {"machine": MACHINE}, {"user": "nobody"}])
def test_list_projects(both, kw):
    same(both, "list_projects", **kw)


@pytest.mark.parametrize("kw", [
    {}, {"project": "/home/dev/webapp"}, {"provider": "claude_code"}, {"since": "2026-01-01"},
    {"until": "2026-01-01"}, {"limit": 2}, {"machine": MACHINE}, {"machine": "elsewhere"},
])
def test_usage_of_a_range(both, kw):
    same(both, "get_usage", **kw)


def test_secret_findings(both):
    same(both, "secret_findings")
    same(both, "secret_findings", project="/home/dev/webapp")


def test_projects_name_their_machines(both):
    _, team = both
    assert all(p.machines == [MACHINE] for p in team.list_projects().projects)


# -- search ------------------------------------------------------------------------------------

QUERIES = ["test", "error", "pars*", "fail*", "foo.bar", "foo.bar(baz)", "C++", "x-y", "naive", "resume", "facade",
           "Ünïcödé", "naïve_résumé", "TEST_TOTAL", "the test", "\"quoted\" words", "port 3000", "-- --", "import*",
           "zzzznothing", "exit code", "test OR error", "test NOT pytest", "\"exit code\"", "the OR a NOT b AND c",
           "fail* NOT test", "\"port 3000\" OR twin"]


def _sorted_hits(ans: dict[str, Any]) -> Any:
    if "hits" not in ans:
        return ans
    return {**ans, "hits": sorted(ans["hits"], key=lambda h: json.dumps(h, sort_keys=True))}


def same_hits(both: tuple[Agtrace, Agtrace], query: str, **kw: Any) -> None:
    """The same hits (each one equal: coordinates, snippet, call, session), in either order."""
    local, team = both
    a = ask(local, "search_history", query, **kw)
    b = ask(team, "search_history", query, **kw)
    assert origins(b) <= {(MACHINE, USER)}
    assert _sorted_hits(strip_origin(b)) == _sorted_hits(a), f"search {query!r} {kw}"


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("kw", [{}, {"kind": "tool_output"}, {"kind": ["prompt", "message"]},
                                {"project": "/home/dev/webapp"}, {"provider": "codex"}, {"since": "2026-01-01"},
                                {"machine": "elsewhere"}, {"sort": "relevance"}])
def test_search_finds_the_same_hits(both, query, kw):
    same_hits(both, query, limit=200, **kw)


def test_search_lists_hits_newest_first(both):
    _, team = both
    hits = team.search_history("the", limit=200).hits
    assert len(hits) > 20
    times = [h.at or "" for h in hits]
    # `at` is the turn's start; hits are ordered by their step's time, which is never before it
    assert times == sorted(times, reverse=True) or sum(a < b for a, b in zip(times, times[1:])) <= len(times) // 10


def test_search_refuses_what_the_local_index_refuses(both):
    same(both, "search_history", "   ")
    same(both, "search_history", "x", kind="bogus")


# -- what the team database keeps differently ---------------------------------------------------


def test_a_full_tool_output_is_the_pushed_preview(both):
    local, team = both
    a = local.get_tool_output(MAIN_ID, "toolu_pytest")
    b = team.get_tool_output(MAIN_ID, "toolu_pytest")
    assert (a.source, b.source) == ("log", "index")
    assert a.total_chars <= 1100 and b.text == a.text  # short outputs are pushed whole


def test_show_rebuilds_a_session_from_its_rows(both):
    local, team = both
    a, b = local.load_session(MAIN_ID), team.load_session(MAIN_ID)
    assert [len(t.steps) for t in b.turns] == [len(t.steps) for t in a.turns]
    assert [(c.call_id, c.status) for t in b.turns for s in t.steps for c in s.tools] == \
           [(c.call_id, c.status) for t in a.turns for s in t.steps for c in s.tools]
    assert b.stats == a.stats


@pytest.mark.parametrize("query", ["naive", "resume", "facade", "unicode", "foo.bar", "foo.bar(baz)", "C++", "x-y",
                                   "résumé", "FAÇADE", "twin", "tw*", "test_total"])
def test_search_folds_case_diacritics_and_punctuation_as_the_local_index_does(both, query):
    local, team = both
    assert local.search_history(query, limit=200).hits, "the fixture has this"
    same_hits(both, query, limit=200)


@pytest.mark.parametrize("window,common", [(1, True), (3, True), (40, True), (10_000, True), (8_000, False)])
@pytest.mark.parametrize("query,kw", [("the", {}), ("test", {"kind": "tool_output"}), ("fail*", {}),
                                      ("the", {"project": "/home/dev/webapp"}), ("twin", {"kind": "prompt"})])
def test_search_pages_are_the_newest_first_list_whichever_way_it_is_read(both, monkeypatch, window, common, query,
                                                                           kw):
    """A word taken as common is looked for in the newest `window` documents in order, then through the word
    index in the older ones; a rare one through the word index only: the same hits, and paging through them
    gives the whole list in the same order."""
    from agtrace_mcp.store.postgres import queries as pgq

    _, team = both
    whole = team.search_history(query, limit=200, **kw).model_dump(mode="json")["hits"]
    monkeypatch.setattr(pgq, "WINDOW", window)
    monkeypatch.setattr(pgq, "_estimate", lambda *a: 1e12 if common else 0.0)
    same_hits(both, query, limit=200, **kw)
    assert team.search_history(query, limit=200, **kw).model_dump(mode="json")["hits"] == whole
    paged, cursor = [], None
    for _ in range(100):
        page = team.search_history(query, limit=2, cursor=cursor, **kw)
        paged += page.model_dump(mode="json")["hits"]
        cursor = page.next_cursor
        if not cursor:
            break
    assert paged == whole
