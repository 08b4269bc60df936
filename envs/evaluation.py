"""Run a task's tests in a sandbox the way the SWE-bench harness does, and grade the result.

The harness starts from a clean checkout of the base commit, applies the model's patch, resets the files
``test_patch`` touches to the base commit (so an agent's edits to those tests don't count), applies ``test_patch``,
runs the test command and parses its log. :func:`evaluate_patch` does exactly that inside any
:class:`~swe_dagger.sandbox.protocol.Sandbox`, between ``snapshot()`` and ``restore()`` so the workspace it was
given comes back untouched. Starting from ``reset()`` (not from the live workspace) makes the verdict depend only on
the patch: an agent that commits, moves HEAD or rewrites git state cannot change what is graded.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from swe_dagger.envs.grading import GradeReport, grade_log, grading_command, patch_files
from swe_dagger.envs.task import Task
from swe_dagger.sandbox.protocol import Sandbox

_PATCH_FILE = ".swe_dagger_eval.patch"
_LOG_FILE = ".swe_dagger_eval.log"


class GradingError(RuntimeError):
    """Our grading machinery failed (test_patch does not apply, test runner missing): not the agent's fault."""


@dataclass(frozen=True)
class Evaluation:
    """What one test run gave: the parsed statuses, the SWE-bench verdict, and the raw log."""

    report: GradeReport
    test_status: dict[str, str]
    log: str
    exit_code: int
    timed_out: bool
    """The test command hit its timeout; like the harness (``TESTS_TIMEOUT``) this grades as not resolved."""

    @property
    def resolution(self) -> str:
        return self.report.resolution


def _reset_test_files(sandbox: Sandbox, task: Task) -> None:
    files = patch_files(task.test_patch)
    if not files:
        return
    script = "; ".join(
        f"if git cat-file -e HEAD:{q} 2>/dev/null; then git checkout -q HEAD -- {q}; else rm -rf -- {q}; fi"
        for q in map(shlex.quote, files)
    )
    result = sandbox.exec(script)
    if result.exit_code != 0:
        raise GradingError(f"task {task.instance_id}: resetting test files failed: {result.output[-2000:]}")


def apply_patch(sandbox: Sandbox, patch: str, what: str) -> None:
    """``git apply`` a patch in the repo root (via a file: patches can exceed a command line's length)."""
    if not patch.strip():
        return
    sandbox.write_file(_PATCH_FILE, patch)
    result = sandbox.exec(f"git apply -v --binary {_PATCH_FILE}; code=$?; rm -f {_PATCH_FILE}; exit $code")
    if result.exit_code != 0:
        raise GradingError(f"{what} does not apply: {result.output[-2000:]}")


def _last_int(output: str) -> int | None:
    lines = output.strip().splitlines()
    return int(lines[-1]) if lines and lines[-1].strip().isdigit() else None


def run_tests(sandbox: Sandbox, task: Task, timeout_s: float) -> Evaluation:
    """Reset test files, apply ``test_patch`` to the workspace as it is, run the tests, grade. Modifies it."""
    command = grading_command(task)
    _reset_test_files(sandbox, task)
    apply_patch(sandbox, task.test_patch, f"task {task.instance_id}: test_patch")
    # The full log goes to a file: the exec output cap (head + tail) could cut test lines out of the middle.
    result = sandbox.exec(f"( {command} ) > {_LOG_FILE} 2>&1; echo $?", timeout=timeout_s)
    log = sandbox.read_file(_LOG_FILE)
    exit_code = -1 if result.timed_out else _last_int(result.output)
    if exit_code is None:
        raise GradingError(f"task {task.instance_id}: the test run printed no exit status: {result.output[-2000:]}")
    if exit_code in (126, 127):
        raise GradingError(f"task {task.instance_id}: test command {command!r} could not run (exit {exit_code}): "
                           f"{log[-2000:]}")
    status, report = grade_log(log, task)
    return Evaluation(report=report, test_status=status, log=log, exit_code=exit_code, timed_out=result.timed_out)


def evaluate_patch(sandbox: Sandbox, task: Task, patch: str, timeout_s: float) -> Evaluation:
    """Grade ``patch`` (a diff against the base commit) as the harness would; the workspace is restored after."""
    snapshot = sandbox.snapshot()
    try:
        sandbox.reset()
        apply_patch(sandbox, patch, f"task {task.instance_id}: the patch under evaluation")
        return run_tests(sandbox, task, timeout_s)
    finally:
        sandbox.restore(snapshot)
