"""Local mode's reading of swebench's specs (fast: no venv is built): pip steps, replayed edits, interpreters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from swe_dagger.envs.swebench.local_overlay import generated_files, install_hook
from swe_dagger.envs.swebench.local_python import find_python
from swe_dagger.envs.swebench.local_requirements import LocalEnvError, spec_requirements
from swe_dagger.envs.swebench.specs import local_test_command
from swe_dagger.envs.task import Task

GIT = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@t.invalid", "GIT_CONFIG_GLOBAL": "/dev/null"}


def _repo(path: Path, files: dict[str, str]) -> str:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-qm", "c"], check=True, env=GIT)
    return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_requirements_then_pip_packages_in_two_pip_runs(tmp_path: Path) -> None:
    commit = _repo(tmp_path, {"requirements/dev.txt": "-r tests.txt\nmarkupsafe==2.1.2  # via jinja2\n-e .\n"
                                                      ".[testutils,spelling]\n",  # the repo itself (pylint 3.0)
                              "requirements/tests.txt": "pytest==7.3.1\n"})
    spec = {"packages": "requirements.txt", "pip_packages": ["MarkupSafe==2.1.1"]}
    steps = spec_requirements("pallets/flask", spec, tmp_path, commit)  # swebench reads requirements/dev.txt
    assert steps.steps == (("pytest==7.3.1", "markupsafe==2.1.2"), ("MarkupSafe==2.1.1",))  # the later pin wins
    conda = spec_requirements("x/y", {"packages": "numpy=1.2 python=3.9 dask-core>=2 hdf5 cdms2=3"}, tmp_path, commit)
    assert conda.steps == (("numpy==1.2", "dask>=2"),) and conda.skipped == ("hdf5", "cdms2==3")
    with pytest.raises(LocalEnvError, match="no requirements file"):
        spec_requirements("x/y", {"packages": "requirements.txt"}, tmp_path, commit)


def test_spec_sed_edits_run_before_the_tests() -> None:
    task = Task("sphinx-doc__sphinx-8035", "sphinx-doc/sphinx", "abc", "", "", version="3.2",
                test_patch="diff --git a/tests/test_ext_autodoc.py b/tests/test_ext_autodoc.py\n")
    lines = local_test_command(task).splitlines()
    assert lines[0] == "sed -i 's/pytest/pytest -rA/' tox.ini"  # the image's edit, replayed in the workspace
    assert lines[-1] == "tox --current-env -epy39 -v -- tests/test_ext_autodoc.py"
    assert lines[-2].startswith("py=$(command -v python) && mkdir -p .tox/py39/bin")  # the venv's python for tox
    assert not any(line.startswith("apt-get") for line in lines)


def test_python_from_pyenv_or_uv_and_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "uv"))
    with pytest.raises(LocalEnvError, match=r"no Python 3\.7 interpreter .*uv python install 3\.7"):
        find_python("3.7")
    uv = tmp_path / "uv" / "cpython-3.7.17-linux-x86_64-gnu" / "bin" / "python3.7"
    uv.parent.mkdir(parents=True)
    uv.touch()
    assert find_python("3.7") == str(uv)
    pyenv = tmp_path / "pyenv" / "versions" / "3.7.16" / "bin" / "python3.7"
    pyenv.parent.mkdir(parents=True)
    pyenv.touch()
    assert find_python("3.7") == str(pyenv)  # pyenv's before uv's
    assert find_python("3.7", "/opt/py/bin/python") == "/opt/py/bin/python"


def test_hook_puts_the_workspace_first_and_serves_generated_files_only_when_missing(tmp_path: Path) -> None:
    """A real interpreter with the hook's ``.pth`` in a site dir: the workspace's files win, the overlay fills gaps."""
    checkout = tmp_path / "checkout"
    _repo(checkout, {".gitignore": "src/pkg/_version.py\n*.egg-info/\n", "src/pkg/__init__.py": "",
                     "src/pkg/core.py": "WHO = 'checkout'\n"})
    (checkout / "src" / "pkg" / "_version.py").write_text("version = '9.9'\n")  # what an install generates
    (checkout / "src" / "pkg.egg-info").mkdir()
    (checkout / "src" / "pkg.egg-info" / "x.py").write_text("")
    assert generated_files(checkout) == ["src/pkg/_version.py"]
    venv = tmp_path / "venv"
    (venv / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    workspace = tmp_path / "testbed"
    (workspace / "src" / "pkg").mkdir(parents=True)
    (workspace / "src" / "pkg" / "__init__.py").write_text("")
    (workspace / "src" / "pkg" / "core.py").write_text("WHO = 'workspace'\n")
    assert install_hook(venv, checkout, workspace=str(workspace)) == ["src/pkg/_version.py"]
    site = next((venv / "lib").glob("python3*/site-packages"))
    code = ("import site, sys; site.addsitedir(sys.argv[1]); import pkg.core, pkg._version; "
            "print(pkg.core.WHO, pkg._version.version, sys.path.index(sys.argv[2]) < sys.path.index(sys.argv[1]))")
    proc = subprocess.run([sys.executable, "-S", "-c", code, str(site), str(workspace / "src")], capture_output=True,
                          text=True, check=True, cwd=tmp_path)
    assert proc.stdout.split() == ["workspace", "9.9", "True"]
    (workspace / "src" / "pkg" / "_version.py").write_text("version = 'mine'\n")  # the workspace's own file wins
    proc = subprocess.run([sys.executable, "-S", "-c", code, str(site), str(workspace / "src")], capture_output=True,
                          text=True, check=True, cwd=tmp_path)
    assert proc.stdout.split() == ["workspace", "mine", "True"]
