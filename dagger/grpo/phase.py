"""The GRPO phase (RLVR). Read it top to bottom: for each step,

    collect G student-only episodes on each of ``tasks_per_step`` tasks (β = 0, sampled at the step's temperature;
    dynamic sampling: more groups while too few have signal) → group advantages from the training reward (the env's,
    or the shaped one) → update (clipped PG, + SFT on teacher labels with ``sft_coef``) → checkpoint → evaluate →
    metrics.

It starts from the weights the previous phase ended with (the last DAgger checkpoint, or the initial student).
Files: ``episodes/grpo_iter_XXX.jsonl`` (the groups, fsync'd one by one), ``checkpoints/grpo_XXX`` (+ the AdamW
state in ``grpo/optimizer_XXX.pt``, carried from step to step), ``grpo/step_XXX.json`` (the update's result),
``episodes/grpo_eval_iter_XXX.jsonl``, ``metrics/grpo_XXX.json``; markers ``markers/grpo_XXX.{collected,trained,
evaluated,complete}``. A step's files are written before its marker, so ``--resume`` after ``kill -9`` redoes at
most the unfinished part, from the same inputs, and nothing is lost or duplicated.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch

from swe_dagger.dagger.grpo.advantages import trajectory_advantages
from swe_dagger.dagger.grpo.groups import StepGroups, collect_groups, episode_rewards
from swe_dagger.dagger.grpo.metrics import (
    GRPOStepMetrics,
    SignalStats,
    group_stats,
    submit_rate,
    write_grpo_metrics,
)
from swe_dagger.dagger.grpo.update import GRPOUpdateResult
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.report.content import report_episodes
from swe_dagger.dagger.rollout import episode_log
from swe_dagger.dagger.rollout.episodes import CollectRequest, collect
from swe_dagger.dagger.run.context import RunContext
from swe_dagger.dagger.run.metrics import rollout_stats
from swe_dagger.dagger.schedule import derive_seed
from swe_dagger.durable.files import atomic_write_json, atomic_write_text, atomic_write_with, read_json


def checkpoint(ctx: RunContext, step: int) -> Path:
    return ctx.run_dir / "checkpoints" / f"grpo_{step:03d}"


def _marker(ctx: RunContext, step: int, part: str) -> Path:
    return ctx.run_dir / "markers" / f"grpo_{step:03d}.{part}"


def done(ctx: RunContext, step: int, part: str) -> bool:
    return _marker(ctx, step, part).exists()


def _mark(ctx: RunContext, step: int, part: str) -> None:
    atomic_write_text(_marker(ctx, step, part), "")


def grpo_phase(ctx: RunContext, start: Path) -> Path:
    """``grpo.steps`` steps from the weights at ``start``; returns the last step's checkpoint."""
    g = ctx.cfg.grpo
    if g.tasks_per_step > len(ctx.train_tasks):
        raise ValueError(f"grpo.tasks_per_step = {g.tasks_per_step} but there are only "
                         f"{len(ctx.train_tasks)} training tasks (a step's groups must be on distinct tasks)")
    if g.dynamic_sampling and g.tasks_per_step + g.max_resample_groups > len(ctx.train_tasks):
        raise ValueError(f"grpo.tasks_per_step + grpo.max_resample_groups = {g.tasks_per_step} + "
                         f"{g.max_resample_groups} but there are only {len(ctx.train_tasks)} training tasks (resampled "
                         "groups are on tasks the step has not used); lower grpo.max_resample_groups")
    for step in range(ctx.cfg.grpo.steps):
        if not done(ctx, step, "complete"):
            grpo_step(ctx, step, start)
    return checkpoint(ctx, ctx.cfg.grpo.steps - 1) if ctx.cfg.grpo.steps else start


def grpo_step(ctx: RunContext, step: int, start: Path) -> None:
    g, seconds = ctx.cfg.grpo, {}
    weights = start if step == 0 else checkpoint(ctx, step - 1)
    teacher_before = ctx.teacher_usage()[0]

    # 1. collect: G sampled episodes of the student alone per task (dynamic sampling: more groups while fewer than
    #    tasks_per_step have signal); the teacher labels them only for the SFT term
    started = time.perf_counter()
    groups = collect_groups(ctx, step, weights, g.temperature_at(step), lambda ts: episode_rewards(
        ts, ctx.train_tasks, g.reward, p2p_penalty=g.p2p_penalty), logged=done(ctx, step, "collected"))
    _mark(ctx, step, "collected")
    seconds["collect"] = time.perf_counter() - started
    trajs = groups.trajectories

    # 2. advantages: each episode's training reward against its group's (episodes the infrastructure failed have no
    #    reward; with dynamic sampling only the groups with signal are trained on)
    if len(groups.scored) < len(trajs):
        ctx.display.log(f"grpo step {step}: {len(trajs) - len(groups.scored)} episodes had infrastructure errors; "
                        "left out")
    batch, rewards = groups.batch(only_signal=g.dynamic_sampling)
    advantages = trajectory_advantages(batch, rewards=rewards, scale_by_std=g.scale_by_std).tolist()

    # 3. update from the step's starting weights (and the optimizer state the previous step left); checkpoint
    started = time.perf_counter()
    update = _update(ctx, step, weights, start, batch, advantages, groups.scored)
    seconds["train"] = time.perf_counter() - started

    # 4. evaluate the new weights alone (greedy) on held-out tasks
    started = time.perf_counter()
    evaluated = _evaluate(ctx, step)
    if evaluated is not None:
        seconds["eval"] = time.perf_counter() - started

    # 5. metrics, then the step is complete
    m = GRPOStepMetrics(
        step=step, groups=group_stats(trajs, groups.rewards), rollout=rollout_stats(trajs), update=update,
        eval=rollout_stats(evaluated) if evaluated is not None else None,
        teacher_seconds=ctx.teacher_usage()[0] - teacher_before,
        seconds=seconds, signal=_signal(ctx, step, groups, advantages, evaluated),
    )
    write_grpo_metrics(ctx.run_dir, m)
    ctx.report.scalars({f"grpo/{key}": value for key, value in m.flat().items()}, axis="grpo_step", step=step)
    report_episodes(ctx.report, evaluated, limit=ctx.cfg.report.text_episodes, axis="grpo_step", step=step)
    ctx.report.flush()
    ctx.display.grpo_table(m)
    _mark(ctx, step, "complete")


def _signal(ctx: RunContext, step: int, groups: StepGroups, advantages: list[float],
            evaluated: list[Trajectory] | None) -> SignalStats:
    g = ctx.cfg.grpo
    with_signal = sum(x.has_signal for x in groups.groups)
    shaped, eval_shaped = None, None
    if g.reward == "shaped":
        shaped = _mean(groups.rewards)
        if evaluated is not None:
            scored = [t for t in evaluated if t.error is None]
            eval_shaped = _mean(episode_rewards(scored, ctx.test_tasks, "shaped", p2p_penalty=g.p2p_penalty))
    return SignalStats(
        groups_with_signal=with_signal, missing_signal_groups=max(0, g.tasks_per_step - with_signal),
        resampled_groups=groups.resampled, temperature=g.temperature_at(step),
        advantage_abs_mean=_mean([abs(a) for a in advantages]), shaped_reward_mean=shaped,
        eval_shaped_reward_mean=eval_shaped, submit_rate=submit_rate(groups.scored),
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _update(ctx: RunContext, step: int, weights: Path, start: Path, batch: list[Trajectory],
            advantages: list[float], labeled: list[Trajectory]) -> GRPOUpdateResult:
    """The update on ``batch`` (the PG term) and the teacher labels of ``labeled`` (the SFT term)."""
    result_path = ctx.run_dir / "grpo" / f"step_{step:03d}.json"
    if done(ctx, step, "trained"):
        return GRPOUpdateResult(**read_json(result_path))
    from swe_dagger.dagger.grpo.update import grpo_update, rl_sequences, sft_examples
    from swe_dagger.dagger.sft.checkpoints import load_student, pad_token_id, save_checkpoint, with_lora

    cfg, g = ctx.cfg, ctx.cfg.grpo
    with ctx.training():
        model, tokenizer = load_student(weights, trainable=True)
        if cfg.sft.lora:
            model = with_lora(model, cfg.sft)
        ref = load_student(start, trainable=False)[0] if g.kl_coef > 0 else None
        sequences, per_sequence = rl_sequences(batch, advantages, tokenizer, ctx.agent,
                                               require_logprobs=g.tis_cap is not None)
        sft = sft_examples(labeled, ctx.agent, tokenizer, cfg.sft.max_seq_len) if g.sft_coef > 0 else []
        ctx.display.start(f"grpo step {step} update ({len(sequences)} student turns)", total=g.epochs * g.minibatches)
        before = _updates_before(ctx, step)

        def on_step(update: int, total: int, loss: float) -> None:
            ctx.display.advance(info=f"loss {loss:.3f}")
            ctx.report.scalars({"grpo_update/loss": loss}, axis="grpo_update", step=before + update)

        result, state = grpo_update(
            model, sequences, per_sequence, g, precision=cfg.sft, pad_id=pad_token_id(tokenizer),
            seed=derive_seed(cfg.seed, "grpo", step) % 2**31, sft=sft, ref_model=ref,
            optimizer_state=_load_optimizer(ctx, step - 1),
            on_step=on_step, step=step,
        )
        save_checkpoint(model, tokenizer, checkpoint(ctx, step))
        _save_optimizer(ctx, step, state)
    atomic_write_json(result_path, dataclasses.asdict(result))
    _mark(ctx, step, "trained")
    return result


def _updates_before(ctx: RunContext, step: int) -> int:
    """Optimizer steps of the GRPO steps before ``step`` (their saved results): ``step``'s updates continue the
    count."""
    return sum(int(read_json(ctx.run_dir / "grpo" / f"step_{s:03d}.json")["optimizer_steps"]) for s in range(step))


def _optimizer_path(ctx: RunContext, step: int) -> Path:
    return ctx.run_dir / "grpo" / f"optimizer_{step:03d}.pt"


def _save_optimizer(ctx: RunContext, step: int, state: dict[str, Any]) -> None:
    atomic_write_with(_optimizer_path(ctx, step), lambda tmp: torch.save(state, tmp))


def _load_optimizer(ctx: RunContext, step: int) -> dict[str, Any] | None:
    """The AdamW state after ``step`` (``None`` before the first step: a fresh optimizer)."""
    if step < 0:
        return None
    path = _optimizer_path(ctx, step)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: grpo step {step} is marked trained but its optimizer state is not")
    state: dict[str, Any] = torch.load(path, weights_only=True)
    return state


def _evaluate(ctx: RunContext, step: int) -> list[Trajectory] | None:
    cfg, g = ctx.cfg, ctx.cfg.grpo
    due = g.eval_every > 0 and (step == g.steps - 1 or (step + 1) % g.eval_every == 0)
    if cfg.eval.episodes <= 0 or not due:
        return None
    if done(ctx, step, "evaluated"):
        return _logged(ctx, "grpo_eval", step)
    trajs = collect(ctx, CollectRequest(
        kind="grpo_eval", iteration=step, beta=0.0, tasks=ctx.test_tasks, student=checkpoint(ctx, step),
        label=cfg.eval.label, episodes=cfg.eval.episodes, greedy=True,
    ))
    _mark(ctx, step, "evaluated")
    return trajs


def _logged(ctx: RunContext, kind: str, step: int) -> list[Trajectory]:
    return episode_log.read_trajectories(episode_log.episode_log(ctx.run_dir, kind, step))
