"""What a person watching the run sees: rich progress bars per phase and a table per iteration (or GRPO step).

``Display(enabled=False)`` does nothing, so the loop calls it unconditionally.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from swe_dagger.dagger.run.metrics import IterationMetrics, RolloutStats

if TYPE_CHECKING:
    from swe_dagger.dagger.grpo.metrics import GRPOStepMetrics


def _table(title: str, columns: tuple[str, ...]) -> Table:
    """A right-aligned table that fits 80 columns: light box, no outer padding, the row name never wrapped."""
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for col in columns:
        table.add_column(col, justify="right", no_wrap=True)
    return table


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.0f}%" if pct else f"{value:.3g}"


class Display:
    """Progress bars (collect episodes, SFT steps, eval episodes) and per-iteration tables on one console."""

    def __init__(self, enabled: bool = True, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, disable=not enabled,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> Display:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._progress.stop()

    def start(self, description: str, total: int, completed: int = 0) -> None:
        """A new bar for the next phase (the previous phase's bar stays on screen)."""
        self._task = self._progress.add_task(description, total=total, completed=completed, info="")
        self._progress.refresh()

    def advance(self, n: int = 1, info: str = "", total: int | None = None) -> None:
        if self._task is not None:
            self._progress.update(self._task, advance=n, info=info, total=total)

    def log(self, message: str) -> None:
        if self.enabled:
            self._progress.console.log(message)

    def iteration_table(self, m: IterationMetrics) -> None:
        if not self.enabled:
            return
        table = _table(f"iteration {m.iteration}  (β = {m.beta:.3g})",
                       ("", "eps", "S turns", "T turns", "agree", "agree@1", "fmt err", "turns", "solved"))
        for name, s in (("train", m.rollout), ("held-out", m.eval)):
            if s is None:
                continue
            table.add_row(name, str(s.episodes), str(s.student_turns), str(s.teacher_turns), _fmt(s.agreement, True),
                          _fmt(s.first_turn_agreement, True), _fmt(s.format_error_rate, True), _fmt(s.mean_turns),
                          _fmt(s.resolve_rate, True))
        cost = f", ${m.teacher_dollars:.4f}" if m.teacher_dollars is not None else ""
        self._progress.console.print(table)
        self._progress.console.print(
            f"  SFT loss {m.sft_loss_first_epoch:.3f} → {m.sft_loss:.3f} over {m.sft_steps} steps on "
            f"|D| = {m.dataset_labels} labels (+{m.new_labels})\n  teacher {m.rollout.teacher_calls} labels, "
            f"{m.teacher_seconds:.1f}s{cost}"
        )

    def grpo_table(self, m: GRPOStepMetrics) -> None:
        """The step's rollouts and held-out evaluation, then lines on the groups and the update (80 columns)."""
        if not self.enabled:
            return
        table = _table(f"grpo step {m.step}",
                       ("", "eps", "S turns", "agree", "fmt err", "turns", "solved", "reward", "signal"))
        rows: list[tuple[str, RolloutStats | None]] = [("groups", m.rollout), ("held-out", m.eval)]
        for name, s in rows:
            if s is None:
                continue
            grouped = name == "groups"
            table.add_row(name, str(s.episodes), str(s.student_turns), _fmt(s.agreement, True),
                          _fmt(s.format_error_rate, True), _fmt(s.mean_turns), _fmt(s.resolve_rate, True),
                          _fmt(m.groups.reward_mean) if grouped else "", _fmt(m.groups.frac_groups_with_signal, True)
                          if grouped else "")
        u = m.update
        self._progress.console.print(table)
        sft = f", sft {u.sft_loss:.3f}" if u.sft_loss is not None else ""
        kl = f", KL(ref) {u.kl_ref:.3g}" if u.kl_ref is not None else ""
        tis = f", IS w {u.is_weight_mean:.3f} (max {u.is_weight_max:.3f})" if u.is_weight_mean is not None else ""
        self._progress.console.print(
            f"  {u.optimizer_steps} updates on {u.sequences} turns ({u.loss_tokens} tokens); {m.groups.groups} groups, "
            f"reward std in group {_fmt(m.groups.reward_std_in_group)}\n"
            f"  pg {u.pg_loss:.4f}{sft}{kl}, clip {100 * u.clip_fraction:.1f}%\n"
            f"  KL(old) {u.approx_kl_old:.3g}, entropy {u.entropy:.3f}{tis}"
        )
        if u.sequences_skipped:
            skipped = f"  {u.sequences_skipped} of {u.sequences} turns had advantage 0: not forwarded"
            self._progress.console.print(skipped)
        if m.signal is not None:
            self._progress.console.print(f"  {signal_line(m)}")


def signal_line(m: GRPOStepMetrics) -> str:
    """Two lines on whether the step had anything to learn from (the GRPO table's last lines)."""
    s = m.signal
    if s is None:
        return ""
    submitted = f", {_fmt(s.submit_rate, True)} submitted" if s.submit_rate is not None else ""
    shaped = f", shaped reward {s.shaped_reward_mean:.3f}" if s.shaped_reward_mean is not None else ""
    return (f"signal: {s.groups_with_signal} of {m.groups.groups} groups ({s.resampled_groups} resampled, "
            f"{s.missing_signal_groups} short), {m.update.optimizer_steps} optimizer steps\n"
            f"  mean |A| {_fmt(s.advantage_abs_mean)}, T = {s.temperature:.3g}{submitted}{shaped}")
