#!/usr/bin/env bash
# Build bench's wheel, install it (not editable) into a fresh virtual environment with its dependencies, and
# use it from a folder outside the repository: list profiles and standards, run gemm on the CPU, score it.
# Usage: scripts/check-wheel.sh [WORKDIR]   (default: a new temporary folder, removed afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PYTHON:-python3}
WORK=${1:-$(mktemp -d)}
[ -n "${1:-}" ] || trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/dist" "$WORK/elsewhere"
say() { printf 'check-wheel: %s\n' "$*"; }

# build from a copy of the sources git knows (a build/ folder left in the tree would leak stale files)
mkdir -p "$WORK/src"
git ls-files -z -co --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$WORK/src"
"$PY" -m pip wheel -q --no-deps -w "$WORK/dist" "$WORK/src" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
WHEEL=$(ls "$WORK"/dist/bench-*.whl)
say "built $(basename "$WHEEL")"
"$PY" -m venv "$WORK/venv"
V="$WORK/venv/bin"
"$V/python" -m pip install -q --upgrade pip >"$WORK/install.log" 2>&1
"$V/python" -m pip install -q "torch==2.13.0" >>"$WORK/install.log" 2>&1 || { tail -n 30 "$WORK/install.log"; exit 1; }
"$V/python" -m pip install -q "$WHEEL" >>"$WORK/install.log" 2>&1 || { tail -n 30 "$WORK/install.log"; exit 1; }
say "installed into a fresh environment"

cd "$WORK/elsewhere"
if "$V/python" -c "import workloads" 2>/dev/null; then
  say "FAIL: the wheel installs a top-level package named 'workloads'"; exit 1
fi
"$V/bench" list profiles | grep -q "nvidia-h100-sxm" || { say "FAIL: no shipped profiles"; exit 1; }
"$V/bench" list standards | grep -q "clause7-2025.1" || { say "FAIL: no shipped standard"; exit 1; }
"$V/bench" run --device cpu --workload gemm --idle 1 --duration 0.5 --repeats 2 --warmup-min 0.2 --warmup-max 1 \
  --out results --name wheel --quiet >run.log 2>&1 || { cat run.log; say "FAIL: bench run"; exit 1; }
"$V/bench" score results/wheel >score.log 2>&1 || { cat score.log; say "FAIL: bench score"; exit 1; }
DEFAULT_STD=$("$V/python" -c "from bench.analysis.scoring.standard import load_standard; print(load_standard().id)")
[ -n "$DEFAULT_STD" ] || { say "FAIL: no default standard listed"; exit 1; }
grep -q "$DEFAULT_STD" score.log && grep -q "gemm" score.log || { cat score.log; say "FAIL: no score"; exit 1; }
"$V/bench" verify results/wheel >/dev/null || { say "FAIL: bench verify"; exit 1; }
"$V/python" - >api.log 2>&1 <<'PY' || { cat api.log; say "FAIL: the Python API"; exit 1; }
import sys
import bench
assert "torch" not in sys.modules
with bench.measure("cpu", out="results", name="api", idle_s=0) as session:
    with session.window("sum", units=10, unit="item"):
        sum(range(100000))
assert session.windows["sum"].units == 10 and session.result.status == "complete"
PY
"$V/bench" show results/api >/dev/null || { say "FAIL: bench show of a session"; exit 1; }
say "ok: profiles and standards listed, gemm run and scored, a Python API session measured from $(pwd)"
