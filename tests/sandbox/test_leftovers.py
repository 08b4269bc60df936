"""Workspaces of processes killed with SIGKILL are found and removed by gc; live processes keep theirs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from swe_dagger.sandbox.local_gc import OWNER_FILE, UNOWNED_GRACE_S, remove_leaked_workspaces

CLI = [sys.executable, "-c", "from swe_dagger.dagger.cli import main; main()"]
HOLDER = """
import sys, time
from pathlib import Path
from swe_dagger.sandbox.local import LocalSandbox
from swe_dagger.sandbox.protocol import WorkspaceSource
sb = LocalSandbox(WorkspaceSource(Path(sys.argv[1]), sys.argv[2]))
print(sb.host_dir, flush=True)
time.sleep(600)
"""


def _hold_workspace(repo: Any, env: dict[str, str]) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(repo.path), repo.base], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line, f"holder exited with {proc.wait()}"
    return proc, Path(line)


def test_gc_removes_workspaces_of_killed_processes_only(repo: Any, tmp_path: Path) -> None:
    root = tmp_path / "sandboxes"
    env = {**os.environ, "SWE_DAGGER_SANDBOX_ROOT": str(root), "COLUMNS": "300"}
    dead, dead_dir = _hold_workspace(repo, env)
    live, live_dir = _hold_workspace(repo, env)
    try:
        assert (dead_dir / OWNER_FILE).is_file() and dead_dir.parent == root
        os.kill(dead.pid, signal.SIGKILL)
        dead.wait()
        assert dead_dir.is_dir()  # kill -9 skips close(): the directory is left behind
        (dead_dir / "repo" / "locked").mkdir()
        (dead_dir / "repo" / "locked").chmod(0)
        gc = subprocess.run([*CLI, "sandbox", "gc"], capture_output=True, text=True, env=env)
        assert gc.returncode == 0, gc.stderr
        assert f"removed workspace {dead_dir.name}" in gc.stdout and "1 local workspace(s) removed" in gc.stdout
        assert not dead_dir.exists() and (live_dir / "repo").is_dir()
        assert remove_leaked_workspaces(root) == []
    finally:
        live.kill()
        live.wait()
    assert [r.name for r in remove_leaked_workspaces(root)] == [live_dir.name]


def test_workspaces_without_an_owner_file_are_removed_only_when_old(tmp_path: Path) -> None:
    young, old = tmp_path / "ws-young", tmp_path / "ws-old"
    for path in (young, old):
        (path / "repo").mkdir(parents=True)
    stamp = time.time() - UNOWNED_GRACE_S - 60
    os.utime(old, (stamp, stamp))
    removed = remove_leaked_workspaces(tmp_path)
    assert [(r.name, r.owner) for r in removed] == [("ws-old", "unknown")]
    assert young.is_dir() and not old.exists()
    assert [r.name for r in remove_leaked_workspaces(tmp_path, everything=True)] == ["ws-young"]
