"""The local backend builds a command's bubblewrap argv once per workspace: the cached prefix must be exactly what
:func:`bwrap_argv` gives for that workspace, and the workspace's own limits must reach the command."""

from __future__ import annotations

import dataclasses
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
