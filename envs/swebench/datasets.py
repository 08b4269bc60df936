"""SWE-bench datasets by short name (verified, lite, full) or file, and instance selection."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from swe_dagger.envs.loading import TaskFormatError, load_tasks
from swe_dagger.envs.task import Task

DATASETS = {
    "verified": "princeton-nlp/SWE-bench_Verified",
    "lite": "princeton-nlp/SWE-bench_Lite",
    "full": "princeton-nlp/SWE-bench",
}
"""Short names → Hugging Face datasets (split ``test``); loading them needs ``datasets`` and the network."""


def dataset_source(name: str) -> str:
    """The loadable source for ``name``: a short name's hub id, else ``name`` itself (a file or ``owner/dataset``)."""
    return DATASETS.get(name.lower(), name)


def select_instances(tasks: Sequence[Task], instances: Sequence[str], where: str) -> list[Task]:
    """The tasks named in ``instances`` (in dataset order), or all when empty; unknown ids are an error."""
    if not instances:
        return list(tasks)
    wanted = set(instances)
    known = {t.instance_id for t in tasks}
    missing = sorted(wanted - known)
    if missing:
        raise TaskFormatError(f"{where}: no instance {', '.join(missing[:5])}"
                              f"{f' (+{len(missing) - 5} more)' if len(missing) > 5 else ''} in the dataset")
    return [t for t in tasks if t.instance_id in wanted]


def load_swebench(dataset: str | Path, instances: Sequence[str] = ()) -> list[Task]:
    """Load a SWE-bench dataset (short name, hub id or file) and keep ``instances`` (all when empty)."""
    source = dataset_source(str(dataset)) if not Path(dataset).exists() else Path(dataset)
    tasks = load_tasks(source)
    if not tasks:
        raise TaskFormatError(f"{dataset}: no instances")
    return select_instances(tasks, instances, str(dataset))
