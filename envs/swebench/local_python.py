"""The interpreter a local-mode venv is made from: the Python version swebench's spec names, found on this machine.

Looked up in order: an explicit override, ``python<version>`` on ``PATH`` (e.g. from ``module load`` on a
cluster), pyenv's versions (``~/.pyenv/versions/<version>.*``), then uv's managed Pythons
(``~/.local/share/uv/python/cpython-<version>.*``). Nothing is downloaded: pyenv and uv fetch Pythons only from
the network, so a missing version is an error that says how to install it where the network is reachable.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from swe_dagger.envs.swebench.local_requirements import LocalEnvError


def _uv_pythons(version: str) -> list[Path]:
    root = Path(os.environ.get("UV_PYTHON_INSTALL_DIR", Path.home() / ".local" / "share" / "uv" / "python"))
    return sorted(root.glob(f"cpython-{version}.*/bin/python{version}"))


def _pyenv_pythons(version: str) -> list[Path]:
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    return sorted(root.glob(f"{version}.*/bin/python{version}"))


def find_python(version: str, override: str | None = None) -> str:
    """An interpreter of Python ``version`` (e.g. ``3.9``); :class:`LocalEnvError` naming the places tried."""
    if override:
        return override
    found = shutil.which(f"python{version}")
    if found is not None and "/.pyenv/shims/" not in found:  # a shim may point at no installed version
        return found
    for candidates in (_pyenv_pythons(version), _uv_pythons(version)):
        if candidates:
            return str(candidates[-1])
    raise LocalEnvError(
        f"no Python {version} interpreter (tried python{version} on PATH, ~/.pyenv/versions/{version}.*, "
        f"uv's cpython-{version}.*); swebench's spec for this instance needs it. Install it where the network is "
        f"reachable (`pyenv install {version}` or `uv python install {version}`; on a cluster `module load`) "
        f"and put python{version} on PATH")
