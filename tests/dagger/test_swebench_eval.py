"""The SWE-bench eval runner end to end on the mimic image (docker mode): oracle → resolved, empty → empty_patch,
a missing image → an error outcome naming it; resume skips finished instances; preds.jsonl passes swebench's loader;
swebench's own harness, run on our preds.jsonl, agrees with our verdicts.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from swebench.harness.utils import get_predictions_from_file

from swe_dagger.dagger.eval.swebench import SWEBENCH_ENV, SwebenchEvalConfig, TeacherActor, evaluate_swebench
from swe_dagger.envs.actions import SUBMIT_MARKER
from swe_dagger.envs.swebench.harness import run_harness
from swe_dagger.envs.task import Task
from swe_dagger.sandbox.docker_support import connect
from swe_dagger.sandbox.protocol import SandboxUnavailable
from swe_dagger.teachers.oracle import OracleTeacher
from swe_dagger.teachers.protocol import TeacherState

pytestmark = pytest.mark.slow

_MIMIC = Path(__file__).resolve().parents[1] / "envs" / "swebench_mimic.py"
_spec = importlib.util.spec_from_file_location("swebench_mimic", _MIMIC)
assert _spec is not None and _spec.loader is not None
mimic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mimic)


class SubmitAtOnce:
    """Stand-in for a policy decision: submit without changing anything."""

    teacher_id = "submit-at-once"

    def label(self, states: Sequence[TeacherState]) -> list[str]:
        return [f"THOUGHT: done.\n```bash\necho {SUBMIT_MARKER}\n```" for _ in states]

    def close(self) -> None:
        pass


class FixThenIdle:
    """Stand-in for a policy decision: apply the gold patch on the first turn, then look around until the turn limit."""

    teacher_id = "fix-then-idle"

    def label(self, states: Sequence[TeacherState]) -> list[str]:
        return [f"THOUGHT: fix.\n```bash\ngit apply <<'EOF'\n{s.task.patch}EOF\n```" if not s.workspace_diff
                else "THOUGHT: look.\n```bash\ngit status --short\n```" for s in states]

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def mimic_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Task, Path]:
    try:
        connect().close()
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    return mimic.build(tmp_path_factory.mktemp("mimic"), repo_only=False)  # type: ignore[no-any-return]


def test_oracle_run_resume_preds_and_harness_agreement(mimic_dir: tuple[Task, Path], tmp_path: Path) -> None:
    task, _ = mimic_dir
    ghost = dataclasses.replace(task, instance_id="swe-dagger__tinymath-999")  # no image anywhere
    cfg = SwebenchEvalConfig(env=dataclasses.replace(SWEBENCH_ENV, max_turns=12), workers=2, pull=False,
                             model_name="oracle", progress=False)
    out = tmp_path / "run"
    outcomes = evaluate_swebench([task, ghost], TeacherActor(OracleTeacher()), out, cfg)
    status = {o.instance_id: o.status for o in outcomes}
    assert status == {task.instance_id: "resolved", ghost.instance_id: "error"}
    assert "swe-dagger_1776_tinymath-999" in (outcomes[1].error or "")  # the error names the missing image
    traj = json.loads((out / "trajectories" / f"{task.instance_id}.json").read_text())
    assert traj["trajectory"]["resolution"] == "FULL" and traj["outcome"]["submitted"]

    preds = get_predictions_from_file(str(out / "preds.jsonl"), "unused", "test")  # swebench's own loader
    assert [(p["instance_id"], p["model_name_or_path"]) for p in preds] == [(task.instance_id, "oracle")]
    assert "return hi" in preds[0]["model_patch"]
    results = json.loads((out / "results.json").read_text())
    assert results["total"]["resolved"] == 1 and results["total"]["error"] == 1 and results["total"]["total"] == 2
    assert results["per_repo"]["swe-dagger/tinymath"]["resolve_rate"] == 0.5
    assert ghost.instance_id in results["errors"]

    stamp = (out / "trajectories" / f"{task.instance_id}.json").stat().st_mtime_ns
    again = evaluate_swebench([task, ghost], TeacherActor(OracleTeacher()), out, cfg)  # resume
    assert [o.status for o in again] == ["resolved", "error"]  # the error was retried, the resolved one kept
    assert (out / "trajectories" / f"{task.instance_id}.json").stat().st_mtime_ns == stamp

    verdicts = run_harness(out / "preds.jsonl", [task], tmp_path / "harness", max_workers=1, timeout_s=300)
    assert verdicts == {task.instance_id: True}  # swebench's harness agrees with our in-env verdict


def test_empty_submission_is_not_resolved_and_harness_agrees(mimic_dir: tuple[Task, Path], tmp_path: Path) -> None:
    task, _ = mimic_dir
    cfg = SwebenchEvalConfig(env=dataclasses.replace(SWEBENCH_ENV, max_turns=3), workers=1, pull=False,
                             model_name="empty", progress=False)
    (outcome,) = evaluate_swebench([task], TeacherActor(SubmitAtOnce()), tmp_path / "run", cfg)
    assert (outcome.status, outcome.resolution, outcome.submitted, outcome.turns) == ("empty_patch", "NO", True, 1)
    verdicts = run_harness(tmp_path / "run" / "preds.jsonl", [task], tmp_path / "harness", max_workers=1)
    assert verdicts == {task.instance_id: False}


def test_turn_limit_auto_submits_and_trajectory_agrees(mimic_dir: tuple[Task, Path], tmp_path: Path) -> None:
    task, _ = mimic_dir
    cfg = SwebenchEvalConfig(env=dataclasses.replace(SWEBENCH_ENV, max_turns=2), workers=1, pull=False,
                             model_name="idle", progress=False)
    (outcome,) = evaluate_swebench([task], TeacherActor(FixThenIdle()), tmp_path / "run", cfg)
    assert (outcome.status, outcome.resolution, outcome.submitted, outcome.turns) == ("resolved", "FULL", False, 2)
    traj = json.loads((tmp_path / "run" / "trajectories" / f"{task.instance_id}.json").read_text())["trajectory"]
    assert (traj["resolution"], traj["truncated"], traj["failed_tests"]) == ("FULL", True, [])  # as results.json


def test_cli_names_an_unknown_instance(mimic_dir: tuple[Task, Path], tmp_path: Path) -> None:
    _, out = mimic_dir
    code = ("import typer, sys; from swe_dagger.dagger.eval.swebench_cli import register; app = typer.Typer(); "
            "register(app); app.command('noop')(lambda: None); app()")
    proc = subprocess.run([sys.executable, "-c", code, "swebench-eval", "--out", str(tmp_path / "o"), "--dataset",
                           str(out / "instance.jsonl"), "--repo-specs", str(out / "repo_specs.json"),
                           "--instances", "nope__nope-1", "--teacher", "oracle"],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 2 and "nope__nope-1" in proc.stderr, proc.stderr


def test_cli_prints_each_error_and_why_preds_is_empty(mimic_dir: tuple[Task, Path], tmp_path: Path) -> None:
    _, out = mimic_dir
    run = tmp_path / "o"
    proc = subprocess.run([sys.executable, "-m", "swe_dagger.dagger.cli", "swebench-eval", "--out", str(run),
                           "--dataset", str(out / "instance.jsonl"), "--repo-specs", str(out / "repo_specs.json"),
                           "--teacher", "oracle", "--namespace", "nosuchnamespace", "--no-pull", "--no-progress"],
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 1, proc.stderr
    (instance,) = json.loads((run / "config.json").read_text())["instances"]
    error = json.loads((run / "results.json").read_text())["errors"][instance]
    assert f"error: {instance}: {error}" in proc.stderr and "nosuchnamespace" in error  # the cause, on the console
    assert (run / "preds.jsonl").read_text() == ""
    assert f"{run / 'preds.jsonl'} is empty: all 1 instances ended in an error" in proc.stderr


def test_local_mode_run(tmp_path: Path) -> None:
    """The same runner in local mode (venv from the spec, bwrap): oracle → resolved (needs PyPI once)."""
    import os

    from swe_dagger.envs.swebench.local_mode import LocalModeConfig

    task, out = mimic.build(tmp_path / "mimic", repo_only=True)
    cache = Path(os.environ.get("SWE_DAGGER_CACHE", Path.home() / ".cache" / "swe-dagger")) / "test-swebench-local"
    local = LocalModeConfig(cache_dir=cache, repo_url=f"file://{out}/upstream/{{repo}}")
    env = dataclasses.replace(SWEBENCH_ENV, sandbox="local", max_turns=12)
    cfg = SwebenchEvalConfig(env=env, workers=1, local=local, progress=False)
    (outcome,) = evaluate_swebench([task], TeacherActor(OracleTeacher()), tmp_path / "run", cfg)
    if outcome.status == "error" and "pip install" in (outcome.error or "") and not os.environ.get("CI"):
        pytest.skip(f"PyPI unreachable: {outcome.error}")
    assert (outcome.status, outcome.resolution) == ("resolved", "FULL"), outcome.error
