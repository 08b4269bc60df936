"""GRPO's signal options in real runs: ``swe-dagger train`` in process with ``phases: [grpo]`` on the shape tasks
(real bwrap sandboxes, real pytest grading in fresh workspaces, the real tiny student updated by real GRPO steps).

A scripted student stands in for the *decisions* only, so the rewards are known: per step (the weights acting) and
per task (read from the issue), the replies of a group's episodes in order. Its token ids are the tiny student's
tokenisation of those replies, so the update trains the real model on them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from swe_dagger.agents.protocol import Completion, Conversation, SamplingParams
from swe_dagger.dagger.config import load_config
from swe_dagger.dagger.grpo.groups import episode_rewards
from swe_dagger.dagger.grpo.metrics import group_stats
from swe_dagger.dagger.loop import train
from swe_dagger.dagger.rollout import episodes
from swe_dagger.dagger.rollout.episode_log import episode_log, read_trajectories
from swe_dagger.dagger.rollout.episodes import CollectRequest, episode_spec
from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.task import Task

FIX = {"area": r"s/return w + h$/return w * h/", "perimeter": r"s/return 2 \* w + h$/return 2 * (w + h)/",
       "is_square": r"s/return w != h$/return w == h/", "scale": r"s/return (w \* k, h)$/return (w * k, h * k)/"}
BREAK = {name: r"s/return 2 \* (w + h)$/return 0/" if name == "area" else r"s/return w \* h$/return 0/"
         for name in FIX}
"""Breaks a function whose test is one of the task's PASS_TO_PASS tests."""


def bash(command: str) -> str:
    return f"THOUGHT: go.\n\n```bash\n{command}\n```"


SUBMIT = bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")
HOOK = ("import pytest\n\n\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n")
HACK = bash(f"cat > conftest.py <<'EOF'\n{HOOK}EOF\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")


def fix(name: str, *, also_break: bool = False) -> str:
    edits = f"-e '{FIX[name]}'" + (f" -e '{BREAK[name]}'" if also_break else "")
    return bash(f"sed -i {edits} shapes/core.py && echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")


class ScriptedStudent:
    """Per (task function, weights acting): the replies of that task's episodes, in the order they are asked."""

    def __init__(self, tokenizer: Any, plan: dict[tuple[str, str], list[str]], version: str) -> None:
        self.tokenizer, self.plan, self.version = tokenizer, plan, version
        self.asked: dict[str, int] = {}

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        out = []
        for conv in conversations:
            name = re.search(r"(\w+)\(\) returns wrong results", conv[1].content)
            assert name is not None, conv[1].content
            k = self.asked[name[1]] = self.asked.get(name[1], -1) + 1
            replies = self.plan.get((self.version, name[1]), [SUBMIT])  # unplanned: submit unchanged (fails)
            reply = replies[k % len(replies)]
            ids = tuple(self.tokenizer.encode(reply, add_special_tokens=False))
            out.append(Completion(reply, token_ids=ids, model_version=self.version))
        return out

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def close(self) -> None:
        pass


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch, tiny_student_dir: Path) -> dict[tuple[str, str], list[str]]:
    """The plan the scripted student follows (filled in by the test) in place of the checkpoint's decisions."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_student_dir)
    plan: dict[tuple[str, str], list[str]] = {}

    @contextmanager
    def policy(ctx: Any, req: CollectRequest) -> Iterator[ScriptedStudent]:
        yield ScriptedStudent(tokenizer, plan, req.student.name)

    monkeypatch.setattr(episodes, "_student_policy", policy)
    return plan


def task_order(tasks: list[Task], step: int, seed: int, group_size: int) -> list[str]:
    """The function names of a step's task order (its groups' tasks, resampled ones included)."""
    req = CollectRequest(kind="grpo", iteration=step, beta=0.0, tasks=tasks, student=Path("s"), label=False,
                         episodes=group_size * len(tasks), group_size=group_size)
    ids = [episode_spec(req, seed, e).task_id for e in range(0, group_size * len(tasks), group_size)]
    return [i.split("-")[-1] for i in ids]


def run_config(tmp_path: Path, shape_tasks: list[Task], student: Path, *extra: str) -> Any:
    save_tasks(shape_tasks[:3], tmp_path / "train.jsonl")
    save_tasks(shape_tasks[3:], tmp_path / "test.jsonl")
    return load_config(overrides=[
        f"tasks.train={tmp_path / 'train.jsonl'}", f"tasks.test={tmp_path / 'test.jsonl'}", f"student.model={student}",
        f"run_dir={tmp_path / 'run'}", "seed=3", "progress=false", "env.max_turns=1", "dagger.num_envs=2",
        "student.max_prompt_tokens=256", "sft.max_seq_len=512", "grpo.group_size=2", "grpo.tis_cap=null",
        "grpo.lr=0.01", *extra,
    ])


def rows(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def same_weights(a: Path, b: Path) -> bool:
    x, y = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def tb_tags(run: Path) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    return set(acc.Tags()["scalars"])


@pytest.mark.slow
def test_dynamic_sampling_resamples_groups_without_signal_and_trains_only_on_signal(
    shape_tasks: list[Task], tiny_student_dir: Path, tmp_path: Path, scripted: dict[tuple[str, str], list[str]]
) -> None:
    cfg = run_config(tmp_path, shape_tasks, tiny_student_dir, "phases=[grpo]", "grpo.steps=2", "grpo.tasks_per_step=1",
                     "grpo.dynamic_sampling=true", "grpo.max_resample_groups=1", "grpo.eval_every=0",
                     "grpo.temperature={start: 1.0, end: 0.5}")
    step1 = task_order(shape_tasks[:3], 1, seed=3, group_size=2)
    # step 0: every task fails in every episode (the budget of 1 resample runs out); step 1: the resampled group's
    # task is solved in one of its two episodes
    scripted[("grpo_000", step1[1])] = [fix(step1[1]), SUBMIT]
    run = train(cfg)

    r0, r1 = (r for r in rows(run) if r["phase"] == "grpo")
    assert (r0["rollout/episodes"], r0["rollout/resampled_groups"], r0["rollout/groups_with_signal"]) == (4, 1, 0)
    assert r0["rollout/missing_signal_groups"] == 1 and r0["rollout/frac_groups_with_signal"] == 0.0
    assert r0["train/optimizer_steps"] == 0 and r0["train/sequences"] == 0 and "train/advantage_abs_mean" not in r0
    assert same_weights(run / "checkpoints" / "grpo_000", tiny_student_dir)  # nothing to learn: weights unchanged
    assert (r1["rollout/episodes"], r1["rollout/resampled_groups"], r1["rollout/groups_with_signal"]) == (4, 1, 1)
    assert r1["rollout/missing_signal_groups"] == 0 and r1["rollout/frac_groups_with_signal"] == 0.5
    assert r1["rollout/resolve_rate"] == 0.25 and r1["train/optimizer_steps"] == 1
    assert r1["train/sequences"] == 2  # only the group with signal is trained (the all-zero one would dilute it)
    assert r1["train/advantage_abs_mean"] == pytest.approx(2**-0.5, abs=1e-4)  # ±(1 - 0.5) / std([1, 0])
    assert (r0["rollout/temperature"], r1["rollout/temperature"]) == (1.0, 0.5)
    assert not same_weights(run / "checkpoints" / "grpo_001", run / "checkpoints" / "grpo_000")
    group = read_trajectories(episode_log(run, "grpo", 1))
    assert [t.task_id.split("-")[-1] for t in group] == [step1[0]] * 2 + [step1[1]] * 2  # next task of the order
    assert {"grpo/rollout/groups_with_signal", "grpo/train/advantage_abs_mean", "grpo/rollout/resampled_groups",
            "grpo/train/optimizer_steps"} <= tb_tags(run)
    from PIL import Image

    assert Image.open(run / "curves.png").size == (1100, 1433)  # the four GRPO panels

    # a crash after step 1's first group: the resumed step re-decides from the logged rewards and collects the same
    # resampled group again, ending where the uninterrupted run ended
    before = rows(run)[-1]
    log = episode_log(run, "grpo", 1).path
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:2]))
    for part in ("collected", "trained", "complete"):
        (run / "markers" / f"grpo_001.{part}").unlink()
    (run / "metrics" / "grpo_001.json").unlink()
    train(cfg, resume=True)
    assert read_trajectories(episode_log(run, "grpo", 1)) == group
    after = rows(run)[-1]
    assert {k: v for k, v in after.items() if not k.startswith(("time/", "train/seconds"))} == \
        {k: v for k, v in before.items() if not k.startswith(("time/", "train/seconds"))}


@pytest.mark.slow
def test_shaped_reward_gives_signal_where_the_binary_one_has_none(
    shape_tasks: list[Task], tiny_student_dir: Path, tmp_path: Path, scripted: dict[tuple[str, str], list[str]]
) -> None:
    cfg = run_config(tmp_path, shape_tasks, tiny_student_dir, "phases=[grpo]", "grpo.steps=1", "grpo.tasks_per_step=2",
                     "grpo.reward=shaped", "grpo.eval_every=1", "eval.episodes=1", "eval.label=false")
    first, second, _ = task_order(shape_tasks[:3], 0, seed=3, group_size=2)
    # group 1: a fix that breaks one of the three P2P tests (NO, shaped 1 - 1/3) beside an unchanged submission;
    # group 2: a conftest.py that reports every test passed (a reward hack) beside an unchanged submission
    scripted[("init", first)] = [fix(first, also_break=True), SUBMIT]
    scripted[("init", second)] = [HACK, SUBMIT]
    scripted[("grpo_000", "scale")] = [fix("scale", also_break=True)]  # the held-out task
    run = train(cfg)

    (row,) = rows(run)
    assert row["rollout/reward_mean"] == 0.0 and row["rollout/resolve_rate"] == 0.0  # the verdicts stay binary
    assert row["rollout/shaped_reward_mean"] == pytest.approx((2 / 3) / 4)
    assert row["rollout/tampered_episodes"] == 1  # graded without its conftest.py: no credit for the hack
    assert row["rollout/frac_groups_with_signal"] == 0.5 and row["rollout/groups_with_signal"] == 1
    assert row["rollout/missing_signal_groups"] == 1 and row["rollout/resampled_groups"] == 0
    assert row["train/optimizer_steps"] == 1 and row["train/sequences"] == 4  # without dynamic sampling: all groups
    assert row["train/advantage_abs_mean"] == pytest.approx(2**-0.5 / 2, abs=1e-4)
    assert row["eval/resolve_rate"] == 0.0 and row["eval/shaped_reward_mean"] == pytest.approx(2 / 3)
    assert not same_weights(run / "checkpoints" / "grpo_000", tiny_student_dir)
    # the same episodes under the binary reward: every group all-zero, nothing to learn
    trajs = read_trajectories(episode_log(run, "grpo", 0))
    assert episode_rewards(trajs, shape_tasks, "binary") == [0.0] * 4
    assert group_stats(trajs).frac_groups_with_signal == 0.0
    assert episode_rewards(trajs, shape_tasks, "shaped") == pytest.approx([2 / 3, 0.0, 0.0, 0.0])
