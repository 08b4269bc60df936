"""Metrics sinks: one Reporter fanning out to TensorBoard and W&B; the run's config as hparams; held-out episodes as
text; a real ``swe-dagger train`` (DAgger then GRPO, tiny student) whose TensorBoard event files hold per-step
losses, the hparams plugin's records and episode text, and whose offline W&B run holds the same keys."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

import pytest

from swe_dagger.agents.protocol import Message
from swe_dagger.dagger.config import ConfigError, RunConfig, load_config
from swe_dagger.dagger.records import Trajectory, Turn
from swe_dagger.dagger.report import Reporter, open_reporter
from swe_dagger.dagger.report.content import episodes_markdown, run_hparams
from swe_dagger.dagger.report.sinks import Axis, HParam
from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.task import Task

from .test_resume import cli


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.closed = 0

    def scalars(self, values: Mapping[str, float], *, axis: Axis, step: int) -> None:
        self.calls.append(("scalars", (dict(values), axis, step)))

    def text(self, tag: str, markdown: str, *, axis: Axis, step: int) -> None:
        self.calls.append(("text", (tag, axis, step)))

    def hparams(self, params: Mapping[str, HParam], final: Mapping[str, float]) -> None:
        self.calls.append(("hparams", (dict(params), dict(final))))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed += 1


def test_reporter_fans_out_and_closes_once() -> None:
    a, b = Recorder(), Recorder()
    reporter = Reporter([a, b])
    reporter.scalars({"x": 1.0}, axis="sft_step", step=7)
    reporter.text("eval/episodes", "**t**", axis="iteration", step=0)
    with pytest.raises(ValueError, match="unknown metrics axis 'epoch'"):
        reporter.scalars({"x": 1.0}, axis="epoch", step=0)  # type: ignore[arg-type]
    assert a.calls == b.calls == [("scalars", ({"x": 1.0}, "sft_step", 7)), ("text", ("eval/episodes", "iteration", 0))]
    reporter.close()
    reporter.close()
    assert a.closed == b.closed == 1


def test_config_flattens_to_hparams() -> None:
    params = run_hparams(load_config(None, ["teacher.options={style: patch}", "sft.lr=0.002"]))
    assert params["sft.lr"] == 0.002 and params["dagger.iterations"] == 6 and params["sft.lora"] is False
    assert params["teacher.options.style"] == "patch" and params["tasks.max_train"] == "null"
    assert params["phases"] == '["dagger"]' and params["report.wandb_mode"] == "offline"
    assert all(isinstance(v, bool | int | float | str) for v in params.values())


def test_episodes_as_short_markdown() -> None:
    look = "THOUGHT: look\n\n```bash\nnl -ba shapes/core.py | sed -n '1,9p'\n```"
    long = "THOUGHT: x\n\n```bash\necho " + "a" * 400 + "\n```"
    trajs = [Trajectory(task_id=f"shapes__shapes-{n}", prefix=(Message("user", "x"),), turns=(
        Turn(0, "student", look, look, "o"), Turn(1, "teacher", long, long, "o"),
        Turn(2, "student", "no block", look, "o", format_error=True)), reward=0.0, resolution="NO", terminated=True,
        truncated=False, tampered=("tests/test_core.py",)) for n in ("area", "scale", "perimeter")]
    text = episodes_markdown(trajs, 2)
    assert text is not None and text.count("**shapes__shapes-") == 2 and "perimeter" not in text
    assert "**shapes__shapes-area**: NO, reward 0, 3 turns" in text
    assert "1. student: `nl -ba shapes/core.py | sed -n '1,9p'`" in text and "3. student: `(format error)`" in text
    assert "tampered (dropped before grading): tests/test_core.py" in text
    assert max(len(line) for line in text.splitlines()) < 200 and "…" in text  # long commands are cut
    assert "(1 more episodes" in text and episodes_markdown([], 3) is None


def test_wandb_enabled_but_not_installed_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    cfg = load_config(None, ["report.wandb=true", "tensorboard=false"])
    with pytest.raises(ConfigError, match=r"report.wandb is true but the wandb package.*pip install"):
        open_reporter(cfg, tmp_path)
    assert open_reporter(RunConfig(tensorboard=False), tmp_path).sinks == []


def test_train_refuses_wandb_without_the_package_before_any_work(shape_tasks: list[Task], tmp_path: Path) -> None:
    save_tasks(shape_tasks[:1], tmp_path / "train.jsonl")
    fake = tmp_path / "site"
    fake.mkdir()
    (fake / "wandb.py").write_text("raise ImportError('No module named wandb')\n")
    run_dir = tmp_path / "run"
    out = subprocess.run(
        [*cli(f"tasks.train={tmp_path / 'train.jsonl'}", f"tasks.test={tmp_path / 'train.jsonl'}",
              f"run_dir={run_dir}", "report.wandb=true", "progress=false")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(fake)})
    assert out.returncode == 2, out.stderr[-2000:]
    assert "error:" in out.stderr and "report.wandb is true" in out.stderr and "report.wandb=false" in out.stderr
    assert not run_dir.exists()


# --- reading what a real run wrote ---

def tb_events(log_dir: Path) -> tuple[dict[str, list[tuple[int, float]]], dict[str, str], dict[str, list[str]]]:
    """(scalar tag -> [(step, value)], hparams from the session start record, text tag -> texts)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.util import tensor_util

    scalars: dict[str, list[tuple[int, float]]] = defaultdict(list)
    hparams: dict[str, str] = {}
    texts: dict[str, list[str]] = defaultdict(list)
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if plugin == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    for key, v in data.session_start_info.hparams.items():
                        hparams[key] = str(v.number_value if v.HasField("number_value") else
                                           v.string_value if v.HasField("string_value") else v.bool_value)
                elif plugin == "text":
                    raw = tensor_util.make_ndarray(value.tensor).item()
                    texts[value.tag].append(raw.decode() if isinstance(raw, bytes) else str(raw))
                else:
                    scalars[value.tag].append((event.step, float(tensor_util.make_ndarray(value.tensor).item())))
    return scalars, hparams, texts


def wandb_records(run_file: Path) -> list[bytes]:
    """The records of a ``.wandb`` file: LevelDB's log format (32 KiB blocks of chunks with a 7-byte header:
    crc32, length, type full/first/middle/last) after a 7-byte file header (``:W&B``, magic, version)."""
    data = run_file.read_bytes()
    assert data[:4] == b":W&B", run_file
    block, pos, records, pending = 32768, 7, [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # the block's tail is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # full, last
            records.append(pending)
            pending = b""
    return records


def wandb_run(root: Path) -> tuple[set[str], dict[str, str], set[str]]:
    """(history keys, config keys -> JSON values, summary keys) of the offline runs under ``root``."""
    from wandb.proto import wandb_internal_pb2 as pb

    history: set[str] = set()
    config: dict[str, str] = {}
    summary: set[str] = set()
    for run_file in root.glob("offline-run-*/run-*.wandb"):
        for raw in wandb_records(run_file):
            record = pb.Record.FromString(raw)
            kind = record.WhichOneof("record_type")
            if kind == "history":
                history |= {item.key or "/".join(item.nested_key) for item in record.history.item}
            elif kind == "config":
                config.update({item.key: item.value_json for item in record.config.update})
            elif kind == "summary":
                summary |= {item.key or "/".join(item.nested_key) for item in record.summary.update}
    return history, config, summary


@pytest.mark.slow
def test_train_writes_per_step_losses_hparams_and_episodes_to_tensorboard_and_wandb(
    shape_tasks: list[Task], tiny_student_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("wandb", reason="the wandb extra (in dev) is not installed")
    save_tasks(shape_tasks[:3], tmp_path / "train.jsonl")
    save_tasks(shape_tasks[3:], tmp_path / "test.jsonl")
    run_dir = tmp_path / "run"
    out = subprocess.run(cli(
        f"tasks.train={tmp_path / 'train.jsonl'}", f"tasks.test={tmp_path / 'test.jsonl'}",
        f"student.model={tiny_student_dir}", f"run_dir={run_dir}", "seed=3", "progress=false",
        "phases=[{dagger: {iterations: 2}}, {grpo: {steps: 1, group_size: 2, tasks_per_step: 1, eval_every: 1}}]",
        "grpo.epochs=2", "grpo.sft_coef=0.5", "dagger.episodes_per_iteration=2", "dagger.labels_per_iteration=null",
        "dagger.num_envs=2", "dagger.schedule=constant", "dagger.beta=0.5", "env.max_turns=2", "eval.episodes=1",
        "student.max_new_tokens=8", "student.max_prompt_tokens=256", "sft.epochs=2", "sft.batch_size=1",
        "sft.max_seq_len=256", "report.wandb=true", "report.wandb_name=smoke", "report.text_episodes=2",
    ), capture_output=True, text=True, timeout=900, env={**os.environ, "WANDB_SILENT": "true"})
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    sft_steps = [int(r["train/steps"]) for r in rows if "phase" not in r]
    updates = int(rows[-1]["train/optimizer_steps"])
    assert len(sft_steps) == 2 and updates == 2

    scalars, hparams, texts = tb_events(run_dir / "tb")
    # per optimizer step, numbered across iterations: more points than iterations
    assert [s for s, _ in scalars["train_step/sft_loss"]] == list(range(1, sum(sft_steps) + 1))
    assert len(scalars["train_step/sft_loss"]) > len(sft_steps)
    assert [s for s, _ in scalars["grpo_update/loss"]] == [1, 2]
    assert [s for s, _ in scalars["eval/resolve_rate"]] == [0, 1]  # per iteration, as before
    assert [s for s, _ in scalars["grpo/train/pg_loss"]] == [0]
    # hparams: the flattened config, and the final metrics as scalars the plugin reads
    assert hparams["sft.batch_size"] == "1.0" and hparams["report.wandb"] == "true" and hparams["seed"] == "3.0"
    assert hparams["teacher.name"] == "oracle" and "grpo.group_size" in hparams
    assert scalars["final/train/sft_loss"] == [(0, pytest.approx(rows[1]["train/sft_loss"]))]
    assert "final/grpo/train/pg_loss" in scalars
    # held-out episodes as text, each evaluation (2 DAgger iterations + 1 GRPO step: one tag, the same steps)
    (episodes,) = [texts[tag] for tag in texts if tag.startswith("eval/episodes")]
    assert len(episodes) == 3 and all("**shapes__shapes-scale**" in t and "1. student: `" in t for t in episodes)

    history, config, summary = wandb_run(run_dir / "wandb")
    assert {"train_step/sft_loss", "sft_step", "grpo_update/loss", "grpo_update", "eval/resolve_rate", "iteration",
            "grpo/train/pg_loss", "grpo_step", "eval/episodes"} <= history
    assert json.loads(config["sft.batch_size"]) == 1 and json.loads(config["report.wandb_name"]) == "smoke"
    assert {"final/train/sft_loss", "final/grpo/train/pg_loss"} <= summary
    assert (run_dir / "wandb" / "run_id").is_file()
