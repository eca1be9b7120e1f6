"""A fake ``pynvml`` (nvidia-ml-py) for machines without an NVIDIA GPU, faithful to NVML.

Same function names and signatures as pynvml, same units (mW, mJ, MHz, degC), the real
``pynvml.NVMLError_*`` classes (so ``except pynvml.NVMLError_NotSupported`` behaves the same), the
real ctypes structs for field values and PCI info, a refcounted ``nvmlInit``/``nvmlShutdown`` and
``NVMLError_Uninitialized`` outside it. The hardware is simulated from a power timeline (W as a
function of seconds since the fake "driver" was loaded) on an injectable clock:

- the energy counter (Volta+; older GPUs raise ``NVMLError_NotSupported``) is the exact integral of the
  timeline up to its last refresh, truncated to whole mJ, from an arbitrary non-zero origin; it refreshes
  every ``FakeGpu.energy_update_s`` (10 ms by default, as reported for Volta-era GPUs);
- power is refreshed every ``FakeGpu.power_update_s`` (100 ms) in whole mW; ``nvmlDeviceGetPowerUsage`` on
  Ampere and newer (except GA100: A100/A800/A30) is the mean over the ``average_window_s`` (1 s) before the
  refresh, as on the real hardware; the instant-power field (``NVML_FI_DEV_POWER_INSTANT``) is the value at
  the refresh (or, with ``instant_window_s``, the mean over a short span that ends ``instant_delay_s``
  before it) where the GPU supports it;
- each refresh grid has its own phase (``energy_phase_s``, ``power_phase_s``) after the driver loaded.

:data:`H200_AS_MEASURED` holds the sensor timing seen on one H200 (driver 580.159.04, see docs/nvml.md):
a counter refreshed every 100 ms, power every ~100.6 ms (a grid that drifts against the host clock and
the counter's), an instant field that averages ~25 ms of each refresh period.

Use in a test (``fake_gpus`` also registers :class:`bench.conformance.fake_cuda.FakeCudaDevice` as ``cuda``)::

    from bench.clock import SimClock
    from bench.conformance.fake_cuda import fake_gpus
    from bench.conformance.fake_nvml import FakeGpu, FakeNvml, PowerTimeline

    clock = SimClock()
    nvml = FakeNvml([FakeGpu("NVIDIA H100 80GB HBM3",
                             power=PowerTimeline.steps([(0, 70.0), (10, 650.0)]))], clock=clock)
    with fake_gpus(nvml):                  # sys.modules["pynvml"] is the fake; cuda:0 is its GPU
        ...                                # e.g. invoke ``bench run --device cuda:0``

    nvml.install(monkeypatch)              # or only the fake NVML, undone by pytest at teardown
    FakeNvml.of("NVIDIA A10", "Tesla P100-PCIE-16GB", power=250.0)   # quick scenario by names

Conditions that come and go: ``FakeGpu(episodes=[Episode("process", after_s=3, until_s=6, value=4242)])``
(another process computes on the GPU), ``Episode("throttle", value=0x40)`` (clock-event reason bits),
``Episode("mig")`` (MIG mode on); each holds from ``after_s`` until ``until_s``.

Faults: ``FakeGpu(faults=[Fault("gpu_lost", after_s=5)])``, ``Fault("no_permission", calls={...})``,
``Fault("hang", after_s=2, hang_s=3)`` (one call blocks for 3 s on the fake's clock);
``FakeNvml(init_error="driver_not_loaded")`` makes ``nvmlInit`` fail.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import re
import sys
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.clock import Clock, MonotonicClock
from bench.conformance import modules as _modules

ENERGY_UPDATE_NS = 10_000_000  # the energy counter refreshes about every 10 ms
POWER_UPDATE_NS = 100_000_000  # power refreshes about every 100 ms
AVERAGE_WINDOW_S = 1.0  # nvmlDeviceGetPowerUsage's moving average on Ampere+ (not GA100)
# Sensor timing seen on one NVIDIA H200 (driver 580.159.04, nvidia-ml-py polled at ~300 Hz for 28 s around
# GEMM steps and 20 ms bursts): the counter advanced every 100.0 ms, nvmlDeviceGetPowerUsage was the 1 s
# trailing mean of the counter's energy refreshed every ~100.6 ms, and the instant field (same grid) caught
# a 20 ms burst only when it fell within a ~25 ms span ending ~35 ms before the refresh.
H200_AS_MEASURED: dict[str, float] = {"energy_update_s": 0.1, "power_update_s": 0.1006,
                                      "instant_window_s": 0.025, "instant_delay_s": 0.035}

# nvmlDeviceArchitecture_t values (as in nvml.h / pynvml)
KEPLER, MAXWELL, PASCAL, VOLTA, TURING, AMPERE, ADA, HOPPER, BLACKWELL = 2, 3, 4, 5, 6, 7, 8, 9, 10
_ARCH_BY_NAME = [  # first match wins
    (r"\b(GB|B)(100|200|300)\b", BLACKWELL), (r"\b(GH|H)(100|200|800)\b", HOPPER),
    (r"\b(L4|L40S?|RTX 40\d0|RTX [0-9]+ Ada)\b", ADA), (r"\b(A\d+X?|RTX 30\d0|RTX A\d+)\b", AMPERE),
    (r"\b(T4|RTX 20\d0|Quadro RTX)\b", TURING), (r"\b(V100|TITAN V)\b", VOLTA),
    (r"\b(P\d+|GTX 10\d0|TITAN X)\b", PASCAL), (r"\b(M\d+|GTX 9\d0)\b", MAXWELL), (r"\bK\d+", KEPLER),
]
_GA100 = re.compile(r"\bA(100|800|30)X?\b")
_MIG_CAPABLE = re.compile(r"\b(A100|A800|A30|GH200|H100|H200|H800|B100|B200|GB200)\b")
_COMPUTE_CAPABILITY = {KEPLER: "3.7", MAXWELL: "5.2", PASCAL: "6.0", VOLTA: "7.0", TURING: "7.5",
                       AMPERE: "8.6", ADA: "8.9", HOPPER: "9.0", BLACKWELL: "10.0"}


def _real_pynvml() -> types.ModuleType:
    """The installed nvidia-ml-py module (even while a fake is installed over it)."""
    mod = sys.modules.get("pynvml")
    if isinstance(mod, FakeNvml):
        return mod._real
    import pynvml

    return pynvml


class PowerTimeline:
    """Piecewise-linear power in W over time in s; a repeated time makes a step. Constant outside the points.

    ``energy_j(t0_s, t1_s)`` is the exact integral (J). At a step the value after the step applies.
    """

    def __init__(self, points: Sequence[tuple[float, float]]) -> None:
        pts = [(float(t), float(w)) for t, w in points]
        if not pts or any(b[0] < a[0] for a, b in zip(pts, pts[1:])) or any(w < 0 for _, w in pts):
            raise ValueError("a power timeline needs points with non-decreasing times and power >= 0 W")
        self._t = [t for t, _ in pts]
        self._w = [w for _, w in pts]
        self._cum = [0.0]
        for i in range(1, len(pts)):
            dt = self._t[i] - self._t[i - 1]
            self._cum.append(self._cum[-1] + dt * (self._w[i] + self._w[i - 1]) / 2)

    @classmethod
    def constant(cls, power_w: float) -> PowerTimeline:
        return cls([(0.0, power_w)])

    @classmethod
    def steps(cls, steps: Sequence[tuple[float, float]]) -> PowerTimeline:
        """Hold ``power_w`` from each ``(t_s, power_w)`` until the next one."""
        pts: list[tuple[float, float]] = []
        for t, w in steps:
            if pts:
                pts.append((t, pts[-1][1]))
            pts.append((t, w))
        return cls(pts)

    @classmethod
    def from_function(cls, fn: Callable[[float], float], duration_s: float,
                      dt_s: float = 1e-3) -> PowerTimeline:
        """Sample ``fn`` (s -> W) every ``dt_s`` over ``[0, duration_s]`` (linear between samples)."""
        n = max(1, int(math.ceil(duration_s / dt_s)))
        return cls([(i * dt_s, max(0.0, float(fn(i * dt_s)))) for i in range(n + 1)])

    def __call__(self, t_s: float) -> float:
        i = bisect.bisect_right(self._t, t_s)
        if i == 0:
            return self._w[0]
        if i == len(self._t):
            return self._w[-1]
        t0, t1, w0, w1 = self._t[i - 1], self._t[i], self._w[i - 1], self._w[i]
        return w0 + (w1 - w0) * (t_s - t0) / (t1 - t0)

    def _cum_at(self, t_s: float) -> float:
        i = bisect.bisect_right(self._t, t_s)
        if i == 0:
            return self._w[0] * (t_s - self._t[0])
        if i == len(self._t):
            return self._cum[-1] + self._w[-1] * (t_s - self._t[-1])
        return self._cum[i - 1] + (t_s - self._t[i - 1]) * (self._w[i - 1] + self(t_s)) / 2

    def energy_j(self, t0_s: float, t1_s: float) -> float:
        return self._cum_at(t1_s) - self._cum_at(t0_s)


@dataclass(frozen=True)
class Fault:
    """A fault injected from ``after_s`` (s since the fake driver loaded) until ``until_s``.

    ``kind``: ``"gpu_lost"`` (every call on the GPU raises ``NVMLError_GpuIsLost``), ``"no_permission"``,
    ``"not_supported"``, or ``"hang"`` (the first affected call blocks for ``hang_s`` on the fake's clock).
    ``calls`` restricts it to some pynvml function names (None: every call on the GPU's handle).
    """

    kind: str
    after_s: float = 0.0
    until_s: float = math.inf
    calls: frozenset[str] | set[str] | None = None
    hang_s: float = 0.0


@dataclass(frozen=True)
class Episode:
    """A condition of the GPU from ``after_s`` until ``until_s`` (s since the fake driver loaded).

    ``kind``: ``"process"`` (``value`` is the pid of another process computing on the GPU),
    ``"throttle"`` (``value`` is the clock-event reason bits) or ``"mig"`` (MIG mode on).
    """

    kind: str
    after_s: float = 0.0
    until_s: float = math.inf
    value: int = 0

    def active(self, now_s: float) -> bool:
        return self.after_s <= now_s < self.until_s


@dataclass
class FakeGpu:
    """One simulated GPU. Empty ``uuid``/``pci_bus_id`` and a None ``architecture`` are derived."""

    name: str = "NVIDIA H100 80GB HBM3"
    power: PowerTimeline | float = 100.0
    uuid: str = ""
    pci_bus_id: str = ""
    architecture: int | None = None
    instant_field: bool | None = None  # default: Hopper and newer
    energy_counter: bool | None = None  # default: Volta and newer
    energy_update_s: float = ENERGY_UPDATE_NS / 1e9  # how often the counter refreshes
    power_update_s: float = POWER_UPDATE_NS / 1e9  # how often both power figures refresh
    energy_phase_s: float = 0.0  # the counter's refresh grid: phase after the driver loaded (s)
    power_phase_s: float = 0.0
    average_window_s: float = AVERAGE_WINDOW_S  # nvmlDeviceGetPowerUsage's trailing mean, where it averages
    instant_window_s: float = 0.0  # 0: the instant field is the power at the refresh; else its mean over this
    instant_delay_s: float = 0.0  # ... span, ending this long before the refresh
    energy_offset_mj: int = 987_654_321  # the counter counts since the driver loaded, not from 0
    temperature_c: int = 41
    sm_clock_mhz: int = 1980
    power_limit_mw: int = 700_000
    mig: bool = False
    mig_uuids: list[str] = field(default_factory=list)
    processes: list[int] = field(default_factory=list)  # pids running compute work on the GPU
    clocks_event_reasons: int = 0
    faults: list[Fault] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)

    def finish(self, index: int) -> None:
        """Fill the derived fields (called by :class:`FakeNvml`)."""
        if isinstance(self.power, (int, float)):
            self.power = PowerTimeline.constant(float(self.power))
        if self.architecture is None:
            self.architecture = next((a for p, a in _ARCH_BY_NAME if re.search(p, self.name)), HOPPER)
        if not self.uuid:
            self.uuid = f"GPU-{0x5eed0000 + index:08x}-1a2b-3c4d-5e6f-{0xc0ffee000000 + index:012x}"
        if not self.pci_bus_id:
            self.pci_bus_id = f"00000000:{0x18 + 0x11 * index:02X}:00.0"
        if self.instant_field is None:
            self.instant_field = self.architecture >= HOPPER
        if self.energy_counter is None:
            self.energy_counter = self.architecture >= VOLTA
        if not (self.energy_update_s > 0 and self.power_update_s > 0 and self.average_window_s > 0
                and self.instant_window_s >= 0 and self.instant_delay_s >= 0):
            raise ValueError("sensor periods and windows must be > 0 (instant window and delay >= 0)")

    @property
    def power_usage_averaged(self) -> bool:
        return self.architecture >= AMPERE and not _GA100.search(self.name)

    @property
    def compute_capability(self) -> str:
        if self.architecture == AMPERE and _GA100.search(self.name):
            return "8.0"
        return _COMPUTE_CAPABILITY.get(self.architecture, "9.0")


class _Handle:
    """An opaque device handle (the real one is a ctypes pointer)."""

    __slots__ = ("index", "mig")

    def __init__(self, index: int, mig: int | None = None) -> None:
        self.index, self.mig = index, mig

    def __repr__(self) -> str:
        return f"<fake nvmlDevice_t {self.index}{'' if self.mig is None else f' mig {self.mig}'}>"


def _pci_key(bus_id: str) -> tuple[int, int, int, int] | None:
    m = re.fullmatch(r"\s*(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])\s*", bus_id)
    if not m:
        return None
    return int(m.group(1) or "0", 16), int(m.group(2), 16), int(m.group(3), 16), int(m.group(4))


class FakeNvml(types.ModuleType):
    """A module object that stands in for ``pynvml``; NVML index order is the order of ``gpus``.

    ``cuda_fastest_first`` gives the NVML indices in the order CUDA enumerates them by default
    (CUDA_DEVICE_ORDER=FASTEST_FIRST); None means the same as NVML's PCI order.
    """

    def __init__(self, gpus: Sequence[FakeGpu], clock: Clock | None = None, *, driver_version: str = "550.90.07",
                 init_error: str | None = None, cuda_fastest_first: Sequence[int] | None = None) -> None:
        super().__init__("pynvml", "fake pynvml (bench.conformance.fake_nvml)")
        real = _real_pynvml()
        for name in dir(real):
            if name.startswith(("NVML", "nvmlClocks", "c_nvml", "nvmlPciInfo", "nvmlFriendly")) \
                    and not hasattr(type(self), name):
                setattr(self, name, getattr(real, name))
        self._real = real
        self.__version__ = "fake-nvml"
        self.gpus = list(gpus)
        for i, gpu in enumerate(self.gpus):
            gpu.finish(i)
        self.clock = clock or MonotonicClock()
        self.driver_version = driver_version
        self.init_error = init_error
        self.cuda_fastest_first = list(cuda_fastest_first) if cuda_fastest_first is not None else None
        self.refcount = 0
        self.calls: dict[str, int] = {}
        self._hung: set[tuple[int, int]] = set()
        self._lock = threading.RLock()
        self._t0_ns = self.clock.now_ns()

    @classmethod
    def of(cls, *names: str, power: PowerTimeline | float = 100.0, clock: Clock | None = None,
           **kwargs: Any) -> FakeNvml:
        """A fake with one GPU per marketing name, all on the same power timeline."""
        return cls([FakeGpu(n, power=power) for n in names], clock, **kwargs)

    # --- installing -------------------------------------------------------------------------
    def install(self, monkeypatch: Any) -> FakeNvml:
        """Put the fake in ``sys.modules["pynvml"]`` through pytest's monkeypatch (undone at teardown)."""
        return _modules.install("pynvml", self, monkeypatch)

    @contextlib.contextmanager
    def installed(self) -> Iterator[FakeNvml]:
        """Context manager: the fake is ``pynvml`` inside the block; the previous module after it."""
        with _modules.installed("pynvml", self):
            yield self

    # --- simulation helpers --------------------------------------------------------------------
    def now_s(self) -> float:
        """Seconds since the fake driver loaded (the timeline's time axis)."""
        return (self.clock.now_ns() - self._t0_ns) / 1e9

    def _refresh_s(self, period_s: float, phase_s: float) -> float:
        """The last refresh instant (s since the driver loaded) of a grid of ``period_s`` at ``phase_s``."""
        period_ns, phase_ns = int(round(period_s * 1e9)), int(round(phase_s * 1e9))
        elapsed = self.clock.now_ns() - self._t0_ns - phase_ns
        return ((elapsed // period_ns) * period_ns + phase_ns) / 1e9

    def exact_energy_j(self, index: int, t0_s: float, t1_s: float) -> float:
        """The true energy of GPU ``index`` between two timeline times (for test assertions)."""
        return self.gpus[index].power.energy_j(t0_s, t1_s)

    def _error(self, code_name: str) -> Exception:
        return self._real.NVMLError(getattr(self._real, code_name))

    def _check_init(self, fn: str) -> None:
        with self._lock:
            self.calls[fn] = self.calls.get(fn, 0) + 1
            if self.refcount <= 0:
                raise self._error("NVML_ERROR_UNINITIALIZED")

    def _gpu(self, handle: Any, fn: str) -> FakeGpu:
        self._check_init(fn)
        if not isinstance(handle, _Handle) or not 0 <= handle.index < len(self.gpus):
            raise self._error("NVML_ERROR_INVALID_ARGUMENT")
        gpu = self.gpus[handle.index]
        now = self.now_s()
        for k, fault in enumerate(gpu.faults):
            if not fault.after_s <= now < fault.until_s:
                continue
            if fault.calls is not None and fn not in fault.calls:
                continue
            if fault.kind == "hang":
                with self._lock:
                    first = (handle.index, k) not in self._hung
                    self._hung.add((handle.index, k))
                if first:
                    self.clock.sleep(fault.hang_s)
                continue
            codes = {"gpu_lost": "NVML_ERROR_GPU_IS_LOST", "no_permission": "NVML_ERROR_NO_PERMISSION",
                     "not_supported": "NVML_ERROR_NOT_SUPPORTED"}
            raise self._error(codes[fault.kind])
        return gpu

    def _power_mw(self, gpu: FakeGpu, averaged: bool) -> int:
        t = self._refresh_s(gpu.power_update_s, gpu.power_phase_s)
        if averaged:
            watts = gpu.power.energy_j(t - gpu.average_window_s, t) / gpu.average_window_s
        elif gpu.instant_window_s > 0:
            end = t - gpu.instant_delay_s
            watts = gpu.power.energy_j(end - gpu.instant_window_s, end) / gpu.instant_window_s
        else:
            watts = gpu.power(t)
        return int(round(watts * 1000))

    def _energy_mj(self, gpu: FakeGpu) -> int:
        t = self._refresh_s(gpu.energy_update_s, gpu.energy_phase_s)
        return gpu.energy_offset_mj + int(math.floor(gpu.power.energy_j(0.0, t) * 1000 + 1e-9))

    # --- library ----------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        self.nvmlInitWithFlags(0)

    def nvmlInitWithFlags(self, flags: int) -> None:
        with self._lock:
            if self.init_error:
                raise self._error("NVML_ERROR_" + self.init_error.upper())
            self.refcount += 1

    def nvmlShutdown(self) -> None:
        with self._lock:
            if self.refcount <= 0:
                raise self._error("NVML_ERROR_UNINITIALIZED")
            self.refcount -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        self._check_init("nvmlSystemGetDriverVersion")
        return self.driver_version

    def nvmlSystemGetNVMLVersion(self) -> str:
        self._check_init("nvmlSystemGetNVMLVersion")
        return "12." + self.driver_version

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._check_init("nvmlSystemGetCudaDriverVersion")
        return 12040

    # --- handles ------------------------------------------------------------------------------
    def nvmlDeviceGetCount(self) -> int:
        self._check_init("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self._check_init("nvmlDeviceGetHandleByIndex")
        if not 0 <= int(index) < len(self.gpus):
            raise self._error("NVML_ERROR_INVALID_ARGUMENT")
        return _Handle(int(index))

    def nvmlDeviceGetHandleByUUID(self, uuid: str | bytes) -> _Handle:
        self._check_init("nvmlDeviceGetHandleByUUID")
        text = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
        if not text.startswith(("GPU-", "MIG-")):
            raise self._error("NVML_ERROR_INVALID_ARGUMENT")
        for i, gpu in enumerate(self.gpus):
            if gpu.uuid == text:
                return _Handle(i)
            if text in gpu.mig_uuids:
                return _Handle(i, gpu.mig_uuids.index(text))
        raise self._error("NVML_ERROR_NOT_FOUND")

    def nvmlDeviceGetHandleByPciBusId(self, pciBusId: str | bytes) -> _Handle:
        self._check_init("nvmlDeviceGetHandleByPciBusId")
        key = _pci_key(pciBusId.decode() if isinstance(pciBusId, bytes) else str(pciBusId))
        if key is None:
            raise self._error("NVML_ERROR_INVALID_ARGUMENT")
        for i, gpu in enumerate(self.gpus):
            if _pci_key(gpu.pci_bus_id) == key:
                return _Handle(i)
        raise self._error("NVML_ERROR_NOT_FOUND")

    def nvmlDeviceIsMigDeviceHandle(self, device: _Handle) -> int:
        self._gpu(device, "nvmlDeviceIsMigDeviceHandle")
        return int(device.mig is not None)

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, migDevice: _Handle) -> _Handle:
        self._gpu(migDevice, "nvmlDeviceGetDeviceHandleFromMigDeviceHandle")
        if migDevice.mig is None:
            raise self._error("NVML_ERROR_INVALID_ARGUMENT")
        return _Handle(migDevice.index)

    # --- identity -----------------------------------------------------------------------------
    def nvmlDeviceGetIndex(self, handle: _Handle) -> int:
        self._gpu(handle, "nvmlDeviceGetIndex")
        return handle.index

    def nvmlDeviceGetName(self, handle: _Handle) -> str:
        return self._gpu(handle, "nvmlDeviceGetName").name

    def nvmlDeviceGetUUID(self, handle: _Handle) -> str:
        gpu = self._gpu(handle, "nvmlDeviceGetUUID")
        return gpu.uuid if handle.mig is None else gpu.mig_uuids[handle.mig]

    def nvmlDeviceGetPciInfo(self, handle: _Handle) -> Any:
        gpu = self._gpu(handle, "nvmlDeviceGetPciInfo")
        info = self._real.nvmlPciInfo_t()
        domain, bus, dev, _ = _pci_key(gpu.pci_bus_id) or (0, 0, 0, 0)
        info.domain, info.bus, info.device = domain, bus, dev
        info.busId = gpu.pci_bus_id.encode()
        info.busIdLegacy = gpu.pci_bus_id[4:].encode()
        return info

    def nvmlDeviceGetArchitecture(self, device: _Handle) -> int:
        return int(self._gpu(device, "nvmlDeviceGetArchitecture").architecture)

    # --- power and energy ----------------------------------------------------------------------
    def nvmlDeviceGetTotalEnergyConsumption(self, handle: _Handle) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetTotalEnergyConsumption")
        if not gpu.energy_counter or handle.mig is not None:
            raise self._error("NVML_ERROR_NOT_SUPPORTED")
        return self._energy_mj(gpu)

    def nvmlDeviceGetPowerUsage(self, handle: _Handle) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetPowerUsage")
        if handle.mig is not None:
            raise self._error("NVML_ERROR_NOT_SUPPORTED")
        return self._power_mw(gpu, averaged=gpu.power_usage_averaged)

    def nvmlDeviceGetFieldValues(self, handle: _Handle, fieldIds: Sequence[Any]) -> Any:
        gpu = self._gpu(handle, "nvmlDeviceGetFieldValues")
        r = self._real
        values = (r.c_nvmlFieldValue_t * len(fieldIds))()
        for i, fid in enumerate(fieldIds):
            fid, scope = fid if isinstance(fid, tuple) else (fid, 0)
            v = values[i]
            v.fieldId, v.scopeId, v.timestamp = fid, scope, self.clock.now_ns() // 1000
            v.nvmlReturn, v.valueType = r.NVML_SUCCESS, r.NVML_VALUE_TYPE_UNSIGNED_INT
            if handle.mig is not None or scope != r.NVML_POWER_SCOPE_GPU:
                v.nvmlReturn = r.NVML_ERROR_NOT_SUPPORTED
            elif fid == r.NVML_FI_DEV_POWER_INSTANT and gpu.instant_field:
                v.value.uiVal = self._power_mw(gpu, averaged=False)
            elif fid == r.NVML_FI_DEV_POWER_AVERAGE and gpu.instant_field and gpu.power_usage_averaged:
                v.value.uiVal = self._power_mw(gpu, averaged=True)
            elif fid == r.NVML_FI_DEV_ENERGY and gpu.energy_counter:
                v.valueType, v.value.ullVal = r.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG, self._energy_mj(gpu)
            else:
                v.nvmlReturn = r.NVML_ERROR_NOT_SUPPORTED
        return values

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: _Handle) -> int:
        return self._gpu(handle, "nvmlDeviceGetEnforcedPowerLimit").power_limit_mw

    # --- other sensors ---------------------------------------------------------------------------
    def nvmlDeviceGetTemperature(self, handle: _Handle, sensor: int) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetTemperature")
        if sensor != self._real.NVML_TEMPERATURE_GPU:
            raise self._error("NVML_ERROR_INVALID_ARGUMENT")
        return gpu.temperature_c

    def nvmlDeviceGetClockInfo(self, handle: _Handle, type: int) -> int:  # noqa: A002 - pynvml's name
        gpu = self._gpu(handle, "nvmlDeviceGetClockInfo")
        r = self._real
        clocks = {r.NVML_CLOCK_GRAPHICS: gpu.sm_clock_mhz, r.NVML_CLOCK_SM: gpu.sm_clock_mhz,
                  r.NVML_CLOCK_MEM: 2619, r.NVML_CLOCK_VIDEO: 1755}
        if type not in clocks:
            raise self._error("NVML_ERROR_INVALID_ARGUMENT")
        return clocks[type]

    def _episodes(self, gpu: FakeGpu, kind: str) -> list[Episode]:
        now = self.now_s()
        return [e for e in gpu.episodes if e.kind == kind and e.active(now)]

    def nvmlDeviceGetMigMode(self, device: _Handle) -> list[int]:
        gpu = self._gpu(device, "nvmlDeviceGetMigMode")
        mig = gpu.mig or bool(self._episodes(gpu, "mig"))
        if not (mig or any(e.kind == "mig" for e in gpu.episodes)
                or (gpu.architecture >= AMPERE and _MIG_CAPABLE.search(gpu.name))):
            raise self._error("NVML_ERROR_NOT_SUPPORTED")
        mode = self._real.NVML_DEVICE_MIG_ENABLE if mig else self._real.NVML_DEVICE_MIG_DISABLE
        return [mode, mode]

    def nvmlDeviceGetComputeRunningProcesses(self, handle: _Handle) -> list[Any]:
        gpu = self._gpu(handle, "nvmlDeviceGetComputeRunningProcesses")
        none = 0xFFFFFFFF
        pids = list(gpu.processes) + [e.value for e in self._episodes(gpu, "process")]
        return [self._real.nvmlFriendlyObject({"pid": pid, "usedGpuMemory": 1 << 30,
                                                "gpuInstanceId": none, "computeInstanceId": none})
                for pid in pids]

    def _reasons(self, gpu: FakeGpu) -> int:
        bits = gpu.clocks_event_reasons
        for e in self._episodes(gpu, "throttle"):
            bits |= e.value
        return bits

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: _Handle) -> int:
        return self._reasons(self._gpu(handle, "nvmlDeviceGetCurrentClocksEventReasons"))

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: _Handle) -> int:
        return self._reasons(self._gpu(handle, "nvmlDeviceGetCurrentClocksThrottleReasons"))


def active() -> FakeNvml | None:
    """The fake currently installed as ``pynvml``, if any."""
    mod = sys.modules.get("pynvml")
    return mod if isinstance(mod, FakeNvml) else None
