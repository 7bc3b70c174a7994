"""A Claude Code session log written (and grown) by tests, in its real on-disk layout under a HOME."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path


class ClaudeLog:
    """A Claude Code session file: one model response (= one step) per tool call, usage on every response."""

    def __init__(self, sid: str, cwd: str = "/home/dev/app", start: str = "2026-06-01T10:00:00") -> None:
        self.sid, self.cwd = sid, cwd
        self.t = datetime.fromisoformat(start).replace(tzinfo=timezone.utc)
        self.lines: list[dict] = []
        self.n = 0
        self.ids: list[str] = []

    def _ts(self, seconds: float = 1.0) -> str:
        self.t += timedelta(seconds=seconds)
        return self.t.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _rec(self, kind: str, message: dict, seconds: float = 1.0, **kw: object) -> None:
        self.n += 1
        rec = {"parentUuid": None, "isSidechain": False, "type": kind, "sessionId": self.sid, "uuid": f"u{self.n}",
               "timestamp": self._ts(seconds), "cwd": self.cwd, "version": "2.1.40", "message": message}
        rec.update(kw)
        self.lines.append(rec)

    def prompt(self, text: str) -> ClaudeLog:
        self._rec("user", {"role": "user", "content": text})
        return self

    def call(self, name: str, args: dict) -> str:
        """A model response that calls one tool (its result comes with `result`); returns the call id."""
        cid = f"toolu_{self.n:04d}"
        self._rec("assistant", {"id": f"msg_{self.n:04d}", "model": "claude-sonnet-4-5-20250929", "role": "assistant",
                                "content": [{"type": "tool_use", "id": cid, "name": name, "input": args}],
                                "usage": {"input_tokens": 5, "cache_read_input_tokens": 1000 + 10 * self.n,
                                          "cache_creation_input_tokens": 20, "output_tokens": 30}})
        self.ids.append(cid)
        return cid

    def result(self, cid: str, text: str = "ok", is_error: bool = False, took: float = 1.0,
               typed: str | None = None) -> ClaudeLog:
        """The result of call `cid`, `took` seconds after the last record; `typed` is what the user typed while
        the tool ran (Claude Code sends it to the model beside the result)."""
        content: list[dict] = [{"type": "tool_result", "tool_use_id": cid, "content": text, "is_error": is_error}]
        if typed is not None:
            content.append({"type": "text", "text": typed})
        self._rec("user", {"role": "user", "content": content}, seconds=took)
        return self

    def queued(self, text: str, absorbed: bool = True) -> ClaudeLog:
        """What Claude Code records for a message typed while the agent works: a queue-operation enqueue, then a
        remove when the running turn took it in (2.1.2x), or a dequeue when it became the next prompt."""
        self.lines.append({"type": "queue-operation", "operation": "enqueue", "timestamp": self._ts(0.1),
                           "sessionId": self.sid, "content": text})
        self.lines.append({"type": "queue-operation", "operation": "remove" if absorbed else "dequeue",
                           "timestamp": self._ts(0.1), "sessionId": self.sid})
        return self

    def tool(self, name: str, args: dict, result: str = "ok", is_error: bool = False, took: float = 1.0) -> str:
        """A tool call and its result; returns the call id."""
        cid = self.call(name, args)
        self.result(cid, result, is_error, took)
        return cid

    def answer(self, text: str = "Done.") -> ClaudeLog:
        self._rec("assistant", {"id": f"msg_{self.n:04d}", "model": "claude-sonnet-4-5-20250929", "role": "assistant",
                                "content": [{"type": "text", "text": text}],
                                "usage": {"input_tokens": 5, "cache_read_input_tokens": 2000,
                                          "cache_creation_input_tokens": 0, "output_tokens": 12}})
        return self

    def interrupt(self) -> ClaudeLog:
        self._rec("user", {"role": "user", "content": [{"type": "text", "text": "[Request interrupted by user]"}]})
        return self

    def path(self, home: Path) -> Path:
        """Where Claude Code keeps this session under `home`."""
        return home / ".claude" / "projects" / ("-" + self.cwd.strip("/").replace("/", "-")) / f"{self.sid}.jsonl"

    def write(self, home: Path) -> Path:
        """Write the whole session under `home`."""
        p = self.path(home)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(json.dumps(r) + "\n" for r in self.lines))
        self.written = len(self.lines)
        return p

    def append(self, home: Path) -> Path:
        """Append the records added since the last write or append, as the agent does while it works."""
        p = self.path(home)
        with p.open("a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in self.lines[getattr(self, "written", 0):]))
        self.written = len(self.lines)
        return p
