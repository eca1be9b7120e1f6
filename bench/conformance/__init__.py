"""The vendor conformance kit, its pytest plugin, and faithful fakes of the hardware libraries this machine may
lack (NVML, amdsmi, the powercap tree, the CUDA runtime). Production code never imports the fakes: they are
found through the ``bench.fakes`` entry points.

The kit's public names are available here, imported on first use::

    from bench.conformance import run_conformance, assert_conformance, ConformanceSetup, DrivenClock
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_conformance": "bench.conformance.kit", "assert_conformance": "bench.conformance.kit",
    "find_fake": "bench.conformance.kit", "hardware_device": "bench.conformance.kit",
    "ConformanceSetup": "bench.conformance.core", "DrivenClock": "bench.conformance.core",
    "CheckResult": "bench.conformance.core", "Report": "bench.conformance.core",
    "ConformanceFailure": "bench.conformance.core", "env_vars": "bench.conformance.core",
    "safe_available": "bench.conformance.core", "PASS": "bench.conformance.core", "FAIL": "bench.conformance.core",
    "SKIP": "bench.conformance.core", "NA": "bench.conformance.core", "ABSENT_DEVICE": "bench.conformance.core",
    "run_device_conformance": "bench.conformance.device",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bench.conformance' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
