"""Candidate mutants of a project, ordered for breadth: round r holds each function's r-th (seeded) mutant.

Only functions some test names are candidates, and at most ``max_tries`` mutants per function are ever tried.
"""

from __future__ import annotations

import ast
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from swe_dagger.envs.synth.mutations import Mutation, find_mutations, iter_functions
from swe_dagger.envs.synth.project import ModuleTests, Project
from swe_dagger.envs.synth.selection import SuiteItem, select_tests, suite_items


@dataclass(frozen=True)
class Candidate:
    """One mutant to try: where, what, and which tests to run for it."""

    module: ModuleTests
    mutation: Mutation
    selection: tuple[str, ...]
    """Test files or ``file::Item`` ids that exercise the function."""
    docstring: str | None

    @property
    def function_key(self) -> str:
        """``module path::qualname``: the unit of the train/test split."""
        return f"{self.module.module}::{self.mutation.function}"


def _stable_seed(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big")


def _docstrings(tree: ast.Module) -> dict[str, str | None]:
    return {name: ast.get_docstring(func) for name, func in iter_functions(tree)}


def project_candidates(
    project: Project, *, seed: int, kinds: Sequence[str], max_tries: int, max_items: int
) -> list[list[Candidate]]:
    """Per function (in seeded order), its candidate mutants (in seeded order, at most ``max_tries``)."""
    per_function: list[list[Candidate]] = []
    for module in project.modules:
        source = (project.root / module.module).read_text(encoding="utf-8")
        try:
            tree = ast.parse(source, filename=module.module)
        except SyntaxError:
            continue  # a module this interpreter cannot parse (e.g. Python 2 only) has nothing to offer
        items: list[SuiteItem] = []
        for test_file in module.tests:
            try:
                items += suite_items(project.root, test_file)
            except SyntaxError:
                continue
        docs = _docstrings(tree)
        by_function: dict[str, list[Mutation]] = {}
        for mutation in find_mutations(source, module.module):
            if mutation.kind in kinds:
                by_function.setdefault(mutation.function, []).append(mutation)
        for qualname, mutations in by_function.items():
            selection = select_tests(items, qualname, max_items=max_items)
            if not selection:
                continue
            random.Random(_stable_seed(seed, f"{module.module}::{qualname}")).shuffle(mutations)
            per_function.append([Candidate(module, m, selection, docs.get(qualname)) for m in mutations[:max_tries]])
    random.Random(_stable_seed(seed, project.name)).shuffle(per_function)
    return per_function
