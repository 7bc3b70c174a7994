"""The builder's working records: plain dataclasses, picklable (they are part of the resume state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ToolRec:
    call_id: str
    name: str
    kind: str
    args: Any
    started_at: str | None
    ended_at: str | None = None
    output: str = ""
    status: str = "missing"  # ok | error | missing | in_progress
    error_kind: str | None = None
    exit_code: int | None = None
    error_message: str | None = None
    child: str | None = None
    out_off: int = -1  # byte offset of the record holding the result
    has_result: bool = False


@dataclass(slots=True)
class StepRec:
    turn_index: int
    index: int
    key: str
    started_at: str | None
    ended_at: str | None = None
    model: str | None = None
    reasoning: list[str] = field(default_factory=list)
    message: list[str] = field(default_factory=list)
    tools: list[ToolRec] = field(default_factory=list)
    usage: tuple[int, int, int, int, int] | None = None  # input, cache_read, cache_write, output, reasoning
    failed: bool = False
    error: str | None = None
    in_progress: bool = False

    @property
    def reasoning_text(self) -> str | None:
        return "\n\n".join(self.reasoning) if self.reasoning else None

    @property
    def message_text(self) -> str | None:
        return "\n\n".join(self.message) if self.message else None


@dataclass(slots=True)
class TurnRec:
    index: int
    started_at: str | None
    text: str
    origin: str = "user"
    slash: str | None = None
    ended_at: str | None = None
    interrupted: bool = False
    off: int = -1
    n_steps: int = 0  # steps opened so far = index of the next step
    end_marked: bool = False  # the format marks turn ends: without the mark the turn is incomplete
    ended: bool = False  # the agent said it finished (TurnEnd)
    end_answer: str | None = None  # the final answer the end mark carried
    phase_answer: str | None = None  # the last message written as phase `final_answer`
    phased: bool = False  # messages of this turn carry phases (then only `final_answer` ones are answers)
    last_answer: str | None = None  # message of the last closed step, when that step was only a message
    last_clean: bool = False  # the last closed step was a message with no calls and no failure
    last_failed: bool = False  # the last step was a failed model request (an API error instead of an answer)
    n_interjections: int = 0

    @property
    def status(self) -> str:
        """completed | interrupted | incomplete (DESIGN §3 "Turn state")."""
        if self.interrupted:
            return "interrupted"
        if self.last_failed:  # it ended on an error instead of an answer: as good as a crash
            return "incomplete"
        if self.ended or (not self.end_marked and self.last_clean):
            return "completed"
        return "incomplete"

    @property
    def final_answer(self) -> str | None:
        """The turn's final answer only: never a mid-turn commentary."""
        status = self.status
        if status == "interrupted":
            return self.phase_answer
        if status != "completed":
            return None
        if self.end_answer:
            return self.end_answer
        if self.phase_answer:
            return self.phase_answer
        return None if self.phased else self.last_answer


@dataclass(slots=True)
class InterjectionRec:
    """A message typed while the agent worked, after step `after_step` of the turn (-1: before its first)."""

    turn_index: int
    seq: int
    at: str | None
    after_step: int
    text: str


@dataclass(slots=True)
class CompactRec:
    turn_index: int
    at: str | None
    trigger: str | None
    pre_tokens: int | None


@dataclass(slots=True)
class SessionMetaRec:
    session_id: str
    provider: str = ""
    project_root: str | None = None
    git_branch: str | None = None
    title: str = ""
    started_at: str | None = None
    ended_at: str | None = None
    models: list[str] = field(default_factory=list)
    cli_version: str | None = None
    parent_session_id: str | None = None
    agent_name: str | None = None
    source_files: list[str] = field(default_factory=list)
    context_window: int | None = None
    current_model: str | None = None
