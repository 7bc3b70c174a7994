"""The human CLI and `serve`. argparse only: every command is a thin shell over `api.Agtrace`.

Every command brings the index up to date first (with a progress bar on stderr when that takes a while),
asks the API, and prints the answer: `render` for people, `--json` for programs (the same data the MCP
tools return). Errors go to stderr in the CLI's own words, with exit code 1 (2 for usage errors: a bad flag
or value, an unusable HOME). In `serve` mode nothing but the protocol is written to stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from . import __version__
from .errors import LOG_GONE, AgtraceError, BadArgumentError, NotFoundError
from .providers import REGISTRY

if TYPE_CHECKING:
    from . import render, terminal
    from .store import Store
    from .terminal import Screen
else:
    class _Later:
        """A module imported when first used: `serve` never pays for rich and the renderers (the MCP
        client waits for the server's start at every agent start)."""

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            import importlib

            return getattr(importlib.import_module(self._name), attr)

    render = _Later("agtrace_mcp.render")
    terminal = _Later("agtrace_mcp.terminal")

CUT_DEFAULT = 2000


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("locations")
    g.add_argument("--home", help="treat this folder as HOME when looking for agent logs")
    g.add_argument("--data-dir", help="where the index lives (default: $AGTRACE_MCP_DATA_DIR, "
                                      "$XDG_DATA_HOME/agtrace-mcp or ~/.local/share/agtrace-mcp)")
    for name, prov in REGISTRY.items():
        g.add_argument(prov.root_flag, dest=f"root_{name}", metavar="DIR", help=f"{prov.label or name} data dir")
    g.add_argument("--project", dest="scope", action="append", default=[], metavar="PATH",
                   help="limit everything to sessions under this project root (repeatable)")
    g.add_argument("--no-redact", action="store_true", help="do not mask secrets in the output")
    g.add_argument("--demo", action="store_true", help="use the bundled example logs instead of your own")
    g.add_argument("--store", metavar="URL", help="answer from a team database (postgresql://…) instead of this "
                                                  "machine's index (default: $AGTRACE_MCP_STORE)")


def _origin_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--machine", help="only sessions that ran on this machine (a team database has many)")
    p.add_argument("--user", help="only sessions of this user (a team database has many)")


def build_parser() -> argparse.ArgumentParser:
    agents = ", ".join(p.label or n for n, p in REGISTRY.items())
    parser = argparse.ArgumentParser(prog="agtrace-mcp", description=(
        f"Session history of coding agents ({agents}) for agents, over MCP, and for you on the command line."))
    parser.add_argument("--version", action="version", version=f"agtrace-mcp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    p.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--port", default="8765", help="HTTP port (default 8765; 0: any free port)")
    p.add_argument("--token", help="bearer token required by the HTTP transport (or AGTRACE_MCP_TOKEN); "
                                   "16+ characters off loopback")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="with --transport http: also accept this Host header (repeatable; '*' accepts any); "
                        "default: the bound address and its host names")
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
    _origin_filters(p)
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
    _origin_filters(p)
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
    _origin_filters(p)
    _common(p)

    p = sub.add_parser("projects", help="project roots with their sessions")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    _origin_filters(p)
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
    _origin_filters(p)
    _common(p)

    p = sub.add_parser("push", help="send this machine's sessions to a team database (what changed since the last "
                                    "push, secrets masked)",
                       description="Index this machine's logs, then send what changed since the last push to a team "
                                   "PostgreSQL database, every text masked first. Others then read the whole team's "
                                   "history with `--store URL` (or `serve --store URL`).")
    p.add_argument("--to", required=True, metavar="URL", help="the team database: postgresql://USER:PASSWORD@HOST/DB")
    p.add_argument("--machine", help="this machine's name in the team database (default: $AGTRACE_MCP_MACHINE or "
                                     "the host name)")
    p.add_argument("--user", help="whose sessions these are (default: $AGTRACE_MCP_USER or the login name)")
    p.add_argument("--watch", action="store_true", help="keep pushing as the logs grow (Ctrl-C stops)")
    p.add_argument("--interval", type=float, default=5.0, metavar="SECONDS",
                   help="with --watch: how often to push (default 5)")
    p.add_argument("--json", action="store_true", help="one JSON object per push")
    _common(p)

    p = sub.add_parser("doctor", help="what was read, per agent: files, lines, unknown records, bad lines")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("watch", help="follow a session as the agent writes it: steps, failures, findings, tokens",
                       description="Follow a session live: each step as it lands, failed calls with their error "
                                   "line, analysis findings (retry storms, repeated calls…) as they appear, and "
                                   "tokens and context use in a footer. Ctrl-C stops.")
    p.add_argument("session", nargs="?", help="a session id or prefix (default: the newest session, of --in PATH "
                                               "when given, switching to a newer one when it starts)")
    p.add_argument("--in", dest="project_filter", metavar="PATH", help="follow the newest session of this project")
    p.add_argument("--provider", help="follow the newest session of this agent")
    p.add_argument("--last", type=int, default=5, metavar="N", help="steps already recorded to print first (default 5)")
    p.add_argument("--interval", type=float, default=0.3, metavar="SECONDS",
                   help="how often to look at the logs (default 0.3)")
    p.add_argument("--json", action="store_true", help="one JSON object per line and event (session, turn, step, "
                                                       "call_done, finding, usage)")
    _common(p)

    for sp in sub.choices.values():
        # a bad flag is reported with the usage of the subcommand it was given to, not the top level's
        sp.set_defaults(_parser=sp)
    return parser


def demo_home() -> Path:
    """The bundled example logs: the checkout's fixtures/home, or the copy the wheel ships (setup.py)."""
    pkg = Path(__file__).resolve().parent
    for cand in (pkg.parent / "fixtures" / "home", pkg / "_demo" / "home"):
        if cand.is_dir():
            return cand
    raise AgtraceError("the bundled example logs are missing from this install; reinstall agtrace-mcp "
                       "(pip install --force-reinstall agtrace-mcp) or run from a checkout")


def demo_env(env: dict[str, str]) -> dict[str, str]:
    """The environment `--demo` runs in: without any variable that moves an agent's logs (the agents' own,
    such as CODEX_HOME or XDG_DATA_HOME for OpenCode, and ours), so that only the bundled logs are read."""
    movers = {"AGTRACE_MCP_HOME", *(v for p in REGISTRY.values() for v in (p.root_var, *p.root_env))}
    return {k: v for k, v in env.items() if k not in movers}


class UsageError(AgtraceError):
    """The command line cannot be used as given (exit code 2, like argparse's own usage errors)."""


def make_api(args: argparse.Namespace) -> Any:
    """The API over the logs and index the command line names (`--home`, `--data-dir`, `--demo`…).

    Refuses (UsageError) a HOME that is unset or not a folder before anything is created under it.
    """
    from .api import Agtrace
    from .config import Config, home_problem

    env = dict(os.environ)
    overrides: dict[str, str] = {name: v for name in REGISTRY if (v := getattr(args, f"root_{name}", None))}
    home = args.home
    data_dir = args.data_dir
    demo = getattr(args, "demo", False)
    explicit_data = data_dir or env.get("AGTRACE_MCP_DATA_DIR") or env.get("XDG_DATA_HOME")
    store = _store_url(args)
    # a team database needs no logs here (except to push them)
    problem = None if (demo and explicit_data) or store else home_problem(env, home=None if demo else home)
    if problem:
        raise UsageError(f"{problem}; pass --home DIR (the folder that holds .claude, .codex, .gemini…) and set "
                         "AGTRACE_MCP_DATA_DIR (or --data-dir) to where the index may be written")
    if demo:
        home = str(demo_home())
        base = Config.load(env).data_dir if not data_dir else Path(data_dir)
        # one demo index per copy of the demo logs (a checkout, an installed wheel): sharing one would mix
        # them, each copy's sessions taking over from the other's as "no longer on disk"
        data_dir = str(base / "demo" / hashlib.sha256(home.encode()).hexdigest()[:12])
        env = demo_env(env)
        overrides = {}
    cfg = Config.load(env, home=home, data_dir=data_dir, root_overrides=overrides, projects=args.scope or None,
                      redact=False if args.no_redact else None,
                      budget_tokens=getattr(args, "budget_tokens", None))
    if demo:
        cfg.live_seconds = 0
    if args.command != "serve":
        cfg.wait_seconds = None  # a person at a terminal waits for a complete answer (with a progress bar)
    if store:
        from .errors import StoreError
        from .store.postgres import PgStore

        try:
            # PgStore answers the Store's read interface (the store seam); no Protocol names it yet
            return Agtrace(cfg, store=cast("Store", PgStore(store, cfg)))
        except StoreError as e:  # a URL that cannot be used: said like a bad flag
            raise UsageError(f"--store: {e}") from None
    return Agtrace(cfg)


def _store_url(args: argparse.Namespace) -> str | None:
    """The team database to answer from: --store, else AGTRACE_MCP_STORE (never for `push` and `index`, which
    read this machine's logs)."""
    if args.command in ("push", "index") and not getattr(args, "store", None):
        return None
    return getattr(args, "store", None) or os.environ.get("AGTRACE_MCP_STORE") or None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 1 error, 2 usage error, 130 interrupted)."""
    code = _main(argv)
    if code == 130 and argv is None:
        # Ctrl-C: the user wants out now. Leave without the interpreter's shutdown, which waits for every
        # non-daemon thread (a database pool's, a progress bar's) and could keep a stopped command alive.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(130)
    return code


def _main(argv: Sequence[str] | None) -> int:
    _stack_dump_on_request()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if not args.command:
        parser.print_help()
        return 2
    if getattr(args, "project_filter", None):
        # `--in .` and `--in ~/src/app` mean what a shell user expects; the index stores absolute roots
        args.project_filter = os.path.abspath(os.path.expanduser(args.project_filter))
    try:
        if args.command == "serve":
            from .server import serve

            return serve(args, make_api(args))
        return COMMANDS[args.command](make_api(args), args)
    except (UsageError, BadArgumentError) as e:
        print(f"agtrace-mcp {args.command}: {e.text('cli')}", file=sys.stderr)
        return 2
    except AgtraceError as e:
        print(f"agtrace-mcp: {e.text('cli')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`| head`): quietly, and without Python complaining again at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as e:  # a bug: one line (AGTRACE_MCP_DEBUG=1 shows the traceback)
        if os.environ.get("AGTRACE_MCP_DEBUG"):
            raise
        from .redact import mask

        print(f"agtrace-mcp: internal error ({type(e).__name__}: {mask(str(e))[:300]}); set AGTRACE_MCP_DEBUG=1 "
              "for the traceback and please report it", file=sys.stderr)
        return 1


# -- commands: each one refreshes the index (with a progress bar), asks the API, prints ----------------


def _stack_dump_on_request() -> None:
    """`kill -USR1 PID` prints every thread's stack on stderr: how to see where a stuck command is."""
    import faulthandler
    import signal

    if hasattr(signal, "SIGUSR1"):
        try:
            faulthandler.register(signal.SIGUSR1, all_threads=True)
        except (ValueError, RuntimeError, OSError):  # no usable stderr, or not the main thread
            pass


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _ready(api: Any, screen: Screen, *, rebuild: bool = False) -> Any:
    """Bring the index up to date before a command reads it (a progress bar on stderr when that takes long)."""
    return terminal.refresh(api, rebuild=rebuild, console=screen.err)


def _explain_empty(api: Any, screen: Screen, nothing: str) -> None:
    """Never an empty silence: with no sessions indexed at all, where logs were looked for and what to try;
    otherwise that nothing matched (the answer itself stays empty, so pipes get nothing)."""
    everything = api.list_sessions(limit=1, include_subagents=True).total
    if everything == 0 and api.team:
        screen.err.print("agtrace-mcp: the team database holds no sessions yet; each machine sends its own with "
                         "[bold]agtrace-mcp push --to URL[/bold]", soft_wrap=True)
    elif everything == 0:
        render.no_logs(screen.err, api.log_locations(), scoped=bool(api.config.projects))
    else:
        screen.err.print(f"[dim]{nothing} ({everything:,} sessions indexed)[/dim]", soft_wrap=True)


def _short_ids(api: Any, ids: list[str]) -> dict[str, str]:
    return api.short_ids(list(dict.fromkeys(ids)))


def cmd_index(api: Any, args: argparse.Namespace) -> int:
    if args.store:
        raise UsageError("index reads this machine's logs into its own index; a team database is filled by "
                         "`agtrace-mcp push --to URL` from each machine")
    screen = terminal.Screen()
    rep = _ready(api, screen, rebuild=args.rebuild)
    if rep is None:  # another process had just brought the index up to date: nothing was left to read
        from .store.ingest import RefreshReport

        rep = RefreshReport()
    data = {"files_seen": rep.files_seen, "files_ingested": rep.files_ingested, "files_gone": rep.files_gone,
            "files_skipped_locked": rep.files_skipped_locked, "bytes_read": rep.bytes_read,
            "seconds": round(rep.seconds, 3), "errors": rep.errors, "index": str(api.config.db_path)}
    if args.json:
        _emit_json(data)
    else:
        render.index_report(screen, rep, str(api.config.db_path))
        if api.list_sessions(limit=1, include_subagents=True).total == 0:
            render.no_logs(screen.err, api.log_locations(), scoped=bool(api.config.projects))
    # the index could not be written (a read-only or full data dir): asked to index, that is a failure
    return 1 if any("cannot be" in e for e in rep.errors) else 0


def cmd_sessions(api: Any, args: argparse.Namespace) -> int:
    screen = terminal.Screen()
    _ready(api, screen)
    res = api.list_sessions(project=args.project_filter, provider=args.provider, since=args.since, until=args.until,
                            query=args.query, has_failures=True if args.has_failures else None,
                            include_subagents=args.subagents, machine=args.machine, user=args.user,
                            limit=args.limit, cursor=args.cursor)
    if args.json:
        _emit_json(res.model_dump(mode="json"))
    elif not res.sessions:
        _explain_empty(api, screen, "no sessions match")
    else:
        render.sessions(screen, res, _short_ids(api, [s.session_id for s in res.sessions]))
    return 0


def _is_file_ref(ref: str) -> bool:
    return os.path.sep in ref or ref.endswith((".jsonl", ".json", ".zst")) or os.path.isfile(ref)


def cmd_show(api: Any, args: argparse.Namespace) -> int:
    from .load import load_file

    ref = args.ref
    note = None
    if _is_file_ref(ref):
        if not os.path.isfile(ref):
            raise AgtraceError(f"no such file: {ref}")
        sessions = load_file(ref, provider=args.provider)
        if not sessions:
            raise AgtraceError(f"no session found in {ref}")
        if not args.all:
            sessions = sessions[:1]
    else:
        _ready(api, terminal.Screen())
        try:
            sessions = [api.load_session(ref)]
        except NotFoundError as e:
            if e.remedy is not LOG_GONE:
                raise
            # the agent deleted the log (Claude Code does after 30 days by default): the index still has it
            sessions = [api.indexed_session(ref)]
            note = f"{e.message}: shown as the index keeps it (long texts cut)"
    if args.turn is not None:
        for s in sessions:
            n = len(s.turns)
            i = args.turn + n if args.turn < 0 else args.turn
            if not 0 <= i < n:
                raise AgtraceError(f"turn {args.turn} is out of range: session {s.session_id} has {n} turns"
                                   + (f" (0..{n - 1}, or -1 for the latest)" if n else ""))
            s.turns = [s.turns[i]]
    limit = None if args.full else args.cut
    docs = [render.cut_strings(_masked(s.model_dump(mode="json"), api.config.redact), limit) for s in sessions]
    if args.json:
        _emit_json(docs[0] if len(docs) == 1 else docs)
        if note:
            print(note, file=sys.stderr)
        return 0
    screen = terminal.Screen()
    style = render.TranscriptStyle(full=args.full, one_turn=args.turn is not None)
    for k, doc in enumerate(docs):
        if k:
            screen.out.print()
        render.transcript(screen, doc, style)
    if note:
        render.footer(screen, note)
    return 0


def cmd_failures(api: Any, args: argparse.Namespace) -> int:
    screen = terminal.Screen()
    _ready(api, screen)
    res = api.find_failed_tools(session_id=args.session, project=args.project_filter, provider=args.provider,
                                tool=args.tool, kind=args.kind, since=args.since, limit=args.limit, cursor=args.cursor,
                                group_by=args.group_by, machine=args.machine, user=args.user)
    if args.json:
        _emit_json(res.model_dump(mode="json"))
    elif res.groups is not None:
        if not res.groups:
            _explain_empty(api, screen, "no failures match")
            return 0
        ids = _short_ids(api, [e.session_id for g in res.groups for e in g.examples[:1]])
        render.failure_groups(screen, res, ids)
    elif not res.failures:
        _explain_empty(api, screen, "no failures match")
    else:
        render.failures(screen, res, _short_ids(api, [f.session_id for f in res.failures]))
    return 0


def cmd_search(api: Any, args: argparse.Namespace) -> int:
    screen = terminal.Screen()
    _ready(api, screen)
    res = api.search_history(args.query, session_id=args.session, project=args.project_filter, provider=args.provider,
                             kind=args.kind, since=args.since, until=args.until, limit=args.limit, cursor=args.cursor,
                             machine=args.machine, user=args.user)
    if args.json:
        _emit_json(res.model_dump(mode="json"))
    elif not res.hits and api.list_sessions(limit=1, include_subagents=True).total == 0:
        _explain_empty(api, screen, "no hits")
    else:
        render.search(screen, res, _short_ids(api, [h.session_id for h in res.hits]))
    return 0


def cmd_projects(api: Any, args: argparse.Namespace) -> int:
    screen = terminal.Screen()
    _ready(api, screen)
    res = api.list_projects(limit=args.limit, machine=args.machine, user=args.user)
    if args.json:
        _emit_json(res.model_dump(mode="json"))
    elif not res.projects:
        _explain_empty(api, screen, "no projects")
    else:
        render.projects(screen, res)
    return 0


def cmd_output(api: Any, args: argparse.Namespace) -> int:
    _ready(api, terminal.Screen())
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
    screen = terminal.Screen()
    _ready(api, screen)
    res = api.secret_findings(session_id=args.session, project=args.project_filter, limit=args.limit)
    if args.json:
        _emit_json(res.model_dump(mode="json"))
    elif not res.findings and api.list_sessions(limit=1, include_subagents=True).total == 0:
        _explain_empty(api, screen, "no credentials found")
    else:
        ids = _short_ids(api, [f.examples[0].session_id for f in res.findings if f.examples])
        render.secrets(screen, res, ids)
    return 0


def cmd_doctor(api: Any, args: argparse.Namespace) -> int:
    screen = terminal.Screen()
    _ready(api, screen)
    rep = api.doctor()
    if args.json:
        _emit_json(rep.model_dump(mode="json"))
    else:
        render.doctor(screen, rep)
    return 0


def cmd_analyze(api: Any, args: argparse.Namespace) -> int:
    screen = terminal.Screen()
    _ready(api, screen)
    thresholds = {k[3:]: v for k, v in vars(args).items() if k.startswith("th_") and v is not None}
    res = api.analyze_session(args.session, **thresholds)
    if args.json:
        _emit_json(res.model_dump(mode="json"))
    else:
        render.analysis(screen, res, _short_ids(api, [res.session_id])[res.session_id])
    return 0


def cmd_usage(api: Any, args: argparse.Namespace) -> int:
    screen = terminal.Screen()
    _ready(api, screen)
    res = api.get_usage(args.session, turn=args.turn, project=args.project_filter, provider=args.provider,
                        since=args.since, until=args.until, limit=args.limit, cursor=args.cursor,
                        machine=args.machine, user=args.user)
    if args.json:
        _emit_json(res.model_dump(mode="json"))
        return 0
    if res.scope == "range" and not res.sessions and api.list_sessions(limit=1, include_subagents=True).total == 0:
        _explain_empty(api, screen, "no sessions match")
        return 0
    ids = _short_ids(api, [res.session_id] if res.session_id else [r.session_id for r in res.sessions])
    render.usage(screen, res, ids)
    return 0


def cmd_push(api: Any, args: argparse.Namespace) -> int:
    from .errors import StoreError
    from .store.postgres.connect import check_url
    from .store.postgres.push import PushReport, run_push, watch_push

    try:
        url = check_url(args.to)
    except StoreError as e:  # a URL that cannot be used: said like a bad flag
        raise UsageError(f"--to: {e}") from None
    cfg = api.config
    machine, user = args.machine or cfg.machine, args.user or cfg.user
    screen = terminal.Screen()

    def show(rep: PushReport) -> None:
        data = {"database": rep.database, "machine": rep.machine, "user": rep.user, "sessions": rep.sessions,
                "sessions_sent": rep.sessions_sent, "turns_sent": rep.turns_sent, "rows_sent": rep.rows_sent,
                "files_sent": rep.files_sent, "seconds": round(rep.seconds, 3), "errors": rep.errors}
        if args.json:
            sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        elif rep.errors:
            screen.err.print(f"agtrace-mcp push: {rep.errors[0]}", soft_wrap=True, markup=False)
        elif rep.sessions_sent or not args.watch:
            screen.out.print(f"pushed {rep.sessions_sent:,} of {rep.sessions:,} sessions ({rep.turns_sent:,} turns, "
                             f"{rep.rows_sent:,} rows) as {rep.machine} ({rep.user}) to {rep.database} in "
                             f"{rep.seconds:.1f} s", soft_wrap=True, markup=False)

    if args.watch:
        watch_push(cfg, url, machine=machine, user=user, interval=args.interval, report=show)
        return 0
    with terminal.IndexProgress(screen.err) as progress:
        rep = run_push(cfg, url, machine=machine, user=user, index_progress=progress)
    show(rep)
    return 0


def cmd_watch(api: Any, args: argparse.Namespace) -> int:
    from .watch import Watch

    screen = terminal.Screen()
    _ready(api, screen)
    if api.list_sessions(limit=1, include_subagents=True).total == 0 and not args.session and not args.json:
        render.no_logs(screen.err, api.log_locations(), scoped=bool(api.config.projects))
    return Watch(api, screen, session=args.session, project=args.project_filter, provider=args.provider,
                 last=args.last, interval=args.interval, as_json=args.json).run()


COMMANDS = {
    "index": cmd_index, "sessions": cmd_sessions, "show": cmd_show, "failures": cmd_failures,
    "search": cmd_search, "projects": cmd_projects, "output": cmd_output, "doctor": cmd_doctor,
    "secrets": cmd_secrets, "analyze": cmd_analyze, "usage": cmd_usage, "watch": cmd_watch, "push": cmd_push,
}


def _masked(data: Any, redact: bool) -> Any:
    if not redact:
        return data
    from .redact import mask_value

    return mask_value(data)


if __name__ == "__main__":
    raise SystemExit(main())
