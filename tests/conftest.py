"""Fixtures shared by every test folder."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def vllm_python() -> str:
    """The interpreter that has vLLM (the setup_vllm.sh venv, or $SWE_DAGGER_VLLM_PYTHON). Without one the test is
    skipped, except under CI=true, where it fails: CI must run the vLLM tests."""
    from swe_dagger.agents.backends.vllm.install import VLLMUnavailable, find_vllm_python

    try:
        return find_vllm_python()
    except VLLMUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the vLLM tests: {exc}")
        pytest.skip(str(exc))
