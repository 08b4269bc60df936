"""Numeric bounds on a config section's fields, checked in one call from its ``__post_init__``."""

from __future__ import annotations

import math
from typing import Any

from swe_dagger.typed.convert import ConfigError

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
