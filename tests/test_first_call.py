"""Right from the first call: no answer is wrong while the index is being built.

Real processes over a generated corpus that takes seconds to index: an MCP server started on a fresh data dir,
four CLI processes started together, an indexer killed mid-way. Every answer is compared with a reference
index built beforehand in this process (without parse workers, so the two build paths are compared too).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from indexcheck import index_rows
from mcp import Client, StdioServerParameters

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def corpus_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~60 MB of logs of all six agents in their real layouts (a few seconds to index)."""
    home = tmp_path_factory.mktemp("first") / "home"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), str(home), "--size-mb", "60",
                    "--big-session-mb", "12", "--seed", "7"], check=True, stdout=subprocess.DEVNULL)
    return home


@pytest.fixture(scope="module")
def reference(corpus_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Agtrace, Path]:
    data = tmp_path_factory.mktemp("reference")
    api = Agtrace(Config.load(env={"HOME": str(corpus_home), "AGTRACE_MCP_WORKERS": "0"}, data_dir=data))
    api.refresh()
    return api, data


def _env(home: Path, data: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(home), "AGTRACE_MCP_DATA_DIR": str(data), "PATH": os.environ.get("PATH", ""), **extra}


def _dump(view: Any) -> Any:
    return json.loads(view.model_dump_json())


def _newest_with_failures(api: Agtrace) -> str:
    return next(s.session_id for s in api.list_sessions(limit=200, include_subagents=True).sessions
                if s.failed_tools)


def _manifest(home: Path) -> dict[str, Any]:
    return json.loads((home / "agtrace-bench-manifest.json").read_text())


async def test_a_server_on_a_fresh_data_dir_answers_right_from_its_first_call(corpus_home: Path, reference,
                                                                               tmp_path: Path):
    ref, _ = reference
    big = _manifest(corpus_home)["big_session"]["session_id"]
    failing = _newest_with_failures(ref)
    params = StdioServerParameters(command=sys.executable, args=["-m", "agtrace_mcp", "serve"],
                                   env=_env(corpus_home, tmp_path / "data"))
    async with Client(params, mode="legacy") as c:
        turn = await c.call_tool("get_turn", {"session_id": big, "turn_index": -1})  # the very first call
        fails = await c.call_tool("find_failed_tools", {"session_id": failing, "limit": 200})
        listed = await c.call_tool("list_sessions", {"limit": 200})
        word = _manifest(corpus_home)["rare_words"][0]
        found = await c.call_tool("search_history", {"query": word, "limit": 50})
    assert not turn.is_error and turn.structured_content == _dump(ref.get_turn(big, -1))
    assert not fails.is_error
    assert fails.structured_content == _dump(ref.find_failed_tools(session_id=failing, limit=200))
    assert fails.structured_content["total"] > 0
    assert listed.structured_content == _dump(ref.list_sessions(limit=200))
    assert "index_incomplete" not in listed.structured_content
    # the same hits (a session read ahead of the rest may list its hits in another place: newest first is by
    # the order logs were read)
    key = lambda h: (h["session_id"], h["turn_index"], h["step_index"] or -1, h["kind"])
    expected = _dump(ref.search_history(word, limit=50))
    assert sorted(found.structured_content["hits"], key=key) == sorted(expected["hits"], key=key)
    assert found.structured_content["hits"] and expected["next_cursor"] is None


async def test_a_query_that_waits_for_the_index_reports_progress(corpus_home: Path, reference, tmp_path: Path):
    from agtrace_mcp.server import build_server

    ref, _ = reference
    api = Agtrace(Config.load(env={"HOME": str(corpus_home)}, data_dir=tmp_path / "data"))
    api.store.start_background_refresh()
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with Client(build_server(api), mode="legacy") as c:
        r = await c.call_tool("list_sessions", {"limit": 200}, progress_callback=on_progress)
    assert r.structured_content == _dump(ref.list_sessions(limit=200))
    assert seen, "no progress notification while the index was built"
    assert all(m and "MB read" in m for _, _, m in seen)
    assert [p for p, _, _ in seen] == sorted(p for p, _, _ in seen)


def test_an_answer_that_cannot_wait_longer_says_it_is_incomplete(corpus_home: Path, reference, tmp_path: Path):
    ref, _ = reference
    api = Agtrace(Config.load(env={"HOME": str(corpus_home), "AGTRACE_MCP_WAIT_SECONDS": "0"},
                              data_dir=tmp_path / "data"))
    api.store.start_background_refresh()
    early = api.list_sessions(limit=200)
    if early.index_incomplete is None:  # the machine indexed 60 MB before the first query: nothing to see
        pytest.skip("the index was complete before the first query")
    assert early.index_incomplete.files_pending > 0
    assert "ask again" in early.index_incomplete.message
    assert early.total <= ref.list_sessions().total


def test_four_cli_processes_started_together_print_the_same_complete_list(corpus_home: Path, reference,
                                                                           tmp_path: Path):
    ref, _ = reference
    cmd = [sys.executable, "-m", "agtrace_mcp", "sessions", "--json", "--limit", "200"]
    env = _env(corpus_home, tmp_path / "data")
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e.decode()[-500:] for _, e in outs]
    lists = [json.loads(o) for o, _ in outs]
    assert lists[0] == _dump(ref.list_sessions(limit=200))
    assert lists[1] == lists[2] == lists[3] == lists[0]


def _committed_files(data: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{data / 'index.sqlite3'}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return 0
    try:
        return con.execute("SELECT count(*) FROM files WHERE parser_version > 0").fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        con.close()


def test_a_server_killed_mid_index_leaves_its_work_for_the_next_one(corpus_home: Path, reference, tmp_path: Path):
    _, ref_data = reference
    data = tmp_path / "data"
    env = _env(corpus_home, data)
    # a server starts indexing in the background as soon as it starts (stdin stays open: no client yet)
    first = subprocess.Popen([sys.executable, "-m", "agtrace_mcp", "serve"], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while _committed_files(data) == 0 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # the server and its parse workers
    first.wait()
    assert first.stdin is not None
    first.stdin.close()
    done = _committed_files(data)
    second = subprocess.run([sys.executable, "-m", "agtrace_mcp", "index", "--json"], env=env,
                            capture_output=True, timeout=600, check=True)
    report = json.loads(second.stdout)
    if done == report["files_seen"]:
        pytest.skip("the first server finished indexing before it could be killed")
    assert 0 < done
    assert report["files_ingested"] == report["files_seen"] - done  # only what the first had not committed
    assert index_rows(data) == index_rows(ref_data)


def _children(pid: int) -> list[int]:
    out = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # fields: state, ppid, ...
            out.append(int(stat_file.parent.name))
    return out


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_a_killed_servers_parse_workers_end_and_its_spool_is_removed_by_the_next_indexer(corpus_home: Path,
                                                                                            tmp_path: Path):
    data = tmp_path / "data"
    env = _env(corpus_home, data)
    server = subprocess.Popen([sys.executable, "-m", "agtrace_mcp", "serve"], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    bound = time.monotonic() + 120
    while not (data / "spool").is_dir() or len(workers) < 2:
        assert time.monotonic() < bound and server.poll() is None, "the server never started its parse workers"
        workers = [c for c in _children(server.pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        time.sleep(0.05)
    server.kill()  # the server alone, as an OOM killer or a crashed client would: its workers are orphaned
    server.wait()
    assert server.stdin is not None
    server.stdin.close()
    bound = time.monotonic() + 60
    while not all(_gone(w) for w in workers):
        assert time.monotonic() < bound, f"parse workers of a killed server still run: {workers}"
        time.sleep(0.1)
    left_by_the_dead = [d.name for d in (data / "spool").iterdir() if d.name.startswith(f"{server.pid}-")]
    assert left_by_the_dead  # what a killed writer leaves ...
    subprocess.run([sys.executable, "-m", "agtrace_mcp", "index", "--json"], env=env, capture_output=True,
                   timeout=600, check=True)
    assert not (data / "spool").exists()  # ... the next indexer removes, and its own too
