"""The secret-leak harness: plant credentials in every field of every agent's logs, read everything back
through every surface (API, MCP tools, resources and prompts, CLI `--json`), and count the secrets that came
back in full or in part (8 characters or more of a secret's body).

Bodies are random letters and digits, so a leak is found by looking up every 8-character window of every
alphanumeric run of an answer in one set: fast, and a random body cannot match ordinary text by chance.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
import shutil
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "home"
WINDOW = 8  # a leak: this many characters of a secret's body, anywhere in an answer

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits


@dataclass
class Planted:
    kind: str
    text: str  # what was written into the log
    bodies: list[str]  # the parts that must never come back (8+ characters of any)
    where: str = ""  # file and field it was planted in


def _rand(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    # at least one digit and one letter where the alphabet has both, so a body is never a plain word
    while True:
        s = "".join(rng.choice(alphabet) for _ in range(n))
        if alphabet in (ALNUM, UPPER_DIGITS) and (s.isalpha() or s.isdigit()):
            continue
        return s


# kind -> maker(rng) -> (text to plant, bodies). Every format SECURITY.md documents, then the evasions of
# issue 16 (JSON-escaped, URL-encoded, a Turkish İ, and the value shapes the KEY=VALUE rule used to skip).
def _formats() -> dict[str, Callable[[random.Random], tuple[str, list[str]]]]:
    def simple(prefix: str, n: int, alphabet: str = ALNUM, suffix: str = "") -> Callable[..., Any]:
        def make(rng: random.Random) -> tuple[str, list[str]]:
            b = _rand(rng, n, alphabet)
            return f"{prefix}{b}{suffix}", [b]
        return make

    def jwt(rng: random.Random) -> tuple[str, list[str]]:
        a, b, c = _rand(rng, 20), _rand(rng, 30), _rand(rng, 32)
        return f"eyJ{a}.eyJ{b}.{c}", [a, b, c]

    def pem(rng: random.Random) -> tuple[str, list[str]]:
        a, b = _rand(rng, 64), _rand(rng, 40)
        return f"-----BEGIN RSA PRIVATE KEY-----\n{a}\n{b}\n-----END RSA PRIVATE KEY-----", [a, b]

    def dotted(rng: random.Random) -> tuple[str, list[str]]:
        parts = ["".join(rng.choice(string.ascii_lowercase) for _ in range(9)) for _ in range(3)]
        return "PASSWORD=" + ".".join(parts), parts

    def letters(rng: random.Random) -> tuple[str, list[str]]:
        b = "".join(rng.choice(string.ascii_letters) for _ in range(18))
        return f"DB_PASSWORD={b}", [b]

    def digits(rng: random.Random) -> tuple[str, list[str]]:
        b = "".join(rng.choice("123456789") for _ in range(16))
        return f"PIN_PASSWORD={b}", [b]

    return {
        "anthropic_key": simple("sk-ant-api03-", 40),
        "openai_key": simple("sk-proj-", 40),
        "github_token": simple("ghp_", 36),
        "github_pat": simple("github_pat_", 60),
        "gitlab_token": simple("glpat-", 20),
        "aws_access_key": simple("AKIA", 16, UPPER_DIGITS),
        "aws_session_key": simple("ASIA", 16, UPPER_DIGITS),
        "google_api_key": simple("AIza", 35),
        "slack_token": simple("xoxb-", 24),
        "stripe_live": simple("sk_live_", 24),
        "stripe_test": simple("rk_test_", 24),
        "npm_token": simple("npm_", 36),
        "huggingface_token": simple("hf_", 34),
        "pypi_token": simple("pypi-", 60),
        "jwt": jwt,
        "bearer": simple("Authorization: Bearer ", 40),
        "private_key": pem,
        "url_password": simple("https://deploy:", 18, suffix="@git.example.com/team/app.git"),
        "env_assignment": simple("export DB_PASSWORD=", 20),
        "json_assignment": simple('{"api_key": "', 32, suffix='"}'),
        "yaml_assignment": simple("  client_secret: ", 28),
        "token_colon": simple("GITHUB_TOKEN: ", 30),
        # evasions
        "json_escaped_newline": simple("\\nghp_", 36),
        "json_escaped_password": simple('{\\"password\\": \\"', 20, suffix='\\"}'),
        "url_encoded": simple("?q=key%3DAKIA", 16, UPPER_DIGITS),
        "turkish_i": simple("İstanbul DB_PASSWORD=", 20),
        "letters_only": letters,
        "dotted": dotted,
        "digits_only": digits,
        "test_prefixed": simple("PASSWORD=test-", 18),
    }


FORMATS = _formats()


@dataclass
class Plant:
    """Plants secrets into a copy of a HOME of logs; remembers every secret it wrote."""

    rng: random.Random = field(default_factory=lambda: random.Random(16))
    planted: list[Planted] = field(default_factory=list)
    _next: int = 0

    def secret(self, where: str, kind: str | None = None) -> str:
        if kind is None:
            kinds = sorted(FORMATS)
            kind = kinds[self._next % len(kinds)]
            self._next += 1
        text, bodies = FORMATS[kind](self.rng)
        self.planted.append(Planted(kind, text, bodies, where))
        return text

    def dense(self, where: str, chars: int) -> str:
        """Secrets back to back for `chars` characters: wherever a text is cut, a secret is cut."""
        out: list[str] = []
        n = 0
        while n < chars:
            s = self.secret(where)
            out.append(s)
            n += len(s) + 1
        return " ".join(out)

    # -- rewriting logs ------------------------------------------------------------------------------

    def value(self, v: Any, where: str, key: str | None = None, dense_left: list[int] | None = None) -> Any:
        if isinstance(v, dict):
            return {k: self.value(x, where, k, dense_left) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x, where, key, dense_left) for x in v]
        if not isinstance(v, str):
            return v
        s = v.strip()
        if s[:1] in "{[" and len(s) > 2:
            try:
                inner = json.loads(s)
            except ValueError:
                inner = None
            if isinstance(inner, (dict, list)):  # arguments kept as a JSON string (Codex, Copilot)
                return json.dumps(self.value(inner, where, key, dense_left))
        if key in ("cwd", "directory", "worktree") and v.startswith("/") and self.rng.random() < 0.3:
            return v.rstrip("/") + "/" + self.secret(f"{where}:{key}", "github_token")
        if " " not in v and "\n" not in v:
            return v  # ids, types, timestamps, names: left alone so every record still parses
        if dense_left and dense_left[0] > 0:
            dense_left[0] -= 1
            return f"{v}\n{self.dense(f'{where}:{key}:dense', 4200)}\n{self.secret(f'{where}:{key}')}"
        return f"{v} {self.secret(f'{where}:{key}')} tail"

    def rewrite_file(self, path: Path, dense: int = 0) -> None:
        where = str(path)
        left = [dense]
        raw = path.read_bytes()
        if path.suffix == ".json" or path.name.endswith(".metadata.json"):
            try:
                doc = json.loads(raw)
            except ValueError:
                return
            path.write_text(json.dumps(self.value(doc, where, None, left), ensure_ascii=False))
            return
        out = []
        for line in raw.decode("utf-8", "replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                out.append(line)
                continue
            out.append(json.dumps(self.value(rec, where, None, left), ensure_ascii=False))
        path.write_text("\n".join(out) + "\n")


def planted_home(dest: Path, seed: int = 16) -> tuple[Path, Plant]:
    """A copy of the fixture HOME with secrets in every free-text field of every agent's logs, one Codex
    rollout compressed to `.zst`, and OpenCode's sessions in a database (its JSON storage, planted, loaded
    into `opencode.db` the way OpenCode 1.4 migrates it)."""
    home = dest / "home"
    shutil.copytree(FIXTURES, home)
    plant = Plant(random.Random(seed))
    logs = sorted(p for p in home.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json")
                  and "projects.json" not in p.name and "config" not in p.parts)
    dense_done: set[str] = set()
    for p in logs:
        agent = p.relative_to(home).parts[0] + "/" + "/".join(p.relative_to(home).parts[1:3])
        dense = 2 if agent not in dense_done and p.suffix == ".jsonl" else 0
        dense_done.add(agent)
        plant.rewrite_file(p, dense=dense)
    _zst_one_codex(home)
    _opencode_db(home)
    return home, plant


def _zst_one_codex(home: Path) -> None:
    import zstandard

    rollouts = sorted((home / ".codex" / "sessions").rglob("rollout-*.jsonl"))
    src = rollouts[0]
    with open(str(src) + ".zst", "wb") as f, zstandard.ZstdCompressor(level=3).stream_writer(f) as w:
        w.write(src.read_bytes())
    src.unlink()


def _opencode_db(home: Path) -> None:
    from test_opencode import build_db

    data = home / ".local" / "share" / "opencode"
    build_db(data / "opencode.db", data / "storage")


# -- reading everything back -----------------------------------------------------------------------------


class Collector:
    """Everything the surfaces answered, labelled by where it came from."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, str]] = []

    def add(self, label: str, value: Any) -> None:
        if hasattr(value, "model_dump_json"):
            text = value.model_dump_json()
        elif isinstance(value, str):
            text = value
        else:
            text = json.dumps(value, ensure_ascii=False, default=str)
        self.answers.append((label, text))


def leaks(plant: Plant, answers: list[tuple[str, str]]) -> dict[int, list[str]]:
    """Planted secret index -> labels of the answers that held 8+ characters of its body."""
    grams: dict[str, int] = {}
    for i, p in enumerate(plant.planted):
        for b in p.bodies:
            for k in range(len(b) - WINDOW + 1):
                grams[b[k:k + WINDOW]] = i
    found: dict[int, list[str]] = {}
    run = re.compile(r"[A-Za-z0-9]{%d,}" % WINDOW)
    for label, text in answers:
        for m in run.finditer(text):
            r = m.group(0)
            for k in range(len(r) - WINDOW + 1):
                i = grams.get(r[k:k + WINDOW])
                if i is not None:
                    labels = found.setdefault(i, [])
                    if label not in labels and len(labels) < 5:
                        labels.append(label)
    return found


def api_answers(api: Any, col: Collector, *, small_pages: int = 40) -> None:
    """Every API method over every session, turn, call, page size and offset (bounded sweeps)."""
    sessions = api.list_sessions(include_subagents=True, limit=200)
    col.add("list_sessions", sessions)
    col.add("list_projects", api.list_projects(limit=200))
    col.add("find_failed_tools", api.find_failed_tools(limit=200))
    for g in ("tool", "error_kind", "error", "project"):
        col.add(f"find_failed_tools:{g}", api.find_failed_tools(limit=200, group_by=g))
    col.add("secret_findings", api.secret_findings(limit=200))
    col.add("get_usage:range", api.get_usage(limit=200))
    for q in ("the", "error", "REDACTED", "password", "PASSWORD", "token", "key", "Bearer", "AKIA*", "ghp*", "sk*",
              "eyJ*", "BEGIN", "deploy", "İstanbul", "api_key", "secret"):
        col.add(f"search:{q}", api.search_history(q, limit=200))
    roots = {s.project_root for s in sessions.sessions if s.project_root}
    for r in sorted(roots):
        with contextlib.suppress(Exception):
            col.add(f"current_session:{r}", api.current_session(r))
    for s in sessions.sessions:
        sid = s.session_id
        d = api.get_session(sid, turn_limit=200)
        col.add(f"get_session:{sid}", d)
        col.add(f"analyze:{sid}", api.analyze_session(sid))
        col.add(f"usage:{sid}", api.get_usage(sid))
        col.add(f"secrets:{sid}", api.secret_findings(session_id=sid))
        col.add(f"failures:{sid}", api.find_failed_tools(session_id=sid, limit=200))
        for i in range(d.turns_total):
            t = api.get_turn(sid, i)
            col.add(f"get_turn:{sid}:{i}", t)
            while t.next_cursor:
                t = api.get_turn(sid, i, cursor=t.next_cursor)
                col.add(f"get_turn:{sid}:{i}:page", t)
            col.add(f"usage:{sid}:{i}", api.get_usage(sid, turn=i))
            for st in t.steps:
                for tool in st.tools:
                    for fld in ("output", "args"):
                        _pages(api, col, sid, tool.call_id, fld, small_pages)


def _pages(api: Any, col: Collector, sid: str, call: str, fld: str, small_pages: int) -> None:
    label = f"get_tool_output:{sid}:{call}:{fld}"
    try:
        whole = api.get_tool_output(sid, call, field=fld, limit=1_000_000)
    except Exception:
        return
    col.add(label, whole)
    # small pages from two starting offsets (a page that starts inside a key), then a mid-size page size
    for start, size, most in ((0, 10, small_pages), (4, 10, small_pages), (0, 37, small_pages), (0, 997, 40)):
        off, n = start, 0
        while off is not None and off <= whole.total_chars and n < most:
            page = api.get_tool_output(sid, call, field=fld, offset=off, limit=size)
            col.add(f"{label}:{size}@{off}", page)
            off, n = page.next_offset, n + 1


async def mcp_answers(api: Any, col: Collector) -> None:
    """Every tool once per session (and per turn), every resource, every prompt, through an MCP client."""
    from mcp import Client

    from agtrace_mcp.server import build_server

    async with Client(build_server(api), mode="legacy") as c:
        async def call(name: str, args: dict[str, Any]) -> None:
            r = await c.call_tool(name, args)
            col.add(f"mcp:{name}:{json.dumps(args)}", [x.text for x in r.content if hasattr(x, "text")])
            if r.structured_content is not None:
                col.add(f"mcp:{name}:structured", r.structured_content)

        await call("list_sessions", {"limit": 200, "include_subagents": True})
        await call("list_projects", {"limit": 200})
        await call("find_failed_tools", {"limit": 200})
        await call("secret_findings", {"limit": 200})
        await call("get_usage", {"limit": 200})
        await call("search_history", {"query": "REDACTED", "limit": 200})
        await call("search_history", {"query": "the", "limit": 200})
        sessions = api.list_sessions(include_subagents=True, limit=200).sessions
        for s in sessions:
            sid = s.session_id
            await call("get_session", {"session_id": sid})
            await call("analyze_session", {"session_id": sid})
            await call("get_usage", {"session_id": sid})
            r = await c.read_resource(f"agtrace://session/{sid}")
            col.add(f"resource:{sid}", [getattr(x, "text", "") for x in r.contents])
            for i in range(s.turns):
                await call("get_turn", {"session_id": sid, "turn_index": i})
                r = await c.read_resource(f"agtrace://session/{sid}/turn/{i}")
                col.add(f"resource:{sid}:{i}", [getattr(x, "text", "") for x in r.contents])
            for name in ("review_failures", "handoff_summary"):
                p = await c.get_prompt(name, {"session_id": sid})
                col.add(f"prompt:{name}:{sid}", [getattr(m.content, "text", "") for m in p.messages])


def cli_answers(home: Path, data: Path, api: Any, col: Collector) -> None:
    """Every CLI command with `--json`, run in this process (the same code path as the installed command)."""
    from agtrace_mcp import cli

    base = ["--home", str(home), "--data-dir", str(data)]

    def run(*argv: str) -> None:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main([*argv, *base])
            except SystemExit:
                pass
        col.add("cli:" + " ".join(argv), out.getvalue() + err.getvalue())

    run("index", "--json")
    run("sessions", "--json", "--subagents", "--limit", "200")
    run("projects", "--json")
    run("failures", "--json", "--limit", "200")
    run("failures", "--json", "--group-by", "error")
    run("secrets", "--json", "--limit", "200")
    run("usage", "--json")
    run("doctor", "--json")
    for q in ("REDACTED", "the", "password"):
        run("search", q, "--json", "--limit", "200")
    for s in api.list_sessions(include_subagents=True, limit=200).sessions:
        sid = s.session_id
        run("show", sid, "--json")
        run("show", sid, "--json", "--full")
        run("show", sid, "--full")
        run("analyze", sid, "--json")
        run("usage", sid, "--json")
        d = api.get_session(sid, turn_limit=200)
        for i in range(d.turns_total):
            for st in api.get_turn(sid, i).steps:
                for tool in st.tools:
                    run("output", sid, tool.call_id, "--json")
                    run("output", sid, tool.call_id, "--args")


def full_leaks(plant: Plant, answers: list[tuple[str, str]]) -> int:
    """How many planted secrets came back with a whole body intact."""
    every = "\n".join(t for _, t in answers)
    return sum(1 for p in plant.planted if any(b in every for b in p.bodies))


def summarise(plant: Plant, found: dict[int, list[str]]) -> str:
    """One line per leaked secret (kind, where planted, where it came back), for a failing test's message."""
    lines = []
    for i, labels in sorted(found.items()):
        p = plant.planted[i]
        lines.append(f"{p.kind} planted in {p.where.split('/home/', 1)[-1]} -> {', '.join(labels[:3])}")
    return "\n".join(lines)


def by_kind(plant: Plant, found: dict[int, list[str]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in found:
        out[plant.planted[i].kind] = out.get(plant.planted[i].kind, 0) + 1
    return dict(sorted(out.items()))


def iter_planted(plant: Plant, kind: str) -> Iterator[Planted]:
    return (p for p in plant.planted if p.kind == kind)
