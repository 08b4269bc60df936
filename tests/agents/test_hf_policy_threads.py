"""HFPolicy's CPU thread policy: small models generate with one intra-op thread, and the setting is restored."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from swe_dagger.agents.backends.hf import HFPolicy
from swe_dagger.agents.protocol import Message, SamplingParams


def _threads_seen_by_forward(policy: HFPolicy) -> list[int]:
    seen: list[int] = []
    policy.model.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    policy.generate([(Message("user", "fix the bug"),)], SamplingParams(max_new_tokens=3))
    return seen


def test_a_small_model_generates_with_one_thread_and_the_setting_is_restored(tiny_student_dir: Path) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        policy = HFPolicy.from_pretrained(tiny_student_dir)
        assert policy.cpu_threads == 1
        seen = _threads_seen_by_forward(policy)
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_none_leaves_torch_alone_and_an_explicit_count_is_used(tiny_student_dir: Path) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = HFPolicy.from_pretrained(tiny_student_dir)
        untouched = HFPolicy(model.model, model.tokenizer, cpu_threads=None)
        assert untouched.cpu_threads is None and set(_threads_seen_by_forward(untouched)) == {2}
        three = HFPolicy.from_pretrained(tiny_student_dir, cpu_threads=3)
        assert set(_threads_seen_by_forward(three)) == {3} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_thread_count_below_one_is_refused(tiny_student_dir: Path) -> None:
    policy = HFPolicy.from_pretrained(tiny_student_dir)
    with pytest.raises(ValueError, match="cpu_threads must be >= 1"):
        HFPolicy(policy.model, policy.tokenizer, cpu_threads=0)
