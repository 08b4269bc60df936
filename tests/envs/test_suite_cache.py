"""A default-suite cache the sandbox hides (/tmp, the sandbox's state folder) is refused before any work, from
``swe-dagger tasks default`` and from ``swe-dagger train``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from swe_dagger.envs.synth.default_suite import SuiteCacheError, check_cache_dir, default_cache_dir


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "swe_dagger.dagger.cli", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_hidden_cache_folders_are_refused(tmp_path: Path) -> None:
    hidden = tmp_path / "cache"  # pytest's tmp_path is under /tmp
    with pytest.raises(SuiteCacheError, match=r"under /tmp, which the sandbox hides"):
        check_cache_dir(hidden)
    with pytest.raises(SuiteCacheError, match="/var/lib/swe-dagger"):
        check_cache_dir(Path("/var/lib/swe-dagger/cache"))
    outside = default_cache_dir() / "test-suite-cache" / str(os.getpid())
    outside.parent.mkdir(parents=True, exist_ok=True)
    try:
        outside.symlink_to(hidden, target_is_directory=True)  # a link elsewhere into /tmp is still /tmp
        with pytest.raises(SuiteCacheError):
            check_cache_dir(outside)
    finally:
        outside.unlink(missing_ok=True)
    check_cache_dir(default_cache_dir())  # the default is fine
    check_cache_dir(Path("/tmpfoo/cache"))  # a name that only starts with /tmp is not under it


def test_tasks_default_and_train_refuse_before_any_work(tmp_path: Path) -> None:
    hidden = tmp_path / "cache"
    out = cli("tasks", "default", "--cache", str(hidden), "--max-tasks", "3")
    assert out.returncode == 2 and "error: --cache:" in out.stderr and "use a folder elsewhere" in out.stderr
    assert not hidden.exists()  # nothing was prepared
    out = cli("tasks", "default", env={"SWE_DAGGER_CACHE": str(hidden)})
    assert out.returncode == 2 and str(hidden) in out.stderr and not hidden.exists()
    run_dir = tmp_path / "run"
    out = cli("train", f"tasks.cache_dir={hidden}", f"run_dir={run_dir}", "progress=false", "tensorboard=false")
    assert out.returncode == 2 and "error: tasks.cache_dir:" in out.stderr and "/tmp" in out.stderr
    assert not hidden.exists() and not run_dir.exists()
