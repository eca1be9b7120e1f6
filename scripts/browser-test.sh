#!/bin/sh
# Run the HTML report's browser test in a real headless Chromium (Debian's `chromium` package).
# Installs chromium first when it is missing (needs root, as in CI containers), then runs the test;
# the screenshot is written to test-artifacts/report.png.
set -eu
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 && [ -z "${BENCH_CHROMIUM:-}" ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
PY="${PYTHON:-.venv/bin/python}"
"$PY" -m pytest tests/report/test_report_browser.py -q -rs "$@"
ls -l test-artifacts/report.png
