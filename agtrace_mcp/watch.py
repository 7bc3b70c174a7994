"""`agtrace-mcp watch`: follow a session live, as the agent writes it.

The index is polled, not watched with inotify: a look costs one `stat` per unchanged log (the index's
freshness check) plus a query for the steps after the last one printed, so a few looks a second are cheap
and work the same on every OS and filesystem.

What makes following harder than listing is that a step is not final when it first shows up: a Claude step
is written one content block per line (thinking, then text, then each tool call), and a call's result
lands later, often seconds later. So the last step printed, and every step with a call still running, stay
"open": each look asks again from the earliest open step and prints only what is new about it (a new call,
the message, how a running call ended).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape
from rich.text import Text

from . import render
from .errors import NotFoundError
from .terminal import Screen

FINDINGS_EVERY = 2.0  # seconds between analyses of a session that changed
USAGE_EVERY = 1.0  # seconds between usage footers of a session that changed
SWITCH_EVERY = 2.0  # seconds between looks for a newer session to follow
PENDING = ("in_progress", "missing")  # a call without its result: running (live log) or not answered yet
PENDING_STEPS = 50  # a call still without a result this many steps later is not waited for any more


@dataclass
class _StepSeen:
    """What of one step has been printed already."""

    reasoning: bool = False
    message: bool = False
    calls: dict[str, str] = field(default_factory=dict)  # call id → status printed


class Watch:
    """Follows one session (named, or the newest one of a project/agent, switching to a newer one when it
    starts) and prints each step as it lands, failures with their error line, analysis findings as they
    appear, and a footer with tokens and context use."""

    def __init__(self, api: Any, screen: Screen, *, session: str | None = None, project: str | None = None,
                 provider: str | None = None, last: int = 5, interval: float = 0.3, as_json: bool = False) -> None:
        self.api = api
        self.screen = screen
        self.pinned = session
        self.project = project
        self.provider = provider
        self.last = max(0, last)
        self.interval = max(0.05, interval)
        self.as_json = as_json
        self.live: Any = None
        self.sid: str | None = None
        self._reset()
        # every query's freshness check looks at the logs at most this often: make it as often as we look
        api.config.refresh_interval = min(api.config.refresh_interval, self.interval)

    def _reset(self) -> None:
        self.seen: dict[tuple[int, int], _StepSeen] = {}
        self.open_from: tuple[int, int] | None = None  # the earliest step that may still change
        self.head: tuple[int, int] = (-1, -1)  # the latest step printed
        self.turns_shown: set[int] = set()
        self.interrupted_shown: set[int] = set()
        self.findings_seen: set[tuple[Any, ...]] = set()
        self.summary_sig: tuple[Any, ...] | None = None
        self.next_findings = 0.0
        self.next_usage = 0.0
        self.next_switch = time.monotonic() + SWITCH_EVERY
        self.findings_due = True  # the session changed since the last analysis
        self.usage_due = True  # ... since the last footer
        self.footer_text = Text("")

    # -- the loop ---------------------------------------------------------------------------------

    def run(self) -> int:
        """Follow until Ctrl-C; returns the exit code (130 on Ctrl-C, like any interrupted command)."""
        try:
            self._follow(self._target())
            if self.screen.tty and not self.as_json:
                from rich.live import Live

                self.live = Live(self.footer_text, console=self.screen.out, auto_refresh=False)
                self.live.start()
            while True:
                self._tick()
                time.sleep(self.interval)
        except KeyboardInterrupt:
            return 130
        finally:
            if self.live is not None:
                self.live.stop()
                self.live = None

    def _target(self) -> str:
        """The session to follow: the one named, else the newest (of the project/agent given), waiting for
        one to start when there is none yet (`watch` is often started before the agent)."""
        if self.pinned:
            return self.api.resolve(self.pinned)
        said = False
        while True:
            sid = self._newest()
            if sid is not None:
                return sid
            if not said:
                said = True
                where = f" in {render.home_short(self.project)}" if self.project else ""
                agent = f" of {render.agent(self.provider)}" if self.provider else ""
                if self.as_json:
                    self._json({"event": "waiting", "project": self.project, "provider": self.provider})
                else:
                    self._print(Text(f"waiting for a session{agent}{where} to start… (Ctrl-C to stop)", "dim"))
            time.sleep(self.interval)

    def _newest(self) -> str | None:
        """The newest session of the project/agent given, or None."""
        if self.project:
            try:
                return self.api.current_session(self.project, self.provider).session.session_id
            except NotFoundError:
                return None
        res = self.api.list_sessions(provider=self.provider, limit=1)
        return res.sessions[0].session_id if res.sessions else None

    def _follow(self, sid: str, *, newer: bool = False) -> None:
        """Start following `sid`: its header, its last few steps, then everything new."""
        self._reset()
        self.sid = sid
        feed = self.api.steps_after(sid, last=max(1, self.last))
        s = feed.session
        short = self.api.short_ids([sid])[sid]
        if self.as_json:
            self._json({"event": "session", "session": s.model_dump(mode="json"), "newer": newer})
        else:
            what = "now following a newer session" if newer else "following"
            self._print(Text.from_markup(
                f"[bold]{what}[/bold] [bold cyan]{escape(short)}[/bold cyan]  {render.agent(s.provider)}  "
                f"{escape(render.home_short(s.project_root))}  [dim]{escape(render.cut(render.one_line(s.title), 60))}"
                f"[/dim]"))
            if not self.pinned:
                self._print(Text("(Ctrl-C to stop; a newer session in the same place is followed when it starts)",
                                 "dim"))
        # findings already there are summarised, not replayed: only new ones are news
        try:
            known = self.api.analyze_session(sid).findings
        except NotFoundError:
            known = []
        self.findings_seen = {self._finding_key(f) for f in known}
        if known and not self.as_json:
            self._print(Text(f"{render.plural(len(known), 'finding')} so far: agtrace-mcp analyze {short}", "dim"))
        self.head = (feed.steps[0].turn_index, feed.steps[0].index - 1) if feed.steps else (-1, -1)
        if self.last == 0:
            # start at the end: what is there counts as printed, so that only what comes next is
            self.head = (feed.steps[-1].turn_index, feed.steps[-1].index) if feed.steps else (-1, -1)
            for st in feed.steps:
                self.seen[(st.turn_index, st.index)] = _StepSeen(bool(st.reasoning), bool(st.message),
                                                                 {t.call_id: t.status for t in st.tools})
            self.turns_shown = {t.index for t in feed.turns}
        self._apply(feed)

    def _tick(self) -> None:
        assert self.sid is not None
        now = time.monotonic()
        if not self.pinned and now >= self.next_switch:
            self.next_switch = now + SWITCH_EVERY
            newest = self._newest()
            if newest is not None and newest != self.sid:
                self._follow(newest, newer=True)
                return
        start = self.open_from or self.head
        after = (start[0], start[1] - 1) if self.open_from else start
        while True:
            feed = self.api.steps_after(self.sid, *after)
            self._apply(feed)
            if not feed.more or not feed.steps:
                break
            after = (feed.steps[-1].turn_index, feed.steps[-1].index)
        if self.findings_due and now >= self.next_findings:
            self.next_findings = now + FINDINGS_EVERY
            self.findings_due = False
            self._findings()
        if self.usage_due and now >= self.next_usage:
            self.next_usage = now + USAGE_EVERY
            self.usage_due = False
            self._usage()

    # -- steps ------------------------------------------------------------------------------------

    def _apply(self, feed: Any) -> None:
        """Print what `feed` holds that was not printed yet, and work out which steps are still open."""
        s = feed.session
        sig = (s.turns, s.tool_calls, s.failed_tools, s.ended_at)
        if sig != self.summary_sig:
            self.summary_sig = sig
            self.findings_due = self.usage_due = True
        turns = {t.index: t for t in feed.turns}
        open_from: tuple[int, int] | None = None
        for st in feed.steps:
            key = (st.turn_index, st.index)
            self._turn_header(turns, st.turn_index)
            self._step(st, key)
            if key > self.head:
                self.head = key
            if st.status == "in_progress" or any(t.status in PENDING for t in st.tools):
                if self._behind(key) < PENDING_STEPS and open_from is None:
                    open_from = key
        for t in turns.values():  # a turn that began, with no step yet
            if t.index > self.head[0]:
                self._turn_header(turns, t.index)
            if t.interrupted and t.index not in self.interrupted_shown and t.index in self.turns_shown:
                self.interrupted_shown.add(t.index)
                if self.as_json:
                    self._json({"event": "interrupted", "session_id": self.sid, "turn_index": t.index})
                else:
                    self._print(Text(f"{'':10}⏹ turn {t.index} interrupted", "red"))
        # the latest step may still grow (Claude writes a step one content block per line)
        self.open_from = min(open_from, self.head) if open_from else (self.head if self.head[1] >= 0 else None)
        for key in [k for k in self.seen if self.open_from is None or k < self.open_from]:
            del self.seen[key]

    def _behind(self, key: tuple[int, int]) -> int:
        """Roughly how many steps `key` is behind the head (across turns: counted as far behind)."""
        return self.head[1] - key[1] if key[0] == self.head[0] else PENDING_STEPS

    def _turn_header(self, turns: dict[int, Any], index: int) -> None:
        for i in sorted(turns):
            if i > index or i in self.turns_shown:
                continue
            self.turns_shown.add(i)
            t = turns[i]
            if self.as_json:
                self._json({"event": "turn", "session_id": self.sid, "turn": t.model_dump(mode="json")})
                continue
            who = {"compaction": "summary", "system": "system"}.get(t.origin, "you")
            head = Text.from_markup(f"[bold]── turn {t.index}[/bold] [dim]{render.clock(t.started_at)}[/dim] "
                                    f"[bold green]{who}:[/bold green] ")
            self._print(Text(""))
            self._print(head + Text(render.cut(render.one_line(t.prompt), self._room(head.cell_len))))

    def _step(self, st: Any, key: tuple[int, int]) -> None:
        seen = self.seen.get(key)
        fresh = seen is None
        if seen is None:
            seen = self.seen[key] = _StepSeen()
        if self.as_json:
            if fresh or self._changed(st, seen):
                self._json({"event": "step", "session_id": self.sid, "step": st.model_dump(mode="json")})
                seen.reasoning, seen.message = bool(st.reasoning), bool(st.message)
                seen.calls = {t.call_id: t.status for t in st.tools}
            return
        at = render.clock(st.started_at)
        if st.reasoning and not seen.reasoning:
            seen.reasoning = True
            self._line(at, Text("thinking ", "dim italic") + Text(render.cut(render.one_line(st.reasoning),
                                                                            self._room(19)), "dim italic"))
        if st.message and not seen.message:  # before the calls, as in `show`: what the agent says it will do
            seen.message = True
            lines = st.message.strip().splitlines() or [""]
            head = Text("agent ", "magenta") + Text(render.cut(render.one_line(lines[0]), self._room(16)))
            self._line(at, head)
            for more in lines[1:3]:
                if more.strip():
                    self._line("", Text("      " + render.cut(more.rstrip(), self._room(16))))
            if len(lines) > 3:
                self._line("", Text(f"      … {render.plural(len(lines) - 3, 'more line')}", "dim"))
        for t in st.tools:
            before = seen.calls.get(t.call_id)
            if before is None:
                seen.calls[t.call_id] = t.status
                self._call(render.clock(t.started_at) or at, t)
            elif before in PENDING and t.status not in PENDING:
                seen.calls[t.call_id] = t.status
                self._call_done(t)

    @staticmethod
    def _changed(st: Any, seen: _StepSeen) -> bool:
        return (bool(st.reasoning) != seen.reasoning or bool(st.message) != seen.message
                or {t.call_id: t.status for t in st.tools} != seen.calls)

    def _call(self, at: str, t: Any) -> None:
        mark = {"ok": Text("✓", "green"), "error": Text("✗", "bold red")}.get(t.status, Text("…", "yellow"))
        line = mark + Text(" ") + Text(t.name, "bold red" if t.status == "error" else "bold") + Text("  ")
        line.append(render.cut(render.args_summary(t.args), self._room(14 + len(t.name))))
        self._line(at, line)
        if t.status == "error":
            self._error(t)

    def _call_done(self, t: Any) -> None:
        took = f" in {t.duration_ms / 1000:,.1f} s" if t.duration_ms is not None else ""
        if t.status == "error":
            self._line(render.clock(t.started_at), Text("↳ ✗ ", "bold red") + Text(f"{t.name} failed{took}", "red"))
            self._error(t)
        else:
            self._line("", Text("↳ ✓ ", "green") + Text(f"{t.name} done{took}", "dim"))

    def _error(self, t: Any) -> None:
        err = t.error.model_dump() if t.error is not None else None
        self._line("", Text("    " + render.cut(render.error_line(err), self._room(14)), "red"))

    # -- findings and usage -----------------------------------------------------------------------

    @staticmethod
    def _finding_key(f: Any) -> tuple[Any, ...]:
        return (f.kind, f.start_turn, f.start_step, f.tool, f.target)

    def _findings(self) -> None:
        assert self.sid is not None
        for f in self.api.analyze_session(self.sid).findings:
            key = self._finding_key(f)
            if key in self.findings_seen:
                continue
            self.findings_seen.add(key)
            if self.as_json:
                self._json({"event": "finding", "session_id": self.sid, "finding": f.model_dump(mode="json")})
            else:
                colour = render.SEVERITY[f.severity]
                self._print(Text(f"⚠ {f.severity} ", f"bold {colour}")
                            + Text(f"{f.kind} at turn.step {render.where(f)}", "bold"))
                for line in Text(render.one_line(f.explanation)).wrap(self.screen.out, self._room(10) or 1_000_000):
                    line.rstrip()
                    self._print(Text(" " * 10) + line)

    def _usage(self) -> None:
        assert self.sid is not None
        u = self.api.get_usage(self.sid, limit=1)
        if self.as_json:
            self._json({"event": "usage", "session_id": self.sid, "tokens": u.tokens.model_dump(mode="json"),
                        "context": u.context.model_dump(mode="json") if u.context else None})
            return
        t = u.tokens
        text = (f"tokens in {render.number(t.input)} · cache {render.number(t.cache_read + t.cache_write)} · "
                f"out {render.number(t.output)}")
        x = u.context
        if x is not None and x.last_context_tokens is not None:
            text += f" │ context {render.number(x.last_context_tokens)}"
            if x.context_window:
                text += f" of {render.number(x.context_window)}" + (f" ({x.last_pct:.0f}%)" if x.last_pct is not None
                                                                     else "")
        turns, calls, failed, _ = self.summary_sig or (0, 0, 0, None)
        head = (f"{self.api.short_ids([self.sid])[self.sid]} · {render.plural(turns, 'turn')} · "
                f"{render.plural(calls, 'call')}" + (f", {failed:,} failed" if failed else ""))
        if self.live is not None:
            rule = Text(f"── {head} ", "dim")
            # a line as wide as the terminal leaves the cursor in the last column, which some terminals
            # count as the next line: one column less keeps the footer's height what rich thinks it is
            rule.append("─" * max(0, (self._room(1) or 79) - rule.cell_len), "dim")
            self.footer_text = rule + Text("\n") + Text(render.cut(text, self._room(1)), "dim")
            self.live.update(self.footer_text, refresh=True)
        else:
            self._print(Text(f"[{head} │ {text}]", "dim"))

    # -- output -----------------------------------------------------------------------------------

    def _room(self, used: int) -> int | None:
        width = self.screen.width
        return None if width is None else max(10, width - used)

    def _line(self, at: str, body: Text) -> None:
        self._print(Text(f"{at:8}  ", "dim") + body)

    def _print(self, line: Text) -> None:
        self.screen.out.print(line, soft_wrap=True)
        if self.live is None and not self.screen.tty:
            sys.stdout.flush()  # a pipe is block-buffered: a follower must see each step as it lands

    def _json(self, obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
        sys.stdout.flush()
