"""`--project` scope holds for everything (issue 16, point 4): a subagent recorded under another project is
invisible (not listed, not rolled into usage, never named as a child or parent), and project roots are
compared normalised, so `A/../shop` is not inside A."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from indexcheck import api_over

from agtrace_mcp.errors import NotFoundError

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "home"
PARENT = "33333333-3333-4333-8333-333333333333"
CHILD = "a1b2c3d4e5f607182"
AGENT = f".claude/projects/-home-dev-webapp/{PARENT}/subagents/agent-{CHILD}.jsonl"
WEBAPP = "/home/dev/webapp"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The fixtures, with the subagent of session 3333… recorded under another project."""
    h = tmp_path / "home"
    shutil.copytree(FIXTURES, h)
    agent = h / AGENT
    agent.write_text(agent.read_text().replace(f'"cwd": "{WEBAPP}"', '"cwd": "/home/dev/elsewhere"'))
    escaping = h / ".claude/projects/-home-dev-webapp/dddddddd-0000-4000-8000-00000000000d.jsonl"
    escaping.write_text(json.dumps({
        "type": "user", "sessionId": escaping.stem, "uuid": "u1", "parentUuid": None,
        "cwd": f"{WEBAPP}/../shop", "timestamp": "2026-05-04T10:00:00.000Z",
        "message": {"role": "user", "content": "outside webapp, by a detour"}}) + "\n")
    return h


def _scoped(home: Path, tmp_path: Path, name: str = "d"):
    api = api_over(home, tmp_path / name)
    api.config.projects = [WEBAPP]
    api.store.scope.roots = [WEBAPP]
    return api


def test_without_a_scope_the_subagent_is_listed_and_rolled_up(home: Path, tmp_path: Path):
    api = api_over(home, tmp_path / "all")
    assert CHILD in [k.session_id for k in api.get_session(PARENT).subagents]
    assert api.get_usage(PARENT).subagents == 1


def test_a_subagent_under_another_project_is_invisible_in_scope(home: Path, tmp_path: Path):
    api = _scoped(home, tmp_path)
    detail = api.get_session(PARENT)
    assert detail.subagents == []
    assert CHILD not in detail.model_dump_json()
    usage = api.get_usage(PARENT)
    assert usage.subagents == 0 and usage.subagent_tokens is None
    turns = [api.get_turn(PARENT, i) for i in range(detail.turns_total)]
    assert all(CHILD not in t.model_dump_json() for t in turns)
    for turn in range(detail.turns_total):
        assert api.get_usage(PARENT, turn=turn).subagents == 0
    assert CHILD not in api.get_usage(project=WEBAPP).model_dump_json()
    unscoped = api_over(home, tmp_path / "all").get_usage(project=WEBAPP)
    assert api.get_usage(project=WEBAPP).subagents == unscoped.subagents - 1
    assert CHILD not in json.dumps(api.load_session(PARENT).model_dump(mode="json"))
    assert CHILD not in api.steps_after(PARENT).model_dump_json()  # what `watch` shows
    listed = api.list_sessions(include_subagents=True, limit=200)
    assert CHILD not in {s.session_id for s in listed.sessions}
    with pytest.raises(NotFoundError):
        api.get_session(CHILD)


def test_a_cwd_that_leaves_the_project_by_dotdot_is_outside_it(home: Path, tmp_path: Path):
    sid = "dddddddd-0000-4000-8000-00000000000d"
    everything = api_over(home, tmp_path / "all")
    assert everything.get_session(sid).session.project_root == "/home/dev/shop"
    assert sid in {s.session_id for s in everything.list_sessions(project="/home/dev/shop").sessions}
    api = _scoped(home, tmp_path)
    with pytest.raises(NotFoundError):
        api.get_session(sid)
    assert sid not in {s.session_id for s in api.list_sessions(limit=200).sessions}
    assert sid not in {s.session_id for s in api.list_sessions(project=f"{WEBAPP}/..", limit=200).sessions}
    assert all(p.project_root == WEBAPP for p in api.list_projects().projects)


def test_a_scope_or_project_given_with_dots_or_a_trailing_slash_means_the_same_folder(home: Path, tmp_path: Path):
    api = api_over(home, tmp_path / "all")
    plain = {s.session_id for s in api.list_sessions(project=WEBAPP, limit=200).sessions}
    assert plain
    assert {s.session_id for s in api.list_sessions(project=WEBAPP + "/", limit=200).sessions} == plain
    assert {s.session_id for s in api.list_sessions(project="/home/dev/x/../webapp", limit=200).sessions} == plain
