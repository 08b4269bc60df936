"""Weights & Biases sink (``report.wandb: true``; the ``wandb`` extra). Offline by default: the run is written
under ``<run_dir>/wandb`` and can be uploaded later with ``wandb sync``.

W&B keeps one step counter per run, so each axis becomes a logged key (``iteration``, ``sft_step``, …) and every
tag is plotted against its axis (``define_metric(tag, step_metric=axis)``). A resumed run continues the same W&B
run: its id is kept in ``<run_dir>/wandb/run_id``.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from swe_dagger.dagger.report.sinks import Axis, HParam
from swe_dagger.typed import ConfigError

INSTALL_HINT = 'pip install -e ".[wandb]" (or pip install wandb), or set report.wandb=false'


class WandbUnavailable(ConfigError):
    """``report.wandb: true`` but the ``wandb`` package is not installed (a config error: one ``error:`` line)."""


def import_wandb() -> Any:
    try:
        import wandb
    except ImportError as exc:
        raise WandbUnavailable(f"report.wandb is true but the wandb package cannot be imported ({exc}); "
                               f"{INSTALL_HINT}") from None
    return wandb


class WandbSink:
    def __init__(self, run_dir: Path, *, project: str, name: str, mode: str, config: Mapping[str, HParam]) -> None:
        self._wandb = import_wandb()
        root = run_dir / "wandb"
        root.mkdir(parents=True, exist_ok=True)
        id_file = root / "run_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
        id_file.write_text(run_id + "\n")
        self.run: Any = self._wandb.init(project=project, name=name, mode=mode, dir=str(run_dir), id=run_id,
                                         resume="allow", config=dict(config))
        self._axes: set[str] = set()
        self._tags: set[str] = set()

    def _define(self, tags: list[str], axis: Axis) -> None:
        if axis not in self._axes:
            self.run.define_metric(axis)
            self._axes.add(axis)
        for tag in tags:
            if tag not in self._tags:
                self.run.define_metric(tag, step_metric=axis)
                self._tags.add(tag)

    def scalars(self, values: Mapping[str, float], *, axis: Axis, step: int) -> None:
        if self.run is not None:
            self._define(list(values), axis)
            self.run.log({**values, axis: step})

    def text(self, tag: str, markdown: str, *, axis: Axis, step: int) -> None:
        if self.run is not None:
            self._define([tag], axis)
            self.run.log({tag: self._wandb.Html(f"<pre>{html.escape(markdown)}</pre>"), axis: step})

    def hparams(self, params: Mapping[str, HParam], final: Mapping[str, float]) -> None:
        if self.run is not None:
            self.run.config.update(dict(params), allow_val_change=True)
            self.run.summary.update(dict(final))

    def flush(self) -> None:
        """W&B writes in the background; ``finish`` (in :meth:`close`) waits for everything."""

    def close(self) -> None:
        run, self.run = self.run, None
        if run is not None:
            run.finish()
