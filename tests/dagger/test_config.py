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


def test_dotted_overrides_reach_inside_mapping_fields(tmp_path: Path) -> None:
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("teacher:\n  options: {style: patch}\n")
    cfg = load_config(cfg_file, ["teacher.options.reproduce=true", "teacher.options.max_repair_lines=12"])
    # one key set per override, the YAML's other keys kept; text kept as written for the teacher's factory to type
    assert cfg.teacher.options == {"style": "patch", "reproduce": "true", "max_repair_lines": "12"}
    from swe_dagger.teachers.factory import check_teacher

    check_teacher(cfg.teacher.name, cfg.teacher.options)  # the oracle takes them, typed from its constructor
    assert load_config(None, ["teacher.options.model=1.0"]).teacher.options == {"model": "1.0"}  # not 1.0 float


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("teacher.option.reproduce=true", r"'teacher\.option' \(in 'teacher\.option\.reproduce'\): TeacherConfig "
                                          r"has: name, options, cache, price_per_1k_prompt"),
        ("teacher.options.a.b=1", r"'teacher\.options\.a' is a single value \(str\), not a section"),
        ("seed.x=1", r"'seed' is a single value \(int\), not a section"),
        ("teacher..x=1", "empty key"),
        ("sft.lr={", r"sft\.lr: '\{' is not a YAML value"),
    ],
)
def test_bad_nested_overrides_name_the_key(override: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_config(None, [override])


def test_override_values_are_read_as_yaml() -> None:
    cfg = load_config(None, ["tasks.kinds=[swap_args, bool_op]", "sft.lr=3e-3", "tasks.max_train=~", "run_dir=007"])
    assert cfg.tasks.kinds == ("swap_args", "bool_op") and cfg.sft.lr == 0.003 and cfg.tasks.max_train is None
    assert cfg.run_dir == "007"  # a str field keeps the text (YAML would read 7)


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


def test_phases_simple_and_mapping_forms(tmp_path: Path) -> None:
    from swe_dagger.dagger.config import phase_plan

    assert [p.name for p in phase_plan(RunConfig())] == ["dagger"]
    simple = load_config(None, ["phases=dagger,grpo", "grpo.steps=2", "dagger.iterations=1"])
    assert [(p.name, p.config.grpo.steps, p.config.dagger.iterations) for p in phase_plan(simple)] == [
        ("dagger", 2, 1), ("grpo", 2, 1)]
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("phases: [{dagger: {iterations: 3}}, {grpo: {steps: 50, group_size: 8}}]\ngrpo:\n  lr: 0.5\n")
    cfg = load_config(cfg_file, ["grpo.temperature=0.7"])
    dagger, grpo = phase_plan(cfg)
    assert dagger.config.dagger.iterations == 3 and dagger.config.grpo == cfg.grpo
    assert (grpo.config.grpo.steps, grpo.config.grpo.group_size) == (50, 8)  # the phase mapping overrides...
    assert (grpo.config.grpo.lr, grpo.config.grpo.temperature) == (0.5, 0.7)  # ...on top of the grpo section
    assert grpo.config.dagger == cfg.dagger and cfg.grpo.steps == RunConfig().grpo.steps
    save_resolved(cfg, tmp_path / "run")
    assert load_resolved(tmp_path / "run") == cfg


@pytest.mark.parametrize(
    ("phases", "needle"),
    [
        ("[dagger, rlhf]", r"phases\[1\]: unknown phase 'rlhf'; available: dagger, grpo"),
        ("[{dagger: {iterations: 1}, grpo: {steps: 1}}]", r"phases\[0\]: expected a phase name or a one-key mapping"),
        ("[{grpo: {stepz: 1}}]", r"phases\[0\]\.grpo\.stepz"),
        ("[{grpo: {steps: many}}]", r"phases\[0\]\.grpo\.steps"),
        ("[grpo, grpo]", r"phases\[1\]: phase 'grpo' appears twice"),
        ("[grpo, dagger]", r"phases\[1\]: the dagger phase .* must come first"),
        ("[]", "phases is empty"),
    ],
)
def test_bad_phases_are_named(phases: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_config(None, [f"phases={phases}"])


def test_bad_grpo_values_are_named() -> None:
    with pytest.raises(ConfigError, match=r"grpo\.temperature must be > 0"):
        load_config(None, ["grpo.temperature=0"])
    with pytest.raises(ConfigError, match=r"grpo\.group_size must be >= 1"):
        load_config(None, ["phases=[{grpo: {group_size: 0}}]"])


def test_every_configurable_phase_is_registered_in_the_loop() -> None:
    from swe_dagger.dagger.config import PHASE_SECTIONS
    from swe_dagger.dagger.loop import PHASES

    assert set(PHASES) == set(PHASE_SECTIONS)
