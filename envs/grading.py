"""Grading as pure functions over test logs, using swebench's own parsers and rules.

``parse_test_log`` maps a test log to ``{test id: status}`` with the parser swebench registers for the repo
(``MAP_REPO_TO_PARSER``; pytest's otherwise). ``grade`` turns statuses + FAIL_TO_PASS/PASS_TO_PASS into the
SWE-bench verdict with ``swebench.harness.grading``'s functions, so our verdicts are the harness's by construction.
``grading_command`` derives the command the harness would run for a task.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from swebench.harness.constants import (
    FAIL_ONLY_REPOS,
    FAIL_TO_PASS,
    KEY_INSTANCE_ID,
    MAP_REPO_VERSION_TO_SPECS,
    PASS_TO_PASS,
    EvalType,
    ResolvedStatus,
)
from swebench.harness.grading import get_eval_tests_report, get_resolution_status
from swebench.harness.log_parsers import MAP_REPO_TO_PARSER
from swebench.harness.log_parsers.python import parse_log_pytest
from swebench.harness.test_spec.python import get_test_directives
from swebench.harness.test_spec.test_spec import TestSpec

from swe_dagger.envs.task import Task

DEFAULT_PYTEST = "python3 -m pytest -rA -p no:cacheprovider"
"""Test runner for repos swebench has no spec for (synthesized and local tasks)."""


@dataclass(frozen=True)
class GradeReport:
    """The verdict on one evaluation: SWE-bench resolution plus which listed tests passed or failed."""

    resolution: str
    """``FULL`` / ``PARTIAL`` / ``NO`` (the names of swebench's ``ResolvedStatus``)."""
    f2p_success: tuple[str, ...]
    f2p_failure: tuple[str, ...]
    p2p_success: tuple[str, ...]
    p2p_failure: tuple[str, ...]

    @property
    def resolved(self) -> bool:
        return self.resolution == "FULL"


def _spec_for_parser(repo: str, instance_id: str, version: str) -> TestSpec:
    """The minimal TestSpec swebench's parsers accept (python parsers read no field; others read instance_id)."""
    return TestSpec(
        instance_id=instance_id,
        repo=repo,
        version=version,
        repo_script_list=[],
        eval_script_list=[],
        env_script_list=[],
        arch="x86_64",
        FAIL_TO_PASS=[],
        PASS_TO_PASS=[],
        language="py",
        docker_specs={},
        namespace=None,
    )


def parse_test_log(log: str, repo: str, *, instance_id: str = "", version: str = "") -> dict[str, str]:
    """Per-test statuses (``PASSED``/``FAILED``/``SKIPPED``/``ERROR``/``XFAIL``) parsed from a test log."""
    parser = MAP_REPO_TO_PARSER.get(repo, parse_log_pytest)
    return dict(parser(log, _spec_for_parser(repo, instance_id, version)))


def grade(
    test_status: Mapping[str, str], fail_to_pass: Sequence[str], pass_to_pass: Sequence[str], repo: str = ""
) -> GradeReport:
    """SWE-bench's verdict: FULL iff every FAIL_TO_PASS and PASS_TO_PASS test passes (swebench's rules)."""
    eval_type = EvalType.FAIL_ONLY if repo in FAIL_ONLY_REPOS else EvalType.PASS_AND_FAIL
    reference = {KEY_INSTANCE_ID: "", FAIL_TO_PASS: list(fail_to_pass), PASS_TO_PASS: list(pass_to_pass)}
    report = get_eval_tests_report(dict(test_status), reference, eval_type=eval_type)
    return GradeReport(
        resolution=ResolvedStatus(get_resolution_status(report)).name,  # RESOLVED_FULL -> FULL
        f2p_success=tuple(report[FAIL_TO_PASS]["success"]),
        f2p_failure=tuple(report[FAIL_TO_PASS]["failure"]),
        p2p_success=tuple(report[PASS_TO_PASS]["success"]),
        p2p_failure=tuple(report[PASS_TO_PASS]["failure"]),
    )


def grade_log(log: str, task: Task) -> tuple[dict[str, str], GradeReport]:
    """Parse ``log`` with the task's repo parser and grade it against the task's test lists."""
    status = parse_test_log(log, task.repo, instance_id=task.instance_id, version=task.version)
    return status, grade(status, task.fail_to_pass, task.pass_to_pass, task.repo)


def patch_files(patch: str) -> list[str]:
    """Paths a unified git diff touches (the ``b/`` side), in order, without duplicates."""
    return list(dict.fromkeys(re.findall(r"^diff --git a/.* b/(.*)$", patch, flags=re.MULTILINE)))


def grading_command(task: Task) -> str:
    """The command that runs the task's tests: ``task.test_cmd``, else what the swebench harness would run.

    Known swebench repo/version: its spec's ``test_cmd`` + the test directives of ``test_patch``. Otherwise
    ``python -m pytest -rA`` on the test files ``test_patch`` touches. No ``test_cmd`` and an empty ``test_patch``
    is an error (there would be nothing to run).
    """
    if task.test_cmd:
        return task.test_cmd
    if not task.test_patch.strip():
        raise ValueError(f"task {task.instance_id}: empty test_patch and no test_cmd, so there is no test to run")
    row = {"repo": task.repo, "test_patch": task.test_patch, "instance_id": task.instance_id}
    directives = get_test_directives(row)
    if not directives:
        raise ValueError(f"task {task.instance_id}: test_patch touches no test file; give a test_cmd")
    spec = MAP_REPO_VERSION_TO_SPECS.get(task.repo, {}).get(task.version)
    if spec is not None and "test_cmd" in spec:
        base = spec["test_cmd"][-1] if isinstance(spec["test_cmd"], list) else spec["test_cmd"]
    else:
        base = DEFAULT_PYTEST
    return f"{base} {' '.join(shlex.quote(d) for d in directives)}"
