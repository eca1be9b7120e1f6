"""The old home of the conformance kit and the fakes, kept so plugins written against it go on working.

Everything moved to :mod:`bench.conformance`. Importing ``bench.testing.<name>`` gives the module at its new
place (the same module object, not a copy) and warns once per name.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from typing import Any

MOVED = {
    "conformance": "bench.conformance",
    "conformance_checks": "bench.conformance.checks",
    "conformance_device": "bench.conformance.device",
    "conformance_fakes": "bench.conformance.fakes",
    "conformance_flow": "bench.conformance.flow",
    "conformance_units": "bench.conformance.units",
    "pytest_plugin": "bench.conformance.pytest_plugin",
    "fake_amdsmi": "bench.conformance.fake_amdsmi",
    "fake_cuda": "bench.conformance.fake_cuda",
    "fake_nvml": "bench.conformance.fake_nvml",
    "fake_sysfs": "bench.conformance.fake_sysfs",
    "traces": "bench.conformance.traces",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``bench.testing.<old name>`` and puts the module at its new place under that name."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        prefix, _, name = fullname.rpartition(".")
        if prefix != __name__ or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        new = MOVED[module.__name__.rpartition(".")[2]]
        warnings.warn(f"{module.__name__} moved to {new}", DeprecationWarning, stacklevel=2)
        sys.modules[module.__name__] = importlib.import_module(new)


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModules())
