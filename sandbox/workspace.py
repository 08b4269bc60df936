"""Everything a workspace does with git and files, once, on top of a backend's maintenance runner.

Both backends hold a :class:`GitWorkspace`; they differ only in how a maintenance script reaches the
sandbox (a bubblewrap run with the scratch area mounted, or a ``docker exec``).
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from swe_dagger.sandbox import git_scripts
from swe_dagger.sandbox.protocol import SandboxError, Snapshot, WorkspaceSource
from swe_dagger.sandbox.source import prepare_payload


@dataclass(frozen=True)
class ScriptResult:
    """Outcome of one maintenance script."""

    exit_code: int
    stdout: bytes
    stderr: str


class MaintenanceRunner(Protocol):
    """Runs ``bash -c script swe-dagger WORKDIR BASE *args`` inside the sandbox with the scratch area mounted."""

    def run_script(
        self, script: str, args: Sequence[str], *, payload: bytes | None = None, writable_base: bool = False
    ) -> ScriptResult: ...


def check_relative(path: str) -> str:
    """Normalise a repo-relative path; absolute paths and ones climbing out of the repo raise ``ValueError``."""
    if not path or "\0" in path:
        raise ValueError(f"invalid path {path!r}: empty or contains NUL")
    if path.startswith("/"):
        raise ValueError(f"path {path!r} is absolute; give it relative to the repository root")
    norm = posixpath.normpath(path)
    if norm == "." or norm == ".." or norm.startswith("../"):
        raise ValueError(f"path {path!r} escapes the repository root")
    return norm


class GitWorkspace:
    """Base commit bookkeeping, diff, reset, snapshots and file access for one sandbox."""

    def __init__(self, runner: MaintenanceRunner, backend: str, workdir: str) -> None:
        self._runner = runner
        self._backend = backend
        self.workdir = workdir
        self.base = "-"
        self._id = uuid.uuid4().hex[:12]

    def _run(self, script: str, what: str, *args: str, payload: bytes | None = None, base_rw: bool = False) -> bytes:
        res = self._runner.run_script(script, [self.workdir, self.base, *args], payload=payload, writable_base=base_rw)
        if res.exit_code != 0:
            raise SandboxError(f"{self._backend} sandbox: {what} failed (exit {res.exit_code}): {res.stderr.strip()}")
        return res.stdout

    def create(self, source: WorkspaceSource | None) -> str:
        """Fill the workspace from ``source`` (``None``: the repo already at ``workdir``); returns the base commit."""
        if source is None:
            out = self._run(git_scripts.CREATE_IN_PLACE, "scrubbing the repository history", base_rw=True)
        else:
            payload = prepare_payload(source)
            if payload.kind == "pack":
                assert payload.tree is not None  # set for every pack payload
                script, args = git_scripts.CREATE_FROM_PACK, [payload.tree]
            else:
                script, args = git_scripts.CREATE_FROM_TAR, []
            what = f"creating the workspace from {source.path}"
            out = self._run(script, what, *args, payload=payload.data, base_rw=True)
        self.base = out.decode().strip()
        if len(self.base) < 40:
            raise SandboxError(f"{self._backend} sandbox: workspace creation printed no base commit: {out!r}")
        return self.base

    def diff(self) -> str:
        return self._run(git_scripts.DIFF, "diff").decode("utf-8", errors="replace")

    def reset(self) -> None:
        self._run(git_scripts.RESET, "reset")

    def snapshot(self) -> Snapshot:
        trees = self._run(git_scripts.SNAPSHOT, "snapshot").decode().split()
        if len(trees) != 2:
            raise SandboxError(f"{self._backend} sandbox: snapshot printed {trees!r}, expected two tree ids")
        return Snapshot(backend=self._backend, ref=f"{self._id}:{trees[0]}:{trees[1]}")

    def restore(self, snapshot: Snapshot) -> None:
        owner, _, trees = snapshot.ref.partition(":")
        if snapshot.backend != self._backend or owner != self._id:
            raise SandboxError(
                f"snapshot {snapshot.ref!r} ({snapshot.backend}) was taken in another sandbox; "
                "restore it in the sandbox that took it"
            )
        tree, tmp_tree = trees.split(":")
        self._run(git_scripts.RESTORE, "restore", tree, tmp_tree)

    def read_file(self, path: str) -> str:
        res = self._runner.run_script(git_scripts.READ, [self.workdir, self.base, check_relative(path)])
        self._raise_for_path(res, path)
        return res.stdout.decode("utf-8", errors="replace")

    def write_file(self, path: str, content: str) -> None:
        res = self._runner.run_script(
            git_scripts.WRITE, [self.workdir, self.base, check_relative(path)], payload=content.encode()
        )
        self._raise_for_path(res, path)

    def _raise_for_path(self, res: ScriptResult, path: str) -> None:
        if res.exit_code == git_scripts.EXIT_ESCAPES:
            raise ValueError(f"path {path!r} escapes the repository root: {res.stderr.strip()}")
        if res.exit_code == git_scripts.EXIT_MISSING:
            raise FileNotFoundError(f"no such file in the workspace: {path!r}")
        if res.exit_code != 0:
            raise SandboxError(f"{self._backend} sandbox: file access to {path!r} failed: {res.stderr.strip()}")
