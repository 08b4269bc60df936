"""Mixing scheduler: β schedules on hand-computed values; mixing modes deterministic under a seed."""

from __future__ import annotations

import pytest

from swe_dagger.dagger.schedule import ActorChooser, beta_for, derive_seed


def test_beta_schedules() -> None:
    assert [beta_for("exponential", i, beta=0.5) for i in range(4)] == [1.0, 0.5, 0.25, 0.125]
    assert [beta_for("teacher_first", i, beta=0.3) for i in range(3)] == [1.0, 0.0, 0.0]
    assert [beta_for("constant", i, beta=0.3) for i in range(3)] == [0.3, 0.3, 0.3]
    lin = [beta_for("linear", i, beta=1.0, beta_end=0.0, iterations=5) for i in range(5)]
    assert lin == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    with pytest.raises(ValueError, match="cosine"):
        beta_for("cosine", 0, beta=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        beta_for("constant", 0, beta=1.5)


def test_per_turn_mixing_is_seeded_and_matches_beta() -> None:
    def draw() -> list[list[str]]:
        choosers = [ActorChooser("per_turn", 0.3, 10, derive_seed(0, 1, e)) for e in range(300)]
        return [[c.actor(t) for t in range(10)] for c in choosers]

    seqs, again = draw(), draw()
    assert seqs == again
    share = sum(a == "teacher" for s in seqs for a in s) / 3000
    assert 0.26 < share < 0.34
    # order of calls does not matter
    chooser = ActorChooser("per_turn", 0.3, 10, 99)
    forward = [chooser.actor(t) for t in range(10)]
    assert [chooser.actor(t) for t in reversed(range(10))] == forward[::-1]


def test_per_episode_and_prefix_modes() -> None:
    for ep in range(50):
        whole = ActorChooser("per_episode", 0.5, 6, derive_seed(3, ep))
        assert len({whole.actor(t) for t in range(6)}) == 1
        prefix = ActorChooser("prefix", 0.5, 6, derive_seed(3, ep))
        actors = [prefix.actor(t) for t in range(6)]
        k = prefix.switch_turn
        assert actors == ["student"] * k + ["teacher"] * (6 - k)
    assert all(ActorChooser("prefix", 1.0, 6, s).switch_turn == 0 for s in range(20))
    assert all(ActorChooser("prefix", 0.0, 6, s).switch_turn == 6 for s in range(20))
    assert {ActorChooser("per_turn", 0.0, 4, s).actor(t) for s in range(20) for t in range(4)} == {"student"}
    assert {ActorChooser("per_turn", 1.0, 4, s).actor(t) for s in range(20) for t in range(4)} == {"teacher"}


def test_derive_seed_is_stable() -> None:
    assert derive_seed(0, 1, 2) == derive_seed(0, 1, 2) != derive_seed(0, 2, 1)
    assert 0 <= derive_seed("a", 1) < 2**63
