"""Token-level distillation on a real tiny teacher/student pair of one tokenizer: the teacher's scores, the KL term
against a hand computation from both models' logits, training that lowers the KL, and a different tokenizer refused.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.protocol import Message
from swe_dagger.agents.tiny_student import train_tokenizer
from swe_dagger.dagger.config import ConfigError, SFTConfig, load_config
from swe_dagger.dagger.sft.checkpoints import load_student
from swe_dagger.dagger.sft.dataset import LabelRow
from swe_dagger.dagger.sft.distill import Distillation, KLExample, kl_term, prepare, student_replies
from swe_dagger.dagger.sft.examples import encode_rows
from swe_dagger.dagger.sft.token_teacher import (
    HFTokenTeacher,
    TokenizerMismatch,
    check_same_tokenizer,
    open_token_teacher,
    parse_prompt_logprobs,
)
from swe_dagger.dagger.sft.trainer import train_sft
from swe_dagger.dagger.sft_loss import IGNORE
from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.task import Task

AGENT = Agent(AgentConfig(max_prompt_tokens=256))
REPLIES = ["THOUGHT: look.\n\n```bash\nls\n```", "THOUGHT: read it.\n\n```bash\ncat src/mod.py\n```"]


@pytest.fixture(scope="module")
def teacher_dir(tiny_student_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The student's tokenizer, other weights: perturbed, with a sharpened output (a peaked distribution far from
    the near-uniform random student, as a trained teacher's is)."""
    model, tok = load_student(tiny_student_dir)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        model.model.norm.weight.mul_(30.0)
    out = tmp_path_factory.mktemp("teacher")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def rows() -> list[LabelRow]:
    prefix = (Message("system", "You are an agent."), Message("user", "Fix the bug in mod.py"))
    out, history = [], []
    for turn, reply in enumerate(REPLIES * 2):
        student = turn != 1  # turn 1 is teacher-acted: no student tokens there
        out.append(LabelRow(iteration=0, beta=0.5, task_id="t", episode=0, turn=turn,
                            author="student" if student else "teacher", prefix=prefix, history=tuple(history),
                            label="THOUGHT: fix.\n\n```bash\necho ok\n```", student_action=reply if student else None,
                            reward=0.0, resolution="NO"))
        history.append((reply, f"<returncode>0</returncode>\n<output>\nout {turn}\n</output>"))
    return out


def test_replies_mask_the_student_tokens_only(tiny_student_dir: Path) -> None:
    _, tok = load_student(tiny_student_dir)
    replies = student_replies(rows(), AGENT, tok, 512)
    assert replies[1] is None  # the teacher acted
    for row, ex in zip(rows(), replies, strict=True):
        if ex is not None:
            target = [t for t in ex.labels if t != IGNORE]
            assert tok.decode(target[:-1]) == row.student_action and target[-1] == tok.eos_token_id


def test_kl_term_equals_the_hand_computation(tiny_student_dir: Path, teacher_dir: Path) -> None:
    student, tok = load_student(tiny_student_dir)
    teacher = HFTokenTeacher(teacher_dir)
    distill = prepare("reverse_kl", 1.0, rows(), AGENT, tok, 512, teacher)
    units = [k for k in distill.kl if k is not None]
    with torch.no_grad():
        full, metrics = kl_term(student, units, teacher, int(tok.pad_token_id), torch.device("cpu"))
        # by hand, one unpadded sequence at a time: sum_v p (log p - log q) at each position predicting a reply token
        per_token: list[float] = []
        sampled_terms: list[float] = []
        for k in units:
            ids = torch.tensor([k.example.input_ids])
            n = sum(lab != IGNORE for lab in k.example.labels)
            logp = torch.log_softmax(student(input_ids=ids).logits[0, -n - 1 : -1], -1)
            logq = torch.log_softmax(teacher.model(input_ids=ids).logits[0, -n - 1 : -1], -1)
            per_token += (logp.exp() * (logp - logq)).sum(-1).tolist()
            picked = ids[0, -n:].unsqueeze(-1)
            sampled_terms += (logp.gather(-1, picked) - logq.gather(-1, picked)).squeeze(-1).tolist()
        assert metrics.tokens == len(per_token) and metrics.estimator == "full"
        assert full.item() == pytest.approx(sum(per_token) / len(per_token), rel=1e-4)
        # the teacher's logprobs of the reply tokens (what a server returns) give the sampled estimate
        scored = teacher.logprobs([u.example.input_ids for u in units],
                                  [sum(lab != IGNORE for lab in u.example.labels) for u in units])
        sampled_units = [KLExample(u.example, lp) for u, lp in zip(units, scored, strict=True)]
        estimate, m = kl_term(student, sampled_units, None, int(tok.pad_token_id), torch.device("cpu"))
        assert m.estimator == "sampled"
        assert estimate.item() == pytest.approx(sum(sampled_terms) / len(sampled_terms), rel=1e-4)
    teacher.close()


def _measured_kl(student: torch.nn.Module, distill: Distillation, teacher: HFTokenTeacher, pad_id: int) -> float:
    with torch.no_grad():
        value, _ = kl_term(student, [k for k in distill.kl if k is not None], teacher, pad_id, torch.device("cpu"))
    return value.item()


@pytest.mark.parametrize("loss", ["reverse_kl", pytest.param("ce+reverse_kl", marks=pytest.mark.slow)])
def test_training_lowers_the_reverse_kl(tiny_student_dir: Path, teacher_dir: Path, loss: str) -> None:
    student, tok = load_student(tiny_student_dir)
    teacher = HFTokenTeacher(teacher_dir)
    distill = prepare(loss, 1.0, rows(), AGENT, tok, 512, teacher)
    examples = encode_rows(rows(), AGENT, tok, 512)
    before = {n: p.detach().clone() for n, p in student.named_parameters()}
    kl_before = _measured_kl(student, distill, teacher, int(tok.pad_token_id))
    cfg = SFTConfig(epochs=6, lr=3e-3, batch_size=2, warmup_steps=0)
    result = train_sft(student, examples, cfg, pad_id=int(tok.pad_token_id), seed=0, distill=distill)
    kl_after = _measured_kl(student, distill, teacher, int(tok.pad_token_id))
    assert any(not torch.equal(before[n], p) for n, p in student.named_parameters())
    assert len(result.kl_epochs) == 6 and result.kl_epochs[-1] < result.kl_epochs[0]
    assert kl_after < 0.7 * kl_before, (kl_before, kl_after)
    teacher.close()


def test_the_sampled_estimator_trains_toward_the_teacher(tiny_student_dir: Path, teacher_dir: Path) -> None:
    """A served teacher's path: logprobs fetched once, then the policy-gradient surrogate; |log p - log q| on the
    scored tokens falls."""
    student, tok = load_student(tiny_student_dir)
    teacher = HFTokenTeacher(teacher_dir)
    replies = [r for r in student_replies(rows(), AGENT, tok, 512)]
    present = [r for r in replies if r is not None]
    scored = iter(teacher.logprobs([r.input_ids for r in present],
                                   [sum(lab != IGNORE for lab in r.labels) for r in present]))
    kl = [None if r is None else KLExample(r, next(scored)) for r in replies]
    distill = Distillation(kl=kl, teacher=None, ce_everywhere=False)

    def gap() -> float:
        with torch.no_grad():
            units = [k for k in kl if k is not None]
            diffs = []
            for k in units:
                ids = torch.tensor([k.example.input_ids])
                n = len(k.teacher_logprobs or ())
                logp = torch.log_softmax(student(input_ids=ids).logits[0, -n - 1 : -1], -1)
                diffs += (logp.gather(-1, ids[0, -n:].unsqueeze(-1)).squeeze(-1)
                          - torch.tensor(k.teacher_logprobs)).abs().tolist()
        return sum(diffs) / len(diffs)

    gap_before = gap()
    train_sft(student, encode_rows(rows(), AGENT, tok, 512), SFTConfig(epochs=6, lr=3e-3, batch_size=2,
              warmup_steps=0), pad_id=int(tok.pad_token_id), seed=0, distill=distill)
    assert gap() < 0.95 * gap_before  # a sharp teacher: the replies sit ~40 nats lower under it; the gap falls
    teacher.close()


def test_another_tokenizer_is_refused_in_one_line(tiny_student_dir: Path) -> None:
    _, tok = load_student(tiny_student_dir)
    other = train_tokenizer(REPLIES * 50, vocab_size=300)
    with pytest.raises(TokenizerMismatch, match=r"needs a teacher with the student's tokenizer: other/dir has \d+ "
                                                 r"tokens \(vocab hash [0-9a-f]{12}\), the student \d+") as info:
        check_same_tokenizer(tok, other, "other/dir")
    assert "\n" not in str(info.value)
    check_same_tokenizer(tok, tok, "itself")  # the same tokenizer passes
    with pytest.raises(ValueError, match=r"dagger.kl_teacher_model: name the model served at http://h:1/v1"):
        open_token_teacher("http://h:1/v1", None, "cpu", tok)


def test_vllm_prompt_logprobs_are_read_per_token() -> None:
    """The reply shape vLLM documents for ``prompt_logprobs`` (the first prompt token has no logprob)."""
    reply = {"choices": [{"prompt_logprobs": [None, {"7": {"logprob": -1.5, "rank": 3}},
                                              {"9": {"logprob": -0.25, "rank": 1}, "4": {"logprob": -2.0}}]}]}
    assert parse_prompt_logprobs(reply, [5, 7, 9], 2, "srv") == (-1.5, -0.25)
    with pytest.raises(RuntimeError, match=r"srv: no logprob for token 9 at prompt position 2"):
        parse_prompt_logprobs({"choices": [{"prompt_logprobs": [None, {"7": {"logprob": -1.0}}, {}]}]},
                              [5, 7, 9], 1, "srv")
    with pytest.raises(RuntimeError, match=r"2 prompt logprobs for 3 prompt tokens"):
        parse_prompt_logprobs({"choices": [{"prompt_logprobs": [None, {}]}]}, [5, 7, 9], 1, "srv")
    assert math.isfinite(parse_prompt_logprobs(reply, [5, 7, 9], 1, "srv")[0])


def test_config_names_what_reverse_kl_needs() -> None:
    assert load_config(overrides=[]).dagger.loss == "ce"
    with pytest.raises(ConfigError, match=r"dagger.loss=reverse_kl needs dagger.kl_teacher"):
        load_config(overrides=["dagger.loss=reverse_kl"])
    with pytest.raises(ConfigError, match=r"dagger.loss=ce\+reverse_kl trains one sequence per state: set "
                                          r"sft.packing=none"):
        load_config(overrides=["dagger.loss=ce+reverse_kl", "dagger.kl_teacher=/m", "sft.packing=episode"])
    with pytest.raises(ConfigError, match=r"dagger.loss"):
        load_config(overrides=["dagger.loss=forward_kl"])


@pytest.mark.slow
def test_a_train_run_with_ce_plus_reverse_kl_logs_a_falling_kl(
        shape_tasks: list[Task], tiny_student_dir: Path, teacher_dir: Path, tmp_path: Path) -> None:
    """``swe-dagger train dagger.loss=ce+reverse_kl dagger.kl_teacher=DIR`` end to end (real envs, the oracle's labels,
    the student's own replies scored by the in-process teacher): the iteration's metrics carry the KL, and it fell."""
    save_tasks(shape_tasks, tmp_path / "train.jsonl")
    save_tasks(shape_tasks[:1], tmp_path / "test.jsonl")
    run_dir = tmp_path / "run"
    args = [f"tasks.train={tmp_path / 'train.jsonl'}", f"tasks.test={tmp_path / 'test.jsonl'}",
            f"student.model={tiny_student_dir}", f"run_dir={run_dir}", "dagger.iterations=1",
            "dagger.labels_per_iteration=null", "dagger.episodes_per_iteration=4", "dagger.num_envs=2",
            "dagger.schedule=constant", "dagger.beta=0.5", "env.max_turns=2", "eval.episodes=0",
            "student.max_new_tokens=16", "student.max_prompt_tokens=256", "sft.epochs=4", "sft.lr=3e-3",
            "sft.max_seq_len=320", "progress=false", "tensorboard=false", "seed=3",
            "dagger.loss=ce+reverse_kl", f"dagger.kl_teacher={teacher_dir}"]
    done = subprocess.run([sys.executable, "-m", "swe_dagger.dagger.cli", "train", *args], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads((run_dir / "metrics" / "iter_000.json").read_text())
    assert row["rollout/student_turns"] > 0  # student replies to score
    assert 0 < row["train/reverse_kl"] < row["train/reverse_kl_first_epoch"]
    assert row["train/sft_loss"] < row["train/sft_loss_first_epoch"]
