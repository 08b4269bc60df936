"""Zero-advantage sequences are skipped by the GRPO update (no KL term) without changing it: the real tiny student,
episodes whose student turns are token ids encoded from fixed text (the update needs nothing else)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from swe_dagger.agents.agent import Agent
from swe_dagger.dagger.config import GRPOConfig, SFTConfig
from swe_dagger.dagger.grpo.advantages import trajectory_advantages
from swe_dagger.dagger.grpo.update import grpo_update, rl_sequences, sft_examples
from swe_dagger.dagger.records import Trajectory, Turn
from swe_dagger.dagger.sft.checkpoints import load_student

AGENT = Agent()
LABEL = "THOUGHT: look.\n\n```bash\ngrep -n 'def ' shapes/core.py\n```"


def episodes(tok: Any, task: str, rewards: tuple[float, ...]) -> list[Trajectory]:
    prefix = AGENT.initial_messages(f"{task}: area() returns wrong results.")
    out = []
    for e, reward in enumerate(rewards):
        turns = []
        for k in range(2):
            action = f"THOUGHT: try {e}.{k}.\n\n```bash\ncat shapes/core_{e}.py\n```"
            turns.append(Turn(k, "student", action, LABEL, f"<returncode>0</returncode> obs {k}",
                              token_ids=tok.encode(action, add_special_tokens=False)))
        out.append(Trajectory(task, prefix, tuple(turns), reward, "FULL" if reward else "NO", terminated=True,
                              truncated=False, episode=e))
    return out


def test_zero_advantage_sequences_are_skipped_with_the_same_update(tiny_student_dir: Path) -> None:
    """A group with equal rewards (advantage 0) is not forwarded, yet the weights end up as when it is: its tokens
    still count in the minibatch normaliser (the SFT term and several minibatches make that matter to AdamW)."""
    _, tok = load_student(tiny_student_dir, trainable=False)
    trajs = episodes(tok, "task-a", (1.0, 0.0)) + episodes(tok, "task-b", (1.0, 1.0))
    advantages = trajectory_advantages(trajs).tolist()
    assert advantages[2:] == [0.0, 0.0] and advantages[0] > 0 > advantages[1]
    sequences, per_seq = rl_sequences(trajs, advantages, tok, AGENT, require_logprobs=False)
    sft = sft_examples(trajs, AGENT, tok, max_seq_len=1024)
    cfg = GRPOConfig(lr=1e-3, epochs=2, minibatches=3, micro_batch_size=1, sft_coef=0.5)

    def run(skip: bool) -> tuple[Any, list[torch.Tensor], int]:
        model, _ = load_student(tiny_student_dir, trainable=True)
        calls = [0]
        model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
        state = None
        for step in range(2):  # the second step carries AdamW's moments, so each minibatch's gradient scale counts
            result, state = grpo_update(model, sequences, per_seq, cfg, precision=SFTConfig(),
                                        pad_id=tok.pad_token_id, seed=step, sft=sft, optimizer_state=state,
                                        skip_zero_advantage=skip)
        return result, [p.detach().clone() for p in model.parameters()], calls[0]

    (full, full_params, full_calls), (fast, fast_params, fast_calls) = run(False), run(True)
    assert full.sequences_skipped == 0 and fast.sequences_skipped == 4 == len(sequences) // 2
    assert fast.optimizer_steps == full.optimizer_steps == 2 * 3
    # per step: the old-logprob pass and each epoch's pass leave out the 4 skipped sequences
    assert full_calls - fast_calls == 2 * 4 * (1 + cfg.epochs)
    assert fast.loss == pytest.approx(full.loss, abs=1e-6) and fast.pg_loss == pytest.approx(full.pg_loss, abs=1e-6)
    diff = max(float((a - b).abs().max()) for a, b in zip(full_params, fast_params, strict=True))
    assert diff <= 1e-6, diff
