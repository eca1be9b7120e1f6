#!/usr/bin/env bash
# Create .venv and install bench into it. Usage: scripts/setup.sh [test]
#   (none): bench itself, installed as a wheel would be (the way a user gets it).
#   test:   editable, with the test tools, the example plugin and (as root, with apt) Chromium for the
#           report's browser test.
# pip's own output goes to .venv/setup.log and is shown only when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
LOG=.venv/setup.log
: >"$LOG"
step() {  # run a step quietly; on failure show its output and stop
  if ! "$@" >>"$LOG" 2>&1; then
    echo "setup: failed: $*" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
}
step "$VPY" -m pip install -q --upgrade pip
# torch first, pinned: on machines that keep the CPU wheel on disk pip takes it from there;
# elsewhere pip fetches the build for this platform (CUDA on Linux x86_64).
if ! "$VPY" -c "import torch" >/dev/null 2>&1; then
  step "$VPY" -m pip install -q "torch==2.13.0"
fi
if [ "${1:-}" = "test" ]; then
  step "$VPY" -m pip install -q -e ".[test]"
  rm -rf bench.egg-info  # build metadata left beside the sources would shadow the installed entry points
  "$VPY" -m pip install -q --no-deps --no-build-isolation -e examples/bench-plugin-acme >>"$LOG" 2>&1 \
    || echo "setup: example plugin not installed (examples/bench-plugin-acme missing?)"
  if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >>"$LOG" 2>&1 \
      || echo "setup: chromium not installed; the browser test will skip"
  fi
else
  step "$VPY" -m pip install -q .
  rm -rf bench.egg-info build
fi
