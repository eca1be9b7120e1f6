"""The latency phase of an inference workload: after its measured repeats, single steps timed to their end on
the device (the device synchronised after each), in a window of its own whose energy is in no figure.

Why a phase of its own: on an accelerator a step only queues work, so timing steps inside the energy windows
would time launches, and synchronising after every step there would change the power being measured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.analysis.figures import latency_figures
from bench.clock import Clock
from bench.result.model import Latency
from bench.workload import Workload

if TYPE_CHECKING:  # pragma: no cover
    from bench.run.runner import Runner


class TimedSteps:
    """A workload whose every step is timed to its end on the device: the clock is read, the step issued, the
    device synchronised, the clock read again. ``durations_s`` holds one figure per step."""

    def __init__(self, workload: Workload, device: Any, clock: Clock) -> None:
        self.workload, self.device, self.clock = workload, device, clock
        self.units_per_step = getattr(workload, "units_per_step", 1)
        self.durations_s: list[float] = []

    def step(self) -> None:
        start = self.clock.now_ns()
        self.workload.step()
        self.device.synchronize()
        self.durations_s.append((self.clock.now_ns() - start) / 1e9)


def latency_phase(run: "Runner", name: str, wl: Workload, units_per_step: int) -> Latency | None:
    """Time single steps of ``wl`` for ``cfg.latency_phase_s`` seconds, the device synchronised after each,
    in window ``NAME/latency`` (after the repeats: its energy is in no figure). Returns the percentiles."""
    seconds = run.cfg.latency_phase_s
    if seconds <= 0:
        return None
    assert run.setup is not None
    timed = TimedSteps(wl, run.setup.device, run.clock)
    run.progress("latency", 0, seconds, name)
    window, _ = run.window(f"{name}/latency", lambda: run.coordinator.steps(run, timed, seconds, False))
    run.windows.append(window)
    run.progress("latency", seconds, seconds, name)
    return latency_figures(timed.durations_s, "synchronized", units_per_step, window.name)
