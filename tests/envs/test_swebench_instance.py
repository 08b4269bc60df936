"""A real SWE-bench instance (pallets__flask-4992, stand-in repo: see swebench_standin.py) under sandbox="local".

Gold patch applied by shell commands → FULL; immediate submit → NO; and on the very test log our env graded,
swebench's own harness grading (get_eval_report) gives the same verdict.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest
from swebench.harness.constants import END_TEST_OUTPUT, START_TEST_OUTPUT
from swebench.harness.grading import get_eval_report
from swebench.harness.test_spec.test_spec import TestSpec as HarnessSpec

from swe_dagger.envs.actions import SUBMIT_MARKER
from swe_dagger.envs.swe_env import SWEEnv
from swe_dagger.envs.task import Task

pytestmark = pytest.mark.slow

_spec = importlib.util.spec_from_file_location("swebench_standin", Path(__file__).with_name("swebench_standin.py"))
assert _spec is not None and _spec.loader is not None
standin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(standin)

SUBMIT = f"```bash\necho {SUBMIT_MARKER}\n```"


@pytest.fixture(scope="module")
def flask_task() -> Task:
    try:
        return standin.flask_4992_task()
    except subprocess.CalledProcessError as exc:  # PyPI unreachable on a dev machine
        if os.environ.get("CI"):
            raise
        pytest.skip(f"could not build the Flask stand-in (needs PyPI once): {exc.stderr[-300:]}")


def _harness_resolved(task: Task, log: str, tmp_path: Path) -> bool:
    spec = HarnessSpec(instance_id=task.instance_id, repo=task.repo, version=task.version, repo_script_list=[],
                       eval_script_list=[], env_script_list=[], arch="x86_64", FAIL_TO_PASS=list(task.fail_to_pass),
                       PASS_TO_PASS=list(task.pass_to_pass), language="py", docker_specs={}, namespace=None)
    path = tmp_path / "eval.log"
    path.write_text(f"{START_TEST_OUTPUT}\n{log}\n{END_TEST_OUTPUT}\n")
    prediction = {"instance_id": task.instance_id, "model_patch": "p", "model_name_or_path": "m"}
    return bool(get_eval_report(spec, prediction, str(path), include_tests_status=False)[task.instance_id]["resolved"])


def test_real_instance_grades_like_the_harness(flask_task: Task, tmp_path: Path) -> None:
    assert flask_task.fail_to_pass == ("tests/test_config.py::test_config_from_file_toml",)
    with SWEEnv([flask_task], sandbox="local", max_turns=6, allow_unvalidated=True) as env:
        obs, _ = env.reset()
        assert "from_file" in obs and env.sandbox.workdir == standin.SANDBOX_WORKDIR
        obs, *_ = env.step("```bash\npython -c \"import flask, sys; print(flask.__file__)\"\n```")
        assert f"{standin.SANDBOX_WORKDIR}/src/flask/__init__.py" in obs  # the workspace copy, as in the harness
        obs, *_ = env.step("```bash\npython -c \"import urllib.request as u; u.urlopen('https://pypi.org', timeout=3)\""
                           "\n```")
        assert "<returncode>1</returncode>" in obs  # no network inside the sandbox

        # submit at once: the new toml test fails, every PASS_TO_PASS test passes -> NO
        _, reward, terminated, _, info = env.step(SUBMIT)
        assert (reward, terminated, info["resolution"]) == (0.0, True, "NO")
        assert info["test_status"]["tests/test_config.py::test_config_from_file_toml"] == "FAILED"
        assert all(info["test_status"][t] == "PASSED" for t in flask_task.pass_to_pass)
        evaluation = env.evaluate(info["patch"])  # what the env just ran
        assert evaluation.test_status == info["test_status"]
        assert not _harness_resolved(flask_task, evaluation.log, tmp_path)

        # the gold patch applied by shell commands -> FULL, and the harness agrees on the same log
        env.reset()
        patch = flask_task.patch
        env.step(f"```bash\ncat > /tmp/fix.patch <<'PATCH_EOF'\n{patch}PATCH_EOF\ngit apply /tmp/fix.patch\n```")
        _, reward, terminated, _, info = env.step(SUBMIT)
        assert (reward, terminated, info["resolution"]) == (1.0, True, "FULL"), info
        assert len(info["test_status"]) == 19 and set(info["test_status"].values()) == {"PASSED"}
        evaluation = env.evaluate(info["patch"])
        assert evaluation.test_status == info["test_status"]
        assert _harness_resolved(flask_task, evaluation.log, tmp_path)
