"""The one converter (``swe_dagger.typed.coerce``) on the rules config fields and teacher options share: paths,
null words, union order, types it has no rule for (refused for configs, kept for teachers), Any/object."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from swe_dagger.typed import ConfigError, coerce, from_mapping, load, to_mapping


@dataclass(frozen=True)
class Paths:
    out: Path = Path("runs")
    extra: tuple[Path, ...] = ()
    cache: Path | None = None


def test_paths_from_text_in_sections_and_overrides_and_back_to_text() -> None:
    assert coerce("runs/a", Path, "k") == Path("runs/a")
    assert coerce(Path("b"), Path, "k") == Path("b")
    cfg = load(Paths, {"out": "x/y", "extra": ["a", "b"]}, ["cache=~/c", "out=z"])
    assert cfg == Paths(out=Path("z"), extra=(Path("a"), Path("b")), cache=Path("~/c"))
    assert load(Paths, {}, ["cache=null"]).cache is None
    assert to_mapping(cfg) == {"out": "z", "extra": ["a", "b"], "cache": "~/c"}
    assert yaml.safe_load(yaml.safe_dump(to_mapping(cfg))) == to_mapping(cfg)  # paths dump as plain text
    with pytest.raises(ConfigError, match=r"^paths\.out: expected a path, got \[1\]$"):
        coerce([1], Path, "paths.out")


@pytest.mark.parametrize("word", ["none", "None", "NULL", "~"])
def test_a_null_word_is_none_wherever_none_is_allowed_even_beside_str(word: str) -> None:
    assert coerce(word, str | None, "k") is None
    assert coerce(word, int | None, "k") is None
    assert coerce(word, str, "k") == word  # no None allowed: the word is text


def test_union_members_are_tried_in_order() -> None:
    assert coerce("3", str | int, "k") == "3"
    assert coerce("3", int | str, "k") == 3
    assert coerce("none of it", str | None, "k") == "none of it"
    with pytest.raises(ConfigError, match=r"^k: 'x' does not fit int \| float: k: expected int, got 'x'; k: expected "
                                          r"float, got 'x'$"):
        coerce("x", int | float, "k")


@dataclass(frozen=True)
class WithDecimal:
    rate: Decimal = Decimal("0.5")


def test_a_type_without_a_rule_is_refused_for_configs_and_kept_on_request() -> None:
    with pytest.raises(ConfigError, match=r"^sec\.rate: unsupported config type <class 'decimal\.Decimal'>$"):
        coerce("0.25", Decimal, "sec.rate")
    with pytest.raises(ConfigError, match=r"^sec\.rate: unsupported config type"):
        from_mapping(WithDecimal, {"rate": "0.25"}, "sec")
    assert coerce("0.25", Decimal, "k", unknown="keep") == "0.25"
    assert coerce("1,2", list[Decimal], "k", unknown="keep") == ["1", "2"]  # inside lists and unions too
    assert coerce("0.25", Decimal | None, "k", unknown="keep") == "0.25"
    assert coerce("null", Decimal | None, "k", unknown="keep") is None
    with pytest.raises(ConfigError, match="expected int"):  # a known type is still checked
        coerce("x", int, "k", unknown="keep")


def test_any_and_object_pass_the_value_unchanged() -> None:
    thing = object()
    assert coerce(thing, Any, "k") is thing
    assert coerce(thing, object, "k") is thing
    assert coerce("none", object, "k") == "none"


def test_bad_yaml_text_for_a_mapping_names_the_key() -> None:
    assert coerce("{a: 1}", dict[str, int], "k") == {"a": 1}
    with pytest.raises(ConfigError, match=r"^teacher\.extra: '\{a: \[' is not a YAML value"):
        coerce("{a: [", dict[str, int], "teacher.extra")
