"""Self-reflection analysis of one session: loops, retries, failure patterns ("am I stuck?").

Pure: it works on plain dataclasses (`Call`, `TurnInfo`) that `store.queries.analysis_input` loads from the
index rows, so a 200 MB session is analysed without reading its log, and every detector is testable without
SQLite. `analyze()` returns every finding, most severe first; the API caps them per kind and to the budget.

Finding kinds (thresholds in `Thresholds`, all adjustable):

- `repeated_call`  the same tool with the same NORMALISED arguments (whitespace collapsed, key order ignored,
  volatile keys such as `description`/`timeout` dropped) called `repeat_min`+ times with no file change in
  between (consecutive or not). Polling calls (BashOutput, `write_stdin` with no input, task status, …) and
  plan/todo tools are not counted.
- `cycle`          a small set (3..`cycle_max_distinct`) of distinct calls repeated, in any order, at least
  `cycle_min_rounds` times each over a window of `cycle_min_calls`+ calls with no file written.
- `edit_pingpong`  the same file edited A→B and later B→A (Edit/MultiEdit old/new strings, Codex apply_patch
  hunks, Gemini replace, whole-file writes returning to an earlier content).
- `retry_storm`    a failing call retried `retry_min`+ times with the same or similar arguments (similarity
  ≥ `retry_similarity`; edits of the same file count as the same attempt), and whether it ever succeeded.
- `no_progress`    `no_progress_min`+ reads/searches in a row (read-only shell commands included) within one
  turn, with no write, no other command and no answer to the user.
- `slow_tool`      a call slower than `slow_factor`× the median and ≥ the p95 of its tool in this session
  (≥ `slow_min_count` timed calls, ≥ `slow_min_seconds`), or slower than `slow_abs_seconds` outright.
- `interrupted_turn`, `denied_call`: the user stopped a turn; the user or a sandbox refused a call (and
  whether the agent tried the same call again). A refusal is one finding (its turn's interrupt is not another).
- `user_correction`: the user redirected the agent: a message typed while it worked, or an interrupt followed
  by a new instruction (then reported instead of `interrupted_turn`).

Polls of a started process (Codex `write_stdin`, Claude `BashOutput`, Antigravity task status) are linked to the
call that started it (`link_polls`): never a repeated call themselves, and the starter ends the way its last
poll saw the process end, so a command that failed three times through its polls is a retry storm.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields, replace
from difflib import SequenceMatcher
from typing import Any

import orjson

from .shapes import GENERIC, ToolShapes

KINDS = ("retry_storm", "repeated_call", "cycle", "edit_pingpong", "no_progress", "denied_call",
         "interrupted_turn", "user_correction", "slow_tool")
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
DENIAL_LOOKAHEAD = 200  # calls after a denial searched for the same call made again
LOOKAHEAD = 2000  # calls after a retry storm searched for the attempt finally succeeding


# -- inputs and outputs ---------------------------------------------------------------------------


@dataclass(slots=True)
class Call:
    """One tool call, as the index keeps it (arguments with long strings cut to ~1000 chars)."""

    turn: int
    step: int
    seq: int
    call_id: str
    name: str
    kind: str = "other"  # read | write | execute | search | plan | ask | mcp | other
    args: Any = None
    status: str = "ok"  # ok | error | missing | in_progress
    error_kind: str | None = None
    error: str | None = None
    started_at: str | None = None
    duration_ms: int | None = None
    output_len: int = 0
    child: str | None = None
    started_by: str | None = None  # a poll: the call that started the process it polls
    command: str | None = None  # a poll: what that call ran
    shapes: ToolShapes = GENERIC  # how its agent's tools spell their arguments (its provider's tool_shapes)


@dataclass(slots=True)
class TurnInfo:
    index: int
    steps: int = 0
    interrupted: bool = False
    origin: str = "user"
    prompt: str = ""  # the start of the prompt (what the user asked)
    status: str = "incomplete"
    interjections: list[tuple[str, int, str | None]] = field(default_factory=list)  # (text, after_step, at)


@dataclass
class Thresholds:
    repeat_min: int = 3
    cycle_min_rounds: int = 2
    cycle_min_calls: int = 6
    cycle_max_distinct: int = 8
    retry_min: int = 3
    retry_similarity: float = 0.8
    retry_window: int = 25
    no_progress_min: int = 20
    slow_factor: float = 5.0
    slow_min_count: int = 5
    slow_min_seconds: float = 10.0
    slow_abs_seconds: float = 120.0
    max_per_kind: int = 10

    # (minimum, maximum) accepted for each threshold
    LIMITS = {
        "repeat_min": (2, 1000), "cycle_min_rounds": (2, 100), "cycle_min_calls": (4, 1000),
        "cycle_max_distinct": (3, 20), "retry_min": (2, 1000), "retry_similarity": (0.0, 1.0),
        "retry_window": (2, 10_000), "no_progress_min": (3, 100_000), "slow_factor": (1.0, 1000.0),
        "slow_min_count": (2, 100_000), "slow_min_seconds": (0.0, 86_400.0), "slow_abs_seconds": (1.0, 864_000.0),
        "max_per_kind": (1, 200),
    }

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def build(cls, **given: Any) -> Thresholds:
        """Thresholds with the given overrides (None = default); ValueError names what is wrong."""
        th = cls()
        for name, value in given.items():
            if value is None:
                continue
            if name not in cls.LIMITS:
                raise ValueError(f"unknown threshold {name!r}; use one of {', '.join(cls.names())}")
            default = getattr(th, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, not {value!r}")
            if isinstance(default, int) and not float(value).is_integer():
                raise ValueError(f"{name} must be a whole number, not {value!r}")
            lo, hi = cls.LIMITS[name]
            if not lo <= value <= hi:
                raise ValueError(f"{name} must be between {lo} and {hi}, not {value!r}")
            setattr(th, name, type(default)(value))
        return th

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Finding:
    kind: str
    severity: str  # info | warning | critical
    start: tuple[int, int | None]  # (turn, step); step None = the turn as a whole
    end: tuple[int, int | None]
    call_ids: list[str]
    explanation: str
    tool: str | None = None
    target: str | None = None
    count: int = 0
    resolved: bool | None = None

    def sort_key(self) -> tuple[int, int, int, str]:
        return (SEVERITY_RANK.get(self.severity, 3), self.start[0], self.start[1] or 0, self.kind)


# -- normalisation --------------------------------------------------------------------------------

VOLATILE_KEYS = frozenset({
    "description", "timeout", "timeout_ms", "yield_time_ms", "max_output_tokens", "justification", "explanation",
    "reason", "thought", "thoughts", "rationale", "summary_of_intent", "toolsummary", "toolaction",
})
_WS = re.compile(r"\s+")
_VOLATILE_IN_CODE = re.compile(r"[\"']?\b(?:yield_time_ms|max_output_tokens|timeout(?:_ms)?)\b[\"']?\s*:\s*\d+\s*,?")


def _norm(v: Any) -> Any:
    if isinstance(v, str):
        return _WS.sub(" ", v).strip()
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items() if k.lower() not in VOLATILE_KEYS}
    if isinstance(v, list):
        # Codex `shell`: ["bash", "-lc", "<cmd>"] is the command <cmd>
        if len(v) == 3 and all(isinstance(x, str) for x in v) and v[0].rsplit("/", 1)[-1] in (
                "bash", "sh", "zsh") and v[1] in ("-lc", "-c"):
            return _norm(v[2])
        return [_norm(x) for x in v]
    return v


def normalize_args(args: Any) -> str:
    """Canonical text of a call's arguments: equal for calls that do the same thing."""
    if isinstance(args, str):
        return _VOLATILE_IN_CODE.sub("", _norm(args))
    return orjson.dumps(_norm(args), option=orjson.OPT_SORT_KEYS).decode()


def call_key(c: Call) -> str:
    return c.name + "\x00" + normalize_args(c.args)


_TOKEN = re.compile(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_{}\[\]\":,]")


def tokens(text: str, cap: int = 200) -> tuple[str, ...]:
    """Words and operator characters of normalised arguments (JSON punctuation left out), the first `cap`."""
    return tuple(_TOKEN.findall(text[: cap * 12])[:cap])


def token_similarity(a: tuple[str, ...], b: tuple[str, ...], threshold: float = 0.0) -> float:
    """Sequence similarity (0..1) of two token lists; cheap bounds first, exact ratio only when they pass."""
    if a == b:
        return 1.0
    sm = SequenceMatcher(None, a, b, autojunk=False)
    if sm.real_quick_ratio() < threshold or sm.quick_ratio() < threshold:
        return 0.0
    return sm.ratio()


def similarity(a: str, b: str) -> float:
    """How alike two normalised argument texts are: 1.0 equal, ≥ 0.8 a small change (a flag, a path part)."""
    return 1.0 if a == b else token_similarity(tokens(a), tokens(b))


# -- what a call does -----------------------------------------------------------------------------

_CMD_IN_CODE = re.compile(r"\bcmd\"?\s*:\s*\"((?:[^\"\\]|\\.)*)\"")
_SEGMENT = re.compile(r"\|\||&&|;|\||\n")
_REDIRECT = re.compile(r"(?:^|[^<>&0-9])>{1,2}\s*(?!&)([^\s|;&]+)")
_HEREDOC_WRITE = re.compile(r"\b(?:cat|tee)\b[^|;&]*(?:>|\btee\b)")
READ_CMDS = frozenset({
    "cat", "head", "tail", "less", "more", "ls", "find", "fd", "tree", "rg", "grep", "egrep", "fgrep", "ag", "ack",
    "sed", "awk", "wc", "stat", "file", "nl", "pwd", "echo", "which", "type", "du", "df", "cut", "sort", "uniq",
    "jq", "yq", "realpath", "basename", "dirname", "printf", "strings", "od", "hexdump", "xxd", "diff", "cmp",
    "test", "[", "true", "column", "tr", "readlink", "whoami", "date", "env", "printenv", "ps", "lsof", "get-content",
    "get-childitem", "dir", "select-string", "gci", "gc", "bat", "exa", "eza", "lsd", "protoc",
})
GIT_READ = frozenset({"status", "diff", "log", "show", "grep", "ls-files", "blame", "rev-parse", "branch",
                      "remote", "config", "describe", "shortlog", "reflog", "ls-tree", "cat-file"})
_CHANGE_CMD = re.compile(
    r"(?:^|[\s;&|(])(?:sed\s+(?:-[a-zA-Z]*i|--in-place)|perl\s+-[a-zA-Z]*i|tee\b|mv\b|cp\b|rm\b|mkdir\b|touch\b|"
    r"patch\b|apply_patch\b|ln\b|chmod\b|truncate\b|install\b|unzip\b|tar\s+-?x|"
    r"git\s+(?:checkout|switch|stash|reset|apply|am|merge|rebase|pull|restore|cherry-pick|revert|clean)\b|"
    r"(?:npm|pnpm|yarn|bun)\s+(?:install|i|add|remove|uninstall|ci)\b|(?:pip|pip3|uv|poetry)\s+(?:install|add|sync|"
    r"remove|uninstall)\b|uv\s+pip\s+install|cargo\s+(?:add|install)\b|go\s+(?:get|mod\s+tidy)\b|"
    r"gofmt\s+-w|black\b|ruff\s+format|prettier\s+--write|Set-Content|Out-File|New-Item|Remove-Item)")


def command_of(c: Call) -> str | None:
    """The shell command a call runs, when it is a shell call (several, joined by newlines, for Codex `exec`)."""
    a = c.args
    if isinstance(a, dict):
        for k in c.shapes.command_keys:
            v = a.get(k)
            if isinstance(v, str):
                return v
            if isinstance(v, list) and all(isinstance(x, str) for x in v):
                n = _norm(v)
                return n if isinstance(n, str) else " ".join(v)
        return None
    if isinstance(a, str) and c.kind == "execute":
        cmds = [_unescape(m.group(1)) for m in _CMD_IN_CODE.finditer(a)]
        return "\n".join(cmds) if cmds else None
    return None


def _unescape(s: str) -> str:
    if "\\" not in s:
        return s
    try:
        v = orjson.loads('"' + s + '"')
        return v if isinstance(v, str) else s
    except orjson.JSONDecodeError:
        return s


def _first_word(seg: str) -> tuple[str, list[str]]:
    words = seg.strip().split()
    while words and ("=" in words[0] and not words[0].startswith("=") or words[0] in ("sudo", "time", "nice",
                                                                                       "command", "xargs", "env")):
        words = words[1:]
        while words and words[0].startswith("-") and len(words) > 1:
            words = words[1:]
    if not words:
        return "", []
    return words[0].rsplit("/", 1)[-1].lower(), words[1:]


_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'")


def _unquoted(cmd: str) -> str:
    """The command with quoted strings blanked out (a `|` or `>` inside quotes is not an operator)."""
    return _QUOTED.sub("Q", cmd)


def shell_writes(cmd: str) -> bool:
    """Whether a shell command changes files (or the environment) — a heuristic over common spellings."""
    if "*** Begin Patch" in cmd:
        return True
    cmd = _unquoted(cmd.split("<<", 1)[0] if "<<" in cmd else cmd)
    if _CHANGE_CMD.search(cmd):
        return True
    for m in _REDIRECT.finditer(cmd):
        if m.group(1) not in ("/dev/null", "/dev/stderr", "/dev/stdout", "&1", "&2"):
            return True
    return False


def shell_reads_only(cmd: str) -> bool:
    """Whether every part of a shell command only reads (cat, ls, rg, sed -n, git status …)."""
    if shell_writes(cmd):
        return False
    any_cmd = False
    for seg in _SEGMENT.split(_unquoted(cmd)):
        if not seg.strip():
            continue
        w, rest = _first_word(seg)
        if w in ("cd", "set", "export", "source", ".", "pushd", "popd"):
            continue
        any_cmd = True
        if w == "git":
            sub = next((r for r in rest if not r.startswith("-")), "")
            if sub not in GIT_READ:
                return False
        elif w == "go" and rest[:1] == ["doc"]:
            continue
        elif w not in READ_CMDS:
            return False
    return any_cmd


_STATUS_ACTIONS = frozenset({"status", "get_status", "check", "poll", "wait", "output", "read", "logs"})


def is_poll(c: Call) -> bool:
    """Whether a call only waits on (or reads from) a process an earlier call started."""
    n = c.name.lower()
    sh = c.shapes
    if n in sh.poll_tools:
        return True
    a = c.args
    if n in sh.input_tools:
        return isinstance(a, dict) and not a.get(sh.input_tools[n])
    if n in sh.status_tools and isinstance(a, dict):
        action = next((a[k] for k in sh.status_tools[n] if a.get(k)), None)
        return isinstance(action, str) and action.strip('"').lower() in _STATUS_ACTIONS
    if isinstance(a, str) and any(poll in a and start not in a for poll, start in sh.script_polls):
        return True
    cmd = command_of(c)
    return cmd is not None and cmd.strip().startswith("sleep ") and not shell_writes(cmd)


def poll_process(c: Call) -> str | None:
    """The id of the process a poll waits on (write_stdin `session_id`, BashOutput `bash_id`, a task id). Input
    written to a running process (Codex `write_stdin` with `chars`, a Ctrl-C) targets it too."""
    if not isinstance(c.args, dict) or not (is_poll(c) or c.name.lower() in c.shapes.input_tools):
        return None
    for k in c.shapes.process_keys:
        v = c.args.get(k)
        if isinstance(v, (int, str)) and not isinstance(v, bool) and str(v).strip('"'):
            return str(v).strip('"')
    return None


def announces(output: str | None, proc: str) -> bool:
    """Whether an output names the process id `proc` as a whole token ("session ID 21570", "ID: bash_1")."""
    if not output or proc not in output:
        return False
    return re.search(r"(?<![\w/-])" + re.escape(proc) + r"(?![\w-])", output) is not None


def link_polls(calls: list[Call], outputs: dict[str, str]) -> None:
    """Give each poll its starter: the latest earlier call (not a poll) whose output names the polled process.
    `outputs` holds the candidate starters' outputs by call id."""
    last_by_proc: dict[str, Call] = {}
    for i, c in enumerate(calls):
        proc = poll_process(c)
        if proc is None:
            continue
        starter = next((d for d in reversed(calls[:i]) if d.call_id in outputs and poll_process(d) is None
                        and announces(outputs[d.call_id], proc)), None) if last_by_proc.get(proc) is None else \
            last_by_proc[proc]
        if starter is not None:
            last_by_proc[proc] = starter
            c.started_by = starter.call_id
            c.command = describe(starter, 120)


def role(c: Call) -> str:
    """What the call means for progress: read | write | execute | poll | ask | plan | neutral."""
    if is_poll(c):
        return "poll"
    ok = c.status != "error"
    if c.kind == "write":
        return "write" if ok else "neutral"
    if c.kind in ("read", "search"):
        return "read"
    if c.kind == "ask":
        return "ask"
    if c.kind == "plan":
        return "plan"
    cmd = command_of(c)
    if cmd is not None:
        if shell_writes(cmd):
            return "write" if ok else "execute"
        if shell_reads_only(cmd):
            return "read"
        return "execute"
    if c.kind == "execute":
        return "execute"
    return "neutral"


def describe(c: Call, limit: int = 100) -> str:
    """A short human label of what a call is about: its file, command, pattern or query."""
    a = c.args
    if isinstance(a, dict):
        for k in c.shapes.describe_keys:
            v = a.get(k)
            if isinstance(v, list):
                v = _norm(v)
            if isinstance(v, str) and v.strip():
                return _short(v, limit)
        return _short(normalize_args(a), limit)
    if isinstance(a, str):
        cmd = command_of(c)
        if cmd:
            return _short(cmd, limit)
        paths = _PATCH_FILE.findall(a)
        if paths:
            return _short(", ".join(p.strip() for p in paths), limit)
        return _short(a, limit)
    return ""


def _short(s: str, limit: int) -> str:
    s = _WS.sub(" ", s).strip()
    return s if len(s) <= limit else s[: limit - 1] + "…"


# -- edits, per tool family ------------------------------------------------------------------------

_PATCH_FILE = re.compile(r"^\*\*\* (?:Update|Add|Delete) File: (.+)$", re.MULTILINE)


def _h(s: str | None) -> str | None:
    if s is None:
        return None
    return hashlib.blake2s(_WS.sub(" ", s).strip().encode("utf-8", "replace"), digest_size=8).hexdigest()


def _first(d: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        if k in d:
            return d[k]
    return None


def _parse_patch(text: str) -> list[tuple[str, str | None, str | None]]:
    """apply_patch body → (path, removed, added) per file; removed None for an added file (its content)."""
    out: list[tuple[str, str | None, str | None]] = []
    path: str | None = None
    mode = ""
    minus: list[str] = []
    plus: list[str] = []

    def flush() -> None:
        if path is not None:
            if mode == "Add":
                out.append((path, None, "\n".join(plus)))
            elif mode == "Delete":
                out.append((path, None, ""))
            elif minus or plus:
                out.append((path, "\n".join(minus), "\n".join(plus)))

    for line in text.splitlines():
        m = re.match(r"^\*\*\* (Update|Add|Delete) File: (.+)$", line)
        if m:
            flush()
            mode, path = m.group(1), m.group(2).strip()
            minus, plus = [], []
        elif line.startswith("*** "):
            continue
        elif path is not None:
            if line.startswith("+"):
                plus.append(line[1:])
            elif line.startswith("-"):
                minus.append(line[1:])
    flush()
    return out


def edits_of(c: Call) -> list[tuple[str, str, str | None, str | None]]:
    """What a write call does to files: (path, 'replace'|'write', old-hash, new-hash) per change."""
    a = c.args
    sh = c.shapes
    text = None
    if isinstance(a, str) and "*** Begin Patch" in a:
        text = a
    elif isinstance(a, dict):
        for k in (*sh.patch_keys, *sh.command_keys):
            v = a.get(k)
            if isinstance(v, str) and "*** Begin Patch" in v:
                text = v
                break
    if text is not None:
        out: list[tuple[str, str, str | None, str | None]] = []
        for path, old, new in _parse_patch(text):
            if old is None:
                out.append((path, "write", None, _h(new)))
            else:
                out.append((path, "replace", _h(old), _h(new)))
        return out
    if not isinstance(a, dict):
        return []
    path = _first(a, sh.path_keys)
    if not isinstance(path, str):
        return []
    out = []
    chunks = next((a[k] for k in sh.chunk_keys if a.get(k)), None)
    if isinstance(chunks, list):
        for e in chunks:
            if isinstance(e, dict):
                old, new = _first(e, sh.old_keys), _first(e, sh.new_keys)
                if isinstance(old, str) and isinstance(new, str):
                    out.append((path, "replace", _h(old), _h(new)))
        return out
    old, new = _first(a, sh.old_keys), _first(a, sh.new_keys)
    if isinstance(old, str) and isinstance(new, str):
        return [(path, "replace", _h(old), _h(new))]
    content = _first(a, sh.content_keys)
    if isinstance(content, str):
        return [(path, "write", None, _h(content))]
    return []


def write_targets(c: Call) -> list[str]:
    """The files a write call (or a file-writing shell command) is about."""
    e = edits_of(c)
    if e:
        return list(dict.fromkeys(p for p, *_ in e))
    if c.kind == "write" and isinstance(c.args, dict):
        p = _first(c.args, c.shapes.path_keys)
        return [p] if isinstance(p, str) else []
    cmd = command_of(c)
    if cmd:
        out = [m.group(1) for m in _REDIRECT.finditer(cmd) if not m.group(1).startswith("/dev/")]
        out += re.findall(r"\btee\s+(?:-a\s+)?([^\s|;&]+)", cmd)
        return list(dict.fromkeys(out))
    return []


def write_target(c: Call) -> str | None:
    """The file a write call is about (the first one, for a multi-file patch)."""
    t = write_targets(c)
    return t[0] if t else None


def same_path(a: str | None, b: str | None) -> bool:
    """Two spellings of one file: equal, or one is the other relative to some directory."""
    if not a or not b:
        return False
    a, b = a.replace("\\", "/").removeprefix("./"), b.replace("\\", "/").removeprefix("./")
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


# -- normalised error text (also used to group failures across sessions) ---------------------------

_E_TS = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?"
                   r"|\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b")
_E_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_E_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{7,}\b")
_E_QUOTED = re.compile(r"\"[^\"\n]{0,300}\"|'[^'\n]{0,300}'|`[^`\n]{0,300}`|‘[^’\n]{0,300}’|“[^”\n]{0,300}”")
_E_PATH = re.compile(r"(?:[A-Za-z]:\\|~/|\.{1,2}/|/)[^\s:;,'\"()\[\]<>]*[^\s:;,'\"()\[\]<>.]|"
                     r"\b[\w.-]+(?:/[\w.-]+)+\b|\b[\w-]+\.(?:py|ts|tsx|js|jsx|go|rs|java|rb|c|h|cpp|md|json|ya?ml|toml)\b")
# a number with its unit is one value: 30s, 45s and 1.5s are all `<n>s` (never `<n>0s`)
_E_UNIT = re.compile(r"(?<![\w<])[-+]?\d+(?:\.\d+)?(ns|us|µs|ms|s|sec|secs|seconds?|m|min|mins|minutes?|h|hrs?|"
                     r"hours?|d|days?|[kmgt]i?b|[kmg]|x|%)(?![\w>])", re.IGNORECASE)
_E_NUM = re.compile(r"(?<![\w<])[-+]?\d+(?:[.,:]\d+)*(?![\w>])")
_E_HOLLOW = frozenset({"error", "errors", "exception", "failed", "fail", "failure", "fatal", "err", "warning",
                       "the", "and", "with", "not", "for"})


def _normalize_line(line: str) -> str:
    s = re.sub(r"</?tool_use_error>", "", line.strip())
    s = _E_TS.sub("<time>", s)
    s = _E_UUID.sub("<id>", s)
    s = _E_QUOTED.sub("<str>", s)
    s = _E_PATH.sub("<path>", s)
    s = _E_HEX.sub("<id>", s)
    s = _E_UNIT.sub(lambda m: "<n>" + m.group(1).lower(), s)
    s = _E_NUM.sub("<n>", s)
    return _WS.sub(" ", s).strip()


def _informative(norm: str) -> bool:
    """Whether a normalised line says something beyond "Error" or a path: a word of its own."""
    words = re.findall(r"(?<![<\w])[A-Za-z][A-Za-z'-]{2,}", norm)
    return any(w.lower() not in _E_HOLLOW for w in words)


def normalize_error(text: str | None, limit: int = 160) -> str:
    """An error message with its variable parts replaced: what failures have in common across calls.

    The first line that says something is used (a bare `Error`, a lone path or a line of JSON log noise is
    skipped; a JSON log line counts by its message); "" when no line says anything."""
    if not text:
        return ""
    from .failures import _json_message

    for line in text.splitlines()[:40]:
        if not line.strip():
            continue
        msg = _json_message(line.strip())
        norm = _normalize_line(msg if msg is not None else line)
        if _informative(norm):
            return norm[:limit]
    return ""


# -- the detectors ---------------------------------------------------------------------------------


def _coord(c: Call) -> tuple[int, int | None]:
    return (c.turn, c.step)


def _ids(calls: list[Call]) -> list[str]:
    return [c.call_id for c in calls]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _where(c: Call) -> str:
    return f"turn {c.turn} step {c.step}"


def _span(calls: list[Call]) -> str:
    a, b = calls[0], calls[-1]
    return _where(a) if (a.turn, a.step) == (b.turn, b.step) else f"{_where(a)} → {_where(b)}"


@dataclass
class _Ctx:
    calls: list[Call]
    turns: dict[int, TurnInfo]
    th: Thresholds
    roles: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    norm: list[str] = field(default_factory=list)
    change_epoch: list[int] = field(default_factory=list)  # bumps after every file change and compaction
    comp_epoch: list[int] = field(default_factory=list)  # bumps at compaction turns only
    _toks: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def similar(self, i: int, j: int) -> bool:
        """Calls i and j: same tool and the same or nearly the same arguments (retry_similarity)."""
        if self.calls[i].name != self.calls[j].name:
            return False
        if self.norm[i] == self.norm[j]:
            return True
        ti = self._toks.get(i) or self._toks.setdefault(i, tokens(self.norm[i]))
        tj = self._toks.get(j) or self._toks.setdefault(j, tokens(self.norm[j]))
        th = self.th.retry_similarity
        return token_similarity(ti, tj, th) >= th


def _context(calls: list[Call], turns: list[TurnInfo], th: Thresholds) -> _Ctx:
    ctx = _Ctx(calls=calls, turns={t.index: t for t in turns}, th=th)
    compaction_turns = {t.index for t in turns if t.origin == "compaction"}
    change, comp, last_turn = 0, 0, None
    for c in calls:
        if c.turn != last_turn:
            if c.turn in compaction_turns or (last_turn is not None and any(
                    t in compaction_turns for t in range(last_turn + 1, c.turn + 1))):
                change += 1
                comp += 1
            last_turn = c.turn
        r = "poll" if c.started_by else role(c)  # input to a started process: its outcome is the starter's
        n = normalize_args(c.args)
        ctx.roles.append(r)
        ctx.norm.append(n)
        ctx.keys.append(c.name + "\x00" + n)
        ctx.change_epoch.append(change)
        ctx.comp_epoch.append(comp)
        if r == "write":
            change += 1
    return ctx


def find_retry_storms(ctx: _Ctx) -> list[Finding]:
    th = ctx.th
    calls = ctx.calls
    failing = ("tool_error", "exit_code", "timeout", None)

    @dataclass
    class Chain:
        idx: list[int]
        target: str | None
        last: int
        resolved_by: int | None = None

    targets: dict[int, list[str]] = {}

    def targets_of(i: int) -> list[str]:
        t = targets.get(i)
        if t is None:
            c = calls[i]
            cmd = command_of(c) if c.kind != "write" else None
            t = write_targets(c) if c.kind == "write" or (cmd and shell_writes(cmd)) else []
            targets[i] = t
        return t

    def same_attempt(ch: Chain, i: int) -> bool:
        ti = targets_of(i)
        if ch.target is not None or ti:  # attempts at writing a file: the same file, whatever the tool
            return ch.target is not None and any(same_path(ch.target, t) for t in ti)
        j = ch.idx[-1]
        return ctx.similar(j, i)

    sigs: dict[int, str] = {}

    def signature(i: int) -> str:
        if i not in sigs:
            sigs[i] = normalize_error(calls[i].error)[:60] if ctx.roles[i] == "execute" else ""
        return sigs[i]

    def same_failure(ch: Chain, i: int) -> bool:
        """Commands spelled differently that fail the same way (the same test FAILs again, run by `make` once
        and by `go test` the next time) are one attempt."""
        sig = signature(i)
        return bool(sig) and sig == signature(ch.idx[-1])

    open_chains: list[Chain] = []
    done: list[Chain] = []
    pos = 0  # calls that count (polls, plans and questions do not): the retry window is measured in these
    for i, c in enumerate(calls):
        r = ctx.roles[i]
        if r in ("poll", "plan", "ask"):
            continue
        pos += 1
        failed = c.status == "error" and c.error_kind in failing
        if c.status == "error" and not failed:
            continue  # interrupted / denied: reported by their own detectors
        still: list[Any] = []
        for ch in open_chains:
            (still if pos - ch.last <= th.retry_window else done).append(ch)
        open_chains = still
        match = next((ch for ch in reversed(open_chains) if same_attempt(ch, i) or (failed and same_failure(ch, i))),
                     None)
        if match is not None:
            if failed:
                match.idx.append(i)
                match.last = pos
            else:
                match.resolved_by = i
                open_chains.remove(match)
                done.append(match)
        elif failed:
            t = targets_of(i)
            open_chains.append(Chain(idx=[i], target=t[0] if t else None, last=pos))
    done.extend(open_chains)

    out = []
    for ch in done:
        if len(ch.idx) < th.retry_min:
            continue
        fails = [calls[j] for j in ch.idx]
        resolved_by = ch.resolved_by
        if resolved_by is None:  # the same attempt succeeded later, outside the window
            probe = Chain(idx=[ch.idx[0]], target=ch.target, last=ch.idx[0])
            resolved_by = next((j for j in range(ch.idx[-1] + 1, min(len(calls), ch.idx[-1] + 1 + LOOKAHEAD))
                                if calls[j].status != "error" and ctx.roles[j] not in ("poll", "plan", "ask")
                                and same_attempt(probe, j)), None)
        distinct = len({ctx.norm[j] for j in ch.idx})
        changes = sum(1 for j in range(ch.idx[0] + 1, ch.idx[-1]) if ctx.roles[j] == "write" and j not in ch.idx)
        tools = sorted({c.name for c in fails})
        err = normalize_error(fails[-1].error) or (fails[-1].error_kind or "error")
        how = "with the same arguments" if distinct == 1 else f"with {distinct} slightly different argument sets"
        if distinct > 1 and signature(ch.idx[0]) and len({signature(j) for j in ch.idx}) == 1 and \
                not all(ctx.similar(ch.idx[0], j) for j in ch.idx[1:]):
            how = f"as {distinct} different commands that failed the same way"
        if ch.target is not None and len(tools) > 1:
            how = f"on the same file with {'/'.join(tools)}"
        between = "no file change in between" if changes == 0 else f"{_plural(changes, 'file change')} in between"
        if resolved_by is not None:
            rc = calls[resolved_by]
            tail = (f"; {rc.name} then wrote the file at {_where(rc)} ({rc.call_id})" if ch.target is not None
                    else f"; a similar call succeeded at {_where(rc)} ({rc.call_id})")
        else:
            tail = "; it never succeeded"
        sev = "warning" if resolved_by is not None else "critical"
        near = resolved_by is not None and resolved_by - ch.idx[-1] <= th.retry_window
        shown = [*fails, calls[resolved_by]] if near and resolved_by is not None else fails
        out.append(Finding(
            kind="retry_storm", severity=sev, start=_coord(fails[0]), end=_coord(shown[-1]), call_ids=_ids(shown),
            tool="/".join(tools), target=ch.target or describe(fails[0]), count=len(fails),
            resolved=resolved_by is not None,
            explanation=f"{'/'.join(tools)} `{describe(fails[0], 80)}` failed {len(fails)} times {how} "
                        f"({_span(fails)}, {between}); last error: {err or 'n/a'}{tail}"))
    return out


def find_cycles(ctx: _Ctx) -> list[Finding]:
    th = ctx.th
    out: list[Finding] = []
    # segments: runs of countable calls with no file change
    seg: list[int] = []

    def scan(idx: list[int]) -> None:
        n = len(idx)
        i = 0
        while i < n:
            counts: dict[str, int] = defaultdict(int)
            singles = 0
            best = None
            for j in range(i, min(n, i + 400)):
                k = ctx.keys[idx[j]]
                counts[k] += 1
                if counts[k] == 1:
                    singles += 1
                elif counts[k] == 2:
                    singles -= 1
                if len(counts) > th.cycle_max_distinct:
                    break
                length = j - i + 1
                if singles == 0 and len(counts) >= 3 and length >= th.cycle_min_calls and \
                        min(counts.values()) >= th.cycle_min_rounds:
                    best = (j, dict(counts))
            if best is None:
                i += 1
                continue
            j, cnt = best
            members = [ctx.calls[idx[x]] for x in range(i, j + 1)]
            rounds = min(cnt.values())
            names = sorted({c.name for c in members})
            firsts: dict[str, Call] = {}
            for x in range(i, j + 1):
                firsts.setdefault(ctx.keys[idx[x]], ctx.calls[idx[x]])
            labels = [f"{c.name} `{describe(c, 40)}` ×{cnt[k]}" for k, c in firsts.items()]
            out.append(Finding(
                kind="cycle", severity=("info" if members[0].turn != members[-1].turn else
                                        "critical" if rounds >= 4 else "warning"), start=_coord(members[0]),
                end=_coord(members[-1]), call_ids=_ids(members), tool="/".join(names), target=None,
                count=len(members),
                explanation=f"{len(cnt)} distinct calls repeated {rounds}+ times each over {len(members)} calls "
                            f"({_span(members)}) with no file written: " + "; ".join(labels[:8])))
            i = j + 1

    for i, _c in enumerate(ctx.calls):
        r = ctx.roles[i]
        if r == "write" or (seg and ctx.comp_epoch[seg[-1]] != ctx.comp_epoch[i]):
            if len(seg) >= th.cycle_min_calls:
                scan(seg)
            seg = []
            if r == "write":
                continue
        if r in ("poll", "plan"):
            continue
        seg.append(i)
    if len(seg) >= th.cycle_min_calls:
        scan(seg)
    return out


def find_repeats(ctx: _Ctx, covered: set[str]) -> list[Finding]:
    th = ctx.th
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, c in enumerate(ctx.calls):
        r = ctx.roles[i]
        if r in ("poll", "plan"):
            continue
        epoch = ctx.comp_epoch[i] if r == "write" or c.kind == "write" else ctx.change_epoch[i]
        groups[(ctx.keys[i], epoch)].append(i)
    out = []
    for (_k, _e), idx in groups.items():
        if len(idx) < th.repeat_min:
            continue
        calls = [ctx.calls[i] for i in idx]
        if all(c.call_id in covered for c in calls):
            continue
        failed = sum(1 for c in calls if c.status == "error")
        consecutive = idx[-1] - idx[0] == len(idx) - 1
        how = "in a row" if consecutive else "with other calls in between"
        fail_txt = f"; {failed} of them failed" if failed else ""
        change = "" if calls[0].kind == "write" else " with no file change in between"
        per_turn: dict[int, int] = defaultdict(int)
        for c in calls:
            per_turn[c.turn] += 1
        if max(per_turn.values()) >= th.repeat_min:
            sev = "critical" if len(idx) >= th.repeat_min + 2 else "warning"
        else:  # it took new prompts from the user to get there: less likely the agent's own loop
            sev = "info"
            change += f", across {len(per_turn)} turns"
        out.append(Finding(
            kind="repeated_call", severity=sev,
            start=_coord(calls[0]), end=_coord(calls[-1]), call_ids=_ids(calls), tool=calls[0].name,
            target=describe(calls[0]), count=len(idx),
            explanation=f"{calls[0].name} `{describe(calls[0], 80)}` was called {len(idx)} times with the same "
                        f"arguments ({how}, {_span(calls)}){change}{fail_txt}"))
    return out


def find_pingpong(ctx: _Ctx) -> list[Finding]:
    replaces: dict[str, dict[tuple[str | None, str | None], int]] = defaultdict(dict)  # (old, new) -> last call
    states: dict[str, dict[str | None, int]] = defaultdict(dict)  # whole-file content -> last call that wrote it
    last_state: dict[str, str | None] = {}
    edited_since: dict[str, bool] = defaultdict(bool)  # a replace-edit after the last whole-file write
    reverts: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i, c in enumerate(ctx.calls):
        if c.status == "error" or ctx.roles[i] not in ("write", "execute"):
            continue
        for path, mode, old, new in edits_of(c):
            if mode == "replace":
                j = replaces[path].get((new, old))
                if j is not None and old != new and j != i:
                    reverts[path].append((j, i))
                replaces[path][(old, new)] = i
                edited_since[path] = True
            else:
                # the file returns to a content it had before, after it was changed (by a write or an edit)
                j = states[path].get(new)
                if j is not None and j != i and (last_state.get(path) != new or edited_since[path]):
                    reverts[path].append((j, i))
                states[path][new] = i
                last_state[path] = new
                edited_since[path] = False
    out = []
    for path, pairs in reverts.items():
        idx = sorted({x for p in pairs for x in p})
        calls = [ctx.calls[i] for i in idx]
        a, b = ctx.calls[pairs[0][0]], ctx.calls[pairs[0][1]]
        out.append(Finding(
            kind="edit_pingpong", severity="critical" if len(pairs) >= 2 else "warning", start=_coord(calls[0]),
            end=_coord(calls[-1]), call_ids=_ids(calls), tool="/".join(sorted({c.name for c in calls})), target=path,
            count=len(pairs),
            explanation=f"{path} was changed back to an earlier version {_plural(len(pairs), 'time')}: the change "
                        f"made at {_where(a)} ({a.call_id}) was undone at {_where(b)} ({b.call_id})"))
    return out


def find_no_progress(ctx: _Ctx) -> list[Finding]:
    th = ctx.th
    out: list[Finding] = []
    run: list[int] = []

    def close() -> None:
        if len(run) >= th.no_progress_min:
            calls = [ctx.calls[i] for i in run]
            names: defaultdict[str, int] = defaultdict(int)
            for c in calls:
                names[c.name] += 1
            top = ", ".join(f"{n} ×{k}" for n, k in sorted(names.items(), key=lambda x: -x[1])[:5])
            distinct = len({ctx.keys[i] for i in run})
            out.append(Finding(
                kind="no_progress", severity="critical" if len(run) >= 2 * th.no_progress_min else "warning",
                start=_coord(calls[0]), end=_coord(calls[-1]), call_ids=_ids(calls),
                tool="/".join(sorted(names)), count=len(run),
                explanation=f"{len(run)} reads/searches in a row ({_span(calls)}; {distinct} distinct; {top}) with no "
                            f"write, no other command and no answer to the user"))
        run.clear()

    last_turn = None
    for i, c in enumerate(ctx.calls):
        if c.turn != last_turn:
            close()
            last_turn = c.turn
        r = ctx.roles[i]
        if r == "read":
            run.append(i)
        elif r in ("write", "execute", "ask"):
            close()
    close()
    return out


def _p95(values: list[int]) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, -(-95 * len(s) // 100) - 1))  # nearest rank
    return s[k]


def find_slow(ctx: _Ctx) -> list[Finding]:
    th = ctx.th
    by_name: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(ctx.calls):
        if c.duration_ms is None or c.duration_ms < 0 or ctx.roles[i] in ("poll", "plan", "ask") or c.kind == "write" \
                or c.child:
            continue
        by_name[c.name].append(i)
    out = []
    for name, idx in by_name.items():
        ds = [ctx.calls[i].duration_ms or 0 for i in idx]  # every one timed (see above)
        med = statistics.median(ds) if ds else 0
        p95 = _p95(ds) if ds else 0
        for i in idx:
            c = ctx.calls[i]
            d = c.duration_ms or 0
            absolute = d > th.slow_abs_seconds * 1000
            relative = (len(ds) >= th.slow_min_count and d >= p95 and d > th.slow_factor * max(med, 1)
                        and d >= th.slow_min_seconds * 1000)
            if not (absolute or relative):
                continue
            why = []
            if relative:
                why.append(f"{d / max(med, 1):.0f}× the median {med / 1000:.1f}s of its {len(ds)} {name} calls")
            if absolute:
                why.append(f"over the {th.slow_abs_seconds:g}s limit")
            out.append(Finding(
                kind="slow_tool", severity="warning" if absolute else "info", start=_coord(c), end=_coord(c),
                call_ids=[c.call_id], tool=name, target=describe(c), count=1,
                explanation=f"{name} `{describe(c, 80)}` took {d / 1000:.1f}s at {_where(c)} ({'; '.join(why)}; "
                            f"the time includes any wait for the user's approval)"))
    return out


_DENIED_TEXT = re.compile(r"\bdenied\b|\brejected\b|not allowed", re.IGNORECASE)


def _is_denied(c: Call) -> bool:
    return c.error_kind == "denied" or (c.error_kind == "interrupted" and bool(_DENIED_TEXT.search(c.error or "")))


def _denied_turns(ctx: _Ctx) -> set[int]:
    return {c.turn for c in ctx.calls if c.status == "error" and _is_denied(c)}


def _redirected(ctx: _Ctx, t: int) -> TurnInfo | None:
    """The turn after interrupted turn `t` when it is the user's new instruction (not a continuation)."""
    nxt = ctx.turns.get(t + 1)
    return nxt if nxt is not None and nxt.origin in ("user", "slash_command") and nxt.prompt.strip() else None


def find_interruptions(ctx: _Ctx) -> list[Finding]:
    """Turns the user (or harness) stopped, with the calls cut off. A refusal is reported once, as a denied
    call; an interrupt the user followed with a new instruction is a user_correction."""
    by_turn: dict[int, list[Call]] = defaultdict(list)
    for c in ctx.calls:
        if c.status == "error" and c.error_kind == "interrupted" and not _is_denied(c):
            by_turn[c.turn].append(c)
    denied = _denied_turns(ctx)
    out = []
    for t in sorted(set(by_turn) | {t.index for t in ctx.turns.values() if t.interrupted}):
        info = ctx.turns.get(t, TurnInfo(index=t))
        if t in denied or (info.interrupted and _redirected(ctx, t) is not None):
            continue
        calls = by_turn.get(t, [])
        last_step = info.steps - 1 if info.steps else None
        if calls:
            start, during = _coord(calls[0]), f" during {calls[0].name} `{describe(calls[0], 60)}`"
        else:
            start, during = (t, last_step), ""
        what = "the user interrupted turn" if info.interrupted else "a tool call was cancelled in turn"
        out.append(Finding(
            kind="interrupted_turn", severity="warning", start=start, end=(t, last_step), call_ids=_ids(calls),
            tool=calls[0].name if calls else None, target=describe(calls[0]) if calls else None, count=len(calls),
            explanation=f"{what} {t}" + (f" at step {start[1]}" if start[1] is not None else "") + during
                        + (f"; {_plural(len(calls), 'call')} cancelled" if calls else "")))
    return out


def find_corrections(ctx: _Ctx) -> list[Finding]:
    """The user redirected the agent: a message typed while it worked, or an interrupt followed by a new
    instruction. Each says what the user said, so the agent can see what it got wrong."""
    out = []
    denied = _denied_turns(ctx)
    for t in sorted(ctx.turns):
        info = ctx.turns[t]
        for text, after, _at in info.interjections:
            step = after if after >= 0 else None
            out.append(Finding(
                kind="user_correction", severity="warning", start=(t, step), end=(t, step), call_ids=[],
                count=1, target=_short(text, 200),
                explanation=f"while turn {t} ran, the user wrote" + (f" (after step {after})" if after >= 0 else "")
                            + f": “{_short(text, 160)}”"))
        nxt = _redirected(ctx, t) if info.interrupted and t not in denied else None
        if nxt is not None:
            cut = [c for c in ctx.calls if c.turn == t and c.status == "error" and c.error_kind == "interrupted"]
            last_step = info.steps - 1 if info.steps else None
            out.append(Finding(
                kind="user_correction", severity="warning", start=(t, last_step), end=(nxt.index, None),
                call_ids=_ids(cut), count=1 + len(cut), target=_short(nxt.prompt, 200),
                explanation=f"the user stopped turn {t}" + (f" during {cut[0].name} `{describe(cut[0], 60)}`"
                                                           if cut else "")
                            + f" and then asked (turn {nxt.index}): “{_short(nxt.prompt, 160)}”"))
    return out


def find_denials(ctx: _Ctx) -> list[Finding]:
    out = []
    for i, c in enumerate(ctx.calls):
        if c.status != "error" or not _is_denied(c):
            continue
        again, same = None, False
        for j in range(i + 1, min(len(ctx.calls), i + 1 + DENIAL_LOOKAHEAD)):
            d = ctx.calls[j]
            if ctx.similar(i, j):
                again, same = d, ctx.norm[i] == ctx.norm[j]
                break
        later_turn = again is not None and again.turn != c.turn
        tail = (f"; {'the same' if same else 'a similar'} call was tried again at {_where(again)} "
                f"({again.call_id}, {again.status})" + (" after a new prompt" if later_turn else " in the same turn")
                if again else "; it was not tried again")
        out.append(Finding(
            kind="denied_call", severity="critical" if same and not later_turn else "warning", start=_coord(c),
            end=_coord(again) if again else _coord(c), call_ids=[c.call_id] + ([again.call_id] if again else []),
            tool=c.name, target=describe(c), count=1,
            explanation=f"{c.name} `{describe(c, 80)}` was refused at {_where(c)}: "
                        f"{_short(c.error or 'denied', 120)}{tail}"))
    return out


def _through_polls(calls: list[Call]) -> list[Call]:
    """A process started by one call and polled by others ended the way its last poll saw it end: the starter
    takes that outcome (a test run that exited 2 under `write_stdin` failed), so retries are seen per command."""
    by_id = {c.call_id: i for i, c in enumerate(calls)}
    last: dict[str, Call] = {}
    for c in calls:
        if c.started_by and c.status in ("ok", "error"):
            last[c.started_by] = c
    out = list(calls)
    for starter_id, p in last.items():
        i = by_id.get(starter_id)
        if i is not None and p.status == "error" and out[i].status != "error":
            out[i] = replace(out[i], status="error", error_kind=p.error_kind, error=p.error)
    return out


def analyze(calls: list[Call], turns: list[TurnInfo], th: Thresholds | None = None) -> list[Finding]:
    """Every finding of one session, most severe first (then by position)."""
    th = th or Thresholds()
    calls = _through_polls(sorted(calls, key=lambda c: (c.turn, c.step, c.seq)))
    ctx = _context(calls, turns, th)
    storms = find_retry_storms(ctx)
    cycles = find_cycles(ctx)
    covered = {cid for f in storms + cycles for cid in f.call_ids}
    findings = [*storms, *cycles, *find_repeats(ctx, covered), *find_pingpong(ctx), *find_no_progress(ctx),
                *find_denials(ctx), *find_interruptions(ctx), *find_corrections(ctx), *find_slow(ctx)]
    findings.sort(key=Finding.sort_key)
    return findings
