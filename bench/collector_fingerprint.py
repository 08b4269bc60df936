"""The collector's records on fixed seeds, as one JSON file: run it before and after a change to the episode loop and
compare the files (``cmp``); identical files mean the change left training's collection as it was.

    python bench/collector_fingerprint.py /tmp/before.json   # on the old code
    python bench/collector_fingerprint.py /tmp/after.json    # on the new code
    cmp /tmp/before.json /tmp/after.json

Four collections on the DAgger tests' shapes repo (local bwrap sandboxes, the oracle teacher, 4 turns): a scripted
student under ``per_turn`` (β = 0.5, relabel all), ``prefix`` (relabel disagreement, a teacher-call budget of 5) and
``per_episode`` (relabel failure) mixing, and the real tiny transformer student sampling at T = 1 with a prompt
budget (elision) under ``per_turn`` (β = 0.3). Each trajectory is written without its wall timings, and pytest's
``in 0.12s`` durations in observations are masked. About 15 s here.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path

import torch

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.backends.hf import HFPolicy
from swe_dagger.agents.protocol import Completion, Conversation, Policy, SamplingParams
from swe_dagger.agents.tiny_student import build_tiny_student
from swe_dagger.dagger.config import EnvConfig
from swe_dagger.dagger.records import Trajectory
from swe_dagger.dagger.rollout.collector import Collector, EpisodeSpec
from swe_dagger.dagger.rollout.env_worker import make_swe_env
from swe_dagger.dagger.rollout.relabel import Relabel
from swe_dagger.dagger.rollout.serialize import trajectory_to_json
from swe_dagger.dagger.schedule import MixingMode
from swe_dagger.envs.task import Task
from swe_dagger.teachers.factory import TeacherConfig, make_teacher

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "dagger"))
from conftest import build_shape_tasks  # the tests' real repo, not a copy

REPLIES = ("THOUGHT: look.\n\n```bash\nls; false\n```", "THOUGHT: cat\n\n```bash\ncat shapes/core.py\n```",
           "no code block")


class Scripted:
    """Stands in for the student's decisions: replies in rotation, each stamped with the sampling seed it got."""

    def __init__(self) -> None:
        self.n = 0

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        out = []
        for _ in conversations:
            self.n += 1
            out.append(Completion(text=f"{REPLIES[self.n % 3]} {sampling.seed}", model_version="s"))
        return out

    def close(self) -> None:
        pass


def collect(tasks: list[Task], policy: Policy, mixing: MixingMode, beta: float, relabel: Relabel,
            calls_left: int | None, *, count_tokens: Callable[[str], int] | None = None,
            episodes: int = 4) -> list[Trajectory]:
    make = make_swe_env(tasks, EnvConfig(max_turns=4, command_timeout_s=120, allow_unvalidated=True))
    out: list[Trajectory] = []
    with closing(make_teacher(TeacherConfig())) as teacher, Collector(
            make, 2, Agent(AgentConfig(max_prompt_tokens=600)), policy, teacher,
            sampling=SamplingParams(max_new_tokens=12, temperature=1.0), mixing=mixing, max_turns=4,
            count_tokens=count_tokens, model_version="m1") as collector:
        specs = [EpisodeSpec(1, i, tasks[i % len(tasks)].instance_id, beta, seed=7 + i, relabel=relabel)
                 for i in range(episodes)]
        collector.run(specs, out.append, calls_left=calls_left)
    return out


def main(out_path: Path) -> None:
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp())
    tasks = build_shape_tasks(root)
    trajs = collect(tasks, Scripted(), "per_turn", 0.5, "all", None)
    trajs += collect(tasks, Scripted(), "prefix", 0.5, "disagreement", 5)
    trajs += collect(tasks, Scripted(), "per_episode", 0.5, "failure", None)
    student = build_tiny_student(root / "student", params="300k", vocab_size=1000, seed=0)
    with HFPolicy.from_pretrained(student, model_version="v0") as policy:
        trajs += collect(tasks, policy, "per_turn", 0.3, "all", None, count_tokens=policy.count_tokens, episodes=2)
    rows = []
    for traj in trajs:
        data = trajectory_to_json(traj)
        data.pop("timings", None)
        rows.append(json.loads(re.sub(r"in \d+\.\d+s", "in Xs", json.dumps(data, sort_keys=True))))
    out_path.write_text(json.dumps(rows, indent=1, sort_keys=True))
    print(f"{out_path}: {len(rows)} trajectories, {sum(len(r['turns']) for r in rows)} turns")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
