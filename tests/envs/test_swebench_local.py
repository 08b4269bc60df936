"""Local mode end to end: a local git repo stands in for the upstream clone; the venv comes from the swebench spec.

Needs PyPI once (pytest into the venv; pip's cache makes later runs fast). Gold → FULL, empty → NO, in the bwrap
sandbox, offline.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

from swe_dagger.envs.actions import SUBMIT_MARKER
from swe_dagger.envs.swe_env import SWEEnv
from swe_dagger.envs.swebench.local_mode import LocalEnvError, LocalModeConfig, find_python, local_task
from swe_dagger.envs.swebench.local_requirements import conda_to_pip
from swe_dagger.envs.task import Task

pytestmark = pytest.mark.slow

_spec = importlib.util.spec_from_file_location("swebench_mimic", Path(__file__).with_name("swebench_mimic.py"))
assert _spec is not None and _spec.loader is not None
mimic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mimic)

SUBMIT = f"```bash\necho {SUBMIT_MARKER}\n```"
CACHE = Path(os.environ.get("SWE_DAGGER_CACHE", Path.home() / ".cache" / "swe-dagger")) / "test-swebench-local"


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Task:
    task, out = mimic.build(tmp_path_factory.mktemp("mimic"), repo_only=True)
    cfg = LocalModeConfig(cache_dir=CACHE, repo_url=f"file://{out}/upstream/{{repo}}")
    try:
        return local_task(task, cfg)
    except LocalEnvError as exc:
        if os.environ.get("CI") or "pip install" not in str(exc):
            raise
        pytest.skip(f"PyPI unreachable (local mode needs the package index once): {str(exc)[-300:]}")


def test_local_mode_gold_and_empty(local: Task) -> None:
    assert local.repo_path is not None and local.venv is not None
    assert local.test_cmd == "pytest -rA tests/test_ops.py"  # the spec's test_cmd + the test patch's directives
    pth = next((local.venv / "lib").glob("python3*/site-packages/00-swe-dagger-testbed.pth"))
    assert pth.read_text() == "import _swe_dagger_testbed\n"
    with SWEEnv([local], sandbox="local", max_turns=4, allow_unvalidated=True) as env:
        env.reset()
        obs, *_ = env.step("```bash\npython -c 'import tinymath, pytest; print(tinymath.__file__)'; "
                           "git log --all --oneline | wc -l\n```")
        assert "/testbed/tinymath/__init__.py" in obs and obs.split("<output>")[-1].split()[1] == "1"
        _, reward, _, _, info = env.step(SUBMIT)
        assert (reward, info["resolution"]) == (0.0, "NO")
        env.reset()
        env.step(f"```bash\ncat > /tmp/fix.patch <<'PATCH_EOF'\n{local.patch}PATCH_EOF\ngit apply /tmp/fix.patch\n```")
        _, reward, _, _, info = env.step(SUBMIT)
        assert (reward, info["resolution"]) == (1.0, "FULL"), info


def test_venv_is_reused_and_bad_sources_are_named(local: Task, tmp_path: Path) -> None:
    assert local.venv is not None
    stamp = (local.venv / ".swe-dagger-swebench.json").stat().st_mtime_ns
    cfg = LocalModeConfig(cache_dir=CACHE, repo_url="file:///nonexistent/{repo}")
    again = local_task(local, cfg)  # clone and venv exist: nothing is rebuilt, nothing is fetched
    assert again.venv == local.venv and (local.venv / ".swe-dagger-swebench.json").stat().st_mtime_ns == stamp
    fresh = LocalModeConfig(cache_dir=tmp_path / "cache", repo_url="file:///nonexistent/{repo}")
    with pytest.raises(LocalEnvError, match="cloning file:///nonexistent/swe-dagger/tinymath"):
        local_task(local, fresh)
    with pytest.raises(LocalEnvError, match=r"no Python 2\.1 interpreter"):
        find_python("2.1")
    assert [conda_to_pip(s) for s in ("numpy=1.2", "scipy==1.0", "six", "pip>=2")] == \
        ["numpy==1.2", "scipy==1.0", "six", "pip>=2"]
    assert subprocess.run([str(local.venv / "bin" / "python"), "-c", "import pytest"], check=False).returncode == 0
