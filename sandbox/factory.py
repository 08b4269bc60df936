"""Open a sandbox by backend name: the one entry point the rest of swe-dagger uses."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from swe_dagger.sandbox.protocol import DEFAULT_LIMITS, Limits, Sandbox, WorkspaceSource
from swe_dagger.sandbox.registry import Registry

BACKENDS = Registry(
    "sandbox backend",
    {"local": "swe_dagger.sandbox.local:LocalSandbox", "docker": "swe_dagger.sandbox.docker:DockerSandbox"},
    "swe_dagger.sandboxes",
)


def open_sandbox(
    backend: str,
    source: WorkspaceSource | None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    runtime: Path | None = None,
    image: str | None = None,
    workdir: str | None = None,
) -> Sandbox:
    """A fresh workspace holding ``source`` at a single base commit.

    ``backend``: ``"local"`` (bubblewrap), ``"docker"``, or a plugin name / ``pkg.module:Class``.
    ``source=None`` (docker): the repository is already in ``image`` at ``workdir`` (``/testbed``); its
    history is scrubbed down to one base commit. ``runtime``: a virtualenv exposed read-only on PATH
    (local). ``image``: the docker image, or for the local backend a rootfs directory (default: host ``/``).
    Raises :class:`~swe_dagger.sandbox.protocol.SandboxUnavailable` when the backend cannot run here.
    """
    cls = BACKENDS.resolve(backend)
    return cast(Sandbox, cls(source, limits=limits, runtime=runtime, image=image, workdir=workdir))
