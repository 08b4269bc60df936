"""Cost accounting per teacher: calls, labels, prompt/completion tokens, wall time, and $ where priced.

:class:`MeteredTeacher` times every ``label`` call of the teacher it wraps. Tokens come from the inner
teacher when it exposes a ``usage`` attribute with cumulative ``prompt_tokens`` and ``completion_tokens``
(the chat teacher does); teachers that call no model (oracle, replay) cost only time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import TracebackType

from swe_dagger.teachers.protocol import Teacher, TeacherState


@dataclass(frozen=True)
class TeacherUsage:
    """What a teacher has cost so far."""

    teacher_id: str = ""
    calls: int = 0
    """``label`` calls (batches)."""
    labels: int = 0
    """States labelled."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    """Wall time spent inside ``label``."""
    dollars: float | None = None
    """Only when a price is configured."""

    @property
    def seconds_per_label(self) -> float:
        return self.seconds / self.labels if self.labels else 0.0

    def summary(self) -> str:
        """One line for logs, e.g. ``oracle: 3 calls, 12 labels, 0.8 ms/label``."""
        parts = [f"{self.calls} calls", f"{self.labels} labels", f"{1000 * self.seconds_per_label:.1f} ms/label"]
        if self.prompt_tokens or self.completion_tokens:
            parts.append(f"{self.prompt_tokens}+{self.completion_tokens} tokens")
        if self.dollars is not None:
            parts.append(f"${self.dollars:.4f}")
        return f"{self.teacher_id}: " + ", ".join(parts)


def _tokens(teacher: object) -> tuple[int, int]:
    """Cumulative (prompt, completion) tokens a teacher reports through ``usage``; (0, 0) if it reports none."""
    usage = getattr(teacher, "usage", None)
    if usage is None:
        return 0, 0
    prompt, completion = getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)
    if not isinstance(prompt, int) or not isinstance(completion, int):
        raise TypeError(
            f"{type(teacher).__name__}.usage must have int prompt_tokens and completion_tokens, got {usage!r}"
        )
    return prompt, completion


class MeteredTeacher:
    """Wraps a teacher and accounts for what its labels cost."""

    def __init__(
        self,
        inner: Teacher,
        price_per_1k_prompt: float | None = None,
        price_per_1k_completion: float | None = None,
    ) -> None:
        self.inner = inner
        self.price_per_1k_prompt = price_per_1k_prompt
        self.price_per_1k_completion = price_per_1k_completion
        priced = price_per_1k_prompt is not None or price_per_1k_completion is not None
        self._usage = TeacherUsage(teacher_id=inner.teacher_id, dollars=0.0 if priced else None)
        self._closed = False

    @property
    def teacher_id(self) -> str:
        return self.inner.teacher_id

    @property
    def usage(self) -> TeacherUsage:
        return self._usage

    def label(self, states: Sequence[TeacherState]) -> list[str]:
        prompt0, completion0 = _tokens(self.inner)
        start = time.perf_counter()
        labels = self.inner.label(states)
        seconds = time.perf_counter() - start
        prompt1, completion1 = _tokens(self.inner)
        u = self._usage
        prompt, completion = prompt1 - prompt0, completion1 - completion0
        dollars = u.dollars
        if dollars is not None:
            dollars += prompt / 1000 * (self.price_per_1k_prompt or 0.0)
            dollars += completion / 1000 * (self.price_per_1k_completion or 0.0)
        self._usage = replace(
            u,
            calls=u.calls + 1,
            labels=u.labels + len(states),
            prompt_tokens=u.prompt_tokens + prompt,
            completion_tokens=u.completion_tokens + completion,
            seconds=u.seconds + seconds,
            dollars=dollars,
        )
        return labels

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.inner.close()

    def __enter__(self) -> MeteredTeacher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def usage_of(teacher: object) -> TeacherUsage | None:
    """The usage of the :class:`MeteredTeacher` in a stack of wrappers (``.inner`` links); None if unmetered."""
    seen = 0
    while teacher is not None and seen < 16:
        if isinstance(teacher, MeteredTeacher):
            return teacher.usage
        teacher, seen = getattr(teacher, "inner", None), seen + 1
    return None
