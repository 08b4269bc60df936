"""Shared fixtures for the DAgger tests: a real tiny student (random-init Qwen3 + trained BPE tokenizer)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from swe_dagger.agents.tiny_student import build_tiny_student

    return build_tiny_student(tmp_path_factory.mktemp("student") / "init", params="300k", vocab_size=1000, seed=0)
