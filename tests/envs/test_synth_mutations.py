"""Each mutation kind on small snippets, checked against hand-written expected text."""

from __future__ import annotations

import pytest

from swe_dagger.envs.synth.mutations import KINDS, MutationError, apply_mutation, find_mutations

SNIPPET = '''\
def clamp(x, lo, hi):
    """Clamp x into [lo, hi]."""
    if x < lo:
        return lo
    elif x > hi:
        return hi
    return x


def both(a, b):
    return a and not b


def total(xs):
    s = 0
    for i in range(len(xs)):
        s = s + xs[i]
    return pow(s, 2)
'''


def mutants(kind: str) -> dict[str, str]:
    """description → mutated text, for every mutation of ``kind`` in SNIPPET."""
    found = [m for m in find_mutations(SNIPPET) if m.kind == kind]
    return {m.description: apply_mutation(SNIPPET, m) for m in found}


def changed_lines(mutated: str) -> list[tuple[str, str]]:
    old, new = SNIPPET.splitlines(), mutated.splitlines()
    assert len(old) == len(new), "only the mutated line(s) may change"
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_compare_op_swaps_one_operator_in_place() -> None:
    results = list(mutants("compare_op").values())
    assert [changed_lines(r) for r in results] == [
        [("    if x < lo:", "    if x <= lo:")],
        [("    elif x > hi:", "    elif x >= hi:")],
    ]


def test_bool_op_and_remove_not() -> None:
    (swapped,) = mutants("bool_op").values()
    assert changed_lines(swapped) == [("    return a and not b", "    return a or not b")]
    (no_not,) = mutants("remove_not").values()
    assert changed_lines(no_not) == [("    return a and not b", "    return a and b")]


def test_arith_op_and_off_by_one() -> None:
    (arith,) = mutants("arith_op").values()
    assert changed_lines(arith) == [("        s = s + xs[i]", "        s = s - xs[i]")]
    lines = sorted(changed_lines(r)[0][1] for r in mutants("off_by_one").values())
    assert lines == [
        "    for i in range(len(xs) - 1):",
        "    return pow(s, 1)",
        "    return pow(s, 3)",
        "    s = 1",
    ]


def test_drop_branch_removes_an_elif_clause_or_a_whole_if() -> None:
    results = mutants("drop_branch")
    (elif_dropped,) = [r for d, r in results.items() if "`elif`" in d]
    assert elif_dropped == SNIPPET.replace("    elif x > hi:\n        return hi\n", "")
    assert len(results) == 1  # the `if` has an elif, so it is not dropped whole
    single = "def f(x):\n    if x:\n        x = 2\n    return x\n"
    (m,) = [m for m in find_mutations(single) if m.kind == "drop_branch"]
    assert apply_mutation(single, m) == "def f(x):\n    pass\n    return x\n"


def test_wrong_return_and_swapped_arguments() -> None:
    returns = {changed_lines(r)[0][1].strip() for r in mutants("wrong_return").values()}
    assert returns == {"return None", "return not (a and not b)"}
    (swapped,) = mutants("swap_args").values()
    assert changed_lines(swapped) == [("    return pow(s, 2)", "    return pow(2, s)")]


def test_every_kind_occurs_is_deterministic_and_skips_docstrings() -> None:
    first, second = find_mutations(SNIPPET), find_mutations(SNIPPET)
    assert first == second
    assert {m.kind for m in first} == set(KINDS)
    assert {m.function for m in first} == {"clamp", "both", "total"}
    assert all(m.line != 2 for m in first)  # the docstring line is never mutated


def test_methods_non_ascii_and_invalid_results() -> None:
    source = "class K:\n    def m(self, s):\n        t = 'é漢'\n        return len(t) == 2\n"
    (cmp,) = [m for m in find_mutations(source) if m.kind == "compare_op"]
    assert cmp.function == "K.m"
    assert apply_mutation(source, cmp).endswith("        return len(t) != 2\n")
    broken = type(cmp)(cmp.kind, cmp.function, cmp.line, "broken", (type(cmp.edits[0])(0, 5, "clas$"),))
    with pytest.raises(MutationError, match="does not parse"):
        apply_mutation(source, broken)
    with pytest.raises(SyntaxError):
        find_mutations("def f(:\n", "bad.py")


def test_tasks_of_kinds_keeps_the_named_kinds_in_order_and_refuses_rows_without_a_kind() -> None:
    from swe_dagger.envs.synth.task_build import tasks_of_kinds
    from swe_dagger.envs.task import Task

    def task(iid: str, kind: str | None) -> Task:
        extra = {"mutation_kind": kind} if kind else {}
        return Task(instance_id=iid, repo="r", base_commit="c", problem_statement="p", patch="", extra=extra)

    tasks = [task("a", "compare_op"), task("b", "wrong_return"), task("c", "swap_args")]
    assert [t.instance_id for t in tasks_of_kinds(tasks, ("swap_args", "compare_op"), "f")] == ["a", "c"]
    with pytest.raises(ValueError, match="f: task 'x' has no mutation_kind"):
        tasks_of_kinds([*tasks, task("x", None)], ("compare_op",), "f")
    with pytest.raises(ValueError, match="unknown mutation kind"):
        tasks_of_kinds(tasks, ("typo_op",), "f")
