"""Local mode (no Docker, e.g. HPC clusters): a per-instance virtualenv built from swebench's install specs.

Once per repository a git clone is made (needs the network, or ``repo_url`` pointing at a mirror); once per
instance a virtualenv is built: the spec's Python, its ``packages`` and ``pip_packages`` (pip, from the package
index or ``pip_args`` such as ``--no-index --find-links DIR``), its ``pre_install`` and ``install`` commands run in
a checkout of the base commit. A ``.pth`` entry then points the venv at ``/testbed`` (and ``/testbed/src`` or
``/testbed/lib`` for those layouts), the workspace path inside the bubblewrap sandbox, ahead of the install, so
tests import the agent's copy. The task gets ``repo_path`` (the clone) + ``venv`` and runs offline in the same env.

Limits: ``pre_install`` lines that need root (apt-get) are skipped and listed; repos with compiled extensions need
their build artefacts in the workspace, which a clean checkout lacks — use docker mode for those.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from swe_dagger.envs.swebench.local_requirements import LocalEnvError, spec_requirements
from swe_dagger.envs.swebench.specs import local_test_command, repo_spec
from swe_dagger.envs.task import Task

_MARKER = ".swe-dagger-swebench.json"
_PTH = "00-swe-dagger-testbed.pth"
_ROOT_ONLY = ("apt-get", "apt ", "sudo ", "yum ", "dnf ")


def default_cache() -> Path:
    return Path(os.environ.get("SWE_DAGGER_CACHE", Path.home() / ".cache" / "swe-dagger")) / "swebench-local"


@dataclass(frozen=True)
class LocalModeConfig:
    """Where local-mode environments live and where their sources come from."""

    cache_dir: Path = field(default_factory=default_cache)
    """Clones (``repos/``), install checkouts (``checkouts/``) and venvs (``venvs/``), reused across runs."""
    repo_url: str = "https://github.com/{repo}.git"
    """Clone URL template (``{repo}`` = ``owner/name``); a mirror or ``file:///path/{repo}`` works offline."""
    python: str | None = None
    """Interpreter for every venv; default: ``python<spec version>`` on PATH (or pyenv's), else an error."""
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


def find_python(version: str, override: str | None = None) -> str:
    """An interpreter of Python ``version`` (e.g. ``3.9``): ``override``, ``python3.9`` on PATH, or pyenv's."""
    if override:
        return override
    found = shutil.which(f"python{version}")
    candidates = sorted((Path.home() / ".pyenv" / "versions").glob(f"{version}.*/bin/python{version}"))
    if found is None and candidates:
        found = str(candidates[-1])
    if found is None:
        raise LocalEnvError(f"no Python {version} interpreter (tried python{version} on PATH and ~/.pyenv); "
                            "install it (pyenv install / uv python install) or pass --python")
    return found


def ensure_clone(task: Task, cfg: LocalModeConfig) -> Path:
    """A clone of the task's repo holding its base and environment setup commits (cloned/fetched when missing)."""
    clone = cfg.cache_dir / "repos" / task.repo.replace("/", "__")
    url = cfg.repo_url.format(repo=task.repo)
    if not (clone / ".git").exists():
        shutil.rmtree(clone, ignore_errors=True)
        clone.parent.mkdir(parents=True, exist_ok=True)
        _run(["git", "clone", "-q", "--no-checkout", url, str(clone)], f"cloning {url}", timeout=cfg.timeout_s)
    wanted = {task.base_commit, task.environment_setup_commit or task.base_commit}
    if not all(_has_commit(clone, c) for c in wanted):
        _run(["git", "-C", str(clone), "fetch", "-q", "origin"], f"fetching {url}", timeout=cfg.timeout_s)
    missing = sorted(c for c in wanted if not _has_commit(clone, c))
    if missing:
        raise LocalEnvError(f"instance {task.instance_id}: commit(s) {', '.join(missing)} not in {url}")
    return clone


def _has_commit(repo: Path, commit: str) -> bool:
    return subprocess.run(["git", "-C", str(repo), "cat-file", "-e", f"{commit}^{{commit}}"],
                          capture_output=True, check=False).returncode == 0


def _pth_lines(checkout: Path) -> list[str]:
    lines = ["/testbed"]
    for sub in ("src", "lib"):
        if (checkout / sub).is_dir() and any((p / "__init__.py").exists() for p in (checkout / sub).iterdir()):
            lines.append(f"/testbed/{sub}")
    return lines


def build_venv(task: Task, clone: Path, cfg: LocalModeConfig) -> tuple[Path, list[str]]:
    """The instance's venv (reused when built by the same recipe); returns it and the skipped root-only lines."""
    spec = repo_spec(task)
    recipe = {"spec": {k: spec[k] for k in sorted(spec) if k != "docker_specs"}, "base": task.base_commit,
              "pip_args": list(cfg.pip_args)}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:16]
    venv = cfg.cache_dir / "venvs" / task.instance_id
    marker = venv / _MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("digest") == digest:
        return venv, list(json.loads(marker.read_text()).get("skipped", []))
    shutil.rmtree(venv, ignore_errors=True)
    checkout = cfg.cache_dir / "checkouts" / task.instance_id
    shutil.rmtree(checkout, ignore_errors=True)
    where = f"instance {task.instance_id}"
    _run(["git", "clone", "-q", "--shared", "--no-checkout", str(clone), str(checkout)], f"{where}: checkout")
    _run(["git", "-C", str(checkout), "checkout", "-q", task.base_commit], f"{where}: checkout of the base")
    _run([find_python(str(spec["python"]), cfg.python), "-m", "venv", str(venv)], f"{where}: creating the venv")
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    reqs = spec_requirements(task.repo, spec, clone, task.environment_setup_commit or task.base_commit)
    if reqs:
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        _run([*pip, *cfg.pip_args, *reqs], f"{where}: pip install of the spec's packages", env=env,
             timeout=cfg.timeout_s)
    skipped = []
    for command in [*spec.get("pre_install", []), *([spec["install"]] if "install" in spec else [])]:
        if command.lstrip().startswith(_ROOT_ONLY):
            skipped.append(command)
            continue
        _run(["bash", "-c", command], f"{where}: {command[:80]!r}", cwd=checkout, env=env, timeout=cfg.timeout_s)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / _PTH).write_text("".join(f"{line}\n" for line in _pth_lines(checkout)))
    marker.write_text(json.dumps({"digest": digest, "skipped": skipped}))
    return venv, skipped


def local_task(task: Task, cfg: LocalModeConfig) -> Task:
    """``task`` set up for local mode: ``repo_path`` = the clone, ``venv`` = its built environment, the harness's
    test command. Raises :class:`LocalEnvError` naming the failing step."""
    clone = ensure_clone(task, cfg)
    venv, _ = build_venv(task, clone, cfg)
    return dataclasses.replace(task, repo_path=clone.resolve(), venv=venv.resolve(), image=None,
                               test_cmd=local_test_command(task))
