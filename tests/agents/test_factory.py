"""make_policy: backends by registry name or dotted path, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from swe_dagger.agents.agent import Agent
from swe_dagger.agents.backends.hf import HFPolicy
from swe_dagger.agents.backends.openai import OpenAIPolicy
from swe_dagger.agents.factory import POLICY_BACKENDS, StudentConfig, make_policy
from swe_dagger.agents.protocol import SamplingParams
from swe_dagger.sandbox.registry import UnknownNameError

from .conftest import FaultServer, Reply


def test_hf_backend_loads_a_model_dir(tiny_student_dir: Path) -> None:
    policy = make_policy(StudentConfig(backend="hf", model=str(tiny_student_dir), max_new_tokens=3))
    assert isinstance(policy, HFPolicy) and policy.model_version == str(tiny_student_dir)
    out = policy.generate([Agent().initial_messages("t")], StudentConfig(max_new_tokens=3).sampling())
    assert out[0].token_ids is not None and len(out[0].token_ids) <= 3
    policy.close()


def test_openai_backend_talks_to_the_configured_server(fault_server: FaultServer) -> None:
    fault_server.script = [Reply(text="THOUGHT: x")]
    cfg = StudentConfig(backend="openai", model="srv-model", base_url=fault_server.url, temperature=0.5,
                        extra_body={"return_token_ids": True})
    with make_policy(cfg) as policy:  # type: ignore[attr-defined]
        assert isinstance(policy, OpenAIPolicy)
        assert [c.text for c in policy.generate([Agent().initial_messages("t")], cfg.sampling())] == ["THOUGHT: x"]
    sent = fault_server.requests[0]
    assert sent["model"] == "srv-model" and sent["temperature"] == 0.5 and sent["return_token_ids"] is True


def test_dotted_paths_work_and_unknown_names_list_the_backends(tiny_student_dir: Path) -> None:
    cfg = StudentConfig(backend="swe_dagger.agents.factory:hf_policy_from_config", model=str(tiny_student_dir))
    assert isinstance(make_policy(cfg), HFPolicy)
    with pytest.raises(UnknownNameError, match=r"unknown policy backend 'nope'; available: hf, openai, vllm"):
        make_policy(StudentConfig(backend="nope", model="m"))
    assert {"hf", "openai", "vllm"} <= set(POLICY_BACKENDS.names())
    assert callable(POLICY_BACKENDS.resolve("vllm"))


def test_bad_configs_fail_clearly() -> None:
    with pytest.raises(ValueError, match=r"StudentConfig\.model is empty"):
        make_policy(StudentConfig(backend="hf", model=""))
    with pytest.raises(ValueError, match=r"StudentConfig\.model is 'tiny' \(the default\): a training run builds"):
        make_policy(StudentConfig(backend="hf"))
    with pytest.raises(TypeError, match="built a str, not a Policy"):
        make_policy(StudentConfig(backend="builtins:str", model="m"))
    assert StudentConfig(max_new_tokens=7, seed=3).sampling() == SamplingParams(max_new_tokens=7, seed=3)


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("max_new_tokens", 0, "student.max_new_tokens must be >= 1, got 0"),
    ("max_prompt_tokens", -3, "student.max_prompt_tokens must be >= 1, got -3"),
    ("temperature", float("nan"), "student.temperature must be a finite number >= 0, got nan"),
    ("timeout_s", 0.0, "student.timeout_s must be > 0, got 0.0"),
    ("max_concurrency", 0, "student.max_concurrency must be >= 1, got 0"),
    ("top_p", 0.0, r"student.top_p must be in \(0, 1\], got 0.0"),
])
def test_bad_values_name_the_student_key(field: str, value: float, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        StudentConfig(**{field: value})  # type: ignore[arg-type]
