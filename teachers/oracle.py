"""The oracle teacher: knows the gold patch and gives a correct next step from any state.

It decides purely from ``(task, messages, workspace_diff)``, deterministically, by a fixed plan:

1. read the code gold touches (once per file, if the conversation never mentioned the file): when the issue
   names functions in it (inferable from the issue), their ``def`` lines (``find="name"``: ``grep -n 'def NAME('
   FILE``), the same with the 30 lines after each (``find="body"``: ``grep -n -A 30``, numbered, so a bug near the
   ``def`` is visible without a separate view) or all of the file's (``find="outline"``), else the lines gold
   changes;
2. revert files gold does not touch (restore from git, delete new ones);
3. bring each gold file to its gold version, one step per turn (a file too far gone is restored from git first),
   in the label ``style``:

   * ``visible`` (default): every label uses only what earlier observations showed, plus the issue. When the
     file's latest numbered view (``nl -ba FILE | sed -n 'A,+Kp'`` from the enclosing ``def`` line the look
     showed, a fixed K = 30; after the outline look ``'A,Bp'`` up to the next ``def``) does not show the
     current text of the line to edit, view it; else change that one line by number: ``sed -i 'Ns/old/new/' FILE``
     with ``old`` a short visible part of line N, ``sed -i 'Nd'``, or ``sed -i 'Na\\text'``
     (:mod:`~swe_dagger.teachers.line_edits`). The gold diff only chooses which line and what replacement.
     Edits go bottom-up (the last line of the last region first; insertions after the line above, in reverse), so
     one view stays valid for the whole fix: a one-line bug takes look, view, edit, test, submit.
     A new file, or a line sed cannot write (no final newline, a carriage return), falls back to a patch;
   * ``patch``: a single-hunk ``git apply`` per region that turns what the workspace has there into gold's text
     (it applies a missing gold hunk, finishes a half-applied one, or undoes a wrong edit);
   (``reproduce=True``: before the first edit, from an untouched workspace, run the failing tests with short
   tracebacks, whose last frame in the repository names the line a raising bug is on);
4. when the workspace matches gold, run the FAIL_TO_PASS tests that exist before the test patch;
5. submit.
States a student created (wrong edits, deleted files, stray files, garbage) are just other diffs: the
plan converges from them too. A step that would repeat the previous command verbatim (so it must have
failed) falls back to restoring the file from git. Each style has its own ``teacher_id`` (label-cache key).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from swe_dagger.agents.protocol import Conversation
from swe_dagger.envs.actions import FormatError, parse_action
from swe_dagger.envs.task import Task
from swe_dagger.envs.unidiff import DiffParseError, FileDiff, parse_diff
from swe_dagger.teachers import oracle_commands as cmd
from swe_dagger.teachers.line_edits import line_ops
from swe_dagger.teachers.protocol import TeacherState
from swe_dagger.teachers.regions import RepairHunk, file_regions, repair_hunk
from swe_dagger.teachers.visible import VIEW_PAGE, visible_edit


@dataclass(frozen=True)
class OracleConfig:
    """Knobs of the oracle's plan."""

    look_first: bool = True
    """Read the gold-touched code before editing it (makes episodes look like real work)."""
    run_tests: bool = True
    """Run the FAIL_TO_PASS test files that exist before submitting."""
    max_repair_lines: int = 40
    """A repair of a damaged region changing more lines than this (or than twice gold's change there plus 10)
    restores the file from git instead, so a badly damaged file is never rewritten by one big patch."""
    context: int = 3
    """Context lines around each edit."""
    style: str = "visible"
    """``visible``: numbered views and one-line ``sed -i`` edits of text a view showed; ``patch``: ``git apply``
    hunks (see the module docstring)."""
    find: str = "outline"
    """How the ``visible`` style's look finds a function the issue names: ``outline`` lists every ``def`` of the
    file (``grep -n 'def ' FILE``: the command is the module path only, which the tiny student learns to copy; its
    long output is elided by a short prompt), ``name`` greps the named function's ``def`` line (``grep -n 'def
    NAME(' FILE``: one short line to copy the view's start from; the student must copy the function name, which a
    pretrained student does and the tiny one did not, see README), ``body`` greps it with the next 30 numbered lines
    (``grep -n -A 30``: one look shows the def and its body, so most one-line fixes need no view and no number copied
    into a view command)."""
    reproduce: bool = False
    """Run the failing tests (``pytest -x --tb=short``) once after the look, before any edit: the traceback shows
    the line a raising bug is on (e.g. swapped arguments), so the edit's line number is in an observation."""


_CMD = ",cmd=2"
"""Version of the test commands (cmd=2: whole failing modules, no env prefix): labels cached before differ."""

STYLES = ("visible", "patch")
"""Label styles of the oracle's edits."""
FINDS = ("name", "outline", "body")
"""How the visible style's look finds the named function."""


class OracleTeacher:
    """Privileged teacher: the next step toward the gold patch from any workspace state."""

    def __init__(
        self,
        look_first: bool = True,
        run_tests: bool = True,
        max_repair_lines: int = 40,
        context: int = 3,
        style: str = "visible",
        find: str = "outline",
        reproduce: bool = False,
    ) -> None:
        """Keyword arguments are the fields of :class:`OracleConfig` (so a factory can pass options by name)."""
        if style not in STYLES:
            raise ValueError(f"oracle style {style!r} is not one of {', '.join(STYLES)}")
        if find not in FINDS:
            raise ValueError(f"oracle find {find!r} is not one of {', '.join(FINDS)}")
        self.config = OracleConfig(look_first, run_tests, max_repair_lines, context, style, find, reproduce)

    @property
    def teacher_id(self) -> str:
        c = self.config
        # "plan=2": the look step lists def lines when the issue names the module (labels cached under the old
        # id came from the line-range look and must not be reused).
        if c.style == "visible":  # a new label style: its own cache key (plan=4: the look greps the named defs)
            # plan=5: fixed-length views after a look by name; plan=6: the look shows the body (grep -n -A 30)
            plan = {"name": "plan=5", "body": "plan=6"}.get(c.find, "plan=3")
            return (
                f"oracle:{plan},style=visible,look={int(c.look_first)},tests={int(c.run_tests)},"
                f"max={c.max_repair_lines},ctx={c.context}" + (",repro=1" if c.reproduce else "") + self._cmd
            )
        return (
            f"oracle:plan=2,look={int(c.look_first)},tests={int(c.run_tests)},max={c.max_repair_lines},ctx={c.context}"
            + self._cmd
        )

    @property
    def _cmd(self) -> str:
        """The test commands' version, in the ids of plans that run tests."""
        return _CMD if self.config.run_tests or self.config.reproduce else ""

    def label(self, states: Sequence[TeacherState]) -> list[str]:
        return [self.next_step(s) for s in states]

    def close(self) -> None:
        """Nothing to release."""

    def next_step(self, state: TeacherState) -> str:
        """The reply for one state."""
        task = state.task
        gold = _parse(task.patch, f"gold patch of task {task.instance_id!r}")
        workspace = _parse(state.workspace_diff, f"workspace diff of task {task.instance_id!r}")
        history = _history(state.messages)
        previous = [command for command, _ in history]
        plan = _Plan(task, gold, workspace, history, self.config)
        thought, command = plan.step()
        if previous and previous[-1] == command and command not in (cmd.SUBMIT_COMMAND, plan.tests):
            thought, command = plan.fallback()
        return cmd.reply(thought, command)


def _parse(text: str, what: str) -> list[FileDiff]:
    try:
        return parse_diff(text, source=what)
    except DiffParseError as exc:
        raise DiffParseError(f"oracle cannot read the {exc}") from exc


def _history(messages: Conversation) -> list[tuple[str, str]]:
    """Each assistant turn's command ("" when it has none) and the observation that followed it ("" if none yet)."""
    out: list[tuple[str, str]] = []
    for k, m in enumerate(messages):
        if m.role != "assistant":
            continue
        try:
            command = parse_action(m.content)
        except FormatError:
            command = ""
        after = messages[k + 1] if k + 1 < len(messages) else None
        out.append((command, after.content if after is not None and after.role == "user" else ""))
    return out


MAX_TEST_IDS = 10
"""More FAIL_TO_PASS ids than this are run by file instead (keeps the command short)."""


def f2p_test_targets(task: Task) -> list[str]:
    """What to run to check the fix before submitting: FAIL_TO_PASS pytest ids whose file the test patch does not
    touch (they exist now), the files it modifies (their new tests do not exist yet), none it creates."""
    touched = {f.path: f for f in parse_diff(task.test_patch, source=f"test_patch of {task.instance_id!r}")}
    ids: list[str] = []
    files: list[str] = []
    for test_id in task.fail_to_pass:
        path = test_id.split("::", 1)[0]
        if "::" not in test_id or not path.endswith(".py") or (path in touched and touched[path].is_new):
            continue
        if path in touched or len(task.fail_to_pass) > MAX_TEST_IDS:
            if path not in files:
                files.append(path)
        elif test_id not in ids:
            ids.append(test_id)
    return files + ids


_BACKTICKED_DOTTED = re.compile(r"`([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+)`")


def _named_symbols(statement: str, path: str) -> list[str]:
    """The last parts of what ``statement`` names (in backticks) dotted inside the module ``path`` (``pkg.mod.func``
    or ``pkg.mod.Class.meth`` for ``pkg/mod.py``; ``src/`` and ``__init__`` dropped), in order, without repeats.

    Why: then the module and the function are known from the issue text, and finding them is a look step the
    student can infer from the prompt (line numbers are not).
    """
    if not path.endswith(".py"):
        return []
    parts = path.removesuffix(".py").split("/")
    if parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    module = ".".join(parts)
    if not module:
        return []
    dotted = [m.group(1) for m in _BACKTICKED_DOTTED.finditer(statement)]
    return list(dict.fromkeys(d.rsplit(".", 1)[1] for d in dotted if d.startswith(module + ".")))


class _Plan:
    """One decision: the state's diffs against gold, walked in plan order."""

    def __init__(
        self,
        task: Task,
        gold: list[FileDiff],
        workspace: list[FileDiff],
        history: list[tuple[str, str]],
        config: OracleConfig,
    ) -> None:
        self.task, self.gold, self.config = task, gold, config
        self.history = history
        previous = self.previous = [command for command, _ in history]
        self.said = "\n".join(previous)
        self.ws: dict[str, FileDiff] = {}
        self.ws_removed: set[str] = set()  # base paths the workspace deleted (or renamed away)
        for f in workspace:
            if f.old_path is not None and (f.is_deleted or f.is_rename):
                self.ws_removed.add(f.old_path)
            if f.new_path is not None:
                self.ws[f.new_path] = f
        self.gold_paths = {f.path for f in gold} | {f.old_path for f in gold if f.old_path}
        files = f2p_test_targets(task) if config.run_tests else []
        self.tests = cmd.test_command(files) if files else None
        self.target: str | None = None
        """The file the planned step edits (for :meth:`fallback`)."""
        self.reverting: list[str] = []
        """The tracked files the planned step restores from git (for :meth:`fallback`)."""

    def step(self) -> tuple[str, str]:
        return self._look() or self._reproduce() or self._strays() or self._gold_files() or self._finish()

    def _look(self) -> tuple[str, str] | None:
        if not self.config.look_first:
            return None
        for f in self.gold:
            if f.is_new or f.is_deleted or not f.hunks or f.path in self.said or f.path in self.ws_removed:
                continue
            names = _named_symbols(self.task.problem_statement, f.path)
            if names and self.config.style == "visible" and self.config.find != "outline":
                body = self.config.find == "body"
                thought = (
                    "Show the function the issue names, with line numbers."
                    if body
                    else "Find where the function the issue names is defined."
                )
                return thought, cmd.named_defs_command(f.path, names, after=VIEW_PAGE if body else 0)
            if names:
                return "List the functions of the file the issue names.", cmd.outline_command(f.path)
            first = max(1, f.hunks[0].old_start - 2)
            last = first
            for h in f.hunks:
                end = h.old_start + h.old_len + 1
                if end - first > 60 and last > first:
                    break
                last = end
            return (
                f"The issue points at `{f.path}`; let me read the relevant code (lines {first}-{last}) first.",
                cmd.look_command(f.path, first, last),
            )
        return None

    def _reproduce(self) -> tuple[str, str] | None:
        if not self.config.reproduce or self.ws or self.ws_removed:
            return None
        files = f2p_test_targets(self.task)
        command = cmd.reproduce_command(files) if files else None
        if command is None or command in self.previous:
            return None
        return "Run the failing tests to see where they fail.", command

    def _strays(self) -> tuple[str, str] | None:
        remove = sorted(p for p, f in self.ws.items() if p not in self.gold_paths and (f.is_new or f.is_rename))
        restore = sorted({p for p in self.ws_removed if p not in self.gold_paths})
        restore += sorted(p for p, f in self.ws.items() if p not in self.gold_paths and not (f.is_new or f.is_rename))
        if not remove and not restore:
            return None
        self.reverting = sorted(restore)
        names = ", ".join(f"`{p}`" for p in [*remove, *restore])
        return (
            f"{names} should not change for this fix; revert {'it' if len(remove) + len(restore) == 1 else 'them'}"
            " to keep the change minimal.",
            cmd.revert_command(sorted(restore), remove),
        )

    def _gold_files(self) -> tuple[str, str] | None:
        for g in self.gold:
            step = self._gold_file(g)
            if step is not None:
                return step
        return None

    def _gold_file(self, g: FileDiff) -> tuple[str, str] | None:
        path = g.path
        w = self.ws.get(path)
        if g.is_deleted:
            if path in self.ws_removed:
                return None
            return f"`{path}` is no longer needed; delete it.", f"rm -f {cmd.quote_paths([path])}"
        if not g.is_new and (path in self.ws_removed or (w is not None and (w.is_new or w.is_rename))):
            return self._restore(path, "is missing")
        if w is not None and (w.binary or (w.is_rename and g.is_new)):
            return self._restore(path, "is not in a state I can edit")
        known = {**(w.base_lines() if w else {}), **g.base_lines()}
        regions = file_regions(known, w.edits() if w else [], g.edits(), self.config.context)
        visible: list[tuple[RepairHunk, bool]] = []
        for region in regions:
            if region.matches:
                continue
            hunk = repair_hunk(region, self.config.context)
            fresh = region.workspace == region.base
            gold_hunk = repair_hunk(dataclasses.replace(region, workspace=region.base))
            limit = min(self.config.max_repair_lines, 2 * gold_hunk.changed_lines + 10)
            if not fresh and hunk.changed_lines > limit:
                return self._restore(path, "has too many unrelated edits")
            create = g.is_new and w is None
            if self.config.style == "patch" or create:
                return self._edit(g, hunk, fresh, create=create)
            if not fresh and len(line_ops(hunk)) > len(line_ops(gold_hunk)) + 2:
                return self._restore(path, "has too many wrong lines")
            visible.append((hunk, fresh))
        if visible:  # the last region first: edits below never shift the lines of those above
            hunk, fresh = visible[-1]
            self.target = path
            by_name = self.config.find in ("name", "body")
            return visible_edit(path, hunk, self.history, by_name=by_name) or self._edit(g, hunk, fresh, create=False)
        return None

    def _edit(self, g: FileDiff, hunk: RepairHunk, fresh: bool, create: bool) -> tuple[str, str]:
        path = self.target = g.path
        if create:
            thought = f"Create `{path}` with the code the fix needs."
        elif fresh:
            thought = f"Make the change in `{path}` around line {hunk.first_line + hunk.leading}."
        else:
            thought = (
                f"The code in `{path}` around line {hunk.first_line + hunk.leading} is not right yet; "
                "replace it with the correct version."
            )
        patch = cmd.hunk_patch(path, hunk, create=create, mode=g.new_mode or "100644")
        return thought, cmd.apply_command(patch)

    def _restore(self, path: str, why: str) -> tuple[str, str]:
        if any(g.path == path and g.is_new for g in self.gold):
            return f"`{path}` {why}; delete it and write it again.", cmd.revert_command([], [path])
        self.reverting = [path]
        return f"`{path}` {why}; restore it from git and redo the change.", cmd.revert_command([path], [])

    def _finish(self) -> tuple[str, str]:
        if self.tests is not None and (not self.previous or self.previous[-1] != self.tests):
            return "The change is in place; run the relevant tests to check it.", self.tests
        return "The fix is complete; submit it.", cmd.SUBMIT_COMMAND

    def fallback(self) -> tuple[str, str]:
        """The planned command already ran last turn without effect: restore the file it targets.

        A revert that did nothing means HEAD moved (the agent committed): restore from the root commit,
        which in a sandbox workspace is the base.
        """
        if self.reverting:
            root = "$(git rev-list --max-parents=0 HEAD | tail -n 1)"
            return (
                "Reverting to HEAD did not help (HEAD has moved); restore those files from the base commit.",
                cmd.revert_command(self.reverting, []).replace("git checkout HEAD", f"git checkout {root}"),
            )
        if self.target is not None:
            return self._restore(self.target, "did not take the last edit")
        return "That did not work; look at the repository state again.", "git status --short && git diff --stat"
