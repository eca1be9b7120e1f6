"""What differs between a run in one process and one rank of a distributed run: the coordinator the runner is
given. The runner has one flow; at each point where processes must agree (opening the device and samplers,
the run folder, the edges of every window, each step, the end) it asks its coordinator.

:class:`LocalCoordinator` is a run in this process alone. The distributed coordinator
(:mod:`bench.distributed.coordinator`) implements the same protocol with collectives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from bench.devices import Device, open_device
from bench.result.model import Result, Window
from bench.run.folder import make_run_folder
from bench.run.workloads import make_workload, workload_label
from bench.samplers.base import Sampler
from bench.samplers.select import check_rate, select_samplers
from bench.workload import Workload

if TYPE_CHECKING:  # pragma: no cover
    from bench.meter.meter import Meter
    from bench.meter.protocol import WindowMeter
    from bench.run.runner import Runner

T = TypeVar("T")


@dataclass
class RunSetup:
    """What a run measures with, resolved before anything is written: the device, the workloads (name, object),
    the opened samplers and the name of the sampler backend."""

    device: Device
    workloads: list[tuple[str, Workload]]
    samplers: list[Sampler]
    sampler_name: str


class Coordinator(Protocol):
    """The agreement points of a run. ``stop_event`` is what a signal sets; ``writes_result`` whether this
    process writes ``result.json``. Each hook gets the runner, whose public state (``cfg``, ``clock``,
    ``setup``, ``meter``, ``folder``, ``result``, ``issues``, ``windows``) it may read and extend."""

    stop_event: threading.Event
    writes_result: bool

    def open(self, run: "Runner") -> RunSetup:
        """Open the device, workloads and samplers; every user mistake is raised here."""

    def make_folder(self, run: "Runner") -> Path | None:
        """The run folder this process writes into (None: it keeps no files)."""

    def make_meter(self, run: "Runner", build: Callable[[], "Meter"]) -> "WindowMeter":
        """The meter of this process: ``build()``, or a null meter where another process samples."""

    def describe(self, run: "Runner", result: Result) -> None:
        """Add what this coordinator knows to the provisional result."""

    def elapsed_s(self, run: "Runner", seconds: float) -> float:
        """The warm-up clock every process goes by (the runner's own seconds, here)."""

    def window(self, run: "Runner", name: str, body: Callable[[], T]) -> tuple[Window, T]:
        """Measure ``body`` as window ``name``: device synchronised and meter read at both edges."""

    def steps(self, run: "Runner", workload: Any, seconds: float, interruptible: bool) -> tuple[int, bool]:
        """Run whole steps until ``seconds`` have passed: (units-of-work steps, stopped by a signal)."""

    def conclude(self, run: "Runner", status: str, reason: str | None) -> tuple[str, str | None]:
        """What happens before the result is sealed; returns the run's final status and reason."""


class LocalCoordinator:
    """A run in this process alone."""

    writes_result = True

    def __init__(self) -> None:
        self.stop_event = threading.Event()

    def open(self, run: "Runner") -> RunSetup:
        cfg = run.cfg
        device = open_device(cfg.device)
        workloads = [(workload_label(name), make_workload(name, params, device)) for name, params in cfg.workloads]
        options = dict(cfg.sampler_options)
        if run.clock.simulated:
            options.setdefault("clock", run.clock)
        sampler_name, samplers = select_samplers(device, cfg.sampler, options)
        check_rate(samplers, cfg.rate_hz)
        return RunSetup(device, workloads, samplers, sampler_name)

    def make_folder(self, run: "Runner") -> Path:
        cfg = run.cfg
        return make_run_folder(cfg.out, cfg.name, cfg.device, cfg.label)

    def make_meter(self, run: "Runner", build: Callable[[], "Meter"]) -> "WindowMeter":
        return build()

    def describe(self, run: "Runner", result: Result) -> None:
        return None

    def elapsed_s(self, run: "Runner", seconds: float) -> float:
        return seconds

    def window(self, run: "Runner", name: str, body: Callable[[], T]) -> tuple[Window, T]:
        run.begin_window(name)
        try:
            out = body()
        except BaseException:
            run.end_window(name, sync=False, check=False)
            raise
        return run.end_window(name), out

    def steps(self, run: "Runner", workload: Any, seconds: float, interruptible: bool) -> tuple[int, bool]:
        """A measured window runs to its end after a first signal (the result keeps it); warm-up
        (``interruptible``) stops at the next step."""
        end = run.clock.now_ns() + int(seconds * 1e9)
        steps = 0
        while True:
            workload.step()
            steps += 1
            if run.clock.now_ns() >= end or (interruptible and self.stop_event.is_set()):
                return steps, self.stop_event.is_set()
            if steps % 16 == 0:
                run.meter.check()

    def conclude(self, run: "Runner", status: str, reason: str | None) -> tuple[str, str | None]:
        return status, reason
