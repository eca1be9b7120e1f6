"""Tests of bench, laid out like the package (tests/samplers for bench/samplers, ...).

Helpers: :mod:`tests.factories` (synthetic results), :mod:`tests.doubles` (sampler test doubles),
:mod:`tests.support` (the example plugin installer, a Chromium driver, deliberately broken plugins);
fixtures in ``tests/conftest.py``.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = [sys.executable, "-m", "bench"]
