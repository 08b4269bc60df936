"""Local mode from a repo mirror: the layouts ``--repo-mirror`` accepts, and an evaluation from a bare mirror.

The end-to-end test builds a bare mirror (``git clone --mirror``) of the mimic instance's repo and runs
``swebench-eval --mode local --repo-mirror DIR`` on it: the oracle resolves it; the empty patch does not; a mirror
without the repo is an error printed on the console. It needs PyPI once (pytest into the venv; cached after).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from swe_dagger.envs.swe_env import SWEEnv
from swe_dagger.envs.swebench.datasets import load_swebench
from swe_dagger.envs.swebench.local_mode import LocalEnvError, LocalModeConfig, local_task
from swe_dagger.envs.swebench.mirror import MirrorError, repo_source

_spec = importlib.util.spec_from_file_location("swebench_mimic", Path(__file__).with_name("swebench_mimic.py"))
assert _spec is not None and _spec.loader is not None
mimic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mimic)

CACHE = Path(os.environ.get("SWE_DAGGER_CACHE", Path.home() / ".cache" / "swe-dagger")) / "test-swebench-local"
CLI = ("import typer; from swe_dagger.dagger.eval.swebench_cli import register; app = typer.Typer(); "
       "register(app); app.command('noop')(lambda: None); app()")


def _bare(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return path


@pytest.mark.parametrize("layout", ["psf/requests", "psf/requests.git", "psf+requests", "psf+requests.git",
                                    "psf__requests.git"])
def test_mirror_folder_layouts(tmp_path: Path, layout: str) -> None:
    repo = _bare(tmp_path / layout)
    assert repo_source("psf/requests", str(tmp_path)) == str(repo.resolve())
    assert repo_source("psf/requests", f"file://{tmp_path}") == str(repo.resolve())


def test_templates_and_errors(tmp_path: Path) -> None:
    assert repo_source("psf/requests", "file:///m/{owner}/{name}.git") == "file:///m/psf/requests.git"
    assert repo_source("psf/requests", "/data/{owner}+{name}/repo") == "/data/psf+requests/repo"
    assert repo_source("psf/requests") == "https://github.com/psf/requests.git"
    (tmp_path / "psf" / "requests").mkdir(parents=True)  # a folder that is no git repository is not taken
    with pytest.raises(MirrorError, match=r"no git repository for psf/requests \(tried psf/requests, "
                                          r"psf/requests\.git, psf\+requests"):
        repo_source("psf/requests", str(tmp_path))
    with pytest.raises(MirrorError, match="unknown field 'org'"):
        repo_source("psf/requests", "/m/{org}/{name}")
    with pytest.raises(MirrorError, match="not a folder"):
        repo_source("psf/requests", str(tmp_path / "missing"))


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the mimic's output folder, a folder holding a bare mirror of its repo as owner/name.git)."""
    _, out = mimic.build(tmp_path_factory.mktemp("mimic"), repo_only=True)
    mirrors = tmp_path_factory.mktemp("mirrors")
    subprocess.run(["git", "clone", "-q", "--mirror", str(out / "upstream" / "swe-dagger" / "tinymath"),
                    str(mirrors / "swe-dagger" / "tinymath.git")], check=True)
    return out, mirrors


def _eval(out: Path, mirror: Path, run: Path, cache: Path = CACHE) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", CLI, "swebench-eval", "--mode", "local", "--dataset", str(out / "instance.jsonl"),
            "--repo-specs", str(out / "repo_specs.json"), "--teacher", "oracle", "--workers", "1", "--no-progress",
            "--max-turns", "12", "--cache-dir", str(cache), "--repo-url", "file:///nonexistent/{repo}",
            "--repo-mirror", str(mirror), "--out", str(run)]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)


@pytest.mark.slow
def test_eval_from_a_bare_mirror(mirrored: tuple[Path, Path], tmp_path: Path) -> None:
    out, mirrors = mirrored
    shutil.rmtree(CACHE / "repos" / "swe-dagger__tinymath", ignore_errors=True)  # cloned anew, from the mirror
    proc = _eval(out, mirrors, tmp_path / "run")
    if proc.returncode != 0 and "pip install" in proc.stderr and not os.environ.get("CI"):
        pytest.skip(f"PyPI unreachable (local mode needs the package index once): {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["resolved"] == 1  # the oracle resolves it
    origin = subprocess.run(["git", "-C", str(CACHE / "repos" / "swe-dagger__tinymath"), "remote", "get-url",
                             "origin"], capture_output=True, text=True, check=True).stdout.strip()
    assert origin == str((mirrors / "swe-dagger" / "tinymath.git").resolve())
    traj = json.loads((tmp_path / "run" / "trajectories" / "swe-dagger__tinymath-1.json").read_text())
    assert traj["outcome"]["status"] == "resolved" and traj["trajectory"]["resolution"] == "FULL"

    (task,) = load_swebench(out / "instance.jsonl", ["swe-dagger__tinymath-1"])
    ready = local_task(task, LocalModeConfig(cache_dir=CACHE, repo_mirror=f"file://{mirrors}/{{owner}}/{{name}}.git"))
    with SWEEnv([ready], sandbox="local", allow_unvalidated=True) as env:
        env.reset()
        assert env.evaluate("").resolution == "NO"  # the empty patch does not resolve it
        assert env.evaluate(task.patch).resolution == "FULL"


@pytest.mark.slow
def test_a_mirror_without_the_repo_is_an_error_on_the_console(mirrored: tuple[Path, Path], tmp_path: Path) -> None:
    out, _ = mirrored
    empty = tmp_path / "mirrors"
    empty.mkdir()
    proc = _eval(out, empty, tmp_path / "run", cache=tmp_path / "cache")
    assert proc.returncode == 1
    assert "error swe-dagger__tinymath-1" in proc.stderr and "has no git repository for swe-dagger/tinymath" \
        in proc.stderr, proc.stderr  # on the console, not only in results.json
    (task,) = load_swebench(out / "instance.jsonl", ["swe-dagger__tinymath-1"])
    with pytest.raises(LocalEnvError, match=r"git clone --mirror https://github\.com/swe-dagger/tinymath\.git"):
        local_task(task, LocalModeConfig(cache_dir=tmp_path / "cache", repo_mirror=str(empty)))
