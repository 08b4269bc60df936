"""The sandbox seam: what every backend (bubblewrap, Docker, a future Ray actor) provides."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, runtime_checkable


class SandboxError(RuntimeError):
    """Our machinery failed (not the agent's command): a backend crash, a missing repo, a dead container."""


class SandboxUnavailable(SandboxError):
    """The backend cannot run on this machine; the message says how to get it."""


@dataclass(frozen=True)
class ExecResult:
    """Outcome of one command. A non-zero exit is an observation for the agent, not an error."""

    output: str  # merged stdout+stderr, UTF-8 with replacement, capped (head + tail kept)
    exit_code: int  # -1 when killed by timeout
    timed_out: bool
    truncated: bool
    duration_s: float
    disk_exceeded: bool = False
    """The workspace grew past ``Limits.disk_bytes``; the sandbox reset it to the base commit after the command."""


@dataclass(frozen=True)
class Limits:
    """Resource limits applied to every command in a workspace."""

    timeout_s: float = 60.0
    """Default wall-clock limit per command (``exec(timeout=...)`` overrides)."""
    output_bytes: int = 100_000
    """Cap on captured output; head and tail are kept around a truncation marker."""
    cpu_s: int = 600
    """RLIMIT_CPU per command."""
    memory_bytes: int = 4 * 1024**3
    """Address-space (local) / memory (docker) limit."""
    processes: int = 512
    """RLIMIT_NPROC (local) / pids limit (docker)."""
    file_bytes: int = 512 * 1024**2
    """Largest file a command may write (RLIMIT_FSIZE)."""
    disk_bytes: int = 2 * 1024**3
    """How much a workspace (repository + /tmp) may grow on disk past its size at creation, checked after each
    command; over it, the workspace is reset and ``ExecResult.disk_exceeded`` is set. 2 GiB: 8 envs stay under
    16 GiB of host disk."""
    cpus: float = 1.0
    """CPU cores a docker container may use (``nano_cpus``); bubblewrap has no equivalent and ignores it."""


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class WorkspaceSource:
    """Where a workspace's files come from: a git repo at a commit, or a plain directory."""

    path: Path
    commit: str | None = None
    """A commit of the repo at ``path``; ``None`` takes the directory as it is (committed as the base)."""


@dataclass(frozen=True)
class Snapshot:
    """An opaque handle to a workspace state, returned by ``snapshot()`` and accepted by ``restore()``."""

    backend: str
    ref: str


@runtime_checkable
class Sandbox(Protocol):
    """A workspace holding one repository at a single base commit, with commands run in its root."""

    @property
    def workdir(self) -> str:
        """The repository root as commands see it (e.g. ``/testbed`` or ``/workspace``)."""
        ...

    def exec(self, command: str, timeout: float | None = None) -> ExecResult:
        """Run ``bash -c command`` in the repo root, in a fresh shell (no state carries over)."""
        ...

    def read_file(self, path: str) -> str: ...

    def write_file(self, path: str, content: str) -> None: ...

    def diff(self) -> str:
        """Unified diff of the workspace (tracked and new files) against the base commit, ``git apply``-able."""
        ...

    def reset(self) -> None:
        """Bring the workspace back to the base commit exactly."""
        ...

    def snapshot(self) -> Snapshot: ...

    def restore(self, snapshot: Snapshot) -> None: ...

    def close(self) -> None:
        """Release everything; safe to call twice."""
        ...

    def __enter__(self) -> Sandbox: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
