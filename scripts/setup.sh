#!/usr/bin/env bash
# Create .venv and install bench into it. Usage: scripts/setup.sh [test]
#   test: also the test tools, the example plugin and (as root, with apt) Chromium for the report test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
"$VPY" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# torch first, pinned: on machines that keep the CPU wheel on disk pip takes it from there;
# elsewhere pip fetches the build for this platform (CUDA on Linux x86_64).
if ! "$VPY" -c "import torch" >/dev/null 2>&1; then
  "$VPY" -m pip install -q "torch==2.13.0"
fi
if [ "${1:-}" = "test" ]; then
  "$VPY" -m pip install -q -e ".[test]"
  "$VPY" -m pip install -q --no-deps --no-build-isolation -e examples/bench-plugin-acme 2>/dev/null \
    || echo "setup: example plugin not installed (examples/bench-plugin-acme missing?)"
  if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: chromium not installed; the browser test will skip"
  fi
else
  "$VPY" -m pip install -q -e .
fi
