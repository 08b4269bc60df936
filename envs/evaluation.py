"""Run a task's tests in a sandbox the way the SWE-bench harness does, and grade the result.

The harness starts from a clean checkout of the base commit, applies the model's patch, resets the files
``test_patch`` touches to the base commit (so an agent's edits to those tests don't count), applies ``test_patch``,
runs the test command and parses its log. :func:`run_tests` does that inside any
:class:`~swe_dagger.sandbox.protocol.Sandbox`, with one protection more: the patch first goes through
:func:`~swe_dagger.envs.protected.protect`, which drops the agent's changes to the task's test files, every
``conftest.py``, pytest's config files, ``sitecustomize``/``*.pth`` files, package metadata, byte code and modules
that would shadow pytest (the full list is in :mod:`~swe_dagger.envs.protected`). Those files are therefore exactly
the base commit's when the tests run, and ``PYTEST_ADDOPTS``/``PYTEST_PLUGINS`` are unset, so only the base's own
conftest files, config and installed plugins register pytest plugins (the agent's source changes still run when the
tests import them: that is the fix under test). :attr:`Evaluation.tampered` lists the protected paths the patch
touched.

Where the tests run matters as much as what is applied. :func:`evaluate_fresh` grades in a workspace opened for the
purpose (what the env does on submit): on the Docker backend the agent runs as root and can write outside the
repository (site-packages, ``/usr/local/bin``, ``~/.local``), which no reset undoes, so only a fresh container from
the same image is clean, as in the harness. :func:`evaluate_patch` grades in a given sandbox after ``reset()``, between
``snapshot()`` and ``restore()``: right for trusted patches (validation's gold and empty runs), not for a workspace an
agent has used. Starting from the base (not from the live workspace) makes the verdict depend only on the patch: an
agent that commits, moves HEAD or rewrites git state cannot change what is graded.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from swe_dagger.envs.grading import GradeReport, grade_log, grading_command, patch_files
from swe_dagger.envs.protected import protect
from swe_dagger.envs.task import Task
from swe_dagger.sandbox.protocol import Sandbox

_PATCH_FILE = ".swe_dagger_eval.patch"
_TEST_PATCH_FILE = ".swe_dagger_eval_tests.patch"
_LOG_FILE = ".swe_dagger_eval.log"
_PATCH_FAILED = "SWE_DAGGER_PATCH_DID_NOT_APPLY"
_TEST_PATCH_FAILED = "SWE_DAGGER_TEST_PATCH_DID_NOT_APPLY"
_EXIT = "SWE_DAGGER_TEST_EXIT="


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
    tampered: tuple[str, ...] = ()
    """Protected paths the patch touched, left out of grading (sorted; see :mod:`~swe_dagger.envs.protected`)."""

    @property
    def resolution(self) -> str:
        return self.report.resolution


def eval_script(task: Task, command: str, *, with_patch: bool) -> str:
    """The harness's eval steps as one bash script (one sandbox exec instead of four).

    Apply the patch under evaluation, reset the files ``test_patch`` touches to HEAD, apply ``test_patch``, run
    ``command`` with its full log in a file (the exec output cap could cut test lines out of the middle), and
    print the command's exit status after a marker. The environment variables through which pytest loads plugins
    are unset first (the sandbox sets neither; this keeps it so whatever the image's environment holds).
    """
    lines = []
    if with_patch:
        lines.append(f"git apply -v --binary {_PATCH_FILE} || {{ echo {_PATCH_FAILED}; exit 1; }}")
    for q in map(shlex.quote, patch_files(task.test_patch)):  # the harness's `git checkout <base> <test files>`
        lines.append(f"if git cat-file -e HEAD:{q} 2>/dev/null; then git checkout -q HEAD -- {q}; "
                     f"else rm -rf -- {q}; fi")
    if task.test_patch.strip():
        lines.append(f"git apply -v --binary {_TEST_PATCH_FILE} || {{ echo {_TEST_PATCH_FAILED}; exit 1; }}")
    lines.append(f"rm -f {_PATCH_FILE} {_TEST_PATCH_FILE}")
    lines.append("unset PYTEST_ADDOPTS PYTEST_PLUGINS")
    lines.append(f"( {command}\n) > {_LOG_FILE} 2>&1")
    lines.append(f"echo {_EXIT}$?")
    return "\n".join(lines)


def _exit_status(output: str) -> int | None:
    found = [line[len(_EXIT):] for line in output.splitlines() if line.startswith(_EXIT)]
    return int(found[-1]) if found and found[-1].strip().isdigit() else None


def run_tests(sandbox: Sandbox, task: Task, timeout_s: float, patch: str = "") -> Evaluation:
    """Apply ``patch`` less its protected files to the workspace as it is, reset test files, apply ``test_patch``,
    run, grade.

    Modifies the workspace (see :func:`evaluate_fresh` and :func:`evaluate_patch` for the harness flow).
    """
    command = grading_command(task)
    try:
        protection = protect(task, patch)
    except ValueError as exc:
        raise GradingError(f"task {task.instance_id}: {exc}") from exc
    patch = protection.patch
    if patch.strip():
        sandbox.write_file(_PATCH_FILE, patch)
    if task.test_patch.strip():
        sandbox.write_file(_TEST_PATCH_FILE, task.test_patch)
    result = sandbox.exec(eval_script(task, command, with_patch=bool(patch.strip())), timeout=timeout_s)
    if _PATCH_FAILED in result.output:
        raise GradingError(f"task {task.instance_id}: the patch under evaluation does not apply: "
                           f"{result.output[-2000:]}")
    if _TEST_PATCH_FAILED in result.output:
        raise GradingError(f"task {task.instance_id}: test_patch does not apply: {result.output[-2000:]}")
    exit_code = -1 if result.timed_out else _exit_status(result.output)
    if exit_code is None:
        raise GradingError(f"task {task.instance_id}: the test run printed no exit status: {result.output[-2000:]}")
    log = sandbox.read_file(_LOG_FILE)
    if exit_code in (126, 127):
        raise GradingError(f"task {task.instance_id}: test command {command!r} could not run (exit {exit_code}): "
                           f"{log[-2000:]}")
    status, report = grade_log(log, task)
    return Evaluation(report=report, test_status=status, log=log, exit_code=exit_code, timed_out=result.timed_out,
                      tampered=protection.tampered)


def evaluate_fresh(open_workspace: Callable[[], Sandbox], task: Task, patch: str, timeout_s: float) -> Evaluation:
    """Grade ``patch`` (a diff against the base commit) in a workspace ``open_workspace`` creates, then closed.

    The way to grade an agent's work: nothing it did outside its diff (a file in site-packages on Docker, an
    ignored file a reset keeps) reaches the test run.
    """
    with open_workspace() as box:
        return run_tests(box, task, timeout_s, patch)


def evaluate_patch(sandbox: Sandbox, task: Task, patch: str, timeout_s: float) -> Evaluation:
    """Grade ``patch`` (a diff against the base commit) in ``sandbox`` after a reset; the workspace is restored after.

    For trusted patches: a reset leaves anything outside the repository as it was (see the module docstring).
    """
    snapshot = sandbox.snapshot()
    try:
        sandbox.reset()
        return run_tests(sandbox, task, timeout_s, patch)
    finally:
        sandbox.restore(snapshot)
