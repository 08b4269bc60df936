"""Typed dataclass configs from YAML mappings and dotted ``key.sub=value`` overrides.

Generic machinery only (no knowledge of the run's sections): build a dataclass tree from a mapping, coerce
strings from the command line to the field's declared type, and refuse unknown keys with a message that names
the key and lists the ones that exist.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config key or value is wrong; the message names the dotted key."""


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _required_names(cls: type) -> list[str]:
    """Fields without a default (a mapping must give them)."""
    return [f.name for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert ``value`` (from YAML or a CLI string) to type ``tp``; raise ``ConfigError`` naming ``where``."""
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in get_args(tp) if a is not type(None)]
        is_null = value is None or (isinstance(value, str) and value.lower() in ("none", "null", "~"))
        if is_null and type(None) in get_args(tp):
            return None
        errors = []
        for arg in args:
            try:
                return coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{where}: {value!r} does not fit {tp}: " + "; ".join(errors))
    if origin is typing.Literal:
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
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip().startswith("[") else [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_args = get_args(tp)
        item_tp = item_args[0] if item_args else Any
        items = [coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        key_tp, val_tp = get_args(tp) or (str, Any)
        return {coerce(k, key_tp, where): coerce(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).replace("_", ""))
        except ValueError:
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{where}: unsupported config type {tp}")


def from_mapping(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; missing keys take defaults, unknown keys are errors."""
    hints = _hints(cls)
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


_BOUNDS = {"at_least_1": (">= 1", lambda v: v >= 1), "at_least_0": (">= 0", lambda v: v >= 0),
           "positive": ("> 0", lambda v: v > 0), "fraction": ("in [0, 1]", lambda v: 0 <= v <= 1)}


def check_bounds(section: str, obj: Any, **names: tuple[str, ...]) -> None:
    """Raise ``ConfigError`` naming ``section.field`` (``field`` for ``section=""``) for the first field of ``obj``
    out of its bound.

    Keywords are bounds (``at_least_1``, ``at_least_0``, ``positive``, ``fraction``), values the field names they
    apply to; ``None`` (an optional field left unset) passes, NaN and infinities fail every bound."""
    for bound, fields in names.items():
        text, holds = _BOUNDS[bound]
        for name in fields:
            value = getattr(obj, name)
            if value is None:
                continue
            finite = isinstance(value, (int, float)) and math.isfinite(value)
            if not (finite and holds(value)):
                key = f"{section}.{name}" if section else name
                raise ConfigError(f"{key} must be {'' if finite else 'a finite number '}{text}, got {value!r}")


def to_mapping(obj: Any) -> Any:
    """A dataclass tree as plain YAML-able data (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_mapping(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_mapping(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_mapping(v) for k, v in obj.items()}
    return obj


def apply_override(data: dict[str, Any], cls: type, override: str) -> None:
    """Apply one ``a.b.c=value`` to the raw mapping ``data`` of dataclass ``cls``.

    Each dotted part names a field of a dataclass section (an unknown one is refused, listing the fields) or a key
    of a mapping-valued field (``teacher.options.reproduce=true`` sets one key and keeps the others). The value is
    read as YAML and converted to the declared type; a ``str`` field (or a mapping of strings, such as
    ``teacher.options``, which the teacher's factory types from its constructor) keeps the text as written."""
    if "=" not in override:
        raise ConfigError(f"override {override!r} must look like key.sub=value")
    dotted, raw = (part.strip() for part in override.split("=", 1))
    parts = dotted.split(".")
    if not all(parts):
        raise ConfigError(f"override {override!r}: empty key in {dotted!r} (write key.sub=value)")
    node: dict[str, Any] = data
    node_tp: Any = cls
    for i, part in enumerate(parts):
        key, tp = _child(node_tp, part, dotted, ".".join(parts[:i]))
        if i == len(parts) - 1:
            value = coerce(raw if _plain(tp) is str else _yaml_value(raw, dotted), tp, dotted)
            node[key] = to_mapping(value) if dataclasses.is_dataclass(value) else value
            return
        if not _is_section(tp):
            raise ConfigError(f"override {dotted!r}: {'.'.join(parts[:i + 1])!r} is a single value "
                              f"({_type_name(_plain(tp))}), not a section with keys")
        child = node.get(key)
        if child is None:  # a section or mapping not given yet (or null): start an empty one
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted!r}: {'.'.join(parts[:i + 1])!r} holds {child!r}, not a mapping")
        node, node_tp = child, tp


def _plain(tp: Any) -> Any:
    """``X`` for ``X | None``; any other type unchanged."""
    if get_origin(tp) in (Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return tp


def _child(node_tp: Any, part: str, dotted: str, here: str) -> tuple[Any, Any]:
    """The key ``part`` stores under and its declared type, inside a node of type ``node_tp``."""
    plain = _plain(node_tp)
    if dataclasses.is_dataclass(plain) and isinstance(plain, type):
        names = field_names(plain)
        if part not in names:
            key = f"{here}.{part}" if here else part
            within = f" (in {dotted!r})" if key != dotted else ""
            raise ConfigError(f"unknown config key {key!r}{within}: {plain.__name__} has: {', '.join(names)}")
        return part, _hints(plain)[part]
    if get_origin(plain) in (dict, Mapping):
        key_tp, val_tp = get_args(plain) or (str, Any)
        return coerce(part, key_tp, f"{here}.{part}"), val_tp
    raise ConfigError(f"override {dotted!r}: {here!r} is not a section")  # _is_section(node_tp) was checked


def _is_section(tp: Any) -> bool:
    """Whether dotted keys may reach inside a field of type ``tp``: a dataclass section or a mapping."""
    plain = _plain(tp)
    return (dataclasses.is_dataclass(plain) and isinstance(plain, type)) or \
        get_origin(plain) in (dict, Mapping)


def _type_name(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else str(tp)


def _yaml_value(raw: str, where: str) -> Any:
    """``raw`` read as YAML (``3`` → 3, ``true`` → True, ``null`` → None, ``[a, b]`` → a list); empty → ``""``."""
    if not raw:
        return ""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: {raw!r} is not a YAML value ({' '.join(str(exc).split())})") from None


def load(cls: type[T], base: Mapping[str, Any], overrides: list[str]) -> T:
    """``cls`` from the mapping ``base`` with the dotted ``overrides`` applied in order."""
    data = _deep_copy(base)
    for override in overrides:
        apply_override(data, cls, override)
    return from_mapping(cls, data)


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: ``top``'s keys replace ``base``'s, section by section."""
    out = _deep_copy(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}
