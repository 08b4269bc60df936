"""The local backend's rlimits: its cached command argv is exactly what :func:`bwrap_argv` gives for the workspace,
the workspace's own limits reach the command (set by ``prlimit``), and a limit that cannot be set is an error."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from swe_dagger.sandbox.bwrap import bwrap_argv
from swe_dagger.sandbox.local import LocalSandbox
from swe_dagger.sandbox.protocol import Limits, Sandbox, WorkspaceSource


def test_cached_argv_is_the_fresh_one_and_carries_this_workspaces_limits(
    make: Callable[..., Sandbox], repo: Any, test_limits: Limits
) -> None:
    limits = dataclasses.replace(test_limits, processes=77, cpu_s=33, file_bytes=5 * 1024**2)
    with make("local", WorkspaceSource(repo.path, repo.base), limits=limits) as sb:
        assert isinstance(sb, LocalSandbox)
        fresh = bwrap_argv(sb._layout, ["echo hi"], limits=limits)
        assert sb.command_argv("echo hi", info_fd=9) == [sb._bwrap, "--info-fd", "9", *fresh[1:]]
        result = sb.exec("ulimit -u; ulimit -t; ulimit -f")
        assert result.exit_code == 0, result.output
        assert result.output.split() == ["77", "33", str(5 * 1024)]


def test_a_limit_that_cannot_be_set_is_an_error_not_an_observation(repo: Any) -> None:
    # in a child process: the sandbox inherits its hard RLIMIT_FSIZE, which the command's uid cannot raise
    code = f"""
import resource
from pathlib import Path
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
from swe_dagger.sandbox.local import LocalSandbox
from swe_dagger.sandbox.protocol import Limits, SandboxError, WorkspaceSource
with LocalSandbox(WorkspaceSource(Path({str(repo.path)!r}), {repo.base!r}), limits=Limits(file_bytes=1 << 30)) as sb:
    try:
        print("OBSERVATION", sb.exec("echo ran"))
    except SandboxError as exc:
        print("ERROR", exc)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ERROR could not apply resource limits"), proc.stdout
    assert "FSIZE" in proc.stdout
