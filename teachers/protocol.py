"""The teacher seam: given states, say what to do next ("what would you do here?")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from swe_dagger.agents.protocol import Conversation
from swe_dagger.envs.task import Task


@dataclass(frozen=True)
class TeacherState:
    """What a teacher sees: the task (privileged fields included), the conversation so far, and the workspace.

    ``workspace_diff`` is the sandbox's ``diff()`` at this state (changes vs the base commit), so a
    privileged teacher can act correctly from any state a student created, without a live sandbox
    handle (states stay serialisable for caches and remote workers).
    """

    task: Task
    messages: Conversation
    workspace_diff: str


class TeacherError(RuntimeError):
    """A teacher could not label every state of a batch (endpoint down after retries, no valid action after
    retries). ``labels`` holds, per state of the batch in order, the label it did get (``None`` where it failed;
    empty when it got none), so a label cache keeps what was already paid for."""

    def __init__(self, message: str, labels: Sequence[str | None] = ()) -> None:
        super().__init__(message)
        self.labels = tuple(labels)


@runtime_checkable
class Teacher(Protocol):
    """Returns one action text (a THOUGHT and one ```bash block) per state, in order."""

    @property
    def teacher_id(self) -> str:
        """Stable identity used as the label-cache key (e.g. ``"oracle"`` or ``"chat:gpt-x@url"``)."""
        ...

    def label(self, states: Sequence[TeacherState]) -> list[str]: ...

    def close(self) -> None: ...
