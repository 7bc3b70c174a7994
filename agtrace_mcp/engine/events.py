"""Normalised events: what a provider emits and the session builder consumes.

Every event names the session it belongs to (`sid`), because one file can feed several sessions (Claude
1.x inline sidechains become subagent sessions of their own). Timestamps are canonical strings
(`timeutil.norm_ts`). These are plain slotted dataclasses: millions are created during a cold index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Meta:
    """Session metadata; a None field leaves what is known unchanged."""

    sid: str
    provider: str | None = None
    ts: str | None = None
    cwd: str | None = None
    git_branch: str | None = None
    cli_version: str | None = None
    parent: str | None = None
    agent_name: str | None = None
    model: str | None = None  # the current model, for steps whose record does not name one
    title: str | None = None  # an explicit title (otherwise the first real prompt)
    source_file: str | None = None
    context_window: int | None = None


@dataclass(slots=True)
class Prompt:
    """A real human prompt (or slash command, or compaction continuation): starts a new turn."""

    sid: str
    ts: str | None
    text: str
    origin: str = "user"  # user | slash_command | compaction | system
    slash: str | None = None
    off: int = -1  # byte offset of the record in its file
    # The format marks the end of every turn explicitly (Codex `task_complete`): without that mark the turn is
    # not completed, whatever its last step looks like.
    end_marked: bool = False


@dataclass(slots=True)
class Interrupt:
    """The user interrupted the current turn (never starts one)."""

    sid: str
    ts: str | None


@dataclass(slots=True)
class Interjection:
    """A message the user typed while the agent worked: part of the running turn, never a new one."""

    sid: str
    ts: str | None
    text: str


@dataclass(slots=True)
class TurnEnd:
    """The agent finished the current turn (Codex `task_complete`, Copilot `session.task_complete`, Claude
    `turn_duration`); `final_answer` is the answer it ended with, when the format records it."""

    sid: str
    ts: str | None
    final_answer: str | None = None


@dataclass(slots=True)
class StepBegin:
    """A model response begins (or continues, when `key` equals the open step's key)."""

    sid: str
    key: str
    ts: str | None
    model: str | None = None


@dataclass(slots=True)
class Text:
    """Assistant text (`kind="message"`) or reasoning (`kind="reasoning"`) of the open step."""

    sid: str
    kind: str
    text: str
    ts: str | None = None
    phase: str | None = None  # Codex: "commentary" (mid-turn update) or "final_answer"


@dataclass(slots=True)
class Call:
    """A tool call the model emitted in the open step."""

    sid: str
    call_id: str
    name: str
    args: Any
    ts: str | None
    kind: str | None = None  # provider override of engine.tools.tool_kind


@dataclass(slots=True)
class Result:
    """The result of a tool call, paired by call id across the whole session.

    `is_error` is the provider's explicit flag (None when the format has none); `exit_code` is a process
    exit code the provider found in metadata or output text; `hint` names a more specific failure kind the
    provider recognised (interrupted, denied, timeout).
    """

    sid: str
    call_id: str
    ts: str | None
    output: str
    is_error: bool | None = None
    exit_code: int | None = None
    hint: str | None = None
    message: str | None = None
    child: str | None = None
    off: int = -1


@dataclass(slots=True)
class StepUsage:
    """Token usage of the step with `key`; a later usage for the same key replaces the earlier one."""

    sid: str
    key: str
    input: int
    cache_read: int
    cache_write: int
    output: int
    reasoning: int


@dataclass(slots=True)
class StepFailed:
    """The open model response failed (API error shown instead of an answer)."""

    sid: str
    ts: str | None
    message: str


@dataclass(slots=True)
class Compact:
    """The context was compacted before the next turn."""

    sid: str
    ts: str | None
    trigger: str | None = None
    pre_tokens: int | None = None


@dataclass(slots=True)
class Link:
    """The tool call `call_id` spawned the subagent session `child`."""

    sid: str
    call_id: str
    child: str
