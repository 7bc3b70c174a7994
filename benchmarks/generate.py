#!/usr/bin/env python3
"""Write a realistic, deterministic HOME-like corpus of coding-agent session logs for the benchmarks.

    python benchmarks/generate.py OUT_HOME --size-mb 1100 --big-session-mb 200 --seed 1

Layouts and records follow what the agents really write (see /work/shared/research/log-formats*.md):

- Claude Code 2.1.x: ``OUT_HOME/.claude/projects/<slug>/<uuid>.jsonl`` (slug = cwd with every non-alphanumeric
  character turned into ``-``), sub-agents in ``<slug>/<uuid>/subagents/agent-a<16 hex>.jsonl`` (+ ``.meta.json``).
  One line per assistant content block (shared ``message.id``, repeated ``usage``, final ``output_tokens`` only on
  the last line), ``tool_result`` records with ``toolUseResult``, ``progress`` (bash/hook), ``file-history-snapshot``,
  ``isMeta`` caveats, interrupts, compactions in long sessions, pasted base64 images.
- Codex CLI (envelope format): ``OUT_HOME/.codex/sessions/YYYY/MM/DD/rollout-<stamp>-<uuidv7>.jsonl``.
- Gemini CLI: ``OUT_HOME/.gemini/tmp/<slug>/chats/session-<stamp>-<8 hex>.jsonl`` (JSONL ops, gemini messages written
  twice with the same id) plus some legacy pretty-printed ``.json`` sessions, ``OUT_HOME/.gemini/projects.json`` and
  the ``.project_root`` marker of each slug dir.
- Antigravity CLI, GitHub Copilot CLI and OpenCode (a single SQLite database): ``gen_antigravity.py``,
  ``gen_copilot.py``, ``gen_opencode.py``.

Sizes: thousands of sessions, log-normal 10 KB-2 MB, a few of 10-50 MB, and exactly one Claude session of
``--big-session-mb`` MB. About 45 % of the bytes are Claude, 25 % Codex, 12 % Gemini and 6 % each Antigravity,
Copilot and OpenCode, over ~40 projects and ~120 days. The same seed gives the same bytes. A manifest (``OUT_HOME/agtrace-bench-manifest.json``, outside every
agent's log root) tells the runner which words are common or rare and where the big session is.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

MB = 1_000_000
WINDOW_END = 1785456000.0  # 2026-07-31T00:00:00Z: fixed, so the corpus does not depend on today's date
WINDOW_DAYS = 120
N_PROJECTS = 40
MANIFEST = "agtrace-bench-manifest.json"
PROVIDERS = ("claude_code", "codex", "gemini_cli", "antigravity", "copilot", "opencode")
SHARES = {"claude_code": 0.45, "codex": 0.25, "gemini_cli": 0.12, "antigravity": 0.06, "copilot": 0.06,
          "opencode": 0.06}  # of the corpus bytes

# Search terms for the runner: common words occur everywhere, each rare word in a handful of prompts.
COMMON_WORDS = ["error", "test", "function", "database"]
RARE_WORDS = ["quasiperiodic", "zymurgy", "flibbertigibbet"]
RARE_PER_WORD = 5

dumps = orjson.dumps


# -- small helpers ----------------------------------------------------------------------------------------------


TYPED = ("wait, use the staging config instead", "also run the linter when you are done",
         "stop touching the migrations", "please keep the public API unchanged")


def iso(t: float) -> str:
    s = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%03dZ" % int((t - s) * 1000)


def uuid4(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def uuid7(rng: random.Random, t: float) -> str:
    ms = "%012x" % int(t * 1000)
    h = "%020x" % rng.getrandbits(80)
    return f"{ms[:8]}-{ms[8:12]}-7{h[:3]}-{'89ab'[int(h[3], 16) & 3]}{h[4:7]}-{h[7:19]}"


def hexid(rng: random.Random, n: int) -> str:
    return "%0*x" % (n, rng.getrandbits(4 * n))


def slug_of(path: str) -> str:
    return "".join(c if c.isalnum() and c.isascii() else "-" for c in path)


def log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


# -- text pools ---------------------------------------------------------------------------------------------------

_WORDS = (
    "the a an to of and in for on with that this is it be as by from at or not are we can will should when "
    "then if but so all any each more most some into over after before because while where which what how "
    "error test function database query index cache session config server client request response handler "
    "parser stream buffer event queue worker schema result payload metric report file path node tree graph "
    "task job batch chunk page cursor filter store model view route token user record module package build "
    "deploy release branch commit merge rebase diff patch lint format type check coverage fixture mock stub "
    "timeout retry backoff latency throughput memory leak race lock thread process signal socket port host "
    "migration table column row key value json yaml toml string integer boolean null list map set array "
    "refactor rename extract inline move split join parse render encode decode validate normalize resolve "
    "update create delete fetch load save read write open close start stop run call return raise catch "
    "failing passing flaky broken fixed missing unused deprecated legacy new old current previous next "
    "endpoint api service backend frontend component hook state props context reducer store selector "
    "docker container image volume network cluster pod deployment ingress secret env variable flag option "
    "logging tracing alert dashboard incident outage regression benchmark profile hot path slow fast"
).split()

_NOUNS = ("user session config cache index record token request response handler parser stream buffer event "
          "queue worker client server schema query result payload metric report file path node tree task job "
          "batch chunk page cursor filter store model view route item entry account order invoice").split()
_VERBS = ("get load parse build create update delete fetch read write validate normalize resolve merge flush "
          "render encode decode compute apply check find scan sync emit handle open close reset retry").split()
_DIRS = ("src lib internal pkg app api core utils services models handlers cmd web components hooks store "
         "tests scripts config migrations").split()


@dataclass
class Pools:
    prose: str
    log: str
    b64: str
    code: list[str]
    numbered: dict[int, str] = field(default_factory=dict)
    image: str = ""

    def text(self, rng: random.Random, n: int) -> str:
        n = max(1, min(n, len(self.prose) - 1000))
        i = rng.randrange(0, len(self.prose) - n - 200)
        j = self.prose.find(" ", i) + 1
        return self.prose[j:j + n]

    def logs(self, rng: random.Random, n: int) -> str:
        n = max(1, min(n, len(self.log) - 1000))
        i = rng.randrange(0, len(self.log) - n - 200)
        j = self.log.find("\n", i) + 1
        return self.log[j:j + n]

    def blob(self, rng: random.Random, n: int) -> str:
        n = min(n, len(self.b64) - 1)
        i = rng.randrange(0, len(self.b64) - n)
        return self.b64[i:i + n]

    def numbered_file(self, k: int) -> str:
        s = self.numbered.get(k)
        if s is None:
            s = "".join(f"{i:>6}\u2192{line}\n" for i, line in enumerate(self.code[k].split("\n"), 1))
            self.numbered[k] = s
        return s


def _ident(rng: random.Random) -> str:
    return f"{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}"


def _sentence(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(6, 18))
    r = rng.random()
    if r < 0.15:
        words.insert(rng.randrange(len(words)), f"`{_ident(rng)}()`")
    elif r < 0.25:
        words.insert(rng.randrange(len(words)), f"`{rng.choice(_DIRS)}/{rng.choice(_NOUNS)}.py`")
    s = " ".join(words)
    return s[0].upper() + s[1:] + rng.choice(".....?!:")


def _py_function(rng: random.Random) -> str:
    name, a, b, v = _ident(rng), rng.choice(_NOUNS), rng.choice(_NOUNS), rng.choice(_NOUNS)
    return (f"def {name}({a}: {a.title()}, {b}: int = {rng.randint(0, 100)}) -> list[{v.title()}]:\n"
            f'    """{_sentence(rng)}"""\n'
            f"    out: list[{v.title()}] = []\n"
            f"    for item in {a}.{rng.choice(_NOUNS)}s:\n"
            f"        if item.{rng.choice(_NOUNS)} is None:\n"
            f'            raise ValueError("{rng.choice(_NOUNS)} {rng.choice(_WORDS)} {rng.choice(_WORDS)}")\n'
            f"        out.append({_ident(rng)}(item, {b}))\n"
            f"    return out\n\n\n")


def _ts_function(rng: random.Random) -> str:
    name, a, v = _ident(rng), rng.choice(_NOUNS), rng.choice(_NOUNS)
    camel = name.split("_")[0] + name.split("_")[1].title()
    return (f"export async function {camel}({a}: {a.title()}, opts: Options = {{}}): Promise<{v.title()}[]> {{\n"
            f"  // {_sentence(rng)}\n"
            f"  const res = await client.{rng.choice(_VERBS)}(`/api/{a}s/${{{a}.id}}`, opts);\n"
            f"  if (!res.ok) {{\n"
            f"    throw new Error(`{rng.choice(_VERBS)} {a} failed: ${{res.status}}`);\n"
            f"  }}\n"
            f"  return (await res.json()).{v}s.filter((x: {v.title()}) => x.{rng.choice(_NOUNS)} !== null);\n"
            f"}}\n\n")


def _go_function(rng: random.Random) -> str:
    name, a, v = _ident(rng), rng.choice(_NOUNS), rng.choice(_NOUNS)
    camel = "".join(p.title() for p in name.split("_"))
    return (f"// {camel} {_sentence(rng).lower()}\n"
            f"func (s *{a.title()}Service) {camel}(ctx context.Context, id string) ([]*{v.title()}, error) {{\n"
            f"\trows, err := s.db.QueryContext(ctx, \"SELECT id, {rng.choice(_NOUNS)} FROM {v}s WHERE {a}_id = $1\", id)\n"
            f"\tif err != nil {{\n"
            f"\t\treturn nil, fmt.Errorf(\"{rng.choice(_VERBS)} {v}s: %w\", err)\n"
            f"\t}}\n"
            f"\tdefer rows.Close()\n"
            f"\treturn scan{v.title()}s(rows)\n"
            f"}}\n\n")


def build_pools(seed: int) -> Pools:
    rng = random.Random(f"{seed}-pools")
    parts, n = [], 0
    while n < 3 * MB:
        para = " ".join(_sentence(rng) for _ in range(rng.randint(2, 7)))
        parts.append(para)
        n += len(para) + 2
    prose = "\n\n".join(parts)
    levels = ["INFO ", "INFO ", "INFO ", "DEBUG", "WARN ", "ERROR"]
    lines, n = [], 0
    t = WINDOW_END - 86400 * 30
    while n < 2 * MB:
        t += rng.random() * 3
        r = rng.random()
        if r < 0.6:
            line = (f"{iso(t)} {rng.choice(levels)} [{rng.choice(_NOUNS)}-{rng.randint(1, 8)}] "
                    f"{rng.choice(_VERBS)} {rng.choice(_NOUNS)} id={rng.randint(1000, 99999)} "
                    f"in {rng.randint(1, 900)}ms")
        elif r < 0.8:
            line = f"ok  \tgithub.com/acme/{rng.choice(_NOUNS)}/{rng.choice(_DIRS)}/{rng.choice(_NOUNS)}\t{rng.random():.3f}s"
        elif r < 0.95:
            line = f"tests/test_{rng.choice(_NOUNS)}.py::test_{_ident(rng)} PASSED{' ' * rng.randint(1, 30)}[{rng.randint(1, 99)}%]"
        else:
            line = f"  npm WARN deprecated {rng.choice(_NOUNS)}@{rng.randint(0, 9)}.{rng.randint(0, 20)}.0: {_sentence(rng)}"
        lines.append(line)
        n += len(line) + 1
    log = "\n".join(lines)
    b64 = base64.b64encode(rng.randbytes(1_500_000)).decode()
    code = []
    makers = [_py_function, _ts_function, _go_function]
    headers = ["import os\nimport sys\nfrom dataclasses import dataclass\n\n\n",
               "import { client } from '../api/client';\nimport type { Options } from '../types';\n\n",
               "package service\n\nimport (\n\t\"context\"\n\t\"fmt\"\n)\n\n"]
    for i in range(240):
        lang = i % 3
        size = int(log_uniform(rng, 800, 40_000))
        body = [headers[lang]]
        m = len(body[0])
        while m < size:
            fn = makers[lang](rng)
            body.append(fn)
            m += len(fn)
        code.append("".join(body))
    # one pasted screenshot: a PNG header and incompressible bytes, as in the real sample (~300 KB of base64)
    image = base64.b64encode(b"\x89PNG\r\n\x1a\n" + rng.randbytes(225_000)).decode()
    return Pools(prose=prose, log=log, b64=b64, code=code, image=image)


# -- projects -------------------------------------------------------------------------------------------------------


@dataclass
class Project:
    path: str
    lang: int  # 0 py, 1 ts, 2 go
    files: list[tuple[str, int]]  # (absolute path, code pool index)
    branches: list[str]
    gemini_slug: str = ""


def build_projects(seed: int, n_code: int) -> list[Project]:
    rng = random.Random(f"{seed}-projects")
    homes = ["/home/dev", "/Users/alex", "/home/sam"]
    names = set()
    out = []
    while len(out) < N_PROJECTS:
        name = f"{rng.choice(_NOUNS)}-{rng.choice(['api', 'cli', 'web', 'svc', 'lib', 'tools', 'app', 'infra'])}"
        if name in names:
            continue
        names.add(name)
        base = f"{rng.choice(homes)}/{rng.choice(['src', 'work', 'code', 'projects'])}/{name}"
        if rng.random() < 0.1:
            base += f"/.worktrees/{rng.randint(1, 4)}"
        lang = rng.randrange(3)
        ext = [".py", ".ts", ".go"][lang]
        files = []
        for _ in range(rng.randint(15, 45)):
            k = rng.randrange(n_code // 3) * 3 + lang
            files.append((f"{base}/{rng.choice(_DIRS)}/{_ident(rng)}{ext}", k))
        branches = ["main"] + [f"{rng.choice(['feat', 'fix', 'chore'])}/{_ident(rng).replace('_', '-')}"
                               for _ in range(rng.randint(1, 5))]
        out.append(Project(path=base, lang=lang, files=files, branches=branches))
    slugs: dict[str, int] = {}
    for p in out:
        base = p.path.rstrip("/").rsplit("/", 1)[-1].lower()
        k = slugs.get(base, 0)
        slugs[base] = k + 1
        p.gemini_slug = base if k == 0 else f"{base}-{k}"
    return out


# -- tool call content shared by the providers ----------------------------------------------------------------------


@dataclass
class Shell:
    command: str
    description: str
    output: str
    exit_code: int


class Content:
    """Commands, outputs, prompts: realistic sizes (mostly 100 B-5 KB, ~2 % 50-300 KB)."""

    def __init__(self, pools: Pools, rng: random.Random) -> None:
        self.p = pools
        self.rng = rng

    def prompt(self, project: Project) -> str:
        rng = self.rng
        r = rng.random()
        f = rng.choice(project.files)[0]
        if r < 0.5:
            return self.p.text(rng, rng.randint(40, 400)).strip() or "fix the failing test"
        if r < 0.75:
            return f"In {f.rsplit('/', 1)[-1]}: {self.p.text(rng, rng.randint(60, 600))}"
        if r < 0.9:
            code = self.p.code[rng.choice(project.files)[1]]
            i = rng.randrange(max(1, len(code) - 800))
            return f"{self.p.text(rng, rng.randint(40, 200))}\n\n```\n{code[i:i + rng.randint(100, 1500)]}\n```"
        return (f"I get this error when running the tests:\n\n```\n{self.p.logs(rng, rng.randint(200, 3000))}\n"
                f"Traceback (most recent call last):\n  File \"{f}\", line {rng.randint(1, 400)}\n"
                f"{rng.choice(['KeyError', 'ValueError', 'TypeError'])}: {rng.choice(_NOUNS)}\n```\nplease fix")

    def shell(self, project: Project, fail: bool) -> Shell:
        rng, p = self.rng, self.p
        r = rng.random()
        f, k = rng.choice(project.files)
        rel = f[len(project.path) + 1:]
        if rng.random() < 0.02:  # a huge output: install/build/docker logs
            cmd = rng.choice(["npm install", "docker compose logs api", "cargo build --release 2>&1",
                              "journalctl -u api --since today", "go test -v ./... 2>&1"])
            out = p.logs(rng, int(log_uniform(rng, 50_000, 300_000)))
            return Shell(cmd, "Show the full log", out, 1 if fail else 0)
        if r < 0.2:
            mods = "".join(f"\tmodified:   {rng.choice(project.files)[0][len(project.path) + 1:]}\n"
                           for _ in range(rng.randint(1, 8)))
            out = (f"On branch {rng.choice(project.branches)}\nChanges not staged for commit:\n"
                   f"  (use \"git add <file>...\" to update what will be committed)\n{mods}\n"
                   "no changes added to commit (use \"git add\" and/or \"git commit -a\")")
            return Shell("git status", "Show working tree status", out if not fail else
                         "fatal: not a git repository (or any of the parent directories): .git", 128 if fail else 0)
        if r < 0.45:
            tool = ["pytest -q", "npx vitest run", "go test ./..."][project.lang]
            body = p.logs(rng, int(log_uniform(rng, 150, 6000)))
            if fail:
                body += (f"\nFAILED tests/test_{rng.choice(_NOUNS)}.py::test_{_ident(rng)} - AssertionError: "
                         f"assert {rng.randint(0, 9)} == {rng.randint(10, 99)}\n1 failed, {rng.randint(5, 300)} passed")
            else:
                body += f"\n{rng.randint(5, 300)} passed in {rng.random() * 20:.2f}s"
            return Shell(f"{tool} {rel if project.lang == 0 else ''}".strip(), "Run the tests", body, 1 if fail else 0)
        if r < 0.6:
            code = p.code[k]
            lines = code.split("\n")
            pat = rng.choice(_NOUNS)
            hits = [f"{rel}:{i + 1}:{ln}" for i, ln in enumerate(lines) if pat in ln][: rng.randint(3, 60)]
            return Shell(f"grep -rn \"{pat}\" {rel.split('/')[0]}", f"Search for {pat}",
                         "\n".join(hits) if hits and not fail else "", 1 if (fail or not hits) and fail else 0)
        if r < 0.72:
            code = p.code[k]
            n = rng.randint(20, 200)
            out = "\n".join(code.split("\n")[:n])
            return Shell(f"sed -n '1,{n}p' {rel}", f"Show the head of {rel}",
                         out if not fail else f"sed: {rel}: No such file or directory", 2 if fail else 0)
        if r < 0.82:
            ents = "\n".join(f"-rw-r--r--  1 dev  staff  {rng.randint(100, 90000):>6} Jul {rng.randint(1, 30):>2} "
                             f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d} {_ident(rng)}{['.py', '.ts', '.go'][project.lang]}"
                             for _ in range(rng.randint(3, 40)))
            return Shell(f"ls -la {rel.split('/')[0]}", "List files", f"total {rng.randint(8, 400)}\n{ents}"
                         if not fail else "ls: cannot access 'x': No such file or directory", 2 if fail else 0)
        if r < 0.92:
            tool = ["ruff check .", "npm run lint", "golangci-lint run ./..."][project.lang]
            out = p.logs(rng, int(log_uniform(rng, 100, 3000)))
            if fail:
                out += f"\n{rel}:{rng.randint(1, 300)}:{rng.randint(1, 80)}: E501 line too long\nFound 1 error."
            return Shell(tool, "Run the linter", out, 1 if fail else 0)
        cmd = rng.choice(["make build", "npm run build", "go build ./...", "python -m build"])
        out = p.logs(rng, int(log_uniform(rng, 100, 4000)))
        if fail:
            out += f"\nerror: {rng.choice(_NOUNS)} {rng.choice(_WORDS)}: undefined: {_ident(rng)}\nmake: *** [build] Error 2"
        return Shell(cmd, "Build the project", out, 2 if fail else 0)


# -- Claude Code ------------------------------------------------------------------------------------------------------

CLAUDE_VERSIONS = ["2.1.12", "2.1.17", "2.1.27", "2.1.41"]
CLAUDE_MODELS = ["claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929", "claude-opus-4-6"]
SUB_MODEL = "claude-haiku-4-5-20251001"


class Out:
    """Collects encoded lines; flushed to the file in large writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "wb", buffering=0)
        self.buf: list[bytes] = []
        self.pending = 0
        self.bytes = 0
        self.last_t = 0.0

    def add(self, obj: Any) -> None:
        b = dumps(obj)
        self.buf.append(b)
        n = len(b) + 1
        self.pending += n
        self.bytes += n
        if self.pending > 8 * MB:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.buf.append(b"")
            self.fh.write(b"\n".join(self.buf))
            self.buf = []
            self.pending = 0

    def close(self, mtime: float) -> None:
        self.flush()
        self.fh.close()
        os.utime(self.path, (mtime, mtime))


class ClaudeSession:
    def __init__(self, g: Generator, rng: random.Random, project: Project, t0: float, target: int,
                 out_path: Path, sid: str, agent_id: str | None = None, parent_sid: str | None = None,
                 allow_subagents: bool = True, rare: list[str] | None = None) -> None:
        self.g, self.rng, self.project = g, rng, project
        self.t = t0
        self.target = target
        self.sid = parent_sid or sid
        self.agent_id = agent_id
        self.out = Out(out_path)
        self.version = rng.choice(CLAUDE_VERSIONS)
        self.model = SUB_MODEL if agent_id else rng.choice(CLAUDE_MODELS)
        self.branch = rng.choice(project.branches)
        self.slug = "-".join(rng.choice(_WORDS) for _ in range(3))
        self.last: str | None = None
        self.ctx = rng.randint(15_000, 40_000)
        self.allow_subagents = allow_subagents and agent_id is None
        self.subagents = 0
        self.since_compact = 0
        self.rare = list(rare or [])
        self.extra_bytes = 0  # sub-agent files
        self.count_extra = True  # do sub-agent files count towards the target size?
        # API calls per turn (exponential): short sessions are short exchanges, so a 10 KB session is not one
        # 100 KB turn
        self.steps_mean = min(5.0, max(1.0, target / 25_000))
        self.content = Content(g.pools, rng)

    # envelope ----------------------------------------------------------------------------------------------------
    def _tick(self, lo: float = 0.05, hi: float = 4.0) -> str:
        self.t += self.rng.uniform(lo, hi)
        return iso(self.t)

    def _env(self, typ: str, _uuid: str | None = None, **rest: Any) -> tuple[dict[str, Any], str]:
        u = _uuid or uuid4(self.rng)
        d: dict[str, Any] = {"parentUuid": self.last, "isSidechain": self.agent_id is not None}
        if self.agent_id:
            d["agentId"] = self.agent_id
        d.update(userType="external", cwd=self.project.path, sessionId=self.sid, version=self.version,
                 gitBranch=self.branch, slug=self.slug, type=typ)
        d.update(rest)
        d["uuid"] = u
        d["timestamp"] = self._tick()
        self.last = u
        return d, u

    def _user(self, content: Any, _uuid: str | None = None, **extra: Any) -> str:
        d, u = self._env("user", _uuid, message={"role": "user", "content": content}, **extra)
        if "toolUseResult" in extra:  # the structured result goes after uuid/timestamp, as Claude writes it
            tur = d.pop("toolUseResult")
            d["toolUseResult"] = tur
            src = d.pop("sourceToolAssistantUUID", None)
            if src:
                d["sourceToolAssistantUUID"] = src
        self.out.add(d)
        return u

    def _usage(self, out_tokens: int) -> dict[str, Any]:
        cw = self.rng.randint(50, 4000)
        return {"input_tokens": self.rng.randint(1, 12), "cache_creation_input_tokens": cw,
                "cache_read_input_tokens": self.ctx,
                "cache_creation": {"ephemeral_5m_input_tokens": cw, "ephemeral_1h_input_tokens": 0},
                "output_tokens": out_tokens, "service_tier": "standard"}

    def _assistant(self, blocks: list[dict[str, Any]], stop: str) -> str:
        """One API response: one line per content block, shared message.id/requestId, usage repeated."""
        mid = "msg_01" + base64.b32encode(self.rng.randbytes(15)).decode().rstrip("=")[:22]
        req = "req_011C" + base64.b32encode(self.rng.randbytes(15)).decode().rstrip("=")[:20]
        final_out = sum(len(orjson.dumps(b)) for b in blocks) // 4 + self.rng.randint(5, 60)
        last = ""
        for i, b in enumerate(blocks):
            is_last = i == len(blocks) - 1
            msg = {"model": self.model, "id": mid, "type": "message", "role": "assistant", "content": [b],
                   "stop_reason": stop if is_last else None, "stop_sequence": None,
                   "usage": self._usage(final_out if is_last else self.rng.randint(1, 4))}
            d, last = self._env("assistant", message=msg, requestId=req)
            # Claude writes requestId before type: re-order the tail keys
            d = {**{k: v for k, v in d.items() if k not in ("type", "uuid", "timestamp", "requestId", "message")},
                 "message": msg, "requestId": req, "type": "assistant", "uuid": d["uuid"], "timestamp": d["timestamp"]}
            self.out.add(d)
        self.ctx += final_out + self.rng.randint(100, 2000)
        return last

    def _progress(self, data: dict[str, Any], tool_use_id: str, parent_tool: str) -> None:
        d, _ = self._env("progress", data=data, toolUseID=tool_use_id, parentToolUseID=parent_tool)
        self.out.add(d)

    def _snapshot(self, message_id: str) -> None:
        self.out.add({"type": "file-history-snapshot", "messageId": message_id,
                      "snapshot": {"messageId": message_id, "trackedFileBackups": {}, "timestamp": iso(self.t)},
                      "isSnapshotUpdate": False})

    # tools -------------------------------------------------------------------------------------------------------
    def _tool(self, fail: bool) -> tuple[dict[str, Any], Any, Any, bool, list[dict[str, Any]]]:
        """(tool_use input block, tool_result content, toolUseResult, is_error, progress data list)."""
        rng, p, proj = self.rng, self.g.pools, self.project
        tid = "toolu_01" + base64.b32encode(rng.randbytes(15)).decode().rstrip("=")[:22]
        r = rng.random()
        prog: list[dict[str, Any]] = []
        if r < 0.42:
            sh = self.content.shell(proj, fail)
            block = {"type": "tool_use", "id": tid, "name": "Bash",
                     "input": {"command": sh.command, "description": sh.description}}
            if rng.random() < 0.3:
                out_so_far = ""
                for j in range(rng.randint(1, 4)):
                    out_so_far += sh.output[j * 300:(j + 1) * 300]
                    prog.append({"type": "bash_progress", "output": out_so_far[-400:], "fullOutput": out_so_far[-2000:],
                                 "elapsedTimeSeconds": j + 2, "totalLines": out_so_far.count("\n") + 1})
            if sh.exit_code:
                text = f"Exit code {sh.exit_code}\n{sh.output}"
                return block, text, f"Error: {text}", True, prog
            return block, sh.output, {"stdout": sh.output, "stderr": "", "interrupted": False, "isImage": False}, False, prog
        f, k = rng.choice(proj.files)
        if r < 0.66:
            block = {"type": "tool_use", "id": tid, "name": "Read", "input": {"file_path": f}}
            if fail:
                return block, "<tool_use_error>File does not exist.</tool_use_error>", "Error: File does not exist.", True, prog
            code = p.code[k]
            n = code.count("\n") + 1
            return block, p.numbered_file(k), {"type": "text", "file": {"filePath": f, "content": code, "numLines": n,
                                                                          "startLine": 1, "totalLines": n}}, False, prog
        if r < 0.78:
            code = p.code[k]
            lines = code.split("\n")
            i = rng.randrange(max(1, len(lines) - 6))
            old = "\n".join(lines[i:i + rng.randint(1, 5)])
            new = old.replace(rng.choice(_NOUNS), rng.choice(_NOUNS)) + f"\n    # {rng.choice(_WORDS)} {rng.choice(_WORDS)}"
            block = {"type": "tool_use", "id": tid, "name": "Edit",
                     "input": {"file_path": f, "old_string": old, "new_string": new}}
            if fail:
                msg = f"String to replace not found in file.\nString: {old}"
                return block, f"<tool_use_error>{msg}</tool_use_error>", f"Error: {msg}", True, prog
            snippet = "".join(f"{i + j + 1:>6}\u2192{ln}\n" for j, ln in enumerate(lines[i:i + 12]))
            text = (f"The file {f} has been updated. Here's the result of running `cat -n` on a snippet of the "
                    f"edited file:\n{snippet}")
            patch = [{"oldStart": i + 1, "oldLines": old.count("\n") + 1, "newStart": i + 1,
                      "newLines": new.count("\n") + 1,
                      "lines": [f"-{x}" for x in old.split("\n")] + [f"+{x}" for x in new.split("\n")]}]
            return block, text, {"filePath": f, "oldString": old, "newString": new, "originalFile": code,
                                 "structuredPatch": patch, "userModified": False, "replaceAll": False}, False, prog
        if r < 0.86:
            pat = rng.choice(_NOUNS)
            block = {"type": "tool_use", "id": tid, "name": "Grep",
                     "input": {"pattern": pat, "path": proj.path, "output_mode": "content", "-n": True}}
            hits = []
            for ff, kk in rng.sample(proj.files, min(len(proj.files), rng.randint(1, 6))):
                for j, ln in enumerate(p.code[kk].split("\n")):
                    if pat in ln:
                        hits.append(f"{ff}:{j + 1}:{ln}")
            hits = hits[: rng.randint(5, 120)]
            text = "\n".join(hits) or "No matches found"
            return block, text, {"mode": "content", "numFiles": 0, "filenames": [], "content": text,
                                 "numLines": len(hits)}, False, prog
        if r < 0.91:
            block = {"type": "tool_use", "id": tid, "name": "Glob", "input": {"pattern": f"**/*{f[-3:]}"}}
            names = [ff for ff, _ in proj.files]
            return block, "\n".join(names), {"filenames": names, "durationMs": rng.randint(5, 900),
                                             "numFiles": len(names), "truncated": False}, False, prog
        if r < 0.95:
            todos = [{"content": p.text(rng, rng.randint(20, 80)), "status": rng.choice(["pending", "in_progress",
                                                                                          "completed"]),
                      "activeForm": p.text(rng, rng.randint(20, 80))} for _ in range(rng.randint(2, 7))]
            block = {"type": "tool_use", "id": tid, "name": "TodoWrite", "input": {"todos": todos}}
            return block, ("Todos have been modified successfully. Ensure that you continue to use the todo list to "
                           "track your progress. Please proceed with the current tasks if applicable"), \
                {"oldTodos": [], "newTodos": todos}, False, prog
        if r < 0.98:
            block = {"type": "tool_use", "id": tid, "name": "Write",
                     "input": {"file_path": f, "content": p.code[k]}}
            return block, f"File created successfully at: {f}", {"type": "create", "filePath": f,
                                                                  "content": p.code[k], "structuredPatch": []}, False, prog
        block = {"type": "tool_use", "id": tid, "name": "mcp__context7__get-library-docs",
                 "input": {"context7CompatibleLibraryID": f"/{rng.choice(_NOUNS)}/{rng.choice(_NOUNS)}",
                           "topic": rng.choice(_WORDS), "tokens": 5000}}
        text = p.text(rng, int(log_uniform(rng, 2000, 20000)))
        return block, [{"type": "text", "text": text}], [{"type": "text", "text": text}], False, prog

    def _subagent(self, tid: str) -> tuple[dict[str, Any], Any, Any]:
        rng = self.rng
        agent_id = "a" + hexid(rng, 16)
        desc = f"Explore {rng.choice(_NOUNS)} {rng.choice(_NOUNS)}"
        prompt = self.g.pools.text(rng, rng.randint(200, 1200))
        block = {"type": "tool_use", "id": tid, "name": "Task",
                 "input": {"description": desc, "prompt": prompt, "subagent_type": "Explore"}}
        sub_dir = self.out.path.parent / self.sid / "subagents"
        sub = ClaudeSession(self.g, random.Random(rng.getrandbits(64)), self.project, self.t,
                            int(log_uniform(rng, 8_000, 250_000)), sub_dir / f"agent-{agent_id}.jsonl",
                            sid=self.sid, agent_id=agent_id, parent_sid=self.sid, allow_subagents=False)
        sub.version, sub.branch, sub.slug = self.version, self.branch, self.slug
        report = sub.run_subagent(prompt)
        meta = sub_dir / f"agent-{agent_id}.meta.json"
        meta.write_bytes(dumps({"agentType": "Explore", "description": desc}))
        os.utime(meta, (sub.t, sub.t))
        self.extra_bytes += sub.out.bytes
        self.g.files += 1
        self.t = sub.t
        content = [{"type": "text", "text": report}]
        tur = {"status": "completed", "prompt": prompt, "agentId": agent_id, "agentType": "Explore",
               "content": content, "totalDurationMs": rng.randint(5_000, 300_000),
               "totalTokens": rng.randint(10_000, 200_000), "totalToolUseCount": rng.randint(2, 40),
               "usage": {"input_tokens": 8, "cache_creation_input_tokens": rng.randint(1000, 30000),
                         "cache_read_input_tokens": rng.randint(1000, 60000),
                         "output_tokens": rng.randint(500, 8000), "service_tier": "standard"}}
        return block, content, tur

    # structure ---------------------------------------------------------------------------------------------------
    def _step(self, final: bool, fail_rate: float) -> bool:
        """One API response (+ the tool results it asked for). Returns False if the user interrupted."""
        rng, p = self.rng, self.g.pools
        blocks: list[dict[str, Any]] = []
        if rng.random() < 0.6:
            blocks.append({"type": "thinking", "thinking": p.text(rng, int(log_uniform(rng, 150, 3000))),
                           "signature": p.blob(rng, rng.randint(300, 1600))})
        if final:
            blocks.append({"type": "text", "text": p.text(rng, int(log_uniform(rng, 100, 2500)))})
            self._assistant(blocks, "end_turn")
            return True
        if rng.random() < 0.5:
            blocks.append({"type": "text", "text": p.text(rng, int(log_uniform(rng, 60, 600)))})
        calls = []
        for _ in range(1 if rng.random() < 0.75 else rng.randint(2, 4)):
            if (self.allow_subagents and self.subagents < 3 and rng.random() < 0.015
                    and self.out.bytes > 30_000):
                self.subagents += 1
                tid = "toolu_01" + base64.b32encode(rng.randbytes(15)).decode().rstrip("=")[:22]
                calls.append(("sub", tid))
                blocks.append({"type": "tool_use", "id": tid, "name": "Task", "input": {}})  # filled below
            else:
                fail = rng.random() < fail_rate
                calls.append(("tool", self._tool(fail)))
                blocks.append(calls[-1][1][0])
        # resolve sub-agents now (their input is known only after the sub-agent ran)
        sub_results = {}
        for kind, c in calls:
            if kind == "sub":
                blk, content, tur = self._subagent(c)
                for i, b in enumerate(blocks):
                    if b.get("id") == c:
                        blocks[i] = blk
                sub_results[c] = (content, tur)
        asst = self._assistant(blocks, "tool_use")
        interrupted = rng.random() < 0.004
        for kind, c in calls:
            if kind == "sub":
                tid = c
                content, tur = sub_results[tid]
                self._user([{"tool_use_id": tid, "type": "tool_result", "content": content}],
                           toolUseResult=tur, sourceToolAssistantUUID=asst)
                continue
            block, content, tur, is_err, prog = c
            tid = block["id"]
            for data in prog:
                self._progress(data, f"bash-progress-{rng.randint(0, 9)}", tid)
            self.t += rng.uniform(0.2, 20)
            if interrupted:
                self._user([{"type": "tool_result", "content": "[Request interrupted by user for tool use]",
                             "is_error": True, "tool_use_id": tid}],
                           toolUseResult="Error: [Request interrupted by user for tool use]",
                           sourceToolAssistantUUID=asst)
                continue
            res: dict[str, Any] = {"tool_use_id": tid, "type": "tool_result", "content": content}
            if is_err:
                res["is_error"] = True
            # now and then the user types while the tools run: the text rides beside the result (its own
            # random stream, so the rest of the corpus stays what the seed always made)
            side = random.Random(tid)
            typed = [{"type": "text", "text": side.choice(TYPED)}] if side.random() < 0.01 else []
            self._user([res, *typed], toolUseResult=tur, sourceToolAssistantUUID=asst)
            self.ctx += len(content if isinstance(content, str) else str(content)) // 4
        if interrupted:
            self._user([{"type": "text", "text": "[Request interrupted by user for tool use]"}])
            return False
        return True

    def _compact(self) -> None:
        rng = self.rng
        pre = self.last
        self.last = None
        d, _ = self._env("system", subtype="compact_boundary", content="Conversation compacted", isMeta=False)
        d["logicalParentUuid"] = pre
        d["level"] = "info"
        d["compactMetadata"] = {"trigger": "auto", "preTokens": self.ctx}
        self.out.add(d)
        summary = ("This session is being continued from a previous conversation that ran out of context. "
                   "The conversation is summarized below:\nAnalysis:\n"
                   + self.g.pools.text(rng, rng.randint(4000, 14000)))
        self._user(summary, isVisibleInTranscriptOnly=True, isCompactSummary=True)
        self.ctx = rng.randint(20_000, 40_000)
        self.since_compact = 0

    def _turn(self, fail_rate: float) -> None:
        rng = self.rng
        self.t += rng.uniform(20, 900)
        r = rng.random()
        if r < 0.04:
            self._user("<local-command-caveat>Caveat: The messages below were generated by the user while running "
                       "local commands. DO NOT respond to these messages or otherwise consider them in your response "
                       "unless the user explicitly asks you to.</local-command-caveat>", isMeta=True)
            self._user("<command-name>/clear</command-name>\n            <command-message>clear</command-message>\n"
                       "            <command-args></command-args>")
            self._user("<local-command-stdout></local-command-stdout>")
        prompt = self.content.prompt(self.project)
        if self.rare:
            prompt += f" (see the {self.rare.pop()} notes)"
        u_pre = uuid4(rng)
        self._snapshot(u_pre)
        if rng.random() < 0.0035:  # a pasted screenshot (~300 KB line)
            content: Any = [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                         "data": self.g.pools.image}},
                            {"type": "text", "text": prompt}]
        else:
            content = prompt
        self._user(content, _uuid=u_pre, thinkingMetadata={"level": "high", "disabled": False, "triggers": []},
                   todos=[])
        n_steps = min(40, int(rng.expovariate(1 / self.steps_mean)) + 1)
        for _s in range(n_steps):
            if not self._step(False, fail_rate):
                return
        if rng.random() < 0.01:
            self._assistant([{"type": "text", "text": self.g.pools.text(rng, rng.randint(50, 300))}], "end_turn")
            self._user([{"type": "text", "text": "[Request interrupted by user]"}])
            return
        self._step(True, fail_rate)
        if rng.random() < 0.5:
            d, _ = self._env("system", subtype="turn_duration", durationMs=rng.randint(2000, 600_000), isMeta=False)
            self.out.add(d)

    def run(self, fail_rate: float = 0.05, compact_every: int = 4 * MB) -> int:
        rng = self.rng
        if rng.random() < 0.7:
            for name in ("SessionStart:startup",):
                self._progress({"type": "hook_progress", "hookEvent": "SessionStart", "hookName": name,
                                "command": "\"${CLAUDE_PLUGIN_ROOT}/hooks/run-hook.cmd\" session-start.sh"},
                               uuid4(rng), uuid4(rng))
        last_compact = 0
        while self.out.bytes + (self.extra_bytes if self.count_extra else 0) < self.target:
            self._turn(fail_rate)
            if self.out.bytes - last_compact > compact_every and self.out.bytes < self.target:
                self._compact()
                last_compact = self.out.bytes
        self.out.close(self.t)
        return self.out.bytes + self.extra_bytes

    def run_subagent(self, prompt: str) -> str:
        self.last = None
        self._user(prompt)
        while self.out.bytes < self.target:
            if not self._step(False, 0.05):
                break
        report = self.g.pools.text(self.rng, int(log_uniform(self.rng, 500, 6000)))
        self._assistant([{"type": "text", "text": report}], "end_turn")
        self.out.close(self.t)
        return report


# -- Codex ------------------------------------------------------------------------------------------------------------

CODEX_VERSIONS = [("0.66.0", "shell_command"), ("0.77.0", "shell_command"), ("0.145.0", "exec_command")]
CODEX_MODELS = ["gpt-5.1-codex-max", "gpt-5.2-codex", "gpt-5.6-sol"]


class CodexSession:
    def __init__(self, g: Generator, rng: random.Random, project: Project, t0: float, target: int,
                 rare: list[str] | None = None) -> None:
        self.g, self.rng, self.project, self.t, self.target = g, rng, project, t0, target
        self.version, self.tool = rng.choice(CODEX_VERSIONS)
        self.new = self.tool == "exec_command"
        self.model = rng.choice(CODEX_MODELS)
        self.id = uuid7(rng, t0)
        lt = time.gmtime(t0)
        rel = (f"{lt.tm_year:04d}/{lt.tm_mon:02d}/{lt.tm_mday:02d}/rollout-"
               f"{time.strftime('%Y-%m-%dT%H-%M-%S', lt)}-{self.id}.jsonl")
        self.out = Out(g.home / ".codex" / "sessions" / rel)
        self.total = {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0,
                      "reasoning_output_tokens": 0, "total_tokens": 0}
        self.ctx = rng.randint(8000, 20000)
        self.content = Content(g.pools, rng)
        self.rare = list(rare or [])
        self.steps_mean = min(5.0, max(1.0, target / 25_000))

    def _line(self, typ: str, payload: dict[str, Any]) -> None:
        self.t += self.rng.uniform(0.01, 2.5)
        self.out.add({"timestamp": iso(self.t), "type": typ, "payload": payload})

    def _ev(self, payload: dict[str, Any]) -> None:
        self._line("event_msg", payload)

    def _ri(self, payload: dict[str, Any]) -> None:
        self._line("response_item", payload)

    def _tokens(self, new_request: bool) -> None:
        rng = self.rng
        if new_request:
            out = rng.randint(20, 1500)
            reas = rng.randint(0, out)
            inp = self.ctx
            cached = int(inp * rng.uniform(0.6, 0.97))
            self.last = {"input_tokens": inp, "cached_input_tokens": cached, "output_tokens": out,
                         "reasoning_output_tokens": reas, "total_tokens": inp + out}
            for k, v in self.last.items():
                self.total[k] += v
        if not hasattr(self, "last"):
            self._ev({"type": "token_count", "info": None, "rate_limits": self._rl()})
            return
        self._ev({"type": "token_count", "info": {"total_token_usage": dict(self.total),
                                                  "last_token_usage": dict(self.last),
                                                  "model_context_window": 258400},
                  "rate_limits": self._rl()})

    def _rl(self) -> dict[str, Any]:
        return {"primary": {"used_percent": round(self.rng.random() * 60, 1), "window_minutes": 300,
                            "resets_at": int(self.t) + 9000},
                "secondary": {"used_percent": round(self.rng.random() * 30, 1), "window_minutes": 10080,
                              "resets_at": int(self.t) + 400000},
                "credits": {"has_credits": False, "unlimited": False, "balance": None}, "plan_type": None}

    def _turn_context(self, turn_id: str) -> None:
        p: dict[str, Any] = {}
        if self.new:
            p["turn_id"] = turn_id
        p.update(cwd=self.project.path, approval_policy="on-request",
                 sandbox_policy={"type": "workspace-write", "network_access": False, "exclude_tmpdir_env_var": False,
                                 "exclude_slash_tmp": False},
                 model=self.model, effort="medium", summary="auto")
        self._line("turn_context", p)

    def _reasoning(self) -> None:
        rng, p = self.rng, self.g.pools
        text = f"**{p.text(rng, rng.randint(20, 60)).strip().capitalize()}**\n\n{p.text(rng, int(log_uniform(rng, 80, 900)))}"
        self._ev({"type": "agent_reasoning", "text": text})
        self._ri({"type": "reasoning", "summary": [{"type": "summary_text", "text": text}], "content": None,
                  "encrypted_content": "gAAAAAB" + p.blob(rng, int(log_uniform(rng, 800, 8000)))})

    def _call(self, turn_id: str, fail: bool) -> None:
        rng = self.rng
        call_id = "call_" + base64.b64encode(rng.randbytes(18)).decode().replace("+", "x").replace("/", "y")[:24]
        if rng.random() < 0.12:
            f, k = rng.choice(self.project.files)
            code = self.g.pools.code[k]
            i = rng.randrange(max(1, len(code) - 600))
            old = code[i:i + rng.randint(50, 600)]
            rel = f[len(self.project.path) + 1:]
            patch = (f"*** Begin Patch\n*** Update File: {rel}\n@@\n" + "".join(f"-{x}\n" for x in old.split("\n"))
                     + "".join(f"+{x}\n" for x in old.replace(rng.choice(_NOUNS), rng.choice(_NOUNS)).split("\n"))
                     + "*** End Patch")
            self._ri({"type": "custom_tool_call", "status": "completed", "call_id": call_id, "name": "apply_patch",
                      "input": patch})
            self._tokens(True)
            ok = not fail
            out = (f"Success. Updated the following files:\nM {rel}\n" if ok else
                   f"apply_patch verification failed: Failed to find expected lines in {rel}")
            if self.new:
                self._ev({"type": "patch_apply_end", "call_id": call_id, "turn_id": turn_id, "stdout": out if ok else "",
                          "stderr": "" if ok else out, "success": ok,
                          "changes": {f: {"type": "update", "unified_diff": patch[:2000]}}})
            self._ri({"type": "custom_tool_call_output", "call_id": call_id,
                      "output": dumps({"output": out, "metadata": {"exit_code": 0 if ok else 1,
                                                                    "duration_seconds": round(rng.random(), 1)}}).decode()})
            return
        sh = self.content.shell(self.project, fail)
        if self.new:
            args = {"cmd": sh.command, "workdir": self.project.path, "yield_time_ms": 10000,
                    "max_output_tokens": rng.choice([3000, 12000])}
        else:
            args = {"command": sh.command, "workdir": self.project.path}
        p: dict[str, Any] = {"type": "function_call", "name": self.tool, "arguments": dumps(args).decode(),
                             "call_id": call_id}
        if self.new:
            p["internal_chat_message_metadata_passthrough"] = {"turn_id": turn_id}
        self._ri(p)
        self._tokens(True)
        wall = rng.random() * 20
        if self.new:
            out = (f"Chunk ID: {hexid(rng, 6)}\nWall time: {wall:.4f} seconds\nProcess exited with code {sh.exit_code}\n"
                   f"Original token count: {len(sh.output) // 4}\nOutput:\n{sh.output}")
        else:
            out = f"Exit code: {sh.exit_code}\nWall time: {wall:.1f} seconds\nOutput:\n{sh.output}"
        self._ri({"type": "function_call_output", "call_id": call_id, "output": out})
        self.ctx += len(out) // 4
        if not self.new:
            self._turn_context("")
        if rng.random() < 0.5:
            self._tokens(False)  # the same totals again, as real files do

    def _turn(self, first: bool, fail_rate: float) -> None:
        rng, p = self.rng, self.g.pools
        self.t += rng.uniform(20, 900)
        turn_id = uuid7(rng, self.t)
        if self.new:
            self._ev({"type": "task_started", "turn_id": turn_id, "started_at": int(self.t),
                      "model_context_window": 258400, "collaboration_mode_kind": "default"})
        if first:
            env = (f"<environment_context>\n  <cwd>{self.project.path}</cwd>\n  <approval_policy>on-request"
                   "</approval_policy>\n  <sandbox_mode>workspace-write</sandbox_mode>\n  <network_access>restricted"
                   "</network_access>\n  <shell>zsh</shell>\n</environment_context>")
            self._ri({"type": "message", "role": "user", "content": [{"type": "input_text", "text": env}]})
            if rng.random() < 0.5:
                agents = f"# AGENTS.md instructions for {self.project.path}\n\n<INSTRUCTIONS>\n{p.text(rng, rng.randint(1500, 6000))}\n</INSTRUCTIONS>"
                self._ri({"type": "message", "role": "user", "content": [{"type": "input_text", "text": agents}]})
        prompt = self.content.prompt(self.project)
        if self.rare:
            prompt += f" (see the {self.rare.pop()} notes)"
        if not self.new:
            self._ri({"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]})
        self._ev({"type": "user_message", "message": prompt, "images": [], "local_images": [], "text_elements": []})
        self._turn_context(turn_id)
        if self.new:
            self._ri({"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]})
        self._tokens(False)
        n_steps = min(40, int(rng.expovariate(1 / self.steps_mean)) + 1)
        for _ in range(n_steps):
            self._reasoning()
            if rng.random() < 0.3:
                msg = p.text(rng, rng.randint(60, 400))
                self._ev({"type": "agent_message", "message": msg})
                self._ri({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": msg}],
                          **({"phase": "commentary"} if self.new else {})})
            for _ in range(1 if rng.random() < 0.8 else 2):
                self._call(turn_id, rng.random() < fail_rate)
            if rng.random() < 0.01:
                self._ev({"type": "turn_aborted", "turn_id": turn_id, "reason": "interrupted"})
                return
        self._reasoning()
        final = p.text(rng, int(log_uniform(rng, 100, 2500)))
        self._ev({"type": "agent_message", "message": final})
        self._ri({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": final}],
                  **({"phase": "final_answer"} if self.new else {})})
        self._tokens(True)
        if self.new:
            self._ev({"type": "task_complete", "turn_id": turn_id, "last_agent_message": final[:2000],
                      "completed_at": int(self.t), "duration_ms": rng.randint(2000, 900000)})

    def run(self, fail_rate: float = 0.05) -> int:
        rng = self.rng
        meta: dict[str, Any] = {"id": self.id, "timestamp": iso(self.t), "cwd": self.project.path,
                                "originator": "codex-tui" if self.new else "codex_cli_rs",
                                "cli_version": self.version}
        if self.new:
            meta = {"session_id": self.id, **meta, "source": "cli", "thread_source": "user",
                    "model_provider": "openai",
                    "base_instructions": {"text": "You are Codex, an agent based on GPT-5. " +
                                          self.g.pools.text(rng, rng.randint(8000, 14000))}}
        else:
            meta.update(instructions=None, source="cli", model_provider="openai")
        meta["git"] = {"commit_hash": hexid(rng, 40), "branch": rng.choice(self.project.branches),
                       "repository_url": f"git@github.com:acme/{self.project.path.rsplit('/', 1)[-1]}.git"}
        self.out.add({"timestamp": iso(self.t), "type": "session_meta", "payload": meta})
        first = True
        while self.out.bytes < self.target:
            self._turn(first, fail_rate)
            first = False
        self.out.close(self.t)
        return self.out.bytes


# -- Gemini CLI -------------------------------------------------------------------------------------------------------

GEMINI_MODELS = ["gemini-2.5-pro", "gemini-3-flash-preview", "gemini-3.1-pro-preview"]
GEMINI_TOOLS = ["run_shell_command", "run_shell_command", "run_shell_command", "read_file", "read_file", "replace",
                "write_file", "glob", "grep_search", "list_directory"]
GEMINI_DISPLAY = {"run_shell_command": "Shell", "read_file": "ReadFile", "replace": "Edit", "write_file": "WriteFile",
                  "glob": "FindFiles", "grep_search": "SearchText", "list_directory": "ReadFolder"}


class GeminiSession:
    def __init__(self, g: Generator, rng: random.Random, project: Project, t0: float, target: int,
                 legacy: bool, rare: list[str] | None = None) -> None:
        self.g, self.rng, self.project, self.t, self.target, self.legacy = g, rng, project, t0, target, legacy
        self.sid = uuid4(rng)
        self.model = rng.choice(GEMINI_MODELS)
        chats = g.home / ".gemini" / "tmp" / project.gemini_slug / "chats"
        stamp = time.strftime("%Y-%m-%dT%H-%M", time.gmtime(t0))
        self.path = chats / f"session-{stamp}-{self.sid[:8]}.{'json' if legacy else 'jsonl'}"
        self.out = Out(self.path)
        self.messages: list[dict[str, Any]] = []
        self.size = 0
        self.content = Content(g.pools, rng)
        self.rare = list(rare or [])
        self.phash = hashlib.sha256(project.path.encode()).hexdigest()
        self.steps_mean = min(4.0, max(1.0, target / 25_000))

    def _ts(self, lo: float = 0.2, hi: float = 6.0) -> str:
        self.t += self.rng.uniform(lo, hi)
        return iso(self.t)

    def _emit(self, msg: dict[str, Any], set_after: bool = True) -> None:
        if self.legacy:
            for i in range(len(self.messages) - 1, max(-1, len(self.messages) - 3), -1):
                if self.messages[i]["id"] == msg["id"]:
                    self.messages[i] = msg
                    break
            else:
                self.messages.append(msg)
            self.size += len(dumps(msg)) + 40
            return
        self.out.add(msg)
        if set_after:
            self.out.add({"$set": {"lastUpdated": iso(self.t + 0.001)}})

    def _tool_call(self, fail: bool) -> tuple[dict[str, Any], bool]:
        rng, p, proj = self.rng, self.g.pools, self.project
        name = rng.choice(GEMINI_TOOLS)
        cid = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
        f, k = rng.choice(proj.files)
        status, cancelled = "success", False
        display: Any = ""
        if name == "run_shell_command":
            sh = self.content.shell(proj, fail)
            args: dict[str, Any] = {"command": sh.command, "description": sh.description}
            out = (f"Command: {sh.command}\nDirectory: (root)\nOutput: {sh.output or '(empty)'}\nError: (none)\n"
                   f"Exit Code: {sh.exit_code}\nSignal: 0\nBackground PIDs: (none)\nProcess Group PGID: {rng.randint(1000, 99999)}")
            response: dict[str, Any] = {"output": out}
            display = sh.output
        elif name == "read_file":
            args = {"file_path": f}
            if fail:
                status, response = "error", {"error": f"File not found: {f}"}
            else:
                response = {"output": p.code[k]}
        elif name == "replace":
            code = p.code[k]
            i = rng.randrange(max(1, len(code) - 400))
            old = code[i:i + rng.randint(40, 400)]
            args = {"file_path": f, "old_string": old, "new_string": old.replace(rng.choice(_NOUNS), rng.choice(_NOUNS)),
                    "instruction": p.text(rng, rng.randint(40, 200))}
            if fail:
                status, response = "error", {"error": "Failed to edit, 0 occurrences found for old_string in " + f}
            else:
                response = {"output": f"Successfully modified file: {f} (1 replacements)."}
                display = {"fileDiff": f"Index: {f}\n===\n--- {f}\tCurrent\n+++ {f}\tProposed\n@@ -1 +1 @@\n-{old[:300]}\n+{old[:300]}",
                           "fileName": f.rsplit("/", 1)[-1], "originalContent": code, "newContent": code,
                           "diffStat": {"model_added_lines": 1, "model_removed_lines": 1}}
        elif name == "write_file":
            args = {"file_path": f, "content": p.code[k]}
            response = {"output": f"Successfully overwrote file: {f}."}
        elif name == "glob":
            args = {"pattern": f"**/*{f[-3:]}"}
            response = {"output": f"Found {len(proj.files)} file(s) matching \"{args['pattern']}\":\n" +
                        "\n".join(x for x, _ in proj.files)}
        elif name == "grep_search":
            pat = rng.choice(_NOUNS)
            args = {"pattern": pat}
            hits = [f"L{j + 1}: {ln}" for j, ln in enumerate(p.code[k].split("\n")) if pat in ln][:80]
            response = {"output": f"Found {len(hits)} matches for pattern \"{pat}\":\n---\nFile: {f}\n" + "\n".join(hits)}
        else:
            args = {"dir_path": proj.path}
            response = {"output": f"Directory listing for {proj.path}:\n" + "\n".join(x for x, _ in proj.files)}
        if rng.random() < 0.004:
            status, cancelled = "cancelled", True
            response = {"error": "[Operation Cancelled] Reason: User cancelled the operation."}
        call = {"id": cid, "name": name, "args": args,
                "result": [{"functionResponse": {"id": cid, "name": name, "response": response}}],
                "status": status, "timestamp": self._ts(0.1, 20),
                "resultDisplay": display, "displayName": GEMINI_DISPLAY[name],
                "description": self.g.gemini_desc[name], "renderOutputAsMarkdown": name != "run_shell_command"}
        return call, cancelled

    def _turn(self, fail_rate: float) -> None:
        rng, p = self.rng, self.g.pools
        self.t += rng.uniform(20, 900)
        prompt = self.content.prompt(self.project)
        if self.rare:
            prompt += f" (see the {self.rare.pop()} notes)"
        self._emit({"id": uuid4(rng), "timestamp": self._ts(), "type": "user", "content": [{"text": prompt}]})
        n_steps = min(30, int(rng.expovariate(1 / self.steps_mean)) + 1)
        for s in range(n_steps + 1):
            final = s == n_steps
            thoughts = [{"subject": p.text(rng, rng.randint(15, 40)).strip().title(),
                         "description": p.text(rng, int(log_uniform(rng, 100, 800))), "timestamp": iso(self.t)}
                        for _ in range(rng.randint(0, 2))]
            out_t = rng.randint(20, 800)
            inp = rng.randint(8000, 120000)
            cached = int(inp * rng.random())
            th = rng.randint(0, 600)
            msg = {"id": uuid4(rng), "timestamp": self._ts(), "type": "gemini",
                   "content": p.text(rng, int(log_uniform(rng, 60, 1500))) if (final or rng.random() < 0.4) else "",
                   "thoughts": thoughts,
                   "tokens": {"input": inp, "output": out_t, "cached": cached, "thoughts": th, "tool": 0,
                              "total": inp + out_t + th},
                   "model": self.model}
            self._emit(msg)
            if final:
                return
            calls = []
            cancelled = False
            for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 3)):
                c, cx = self._tool_call(rng.random() < fail_rate)
                calls.append(c)
                cancelled = cancelled or cx
            self._emit({**msg, "toolCalls": calls}, set_after=False)  # the same id again, now with its tool calls
            if cancelled:
                self._emit({"id": uuid4(rng), "timestamp": self._ts(), "type": "info", "content": "Request cancelled."})
                return

    def run(self, fail_rate: float = 0.05) -> int:
        start = iso(self.t)
        header = {"sessionId": self.sid, "projectHash": self.phash, "startTime": start, "lastUpdated": start,
                  "kind": "main"}
        if not self.legacy:
            self.out.add(header)
        while (self.size if self.legacy else self.out.bytes) < self.target:
            self._turn(fail_rate)
        if self.legacy:
            doc = {"sessionId": self.sid, "projectHash": self.phash, "startTime": start, "lastUpdated": iso(self.t),
                   "messages": self.messages}
            data = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
            self.out.fh.write(data)
            self.out.bytes = len(data)
        self.out.close(self.t)
        return self.out.bytes


# -- the plan -------------------------------------------------------------------------------------------------------


class Generator:
    def __init__(self, home: Path, size_mb: float, big_session_mb: float, seed: int) -> None:
        self.home = home
        self.total = int(size_mb * MB)
        self.big = int(big_session_mb * MB)
        self.seed = seed
        self.pools = build_pools(seed)
        self.projects = build_projects(seed, len(self.pools.code))
        rng = random.Random(f"{seed}-desc")
        self.gemini_desc = {n: self.pools.text(rng, rng.randint(600, 1400)) for n in GEMINI_DISPLAY}
        self.files = 0
        self.bytes = {p: 0 for p in PROVIDERS}
        self.sessions = {p: 0 for p in PROVIDERS}
        self.big_session: dict[str, Any] = {}

    def _project(self, rng: random.Random) -> Project:
        # busy and quiet projects: a Zipf-like weight
        i = min(int(rng.paretovariate(1.1)) - 1, len(self.projects) - 1)
        return self.projects[(i * 7 + rng.randrange(3)) % len(self.projects)]

    def _start(self, rng: random.Random) -> float:
        return WINDOW_END - WINDOW_DAYS * 86400 + rng.random() * (WINDOW_DAYS - 1) * 86400

    def _small(self, rng: random.Random) -> int:
        hi = min(2 * MB, max(20_000, self.total // 20))
        return int(min(hi, max(10_000, math.exp(rng.gauss(math.log(70_000), 1.2)))))

    def run(self, progress: bool = True, t0: float | None = None) -> dict[str, Any]:
        t0 = time.perf_counter() if t0 is None else t0
        # the three provider generators of the later agents live in their own modules
        from gen_antigravity import AntigravitySession
        from gen_copilot import CopilotSession
        from gen_opencode import OpenCodeDB

        n_large = int(self.total / (150 * MB))
        large = {"claude_code": math.ceil(n_large * 0.45), "codex": math.ceil(n_large * 0.25)}
        for prov in ("gemini_cli", "antigravity", "copilot", "opencode"):
            large[prov] = 1 if n_large >= 3 else 0
        rare_slots: dict[str, list[str]] = {}
        for w in RARE_WORDS:
            for i in range(RARE_PER_WORD):
                prov = PROVIDERS[i % len(PROVIDERS)]
                rare_slots.setdefault(prov, []).append(w)
        last_report = 0.0
        opencode: OpenCodeDB | None = None
        for prov in PROVIDERS:
            rng = random.Random(f"{self.seed}-{prov}")
            budget = int(self.total * SHARES[prov])
            plan: list[int] = []
            if prov == "claude_code":
                plan.append(-1)  # the big one
            for _ in range(large[prov]):
                hi = {"claude_code": 50, "codex": 50, "gemini_cli": 15}.get(prov, 20)
                plan.append(int(log_uniform(rng, 10, hi) * MB))
            rare = rare_slots.get(prov, [])
            i = 0
            while True:
                if i < len(plan):
                    target = plan[i]
                else:
                    if self.bytes[prov] >= budget:
                        break
                    target = self._small(rng)
                i += 1
                srng = random.Random(rng.getrandbits(64))
                project = self._project(srng)
                start = self._start(srng)
                words = [rare.pop()] if rare and i > len(plan) and srng.random() < 0.2 else []
                if prov == "claude_code":
                    sid = uuid4(srng)
                    path = self.home / ".claude" / "projects" / slug_of(project.path) / f"{sid}.jsonl"
                    if target == -1:
                        start = WINDOW_END - WINDOW_DAYS * 86400 + 10 * 86400
                        s = ClaudeSession(self, srng, project, start, self.big, path, sid, rare=[RARE_WORDS[0]])
                        s.count_extra = False  # the session file itself is --big-session-mb
                        s.steps_mean = 1.5  # a long-running chat: many short turns (thousands in 200 MB)
                        n = s.run(compact_every=3 * MB)
                        self.big_session = {"session_id": sid, "path": str(path), "bytes": s.out.bytes,
                                            "project": project.path}
                    else:
                        n = ClaudeSession(self, srng, project, start, target, path, sid, rare=words).run()
                elif prov == "codex":
                    n = CodexSession(self, srng, project, start, target, rare=words).run()
                elif prov == "gemini_cli":
                    legacy = target < 300_000 and srng.random() < 0.15
                    n = GeminiSession(self, srng, project, start, target, legacy, rare=words).run()
                elif prov == "antigravity":
                    n = AntigravitySession(self, srng, project, start, target, rare=words).run()
                elif prov == "copilot":
                    n = CopilotSession(self, srng, project, start, target, rare=words).run()
                else:
                    if opencode is None:
                        opencode = OpenCodeDB(self)
                        self.files += 1  # one database holds every OpenCode session
                    n = opencode.add_session(srng, project, start, target, rare=words)
                self.bytes[prov] += n
                self.sessions[prov] += 1
                self.files += prov != "opencode"
                now = time.perf_counter()
                if progress and now - last_report > 5:
                    last_report = now
                    done = sum(self.bytes.values())
                    print(f"  {done / MB:8.0f} MB  {self.files:6d} files  {done / MB / (now - t0):6.1f} MB/s",
                          file=sys.stderr, flush=True)
        if opencode is not None:
            opencode.close()
        self._gemini_registry()
        seconds = time.perf_counter() - t0
        total = sum(self.bytes.values())
        manifest = {
            "seed": self.seed, "size_mb": self.total / MB, "big_session_mb": self.big / MB,
            "bytes": total, "bytes_by_provider": self.bytes, "sessions_by_provider": self.sessions,
            "files": self.files, "seconds": round(seconds, 2), "mb_per_s": round(total / MB / seconds, 1),
            "big_session": self.big_session, "common_words": COMMON_WORDS, "rare_words": RARE_WORDS,
            "projects": [p.path for p in self.projects],
        }
        (self.home / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        return manifest

    def _gemini_registry(self) -> None:
        tmp = self.home / ".gemini" / "tmp"
        reg = {}
        for p in self.projects:
            d = tmp / p.gemini_slug
            if d.is_dir():
                (d / ".project_root").write_text(p.path)
                os.utime(d / ".project_root", (WINDOW_END - WINDOW_DAYS * 86400,) * 2)
                reg[p.path] = p.gemini_slug
        (self.home / ".gemini").mkdir(parents=True, exist_ok=True)
        reg_path = self.home / ".gemini" / "projects.json"
        reg_path.write_bytes(orjson.dumps({"projects": reg}, option=orjson.OPT_INDENT_2))
        os.utime(reg_path, (WINDOW_END,) * 2)


def generate(home: str | Path, size_mb: float, big_session_mb: float | None = None, seed: int = 1,
             progress: bool = True) -> dict[str, Any]:
    home = Path(home)
    for sub in (".claude", ".codex", ".gemini", ".copilot", ".local/share/opencode"):
        if (home / sub).exists() and any((home / sub).iterdir()):
            raise SystemExit(f"{home / sub} is not empty: generate into a new directory")
    home.mkdir(parents=True, exist_ok=True)
    if big_session_mb is None:
        big_session_mb = min(200.0, round(size_mb * 0.18, 2))
    t0 = time.perf_counter()  # the text pools (~0.5 s) count too
    return Generator(home, size_mb, big_session_mb, seed).run(progress, t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_home", help="directory to write the HOME-like tree into (must not hold agent logs yet)")
    ap.add_argument("--size-mb", type=float, default=1100, help="total corpus size in MB (10^6 bytes)")
    ap.add_argument("--big-session-mb", type=float, default=None,
                    help="size of the one big Claude session (default: min(200, 18%% of --size-mb))")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    m = generate(a.out_home, a.size_mb, a.big_session_mb, a.seed, progress=not a.quiet)
    by = ", ".join(f"{k} {v / MB:.0f} MB/{m['sessions_by_provider'][k]} sessions" for k, v in m["bytes_by_provider"].items())
    print(f"wrote {m['bytes'] / MB:.1f} MB in {m['files']} files ({by}) in {m['seconds']:.1f} s "
          f"({m['mb_per_s']:.0f} MB/s); big session {m['big_session'].get('bytes', 0) / MB:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
