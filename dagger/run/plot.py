"""A PNG of the learning curves from ``metrics.jsonl`` (written at the end of a run), over every phase.

The x axis is the round: DAgger iterations first, then GRPO steps (a dashed line marks where GRPO starts). Panels
whose keys a run never wrote stay empty; the four GRPO panels (rewards, update, signal: the share of groups with
differing rewards, mean |advantage| and the rollout temperature, and per-step group counts: with signal, resampled,
short of ``tasks_per_step``, optimizer steps) appear only when a GRPO step was recorded.
"""

from __future__ import annotations

from pathlib import Path

from swe_dagger.dagger.run.metrics import Row, read_all

_PANELS = (
    ("SFT loss (last epoch; GRPO: SFT term)", ("train/sft_loss",)),
    ("teacher agreement", ("rollout/agreement", "eval/agreement", "eval/first_turn_agreement")),
    ("resolve rate", ("rollout/resolve_rate", "eval/resolve_rate")),
    ("β and format errors", ("beta", "rollout/format_error_rate", "eval/format_error_rate")),
    ("GRPO rewards", ("rollout/reward_mean", "rollout/shaped_reward_mean", "eval/shaped_reward_mean",
                      "rollout/reward_std_in_group")),
    ("GRPO update", ("train/pg_loss", "train/clip_fraction", "train/approx_kl_old", "train/kl_ref", "train/entropy",
                     "train/is_weight_mean")),
    ("GRPO signal", ("rollout/frac_groups_with_signal", "train/advantage_abs_mean", "rollout/temperature")),
    ("GRPO groups per step", ("rollout/groups_with_signal", "rollout/resampled_groups",
                              "rollout/missing_signal_groups", "train/optimizer_steps")),
)


def _label(row: Row) -> str:
    return f"g{row['step']}" if row.get("phase") == "grpo" else f"d{row.get('iteration', '?')}"


def plot_curves(run_dir: Path, out: Path | None = None) -> Path:
    """Write ``curves.png`` (4 panels over rounds, 8 with GRPO steps) into ``run_dir`` and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_all(run_dir)
    if not rows:
        raise ValueError(f"{run_dir}: no metrics to plot (no iteration has finished)")
    first_grpo = next((x for x, r in enumerate(rows) if r.get("phase") == "grpo"), None)
    panels = _PANELS if first_grpo is not None else _PANELS[:4]
    fig, axes = plt.subplots(len(panels) // 2, 2, figsize=(11, 10 * len(panels) / 6 + 1))
    for ax, (title, keys) in zip(axes.flat, panels, strict=True):
        for key in keys:
            points = [(x, float(r[key])) for x, r in enumerate(rows) if key in r]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=key)
        if first_grpo is not None and first_grpo > 0:
            ax.axvline(first_grpo - 0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_title(title)
        ax.set_xticks(range(len(rows)), [_label(r) for r in rows], fontsize=7)
        ax.set_xlim(-0.5, len(rows) - 0.5)
        ax.set_xlabel("round (d = DAgger iteration, g = GRPO step)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    path = out or run_dir / "curves.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
