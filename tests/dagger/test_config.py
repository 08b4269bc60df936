"""Config: embedded defaults, YAML sections, dotted overrides with coercion, clear errors, saved resolved config."""

from __future__ import annotations

from pathlib import Path

import pytest

from swe_dagger.dagger.config import ConfigError, RunConfig, load_config, load_resolved, save_resolved


def test_embedded_yaml_equals_dataclass_defaults() -> None:
    assert load_config() == RunConfig()


def test_yaml_then_overrides_with_type_coercion(tmp_path: Path) -> None:
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("mode: bc\ndagger:\n  iterations: 7\n  schedule: linear\nsft:\n  lr: 0.5\n")
    overrides = ["dagger.iterations=3", "sft.lora=true", "tasks.max_train=null", "teacher.options={k: v}"]
    cfg = load_config(cfg_file, overrides)
    assert cfg.mode == "bc"
    assert cfg.dagger.iterations == 3 and cfg.dagger.schedule == "linear"
    assert cfg.sft.lr == 0.5 and cfg.sft.lora is True
    assert cfg.tasks.max_train is None
    assert cfg.teacher.options == {"k": "v"}
    assert cfg.env == RunConfig().env  # untouched sections keep defaults


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("dagger.iteratons=3", "dagger.iteratons"),
        ("nosuch.key=1", "nosuch.key"),
        ("dagger.iterations=three", "dagger.iterations"),
        ("dagger.schedule=cosine", "cosine"),
        ("sft.lora=maybe", "sft.lora"),
        ("dagger.iterations", "key.sub=value"),
    ],
)
def test_bad_overrides_name_the_key(override: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        load_config(None, [override])


def test_unknown_yaml_key_is_an_error(tmp_path: Path) -> None:
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("sft:\n  learning_rate: 1\n")
    with pytest.raises(ConfigError, match=r"sft\.learning_rate.*lr"):
        load_config(cfg_file)


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    cfg = load_config(None, ["seed=5", "dagger.mixing=prefix", "teacher.options={a: b}"])
    save_resolved(cfg, tmp_path)
    assert load_resolved(tmp_path) == cfg
    with pytest.raises(ConfigError, match="not a run directory"):
        load_resolved(tmp_path / "nope")
