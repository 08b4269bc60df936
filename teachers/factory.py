"""Build a teacher by name: built-ins, plugins (entry-point group ``swe_dagger.teachers``), or ``pkg.module:Class``.

Options arrive as strings from YAML/CLI overrides; they are typed here from the teacher constructor's
annotations, and an unknown option lists the accepted ones. The teacher is wrapped in a
:class:`~swe_dagger.teachers.cost.MeteredTeacher` (always) and a
:class:`~swe_dagger.teachers.cache.CachedTeacher` (when a cache directory is given), cache outermost, so
cache hits cost nothing.
"""

from __future__ import annotations

import inspect
import math
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from swe_dagger.sandbox.registry import Registry
from swe_dagger.teachers.cache import CachedTeacher
from swe_dagger.teachers.cost import MeteredTeacher
from swe_dagger.teachers.protocol import Teacher
from swe_dagger.typed import ConfigError, coerce

TEACHERS = Registry(
    "teacher",
    {
        "oracle": "swe_dagger.teachers.oracle:OracleTeacher",
        "chat": "swe_dagger.teachers.chat:ChatTeacher",
        "replay": "swe_dagger.teachers.replay:ReplayTeacher",
    },
    "swe_dagger.teachers",
)


class TeacherOptionError(ValueError):
    """An option the teacher does not take, or a value that does not fit its type."""


@dataclass(frozen=True)
class TeacherConfig:
    """Which teacher, how to build it, and how to account for it: the run config's ``teacher`` section (YAML keys =
    these fields) and what :func:`make_teacher` builds from. Bad values raise ``ValueError`` naming
    ``teacher.<field>``."""

    name: str = "oracle"
    """Registry name (``oracle``, ``chat``, ``replay``), an installed plugin's name, or ``pkg.module:Class``."""
    options: dict[str, str] = field(default_factory=dict)
    """Constructor keyword arguments, as text (YAML values and dotted overrides keep what was written); each is
    converted to the constructor parameter's annotated type by the config's converter (int, float, bool, Path, str,
    Literal, lists, unions: ``none``/``null``/``~`` mean ``None`` where ``None`` is allowed); text for any other type
    goes to the constructor as written."""
    cache: bool = True
    """Keep a label cache in the directory :func:`make_teacher` is given (a run gives ``<run_dir>/teacher_cache``),
    so a resumed run never pays for a label twice."""
    price_per_1k_prompt: float | None = None
    """$ per 1000 prompt tokens (for cost accounting of model-backed teachers)."""
    price_per_1k_completion: float | None = None
    """$ per 1000 completion tokens."""

    def __post_init__(self) -> None:
        check_teacher_fields("teacher", self.name, self.price_per_1k_prompt, self.price_per_1k_completion)


def check_teacher_fields(section: str, name: str, prompt_price: float | None, completion_price: float | None) -> None:
    """``ValueError`` naming ``section.name`` when ``name`` is empty, ``section.price_per_1k_*`` when a price is
    negative or not finite."""
    if not name.strip():
        raise ValueError(f"{section}.name is empty: name a teacher (oracle, chat, replay, or pkg.module:Class)")
    for which, price in (("prompt", prompt_price), ("completion", completion_price)):
        if price is not None and not (math.isfinite(price) and price >= 0):
            raise ValueError(f"{section}.price_per_1k_{which} must be a finite number >= 0, got {price!r}")


def teacher_names() -> list[str]:
    """Every teacher name available: built-ins and installed plugins."""
    return TEACHERS.names()


def _coerce(value: object, annotation: object, where: str) -> object:
    """A text option as the constructor parameter's ``annotation``, by the shared converter
    (:func:`swe_dagger.typed.coerce`); a type it has no rule for keeps the text (the constructor checks it), and a
    value that is not text (given from Python) is already typed and passes as given."""
    if not isinstance(value, str):
        return value
    try:
        return coerce(value, annotation, where, unknown="keep")
    except ConfigError as exc:
        raise TeacherOptionError(str(exc)) from None


def _typed_options(factory: Callable[..., object], options: Mapping[str, object], name: str) -> dict[str, object]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    params = inspect.signature(factory).parameters
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable annotations: pass values through untyped
        hints = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = [p for p, v in params.items() if v.kind in (v.POSITIONAL_OR_KEYWORD, v.KEYWORD_ONLY)]
    out = {}
    for key, value in options.items():
        if key not in params and not takes_any:
            raise TeacherOptionError(
                f"teacher {name!r} has no option {key!r}; it accepts: {', '.join(accepted) or '(none)'}"
            )
        out[key] = _coerce(value, hints.get(key, typing.Any), f"teacher {name!r} option {key!r}")
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip("_")[:120] or "teacher"


def _factory(name: str, options: Mapping[str, object]) -> tuple[Callable[..., object], dict[str, object]]:
    factory = TEACHERS.resolve(name)
    if not callable(factory):
        raise TypeError(f"teacher {name!r} resolves to {factory!r}, which is not a class or factory")
    return factory, _typed_options(factory, options, name)


def check_teacher(name: str, options: Mapping[str, object]) -> None:
    """What :func:`make_teacher` would refuse, found without building the teacher: an unknown name
    (``UnknownNameError``), an option it does not take, a value of the wrong type or a missing required option
    (``TeacherOptionError``)."""
    factory, typed = _factory(name, options)
    try:
        inspect.signature(factory).bind(**typed)
    except TypeError as exc:
        raise TeacherOptionError(f"teacher {name!r}: {exc} (give it in teacher.options)") from None


def make_teacher(cfg: TeacherConfig, cache_dir: Path | None = None) -> Teacher:
    """The configured teacher, metered, and cached in ``cache_dir`` when one is given and ``cfg.cache`` is on."""
    factory, options = _factory(cfg.name, cfg.options)
    teacher = factory(**options)
    if not isinstance(teacher, Teacher):
        raise TypeError(
            f"teacher {cfg.name!r} built a {type(teacher).__name__}, which lacks the Teacher protocol "
            "(teacher_id, label(states), close())"
        )
    metered: Teacher = MeteredTeacher(teacher, cfg.price_per_1k_prompt, cfg.price_per_1k_completion)
    if cache_dir is None or not cfg.cache:
        return metered
    return CachedTeacher(metered, Path(cache_dir) / f"{_slug(teacher.teacher_id)}.jsonl")
