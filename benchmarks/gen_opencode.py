"""OpenCode (≥ 1.4) for the benchmark corpus: every session in one SQLite file, like the real thing.

    db = OpenCodeDB(generator)                       # HOME/.local/share/opencode/opencode.db, WAL mode
    n = db.add_session(rng, project, t0, target)     # one session (+ its task sub-agent sessions): JSON bytes
    db.close()                                       # commit, checkpoint (empty -wal), mtime = newest session

Layout and records follow upstream (see /work/shared/research/log-formats-2.md §5.2, log-formats.md §4, the
parser agtrace_mcp/providers/opencode.py and the fixtures under fixtures/home/.local/share/opencode/storage):

- tables `project`, `session`, `message`, `part` (upstream's Drizzle schema, as in tests/test_opencode.py), plus the
  secret-holding tables `account`, `control_account`, `credential`, `session_share`, left empty;
- `message.data` / `part.data` hold the JSON of the old storage files minus the ids (`id`, `sessionID`,
  `messageID` are columns); ids are upstream's `Identifier`: `ses_` (descending), `msg_`, `prt_` (ascending) =
  12 hex digits of (epoch ms * 0x1000 + counter) and 14 base62 characters;
- a turn is a `user` message (a `text` part; sometimes an @-mentioned file: synthetic "Called the Read tool" text
  parts and a `file` part; sometimes a synthetic `<system-reminder>`), then one `assistant` message per model call
  (current upstream: one step per message): `step-start`, `reasoning` (with the provider's signature/encrypted
  metadata), `text`, `tool` parts (`bash` with `metadata.exit`, `read`, `edit`, `write`, `grep`, `glob`, `list`,
  `todowrite`, `webfetch`, `task`), `step-finish` with the call's tokens and cost, a `patch` part after file
  changes; the message repeats the call's `tokens`, `cost`, `finish`;
- failures at `fail_rate`: bash exits non-zero (status `completed`), other tools `status: "error"` (file not found,
  oldString not found, must read before write, rejected permission, a timed-out command now and then);
- rare: user aborts (`MessageAbortedError`, the running tool "Tool execution aborted"), API errors (`APIError`,
  a failed call without parts), task sub-agents (child sessions with `parent_id`, linked by
  `state.metadata.sessionId`), automatic compactions in long sessions (a `compaction` part, the `summary` assistant
  message, the synthetic "Continue…" user message);
- tokens as upstream stores them: `input` uncached, `cache.read`/`cache.write` separate, `output` without
  `reasoning`, `total` = the sum of all five.

Everything comes from the `rng` passed in (times, ids, text), so the same seed gives the same rows.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
from typing import Any

import generate as gen  # attributes are read at call time, so generate.py may import this module too
import orjson

# Upstream's Drizzle schema (the tables that matter, as in tests/test_opencode.py) and the tables that hold secrets
# (created, never filled: the parser must never read them).
SCHEMA = """
CREATE TABLE project (id TEXT PRIMARY KEY, worktree TEXT NOT NULL, vcs TEXT, name TEXT,
    time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, time_initialized INTEGER, sandboxes TEXT);
CREATE TABLE session (id TEXT PRIMARY KEY, project_id TEXT NOT NULL REFERENCES project(id), workspace_id TEXT,
    parent_id TEXT, slug TEXT NOT NULL, directory TEXT NOT NULL, path TEXT, title TEXT NOT NULL, version TEXT NOT NULL,
    share_url TEXT, summary_additions INTEGER, summary_deletions INTEGER, summary_files INTEGER, summary_diffs TEXT,
    cost REAL NOT NULL DEFAULT 0, tokens_input INTEGER NOT NULL DEFAULT 0, tokens_output INTEGER NOT NULL DEFAULT 0,
    tokens_reasoning INTEGER NOT NULL DEFAULT 0, tokens_cache_read INTEGER NOT NULL DEFAULT 0,
    tokens_cache_write INTEGER NOT NULL DEFAULT 0, revert TEXT, permission TEXT, agent TEXT, model TEXT,
    time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, time_compacting INTEGER, time_archived INTEGER);
CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL REFERENCES session(id),
    time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE part (id TEXT PRIMARY KEY, message_id TEXT NOT NULL REFERENCES message(id), session_id TEXT NOT NULL,
    time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX message_session_time_created_id_idx ON message (session_id, time_created, id);
CREATE INDEX part_message_id_id_idx ON part (message_id, id);
CREATE INDEX part_session_idx ON part (session_id);
CREATE TABLE account (id TEXT PRIMARY KEY, email TEXT, access_token TEXT, refresh_token TEXT);
CREATE TABLE control_account (id TEXT PRIMARY KEY, token TEXT);
CREATE TABLE credential (id TEXT PRIMARY KEY, provider TEXT, secret TEXT);
CREATE TABLE session_share (session_id TEXT PRIMARY KEY, id TEXT, secret TEXT, url TEXT);
"""

VERSIONS = ["1.4.3", "1.5.7", "1.7.2", "1.9.4"]
# (providerID, modelID, $/M tokens: input, output, cache read, cache write)
MODELS = [("anthropic", "claude-sonnet-4-5", (3.0, 15.0, 0.3, 3.75)),
          ("anthropic", "claude-opus-4-5", (5.0, 25.0, 0.5, 6.25)),
          ("openai", "gpt-5.1-codex", (1.25, 10.0, 0.125, 0.0)),
          ("google", "gemini-3-pro-preview", (2.0, 12.0, 0.2, 0.0)),
          ("opencode", "grok-code", (0.0, 0.0, 0.0, 0.0))]
# context windows: upstream compacts once a call's tokens pass (context - max output)
CONTEXT = {"claude-sonnet-4-5": 200_000, "claude-opus-4-5": 200_000, "gpt-5.1-codex": 400_000,
           "gemini-3-pro-preview": 1_000_000, "grok-code": 256_000}
MAX_OUTPUT = 32_000
MODEL_WEIGHTS = [40, 20, 20, 10, 10]
# tool name -> weight (bash most, then read, edit ...)
TOOLS = {"bash": 36, "read": 24, "edit": 12, "grep": 7, "glob": 5, "write": 4, "list": 4, "todowrite": 5,
         "webfetch": 1.5}
_TOOL_NAMES = list(TOOLS)
_TOOL_WEIGHTS = list(TOOLS.values())
SUB_TOOLS = ["read", "read", "grep", "glob", "bash", "list"]
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ADJ = ["brave", "calm", "clever", "eager", "gentle", "happy", "jolly", "kind", "lucky", "mighty", "nimble", "proud",
        "quick", "quiet", "shiny", "silent", "swift", "tidy", "witty", "bold", "cosmic", "crisp", "misty", "sunny"]
_ANIMALS = ["otter", "heron", "falcon", "badger", "lynx", "panda", "koala", "gecko", "raven", "wolf", "fox", "owl",
            "tiger", "eagle", "dolphin", "squid", "moose", "bison", "crane", "finch"]
_TITLE_VERBS = ["Fix", "Add", "Refactor", "Debug", "Update", "Investigate", "Implement", "Remove", "Speed up",
                "Clean up", "Test", "Document", "Migrate"]
CONTINUE = "Continue if you have next steps, or stop and ask for clarification if you are unsure how to proceed."
PLAN_TO_BUILD = ("<system-reminder>\nYour operational mode has changed from plan to build.\nYou are no longer in "
                 "read-only mode.\nYou are permitted to make file changes, run shell commands, and utilize your "
                 "arsenal of tools as needed.\n</system-reminder>")
OUTPUT_CAP = 50 * 1024  # upstream Truncate: a longer tool output is cut and saved to tool-output/
METADATA_CAP = 30_000  # bash's metadata.output preview
FLUSH_BYTES = 16_000_000
COMMIT_BYTES = 128_000_000

dumps = orjson.dumps


class _Ids:
    """Upstream's Identifier: prefix_ + 6 bytes of (ms * 0x1000 + counter) (inverted for descending) + base62."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.last = -1
        self.n = 0

    def make(self, prefix: str, ms: int, descending: bool = False) -> str:
        if ms != self.last:
            self.last, self.n = ms, 0
        self.n += 1
        v = ms * 0x1000 + self.n
        if descending:
            v = ~v
        return f"{prefix}_{v & 0xFFFFFFFFFFFF:012x}{''.join(self.rng.choices(B62, k=14))}"


class OpenCodeDB:
    """One `opencode.db` under `g.home`; sessions are added one by one, in any order of time."""

    def __init__(self, g: Any) -> None:
        self.g = g
        self.dir = g.home / ".local" / "share" / "opencode"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "opencode.db"
        for suffix in ("", "-wal", "-shm"):
            p = self.dir / f"opencode.db{suffix}"
            if p.exists():
                p.unlink()
        self.con = sqlite3.connect(self.path, isolation_level=None)
        self.con.execute("PRAGMA journal_mode = WAL")
        self.con.execute("PRAGMA synchronous = OFF")  # a generator: durability does not matter, speed does
        self.con.execute("PRAGMA cache_size = -131072")
        self.con.execute("PRAGMA wal_autocheckpoint = 0")  # checkpointed at each commit below, in one go
        self.con.executescript(SCHEMA)
        self.con.execute("BEGIN")
        self.sessions: list[tuple[Any, ...]] = []
        self.messages: list[tuple[Any, ...]] = []
        self.parts: list[tuple[Any, ...]] = []
        self.pending = 0
        self.uncommitted = 0
        self.projects: dict[str, list[Any]] = {}  # project id -> [worktree, first ms, last ms]
        self.newest_ms = 0
        self.bytes = 0  # JSON bytes written to data columns, all sessions
        # what was written, for checks: sessions (incl. sub-agents), turns, steps, tools, failed tools
        self.counts = {"sessions": 0, "subagents": 0, "turns": 0, "steps": 0, "tools": 0, "failed": 0,
                       "compactions": 0, "interrupts": 0}
        self.written: dict[str, dict[str, Any]] = {}  # session id -> its counts and project

    # -- rows ---------------------------------------------------------------------------------------------------

    def _flush(self) -> None:
        if self.sessions:
            self.con.executemany("INSERT INTO session (id, project_id, parent_id, slug, directory, title, version, "
                                 "summary_additions, summary_deletions, summary_files, cost, tokens_input, "
                                 "tokens_output, tokens_reasoning, tokens_cache_read, tokens_cache_write, "
                                 "time_created, time_updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                 self.sessions)
        if self.messages:
            self.con.executemany("INSERT INTO message VALUES (?,?,?,?,?)", self.messages)
        if self.parts:
            self.con.executemany("INSERT INTO part VALUES (?,?,?,?,?,?)", self.parts)
        self.sessions, self.messages, self.parts = [], [], []
        self.uncommitted += self.pending
        self.pending = 0
        if self.uncommitted > COMMIT_BYTES:
            self._commit()
            self.con.execute("BEGIN")

    def _commit(self) -> None:
        self.con.execute("COMMIT")
        self.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.uncommitted = 0

    # -- API ----------------------------------------------------------------------------------------------------

    def add_session(self, rng: random.Random, project: Any, t0: float, target: int, rare: list[str] | None = None,
                    fail_rate: float = 0.05) -> int:
        """Write one session (its session row, messages and parts, and those of its sub-agent sessions);
        returns the bytes of JSON written to data columns."""
        s = _Session(self, rng, project, int(t0 * 1000), target, _Ids(rng), rare=rare)
        n = s.run(fail_rate)
        self.bytes += n
        if self.pending > FLUSH_BYTES:
            self._flush()
        return n

    def close(self) -> None:
        """Commit, checkpoint (the -wal is left empty), close; the file's mtime is the newest session's time."""
        for pid, (worktree, first, last) in sorted(self.projects.items()):
            self.con.execute("INSERT INTO project (id, worktree, vcs, time_created, time_updated, time_initialized,"
                             " sandboxes) VALUES (?,?,?,?,?,?,?)", (pid, worktree, "git", first, last, first, "[]"))
        self._flush()
        self._commit()
        self.con.close()
        t = self.newest_ms / 1000 if self.newest_ms else gen.WINDOW_END
        for suffix in ("", "-wal", "-shm"):
            p = self.dir / f"opencode.db{suffix}"
            if p.exists():
                os.utime(p, (t, t))


class _Session:
    def __init__(self, db: OpenCodeDB, rng: random.Random, project: Any, ms: int, target: int, ids: _Ids,
                 rare: list[str] | None = None, parent: _Session | None = None, agent: str = "build",
                 title: str | None = None, model: tuple[str, str, tuple[float, ...]] | None = None) -> None:
        self.db, self.rng, self.project, self.ms, self.target, self.ids = db, rng, project, ms, target, ids
        self.g = db.g
        self.p = db.g.pools
        self.content = gen.Content(self.p, rng)
        self.parent = parent
        self.agent = agent
        self.rare = list(rare or [])
        self.t0 = ms
        self.sid = ids.make("ses", ms, descending=True)
        self.version = parent.version if parent else rng.choice(VERSIONS)
        self.provider, self.model, self.price = model or rng.choices(MODELS, MODEL_WEIGHTS)[0]
        self.title = title
        self.slug = f"{rng.choice(_ADJ)}-{rng.choice(_ANIMALS)}"
        self.snapshot = gen.hexid(rng, 40)
        self.bytes = 0  # this session's data bytes
        self.extra = 0  # its sub-agents' bytes
        self.subagents = 0
        self.ctx = rng.randint(12_000, 30_000)  # prompt tokens of the next call (system prompt + tools + history)
        self.cached = 0
        self.tok = [0, 0, 0, 0, 0]  # input, output, reasoning, cache read, cache write
        self.cost = 0.0
        self.adds = self.dels = 0
        self.files: set[str] = set()
        self.steps_mean = min(5.0, max(1.0, target / 25_000))
        self.n = {"turns": 0, "steps": 0, "tools": 0, "failed": 0, "compactions": 0, "interrupts": 0}
        self.tool_log: list[tuple[str, str, str, str]] = []  # (part id, tool, status, title): a task's summary
        home = "/".join(project.path.split("/")[:3])
        self.tool_output_dir = f"{home}/.local/share/opencode/tool-output"

    # -- rows ---------------------------------------------------------------------------------------------------

    def _tick(self, lo: float, hi: float) -> int:
        self.ms += int(self.rng.uniform(lo, hi)) + 1
        return self.ms

    def _message(self, mid: str, created: int, updated: int, data: dict[str, Any]) -> None:
        b = dumps(data)
        self.bytes += len(b)
        self.db.pending += len(b)
        self.db.messages.append((mid, self.sid, created, updated, b.decode()))

    def _part(self, mid: str, created: int, updated: int, data: dict[str, Any], pid: str | None = None) -> None:
        b = dumps(data)
        self.bytes += len(b)
        self.db.pending += len(b)
        self.db.parts.append((pid or self.ids.make("prt", created), mid, self.sid, created, updated, b.decode()))

    def _size(self) -> int:
        return self.bytes + self.extra

    # -- user messages ------------------------------------------------------------------------------------------

    def _user_base(self, created: int, agent: str | None = None) -> dict[str, Any]:
        return {"role": "user", "time": {"created": created}, "agent": agent or self.agent,
                "model": {"providerID": self.provider, "modelID": self.model}}

    def _user(self, text: str, agent: str | None = None) -> str:
        rng = self.rng
        created = self._tick(20_000, 900_000) if self.n["turns"] else self.ms
        mid = self.ids.make("msg", created)
        if self.n["turns"] and rng.random() < 0.3:
            data = {**self._user_base(created, agent), "summary": {"diffs": []}}
        else:
            data = self._user_base(created, agent)
        self._message(mid, created, created, data)
        r = rng.random()
        if r < 0.08 and self.parent is None:  # an @-mentioned file: the harness reads it into the prompt
            f, k = rng.choice(self.project.files)
            rel = f[len(self.project.path) + 1:]
            at = f"@{rel}"
            text = f"{at} {text}"
            self._part(mid, created, created, {"type": "text", "text": text})
            self._part(mid, created, created, {"type": "text", "synthetic": True,
                                               "text": "Called the Read tool with the following input: "
                                                       + dumps({"filePath": f}).decode()})
            self._part(mid, created, created, {"type": "text", "synthetic": True, "text": self._read_output(f, k)})
            self._part(mid, created, created, {"type": "file", "mime": "text/plain", "filename": rel,
                                               "url": f"file://{f}",
                                               "source": {"type": "file", "path": rel,
                                                          "text": {"value": at, "start": 0, "end": len(at)}}})
        else:
            self._part(mid, created, created, {"type": "text", "text": text})
            if r < 0.11 and self.parent is None:
                self._part(mid, created, created, {"type": "text", "synthetic": True, "text": PLAN_TO_BUILD})
        self.n["turns"] += 1
        return mid

    # -- tool calls ---------------------------------------------------------------------------------------------

    def _call_id(self) -> str:
        rng = self.rng
        if self.provider == "anthropic":
            return "toolu_01" + "".join(rng.choices(B62, k=22))
        if self.provider == "openai":
            return "call_" + "".join(rng.choices(B62, k=24))
        return "tool_" + "".join(rng.choices(B62, k=20))

    def _read_output(self, f: str, k: int) -> str:
        lines = self.p.code[k].split("\n")
        body, size, n = [], 0, 0
        for i, ln in enumerate(lines[:2000], 1):
            s = f"{i}: {ln}"
            size += len(s) + 1
            if size > OUTPUT_CAP:
                break
            body.append(s)
            n = i
        tail = (f"(End of file - total {len(lines)} lines)" if n == len(lines) else
                f"(Output capped at 50 KB. Showing lines 1-{n}. Use offset={n + 1} to continue.)")
        return f"<path>{f}</path>\n<type>file</type>\n<content>\n" + "\n".join(body) + f"\n\n{tail}\n</content>"

    def _cap(self, out: str) -> tuple[str, bool]:
        if len(out) <= OUTPUT_CAP:
            return out, False
        cut = len(out) - OUTPUT_CAP
        return (out[:OUTPUT_CAP] + f"\n\n...{cut} bytes truncated...\n\nThe tool call succeeded but the output was "
                f"truncated. Full output saved to: {self.tool_output_dir}/tool_{gen.hexid(self.rng, 12)}"
                f"{''.join(self.rng.choices(B62, k=14))}\nUse the Task tool to have explore agent process this file "
                "with Grep and Read (with offset/limit). Do NOT read the full file yourself - delegate to save "
                "context."), True

    def _tool(self, name: str, fail: bool) -> tuple[dict[str, Any], int, bool]:
        """(state without time, duration ms, changed a file) of one call."""
        rng, p, proj = self.rng, self.p, self.project
        f, k = rng.choice(proj.files)
        rel = f[len(proj.path) + 1:]
        if name == "bash":
            sh = self.content.shell(proj, fail)
            out, truncated = self._cap(sh.output)
            dur = int(gen.log_uniform(rng, 30, 40_000))
            if fail and rng.random() < 0.03:
                out += "\n\n(Command timed out after 120000 ms)"
                dur = 120_000
            preview = out if len(out) <= METADATA_CAP else out[:METADATA_CAP] + "\n\n..."
            return ({"status": "completed", "input": {"command": sh.command, "description": sh.description},
                     "output": out, "title": sh.description,
                     "metadata": {"output": preview, "exit": sh.exit_code, "description": sh.description,
                                  "truncated": truncated}}, dur, False)
        if fail and rng.random() < 0.05:
            inp = {"filePath": f} if name in ("read", "write", "edit") else {"pattern": rng.choice(gen._NOUNS)}
            return ({"status": "error", "input": inp,
                     "error": "Error: The user rejected permission to use this specific tool call."},
                    int(gen.log_uniform(rng, 1500, 60_000)), False)
        if name == "read":
            if fail:
                near = "\n".join(x for x, _ in rng.sample(proj.files, min(3, len(proj.files))))
                miss = f[:-3] + rng.choice(["s.py", "_test.go", ".tsx", "x.py"])
                err = (f"Error: File not found: {miss}\n\nDid you mean one of these?\n{near}"
                       if rng.random() < 0.5 else f"Error: File not found: {miss}")
                return {"status": "error", "input": {"filePath": miss}, "error": err}, rng.randint(2, 40), False
            out = self._read_output(f, k)
            lines = p.code[k].split("\n")
            inp: dict[str, Any] = {"filePath": f}
            if rng.random() < 0.15:
                inp.update(offset=rng.randint(1, max(1, len(lines) // 2)), limit=rng.choice([50, 100, 200]))
            return ({"status": "completed", "input": inp, "output": out, "title": rel,
                     "metadata": {"preview": "\n".join(lines[:20]), "truncated": False, "loaded": []}},
                    rng.randint(3, 120), False)
        if name == "edit":
            lines = p.code[k].split("\n")
            i = rng.randrange(max(1, len(lines) - 6))
            n_old = rng.randint(1, 5)
            old = "\n".join(lines[i:i + n_old])
            new = old.replace(rng.choice(gen._NOUNS), rng.choice(gen._NOUNS)) + \
                f"\n    # {rng.choice(gen._WORDS)} {rng.choice(gen._WORDS)}"
            inp = {"filePath": f, "oldString": old, "newString": new}
            if fail:
                err = ("Error: Could not find oldString in the file. It must match exactly, including whitespace, "
                       "indentation, and line endings." if rng.random() < 0.7 else
                       f"Error: You must read file {f} before overwriting it. Use the Read tool first")
                return {"status": "error", "input": inp, "error": err}, rng.randint(5, 80), False
            lo = max(0, i - 3)
            ctx_before = lines[lo:i]
            ctx_after = lines[i + n_old:i + n_old + 3]
            new_lines = new.split("\n")
            body = ([f" {x}" for x in ctx_before] + [f"-{x}" for x in lines[i:i + n_old]]
                    + [f"+{x}" for x in new_lines] + [f" {x}" for x in ctx_after])
            n_a, n_b = len(ctx_before) + n_old + len(ctx_after), len(ctx_before) + len(new_lines) + len(ctx_after)
            diff = (f"Index: {f}\n===================================================================\n--- {f}\n"
                    f"+++ {f}\n@@ -{lo + 1},{n_a} +{lo + 1},{n_b} @@\n" + "\n".join(body) + "\n")
            self.adds += len(new_lines)
            self.dels += n_old
            self.files.add(f)
            out = "Edit applied successfully."
            if rng.random() < 0.08:
                out += (f"\n\nLSP errors detected in this file, please fix:\n<diagnostics file=\"{f}\">\nERROR "
                        f"[{i + 2}:{rng.randint(1, 40)}] Cannot find name '{gen._ident(rng)}'.\n</diagnostics>")
            return ({"status": "completed", "input": inp, "output": out, "title": rel,
                     "metadata": {"diagnostics": {}, "diff": diff,
                                  "filediff": {"file": f, "patch": diff, "additions": len(new_lines),
                                               "deletions": n_old}}},
                    rng.randint(20, 900), True)
        if name == "write":
            inp = {"content": p.code[k], "filePath": f}
            if fail:
                return ({"status": "error", "input": inp,
                         "error": f"Error: You must read file {f} before overwriting it. Use the Read tool first"},
                        rng.randint(2, 30), False)
            self.adds += p.code[k].count("\n") + 1
            self.files.add(f)
            return ({"status": "completed", "input": inp, "output": "Wrote file successfully.", "title": rel,
                     "metadata": {"diagnostics": {}, "filepath": f, "exists": rng.random() < 0.7}},
                    rng.randint(10, 400), True)
        if name == "grep":
            pat = rng.choice(gen._NOUNS)
            inp = {"pattern": pat}
            if rng.random() < 0.4:
                inp["include"] = f"*{f[f.rfind('.'):]}"
            if fail:
                return ({"status": "error", "input": {"pattern": pat + "(", "path": proj.path},
                         "error": f"Error: ripgrep failed: regex parse error:\n    {pat}(\n    {' ' * len(pat)}^\n"
                                  "error: unclosed group"}, rng.randint(5, 60), False)
            hits: list[str] = []
            nfiles = 0
            for ff, kk in rng.sample(proj.files, min(len(proj.files), rng.randint(1, 6))):
                got = [f"  Line {j + 1}: {ln.strip()}" for j, ln in enumerate(p.code[kk].split("\n")) if pat in ln]
                if got:
                    nfiles += 1
                    hits.append(f"{ff}:")
                    hits.extend(got[:20])
                    hits.append("")
            n_match = sum(1 for h in hits if h.startswith("  Line"))
            out = f"Found {n_match} matches\n" + "\n".join(hits).rstrip() if n_match else "No files found"
            return ({"status": "completed", "input": inp, "output": out, "title": pat,
                     "metadata": {"matches": n_match, "truncated": False}}, rng.randint(8, 400), False)
        if name == "glob":
            ext = f[f.rfind("."):]
            inp = {"pattern": f"**/*{ext}"}
            names = [ff for ff, _ in proj.files if ff.endswith(ext)]
            if fail:
                return ({"status": "error", "input": {"pattern": "**/*" + ext, "path": proj.path + "/dist"},
                         "error": f"Error: No such file or directory: '{proj.path}/dist'"}, rng.randint(2, 30), False)
            return ({"status": "completed", "input": inp, "output": "\n".join(names), "title": "",
                     "metadata": {"count": len(names), "truncated": False}}, rng.randint(5, 300), False)
        if name == "list":
            inp = {"path": proj.path}
            if fail:
                return ({"status": "error", "input": {"path": proj.path + "/build"},
                         "error": f"Error: ENOENT: no such file or directory, scandir '{proj.path}/build'"},
                        rng.randint(2, 30), False)
            tree: dict[str, list[str]] = {}
            for ff, _ in proj.files:
                d, _, base = ff[len(proj.path) + 1:].rpartition("/")
                tree.setdefault(d, []).append(base)
            out = f"{proj.path}/\n" + "".join(f"  {d}/\n" + "".join(f"    {b}\n" for b in sorted(bs))
                                             for d, bs in sorted(tree.items()))
            return ({"status": "completed", "input": inp, "output": out, "title": "",
                     "metadata": {"count": len(proj.files), "truncated": False}}, rng.randint(5, 200), False)
        if name == "todowrite":
            todos = [{"content": p.text(rng, rng.randint(20, 90)).strip(),
                      "status": rng.choice(["pending", "in_progress", "completed"]),
                      "priority": rng.choice(["high", "medium", "low"]), "id": str(j + 1)}
                     for j in range(rng.randint(2, 7))]
            out = orjson.dumps(todos, option=orjson.OPT_INDENT_2).decode()
            left = sum(t["status"] != "completed" for t in todos)
            return ({"status": "completed", "input": {"todos": todos}, "output": out, "title": f"{left} todos",
                     "metadata": {"todos": todos}}, rng.randint(1, 20), False)
        # webfetch
        url = f"https://docs.{rng.choice(gen._NOUNS)}.dev/{rng.choice(gen._NOUNS)}/{rng.choice(gen._VERBS)}"
        inp = {"url": url, "format": "markdown"}
        if fail:
            return ({"status": "error", "input": inp, "error": "Error: Request failed with status code: 404"},
                    rng.randint(100, 3000), False)
        out, _ = self._cap(p.text(rng, int(gen.log_uniform(rng, 2000, 40_000))))
        return ({"status": "completed", "input": inp, "output": out, "title": f"{url} (text/html)",
                 "metadata": {}}, rng.randint(200, 6000), False)

    def _task(self) -> tuple[str, dict[str, Any], int, int]:
        """A task tool call: runs a sub-agent session (written now, in the same DB).
        (part id, part data, start ms, end ms)"""
        rng = self.rng
        agent = rng.choice(["explore", "general"])
        verb = rng.choice(["Explore", "Inspect", "Find", "Review"])
        desc = f"{verb} {rng.choice(gen._NOUNS)} {rng.choice(gen._NOUNS)}"
        prompt = self.p.text(rng, rng.randint(200, 1200)).strip()
        start = self._tick(50, 400)
        pid = self.ids.make("prt", start)
        call_id = self._call_id()
        self._tick(200, 1500)
        child = _Session(self.db, random.Random(rng.getrandbits(64)), self.project, self.ms,
                         int(gen.log_uniform(rng, 8_000, 250_000)), self.ids, parent=self, agent=agent,
                         title=f"{desc} (@{agent} subagent)", model=(self.provider, self.model, self.price))
        report = child.run_subagent(prompt)
        self.ms = child.ms
        self.extra += child.bytes + child.extra
        end = self._tick(50, 500)
        summary = [{"id": x[0], "tool": x[1], "state": {"status": x[2], "title": x[3]}} for x in child.tool_log]
        state = {"status": "completed", "input": {"description": desc, "prompt": prompt, "subagent_type": agent},
                 "output": f"task_id: {child.sid} (for resuming to continue this task if needed)\n\n<task_result>\n"
                           f"{report}\n</task_result>",
                 "title": desc,
                 "metadata": {"summary": summary, "sessionId": child.sid,
                              "model": {"providerID": self.provider, "modelID": self.model}},
                 "time": {"start": start, "end": end}}
        return pid, {"type": "tool", "callID": call_id, "tool": "task", "state": state}, start, end

    # -- one model call -----------------------------------------------------------------------------------------

    def _usage(self, out_chars: int, reasoning_chars: int, tool_chars: int) -> tuple[dict[str, Any], float]:
        rng = self.rng
        ctx = self.ctx
        if self.provider == "anthropic":
            inp = rng.randint(2, 12)
            cr = min(self.cached, ctx)
            cw = max(0, ctx - cr - inp)
        else:
            cr = int(ctx * rng.uniform(0.55, 0.97)) if self.cached else 0
            inp, cw = ctx - cr, 0
        out = out_chars // 4 + rng.randint(5, 60)
        rea = reasoning_chars // 4 + rng.randint(0, 40) if reasoning_chars and self.provider != "anthropic" else 0
        self.cached = ctx
        self.ctx = ctx + out + tool_chars // 4 + rng.randint(20, 300)
        pi, po, pr, pw = self.price
        cost = (inp * pi + (out + rea) * po + cr * pr + cw * pw) / 1e6
        for j, v in enumerate((inp, out, rea, cr, cw)):
            self.tok[j] += v
        self.cost += cost
        return {"total": inp + out + rea + cr + cw, "input": inp, "output": out, "reasoning": rea,
                "cache": {"read": cr, "write": cw}}, cost

    def _assistant(self, parent: str, final: bool, fail_rate: float, tool_names: list[str] | None = None,
                   summary: str | None = None, text: str | None = None) -> bool:
        """One assistant message = one model call. Returns False when the turn ends here (abort, API error)."""
        rng, p = self.rng, self.p
        created = self._tick(200, 2500)
        mid = self.ids.make("msg", created)
        mode = "compaction" if summary is not None else self.agent
        base: dict[str, Any] = {"role": "assistant", "time": {"created": created}, "parentID": parent,
                                "modelID": self.model, "providerID": self.provider, "mode": mode, "agent": mode,
                                "path": {"cwd": self.project.path, "root": self.project.path}}
        zero = {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}}
        self.n["steps"] += 1
        if summary is None and rng.random() < 0.0015:  # the provider failed before any output
            end = self._tick(300, 30_000)
            err = rng.choice([{"name": "APIError", "data": {"message": "Overloaded", "statusCode": 529,
                                                            "isRetryable": True}},
                              {"name": "APIError", "data": {"message": "Rate limit exceeded", "statusCode": 429,
                                                            "isRetryable": True}},
                              {"name": "ProviderAuthError", "data": {"providerID": self.provider,
                                                                     "message": "Invalid API key."}}])
            self._message(mid, created, end, {**base, "time": {"created": created, "completed": end}, "cost": 0,
                                              "tokens": zero, "error": err})
            return False
        snap = self.snapshot
        t = self._tick(20, 900)
        self._part(mid, t, t, {"type": "step-start", "snapshot": snap})
        out_chars = rea_chars = tool_chars = 0
        if summary is None and rng.random() < (0.6 if self.provider != "opencode" else 0.3):
            thought = p.text(rng, int(gen.log_uniform(rng, 150, 3000)))
            t0, t1 = self._tick(50, 400), self._tick(200, 8000)
            part: dict[str, Any] = {"type": "reasoning", "text": thought}
            if self.provider == "anthropic":
                part["metadata"] = {"anthropic": {"signature": p.blob(rng, rng.randint(300, 1600))}}
            elif self.provider == "openai":
                part["metadata"] = {"openai": {"itemId": "rs_" + gen.hexid(rng, 48),
                                               "reasoningEncryptedContent": "gAAAAAB" + p.blob(
                                                   rng, int(gen.log_uniform(rng, 800, 8000)))}}
            part["time"] = {"start": t0, "end": t1}
            self._part(mid, t0, t1, part)
            rea_chars = len(thought)
        if summary is not None:
            text = summary
        elif text is not None:
            pass
        elif final:
            text = p.text(rng, int(gen.log_uniform(rng, 100, 2500)))
        elif rng.random() < 0.5:
            text = p.text(rng, int(gen.log_uniform(rng, 60, 600)))
        else:
            text = ""
        if text:
            t0, t1 = self._tick(50, 400), self._tick(100, 6000)
            self._part(mid, t0, t1, {"type": "text", "text": text, "time": {"start": t0, "end": t1}})
            out_chars += len(text)
        interrupted = False
        changed = False
        if not final and summary is None:
            names = tool_names or [rng.choices(_TOOL_NAMES, _TOOL_WEIGHTS)[0]
                                   for _ in range(1 if rng.random() < 0.75 else rng.randint(2, 4))]
            abort_at = rng.randrange(len(names)) if rng.random() < 0.004 else -1
            for j, name in enumerate(names):
                if (tool_names is None and self.parent is None and self.subagents < 3 and self._size() > 30_000
                        and rng.random() < 0.015):
                    self.subagents += 1
                    pid, part, start, end = self._task()
                    self._part(mid, start, end, part, pid=pid)
                    self.n["tools"] += 1
                    self.tool_log.append((pid, "task", "completed", part["state"]["title"]))
                    out_chars += len(dumps(part["state"]["input"]))
                    tool_chars += len(part["state"]["output"])
                    continue
                fail = rng.random() < fail_rate
                state, dur, ch = self._tool(name, fail)
                start = self._tick(20, 600)
                pid = self.ids.make("prt", start)
                if j == abort_at:
                    end = self._tick(200, min(dur, 60_000) + 300)
                    state = {"status": "error", "input": state["input"], "error": "Tool execution aborted",
                             "metadata": {"interrupted": True, "output": ""} if name == "bash" else {},
                             "time": {"start": start, "end": end}}
                    interrupted = True
                else:
                    end = self._tick(dur, dur + 1)
                    state["time"] = {"start": start, "end": end}
                    changed = changed or ch
                part = {"type": "tool", "callID": self._call_id(), "tool": name, "state": state}
                self._part(mid, start, end, part, pid=pid)
                self.n["tools"] += 1
                bad = state["status"] == "error" or bool(state.get("metadata", {}).get("exit"))
                self.n["failed"] += bad
                self.tool_log.append((pid, name, state["status"], state.get("title", "")))
                out_chars += len(dumps(state["input"]))
                tool_chars += len(state.get("output") or state.get("error") or "")
                if interrupted:
                    break
        if interrupted:
            end = self._tick(100, 2000)
            self.n["interrupts"] += 1
            self._message(mid, created, end, {**base, "time": {"created": created, "completed": end}, "cost": 0,
                                              "tokens": zero,
                                              "error": {"name": "MessageAbortedError",
                                                        "data": {"message": "The operation was aborted."}}})
            return False
        if summary is not None:  # the summary call reads the whole conversation, uncached
            tokens = {"total": 0, "input": self.ctx, "output": len(summary) // 4 + rng.randint(5, 60),
                      "reasoning": 0, "cache": {"read": 0, "write": 0}}
            tokens["total"] = tokens["input"] + tokens["output"]
            pi, po, _, _ = self.price
            cost = (tokens["input"] * pi + tokens["output"] * po) / 1e6
            self.tok[0] += tokens["input"]
            self.tok[1] += tokens["output"]
            self.cost += cost
        else:
            tokens, cost = self._usage(out_chars, rea_chars, tool_chars)
        reason = "tool-calls" if not final and summary is None else "stop"
        if changed:
            self.snapshot = gen.hexid(rng, 40)
        t = self._tick(5, 200)
        self._part(mid, t, t, {"type": "step-finish", "reason": reason, "snapshot": self.snapshot,
                               "cost": cost, "tokens": tokens})
        if changed:
            self._part(mid, t, t, {"type": "patch", "hash": snap, "files": sorted(self.files)[-8:]})
        end = self._tick(1, 50)
        data = {**base, "time": {"created": created, "completed": end}, "cost": cost, "tokens": tokens,
                "finish": reason}
        if summary is not None:
            data["summary"] = True
        self._message(mid, created, end, data)
        return True

    # -- structure ----------------------------------------------------------------------------------------------

    def _turn(self, fail_rate: float) -> None:
        rng = self.rng
        prompt = self.content.prompt(self.project)
        if self.rare:
            prompt += f" (see the {self.rare.pop()} notes)"
        uid = self._user(prompt)
        n_steps = min(40, int(rng.expovariate(1 / self.steps_mean)) + 1)
        for s in range(n_steps + 1):
            if self.ctx > CONTEXT[self.model] - MAX_OUTPUT:
                uid = self._compact()  # the rest of the turn answers the synthetic "Continue…" message
            if not self._assistant(uid, s == n_steps, fail_rate):
                return

    def _compact(self) -> str:
        """An automatic compaction (the context is full): the request, the summary call and the synthetic nudge
        the next calls answer. Returns the nudge's message id."""
        rng = self.rng
        created = self._tick(500, 3000)
        mid = self.ids.make("msg", created)
        self._message(mid, created, created, self._user_base(created))
        self._part(mid, created, created, {"type": "compaction", "auto": True})
        summary = ("## Summary of the conversation so far\n\n"
                   + self.p.text(rng, rng.randint(4000, 14000)))
        self._assistant(mid, True, 0.0, summary=summary)
        self.n["turns"] += 1
        self.n["compactions"] += 1
        self.ctx = rng.randint(12_000, 30_000) + len(summary) // 4
        self.cached = 0
        created = self._tick(1, 5)
        cid = self.ids.make("msg", created)
        self._message(cid, created, created, self._user_base(created))
        self._part(cid, created, created, {"type": "text", "synthetic": True, "text": CONTINUE})
        return cid

    def _row(self) -> None:
        title = self.title
        if title is None:
            rng = self.rng
            if rng.random() < 0.05:
                title = f"New session - {gen.iso(self.t0 / 1000)}"
            else:
                f = rng.choice(self.project.files)[0].rsplit("/", 1)[-1]
                title = f"{rng.choice(_TITLE_VERBS)} {rng.choice(gen._NOUNS)} {rng.choice(gen._NOUNS)}"
                if rng.random() < 0.5:
                    title += f" in {f}"
        root = self.project.path.split("/.worktrees/")[0]
        pid = hashlib.sha1(root.encode()).hexdigest()
        pr = self.db.projects.get(pid)
        if pr is None:
            self.db.projects[pid] = [root, self.t0, self.ms]
        else:
            pr[1], pr[2] = min(pr[1], self.t0), max(pr[2], self.ms)
        self.db.newest_ms = max(self.db.newest_ms, self.ms)
        inp, out, rea, cr, cw = self.tok
        self.db.sessions.append((self.sid, pid, self.parent.sid if self.parent else None, self.slug,
                                 self.project.path, title, self.version,
                                 self.adds or None, self.dels or None, len(self.files) or None,
                                 round(self.cost, 10), inp, out, rea, cr, cw, self.t0, self.ms))
        c = self.db.counts
        c["sessions"] += 1
        c["subagents"] += self.parent is not None
        for k, v in self.n.items():
            c[k] += v
        self.db.written[self.sid] = {**self.n, "project": self.project.path, "parent": self.parent.sid
                                     if self.parent else None, "bytes": self.bytes,
                                     "tokens": sum(self.tok)}

    def run(self, fail_rate: float = 0.05) -> int:
        while self._size() < self.target:
            self._turn(fail_rate)
        self._row()
        return self.bytes + self.extra

    def run_subagent(self, prompt: str) -> str:
        """A task sub-agent: the parent's prompt, read-only tools until the target size, a final report."""
        rng = self.rng
        uid = self._user(prompt)
        while self.bytes < self.target:
            if self.ctx > CONTEXT[self.model] - MAX_OUTPUT:
                uid = self._compact()
            names = [rng.choice(SUB_TOOLS) for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 3))]
            if not self._assistant(uid, False, 0.05, tool_names=names):
                break
        report = self.p.text(rng, int(gen.log_uniform(rng, 500, 6000)))
        self._assistant(uid, True, 0.0, text=report)
        self._row()
        return report
