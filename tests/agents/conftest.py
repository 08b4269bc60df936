"""Shared fixtures: a real tiny student (trained tokenizer + random-init Qwen3) built once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from swe_dagger.agents.hf_policy import HFPolicy
from swe_dagger.agents.tiny_student import build_tiny_student

# The test machine's few cores are shared; one intra-op thread is many times faster than oversubscribing them.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~300k parameters, 1k vocab: enough to exercise every code path in well under a second per call."""
    return build_tiny_student(tmp_path_factory.mktemp("tiny_student"), params="300k", vocab_size=1000, seed=0)


@pytest.fixture(scope="session")
def hf_policy(tiny_student_dir: Path) -> Iterator[HFPolicy]:
    with HFPolicy.from_pretrained(tiny_student_dir, model_version="v0") as policy:
        yield policy
