"""GitHub Copilot CLI (>= 1.0) sessions for the benchmark corpus (see generate.py for the other agents).

Layout: ``HOME/.copilot/session-state/<sessionId>/events.jsonl`` plus its sidecars: ``workspace.yaml`` (always),
``checkpoints/NNN-<slug>.md`` + ``checkpoints/index.md`` (one per completed compaction) and, for the ~15 % of
sessions driven from VS Code, ``vscode.metadata.json`` (``customTitle``) and ``vscode.requests.metadata.json``.

Events are ``{type, data, id, timestamp, parentId}`` lines, as in the real file in
/work/shared/corpus/copilot_cli and /work/shared/research/log-formats-2.md §5.1; ~40 % of the ``parentId``s
point to ephemeral events that were never written, as in the real file. Written types:

- ``session.start`` (first line), ``session.shutdown`` (last line, per-model metrics of its cycle); now and then a
  ``session.shutdown`` → ``session.resume`` (→ ``session.model_change``) cycle between two prompts;
- per prompt: ``user.message`` (``content``; VS Code sessions wrap it in ``<reminder>``/``<attachments>``/
  ``<userRequest>`` blocks), then per model call ``assistant.turn_start`` → ``assistant.message`` (``content``,
  ``toolRequests``, ``reasoningText``/``reasoningOpaque``, ``outputTokens``) → ``tool.execution_start`` … →
  ``tool.execution_complete`` … (in completion order) → ``assistant.turn_end``; the last call of a prompt answers
  with ``toolRequests: []``;
- tools: ``bash`` (``<exited with exit code N>`` trailer, non-zero on failures), ``view`` (file, range or
  directory), ``edit``, ``create``, ``grep``, ``glob``, ``report_intent``, ``update_todo``, ``web_fetch``, an MCP
  tool (``mcpServerName``), and rarely a ``task`` subagent (``subagent.started``/``subagent.completed`` and
  events carrying ``parentToolCallId``); failures at ``fail_rate``: ``success:false`` + ``error{message, code}``
  (``failure``, or ``rejected`` for a refused edit), shell exit codes under ``success:true``;
- rarely ``abort`` (the running tool never completes), ``session.error`` (rate limit: the call is retried; quota:
  the prompt ends), and ``session.compaction_start``/``session.compaction_complete`` when the context fills up
  (token-based, so only long sessions compact; the completion lands a model call or two later).

``CopilotSession.stats`` counts what was written (turns, steps, tool calls, failures by the error kind the index
should report, compactions, subagents) so a test can compare it with what the parser reads back.
"""

from __future__ import annotations

import base64
import os
import random
from pathlib import Path
from typing import Any

import orjson
from generate import _NOUNS, _VERBS, Content, Out, Project, dumps, iso, log_uniform, uuid4

COPILOT_VERSIONS = ["1.0.12", "1.0.27", "1.0.41", "1.0.58", "1.0.77"]
# (model, toolCallId prefix, premium-request multiplier, context window)
COPILOT_MODELS = [("claude-sonnet-4.5", "tooluse_", 1.0, 144_000), ("claude-haiku-4.5", "tooluse_", 0.33, 144_000),
                  ("claude-opus-4.5", "tooluse_", 3.0, 144_000), ("gpt-5", "call_", 1.0, 128_000),
                  ("gpt-5.1-codex", "call_", 1.0, 128_000)]
# main-session tool mix (report_intent and task are added separately)
TOOL_WEIGHTS = [("bash", 40), ("view", 25), ("edit", 12), ("grep", 9), ("create", 4), ("glob", 3),
                ("update_todo", 2), ("web_fetch", 2), ("mcp", 1)]
_TOOLS = [n for n, _ in TOOL_WEIGHTS]
_CUM = []
_acc = 0
for _n, _w in TOOL_WEIGHTS:
    _acc += _w
    _CUM.append(_acc)
SUB_TOOLS = ["view", "view", "grep", "grep", "bash", "glob"]
AGENTS = [("explore", "Explore Agent", "Fast codebase exploration and answering questions"),
          ("task", "Task Agent", "Runs commands such as tests and builds and reports the results"),
          ("code-review", "Code Review Agent", "Reviews changes and reports real issues only")]
MCP_TOOLS = [("github-mcp-server", "get_issue"), ("github-mcp-server", "list_pull_requests"),
             ("github-mcp-server", "search_code")]
_ID_CHARS = bytes.maketrans(b"+/=", b"xyz")
REMINDER = ("<reminder>\n<sql_tables>No tables currently exist. Default tables (todos, todo_deps) will be created "
            "automatically when you first use the SQL tool.</sql_tables>\n</reminder>")
VIEW_OPTIONS = '{"truncateBasedOn":"tokenCount","truncateStyle":"middle"}'
SHELL_TELEMETRY = {"properties": {"customTimeout": "false", "executionMode": "sync", "detached": "false"},
                   "metrics": {"commandTimeout": 30000}}


def _numbered(pools: Any, k: int) -> tuple[str, str, int]:
    """(view output "1. line", the diff body Copilot puts in detailedContent, line count) of code pool k, cached."""
    cache = pools.__dict__.setdefault("_copilot_view", {})
    v = cache.get(k)
    if v is None:
        lines = pools.code[k].split("\n")
        v = ("\n".join(f"{i}. {ln}" for i, ln in enumerate(lines, 1)), "".join(f" {ln}\n" for ln in lines), len(lines))
        cache[k] = v
    return v


def _yaml_scalar(s: str) -> str:
    if "\n" in s:
        return "|-\n" + "\n".join(("  " + ln) if ln.strip() else "" for ln in s.split("\n"))
    if not s or s[0] in "!&*-?[]{}|>@`\"'%#,:" or ": " in s or " #" in s or s != s.strip():
        return orjson.dumps(s).decode()
    return s


class CopilotSession:
    def __init__(self, g: Any, rng: random.Random, project: Project, t0: float, target: int,
                 rare: list[str] | None = None) -> None:
        self.g, self.rng, self.project, self.t, self.t0, self.target = g, rng, project, t0, t0, target
        self.sid = uuid4(rng)
        self.dir = Path(g.home) / ".copilot" / "session-state" / self.sid
        self.out = Out(self.dir / "events.jsonl")
        self.vscode = rng.random() < 0.15
        self.version = "unknown" if self.vscode else rng.choice(COPILOT_VERSIONS)
        self.model, self.id_prefix, self.mult, self.window = rng.choice(COPILOT_MODELS)
        self.branch = rng.choice(project.branches)
        self.repo_name = project.path.rstrip("/").rsplit("/", 1)[-1]
        if "/.worktrees/" in project.path:
            self.repo_name = project.path.split("/.worktrees/")[0].rsplit("/", 1)[-1]
        self.user_home = "/".join(project.path.split("/")[:3])
        self.head = f"{rng.getrandbits(160):040x}"
        self.content = Content(g.pools, rng)
        self.rare = list(rare or [])
        self.steps_mean = min(5.0, max(1.0, target / 25_000))
        self.last_id: str | None = None
        self.interaction = ""
        self.first_prompt: str | None = None
        self.extra_bytes = 0
        # context accounting (drives compaction)
        self.sys_tokens = rng.randint(14_000, 37_000)
        self.tooldef_tokens = rng.randint(18_000, 40_000)
        self.conv = rng.randint(1_000, 4_000)
        self.msgs = 0
        self.compacting: dict[str, Any] | None = None
        self.checkpoints: list[tuple[str, str, str]] = []  # (title, file name, summary)
        self.compact_at = rng.uniform(0.7, 0.85)
        # per shutdown→resume cycle
        self.metrics: dict[str, dict[str, Any]] = {}
        self.prompts: dict[str, int] = {}
        self.api_ms = 0
        self.lines_added = 0
        self.lines_removed = 0
        self.files_modified: list[str] = []
        self.event_count = 0
        self.subagents = 0
        self.vscode_requests: list[dict[str, Any]] = []
        # what was written, for tests: main session vs its subagents
        self.stats: dict[str, Any] = {
            "turns": 0, "steps": 0, "failed_steps": 0, "tool_calls": 0, "compactions": 0, "interrupts": 0,
            "failures": {}, "sub_sessions": 0, "sub_steps": 0, "sub_tool_calls": 0, "sub_failures": {},
        }

    # events --------------------------------------------------------------------------------------------------
    def _ev(self, typ: str, data: dict[str, Any], t: float | None = None) -> str:
        if t is not None and t > self.t:
            self.t = t
        eid = uuid4(self.rng)
        parent = self.last_id if (self.last_id is None or self.rng.random() < 0.6) else uuid4(self.rng)
        self.out.add({"type": typ, "data": data, "id": eid, "timestamp": iso(self.t), "parentId": parent})
        self.last_id = eid
        self.event_count += 1
        return eid

    def _call_id(self) -> str:
        raw = base64.b64encode(self.rng.randbytes(18)).translate(_ID_CHARS).decode()
        return self.id_prefix + (raw[:22] if self.id_prefix == "tooluse_" else raw[:24])

    def _context(self) -> dict[str, Any]:
        return {"cwd": self.project.path, "gitRoot": self.project.path, "branch": self.branch,
                "headCommit": self.head, "repository": f"acme/{self.repo_name}", "hostType": "github"}

    def _fail_kind(self, key: str, kind: str | None) -> None:
        if kind:
            d = self.stats[key]
            d[kind] = d.get(kind, 0) + 1

    # tools ---------------------------------------------------------------------------------------------------
    def _tool(self, name: str, fail: bool) -> dict[str, Any]:
        """One tool call: request, start extras, completion payload, duration and the failure kind expected."""
        rng, p, proj = self.rng, self.g.pools, self.project
        f, k = rng.choice(proj.files)
        args: dict[str, Any]
        summary: str | None = None
        extra: dict[str, Any] = {}
        result: dict[str, Any] | None = None
        error: dict[str, Any] | None = None
        telemetry: dict[str, Any] = {}
        kind: str | None = None
        dur = rng.uniform(0.002, 0.08)
        if name == "bash":
            sh = self.content.shell(proj, fail)
            cmd = sh.command if rng.random() < 0.7 else f"cd {proj.path} && {sh.command}"
            args = {"command": cmd, "description": sh.description}
            summary = sh.description
            telemetry = SHELL_TELEMETRY
            dur = rng.uniform(0.2, 30)
            if fail and rng.random() < 0.1:
                error = {"message": f"<exited with error: Command failed: {sh.command.split()[0]}: spawn EAGAIN>",
                         "code": "failure"}
                kind = "tool_error"
            else:
                text = f"{sh.output}\n<exited with exit code {sh.exit_code}>"
                result = {"content": text, "detailedContent": text}
                kind = "exit_code" if sh.exit_code else None
        elif name == "view":
            r = rng.random()
            if r < 0.1:  # a directory
                args = {"path": proj.path}
                summary = f"view the file at {proj.path}."
                listing = "\n".join(sorted(x[len(proj.path) + 1:] for x, _ in proj.files))
                n = listing.count("\n") + 1
                result = {"content": listing,
                          "detailedContent": f"\ndiff --git a{proj.path} b{proj.path}\ncreate file mode 100644\n"
                                             f"index 0000000..0000000\n--- a/dev/null\n+++ b{proj.path}\n"
                                             f"@@ -1,0 +1,{n} @@\n" + "".join(f" {x}\n" for x in listing.split("\n"))}
                ftype = "directory"
            else:
                args = {"path": f}
                summary = f"view the file at {f}."
                ftype = "file"
                if not fail:
                    numbered, body, n = _numbered(p, k)
                    if r < 0.4 and n > 30:
                        a = rng.randint(1, n - 20)
                        b = min(n, a + rng.randint(20, 200))
                        args["view_range"] = [a, b]
                        lines = numbered.split("\n")[a - 1:b]
                        content = "\n".join(lines)
                        diff_body = "".join(f" {ln.split('. ', 1)[1] if '. ' in ln else ''}\n" for ln in lines)
                        hunk = f"@@ -{a},{b - a + 1} +{a},{b - a + 1} @@\n"
                    else:
                        content, diff_body, hunk = numbered, body, f"@@ -1,{n} +1,{n} @@\n"
                    result = {"content": content,
                              "detailedContent": f"\ndiff --git a{f} b{f}\nindex 0000000..0000000 100644\n"
                                                 f"--- a{f}\n+++ b{f}\n{hunk}{diff_body}"}
                else:
                    error = {"message": f"Path {f} does not exist. Please provide a valid path.", "code": "failure"}
                    kind = "tool_error"
            telemetry = {"properties": {"command": "view", "options": VIEW_OPTIONS,
                                        "inputs": orjson.dumps(list(args) + ["command"]).decode(),
                                        "resolvedPathAgainstCwd": "false",
                                        "fileExtension": orjson.dumps(["directory" if ftype == "directory"
                                                                       else f[f.rfind("."):]]).decode(),
                                        "viewType": ftype},
                         "metrics": {"resultLength": len(result["content"]) if result else 0,
                                     "resultForLlmLength": len(result["content"]) if result else 0,
                                     "responseTokenLimit": 32000}}
        elif name == "edit":
            lines = p.code[k].split("\n")
            i = rng.randrange(max(1, len(lines) - 6))
            old = "\n".join(lines[i:i + rng.randint(1, 5)])
            new = (old.replace(rng.choice(_NOUNS), rng.choice(_NOUNS))
                   + f"\n    # {rng.choice(_VERBS)} {rng.choice(_NOUNS)}")
            args = {"path": f, "old_str": old, "new_str": new}
            summary = f"edit the file at {f}."
            if fail:
                if rng.random() < 0.25:
                    error = {"message": "The user rejected this tool call.", "code": "rejected"}
                    kind = "denied"
                else:
                    error = {"message": f"No match found for old_str in {f}. Make sure old_str matches the file "
                                        "exactly, including whitespace and indentation.", "code": "failure"}
                    kind = "tool_error"
            else:
                o_n, n_n = old.count("\n") + 1, new.count("\n") + 1
                ctx_a, ctx_b = lines[max(0, i - 3):i], lines[i + o_n:i + o_n + 3]
                s = max(1, i - 2)
                hunk = (f"@@ -{s},{o_n + len(ctx_a) + len(ctx_b)} +{s},{n_n + len(ctx_a) + len(ctx_b)} @@\n"
                        + "".join(f" {x}\n" for x in ctx_a) + "".join(f"-{x}\n" for x in old.split("\n"))
                        + "".join(f"+{x}\n" for x in new.split("\n")) + "".join(f" {x}\n" for x in ctx_b))
                result = {"content": f"File {f} updated with changes.",
                          "detailedContent": f"\ndiff --git a{f} b{f}\nindex 0000000..0000000 100644\n--- a{f}\n"
                                             f"+++ b{f}\n{hunk}"}
                self.lines_added += n_n
                self.lines_removed += o_n
                if f not in self.files_modified:
                    self.files_modified.append(f)
            telemetry = {"properties": {"command": "edit", "options": VIEW_OPTIONS,
                                        "inputs": '["path","old_str","new_str","command"]',
                                        "resolvedPathAgainstCwd": "false",
                                        "fileExtension": f'["{f[f.rfind("."):]}"]'},
                         "metrics": {"resultLength": len(result["content"]) if result else 0,
                                     "resultForLlmLength": len(result["content"]) if result else 0,
                                     "responseTokenLimit": 32000}}
        elif name == "create":
            f = f[:f.rfind(".")] + f"_{rng.choice(_NOUNS)}" + f[f.rfind("."):]
            code = p.code[k]
            args = {"path": f, "file_text": code}
            summary = f"create a new file at {f}."
            if fail:
                if rng.random() < 0.25:
                    error = {"message": "The user rejected this tool call.", "code": "rejected"}
                    kind = "denied"
                else:
                    error = {"message": f"Path already exists: {f}. Use edit to change an existing file.",
                             "code": "failure"}
                    kind = "tool_error"
            else:
                n = code.count("\n") + 1
                result = {"content": f"Created file {f} with {len(code)} characters",
                          "detailedContent": f"\ndiff --git a{f} b{f}\ncreate file mode 100644\n"
                                             f"index 0000000..0000000\n--- a/dev/null\n+++ b{f}\n@@ -1,0 +1,{n} @@\n"
                                             + "".join(f"+{x}\n" for x in code.split("\n"))}
                self.lines_added += n
                self.files_modified.append(f)
            telemetry = {"properties": {"command": "create", "options": VIEW_OPTIONS,
                                        "inputs": '["path","file_text","command"]', "resolvedPathAgainstCwd": "false",
                                        "fileExtension": f'["{f[f.rfind("."):]}"]'},
                         "metrics": {"resultLength": len(result["content"]) if result else 0,
                                     "resultForLlmLength": len(result["content"]) if result else 0,
                                     "responseTokenLimit": 32000}}
        elif name == "grep":
            pat = rng.choice(_NOUNS) if not fail else f"{rng.choice(_NOUNS)}(["
            files_mode = rng.random() < 0.3
            where = proj.path if rng.random() < 0.6 else f
            args = {"pattern": pat, "path": where, "output_mode": "files_with_matches" if files_mode else "content"}
            if not files_mode and rng.random() < 0.7:
                args["n"] = True
            summary = where
            dur = rng.uniform(0.02, 1.5)
            if fail:
                error = {"message": f"rg: regex parse error:\n    {pat}\n    {' ' * len(pat)}^\nerror: unclosed "
                                    "character class", "code": "failure"}
                kind = "tool_error"
            else:
                pool = ([(f, k)] if where != proj.path
                        else rng.sample(proj.files, min(len(proj.files), rng.randint(1, 6))))
                hits: list[str] = []
                for ff, kk in pool:
                    if files_mode:
                        if pat in p.code[kk]:
                            hits.append(ff)
                        continue
                    for j, ln in enumerate(p.code[kk].split("\n")):
                        if pat in ln:
                            hits.append(f"{ff}:{j + 1}:{ln}" if args.get("n") else f"{ff}:{ln}")
                hits = hits[:rng.randint(5, 120)]
                text = "\n".join(hits) or "No matches found."
                result = {"content": text, "detailedContent": text}
            telemetry = {"properties": {"pattern": pat, "output_mode": args["output_mode"],
                                        "matches_found": "true" if result and result["content"] != "No matches found."
                                        else "false"},
                         "metrics": {"result_length": len(result["content"])} if result else {}}
        elif name == "glob":
            ext = f[f.rfind("."):]
            args = {"pattern": f"**/*{ext}"}
            summary = proj.path
            text = "\n".join(x for x, _ in proj.files if x.endswith(ext))
            result = {"content": text, "detailedContent": text}
            telemetry = {"properties": {"pattern": args["pattern"], "matches_found": "true"},
                         "metrics": {"result_length": len(text)}}
        elif name == "report_intent":
            intent = f"{rng.choice(_VERBS).title()} {rng.choice(_NOUNS)} {rng.choice(_NOUNS)}"
            args = {"intent": intent}
            result = {"content": "Intent logged", "detailedContent": intent}
            dur = rng.uniform(0.001, 0.006)
        elif name == "update_todo":
            items = "\n".join(f"- [{'x' if rng.random() < 0.4 else ' '}] {p.text(rng, rng.randint(20, 80)).strip()}"
                              for _ in range(rng.randint(2, 7)))
            args = {"todos": items}
            summary = "Update the TODO list"
            result = {"content": "TODO list updated", "detailedContent": items}
        elif name == "web_fetch":
            url = f"https://docs.example.com/{rng.choice(_NOUNS)}/{rng.choice(_VERBS)}-{rng.choice(_NOUNS)}"
            args = {"url": url, "max_length": rng.choice([5000, 10000, 20000])}
            summary = f"Fetching web content from {url}"
            dur = rng.uniform(0.5, 8)
            if fail:
                error = {"message": f"Failed to fetch {url} - status code 404", "code": "failure"}
                kind = "tool_error"
            else:
                text = p.text(rng, int(log_uniform(rng, 2000, min(20000, args["max_length"]))))
                result = {"content": f"Contents of {url}:\n{text}", "detailedContent": f"Contents of {url}:\n{text}"}
        else:  # an MCP tool
            server, tool = rng.choice(MCP_TOOLS)
            name = f"{server}-{tool}"
            args = {"owner": "acme", "repo": self.repo_name}
            if tool == "get_issue":
                args["issue_number"] = rng.randint(1, 900)
            elif tool == "search_code":
                args["query"] = f"{rng.choice(_NOUNS)} repo:acme/{self.repo_name}"
            extra = {"mcpServerName": server, "mcpToolName": tool}
            dur = rng.uniform(0.3, 4)
            if fail:
                error = {"message": f"MCP server '{server}': Error: API rate limit exceeded for installation",
                         "code": "failure"}
                kind = "tool_error"
            else:
                items = [{"number": rng.randint(1, 900), "title": p.text(rng, rng.randint(20, 70)).strip(),
                          "state": rng.choice(["open", "closed"]), "body": p.text(rng, int(log_uniform(rng, 50, 2000)))}
                         for _ in range(1 if tool == "get_issue" else rng.randint(2, 12))]
                text = dumps(items[0] if tool == "get_issue" else items).decode()
                result = {"content": text, "detailedContent": text}
        req: dict[str, Any] = {"toolCallId": self._call_id(), "name": name, "arguments": args, "type": "function"}
        if summary is not None:
            req["intentionSummary"] = summary
        done: dict[str, Any] = {"success": error is None}
        if error is None:
            done["result"] = result
        else:
            done["error"] = error
        done["toolTelemetry"] = telemetry
        return {"req": req, "extra": extra, "done": done, "dur": dur, "kind": kind,
                "tokens": len(result["content"]) // 4 if result else 40}

    def _pick(self) -> str:
        x = self.rng.random() * _acc
        for n, c in zip(_TOOLS, _CUM):
            if x < c:
                return n
        return _TOOLS[-1]

    # structure -----------------------------------------------------------------------------------------------
    def _message(self, content: str, calls: list[dict[str, Any]], reasoning: bool,
                 parent_call: str | None = None) -> dict[str, Any]:
        rng, p = self.rng, self.g.pools
        d: dict[str, Any] = {"messageId": uuid4(rng), "content": content}
        if parent_call:
            d["parentToolCallId"] = parent_call
        d["toolRequests"] = [c["req"] for c in calls]
        if not parent_call:
            d["interactionId"] = self.interaction
        text = ""
        if reasoning:
            text = p.text(rng, int(log_uniform(rng, 150, 3000)))
            d["reasoningOpaque"] = p.blob(rng, rng.randint(400, 3000))
            d["reasoningText"] = text
        out = ((len(content) + len(text) + sum(len(dumps(c["req"]["arguments"])) for c in calls)) // 4
               + rng.randint(5, 80))
        d["outputTokens"] = out
        m = self.metrics.setdefault(self.model, {"count": 0, "in": 0, "out": 0, "cache": 0})
        m["count"] += 1
        m["in"] += self.sys_tokens + self.tooldef_tokens + self.conv
        m["cache"] += int((self.sys_tokens + self.tooldef_tokens + self.conv) * rng.uniform(0.6, 0.95))
        m["out"] += out
        self.conv += out
        self.msgs += 1
        return d

    def _run_calls(self, calls: list[dict[str, Any]], t_msg: float, parent_call: str | None = None) -> None:
        """tool.execution_start for each call, then the completions in the order they finish."""
        t = t_msg
        for c in calls:
            t += self.rng.uniform(0.0, 0.002)
            d = {"toolCallId": c["req"]["toolCallId"], "toolName": c["req"]["name"], "arguments": c["req"]["arguments"],
                 **c["extra"]}
            if parent_call:
                d["parentToolCallId"] = parent_call
            self._ev("tool.execution_start", d, t)
            c["end"] = t + c["dur"]
        for c in sorted(calls, key=lambda c: c["end"]):
            d = {"toolCallId": c["req"]["toolCallId"], "model": self.model}
            if not parent_call:
                d["interactionId"] = self.interaction
            d.update(c["done"])
            if parent_call:
                d["parentToolCallId"] = parent_call
            self._ev("tool.execution_complete", d, c["end"])
            self.conv += c["tokens"]

    def _subagent(self) -> dict[str, Any]:
        """A `task` call: the subagent's events (parentToolCallId) run between its start and its completion."""
        rng, p = self.rng, self.g.pools
        agent, display, desc = rng.choice(AGENTS)
        prompt = p.text(rng, rng.randint(200, 1200)).strip()
        title = f"{rng.choice(_VERBS).title()} {rng.choice(_NOUNS)} {rng.choice(_NOUNS)}"
        call = {"req": {"toolCallId": self._call_id(), "name": "task",
                        "arguments": {"agent_type": agent, "description": title, "prompt": prompt},
                        "type": "function", "intentionSummary": title},
                "extra": {}, "kind": None, "sub": (agent, display, desc)}
        return call

    def _run_subagent(self, call: dict[str, Any], t_msg: float, fail_rate: float) -> None:
        rng, p = self.rng, self.g.pools
        cid = call["req"]["toolCallId"]
        agent, display, desc = call["sub"]
        self._ev("tool.execution_start", {"toolCallId": cid, "toolName": "task", "arguments": call["req"]["arguments"]},
                 t_msg + rng.uniform(0, 0.002))
        self._ev("subagent.started", {"toolCallId": cid, "agentName": agent, "agentDisplayName": display,
                                      "agentDescription": desc}, self.t + rng.uniform(0.001, 0.01))
        self.subagents += 1
        self.stats["sub_sessions"] += 1
        for _ in range(rng.randint(2, 8)):
            calls = []
            for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 4)):
                fail = rng.random() < fail_rate
                c = self._tool(rng.choice(SUB_TOOLS), fail)
                calls.append(c)
                self.stats["sub_tool_calls"] += 1
                self._fail_kind("sub_failures", c["kind"])
            msg = self._message(p.text(rng, rng.randint(40, 300)) if rng.random() < 0.3 else "", calls,
                                rng.random() < 0.3, parent_call=cid)
            self.t += rng.uniform(1.0, 10.0)
            self._ev("assistant.message", msg)
            self.stats["sub_steps"] += 1
            self._run_calls(calls, self.t, parent_call=cid)
        report = p.text(rng, int(log_uniform(rng, 400, 5000)))
        self.t += rng.uniform(2.0, 20.0)
        self._ev("assistant.message", self._message(report, [], False, parent_call=cid))
        self.stats["sub_steps"] += 1
        self._ev("subagent.completed", {"toolCallId": cid, "agentName": agent, "agentDisplayName": display},
                 self.t + rng.uniform(0.01, 0.2))
        self._ev("tool.execution_complete", {"toolCallId": cid, "model": self.model, "interactionId": self.interaction,
                                             "success": True, "result": {"content": report, "detailedContent": report},
                                             "toolTelemetry": {}}, self.t + rng.uniform(0.01, 0.1))
        self.conv += len(report) // 4

    def _compaction(self) -> None:
        """Background compaction: started when the context fills up, completed a model call or two later."""
        rng, p = self.rng, self.g.pools
        c = self.compacting
        if c is None:
            total = self.sys_tokens + self.tooldef_tokens + self.conv
            if total > self.window * self.compact_at:
                self._ev("session.compaction_start", {"systemTokens": self.sys_tokens,
                                                      "conversationTokens": self.conv,
                                                      "toolDefinitionsTokens": self.tooldef_tokens},
                         self.t + rng.uniform(0.05, 0.4))
                self.compacting = {"pre": total, "conv": self.conv, "msgs": self.msgs, "wait": rng.randint(1, 2)}
            return
        c["wait"] -= 1
        if c["wait"] > 0:
            return
        self.compacting = None
        n = len(self.checkpoints) + 1
        title = f"{rng.choice(_VERBS).title()} {rng.choice(_NOUNS)} {rng.choice(_NOUNS)} and {rng.choice(_NOUNS)}"
        fname = f"{n:03d}-{title.lower().replace(' and ', '-').replace(' ', '-')}.md"
        hist = "\n".join(f"{i}. {p.text(rng, rng.randint(40, 160)).strip()}\n"
                         f"   - {p.text(rng, rng.randint(40, 200)).strip()}" for i in range(1, rng.randint(3, 8)))
        files = "\n".join(f"- `{x}`: {p.text(rng, rng.randint(30, 120)).strip()}"
                          for x, _ in rng.sample(self.project.files, min(4, len(self.project.files))))
        summary = (f"<overview>\n{p.text(rng, rng.randint(300, 900)).strip()}\n</overview>\n\n<history>\n{hist}\n"
                   f"</history>\n\n<work_done>\n{p.text(rng, rng.randint(300, 2000)).strip()}\n</work_done>\n\n"
                   f"<technical_details>\n{p.text(rng, rng.randint(300, 2500)).strip()}\n</technical_details>\n\n"
                   f"<important_files>\n{files}\n</important_files>\n\n<next_steps>\n"
                   f"{p.text(rng, rng.randint(100, 800)).strip()}\n</next_steps>")
        self.checkpoints.append((title, fname, summary))
        self._ev("session.compaction_complete", {
            "success": True, "preCompactionTokens": c["pre"], "preCompactionMessagesLength": self.msgs - c["msgs"] + 2,
            "summaryContent": summary, "checkpointNumber": n,
            "checkpointPath": f"{self.user_home}/.copilot/session-state/{self.sid}/checkpoints/{fname}",
            "compactionTokensUsed": {"input": c["pre"] + rng.randint(20_000, 70_000), "output": len(summary) // 4,
                                     "cachedInput": 0},
            "requestId": f"00000-{uuid4(rng)}"}, self.t + rng.uniform(3, 25))
        self.stats["compactions"] += 1
        self.conv = max(2000, self.conv - c["conv"]) + len(summary) // 4
        self.compact_at = rng.uniform(0.7, 0.85)

    def _user(self, prompt: str) -> None:
        rng = self.rng
        stamp = iso(self.t)
        if self.vscode:
            att = (f"<attachments>\n<attachment id=\"acme/{self.repo_name}\">\nInformation about the current "
                   "repository. You can use this information when you need to calculate diffs or compare changes "
                   f"with the default branch:\nRepository name: {self.repo_name}\nOwner: acme\nCurrent branch: "
                   f"{self.branch}\nDefault branch: main\n</attachment>\n\n</attachments>\n")
            content = (f"{prompt}\n <reminder>\nIMPORTANT: this context may or may not be relevant to your tasks. You "
                       "should not respond to this context unless it is highly relevant to your task\n</reminder>\n"
                       f"{att}<userRequest>\n{prompt}\n</userRequest>\n")
            transformed = f"<current_datetime>{stamp}</current_datetime>\n\n{content}\n\n{REMINDER}"
        else:
            content = prompt
            transformed = f"<current_datetime>{stamp}</current_datetime>\n\n{prompt}\n\n{REMINDER}"
        attachments: list[dict[str, Any]] = []
        if rng.random() < 0.05:
            f = rng.choice(self.project.files)[0]
            attachments.append({"type": "file", "path": f, "displayName": f.rsplit("/", 1)[-1]})
        eid = self._ev("user.message", {"content": content, "transformedContent": transformed,
                                        "attachments": attachments, "agentMode": "interactive",
                                        "interactionId": self.interaction})
        if self.vscode:
            self.vscode_requests.append({"vscodeRequestId": f"request_{uuid4(rng)}", "copilotRequestId": eid,
                                         "toolIdEditMap": {}})
        self.conv += len(transformed) // 4

    def _step(self, turn_id: int, final: bool, fail_rate: float, first: bool) -> str:
        """One model call. Returns "ok", or "stop" when the prompt ends here (abort, quota error)."""
        rng, p = self.rng, self.g.pools
        t_start = self.t + rng.uniform(0.001, 0.5)
        self._ev("assistant.turn_start", {"turnId": str(turn_id), "interactionId": self.interaction}, t_start)
        self._compaction()
        if rng.random() < 0.003:  # the model call failed
            quota = rng.random() < 0.4
            err = ({"errorType": "quota", "message": "You have exceeded your premium request allowance. Upgrade "
                    "your plan or wait for the allowance to reset.", "statusCode": 402}
                   if quota else {"errorType": "rate_limit", "message": "Sorry, you have been rate-limited. Please "
                                  "wait a moment before trying again.", "statusCode": 429})
            err["providerCallId"] = uuid4(rng)
            self._ev("session.error", err, self.t + rng.uniform(0.3, 5))
            self._ev("assistant.turn_end", {"turnId": str(turn_id)}, self.t + rng.uniform(0.001, 0.02))
            self.stats["steps"] += 1
            self.stats["failed_steps"] += 1
            return "stop" if quota else "retry"
        calls: list[dict[str, Any]] = []
        sub: dict[str, Any] | None = None
        if not final:
            if first and rng.random() < 0.35:
                calls.append(self._tool("report_intent", False))
            for _ in range(1 if rng.random() < 0.75 else rng.randint(2, 4)):
                if (sub is None and self.subagents < 2 and self.out.bytes > 30_000 and rng.random() < 0.01):
                    sub = self._subagent()
                    calls.append(sub)
                else:
                    calls.append(self._tool(self._pick(), rng.random() < fail_rate))
        if final:
            content = p.text(rng, int(log_uniform(rng, 100, 2500)))
        else:
            content = p.text(rng, int(log_uniform(rng, 40, 600))) if rng.random() < 0.6 else ""
        msg = self._message(content, calls, rng.random() < 0.45)
        dt = rng.uniform(1.0, 6.0) + msg["outputTokens"] / rng.uniform(40, 120)
        self.api_ms += int(dt * 1000)
        self._ev("assistant.message", msg, self.t + dt)
        self.stats["steps"] += 1
        self.stats["tool_calls"] += len(calls)
        t_msg = self.t
        if len(calls) == 1 and calls[0]["req"]["name"] == "bash" and rng.random() < 0.01:  # the user hit Esc
            c = calls[0]
            self._ev("tool.execution_start", {"toolCallId": c["req"]["toolCallId"], "toolName": "bash",
                                              "arguments": c["req"]["arguments"]}, t_msg + 0.001)
            self._ev("abort", {"reason": "user initiated"}, self.t + rng.uniform(2, 60))
            self._ev("assistant.turn_end", {"turnId": str(turn_id)}, self.t + 0.001)
            self.stats["interrupts"] += 1
            self._fail_kind("failures", "interrupted")
            return "stop"
        plain = [c for c in calls if "sub" not in c]
        for c in plain:
            self._fail_kind("failures", c["kind"])
        if sub is not None:
            self._run_subagent(sub, t_msg, fail_rate)
            t_msg = self.t
        if plain:
            self._run_calls(plain, t_msg)
        self._ev("assistant.turn_end", {"turnId": str(turn_id)}, self.t + rng.uniform(0.001, 0.03))
        return "ok"

    def _turn(self, fail_rate: float) -> None:
        rng = self.rng
        self.t += rng.uniform(20, 900)
        prompt = self.content.prompt(self.project)
        if self.rare:
            prompt += f" (see the {self.rare.pop()} notes)"
        if self.first_prompt is None:
            self.first_prompt = prompt
        self.interaction = uuid4(rng)
        self._user(prompt)
        self.stats["turns"] += 1
        self.prompts[self.model] = self.prompts.get(self.model, 0) + 1  # premium requests are billed per prompt
        n_steps = min(40, int(rng.expovariate(1 / self.steps_mean)) + 1)
        turn_id = 0
        s = 0
        while s <= n_steps:
            r = self._step(turn_id, s == n_steps, fail_rate, turn_id == 0)
            turn_id += 1
            if r == "stop":
                return
            if r == "ok":
                s += 1

    def _shutdown(self) -> None:
        rng = self.rng
        metrics = {m: {"requests": {"count": v["count"], "cost": round(self.prompts.get(m, 0) * self._mult(m), 2)},
                       "usage": {"inputTokens": v["in"], "outputTokens": v["out"], "cacheReadTokens": v["cache"],
                                 "cacheWriteTokens": 0}}
                   for m, v in self.metrics.items()}
        self._ev("session.shutdown", {
            "shutdownType": "routine",
            "totalPremiumRequests": round(sum(v["requests"]["cost"] for v in metrics.values()), 2),
            "totalApiDurationMs": self.api_ms, "sessionStartTime": int(self.t0 * 1000),
            "codeChanges": {"linesAdded": self.lines_added, "linesRemoved": self.lines_removed,
                            "filesModified": list(self.files_modified)},
            "modelMetrics": metrics, "currentModel": self.model,
            "currentTokens": self.sys_tokens + self.tooldef_tokens + self.conv, "systemTokens": self.sys_tokens,
            "conversationTokens": self.conv, "toolDefinitionsTokens": self.tooldef_tokens},
            self.t + rng.uniform(0.3, 600))
        self.metrics, self.prompts, self.api_ms = {}, {}, 0
        self.lines_added = self.lines_removed = 0
        self.files_modified = []

    @staticmethod
    def _mult(model: str) -> float:
        for m, _, mult, _ in COPILOT_MODELS:
            if m == model:
                return mult
        return 1.0

    def _resume(self) -> None:
        rng = self.rng
        self._shutdown()
        self.t += rng.uniform(1800, 18 * 3600)
        self._ev("session.resume", {"resumeTime": iso(self.t), "eventCount": self.event_count,
                                    "selectedModel": self.model, "context": self._context(), "alreadyInUse": False})
        if rng.random() < 0.3:
            prev = self.model
            self.model, self.id_prefix, self.mult, self.window = rng.choice(COPILOT_MODELS)
            if self.model != prev:
                self._ev("session.model_change", {"previousModel": prev, "newModel": self.model},
                         self.t + rng.uniform(0.5, 20))

    # files ---------------------------------------------------------------------------------------------------
    def _write(self, path: Path, data: bytes, mtime: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))
        self.extra_bytes += len(data)

    def _sidecars(self) -> None:
        rng = self.rng
        summary = (self.first_prompt or "").strip()
        if len(summary) > 500:
            summary = summary[:500] + "..."
        ws = [f"id: {self.sid}", f"cwd: {self.project.path}", f"git_root: {self.project.path}",
              f"repository: acme/{self.repo_name}", "host_type: github", f"branch: {_yaml_scalar(self.branch)}"]
        if summary:
            ws.append(f"summary: {_yaml_scalar(summary)}")
        ws += [f"summary_count: {max(1, len(self.checkpoints)) if summary else 0}",
               f"created_at: {iso(self.t0)}", f"updated_at: {iso(self.t)}"]
        self._write(self.dir / "workspace.yaml", ("\n".join(ws) + "\n").encode(), self.t)
        if self.checkpoints:
            rows = "".join(f"| {i} | {title} | {fname} |\n" for i, (title, fname, _) in enumerate(self.checkpoints, 1))
            for _, fname, text in self.checkpoints:
                self._write(self.dir / "checkpoints" / fname, text.encode(), self.t)
            self._write(self.dir / "checkpoints" / "index.md",
                        ("# Checkpoint History\n\nCheckpoints are listed in chronological order. Checkpoint 1 is the "
                         "oldest, higher numbers are more recent.\n\n| # | Title | File |\n|---|-------|------|\n"
                         + rows).encode(), self.t)
        if self.vscode:
            title = " ".join(w.title() for w in self.g.pools.text(rng, rng.randint(25, 50)).split()[:6]).rstrip(".,:?!")
            meta = {"workspaceFolder": {"folderPath": self.project.path, "timestamp": int(self.t0 * 1000) + 640},
                    "writtenToDisc": True, "customTitle": title or "Untitled Session"}
            self._write(self.dir / "vscode.metadata.json", orjson.dumps(meta, option=orjson.OPT_INDENT_2), self.t)
            self._write(self.dir / "vscode.requests.metadata.json",
                        orjson.dumps(self.vscode_requests, option=orjson.OPT_INDENT_2), self.t)

    def run(self, fail_rate: float = 0.05) -> int:
        """Write the session; returns the bytes written (events.jsonl and its sidecars)."""
        rng = self.rng
        self._ev("session.start", {"sessionId": self.sid, "version": 1, "producer": "copilot-agent",
                                   "copilotVersion": self.version, "startTime": iso(self.t0),
                                   "selectedModel": self.model,
                                   "context": {**self._context(), "baseCommit": f"{rng.getrandbits(160):040x}"},
                                   "alreadyInUse": False}, self.t0 + rng.uniform(0.2, 0.9))
        turns = 0
        while self.out.bytes < self.target:
            if turns and rng.random() < 0.02:
                self._resume()
            self._turn(fail_rate)
            turns += 1
        self._shutdown()
        self.out.close(self.t)
        self._sidecars()
        return self.out.bytes + self.extra_bytes
