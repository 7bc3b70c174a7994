#!/usr/bin/env python3
"""What masking costs at ingest (issue 16): its throughput over every text the index keeps, and a cold index
with and without it.

    python benchmarks/generate.py /tmp/x/home --size-mb 100 --big-session-mb 20
    python benchmarks/masking.py /tmp/x/home

The texts are exactly those `store/rows.py` masks (prompts, messages, reasoning, argument JSON, whole tool
outputs), collected by parsing every log once. The cold index runs in one process (AGTRACE_MCP_WORKERS=0),
so that the difference is the masking's own CPU time. Times are CPU seconds of this process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agtrace_mcp.config import Config  # noqa: E402
from agtrace_mcp.engine.builder import SessionBuilder  # noqa: E402
from agtrace_mcp.providers import REGISTRY, ParseStats  # noqa: E402
from agtrace_mcp.redact import find_secrets, mask_with_findings  # noqa: E402
from agtrace_mcp.store import ingest, rows  # noqa: E402


class TextSink:
    """Collects the texts the index masks."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def meta(self, sid: str, m: Any) -> None:
        pass

    def turn(self, sid: str, t: Any) -> None:
        self.texts.append(t.text)

    def step(self, sid: str, s: Any) -> None:
        self.texts += [s.reasoning_text or "", s.message_text or ""]
        for t in s.tools:
            self.texts += [rows._args_text(t.args) or "", t.output]

    def patch_tool(self, sid: str, ti: int, si: int, t: Any) -> None:
        self.texts.append(t.output)

    def patch_usage(self, *a: Any) -> None:
        pass

    def compaction(self, *a: Any) -> None:
        pass


def texts_of(home: Path) -> list[str]:
    cfg = Config.load(env={"HOME": str(home)})
    sink = TextSink()
    for f in ingest.discover(cfg):
        b = SessionBuilder(sink)  # type: ignore[arg-type]
        REGISTRY[f.src.provider].parse(f.src, 0, None, b.feed, ParseStats())
        b.flush(live=False)
    return [t for t in sink.texts if t]


def cold_index(home: Path, masking: bool) -> float:
    import agtrace_mcp.store.rows as r

    real = r.mask_with_findings
    if not masking:
        r.mask_with_findings = lambda text: (text, [])  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as d:
            from agtrace_mcp.api import Agtrace

            cfg = Config.load(env={"HOME": str(home), "AGTRACE_MCP_WORKERS": "0"}, data_dir=d)
            api = Agtrace(cfg)
            t0 = time.process_time()
            api.refresh()
            dt = time.process_time() - t0
            api.close()
            return dt
    finally:
        r.mask_with_findings = real


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("home")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    home = Path(args.home)
    texts = texts_of(home)
    size = sum(len(t.encode()) for t in texts)
    best = min(_timed(lambda: [mask_with_findings(t) for t in texts]) for _ in range(args.repeat))
    found = sum(1 for t in texts for _ in find_secrets(t))
    with_mask = min(cold_index(home, True) for _ in range(args.repeat))
    without = min(cold_index(home, False) for _ in range(args.repeat))
    print(json.dumps({
        "texts": len(texts), "text_mb": round(size / 1e6, 1), "secrets_found": found,
        "mask_seconds": round(best, 3), "mask_mb_per_s": round(size / 1e6 / best, 1),
        "cold_index_s_with_masking": round(with_mask, 2), "cold_index_s_without": round(without, 2),
        "overhead_pct": round(100 * (with_mask - without) / without, 1), "cpu": os.cpu_count(),
    }, indent=2))
    return 0


def _timed(fn: Any) -> float:
    """CPU seconds (other processes on the machine do not count)."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


if __name__ == "__main__":
    raise SystemExit(main())
