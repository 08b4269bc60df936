"""Teacher options typed by the shared converter: a ``Path`` option, a null word for ``str | None``, a type the
converter has no rule for handed to the constructor as written, and errors that name the teacher and option."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swe_dagger.teachers.cost import MeteredTeacher
from swe_dagger.teachers.factory import TeacherConfig, TeacherOptionError, check_teacher, make_teacher

NAME = "swe_dagger_opts_teacher:OptionsTeacher"
MODULE = '''
from __future__ import annotations

from decimal import Decimal
from pathlib import Path


class OptionsTeacher:
    """Keeps the options it was built with."""

    def __init__(self, root: Path = Path("."), prompt: str | None = "hi", count: int = 1, rate: Decimal = Decimal(1),
                 anything=None) -> None:
        self.root, self.prompt, self.count, self.anything = root, prompt, count, anything
        self.raw_rate = rate
        self.rate = Decimal(rate)  # the constructor checks the type the converter has no rule for

    @property
    def teacher_id(self) -> str:
        return "options"

    def label(self, states):
        return ["" for _ in states]

    def close(self) -> None:
        pass
'''


@pytest.fixture
def options_teacher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "swe_dagger_opts_teacher.py").write_text(MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield NAME


def _built(options: dict[str, Any]) -> Any:
    teacher = make_teacher(TeacherConfig(NAME, options))
    assert isinstance(teacher, MeteredTeacher)
    return teacher.inner


def test_path_null_word_and_kept_text_reach_the_constructor_typed(options_teacher: str) -> None:
    built = _built({"root": "data/repos", "prompt": "none", "count": "3", "rate": "0.25", "anything": "x"})
    assert built.root == Path("data/repos")
    assert built.prompt is None
    assert built.count == 3
    assert built.raw_rate == "0.25" and str(built.rate) == "0.25"  # kept as text, typed by the constructor
    assert built.anything == "x"
    assert _built({"prompt": "None of that"}).prompt == "None of that"


def test_bad_values_name_the_teacher_and_the_option(options_teacher: str) -> None:
    with pytest.raises(TeacherOptionError, match=rf"^teacher '{NAME}' option 'count': expected int, got 'x'$"):
        check_teacher(NAME, {"count": "x"})
    with pytest.raises(TeacherOptionError, match=rf"^teacher '{NAME}' option 'count': expected int, got '1.5'$"):
        check_teacher(NAME, {"root": "ok", "count": "1.5"})
    with pytest.raises(TeacherOptionError, match=rf"^teacher '{NAME}' has no option 'rates'; it accepts: root, "):
        check_teacher(NAME, {"rates": "1"})


def test_values_given_from_python_are_already_typed(options_teacher: str) -> None:
    built = _built({"count": 4, "root": Path("p")})
    assert built.count == 4 and built.root == Path("p")
