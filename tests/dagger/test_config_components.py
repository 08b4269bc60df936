"""One config per component: the run config's student/teacher sections are the factories' own dataclasses, handed
to ``make_policy``/``make_teacher``/``make_router`` as loaded; run dirs saved before that still load."""

from __future__ import annotations

import shutil
from contextlib import closing
from pathlib import Path

import pytest

from swe_dagger.agents.agent import Agent
from swe_dagger.agents.backends.hf import HFPolicy
from swe_dagger.agents.factory import StudentConfig, make_policy
from swe_dagger.dagger.config import ConfigError, RunConfig, load_config, load_resolved, save_resolved
from swe_dagger.teachers.cache import CachedTeacher
from swe_dagger.teachers.factory import TeacherConfig, make_teacher
from swe_dagger.teachers.router import RouterTeacher, TeacherRouteConfig, make_router

OLD_CONFIG = Path(__file__).resolve().parents[1] / "fixtures" / "run_config_before_one_config.yaml"


def test_the_student_section_is_the_factorys_config_and_make_policy_takes_it(tiny_student_dir: Path) -> None:
    cfg = load_config(None, [f"student.model={tiny_student_dir}", "student.max_new_tokens=3"])
    assert type(cfg.student) is StudentConfig  # the agents/ class itself, no copy
    with closing(make_policy(cfg.student)) as policy:
        assert isinstance(policy, HFPolicy) and policy.model_version == str(tiny_student_dir)
        out = policy.generate([Agent().initial_messages("t")], cfg.student.sampling())
    assert out[0].token_ids is not None and 1 <= len(out[0].token_ids) <= 3


def test_the_teacher_sections_are_the_factorys_configs_and_build_as_loaded(tmp_path: Path) -> None:
    cfg = load_config(None, ["teacher.options.style=patch", "teacher.price_per_1k_prompt=0.5",
                             "teachers=[{name: oracle, tasks: 'demo__*', cost: 1}]"])
    assert type(cfg.teacher) is TeacherConfig and type(cfg.teachers[0]) is TeacherRouteConfig
    with closing(make_teacher(cfg.teacher, tmp_path)) as teacher:
        assert isinstance(teacher, CachedTeacher) and teacher.inner.inner.config.style == "patch"  # type: ignore
        assert teacher.inner.price_per_1k_prompt == 0.5  # type: ignore[attr-defined]
    with closing(make_teacher(load_config(None, ["teacher.cache=false"]).teacher, tmp_path)) as teacher:
        assert not isinstance(teacher, CachedTeacher)  # teacher.cache: false keeps no cache, directory or not
    with closing(make_router(cfg.teachers, tmp_path)) as router:
        assert isinstance(router, RouterTeacher) and [r.cost for r in router.routes] == [1.0]


def test_a_config_saved_before_one_config_per_component_still_loads(tmp_path: Path) -> None:
    shutil.copy(OLD_CONFIG, tmp_path / "config.yaml")  # what --resume and `swe-dagger eval RUN_DIR` read
    cfg = load_resolved(tmp_path)
    assert (cfg.student.max_new_tokens, cfg.student.rollout_dtype, cfg.student.model) == (96, "bfloat16", "tiny")
    assert cfg.teacher == TeacherConfig(options={"style": "patch"})
    assert cfg.teachers == (TeacherRouteConfig("oracle", tasks="demo__*", cost=1.0),)
    assert cfg.student.top_p == 1.0 and cfg.student.base_url == ""  # the factory's keys take their defaults
    assert cfg == load_config(OLD_CONFIG)  # as --config too
    save_resolved(cfg, tmp_path / "again")
    assert load_resolved(tmp_path / "again") == cfg


@pytest.mark.parametrize(("override", "needle"), [
    ("student.max_new_tokens=0", "student.max_new_tokens must be >= 1, got 0"),
    ("student.temperature=-0.5", "student.temperature must be >= 0, got -0.5"),
    ("student.backend=openai", r"student\.backend: 'openai' is not one of \['hf', 'vllm'\]"),
    ("student.rollout_dtype=auto", r"student\.rollout_dtype: 'auto' is not one of \['float32', 'bfloat16'\]"),
    ("student.rollout_dtype=fp8", r"student\.rollout_dtype: 'fp8' is not one of"),
    ("student.top_p=0.9", r"student\.top_p: a training run does not use it .* leave it at 1\.0"),
    ("student.base_url=http://x/v1", r"student\.base_url: a training run does not use it"),
    ("teacher.name=", r"teacher\.name is empty"),
    ("teacher.price_per_1k_prompt=-1", r"teacher\.price_per_1k_prompt must be a finite number >= 0, got -1\.0"),
    ("teachers=[{name: oracle, cost: -1}]", r"teachers\[0\]: teachers\[\]\.cost must be a finite number >= 0"),
    ("teachers=[{name: ''}]", r"teachers\[0\]: teachers\[\]\.name is empty"),
])
def test_bad_component_values_name_the_key(override: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_config(None, [override])


def test_factory_defaults_are_the_runs() -> None:
    assert RunConfig().student == StudentConfig() and RunConfig().teacher == TeacherConfig()
