"""A provider plugin, installed the way a user installs it, adds an agent with no change to agtrace-mcp.

A fresh virtual environment gets agtrace-mcp and `examples/provider-plugin` (ToyAgent) from this checkout, as
`pip install` makes them (no editable install, no test-only path): ToyAgent's log then shows in `sessions`,
`show --json` has its turns, calls, failures with exit codes and tokens, the MCP tools answer about it over
stdio, parse worker processes read it, and the plugin's own tests pass. A broken plugin beside it is skipped
and named by `doctor`, never fatal.

Takes about a minute (pip installs the dependencies into the new environment).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PLUGIN = REPO / "examples" / "provider-plugin"
SID = "toy-7f3a9c21"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the venv layout below is POSIX")


def run(cmd: list[str], env: dict[str, str], timeout: float = 300, cwd: Path | None = None) -> str:
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("plugin-venv")
    env_dir = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=120)
    py = env_dir / "bin" / "python"
    # a copy of the plugin: building it must not write into the checkout
    plugin = root / "provider-plugin"
    shutil.copytree(PLUGIN, plugin, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    run([str(py), "-m", "pip", "install", "-q", str(REPO), f"{plugin}[test]"], env, timeout=600)
    home = root / "home"
    shutil.copytree(plugin / "tests" / "home", home)
    return {"py": py, "bin": env_dir / "bin", "home": home, "data": root / "data", "plugin": plugin}


def _env(v: dict[str, Path]) -> dict[str, str]:
    # only what an MCP client passes: HOME and PATH (plus where the index goes)
    return {"HOME": str(v["home"]), "PATH": os.environ.get("PATH", ""), "AGTRACE_MCP_DATA_DIR": str(v["data"])}


def test_the_toyagent_log_appears_in_sessions(venv: dict[str, Path]):
    out = run([str(venv["bin"] / "agtrace-mcp"), "sessions", "--json"], _env(venv))
    sessions = json.loads(out)["sessions"]
    assert [(s["session_id"], s["provider"]) for s in sessions] == [(SID, "toyagent")]


def test_show_json_has_turns_calls_failures_with_exit_codes_and_tokens(venv: dict[str, Path]):
    doc = json.loads(run([str(venv["bin"] / "agtrace-mcp"), "show", SID, "--json"], _env(venv)))
    assert doc["provider"] == "toyagent" and doc["project_root"] == "/home/dev/toyshop"
    assert [t["user"]["text"] for t in doc["turns"]] == ["Run the tests and fix what fails", "Deploy it"]
    calls = [c for t in doc["turns"] for s in t["steps"] for c in s["tools"]]
    assert [c["call_id"] for c in calls] == ["c1", "c2", "c3", "c4", "c5"]
    failed = {c["call_id"]: c["error"] for c in calls if c["status"] == "error"}
    assert {k: (e["kind"], e["exit_code"]) for k, e in failed.items()} == {"c1": ("exit_code", 1),
                                                                          "c5": ("exit_code", 2)}
    assert (doc["stats"]["input"], doc["stats"]["output"], doc["stats"]["failed_tools"]) == (2700, 105, 2)


def test_the_mcp_tools_answer_about_it(venv: dict[str, Path]):
    script = textwrap.dedent(f"""
        import json, os, sys
        import anyio
        from mcp import Client, StdioServerParameters

        async def main():
            params = StdioServerParameters(command=sys.executable, args=["-m", "agtrace_mcp", "serve"],
                                           env=dict(os.environ))
            out = {{}}
            async with Client(params) as c:
                for name, args in [("list_sessions", {{"provider": "toyagent"}}),
                                   ("find_failed_tools", {{"session_id": "{SID}"}}),
                                   ("get_turn", {{"session_id": "{SID}", "turn_index": 0}}),
                                   ("get_usage", {{"session_id": "{SID}"}})]:
                    for _ in range(100):  # the first index runs in the background
                        r = await c.call_tool(name, args)
                        if not r.is_error:
                            break
                        await anyio.sleep(0.1)
                    assert not r.is_error, r.content[0].text
                    out[name] = r.structured_content
            print(json.dumps(out))

        anyio.run(main)
    """)
    res = json.loads(run([str(venv["py"]), "-c", script], _env(venv), timeout=120))
    assert [s["session_id"] for s in res["list_sessions"]["sessions"]] == [SID]
    assert sorted((f["call_id"], f["exit_code"]) for f in res["find_failed_tools"]["failures"]) == [("c1", 1),
                                                                                                  ("c5", 2)]
    assert res["get_turn"]["final_answer"].startswith("The total was off by one")
    assert res["get_usage"]["tokens"]["input"] == 2700


def test_parse_workers_read_it_too(venv: dict[str, Path]):
    """Parse workers are spawned processes: they find the plugin through its entry point as the parent did."""
    log = venv["home"] / ".toyagent" / "sessions" / f"{SID}.jsonl"
    script = textwrap.dedent(f"""
        import os
        from agtrace_mcp.providers import SourceFile
        from agtrace_mcp.store.workers import ParsePool

        if __name__ == "__main__":
            src = SourceFile({str(log)!r}, "toyagent")
            size = os.path.getsize(src.path)
            pool = ParsePool(1, 0)
            try:
                pool.plan([(src, size, os.stat(src.path).st_mtime_ns)])
                parsed = pool.result(src.path, size)
                ops = [op for chunk in parsed.chunks() for op in chunk]
                print(parsed.stats.records, parsed.end == size, len(ops) > 0)
            finally:
                pool.close()
    """)
    probe = venv["data"].parent / "probe_workers.py"
    probe.write_text(script)
    assert run([str(venv["py"]), str(probe)], _env(venv), timeout=120).split() == ["15", "True", "True"]


def test_the_plugins_own_tests_pass(venv: dict[str, Path]):
    out = run([str(venv["py"]), "-m", "pytest", "-q", "-p", "no:cacheprovider"], _env(venv), timeout=300,
              cwd=venv["plugin"])
    assert " passed" in out and "failed" not in out


def test_a_broken_plugin_is_skipped_and_named_by_doctor(venv: dict[str, Path], tmp_path: Path):
    """A plugin whose module cannot be imported costs nothing but a line in `doctor`: the others still work."""
    site = next((venv["py"].parent.parent / "lib").glob("python*/site-packages"))
    dist = site / "agtrace_broken-0.1.dist-info"
    dist.mkdir()
    try:
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: agtrace-broken\nVersion: 0.1\n")
        (dist / "entry_points.txt").write_text('[agtrace_mcp.providers]\nbroken = agtrace_no_such_module:X\n')
        env = {**_env(venv), "AGTRACE_MCP_DATA_DIR": str(tmp_path / "d")}
        sessions = json.loads(run([str(venv["bin"] / "agtrace-mcp"), "sessions", "--json"], env))["sessions"]
        assert [s["session_id"] for s in sessions] == [SID]
        doctor = json.loads(run([str(venv["bin"] / "agtrace-mcp"), "doctor", "--json"], env))
        (problem,) = doctor["plugin_problems"]
        assert problem["package"] == "agtrace-broken" and "cannot be imported" in problem["error"]
        assert "toyagent" in [p["provider"] for p in doctor["providers"]]
    finally:
        shutil.rmtree(dist)
