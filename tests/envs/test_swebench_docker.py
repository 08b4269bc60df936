"""Docker mode end to end on the mimic of an official eval image: scrubbed history, gold → FULL, empty → NO."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from swe_dagger.envs.actions import SUBMIT_MARKER
from swe_dagger.envs.swe_env import SWEEnv
from swe_dagger.envs.swebench.datasets import load_swebench
from swe_dagger.envs.swebench.images import ImageUnavailable, docker_task, ensure_image
from swe_dagger.envs.swebench.specs import image_name, sandbox_eval_script
from swe_dagger.envs.task import Task
from swe_dagger.sandbox.docker_support import connect
from swe_dagger.sandbox.protocol import SandboxUnavailable

_spec = importlib.util.spec_from_file_location("swebench_mimic", Path(__file__).with_name("swebench_mimic.py"))
assert _spec is not None and _spec.loader is not None
mimic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mimic)

VERIFIED = Path(__file__).resolve().parents[3] / "shared" / "data" / "swebench" / \
    "swebench_verified_complete_subset.jsonl"
SUBMIT = f"```bash\necho {SUBMIT_MARKER}\n```"


@pytest.fixture(scope="module")
def mimic_task(tmp_path_factory: pytest.TempPathFactory) -> tuple[Task, str]:
    try:
        connect().close()
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    task, out = mimic.build(tmp_path_factory.mktemp("mimic"), repo_only=False)
    return task, mimic.future_commit(out)


def test_official_image_names() -> None:
    (django,) = load_swebench(VERIFIED, ["django__django-11099"])
    assert image_name(django) == "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"
    script = sandbox_eval_script(django)
    assert django.base_commit not in script and "git show" not in script  # the scrubbed base is HEAD
    assert "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 auth_tests.test_validators" in script


def test_docker_path_on_the_mimic_image(mimic_task: tuple[Task, str]) -> None:
    task, future = mimic_task
    assert ensure_image(mimic.IMAGE) == "local"
    dtask = docker_task(task)
    assert dtask.image == mimic.IMAGE and dtask.repo_path is None
    with SWEEnv([dtask], sandbox="docker", max_turns=5, allow_unvalidated=True) as env:
        env.reset()
        obs, *_ = env.step(f"```bash\ngit log --all --oneline | wc -l; git cat-file -t {future} || echo NO_FUTURE; "
                           "git branch -a; cat tinymath/ops.py | grep -c 'return x'\n```")
        lines = obs.split("<output>")[-1].split()
        assert lines[0] == "1" and "NO_FUTURE" in obs and "future-fix" not in obs  # scrubbed to one base commit
        _, reward, terminated, _, info = env.step(SUBMIT)
        assert (reward, terminated, info["resolution"], info["patch"]) == (0.0, True, "NO", "")
        assert info["test_status"]["tests/test_ops.py::test_clamp"] == "FAILED"
        assert info["test_status"]["tests/test_ops.py::test_add"] == "PASSED"

        env.reset()
        env.step(f"```bash\ncat > /tmp/fix.patch <<'PATCH_EOF'\n{task.patch}PATCH_EOF\ngit apply /tmp/fix.patch\n```")
        _, reward, terminated, _, info = env.step(SUBMIT)
        assert (reward, terminated, info["resolution"]) == (1.0, True, "FULL"), info
        assert set(info["test_status"]) == {*task.fail_to_pass, *task.pass_to_pass}


def test_missing_image_is_a_clear_error(mimic_task: tuple[Task, str]) -> None:
    name = "swebench/sweb.eval.x86_64.swe-dagger_1776_no-such-instance:latest"
    with pytest.raises(ImageUnavailable, match=r"no-such-instance.*pulling is off"):
        ensure_image(name, pull=False)
