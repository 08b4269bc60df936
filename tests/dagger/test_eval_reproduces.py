"""``swe-dagger eval`` of a run's checkpoint reproduces the run's own held-out evaluation: the same settings (read
from the run's config.yaml, none of them eval's old defaults), the same episodes, the same numbers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from swe_dagger.dagger.config import load_config, load_resolved
from swe_dagger.dagger.eval.checkpoint import evaluate_checkpoint, settings_for
from swe_dagger.dagger.loop import train
from swe_dagger.dagger.rollout.episode_log import episode_log, read_trajectories
from swe_dagger.dagger.run.metrics import rollout_stats
from swe_dagger.durable.files import AppendLog
from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.task import Task

pytestmark = pytest.mark.slow  # one tiny BC iteration (SFT) and two evaluations


def test_standalone_eval_reproduces_the_runs_held_out_numbers(
    shape_tasks: list[Task], tiny_student_dir: Path, tmp_path: Path
) -> None:
    save_tasks(shape_tasks[:2], tmp_path / "train.jsonl")
    save_tasks(shape_tasks[2:4], tmp_path / "test.jsonl")
    run_dir = tmp_path / "run"
    cfg = load_config(None, [
        "mode=bc", f"tasks.train={tmp_path / 'train.jsonl'}", f"tasks.test={tmp_path / 'test.jsonl'}",
        f"student.model={tiny_student_dir}", f"run_dir={run_dir}", "dagger.iterations=1",
        "dagger.episodes_per_iteration=2", "dagger.num_envs=2", "env.max_turns=3", "eval.episodes=3",
        "student.max_new_tokens=12", "student.max_prompt_tokens=384", "student.prompt=default", "sft.epochs=1",
        "sft.max_seq_len=384", "progress=false", "tensorboard=false", "seed=5",
    ])
    train(cfg)
    checkpoint = run_dir / "checkpoints" / "iter_000"

    settings = settings_for(checkpoint, held_out=True)
    assert (settings.env.max_turns, settings.max_new_tokens, settings.max_prompt_tokens, settings.prompt) == (
        3, 12, 384, "default")  # the run's values, not eval's own defaults
    assert (settings.episodes, settings.iteration, settings.seed, settings.num_envs) == (3, 0, 5, 2)
    stats = evaluate_checkpoint(checkpoint, str(tmp_path / "test.jsonl"), tmp_path / "ev",
                                dataclasses.replace(settings, progress=False))

    in_run = read_trajectories(episode_log(run_dir, "eval", 0))
    standalone = read_trajectories(AppendLog(tmp_path / "ev" / "episodes.jsonl"))
    assert len(in_run) == len(standalone) == 3  # eval.episodes on 2 tasks: one task twice, as in the run
    assert len({t.task_id for t in in_run}) == 2
    for ours, theirs in zip(standalone, in_run, strict=True):
        assert (ours.task_id, ours.seed, ours.resolution) == (theirs.task_id, theirs.seed, theirs.resolution)
        assert [t.action for t in ours.turns] == [t.action for t in theirs.turns]
    (row,) = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    # the run's teacher also labeled its held-out states (eval.label: agreement); everything the student did is equal
    teacher_only = {"teacher_calls", "agreement", "first_turn_agreement"}
    ours_stats, run_stats = dataclasses.asdict(stats), dataclasses.asdict(rollout_stats(in_run))
    assert run_stats["teacher_calls"] > 0 and ours_stats["teacher_calls"] == 0
    assert {k: v for k, v in ours_stats.items() if k not in teacher_only} == {
        k: v for k, v in run_stats.items() if k not in teacher_only}
    assert (row["eval/episodes"], row["eval/resolve_rate"], row["eval/mean_turns"]) == (
        stats.episodes, stats.resolve_rate, stats.mean_turns)


def test_eval_settings_of_a_run_with_task_kinds_filter_its_held_out_tasks_the_same_way(tmp_path: Path) -> None:
    from swe_dagger.dagger.config import save_resolved

    run_dir = tmp_path / "run"
    (run_dir / "checkpoints" / "iter_002").mkdir(parents=True)
    save_resolved(load_config(None, ["tasks.kinds=[swap_args, compare_op]", "eval.episodes=5",
                                           "env.stable_timings=true"]), run_dir)
    held_out = settings_for(run_dir / "checkpoints" / "iter_002", held_out=True)
    assert (held_out.kinds, held_out.episodes, held_out.iteration) == (("swap_args", "compare_op"), 5, 2)
    assert held_out.env == load_resolved(run_dir).env  # the run's whole env section, whatever it holds
    elsewhere = settings_for(tmp_path / "elsewhere" / "ckpt", held_out=True)
    assert held_out.env.stable_timings and not elsewhere.env.stable_timings
    assert settings_for(run_dir / "checkpoints" / "iter_002", held_out=False).kinds is None
