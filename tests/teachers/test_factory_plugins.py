"""Teachers by name: built-ins, dotted paths, typed options, and a third-party package installed for real."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from swe_dagger.agents.protocol import Message
from swe_dagger.sandbox.registry import UnknownNameError
from swe_dagger.teachers.cache import CachedTeacher
from swe_dagger.teachers.cost import MeteredTeacher, usage_of
from swe_dagger.teachers.factory import TeacherConfig, TeacherOptionError, make_teacher, teacher_names
from swe_dagger.teachers.oracle import OracleTeacher
from swe_dagger.teachers.protocol import TeacherState

PLUGIN = Path(__file__).resolve().parents[1] / "fixtures" / "teacher_plugin"


def test_builtin_oracle_with_typed_string_options_metered_and_cached(tiny_repo, tmp_path: Path) -> None:
    cfg = TeacherConfig("oracle", {"run_tests": "false", "max_repair_lines": "12"})
    teacher = make_teacher(cfg, tmp_path)
    assert isinstance(teacher, CachedTeacher) and isinstance(teacher.inner, MeteredTeacher)
    oracle = teacher.inner.inner
    assert isinstance(oracle, OracleTeacher)
    assert oracle.config.run_tests is False and oracle.config.max_repair_lines == 12
    state = TeacherState(tiny_repo.task, (Message("user", "fix it"),), "")
    assert teacher.label([state]) == oracle.label([state])
    assert (tmp_path / f"{oracle.teacher_id.replace(':', '_').replace(',', '_')}.jsonl").exists()
    assert isinstance(make_teacher(TeacherConfig("swe_dagger.teachers.oracle:OracleTeacher")), MeteredTeacher)


def test_bad_names_and_options_say_what_exists() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown teacher 'orcale'; available: .*oracle.*replay"):
        make_teacher(TeacherConfig("orcale"))
    with pytest.raises(TeacherOptionError, match=r"no option 'run_test'; it accepts: look_first, run_tests"):
        make_teacher(TeacherConfig("oracle", {"run_test": "no"}))
    with pytest.raises(TeacherOptionError, match=r"option 'context': expected int, got 'three'"):
        make_teacher(TeacherConfig("oracle", {"context": "three"}))
    with pytest.raises(TypeError, match="lacks the Teacher protocol"):
        make_teacher(TeacherConfig("swe_dagger.teachers.cost:TeacherUsage"))


def test_a_third_party_teacher_installed_as_a_separate_package_is_usable_by_name(
    tiny_repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "list-then-submit" not in teacher_names()
    source = shutil.copytree(PLUGIN, tmp_path / "src")  # setuptools builds in the source tree: use a copy
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    assert (target / "swe_dagger_list_teacher").is_dir()
    monkeypatch.syspath_prepend(str(target))
    importlib.invalidate_caches()
    assert "list-then-submit" in teacher_names()
    teacher = make_teacher(TeacherConfig("list-then-submit", {"steps": "2"}))
    msgs: tuple[Message, ...] = (Message("user", "task"),)
    replies = []
    for _ in range(3):
        (text,) = teacher.label([TeacherState(tiny_repo.task, msgs, "")])
        replies.append(text)
        msgs += (Message("assistant", text), Message("user", "output"))
    assert ["```bash\nls\n```" in r for r in replies] == [True, True, False]
    assert "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT" in replies[2]
    usage = usage_of(teacher)
    assert usage is not None and usage.labels == 3 and usage.teacher_id == "list-then-submit:2:ls"
    teacher.close()
