"""The import rules each folder's ``__init__.py`` states, checked on the source: records are made in rollout/ without
SFT code, a run's context knows nothing of how students are trained, and agents/ never reaches up into dagger/.
Imports under ``if TYPE_CHECKING:`` are annotations, not arrows, and are not counted."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# folder -> (forbidden module prefixes, allowed exceptions inside them)
RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dagger/rollout": (("swe_dagger.dagger.sft", "swe_dagger.dagger.grpo", "swe_dagger.dagger.eval",
                        "swe_dagger.dagger.loop"), ("swe_dagger.dagger.sft.checkpoints",)),
    "dagger/run": (("swe_dagger.dagger.rollout", "swe_dagger.dagger.sft", "swe_dagger.dagger.grpo",
                    "swe_dagger.dagger.eval", "swe_dagger.dagger.loop"), ()),
    "dagger/sft": (("swe_dagger.dagger.grpo", "swe_dagger.dagger.eval", "swe_dagger.dagger.loop",
                    "swe_dagger.dagger.run."), ()),
    "dagger/grpo": (("swe_dagger.dagger.eval", "swe_dagger.dagger.loop"), ()),
    "dagger/eval": (("swe_dagger.dagger.grpo", "swe_dagger.dagger.loop"), ()),
    "agents": (("swe_dagger.dagger", "swe_dagger.teachers", "swe_dagger.envs"), ()),
    "durable": (("swe_dagger",), ()),
    "typed": (("swe_dagger",), ("swe_dagger.typed",)),
    "teachers": (("swe_dagger.dagger",), ()),
}


def _runtime_imports(tree: ast.Module) -> list[str]:
    guarded = [s for s in ast.walk(tree) if isinstance(s, ast.If) and "TYPE_CHECKING" in ast.unparse(s.test)]
    skip = {id(node) for stmt in guarded for part in stmt.body for node in ast.walk(part)}
    names = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


@pytest.mark.parametrize("folder", sorted(RULES))
def test_folder_imports_follow_its_rule(folder: str) -> None:
    forbidden, allowed = RULES[folder]
    broken = sorted(
        f"{file.relative_to(ROOT)}: {name}"
        for file in (ROOT / folder).rglob("*.py")
        for name in _runtime_imports(ast.parse(file.read_text(encoding="utf-8")))
        if any(name == f.rstrip(".") or name.startswith(f.rstrip(".") + ".") for f in forbidden)
        and not any(name == a or name.startswith(a + ".") for a in allowed)
    )
    assert broken == [], f"{folder} imports what its __init__.py rules out"
