"""A whole run on a simulated clock: the fake NVML and a workload that advances the clock, so which window
edges see what is exact and a run takes well under a second of real time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import plugins
from bench.clock import SimClock
from bench.conformance.fake_cuda import fake_gpus
from bench.conformance.fake_nvml import FakeNvml
from bench.run.config import RunConfig
from bench.run.runner import Runner
from bench.workload import Workload, WorkloadInfo, WorkloadParams

STEP_S = 0.05


class Ticking(Workload):
    """Work that takes exactly ``STEP_S`` of the simulated clock per step."""

    name = "ticking"
    unit = "thing"
    presets = {"smoke": {}, "standard": {}}
    clock: SimClock | None = None

    def setup(self, device: Any) -> WorkloadInfo:
        return WorkloadInfo(unit="thing", units_per_step=10, flops_per_unit=None, parameters=0, memory_bytes=0)

    def step(self) -> None:
        assert type(self).clock is not None
        type(self).clock.advance(STEP_S)


def simulated_run(folder: Path, nvml: FakeNvml, clock: SimClock, progress: Any = None, **config: Any) -> Any:
    """Run ``ticking`` on the fake NVML's ``cuda:0`` (2 s idle, warm-up, three 2 s repeats by default); the
    sealed result. ``config`` overrides :class:`RunConfig` fields (``sampler=...`` for a plugin); ``progress``
    is the runner's progress callback."""
    Ticking.clock = clock
    plugins.register("workloads", "ticking", Ticking)
    try:
        with fake_gpus(nvml):
            settings = dict(device="cuda:0", workloads=[("ticking", WorkloadParams())], idle_s=2.0, warmup_min_s=1.0,
                            warmup_max_s=3.0, repeats=3, duration_s=2.0, out=folder, name="t", rate_hz=10.0,
                            gap_factor=1e6)  # the meter's thread polls in real time: no gaps in simulated time
            settings.update(config)
            _, result = Runner(RunConfig(**settings), progress=progress, clock=clock).run()
    finally:
        plugins.unregister("workloads", "ticking")
    return result
