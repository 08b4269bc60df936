"""A shaped reward from the grader's per-test results: partial credit for an unresolved episode.

``shaped = (FAIL_TO_PASS tests passing) / |FAIL_TO_PASS| - p2p_penalty * (PASS_TO_PASS tests failing) / |PASS_TO_PASS|``

It reads only what grading produced: the tests the grader's report lists as failing (``f2p_failure`` and
``p2p_failure`` in the env's ``info``, recorded as ``Trajectory.failed_tests``), counted against the task's own
test lists. Grading ran in a fresh workspace with the agent's changes to tests, ``conftest.py`` and the other
protected paths left out (:mod:`~swe_dagger.envs.evaluation`), so nothing the agent touched reaches this number.
A test that is not listed as failing counts as passing, exactly as swebench's verdict counts it, so the shaped
reward is 1.0 iff the verdict is ``FULL`` (for ``p2p_penalty > 0``), and lies in ``[-p2p_penalty, 1]``.

It is a separate, named training signal: the env's reward, the verdict and every resolve rate stay binary.
"""

from __future__ import annotations

from collections.abc import Sequence

from swe_dagger.envs.task import Task


def shaped_reward(task: Task, failed_tests: Sequence[str], *, p2p_penalty: float = 1.0) -> float:
    """The shaped reward of a graded submission whose failing listed tests are ``failed_tests``.

    Raises ``ValueError`` when ``failed_tests`` names a test the task does not list (the record does not belong to
    this task), when the task lists no FAIL_TO_PASS test, or for a negative ``p2p_penalty``.
    """
    if p2p_penalty < 0:
        raise ValueError(f"p2p_penalty must be >= 0, got {p2p_penalty}")
    if not task.fail_to_pass:
        raise ValueError(f"task {task.instance_id}: no FAIL_TO_PASS tests, so there is no pass rate to shape")
    f2p, p2p = set(task.fail_to_pass), set(task.pass_to_pass)
    failed = set(failed_tests)
    foreign = sorted(failed - f2p - p2p)
    if foreign:
        raise ValueError(f"task {task.instance_id}: failed test {foreign[0]!r} is in neither FAIL_TO_PASS nor "
                         "PASS_TO_PASS (a grading record of another task?)")
    f2p_pass_rate = len(f2p - failed) / len(f2p)
    p2p_fail_rate = len(p2p & failed) / len(p2p) if p2p else 0.0
    return f2p_pass_rate - p2p_penalty * p2p_fail_rate
