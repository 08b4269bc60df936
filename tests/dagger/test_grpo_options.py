"""The GRPO signal options as pure parts: the shaped reward on hand-counted tests, each episode's training reward,
groups and the dynamic-sampling budget, the temperature schedule, and the config's checks of the new keys."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from swe_dagger.agents.protocol import Message
from swe_dagger.dagger.config import (
    ConfigError,
    TemperatureSchedule,
    load_config,
    load_resolved,
    phase_plan,
    save_resolved,
)
from swe_dagger.dagger.grpo.groups import StepGroups, episode_rewards, extra_groups, groups_of
from swe_dagger.dagger.grpo.metrics import (
    GRPOStepMetrics,
    SignalStats,
    group_stats,
    submit_rate,
    write_grpo_metrics,
)
from swe_dagger.dagger.grpo.update import GRPOUpdateResult
from swe_dagger.dagger.records import Trajectory, Turn
from swe_dagger.dagger.run.metrics import read_all, rollout_stats
from swe_dagger.dagger.run.progress import Display
from swe_dagger.envs.shaped_reward import shaped_reward
from swe_dagger.envs.task import Task

TASK = Task("o__r-1", "o/r", "abc", "bug", "gold", fail_to_pass=("t.py::a", "t.py::b"),
            pass_to_pass=("t.py::c", "t.py::d", "t.py::e"))


def test_shaped_reward_counts_f2p_passes_and_p2p_regressions() -> None:
    assert shaped_reward(TASK, ()) == 1.0  # nothing listed fails: FULL, and the shaped reward says so
    assert shaped_reward(TASK, ("t.py::a", "t.py::b")) == 0.0  # the bug as it was: no credit, no penalty
    assert shaped_reward(TASK, ("t.py::a",)) == 0.5  # one of two F2P fixed
    assert shaped_reward(TASK, ("t.py::a", "t.py::c")) == pytest.approx(0.5 - 1 / 3)
    assert shaped_reward(TASK, ("t.py::a", "t.py::c"), p2p_penalty=0.5) == pytest.approx(0.5 - 1 / 6)
    assert shaped_reward(TASK, ("t.py::a", "t.py::b", "t.py::c", "t.py::d", "t.py::e")) == -1.0  # broke it all
    no_p2p = Task("x", "o/r", "abc", "bug", "gold", fail_to_pass=("t.py::a",))
    assert shaped_reward(no_p2p, ()) == 1.0 and shaped_reward(no_p2p, ("t.py::a",)) == 0.0


def test_shaped_reward_refuses_what_does_not_fit_the_task() -> None:
    with pytest.raises(ValueError, match=r"t\.py::zzz"):
        shaped_reward(TASK, ("t.py::zzz",))  # a record of another task
    with pytest.raises(ValueError, match="p2p_penalty"):
        shaped_reward(TASK, (), p2p_penalty=-1.0)
    with pytest.raises(ValueError, match="no FAIL_TO_PASS"):
        shaped_reward(Task("x", "o/r", "abc", "bug", "gold"), ())


def traj(task: str, reward: float, resolution: str | None, failed: tuple[str, ...] | None, episode: int = 0,
         error: str | None = None) -> Trajectory:
    turn = Turn(0, "student", "```bash\nls\n```", None, "o")
    return Trajectory(task, (Message("user", "x"),), (turn,), reward, resolution, resolution is not None,
                      resolution is None, error=error, episode=episode, failed_tests=failed)


def test_episode_rewards_binary_and_shaped() -> None:
    trajs = [traj(TASK.instance_id, 1.0, "FULL", ()), traj(TASK.instance_id, 0.0, "NO", ("t.py::a", "t.py::c")),
             traj(TASK.instance_id, 0.0, None, None)]  # the last never submitted: not graded
    assert episode_rewards(trajs, [TASK], "binary") == [1.0, 0.0, 0.0]
    assert episode_rewards(trajs, [TASK], "shaped") == pytest.approx([1.0, 0.5 - 1 / 3, 0.0])
    assert episode_rewards(trajs, [TASK], "shaped", p2p_penalty=0.0) == [1.0, 0.5, 0.0]


@pytest.mark.parametrize(("bad", "tasks", "needle"), [
    (traj(TASK.instance_id, 0.0, "NO", None, episode=7), [TASK], "episode 7 was graded"),  # no per-test record
    (traj("other", 0.0, "NO", ()), [TASK], "not among"),
    (traj(TASK.instance_id, 0.0, None, None, error="grader crashed"), [TASK], "infrastructure error"),
])
def test_episode_rewards_never_guess(bad: Trajectory, tasks: list[Task], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        episode_rewards([bad], tasks, "shaped")
    with pytest.raises(ValueError, match="'binary' or 'shaped'"):
        episode_rewards([], tasks, "dense")


def test_groups_signal_and_the_dynamic_sampling_budget() -> None:
    scored = [traj(t, 0.0, "NO", ()) for t in ("a", "a", "b", "b", "c", "c")]
    groups = groups_of(scored, [0.0, 0.0, 1.0, 0.0, 0.5, 0.5])
    assert [(g.task_id, g.members, g.has_signal) for g in groups] == [
        ("a", (0, 1), False), ("b", (2, 3), True), ("c", (4, 5), False)]
    assert not groups_of(scored[:1], [1.0])[0].has_signal  # a group of one never has signal
    # 2 groups wanted with signal, 1 has it: one more, if the budget allows
    assert extra_groups(groups[:2], requested=2, tasks_per_step=2, max_resample=4) == 1
    assert extra_groups(groups, requested=3, tasks_per_step=2, max_resample=1) == 0  # budget spent
    assert extra_groups(groups, requested=3, tasks_per_step=4, max_resample=3) == min(3, 4 + 3 - 3)
    assert extra_groups(groups[1:2], requested=1, tasks_per_step=1, max_resample=2) == 0  # enough signal
    step = StepGroups(scored, scored, [0.0, 0.0, 1.0, 0.0, 0.5, 0.5], groups, 3, 1)
    assert step.batch(only_signal=True) == (scored[2:4], [1.0, 0.0])
    assert step.batch(only_signal=False) == (scored, [0.0, 0.0, 1.0, 0.0, 0.5, 0.5])


def test_temperature_schedule_from_yaml_overrides_and_phases(tmp_path: Path) -> None:
    cfg = load_config(overrides=["grpo.steps=5", "grpo.temperature={start: 1.2, end: 0.4}"])
    assert cfg.grpo.temperature == TemperatureSchedule(1.2, 0.4)
    assert [round(cfg.grpo.temperature_at(s), 6) for s in range(5)] == [1.2, 1.0, 0.8, 0.6, 0.4]
    assert load_config(overrides=["grpo.steps=1", "grpo.temperature={start: 1.2, end: 0.4}"]).grpo.temperature_at(0) \
        == 1.2
    assert load_config(overrides=["grpo.temperature=0.7"]).grpo.temperature_at(3) == 0.7  # a number: constant
    save_resolved(cfg, tmp_path)
    assert load_resolved(tmp_path) == cfg  # the schedule survives config.yaml (and so --resume)
    phased = load_config(overrides=["phases=[{grpo: {steps: 3, temperature: {start: 1.0, end: 0.5}}}]"])
    (grpo,) = phase_plan(phased)
    assert grpo.config.grpo.temperature_at(2) == 0.5


@pytest.mark.parametrize(("override", "needle"), [
    ("grpo.temperature={start: 0, end: 1}", "grpo.temperature.start must be > 0"),
    ("grpo.temperature={start: 1}", "end"),
    ("grpo.temperature={begin: 1, end: 1}", "begin"),
    ("grpo.temperature=-1", "grpo.temperature must be > 0"),
    ("grpo.reward=dense", "'dense' is not one of ['binary', 'shaped']"),
    ("grpo.p2p_penalty=-0.5", "grpo.p2p_penalty must be >= 0"),
    ("grpo.max_resample_groups=-1", "grpo.max_resample_groups must be >= 0"),
    ("grpo.dynamic_sampling=maybe", "grpo.dynamic_sampling"),
])
def test_bad_grpo_values_name_the_key(override: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_config(overrides=[override])


def test_dynamic_sampling_needs_groups_that_can_differ_and_a_budget() -> None:
    with pytest.raises(ConfigError, match="group_size >= 2"):
        load_config(overrides=["grpo.dynamic_sampling=true", "grpo.group_size=1"])
    with pytest.raises(ConfigError, match="max_resample_groups >= 1"):
        load_config(overrides=["grpo.dynamic_sampling=true", "grpo.max_resample_groups=0"])
    with pytest.raises(ConfigError, match=r"phases\[0\].grpo"):  # a phase's override is checked the same way
        load_config(overrides=["phases=[{grpo: {dynamic_sampling: true, group_size: 1}}]"])
    assert load_config(overrides=["grpo.dynamic_sampling=true"]).grpo.max_resample_groups == 4


def test_signal_stats_in_the_row_and_the_grpo_table(tmp_path: Path) -> None:
    trajs = [traj("a", 1.0, "FULL", ()), traj("a", 0.0, "NO", ("t.py::a",)), traj("b", 0.0, "NO", ("t.py::a",)),
             traj("b", 0.0, "NO", ("t.py::a",))]
    update = GRPOUpdateResult(1, 2, 40, 0.1, 0.05, None, 0.1, 1.0, 0.0, None, None, None, None, 2.0, 0.9, 1.0)
    signal = SignalStats(groups_with_signal=1, missing_signal_groups=1, resampled_groups=2, temperature=0.8,
                         advantage_abs_mean=0.35, shaped_reward_mean=0.25, submit_rate=0.75)
    m = GRPOStepMetrics(3, group_stats(trajs, [1.0, 0.0, 0.5, 0.5]), rollout_stats(trajs), update, None, 0.0, {},
                        signal)
    write_grpo_metrics(tmp_path, m)
    (row,) = read_all(tmp_path)
    assert row["rollout/reward_mean"] == 0.25  # the env's reward, whatever the training reward
    assert row["rollout/frac_groups_with_signal"] == 0.5 and row["rollout/reward_std_in_group"] == pytest.approx(
        0.5 * 2**0.5 / 2)  # of the training rewards: [1, 0] and [0.5, 0.5]
    assert (row["rollout/groups_with_signal"], row["rollout/missing_signal_groups"], row["rollout/resampled_groups"],
            row["rollout/temperature"], row["train/advantage_abs_mean"], row["rollout/shaped_reward_mean"],
            row["rollout/submit_rate"]) == (1.0, 1.0, 2.0, 0.8, 0.35, 0.25, 0.75)
    assert "eval/shaped_reward_mean" not in row and row["train/optimizer_steps"] == 1
    out = io.StringIO()
    Display(enabled=True, console=Console(file=out, width=200)).grpo_table(m)
    assert "signal: 1 of 2 groups (2 resampled, 1 short), 1 optimizer steps" in out.getvalue()
    assert "mean |A| 0.35, T = 0.8, 75% submitted, shaped reward 0.250" in out.getvalue()


def test_submit_rate_counts_graded_episodes_and_leaves_out_infrastructure_errors() -> None:
    graded, cut = traj("a", 0.0, "NO", ()), traj("a", 0.0, None, None)  # submitted (graded) / cut by the turn limit
    crashed = traj("a", 0.0, None, None, error="sandbox died")
    assert submit_rate([graded, cut, cut, crashed]) == pytest.approx(1 / 3)
    assert submit_rate([cut, cut]) == 0.0  # no episode graded: no reward can differ, binary or shaped
    assert submit_rate([crashed]) is None and submit_rate([]) is None


def test_bench_grpo_signal_compares_the_rewards_on_the_same_episodes(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("grpo_signal", Path(__file__).parents[2] / "bench" / "grpo_signal.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "grpo_signal", bench)  # its dataclass looks its module up there
    spec.loader.exec_module(bench)
    other = Task("o__r-2", "o/r", "abc", "bug", "gold", fail_to_pass=("t.py::a",))
    trajs = [traj(TASK.instance_id, 0.0, "NO", ("t.py::a",)), traj(TASK.instance_id, 0.0, None, None, episode=1),
             traj(other.instance_id, 1.0, "FULL", (), episode=2), traj(other.instance_id, 1.0, "FULL", (), episode=3),
             traj(other.instance_id, 0.0, None, None, episode=4, error="sandbox died")]
    row = bench.signal_row(trajs, [TASK, other], p2p_penalty=1.0)
    assert (row.episodes, row.submitted, row.full, row.groups) == (5, 0.75, 2, 2)
    assert (row.signal_binary, row.signal_shaped) == (0, 1)  # a partial fix beside a cut episode: shaped only
    assert row.shaped_values == (0.0, 0.5, 1.0) and row.shaped_mean == pytest.approx(2.5 / 4)
    with pytest.raises(ValueError, match="no scored episode"):
        bench.signal_row(trajs[4:], [TASK, other], p2p_penalty=1.0)
