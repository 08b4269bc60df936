"""``swe-dagger swebench-eval`` builds each instance's env from its ``env`` settings: ``--stable-timings`` reaches the
config, and the env factory of an instance's episode (:func:`instance_env`) applies ``env.stable_timings`` on a real
task in the bubblewrap sandbox."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from swe_dagger.dagger.eval.swebench import SWEBENCH_ENV, SwebenchEvalConfig, instance_env
from swe_dagger.envs.loading import task_to_row
from swe_dagger.envs.task import Task


def _echoed_summary(task: Task, *, stable: bool) -> str:
    env_cfg = dataclasses.replace(SWEBENCH_ENV, sandbox="local", max_turns=2, stable_timings=stable)
    env = instance_env(task, SwebenchEvalConfig(env=env_cfg, progress=False))()
    try:
        env.reset(options={"task_id": task.instance_id})
        observation, *_ = env.step("Look.\n```bash\necho '== 2 passed in 0.29s =='\n```")
    finally:
        env.close()
    return str(observation)


def test_instance_env_applies_stable_timings_only_when_asked(shape_tasks: list[Task]) -> None:
    assert "== 2 passed in 0.00s ==" in _echoed_summary(shape_tasks[0], stable=True)
    assert "== 2 passed in 0.29s ==" in _echoed_summary(shape_tasks[0], stable=False)  # off: the real output


def test_sandbox_must_be_a_mode() -> None:
    with pytest.raises(ValueError, match=r"env\.sandbox.*'podman'"):
        SwebenchEvalConfig(env=dataclasses.replace(SWEBENCH_ENV, sandbox="podman"))


@pytest.mark.slow  # the CLI in a subprocess: ~50 s on a loaded 2-core machine
def test_cli_passes_stable_timings_into_the_env_config(shape_tasks: list[Task], tmp_path: Path) -> None:
    rows = tmp_path / "instances.jsonl"
    rows.write_text(json.dumps(task_to_row(shape_tasks[0])) + "\n")
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "swe_dagger.dagger.cli", "swebench-eval", "--out", str(run),
                           "--dataset", str(rows), "--mode", "local", "--teacher", "oracle", "--max-turns", "3",
                           "--stable-timings", "--cache-dir", str(tmp_path / "cache"),
                           "--repo-url", f"file://{tmp_path}/no-such-mirror/{{repo}}.git", "--no-progress"],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 1, proc.stderr  # the instance cannot be cloned: an error outcome, after config.json
    env = json.loads((run / "config.json").read_text())["env"]
    assert (env["sandbox"], env["max_turns"], env["stable_timings"]) == ("local", 3, True)
