"""The training loop: the phases of ``cfg.phases`` in order (``dagger``, then optionally ``grpo``: see
:mod:`~swe_dagger.dagger.grpo.phase`), each from the weights the one before ended with. The DAgger phase reads top
to bottom: for each iteration,

    schedule β → collect (mixture acts, teacher labels) → aggregate D_i = D_{i-1} ∪ labels_i → train (SFT)
    → evaluate the student alone on held-out tasks → checkpoint + metrics.

Each step is a call into the module that owns it. Every step ends with an atomic marker, and the steps that take
long are resumable inside (episodes are logged one by one), so ``--resume`` after ``kill -9`` continues exactly
where the run stopped: nothing labeled is lost, nothing is appended twice.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swe_dagger.dagger.budget import plan_iteration
from swe_dagger.dagger.config import RunConfig, phase_plan
from swe_dagger.dagger.grpo.phase import grpo_phase
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.report.content import report_episodes
from swe_dagger.dagger.rollout import episode_log
from swe_dagger.dagger.rollout.episodes import CollectRequest, collect
from swe_dagger.dagger.rollout.overlap import Lookahead
from swe_dagger.dagger.run import metrics
from swe_dagger.dagger.run.context import RunContext, open_run
from swe_dagger.dagger.schedule import beta_for, derive_seed, horizon_for
from swe_dagger.dagger.sft import dataset
from swe_dagger.dagger.sft.trainer import SFTResult
from swe_dagger.durable.files import atomic_write_json, read_json
from swe_dagger.sandbox.local_gc import remove_leaked_workspaces

if TYPE_CHECKING:
    from swe_dagger.dagger.sft.distill import Distillation


def train(cfg: RunConfig, *, resume: bool = False, progress: bool | None = None) -> Path:
    """Run (or resume) every phase of ``cfg``, each from the weights the one before ended with; returns the run dir.
    ``progress`` (``None`` = the config's ``progress``) shows or hides the bars, also of a resumed run."""
    remove_leaked_workspaces()  # what killed runs left under the sandbox root
    ctx = open_run(cfg, resume=resume, progress=progress)
    try:
        weights, run_cfg = ctx.init_student, ctx.cfg
        for phase in phase_plan(run_cfg):
            ctx.cfg = phase.config  # the run's config with this phase's section overrides
            weights = PHASES[phase.name](ctx, weights)
        ctx.cfg = run_cfg
        from swe_dagger.dagger.report.content import final_metrics, run_hparams
        from swe_dagger.dagger.run.plot import plot_curves

        ctx.report.hparams(run_hparams(run_cfg), final_metrics(ctx.run_dir))

        png = plot_curves(ctx.run_dir)
        ctx.display.log(f"done: {ctx.run_dir} (curves: {png.name}, metrics.jsonl, tb/)")
        return ctx.run_dir
    finally:
        ctx.close()


def dagger_phase(ctx: RunContext, start: Path) -> Path:
    """DAgger (``mode: dagger``) or behaviour cloning (``mode: bc``, β ≡ 1) for ``dagger.iterations`` iterations,
    from the initial student (``start``: config parsing keeps dagger first); returns the last checkpoint.
    ``mode: base`` trains nothing: it evaluates ``start`` once, as iteration 0 (the baseline of ``compare``)."""
    if ctx.cfg.mode == "base":
        if not ctx.done(0, "complete"):
            base_evaluation(ctx, start)
        return start
    with Lookahead(ctx) as ahead:  # dagger.overlap: the next collection's envs reset during SFT
        for i in range(ctx.cfg.dagger.iterations):
            if not ctx.done(i, "complete"):
                dagger_iteration(ctx, i, ahead)
    return ctx.checkpoint(ctx.cfg.dagger.iterations - 1) if ctx.cfg.dagger.iterations else start


PHASES: dict[str, Callable[[RunContext, Path], Path]] = {"dagger": dagger_phase, "grpo": grpo_phase}
"""Phases by name (the keys of ``config.PHASE_SECTIONS``): ``(run, starting weights) -> final weights``."""


def dagger_iteration(ctx: RunContext, i: int, ahead: Lookahead) -> None:
    cfg, seconds = ctx.cfg, {}

    # 1. schedule: β_i, the probability that the teacher acts
    req = _train_request(ctx, i)
    teacher_before = ctx.teacher_usage()

    # 2. collect: the mixture acts; every student state gets the teacher's label (teacher turns label themselves)
    started = time.perf_counter()
    trajs = _logged(ctx, "train", i) if ctx.done(i, "labeled") else collect(ctx, req, ahead.take(req))
    seconds["collect"] = time.perf_counter() - started

    # 3. aggregate: write labels_i once, atomically; D_i is the union of every iteration's labels so far
    if not ctx.done(i, "labeled"):
        dataset.write_iteration_labels(ctx.run_dir, i, trajs, limit=req.label_budget)
        ctx.mark(i, "labeled")
    new_labels = len(dataset.read_labels(dataset.labels_path(ctx.run_dir, i)))
    rows = dataset.aggregate(ctx.run_dir, range(i + 1))

    # 4. train: SFT on D_i from the previous checkpoint (or the initial student); saves checkpoints/iter_i
    started = time.perf_counter()
    ahead.prepare(_next_collection(ctx, i))  # its envs reset meanwhile (dagger.overlap)
    sft = _train_step(ctx, i, rows)
    seconds["train"] = time.perf_counter() - started

    # 5. evaluate: the new student alone (β = 0, greedy) on held-out tasks
    started = time.perf_counter()
    evaluated = _evaluate(ctx, i, ahead)
    seconds["eval"] = time.perf_counter() - started

    # 6. checkpoint is on disk; record the metrics and mark the iteration complete
    usage = ctx.teacher_usage()
    m = metrics.IterationMetrics(
        iteration=i, beta=req.beta, rollout=metrics.rollout_stats(trajs),
        eval=metrics.rollout_stats(evaluated) if evaluated is not None else None,
        new_labels=new_labels, dataset_labels=len(rows), sft_loss=sft.final_loss,
        sft_loss_first_epoch=sft.epoch_losses[0], sft_steps=sft.steps,
        teacher_seconds=usage[0] - teacher_before[0],
        teacher_dollars=None if usage[1] is None else usage[1] - (teacher_before[1] or 0.0), seconds=seconds,
        teacher_labels=metrics.labels_by_teacher(trajs), kl_epochs=sft.kl_epochs,
    )
    metrics.write_metrics(ctx.run_dir, m)
    ctx.report.scalars(m.flat(), axis="iteration", step=i)
    report_episodes(ctx.report, evaluated, limit=cfg.report.text_episodes, axis="iteration", step=i)
    ctx.report.flush()
    ctx.display.iteration_table(m)
    ctx.mark(i, "complete")


def base_evaluation(ctx: RunContext, start: Path) -> None:
    """The untrained student alone on the held-out tasks, under the run's own prompt, token and turn limits (so a
    base number compares with the trained runs' evaluations); recorded as iteration 0 with no labels or training."""
    started = time.perf_counter()
    evaluated = _held_out(ctx, 0, start)
    m = metrics.IterationMetrics(
        iteration=0, beta=0.0, rollout=metrics.rollout_stats([]), eval=metrics.rollout_stats(evaluated),
        new_labels=0, dataset_labels=0, sft_loss=float("nan"), sft_loss_first_epoch=float("nan"), sft_steps=0,
        teacher_seconds=0.0, teacher_dollars=None, seconds={"eval": time.perf_counter() - started},
    )
    metrics.write_metrics(ctx.run_dir, m)
    ctx.display.iteration_table(m)
    ctx.mark(0, "complete")


def _train_step(ctx: RunContext, i: int, rows: list[dataset.LabelRow]) -> SFTResult:
    result_path = ctx.run_dir / "sft" / f"iter_{i:03d}.json"
    if ctx.done(i, "trained"):
        data = read_json(result_path)
        return SFTResult(**{**data, "epoch_losses": tuple(data["epoch_losses"]),
                            "kl_epochs": tuple(data.get("kl_epochs", ()))})
    from swe_dagger.dagger.sft.checkpoints import load_student, pad_token_id, save_checkpoint, with_lora
    from swe_dagger.dagger.sft.examples import encode_rows
    from swe_dagger.dagger.sft.trainer import train_sft

    with ctx.training():  # a vLLM student sharing the GPU sleeps during the update
        cfg = ctx.cfg
        start = ctx.student_for(i) if cfg.sft.init == "previous" else ctx.init_student
        model, tokenizer = load_student(start, trainable=True)
        if cfg.sft.lora:
            model = with_lora(model, cfg.sft)
        examples = encode_rows(rows, ctx.agent, tokenizer, cfg.sft.max_seq_len)
        distill = _distillation(ctx, rows, tokenizer)
        steps_per_epoch = -(-len(examples) // cfg.sft.batch_size) // cfg.sft.grad_accum or 1
        ctx.display.start(f"train iter {i} (|D|={len(rows)})", total=steps_per_epoch * cfg.sft.epochs)
        before = _sft_steps_before(ctx, i)

        def on_step(step: int, total: int, loss: float) -> None:
            ctx.display.advance(info=f"loss {loss:.3f}", total=total)
            ctx.report.scalars({"train_step/sft_loss": loss}, axis="sft_step", step=before + step)

        try:
            result = train_sft(model, examples, cfg.sft, pad_id=pad_token_id(tokenizer),
                               seed=derive_seed(cfg.seed, "sft", i) % 2**31, on_step=on_step,
                               episodes=[(r.iteration, r.episode) for r in rows], log=ctx.display.log,
                               distill=distill)
        finally:
            if distill is not None and distill.teacher is not None:
                distill.teacher.close()
        save_checkpoint(model, tokenizer, ctx.checkpoint(i))
        atomic_write_json(result_path, dataclasses.asdict(result))
        ctx.mark(i, "trained")
    return result


def _distillation(ctx: RunContext, rows: list[dataset.LabelRow], tokenizer: Any) -> Distillation | None:
    """``dagger.loss`` with ``reverse_kl``: the student replies in ``rows`` scored by ``dagger.kl_teacher``."""
    d = ctx.cfg.dagger
    if d.loss == "ce" or d.kl_teacher is None:
        return None
    import torch

    from swe_dagger.dagger.sft.distill import prepare
    from swe_dagger.dagger.sft.token_teacher import open_token_teacher

    device = "cuda" if torch.cuda.is_available() else "cpu"
    teacher = open_token_teacher(d.kl_teacher, d.kl_teacher_model, device, tokenizer)
    try:
        distill = prepare(d.loss, d.kl_coef, rows, ctx.agent, tokenizer, ctx.cfg.sft.max_seq_len, teacher)
    except BaseException:
        teacher.close()
        raise
    if distill.teacher is None:
        teacher.close()  # a served teacher has scored every reply already
    return distill


def _sft_steps_before(ctx: RunContext, i: int) -> int:
    """SFT optimizer steps of the iterations before ``i`` (their saved results): ``i``'s steps continue the count."""
    return sum(int(read_json(ctx.run_dir / "sft" / f"iter_{j:03d}.json")["steps"]) for j in range(i))


def _train_request(ctx: RunContext, i: int) -> CollectRequest:
    """Iteration ``i``'s collection: the mixture under β_i (1 for ``bc``) on the training tasks, labeled."""
    cfg, d = ctx.cfg, ctx.cfg.dagger
    beta = 1.0 if cfg.mode == "bc" else beta_for(d.schedule, i, beta=d.beta, beta_end=d.beta_end,
                                                 iterations=d.iterations)
    spent = sum(t.teacher_calls for j in range(i) for t in _logged(ctx, "train", j)) if d.teacher_budget else 0
    plan = plan_iteration(budget=d.teacher_budget, spent=spent, iteration=i, iterations=d.iterations, beta=beta,
                          labels_per_iteration=d.labels_per_iteration, episodes=d.episodes_per_iteration,
                          max_turns=cfg.env.max_turns)
    horizon = None if d.horizon_start is None else horizon_for(i, start=d.horizon_start, step=d.horizon_step,
                                                                max_turns=cfg.env.max_turns)
    return CollectRequest(
        kind="train", iteration=i, beta=plan.beta, tasks=ctx.train_tasks, student=ctx.student_for(i), label=True,
        episodes=d.episodes_per_iteration, label_budget=plan.labels, relabel=d.relabel, horizon=horizon,
        call_budget=plan.calls,
    )


def _eval_request(ctx: RunContext, i: int, student: Path) -> CollectRequest:
    return CollectRequest(
        kind="eval", iteration=i, beta=0.0, tasks=ctx.test_tasks, student=student, label=ctx.cfg.eval.label,
        episodes=ctx.cfg.eval.episodes, greedy=True,
    )


def _evaluates(ctx: RunContext, i: int) -> bool:
    cfg = ctx.cfg
    last = i == cfg.dagger.iterations - 1
    return cfg.eval.episodes > 0 and (last or (i + 1) % max(cfg.eval.every, 1) == 0)


def _next_collection(ctx: RunContext, i: int) -> CollectRequest | None:
    """The collection after iteration ``i``'s training, if one is still to run: its evaluation, else the next
    iteration's collection."""
    if _evaluates(ctx, i):
        return None if ctx.done(i, "evaluated") else _eval_request(ctx, i, ctx.checkpoint(i))
    if i + 1 < ctx.cfg.dagger.iterations and not ctx.done(i + 1, "labeled"):
        return _train_request(ctx, i + 1)
    return None


def _evaluate(ctx: RunContext, i: int, ahead: Lookahead) -> list[Trajectory] | None:
    return _held_out(ctx, i, ctx.checkpoint(i), ahead) if _evaluates(ctx, i) else None


def _held_out(ctx: RunContext, i: int, student: Path, ahead: Lookahead | None = None) -> list[Trajectory]:
    """``student`` alone (β = 0, greedy) on the held-out tasks as iteration ``i``'s evaluation (resumable)."""
    if ctx.done(i, "evaluated"):
        return _logged(ctx, "eval", i)
    req = _eval_request(ctx, i, student)
    trajs = collect(ctx, req, ahead.take(req) if ahead is not None else None)
    ctx.mark(i, "evaluated")
    return trajs


def _logged(ctx: RunContext, kind: str, i: int) -> list[Trajectory]:
    return episode_log.read_trajectories(episode_log.episode_log(ctx.run_dir, kind, i))
