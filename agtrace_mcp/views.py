"""Result models of the Python API: what the MCP tools return (structuredContent) and `--json` prints.

Field descriptions matter: they become the tools' outputSchema, which is what the agent reads.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from .model import Stats, TurnStatus, Usage

Truncation = Field(False, description="True when this response was cut to fit the output budget; see `note`")


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IndexIncomplete(_View):
    """Present only when the answer could not wait for the index to hold every log."""

    files_pending: int = Field(description="Log files not read yet")
    mb_pending: float = Field(description="Megabytes of logs not read yet")
    message: str = Field(description="What this means for the answer, and what to do")


class _Indexed(_View):
    index_incomplete: IndexIncomplete | None = Field(
        None, description="Set when this answer was built before every log was indexed: it may miss sessions, "
                          "hits or failures. Ask again shortly. Absent when the answer is complete.")

    @model_serializer(mode="wrap")
    def _drop_complete(self, handler: Any) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("index_incomplete", 0) is None:
            data.pop("index_incomplete")
        return data


class _Placed(_View):
    """Something that happened in one session, which a team database says where it ran. The local index holds
    this machine's history only: there `machine` and `user` are left out."""

    machine: str | None = Field(None, description="Machine it ran on (team database only)")
    user: str | None = Field(None, description="Who ran it (team database only)")

    @model_serializer(mode="wrap")
    def _drop_local(self, handler: Any) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for k in ("machine", "user"):  # last when present, absent for the local index
                v = data.pop(k, None)
                if v is not None:
                    data[k] = v
        return data


class SessionSummary(_Placed):
    session_id: str
    provider: str
    project_root: str | None = None
    title: str = ""
    started_at: str | None = None
    ended_at: str | None = None
    turns: int = 0
    tool_calls: int = 0
    failed_tools: int = 0
    missing_tools: int = Field(0, description="Calls whose result never came")
    models: list[str] = []
    git_branch: str | None = None
    parent_session_id: str | None = None
    agent_name: str | None = None
    on_disk: bool = Field(True, description="False when the log file is gone (kept in the index)")


class SessionList(_Indexed):
    sessions: list[SessionSummary]
    total: int = Field(description="Sessions matching the filters, over all pages")
    next_cursor: str | None = Field(None, description="Pass back as `cursor` for the next page; null = last page")
    truncated: bool = Truncation
    note: str | None = None


class ToolUse(_View):
    name: str
    ok: int
    failed: int
    missing: int = Field(0, description="Calls whose result never came")


INCOMPLETE: TurnStatus = "incomplete"
StatusField = Field(INCOMPLETE, description="completed: ended with an answer; interrupted: stopped by the user "
                                              "or harness; incomplete: no end (still running, or crashed)")


class TurnOutline(_View):
    index: int
    started_at: str | None = None
    ended_at: str | None = None
    origin: str = "user"
    status: TurnStatus = StatusField
    prompt: str = Field(description="Snippet of the user's prompt")
    steps: int = 0
    tools: list[ToolUse] = []
    failed_tools: int = 0
    missing_tools: int = 0
    interjections: int = Field(0, description="Messages the user typed while the agent worked on this turn")
    final_answer: str | None = Field(None, description="Snippet of the turn's final answer (never mid-turn "
                                                       "commentary); null when it has none")


class Compaction(_View):
    turn_index: int
    at: str | None = None
    trigger: str | None = None
    pre_tokens: int | None = None


class SessionDetail(_Indexed):
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


class InterjectionView(_View):
    """A message the user typed while the agent worked; it reached the model after step `after_step`."""

    text: str
    at: str | None = None
    after_step: int = Field(-1, description="-1: before the first step")


class TurnDetail(_View):
    session_id: str
    index: int
    turns_total: int
    status: TurnStatus = StatusField
    detail: Literal["outline", "full"]
    started_at: str | None = None
    ended_at: str | None = None
    user: UserView
    interjections: list[InterjectionView] = []
    outline: list[str] | None = Field(None, description="detail=outline: one line per step (tool, target, status, "
                                                        "exit code, duration, first error line) and » interjections")
    steps: list[StepDetail] = Field([], description="detail=full: every step in full")
    final_answer: str | None = None
    stats: Stats
    next_cursor: str | None = Field(None, description="More steps of this turn: pass back as `cursor`")
    truncated: bool = Truncation
    note: str | None = None


class FailedTool(_Placed):
    session_id: str
    provider: str
    project_root: str | None = None
    turn_index: int
    step_index: int
    call_id: str
    tool: str
    error_kind: str | None = None
    exit_code: int | None = None
    error: str = Field("", description="The line of the output that says what went wrong")
    args_preview: str = ""
    command: str | None = Field(None, description="A poll of a running process: the command that started it "
                                                  "(whose failure this is)")
    started_by: str | None = Field(None, description="A poll: the call id that started the process")
    at: str | None = None


class FailureExample(_Placed):
    session_id: str
    turn_index: int
    step_index: int
    call_id: str
    tool: str
    error: str = ""
    at: str | None = None


class FailureGroup(_View):
    key: str | None = Field(description="The group's value: a tool name, an error kind, a normalised error message "
                                        "(numbers, ids, paths, quoted strings and times replaced by <n>, <id>, "
                                        "<path>, <str>, <time>) or a project root")
    count: int = Field(description="Failed calls in this group")
    sessions: int = Field(description="Distinct sessions they happened in")
    tools: list[str] = Field([], description="Tools that failed this way (most frequent first, ≤ 5)")
    first_seen: str | None = None
    last_seen: str | None = None
    examples: list[FailureExample] = Field([], description="The newest occurrences (≤ 3), with coordinates")


class FailureList(_Indexed):
    failures: list[FailedTool] = Field(description="Failed calls, newest first; empty when `group_by` is set")
    total: int = Field(description="Failed calls matching the filters, over all pages")
    group_by: Literal["tool", "error_kind", "error", "project"] | None = Field(
        None, description="Set when the failures are grouped: see `groups`")
    groups: list[FailureGroup] | None = Field(
        None, description="With `group_by`: groups of failures, largest first (null without `group_by`)")
    groups_total: int | None = Field(None, description="With `group_by`: number of groups over all pages")
    next_cursor: str | None = None
    truncated: bool = Truncation
    note: str | None = None

    @model_serializer(mode="wrap")
    def _drop_complete(self, handler: Any) -> Any:  # overrides _Indexed: also drops the unused group fields
        # without group_by the answer is exactly the plain list it always was (no null group fields)
        data = handler(self)
        if isinstance(data, dict):
            if self.group_by is None:
                for k in ("group_by", "groups", "groups_total"):
                    data.pop(k, None)
            if data.get("index_incomplete", 0) is None:
                data.pop("index_incomplete")
        return data


class SearchHit(_Placed):
    session_id: str
    turn_index: int
    step_index: int | None = Field(None, description="null for a hit in the prompt")
    interjection: int | None = Field(None, description="Set when the hit is a message typed mid-turn: its number")
    call_id: str | None = None
    kind: Literal["prompt", "message", "reasoning", "tool_call", "tool_output"]
    status: str | None = Field(None, description="tool_output: the call's status (ok, error, missing)")
    error_kind: str | None = None
    snippet: str
    provider: str
    project_root: str | None = None
    session_title: str = ""
    at: str | None = Field(None, description="When the step (or message) holding the text was written")


class SearchResults(_Indexed):
    hits: list[SearchHit]
    sort: Literal["newest", "relevance"] = "newest"
    read_as: str | None = Field(None, description="How the query was read, when that may not be what was meant")
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
    missing_tools: int = 0
    machines: list[str] | None = Field(None, description="Machines its sessions ran on (team database only)")

    @model_serializer(mode="wrap")
    def _drop_local(self, handler: Any) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("machines", 0) is None:
            del data["machines"]
        return data


class ProjectList(_Indexed):
    projects: list[ProjectInfo]
    total: int
    next_cursor: str | None = None
    truncated: bool = Truncation


TextField = Literal["prompt", "final_answer", "interjection", "message", "reasoning", "args", "output"]


class TextPage(_View):
    session_id: str
    field: TextField
    turn_index: int | None = None
    step_index: int | None = None
    call_id: str | None = None
    offset: int
    text: str
    total_chars: int
    next_offset: int | None = Field(None, description="Pass back as `offset` for the rest; null = end")
    source: Literal["log", "index"] = Field("log", description="Where the text was read")
    complete: bool = Field(True, description="False when the log is gone and only the index's cut copy is left")


ToolOutput = TextPage  # the older name (get_tool_output)


class CurrentSession(_Indexed):
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


class SecretFindings(_Indexed):
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
    long_lines: int = Field(0, description="Lines over the line cap (AGTRACE_MCP_MAX_LINE_MB), skipped unread")
    files_cut: int = Field(0, description="Compressed files whose output went over its bound: the rest is not read")
    files_refused: list[dict[str, str]] = Field([], description="Files not read (up to 20), each {path, reason}: "
                                                                "not a regular file, a link out of the agent's "
                                                                "folder, a name that is not UTF-8")


class PluginProblem(_View):
    """A provider plugin that was skipped (it could not be imported, or does not make a provider)."""

    entry_point: str = Field(description="`name = module:object` in the agtrace_mcp.providers group")
    package: str | None = Field(None, description="The package that declares it")
    error: str


class DoctorReport(_View):
    index_path: str
    index_bytes: int
    providers: list[ProviderHealth]
    plugin_problems: list[PluginProblem] = Field(default_factory=list,
                                                 description="Provider plugins skipped, and why")
    refresh_seconds: float | None = None
    note: str | None = Field(None, description="Why the index could not be updated, when it could not")


# -- analysis (analyze_session) -------------------------------------------------------------------

FindingKind = Literal["retry_storm", "repeated_call", "cycle", "edit_pingpong", "no_progress", "denied_call",
                      "interrupted_turn", "user_correction", "slow_tool"]


class Finding(_View):
    kind: FindingKind
    severity: Literal["info", "warning", "critical"]
    start_turn: int = Field(description="Turn where the pattern starts")
    start_step: int | None = Field(None, description="Step where it starts (null: the turn as a whole)")
    end_turn: int
    end_step: int | None = None
    tool: str | None = Field(None, description="Tool name(s) involved, '/'-joined")
    target: str | None = Field(None, description="The file, command or arguments it is about")
    count: int = Field(0, description="Calls / repeats / reverts / failures, depending on the kind")
    resolved: bool | None = Field(None, description="retry_storm: whether the same attempt later succeeded")
    call_ids: list[str] = Field(description="Tool calls involved (the first few; see calls_total)")
    calls_total: int = Field(description="How many calls are involved in all")
    explanation: str


class AnalysisThresholds(_View):
    repeat_min: int = Field(description="repeated_call: identical calls (same tool, same normalised arguments, no "
                                        "file change in between) needed")
    cycle_min_rounds: int = Field(description="cycle: times each call of the set must recur")
    cycle_min_calls: int = Field(description="cycle: calls the window must span")
    cycle_max_distinct: int = Field(description="cycle: most distinct calls in the repeating set (at least 3)")
    retry_min: int = Field(description="retry_storm: failures of the same attempt needed")
    retry_similarity: float = Field(description="retry_storm: argument similarity (0..1) for 'the same attempt'")
    retry_window: int = Field(description="retry_storm: calls after a failure within which a retry counts")
    no_progress_min: int = Field(description="no_progress: reads/searches in a row with no write, command or answer")
    slow_factor: float = Field(description="slow_tool: times the tool's median duration in this session")
    slow_min_count: int = Field(description="slow_tool: timed calls of a tool needed to compare against it")
    slow_min_seconds: float = Field(description="slow_tool: a relative outlier must also take at least this long")
    slow_abs_seconds: float = Field(description="slow_tool: slower than this is reported outright")
    max_per_kind: int = Field(description="Findings shown per kind (the rest are counted in `counts`)")


class SessionAnalysis(_View):
    session_id: str
    provider: str
    turns: int
    tool_calls: int
    findings: list[Finding] = Field(description="Most severe first, then by position; empty for a clean session")
    counts: dict[str, int] = Field(description="Findings found per kind, before capping to max_per_kind")
    thresholds: AnalysisThresholds
    truncated: bool = Truncation
    note: str | None = None


# -- usage (get_usage) -----------------------------------------------------------------------------


class TokenTotals(_View):
    input: int = Field(0, description="Uncached prompt tokens")
    cache_read: int = 0
    cache_write: int = 0
    output: int = Field(0, description="Output tokens, reasoning included")
    reasoning: int = 0
    total: int = Field(0, description="input + cache_read + cache_write + output")
    cache_hit_rate: float | None = Field(None, description="cache_read / (input + cache_read + cache_write); null "
                                                           "when there was no prompt")


class ModelUsage(_View):
    model: str
    steps: int
    tokens: TokenTotals


class ContextUse(_View):
    model: str | None = Field(None, description="The model the window is for (of the latest step with usage)")
    context_window: int | None = Field(None, description="Prompt tokens the model accepts; null when unknown")
    window_source: Literal["recorded", "model_table", "inferred"] | None = Field(
        None, description="recorded: the agent wrote it in its log (Codex); model_table: known model; inferred: a "
                          "Claude session that held more than 200k tokens ran with the 1M window")
    peak_context_tokens: int = Field(0, description="Largest prompt of a single step (input+cache_read+cache_write)")
    peak_turn: int | None = None
    peak_step: int | None = None
    peak_pct: float | None = Field(None, description="peak_context_tokens / context_window, in percent")
    last_context_tokens: int | None = Field(None, description="Prompt size of the latest step: the context now")
    last_pct: float | None = None


class CompactionUsage(_View):
    turn_index: int
    at: str | None = None
    trigger: str | None = None
    tokens_before: int | None = Field(None, description="Context before: the agent's own count (Claude preTokens) "
                                                        "or the last step's prompt before the compaction")
    tokens_after: int | None = Field(None, description="Prompt of the first step after the compaction")


class OutputInContext(_View):
    call_id: str
    tool: str
    turn_index: int
    step_index: int
    output_chars: int = Field(description="Length of the full output in characters (roughly 4 per token)")


class TurnUsage(_View):
    index: int
    started_at: str | None = None
    prompt: str = ""
    tokens: TokenTotals
    peak_context_tokens: int = 0


class StepUsage(_View):
    index: int
    model: str | None = None
    input: int = 0
    cache_read: int = 0
    cache_write: int = 0
    output: int = 0
    reasoning: int = 0
    context_tokens: int = 0


class SessionUsage(_Placed):
    session_id: str
    provider: str
    project_root: str | None = None
    title: str = ""
    ended_at: str | None = None
    tokens: TokenTotals
    peak_context_tokens: int = 0
    subagents: int = 0
    subagent_tokens: TokenTotals | None = None


class UsageReport(_Indexed):
    scope: Literal["session", "turn", "range"] = Field(
        description="session: one session (with per-turn rows); turn: one turn (with per-step rows); range: every "
                    "session matching project/provider/since/until (with per-session rows)")
    session_id: str | None = None
    turn_index: int | None = None
    tokens: TokenTotals = Field(description="The scope's own tokens (subagents not included)")
    subagents: int = Field(0, description="Subagent sessions (any depth) under the scope")
    subagent_tokens: TokenTotals | None = None
    tokens_with_subagents: TokenTotals | None = None
    by_model: list[ModelUsage] = Field([], description="Tokens per model, subagents included")
    context: ContextUse | None = Field(None, description="Context-window use (session and turn scope)")
    compactions: list[CompactionUsage] = []
    largest_outputs_in_context: list[OutputInContext] = Field(
        [], description="Biggest tool outputs since the last compaction (session scope) or of the turn")
    turns: list[TurnUsage] = Field([], description="Session scope: per-turn usage (paged)")
    steps: list[StepUsage] = Field([], description="Turn scope: per-step usage")
    sessions: list[SessionUsage] = Field([], description="Range scope: per-session usage, newest first (paged)")
    sessions_total: int | None = None
    next_cursor: str | None = None
    truncated: bool = Truncation
    note: str | None = None


class LogLocation(_View):
    """Where one agent's logs are looked for, and what moves them."""

    provider: str
    agent: str = Field(description="The agent's name for people")
    roots: list[str] = Field(description="Folders (or files) read")
    found: bool = Field(description="True when at least one of the roots exists")
    moved_by: list[str] = Field(description="Environment variables that move the roots, most specific first")
    flag: str | None = Field(None, description="The command-line flag that moves them")


class TurnStart(_View):
    """A turn as it begins: the prompt that started it."""

    index: int
    started_at: str | None = None
    origin: str = "user"
    prompt: str
    interrupted: bool = False
    status: TurnStatus = StatusField


class TurnStep(StepDetail):
    """A step with the turn it belongs to."""

    turn_index: int


class StepFeed(_View):
    """What a session recorded after a given step: the turns that began and the steps that landed since."""

    session: SessionSummary
    turns: list[TurnStart] = Field([], description="The turns of the steps returned and those that began after "
                                                   "the given turn, in order")
    steps: list[TurnStep] = Field([], description="Steps after the given step, in order")
    more: bool = Field(False, description="True when more steps are there than `limit`; ask again from the last one")
