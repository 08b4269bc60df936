"""One converter from YAML values and text to a declared type, and dataclass trees to and from mappings.

Generic machinery only (no knowledge of the run's sections or of teachers): :func:`coerce` types a config field's
value or a teacher constructor's option; :func:`from_mapping` builds a dataclass tree and refuses unknown keys with
a message that names the key and lists the ones that exist.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

T = TypeVar("T")

Unknown = Literal["refuse", "keep"]
"""What :func:`coerce` does with a type it has no rule for: refuse it (config fields) or keep the value as given
(teacher options: the constructor checks them)."""

NULL_WORDS = ("none", "null", "~")
"""Text that means ``None`` where the type allows ``None`` (any case)."""


class ConfigError(ValueError):
    """A config key or value is wrong, or a value does not fit its declared type; the message names where."""


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _required_names(cls: type) -> list[str]:
    """Fields without a default (a mapping must give them)."""
    return [f.name for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


def coerce(value: Any, tp: Any, where: str, *, unknown: Unknown = "refuse") -> Any:
    """``value`` (from YAML, or text from the command line or a teacher option) as type ``tp``; ``ConfigError``
    naming ``where`` when it does not fit.

    - ``Any`` and ``object``: the value unchanged.
    - A union that allows ``None``: ``None`` or a null word (``none``, ``null``, ``~``, any case) is ``None`` — also
      for ``str | None``, where the text ``"none"`` means ``None``, not the word. Other values try the members in
      order and the first that fits wins (``str | int`` keeps ``"3"`` as text).
    - ``Literal[...]``: one of its values. A dataclass: a mapping, built by :func:`from_mapping`.
    - ``list[X]`` / ``tuple[X, ...]``: a list, YAML text ``[a, b]``, or ``a,b``; ``dict[K, V]`` (or ``Mapping``):
      a mapping or YAML text.
    - ``bool``: true/yes/1/on or false/no/0/off; ``int`` (``1_000``, an integral float; never a bool); ``float``;
      ``str`` (not a list or mapping); ``Path`` (and other ``PurePath`` types) from text or a path.
    - Any other type: ``unknown="refuse"`` raises ``unsupported config type``; ``unknown="keep"`` returns the value
      as given, for its consumer to check.
    """
    if tp is Any or tp is object:
        return value
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return _union(value, tp, where, unknown)
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {list(allowed)}")
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for section {tp.__name__}, got {value!r}")
        return from_mapping(tp, value, where)
    if origin in (tuple, list):
        return _sequence(value, tp, where, unknown)
    if origin in (dict, Mapping):
        if isinstance(value, str):
            value = yaml_value(value, where)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        key_tp, val_tp = get_args(tp) or (str, Any)
        return {coerce(k, key_tp, where, unknown=unknown): coerce(v, val_tp, f"{where}.{k}", unknown=unknown)
                for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, PurePath):
        if isinstance(value, (str, PurePath)):
            return tp(value)
        raise ConfigError(f"{where}: expected a path, got {value!r}")
    scalar = _SCALARS.get(tp)
    if scalar is not None:
        return scalar(value, where)
    if unknown == "keep":
        return value
    raise ConfigError(f"{where}: unsupported config type {tp}")


def _union(value: Any, tp: Any, where: str, unknown: Unknown) -> Any:
    members = get_args(tp)
    is_null = value is None or (isinstance(value, str) and value.lower() in NULL_WORDS)
    if is_null and type(None) in members:
        return None
    errors = []
    for member in (m for m in members if m is not type(None)):
        try:
            return coerce(value, member, where, unknown=unknown)
        except ConfigError as exc:
            errors.append(str(exc))
    raise ConfigError(f"{where}: {value!r} does not fit {tp}: " + "; ".join(errors))


def _sequence(value: Any, tp: Any, where: str, unknown: Unknown) -> list[Any] | tuple[Any, ...]:
    if isinstance(value, str):
        value = yaml_value(value, where) if value.strip().startswith("[") else [v for v in value.split(",") if v]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    item_args = get_args(tp)
    item_tp = item_args[0] if item_args else Any
    items = [coerce(v, item_tp, f"{where}[{i}]", unknown=unknown) for i, v in enumerate(value)]
    return tuple(items) if get_origin(tp) is tuple else items


def yaml_value(text: str, where: str) -> Any:
    """``text`` read as YAML (``3`` -> 3, ``true`` -> True, ``null`` -> None, ``[a, b]`` -> a list); ``ConfigError``
    naming ``where`` when it is not YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: {text!r} is not a YAML value ({' '.join(str(exc).split())})") from None


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
        return False
    raise ConfigError(f"{where}: expected a boolean (true/false), got {value!r}")


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected int, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).replace("_", ""))
    except ValueError:
        raise ConfigError(f"{where}: expected int, got {value!r}") from None


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected float, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected float, got {value!r}") from None


def _str(value: Any, where: str) -> str:
    if isinstance(value, (dict, list)):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return str(value)


_SCALARS: dict[Any, Callable[[Any, str], Any]] = {bool: _bool, int: _int, float: _float, str: _str}


def from_mapping(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; missing keys take defaults, unknown keys are errors."""
    hints = typing.get_type_hints(cls)
    names = field_names(cls)
    unknown = [k for k in data if k not in names]
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"unknown config key {key!r}; {cls.__name__} has: {', '.join(names)}")
    required = _required_names(cls)
    missing = [k for k in required if k not in data]
    if missing:
        key = f"{where}.{missing[0]}" if where else missing[0]
        raise ConfigError(f"config key {key!r} is missing; {cls.__name__} needs: {', '.join(required)}")
    kwargs = {k: coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ValueError as exc:  # a value check in __post_init__ (a ValueError outside dagger/) names the section's
        if where and not str(exc).startswith(where):  # own key: say where it came from
            raise ConfigError(f"{where}: {exc}") from None
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(str(exc)) from None


def to_mapping(obj: Any) -> Any:
    """A dataclass tree as plain YAML-able data (tuples become lists, paths text)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_mapping(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_mapping(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_mapping(v) for k, v in obj.items()}
    if isinstance(obj, PurePath):
        return str(obj)
    return obj


