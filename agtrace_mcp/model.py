"""The session model: the one contract every provider is normalised into (DESIGN §3).

These pydantic models are the *edge* representation (CLI JSON, MCP output). Inside hot loops the
engine works on plain dataclasses (`engine.records`) and converts at the end.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The agent that wrote a session: a provider name (`claude_code`, `codex`, …, or one a plugin adds). The names
# are the providers' own (`providers.REGISTRY`); the model, below every provider, takes any.
Provider = str

ToolKind = Literal["read", "write", "execute", "search", "plan", "ask", "mcp", "other"]
ToolStatus = Literal["ok", "error", "missing", "in_progress"]
ErrorKind = Literal["tool_error", "exit_code", "interrupted", "denied", "timeout"]
ERROR_KINDS: tuple[str, ...] = ("tool_error", "exit_code", "interrupted", "denied", "timeout")
StepStatus = Literal["done", "failed", "in_progress"]
Origin = Literal["user", "slash_command", "compaction", "system"]
TurnStatus = Literal["completed", "interrupted", "incomplete"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Usage(_Model):
    """Tokens of one model response. `input` is the uncached prompt part only."""

    input: int = 0
    cache_read: int = 0
    cache_write: int = 0
    output: int = Field(0, description="Output tokens, reasoning included")
    reasoning: int = Field(0, description="The part of output spent on reasoning")

    context_tokens: int = Field(0, description="Prompt size of this response: input + cache_read + cache_write")

    @model_validator(mode="after")
    def _context(self) -> Usage:
        # always derived, never trusted from input
        object.__setattr__(self, "context_tokens", self.input + self.cache_read + self.cache_write)
        return self


class ToolError(_Model):
    kind: ErrorKind
    exit_code: int | None = None
    message: str = ""


class ToolExecution(_Model):
    call_id: str
    name: str
    kind: ToolKind
    args: Any = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_ms: int | None = None
    output: str = ""
    status: ToolStatus
    error: ToolError | None = None
    child_session_id: str | None = Field(None, description="Subagent session this call spawned")


class UserInput(_Model):
    text: str
    origin: Origin = "user"
    slash_command: str | None = None


class Step(_Model):
    index: int
    started_at: datetime | None = None
    model: str | None = None
    reasoning: str | None = None
    message: str | None = None
    tools: list[ToolExecution] = []
    usage: Usage | None = None
    status: StepStatus = "done"


class Stats(_Model):
    turns: int = 0
    steps: int = 0
    tool_calls: int = 0
    failed_tools: int = 0
    missing_tools: int = Field(0, description="Calls whose result never came (neither ok nor failed)")
    input: int = 0
    cache_read: int = 0
    cache_write: int = 0
    output: int = 0
    reasoning: int = 0
    peak_context_tokens: int = 0
    duration_ms: int | None = None


class Interjection(_Model):
    """A message the user typed while the agent worked on the turn; it reached the model after `after_step`."""

    text: str
    at: datetime | None = None
    after_step: int = Field(-1, description="The step it followed (-1: before the first step)")


class Turn(_Model):
    index: int
    started_at: datetime | None = None
    ended_at: datetime | None = None
    user: UserInput
    steps: list[Step] = []
    interjections: list[Interjection] = []
    interrupted: bool = False
    status: TurnStatus = "incomplete"
    final_answer: str | None = None
    stats: Stats = Stats()


class Compaction(_Model):
    turn_index: int
    at: datetime | None = None
    trigger: str | None = None
    pre_tokens: int | None = None


class Session(_Model):
    session_id: str
    provider: Provider = Field(description="The agent that wrote it: a provider name (claude_code, codex, …)")
    project_root: str | None = None
    git_branch: str | None = None
    title: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    models: list[str] = []
    cli_version: str | None = None
    parent_session_id: str | None = None
    agent_name: str | None = None
    source_files: list[str] = []
    turns: list[Turn] = []
    compactions: list[Compaction] = []
    stats: Stats = Stats()
