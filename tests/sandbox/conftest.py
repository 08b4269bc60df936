"""Fixtures for the sandbox tests: a real git repository with "future" history, and real sandboxes.

Docker tests need a running daemon and the local image built by ``scripts/build_test_image.sh``. When
``CI`` is set they fail if either is missing (nothing is skipped in CI); locally they skip.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from swe_dagger.sandbox.factory import open_sandbox
from swe_dagger.sandbox.protocol import Limits, Sandbox, SandboxUnavailable, WorkspaceSource

TEST_IMAGE = "swe-dagger-test:bookworm"
BACKENDS = ["local", "docker"]

#: Small limits so attacks end quickly; still roomy enough for git and python.
TEST_LIMITS = Limits(timeout_s=20.0, output_bytes=20_000, memory_bytes=1024**3, processes=96, cpus=1.0)


@dataclass(frozen=True)
class RepoFixture:
    """A repository whose base commit has a bug; later commits, a tag, a branch and a remote hold the fix."""

    path: Path
    base: str
    future: str
    future_blob: str
    """Blob id of the fixed ``calc.py``: must never be reachable from a workspace."""
    fixed: str = "def add(a, b):\n    return a + b\n"
    """The fixed ``calc.py`` (the future commit's content)."""


def _git(repo: Path, *args: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(repo),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    out = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env)
    return out.stdout.strip()


BUGGY = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
TEST_FILE = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> RepoFixture:
    path = tmp_path_factory.mktemp("source") / "proj"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    (path / "calc.py").write_text(BUGGY)
    (path / "test_calc.py").write_text(TEST_FILE)
    (path / ".gitignore").write_text("*.log\n__pycache__/\n")
    (path / "data.bin").write_bytes(bytes(range(256)) * 4)
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "base")
    base = _git(path, "rev-parse", "HEAD")
    (path / "calc.py").write_text(FIXED)
    _git(path, "commit", "-qam", "the fix (future)")
    future = _git(path, "rev-parse", "HEAD")
    _git(path, "tag", "v1.0")
    _git(path, "branch", "future-branch")
    _git(path, "remote", "add", "origin", "https://example.invalid/proj.git")
    _git(path, "update-ref", "refs/remotes/origin/main", future)
    return RepoFixture(path=path, base=base, future=future, future_blob=_git(path, "rev-parse", f"{future}:calc.py"))


def docker_ready() -> str | None:
    """``None`` when the docker tests can run, else why not."""
    try:
        import docker

        client = docker.from_env()
        client.ping()
        client.images.get(TEST_IMAGE)
        client.close()
    except Exception as exc:
        return f"docker backend not ready ({exc}); run `bash scripts/setup.sh && bash scripts/build_test_image.sh`"
    return None


def require_backend(backend: str) -> None:
    if backend != "docker":
        return
    reason = docker_ready()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the docker tests: {reason}")
    pytest.skip(reason)


def make_sandbox(backend: str, source: WorkspaceSource | None, limits: Limits = TEST_LIMITS) -> Sandbox:
    require_backend(backend)
    try:
        return open_sandbox(backend, source, limits=limits, image=TEST_IMAGE if backend == "docker" else None)
    except SandboxUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def make() -> Callable[..., Sandbox]:
    """``make(backend, source, limits=TEST_LIMITS)``: open a sandbox (tests import nothing from conftest)."""
    return make_sandbox


@pytest.fixture
def test_limits() -> Limits:
    return TEST_LIMITS


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sandbox(backend: str, repo: RepoFixture) -> Iterator[Sandbox]:
    """A fresh workspace of ``repo`` at its base commit."""
    sb = make_sandbox(backend, WorkspaceSource(repo.path, repo.base))
    with sb:
        yield sb
