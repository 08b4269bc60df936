"""A real SWE-bench instance made runnable offline: pallets__flask-4992 on Flask's 2.2.3 sdist.

There is no GitHub here, so the repository at the instance's base commit (4c288bc, 2023-02-22, on the way to
Flask 2.3) can't be cloned. The closest honest stand-in: the Flask 2.2.3 sdist from PyPI (released 2023-02-15, a
week before the base commit; it ships ``src/`` and ``tests/``), unpacked into a git repo with one commit. The
instance's real gold patch and real test_patch apply to it unchanged, and its real FAIL_TO_PASS (1) and PASS_TO_PASS
(18) lists are the exact set of tests in ``tests/test_config.py`` after the test patch. The venv holds the
dependency pins of Flask 2.2.3's own ``requirements/tests.txt`` (Werkzeug 2.2.3 rather than the harness's 2.3.7:
Flask's ``filterwarnings = error`` turns Werkzeug 2.3's deprecations into failures on 2.2.3 code) and, like the
harness image's ``pip install -e .`` at ``/testbed``, a ``.pth`` entry pointing at ``/testbed/src`` — the
workspace path inside the local sandbox — so the tests import the agent's copy of flask.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from swe_dagger.envs.loading import task_from_row
from swe_dagger.envs.task import Task

INSTANCE_ID = "pallets__flask-4992"
SDIST = "Flask==2.2.3"
SANDBOX_WORKDIR = "/testbed"
PINS = [
    "Werkzeug==2.2.3", "Jinja2==3.1.2", "MarkupSafe==2.1.1", "itsdangerous==2.1.2", "click==8.1.3",
    "pytest==7.2.0", "attrs==22.2.0", "iniconfig==1.1.1", "packaging==22.0", "pluggy==1.0.0",
    "python-dotenv==0.21.0", "asgiref==3.6.0", "blinker==1.5",
]
LITE = Path(__file__).resolve().parents[3] / "shared" / "data" / "swebench" / "swebench_lite_test.json"  # ../shared


def _run(*argv: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "standin", "GIT_AUTHOR_EMAIL": "s@s", "GIT_COMMITTER_NAME": "standin",
           "GIT_COMMITTER_EMAIL": "s@s"}
    done = subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True, env=env, timeout=600)
    return done.stdout


def _build_repo(root: Path) -> Path:
    downloads = root / "sdist"
    _run(sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", SDIST, "-d",
         str(downloads))
    (archive,) = downloads.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(root / "unpacked", filter="data")
    (top,) = (root / "unpacked").iterdir()
    repo = root / "repo"
    top.rename(repo)
    _run("git", "init", "-q", cwd=repo)
    _run("git", "add", "-A", cwd=repo)
    _run("git", "commit", "-q", "-m", f"{SDIST} sdist (stand-in for {INSTANCE_ID}'s base commit)", cwd=repo)
    return repo


def _build_venv(root: Path) -> Path:
    venv = root / "venv"
    _run(sys.executable, "-m", "venv", str(venv))
    _run(str(venv / "bin" / "pip"), "install", "-q", *PINS)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "flask-workspace.pth").write_text(f"{SANDBOX_WORKDIR}/src\n")
    return venv


def flask_4992_task() -> Task:
    """The real row, with repo_path/venv of the stand-in (built once into the cache, needs PyPI the first time)."""
    root = Path(os.environ.get("SWE_DAGGER_CACHE", Path.home() / ".cache" / "swe-dagger")) / "standin" / "flask-4992"
    if not (root / "ready").exists():
        root.mkdir(parents=True, exist_ok=True)
        for part in ("sdist", "unpacked", "repo", "venv"):
            subprocess.run(["rm", "-rf", str(root / part)], check=True)
        _build_repo(root)
        _build_venv(root)
        (root / "ready").write_text("ok\n")
    row = next(r for r in json.loads(LITE.read_text()) if r["instance_id"] == INSTANCE_ID)
    base = _run("git", "rev-parse", "HEAD", cwd=root / "repo").strip()
    real_base = row["base_commit"]
    return task_from_row({**row, "base_commit": base, "repo_path": str(root / "repo"), "venv": str(root / "venv"),
                          "standin_for_base_commit": real_base}, where=f"{LITE}: {INSTANCE_ID}")
