"""The env survives what an agent (or the machine) does to its workspace: damage that defeats an in-place reset,
a vanished container, a disk flood, a command longer than one argv string."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess

import pytest

from swe_dagger.envs.swe_env import SWEEnv
from swe_dagger.envs.task import Task
from swe_dagger.sandbox.protocol import Limits

TEST_IMAGE = "swe-dagger-test:bookworm"
CLEAN = "git status --porcelain --ignored; git log --format=%s; echo ok > probe.txt && cat probe.txt"


def bash(command: str) -> str:
    return f"Running this.\n```bash\n{command}\n```"


def _require_docker() -> None:
    """Skip locally, fail in CI, when the docker daemon or the test image is missing."""
    try:
        import docker

        client = docker.from_env()
        client.images.get(TEST_IMAGE)
        client.close()
    except Exception as exc:
        message = f"docker backend not ready ({exc}); run `bash scripts/build_test_image.sh`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _clean_and_working(env: SWEEnv) -> None:
    obs, _, term, trunc, info = env.step(bash(CLEAN))
    assert info["exit_code"] == 0 and "swe-dagger base\nok\n" in obs and (term, trunc) == (False, False), obs
    assert env.workspace_diff().startswith("diff --git a/probe.txt")


@pytest.mark.parametrize("damage", ["chmod -R a-w .", "mkdir -p calc/locked && chmod 000 calc/locked calc"])
def test_next_episode_of_the_same_task_is_clean_after_chmod_damage(calc_tasks: list[Task], damage: str) -> None:
    with SWEEnv(calc_tasks, max_turns=5, allow_unvalidated=True, command_timeout_s=10) as env:
        env.reset(options={"task_id": "calc__calc-1"})
        assert env.step(bash(damage))[4]["exit_code"] == 0
        env.reset(options={"task_id": "calc__calc-1"})
        _clean_and_working(env)


def test_a_workspace_that_cannot_be_reset_is_replaced(calc_tasks: list[Task]) -> None:
    with SWEEnv(calc_tasks, max_turns=5, allow_unvalidated=True, command_timeout_s=10) as env:
        env.reset(options={"task_id": "calc__calc-1"})
        broken = env.sandbox
        shutil.rmtree(broken.host_dir / "base.git")  # type: ignore[attr-defined]  # beyond any in-place reset
        env.reset(options={"task_id": "calc__calc-1"})
        assert env.sandbox is not broken and not broken.host_dir.exists()  # type: ignore[attr-defined]
        _clean_and_working(env)


def test_a_removed_container_is_replaced(calc_tasks: list[Task]) -> None:
    _require_docker()
    tasks = [dataclasses.replace(t, image=TEST_IMAGE) for t in calc_tasks]
    with SWEEnv(tasks, sandbox="docker", max_turns=5, allow_unvalidated=True, command_timeout_s=10) as env:
        env.reset(options={"task_id": "calc__calc-1"})
        gone = env.sandbox.container_id  # type: ignore[attr-defined]
        subprocess.run(["docker", "rm", "-f", gone], check=True, capture_output=True)
        env.reset(options={"task_id": "calc__calc-1"})
        assert env.sandbox.container_id != gone  # type: ignore[attr-defined]
        _clean_and_working(env)


def test_growing_past_the_disk_limit_ends_the_episode_with_a_clean_workspace(calc_tasks: list[Task]) -> None:
    limits = Limits(disk_bytes=20 * 1024**2)
    with SWEEnv(calc_tasks, max_turns=5, allow_unvalidated=True, command_timeout_s=10, limits=limits) as env:
        env.reset(options={"task_id": "calc__calc-1"})
        obs, reward, term, trunc, info = env.step(bash("head -c 30000000 /dev/urandom > big.bin; echo done"))
        assert (reward, term, trunc, info["disk_exceeded"], info["exit_code"]) == (0.0, False, True, True, 0)
        assert "disk limit of 20 MiB" in obs and "reset to the base commit" in obs and "done" in obs
        assert env.workspace_diff() == ""
        env.reset(options={"task_id": "calc__calc-1"})
        _clean_and_working(env)


@pytest.mark.parametrize("size", [200_000, 900_000])
def test_a_long_command_is_an_observation_not_a_crash(calc_tasks: list[Task], size: int) -> None:
    with SWEEnv(calc_tasks, max_turns=5, allow_unvalidated=True, command_timeout_s=10) as env:
        env.reset(options={"task_id": "calc__calc-1"})
        obs, *_, info = env.step(bash(f"cat > note.txt <<'EOF'\n{'y' * size}\nEOF\nwc -c < note.txt"))
        assert info["exit_code"] == 0 and f"{size + 1}\n" in obs
        assert os.path.getsize(env.sandbox.host_dir / "repo" / "note.txt") == size + 1  # type: ignore[attr-defined]
