"""Test helpers for reads that continue from an offset: an API over a HOME, the index's rows (comparable
between two indexes), a log grown a few lines at a time, and a spy on a provider's continuations."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.providers.base import NeedsFullRead


def config_over(home: Path, data: Path, *, env: dict[str, str] | None = None, **attrs: object) -> Config:
    """A config over the logs under `home` only, checking them on every call, no file taken as live; `attrs`
    set other fields (`live_seconds=300`, `projects=[...]`)."""
    cfg = Config.load(env={"HOME": str(home), **(env or {})}, data_dir=data)
    cfg.refresh_interval = 0
    cfg.live_seconds = 0
    for k, v in attrs.items():
        setattr(cfg, k, v)
    return cfg


def api_over(home: Path, data: Path, *, live: bool = False, env: dict[str, str] | None = None) -> Agtrace:
    """An API over the logs under `home` that checks them on every call; `live`: recent files are live."""
    return Agtrace(config_over(home, data, env=env, live_seconds=1e9 if live else 0))


def spy_continuations(monkeypatch: pytest.MonkeyPatch, provider: type) -> list[bool]:
    """One entry per read from an offset: True when it continued, False when it asked for a whole read."""
    seen: list[bool] = []
    real = provider._continue

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            out = real(self, *args, **kwargs)
        except NeedsFullRead:
            seen.append(False)
            raise
        seen.append(True)
        return out

    monkeypatch.setattr(provider, "_continue", spy)
    return seen


def index_rows(data_dir: Path) -> dict[str, list[tuple]]:
    """Every row the index holds about the sessions, without the row numbers of this particular index (nor the
    revisions its writes were stamped with: how many writes it took is not history)."""
    con = sqlite3.connect(data_dir / "index.sqlite3")
    try:
        out = {}
        for table, order in (("sessions", "id"), ("turns", "session_id, idx"), ("steps", "session_id, turn_idx, idx"),
                             ("tools", "session_id, turn_idx, step_idx, seq"),
                             ("compactions", "session_id, turn_idx, at"),
                             ("interjections", "session_id, turn_idx, seq")):
            cur = con.execute(f"SELECT * FROM {table} ORDER BY {order}")
            keep = [i for i, d in enumerate(cur.description) if d[0] not in ("file_id", "rev")]
            out[table] = [tuple(r[i] for i in keep) for r in cur.fetchall()]
        out["docs"] = sorted(con.execute(
            "SELECT s.id, d.turn_idx, d.step_idx, d.seq, d.kind, x.text FROM docs d"
            " JOIN sessions s ON s.rowid = d.skey JOIN doc_text x ON x.id = d.id").fetchall())
        return out
    finally:
        con.close()


def grow(logs: dict[Path, list[bytes]], start: int, chunk: int, api: Any) -> None:
    """Write every transcript's first `start` lines, then `chunk` more at a time, refreshing after each write."""
    for p, lines in logs.items():
        p.write_bytes(b"".join(lines[:start]))
    api.refresh()
    n = start
    while any(n < len(lines) for lines in logs.values()):
        for p, lines in logs.items():
            if n < len(lines):
                with open(p, "ab") as f:
                    f.write(b"".join(lines[n:n + chunk]))
        n += chunk
        api.refresh()


def fill_the_disk(api: Agtrace, home: Path) -> Path:
    """The index may not grow by a single page any more (as on a full disk), and a new 2.7 MB Claude session
    appears under `home`, waiting to be indexed; returns its log. `PRAGMA max_page_count = 1073741823` on
    `api.store.read()` frees the disk again."""
    with api.store.read() as db:
        pages = db.execute("PRAGMA page_count").fetchone()[0]  # type: ignore[attr-defined]
        db.execute(f"PRAGMA max_page_count = {pages}")  # type: ignore[attr-defined]
    big = home / ".claude/projects/-home-dev-webapp/99999999-0000-4000-8000-000000000009.jsonl"
    big.write_text("".join(json.dumps({"type": "user", "sessionId": big.stem, "uuid": f"u{i}", "timestamp":
                                       "2026-06-01T00:00:00.000Z",
                                       "message": {"role": "user", "content": f"p{i} " + "z" * 900}}) + "\n"
                           for i in range(3000)))
    return big


def session_shape(s: Any) -> list[Any]:
    """What a session model says, turn by turn, but for texts the index may cut: states, answers, messages typed
    mid-turn, steps and each call's outcome."""
    return [(t.index, t.status, t.final_answer, t.interrupted, t.user.text,
             [(i.text, i.after_step) for i in t.interjections],
             [(st.index, st.status, [(c.call_id, c.name, c.status, c.error.kind if c.error else None,
                                      c.error.exit_code if c.error else None) for c in st.tools])
              for st in t.steps])
            for t in s.turns]
