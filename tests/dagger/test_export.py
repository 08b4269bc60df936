"""``swe-dagger export --format trl``: the aggregated labels as conversational prompt/completion rows that TRL's
``SFTTrainer`` (from PyPI) trains a real tiny Qwen3 student on, unchanged."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.dagger.config import load_config, save_resolved
from swe_dagger.dagger.sft.dataset import labels_path, read_labels, write_iteration_labels
from swe_dagger.dagger.sft.examples import encode_row
from swe_dagger.dagger.sft.export import export_trl
from swe_dagger.dagger.sft_loss import IGNORE

from .test_dataset import make_traj


@pytest.fixture
def run_dir(tmp_path: Path, tiny_student_dir: Path) -> Path:
    run = tmp_path / "run"
    save_resolved(load_config(overrides=["student.prompt=compact", "student.max_prompt_tokens=4096"]), run)
    for i in range(2):
        trajs = [replace(make_traj(i, e, "sts"), teacher_id="oracle", student_version=f"iter_{i:03d}")
                 for e in range(2)]
        write_iteration_labels(run, i, trajs)
    shutil.copytree(tiny_student_dir, run / "student_init")
    return run


def test_rows_are_the_states_the_run_trained_on(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "trl.jsonl"
    assert export_trl(run_dir, out) == 12  # 2 iterations x 2 episodes x 3 labeled turns
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    first = rows[1]  # iteration 0, episode 0, turn 1: one (action, observation) pair of history
    agent = Agent(AgentConfig.for_style("compact"))
    assert [m["role"] for m in first["prompt"]] == ["system", "user", "assistant", "user"]
    assert first["prompt"][0]["content"] == "sys" and first["prompt"][2]["content"].startswith("THOUGHT: student 0")
    assert first["prompt"][3]["content"] == agent.render((), [("a", "<output>0</output>")])[-1].content
    assert first["completion"] == [{"role": "assistant", "content": "THOUGHT: teacher 1\n\n```bash\nls 1\n```"}]
    assert (first["iteration"], first["turn"], first["teacher_id"], first["student_version"]) == (
        0, 1, "oracle", "iter_000")
    bad = subprocess.run([sys.executable, "-m", "swe_dagger.dagger.cli", "export", str(run_dir), "--format", "csv",
                          "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "'csv' is not one of 'trl'" in re.sub(r"[\s│]+", " ", bad.stderr)


@pytest.fixture
def fresh_accelerate_state() -> Iterator[None]:
    """TRL's Trainer sets accelerate's process-wide state; later tests build their own Accelerator (mixed precision
    settings included), which accelerate refuses once that state exists. Reset it around the test."""
    from accelerate.state import AcceleratorState, PartialState

    try:
        yield
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        PartialState._reset_state()


@pytest.mark.usefixtures("fresh_accelerate_state")
def test_trl_sft_trainer_trains_on_the_export(run_dir: Path, tmp_path: Path) -> None:
    trl = pytest.importorskip("trl", reason="pip install -e '.[dev]' installs trl")
    datasets = pytest.importorskip("datasets")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "trl.jsonl"
    export_trl(run_dir, out)
    dataset = datasets.load_dataset("json", data_files=str(out), split="train")
    model = AutoModelForCausalLM.from_pretrained(str(run_dir / "student_init"))
    tokenizer = AutoTokenizer.from_pretrained(str(run_dir / "student_init"))
    before = [p.detach().clone() for p in model.parameters()]
    args = trl.SFTConfig(output_dir=str(tmp_path / "sft"), max_steps=3, per_device_train_batch_size=4,
                         learning_rate=1e-2, logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
                         max_length=1024, seed=0, dataloader_num_workers=0)
    trainer = trl.SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    result = trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses) and math.isfinite(result.training_loss)
    changed = sum(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters(), strict=True))
    assert changed > 0.5 * len(before)
    # TRL's example of the first row is the run's own SFT example: same prompt tokens, same (masked) target
    ours = encode_row(read_labels(labels_path(run_dir, 0))[0], Agent(AgentConfig.for_style("compact")), tokenizer,
                      1024)
    theirs = trainer.train_dataset[0]
    n = len(ours.input_ids)
    assert theirs["input_ids"][:n] == list(ours.input_ids)
    assert [t if t != -100 else IGNORE for t in theirs["labels"][:n]] == list(ours.labels)
