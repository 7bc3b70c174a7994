"""Providers: one module per agent. The registry maps provider names to instances."""

from __future__ import annotations

from .antigravity import AntigravityProvider
from .base import ParseStats, Provider, SourceFile
from .claude import ClaudeProvider
from .codex import CodexProvider
from .copilot import CopilotProvider
from .gemini import GeminiProvider
from .opencode import OpenCodeProvider

REGISTRY: dict[str, Provider] = {}


def register(p: Provider) -> None:
    REGISTRY[p.name] = p


register(ClaudeProvider())
register(CodexProvider())
register(GeminiProvider())
register(AntigravityProvider())
register(CopilotProvider())
register(OpenCodeProvider())

__all__ = ["REGISTRY", "ParseStats", "Provider", "SourceFile", "detect_provider", "get"]


def get(name: str) -> Provider:
    return REGISTRY[name]


def detect_provider(path: str) -> str | None:
    """Guess which agent wrote the file at `path` from its location, name, then its first record."""
    p = path.replace("\\", "/")
    low = p.lower()
    if "/antigravity" in low and low.endswith(".jsonl"):
        return "antigravity" if "antigravity" in REGISTRY else None
    if "/.codex/" in low or "/rollout-" in low or low.rsplit("/", 1)[-1].startswith("rollout-"):
        return "codex"
    if "/.gemini/" in low and "/chats/" in low:
        return "gemini_cli"
    if "/.copilot/" in low or "/session-state/" in low or "/history-session-state/" in low:
        return "copilot_cli"
    name = low.rsplit("/", 1)[-1]
    if (name == "opencode.db" or (name.startswith("opencode-") and name.endswith(".db"))
            or ("/storage/session/" in low and name.startswith("ses_"))):
        return "opencode"
    if "/.claude/" in low:
        return "claude_code"
    return _sniff(path)


def _sniff(path: str) -> str | None:
    import orjson

    from .jsonl import decode_values

    from .files import open_regular, read_regular

    try:
        with open_regular(path) as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    if path.endswith(".zst"):
        return "codex"
    first = head.split(b"\n", 1)[0]
    values, _ = decode_values(first)
    o = values[0] if values else None
    if not isinstance(o, dict):
        # a pretty-printed single JSON document: Gemini's legacy session file
        try:
            doc = orjson.loads(read_regular(path))
        except (OSError, orjson.JSONDecodeError):
            return None
        return "gemini_cli" if isinstance(doc, dict) and "messages" in doc and "sessionId" in doc else None
    if o.get("type") in ("session_meta", "response_item", "event_msg", "turn_context") or "record_type" in o:
        return "codex"
    if "sessionId" in o and "projectHash" in o:
        return "gemini_cli"
    if "step_index" in o and "source" in o:
        return "antigravity"
    if o.get("type", "").startswith("session.") and "data" in o:
        return "copilot_cli"
    if "sessionId" in o or o.get("type") in ("summary", "file-history-snapshot", "user", "assistant", "queue-operation"):
        return "claude_code"
    return None
