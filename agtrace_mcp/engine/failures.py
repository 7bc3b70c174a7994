"""One failure policy for every agent (DESIGN §3 "Failure").

Providers report what their format says (an explicit error flag, an exit code found in metadata or text, a
recognised interrupt or denial); this module turns that into `status` and a unified `error.kind`:
interrupted > denied > timeout > exit_code > tool_error, keeping the exit code whenever it is known.
"""

from __future__ import annotations

import re

_DENIED = re.compile(
    r"doesn't want to proceed with this tool use|tool use was rejected|user denied permission|"
    r"permission denied by user|rejected by user|user rejected|sandbox denied|denied by (?:the )?(?:user|sandbox|policy|pre-tool hook)|"
    r"tool call denied|not allowed by (?:the )?(?:user|sandbox|policy)",
    re.IGNORECASE,
)
_INTERRUPTED = re.compile(
    r"\[Request interrupted by user|interrupted by user|aborted by user|\[Operation Cancelled\]|"
    r"operation was cancelled|user cancelled|request cancelled",
    re.IGNORECASE,
)
_TIMEOUT = re.compile(r"timed out|deadline exceeded", re.IGNORECASE)

# Exit-code spellings, per agent; each captures the code.
EXIT_PATTERNS = {
    "codex": re.compile(r"^(?:Exit code: (-?\d+)|Process exited with code (-?\d+))", re.MULTILINE),
    "gemini": re.compile(r"^Exit Code: (-?\d+)", re.MULTILINE),
    "claude": re.compile(r"^(?:Error: )?Exit code (-?\d+)", re.MULTILINE),
    "antigravity": re.compile(r"(?:exited with code (-?\d+)|failed with exit code: (-?\d+))"),
}


def exit_code_in(text: str, agent: str, head: int = 4096) -> int | None:
    """Find a process exit code in the first `head` chars of a tool output, in `agent`'s spelling."""
    m = EXIT_PATTERNS[agent].search(text[:head] if head else text)
    if not m:
        return None
    for g in m.groups():
        if g is not None:
            code = int(g)
            return code if -(2**31) <= code < 2**32 else None  # not a process exit code
    return None


def error_excerpt(text: str, limit: int = 300) -> str:
    """The part of an output that explains a failure: prefer lines that say error, else the tail."""
    if not text:
        return ""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        low = ln.lower()
        if "error" in low or "denied" in low or "fail" in low or "not found" in low or "interrupt" in low:
            return ln.strip()[:limit]
    tail = "\n".join(lines[-3:]).strip()
    return tail[-limit:]


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
