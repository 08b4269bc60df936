"""Per-iteration metrics, computed from the records (never tracked ad hoc), and their files.

Teacher agreement: at a student-acted state, the student's bash command equals the teacher label's command after
whitespace normalisation (commands only; the free-text THOUGHT is ignored). A reply with no valid command never
agrees. Rates over zero turns are ``None`` (not 0.0: nothing was measured).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from swe_dagger.dagger.records import Trajectory
from swe_dagger.durable.files import atomic_write_json, atomic_write_text, read_json
from swe_dagger.envs.actions import FormatError, parse_action


def normalized_command(reply: str) -> str | None:
    """The reply's bash command with runs of whitespace collapsed, or ``None`` if the reply has no valid block."""
    try:
        return " ".join(parse_action(reply).split())
    except FormatError:
        return None


def agrees(student_reply: str, teacher_label: str) -> bool:
    command = normalized_command(student_reply)
    return command is not None and command == normalized_command(teacher_label)


@dataclass(frozen=True)
class RolloutStats:
    episodes: int
    student_turns: int
    teacher_turns: int
    teacher_calls: int
    agreement: float | None
    """Share of labeled student turns whose command equals the teacher's (with ``relabel: disagreement``, the
    agreeing turns whose label was dropped count, as agreeing)."""
    first_turn_agreement: float | None
    """The same, on first turns only: the state that is just the issue, before any of the agent's own commands
    (for the oracle, its first look at the code). Agreement on later states is capped by the teacher's exact edit
    patches; this one shows whether the student reads the issue."""
    format_error_rate: float | None
    """Share of student turns whose reply broke the one-bash-block format."""
    mean_turns: float | None
    resolve_rate: float | None
    """Share of scored episodes graded FULL (episodes with an infrastructure error are not scored)."""
    infra_errors: int
    tampered_episodes: int = 0
    """Episodes whose submitted diff touched protected paths (tests, conftest.py, ...): reward-hacking attempts."""
    calls_saved: int = 0
    """Student states the teacher was not asked about (``dagger.relabel: failure`` or the teacher budget)."""
    labels_agreed: int = 0
    """Student states whose label was dropped because the student's command agreed (``relabel: disagreement``)."""


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def rollout_stats(trajs: Sequence[Trajectory]) -> RolloutStats:
    student = [t for traj in trajs for t in traj.turns if t.author == "student"]
    labeled = [t for t in student if t.teacher_label is not None]
    first = [t for t in labeled if t.index == 0]
    agreed = [t for t in student if t.unlabeled == "agreed"]  # agreeing states whose label was not kept
    first_agreed = [t for t in agreed if t.index == 0]
    scored = [traj for traj in trajs if traj.error is None]
    return RolloutStats(
        episodes=len(trajs),
        student_turns=len(student),
        teacher_turns=sum(t.author == "teacher" for traj in trajs for t in traj.turns),
        teacher_calls=sum(traj.teacher_calls for traj in trajs),
        agreement=_rate(sum(agrees(t.action, t.teacher_label or "") for t in labeled) + len(agreed),
                        len(labeled) + len(agreed)),
        first_turn_agreement=_rate(sum(agrees(t.action, t.teacher_label or "") for t in first) + len(first_agreed),
                                   len(first) + len(first_agreed)),
        format_error_rate=_rate(sum(t.format_error for t in student), len(student)),
        mean_turns=_rate(sum(len(traj.turns) for traj in trajs), len(trajs)),
        resolve_rate=_rate(sum(traj.resolution == "FULL" for traj in scored), len(scored)),
        infra_errors=len(trajs) - len(scored),
        tampered_episodes=sum(bool(traj.tampered) for traj in trajs),
        calls_saved=sum(t.unlabeled in ("no_failure", "budget") for t in student),
        labels_agreed=len(agreed),
    )


def labels_by_teacher(trajs: Sequence[Trajectory]) -> dict[str, int]:
    """Labels per teacher id (a router's routes separately), from the turns' records."""
    counts: dict[str, int] = {}
    for traj in trajs:
        for t in traj.turns:
            if t.teacher_label is not None:
                tid = t.teacher_id or traj.teacher_id or "unknown"
                counts[tid] = counts.get(tid, 0) + 1
    return counts


@dataclass(frozen=True)
class IterationMetrics:
    iteration: int
    beta: float
    rollout: RolloutStats
    """The training collection (mixture policy)."""
    eval: RolloutStats | None
    """The student alone (β = 0, greedy) on held-out tasks; ``None`` when not evaluated this iteration."""
    new_labels: int
    dataset_labels: int
    """|D_i|, the aggregated labels trained on."""
    sft_loss: float
    """Mean SFT loss over the last epoch."""
    sft_loss_first_epoch: float
    sft_steps: int
    teacher_seconds: float
    teacher_dollars: float | None
    seconds: dict[str, float]
    """Wall time per phase (collect, train, eval) in the process that ran it."""
    teacher_labels: dict[str, int] = dataclasses.field(default_factory=dict)
    """Training labels per teacher id (several teachers: ``teachers:``)."""
    kl_epochs: tuple[float, ...] = ()
    """Per SFT epoch, the mean per-token reverse KL(student || kl_teacher) on student replies (``dagger.loss`` with
    ``reverse_kl``; empty otherwise): ``train/reverse_kl_first_epoch`` and ``train/reverse_kl`` (the last)."""

    def flat(self) -> dict[str, float]:
        """Namespaced scalars (``rollout/…``, ``eval/…``, ``train/…``, ``teacher/…``, ``data/…``) for TB/JSONL."""
        out: dict[str, float] = {"beta": self.beta}
        for prefix, stats in (("rollout", self.rollout), ("eval", self.eval)):
            if stats is not None:
                for key, value in dataclasses.asdict(stats).items():
                    if value is not None:
                        out[f"{prefix}/{key}"] = float(value)
        out.update({
            "data/new_labels": self.new_labels, "data/dataset_labels": self.dataset_labels,
            "train/sft_loss": self.sft_loss, "train/sft_loss_first_epoch": self.sft_loss_first_epoch,
            "train/steps": self.sft_steps, "teacher/calls": self.rollout.teacher_calls,
            "teacher/seconds": self.teacher_seconds,
        })
        if self.kl_epochs:
            out["train/reverse_kl_first_epoch"], out["train/reverse_kl"] = self.kl_epochs[0], self.kl_epochs[-1]
        if self.teacher_dollars is not None:
            out["teacher/dollars"] = self.teacher_dollars
        out.update({f"time/{k}_s": v for k, v in self.seconds.items()})
        out.update({f"teacher/labels/{k}": float(v) for k, v in self.teacher_labels.items()})
        return out


def metrics_path(run_dir: Path, iteration: int) -> Path:
    return run_dir / "metrics" / f"iter_{iteration:03d}.json"


def grpo_metrics_path(run_dir: Path, step: int) -> Path:
    return run_dir / "metrics" / f"grpo_{step:03d}.json"


Row = dict[str, float | str]
"""One line of ``metrics.jsonl``: flat scalars, plus ``phase: grpo`` on GRPO rows (DAgger rows have no ``phase``)."""

_PHASE_FILES = ("iter_*.json", "grpo_*.json")
"""Per-round metric files in phase order (DAgger iterations come first, then GRPO steps)."""


def write_metrics(run_dir: Path, m: IterationMetrics) -> None:
    """Write iteration ``m``'s metrics, then regenerate ``metrics.jsonl`` from every round's file (atomic)."""
    write_row(run_dir, metrics_path(run_dir, m.iteration), {"iteration": m.iteration, **m.flat()})


def write_row(run_dir: Path, path: Path, row: Row) -> None:
    """Write one round's metrics file atomically, then regenerate ``metrics.jsonl`` (every phase, in order)."""
    atomic_write_json(path, row)
    lines = [json.dumps(r, sort_keys=True) for r in read_all(run_dir)]
    atomic_write_text(run_dir / "metrics.jsonl", "".join(line + "\n" for line in lines))


def read_all(run_dir: Path) -> list[Row]:
    """Every round's flat metrics in order: DAgger iterations, then GRPO steps."""
    return [read_json(p) for pattern in _PHASE_FILES for p in sorted((run_dir / "metrics").glob(pattern))]
