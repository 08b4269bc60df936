"""The mixing scheduler: β_i per iteration, and who acts at each turn of an episode.

β is the probability that the *teacher* acts. Ross et al. (2011) use β_i = p^i; "teacher first" is β_0 = 1 then
0. Every draw comes from a ``random.Random`` seeded from (run seed, iteration, episode), so an episode makes the
same choices whether it runs first time or after a resume, and whatever other episodes run beside it.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Literal, get_args

from swe_dagger.dagger.records import Author

ScheduleKind = Literal["constant", "linear", "exponential", "teacher_first"]
MixingMode = Literal["per_turn", "per_episode", "prefix"]


def beta_for(kind: ScheduleKind, iteration: int, *, beta: float, beta_end: float = 0.0, iterations: int = 1) -> float:
    """β for ``iteration`` (0-based) under schedule ``kind``; always in [0, 1]."""
    if iteration < 0:
        raise ValueError(f"iteration must be >= 0, got {iteration}")
    if not 0.0 <= beta <= 1.0 or not 0.0 <= beta_end <= 1.0:
        raise ValueError(f"beta and beta_end must lie in [0, 1], got {beta} and {beta_end}")
    if kind == "constant":
        return beta
    if kind == "exponential":
        return beta**iteration
    if kind == "teacher_first":
        return 1.0 if iteration == 0 else 0.0
    if kind == "linear":
        if iterations <= 1:
            return beta
        frac = min(iteration, iterations - 1) / (iterations - 1)
        return beta + (beta_end - beta) * frac
    raise ValueError(f"unknown schedule {kind!r}; use one of {', '.join(get_args(ScheduleKind))}")


def horizon_for(iteration: int, *, start: int, step: int, max_turns: int) -> int:
    """The curriculum's student horizon k_i = start + step * i (capped at ``max_turns``): in iteration i the student
    acts for the first k_i turns of each episode and the teacher finishes it, so the student first learns the early
    turns under the teacher's continuation and takes over more of the episode as it improves."""
    if iteration < 0 or start < 0 or step < 0:
        raise ValueError(f"iteration, start and step must be >= 0, got {iteration}, {start}, {step}")
    return min(start + step * iteration, max_turns)


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed from any tuple of ints/strings (stable across processes, unlike ``hash``)."""
    text = "/".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


@dataclass
class ActorChooser:
    """Decides, turn by turn, whether the student or the teacher acts in one episode.

    ``per_turn``: the teacher acts with probability β at each turn (the paper's mixture policy).
    ``per_episode``: one draw per episode; the teacher acts every turn with probability β.
    ``prefix``: the student acts for the first k turns, then the teacher; k ~ Binomial(max_turns, 1 - β), so the
    expected share of teacher turns is β as in the other modes, or k = ``horizon`` when a curriculum sets it.
    """

    mode: MixingMode
    beta: float
    max_turns: int
    seed: int
    horizon: int | None = None
    """``prefix`` mode with a curriculum: the student acts for exactly this many turns (see :func:`horizon_for`)."""

    def __post_init__(self) -> None:
        if self.mode not in ("per_turn", "per_episode", "prefix"):
            raise ValueError(f"unknown mixing mode {self.mode!r}; use per_turn, per_episode or prefix")
        self._rng = random.Random(self.seed)
        self._episode_teacher = self._rng.random() < self.beta
        self._switch = sum(self._rng.random() >= self.beta for _ in range(self.max_turns))
        if self.horizon is not None:
            if self.mode != "prefix" or self.horizon < 0:
                raise ValueError(f"a horizon ({self.horizon}) needs prefix mixing and >= 0 turns, got {self.mode!r}")
            self._switch = min(self.horizon, self.max_turns)

    @property
    def switch_turn(self) -> int:
        """``prefix`` mode: the first turn the teacher acts (``max_turns`` = never)."""
        return self._switch

    def actor(self, turn: int) -> Author:
        """Who acts at ``turn`` (a pure function of the seed and the turn: any call order gives the same answer)."""
        if self.mode == "per_episode":
            return "teacher" if self._episode_teacher else "student"
        if self.mode == "prefix":
            return "teacher" if turn >= self._switch else "student"
        return "teacher" if self._turn_rng(turn).random() < self.beta else "student"

    def _turn_rng(self, turn: int) -> random.Random:
        return random.Random(derive_seed(self.seed, "turn", turn))
