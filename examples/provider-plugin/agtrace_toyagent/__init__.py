"""ToyAgent's session logs, for agtrace-mcp: a complete provider plugin in one module.

ToyAgent writes one JSON Lines file per session, `~/.toyagent/sessions/<session id>.jsonl` (`TOYAGENT_HOME`
moves `~/.toyagent`), one JSON object a line:

    {"type":"session","id":ID,"cwd":PATH,"ts":ISO}
    {"type":"prompt","text":T,"ts":ISO}                               a prompt starts a turn
    {"type":"call","id":CALL,"tool":NAME,"args":{...},"ts":ISO}       the model calls a tool
    {"type":"result","id":CALL,"exit_code":N,"output":T,"ts":ISO}      failed when exit_code is not 0
    {"type":"answer","text":T,"ts":ISO,"tokens":{"input":N,"output":N}}

Calls, results and answers belong to the last prompt's turn. A run of calls is one model response (a step);
an answer is a step of its own and carries the tokens.

What the provider does: it says where the logs are (`default_roots`, moved by `TOYAGENT_HOME`,
`AGTRACE_MCP_TOYAGENT_DIR` or `--toyagent-dir`), finds them (`discover`), recognises one given by path
(`claims`, `sniff`), and turns each record into agtrace-mcp's normalised events (`parse`). agtrace-mcp does the
rest: turns, steps, pairing calls with results, failures (kind `exit_code` with the code), tokens, the index,
the CLI and the MCP tools. `parse` is resumable: it returns where it stopped (before a line still being
written) and the state it needs to go on from there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agtrace_mcp.engine import events as ev
from agtrace_mcp.engine.timeutil import norm_ts
from agtrace_mcp.providers import BaseProvider, Emit, JsonlReader, ParseStats, SourceFile, safe_walk

__all__ = ["NAME", "ToyAgentProvider", "ToyState"]
__version__ = "0.1.0"

NAME = "toyagent"


@dataclass
class ToyState:
    """Where a read stopped: what the next read of the same (grown) file needs to go on."""

    sid: str  # the session id (the file name until the session record says otherwise)
    turn: int = -1  # the current turn (-1: no prompt yet)
    step: int = 0  # steps opened so far in the session (keys of the model responses)
    in_calls: bool = False  # the open step is a run of calls (the next call belongs to it)


class ToyAgentProvider(BaseProvider):
    name = NAME
    label = "ToyAgent"
    root_env = ("TOYAGENT_HOME",)  # ToyAgent's own variable that moves its folder

    def default_roots(self, home: Path, env: dict[str, str]) -> list[Path]:
        return [self.agent_dir(env, home, ".toyagent") / "sessions"]

    def discover(self, roots: list[Path]) -> Iterator[SourceFile]:
        for root in roots:
            if root.is_dir():
                for path, _name in safe_walk(root, "*.jsonl"):
                    yield SourceFile(path, NAME)

    def claims(self, path: str) -> int:
        """A `.jsonl` file under a `.toyagent` folder is surely ToyAgent's."""
        low = path.replace("\\", "/").lower()
        return 2 if "/.toyagent/" in low and low.endswith(".jsonl") else 0

    def sniff(self, path: str, first: Any) -> int:
        """Elsewhere, a file whose first record is ToyAgent's session record."""
        return 2 if isinstance(first, dict) and first.get("type") == "session" and "cwd" in first else 0

    def parse(self, src: SourceFile, offset: int, state: Any, emit: Emit, stats: ParseStats) -> tuple[int, Any]:
        st = state if isinstance(state, ToyState) else ToyState(sid=Path(src.path).stem)
        if not isinstance(state, ToyState):
            emit(ev.Meta(st.sid, provider=NAME, source_file=src.path))
        reader = JsonlReader(src.path, offset, stats)
        for off, rec in reader:
            if not isinstance(rec, dict):
                stats.bad(off, "not a JSON object", str(rec))
                continue
            try:
                self._record(st, rec, off, emit, stats)
            except (TypeError, ValueError, AttributeError, KeyError) as e:  # one odd record never stops a file
                stats.shape(off, e, rec)
        return reader.end, st

    def _record(self, st: ToyState, rec: dict[str, Any], off: int, emit: Emit, stats: ParseStats) -> None:
        kind = rec.get("type")
        ts = norm_ts(rec.get("ts"))
        sid = st.sid
        if kind == "session":
            emit(ev.Meta(sid, provider=NAME, ts=ts, cwd=_text(rec.get("cwd")) or None))
        elif kind == "prompt":
            st.turn += 1
            st.in_calls = False
            emit(ev.Prompt(sid, ts, _text(rec.get("text")), off=off))
        elif kind == "call":
            if not st.in_calls:  # the first call of a model response opens its step
                st.step += 1
                st.in_calls = True
            emit(ev.StepBegin(sid, f"s{st.step}", ts))
            emit(ev.Call(sid, _text(rec.get("id")), _text(rec.get("tool")), rec.get("args"), ts))
        elif kind == "result":
            st.in_calls = False
            code = rec.get("exit_code")
            code = code if isinstance(code, int) and not isinstance(code, bool) else None
            emit(ev.Result(sid, _text(rec.get("id")), ts, _text(rec.get("output")), exit_code=code, off=off))
        elif kind == "answer":
            st.step += 1
            st.in_calls = False
            key = f"s{st.step}"
            emit(ev.StepBegin(sid, key, ts))
            emit(ev.Text(sid, "message", _text(rec.get("text")), ts))
            tokens = rec.get("tokens")
            if isinstance(tokens, dict):
                emit(ev.StepUsage(sid, key, input=_count(tokens.get("input")), cache_read=0, cache_write=0,
                                  output=_count(tokens.get("output")), reasoning=0))
        else:
            stats.unknown[str(kind)] += 1  # shown by `agtrace-mcp doctor`, never fatal


def _text(v: Any) -> str:
    return v if isinstance(v, str) else "" if v is None else str(v)


def _count(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0
