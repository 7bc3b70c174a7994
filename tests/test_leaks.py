"""No planted secret comes back, in full or in part, through any surface (issue 16, point 1).

Every format SECURITY.md documents (and the evasions the masker used to miss) is planted in every free-text
field of every agent's logs — a `.zst` Codex rollout and an OpenCode database included — some of them back to
back, so that every cut of a text cuts a secret. Then every tool, resource, prompt, page size and offset and
every CLI `--json` command is read back, and no answer may hold 8 or more characters of a secret's body.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from leakcheck import (
    Collector,
    api_answers,
    by_kind,
    cli_answers,
    full_leaks,
    iter_planted,
    leaks,
    mcp_answers,
    planted_home,
    summarise,
)

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.providers import REGISTRY


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("leaks")
    home, plant = planted_home(tmp)
    data = tmp / "data"
    cfg = Config.load(env={"HOME": str(home)}, data_dir=data)
    cfg.refresh_interval = 3600  # indexed once below; the sweeps need no freshness checks
    cfg.live_seconds = 0
    api = Agtrace(cfg)
    api.refresh()
    yield home, data, plant, api
    api.close()


def test_the_planted_logs_reach_every_agent(planted):
    _, _, plant, api = planted
    providers = {s.provider for s in api.list_sessions(include_subagents=True, limit=200).sessions}
    # every built-in agent (a provider plugin installed beside agtrace-mcp has no planted logs)
    assert providers == {n for n, p in REGISTRY.items() if type(p).__module__.startswith("agtrace_mcp.")}
    assert len(plant.planted) > 2000
    assert {p.kind for p in plant.planted} >= {"aws_access_key", "turkish_i", "json_escaped_newline", "dotted"}


def test_no_secret_comes_back_through_the_api(planted):
    _, _, plant, api = planted
    col = Collector()
    api_answers(api, col)
    found = leaks(plant, col.answers)
    assert not found, f"{len(found)} secrets leaked {by_kind(plant, found)}:\n{summarise(plant, found)[:4000]}"
    assert sum(a.count("[REDACTED:") for _, a in col.answers) > 1000  # the planted text was read, masked


async def test_no_secret_comes_back_through_mcp_tools_resources_and_prompts(planted):
    _, _, plant, api = planted
    col = Collector()
    await mcp_answers(api, col)
    found = leaks(plant, col.answers)
    assert not found, f"{len(found)} secrets leaked {by_kind(plant, found)}:\n{summarise(plant, found)[:4000]}"


def test_no_secret_comes_back_through_the_cli(planted):
    home, data, plant, api = planted
    col = Collector()
    cli_answers(home, data, api, col)
    found = leaks(plant, col.answers)
    assert not found, f"{len(found)} secrets leaked {by_kind(plant, found)}:\n{summarise(plant, found)[:4000]}"


def test_search_is_not_an_oracle_for_a_secret(planted):
    """Whether a search hits must not depend on a secret's characters: the index holds masked text only."""
    _, _, plant, api = planted
    key = next(iter_planted(plant, "aws_access_key"))
    body = key.bodies[0]
    for c in string.ascii_uppercase + string.digits:
        assert api.search_history(f"AKIA{c}*").hits == [], c
    for q in (body, body[:8] + "*", key.text, f"AKIA{body}"):
        assert api.search_history(q).hits == [], q
    # the place is still found, by the fingerprint the masked text keeps
    hits = api.search_history(f"REDACTED {body[-4:]}", limit=200).hits
    assert hits and all(body not in h.snippet for h in hits)


def test_secret_findings_list_every_planted_format_without_values(planted):
    _, _, plant, api = planted
    res = api.secret_findings(limit=200)
    text = res.model_dump_json()
    assert res.total > 1000
    assert not leaks(plant, [("secret_findings", text)])
    types = {f.type for f in res.findings}
    assert {"aws_access_key", "github_token", "credential", "private_key", "jwt"} <= types


def count_leaks(dest: Path) -> dict[str, object]:
    """The number of planted secrets that leak through each surface (for the issue's before/after note):
    `python -c "import sys; sys.path.insert(0, 'tests'); import test_leaks, pathlib, tempfile;
    print(test_leaks.count_leaks(pathlib.Path(tempfile.mkdtemp())))"`."""
    import anyio

    home, plant = planted_home(dest)
    data = dest / "data"
    cfg = Config.load(env={"HOME": str(home)}, data_dir=data)
    cfg.refresh_interval = 3600
    cfg.live_seconds = 0
    api = Agtrace(cfg)
    api.refresh()
    out: dict[str, object] = {"planted": len(plant.planted)}
    every: set[int] = set()
    for name, fill in (("api", lambda c: api_answers(api, c)),
                       ("mcp", lambda c: anyio.run(mcp_answers, api, c)),
                       ("cli", lambda c: cli_answers(home, data, api, c))):
        col = Collector()
        fill(col)
        found = leaks(plant, col.answers)
        every |= set(found)
        out[name] = len(found)
        out[f"{name}_full"] = full_leaks(plant, col.answers)
        out[f"{name}_by_kind"] = by_kind(plant, found)
    out["total"] = len(every)
    api.close()
    return out
