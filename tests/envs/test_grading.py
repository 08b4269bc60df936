"""Grading on logs: our verdicts equal the swebench harness's (get_eval_report) on real SWE-bench rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from swebench.harness.constants import END_TEST_OUTPUT, START_TEST_OUTPUT
from swebench.harness.grading import get_eval_report
from swebench.harness.test_spec.test_spec import TestSpec as HarnessSpec

from swe_dagger.envs.grading import DEFAULT_PYTEST, grade, grade_log, grading_command, parse_test_log, patch_files
from swe_dagger.envs.loading import load_tasks
from swe_dagger.envs.task import Task

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "swebench"  # the repo's ../shared
LITE = DATA / "swebench_lite_test.json"
VERIFIED = DATA / "swebench_verified_complete_subset.jsonl"


def _line(repo: str, test: str, passed: bool) -> str:
    """One log line in the format the repo's test runner prints (and its swebench parser reads)."""
    if repo == "django/django":
        return f"{test} ... {'ok' if passed else 'FAIL'}"
    if repo == "sympy/sympy":
        return f"{test} {'ok' if passed else 'F'}"
    return f"PASSED {test}" if passed else f"FAILED {test} - AssertionError: boom"


def _log(task: Task, failing: set[str]) -> str:
    tests = [*task.fail_to_pass, *task.pass_to_pass]
    return "\n".join(["collected N items", *(_line(task.repo, t, t not in failing) for t in tests), "=== done ==="])


def _harness_verdict(task: Task, log: str, tmp_path: Path) -> str:
    """swebench's own path: a log file with its markers, graded by get_eval_report."""
    spec = HarnessSpec(instance_id=task.instance_id, repo=task.repo, version=task.version, repo_script_list=[],
                    eval_script_list=[], env_script_list=[], arch="x86_64", FAIL_TO_PASS=list(task.fail_to_pass),
                    PASS_TO_PASS=list(task.pass_to_pass), language="py", docker_specs={}, namespace=None)
    path = tmp_path / f"{task.instance_id}.log"
    path.write_text(f"+ git apply test.patch\n{START_TEST_OUTPUT}\n{log}\n{END_TEST_OUTPUT}\n")
    prediction = {"instance_id": task.instance_id, "model_patch": "x", "model_name_or_path": "m"}
    report = get_eval_report(spec, prediction, str(path), include_tests_status=True)[task.instance_id]
    status = report["tests_status"]
    f2p_ok, f2p_bad = len(status["FAIL_TO_PASS"]["success"]), len(status["FAIL_TO_PASS"]["failure"])
    p2p_bad = len(status["PASS_TO_PASS"]["failure"])
    assert report["resolved"] == (f2p_bad == 0 and p2p_bad == 0)
    if p2p_bad == 0 and f2p_bad == 0:
        return "FULL"
    return "PARTIAL" if p2p_bad == 0 and f2p_ok > 0 else "NO"


@pytest.mark.parametrize("source", [LITE, VERIFIED])
def test_verdicts_match_the_harness_on_real_rows(source: Path, tmp_path: Path) -> None:
    tasks = [t for t in load_tasks(source) if t.fail_to_pass]
    counts = {"FULL": 0, "PARTIAL": 0, "NO": 0}
    for task in tasks:
        scenarios = [set(), set(task.fail_to_pass[:1]), set(task.pass_to_pass[:1]), set(task.fail_to_pass)]
        for failing in scenarios:
            log = _log(task, failing)
            _, ours = grade_log(log, task)
            assert ours.resolution == _harness_verdict(task, log, tmp_path), (task.instance_id, failing)
            counts[ours.resolution] += 1
    # the logs really exercise all three verdicts (ids with spaces can't round-trip through a log line)
    assert counts["FULL"] >= 0.9 * len(tasks) and counts["PARTIAL"] > 0 and counts["NO"] > len(tasks)


def test_real_pytest_log_parses_and_grades() -> None:
    log = (
        "============================= test session starts ==============================\n"
        "tests/test_config.py ...F                                           [100%]\n"
        "=========================== short test summary info ============================\n"
        "PASSED tests/test_config.py::test_config_from_pyfile\n"
        "PASSED tests/test_config.py::test_from_pyfile_weird_encoding[utf-8]\n"
        "SKIPPED [1] tests/test_config.py:40: tomllib added in 3.11\n"
        "FAILED tests/test_config.py::test_config_from_file_toml - TypeError: from_file() got an unexpected kw\n"
        "========================= 1 failed, 2 passed in 0.12s ==========================\n"
    )
    status = parse_test_log(log, "pallets/flask")
    assert status["tests/test_config.py::test_config_from_file_toml"] == "FAILED"
    assert status["tests/test_config.py::test_from_pyfile_weird_encoding[utf-8]"] == "PASSED"
    f2p = ["tests/test_config.py::test_config_from_file_toml"]
    p2p = ["tests/test_config.py::test_config_from_pyfile"]
    assert grade(status, f2p, p2p).resolution == "NO"
    status[f2p[0]] = "PASSED"
    report = grade(status, f2p, p2p)
    assert report.resolved and report.f2p_success == tuple(f2p)
    assert grade(status, f2p, [*p2p, "tests/test_config.py::missing"]).resolution == "NO"  # absent = failed


def test_unknown_repo_falls_back_to_pytest_parser() -> None:
    assert parse_test_log("PASSED t.py::a\nFAILED t.py::b - x", "me/local") == {"t.py::a": "PASSED",
                                                                               "t.py::b": "FAILED"}


def test_test_command_follows_the_harness() -> None:
    flask = next(t for t in load_tasks(LITE) if t.instance_id == "pallets__flask-4992")
    assert patch_files(flask.test_patch) == ["tests/static/config.toml", "tests/test_config.py"]
    assert grading_command(flask) == "pytest -rA tests/test_config.py"  # swebench spec; .toml is not a test file
    django = next(t for t in load_tasks(LITE) if t.repo == "django/django")
    assert grading_command(django).startswith("./tests/runtests.py")
    local = Task("me__p-1", "me/p", "c", "p", "", test_patch=flask.test_patch)
    assert grading_command(local) == f"{DEFAULT_PYTEST} tests/test_config.py"
    assert grading_command(Task("me__p-2", "me/p", "c", "p", "", test_cmd="make test")) == "make test"
    with pytest.raises(ValueError, match="me__p-3: empty test_patch and no test_cmd"):
        grading_command(Task("me__p-3", "me/p", "c", "p", ""))
