"""Single-edit mutations of one function, found with :mod:`ast` and applied as text edits.

Each mutation edits only the characters of the mutated construct in the original text (never a re-unparse of the
file), so the diff that reverts it stays hunk-sized and the rest of the file is byte-identical. The kinds, each a
classic mutation-testing operator:

* ``compare_op``  ``<``↔``<=``, ``>``↔``>=``, ``==``↔``!=``, ``in``↔``not in``, ``is``↔``is not``
* ``bool_op``     ``and``↔``or``
* ``arith_op``    ``+``↔``-``
* ``off_by_one``  an integer literal ±1, or a ``range`` bound ``- 1``
* ``drop_branch`` an ``elif`` clause removed, or a whole ``if`` (without ``else``) replaced by ``pass``
* ``wrong_return`` ``return x`` → ``return None`` (or the negation, for boolean results)
* ``swap_args``   the first two positional arguments of a call swapped
* ``remove_not``  ``not x`` → ``x``
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

KINDS = (
    "compare_op",
    "bool_op",
    "arith_op",
    "off_by_one",
    "drop_branch",
    "wrong_return",
    "swap_args",
    "remove_not",
)


class MutationError(ValueError):
    """A mutation could not be applied (its edits overlap, or the result is not valid Python)."""


@dataclass(frozen=True)
class Edit:
    """Replace ``source[start:end]`` (character offsets) with ``text``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Mutation:
    """One bug to inject: which function, what kind, and the text edits that make it."""

    kind: str
    function: str
    """Qualified name inside the module (``func`` or ``Class.method``)."""
    line: int
    """1-based line of the first edit (for messages and ids)."""
    description: str
    edits: tuple[Edit, ...]


class _Source:
    """Maps ``ast`` positions (1-based lines, UTF-8 byte columns) to character offsets in the text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, col_bytes: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col_bytes].decode("utf-8", errors="replace"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        return start, end

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.text[start:end]

    def line_start(self, lineno: int) -> int:
        return self.starts[lineno - 1]


_COMPARE_SWAP: dict[type[ast.cmpop], str] = {
    ast.Lt: "<=",
    ast.LtE: "<",
    ast.Gt: ">=",
    ast.GtE: ">",
    ast.Eq: "!=",
    ast.NotEq: "==",
    ast.In: "not in",
    ast.NotIn: "in",
    ast.Is: "is not",
    ast.IsNot: "is",
}
_GAP = r"^(?P<pre>[\s()\\]*)(?P<op>{ops})(?P<post>[\s()\\]*)$"
_COMPARE_GAP = re.compile(_GAP.format(ops=r"<=|>=|==|!=|<|>|not\s+in|in|is\s+not|is"))
_BOOL_GAP = re.compile(_GAP.format(ops=r"and|or"))
_ARITH_GAP = re.compile(_GAP.format(ops=r"\+|-"))
_NOT_PREFIX = re.compile(r"^not\s*")


def _gap_edit(src: _Source, left: ast.AST, right: ast.AST, pattern: re.Pattern[str], new_op: str) -> Edit | None:
    """Swap the operator written between two operands (only whitespace, parens and the operator may be there)."""
    start, end = src.span(left)[1], src.span(right)[0]
    match = pattern.match(src.text[start:end])
    if match is None:
        return None
    return Edit(start, end, match["pre"] + new_op + match["post"])


def _compare(src: _Source, node: ast.Compare) -> Iterator[tuple[str, Edit, str]]:
    left: ast.AST = node.left
    for op, right in zip(node.ops, node.comparators, strict=True):
        new = _COMPARE_SWAP[type(op)]
        edit = _gap_edit(src, left, right, _COMPARE_GAP, new)
        if edit is not None:
            old = _COMPARE_GAP.match(src.text[edit.start : edit.end])
            yield "compare_op", edit, f"`{old['op'] if old else '?'}` → `{new}`"
        left = right


def _boolop(src: _Source, node: ast.BoolOp) -> Iterator[tuple[str, Edit, str]]:
    old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
    edit = _gap_edit(src, node.values[0], node.values[1], _BOOL_GAP, new)
    if edit is not None:
        yield "bool_op", edit, f"`{old}` → `{new}`"


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _binop(src: _Source, node: ast.BinOp) -> Iterator[tuple[str, Edit, str]]:
    if not isinstance(node.op, (ast.Add, ast.Sub)) or _is_str(node.left) or _is_str(node.right):
        return
    old, new = ("+", "-") if isinstance(node.op, ast.Add) else ("-", "+")
    edit = _gap_edit(src, node.left, node.right, _ARITH_GAP, new)
    if edit is not None:
        yield "arith_op", edit, f"`{old}` → `{new}`"


def _int_constant(src: _Source, node: ast.Constant) -> Iterator[tuple[str, Edit, str]]:
    if type(node.value) is not int:
        return
    start, end = src.span(node)
    for new in (node.value + 1, node.value - 1):
        if new >= 0:
            yield "off_by_one", Edit(start, end, str(new)), f"`{node.value}` → `{new}`"


def _range_bound(src: _Source, node: ast.Call) -> Iterator[tuple[str, Edit, str]]:
    if not (isinstance(node.func, ast.Name) and node.func.id == "range") or not 1 <= len(node.args) <= 3:
        return
    bound = node.args[0] if len(node.args) == 1 else node.args[1]
    if isinstance(bound, (ast.Constant, ast.Starred)):
        return  # literals are covered by the integer ±1 operator
    text = src.segment(bound)
    simple = isinstance(bound, (ast.Name, ast.Attribute, ast.Call, ast.Subscript))
    new = f"{text} - 1" if simple else f"({text}) - 1"
    start, end = src.span(bound)
    yield "off_by_one", Edit(start, end, new), f"range bound `{text}` → `{new}`"


def _call_args(src: _Source, node: ast.Call) -> Iterator[tuple[str, Edit, str]]:
    if len(node.args) < 2 or any(isinstance(a, ast.Starred) for a in node.args[:2]):
        return
    first, second = node.args[0], node.args[1]
    a, b = src.segment(first), src.segment(second)
    if a == b:
        return
    start, end = src.span(first)[0], src.span(second)[1]
    between = src.text[src.span(first)[1] : src.span(second)[0]]
    yield "swap_args", Edit(start, end, b + between + a), f"arguments `{a}` and `{b}` swapped"


def _return(src: _Source, node: ast.Return) -> Iterator[tuple[str, Edit, str]]:
    value = node.value
    if value is None or (isinstance(value, ast.Constant) and value.value is None):
        return
    start, end = src.span(value)
    text = src.text[start:end]
    if isinstance(value, ast.Constant) and isinstance(value.value, bool):
        new = str(not value.value)
    elif isinstance(value, (ast.Compare, ast.BoolOp)) or (
        isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.Not)
    ):
        new = f"not ({text})"
    else:
        new = "None"
    yield "wrong_return", Edit(start, end, new), f"returns `{new}` instead of `{text[:60]}`"


def _remove_not(src: _Source, node: ast.UnaryOp) -> Iterator[tuple[str, Edit, str]]:
    if not isinstance(node.op, ast.Not):
        return
    start, operand_start = src.span(node)[0], src.span(node.operand)[0]
    match = _NOT_PREFIX.match(src.text[start:operand_start])
    if match is not None:
        yield "remove_not", Edit(start, start + match.end(), ""), "`not` removed"


def _body_end(stmts: list[ast.stmt]) -> int:
    return max(s.end_lineno or s.lineno for s in stmts)


def _drop_branch(src: _Source, node: ast.If) -> Iterator[tuple[str, Edit, str]]:
    line = src.lines[node.lineno - 1]
    indent = line[: len(line) - len(line.lstrip())]
    if src.offset(node.lineno, node.col_offset) != src.line_start(node.lineno) + len(indent):
        return  # not the first thing on its line
    orelse = node.orelse
    if len(orelse) == 1 and isinstance(orelse[0], ast.If):
        elif_node = orelse[0]
        if src.lines[elif_node.lineno - 1].lstrip().startswith("elif"):
            start = src.line_start(elif_node.lineno)
            end = src.line_start(_body_end(elif_node.body) + 1)
            yield "drop_branch", Edit(start, end, ""), f"`elif` branch at line {elif_node.lineno} removed"
    end_line = node.end_lineno or node.lineno
    after = src.text[src.span(node)[1] : src.line_start(end_line + 1)].strip()
    if not orelse and line.lstrip().startswith("if") and (not after or after.startswith("#")):
        start, end = src.line_start(node.lineno), src.line_start(end_line + 1)
        yield "drop_branch", Edit(start, end, f"{indent}pass\n"), f"`if` at line {node.lineno} removed"


def _node_mutations(src: _Source, node: ast.AST) -> Iterator[tuple[str, Edit, str]]:
    if isinstance(node, ast.Compare):
        yield from _compare(src, node)
    elif isinstance(node, ast.BoolOp):
        yield from _boolop(src, node)
    elif isinstance(node, ast.BinOp):
        yield from _binop(src, node)
    elif isinstance(node, ast.Constant):
        yield from _int_constant(src, node)
    elif isinstance(node, ast.Call):
        yield from _range_bound(src, node)
        yield from _call_args(src, node)
    elif isinstance(node, ast.Return):
        yield from _return(src, node)
    elif isinstance(node, ast.UnaryOp):
        yield from _remove_not(src, node)
    elif isinstance(node, ast.If):
        yield from _drop_branch(src, node)


def iter_functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Module-level functions and the methods of module-level classes, with their qualified names."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{node.name}.{item.name}", item


def _function_body(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    body = func.body
    if body and isinstance(body[0], ast.Expr) and _is_str(body[0].value):
        body = body[1:]  # the docstring is documentation, not behaviour
    return body


def find_mutations(source: str, filename: str = "<module>") -> list[Mutation]:
    """Every mutation of every function body in ``source``, in source order (deterministic).

    Raises :class:`SyntaxError` (naming ``filename``) if the module does not parse.
    """
    tree = ast.parse(source, filename=filename)
    src = _Source(source)
    found: list[Mutation] = []
    for qualname, func in iter_functions(tree):
        for stmt in _function_body(func):
            for node in ast.walk(stmt):
                for kind, edit, what in _node_mutations(src, node):
                    line = source.count("\n", 0, edit.start) + 1
                    found.append(Mutation(kind, qualname, line, f"{kind} in {qualname} line {line}: {what}", (edit,)))
    return found


def apply_mutation(source: str, mutation: Mutation, filename: str = "<module>") -> str:
    """``source`` with the mutation's edits applied; raises :class:`MutationError` if the result is not valid
    Python or parses to the same tree (an edit that changes nothing)."""
    edits = sorted(mutation.edits, key=lambda e: e.start, reverse=True)
    text = source
    limit = len(source) + 1
    for edit in edits:
        if not 0 <= edit.start <= edit.end <= len(source) or edit.end > limit:
            raise MutationError(f"{filename}: {mutation.description}: edits overlap or leave the file")
        text = text[: edit.start] + edit.text + text[edit.end :]
        limit = edit.start
    try:
        mutated_tree = ast.parse(text, filename=filename)
    except SyntaxError as exc:
        raise MutationError(f"{filename}: {mutation.description}: result does not parse ({exc.msg})") from exc
    if ast.dump(mutated_tree) == ast.dump(ast.parse(source, filename=filename)):
        raise MutationError(f"{filename}: {mutation.description}: result is the same program")
    return text
