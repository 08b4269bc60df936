"""Metrics from records: command-level agreement, rates over nothing are None, files and the PNG."""

from __future__ import annotations

from pathlib import Path

from swe_dagger.agents.protocol import Message
from swe_dagger.dagger.records import Trajectory, Turn
from swe_dagger.dagger.run.metrics import IterationMetrics, agrees, read_all, rollout_stats, write_metrics
from swe_dagger.dagger.run.plot import plot_curves


def reply(thought: str, cmd: str) -> str:
    return f"THOUGHT: {thought}\n\n```bash\n{cmd}\n```"


def test_agreement_compares_commands_not_thoughts() -> None:
    assert agrees(reply("a", "grep -n  foo   x.py"), reply("something else", "grep -n foo x.py"))
    assert not agrees(reply("a", "grep -n foo x.py"), reply("a", "grep -n bar x.py"))
    assert not agrees("no block", "no block")
    assert not agrees(reply("a", "ls") + reply("b", "ls"), reply("a", "ls"))  # two blocks is a format error


def traj(turns: list[Turn], resolution: str | None, error: str | None = None,
         tampered: tuple[str, ...] = ()) -> Trajectory:
    return Trajectory(task_id="t", prefix=(Message("user", "x"),), turns=tuple(turns), reward=0.0,
                      resolution=resolution, terminated=resolution is not None, truncated=resolution is None,
                      error=error, teacher_calls=len(turns), tampered=tampered)


def test_rollout_stats() -> None:
    good, bad = reply("t", "ls"), reply("t", "cat f")
    trajs = [
        traj([Turn(0, "student", good, good, "o"), Turn(1, "student", "junk", good, "o", format_error=True)], "FULL"),
        traj([Turn(0, "teacher", bad, bad, "o"), Turn(1, "student", good, bad, "o")], "NO", tampered=("conftest.py",)),
        traj([Turn(0, "teacher", bad, bad, "o")], None, error="grading crashed"),
    ]
    s = rollout_stats(trajs)
    assert (s.episodes, s.student_turns, s.teacher_turns, s.teacher_calls) == (3, 3, 2, 5)
    assert s.agreement == 1 / 3 and s.format_error_rate == 1 / 3 and s.mean_turns == 5 / 3
    assert s.first_turn_agreement == 1.0  # one student-acted first turn, and it agrees
    assert s.resolve_rate == 1 / 2 and s.infra_errors == 1  # the crashed episode is not scored as a failure
    assert s.tampered_episodes == 1
    empty = rollout_stats([traj([Turn(0, "teacher", bad, bad, "o")], "FULL")])
    assert empty.agreement is None and empty.format_error_rate is None and empty.first_turn_agreement is None
    late = rollout_stats([traj([Turn(0, "student", bad, good, "o"), Turn(1, "student", good, good, "o")], "NO")])
    assert late.agreement == 1 / 2 and late.first_turn_agreement == 0.0


def test_metrics_files_and_curves(tmp_path: Path) -> None:
    s = rollout_stats([traj([Turn(0, "student", reply("t", "ls"), reply("t", "ls"), "o")], "FULL")])
    for i in (1, 0, 1):  # out of order and rewritten: one line per iteration, in order
        write_metrics(tmp_path, IterationMetrics(i, 0.5**i, s, s if i else None, 3, 3 * (i + 1), 2.0 - i, 2.5, 4,
                                                 0.01, None, {"collect": 1.0}))
    rows = read_all(tmp_path)
    assert [r["iteration"] for r in rows] == [0, 1]
    assert rows[1]["train/sft_loss"] == 1.0 and rows[1]["eval/agreement"] == 1.0 and "eval/agreement" not in rows[0]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2
    png = plot_curves(tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    assert Image.open(png).size == (1100, 766)  # DAgger only: 4 panels, no empty GRPO panels
