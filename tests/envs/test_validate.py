"""Task health checks on the real calc project: good tasks pass, broken ones are flagged with the reason."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from swe_dagger.envs.loading import load_tasks, save_tasks
from swe_dagger.envs.swe_env import SWEEnv
from swe_dagger.envs.task import Task
from swe_dagger.envs.validate import validate_tasks, write_validation


def _broken_variants(tasks: list[Task]) -> list[Task]:
    good = tasks[0]
    return [
        # the gold patch does not fix the bug -> gold graded NO
        dataclasses.replace(good, instance_id="calc__nofix", patch=""),
        # the "failing" test already passes at base -> empty graded FULL
        dataclasses.replace(tasks[1], instance_id="calc__trivial", fail_to_pass=("tests/test_ops.py::test_add_small",),
                            pass_to_pass=()),
    ]


def _flaky(task: Task) -> Task:
    """Each run reports a random subset of the two PASS_TO_PASS tests as failed (4 outcomes per run)."""
    coin = ('for t in test_add_small test_clamp_below; do [ $((RANDOM % 2)) = 0 ] && '
            'echo "FAILED tests/test_ops.py::$t"; done')
    return dataclasses.replace(task, instance_id="calc__flaky", test_cmd=f"{task.test_cmd}; {coin}; true")


def test_good_tasks_pass_and_broken_ones_are_flagged(calc_tasks: list[Task], tmp_path: Path) -> None:
    tasks = [*calc_tasks, *_broken_variants(calc_tasks)]
    report = validate_tasks(tasks, reruns=1, workers=2, progress=False)
    by_id = {r.instance_id: r for r in report.results}
    assert report.passed_ids == ("calc__calc-1", "calc__calc-2")
    assert all(r.resolution == "FULL" for r in by_id["calc__calc-1"].gold)
    assert [r.resolution for r in by_id["calc__calc-1"].empty] == ["NO", "NO"]
    assert "gold patch does not apply" in " ".join(by_id["calc__nofix"].problems) or \
        "gold patch graded NO" in by_id["calc__nofix"].problems
    assert "empty patch graded FULL" in by_id["calc__trivial"].problems
    assert not any(r.flaky for r in report.results)

    report_path, validated_path = write_validation(report, tasks, tmp_path, "suite")
    written = json.loads(report_path.read_text())
    assert (written["total"], written["passed"], written["flaky"]) == (4, 2, [])
    assert written["tasks"][2]["problems"] and written["tasks"][0]["gold"][0]["resolution"] == "FULL"
    validated = load_tasks(validated_path)
    assert [t.instance_id for t in validated] == ["calc__calc-1", "calc__calc-2"]
    assert all(t.validated for t in validated) and not any(t.validated for t in tasks)
    SWEEnv(validated).close()  # training accepts them without allow_unvalidated


def test_reruns_flag_flaky_tasks(calc_tasks: list[Task]) -> None:
    # 4 runs per patch, 4 equally likely outcomes each: all 8 runs agreeing by chance has p = 1/4096
    (result,) = validate_tasks([_flaky(calc_tasks[1])], reruns=3, workers=1, progress=False).results
    assert len(result.gold) == len(result.empty) == 4
    assert result.flaky and "flaky: reruns disagree" in result.problems and not result.passed


def test_cli_validate_writes_report_and_filtered_file(calc_tasks: list[Task], tmp_path: Path) -> None:
    tasks_file = save_tasks([calc_tasks[1], _broken_variants(calc_tasks)[1]], tmp_path / "mini.jsonl")
    out = subprocess.run(
        [sys.executable, "-c", "from swe_dagger.dagger.cli import main; main()", "tasks", "validate", str(tasks_file),
         "--reruns", "0", "--workers", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "1/2 tasks passed" in out.stdout and "calc__trivial" in out.stdout
    assert (tmp_path / "mini.report.json").exists()
    assert [t.instance_id for t in load_tasks(tmp_path / "mini.validated.jsonl")] == ["calc__calc-2"]
    (tmp_path / "bad.jsonl").write_text('{"instance_id": "a__b-1"}\n')
    bad = subprocess.run([sys.executable, "-c", "from swe_dagger.dagger.cli import main; main()", "tasks", "validate",
                          str(tmp_path / "bad.jsonl")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "row 1 (a__b-1): missing required field 'repo'" in bad.stderr
