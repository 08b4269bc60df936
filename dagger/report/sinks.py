"""One metrics path with pluggable sinks: the loop reports to a :class:`Reporter`, which hands every value to each
:class:`MetricsSink` (TensorBoard, Weights & Biases). A reporter without sinks does nothing, so the loop calls it
unconditionally.

Each value belongs to an *axis*, the counter it is plotted against:

- ``iteration``: the DAgger iteration (per-iteration metrics, ``rollout/…``, ``eval/…``, ``train/…``),
- ``sft_step``: the SFT optimizer step, counted over the whole run (``train_step/sft_loss``),
- ``grpo_step``: the GRPO phase's step (``grpo/…``),
- ``grpo_update``: the GRPO optimizer step, counted over the whole run (``grpo_update/loss``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

Axis = Literal["iteration", "sft_step", "grpo_step", "grpo_update"]
AXES: tuple[Axis, ...] = ("iteration", "sft_step", "grpo_step", "grpo_update")

HParam = bool | int | float | str
"""A hyperparameter value as the hparams plugin and W&B's config take it."""


class MetricsSink(Protocol):
    """Somewhere metrics go. ``close`` is safe twice."""

    def scalars(self, values: Mapping[str, float], *, axis: Axis, step: int) -> None:
        """Record ``values`` (tag → number) at ``step`` of ``axis``."""

    def text(self, tag: str, markdown: str, *, axis: Axis, step: int) -> None:
        """Record a short markdown text (e.g. a few held-out episodes) at ``step`` of ``axis``."""

    def hparams(self, params: Mapping[str, HParam], final: Mapping[str, float]) -> None:
        """Record the run's flattened config with its final metrics (once, at the end of the run)."""

    def flush(self) -> None: ...

    def close(self) -> None: ...


class Reporter:
    """Fans every call out to its sinks, in order."""

    def __init__(self, sinks: Sequence[MetricsSink] = ()) -> None:
        self.sinks = list(sinks)

    def scalars(self, values: Mapping[str, float], *, axis: Axis, step: int) -> None:
        if axis not in AXES:
            raise ValueError(f"unknown metrics axis {axis!r}; axes: {', '.join(AXES)}")
        for sink in self.sinks:
            sink.scalars(values, axis=axis, step=step)

    def text(self, tag: str, markdown: str, *, axis: Axis, step: int) -> None:
        for sink in self.sinks:
            sink.text(tag, markdown, axis=axis, step=step)

    def hparams(self, params: Mapping[str, HParam], final: Mapping[str, float]) -> None:
        for sink in self.sinks:
            sink.hparams(params, final)

    def flush(self) -> None:
        for sink in self.sinks:
            sink.flush()

    def close(self) -> None:
        """Close every sink (each even if one before it fails); safe twice."""
        sinks, self.sinks = self.sinks, []
        errors: list[BaseException] = []
        for sink in sinks:
            try:
                sink.close()
            except Exception as exc:  # close the others, then report the first failure
                errors.append(exc)
        if errors:
            raise errors[0]
