"""Choosing backends by name, clear errors when one cannot run, the runtime option, and the CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swe_dagger.sandbox.factory import BACKENDS, open_sandbox
from swe_dagger.sandbox.protocol import SandboxUnavailable, WorkspaceSource
from swe_dagger.sandbox.registry import UnknownNameError

CLI = [sys.executable, "-c", "from swe_dagger.dagger.cli import main; main()"]


def test_unknown_backend_lists_the_known_ones(repo: Any) -> None:
    with pytest.raises(UnknownNameError, match="docker, local"):
        open_sandbox("podman", WorkspaceSource(repo.path, repo.base))
    assert {"local", "docker"} <= set(BACKENDS.names())


def test_missing_bwrap_says_how_to_get_it(repo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without bubblewrap on PATH
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        open_sandbox("local", WorkspaceSource(repo.path, repo.base))


def test_missing_docker_daemon_says_how_to_start_one(repo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(SandboxUnavailable, match=r"scripts/setup\.sh"):
        open_sandbox("docker", WorkspaceSource(repo.path, repo.base), image="any")


def test_docker_arguments_are_checked(repo: Any, make: Any) -> None:
    with pytest.raises(ValueError, match="needs an image"):
        open_sandbox("docker", WorkspaceSource(repo.path, repo.base))
    with pytest.raises(ValueError, match="runtime is for the local backend"):
        open_sandbox("docker", None, image="x", runtime=Path("/usr"))


def test_missing_image_says_how_to_build_it(repo: Any, make: Any) -> None:
    make("docker", WorkspaceSource(repo.path, repo.base)).close()  # skips/fails here when docker is not ready
    with pytest.raises(SandboxUnavailable, match="build_test_image"):
        open_sandbox("docker", WorkspaceSource(repo.path, repo.base), image="swe-dagger-no-such-image:1")


@pytest.fixture(scope="module")
def venv() -> Iterator[Path]:
    """A real virtualenv (outside /tmp, which the sandbox replaces) that can see pytest."""
    root = Path(os.environ.get("SWE_DAGGER_TEST_VENV_DIR", "/var/tmp")) / f"swe-dagger-venv-{uuid.uuid4().hex[:8]}"
    base = Path(sys.base_prefix) / "bin" / "python3"
    subprocess.run([str(base), "-m", "venv", "--without-pip", "--system-site-packages", str(root)], check=True)
    yield root
    subprocess.run(["rm", "-rf", str(root)], check=True)


def test_runtime_virtualenv_is_on_path_read_only(repo: Any, venv: Path) -> None:
    with open_sandbox("local", WorkspaceSource(repo.path, repo.base), runtime=venv) as sb:
        res = sb.exec("command -v python; python -m pytest -q -p no:cacheprovider test_calc.py")
        assert res.output.startswith(f"{venv}/bin/python\n") and "1 failed" in res.output, res.output
        sb.write_file("calc.py", repo.fixed)
        assert sb.exec("python -m pytest -q -p no:cacheprovider test_calc.py").exit_code == 0
        assert sb.exec(f"touch {venv}/pwned").exit_code != 0
    assert not (venv / "pwned").exists()


def test_runtime_under_tmp_is_refused(repo: Any, tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    with pytest.raises(ValueError, match="under /tmp"):
        open_sandbox("local", WorkspaceSource(repo.path, repo.base), runtime=tmp_path)


def _image_with_repo_inside(repo: Any) -> tuple[Any, str]:
    """Commit an image whose /testbed holds ``repo`` with its full history and an ignored build artefact."""
    import docker

    client = docker.from_env()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(repo.path), arcname="testbed")
        data = b"compiled"
        info = tarfile.TarInfo("testbed/build.log")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    container = client.containers.create("swe-dagger-test:bookworm", ["true"])
    try:
        container.put_archive("/", buf.getvalue())
        tag = f"swe-dagger-test-inplace:{uuid.uuid4().hex[:8]}"
        container.commit(repository=tag.split(":")[0], tag=tag.split(":")[1])
    finally:
        container.remove(force=True)
    return client, tag


def test_docker_repo_inside_the_image_is_scrubbed(repo: Any, make: Any) -> None:
    make("docker", WorkspaceSource(repo.path, repo.base)).close()  # skips/fails here when docker is not ready
    client, tag = _image_with_repo_inside(repo)
    try:
        with open_sandbox("docker", None, image=tag) as sb:
            res = sb.exec(
                "git log --all --oneline | wc -l; git tag | wc -l; git remote | wc -l; cat calc.py;"
                " git cat-file --batch-all-objects --batch-check | cut -d' ' -f1"
            )
            assert res.output.split()[:3] == ["1", "0", "0"], res.output
            assert "return a + b" in res.output  # the image's checkout (the repo's HEAD) is the base
            assert repo.base not in res.output and repo.future not in res.output
            sb.exec("echo broken > calc.py; echo new > new.txt")
            assert "new.txt" in sb.diff()
            sb.reset()
            assert sb.exec("cat build.log; git status --porcelain").output == "compiled"
    finally:
        client.images.remove(tag, force=True)
        client.close()


def test_cli_check_and_gc(make: Any, repo: Any) -> None:
    check = subprocess.run([*CLI, "sandbox", "check"], capture_output=True, text=True)
    assert check.returncode == 0 and "local" in check.stdout and "docker" in check.stdout, check.stderr
    make("docker", WorkspaceSource(repo.path, repo.base)).close()  # skips/fails here when docker is not ready
    import docker

    from swe_dagger.sandbox.docker_support import CREATED_LABEL, LABEL, OWNER_LABEL

    client = docker.from_env()
    dead = {LABEL: "1", OWNER_LABEL: f"{os.uname().nodename}:999999999:0", CREATED_LABEL: "0"}
    leaked = client.containers.create("swe-dagger-test:bookworm", ["sleep", "60"], labels=dead)
    try:
        gc = subprocess.run([*CLI, "sandbox", "gc"], capture_output=True, text=True)
        assert gc.returncode == 0, gc.stderr
        assert leaked.name in gc.stdout
        assert leaked.id not in [c.id for c in client.containers.list(all=True)]
    finally:
        subprocess.run(["docker", "rm", "-f", leaked.id], capture_output=True)
        client.close()
