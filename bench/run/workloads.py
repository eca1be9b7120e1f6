"""Workloads of a run: found by name among the plugins, built from their parameters, checked against the device."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench import plugins
from bench.workload import Workload, WorkloadParams, check_dtype, check_workload_class

if TYPE_CHECKING:  # pragma: no cover
    from bench.devices import Device


def workload_class(name: str) -> type[Workload]:
    """The workload registered as ``name``, checked against the contract."""
    return plugins.load("workloads", name, check_workload_class)


def make_workload(name: str, params: WorkloadParams, device: "Device | None" = None) -> Workload:
    """The workload ``name`` with ``params``; with ``device``, checked that the device can run its dtype."""
    wl = workload_class(name)(params)
    if device is not None:
        check_dtype(device, wl.settings["dtype"])
    return wl


def workload_names() -> list[str]:
    """Names of every workload that can be loaded here (built-in and plugins)."""
    return plugins.names("workloads")
