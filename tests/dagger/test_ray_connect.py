"""Connecting to a named Ray address (``rollout.ray_address=host:port``): a transient failure is retried; a
lasting one is one error naming the address. A stand-in for ``ray`` plays the cluster that misses deadlines (a real
head that times out on demand cannot be arranged in seconds)."""

from __future__ import annotations

from typing import Any

import pytest

from swe_dagger.dagger.rollout.ray_engine import connect


class FlakyRay:
    """Stands in for the ``ray`` module: ``ray.init`` fails ``failures`` times, then connects."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[dict[str, Any]] = []
        self.connected = False

    def is_initialized(self) -> bool:
        return self.connected

    def shutdown(self) -> None:
        self.connected = False

    def init(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)
        if len(self.calls) <= self.failures:
            raise TimeoutError("Timed out after 60 seconds while waiting for the GCS")
        self.connected = True


def test_a_transient_connect_failure_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("swe_dagger.dagger.rollout.ray_engine.CONNECT_DELAY_S", 0.0)
    ray = FlakyRay(failures=2)
    assert connect(ray, "10.0.0.5:6379", actors=1, cpus=1.0, resources={}) is True
    assert [call["address"] for call in ray.calls] == ["10.0.0.5:6379"] * 3
    assert ray.connected


def test_a_lasting_connect_failure_is_one_error_naming_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("swe_dagger.dagger.rollout.ray_engine.CONNECT_DELAY_S", 0.0)
    ray = FlakyRay(failures=99)
    with pytest.raises(RuntimeError, match=r"rollout.ray_address=10.0.0.5:6379: no Ray cluster answered after 3 "
                                           r"attempts: TimeoutError: Timed out"):
        connect(ray, "10.0.0.5:6379", actors=1, cpus=1.0, resources={})
    assert len(ray.calls) == 3
