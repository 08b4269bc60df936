#!/usr/bin/env bash
# The test command: set the machine up, then lint, type-check and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_vllm.sh
bash scripts/build_test_image.sh
echo "== ruff"; python3 -m ruff check .
echo "== mypy"; bash scripts/mypy.sh
echo "== pytest"; python3 -m pytest -q "$@"
