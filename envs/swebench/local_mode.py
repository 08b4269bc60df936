"""Local mode (no Docker, e.g. HPC clusters): per-(repo, version) virtualenvs built from swebench's install specs.

Once per repository a git clone is made from the repo's source (GitHub, or a mirror: see :mod:`.mirror`); once per
(repository, version) a virtualenv is built, as swebench builds one environment image per version: the spec's
Python, its ``packages`` and ``pip_packages`` (pip, from the package index or ``pip_args`` such as ``--no-index
--find-links DIR``), its ``pre_install`` and ``install`` commands run in a checkout of the environment setup commit.
A ``.pth`` hook then puts ``/testbed`` (and ``/testbed/src`` or ``/testbed/lib`` for those layouts), the workspace
inside the bubblewrap sandbox, at the front of ``sys.path``, so every instance of that version imports the agent's
copy, not the install; files the install generated (``_version.py``, ``.so``) come from an overlay when the
workspace lacks them (:mod:`.local_overlay`). The task gets ``repo_path`` (the clone) + ``venv`` and runs offline
in the sandbox.

Limits: ``pre_install`` lines that need root (apt-get) are skipped and listed; ``sed`` lines (edits of tracked
files such as ``tox.ini``) are replayed in the test workspace before the tests, as the harness's image has them;
compiled extensions come from the overlay, built from the environment setup commit's sources — an instance whose
C sources differ from that commit needs docker mode.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from swe_dagger.envs.swebench.local_overlay import install_hook
from swe_dagger.envs.swebench.local_python import find_python
from swe_dagger.envs.swebench.local_requirements import LocalEnvError, spec_requirements
from swe_dagger.envs.swebench.mirror import GITHUB, MirrorError, repo_source
from swe_dagger.envs.swebench.specs import local_test_command, repo_spec
from swe_dagger.envs.task import Task

__all__ = ["LocalEnvError", "LocalModeConfig", "build_venv", "default_cache", "ensure_clone", "find_python",
           "local_task"]

_MARKER = ".swe-dagger-swebench.json"
_LAYOUT = 2
"""Bumped when a venv's layout changes (2: the overlay hook), so venvs of an older layout are rebuilt."""
_ROOT_ONLY = ("apt-get", "apt ", "sudo ", "yum ", "dnf ")


def default_cache() -> Path:
    return Path(os.environ.get("SWE_DAGGER_CACHE", Path.home() / ".cache" / "swe-dagger")) / "swebench-local"


@dataclass(frozen=True)
class LocalModeConfig:
    """Where local-mode environments live and where their sources come from."""

    cache_dir: Path = field(default_factory=default_cache)
    """Clones (``repos/``), install checkouts (``checkouts/``) and venvs (``venvs/``), reused across runs."""
    repo_url: str = GITHUB
    """Clone URL template (``{repo}`` = ``owner/name``, or ``{owner}``, ``{name}``); used without ``repo_mirror``."""
    repo_mirror: str | None = None
    """A folder of git repos (``owner/name``, ``owner+name``, ``.git`` or not) or a template; wins over ``repo_url``."""
    python: str | None = None
    """Interpreter for every venv; default: ``python<spec version>`` on PATH, pyenv's or uv's, else an error."""
    pip_args: tuple[str, ...] = ()
    """Extra pip arguments (e.g. ``--no-index``, ``--find-links DIR`` on a cluster with a wheel mirror)."""
    timeout_s: float = 3600.0
    """Limit per build step (clone, pip install, install command)."""


def _run(argv: list[str], what: str, *, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 3600.0) -> str:
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LocalEnvError(f"{what}: timed out after {timeout:.0f}s ({' '.join(argv)[:200]})") from exc
    if proc.returncode != 0:
        raise LocalEnvError(f"{what} failed (exit {proc.returncode}): {' '.join(argv)[:300]}\n"
                            f"{(proc.stdout + proc.stderr)[-3000:]}")
    return proc.stdout


@contextmanager
def _locked(cache_dir: Path, key: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``cache_dir/locks/key``: one builder per clone or venv, across threads and runs."""
    path = cache_dir / "locks" / f"{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure_clone(task: Task, cfg: LocalModeConfig) -> Path:
    """A clone of the task's repo holding its base and environment setup commits (cloned/fetched when missing)."""
    key = task.repo.replace("/", "__")
    clone = cfg.cache_dir / "repos" / key
    try:
        url = repo_source(task.repo, cfg.repo_mirror or cfg.repo_url)
    except MirrorError as exc:
        raise LocalEnvError(f"instance {task.instance_id}: {exc}") from exc
    wanted = {task.base_commit, task.environment_setup_commit or task.base_commit}
    with _locked(cfg.cache_dir, f"repo-{key}"):
        if not (clone / ".git").exists():
            shutil.rmtree(clone, ignore_errors=True)
            clone.parent.mkdir(parents=True, exist_ok=True)
            _run(["git", "clone", "-q", "--no-checkout", url, str(clone)], f"cloning {url}", timeout=cfg.timeout_s)
        if not all(_has_commit(clone, c) for c in wanted):
            _run(["git", "-C", str(clone), "fetch", "-q", url, "+refs/heads/*:refs/remotes/origin/*",
                  "+refs/tags/*:refs/tags/*"], f"fetching {url}", timeout=cfg.timeout_s)
    missing = sorted(c for c in wanted if not _has_commit(clone, c))
    if missing:
        raise LocalEnvError(f"instance {task.instance_id}: commit(s) {', '.join(missing)} not in {url}")
    return clone


def _has_commit(repo: Path, commit: str) -> bool:
    return subprocess.run(["git", "-C", str(repo), "cat-file", "-e", f"{commit}^{{commit}}"],
                          capture_output=True, check=False).returncode == 0


def _recipe_digest(task: Task, cfg: LocalModeConfig) -> str:
    spec = repo_spec(task)
    recipe = {"layout": _LAYOUT, "spec": {k: spec[k] for k in sorted(spec) if k != "docker_specs"},
              "python": cfg.python, "env_commit": task.environment_setup_commit or task.base_commit,
              "pip_args": list(cfg.pip_args)}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:12]


def build_venv(task: Task, clone: Path, cfg: LocalModeConfig) -> tuple[Path, list[str]]:
    """The venv of the task's (repo, version), reused when built by the same recipe; returns it and the skipped
    root-only lines. Built under a lock, so concurrent instances of one version wait for a single build."""
    name = f"{task.repo.replace('/', '__')}/{task.version}-{_recipe_digest(task, cfg)}"
    venv = cfg.cache_dir / "venvs" / name
    marker = venv / _MARKER
    with _locked(cfg.cache_dir, name.replace("/", "--")):
        if marker.is_file():
            return venv, list(json.loads(marker.read_text()).get("skipped", []))
        skipped = _build(task, clone, venv, cfg.cache_dir / "checkouts" / name, cfg)
        marker.write_text(json.dumps({"instance": task.instance_id, "skipped": skipped}))
    return venv, skipped


def _build(task: Task, clone: Path, venv: Path, checkout: Path, cfg: LocalModeConfig) -> list[str]:
    spec = repo_spec(task)
    env_commit = task.environment_setup_commit or task.base_commit
    shutil.rmtree(venv, ignore_errors=True)
    shutil.rmtree(checkout, ignore_errors=True)
    checkout.parent.mkdir(parents=True, exist_ok=True)
    where = f"{task.repo} {task.version} (instance {task.instance_id})"
    _run(["git", "clone", "-q", "--shared", "--no-checkout", str(clone), str(checkout)], f"{where}: checkout")
    _run(["git", "-C", str(checkout), "checkout", "-q", env_commit], f"{where}: checkout of {env_commit}")
    _run([find_python(str(spec["python"]), cfg.python), "-m", "venv", str(venv)], f"{where}: creating the venv")
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    plan = spec_requirements(task.repo, spec, clone, env_commit)
    for reqs in plan.steps:
        _run([*pip, *cfg.pip_args, *reqs], f"{where}: pip install of the spec's packages", env=env,
             timeout=cfg.timeout_s)
    skipped = [f"conda-only package {name}" for name in plan.skipped]
    for command in [*spec.get("pre_install", []), *([spec["install"]] if "install" in spec else [])]:
        if command.lstrip().startswith(_ROOT_ONLY):
            skipped.append(command)
            continue
        _run(["bash", "-c", command], f"{where}: {command[:80]!r}", cwd=checkout, env=env, timeout=cfg.timeout_s)
    install_hook(venv, checkout)
    return skipped


def local_task(task: Task, cfg: LocalModeConfig) -> Task:
    """``task`` set up for local mode: ``repo_path`` = the clone, ``venv`` = its version's environment, the
    harness's test command. Raises :class:`LocalEnvError` naming the failing step."""
    clone = ensure_clone(task, cfg)
    venv, _ = build_venv(task, clone, cfg)
    return dataclasses.replace(task, repo_path=clone.resolve(), venv=venv.resolve(), image=None,
                               test_cmd=local_test_command(task))
