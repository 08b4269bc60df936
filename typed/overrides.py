"""Dotted ``key.sub=value`` overrides on a config mapping, deep merges, and loading a dataclass tree from both."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union, get_args, get_origin

from swe_dagger.typed.convert import ConfigError, coerce, field_names, from_mapping, to_mapping, yaml_value

T = TypeVar("T")


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
            value = coerce(raw if not raw or _plain(tp) is str else yaml_value(raw, dotted), tp, dotted)
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
        return part, typing.get_type_hints(plain)[part]
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
