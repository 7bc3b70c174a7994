"""Result models of the Python API: what the MCP tools return (structuredContent) and `--json` prints.

Field descriptions matter: they become the tools' outputSchema, which is what the agent reads.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .model import Stats, Usage

Truncation = Field(False, description="True when this response was cut to fit the output budget; see `note`")


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SessionSummary(_View):
    session_id: str
    provider: str
    project_root: str | None = None
    title: str = ""
    started_at: str | None = None
    ended_at: str | None = None
    turns: int = 0
    tool_calls: int = 0
    failed_tools: int = 0
    models: list[str] = []
    git_branch: str | None = None
    parent_session_id: str | None = None
    agent_name: str | None = None
    on_disk: bool = Field(True, description="False when the log file is gone (kept in the index)")


class SessionList(_View):
    sessions: list[SessionSummary]
    total: int = Field(description="Sessions matching the filters, over all pages")
    next_cursor: str | None = Field(None, description="Pass back as `cursor` for the next page; null = last page")
    truncated: bool = Truncation
    note: str | None = None


class ToolUse(_View):
    name: str
    ok: int
    failed: int


class TurnOutline(_View):
    index: int
    started_at: str | None = None
    ended_at: str | None = None
    origin: str = "user"
    prompt: str = Field(description="Snippet of the user's prompt")
    steps: int = 0
    tools: list[ToolUse] = []
    failed_tools: int = 0
    interrupted: bool = False
    final_answer: str | None = Field(None, description="Snippet of the last assistant message of the turn")


class Compaction(_View):
    turn_index: int
    at: str | None = None
    trigger: str | None = None
    pre_tokens: int | None = None


class SessionDetail(_View):
    session: SessionSummary
    cli_version: str | None = None
    stats: Stats
    context_window: int | None = None
    subagents: list[SessionSummary] = []
    compactions: list[Compaction] = []
    turns: list[TurnOutline]
    turns_total: int
    next_cursor: str | None = Field(None, description="Pass back as `cursor` for the next page of turns")
    truncated: bool = Truncation
    note: str | None = None


class ToolErrorView(_View):
    kind: str
    exit_code: int | None = None
    message: str = ""


class ToolDetail(_View):
    call_id: str
    name: str
    kind: str
    args: dict[str, Any] | str | None = Field(None, description="Arguments as the model sent them (object or text)")
    args_truncated: bool = False
    status: str
    error: ToolErrorView | None = None
    output: str = ""
    output_chars: int = Field(0, description="Length of the full output; more than `output` when it was cut")
    output_truncated: bool = False
    started_at: str | None = None
    duration_ms: int | None = None
    child_session_id: str | None = None


class StepDetail(_View):
    index: int
    started_at: str | None = None
    model: str | None = None
    status: str = "done"
    reasoning: str | None = None
    message: str | None = None
    tools: list[ToolDetail] = []
    usage: Usage | None = None


class UserView(_View):
    text: str
    origin: str = "user"
    slash_command: str | None = None


class TurnDetail(_View):
    session_id: str
    index: int
    turns_total: int
    started_at: str | None = None
    ended_at: str | None = None
    user: UserView
    interrupted: bool = False
    steps: list[StepDetail]
    stats: Stats
    next_cursor: str | None = Field(None, description="More steps of this turn: pass back as `cursor`")
    truncated: bool = Truncation
    note: str | None = None


class FailedTool(_View):
    session_id: str
    provider: str
    project_root: str | None = None
    turn_index: int
    step_index: int
    call_id: str
    tool: str
    error_kind: str | None = None
    exit_code: int | None = None
    error: str = Field("", description="Excerpt of the error")
    args_preview: str = ""
    at: str | None = None


class FailureList(_View):
    failures: list[FailedTool]
    total: int
    next_cursor: str | None = None
    truncated: bool = Truncation
    note: str | None = None


class SearchHit(_View):
    session_id: str
    turn_index: int
    step_index: int | None = Field(None, description="null for a hit in the prompt")
    call_id: str | None = None
    kind: Literal["prompt", "message", "reasoning", "tool_call", "tool_output"]
    snippet: str
    provider: str
    project_root: str | None = None
    session_title: str = ""
    at: str | None = None


class SearchResults(_View):
    hits: list[SearchHit]
    next_cursor: str | None = None
    truncated: bool = Truncation
    note: str | None = None


class ProjectInfo(_View):
    project_root: str | None
    sessions: int
    providers: list[str]
    first_activity: str | None = None
    last_activity: str | None = None
    turns: int = 0
    failed_tools: int = 0


class ProjectList(_View):
    projects: list[ProjectInfo]
    total: int
    next_cursor: str | None = None
    truncated: bool = Truncation


class ToolOutput(_View):
    session_id: str
    call_id: str
    field: Literal["output", "args"]
    offset: int
    text: str
    total_chars: int
    next_offset: int | None = Field(None, description="Pass back as `offset` for the rest; null = end")
    source: Literal["log", "index"] = Field(
        "log", description="'index' when the log file is gone and only the stored preview is left")


class CurrentSession(_View):
    session: SessionSummary
    latest_turn: TurnOutline | None = None
    note: str | None = None


class SecretPlace(_View):
    session_id: str
    turn_index: int
    step_index: int | None = None
    call_id: str | None = None
    found_in: str = Field(description="prompt, message, reasoning, tool_call or tool_output")
    project_root: str | None = None


class SecretFinding(_View):
    type: str = Field(description="openai_key, github_token, aws_access_key, private_key, credential, …")
    fingerprint: str = Field(description="type and last 4 characters; never the value")
    occurrences: int
    sessions: int
    first_seen: str | None = None
    last_seen: str | None = None
    found_in: list[str] = []
    examples: list[SecretPlace] = []


class SecretFindings(_View):
    findings: list[SecretFinding]
    total: int
    next_cursor: str | None = None
    truncated: bool = Truncation
    note: str | None = None


class ProviderHealth(_View):
    provider: str
    roots: list[str]
    files: int
    files_gone: int
    lines: int
    records: int
    bad_lines: int
    torn_tails: int
    unknown_types: dict[str, int]
    skipped: dict[str, int]
    bad_samples: list[dict[str, Any]]
    sessions: int


class DoctorReport(_View):
    index_path: str
    index_bytes: int
    providers: list[ProviderHealth]
    refresh_seconds: float | None = None
