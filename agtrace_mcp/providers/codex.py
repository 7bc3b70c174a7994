"""OpenAI Codex CLI: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl[.zst]` and `archived_sessions/`.

Facts: research/log-formats.md §2, research/log-formats-2.md §4.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import Emit, ParseStats, SourceFile, safe_walk

NAME = "codex"


class CodexProvider:
    name = NAME
    incremental = True

    def default_roots(self, home: Path, env: dict[str, str]) -> list[Path]:
        base = Path(env["CODEX_HOME"]) if env.get("CODEX_HOME") else home / ".codex"
        return [base / "sessions", base / "archived_sessions"]

    def discover(self, roots: list[Path]) -> Iterator[SourceFile]:
        for root in roots:
            if not root.is_dir():
                continue
            plain: set[str] = set()
            zst: list[Path] = []
            for p in safe_walk(root, "rollout-*.jsonl*"):
                if p.name.endswith(".jsonl"):
                    plain.add(str(p))
                    yield SourceFile(str(p), NAME)
                elif p.name.endswith(".jsonl.zst"):
                    zst.append(p)
            for p in zst:  # when both exist the plain file wins
                if str(p)[: -len(".zst")] not in plain:
                    yield SourceFile(str(p), NAME)

    def parse(self, src: SourceFile, offset: int, state: Any, emit: Emit, stats: ParseStats) -> tuple[int, Any]:
        raise NotImplementedError

    def read_output(self, src: SourceFile, offset: int, call_id: str) -> str | None:
        return None
