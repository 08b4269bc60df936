"""Fixtures for env tests: the tiny real calc project (see calc_project.py), built once per session."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from swe_dagger.envs.task import Task

_spec = importlib.util.spec_from_file_location("calc_project", Path(__file__).with_name("calc_project.py"))
assert _spec is not None and _spec.loader is not None
calc_project_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calc_project_module)


@pytest.fixture(scope="session")
def calc_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Task]]:
    """(repo, venv, [swebench-shaped task, synth-shaped task]) built once per session."""
    return calc_project_module.build_calc_project(tmp_path_factory.mktemp("calc"))


@pytest.fixture()
def calc_tasks(calc_project: tuple[Path, Path, list[Task]]) -> list[Task]:
    return calc_project[2]
