"""Turn a kept mutant into a :class:`Task`: a parentless commit holding it, the revert diff as the gold patch
(checked to restore the original tree exactly), and a problem statement from its failing output."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from swe_dagger.envs.synth.candidates import Candidate
from swe_dagger.envs.synth.gitrepo import commit_with_file, init_repo, patch_restores, revert_patch
from swe_dagger.envs.synth.mutations import KINDS
from swe_dagger.envs.synth.project import Project
from swe_dagger.envs.synth.runner import PytestRun, pytest_command
from swe_dagger.envs.synth.statement import dotted_name, write_problem_statement
from swe_dagger.envs.task import Task


class SynthesisError(RuntimeError):
    """Our machinery produced an inconsistent task (e.g. a gold patch that does not restore the original)."""


@dataclass(frozen=True)
class OriginalRepo:
    """The project's git repo and its original commit (branch ``main``)."""

    path: Path
    commit: str

    @classmethod
    def create(cls, project: Project, path: Path) -> OriginalRepo:
        return cls(path, init_repo(project.root, path, f"{project.name} {project.version}"))


def instance_id(project: Project, cand: Candidate) -> str:
    """``name__name-<hash8>``, the hash over the mutated file, the edits and the version (stable across runs)."""
    edits = ";".join(f"{e.start}:{e.end}:{e.text}" for e in cand.mutation.edits)
    digest = hashlib.sha256(f"{project.version}|{cand.module.module}|{edits}".encode()).hexdigest()[:8]
    return f"{project.name}__{project.name}-{digest}"


def build_task(
    project: Project,
    repo: OriginalRepo,
    venv: Path,
    cand: Candidate,
    mutated: str,
    run: PytestRun | None,
    fail_to_pass: tuple[str, ...],
    pass_to_pass: tuple[str, ...],
) -> Task:
    """Commit the mutant, derive and check the gold patch, and write the task row."""
    if run is None or not fail_to_pass:
        raise SynthesisError(f"{cand.mutation.description}: no failing run to build a task from")
    iid = instance_id(project, cand)
    path = cand.module.module
    base = commit_with_file(
        repo.path, repo.commit, path, mutated, f"{project.name} {project.version}", f"refs/tasks/{iid}"
    )
    patch = revert_patch(repo.path, base, repo.commit, path)
    if not patch.strip() or not patch_restores(repo.path, base, patch, repo.commit):
        raise SynthesisError(f"{iid}: the revert diff of {path} does not restore the original tree")
    fix_lines = [ln[1:] for ln in patch.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    statement = write_problem_statement(
        function=dotted_name(path, cand.mutation.function),
        docstring=cand.docstring,
        test_files=sorted({s.split("::")[0] for s in cand.selection}),
        failing=fail_to_pass,
        log=run.log,
        forbidden=fix_lines,
    )
    return Task(
        instance_id=iid,
        repo=project.repo,
        base_commit=base,
        problem_statement=statement,
        patch=patch,
        test_patch="",
        fail_to_pass=fail_to_pass,
        pass_to_pass=pass_to_pass,
        version=project.version,
        environment_setup_commit=repo.commit,
        repo_path=repo.path,
        venv=venv,
        test_cmd=pytest_command(cand.selection, project.pythonpath),
        extra={
            "source": project.source,
            "function": cand.function_key,
            MUTATION_KIND_KEY: cand.mutation.kind,
            "synthesized_by": "swe_dagger.envs.synth",
        },
    )


MUTATION_KIND_KEY = "mutation_kind"
"""``Task.extra`` key naming the mutation a synthesized task reverts."""


def tasks_of_kinds(tasks: list[Task], kinds: tuple[str, ...], where: str) -> list[Task]:
    """The tasks whose mutation kind is one of ``kinds``, in order. A task without a kind (not synthesized) or an
    unknown kind raises ``ValueError`` naming ``where`` and the task: a filter must not drop rows silently."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"{where}: unknown mutation kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
    kept = []
    for task in tasks:
        kind = task.extra.get(MUTATION_KIND_KEY)
        if kind is None:
            raise ValueError(f"{where}: task {task.instance_id!r} has no {MUTATION_KIND_KEY} (not a synthesized task)")
        if kind in kinds:
            kept.append(task)
    return kept
