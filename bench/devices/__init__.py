"""The torch device contract and one module per vendor: what the runner needs of a device (sync, identity,
memory, dtypes, default samplers) and how a device string such as ``cuda:0`` is opened.

``from bench.devices import Device`` is the import a device plugin needs. The vendor classes moved to
their own modules (:mod:`bench.devices.cpu`, :mod:`bench.devices.cuda`); their old names here still work
and warn once.
"""

from __future__ import annotations

import warnings
from typing import Any

from bench.devices.base import (
    Device,
    available_devices,
    backend,
    best_device,
    check_device_class,
    open_device,
    parse_spec,
)

__all__ = ["Device", "available_devices", "backend", "best_device", "check_device_class", "open_device",
           "parse_spec"]

_MOVED = {"CpuBackend": "bench.devices.cpu", "CudaBackend": "bench.devices.cuda",
          "cpu_model_name": "bench.devices.cpu"}
_warned: set[str] = set()


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module 'bench.devices' has no attribute {name!r}")
    import importlib

    module = _MOVED[name]
    if name not in _warned:
        _warned.add(name)
        warnings.warn(f"bench.devices.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
