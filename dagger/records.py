"""Records of what happened in episodes. SFT targets and RL masks are derived from these, never ad hoc."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from swe_dagger.agents.protocol import Conversation

Author = Literal["student", "teacher"]
Unlabeled = Literal["agreed", "no_failure", "budget"]


@dataclass(frozen=True)
class Turn:
    """One step of an episode: who acted, what ran, and what the teacher would have done at that state."""

    index: int
    author: Author
    action: str
    """The reply text that was executed (the actor's)."""
    teacher_label: str | None
    """The teacher's reply at this state; equals ``action`` when the teacher acted. ``None`` = not labeled."""
    observation: str
    """What the env returned after ``action``."""
    format_error: bool = False
    token_ids: tuple[int, ...] | None = None
    """The student's generated token ids for ``action`` (student turns, when the backend gives them)."""
    logprobs: tuple[float, ...] | None = None
    """Rollout-engine logprobs of ``token_ids``."""
    model_version: str = ""
    """Checkpoint id of the student weights that generated ``action`` (student turns)."""
    teacher_id: str | None = None
    """The teacher that gave ``teacher_label`` (a router names the route's teacher); ``None`` = unlabeled/older."""
    unlabeled: Unlabeled | None = None
    """Why a student state of a labeling collection has no label: ``agreed`` (``relabel: disagreement``: the
    teacher was asked and the student's command equals its), ``no_failure`` (``relabel: failure``: the last command
    did not fail; not asked), ``budget`` (the teacher budget was spent; not asked)."""


@dataclass(frozen=True)
class Trajectory:
    """One episode. ``prefix`` is the conversation before the first turn (system + task prompt)."""

    task_id: str
    prefix: Conversation
    turns: tuple[Turn, ...]
    reward: float
    resolution: str | None
    """SWE-bench verdict ``FULL`` / ``PARTIAL`` / ``NO``; ``None`` if the episode never submitted (SWE-bench eval
    grades the diff at the turn limit as a submission, like SWE-agent: ``truncated`` says so)."""
    terminated: bool
    truncated: bool
    error: str | None = None
    """Infrastructure failure (grading crash, server down); such episodes are not scored."""
    iteration: int = 0
    beta: float = 0.0
    seed: int | None = None
    episode: int = -1
    """Index of the episode within its iteration's collection (or evaluation); -1 when not part of a run."""
    teacher_calls: int = 0
    """Teacher label calls made for this episode (teacher-acted turns count once: their action is the label)."""
    timings: dict[str, float] = field(default_factory=dict, compare=False, hash=False)
    patch: str | None = None
    """The final workspace diff (the graded patch on submit; the diff at the cut on truncation); ``None`` = not
    recorded (older runs)."""
    failed_tests: tuple[str, ...] | None = None
    """FAIL_TO_PASS and PASS_TO_PASS tests that failed on the graded patch; ``None`` = not graded or not recorded."""
    teacher_id: str | None = None
    """The teacher that labeled (or acted in) this episode (``Teacher.teacher_id``); ``None`` = no teacher call."""
    teacher_model: str | None = None
    """The model behind that teacher when it names one (chat teachers); ``None`` for the oracle."""
    student_version: str = ""
    """The student checkpoint the episode's collection ran with (also on teacher-only episodes)."""
    tampered: tuple[str, ...] = ()
    """Protected paths the submitted diff touched (tests, conftest.py, ...; see ``envs.protected``), left out of
    grading: a count of reward-hacking attempts."""
