"""Typed values from YAML and text: the one converter to a declared type, dataclass trees from mappings, dotted
overrides, bounds. The bottom layer: imports nothing of swe_dagger, so dagger/ and teachers/ share it."""

from swe_dagger.typed.bounds import check_bounds
from swe_dagger.typed.convert import ConfigError, coerce, field_names, from_mapping, to_mapping
from swe_dagger.typed.overrides import apply_override, load, merge

__all__ = ["ConfigError", "apply_override", "check_bounds", "coerce", "field_names", "from_mapping", "load", "merge",
           "to_mapping"]
