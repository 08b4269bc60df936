"""Metrics beyond ``metrics.jsonl``: TensorBoard and (optionally) Weights & Biases, as sinks of one
:class:`~swe_dagger.dagger.report.sinks.Reporter`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from swe_dagger.dagger.report.sinks import AXES, Axis, MetricsSink, Reporter

if TYPE_CHECKING:
    from swe_dagger.dagger.config import RunConfig

__all__ = ["AXES", "Axis", "MetricsSink", "Reporter", "open_reporter"]


def open_reporter(cfg: RunConfig, run_dir: Path) -> Reporter:
    """TensorBoard in ``<run_dir>/tb`` (``tensorboard: true``) and W&B (``report.wandb: true``); a missing wandb
    package raises :class:`~swe_dagger.dagger.report.wandb_sink.WandbUnavailable` naming the fix."""
    from swe_dagger.dagger.report.content import run_hparams

    reporter = Reporter()
    try:
        if cfg.tensorboard:
            from swe_dagger.dagger.report.tb_sink import TensorBoardSink

            reporter.sinks.append(TensorBoardSink(run_dir / "tb"))
        if cfg.report.wandb:
            from swe_dagger.dagger.report.wandb_sink import WandbSink

            r = cfg.report
            reporter.sinks.append(WandbSink(run_dir, project=r.wandb_project, name=r.wandb_name or run_dir.name,
                                            mode=r.wandb_mode, config=run_hparams(cfg)))
    except BaseException:
        reporter.close()
        raise
    return reporter
