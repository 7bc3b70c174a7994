#!/usr/bin/env python3
"""Peak memory and time of indexing hostile files: a 300 MB line and a zstd bomb (issue 16, point 2).

    python benchmarks/hostile.py [--src OTHER_CHECKOUT] [--timeout 120]

Each case is a HOME holding one hostile log next to nothing else, indexed by `agtrace-mcp index` in a child
process; the peak RSS reported is that of the largest process of the run (the indexer or a parse worker),
and a run still going at the timeout is killed (its peak is then what it had reached). `--src` runs another
checkout's code (for a before/after comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = (ROOT / "fixtures/home/.codex/sessions/2026/05/01"
           / "rollout-2026-05-01T12-00-00-019de2fb-1900-7a01-8000-00000000e001.jsonl")


def long_line(home: Path) -> None:
    d = home / ".claude/projects/-x"
    d.mkdir(parents=True)
    rec = {"type": "user", "sessionId": "s", "uuid": "u", "timestamp": "2026-05-01T10:00:00.000Z", "cwd": "/x",
           "message": {"role": "user", "content": "hello"}}
    with open(d / "88888888-8888-4888-8888-888888888888.jsonl", "wb") as f:
        f.write(json.dumps(rec).encode() + b"\n")
        f.seek(300 << 20, os.SEEK_CUR)  # sparse: 300 MB of NUL bytes, no newline
        f.write(b"\n" + json.dumps(rec).encode() + b"\n")


def zstd_bomb(home: Path) -> None:
    import zstandard

    d = home / ".codex/sessions/2026/05/01"
    d.mkdir(parents=True)
    zeros = zstandard.ZstdCompressor(level=19).compress(b"\0" * (64 << 20))
    with open(d / (FIXTURE.name + ".zst"), "wb") as f:
        f.write(zstandard.ZstdCompressor().compress(FIXTURE.read_bytes()))
        for _ in range(128):  # 8 GB decompressed
            f.write(zeros)


_WRAPPER = """
import resource, subprocess, sys, time
t0 = time.monotonic()
try:
    rc = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                        timeout=float(sys.argv[1])).returncode
except subprocess.TimeoutExpired:
    rc = None
# the largest of the indexer and its parse workers (every descendant waited for)
print(rc, time.monotonic() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measure(src: Path, home: Path, data: Path, timeout: float) -> dict[str, object]:
    """Run `agtrace-mcp index` from `src` under a wrapper that reports the peak RSS of the largest process of
    the run (the indexer or one of its parse workers), and its time; killed at `timeout`."""
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "AGTRACE_MCP_DATA_DIR": str(data),
           "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-c", _WRAPPER, str(timeout), sys.executable, "-m", "agtrace_mcp",
                          "index", "--json"], env=env, cwd=str(src), capture_output=True, text=True)
    rc, seconds, rss_kb = out.stdout.split()
    return {"finished": rc == "0", "seconds": round(float(seconds), 1), "peak_rss_mb": int(rss_kb) // 1024}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=str(ROOT), help="checkout whose code to run")
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    out = {}
    for name, build in (("300 MB line", long_line), ("zstd bomb (290 KB -> 8 GB)", zstd_bomb)):
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            build(home)
            out[name] = measure(Path(args.src), home, Path(tmp) / "data", args.timeout)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
