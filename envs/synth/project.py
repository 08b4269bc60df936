"""A source project to synthesize from: a directory, or a PyPI sdist ``name==version`` (downloaded and unpacked).

Also finds which modules have tests (``pkg/foo.py`` ↔ ``test_foo.py`` / ``foo_test.py``, else the test files that
import them) and where the importable code lives (the root, or ``src/``), so tests import the workspace copy and never
an installed one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*)$")
_SKIP_DIRS = {".git", ".hg", ".tox", ".nox", ".venv", "venv", "build", "dist", "docs", "doc", "__pycache__"}
_SKIP_FILES = {"setup.py", "conftest.py", "versioneer.py", "_version.py", "__main__.py", "noxfile.py"}


class SourceError(ValueError):
    """The source is neither a directory nor a ``name==version`` pin, or it could not be fetched/unpacked."""


@dataclass(frozen=True)
class ModuleTests:
    """A module of the project and the test files that exercise it (paths relative to the project root)."""

    module: str
    tests: tuple[str, ...]


@dataclass(frozen=True)
class Project:
    """An unpacked project: its identity, its files, and which modules have tests."""

    name: str
    """Normalised distribution name (``more-itertools``)."""
    version: str
    root: Path
    source: str
    """What the user gave: a directory path or ``name==version``."""
    modules: tuple[ModuleTests, ...]
    pythonpath: str
    """Where the importable packages live, relative to the root: ``""`` (root) or ``"src"``."""

    @property
    def repo(self) -> str:
        """SWE-bench-style ``owner/name`` (``toolz/toolz``)."""
        return f"{self.name}/{self.name}"


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pkg_info(root: Path) -> tuple[str, str] | None:
    path = root / "PKG-INFO"
    if not path.is_file():
        return None
    headers = HeaderParser().parsestr(path.read_text(encoding="utf-8", errors="replace"))
    return headers.get("Name", root.name), headers.get("Version", "0")


def _safe_extract(archive: Path, dest: Path) -> Path:
    """Unpack an sdist into ``dest`` (refusing paths that escape it); returns the single top-level folder."""
    dest.mkdir(parents=True, exist_ok=True)
    if archive.name.endswith((".tar.gz", ".tgz", ".tar.bz2")):
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    elif archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if (dest / member).resolve().is_relative_to(dest.resolve()) is False:
                    raise SourceError(f"{archive}: member {member!r} escapes the target folder")
            zf.extractall(dest)
    else:
        raise SourceError(f"{archive}: unknown sdist format (want .tar.gz or .zip)")
    tops = [p for p in dest.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise SourceError(f"{archive}: expected one top-level folder, found {[p.name for p in tops]}")
    return tops[0]


def fetch_sdist(pin: str, work_dir: Path) -> Path:
    """Download the sdist of ``name==version`` (pip, no deps, no wheels) and unpack it under ``work_dir``; cached."""
    match = _PIN.match(pin)
    if match is None:
        raise SourceError(f"{pin!r} is not a directory nor a 'name==version' pin")
    name, version = normalize_name(match["name"]), match["version"]
    unpacked = work_dir / "src" / f"{name}-{version}"
    if unpacked.is_dir() and (unpacked / ".complete").exists():
        return next(p for p in unpacked.iterdir() if p.is_dir())
    sdists = work_dir / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q", "-d", str(sdists), pin]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SourceError(f"pip download {pin} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    stem = re.compile(rf"^{re.escape(match['name'])}-{re.escape(version)}\.(tar\.gz|zip|tgz|tar\.bz2)$", re.I)
    candidates = [p for p in sdists.iterdir() if stem.match(p.name) or stem.match(p.name.replace("_", "-"))]
    alt = re.compile(rf"^{name.replace('-', '[-_.]')}-{re.escape(version)}\.(tar\.gz|zip|tgz|tar\.bz2)$", re.I)
    candidates = candidates or [p for p in sdists.iterdir() if alt.match(p.name)]
    if not candidates:
        raise SourceError(f"pip download {pin} produced no sdist in {sdists}")
    if unpacked.exists():
        shutil.rmtree(unpacked)
    top = _safe_extract(candidates[0], unpacked)
    (unpacked / ".complete").touch()
    return top


def _skipped(rel: Path) -> bool:
    return any(part in _SKIP_DIRS or part.startswith(".") or part.endswith(".egg-info") for part in rel.parts[:-1])


def _is_test_file(name: str) -> bool:
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _code_modules(files: list[Path]) -> list[Path]:
    """The files that may be mutated: modules inside a package, not tests, not packaging boilerplate."""
    return [rel for rel in files if not _is_test_file(rel.name) and rel.name not in _SKIP_FILES
            and "tests" not in rel.parts and "test" not in rel.parts and len(rel.parts) >= 2]


def discover_modules(root: Path) -> tuple[tuple[ModuleTests, ...], str]:
    """Modules paired with their test files, and the import root (``""`` or ``"src"``).

    By name first (``pkg/foo.py`` ↔ ``test_foo.py`` / ``foo_test.py``, anywhere). Only when no module pairs by name,
    by import: each test file (:func:`~swe_dagger.envs.synth.import_pairing.any_test_file`) goes with the modules it
    imports, directly or through a package's ``__init__.py``. (By name first keeps the suites of projects that pair
    by name exactly as they were.)"""
    files = sorted(p.relative_to(root) for p in root.rglob("*.py") if not _skipped(p.relative_to(root)))
    tests_by_stem: dict[str, list[str]] = {}
    for rel in files:
        if _is_test_file(rel.name):
            stem = rel.name[len("test_") :] if rel.name.startswith("test_") else rel.name[: -len("_test.py")] + ".py"
            tests_by_stem.setdefault(stem.removesuffix(".py"), []).append(rel.as_posix())
    code = _code_modules(files)
    modules = [ModuleTests(rel.as_posix(), tuple(tests)) for rel in code
               if (tests := tests_by_stem.get(rel.stem.lstrip("_"), []))]
    if not modules:
        from swe_dagger.envs.synth.import_pairing import modules_by_import

        modules = [ModuleTests(m, t) for m, t in modules_by_import(root, files, code).items()]
    pythonpath = "src" if any(m.module.startswith("src/") for m in modules) else ""
    return tuple(modules), pythonpath


def load_project(source: str, work_dir: Path) -> Project:
    """Resolve ``source`` (a directory or ``name==version``) into a :class:`Project`; raises :class:`SourceError`."""
    path = Path(source).expanduser()
    if path.is_dir():
        root = path.resolve()
        info = _pkg_info(root)
        name, version = info if info else (root.name, "0")
    else:
        root = fetch_sdist(source, work_dir)
        info = _pkg_info(root)
        name, version = info if info else (source.split("==")[0], source.split("==")[1])
    modules, pythonpath = discover_modules(root)
    if not modules:
        from swe_dagger.envs.synth.import_pairing import LAYOUTS, any_test_file

        rels = [p.relative_to(root) for p in root.rglob("*.py")]
        tests = [rel for rel in rels if not _skipped(rel) and any_test_file(rel)]
        found = (f"its {len(tests)} test files import none of its package modules" if tests else
                 "it has no test files (sdists often leave them out: synthesize from a checkout of the repository)")
        raise SourceError(f"{source}: no module to mutate: {found}. Supported layouts: {LAYOUTS}")
    return Project(normalize_name(name), version, root, source, modules, pythonpath)
