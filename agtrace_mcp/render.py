"""Text for people: how the CLI turns the API's answers into lines for a terminal or a pipe.

Rules every command follows:
- On a terminal, lines fit its width: fixed columns (ids, times, counts) keep their width, free text
  (titles, paths, errors) is cut to what is left. In a pipe nothing is fitted to a width.
- A cut text ends with a visible `…`, at a word boundary when there is one nearby; a cut path keeps its
  end (`…/src/app`), the part that tells paths apart.
- Numbers have thousands separators; times are local; session ids are the shortest prefix (≥ 8 characters)
  that `show` accepts.
- Styles are rich markup; rich drops them when the output is not a terminal or NO_COLOR is set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from .providers import REGISTRY
from .terminal import Screen

GAP = 2  # spaces between table columns
ARG_KEYS = ("command", "cmd", "pattern", "query", "url", "file_path", "filePath", "absolute_path", "path",
            "description", "prompt")  # the argument that says most about a call, in order of preference


# -- small formats --------------------------------------------------------------------------------


def number(n: int | float | None) -> str:
    """`27,924,736`; an empty string for None."""
    if n is None:
        return ""
    return f"{n:,}" if isinstance(n, int) else f"{n:,.1f}"


def plural(n: int, word: str) -> str:
    """`1 turn`, `2 turns`, `1,204 calls`."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def agent(provider: str) -> str:
    """The short agent name (one `--provider` accepts)."""
    prov = REGISTRY.get(provider)
    return prov.short if prov is not None else provider


def parse_time(iso: str | None) -> datetime | None:
    """An ISO timestamp from the index as an aware datetime; None when missing or unreadable."""
    if not iso:
        return None
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def when(iso: str | None, now: datetime | None = None) -> str:
    """How long ago, for the last week (`just now`, `12m ago`, `5h ago`, `3d ago`), else the local date."""
    t = parse_time(iso)
    if t is None:
        return ""
    now = now or datetime.now(timezone.utc)
    s = (now - t).total_seconds()
    if -60 < s < 60:
        return "just now"
    if 0 < s < 3600:
        return f"{int(s // 60)}m ago"
    if 0 < s < 86400:
        return f"{int(s // 3600)}h ago"
    if 0 < s < 7 * 86400:
        return f"{int(s // 86400)}d ago"
    return t.astimezone().strftime("%Y-%m-%d")


def stamp(iso: str | None) -> str:
    """Local date and time to the minute: `2026-05-02 09:00`."""
    t = parse_time(iso)
    return t.astimezone().strftime("%Y-%m-%d %H:%M") if t else ""


def clock(iso: str | None) -> str:
    """Local time of day to the second: `09:00:02`."""
    t = parse_time(iso)
    return t.astimezone().strftime("%H:%M:%S") if t else ""


def one_line(text: str | None) -> str:
    """Whitespace (newlines included) collapsed to single spaces."""
    return " ".join((text or "").split())


def cut(text: str, width: int | None) -> str:
    """`text` in at most `width` terminal cells, ending with `…` when cut; the cut falls at a space when
    one is in the last third, so words stay whole."""
    if width is None or cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    room = width - 1
    head = _head_cells(text, room)
    space = head.rfind(" ")
    if space >= room * 2 // 3:
        head = head[:space]
    return head.rstrip(" ,;:") + "…"


def cut_left(text: str, width: int | None) -> str:
    """`text` in at most `width` cells, keeping its end (`…/src/app`): for paths."""
    if width is None or cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail = text
    while cell_len(tail) > width - 1:
        tail = tail[1:]
    slash = min((i for i in (tail.find("/"), tail.find("\\")) if i >= 0), default=-1)
    if 0 <= slash < len(tail) // 2:
        tail = tail[slash:]
    return "…" + tail


def _head_cells(text: str, width: int) -> str:
    out, used = [], 0
    for ch in text:
        w = cell_len(ch)
        if used + w > width:
            break
        out.append(ch)
        used += w
    return "".join(out)


def home_short(path: str | None) -> str:
    """A path with the user's home folder written `~`."""
    if not path:
        return ""
    home = str(Path.home())
    return "~" + path[len(home):] if home != "/" and (path == home or path.startswith(home + "/")) else path


def cut_strings(value: Any, limit: int | None) -> Any:
    """Every string longer than `limit` cut head+tail at word boundaries, with a marker saying how much was
    cut and how to see it all (for `show`)."""
    if limit is None:
        return value
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        head = _word_end(value, limit * 2 // 3)
        tail = _word_start(value, len(value) - (limit - len(head)))
        return f"{head} …[{tail - len(head):,} chars cut; --full shows all]… {value[tail:]}"
    if isinstance(value, dict):
        return {k: cut_strings(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [cut_strings(v, limit) for v in value]
    return value


def _word_end(text: str, n: int) -> str:
    """The first `n` characters of `text`, shortened to end before a space when one is close."""
    head = text[:n]
    space = max(head.rfind(" "), head.rfind("\n"))
    return head[:space] if space >= n * 4 // 5 else head


def _word_start(text: str, i: int) -> int:
    """Where the tail starting near `i` should start so that it starts with a whole word."""
    i = max(0, min(i, len(text)))
    window = text[i: i + max(1, (len(text) - i) // 5)]
    for k, ch in enumerate(window):
        if ch in " \n":
            return i + k + 1
    return i


# -- tables ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One table column. `flex` > 0: free text that gets (a share of) the room left by the fixed columns,
    cut to fit (`keep_end`: keep the end, for paths). `cap`: the longest a cell may be even in a pipe."""

    header: str
    right: bool = False
    flex: int = 0
    keep_end: bool = False
    cap: int | None = None
    style: str = ""


Cell = str | tuple[str, str]  # text, or (text, rich style)


def table(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int | None) -> list[Text]:
    """A header line and one line per row, columns 2 spaces apart, fitted to `width` (None: no limit)."""
    texts = [[c if isinstance(c, str) else c[0] for c in row] for row in rows]
    styles = [["" if isinstance(c, str) else c[1] for c in row] for row in rows]
    for row in texts:
        for i, col in enumerate(columns):
            if col.cap is not None:
                row[i] = cut(row[i], col.cap)
    natural = [max([cell_len(col.header)] + [cell_len(r[i]) for r in texts]) for i, col in enumerate(columns)]
    widths = _fit(columns, natural, width)
    lines = [_line(columns, [c.header for c in columns], widths, ["bold"] * len(columns))]
    for row, st in zip(texts, styles):
        lines.append(_line(columns, row, widths, [s or columns[i].style for i, s in enumerate(st)]))
    return lines


def _fit(columns: Sequence[Column], natural: list[int], width: int | None) -> list[int]:
    if width is None:
        return natural
    flex = [i for i, c in enumerate(columns) if c.flex]
    fixed = sum(w for i, w in enumerate(natural) if i not in flex) + GAP * (len(columns) - 1)
    room = width - fixed
    widths = list(natural)
    if sum(natural[i] for i in flex) <= room:
        return widths
    # each free-text column keeps room for its header; what is left is shared by weight, and a column that
    # needs less than its share gives the rest to the others
    for i in flex:
        widths[i] = min(natural[i], cell_len(columns[i].header))
    extra = room - sum(widths[i] for i in flex)
    todo = [i for i in flex if natural[i] > widths[i]]
    while todo and extra > 0:
        weight = sum(columns[i].flex for i in todo)
        give = {i: extra * columns[i].flex // weight for i in todo}
        full = [i for i in todo if widths[i] + give[i] >= natural[i]]
        if not full:
            for i in todo:
                widths[i] += give[i]
            break
        for i in full:
            extra -= natural[i] - widths[i]
            widths[i] = natural[i]
            todo.remove(i)
    return widths


def _line(columns: Sequence[Column], cells: Sequence[str], widths: list[int], styles: Sequence[str]) -> Text:
    line = Text()
    last = len(columns) - 1
    for i, (col, text, w) in enumerate(zip(columns, cells, widths)):
        text = (cut_left if col.keep_end else cut)(text, w)
        pad = " " * max(0, w - cell_len(text))
        if col.right:
            line.append(pad)
            line.append(text, styles[i] or None)
        else:
            line.append(text, styles[i] or None)
            if i != last:
                line.append(pad)
        if i != last:
            line.append(" " * GAP)
    line.rstrip()
    return line


def print_lines(console: Console, lines: Sequence[Text]) -> None:
    """Print lines exactly as built: never wrapped again by the console (they were fitted already)."""
    for line in lines:
        console.print(line, soft_wrap=True)


def footer(screen: Screen, text: str) -> None:
    """The line under an answer (counts, the next page's cursor). On a terminal too narrow for it, the cursor
    goes on a line of its own, so that it is never broken in the middle (it is copied whole)."""
    width = screen.width
    if width is not None and len(text) > width:
        text = text.replace("; next page: ", ";\nnext page: ")
    screen.aside().print(f"[dim]{escape(text)}[/dim]", soft_wrap=True)


def page_note(shown: int, total: int | None, noun: str, cursor: str | None) -> str:
    """`8 of 34 sessions; next page: --cursor X`."""
    head = f"{number(shown)} of {number(total)} {noun}" if total is not None else f"{number(shown)} {noun}"
    return head + (f"; next page: --cursor {cursor}" if cursor else "")


# -- sessions, projects ---------------------------------------------------------------------------


def sessions(screen: Screen, res: Any, ids: dict[str, str]) -> None:
    """The `sessions` table: id prefix, when, agent, turns/calls/failed, title, project. When every session
    shown is of one project, the project is said once under the table and the title gets its room."""
    cols = [Column("id", style="cyan"), Column("when"), Column("agent"), Column("turns", right=True),
            Column("calls", right=True), Column("failed", right=True), Column("title", flex=3, cap=100),
            Column("project", flex=1, keep_end=True, style="dim")]
    projects = {s.project_root for s in res.sessions}
    one_project = len(res.sessions) > 1 and len(projects) == 1 and None not in projects
    if one_project:
        cols.pop()
    team = any(s.machine for s in res.sessions)  # a team database: where each one ran
    if team:
        cols.insert(3, Column("machine", cap=24))
    rows = []
    for s in res.sessions:
        title = one_line(s.title) or "(no prompt)"
        if s.parent_session_id:
            title = f"↳ {s.agent_name or 'subagent'}: {title}"
        if not s.on_disk:
            title += " (log gone)"
        row = [ids.get(s.session_id, s.session_id), when(s.ended_at), agent(s.provider), number(s.turns),
               number(s.tool_calls), failed_cell(s.failed_tools, s.missing_tools), title,
               home_short(s.project_root)]
        if team:
            row.insert(3, s.machine or "")
        rows.append(row[:len(cols)])
    print_lines(screen.out, table(cols, rows, screen.width))
    note = page_note(len(res.sessions), res.total, "sessions", res.next_cursor)
    if one_project:
        note = note.replace(" sessions", f" sessions, all in {home_short(next(iter(projects)))}", 1)
    footer(screen, note)


def projects(screen: Screen, res: Any) -> None:
    """The `projects` table."""
    cols = [Column("last activity"), Column("sessions", right=True), Column("turns", right=True),
            Column("failed", right=True), Column("agents"), Column("project", flex=1, keep_end=True)]
    rows = [[when(p.last_activity), number(p.sessions), number(p.turns),
             failed_cell(p.failed_tools, p.missing_tools), ",".join(agent(a) for a in p.providers if a),
             home_short(p.project_root) or "(unknown)"] for p in res.projects]
    if any(p.machines for p in res.projects):  # a team database: on which machines
        cols.insert(5, Column("machines", cap=40))
        for r, p in zip(rows, res.projects):
            r.insert(5, ",".join(p.machines or []))
    print_lines(screen.out, table(cols, rows, screen.width))
    footer(screen, page_note(len(res.projects), res.total, "projects", res.next_cursor))


def no_logs(console: Console, locations: Sequence[Any], scoped: bool) -> None:
    """Where agent logs were looked for, per agent, and what to try next: the answer to an empty history."""
    if scoped:
        console.print("agtrace-mcp: no sessions under the projects given with --project (or AGTRACE_MCP_PROJECTS).")
    else:
        console.print("agtrace-mcp: no agent logs found. Looked in:")
    if not scoped:
        width = max(cell_len(loc.agent) for loc in locations) + 2
        for loc in locations:
            for k, root in enumerate(loc.roots or [""]):
                label = escape(loc.agent) if k == 0 else ""
                console.print(f"  [bold]{label:<{width}}[/bold]{escape(home_short(root))}")
            movers = [*loc.moved_by[1:], loc.moved_by[0]] if loc.moved_by else []  # the agent's own first
            if loc.flag:
                movers.append(loc.flag)
            if movers:
                said = ", ".join(movers[:-1]) + " or " + movers[-1] if len(movers) > 1 else movers[0]
                console.print(f"    [dim]moved by {escape(said)}[/dim]")
    console.print("Try the bundled example logs: [bold]agtrace-mcp sessions --demo[/bold]")
    console.print("See what was read, per agent: [bold]agtrace-mcp doctor[/bold]")


# -- failures, search, secrets --------------------------------------------------------------------


def failures(screen: Screen, res: Any, ids: dict[str, str]) -> None:
    """Failed calls, two lines each: where (when, session, turn.step, tool, kind) and the error line."""
    cols = [Column("when"), Column("session", style="cyan"), Column("turn.step", right=True),
            Column("tool", flex=1, cap=32), Column("failure", flex=1)]
    team = any(f.machine for f in res.failures)  # a team database: where each one ran
    if team:
        cols.insert(1, Column("machine", cap=24))
    rows = []
    for f in res.failures:
        kind = (f.error_kind or "error") + (f" {f.exit_code}" if f.exit_code is not None else "")
        row = [when(f.at), ids.get(f.session_id, f.session_id), f"{f.turn_index}.{f.step_index}", f.tool,
               (kind, "bold")]
        if team:
            row.insert(1, f.machine or "")
        rows.append(row)
    lines = table(cols, rows, screen.width)
    out = screen.out
    out.print(lines[0], soft_wrap=True)
    width = screen.width
    for f, line in zip(res.failures, lines[1:]):
        out.print(line, soft_wrap=True)
        error = one_line(f.error) or "(no error message)"
        out.print(Text("    " + cut(error, None if width is None else width - 4), "dim"), soft_wrap=True)
    footer(screen, page_note(len(res.failures), res.total, "failures (turn.step: read it with show ID --turn N)",
                             res.next_cursor))


def failure_groups(screen: Screen, res: Any, ids: dict[str, str]) -> None:
    """Grouped failures: count, sessions, last seen, tools and the newest example, then the group's key."""
    cols = [Column("failures", right=True), Column("sessions", right=True), Column("last seen"),
            Column("example", style="cyan"), Column("tools", flex=1)]
    rows = []
    for g in res.groups:
        ex = g.examples[0] if g.examples else None
        rows.append([number(g.count), number(g.sessions), when(g.last_seen),
                     f"{ids.get(ex.session_id, ex.session_id)} {ex.turn_index}.{ex.step_index}" if ex else "",
                     ", ".join(g.tools)])
    lines = table(cols, rows, screen.width)
    screen.out.print(lines[0], soft_wrap=True)
    width = screen.width
    for g, line in zip(res.groups, lines[1:]):
        screen.out.print(line, soft_wrap=True)
        screen.out.print(Text("    " + cut(one_line(str(g.key)), None if width is None else width - 4), "bold"),
                         soft_wrap=True)
    footer(screen, page_note(len(res.groups), res.groups_total, f"groups of {number(res.total)} failures",
                             res.next_cursor))


def search(screen: Screen, res: Any, ids: dict[str, str]) -> None:
    """Search hits: where each is, then its snippet (terms highlighted) wrapped under an indent."""
    c = screen.out
    for h in res.hits:
        where = f"{ids.get(h.session_id, h.session_id)} turn {h.turn_index}" + (
            f" step {h.step_index}" if h.step_index is not None else "")
        on = f" · {escape(h.machine)}" if h.machine else ""
        c.print(f"[bold cyan]{escape(where)}[/bold cyan] [dim]{h.kind} · {agent(h.provider)}{on} · "
                f"{escape(home_short(h.project_root))}[/dim]", soft_wrap=screen.width is None)
        snippet = Text.from_markup(escape(one_line(h.snippet)).replace("«", "[reverse]").replace("»", "[/reverse]"))
        if screen.width is None:
            c.print(Text("  ") + snippet, soft_wrap=True)
            continue
        for line in snippet.wrap(c, max(20, screen.width - 2)):  # wrapped lines keep the indent
            line.rstrip()
            c.print(Text("  ") + line)
    footer(screen, page_note(len(res.hits), None, "hits", res.next_cursor) if res.hits else
           "no hits; try fewer or other words, or a word prefix like 'pars*'")


def secrets(screen: Screen, res: Any, ids: dict[str, str]) -> None:
    """Credentials found in the history: fingerprint, counts, where."""
    cols = [Column("type"), Column("fingerprint"), Column("seen", right=True), Column("sessions", right=True),
            Column("last seen"), Column("where", style="cyan"), Column("found in", flex=1)]
    rows = []
    for f in res.findings:
        ex = f.examples[0] if f.examples else None
        rows.append([f.type, f.fingerprint, number(f.occurrences), number(f.sessions), when(f.last_seen),
                     f"{ids.get(ex.session_id, ex.session_id)} turn {ex.turn_index}" if ex else "",
                     ", ".join(f.found_in)])
    if rows:
        print_lines(screen.out, table(cols, rows, screen.width))
    footer(screen, res.note or "")


# -- one session ----------------------------------------------------------------------------------


def args_summary(args: Any) -> str:
    """The argument that says most about a call (its command, path, pattern…), else the arguments as
    compact JSON."""
    if args is None:
        return ""
    if isinstance(args, str):
        return one_line(args)
    if isinstance(args, dict):
        for k in ARG_KEYS:
            v = args.get(k)
            if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
                v = " ".join(v)
            if isinstance(v, str) and v.strip():
                return one_line(v)
    return one_line(json.dumps(args, ensure_ascii=False))


def tool_mark(status: str) -> str:
    """✓ ok, ✗ failed, ? no result ever came, … still running."""
    return {"ok": "[green]✓[/green]", "error": "[red]✗[/red]", "missing": "[yellow]?[/yellow]"}.get(
        status, "[yellow]…[/yellow]")


def failed_cell(failed: int, missing: int) -> Any:
    """The `failed` column: failed calls, and calls that never got a result (`+2?`), apart."""
    if not failed and not missing:
        return ""
    text = (number(failed) if failed else "") + (f"+{number(missing)}?" if missing else "")
    return (text, "red" if failed else "yellow")


def error_line(err: dict[str, Any] | None) -> str:
    """`exit 7: make: *** [all] Error 7`, `denied: …`: a failure in one line."""
    if not err:
        return ""
    kind = f"exit {err['exit_code']}" if err.get("exit_code") is not None else err.get("kind") or "error"
    msg = one_line(err.get("message"))
    return f"{kind}: {msg}" if msg else kind


@dataclass
class TranscriptStyle:
    """How much of a session `transcript` prints: everything (`full`), a turn shown on its own (outputs
    and call ids too), or a whole session (one line per call, messages to a few lines)."""

    full: bool = False
    one_turn: bool = False

    @property
    def message_lines(self) -> int | None:
        return None if self.full else (40 if self.one_turn else 8)

    @property
    def reasoning_lines(self) -> int | None:
        return None if self.full else (6 if self.one_turn else 1)

    @property
    def output_lines(self) -> int:
        return 0 if not (self.one_turn or self.full) else (10_000 if self.full else 3)


def transcript(screen: Screen, s: dict[str, Any], style: TranscriptStyle) -> None:
    """A session (or one of its turns) as a transcript: the header, then per turn the prompt, each step's
    thinking, tool calls (failures with their error line) and messages, and the turn's final answer."""
    c = screen.out
    width = screen.width
    st = s["stats"]
    c.print(f"[bold cyan]{escape(s['session_id'])}[/bold cyan]  {agent(s['provider'])}  "
            f"{escape(home_short(s.get('project_root')))}" + (f"  [dim]({escape(s['git_branch'])})[/dim]"
                                                            if s.get("git_branch") else ""), soft_wrap=True)
    if s.get("parent_session_id"):
        c.print(f"subagent of {escape(s['parent_session_id'])}"
                + (f" ({escape(s['agent_name'])})" if s.get("agent_name") else ""), soft_wrap=True)
    apart = ([f"[red]{number(st['failed_tools'])} failed[/red]"] if st["failed_tools"] else []) + \
        ([f"[yellow]{number(st['missing_tools'])} without a result[/yellow]"] if st.get("missing_tools") else [])
    c.print(f"{number(st['turns'])} turns · {number(st['steps'])} steps · {number(st['tool_calls'])} tool calls"
            + (f" ({', '.join(apart)})" if apart else ""), soft_wrap=True)
    c.print(f"[dim]tokens in {number(st['input'])} · cache read {number(st['cache_read'])} · cache write "
            f"{number(st['cache_write'])} · out {number(st['output'])} · peak context "
            f"{number(st['peak_context_tokens'])}[/dim]")
    if s.get("models"):
        c.print(f"[dim]{escape(', '.join(s['models']))}[/dim]")
    for t in s["turns"]:
        _turn(c, t, style, width)


TURN_STATUS = {"interrupted": "[red]⏹ interrupted[/red]",
               "incomplete": "[yellow]… incomplete: no end recorded (still running, or it crashed)[/yellow]"}


def _turn(c: Console, t: dict[str, Any], style: TranscriptStyle, width: int | None) -> None:
    user = t["user"]
    origin = user.get("origin") or "user"
    head = f"turn {t['index']}" + (f" · {stamp(t.get('started_at'))}" if t.get("started_at") else "")
    if origin != "user":
        head += f" · {origin}" + (f" {user['slash_command']}" if user.get("slash_command") else "")
    status = t.get("status") or ("interrupted" if t.get("interrupted") else "completed")
    if status != "completed":
        head += f" · {status}"
    c.print()
    if width is None:
        c.print(f"[bold]── {escape(head)} ──[/bold]", soft_wrap=True)
    else:
        c.rule(f"[bold]{escape(head)}[/bold]", align="left", style="dim")
    who = {"user": "you", "slash_command": "you", "compaction": "summary", "system": "system"}.get(origin, origin)
    _block(c, f"[bold green]{who}:[/bold green] ", user.get("text") or "", style.message_lines, width)
    steps = t.get("steps") or []
    answer = t.get("final_answer")
    answered = False
    said: dict[int, list[dict[str, Any]]] = {}
    for it in t.get("interjections") or []:
        said.setdefault(it.get("after_step", -1), []).append(it)

    def typed(after: int) -> None:  # what the user typed while the agent worked, where it reached the model
        for it in said.pop(after, []):
            _block(c, "[bold green]you (mid-turn):[/bold green] ", it.get("text") or "", style.message_lines, width)

    typed(-1)
    for step in steps:
        if step.get("reasoning"):
            _block(c, "  [dim italic]thinking:[/dim italic] ", step["reasoning"], style.reasoning_lines, width,
                   text_style="dim italic")
        if step.get("message"):  # before the step's calls: an agent says what it is about to do, then does it
            final = bool(answer) and step["message"] == answer and not step.get("tools")
            answered = answered or final
            label = "[bold magenta]answer:[/bold magenta] " if final else "[magenta]agent:[/magenta] "
            _block(c, label, step["message"], style.message_lines, width)
        for tool in step.get("tools") or []:
            _tool(c, tool, style, width)
        typed(step.get("index", -2))
    for after in sorted(said):
        typed(after)
    if answer and not answered:  # an answer the agent reported apart (Codex task_complete, a task summary)
        _block(c, "[bold magenta]answer:[/bold magenta] ", answer, style.message_lines, width)
    if status in TURN_STATUS:
        c.print(TURN_STATUS[status])


def _tool(c: Console, tool: dict[str, Any], style: TranscriptStyle, width: int | None) -> None:
    name = tool["name"]
    summary = args_summary(tool.get("args"))
    call_id = f"  [dim]{escape(tool['call_id'])}[/dim]" if style.one_turn and tool.get("call_id") else ""
    room = None if width is None else max(10, width - 6 - cell_len(name) - (len(tool.get("call_id") or "") + 2
                                                                            if call_id else 0))
    c.print(f"  {tool_mark(tool['status'])} [bold]{escape(name)}[/bold]  {escape(cut(summary, room))}{call_id}",
            soft_wrap=True)
    if tool.get("error"):
        c.print(Text("      " + cut(error_line(tool["error"]), None if width is None else width - 6), "red"),
                soft_wrap=True)
    elif tool.get("status") == "missing":
        c.print(Text("      no result was recorded for this call", "yellow"), soft_wrap=True)
    elif style.output_lines and tool.get("output"):
        _block(c, "      ", tool["output"], style.output_lines, width, text_style="dim")


def _block(c: Console, label: str, text: str, max_lines: int | None, width: int | None,
           text_style: str = "") -> None:
    """`label` then `text`, continuation lines indented under the text, at most `max_lines` lines (then a
    line saying how many more there are)."""
    label_text = Text.from_markup(label)
    indent = " " * cell_len(label_text.plain) if label_text.plain.strip() else label_text.plain
    lines = text.strip("\n").splitlines() or [""]
    shown = lines if max_lines is None else lines[:max_lines]
    body = Text("\n".join(shown), text_style)
    room = None if width is None else max(20, width - cell_len(indent))
    wrapped = [body] if room is None else body.wrap(c, room)
    if room is None:
        wrapped = list(body.split("\n"))
    for k, line in enumerate(wrapped):
        line.rstrip()
        prefix = label_text if k == 0 else Text(indent)
        c.print(prefix + line, soft_wrap=True)
    if max_lines is not None and len(lines) > max_lines:
        c.print(Text(f"{indent}… {plural(len(lines) - max_lines, 'more line')} (--full shows all)", "dim"),
                soft_wrap=True)


# -- analysis, usage, health ----------------------------------------------------------------------


SEVERITY = {"critical": "red", "warning": "yellow", "info": "dim"}


def where(f: Any) -> str:
    """A finding's place: `3.4` or `3.4→5.1` (turn.step)."""
    a = f"{f.start_turn}" + ("" if f.start_step is None else f".{f.start_step}")
    b = f"{f.end_turn}" + ("" if f.end_step is None else f".{f.end_step}")
    return a if a == b else f"{a}→{b}"


def finding_line(f: Any, width: int | None) -> Text:
    """One analysis finding in one line: severity, kind, turn.step range, explanation (cut to fit)."""
    line = Text()
    line.append(f"{f.severity:8}", SEVERITY[f.severity])
    line.append(f" {f.kind:16} {where(f):11} ")
    room = None if width is None else max(20, width - cell_len(line.plain))
    line.append(cut(one_line(f.explanation), room))
    return line


def analysis(screen: Screen, res: Any, short_id: str) -> None:
    """`analyze`: the session, then per finding a line (severity, kind, where, tool) and its explanation."""
    c = screen.out
    c.print(f"[bold cyan]{escape(short_id)}[/bold cyan]  {agent(res.provider)}  {number(res.turns)} turns, "
            f"{number(res.tool_calls)} tool calls", soft_wrap=True)
    if not res.findings:
        c.print("[green]no findings[/green]: no loops, retries, reverted edits, long read-only runs, slow "
                "outliers, interruptions or denials")
        return
    cols = [Column("severity"), Column("kind"), Column("turn.step"), Column("calls", right=True),
            Column("tool", flex=1)]
    rows = [[(f.severity, SEVERITY[f.severity]), f.kind, where(f), number(f.calls_total), f.tool or ""]
            for f in res.findings]
    lines = table(cols, rows, screen.width)
    c.print(lines[0], soft_wrap=True)
    for f, line in zip(res.findings, lines[1:]):
        c.print(line, soft_wrap=True)
        _block(c, "    ", one_line(f.explanation), None, screen.width, text_style="dim")
    capped = [k for k, n in res.counts.items() if n > sum(1 for f in res.findings if f.kind == k)]
    footer(screen, f"{number(len(res.findings))} findings" + (
        f" (more of {', '.join(capped)}: --max-per-kind N)" if capped else "")
        + f"; read one in context: agtrace-mcp show {short_id} --turn N")


def tokens(t: Any) -> str:
    """Token totals in one line."""
    rate = "" if t.cache_hit_rate is None else f", cache hit {t.cache_hit_rate:.0%}"
    return (f"in {number(t.input)} + cache read {number(t.cache_read)} / write {number(t.cache_write)}, "
            f"out {number(t.output)} (reasoning {number(t.reasoning)}){rate}")


def context(x: Any) -> str:
    """Context-window use in one line: peak and now, against the window when known."""
    win = f" of {number(x.context_window)}" if x.context_window else ""
    out = f"context now {number(x.last_context_tokens)}{win}" if x.last_context_tokens is not None else "context"
    if x.last_pct is not None:
        out += f" ({x.last_pct:.0f}%)"
    out += f", peak {number(x.peak_context_tokens)}"
    if x.peak_pct is not None:
        out += f" ({x.peak_pct:.0f}%)"
    return out


def usage(screen: Screen, res: Any, ids: dict[str, str]) -> None:
    """`usage`: totals, per model, context, compactions, large outputs, then per-turn/step/session rows."""
    c = screen.out
    sid = ids.get(res.session_id or "", res.session_id)
    head = {"session": f"session {sid}", "turn": f"session {sid} turn {res.turn_index}",
            "range": f"{number(res.sessions_total)} sessions"}[res.scope]
    c.print(f"[bold]{escape(str(head))}[/bold]: {tokens(res.tokens)}", soft_wrap=True)
    if res.subagent_tokens is not None:
        c.print(f"  subagents ({number(res.subagents)}): {tokens(res.subagent_tokens)}", soft_wrap=True)
    if len(res.by_model) > 1:
        cols = [Column("model", flex=1), Column("steps", right=True), Column("input", right=True),
                Column("cache read", right=True), Column("output", right=True), Column("hit", right=True)]
        rows = [[mu.model or "?", number(mu.steps), number(mu.tokens.input), number(mu.tokens.cache_read),
                 number(mu.tokens.output),
                 "" if mu.tokens.cache_hit_rate is None else f"{mu.tokens.cache_hit_rate:.0%}"] for mu in res.by_model]
        print_lines(c, [Text("  ") + line for line in table(cols, rows, None if screen.width is None
                                                             else screen.width - 2)])
    elif res.by_model:
        c.print(f"  [dim]model: {escape(res.by_model[0].model or '?')}[/dim]", soft_wrap=True)
    if res.context is not None and res.context.peak_context_tokens:
        c.print(f"  {context(res.context)}" + ("" if res.context.context_window else " (window unknown)"),
                soft_wrap=True)
    for cp in res.compactions:
        c.print(f"  compaction at turn {cp.turn_index} ({cp.trigger or 'trigger not recorded'}): "
                f"{number(cp.tokens_before)} → {number(cp.tokens_after)}", soft_wrap=True)
    for o in res.largest_outputs_in_context[:5]:
        c.print(f"  [dim]large output in context: {escape(o.tool)} {escape(o.call_id)} turn "
                f"{o.turn_index}.{o.step_index}: {number(o.output_chars)} chars[/dim]", soft_wrap=True)
    rows_in = res.turns or res.steps or res.sessions
    if rows_in:
        first = {"session": "turn", "turn": "step", "range": "session"}[res.scope]
        cols = [Column(first, style="cyan" if first == "session" else ""), Column("input", right=True),
                Column("cache read", right=True), Column("cache write", right=True), Column("output", right=True),
                Column("context" if res.scope == "turn" else "peak context", right=True)]
        rows = []
        for r in rows_in:
            if res.scope == "turn":
                rows.append([str(r.index), number(r.input), number(r.cache_read), number(r.cache_write),
                             number(r.output), number(r.context_tokens)])
            else:
                k = str(r.index) if res.scope == "session" else ids.get(r.session_id, r.session_id)
                rows.append([k, number(r.tokens.input), number(r.tokens.cache_read), number(r.tokens.cache_write),
                             number(r.tokens.output), number(r.peak_context_tokens)])
        print_lines(c, table(cols, rows, screen.width))
    if res.next_cursor:
        footer(screen, f"more: --cursor {res.next_cursor}")


def doctor(screen: Screen, rep: Any) -> None:
    """`doctor`: the index, then per agent where it looked and what it read."""
    c = screen.out
    c.print(f"index: {escape(rep.index_path)} ({rep.index_bytes / 1e6:,.1f} MB)", soft_wrap=True)
    # note, files_refused, long_lines and files_cut come with the hardening work (issue 16): shown when there
    if getattr(rep, "note", None):
        c.print(f"[yellow]{escape(rep.note)}[/yellow]")
    for h in rep.providers:
        c.print(f"\n[bold]{h.provider}[/bold]")
        for r in h.roots:
            c.print(f"  [dim]{escape(home_short(r))}[/dim]", soft_wrap=True)
        for refused in getattr(h, "files_refused", []):
            c.print(f"  [yellow]not read[/yellow] {escape(refused['path'])}: {escape(refused['reason'])}",
                    soft_wrap=True)
        if getattr(h, "long_lines", 0) or getattr(h, "files_cut", 0):
            c.print(f"  lines over the size cap, skipped: {number(h.long_lines)}; compressed files cut at their "
                    f"bound: {number(h.files_cut)}")
        if not h.files:
            c.print("  no log files found")
            continue
        c.print(f"  {number(h.files)} files ({number(h.files_gone)} no longer on disk), {number(h.sessions)} sessions, "
                f"{number(h.lines)} lines, {number(h.records)} records")
        c.print(f"  lines that could not be parsed: {number(h.bad_lines)}"
                + (f"; files still being written: {number(h.torn_tails)}" if h.torn_tails else ""))
        if h.unknown_types:
            kinds = ", ".join(f"{k} ×{v:,}" for k, v in sorted(h.unknown_types.items()))
            c.print("  unknown record types: " + escape(kinds))
        if h.skipped:
            c.print("  records not counted as the session's own: " +
                    escape(", ".join(f"{k} ×{v:,}" for k, v in sorted(h.skipped.items()))))
        for smp in h.bad_samples[:5]:
            c.print(f"  [yellow]bad line[/yellow] {escape(smp['file'])} @{smp['offset']:,}: {escape(smp['reason'])}: "
                    f"{escape(cut(one_line(str(smp['preview'])), 80))}", soft_wrap=True)
    for p in getattr(rep, "plugin_problems", []):
        c.print(f"\n[yellow]provider plugin skipped[/yellow] {escape(p.entry_point)}"
                + (f" ({escape(p.package)})" if p.package else "") + f": {escape(p.error)}", soft_wrap=True)


def index_report(screen: Screen, rep: Any, db_path: str) -> None:
    """`index`: what one refresh did."""
    screen.out.print(f"indexed {number(rep.files_ingested)} of {number(rep.files_seen)} files "
                     f"({rep.bytes_read / 1e6:,.1f} MB read) in {rep.seconds:.2f}s → {escape(db_path)}", soft_wrap=True)
    for e in rep.errors:
        screen.err.print(f"  {escape(str(e))}", soft_wrap=True)
