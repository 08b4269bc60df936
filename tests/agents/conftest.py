"""Shared fixtures: a real tiny student (trained tokenizer + random-init Qwen3) built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
from swe_dagger.agents.tiny_student import build_tiny_student


@pytest.fixture(scope="session")
def tiny_student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~300k parameters, 1k vocab: enough to exercise every code path in well under a second per call."""
    return build_tiny_student(tmp_path_factory.mktemp("tiny_student"), params="300k", vocab_size=1000, seed=0)
