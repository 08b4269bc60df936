"""TensorBoard sink: scalars, text, and the hparams plugin's records, in ``<run_dir>/tb``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from swe_dagger.dagger.report.sinks import Axis, HParam


class TensorBoardSink:
    """A ``SummaryWriter`` on ``log_dir``. Each tag has its own axis in TensorBoard, so the axis is only the step."""

    def __init__(self, log_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer: SummaryWriter | None = SummaryWriter(str(log_dir))

    def scalars(self, values: Mapping[str, float], *, axis: Axis, step: int) -> None:
        if self.writer is not None:
            for tag, value in values.items():
                self.writer.add_scalar(tag, value, step)

    def text(self, tag: str, markdown: str, *, axis: Axis, step: int) -> None:
        if self.writer is not None:
            self.writer.add_text(tag, markdown, step)

    def hparams(self, params: Mapping[str, HParam], final: Mapping[str, float]) -> None:
        """The hparams plugin's experiment, session start (the params) and end records in the run's own event
        file, and each final metric as a scalar (the plugin reads a metric's value from the scalar of that tag)."""
        if self.writer is None:
            return
        from torch.utils.tensorboard.summary import hparams

        # torch's ``hparams`` files booleans as numbers (its bool branch comes after int): keep them as YAML spells them
        spelled = {k: ("true" if v else "false") if isinstance(v, bool) else v for k, v in params.items()}
        experiment, start, end = hparams(spelled, dict(final))
        events = self.writer._get_file_writer()  # what ``SummaryWriter.add_hparams`` uses, minus its extra run dir
        for summary in (experiment, start, end):
            events.add_summary(summary)
        for tag, value in final.items():
            self.writer.add_scalar(tag, value, 0)
        self.writer.flush()

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.close()
