"""A task = one SWE-bench instance (the classic 12 fields) plus optional local extensions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

VALIDATED_KEY = "validated"
"""``Task.extra`` key written by the validator: a short summary of the passed checks (gold FULL, empty NO)."""


@dataclass(frozen=True)
class Task:
    """One SWE-bench-style instance. Loaders in :mod:`swe_dagger.envs.loading` build and validate these."""

    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    patch: str
    """The gold patch (privileged: teachers may read it, the student never sees it)."""
    test_patch: str = ""
    """Applied to a copy of the workspace at grading time only."""
    fail_to_pass: tuple[str, ...] = ()
    pass_to_pass: tuple[str, ...] = ()
    version: str = ""
    hints_text: str = ""
    created_at: str = ""
    environment_setup_commit: str = ""
    # --- local extensions (all optional) ---
    repo_path: Path | None = None
    """A local git repo or directory holding the source at ``base_commit``."""
    venv: Path | None = None
    """A Python virtualenv that runs the repo and its tests (exposed read-only on PATH)."""
    image: str | None = None
    """A Docker image with the repo (at ``workdir``) and its environment."""
    test_cmd: str | None = None
    """Command that runs the tests at grading time; default: pytest -rA on the files ``test_patch`` touches."""
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    """Other string fields of the row (e.g. ``difficulty``), kept for provenance."""

    @property
    def validated(self) -> bool:
        """True when ``swe-dagger tasks validate`` passed this task (its marker is ``extra["validated"]``)."""
        return bool(self.extra.get(VALIDATED_KEY))
