"""The grpo phase: group episode specs, its metrics rows beside DAgger's, and a real ``swe-dagger train`` with
``dagger → grpo`` on the small task fixture, killed with SIGKILL during the grpo collection and during a grpo update,
then resumed: the same episodes, weights and metrics as an uninterrupted run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from swe_dagger.agents.protocol import Message
from swe_dagger.dagger.grpo.metrics import GRPOStepMetrics, group_stats, write_grpo_metrics
from swe_dagger.dagger.grpo.update import GRPOUpdateResult
from swe_dagger.dagger.records import Trajectory, Turn
from swe_dagger.dagger.rollout.episode_log import episode_log, read_trajectories
from swe_dagger.dagger.rollout.episodes import CollectRequest, episode_spec
from swe_dagger.dagger.run.metrics import IterationMetrics, read_all, rollout_stats, write_metrics
from swe_dagger.dagger.run.plot import plot_curves
from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.task import Task

from .test_resume import cli, lines, run_until


def test_group_episodes_share_a_task_and_not_a_seed(shape_tasks: list[Task]) -> None:
    req = CollectRequest(kind="grpo", iteration=2, beta=0.0, tasks=shape_tasks, student=Path("s"), label=False,
                         episodes=12, temperature=1.0, group_size=3)
    specs = [episode_spec(req, 7, e) for e in range(12)]
    groups = [specs[k : k + 3] for k in range(0, 12, 3)]
    assert all(len({s.task_id for s in g}) == 1 and len({s.seed for s in g}) == 3 for g in groups)
    assert len({g[0].task_id for g in groups}) == 4  # tasks_per_step ≤ tasks: distinct tasks within a step
    again = CollectRequest(**{**req.__dict__, "iteration": 3})
    assert [episode_spec(again, 7, e).task_id for e in range(0, 12, 3)] != [g[0].task_id for g in groups]
    plain = CollectRequest(**{**req.__dict__, "group_size": 1})
    assert [episode_spec(plain, 7, e).task_id for e in range(4)] == [g[0].task_id for g in groups]


def episode(task: str, reward: float, error: str | None = None) -> Trajectory:
    turn = Turn(0, "student", "```bash\nls\n```", None, "o")
    return Trajectory(task, (Message("user", "x"),), (turn,), reward, "FULL" if reward else "NO", True, False,
                      error=error)


def test_group_stats_and_metric_rows_beside_dagger(tmp_path: Path) -> None:
    trajs = [episode("a", 1.0), episode("a", 0.0), episode("b", 0.0), episode("b", 0.0),
             episode("b", 1.0, error="grader crashed")]  # the crashed one has no reward: left out, not a 0
    g = group_stats(trajs)
    assert (g.groups, g.reward_mean, g.frac_groups_with_signal) == (2, 0.25, 0.5)
    assert g.reward_std_in_group == pytest.approx(0.5 * 2**-0.5)
    stats = rollout_stats(trajs)
    write_metrics(tmp_path, IterationMetrics(0, 0.5, stats, stats, 3, 3, 2.0, 2.5, 4, 0.0, None, {"collect": 1.0}))
    update = GRPOUpdateResult(1, 4, 40, 0.1, 0.05, 1.5, 0.1, 1.0, 0.0, None, 1.0, 1.2, 0.0, 2.0, 0.9, 1.0)
    for step in (1, 0):
        write_grpo_metrics(tmp_path, GRPOStepMetrics(step, g, stats, update, None, 0.0, {"train": 2.0}))
    rows = read_all(tmp_path)
    assert [r.get("phase", "dagger") for r in rows] == ["dagger", "grpo", "grpo"]
    assert [r.get("step") for r in rows] == [None, 0, 1] and "phase" not in rows[0]
    assert rows[1]["rollout/frac_groups_with_signal"] == 0.5 and rows[1]["train/clip_fraction"] == 0.1
    assert rows[1]["train/sft_loss"] == 1.5 and "train/kl_ref" not in rows[1] and "eval/episodes" not in rows[1]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 3
    png = plot_curves(tmp_path)
    from PIL import Image

    assert png.stat().st_size > 10_000 and Image.open(png).size == (1100, 1433)  # with the 4 GRPO panels


VOLATILE = ("time/", "teacher/seconds", "train/seconds")


def stable(row: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in row.items() if not k.startswith(VOLATILE)}


def weights(run: Path, checkpoint: str) -> bytes:
    return (run / "checkpoints" / checkpoint / "model.safetensors").read_bytes()


def overrides(tasks_dir: Path, student: Path, run_dir: Path) -> list[str]:
    return [
        f"tasks.train={tasks_dir / 'train.jsonl'}", f"tasks.test={tasks_dir / 'test.jsonl'}",
        f"student.model={student}", f"run_dir={run_dir}", "seed=3", "progress=false",
        "phases=[{dagger: {iterations: 1}}, {grpo: {steps: 2, group_size: 2, tasks_per_step: 2, eval_every: 1}}]",
        "grpo.sft_coef=0.5", "grpo.lr=0.001", "grpo.epochs=2",
        "dagger.episodes_per_iteration=2", "dagger.labels_per_iteration=null", "dagger.num_envs=2",
        "dagger.schedule=constant", "dagger.beta=0.5", "env.max_turns=2", "eval.episodes=1",
        "student.max_new_tokens=8", "student.max_prompt_tokens=256", "sft.epochs=1", "sft.max_seq_len=256",
        "env.allow_unvalidated=true",
    ]


@pytest.mark.slow
def test_dagger_then_grpo_end_to_end_with_kill9_and_resume(
    shape_tasks: list[Task], tiny_student_dir: Path, tmp_path: Path
) -> None:
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    save_tasks(shape_tasks[:3], tasks_dir / "train.jsonl")
    save_tasks(shape_tasks[3:], tasks_dir / "test.jsonl")
    ref, killed = tmp_path / "ref", tmp_path / "killed"

    subprocess.run(cli(*overrides(tasks_dir, tiny_student_dir, ref)), check=True, capture_output=True, timeout=600)

    # the uninterrupted run: one DAgger iteration, then two GRPO steps of 2 groups x 2 episodes
    rows = [json.loads(line) for line in (ref / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("phase", "dagger") for r in rows] == ["dagger", "grpo", "grpo"]
    for key in ("rollout/reward_mean", "rollout/frac_groups_with_signal", "train/clip_fraction", "train/approx_kl_old",
                "train/sequences_skipped", "train/entropy", "train/pg_loss", "train/sft_loss", "rollout/agreement",
                "eval/resolve_rate", "time/train_s"):
        assert key in rows[1] and key in rows[2], key
    for row in rows[1:]:  # importance weights exist only for sequences that were scored (zero advantage: skipped)
        assert ("train/is_weight_mean" in row) == (row["train/sequences_skipped"] < row["train/sequences"])
    assert rows[1]["train/optimizer_steps"] == 2 and rows[1]["rollout/episodes"] == 4
    for step, start in ((0, "iter_000"), (1, "grpo_000")):  # each step acts with the weights the one before left
        group = read_trajectories(episode_log(ref, "grpo", step))
        assert [t.episode for t in group] == [0, 1, 2, 3]
        assert group[0].task_id == group[1].task_id != group[2].task_id == group[3].task_id
        turns = [t for traj in group for t in traj.turns]
        assert {t.author for t in turns} == {"student"} and {t.model_version for t in turns} == {start}
        assert all(t.token_ids and t.logprobs and t.teacher_label for t in turns)  # sft_coef > 0: labeled
    assert weights(ref, "grpo_001") != weights(ref, "iter_000")
    assert (ref / "curves.png").is_file() and any((ref / "tb").iterdir())

    # 1) kill during grpo step 0's group collection
    log0 = killed / "episodes" / "grpo_iter_000.jsonl"
    run_until(cli(*overrides(tasks_dir, tiny_student_dir, killed)),
              lambda: lines(log0) >= 1 and not (killed / "markers" / "grpo_000.collected").exists())
    assert 1 <= lines(log0) < 4
    # 2) resume, and kill again during step 1's update (groups collected, checkpoint not yet written)
    trained1 = killed / "markers" / "grpo_001.trained"
    run_until(cli("--resume", str(killed)),
              lambda: (killed / "markers" / "grpo_001.collected").exists() and not trained1.exists())
    assert not trained1.exists() and not (killed / "checkpoints" / "grpo_001").exists()
    # 3) resume to the end: the same episodes, weights, optimizer state and metrics as the uninterrupted run
    subprocess.run(cli("--resume", str(killed)), check=True, capture_output=True, timeout=600)
    for kind in ("grpo", "grpo_eval"):
        for step in (0, 1):
            assert read_trajectories(episode_log(killed, kind, step)) == read_trajectories(episode_log(ref, kind, step))
    assert weights(killed, "grpo_001") == weights(ref, "grpo_001")
    assert (killed / "grpo/optimizer_001.pt").is_file()
    killed_rows = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [stable(r) for r in killed_rows] == [stable(r) for r in rows]
