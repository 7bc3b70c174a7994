"""One failure policy for every agent (DESIGN §3 "Failure").

Providers report what their format says (an explicit error flag, an exit code found in metadata or text, a
recognised interrupt or denial); this module turns that into `status` and a unified `error.kind`:
interrupted > denied > timeout > exit_code > tool_error, keeping the exit code whenever it is known.
"""

from __future__ import annotations

import re

_DENIED = re.compile(
    r"doesn't want to proceed with this tool use|tool use was rejected|user denied permission|"
    r"permission denied by user|rejected by user|user rejected|sandbox denied|"
    r"denied by (?:the )?(?:user|sandbox|policy|pre-tool hook)|"
    r"tool call denied|not allowed by (?:the )?(?:user|sandbox|policy)",
    re.IGNORECASE,
)
_INTERRUPTED = re.compile(
    r"\[Request interrupted by user|interrupted by user|aborted by user|\[Operation Cancelled\]|"
    r"operation was cancelled|user cancelled|request cancelled",
    re.IGNORECASE,
)
_TIMEOUT = re.compile(r"timed out|deadline exceeded", re.IGNORECASE)

def exit_code_in(text: str, pattern: re.Pattern[str], head: int = 4096, *, last: bool = False) -> int | None:
    """A process exit code in a tool output, in an agent's spelling (`pattern`, declared by its provider, captures
    the code in one of its groups): the first match in the first `head` chars, or with `last` the last match in
    the last `head` chars (a trailer such as Copilot's `<exited with exit code N>`). `head` 0: the whole text."""
    if last:
        m = None
        for found in pattern.finditer(text[-head:] if head else text):
            m = found
    else:
        m = pattern.search(text[:head] if head else text)
    if not m:
        return None
    for g in m.groups():
        if g is not None:
            code = int(g)
            return code if -(2**31) <= code < 2**32 else None  # not a process exit code
    return None


# Lines an agent harness writes around a command's own output (Codex headers, truncation notices).
_HARNESS_LINE = re.compile(r"^(?:Chunk ID:|Wall time:|Process exited with code|Process running with session ID|"
                           r"Original token count:|Output:$|Exit code:|Warning: truncated output|Total output lines:|"
                           r"Script (?:completed|failed)$|Command: |Directory: )")
# The line that says what went wrong, strongest first: test failures, compiler/runtime errors, exceptions.
_STRONG = [
    re.compile(r"^(?:--- FAIL\b|FAIL\b|FAILED\b|✗|✕|×|● |E {2,}\S)"),
    re.compile(r"^(?:error(?:\[E\d+\])?|fatal|panic|ERROR|FATAL|PANIC)\b[:!]"),
    re.compile(r"^(?:[\w.$]+(?:Error|Exception|Exit|Failure))(?::|$)"),
    re.compile(r"^(?:npm ERR!|ERR!|Error:|error TS\d+|.*: error:|.*: (?:fatal )?error )"),
]
_WEAK = re.compile(r"\b(?:error|errors|failed|failure|fail|denied|refused|not found|no such file|cannot|can't|"
                   r"timed out|timeout|exception|invalid|unknown|missing|undefined|interrupted|abort(?:ed)?)\b",
                   re.IGNORECASE)
_TRACEBACK = "Traceback (most recent call last)"


def _json_message(line: str) -> str | None:
    """A structured log line's message (`{"level":"error","msg":"…"}`); None when it is not one."""
    if not (line.startswith("{") and line.endswith("}")):
        return None
    import orjson
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    parts = [str(obj[k]) for k in ("msg", "message", "error", "err") if isinstance(obj.get(k), (str, int, float))]
    return ": ".join(dict.fromkeys(parts)) or None


def error_excerpt(text: str, limit: int = 300) -> str:
    """The line of an output that explains a failure: a test FAIL (with the reason on the next line), an
    `error:` or `Error:`, an exception (the last line of a traceback), else a line that says error/failed/…,
    else the last lines. Harness headers and structured log noise are skipped; a JSON log line counts by
    its message."""
    if not text:
        return ""
    raw = [ln.rstrip() for ln in text.splitlines()]
    lines = [ln for ln in raw if ln.strip() and not _HARNESS_LINE.match(ln.strip())]
    if not lines:
        return ""
    if _TRACEBACK in text:
        after = text[text.rindex(_TRACEBACK):].splitlines()
        tail = [ln.strip() for ln in after[1:] if ln.strip() and not ln.startswith((" ", "\t"))]
        if tail:
            return tail[-1][:limit]
    for pat in _STRONG:
        for i, ln in enumerate(lines):
            s = ln.strip()
            if pat.match(s):
                if s.startswith(("--- FAIL", "FAIL")) and i + 1 < len(lines) and lines[i + 1][:1] in (" ", "\t"):
                    s = f"{s} {lines[i + 1].strip()}"  # go test: the reason is the indented line below
                return s[:limit]
    for ln in lines:
        s = ln.strip()
        msg = _json_message(s)
        if msg is not None:
            if _WEAK.search(msg) or '"level":"error"' in s.replace(" ", "").lower():
                return msg[:limit]
            continue
        if _WEAK.search(s):
            return s[:limit]
    last = "\n".join(ln.strip() for ln in lines[-3:])
    return last[-limit:]


def classify(output: str, is_error: bool | None, exit_code: int | None, hint: str | None,
             message: str | None) -> tuple[str, str | None, int | None, str | None]:
    """Return (status, error_kind, exit_code, message) for one tool result."""
    kind: str | None = None
    if hint in ("interrupted", "denied", "timeout"):
        kind = hint
    elif is_error or (exit_code is not None and exit_code != 0) or hint == "tool_error":
        probe = (message or "") + "\n" + output[:2000]
        if _INTERRUPTED.search(probe):
            kind = "interrupted"
        elif _DENIED.search(probe):
            kind = "denied"
        elif exit_code is not None and exit_code != 0:
            kind = "exit_code"
        elif _TIMEOUT.search(probe):
            kind = "timeout"
        else:
            kind = "tool_error"
    if kind is None:
        return "ok", None, exit_code, None
    return "error", kind, exit_code, (message or error_excerpt(output))
