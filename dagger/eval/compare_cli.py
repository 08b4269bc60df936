"""``swe-dagger compare RUN_DIR...``: a table (and, with ``--out``, a PNG) of held-out metrics per mode and
iteration, with CIs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swe_dagger.dagger.eval.compare import METRICS, Estimate

Table = dict[str, dict[int, dict[str, Estimate]]]

_TITLES = {"resolve_rate": "held-out resolve rate (student alone)", "agreement": "teacher agreement",
           "first_turn_agreement": "first-turn agreement"}


def compare_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (of `swe-dagger train`), any modes/seeds.")],
    out: Annotated[Path | None, typer.Option("--out", help="Also plot them into this PNG (none without it).")] = None,
    resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap replicates.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap RNG seed.")] = 0,
) -> None:
    """Per mode and variant (the config keys the runs differ in, the student among them) and iteration: mean ± 95% CI
    (bootstrap over seeds, then held-out tasks) of the held-out metrics, and the teacher calls of training so far.
    A GRPO phase's evaluations are the group ``grpo``, by GRPO step."""
    from rich.console import Console

    from swe_dagger.dagger.eval.compare import CompareError, compare, load_run
    from swe_dagger.dagger.rollout.serialize import RecordFormatError
    from swe_dagger.dagger.run_cli import fail

    if resamples < 100:
        fail(f"--resamples must be >= 100 for a 95% interval, got {resamples}")
    try:
        runs = [load_run(d) for d in run_dirs]
    except (CompareError, RecordFormatError, ValueError) as exc:
        fail(exc)
    console = Console()
    for run in runs:
        if run.unfinished:
            console.print(f"note: {run.run_dir}: iteration(s)/GRPO step(s) {list(run.unfinished)} not finished, "
                          "left out")
    table = compare(runs, resamples=resamples, seed=seed)
    console.print(rich_table(table))
    if out is not None:
        console.print(f"wrote {plot_compare(table, out)}")


def _cell(e: Estimate) -> str:
    if e.mean is None:
        return "-"
    return f"{e.mean:.3f} [{e.low:.3f}, {e.high:.3f}]"


def rich_table(table: Table) -> object:
    from rich.table import Table as RichTable

    t = RichTable(title="held-out metrics: mean [95% CI] (bootstrap over seeds, then tasks)")
    t.add_column("group")
    for name in ("iter/step", "runs", "tasks"):
        t.add_column(name, justify="right")
    for metric in METRICS:
        t.add_column(metric, justify="right")
    t.add_column("teacher calls", justify="right")  # the training collections' calls so far, mean over the runs
    for mode, by_iter in table.items():
        for i, est in by_iter.items():
            first, calls = est[METRICS[0]], est.get("teacher_calls")
            t.add_row(mode, str(i), str(first.runs), str(first.tasks), *(_cell(est[m]) for m in METRICS),
                      "-" if calls is None or calls.mean is None else f"{calls.mean:.0f}")
    return t


def plot_compare(table: Table, out: Path) -> Path:
    """One panel per metric; a line per mode over iterations with its CI band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(METRICS), figsize=(5 * len(METRICS), 4))
    for ax, metric in zip(axes, METRICS, strict=True):
        for mode, by_iter in table.items():
            points = [(i, e[metric]) for i, e in by_iter.items() if e[metric].mean is not None]
            if not points:
                continue
            xs = [i for i, _ in points]
            line = ax.plot(xs, [e.mean for _, e in points], marker="o", label=mode)[0]
            ax.fill_between(xs, [e.low for _, e in points], [e.high for _, e in points],
                            color=line.get_color(), alpha=0.2)
        ax.set_title(_TITLES[metric])
        ax.set_xlabel("DAgger iteration / GRPO step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
