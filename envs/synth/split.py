"""Train/test split by function: every mutant of one function lands on the same side, so a test task never
shares its buggy function with a training task."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence

from swe_dagger.envs.task import Task


def function_of(task: Task) -> str:
    """The split unit: ``repo`` + the mutated function (``extra["function"]``, set by the synthesizer)."""
    function = task.extra.get("function")
    if not function:
        raise ValueError(f"task {task.instance_id}: no extra['function'] (not a synthesized task?), cannot split")
    return f"{task.repo}::{function}"


def split_by_function(
    tasks: Sequence[Task], *, test_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Task], list[Task]]:
    """``(train, test)``: a seeded ``test_fraction`` of the functions (rounded up when any) goes to test."""
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction must be in [0, 1], got {test_fraction}")
    functions = sorted({function_of(t) for t in tasks})
    rng = random.Random(int.from_bytes(hashlib.sha256(f"split:{seed}".encode()).digest()[:8], "big"))
    rng.shuffle(functions)
    n_test = math.ceil(test_fraction * len(functions)) if test_fraction > 0 else 0
    test_functions = set(functions[:n_test])
    train = [t for t in tasks if function_of(t) not in test_functions]
    test = [t for t in tasks if function_of(t) in test_functions]
    return train, test
