"""``stable_timings``: fixed test-run durations in what the agent sees, the real output when off, grading unchanged."""

from __future__ import annotations

import pytest

from swe_dagger.envs.actions import SUBMIT_MARKER
from swe_dagger.envs.observations import fixed_durations
from swe_dagger.envs.swe_env import SWEEnv
from swe_dagger.envs.task import Task


@pytest.mark.parametrize(
    ("line", "fixed"),
    [
        ("2 passed in 0.29s", "2 passed in 0.00s"),
        ("1 passed, 1 warning in 0.05s", "1 passed, 1 warning in 0.00s"),
        ("3 failed, 531 passed, 8 warnings in 2.12s", "3 failed, 531 passed, 8 warnings in 0.00s"),
        ("1 failed, 128 passed, 1 skipped in 0.73s", "1 failed, 128 passed, 1 skipped in 0.00s"),
        ("no tests ran in 0.01s", "no tests ran in 0.00s"),
        ("1 error in 0.12s", "1 error in 0.00s"),
        ("========================= 2 errors in 0.31s ==========================",
         "========================= 2 errors in 0.00s =========================="),
        ("==== 1 failed, 2 passed, 1 xfailed, 3 deselected in 61.23s (0:01:01) ====",
         "==== 1 failed, 2 passed, 1 xfailed, 3 deselected in 0.00s ===="),
        ("=== no tests ran in 0.00s ===", "=== no tests ran in 0.00s ==="),
        ("1 warning in 0.01s\r", "1 warning in 0.00s\r"),
        ("Ran 3 tests in 0.001s", "Ran 3 tests in 0.00s"),
    ],
)
def test_summary_lines_get_the_fixed_duration(line: str, fixed: str) -> None:
    assert fixed_durations(line) == fixed
    assert fixed_durations(f"..F.   [100%]\n{line}\n<tail>") == f"..F.   [100%]\n{fixed}\n<tail>"


@pytest.mark.parametrize(
    "text",
    [
        'x = "2 passed in 0.5s"',  # source text that quotes a summary
        "    # 2 passed in 0.29s",
        "FAILED tests/test_ops.py::test_add - assert 2 passed in 0.5s",
        "real\t0m0.01s",
        "2 passed in 0.29 seconds",
        "took 2 passed in 0.29s",
        "Ran 3 tests in 0.001s (cached)",
        "<warning>The command timed out after 5 s and was killed.</warning>",
    ],
)
def test_other_lines_are_left_as_they_are(text: str) -> None:
    assert fixed_durations(text) == text


def bash(command: str) -> str:
    return f"Run it.\n```bash\n{command}\n```"


def _pytest_then_gold(tasks: list[Task], *, stable: bool) -> tuple[str, float, str | None]:
    """Echo a summary line, run the task's tests, apply the gold patch, submit: (the two observations, reward,
    resolution)."""
    task = tasks[0]
    with SWEEnv(tasks, max_turns=5, allow_unvalidated=True, command_timeout_s=30, stable_timings=stable) as env:
        env.reset(options={"task_id": task.instance_id})
        echoed, *_ = env.step(bash("echo '== 2 passed in 0.29s =='"))
        tested, *_ = env.step(bash("python -m pytest -q -p no:cacheprovider tests 2>&1 | tail -n 3"))
        env.step(bash(f"cat > /tmp/fix.patch <<'EOF'\n{task.patch}EOF\ngit apply /tmp/fix.patch"))
        _, reward, terminated, _, info = env.step(bash(f"echo {SUBMIT_MARKER}"))
    assert terminated and "error" not in info
    return echoed + tested, reward, info["resolution"]


def test_env_fixes_durations_only_when_asked_and_grades_the_same(calc_tasks: list[Task]) -> None:
    stable, stable_reward, stable_resolution = _pytest_then_gold(calc_tasks, stable=True)
    real, real_reward, real_resolution = _pytest_then_gold(calc_tasks, stable=False)
    assert "== 2 passed in 0.00s ==" in stable and "== 2 passed in 0.29s ==" in real  # off: the real output
    assert "4 passed in 0.00s\n" in stable
    assert fixed_durations(real) == stable  # the real output differs from the stable view by its durations alone
    assert (stable_reward, stable_resolution) == (real_reward, real_resolution) == (1.0, "FULL")
