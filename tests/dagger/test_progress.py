"""What a person watching a run sees: per-round tables that fit an 80-column terminal, and the default suite's
preparation announced once, only when it is really prepared."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from swe_dagger.dagger.config import load_config
from swe_dagger.dagger.grpo.metrics import GroupStats, GRPOStepMetrics, SignalStats
from swe_dagger.dagger.grpo.update import GRPOUpdateResult
from swe_dagger.dagger.run.context import _default_suite_files
from swe_dagger.dagger.run.metrics import IterationMetrics, RolloutStats
from swe_dagger.dagger.run.progress import Display
from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.synth import default_suite
from swe_dagger.envs.task import Task


def recording_display(width: int = 80) -> Display:
    return Display(enabled=True, console=Console(record=True, file=io.StringIO(), width=width))


def test_round_tables_fit_80_columns() -> None:
    big = RolloutStats(episodes=1200, student_turns=72000, teacher_turns=7200, teacher_calls=79200, agreement=1.0,
                       first_turn_agreement=1.0, format_error_rate=1.0, mean_turns=30.0, resolve_rate=1.0,
                       infra_errors=0)
    display = recording_display()
    display.iteration_table(IterationMetrics(12, 0.000244, big, big, 4800, 57600, 0.1234, 3.4567, 14400, 1234.5,
                                             12.3456, {}))
    update = GRPOUpdateResult(400, 7200, 1_234_567, 0.1, -0.0512, 1.5, 0.123, 1.0, 0.00123, 0.00456, 1.0, 1.2, 0.01,
                              2.0, 0.9, 1.0, 3600)
    signal = SignalStats(groups_with_signal=60, missing_signal_groups=4, resampled_groups=12, temperature=0.85,
                         advantage_abs_mean=0.7071, shaped_reward_mean=0.4375, submit_rate=0.125)
    display.grpo_table(GRPOStepMetrics(99, GroupStats(64, 0.25, 0.35, 0.5), big, update, big, 0.0, {}, signal))
    lines = display.console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in "\n".join(lines)
    assert sum(line.startswith("held-out") for line in lines) == 2  # the row names are whole
    assert any(line.lstrip().startswith("teacher 79200 labels") for line in lines)  # its own line, not wrapped
    assert any("KL(ref) 0.00456" in line for line in lines) and any("signal: 60 of 64" in line for line in lines)
    assert any(line.lstrip().startswith("mean |A| 0.707, T = 0.85, 12% submitted") for line in lines)
    assert "  3600 of 7200 turns had advantage 0: not forwarded" in lines


@pytest.fixture
def cache() -> Iterator[Path]:
    """A cache folder outside /tmp (the sandbox hides /tmp, so the suite refuses a cache there)."""
    path = default_suite.default_cache_dir() / "test-progress" / str(os.getpid())
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_default_suite_announced_once_and_only_when_prepared(
    shape_tasks: list[Task], cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(None, [f"tasks.cache_dir={cache}", "tasks.suite_max_tasks=4"])
    settings = default_suite._settings(default_suite.DEFAULT_SOURCES, 4, 0, True, 0.2)
    root = cache / "tasks" / default_suite.suite_dir_name(settings)
    save_tasks(shape_tasks[:3], root / "train.jsonl")  # a suite as an earlier run left it in the cache
    save_tasks(shape_tasks[3:], root / "test.jsonl")
    (root / "manifest.json").write_text(json.dumps({"settings": settings, "counts": {"train": 3, "test": 1}}))
    display = recording_display(200)
    assert _default_suite_files(cfg, display) == (str(root / "train.jsonl"), str(root / "test.jsonl"))
    assert "preparing" not in display.console.export_text()  # a cache hit prepares nothing, so says nothing

    (root / "manifest.json").unlink()  # not in the cache: announced once, before the work starts

    def stop(*args: object, **kwargs: object) -> None:
        raise RuntimeError("synthesis stopped by the test")

    monkeypatch.setattr(default_suite, "synthesize_project", stop)
    with pytest.raises(RuntimeError, match="stopped by the test"):
        _default_suite_files(cfg, display)
    text = display.console.export_text()
    assert text.count("preparing the default task suite") == 1 and str(root) in text
    assert _default_suite_files(load_config(None, ["tasks.train=a.jsonl", "tasks.test=b.jsonl"]), display) is None
