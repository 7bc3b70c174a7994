"""What the index keeps only a preview of, read from the logs themselves (DESIGN §5: large bodies are not
stored; the full text is read from the log on demand). The store is the one layer above the API that reads
logs: the API asks it, views never do."""

from __future__ import annotations

from typing import Any

import orjson

from .. import model as m
from ..load import load_file_source
from ..providers import REGISTRY, SourceFile


def sessions_in_file(path: str, provider: str, kind: str, parent: str | None,
                     live_seconds: float) -> list[m.Session]:
    """Every session the log file at `path` holds, parsed whole (not from the index previews), judged live as
    the index judges it."""
    return load_file_source(SourceFile(path, provider, kind, parent), live_seconds=live_seconds)


def full_tool_text(row: Any, field: str) -> tuple[str, str]:
    """The full output (or arguments) of one tool call (an index tool row joined with its file), from its log,
    and where it came from: "log", or "index" (the preview) when the log is gone or no longer holds it, or is on
    another machine (a team database names no file)."""
    if row["file_path"] is None:
        return (row["output"] or "", "index") if field == "output" else (row["args"] or "", "index")
    src = SourceFile(row["file_path"], row["provider"], row["file_kind"], row["file_parent"])
    prov = REGISTRY.get(row["provider"])
    try:
        if field == "output" and row["out_off"] >= 0 and prov is not None:
            text = prov.read_output(src, row["out_off"], row["call_id"])
            if text is not None:
                return text, "log"
        if prov is not None:
            for s in load_file_source(src):
                if s.session_id != row["session_id"]:
                    continue
                for turn in s.turns:
                    for step in turn.steps:
                        for t in step.tools:
                            if t.call_id == row["call_id"]:
                                if field == "output":
                                    return t.output, "log"
                                return (t.args if isinstance(t.args, str) else
                                        orjson.dumps(t.args, option=orjson.OPT_INDENT_2).decode()), "log"
    except OSError:
        pass
    if field == "output":
        return row["output"] or "", "index"
    return row["args"] or "", "index"
