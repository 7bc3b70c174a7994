"""Time to the first RIGHT answer from a cold start, and the cost of starting the server.

Each measurement starts `agtrace-mcp serve` (stdio) on an EMPTY data dir, sends `initialize` and then one
`tools/call`, and times the call (and, apart, from the process start to the answer). The answer is checked against the same call on
the complete index (built by run.py before): a fast wrong answer does not count.

The `initialize` round trip (process start → result) is compared with a bare `MCPServer` with no tools in the
same Python.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}}
BARE = "from mcp.server.mcpserver import MCPServer\nMCPServer('bare').run('stdio')\n"


def _send(p: subprocess.Popen[bytes], msg: dict[str, Any]) -> None:
    assert p.stdin is not None
    p.stdin.write(json.dumps(msg).encode() + b"\n")
    p.stdin.flush()


def _answer(p: subprocess.Popen[bytes], want_id: int) -> dict[str, Any]:
    assert p.stdout is not None
    while True:
        line = p.stdout.readline()
        if not line:
            raise RuntimeError("the server closed its output")
        msg = json.loads(line)
        if msg.get("id") == want_id:
            return msg  # type: ignore[no-any-return]


def _env(home: Path, data: Path) -> dict[str, str]:
    return {"HOME": str(home), "AGTRACE_MCP_DATA_DIR": str(data), "PATH": os.environ.get("PATH", "")}


def first_call(home: Path, tool: str, args: dict[str, Any]) -> tuple[float, float, dict[str, Any]]:
    """`serve` started on an empty data dir: seconds from its first tool call to the answer, and from the
    process start to that answer (which adds Python's and the MCP SDK's start, ~0.5-1 s here)."""
    data = Path(tempfile.mkdtemp(prefix="agtrace-first-"))
    try:
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "agtrace_mcp", "serve"], env=_env(home, data),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            _send(p, INIT)
            _answer(p, 1)
            _send(p, {"jsonrpc": "2.0", "method": "notifications/initialized"})
            t1 = time.perf_counter()
            _send(p, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": args}})
            res = _answer(p, 2)
            t2 = time.perf_counter()
        finally:
            p.kill()
            p.wait()
        return t2 - t1, t2 - t0, res.get("result", {})
    finally:
        shutil.rmtree(data, ignore_errors=True)


def first_answers(home: Path, complete_api: Any, calls: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """For each labelled call: time to its first answer from a cold start, and whether it equals the answer on
    the complete index (hits compared as sets: a session read ahead of the rest may list them in another
    order)."""
    out: dict[str, Any] = {}
    for label, (tool, args) in calls.items():
        sec, from_start, res = first_call(home, tool, args)
        got = res.get("structuredContent") or {}
        want = json.loads(getattr(complete_api, tool)(**args).model_dump_json())
        if tool == "search_history":
            key = lambda h: json.dumps(h, sort_keys=True)
            same = sorted(got.get("hits", []), key=key) == sorted(want.get("hits", []), key=key)
        else:
            same = got == want
        out[label] = {"seconds": round(sec, 3), "seconds_from_process_start": round(from_start, 3), "right": same, "is_error": bool(res.get("isError")),
                      "index_incomplete": "index_incomplete" in got}
    return out


def initialize_round_trip(home: Path, data_dir: Path, runs: int = 9) -> dict[str, Any]:
    """Median seconds from process start to the `initialize` result, on the complete index in `data_dir`
    (a client starting the server at every agent start): agtrace-mcp vs a bare MCPServer."""
    tmp = Path(tempfile.mkdtemp(prefix="agtrace-init-"))
    bare = tmp / "bare.py"
    bare.write_text(BARE)
    data = data_dir

    def once(cmd: list[str]) -> float:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, env=_env(home, data), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        try:
            _send(p, INIT)
            _answer(p, 1)
            return time.perf_counter() - t0
        finally:
            p.kill()
            p.wait()

    try:
        ours, theirs = [], []
        for _ in range(runs):  # interleaved: both see the same machine load
            theirs.append(once([sys.executable, str(bare)]))
            ours.append(once([sys.executable, "-m", "agtrace_mcp", "serve"]))
        a, b = statistics.median(ours), statistics.median(theirs)
        return {"agtrace_ms": round(a * 1000, 1), "bare_mcpserver_ms": round(b * 1000, 1), "ratio": round(a / b, 2)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
