"""Generation throughput of the in-process HF student (batch 1 vs 8) and chat-teacher label latency.

    python bench/generation.py                      # builds the default ~5M tiny student in a temp dir
    python bench/generation.py --model DIR --device cuda --threads 2 --no-teacher
    python bench/generation.py --matrix --model DIR --threads 1   # CPU: fp32/bf16 x batch 1/8 x KV reuse

``--matrix`` runs only the CPU rollout matrix of ``bench/generation_matrix.py`` (fp32, bf16 autocast and bf16
weights; batch 1 and 8; with and without the shared system prompt's KV cache) and prints its ratios.

Prints tokens/s at batch 1 and batch 8 (greedy, fixed number of new tokens unless EOS comes first: every generated
token is counted, EOS included) and their ratio, all measured in this run. With the teacher part on, the same student
is put behind ``transformers serve`` on 127.0.0.1 and a ChatTeacher labels states against it: the per-request label
latency is reported (the random student never writes a valid action, so ``invalid_retries=0`` and the rejection is
expected; the HTTP round trip and generation are what is timed).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import track

from swe_dagger.agents.agent import Agent
from swe_dagger.agents.backends.hf import HFPolicy
from swe_dagger.agents.protocol import Conversation, Message, SamplingParams
from swe_dagger.agents.tiny_student import build_tiny_student

console = Console()


def states(n: int) -> list[Conversation]:
    agent = Agent()
    prefix = agent.initial_messages("parse_version('1.2.3') returns (2, 3); it should return (1, 2, 3).")
    history = [("THOUGHT: look.\n\n```bash\ngrep -rn parse_version .\n```", "<returncode>0</returncode>\n<output>\n"
                "./src/pkg/version.py:12:def parse_version(text):\n</output>")]
    return [agent.render(prefix, history[: i % 2]) for i in range(n)]


def tokens_per_second(policy: HFPolicy, batch: int, new_tokens: int, repeats: int) -> tuple[float, float]:
    """(tokens/s, seconds per call): median over ``repeats`` timed calls after one warm-up."""
    convs = states(batch)
    sampling = SamplingParams(max_new_tokens=new_tokens)
    policy.generate(convs, sampling)
    rates, times = [], []
    for _ in track(range(repeats), description=f"batch {batch}", console=console):
        start = time.perf_counter()
        outs = policy.generate(convs, sampling)
        elapsed = time.perf_counter() - start
        rates.append(sum(len(o.token_ids or ()) for o in outs) / elapsed)
        times.append(elapsed)
    return statistics.median(rates), statistics.median(times)


def teacher_latency(model_dir: Path, labels: int, threads: int | None) -> float:
    """Median seconds per ChatTeacher request against ``transformers serve`` of ``model_dir``."""
    from swe_dagger.agents.serve import TransformersServer
    from swe_dagger.envs.task import Task
    from swe_dagger.teachers.chat import ChatTeacher, TeacherError
    from swe_dagger.teachers.protocol import TeacherState

    task = Task(instance_id="bench__bench-1", repo="bench/bench", base_commit="0" * 40, problem_statement="p", patch="")
    state = TeacherState(task, states(2)[1] + (Message("assistant", "x"), Message("user", "y")), workspace_diff="")
    latencies = []
    with console.status("starting transformers serve"):
        server = TransformersServer(model_dir, threads=threads)
    with server, ChatTeacher(server.model_id, server.url, max_tokens=64, invalid_retries=0) as teacher:
        for _ in track(range(labels), description="teacher labels", console=console):
            start = time.perf_counter()
            with contextlib.suppress(TeacherError):  # expected: a random model writes no bash block
                teacher.label([state])
            latencies.append(time.perf_counter() - start)
    return statistics.median(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="HF model dir (default: build the ~5M tiny student)")
    parser.add_argument("--params", default="5M")
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--labels", type=int, default=5)
    parser.add_argument("--no-teacher", action="store_true", help="skip the chat-teacher latency part")
    parser.add_argument("--matrix", action="store_true", help="only the CPU dtype x batch x KV-reuse matrix")
    parser.add_argument("--style", default="compact", help="prompt style of the matrix's prompts")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.matrix:
        run_matrix(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or build_tiny_student(Path(tmp) / "student", params=args.params)
        policy = HFPolicy.from_pretrained(model_dir, device=args.device)
        n_params = sum(p.numel() for p in policy.model.parameters())
        rate1, t1 = tokens_per_second(policy, 1, args.new_tokens, args.repeats)
        rate8, t8 = tokens_per_second(policy, 8, args.new_tokens, args.repeats)
        console.print(f"model {model_dir} ({n_params / 1e6:.2f}M params) on {policy.device}, "
                      f"{torch.get_num_threads()} threads, {args.new_tokens} new tokens")
        console.print(f"HF generate batch 1: {rate1:8.1f} tok/s ({t1:.2f} s/call)")
        console.print(f"HF generate batch 8: {rate8:8.1f} tok/s ({t8:.2f} s/call)")
        console.print(f"batch-8 / batch-1 throughput ratio: {rate8 / rate1:.2f}x")
        if not args.no_teacher:
            latency = teacher_latency(Path(model_dir), args.labels, args.threads)
            console.print(f"chat-teacher label latency (transformers serve, 64 max tokens): {latency * 1000:.0f} ms")


def run_matrix(args: argparse.Namespace) -> None:
    from generation_matrix import matrix  # the script's own folder is on sys.path
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or build_tiny_student(Path(tmp) / "student", params=args.params)

        def load(dtype: str) -> object:
            torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
            return AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch_dtype).eval()

        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        lines = matrix(load, tokenizer, args.style, args.new_tokens, args.repeats, console.print)
    flags = [f for f in ("avx512_bf16", "amx_bf16") if f in Path("/proc/cpuinfo").read_text()]
    console.print(f"model {model_dir}, CPU bf16 flags: {', '.join(flags) or 'none'}")
    for line in lines:
        console.print(line, highlight=False)


if __name__ == "__main__":
    main()
