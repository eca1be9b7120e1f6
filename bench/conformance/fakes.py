"""Conformance fakes of the built-in samplers, registered in the ``bench.fakes`` entry-point group.

Each is a callable returning a context manager that installs the fake and yields a
:class:`~bench.conformance.kit.ConformanceSetup`; all run on a simulated clock, so the kit
checks a built-in sampler in well under a second. The simulated figures (300 W, 95 W, ...) sit
inside the rated power of the simulated chip, as a healthy device's would.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from bench.clock import SimClock
from bench.conformance.core import ConformanceSetup, DrivenClock, env_vars

NVML_GPU = "NVIDIA H100 80GB HBM3"  # matches the shipped H100 SXM profile (700 W)
NVML_POWER_W = 300.0
CPU_RATED_W = 150.0  # a simulated server CPU package
RAPL_WATTS = {"package": 95.0, "dram": 12.0}


@contextlib.contextmanager
def nvml_fake() -> Iterator[ConformanceSetup]:
    """One H100 on the fake NVML (instant-power field and energy counter), at a steady 300 W."""
    from bench.conformance.fake_nvml import FakeGpu, FakeNvml, Fault, PowerTimeline

    clock = SimClock()
    nvml = FakeNvml([FakeGpu(NVML_GPU, power=PowerTimeline.constant(NVML_POWER_W))], clock)
    gpu = nvml.gpus[0]

    def gpu_lost() -> None:
        gpu.faults.append(Fault("gpu_lost", after_s=nvml.now_s()))

    with nvml.installed(), env_vars(CUDA_VISIBLE_DEVICES=None, CUDA_DEVICE_ORDER=None):
        yield ConformanceSetup(
            device="cuda:0",
            options={"clock": clock, "identity": {"uuid": gpu.uuid, "pci_bus_id": gpu.pci_bus_id}},
            clock=clock, device_name=gpu.name, faults={"gpu_lost": gpu_lost},
            note="fake NVML (bench.conformance.fake_nvml)")


class _PowercapSimulator:
    """Advances the fake RAPL counters by power x elapsed simulated time."""

    def __init__(self, zones: list, clock: DrivenClock) -> None:
        self.zones = zones
        self.last_ns = clock.now_ns()
        self.lock = threading.Lock()
        self.broken = False

    def __call__(self, now_ns: int) -> None:
        with self.lock:
            dt = (now_ns - self.last_ns) / 1e9
            if dt <= 0 or self.broken:
                return
            self.last_ns = now_ns
            for zone in self.zones:
                zone.advance(RAPL_WATTS["dram" if zone.name == "dram" else "package"] * dt)

    def break_counters(self) -> None:
        with self.lock:
            self.broken = True
            for zone in self.zones:
                zone.energy_file.write_text("garbage\n")


@contextlib.contextmanager
def rapl_fake() -> Iterator[ConformanceSetup]:
    """A one-socket server powercap tree (package + DRAM) drawing 95 W and 12 W."""
    from bench.conformance.fake_sysfs import FakePowercap

    with tempfile.TemporaryDirectory(prefix="bench-rapl-") as tmp:
        fake = FakePowercap.intel_server(Path(tmp), sockets=1, dram=True)
        fake.chmod_energy(0o444)
        clock = DrivenClock()
        sim = _PowercapSimulator(fake.zones, clock)
        clock.on_advance(sim)
        with env_vars(BENCH_POWERCAP_ROOT=str(fake.root)):
            yield ConformanceSetup(
                device="cpu", options={"root": str(fake.root), "mirror_check_s": 0.0}, clock=clock,
                rated_power_w=CPU_RATED_W, faults={"counter_unreadable": sim.break_counters},
                note="fake powercap tree (bench.conformance.fake_sysfs)")


@contextlib.contextmanager
def estimate_fake() -> Iterator[ConformanceSetup]:
    """The estimate at a steady 50% utilisation of a 150 W CPU."""
    clock = SimClock()
    yield ConformanceSetup(
        device="cpu",
        options={"rated_power_w": CPU_RATED_W, "rated_power_source": "conformance fake",
                 "cpu_name": "simulated CPU", "utilization": lambda: 0.5},
        clock=clock, rated_power_w=CPU_RATED_W, note="injected utilisation")


@contextlib.contextmanager
def replay_fake() -> Iterator[ConformanceSetup]:
    """A 60 s trace with exact energy (250 W, then 320 W from 1.5 s), replayed on a simulated clock."""
    from bench.conformance.traces import steps, write_profile_trace

    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        path = write_profile_trace(Path(tmp), steps([(0.0, 250.0), (1.5, 320.0)], 60.0), resolution_s=0.01,
                                   update_period_s=0.01)
        clock = SimClock()
        yield ConformanceSetup(
            device="cpu", options={"trace": str(path), "clock": clock}, clock=clock, rated_power_w=400.0,
            faults={"end_of_trace": lambda: clock.advance(120.0)}, note="generated trace (bench.conformance.traces)")
