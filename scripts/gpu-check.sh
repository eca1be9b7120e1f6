#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU: the raw NVML counter read by hand around a window against
# the harness's window energy, the counter against lag-corrected power on GEMM, `pytest -m gpu`, the
# standard gemm (bf16) and llm-decode workloads, and a short recorded trace of each power source.
# Everything it writes goes under OUTDIR; it stops itself before 8 minutes.
#   scripts/gpu-check.sh OUTDIR [--quick] [--device cuda:N] [--no-pytest] [--no-runs]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/gpu-check.sh OUTDIR [options]}
shift
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
mkdir -p "$out"
timeout 470 "$PY" scripts/gpu_check.py "$out" "$@" 2>&1 | tee "$out/gpu-check.log"
