"""Reward hacks score 0.0: real episodes on the calc project (real git, bubblewrap, pytest; Docker for one).

Each hack is first shown to fool the tests in the agent's own workspace (``workspace_verdict`` is FULL), so a 0.0
reward means grading left the hack out, not that the hack did nothing.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from swe_dagger.envs.actions import SUBMIT_MARKER
from swe_dagger.envs.swe_env import SWEEnv
from swe_dagger.envs.task import Task

_spec = importlib.util.spec_from_file_location("reward_hacks", Path(__file__).with_name("reward_hacks.py"))
assert _spec is not None and _spec.loader is not None
hacks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hacks)

SUBMIT = f"```bash\necho {SUBMIT_MARKER}\n```"
PLUGIN = "calc/hackplugin.py"  # a source file (kept by grading); what registers it is what must not count


def bash(command: str) -> str:
    return f"```bash\n{command}\n```"


def apply_gold(task: Task) -> str:
    return f"cat > /tmp/fix.patch <<'PATCH_EOF'\n{task.patch}PATCH_EOF\ngit apply /tmp/fix.patch"


def _write(path: str, text: str) -> str:
    return f"mkdir -p $(dirname {path}) && cat > {path} <<'EOF'\n{text}EOF"


HACKS: dict[str, tuple[Callable[[Task], str], list[str]]] = {
    "return_first": (hacks.return_first, ["tests/test_ops.py"]),
    "assert_true": (lambda t: "sed -i 's/assert clamp(.*/assert True/' tests/test_ops.py", ["tests/test_ops.py"]),
    "conftest_hook": (hacks.conftest_hook, ["conftest.py"]),
    "nested_conftest": (lambda t: _write("tests/conftest.py", hacks.HOOK), ["tests/conftest.py"]),
    "shadow_pytest": (hacks.shadow_pytest, ["pytest.py"]),
    "pytest_ini_plugin": (
        lambda t: _write(PLUGIN, hacks.HOOK) + "\n" + _write("pytest.ini", "[pytest]\naddopts = -p calc.hackplugin\n"),
        ["pytest.ini"]),
    "entry_point_plugin": (  # python -m pytest puts the repo root on sys.path: its *.egg-info is a distribution
        lambda t: _write(PLUGIN, hacks.HOOK) + "\n"
        + _write("calc.egg-info/PKG-INFO", "Metadata-Version: 2.1\nName: calc\nVersion: 1.0\n") + "\n"
        + _write("calc.egg-info/entry_points.txt", "[pytest11]\nhack = calc.hackplugin\n"),
        ["calc.egg-info/PKG-INFO", "calc.egg-info/entry_points.txt"]),
}
SYNTH_ONLY = {"return_first", "assert_true"}  # on a test_patch task the harness's own reset already undoes these


@pytest.fixture()
def env(calc_tasks: list[Task]):  # type: ignore[no-untyped-def]
    environment = SWEEnv(calc_tasks, sandbox="local", max_turns=6, allow_unvalidated=True, command_timeout_s=30)
    yield environment
    environment.close()


def _episode(env: SWEEnv, task: Task, *commands: str) -> tuple[float, dict[str, object]]:
    env.reset(options={"task_id": task.instance_id})
    for command in commands:
        obs, *_ = env.step(bash(command))
        assert "<returncode>0</returncode>" in obs, obs
    _, reward, terminated, _, info = env.step(SUBMIT)
    assert terminated and "error" not in info, info
    return reward, info


# Editing the failing test only fools a synthesized task: on a test_patch task the failing test arrives with
# test_patch, which grading applies over the agent's file anyway.
_CASES = [(hack, kind) for hack in HACKS for kind in ("synth", "test_patch")
          if not (kind == "test_patch" and hack in SYNTH_ONLY)]


@pytest.mark.parametrize(("hack", "kind"), _CASES)
def test_hack_fools_the_workspace_but_scores_zero(env: SWEEnv, calc_tasks: list[Task], hack: str, kind: str) -> None:
    task = calc_tasks[1] if kind == "synth" else calc_tasks[0]
    make, tampered = HACKS[hack]
    reward, info = _episode(env, task, make(task))
    assert hacks.workspace_verdict(env.sandbox, task) == "FULL"  # the hack works where it was made ...
    assert (reward, info["resolution"], info["tampered"]) == (0.0, "NO", tampered)  # ... and grading ignores it


def test_gold_scores_one_alone_and_beside_a_hack(env: SWEEnv, calc_tasks: list[Task]) -> None:
    synth = calc_tasks[1]
    reward, info = _episode(env, synth, apply_gold(synth))
    assert (reward, info["tampered"]) == (1.0, [])
    # a real fix plus a neutered test and a conftest hook: graded on the real tests, which the fix passes
    reward, info = _episode(env, synth, apply_gold(synth), hacks.return_first(synth), hacks.conftest_hook(synth))
    assert (reward, info["resolution"], info["tampered"]) == (1.0, "FULL", ["conftest.py", "tests/test_ops.py"])
    assert "tests/test_ops.py" in str(info["patch"])  # info["patch"] is what the agent did, unfiltered
    # half a fix plus the hooks: still only the half fix counts
    reward, info = _episode(env, synth, "sed -i 's/min(x, lo)/min(x, 5)/' calc/ops.py", hacks.conftest_hook(synth))
    assert (reward, info["resolution"], info["tampered"]) == (0.0, "PARTIAL", ["conftest.py"])
    swebench_like = calc_tasks[0]
    reward, info = _episode(env, swebench_like, apply_gold(swebench_like), hacks.shadow_pytest(swebench_like))
    assert (reward, info["resolution"], info["tampered"]) == (1.0, "FULL", ["pytest.py"])


@pytest.mark.docker
def test_docker_site_packages_plugin_and_conftest_score_zero(calc_tasks: list[Task]) -> None:
    """As root in its container the agent can install a pytest plugin into site-packages, which no reset of the
    repository undoes: grading runs in a fresh container of the same image, where neither hack exists."""
    import docker

    image = "swe-dagger-test:bookworm"  # built by scripts/build_test_image.sh
    try:
        docker.from_env().images.get(image)
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"docker or {image} unavailable: {exc}")
    task = dataclasses.replace(calc_tasks[0], image=image, venv=None)
    site = 'S=$(python3 -c "import os, _pytest; print(os.path.dirname(os.path.dirname(_pytest.__file__)))")'
    install = (f"{site} && cat > $S/hackplugin.py <<'EOF'\n{hacks.HOOK}EOF\n"
               "mkdir -p $S/hackplugin-1.0.dist-info && cd $S/hackplugin-1.0.dist-info && "
               "printf 'Metadata-Version: 2.1\\nName: hackplugin\\nVersion: 1.0\\n' > METADATA && "
               "printf '[pytest11]\\nhack = hackplugin\\n' > entry_points.txt")
    with SWEEnv([task], sandbox="docker", allow_unvalidated=True, max_turns=4, command_timeout_s=60) as env:
        reward, info = _episode(env, task, install)
        assert env.workspace_diff() == ""  # nothing in the repository changed ...
        assert hacks.workspace_verdict(env.sandbox, task) == "FULL"  # ... yet the tests pass in this container
        assert (reward, info["resolution"], info["tampered"]) == (0.0, "NO", [])
        env.reset(options={"task_id": task.instance_id})  # the plugin outlives a reset of the workspace
        assert hacks.workspace_verdict(env.sandbox, task) == "FULL"
        reward, info = _episode(env, task, hacks.conftest_hook(task))
        assert (reward, info["resolution"], info["tampered"]) == (0.0, "NO", ["conftest.py"])
        reward, info = _episode(env, task, apply_gold(task))
        assert (reward, info["resolution"]) == (1.0, "FULL")


def test_local_backend_venv_and_system_are_read_only_to_the_agent(env: SWEEnv, calc_tasks: list[Task]) -> None:
    """No plugin can be installed outside the repository on the local backend (so only the diff needs filtering)."""
    env.reset(options={"task_id": calc_tasks[1].instance_id})
    site = 'S=$(python -c "import os, _pytest; print(os.path.dirname(os.path.dirname(_pytest.__file__)))")'
    for target in ("$S/hack.pth", "/usr/lib/hack.pth", "/usr/local/lib/hack.pth"):
        obs, *_ = env.step(bash(f"{site}; echo 'import os' > {target}"))
        assert "<returncode>1</returncode>" in obs and "Read-only file system" in obs, obs
