"""Docker mode: tasks that run in the official per-instance images, pulled when missing.

A docker-mode task has ``image`` = the official name and no ``repo_path``, so the env's Docker sandbox opens the
image with the repository already at ``/testbed`` and scrubs its history to one base commit before the agent's first
command. Its ``test_cmd`` is the instance's own eval script (adapted by :func:`~.specs.sandbox_eval_command`), and
the env grades the output with swebench's log parser for the repo.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from swe_dagger.envs.swebench.specs import NAMESPACE, image_name, sandbox_eval_command
from swe_dagger.envs.task import Task
from swe_dagger.sandbox.protocol import SandboxUnavailable


class ImageUnavailable(SandboxUnavailable):
    """An instance image is not on this machine and could not be pulled; the message says how to get it."""


def docker_task(task: Task, namespace: str | None = NAMESPACE) -> Task:
    """``task`` set up for docker mode: the official image, the instance's eval script, no local checkout."""
    return dataclasses.replace(task, image=image_name(task, namespace), test_cmd=sandbox_eval_command(task, namespace),
                               repo_path=None, venv=None)


def ensure_image(name: str, *, pull: bool = True, client: Any = None) -> str:
    """Make sure image ``name`` is present: found locally, else pulled (``pull``); returns how it was found.

    Raises :class:`ImageUnavailable` naming the image and the way to get it when neither works (no registry
    reachable, unknown image, pulling disabled).
    """
    import docker

    from swe_dagger.sandbox.docker_support import connect

    own = client is None
    client = client or connect()
    try:
        try:
            client.images.get(name)
            return "local"
        except docker.errors.ImageNotFound:
            pass
        if not pull:
            raise ImageUnavailable(f"docker image {name} is not on this machine (pulling is off); "
                                   f"run `docker pull {name}` on a machine with internet, or drop --no-pull")
        repository, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "latest")
        try:
            client.images.pull(repository, tag=tag or "latest")
        except docker.errors.DockerException as exc:
            raise ImageUnavailable(
                f"docker image {name} is not on this machine and pulling it failed ({exc}); this needs a "
                "reachable registry (Docker Hub) — or build the image with swebench's "
                "`python -m swebench.harness.prepare_images`, or use --mode local"
            ) from exc
        return "pulled"
    finally:
        if own:
            client.close()
