"""Google Gemini CLI: `~/.gemini/tmp/<project>/chats/session-*.json` (legacy) and `.jsonl` (≥ 0.39).

Facts: research/log-formats.md §3, research/log-formats-2.md §2.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import Emit, ParseStats, SourceFile

NAME = "gemini_cli"


class GeminiProvider:
    name = NAME
    incremental = False  # messages are rewritten by id and rewound: always re-read from the start

    def default_roots(self, home: Path, env: dict[str, str]) -> list[Path]:
        return [home / ".gemini" / "tmp"]

    def discover(self, roots: list[Path]) -> Iterator[SourceFile]:
        raise NotImplementedError

    def parse(self, src: SourceFile, offset: int, state: Any, emit: Emit, stats: ParseStats) -> tuple[int, Any]:
        raise NotImplementedError

    def read_output(self, src: SourceFile, offset: int, call_id: str) -> str | None:
        return None
