"""The human CLI and `serve`. argparse only: every command is a thin shell over `api.Agtrace`.

Every command has `--json` (the same data the MCP tools return). Errors go to stderr with exit code 1
(2 for usage errors). In `serve` mode nothing but the protocol is written to stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import AgtraceError
from .providers.base import ROOT_VARS

CUT_DEFAULT = 2000


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("locations")
    g.add_argument("--home", help="treat this folder as HOME when looking for agent logs")
    g.add_argument("--data-dir", help="where the index lives (default: $AGTRACE_MCP_DATA_DIR, "
                                      "$XDG_DATA_HOME/agtrace-mcp or ~/.local/share/agtrace-mcp)")
    for prov, (_var, flag) in ROOT_VARS.items():
        g.add_argument(flag, dest=f"root_{prov}", metavar="DIR", help=f"{prov} data dir")
    g.add_argument("--project", dest="scope", action="append", default=[], metavar="PATH",
                   help="limit everything to sessions under this project root (repeatable)")
    g.add_argument("--no-redact", action="store_true", help="do not mask secrets in the output")
    g.add_argument("--demo", action="store_true", help="use the bundled example logs instead of your own")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agtrace-mcp", description=(
        "Session history of coding agents (Claude Code, Codex CLI, Gemini CLI, Antigravity, Copilot CLI, "
        "OpenCode) for agents, over MCP, and for you on the command line."))
    parser.add_argument("--version", action="version", version=f"agtrace-mcp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    p.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--token", help="bearer token required by the HTTP transport (or AGTRACE_MCP_TOKEN)")
    p.add_argument("--budget-tokens", type=int, help="output budget per tool response (default 20000)")
    _common(p)

    p = sub.add_parser("index", help="index the logs now (every other command does this incrementally)")
    p.add_argument("--rebuild", action="store_true", help="read every log again from the start")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("sessions", help="list sessions, newest activity first")
    p.add_argument("--provider")
    p.add_argument("--in", dest="project_filter", metavar="PATH", help="only sessions of this project root")
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--query", "-q", help="text in the title")
    p.add_argument("--has-failures", action="store_true")
    p.add_argument("--subagents", action="store_true", help="include subagent sessions")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--cursor")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("show", help="show one session (id, id prefix, or a log file path)")
    p.add_argument("ref")
    p.add_argument("--turn", type=int, help="show only this turn (negative counts from the end)")
    p.add_argument("--full", action="store_true", help="do not cut long bodies")
    p.add_argument("--cut", type=int, default=CUT_DEFAULT, help=f"cut strings longer than this (default {CUT_DEFAULT})")
    p.add_argument("--all", action="store_true", help="with a file path: every session in the file (subagents too)")
    p.add_argument("--provider", help="with a file path: which agent wrote it (detected otherwise)")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("failures", help="failed tool executions")
    p.add_argument("--session")
    p.add_argument("--in", dest="project_filter", metavar="PATH")
    p.add_argument("--provider")
    p.add_argument("--tool")
    p.add_argument("--kind", help="tool_error, exit_code, interrupted, denied or timeout")
    p.add_argument("--since")
    p.add_argument("--group-by", choices=["tool", "error_kind", "error", "project"],
                   help="group the failures (error = the normalised error message)")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--cursor")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("search", help="full-text search over prompts, messages, reasoning, tool calls and outputs")
    p.add_argument("query")
    p.add_argument("--session")
    p.add_argument("--in", dest="project_filter", metavar="PATH")
    p.add_argument("--provider")
    p.add_argument("--kind", action="append", help="prompt, message, reasoning, tool_call, tool_output")
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--cursor")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("projects", help="project roots with their sessions")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("output", help="the full output (or arguments) of one tool call")
    p.add_argument("session")
    p.add_argument("call_id")
    p.add_argument("--args", action="store_true", help="the call's arguments instead of its output")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("secrets", help="where credentials appear in the history (fingerprints, never values)")
    p.add_argument("--session")
    p.add_argument("--in", dest="project_filter", metavar="PATH")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("analyze", help="loops, retries, reverted edits, slow tools, interruptions of one session")
    p.add_argument("session")
    from .engine.analysis import Thresholds

    for f in Thresholds.names():
        p.add_argument("--" + f.replace("_", "-"), dest=f"th_{f}", metavar="N",
                       type=type(getattr(Thresholds(), f)), help=f"threshold (default {getattr(Thresholds(), f)})")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("usage", help="tokens and context use of a session, a turn, or a project/time range")
    p.add_argument("session", nargs="?", help="a session id (leave out for a range)")
    p.add_argument("--turn", type=int, help="one turn of the session (negative counts from the end)")
    p.add_argument("--in", dest="project_filter", metavar="PATH", help="only sessions of this project root")
    p.add_argument("--provider")
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--cursor")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("doctor", help="what was read, per agent: files, lines, unknown records, bad lines")
    p.add_argument("--json", action="store_true")
    _common(p)
    return parser


def demo_home() -> Path:
    """The bundled example logs: the checkout's fixtures/home, or the copy the wheel ships (setup.py)."""
    pkg = Path(__file__).resolve().parent
    for cand in (pkg.parent / "fixtures" / "home", pkg / "_demo" / "home"):
        if cand.is_dir():
            return cand
    raise AgtraceError("the bundled example logs are missing from this install; reinstall agtrace-mcp "
                       "(pip install --force-reinstall agtrace-mcp) or run from a checkout")


def make_api(args: argparse.Namespace) -> Any:
    from .api import Agtrace
    from .config import Config

    overrides = {prov: getattr(args, f"root_{prov}", None) for prov in ROOT_VARS}
    home = args.home
    data_dir = args.data_dir
    if getattr(args, "demo", False):
        home = str(demo_home())
        base = Config.load(home=None).data_dir if not data_dir else Path(data_dir)
        # one demo index per copy of the demo logs (a checkout, an installed wheel): sharing one would mix
        # them, each copy's sessions taking over from the other's as "no longer on disk"
        data_dir = str(base / "demo" / hashlib.sha256(home.encode()).hexdigest()[:12])
        os.environ.pop("CLAUDE_CONFIG_DIR", None)
        os.environ.pop("CODEX_HOME", None)
        os.environ.pop("COPILOT_HOME", None)
        overrides = {}
    cfg = Config.load(home=home, data_dir=data_dir, root_overrides=overrides, projects=args.scope or None,
                      redact=False if args.no_redact else None,
                      budget_tokens=getattr(args, "budget_tokens", None))
    if getattr(args, "demo", False):
        cfg.live_seconds = 0
    if args.command != "serve":
        cfg.wait_seconds = None  # a person at a terminal waits for a complete answer (with a progress bar)
    return Agtrace(cfg)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        if args.command == "serve":
            from .server import serve

            return serve(args, make_api(args))
        return COMMANDS[args.command](make_api(args), args)
    except AgtraceError as e:
        print(f"agtrace-mcp: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


# -- commands -------------------------------------------------------------------------------------


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def cmd_index(api: Any, args: argparse.Namespace) -> int:
    progress_cb = None
    bar = None
    if sys.stderr.isatty() and not args.json:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("indexing"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                       transient=True, console=__import__("rich.console").console.Console(stderr=True))
        task = bar.add_task("index", total=None)
        bar.start()

        def progress_cb(done: int, total: int, path: str) -> None:
            bar.update(task, completed=done, total=total or None)
    try:
        rep = api.refresh(rebuild=args.rebuild, progress=progress_cb)
    finally:
        if bar is not None:
            bar.stop()
    data = {"files_seen": rep.files_seen, "files_ingested": rep.files_ingested, "files_gone": rep.files_gone,
            "files_skipped_locked": rep.files_skipped_locked, "bytes_read": rep.bytes_read,
            "seconds": round(rep.seconds, 3), "errors": rep.errors, "index": str(api.config.db_path)}
    if args.json:
        _emit_json(data)
    else:
        print(f"indexed {rep.files_ingested} of {rep.files_seen} files ({rep.bytes_read / 1e6:.1f} MB read) "
              f"in {rep.seconds:.2f}s → {api.config.db_path}")
        for e in rep.errors:
            print(f"  {e}", file=sys.stderr)
    return 0


def cmd_sessions(api: Any, args: argparse.Namespace) -> int:
    res = api.list_sessions(project=args.project_filter, provider=args.provider, since=args.since, until=args.until,
                            query=args.query, has_failures=True if args.has_failures else None,
                            include_subagents=args.subagents, limit=args.limit, cursor=args.cursor)
    if args.json:
        _emit_json(res.model_dump(mode="json"))
        return 0
    from rich.table import Table

    t = Table(box=None, header_style="bold")
    for col in ("id", "agent", "last activity", "turns", "tools", "failed", "title", "project"):
        # the fixed columns keep their width (and whole headers); project and title take what is left
        fixed = col not in ("project", "title")
        t.add_column(col, no_wrap=True, overflow="ellipsis", ratio=None if fixed else 1,
                     min_width={"id": 13, "agent": 11, "last activity": 16}.get(col, len(col)) if fixed else None)
    for s in res.sessions:
        t.add_row(s.session_id[:13], s.provider, (s.ended_at or "")[:16].replace("T", " "), str(s.turns),
                  str(s.tool_calls), str(s.failed_tools) if s.failed_tools else "",
                  (s.title or "")[:80] + ("" if s.on_disk else "  (log gone)"), _short(s.project_root))
    c = _console()
    c.print(t)
    more = f"; next page: --cursor {res.next_cursor}" if res.next_cursor else ""
    c.print(f"[dim]{len(res.sessions)} of {res.total} sessions{more}[/dim]")
    return 0


def cmd_show(api: Any, args: argparse.Namespace) -> int:
    from .engine import load_file

    ref = args.ref
    if os.path.sep in ref or ref.endswith((".jsonl", ".json", ".zst")) or os.path.isfile(ref):
        if not os.path.isfile(ref):
            raise AgtraceError(f"no such file: {ref}")
        sessions = load_file(ref, provider=args.provider)
        if not sessions:
            raise AgtraceError(f"no session found in {ref}")
        if not args.all:
            sessions = sessions[:1]
    else:
        sessions = [api.load_session(ref)]
    if args.turn is not None:
        for s in sessions:
            n = len(s.turns)
            i = args.turn + n if args.turn < 0 else args.turn
            if not 0 <= i < n:
                raise AgtraceError(f"turn {args.turn} is out of range: the session has {n} turns")
            s.turns = [s.turns[i]]
    redact = api.config.redact
    if args.json:
        docs = [_cut_strings(_masked(s.model_dump(mode="json"), redact), None if args.full else args.cut)
                for s in sessions]
        _emit_json(docs[0] if len(docs) == 1 else docs)
        return 0
    for s in sessions:
        _render_session(_cut_strings(_masked(s.model_dump(mode="json"), redact), None if args.full else args.cut))
    return 0


def cmd_failures(api: Any, args: argparse.Namespace) -> int:
    res = api.find_failed_tools(session_id=args.session, project=args.project_filter, provider=args.provider,
                                tool=args.tool, kind=args.kind, since=args.since, limit=args.limit, cursor=args.cursor,
                                group_by=args.group_by)
    if args.json:
        _emit_json(res.model_dump(mode="json"))
        return 0
    if res.groups is not None:
        from rich.markup import escape

        c = _console()
        for g in res.groups:
            ex = g.examples[0] if g.examples else None
            c.print(f"[bold]{g.count}×[/bold] in {g.sessions} sessions, last {(g.last_seen or '')[:16].replace('T', ' ')}"
                    f" ({escape(', '.join(g.tools[:3]))})"
                    + (f"  e.g. {ex.session_id[:13]} {ex.turn_index}.{ex.step_index}" if ex else ""))
            c.print("    " + escape(str(g.key)))
        c.print(f"[dim]{len(res.groups)} of {res.groups_total} groups, {res.total} failures[/dim]")
        return 0

    # Two lines per failure, the error on its own indented line: in a table the error column was what a
    # narrow terminal squeezed into a few characters per line.
    from rich.markup import escape

    c = _console()
    width = max(40, c.width)
    tool_w = min(24, max((len(f.tool) for f in res.failures), default=4))
    for f in res.failures:
        kind = f.error_kind or ""
        if f.exit_code is not None:
            kind += f" {f.exit_code}"
        c.print(f"{(f.at or 'time unknown')[:16].replace('T', ' '):16}  {f.session_id[:13]:13}  "
                f"{f'{f.turn_index}.{f.step_index}':>7}  {escape(_cut(f.tool, tool_w)):{tool_w}}  [bold]{kind}[/bold]")
        c.print("    " + escape(_cut(" ".join(f.error.split()), width - 5)), style="dim")
    more = f"; next page: --cursor {res.next_cursor}" if res.next_cursor else ""
    c.print(f"[dim]{len(res.failures)} of {res.total} failures{more}[/dim]")
    return 0


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: max(0, n - 1)] + "…"


def cmd_search(api: Any, args: argparse.Namespace) -> int:
    res = api.search_history(args.query, session_id=args.session, project=args.project_filter, provider=args.provider,
                             kind=args.kind, since=args.since, until=args.until, limit=args.limit, cursor=args.cursor)
    if args.json:
        _emit_json(res.model_dump(mode="json"))
        return 0
    c = _console()
    from rich.markup import escape
    from rich.text import Text

    for h in res.hits:
        where = f"{h.session_id[:13]} turn {h.turn_index}" + (f" step {h.step_index}" if h.step_index is not None else "")
        c.print(f"[bold]{escape(where)}[/bold] [dim]{h.kind} · {h.provider} · {escape(_short(h.project_root))}[/dim]")
        snippet = Text.from_markup(escape(" ".join(h.snippet.split())).replace("«", "[reverse]").replace("»", "[/reverse]"))
        for line in snippet.wrap(c, max(20, c.width - 2)):  # wrapped lines keep the indent, no trailing blanks
            line.rstrip()
            c.print(Text("  ") + line)
    if not res.hits:
        c.print("[dim]no hits[/dim]")
    more = f"; next page: --cursor {res.next_cursor}" if res.next_cursor else ""
    if res.hits:
        c.print(f"[dim]{len(res.hits)} hits{more}[/dim]")
    return 0


def cmd_projects(api: Any, args: argparse.Namespace) -> int:
    res = api.list_projects(limit=args.limit)
    if args.json:
        _emit_json(res.model_dump(mode="json"))
        return 0
    from rich.table import Table

    t = Table(box=None, header_style="bold")
    for col in ("project", "sessions", "agents", "last activity", "failed tools"):
        t.add_column(col)
    for p in res.projects:
        t.add_row(p.project_root or "(unknown)", str(p.sessions), ",".join(p.providers),
                  (p.last_activity or "")[:16].replace("T", " "), str(p.failed_tools))
    _console().print(t)
    return 0


def cmd_output(api: Any, args: argparse.Namespace) -> int:
    field = "args" if args.args else "output"
    offset, chunks = 0, []
    while True:
        res = api.get_tool_output(args.session, args.call_id, field=field, offset=offset, limit=1_000_000)
        chunks.append(res.text)
        if res.next_offset is None:
            break
        offset = res.next_offset
    text = "".join(chunks)
    if args.json:
        _emit_json({"session_id": res.session_id, "call_id": res.call_id, "field": field, "text": text,
                    "total_chars": res.total_chars, "source": res.source})
    else:
        sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
    return 0


def cmd_secrets(api: Any, args: argparse.Namespace) -> int:
    res = api.secret_findings(session_id=args.session, project=args.project_filter, limit=args.limit)
    if args.json:
        _emit_json(res.model_dump(mode="json"))
        return 0
    from rich.table import Table

    t = Table(box=None, header_style="bold")
    for col in ("fingerprint", "seen", "sessions", "last seen", "where", "example"):
        t.add_column(col)
    for f in res.findings:
        ex = f.examples[0] if f.examples else None
        where = f"{ex.session_id[:13]} turn {ex.turn_index}" if ex else ""
        t.add_row(f.fingerprint, str(f.occurrences), str(f.sessions), (f.last_seen or "")[:10], ",".join(f.found_in),
                  where)
    c = _console()
    c.print(t)
    c.print(f"[dim]{res.note}[/dim]")
    return 0


def cmd_doctor(api: Any, args: argparse.Namespace) -> int:
    rep = api.doctor()
    if args.json:
        _emit_json(rep.model_dump(mode="json"))
        return 0
    c = _console()
    from rich.markup import escape

    c.print(f"index: {rep.index_path} ({rep.index_bytes / 1e6:.1f} MB)")
    for h in rep.providers:
        roots = ", ".join(h.roots)
        c.print(f"\n[bold]{h.provider}[/bold]  [dim]{escape(roots)}[/dim]")
        if not h.files:
            c.print("  no log files found")
            continue
        c.print(f"  {h.files} files ({h.files_gone} no longer on disk), {h.sessions} sessions, {h.lines} lines, "
                f"{h.records} records")
        c.print(f"  lines that could not be parsed: {h.bad_lines}" + (f"; files still being written: {h.torn_tails}"
                                                                      if h.torn_tails else ""))
        if h.unknown_types:
            c.print("  unknown record types: " + ", ".join(f"{k} ×{v}" for k, v in sorted(h.unknown_types.items())))
        if h.skipped:
            c.print("  records not counted as the session's own: " +
                    ", ".join(f"{k} ×{v}" for k, v in sorted(h.skipped.items())))
        for smp in h.bad_samples[:5]:
            c.print(f"  [yellow]bad line[/yellow] {escape(smp['file'])} @{smp['offset']}: {smp['reason']}: "
                    f"{escape(str(smp['preview'])[:80])}")
    return 0


def cmd_analyze(api: Any, args: argparse.Namespace) -> int:
    thresholds = {k[3:]: v for k, v in vars(args).items() if k.startswith("th_") and v is not None}
    res = api.analyze_session(args.session, **thresholds)
    if args.json:
        _emit_json(res.model_dump(mode="json"))
        return 0
    from rich.markup import escape

    c = _console()
    c.print(f"[bold]{res.session_id}[/bold]  {res.provider}  {res.turns} turns, {res.tool_calls} tool calls")
    colour = {"critical": "red", "warning": "yellow", "info": "dim"}
    for f in res.findings:
        where = f"{f.start_turn}.{'' if f.start_step is None else f.start_step}"
        if (f.end_turn, f.end_step) != (f.start_turn, f.start_step):
            where += f"→{f.end_turn}.{'' if f.end_step is None else f.end_step}"
        c.print(f"[{colour[f.severity]}]{f.severity:8}[/{colour[f.severity]}] {f.kind:16} {where:12} "
                f"{escape(f.explanation)}")
    if not res.findings:
        c.print("[green]no findings[/green]")
    c.print(f"[dim]{escape(res.note or '')}[/dim]")
    return 0


def cmd_usage(api: Any, args: argparse.Namespace) -> int:
    res = api.get_usage(args.session, turn=args.turn, project=args.project_filter, provider=args.provider,
                        since=args.since, until=args.until, limit=args.limit, cursor=args.cursor)
    if args.json:
        _emit_json(res.model_dump(mode="json"))
        return 0
    from rich.table import Table

    c = _console()

    def tok(t: Any) -> str:
        rate = "" if t.cache_hit_rate is None else f", cache hit {t.cache_hit_rate:.0%}"
        return (f"in {t.input:,} + cache read {t.cache_read:,} / write {t.cache_write:,}, out {t.output:,} "
                f"(reasoning {t.reasoning:,}){rate}")

    head = {"session": f"session {res.session_id}", "turn": f"session {res.session_id} turn {res.turn_index}",
            "range": f"{res.sessions_total} sessions"}[res.scope]
    c.print(f"[bold]{head}[/bold]: {tok(res.tokens)}")
    if res.subagent_tokens is not None:
        c.print(f"  subagents ({res.subagents}): {tok(res.subagent_tokens)}")
    for mu in res.by_model:
        c.print(f"  [dim]{mu.model}: {mu.steps} steps, {tok(mu.tokens)}[/dim]")
    if res.context is not None and res.context.peak_context_tokens:
        x = res.context
        win = f" of {x.context_window:,} ({x.window_source})" if x.context_window else " (window unknown)"
        c.print(f"  context: peak {x.peak_context_tokens:,}{win}"
                + (f" = {x.peak_pct}%" if x.peak_pct is not None else "")
                + (f"; now {x.last_context_tokens:,}" if x.last_context_tokens is not None else "")
                + (f" = {x.last_pct}%" if x.last_pct is not None else ""))
    for cp in res.compactions:
        c.print(f"  compaction at turn {cp.turn_index} ({cp.trigger or 'trigger not recorded'}): {cp.tokens_before} → {cp.tokens_after}")
    for o in res.largest_outputs_in_context[:5]:
        c.print(f"  [dim]large output in context: {o.tool} {o.call_id} turn {o.turn_index}.{o.step_index}: "
                f"{o.output_chars:,} chars[/dim]")
    rows = res.turns or res.steps or res.sessions
    if rows:
        t = Table(box=None, header_style="bold")
        first = {"session": "turn", "turn": "step", "range": "session"}[res.scope]
        for col in (first, "input", "cache read", "cache write", "output", "context/peak"):
            t.add_column(col, justify="left" if col == first else "right")
        for r in rows:
            if res.scope == "turn":
                t.add_row(str(r.index), f"{r.input:,}", f"{r.cache_read:,}", f"{r.cache_write:,}", f"{r.output:,}",
                          f"{r.context_tokens:,}")
            else:
                k = str(r.index) if res.scope == "session" else r.session_id[:13]
                t.add_row(k, f"{r.tokens.input:,}", f"{r.tokens.cache_read:,}", f"{r.tokens.cache_write:,}",
                          f"{r.tokens.output:,}", f"{r.peak_context_tokens:,}")
        c.print(t)
    if res.next_cursor:
        c.print(f"[dim]more: --cursor {res.next_cursor}[/dim]")
    return 0


COMMANDS = {
    "index": cmd_index, "sessions": cmd_sessions, "show": cmd_show, "failures": cmd_failures,
    "search": cmd_search, "projects": cmd_projects, "output": cmd_output, "doctor": cmd_doctor,
    "secrets": cmd_secrets, "analyze": cmd_analyze, "usage": cmd_usage,
}


# -- rendering helpers ----------------------------------------------------------------------------


def _short(path: str | None) -> str:
    if not path:
        return ""
    home = str(Path.home())
    return "~" + path[len(home):] if path.startswith(home + "/") else path


def _masked(data: Any, redact: bool) -> Any:
    if not redact:
        return data
    from .redact import mask_value

    return mask_value(data)


def _cut_strings(value: Any, limit: int | None) -> Any:
    """Cut every string longer than `limit` head+tail, with a marker saying how much was cut."""
    if limit is None:
        return value
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        head = limit * 2 // 3
        tail = limit - head
        return f"{value[:head]}…[{len(value) - limit} chars cut; --full shows all]…{value[-tail:]}"
    if isinstance(value, dict):
        return {k: _cut_strings(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_strings(v, limit) for v in value]
    return value


def _render_session(s: dict[str, Any]) -> None:
    from rich.markup import escape

    c = _console()
    st = s["stats"]
    c.print(f"[bold]{escape(s['session_id'])}[/bold]  {s['provider']}  {escape(s.get('project_root') or '')}")
    if s.get("parent_session_id"):
        c.print(f"  subagent of {s['parent_session_id']}" + (f" ({s['agent_name']})" if s.get("agent_name") else ""))
    c.print(f"  {st['turns']} turns, {st['steps']} steps, {st['tool_calls']} tool calls "
            f"({st['failed_tools']} failed); tokens in {st['input']} + cache {st['cache_read']}/{st['cache_write']}, "
            f"out {st['output']}; models {', '.join(s.get('models') or [])}")
    for t in s["turns"]:
        flag = " [red](interrupted)[/red]" if t["interrupted"] else ""
        c.print(f"\n[bold cyan]turn {t['index']}[/bold cyan] [dim]{t['user']['origin']} {t.get('started_at') or ''}"
                f"[/dim]{flag}")
        c.print("  " + escape(t["user"]["text"]).replace("\n", "\n  "))
        for step in t["steps"]:
            if step.get("reasoning"):
                c.print(f"  [dim]· thinking: {escape(step['reasoning'][:300])}[/dim]")
            for tool in step["tools"]:
                mark = "[green]✓[/green]" if tool["status"] == "ok" else (
                    "[red]✗[/red]" if tool["status"] == "error" else "[yellow]?[/yellow]")
                err = ""
                if tool.get("error"):
                    e = tool["error"]
                    code = f" exit {e['exit_code']}" if e.get("exit_code") is not None else ""
                    err = f" [red]{e['kind']}{code}: {escape(e['message'][:160])}[/red]"
                args = json.dumps(tool["args"], ensure_ascii=False)[:160] if tool.get("args") is not None else ""
                c.print(f"  {mark} {escape(tool['name'])} {escape(args)}{err}")
            if step.get("message"):
                c.print("  " + escape(step["message"][:1500]).replace("\n", "\n  "))


if __name__ == "__main__":
    raise SystemExit(main())
