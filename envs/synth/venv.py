"""The project's virtualenv, built once: ``python -m venv`` + pytest + the project's runtime dependencies.

The project itself is NOT installed: tests must import the workspace copy (the repo root, or ``src/``, is put first
on ``sys.path`` by ``python -m pytest``/``PYTHONPATH``), so a mutant or a fix in the workspace is what runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from email.parser import HeaderParser
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

_MARKER = ".swe-dagger-venv.json"


class VenvError(RuntimeError):
    """Building the virtualenv failed; the message holds the failing command and its output tail."""


def runtime_requirements(root: Path) -> list[str]:
    """The project's runtime requirements for this interpreter, from the sdist's ``PKG-INFO`` (extras left out).

    No ``PKG-INFO`` (a plain directory): ``[project].dependencies`` of ``pyproject.toml`` when readable, else none.
    """
    raw: list[str] = []
    pkg_info = root / "PKG-INFO"
    if pkg_info.is_file():
        headers = HeaderParser().parsestr(pkg_info.read_text(encoding="utf-8", errors="replace"))
        raw = headers.get_all("Requires-Dist") or []
    elif (root / "pyproject.toml").is_file() and sys.version_info >= (3, 11):
        import tomllib

        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        raw = list(data.get("project", {}).get("dependencies", []))
    keep = []
    for line in raw:
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            raise VenvError(f"{root}: unreadable requirement {line!r} ({exc})") from exc
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            keep.append(str(req))
    return keep


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise VenvError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")


def ensure_venv(venv_dir: Path, requirements: list[str], *, pytest_spec: str = "pytest>=8,<9") -> Path:
    """A venv at ``venv_dir`` holding ``pytest_spec`` and ``requirements``; reused when already built with the same
    spec (a marker file written last says so), rebuilt otherwise. Returns ``venv_dir``."""
    wanted = {"python": sys.version.split()[0], "pytest": pytest_spec, "requirements": sorted(requirements)}
    marker = venv_dir / _MARKER
    if marker.is_file() and json.loads(marker.read_text()) == wanted and (venv_dir / "bin" / "python").exists():
        return venv_dir
    if venv_dir.exists():
        shutil.rmtree(venv_dir)
    venv_dir.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", str(venv_dir)], f"creating the venv {venv_dir}")
    pip = [str(venv_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, pytest_spec, *requirements], f"installing {pytest_spec} {' '.join(requirements)} into {venv_dir}")
    marker.write_text(json.dumps(wanted))
    return venv_dir
