"""Host side of workspace creation: turn a :class:`WorkspaceSource` into one payload for the sandbox.

A git source becomes a pack holding exactly the objects of the commit's tree (no commits, so no
history can travel); a directory becomes a tar without any ``.git``. The sandbox side unpacks it
(``git_scripts.CREATE_FROM_PACK`` / ``CREATE_FROM_TAR``).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from swe_dagger.sandbox.protocol import SandboxError, WorkspaceSource

_GIT = ["git", "-c", "safe.directory=*", "-c", "core.hooksPath=/dev/null"]


@dataclass(frozen=True)
class SourcePayload:
    """What to ship into a new workspace."""

    kind: str
    """``"pack"`` (``tree`` is set) or ``"tar"``."""
    data: bytes
    tree: str | None = None


def prepare_payload(source: WorkspaceSource) -> SourcePayload:
    """Read the source on the host; bad sources raise ``ValueError`` naming the path or commit."""
    path = Path(source.path)
    if not path.is_dir():
        raise ValueError(f"workspace source {path} is not a directory")
    if source.commit is None:
        return SourcePayload(kind="tar", data=_tar_without_git(path))
    return _pack_of_tree(path, source.commit)


def _git(path: Path, *args: str, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run([*_GIT, "-C", str(path), *args], input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        raise SandboxError(f"git {' '.join(args)} failed in {path}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _pack_of_tree(path: Path, commit: str) -> SourcePayload:
    probe = subprocess.run(
        [*_GIT, "-C", str(path), "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        raise ValueError(f"commit {commit!r} not found in git repository {path}")
    tree = _git(path, "rev-parse", f"{probe.stdout.decode().strip()}^{{tree}}").decode().strip()
    objects = _git(path, "rev-list", "--objects", tree)
    pack = _git(path, "pack-objects", "--stdout", "-q", "--window=0", "--compression=1", stdin=objects)
    return SourcePayload(kind="pack", data=pack, tree=tree)


def _tar_without_git(path: Path) -> bytes:
    def no_git(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if ".git" in Path(info.name).parts else info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for child in sorted(path.iterdir()):
            tar.add(str(child), arcname=child.name, filter=no_git)
    return buf.getvalue()
