"""A PNG of the learning curves from ``metrics.jsonl`` (written at the end of a run)."""

from __future__ import annotations

from pathlib import Path

from swe_dagger.dagger.metrics import read_all

_PANELS = (
    ("SFT loss (last epoch)", ("train/sft_loss",)),
    ("teacher agreement", ("rollout/agreement", "eval/agreement")),
    ("resolve rate", ("rollout/resolve_rate", "eval/resolve_rate")),
    ("β and format errors", ("beta", "rollout/format_error_rate", "eval/format_error_rate")),
)


def plot_curves(run_dir: Path, out: Path | None = None) -> Path:
    """Write ``curves.png`` (4 panels over iterations) into ``run_dir`` and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_all(run_dir)
    if not rows:
        raise ValueError(f"{run_dir}: no metrics to plot (no iteration has finished)")
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for ax, (title, keys) in zip(axes.flat, _PANELS, strict=True):
        for key in keys:
            points = [(r["iteration"], r[key]) for r in rows if key in r]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=key)
        ax.set_title(title)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = out or run_dir / "curves.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
