"""The contract each plugin group keeps, and loading a plugin of any group checked against it.

The registry (:mod:`bench.plugins`) is generic; each layer defines its own check (samplers, devices,
workloads). This module gathers them for the code that handles every group alike: ``bench plugins``,
``bench list`` and the conformance kit.
"""

from __future__ import annotations

from typing import Any

from bench import plugins
from bench.devices.base import check_device_class
from bench.samplers.base import check_sampler_class
from bench.workload import check_workload_class


def check_fake(obj: Any, name: str) -> list[str]:
    """A conformance fake is a callable returning a context manager (see :mod:`bench.conformance`)."""
    return [] if callable(obj) else [f"a conformance fake must be callable, got {type(obj).__name__}"]


CONTRACTS: dict[str, plugins.Contract] = {
    "samplers": check_sampler_class,
    "devices": check_device_class,
    "workloads": check_workload_class,
    "fakes": check_fake,
}


def check(group: str, obj: Any, name: str) -> list[str]:
    """What is wrong with ``obj`` as plugin ``name`` of ``group`` (empty when it keeps the contract)."""
    if group not in CONTRACTS:
        raise ValueError(f"unknown plugin group {group!r}")
    return CONTRACTS[group](obj, name)


def load(group: str, name: str) -> Any:
    """The plugin ``name`` of ``group``, imported and checked (see :func:`bench.plugins.load`)."""
    return plugins.load(group, name, CONTRACTS[group])
