"""What pip must install for a swebench spec in a virtualenv: its ``packages`` and ``pip_packages`` as pip specs.

swebench installs an instance's environment with conda; local mode has only a venv and pip. ``packages`` is one of
``requirements.txt`` (read from the repo at the environment setup commit, ``-r`` includes followed), ``environment.yml``
(conda dependencies turned into pip specs: ``name=1.2`` → ``name==1.2``, ``python``/``pip`` skipped, the ``pip:``
list kept), or a space-separated package list (conda pins converted the same way).
"""

from __future__ import annotations

import posixpath
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from swebench.harness.constants.python import MAP_REPO_TO_ENV_YML_PATHS, MAP_REPO_TO_REQS_PATHS
from swebench.harness.test_spec.python import clean_environment_yml, clean_requirements

_SKIP = {"python", "pip", "setuptools", "wheel"}
_SELF = re.compile(r"(-e\s+|--editable[=\s]\s*)?\.(\[[^\]]*\])?")
"""A requirement line naming the repo itself (``.``, ``.[extras]``, ``-e .``): swebench leaves it out too, and pip
would resolve ``.`` against its working directory, not the repo."""
CONDA_RENAMED = {"dask-core": "dask", "matplotlib-base": "matplotlib", "iris": "scitools-iris", "pytorch": "torch"}
"""conda-forge names whose PyPI package has another name."""
CONDA_ONLY = {"hdf5", "cdms2", "libnetcdf", "gdal", "proj", "geos", "esmpy", "cudatoolkit"}
"""conda-forge packages with no PyPI counterpart (C libraries, conda-only builds): left out, listed as skipped."""


@dataclass(frozen=True)
class PipPlan:
    """What pip installs for a spec: one requirement list per pip run, and the conda-only packages left out."""

    steps: tuple[tuple[str, ...], ...]
    skipped: tuple[str, ...] = ()


class LocalEnvError(RuntimeError):
    """Building a local-mode environment failed; the message names the instance, the step and the output tail."""


def _git_show(repo: Path, commit: str, path: str) -> str | None:
    proc = subprocess.run(["git", "-C", str(repo), "show", f"{commit}:{path}"], capture_output=True, text=True,
                          check=False)
    return proc.stdout if proc.returncode == 0 else None


def _name(spec: str) -> str:
    return re.split(r"[=<>!~ \[]", spec.strip(), maxsplit=1)[0]


def conda_to_pip(spec: str) -> str:
    """``numpy=1.2`` → ``numpy==1.2`` (``dask-core`` → ``dask``); ``numpy==1.2``, ``numpy>=1`` and bare names stay."""
    spec = re.sub(r"^([A-Za-z0-9_.\-\[\]]+)=(?!=)", r"\1==", spec.strip())
    name = _name(spec)
    return CONDA_RENAMED.get(name.lower(), name) + spec[len(name):]


def _requirements_file(repo: Path, commit: str, path: str, seen: set[str]) -> list[str]:
    text = _git_show(repo, commit, path)
    if text is None:
        raise LocalEnvError(f"{repo}: {path} does not exist at {commit}")
    seen.add(path)
    lines: list[str] = []
    for line in clean_requirements(text).splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            include = posixpath.normpath(posixpath.join(posixpath.dirname(path), line.split(None, 1)[1]))
            if include not in seen:
                lines.extend(_requirements_file(repo, commit, include, seen))
        elif line.startswith("-e ") or _SELF.fullmatch(line):
            continue  # the repo itself (pylint 3.0: ``.[testutils,spelling]``): installed by the spec's install step
        else:
            lines.append(line)
    return lines


def _from_requirements(repo_name: str, repo: Path, commit: str) -> list[str]:
    for path in MAP_REPO_TO_REQS_PATHS.get(repo_name, ["requirements.txt"]):
        if _git_show(repo, commit, path) is not None:
            return _requirements_file(repo, commit, path, set())
    raise LocalEnvError(f"{repo_name}: no requirements file at {commit} "
                        f"(tried {MAP_REPO_TO_REQS_PATHS.get(repo_name, ['requirements.txt'])})")


def _from_environment_yml(repo_name: str, repo: Path, commit: str) -> list[str]:
    for path in MAP_REPO_TO_ENV_YML_PATHS.get(repo_name, ["environment.yml"]):
        text = _git_show(repo, commit, path)
        if text is not None:
            break
    else:
        raise LocalEnvError(f"{repo_name}: no environment.yml at {commit}")
    data = yaml.safe_load(clean_environment_yml(text)) or {}
    out: list[str] = []
    for dep in data.get("dependencies", []):
        if isinstance(dep, Mapping):
            out.extend(str(d) for d in dep.get("pip", []))
        elif re.split(r"[=<>! ]", str(dep))[0] not in _SKIP:
            out.append(conda_to_pip(str(dep)))
    return out


def spec_requirements(repo_name: str, spec: Mapping[str, Any], repo: Path, env_commit: str) -> PipPlan:
    """pip requirement strings, one list per pip run: ``spec``'s ``packages``, then its ``pip_packages``.

    Two runs, in this order, as swebench installs them: ``pip_packages`` may pin a version the requirements file
    pins differently (flask 2.3: ``MarkupSafe==2.1.1`` over ``markupsafe==2.1.2``), and the later run wins. conda
    packages with no PyPI counterpart (:data:`CONDA_ONLY`) are left out and named in ``skipped``.
    """
    packages = str(spec.get("packages", "") or "")
    if packages == "requirements.txt":
        reqs = _from_requirements(repo_name, repo, env_commit)
    elif packages == "environment.yml":
        reqs = _from_environment_yml(repo_name, repo, env_commit)
    else:
        reqs = [conda_to_pip(p) for p in packages.split() if _name(p) not in _SKIP]
    skipped = tuple(r for r in reqs if _name(r).lower() in CONDA_ONLY)
    steps = ([r for r in reqs if r not in skipped], [str(p) for p in spec.get("pip_packages", [])])
    return PipPlan(tuple(tuple(step) for step in steps if step), skipped)
