"""Antigravity CLI (`agy`) sessions for the benchmark corpus (see generate.py for the other agents).

One session = ``HOME/.gemini/antigravity-cli/brain/<conversation-uuid>/.system_generated/logs/transcript_full.jsonl``,
one JSON step per line (research/log-formats-2.md §1, the real files in the shared corpus). Besides the transcript
each session appends its prompts to ``antigravity-cli/history.jsonl`` (conversation id -> workspace, which is how
the parser finds the project) and updates ``cache/last_conversations.json``, ``cache/projects.json`` and
``~/.gemini/config/projects/<project-uuid>.json``.

What a session holds:

- ``USER_INPUT`` turns: ``<USER_REQUEST>`` + ``<ADDITIONAL_METADATA>`` (local time), and on the first prompt (and on
  the odd model switch) a ``<USER_SETTINGS_CHANGE>`` "`Model Selection` from X to Y" block.
- ``CONVERSATION_HISTORY`` and ``CHECKPOINT 0`` right after the first prompt, ``CHECKPOINT n`` (compaction) whenever
  the simulated context passes its limit, so long sessions have many.
- ``PLANNER_RESPONSE`` steps with ``thinking`` ("**Heading**" summaries), ``content`` and ``tool_calls`` (agy's
  PascalCase args, sorted, plus ``toolAction``/``toolSummary``). Call k of the planner at step S is answered by
  step S+1+k. The last planner of a turn has content and no calls.
- Result steps. Two CLI generations are mixed per session:
  ``1.0.x`` (June-July 2026): typed results (RUN_COMMAND, VIEW_FILE, LIST_DIRECTORY, GREP_SEARCH, CODE_ACTION,
  MCP_TOOL, GENERIC), run_command text "The command completed successfully." / "The command failed with exit
  code: N", no token fields;
  ``1.3.x`` (Oct 2026 on): every result GENERIC, "The command exited with code N.", and ``input_tokens`` /
  ``cache_read_tokens`` / ``output_tokens`` on every PLANNER_RESPONSE.
- Failures at ``fail_rate`` per call: non-zero exits (status DONE, code only in the text), ``status: ERROR``
  results ("Encountered error in step execution: ..."), user denials, ``ERROR_MESSAGE`` in a call's slot (invalid
  tool call), and now and then an agent-level ``ERROR_MESSAGE`` (model unreachable) that ends a turn.
- Background commands: a ``RUNNING`` result, later a ``SYSTEM_MESSAGE`` "Task id \"<conv>/task-N\" finished with
  result: ..." (most of them), ``manage_task`` status polls, "[Notice] ... server restart" messages.
- Realistic noise: the odd skipped step index, a result line written before its planner line, empty planners.

Not modelled: the shortened twin ``transcript.jsonl``, ``logs/chunks/``, ``messages/``, ``tasks/*.log``, the
SQLite ``conversations/<id>.db`` and the brain's ``.git``. ``history.jsonl`` is appended in generation order and not
cut to agy's 2000 entries, so every conversation keeps its workspace there; every session's first call is a
``run_command`` with ``Cwd`` = the project, so the parser's last fallback finds the project too.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from pathlib import Path
from typing import Any

from generate import (
    _NOUNS,
    _VERBS,
    _WORDS,
    Content,
    Out,
    Project,
    dumps,
    log_uniform,
    uuid4,
)

SURFACE = "antigravity-cli"
MODELS = ["Gemini 3.5 Flash (Medium)", "Gemini 3.5 Flash (High)", "Gemini 3.7 Flash (High)", "Gemini 3.1 Pro (High)",
          "Claude Sonnet 4.6 (Thinking)", "Claude Opus 4.6 (Thinking)", "GPT-OSS 120B (Medium)"]
TZ = [("+02:00", 7200), ("-07:00", -25200), ("+05:30", 19800), ("+00:00", 0), ("+09:00", 32400), ("-04:00", -14400),
      ("+01:00", 3600)]
PROFILES = [("1.0", 0.3), ("1.3", 0.7)]  # (CLI generation, share of sessions)

_SYS_PRE = ("The following is a <SYSTEM_MESSAGE> not actually sent by the user. It is provided by the system as "
            "important information to pay attention to.\n\n<SYSTEM_MESSAGE>\n")
_SETTINGS = ("<USER_SETTINGS_CHANGE>\nThe user changed setting `Model Selection` from {old} to {new}. No need to "
             "comment on this change if the user doesn't ask about it. If reporting what model you are, please use a "
             "human readable name instead of the exact string.\n</USER_SETTINGS_CHANGE>")
_CHECKPOINT_HEAD = ("{{{{ CHECKPOINT {n} }}}}\n **The earlier parts of this conversation have been truncated due to its "
                    "long length. The following content summarizes the truncated context so that you may continue "
                    "your work. **\n\n\n")
_CHECKPOINT_TAIL = ("\n\n# Conversation Logs\n\nReference the following log files for the full, untruncated "
                    "conversation:\n\n- {log}\n\n**IMPORTANT: this summary is just for your reference. You may "
                    "respond to my previous and future messages, but DO NOT ACKNOWLEDGE THIS CHECKPOINT MESSAGE. JUST "
                    "READ IT BUT DO NOT MENTION IT, RESPOND TO IT, OR TAKE ACTION BECAUSE OF IT.**")
_VIEW_NOTE = ("The following code has been modified to include a line number before every line, in the format: "
              "<line_number>: <original_line>. Please note that any changes targeting the original code should "
              "remove the line number, colon, and leading space.\n")
_EDIT_TAIL = ("\n\nPlease note that the above snippet only shows the MODIFIED lines from the last change. It shows up "
              "to 3 lines of unchanged lines before and after the modified lines. The actual file contents may have "
              "many more lines not shown.")
_RUN_HINT = "If relevant, proactively run terminal commands to execute this code for the USER. Don't ask for permission."
_POLL_NOTE = ("\n\nREMINDER: Do not call this tool again to poll or wait for updates. You will be automatically notified "
              "when the task completes or a message arrives. If you need a bounded wait, use the `schedule` tool -- it "
              "waits silently in the background and suppresses its notification if you are woken by another event.")
# The tool each call uses (weights), and the typed result step agy 1.0.x answers it with.
_TOOLS = [("run_command", 36), ("view_file", 22), ("replace_file_content", 10), ("multi_replace_file_content", 3),
          ("write_to_file", 4), ("grep_search", 11), ("list_dir", 8), ("call_mcp_tool", 1)]
_TOOL_NAMES = [n for n, _ in _TOOLS]
_TOOL_WEIGHTS = [w for _, w in _TOOLS]
_TYPED = {"run_command": "RUN_COMMAND", "view_file": "VIEW_FILE", "list_dir": "LIST_DIRECTORY",
          "grep_search": "GREP_SEARCH", "replace_file_content": "CODE_ACTION", "multi_replace_file_content": "CODE_ACTION",
          "write_to_file": "CODE_ACTION", "call_mcp_tool": "MCP_TOOL"}
_ROOT_FILES = [("README.md", 2100), (".gitignore", 310), ("Makefile", 900)]
_MANIFEST = ["pyproject.toml", "package.json", "go.mod"]

# numbered view_file text per code-pool entry: (text, offset of each line start + end)
_NUMBERED: dict[tuple[int, int], tuple[str, list[int], list[str]]] = {}


def zs(t: float) -> str:
    """agy's `created_at`: UTC, second precision, `Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _numbered(pools: Any, k: int) -> tuple[str, list[int], list[str]]:
    key = (id(pools), k)
    hit = _NUMBERED.get(key)
    if hit is None:
        lines = pools.code[k].split("\n")
        parts = [f"{i}: {ln}\n" for i, ln in enumerate(lines, 1)]
        offs = [0]
        n = 0
        for p in parts:
            n += len(p)
            offs.append(n)
        hit = _NUMBERED[key] = ("".join(parts), offs, lines)
    return hit


def _sorted(d: dict[str, Any]) -> dict[str, Any]:
    """agy writes tool arguments with sorted keys (PascalCase first, then toolAction/toolSummary)."""
    return dict(sorted(d.items()))


def _project_uuid(path: str) -> str:
    h = hashlib.sha256(("agy-project:" + path).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


class _Shared:
    """The per-HOME files every session touches (kept on the generator; rewritten small, appended big)."""

    def __init__(self, home: Path) -> None:
        self.root = home / ".gemini" / SURFACE
        self.config = home / ".gemini" / "config" / "projects"
        self.last: dict[str, tuple[float, str]] = {}  # workspace -> (start time, conversation id) of the newest
        self.projects: dict[str, str] = {}
        self.mtime = 0.0

    def record(self, workspace: str, sid: str, t0: float, t_end: float, history: list[bytes]) -> int:
        root = self.root
        (root / "cache").mkdir(parents=True, exist_ok=True)
        hist = root / "history.jsonl"
        data = b"".join(history)
        with open(hist, "ab") as fh:
            fh.write(data)
        self.mtime = max(self.mtime, t_end)
        prev = self.last.get(workspace)
        if prev is None or prev[0] < t0:
            self.last[workspace] = (t0, sid)
        if workspace not in self.projects:
            pid = self.projects[workspace] = _project_uuid(workspace)
            self.config.mkdir(parents=True, exist_ok=True)
            cfg = self.config / f"{pid}.json"
            cfg.write_bytes(dumps({"id": pid, "name": workspace,
                                   "projectResources": {"resources": [{"folderUri": "file://" + workspace}]},
                                   "permissionGrants": {"permissionGrants": {"allow": []}}}))
            os.utime(cfg, (t0, t0))
            pj = root / "cache" / "projects.json"
            pj.write_bytes(dumps(dict(sorted(self.projects.items()))))
        lc = root / "cache" / "last_conversations.json"
        lc.write_bytes(dumps({ws: v[1] for ws, v in sorted(self.last.items())}))
        for p in (hist, lc, root / "cache" / "projects.json"):
            os.utime(p, (self.mtime, self.mtime))
        return len(data)


def _shared(g: Any) -> _Shared:
    s = getattr(g, "_antigravity_shared", None)
    if s is None or s.root != g.home / ".gemini" / SURFACE:
        s = _Shared(g.home)
        g._antigravity_shared = s
    return s


class AntigravitySession:
    def __init__(self, g: Any, rng: random.Random, project: Project, t0: float, target: int,
                 rare: list[str] | None = None) -> None:
        self.g, self.rng, self.project, self.t, self.t0, self.target = g, rng, project, t0, t0, target
        self.pools = g.pools
        self.sid = uuid4(rng)
        self.profile = rng.choices([p for p, _ in PROFILES], [w for _, w in PROFILES])[0]
        self.typed = self.profile == "1.0"
        self.tokens = self.profile == "1.3"
        self.model = rng.choice(MODELS)
        self.tz, self.tz_off = rng.choice(TZ)
        brain = g.home / ".gemini" / SURFACE / "brain" / self.sid
        self.path = brain / ".system_generated" / "logs" / "transcript_full.jsonl"
        self.out = Out(self.path)
        # paths as agy writes them: under the user's real home (the project's), not the corpus dir
        parts = project.path.split("/")
        self.user_home = "/".join(parts[:3])
        self.brain_uri = f"{self.user_home}/.gemini/{SURFACE}/brain/{self.sid}"
        self.content = Content(g.pools, rng)
        self.rare = list(rare or [])
        self.steps_mean = min(5.0, max(1.0, target / 25_000))
        self.step = 0
        self.ctx = rng.randint(9_000, 16_000)  # simulated context (tokens)
        self.ctx_limit = rng.randint(140_000, 260_000)
        self.pending = 0  # tokens added to the context since the last model call
        self.checkpoints = 0
        self.prompts: list[str] = []  # without the rare words (checkpoints repeat them)
        self.history: list[bytes] = []
        self.bg: list[tuple[int, str, str]] = []  # running background tasks: (step, command, completion text)
        self.need_cwd = True  # the first call runs a command in the workspace (the parser's last project fallback)
        self.first_history_id = rng.random() < 0.7

    # records -------------------------------------------------------------------------------------------------------
    def _add(self, idx: int, source: str, typ: str, t: float, status: str = "DONE", **fields: Any) -> dict[str, Any]:
        rec: dict[str, Any] = {"step_index": idx, "source": source, "type": typ, "status": status, "created_at": zs(t)}
        rec.update(fields)
        return rec

    def _tick(self, lo: float, hi: float) -> float:
        self.t += self.rng.uniform(lo, hi)
        return self.t

    def _system_message(self, body: str, sender: str, high: bool = True) -> None:
        t = self._tick(0.5, 30)
        content = (f"{_SYS_PRE}[Message] timestamp={zs(t)} sender={sender} "
                   f"priority={'MESSAGE_PRIORITY_HIGH' if high else 'MESSAGE_PRIORITY_LOW'} content={body}\n"
                   "</SYSTEM_MESSAGE>")
        self.out.add(self._add(self.step, "SYSTEM", "SYSTEM_MESSAGE", t, content=content))
        self.step += 1
        self.pending += len(content) // 4

    def _checkpoint(self) -> None:
        rng, p = self.rng, self.pools
        n = self.checkpoints
        self.checkpoints += 1
        reqs = self.prompts[-8:]
        body = [_CHECKPOINT_HEAD.format(n=n), "# USER Objective:\n",
                f"{rng.choice(_VERBS).title()} the {rng.choice(_NOUNS)} {rng.choice(_NOUNS)}",
                ("\n\n# User Requests\nThe following were user requests from the truncated conversation in "
                 "chronological order:\n"),
                "\n".join(f"{i}. {r[:2000]}" for i, r in enumerate(reqs, 1))]
        if n > 0:
            body.append("\n\n# Previous Session Summary\n" + p.text(rng, int(log_uniform(rng, 2000, 12000))))
        body.append(_CHECKPOINT_TAIL.format(log=f"{self.brain_uri}/.system_generated/logs/transcript.jsonl"))
        text = "".join(body)
        self.out.add(self._add(self.step, "SYSTEM", "CHECKPOINT", self._tick(1, 20), content=text))
        self.step += 1
        self.ctx = rng.randint(12_000, 30_000) + len(text) // 4
        self.pending = 0

    def _header(self, t_start: float, t_end: float) -> str:
        return f"Created At: {zs(t_start)}\nCompleted At: {zs(t_end)}\n"

    def _local(self, t: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t + self.tz_off)) + self.tz

    # tool calls ----------------------------------------------------------------------------------------------------
    def _call(self, fail: bool, result_idx: int, single: bool) -> tuple[str, dict[str, Any], dict[str, Any], int]:
        """(tool name, args, result fields, size of the args in chars) for one call answered at `result_idx`.

        The result fields are `type`, `status`, `content` (without the Created/Completed header) and for an
        ERROR_MESSAGE `error`; `bg` marks a background start."""
        rng, p, proj = self.rng, self.pools, self.project
        if self.need_cwd:
            name = "run_command"
            self.need_cwd = False
        elif self.bg and rng.random() < 0.12:
            name = "manage_task"
        else:
            name = rng.choices(_TOOL_NAMES, _TOOL_WEIGHTS)[0]
        f, k = rng.choice(proj.files)
        typ = (_TYPED.get(name, "GENERIC") if self.typed else "GENERIC")
        res: dict[str, Any] = {"type": typ, "status": "DONE"}
        if fail and single and name not in ("run_command", "manage_task") and rng.random() < 0.15:
            # the call was rejected before it ran: an ERROR_MESSAGE takes the result's place
            res = {"type": "ERROR_MESSAGE", "status": "DONE",
                   "error": ("There was a problem parsing the tool call. \nError Message: model output error: invalid "
                             f"tool call error (invalid_args) failed to read file: open {f}: no such file or "
                             "directory \nGuidance: You are trying to correct your previous tool call error, you must "
                             "focus on fixing the failed tool call with sequential tool calls and try again. Do not do "
                             "parallel tool calls and if you are fixing multiple tool calls, do them one at a time. Do "
                             f"not apologize. \nRetries remaining: {rng.randint(1, 4)}.")}
        if name == "run_command":
            sh = self.content.shell(proj, fail)
            args = _sorted({"CommandLine": sh.command, "Cwd": proj.path, "SafeToAutoRun": rng.random() < 0.6,
                            "WaitMsBeforeAsync": rng.choice([2000, 3000, 5000, 10000]),
                            "toolAction": sh.description, "toolSummary": sh.description.split(" ", 1)[0] + " command"})
            if self.typed:
                verdict = (f"The command failed with exit code: {sh.exit_code}" if sh.exit_code
                           else "The command completed successfully.")
                body = f"\n\t\t\t\t{verdict}\n\t\t\t\tOutput:\n\t\t\t\t{sh.output}\n"
            else:
                body = f"\nThe command exited with code {sh.exit_code}.\nOutput:\n{sh.output}\n"
            if fail and rng.random() < 0.08:
                res.update(status="ERROR", content=(
                    f"\n\t\tEncountered error in step execution: user denied permission for command({sh.command}). "
                    f"The following instruction was provided by the user as an alternative: "
                    f"{p.text(rng, rng.randint(30, 160)).strip()}\n"))
            elif rng.random() < 0.04:
                n = result_idx
                task = f"{self.sid}/task-{n}"
                res.update(status="RUNNING", bg=True, content=(
                    f"Tool is running as a background task with task id: {task}\nTask Description: {sh.command}\n"
                    f"Task logs are available at: file://{self.brain_uri}/.system_generated/tasks/task-{n}.log"))
                self.bg.append((n, sh.command, body))
            else:
                res["content"] = body
            return name, args, res, len(sh.command) + 200
        if name == "manage_task":
            n, cmd, body = self.bg[0]
            task = f"{self.sid}/task-{n}"
            args = _sorted({"Action": "status", "TaskId": task, "toolAction": f"Checking {cmd[:40]}",
                            "toolSummary": "Task status check"})
            res["type"] = "GENERIC"
            res["content"] = (f"Task: {task}\nStatus: RUNNING\nLog: {self.brain_uri}/.system_generated/tasks/task-{n}.log"
                              f"\nLog output:\n{body[: rng.randint(0, len(body))]}\n\nLast progress: "
                              f"{rng.randint(1, 30)}s ago\n{_POLL_NOTE}")
            return name, args, res, 150
        rel = f[len(proj.path) + 1:]
        base = rel.rsplit("/", 1)[-1]
        if name == "view_file":
            text, offs, lines = _numbered(p, k)
            total = len(lines)
            a = 1 if rng.random() < 0.6 else rng.randint(1, max(1, total - 20))
            b = min(total, a + rng.choice([799, 199, 99, 49]) if rng.random() < 0.5 else a + 799)
            d: dict[str, Any] = {"AbsolutePath": f, "toolAction": f"Viewing {base}", "toolSummary": f"View {base}"}
            if a > 1 or rng.random() < 0.4:
                d.update(StartLine=a, EndLine=b)
            args = _sorted(d)
            if fail:
                res.update(status="ERROR", content=f"Encountered error in step execution: open {f}: no such file or "
                                                   "directory")
            else:
                res["content"] = (f"File Path: `file://{f}`\nTotal Lines: {total}\nTotal Bytes: {len(p.code[k])}\n"
                                  f"Showing lines {a} to {b}\n{_VIEW_NOTE}{text[offs[a - 1]:offs[b]]}")
            return name, args, res, 120
        if name in ("replace_file_content", "multi_replace_file_content"):
            _, _, lines = _numbered(p, k)
            chunks = []
            diff = []
            size = 0
            for _ in range(1 if name == "replace_file_content" else rng.randint(2, 4)):
                i = rng.randrange(max(1, len(lines) - 6))
                n_old = rng.randint(1, 5)
                old = lines[i:i + n_old]
                new = [ln.replace(rng.choice(_NOUNS), rng.choice(_NOUNS)) for ln in old]
                new.append(" " * 4 + f"# {rng.choice(_WORDS)} {rng.choice(_WORDS)} {rng.choice(_NOUNS)}")
                tc, rc = "\n".join(old), "\n".join(new)
                chunks.append({"AllowMultiple": False, "EndLine": i + n_old, "ReplacementContent": rc,
                               "StartLine": i + 1, "TargetContent": tc})
                size += len(tc) + len(rc)
                lo = max(0, i - 3)
                hi = min(len(lines), i + n_old + 3)
                diff.append(f"@@ -{lo + 1},{hi - lo} +{lo + 1},{hi - lo + len(new) - n_old} @@\n"
                            + "".join(f" {x}\n" for x in lines[lo:i]) + "".join(f"-{x}\n" for x in old)
                            + "".join(f"+{x}\n" for x in new) + "".join(f" {x}\n" for x in lines[i + n_old:hi]))
            instr = p.text(rng, rng.randint(40, 200)).strip()
            if name == "replace_file_content":
                d = {**chunks[0], "Description": p.text(rng, rng.randint(40, 160)).strip(), "Instruction": instr,
                     "TargetFile": f}
            else:
                d = {"ArtifactMetadata": {"RequestFeedback": False, "Summary": p.text(rng, rng.randint(40, 200)).strip()},
                     "Description": p.text(rng, rng.randint(40, 160)).strip(), "Instruction": instr,
                     "ReplacementChunks": chunks, "TargetFile": f}
            d.update(toolAction=f"Editing {base}", toolSummary=f"Edit {base}")
            args = _sorted(d)
            if fail:
                res.update(status="ERROR", content=(
                    f"Encountered error in step execution: target content not found in {f}: the TargetContent must "
                    "match the file exactly, including whitespace"))
            else:
                res["content"] = (f"The following changes were made by the {name} tool to: {f}. {_RUN_HINT}\n"
                                  f"[diff_block_start]\n{''.join(diff)}[diff_block_end]{_EDIT_TAIL}")
            return name, args, res, size + 400
        if name == "write_to_file":
            code = p.code[k]
            args = _sorted({"CodeContent": code, "Description": p.text(rng, rng.randint(40, 160)).strip(),
                            "Overwrite": True, "TargetFile": f, "toolAction": f"Writing {base}",
                            "toolSummary": f"Write {base}"})
            if fail:
                res.update(status="ERROR", content=f"Encountered error in step execution: mkdir {f.rsplit('/', 1)[0]}: "
                                                   "read-only file system")
            else:
                res["content"] = f"Created file file://{f} with requested content.\n{_RUN_HINT}"
            return name, args, res, len(code) + 200
        if name == "grep_search":
            pat = rng.choice(_NOUNS)
            where = proj.path if rng.random() < 0.7 else f"{proj.path}/{rel.split('/')[0]}"
            args = _sorted({"CaseInsensitive": rng.random() < 0.5, "IsRegex": False, "MatchPerLine": True,
                            "Query": pat, "SearchPath": where, "toolAction": f"Searching for {pat}",
                            "toolSummary": f"Grep search {pat}"})
            if fail:
                res.update(status="ERROR",
                           content='Encountered error in step execution: exec: "rg": executable file not found in $PATH')
                return name, args, res, 150
            cap = rng.randint(5, 120)
            hits: list[bytes] = []
            for ff, kk in rng.sample(proj.files, min(len(proj.files), rng.randint(1, 6))):
                for j, ln in enumerate(_numbered(p, kk)[2]):
                    if pat in ln:
                        hits.append(dumps({"File": ff, "LineNumber": j + 1, "LineContent": ln}))
                        if len(hits) >= cap:
                            break
                if len(hits) >= cap:
                    break
            res["content"] = (b"\n".join(hits).decode() + "\n") if hits else "No results found"
            return name, args, res, 150
        if name == "list_dir":
            sub = rng.random() < 0.5
            dirs: dict[str, int] = {}
            files: list[tuple[str, int]] = []
            target = f"{proj.path}/{rel.split('/')[0]}" if sub else proj.path
            for ff, kk in proj.files:
                r = ff[len(target) + 1:] if ff.startswith(target + "/") else None
                if r is None:
                    continue
                if "/" in r:
                    dirs[r.split("/", 1)[0]] = 1
                else:
                    files.append((r, len(p.code[kk])))
            if not sub:
                files += [(n, s) for n, s in _ROOT_FILES] + [(_MANIFEST[proj.lang], 700)]
                dirs[".git"] = 1
            ents = [dumps({"name": n, "isDir": True}) for n in sorted(dirs)]
            ents += [dumps({"name": n, "sizeBytes": str(s)}) for n, s in sorted(files)]
            args = _sorted({"DirectoryPath": target, "toolAction": "Listing the directory",
                            "toolSummary": f"List {target.rsplit('/', 1)[-1]}"})
            if fail:
                res.update(status="ERROR", content=f"Encountered error in step execution: open {target}/x: no such "
                                                   "file or directory")
            else:
                res["content"] = (b"\n".join(ents).decode() + f"\n\nSummary: This directory contains {len(dirs)} "
                                  f"subdirectories and {len(files)} files.")
            return name, args, res, 100
        # call_mcp_tool (MCP servers always go through it)
        lib = f"/{rng.choice(_NOUNS)}/{rng.choice(_NOUNS)}"
        args = _sorted({"Arguments": {"context7CompatibleLibraryID": lib, "topic": rng.choice(_WORDS), "tokens": 5000},
                        "ServerName": "context7", "ToolName": "get-library-docs", "toolAction": "Fetching docs",
                        "toolSummary": "MCP get-library-docs"})
        if fail:
            res.update(status="ERROR", content="Encountered error in step execution: MCP server context7: connection "
                                               "closed: EOF")
        else:
            res["content"] = p.text(rng, int(log_uniform(rng, 2000, 20000)))
        return name, args, res, 150

    # structure -----------------------------------------------------------------------------------------------------
    def _between(self) -> None:
        """What can happen before a model call: background completions, compaction, an unlogged step."""
        rng = self.rng
        if self.bg and rng.random() < 0.35:
            n, _, body = self.bg.pop(0)
            if rng.random() < 0.9:  # some tasks (dev servers) never report back
                task = f"{self.sid}/task-{n}"
                self._system_message(f"Task id \"{task}\" finished with result:\n{body}\n\n"
                                     f"Log: file://{self.brain_uri}/.system_generated/tasks/task-{n}.log", task,
                                     high=True)
        if self.ctx + self.pending > self.ctx_limit:
            self._checkpoint()
        if rng.random() < 0.03:
            self.step += 1  # an internal step agy does not log

    def _planner(self, *, final: bool, fail_rate: float, calls_n: int = 0) -> None:
        rng, p = self.rng, self.pools
        self._between()
        S = self.step
        t_plan = self._tick(1.0, 25.0)
        new = self.pending + rng.randint(50, 400)  # tokens this call adds to the context (prompt, results, notices)
        self.pending = 0
        rec = self._add(S, "MODEL", "PLANNER_RESPONSE", t_plan)
        out_chars = 0
        empty = not final and not self.need_cwd and rng.random() < 0.01
        if not empty:
            if final or rng.random() < 0.7:
                text = p.text(rng, int(log_uniform(rng, 100, 2500) if final else log_uniform(rng, 60, 500))).strip()
                rec["content"] = text
                out_chars += len(text)
            if rng.random() < 0.55:
                sections = []
                for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 4)):
                    head = p.text(rng, rng.randint(15, 40)).strip().title()
                    sections.append(f"**{head}**\n\n{p.text(rng, int(log_uniform(rng, 150, 1500))).strip()}\n\n\n")
                th = "".join(sections)
                rec["thinking"] = th
                out_chars += len(th)
        results: list[dict[str, Any]] = []
        if not final and not empty:
            n = calls_n or (1 if rng.random() < 0.9 else rng.randint(2, 3))
            tcs = []
            t = t_plan
            for j in range(n):
                name, args, res, size = self._call(rng.random() < fail_rate, S + 1 + j, n == 1)
                tcs.append({"name": name, "args": args})
                out_chars += size
                t_start = t + rng.uniform(0.3, 3)
                t_end = t_start + (log_uniform(rng, 0.2, 60) if name == "run_command" else rng.uniform(0.05, 2))
                t = t_end
                idx = S + 1 + j
                if res["type"] == "ERROR_MESSAGE":
                    rr = {"step_index": idx, "source": "SYSTEM", "type": "ERROR_MESSAGE", "status": "DONE",
                          "error": res["error"], "created_at": zs(t_start),
                          "content": f"Created At: {zs(t_start)}\nError invalid tool call: {res['error']}"}
                elif res.get("bg"):
                    rr = self._add(idx, "MODEL", res["type"], t_start, "RUNNING",
                                   content=f"Created At: {zs(t_start)}\n{res['content']}")
                else:
                    rr = self._add(idx, "MODEL", res["type"], t_start, res["status"],
                                   content=self._header(t_start, t_end) + res["content"])
                results.append(rr)
                self.pending += len(rr["content"]) // 4
            rec["tool_calls"] = tcs
            self.t = t
        out_tokens = out_chars // 4 + rng.randint(10, 120)
        if self.tokens:  # input = what is new since the last call; the rest of the context is a cache read
            if rng.random() < 0.05:  # a cache miss
                rec.update(input_tokens=self.ctx + new, cache_read_tokens=0, output_tokens=out_tokens)
            else:
                rec.update(input_tokens=new, cache_read_tokens=self.ctx, output_tokens=out_tokens)
        self.ctx += new + out_tokens
        if results and rng.random() < 0.01:  # a result line written before the call that made it
            self.out.add(results[0])
            self.out.add(rec)
            for r in results[1:]:
                self.out.add(r)
        else:
            self.out.add(rec)
            for r in results:
                self.out.add(r)
        self.step = S + 1 + len(results)

    def _user(self, first: bool) -> None:
        rng = self.rng
        prompt = self.content.prompt(self.project)
        self.prompts.append(prompt)
        if self.rare:
            prompt += f" (see the {self.rare.pop()} notes)"
        t = self.t
        content = (f"<USER_REQUEST>\n{prompt}\n</USER_REQUEST>\n<ADDITIONAL_METADATA>\nThe current local time is: "
                   f"{self._local(t)}.\n</ADDITIONAL_METADATA>")
        if first:
            content += "\n" + _SETTINGS.format(old="None", new=self.model)
        elif rng.random() < 0.01:
            new = rng.choice(MODELS)
            content += "\n" + _SETTINGS.format(old=self.model, new=new)
            self.model = new
        self.out.add(self._add(self.step, "USER_EXPLICIT", "USER_INPUT", t, content=content))
        self.step += 1
        self.pending += len(content) // 4
        h: dict[str, Any] = {"display": prompt, "timestamp": int(t * 1000), "workspace": self.project.path}
        if not first or self.first_history_id:
            h["conversationId"] = self.sid
        self.history.append(dumps(h) + b"\n")

    def _turn(self, first: bool, fail_rate: float) -> None:
        rng = self.rng
        if not first:
            self.t += rng.uniform(20, 900)
            if rng.random() < 0.01:
                self.history.append(dumps({"display": rng.choice(["/mcp", "/model", "/settings"]),
                                           "timestamp": int((self.t - 5) * 1000), "workspace": self.project.path,
                                           "type": "slash_command"}) + b"\n")
        self._user(first)
        if first:
            self.out.add(self._add(self.step, "SYSTEM", "CONVERSATION_HISTORY", self._tick(0.2, 1.5)))
            self.step += 1
            if rng.random() < 0.85:
                self._checkpoint()
        elif rng.random() < 0.02:  # resumed after agy restarted
            t = self._tick(0.5, 5)
            self.out.add(self._add(self.step, "SYSTEM", "SYSTEM_MESSAGE", t, content=(
                f"{_SYS_PRE}[Notice] All your subagents and background tasks have been stopped due to server "
                "restart.\n</SYSTEM_MESSAGE>")))
            self.step += 1
            self.bg.clear()
        if not first and rng.random() < 0.008:
            t = self._tick(1, 30)
            err = rng.choice([
                (("agent executor error: model unreachable: request failed: Post \"https://daily-cloudcode-pa.googleapis"
                  ".com/v1internal:streamGenerateContent?alt=sse\": dial tcp: lookup daily-cloudcode-pa.googleapis.com: "
                  "no such host"), None),
                ("The model encountered an internal error.", 500)])
            rec = {"step_index": self.step, "source": "SYSTEM", "type": "ERROR_MESSAGE", "status": "DONE",
                   "error": err[0]}
            if err[1]:
                rec["error_code"] = err[1]
            rec["created_at"] = zs(t)
            self.out.add(rec)
            self.step += 1
            return  # the user sends the next prompt
        n_steps = min(40, int(rng.expovariate(1 / self.steps_mean)) + 1)
        for _ in range(n_steps):
            self._planner(final=False, fail_rate=fail_rate)
        self._planner(final=True, fail_rate=fail_rate)

    def run(self, fail_rate: float = 0.05) -> int:
        first = True
        while self.out.bytes < self.target:
            self._turn(first, fail_rate)
            first = False
        self.out.close(self.t)
        side = _shared(self.g).record(self.project.path, self.sid, self.t0, self.t, self.history)
        return self.out.bytes + side
