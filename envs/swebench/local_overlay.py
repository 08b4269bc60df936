"""How a shared local-mode venv sees the workspace: ``/testbed`` first on ``sys.path``, plus an overlay of the
modules the install generated.

A venv is built once per (repo, version) in its own checkout; an instance's workspace is a clean checkout of the
base commit, so files the install generates and git ignores are missing there: pytest's ``_pytest/_version.py``
(setuptools_scm), compiled extension modules (``.so``). They are copied into ``<venv>/swe-dagger-overlay`` after
the build, and a small hook module in site-packages (imported by a ``.pth`` line at interpreter start) puts the
workspace paths first on ``sys.path`` and appends a finder to ``sys.meta_path`` that looks a module up in the
overlay only after the workspace failed to provide it: the agent's files always win, and the overlay never shows in
the workspace or its diff.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path, PurePosixPath

HOOK_MODULE = "_swe_dagger_testbed"
PTH_NAME = "00-swe-dagger-testbed.pth"
OVERLAY_DIR = "swe-dagger-overlay"
_KEEP = (".py", ".so", ".pyd")
_SKIP_PARTS = {"build", "dist", ".eggs", ".tox", "__pycache__", ".git", "node_modules"}

_HOOK = '''"""Written by swe-dagger local mode (envs/swebench/local_overlay.py): the workspace first on sys.path;
modules the install generated (absent from a clean checkout) found in the overlay, after the workspace."""
import sys
from importlib.machinery import PathFinder

WORKSPACE = {workspace!r}
OVERLAY = {overlay!r}
FRONT = {front!r}
sys.path[:0] = [p for p in FRONT if p not in sys.path]


class SweDaggerOverlayFinder:
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        roots = FRONT if path is None else path
        mapped = [OVERLAY + p[len(WORKSPACE):] for p in roots if p == WORKSPACE or p.startswith(WORKSPACE + "/")]
        return PathFinder.find_spec(fullname, mapped) if mapped else None

    @classmethod
    def invalidate_caches(cls):
        pass


if not any(getattr(f, "__name__", "") == "SweDaggerOverlayFinder" for f in sys.meta_path):
    sys.meta_path.append(SweDaggerOverlayFinder)
'''


def front_paths(checkout: Path, workspace: str = "/testbed") -> list[str]:
    """The workspace, plus its ``src``/``lib`` folder when the repo keeps its packages there."""
    paths = [workspace]
    for sub in ("src", "lib"):
        if (checkout / sub).is_dir() and any((p / "__init__.py").exists() for p in (checkout / sub).iterdir()):
            paths.append(f"{workspace}/{sub}")
    return paths


def generated_files(checkout: Path) -> list[str]:
    """Ignored, untracked ``.py``/``.so``/``.pyd`` files in ``checkout`` (what the install generated), repo-relative."""
    proc = subprocess.run(["git", "-C", str(checkout), "ls-files", "-z", "--others", "--ignored", "--exclude-standard"],
                          capture_output=True, text=True, check=True)
    out = []
    for rel in filter(None, proc.stdout.split("\0")):
        parts = PurePosixPath(rel).parts
        if rel.endswith(_KEEP) and not _SKIP_PARTS & set(parts) and not any(p.endswith(".egg-info") for p in parts):
            out.append(rel)
    return sorted(out)


def install_hook(venv: Path, checkout: Path, workspace: str = "/testbed") -> list[str]:
    """Copy the generated files into the venv's overlay and write the hook + ``.pth``; returns the files copied."""
    overlay = venv / OVERLAY_DIR
    shutil.rmtree(overlay, ignore_errors=True)
    files = generated_files(checkout)
    for rel in files:
        (overlay / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(checkout / rel, overlay / rel)
    site = next((venv / "lib").glob("python3*/site-packages"))
    source = _HOOK.format(workspace=workspace, overlay=str(overlay.resolve()), front=front_paths(checkout, workspace))
    (site / f"{HOOK_MODULE}.py").write_text(source)
    (site / PTH_NAME).write_text(f"import {HOOK_MODULE}\n")
    return files
