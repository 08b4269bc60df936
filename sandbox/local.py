"""The local backend: every command is a fresh bubblewrap sandbox over a per-workspace host directory.

Host layout of one workspace (under :func:`sandbox_root`, deleted by ``close()``, or by gc once its owner died)::

    ws-XXXX/owner.json  the owning process (see ``local_gc``)
    ws-XXXX/repo      the repository, read-write at ``workdir`` (default ``/testbed``)
    ws-XXXX/base.git  the trusted single-commit repository, read-only inside
    ws-XXXX/cache     diff/snapshot scratch, mounted only for maintenance scripts
    ws-XXXX/tmp       the private /tmp (and HOME)

Reset is in place (``git clean`` + ``git read-tree -u --reset`` on a warm index), which ``bench/sandbox.py``
measured as the fastest option that keeps workspaces independent.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from swe_dagger.sandbox.bwrap import BwrapLayout, bwrap_argv, runtime_mounts
from swe_dagger.sandbox.disk import DiskBudget, du_bytes, filesystem_used
from swe_dagger.sandbox.environment import local_env
from swe_dagger.sandbox.git_backed import GitBackedWorkspace
from swe_dagger.sandbox.local_gc import PREFIX, delete_tree, record_owner, startup_gc
from swe_dagger.sandbox.long_commands import FROM_STDIN, encode, fits_argv
from swe_dagger.sandbox.process import ProcessOutcome, run_capped
from swe_dagger.sandbox.protocol import (
    DEFAULT_LIMITS,
    ExecResult,
    Limits,
    SandboxError,
    SandboxUnavailable,
    WorkspaceSource,
)
from swe_dagger.sandbox.workspace import GitWorkspace, ScriptResult

_UID_BASE = 200_000
_UID_SPAN = 1 << 20
_SCRIPT_TIMEOUT_S = 900.0
_EXIT_LIMITS_FAILED = 1  # prlimit's exit code when it cannot set a limit


def sandbox_root() -> Path:
    """Host directory holding workspaces: ``$SWE_DAGGER_SANDBOX_ROOT`` or ``<tempdir>/swe-dagger-sandboxes``."""
    root = Path(os.environ.get("SWE_DAGGER_SANDBOX_ROOT") or Path(tempfile.gettempdir()) / "swe-dagger-sandboxes")
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o711)
    return root


def find_bwrap() -> str:
    """Path of a working ``bwrap``; raises :class:`SandboxUnavailable` saying how to get one."""
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxUnavailable(
            "the local sandbox needs bubblewrap: install it (`apt-get install bubblewrap`, or `bash scripts/setup.sh`)"
        )
    probe = subprocess.run(
        [path, "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/", "--proc", "/proc", "true"]
        + ([] if os.geteuid() == 0 else ["--unshare-user"]),
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        raise SandboxUnavailable(
            f"bubblewrap is installed but cannot create namespaces here ({probe.stderr.decode().strip()}); "
            "run as root or enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)"
        )
    return path


class LocalSandbox(GitBackedWorkspace):
    """A workspace whose commands run in bubblewrap; see the module docstring for the layout."""

    backend = "local"

    def __init__(
        self,
        source: WorkspaceSource | None,
        *,
        limits: Limits = DEFAULT_LIMITS,
        runtime: Path | None = None,
        image: str | None = None,
        workdir: str | None = None,
    ) -> None:
        if source is None:
            raise ValueError("the local backend needs a source: a git repository at a commit, or a directory")
        self._bwrap = find_bwrap()
        rootfs = Path(image) if image else Path("/")
        if not (rootfs / "usr").is_dir():
            raise ValueError(f"rootfs {rootfs} has no usr/ directory; give a directory holding a Linux root filesystem")
        self._limits = limits
        self._lock = threading.Lock()
        self._closed = False
        startup_gc()
        self._dir = Path(tempfile.mkdtemp(prefix=PREFIX, dir=sandbox_root()))
        uid = _UID_BASE + secrets.randbelow(_UID_SPAN) if os.geteuid() == 0 else None
        try:
            record_owner(self._dir)  # so gc can remove this directory if we die without close()
            for name in ("repo", "base.git", "cache", "tmp"):
                (self._dir / name).mkdir()
            if uid is not None:  # the owner file stays ours
                for path in (self._dir, *(self._dir / n for n in ("repo", "base.git", "cache", "tmp"))):
                    os.chown(path, uid, uid)
            self._layout = BwrapLayout(
                repo=self._dir / "repo",
                base_git=self._dir / "base.git",
                cache=self._dir / "cache",
                tmp=self._dir / "tmp",
                workdir=workdir or "/testbed",
                rootfs=rootfs,
                runtime_mounts=runtime_mounts(runtime) if runtime is not None else (),
                uid=uid,
                env=local_env(runtime.resolve() if runtime is not None else None),
            )
            # everything but the command is fixed per workspace: build it once (it cost ~1 ms of CPU per command)
            self._command_prefix = bwrap_argv(self._layout, [], limits=limits)[1:]
            self._git = GitWorkspace(self, self.backend, self._layout.workdir)
            self._git.create(source)
            self._disk = DiskBudget(
                limits.disk_bytes,
                measure=lambda: du_bytes([self._layout.repo, self._layout.tmp]),
                bound=lambda: filesystem_used(self._dir),
            )
        except BaseException:
            self.close()
            raise

    @property
    def workdir(self) -> str:
        return self._layout.workdir

    @property
    def host_dir(self) -> Path:
        """The workspace's host directory (for diagnostics and tests; commands never see it)."""
        return self._dir

    def exec(self, command: str, timeout: float | None = None) -> ExecResult:
        limit = self._limits.timeout_s if timeout is None else timeout
        with self._lock:
            self._check_open()
            outcome = self._run_command(command, limit)
            over_disk = self._disk_check()
        return ExecResult(
            output=outcome.output,
            exit_code=outcome.exit_code,
            timed_out=outcome.timed_out,
            truncated=outcome.truncated,
            duration_s=outcome.duration_s,
            disk_exceeded=over_disk,
        )

    def _run_command(self, command: str, limit: float) -> ProcessOutcome:
        read_end, write_end = os.pipe()
        try:
            short = fits_argv(command)
            argv = self.command_argv(command if short else FROM_STDIN, info_fd=write_end)
            outcome = run_capped(
                argv,
                timeout=limit,
                output_bytes=self._limits.output_bytes,
                pass_fds=[write_end],
                stdin_data=None if short else encode(command),
            )
            os.close(write_end)
            write_end = -1
            os.set_blocking(read_end, False)
            started = _read_some(read_end)
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)
        if not started and not outcome.timed_out:
            raise SandboxError(f"bubblewrap could not start the sandbox: {outcome.output.strip()}")
        if outcome.exit_code == _EXIT_LIMITS_FAILED and outcome.output.startswith("prlimit: failed to set"):
            raise SandboxError(f"could not apply resource limits {self._limits}: {outcome.output.strip()}")
        return outcome

    def command_argv(self, command: str, *, info_fd: int) -> list[str]:
        """The bwrap argv of one agent command: :func:`bwrap_argv` with the workspace's limits, ``--info-fd``
        reporting that the sandbox started."""
        return [self._bwrap, "--info-fd", str(info_fd), *self._command_prefix, command]

    def run_script(
        self, script: str, args: Sequence[str], *, payload: bytes | None = None, writable_base: bool = False
    ) -> ScriptResult:
        """Run a maintenance script in the sandbox with the scratch area mounted (see ``git_scripts``)."""
        if payload is not None:
            target = self._dir / "cache" / "payload"
            target.write_bytes(payload)
            if self._layout.uid is not None:
                os.chown(target, self._layout.uid, self._layout.uid)
        argv = bwrap_argv(
            self._layout,
            ["/bin/bash", "-c", script, "swe-dagger", *args],
            limits=None,
            maintenance=True,
            writable_base=writable_base,
        )
        argv[0] = self._bwrap
        try:
            proc = subprocess.run(
                argv, capture_output=True, timeout=_SCRIPT_TIMEOUT_S, env={}, stdin=subprocess.DEVNULL, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise SandboxError(f"local sandbox: maintenance script ran past {_SCRIPT_TIMEOUT_S:.0f} s") from exc
        return ScriptResult(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", errors="replace"))

    def close(self) -> None:
        """Delete the workspace directory; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            delete_tree(self._dir)

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError(f"local sandbox {self._dir.name} is closed")


def _read_some(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except BlockingIOError:
        return b""
