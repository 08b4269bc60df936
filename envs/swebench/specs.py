"""The harness's view of an instance: its install/test spec, official image name and eval script (swebench 4.1).

:func:`harness_spec` builds swebench's ``TestSpec`` without the environment script (which fetches requirement
files from GitHub), so image names and eval scripts are available offline. :func:`sandbox_eval_command` adapts the
instance's own eval script to our scrubbed workspace, where the base commit is ``HEAD`` under a new id.
:func:`register_repo_specs` adds a repository swebench does not know (a private repo, or the test mimic) the way
swebench itself is extended: an entry in its spec tables.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from swebench.harness.constants import (
    END_TEST_OUTPUT,
    MAP_REPO_TO_EXT,
    MAP_REPO_VERSION_TO_SPECS,
    START_TEST_OUTPUT,
)
from swebench.harness.log_parsers import MAP_REPO_TO_PARSER
from swebench.harness.log_parsers.python import parse_log_pytest
from swebench.harness.test_spec.create_scripts import make_eval_script_list, make_repo_script_list
from swebench.harness.test_spec.test_spec import TestSpec

from swe_dagger.envs.grading import patch_files
from swe_dagger.envs.task import Task

NAMESPACE = "swebench"
"""Docker Hub namespace of the official per-instance images (``swebench/sweb.eval.x86_64.<id>``)."""
ENV_NAME = "testbed"
REPO_DIR = "/testbed"
_SCRIPT = "/tmp/swe_dagger_instance_eval.sh"
_OUTPUT = "/tmp/swe_dagger_instance_eval.out"


class SpecError(ValueError):
    """swebench has no install/test spec for an instance's repo and version (or a spec file is malformed)."""


def repo_spec(task: Task) -> Mapping[str, Any]:
    """swebench's spec for the task's repo/version (python, packages, install, test_cmd, ...)."""
    versions = MAP_REPO_VERSION_TO_SPECS.get(task.repo)
    if versions is None:
        raise SpecError(f"instance {task.instance_id}: swebench has no spec for repo {task.repo!r}; "
                        "register one with --repo-specs FILE (see register_repo_specs)")
    spec = versions.get(task.version)
    if spec is None:
        raise SpecError(f"instance {task.instance_id}: swebench has no spec for {task.repo} version "
                        f"{task.version!r} (known: {', '.join(sorted(versions))})")
    return spec


def instance_row(task: Task) -> dict[str, Any]:
    """The classic SWE-bench row of ``task`` (what swebench's functions and the harness read)."""
    return {
        "instance_id": task.instance_id, "repo": task.repo, "version": task.version,
        "base_commit": task.base_commit, "patch": task.patch, "test_patch": task.test_patch,
        "problem_statement": task.problem_statement, "hints_text": task.hints_text, "created_at": task.created_at,
        "environment_setup_commit": task.environment_setup_commit or task.base_commit,
        "FAIL_TO_PASS": json.dumps(list(task.fail_to_pass)), "PASS_TO_PASS": json.dumps(list(task.pass_to_pass)),
    }


def harness_spec(task: Task, namespace: str | None = NAMESPACE) -> TestSpec:
    """swebench's TestSpec for ``task`` (repo and eval scripts; the env script is left empty: it needs GitHub)."""
    spec = repo_spec(task)
    row = instance_row(task)
    return TestSpec(
        instance_id=task.instance_id, repo=task.repo, version=task.version,
        repo_script_list=make_repo_script_list(spec, task.repo, REPO_DIR, task.base_commit, ENV_NAME),
        eval_script_list=make_eval_script_list(row, spec, ENV_NAME, REPO_DIR, task.base_commit, task.test_patch),
        env_script_list=[], arch="x86_64", FAIL_TO_PASS=list(task.fail_to_pass),
        PASS_TO_PASS=list(task.pass_to_pass), language=MAP_REPO_TO_EXT[task.repo],
        docker_specs=spec.get("docker_specs", {}), namespace=namespace,
    )


def image_name(task: Task, namespace: str | None = NAMESPACE) -> str:
    """The official instance image, e.g. ``swebench/sweb.eval.x86_64.django_1776_django-11099:latest``."""
    return str(harness_spec(task, namespace).instance_image_key)


def _reset_tests(files: list[str]) -> str:
    """Reset test files to the base (``HEAD`` here); files the base lacks are removed (the harness's intent)."""
    return "; ".join(f"if git cat-file -e HEAD:{q} 2>/dev/null; then git checkout -q HEAD -- {q}; "
                     f"else rm -rf -- {q}; fi" for q in map(shlex.quote, files)) or ":"


def sandbox_eval_script(task: Task, namespace: str | None = NAMESPACE) -> str:
    """The instance's eval script, adapted to a scrubbed workspace.

    The base commit is ``HEAD`` there (same tree, new id), so ``git checkout <base> <test files>`` becomes a reset
    to ``HEAD`` and ``git diff <base>`` a diff against ``HEAD``; ``git show`` is dropped (on a parentless base commit
    it would print the whole repository). Everything else (conda activation, eval commands, install, the test patch,
    the test command between the output markers) is the harness's, unchanged.
    """
    base = task.base_commit
    reset = _reset_tests(patch_files(task.test_patch))
    lines = []
    for line in harness_spec(task, namespace).eval_script_list:
        if line.startswith(f"git checkout {base}"):
            line = reset
        elif line == "git show":
            continue
        elif line.endswith(f"diff {base}"):
            line = line[: -len(base)] + "HEAD"
        lines.append(line)
    return "\n".join(["#!/bin/bash", "set -uxo pipefail", *lines]) + "\n"


def sandbox_eval_command(task: Task, namespace: str | None = NAMESPACE) -> str:
    """A ``test_cmd`` that runs :func:`sandbox_eval_script` and prints the test output between the markers.

    Like the harness's ``get_logs_eval``, only what lies between the start and end markers is graded; when a marker
    is missing (the script broke before the tests) the whole output is printed, so the failure is visible.
    """
    delimiter = "SWE_DAGGER_INSTANCE_EVAL_EOF"
    script = sandbox_eval_script(task, namespace)
    if delimiter in script:
        raise SpecError(f"instance {task.instance_id}: eval script contains the heredoc delimiter {delimiter}")
    return (
        f"cat > {_SCRIPT} <<'{delimiter}'\n{script}{delimiter}\n"
        f"bash {_SCRIPT} > {_OUTPUT} 2>&1; rc=$?\n"
        f"if grep -q '{END_TEST_OUTPUT}' {_OUTPUT}; then\n"
        f"  sed -n '/{START_TEST_OUTPUT}/,/{END_TEST_OUTPUT}/p' {_OUTPUT}\n"
        f"else cat {_OUTPUT}; fi\n"
        "exit $rc"
    )


def local_test_command(task: Task) -> str:
    """The harness's test command for local mode: the spec's ``sed`` edits of tracked files from ``pre_install``
    (the harness's image carries them in ``/testbed``; e.g. ``-rA`` added to ``tox.ini``), its ``eval_commands``,
    then ``test_cmd`` + directives."""
    from swe_dagger.envs.grading import grading_command

    spec = repo_spec(task)
    edits = [c for c in spec.get("pre_install", []) if c.lstrip().startswith("sed ")]
    return "\n".join([*edits, *spec.get("eval_commands", []), *_current_env_pythons(spec), grading_command(task)])


def _current_env_pythons(spec: Mapping[str, Any]) -> list[str]:
    """For ``tox --current-env -eENV`` (sphinx): ``.tox/ENV/bin/python*`` as scripts that exec the venv's python.

    tox-current-env links ``.tox/ENV/bin/python`` to ``sys.executable``; in a venv that is itself a link, and Python
    started through a link outside the venv does not find ``pyvenv.cfg``, so it runs without the venv's packages
    (``No module named pytest``). The plugin keeps files already there, so these scripts are used instead."""
    test_cmd = spec["test_cmd"][-1] if isinstance(spec.get("test_cmd"), list) else str(spec.get("test_cmd", ""))
    found = re.search(r"--current-env\b.*?\s-e\s*([\w.-]+)", test_cmd)
    if found is None:
        return []
    bindir = f".tox/{found.group(1)}/bin"
    names = " ".join(f"{bindir}/{n}" for n in ("python", "python3", f"python{spec['python']}"))
    return [f"py=$(command -v python) && mkdir -p {bindir} && for f in {names}; do "
            f"printf '#!/bin/sh\\nexec \"%s\" \"$@\"\\n' \"$py\" > \"$f\" && chmod +x \"$f\"; done"]


def register_repo_specs(specs: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
    """Add ``{repo: {version: spec}}`` to swebench's tables (pytest log parser, Python) for repos it lacks.

    A spec is swebench's dict: ``python``, ``test_cmd`` (required), and optionally ``packages``, ``pip_packages``,
    ``pre_install``, ``install``, ``eval_commands``. Known repos keep their parser; new versions are added.
    """
    for repo, versions in specs.items():
        if not isinstance(versions, Mapping):
            raise SpecError(f"repo specs: {repo!r} must map versions to specs")
        for version, spec in versions.items():
            if not isinstance(spec, Mapping) or "test_cmd" not in spec or "python" not in spec:
                raise SpecError(f"repo specs: {repo} {version}: a spec needs 'python' and 'test_cmd'")
        MAP_REPO_VERSION_TO_SPECS.setdefault(repo, {}).update({v: dict(s) for v, s in versions.items()})
        MAP_REPO_TO_EXT.setdefault(repo, "py")
        MAP_REPO_TO_PARSER.setdefault(repo, parse_log_pytest)


def load_repo_specs(path: Path) -> None:
    """Register the specs in a JSON file ``{repo: {version: spec}}`` (see :func:`register_repo_specs`)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SpecError(f"{path}: cannot read repo specs ({exc})") from exc
    if not isinstance(data, Mapping):
        raise SpecError(f"{path}: expected a JSON object {{repo: {{version: spec}}}}")
    register_repo_specs(data)
