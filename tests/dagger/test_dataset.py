"""Aggregated dataset: exact trajectory round trip, torn-tail repair, label rows with provenance, HF loadable."""

from __future__ import annotations

from pathlib import Path

import pytest

from swe_dagger.agents.protocol import Message
from swe_dagger.dagger.records import Trajectory, Turn
from swe_dagger.dagger.rollout.episode_log import append_trajectory, episode_log, read_trajectories
from swe_dagger.dagger.rollout.serialize import RecordFormatError
from swe_dagger.dagger.sft.dataset import aggregate, label_rows, labels_path, write_iteration_labels


def make_traj(iteration: int, episode: int, authors: str = "st") -> Trajectory:
    turns = []
    for i, a in enumerate(authors):
        author = "student" if a == "s" else "teacher"
        action = f"THOUGHT: {author} {i}\n\n```bash\nls {i}\n```"
        label = action if author == "teacher" else f"THOUGHT: t\n\n```bash\ncat f{i}\n```"
        turns.append(
            Turn(index=i, author=author, action=action, teacher_label=label, observation=f"<output>{i}</output>",
                 token_ids=(1, 2, 3) if author == "student" else None,
                 logprobs=(-0.5, -0.25, -1.0) if author == "student" else None, model_version="iter-0")
        )
    return Trajectory(task_id=f"t{episode}", prefix=(Message("system", "sys"), Message("user", "fix it")),
                      turns=tuple(turns), reward=1.0, resolution="FULL", terminated=True, truncated=False,
                      iteration=iteration, beta=0.5, seed=7, episode=episode, teacher_calls=len(turns),
                      timings={"total_s": 1.5})


def test_trajectory_log_round_trip_and_torn_tail(tmp_path: Path) -> None:
    log = episode_log(tmp_path, "train", 0)
    trajs = [make_traj(0, e) for e in range(3)]
    for t in trajs:
        append_trajectory(log, t)
    assert read_trajectories(log) == trajs
    assert read_trajectories(log)[0].timings == {"total_s": 1.5}
    # a kill mid-write leaves half a line: reopening cuts it off, earlier records stay intact
    with open(log.path, "a") as fh:
        fh.write('{"task_id": "t9", "prefix": [')
    reopened = episode_log(tmp_path, "train", 0)
    assert read_trajectories(reopened) == trajs
    assert log.path.read_text().endswith("\n")


def test_duplicate_episode_and_corrupt_line_are_errors(tmp_path: Path) -> None:
    log = episode_log(tmp_path, "train", 1)
    append_trajectory(log, make_traj(1, 0))
    append_trajectory(log, make_traj(1, 0))
    with pytest.raises(RecordFormatError, match="episode 0 is recorded twice"):
        read_trajectories(log)
    bad = episode_log(tmp_path, "train", 2)
    bad.path.write_text('{"task_id": "x"}\n')
    with pytest.raises(RecordFormatError, match=r"train_iter_002.jsonl:1.*missing field 'turns'"):
        read_trajectories(bad)


def test_label_rows_and_union(tmp_path: Path) -> None:
    rows = label_rows(make_traj(0, 4, "sts"))
    assert [(r.turn, r.author) for r in rows] == [(0, "student"), (1, "teacher"), (2, "student")]
    assert rows[2].history[0][0].endswith("ls 0\n```") and len(rows[2].history) == 2
    assert rows[0].student_action is not None and rows[1].student_action is None
    assert rows[1].label == make_traj(0, 4, "sts").turns[1].action  # a teacher turn is labeled by its own action
    assert write_iteration_labels(tmp_path, 0, [make_traj(0, 0), make_traj(0, 1)]) == 4
    assert write_iteration_labels(tmp_path, 1, [make_traj(1, 0, "sss")]) == 3
    assert write_iteration_labels(tmp_path / "budget", 0, [make_traj(0, 0), make_traj(0, 1)], limit=3) == 3
    assert [(r.episode, r.turn) for r in aggregate(tmp_path / "budget", [0])] == [(0, 0), (0, 1), (1, 0)]
    d1 = aggregate(tmp_path, [0, 1])
    assert len(d1) == 7 and [r.iteration for r in d1] == [0, 0, 0, 0, 1, 1, 1]
    assert aggregate(tmp_path, [0]) == d1[:4]  # D_0 ⊂ D_1, unchanged
    with pytest.raises(FileNotFoundError, match="labels_iter_005"):
        aggregate(tmp_path, [5])


def test_label_files_load_with_hf_datasets(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    write_iteration_labels(tmp_path, 0, [make_traj(0, 0), make_traj(0, 1, "ss")])
    write_iteration_labels(tmp_path, 1, [make_traj(1, 0, "ts")])
    ds = datasets.load_dataset(
        "json", data_files=[str(labels_path(tmp_path, i)) for i in (0, 1)], split="train",
        cache_dir=str(tmp_path / "hf"),
    )
    assert ds.num_rows == 6
    assert set(ds.column_names) >= {"iteration", "beta", "task_id", "turn", "author", "reward", "label", "prefix"}
    assert ds[0]["prefix"][1] == {"role": "user", "content": "fix it"}
