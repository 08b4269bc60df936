"""The Docker backend: one container per workspace, no network, memory/CPU/pids limits, exec via the SDK.

The container's PID 1 is a shell that ignores every catchable signal and reaps orphans, so an agent
killing PID 1 or its parent changes nothing. A command that runs past its deadline is stopped with
``kill -9 -1`` inside the container (every process but PID 1): commands are serialised per sandbox, so
that only hits what the command left behind. A command that ends in time is followed by the same kill,
from the wrapper shell that ran it, so nothing outlives a command (as with bubblewrap's PID namespace).
Git maintenance is the same scripts as the local backend (``git_scripts``), run through ``exec``.
"""

from __future__ import annotations

import dataclasses
import io
import tarfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from swe_dagger.sandbox.bwrap import STATE_DIR
from swe_dagger.sandbox.disk import DiskBudget
from swe_dagger.sandbox.docker_support import connect, daemon_disk_used, labels, startup_gc
from swe_dagger.sandbox.environment import COMMON_ENV
from swe_dagger.sandbox.git_backed import GitBackedWorkspace
from swe_dagger.sandbox.long_commands import encode, fits_argv, from_file
from swe_dagger.sandbox.output import OutputCap
from swe_dagger.sandbox.protocol import (
    DEFAULT_LIMITS,
    ExecResult,
    Limits,
    SandboxError,
    SandboxUnavailable,
    WorkspaceSource,
)
from swe_dagger.sandbox.workspace import GitWorkspace, ScriptResult

_INIT = "trap '' HUP INT QUIT TERM USR1 USR2 PIPE ALRM; while :; do sleep 3600 & wait $!; done"
_KILL_ALL = ["/bin/sh", "-c", "kill -9 -1 2>/dev/null; true"]
# Runs the agent's command, then kills whatever it left behind (every process but PID 1 and this shell),
# so commands are stateless as in the local backend, whose PID namespace dies with each command.
_STATELESS = '/bin/bash -c "$1"; rc=$?; kill -9 -1 2>/dev/null; exit $rc'
_COMMAND_FILE = f"{STATE_DIR}/command"
_EXEC_FAILED = "OCI runtime exec failed"
_DRAIN_AFTER_KILL_S = 5.0


class DockerSandbox(GitBackedWorkspace):
    """A workspace in its own container; see the module docstring."""

    backend = "docker"

    def __init__(
        self,
        source: WorkspaceSource | None,
        *,
        limits: Limits = DEFAULT_LIMITS,
        runtime: Path | None = None,
        image: str | None = None,
        workdir: str | None = None,
    ) -> None:
        if runtime is not None:
            raise ValueError("runtime is for the local backend; a docker image brings its own interpreter")
        if not image:
            raise ValueError("the docker backend needs an image (e.g. swe-dagger-test:bookworm or a SWE-bench image)")
        self._limits = limits
        self._workdir = workdir or "/testbed"
        self._lock = threading.Lock()
        self._closed = False
        self._container: Any = None
        self._client = connect()
        try:
            startup_gc(self._client)
            self._container = self._start(image)
            self._git = GitWorkspace(self, self.backend, self._workdir)
            prepare = 'rm -rf "$1" && mkdir -p "$1"; mkdir -p "$2"' if source is not None else 'mkdir -p "$2"'
            self._exec_checked(["/bin/sh", "-c", prepare, "swe-dagger", self._workdir, f"{STATE_DIR}/cache"])
            self._git.create(source)
            self._disk = DiskBudget(
                limits.disk_bytes, measure=self._writable_layer_bytes, bound=daemon_disk_used(self._client)
            )
        except BaseException:
            self.close()
            raise

    def _start(self, image: str) -> Any:
        return start_container(self._client, image, self._limits)

    @property
    def workdir(self) -> str:
        return self._workdir

    @property
    def container_id(self) -> str:
        return str(self._container.id)

    def exec(self, command: str, timeout: float | None = None) -> ExecResult:
        limit = self._limits.timeout_s if timeout is None else timeout
        with self._lock:
            self._check_open()
            result = self._exec_streaming(command, limit)
            return dataclasses.replace(result, disk_exceeded=True) if self._disk_check() else result

    def _writable_layer_bytes(self) -> int:
        """Size of the container's writable layer (what its commands wrote), computed by the daemon."""
        rows = self._client.api.containers(all=True, size=True, filters={"id": self._container.id})
        return int(rows[0].get("SizeRw") or 0) if rows else 0

    def _exec_streaming(self, command: str, limit: float) -> ExecResult:
        api = self._client.api
        start = time.monotonic()
        if not fits_argv(command):  # too long for an argument: through a file (see long_commands)
            self._put_file("/", _COMMAND_FILE.lstrip("/"), encode(command))
            command = from_file(_COMMAND_FILE)
        exec_id = self._exec_create(["/bin/bash", "-c", _STATELESS, "swe-dagger", command], workdir=self._workdir)
        cap = OutputCap(self._limits.output_bytes)
        failure: list[BaseException] = []

        def pump() -> None:
            try:
                for chunk in api.exec_start(exec_id, stream=True, demux=False):
                    cap.feed(chunk)
            except BaseException as exc:  # reported to the caller below
                failure.append(exc)

        reader = threading.Thread(target=pump, name="swe-dagger-docker-exec", daemon=True)
        reader.start()
        reader.join(limit)
        timed_out = reader.is_alive()
        if timed_out:
            self._kill_all()
            reader.join(_DRAIN_AFTER_KILL_S)
            if reader.is_alive():
                raise SandboxError(f"docker sandbox: command output did not end after killing it ({command[:80]!r})")
        if failure:
            raise SandboxError(f"docker sandbox: reading command output failed: {failure[0]}") from failure[0]
        code = api.exec_inspect(exec_id).get("ExitCode")
        text, truncated = cap.result()
        if code is None and not timed_out:
            raise SandboxError("docker sandbox: command ended without an exit code (container died?)")
        if text.startswith(_EXEC_FAILED):
            raise SandboxError(f"docker sandbox: the container could not start the command: {text.strip()}")
        return ExecResult(
            output=text,
            exit_code=-1 if timed_out else int(code),
            timed_out=timed_out,
            truncated=truncated,
            duration_s=time.monotonic() - start,
        )

    def _kill_all(self) -> None:
        """Kill every process but PID 1; when even that cannot start (pids limit hit), restart PID 1."""
        try:
            self._exec_checked(_KILL_ALL)
        except SandboxError:
            self._container.kill()
            self._container.start()

    def _exec_create(self, cmd: Sequence[str], workdir: str = "/") -> str:
        import docker

        try:
            return str(self._client.api.exec_create(self._container.id, list(cmd), workdir=workdir)["Id"])
        except docker.errors.APIError as exc:
            short = self._container.short_id
            raise SandboxError(f"docker sandbox: container {short} cannot run commands: {exc}") from exc

    def _exec_checked(self, cmd: Sequence[str]) -> bytes:
        res = self._exec_demux(cmd)
        if res.exit_code != 0:
            raise SandboxError(f"docker sandbox: {cmd!r} failed (exit {res.exit_code}): {res.stderr.strip()}")
        return res.stdout

    def _exec_demux(self, cmd: Sequence[str]) -> ScriptResult:
        api = self._client.api
        exec_id = self._exec_create(cmd)
        out, err = api.exec_start(exec_id, demux=True)
        code = api.exec_inspect(exec_id).get("ExitCode")
        return ScriptResult(-1 if code is None else int(code), out or b"", (err or b"").decode("utf-8", "replace"))

    def run_script(
        self, script: str, args: Sequence[str], *, payload: bytes | None = None, writable_base: bool = False
    ) -> ScriptResult:
        """Run a maintenance script in the container (``writable_base`` needs nothing here: root writes it)."""
        if payload is not None:
            self._put_file(f"{STATE_DIR}/cache", "payload", payload)
        return self._exec_demux(["/bin/bash", "-c", script, "swe-dagger", *args])

    def _put_file(self, directory: str, name: str, data: bytes) -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        if not self._container.put_archive(directory, buf.getvalue()):
            raise SandboxError(f"docker sandbox: could not copy {name} into {directory}")

    def close(self) -> None:
        """Remove the container; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._container is not None:
                try:
                    self._container.remove(force=True)
                except Exception as exc:
                    if "No such container" not in str(exc) and "already in progress" not in str(exc):
                        raise SandboxError(f"docker sandbox: could not remove container: {exc}") from exc
            self._client.close()

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("docker sandbox is closed")


def start_container(client: Any, image: str, limits: Limits) -> Any:
    """Create and start one labelled sandbox container of ``image`` with ``limits`` (no network)."""
    import docker

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound as exc:
        raise SandboxUnavailable(
            f"docker image {image!r} is not on this machine; build the test image with "
            "`bash scripts/build_test_image.sh`, or pull/load the image you named"
        ) from exc
    lim = limits
    return client.containers.run(
        image,
        ["/bin/sh", "-c", _INIT],
        detach=True,
        labels=labels(),
        network_mode="none",
        mem_limit=lim.memory_bytes,
        memswap_limit=lim.memory_bytes,
        nano_cpus=int(lim.cpus * 1e9),
        pids_limit=lim.processes,
        ulimits=[
            docker.types.Ulimit(name="fsize", soft=lim.file_bytes, hard=lim.file_bytes),
            docker.types.Ulimit(name="cpu", soft=lim.cpu_s, hard=lim.cpu_s),
        ],
        security_opt=["no-new-privileges"],
        environment=dict(COMMON_ENV),
        hostname="sandbox",
        working_dir="/",
    )
