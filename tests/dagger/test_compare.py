"""``swe-dagger compare`` on run dirs written by the project's own writers (config, eval episode log, metrics)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from swe_dagger.dagger.config import load_config, save_resolved
from swe_dagger.dagger.eval.compare import CompareError, compare, estimate, load_run
from swe_dagger.dagger.records import Trajectory, Turn
from swe_dagger.dagger.rollout import episode_log
from swe_dagger.dagger.run import metrics
from swe_dagger.dagger.run.metrics import grpo_metrics_path, metrics_path

TASKS = ("t0", "t1", "t2", "t3")
LABEL = "look\n```bash\ngrep -n 'def area' shapes/core.py\n```"
OTHER = "look\n```bash\nls\n```"


def _episode(e: int, task: str, resolved: bool, first_agrees: bool, later_agrees: bool, i: int) -> Trajectory:
    turns = (Turn(0, "student", LABEL if first_agrees else OTHER, LABEL, "out"),
             Turn(1, "student", LABEL if later_agrees else OTHER, LABEL, "out"))
    return Trajectory(task_id=task, prefix=(), turns=turns, reward=float(resolved),
                      resolution="FULL" if resolved else "NO", terminated=True, truncated=False, iteration=i,
                      episode=e)


def write_run(run_dir: Path, mode: str, seed: int, resolved: dict[int, list[bool]], agree: bool = True) -> None:
    """A finished run: config.yaml, then per iteration the eval episode log and the metrics file."""
    save_resolved(load_config(None, [f"mode={mode}", f"seed={seed}", f"run_dir={run_dir}"]), run_dir)
    for i, outcome in resolved.items():
        log = episode_log.episode_log(run_dir, "eval", i)
        trajs = [_episode(e, t, r, agree, e % 2 == 0, i) for e, (t, r) in enumerate(zip(TASKS, outcome, strict=True))]
        for traj in trajs:
            episode_log.append_trajectory(log, traj)
        stats = metrics.rollout_stats(trajs)
        metrics.write_metrics(run_dir, metrics.IterationMetrics(
            iteration=i, beta=0.5, rollout=stats, eval=stats, new_labels=4, dataset_labels=4 * (i + 1),
            sft_loss=1.0, sft_loss_first_epoch=2.0, sft_steps=1, teacher_seconds=0.0, teacher_dollars=None,
            seconds={}))


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    dirs = [tmp_path / n for n in ("dagger-0", "dagger-1", "bc-0")]
    write_run(dirs[0], "dagger", 0, {0: [False] * 4, 1: [True, True, True, False]})
    write_run(dirs[1], "dagger", 1, {0: [False] * 4, 1: [True, False, False, False]})
    write_run(dirs[2], "bc", 0, {0: [False] * 4, 1: [True, True, False, False]}, agree=False)
    return dirs


def test_known_means_and_sane_intervals(runs: list[Path]) -> None:
    table = compare([load_run(d) for d in runs], resamples=1000)
    assert set(table) == {"bc", "dagger"} and set(table["dagger"]) == {0, 1}
    d1 = table["dagger"][1]
    assert d1["resolve_rate"].mean == pytest.approx(0.5) and d1["resolve_rate"].runs == 2
    assert d1["resolve_rate"].tasks == 4
    low, high = d1["resolve_rate"].low, d1["resolve_rate"].high
    assert low is not None and high is not None and 0.0 <= low < 0.5 < high <= 1.0
    # first turns always agree in the dagger runs; later turns on even episodes only: 6 of 8 turns per run
    assert (d1["first_turn_agreement"].mean, d1["first_turn_agreement"].low) == (1.0, 1.0)
    assert d1["agreement"].mean == pytest.approx(0.75)
    zero = table["dagger"][0]["resolve_rate"]
    assert (zero.mean, zero.low, zero.high) == (0.0, 0.0, 0.0)  # nothing resolved anywhere: no spread
    bc = table["bc"][1]
    assert bc["resolve_rate"].mean == pytest.approx(0.5) and bc["first_turn_agreement"].mean == 0.0
    assert bc["agreement"].mean == pytest.approx(0.25)
    # the means equal what the run itself recorded in metrics.jsonl
    row = metrics.read_all(runs[0])[1]
    assert row["eval/resolve_rate"] == 0.75 and row["eval/agreement"] == 0.75


def test_runs_from_different_students_are_not_pooled(runs: list[Path], tmp_path: Path) -> None:
    other = tmp_path / "dagger-smol"
    write_run(other, "dagger", 0, {0: [True] * 4})
    (other / "config.yaml").write_text((other / "config.yaml").read_text().replace("model: tiny", "model: x/smol"))
    table = compare([load_run(runs[0]), load_run(other)], resamples=200)
    assert set(table) == {"dagger · tiny", "dagger · smol"}
    assert table["dagger · smol"][0]["resolve_rate"].mean == 1.0


def write_grpo_evals(run_dir: Path, resolved: dict[int, list[bool]]) -> None:
    """GRPO steps' held-out evaluations as the GRPO phase writes them (grpo_eval log + metrics/grpo_XXX.json)."""
    for step, outcome in resolved.items():
        log = episode_log.episode_log(run_dir, "grpo_eval", step)
        for e, (t, r) in enumerate(zip(TASKS, outcome, strict=True)):
            episode_log.append_trajectory(log, _episode(e, t, r, True, True, step))
        grpo_metrics_path(run_dir, step).parent.mkdir(exist_ok=True)
        grpo_metrics_path(run_dir, step).write_text("{}")


def test_grpo_steps_are_their_own_group_by_step(runs: list[Path], tmp_path: Path) -> None:
    grpo = [tmp_path / f"grpo-{s}" for s in (0, 1)]
    for s, d in enumerate(grpo):
        save_resolved(load_config(None, [f"seed={s}", f"run_dir={d}", "student.model=runs/dagger/iter_003",
                                         "phases=[grpo]"]), d)
        write_grpo_evals(d, {1: [True, s == 0, False, False], 3: [True] * 4})
    (grpo[1] / "episodes" / "grpo_eval_iter_005.jsonl").write_text("")  # still running: left out
    table = compare([load_run(d) for d in [*runs, *grpo]], resamples=200)
    assert set(table) == {"dagger · tiny", "bc · tiny", "grpo · iter_003"}
    assert set(table["grpo · iter_003"]) == {1, 3}
    assert table["grpo · iter_003"][1]["resolve_rate"].mean == pytest.approx(0.375)  # 2/4 and 1/4
    assert table["grpo · iter_003"][3]["resolve_rate"].runs == 2
    assert load_run(grpo[1]).unfinished == (5,)
    both = tmp_path / "dagger-then-grpo"  # one run with both phases: a dagger row and a grpo row
    write_run(both, "dagger", 0, {1: [True, False, False, False]})
    write_grpo_evals(both, {1: [True, True, False, False]})
    table = compare([load_run(both)], resamples=200)
    assert table["dagger"][1]["resolve_rate"].mean == 0.25 and table["grpo"][1]["resolve_rate"].mean == 0.5


def test_bootstrap_is_seeded_and_resamples_seeds() -> None:
    one = np.array([[1, 1, 0, 0, 0, 0]] * 3 + [[0, 1, 0, 0, 0, 0]] * 3, dtype=float)
    none = np.array([[0, 1, 0, 0, 0, 0]] * 6, dtype=float)
    a = estimate([one, none], "resolve_rate", seed=3)
    assert a == estimate([one, none], "resolve_rate", seed=3) and a.mean == pytest.approx(0.25)
    assert a.low == 0.0 and a.high is not None and a.high > 0.4  # the seed draw alone spans 0 .. 0.5
    same = estimate([none, none], "resolve_rate")
    assert (same.low, same.high) == (0.0, 0.0)
    unmeasured = estimate([none], "agreement")  # no labeled turns: nothing measured, not 0.0
    assert unmeasured.mean is None and unmeasured.low is None


def test_not_a_run_dir_and_no_eval_episodes(tmp_path: Path) -> None:
    with pytest.raises(CompareError, match="not a run directory"):
        load_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CompareError, match=r"config\.yaml is missing"):
        load_run(tmp_path / "empty")
    save_resolved(load_config(None, ["eval.episodes=0"]), tmp_path / "noeval")
    with pytest.raises(CompareError, match="no held-out evaluation episodes"):
        load_run(tmp_path / "noeval")


def test_cli_prints_table_and_writes_png_only_with_out(runs: list[Path], tmp_path: Path) -> None:
    png = tmp_path / "out" / "cmp.png"
    cmd = [sys.executable, "-m", "swe_dagger.dagger.cli", "compare", *map(str, runs), "--out", str(png),
           "--resamples", "200"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "dagger" in out.stdout and "0.500 [" in out.stdout and "resolve_rate" in out.stdout
    from matplotlib.image import imread

    pixels = imread(png)
    assert pixels.shape[0] > 100 and pixels[..., :3].std() > 0.01  # drawn on, not blank
    here = tmp_path / "cwd"
    here.mkdir()
    plain = subprocess.run(cmd[:-4] + cmd[-2:], capture_output=True, text=True, timeout=120, cwd=here,
                           env={**os.environ, "COLUMNS": "200"})
    assert plain.returncode == 0 and "0.500 [" in plain.stdout, plain.stderr[-2000:]
    assert list(here.iterdir()) == [] and "wrote" not in plain.stdout  # no --out: the table only, no file anywhere
    bad = subprocess.run([*cmd[:4], str(tmp_path)], capture_output=True, text=True, timeout=120, env=os.environ)
    assert bad.returncode == 2 and f"error: {tmp_path} is not a run directory" in bad.stderr



def test_runs_that_differ_in_a_config_key_are_groups_named_by_it(runs: list[Path], tmp_path: Path) -> None:
    other = tmp_path / "dagger-disagreement-0"
    write_run(other, "dagger", 0, {0: [False] * 4, 1: [True] * 4})
    text = (other / "config.yaml").read_text()
    assert "relabel: all" in text
    (other / "config.yaml").write_text(text.replace("relabel: all", "relabel: disagreement"))
    for run, calls_per_iteration in ((runs[0], (60, 30)), (runs[1], (50, 20))):
        for i, calls in enumerate(calls_per_iteration):  # the training collections' teacher calls, as recorded
            path = metrics_path(run, i)
            path.write_text(json.dumps({**json.loads(path.read_text()), "rollout/teacher_calls": calls}))
    table = compare([load_run(d) for d in (runs[0], runs[1], other)], resamples=200)
    assert set(table) == {"dagger · dagger.relabel=all", "dagger · dagger.relabel=disagreement"}
    assert table["dagger · dagger.relabel=all"][1]["resolve_rate"].runs == 2
    assert table["dagger · dagger.relabel=disagreement"][1]["resolve_rate"].mean == 1.0
    so_far = table["dagger · dagger.relabel=all"][1]["teacher_calls"]  # 60 + 30 and 50 + 20
    assert (so_far.mean, so_far.low, so_far.high, so_far.runs) == (80.0, 70.0, 90.0, 2)
    assert table["dagger · dagger.relabel=all"][0]["teacher_calls"].mean == 55.0
