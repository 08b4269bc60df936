"""The GRPO update on the real tiny student: trajectories it really generated (token ids + logprobs from HFPolicy),
different rewards → the rewarded trajectory's student tokens become more likely and the other's less; all-equal
rewards leave the weights alone; the combined objective lowers the SFT loss on the teacher's labels too."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import torch

from swe_dagger.agents.agent import Agent
from swe_dagger.agents.backends.hf import HFPolicy
from swe_dagger.agents.protocol import SamplingParams
from swe_dagger.dagger.config import GRPOConfig, SFTConfig, TemperatureSchedule
from swe_dagger.dagger.grpo.advantages import trajectory_advantages
from swe_dagger.dagger.grpo.batch import RLSequence, collate_rl
from swe_dagger.dagger.grpo.update import grpo_update, rl_sequences, sft_examples
from swe_dagger.dagger.grpo.window import split_tails, window, window_logits, window_logprobs
from swe_dagger.dagger.grpo_loss import grpo_loss, token_logprobs
from swe_dagger.dagger.records import Trajectory, Turn
from swe_dagger.dagger.sft.checkpoints import load_student

AGENT = Agent()
PREFIX = AGENT.initial_messages("area() returns wrong results; tests/test_core.py::test_area fails.")
LABEL = "THOUGHT: look.\n\n```bash\ngrep -n 'def ' shapes/core.py\n```"


def rollouts(student: Path, rewards: tuple[float, ...]) -> list[Trajectory]:
    """Two-turn episodes the tiny student really generated (sampled), one per reward, all on the same task."""
    model, tok = load_student(student, trainable=False)
    trajectories = []
    with HFPolicy(model, tok) as policy:
        for e, reward in enumerate(rewards):
            turns: list[Turn] = []
            for k in range(2):
                conv = AGENT.render(PREFIX, [(t.action, t.observation) for t in turns], policy.count_tokens)
                (c,) = policy.generate([conv], SamplingParams(max_new_tokens=12, temperature=1.0, seed=10 * e + k))
                turns.append(Turn(k, "student", c.text, LABEL, f"<returncode>0</returncode> obs {k}",
                                  token_ids=c.token_ids, logprobs=c.logprobs))
            trajectories.append(Trajectory("shapes-area", PREFIX, tuple(turns), reward, "FULL" if reward else "NO",
                                           terminated=True, truncated=False, episode=e))
    return trajectories


def student_logprob_sums(model: Any, sequences: list[RLSequence], pad_id: int) -> list[float]:
    """Per trajectory (two sequences each, in order): the summed logprob of its student tokens."""
    batch = collate_rl(sequences, [0.0] * len(sequences), pad_token_id=pad_id)
    with torch.no_grad():
        lp = token_logprobs(model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits,
                            batch.input_ids)
    per_seq = (lp * batch.loss_mask).sum(dim=1).tolist()
    return [per_seq[0] + per_seq[1], per_seq[2] + per_seq[3]]


@pytest.fixture(scope="module")
def trajectories(tiny_student_dir: Path) -> list[Trajectory]:
    trajs = rollouts(tiny_student_dir, (1.0, 0.0))
    assert trajs[0].turns[0].token_ids != trajs[1].turns[0].token_ids  # sampling gave two different episodes
    return trajs


def test_update_raises_the_rewarded_trajectory_and_lowers_the_other(
    tiny_student_dir: Path, trajectories: list[Trajectory]
) -> None:
    model, tok = load_student(tiny_student_dir, trainable=True)
    advantages = trajectory_advantages(trajectories).tolist()
    sequences, per_seq = rl_sequences(trajectories, advantages, tok, AGENT, require_logprobs=True)
    assert len(sequences) == 4 and per_seq[0] == per_seq[1] > 0 > per_seq[2] == per_seq[3]
    before = student_logprob_sums(model, sequences, tok.pad_token_id)
    params_before = [p.detach().clone() for p in model.parameters()]
    batch = collate_rl(sequences, per_seq, pad_token_id=tok.pad_token_id)
    with torch.no_grad():
        old = token_logprobs(model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits,
                             batch.input_ids)
    # two passes per step: the second is off-policy (ratio != 1, old logprobs from a first no-grad pass)
    cfg = GRPOConfig(lr=3e-3, epochs=2, micro_batch_size=2, clip_eps_high=10.0, clip_eps_low=0.9)

    state = None
    for step in range(2):  # two GRPO steps on the same rollouts, the optimizer state carried like the phase does
        result, state = grpo_update(model, sequences, per_seq, cfg, precision=SFTConfig(), pad_id=tok.pad_token_id,
                                    seed=step, optimizer_state=state)
        assert result.optimizer_steps == 2 and result.is_weight_mean is not None and result.ratio_mean != 1.0
    after = student_logprob_sums(model, sequences, tok.pad_token_id)

    assert after[0] > before[0] + 0.5, (before, after)  # rewarded trajectory's student tokens more likely
    assert after[1] < before[1] - 0.5, (before, after)  # the unrewarded one's less likely
    assert any(not torch.equal(a, b) for a, b in zip(params_before, model.parameters(), strict=True))
    with torch.no_grad():
        new = token_logprobs(model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits,
                             batch.input_ids)
    loss_before, _ = grpo_loss(old, old, batch.advantages, batch.loss_mask)
    loss_after, _ = grpo_loss(new, old, batch.advantages, batch.loss_mask, clip_eps_high=10.0, clip_eps_low=0.9)
    assert loss_after < loss_before  # the surrogate objective improved
    assert state is not None and state["state"]  # AdamW moments to carry into the next step
    # rollout logprobs came from the same weights in the same precision: the IS weights are ~1 before any update
    first, _ = grpo_update(load_student(tiny_student_dir, trainable=True)[0], sequences, per_seq, GRPOConfig(lr=0.0),
                           precision=SFTConfig(), pad_id=tok.pad_token_id, seed=0)
    assert first.is_weight_mean == pytest.approx(1.0, abs=1e-3) and first.ratio_mean == pytest.approx(1.0)


def test_all_equal_rewards_leave_the_weights_alone(tiny_student_dir: Path, trajectories: list[Trajectory]) -> None:
    model, tok = load_student(tiny_student_dir, trainable=True)
    same = [dataclasses.replace(t, reward=0.0) for t in trajectories]
    advantages = trajectory_advantages(same).tolist()
    assert advantages == [0.0, 0.0]
    sequences, per_seq = rl_sequences(same, advantages, tok, AGENT, require_logprobs=False)
    params_before = [p.detach().clone() for p in model.parameters()]
    result, _ = grpo_update(model, sequences, per_seq, GRPOConfig(lr=1e-2), precision=SFTConfig(),
                            pad_id=tok.pad_token_id, seed=0)
    assert result.optimizer_steps == 0 and result.is_weight_mean is None
    assert all(torch.equal(a, b) for a, b in zip(params_before, model.parameters(), strict=True))


def test_combined_objective_also_learns_the_teacher_labels(
    tiny_student_dir: Path, trajectories: list[Trajectory]
) -> None:
    model, tok = load_student(tiny_student_dir, trainable=True)
    advantages = trajectory_advantages(trajectories).tolist()
    sequences, per_seq = rl_sequences(trajectories, advantages, tok, AGENT, require_logprobs=True)
    sft = sft_examples(trajectories, AGENT, tok, max_seq_len=1024)
    assert len(sft) == 4  # every student state was labeled
    cfg = GRPOConfig(lr=3e-3, sft_coef=1.0, micro_batch_size=4)
    losses, state = [], None
    for step in range(3):
        result, state = grpo_update(model, sequences, per_seq, cfg, precision=SFTConfig(), pad_id=tok.pad_token_id,
                                    seed=step, sft=sft, optimizer_state=state)
        assert result.sft_loss is not None
        losses.append(result.sft_loss)
    assert losses[-1] < losses[0] - 0.5, losses
    with pytest.raises(ValueError, match="3 advantages for 4 sequences"):
        grpo_update(model, sequences, per_seq[:3], cfg, precision=SFTConfig(), pad_id=0, seed=0)
    with pytest.raises(ValueError, match=r"kl_coef=0\.1 needs the reference model"):
        grpo_update(model, sequences, per_seq, GRPOConfig(kl_coef=0.1), precision=SFTConfig(), pad_id=0, seed=0)


def test_window_scores_the_loss_tokens_like_the_full_sequences(
    tiny_student_dir: Path, trajectories: list[Trajectory]
) -> None:
    model, tok = load_student(tiny_student_dir, trainable=False)
    sequences, per_seq = rl_sequences(trajectories, [1.0, -1.0], tok, AGENT, require_logprobs=True)
    batch = collate_rl(sequences, per_seq, pad_token_id=tok.pad_token_id)
    w = window(batch)
    assert w.keep < batch.input_ids.shape[1] // 4  # the tail is far shorter than the context
    with torch.no_grad():
        full = token_logprobs(model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits,
                              batch.input_ids)
        tails = split_tails(window_logprobs(window_logits(model, w, 1.0), w), w)
    for r, (seq, tail) in enumerate(zip(sequences, tails, strict=True)):
        n = len(seq.input_ids)
        mask = torch.tensor(seq.loss_mask[n - tail.shape[0] :], dtype=torch.bool)
        assert int(mask.sum()) == sum(seq.loss_mask) and not mask[0]  # every loss token is in the tail
        assert torch.allclose(tail[mask], full[r, n - tail.shape[0] : n][mask], atol=1e-4)
        assert seq.rollout_logprobs is not None
        assert torch.allclose(tail[mask], torch.tensor(seq.rollout_logprobs)[n - tail.shape[0] :][mask], atol=1e-4)


def test_each_step_scores_tokens_at_its_scheduled_temperature(
    tiny_student_dir: Path, trajectories: list[Trajectory]
) -> None:
    model, tok = load_student(tiny_student_dir, trainable=True)
    sequences, per_seq = rl_sequences(trajectories, [1.0, -1.0], tok, AGENT, require_logprobs=True)
    schedule = GRPOConfig(lr=0.0, steps=3, temperature=TemperatureSchedule(start=1.0, end=0.25))

    def update(cfg: GRPOConfig, step: int) -> Any:
        return grpo_update(model, sequences, per_seq, cfg, precision=SFTConfig(), pad_id=tok.pad_token_id, seed=0,
                           step=step)[0]

    first, last = update(schedule, 0), update(schedule, 2)
    assert first.entropy == pytest.approx(update(GRPOConfig(lr=0.0, temperature=1.0), 0).entropy)
    assert last.entropy == pytest.approx(update(GRPOConfig(lr=0.0, temperature=0.25), 0).entropy)
    assert last.entropy < first.entropy - 0.5  # sharper distributions at the last step's lower temperature
    # sampled at 1.0 = the first step's temperature: the trainer agrees with the rollouts there, not at the last step
    assert first.is_weight_mean == pytest.approx(1.0, abs=1e-3) and abs(last.is_weight_mean - 1.0) > 0.05


def test_sft_term_alone_when_no_group_is_trained(tiny_student_dir: Path, trajectories: list[Trajectory]) -> None:
    """Dynamic sampling may leave no group with signal: the PG batch is empty, the SFT term still trains."""
    model, tok = load_student(tiny_student_dir, trainable=True)
    sft = sft_examples(trajectories, AGENT, tok, max_seq_len=1024)
    params_before = [p.detach().clone() for p in model.parameters()]
    result, _ = grpo_update(model, [], [], GRPOConfig(lr=1e-3, sft_coef=1.0), precision=SFTConfig(),
                            pad_id=tok.pad_token_id, seed=0, sft=sft)
    assert result.optimizer_steps == 1 and result.sequences == 0 and result.sft_loss is not None
    assert any(not torch.equal(a, b) for a, b in zip(params_before, model.parameters(), strict=True))
