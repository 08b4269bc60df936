"""The teacher budget (``dagger.teacher_budget``): how many teacher labels each iteration may spend.

Labels (teacher calls on training states; a teacher-acted turn is one, its action being the label) are counted
from the records of the iterations before, so a resumed run plans exactly as the first one did. Iteration ``i`` of
``n`` may spend ``ceil(left / (n - i))``: an even share of what is left (what an iteration did not use goes to the
ones after). Its β is capped at the share over the states it expects (``labels_per_iteration``, else episodes ×
max turns), so teacher-acted turns cannot take the whole share; once the budget is spent β is 0, nothing is labeled,
and training goes on over the labels already aggregated. Held-out labeling (agreement) is measurement, not counted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IterationBudget:
    """What one iteration's collection may spend."""

    calls: int | None
    """Teacher labels it may use (``None`` = no budget)."""
    beta: float
    """β after the cap."""
    labels: int | None
    """Labels to collect and keep (``labels_per_iteration`` capped at ``calls``)."""


def plan_iteration(*, budget: int | None, spent: int, iteration: int, iterations: int, beta: float,
                   labels_per_iteration: int | None, episodes: int, max_turns: int) -> IterationBudget:
    """Iteration ``iteration``'s share of ``budget`` after ``spent`` labels (see the module docstring)."""
    if budget is None:
        return IterationBudget(None, beta, labels_per_iteration)
    if not 0 <= iteration < iterations:
        raise ValueError(f"iteration {iteration} is outside 0..{iterations - 1}")
    left = max(budget - spent, 0)
    share = -(-left // (iterations - iteration))
    states = labels_per_iteration if labels_per_iteration is not None else episodes * max_turns
    capped = min(beta, share / states) if states else 0.0
    labels = None if labels_per_iteration is None else min(labels_per_iteration, share)
    return IterationBudget(share, capped, labels)
