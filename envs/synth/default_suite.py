"""The embedded default suite: validated tasks synthesized from pinned sdists, prepared once into the cache.

Layout under ``<cache>/tasks/default/`` (other settings: ``default-N-<hash>/``): ``train.jsonl``, ``test.jsonl``
(paths in them relative to the folder),
``manifest.json`` (sources, versions, counts, seed, timings; written last, so its presence means "complete"),
``validation.report.json``, and ``repos/``, ``venvs/``, ``sdists/``, ``src/``. A second call with the same settings
returns at once from the manifest unless ``force``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.synth.split import split_by_function
from swe_dagger.envs.synth.synthesize import SynthConfig, synthesize_project
from swe_dagger.envs.task import Task

SUITE_FORMAT = 1
"""Bump when the synthesizer changes what it produces: cached suites of another format are rebuilt."""


@dataclass(frozen=True)
class PinnedSource:
    """A PyPI sdist that ships its tests, and how many tasks to take from it."""

    pin: str
    max_tasks: int


DEFAULT_SOURCES: tuple[PinnedSource, ...] = (
    PinnedSource("toolz==1.0.0", 100),
    PinnedSource("boltons==24.1.0", 100),
    PinnedSource("more-itertools==10.5.0", 70),
)


@dataclass(frozen=True)
class DefaultSuite:
    """Where the prepared suite lives and what it holds."""

    root: Path
    train_path: Path
    test_path: Path
    manifest_path: Path
    n_train: int
    n_test: int
    sources: tuple[str, ...]
    seed: int
    prep_s: float
    """Seconds the preparation took (0.0 on a cache hit)."""

    @property
    def n_tasks(self) -> int:
        return self.n_train + self.n_test


def default_cache_dir() -> Path:
    """``$SWE_DAGGER_CACHE``, else ``~/.cache/swe-dagger``."""
    env = os.environ.get("SWE_DAGGER_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "swe-dagger"


class SuiteCacheError(ValueError):
    """The cache folder is one the sandbox cannot see into (the suite's venvs must be mounted there)."""


def check_cache_dir(cache_dir: Path) -> None:
    """Refuse a cache under ``/tmp`` (the sandbox gives each workspace its own) or the sandbox's state folder: the
    tasks' venvs there would not be visible to their tests. Called before any work."""
    from swe_dagger.sandbox.bwrap import STATE_DIR

    resolved = cache_dir.expanduser().resolve()
    for top in ("/tmp", STATE_DIR):
        tops = {Path(top), Path(top).resolve()}
        if any(resolved == t or t in resolved.parents for t in tops):
            raise SuiteCacheError(
                f"cache {cache_dir} is under {top}, which the sandbox hides from the tasks' tests (they run with the "
                "suite's venvs); use a folder elsewhere (the default is ~/.cache/swe-dagger, or set $SWE_DAGGER_CACHE)")


def _settings(sources: Sequence[PinnedSource], max_tasks: int | None, seed: int, validate: bool, frac: float) -> dict:
    return {
        "format": SUITE_FORMAT,
        "sources": [{"pin": s.pin, "max_tasks": s.max_tasks} for s in sources],
        "max_tasks": max_tasks,
        "seed": seed,
        "validated": validate,
        "test_fraction": frac,
    }


def _from_manifest(root: Path, manifest: dict, prep_s: float) -> DefaultSuite:
    return DefaultSuite(
        root=root,
        train_path=root / "train.jsonl",
        test_path=root / "test.jsonl",
        manifest_path=root / "manifest.json",
        n_train=int(manifest["counts"]["train"]),
        n_test=int(manifest["counts"]["test"]),
        sources=tuple(s["pin"] for s in manifest["settings"]["sources"]),
        seed=int(manifest["settings"]["seed"]),
        prep_s=prep_s,
    )


def _validate(tasks: list[Task], root: Path, *, sandbox: str, workers: int, progress: bool) -> tuple[list[Task], dict]:
    from swe_dagger.envs.validate import validate_tasks

    report = validate_tasks(tasks, sandbox=sandbox, reruns=0, workers=workers, progress=progress)
    (root / "validation.report.json").write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    failed = {r.instance_id: list(r.problems) for r in report.results if not r.passed}
    return report.validated_tasks(tasks), {"duration_s": round(report.duration_s, 1), "failed": failed}


def suite_dir_name(settings: dict[str, object]) -> str:
    """``default`` for the full default suite; ``default-N-<hash>`` for any other settings (caps, sources, seeds),
    so a small suite built by a test or a smoke run never overwrites the full one (or another small one)."""
    if settings == _settings(DEFAULT_SOURCES, None, 0, True, 0.2):
        return "default"
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"default-{settings.get('max_tasks') or 'all'}-{digest}"


def ensure_default_suite(
    cache_dir: Path | str | None = None,
    *,
    max_tasks: int | None = None,
    progress: bool = True,
    force: bool = False,
    sources: Sequence[PinnedSource] = DEFAULT_SOURCES,
    seed: int = 0,
    validate: bool = True,
    sandbox: str = "local",
    workers: int = 2,
    test_fraction: float = 0.2,
    on_prepare: Callable[[Path], None] | None = None,
) -> DefaultSuite:
    """Prepare (or find in the cache) the default suite and return where it is.

    A cache the sandbox hides raises :class:`SuiteCacheError` first. ``max_tasks`` caps the whole suite (spread
    evenly over ``sources``; tests use a small cap and one source).
    Validation runs every task with no patch (must grade NO) and with its gold patch (must grade FULL) in the
    ``sandbox`` backend; only tasks that pass are written. Each test file's outcomes were already taken twice on the
    original at synthesis time, so validation runs once per patch (``reruns=0``). ``on_prepare(folder)`` is called
    when the suite is not in the cache, before the (minutes-long) preparation starts.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    check_cache_dir(root)
    settings = _settings(sources, max_tasks, seed, validate, test_fraction)
    root = root / "tasks" / suite_dir_name(settings)
    if not force and (cached := _cached(root, settings)) is not None:
        return cached
    with suite_lock(root):  # two runs started at once: one prepares, the other waits and reads its cache
        if not force and (cached := _cached(root, settings)) is not None:
            return cached
        return _prepare(root, settings, max_tasks, progress, sources, seed, validate, sandbox, workers,
                        test_fraction, on_prepare)


def _cached(root: Path, settings: dict) -> DefaultSuite | None:
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        return None
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("settings") == settings and (root / "train.jsonl").is_file() and (root / "test.jsonl").is_file():
        return _from_manifest(root, manifest, 0.0)
    return None


@contextlib.contextmanager
def suite_lock(root: Path) -> Iterator[None]:
    """Hold the exclusive lock of the suite folder ``root`` (``<root>.lock`` beside it; the kernel releases it when
    the holder dies). Says on stderr when another process holds it."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{root.name}.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another process that is preparing the task suite {root}", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prepare(root: Path, settings: dict, max_tasks: int | None, progress: bool, sources: Sequence[PinnedSource],
             seed: int, validate: bool, sandbox: str, workers: int, test_fraction: float,
             on_prepare: Callable[[Path], None] | None) -> DefaultSuite:
    manifest_path = root / "manifest.json"
    if on_prepare is not None:
        on_prepare(root)
    start = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    manifest_path.unlink(missing_ok=True)
    per_source = math.ceil(max_tasks / len(sources)) if max_tasks is not None else None
    tasks: list[Task] = []
    produced = []
    for source in sources:
        cap = source.max_tasks if per_source is None else min(per_source, source.max_tasks)
        config = SynthConfig(seed=seed, max_tasks=cap, workers=workers)
        result = synthesize_project(source.pin, root, config, progress=progress)
        tasks += result.tasks
        stats = result.stats
        produced.append(
            {"pin": source.pin, "version": result.project.version, "repo": result.project.repo,
             "kept": stats.kept, "tried": stats.tried, "outcomes": stats.reasons}
        )  # fmt: skip
    if max_tasks is not None:
        tasks = tasks[:max_tasks]
    synth_s = time.monotonic() - start
    validation: dict = {}
    if validate:
        tasks, validation = _validate(tasks, root, sandbox=sandbox, workers=workers, progress=progress)
        if not tasks:
            report = root / "validation.report.json"
            raise RuntimeError(f"no synthesized task passed validation; see {report} (first: {validation['failed']})")
    train, test = split_by_function(tasks, test_fraction=test_fraction, seed=seed)
    save_tasks([replace(t, extra={**t.extra, "split": "train"}) for t in train], root / "train.jsonl")
    save_tasks([replace(t, extra={**t.extra, "split": "test"}) for t in test], root / "test.jsonl")
    prep_s = time.monotonic() - start
    manifest = {
        "settings": settings,
        "sources": produced,
        "counts": {"train": len(train), "test": len(test), "total": len(tasks)},
        "timings_s": {"synthesis": round(synth_s, 1), "total": round(prep_s, 1)},
        "validation": validation,
    }
    tmp = manifest_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(manifest_path)
    return _from_manifest(root, manifest, prep_s)
