"""Selective intervention (``dagger.relabel``): which student-acted states the teacher labels.

``all`` labels every one (classic DAgger). ``failure`` asks the teacher only at a state whose last observation shows
a failed command (a non-zero ``<returncode>``): elsewhere no call is made. ``disagreement`` asks the teacher and
keeps its label only where the student's command differs from it (normalised command equality, the cheap check;
agreeing states add nothing new to learn). Teacher-acted states are always labeled: their action is the label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from swe_dagger.dagger.records import Turn

Relabel = Literal["all", "disagreement", "failure"]
RELABEL_MODES: tuple[str, ...] = ("all", "disagreement", "failure")

_RETURNCODE = re.compile(r"<returncode>(-?\d+)</returncode>")


def failed_command(observation: str) -> bool:
    """Whether ``observation`` reports a command that exited non-zero (or timed out: the env reports -1)."""
    match = _RETURNCODE.search(observation)
    return match is not None and int(match.group(1)) != 0


def asks_teacher(mode: str, turns: Sequence[Turn]) -> bool:
    """Whether a student-acted state after ``turns`` goes to the teacher under ``mode``."""
    if mode not in RELABEL_MODES:
        raise ValueError(f"unknown relabel mode {mode!r}; use one of {', '.join(RELABEL_MODES)}")
    if mode == "failure":
        return bool(turns) and failed_command(turns[-1].observation)
    return True
