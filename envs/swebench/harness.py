"""Harness compatibility: ``preds.jsonl`` in swebench's prediction format, and a hand-off to its ``run_evaluation``.

The predictions file is read back with swebench's own loader (``get_predictions_from_file``) before it is trusted.
:func:`run_harness` runs ``swebench.harness.run_evaluation`` on it (official images, namespace ``swebench``) and
returns the harness's verdict per instance, so it can be compared with ours.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from swebench.harness.constants import KEY_INSTANCE_ID, KEY_MODEL, KEY_PREDICTION, LOG_REPORT, RUN_EVALUATION_LOG_DIR
from swebench.harness.utils import get_predictions_from_file

from swe_dagger.envs.swebench.specs import NAMESPACE, instance_row
from swe_dagger.envs.task import Task

_CWD_LOCK = threading.Lock()


class PredictionsError(ValueError):
    """A predictions file swebench's loader rejects, or one missing a required field."""


@dataclass(frozen=True)
class Prediction:
    instance_id: str
    model_name_or_path: str
    model_patch: str


def write_predictions(path: Path, predictions: Sequence[Prediction]) -> Path:
    """Write ``path`` (JSONL, one prediction per line) atomically."""
    lines = [json.dumps({KEY_INSTANCE_ID: p.instance_id, KEY_MODEL: p.model_name_or_path,
                         KEY_PREDICTION: p.model_patch}) for p in predictions]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)
    return path


def load_predictions(path: Path) -> list[Prediction]:
    """Read predictions with swebench's loader; every row must have the three harness fields as strings."""
    try:
        rows = get_predictions_from_file(str(path), "unused", "test")
    except (ValueError, json.JSONDecodeError) as exc:
        raise PredictionsError(f"{path}: swebench's prediction loader rejects it: {exc}") from exc
    out = []
    for n, row in enumerate(rows, 1):
        for key in (KEY_INSTANCE_ID, KEY_MODEL, KEY_PREDICTION):
            if not isinstance(row.get(key), str):
                raise PredictionsError(f"{path}: prediction {n}: field {key!r} missing or not a string")
        out.append(Prediction(row[KEY_INSTANCE_ID], row[KEY_MODEL], row[KEY_PREDICTION]))
    return out


def write_instances(path: Path, tasks: Sequence[Task]) -> Path:
    """The classic rows of ``tasks`` as JSONL: the dataset file the harness is given (no hub download)."""
    path.write_text("".join(json.dumps(instance_row(t)) + "\n" for t in tasks), encoding="utf-8")
    return path


def run_harness(predictions: Path, tasks: Sequence[Task], work_dir: Path, *, run_id: str = "swe-dagger",
                max_workers: int = 4, timeout_s: int = 1800, namespace: str | None = NAMESPACE) -> dict[str, bool]:
    """Run swebench's ``run_evaluation`` on ``predictions`` in ``work_dir``; returns ``{instance_id: resolved}``.

    The harness writes ``logs/run_evaluation/...`` under the current directory, so it runs with ``work_dir`` as
    the working directory (process-wide: one harness run at a time). Empty patches are not run by the harness and
    count as not resolved, as in its report. An instance the harness could not evaluate (image missing, error) is
    missing from the result, never guessed.
    """
    from swebench.harness.run_evaluation import main as run_evaluation

    preds = load_predictions(predictions)
    work_dir.mkdir(parents=True, exist_ok=True)
    dataset = write_instances(work_dir / "instances.jsonl", tasks)
    with _CWD_LOCK:
        previous = Path.cwd()
        os.chdir(work_dir)
        try:
            ids = [p.instance_id for p in preds]
            run_evaluation(dataset_name=str(dataset.resolve()), split="test", instance_ids=ids,
                           predictions_path=str(predictions.resolve()), max_workers=max_workers,
                           force_rebuild=False, cache_level="instance", clean=False, open_file_limit=4096,
                           run_id=run_id, timeout=timeout_s, namespace=namespace, rewrite_reports=False, modal=False,
                           report_dir=str(work_dir.resolve()))
        finally:
            os.chdir(previous)
    return harness_verdicts(work_dir, run_id, preds)


def harness_verdicts(work_dir: Path, run_id: str, preds: Sequence[Prediction]) -> dict[str, bool]:
    """The per-instance ``report.json`` verdicts the harness wrote (empty patches: not resolved)."""
    out: dict[str, bool] = {}
    for p in preds:
        if not p.model_patch.strip():
            out[p.instance_id] = False
            continue
        report = work_dir / RUN_EVALUATION_LOG_DIR / run_id / p.model_name_or_path.replace("/", "__") / \
            p.instance_id / LOG_REPORT
        if report.is_file():
            data: Mapping[str, Mapping[str, object]] = json.loads(report.read_text())
            out[p.instance_id] = bool(data[p.instance_id]["resolved"])
    return out
