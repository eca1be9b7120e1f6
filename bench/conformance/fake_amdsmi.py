"""A fake ``amdsmi`` (AMD SMI, the ROCm Python package) for machines without an AMD GPU.

Faithful to the documented Python API where the tests rely on it:

- the same function names and return shapes: ``amdsmi_get_power_info`` gives a dict of
  ``current_socket_power`` / ``average_socket_power`` in whole W, or the string ``"N/A"`` where the
  GPU lacks the figure (MI300X and MI325X lack the average, MI100 and MI210 the current value),
  plus ``socket_power`` from ROCm 7; ``amdsmi_get_energy_count`` gives the accumulator in counts
  of ``counter_resolution`` uJ (a float32, 15.3 on the parts seen) and a ``timestamp``; the
  accumulator's key is ``energy_accumulator`` from ROCm 6.2.1 and ``power`` before;
- the same errors: ``AmdSmiLibraryException`` carrying an ``amdsmi_status_t`` code (``err_code``,
  ``get_error_code()``), ``AmdSmiParameterException`` for a handle that is not one; calls before
  ``amdsmi_init`` fail with ``AMDSMI_STATUS_NOT_INIT``;
- the quirks: an MI250 is two dies seen as two GPUs, and the odd die reports 0 W and a counter
  that never moves (the even die's figures cover both); a counter can be stuck (seen on MI100,
  ROCm/amdsmi issues #22 and #38) while power moves.

Control (root only; ``FakeAmdSmi(root=True)``): ``amdsmi_set_power_cap`` (uW, within the
``amdsmi_get_power_cap_info`` range, else ``AMDSMI_STATUS_INVAL``), ``amdsmi_get_clk_freq`` (levels in Hz),
``amdsmi_set_gpu_clk_range`` (MHz; puts the GPU in the MANUAL performance level) and
``amdsmi_set_gpu_perf_level`` (AUTO drops the range); a normal user gets ``AMDSMI_STATUS_NO_PERM``. The
settings are kept but the simulated power does not follow them.

Modelled, not documented by AMD: the counter and current power refresh every 1 ms; the average is
the mean over the last second. Install with ``with FakeAmdSmi([...]).installed(): ...`` (then
``import amdsmi`` returns it) or ``fake.install(monkeypatch)``.
"""

from __future__ import annotations

import contextlib
import enum
import math
import re
import threading
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.clock import Clock, MonotonicClock
from bench.conformance import modules as _modules
from bench.conformance.fake_nvml import Fault, PowerTimeline

NA = "N/A"
UPDATE_NS = 1_000_000
AVERAGE_WINDOW_S = 1.0
RESOLUTION_UJ = 15.300000190734863  # 15.3 stored as a C float, as amdsmi returns it
STATUS = {
    "SUCCESS": 0, "INVAL": 1, "NOT_SUPPORTED": 2, "NOT_YET_IMPLEMENTED": 3, "FAIL_LOAD_MODULE": 4,
    "FAIL_LOAD_SYMBOL": 5, "DRM_ERROR": 6, "API_FAILED": 7, "TIMEOUT": 8, "RETRY": 9, "NO_PERM": 10,
    "INTERRUPT": 11, "IO": 12, "ADDRESS_FAULT": 13, "FILE_ERROR": 14, "OUT_OF_RESOURCES": 15,
    "INTERNAL_EXCEPTION": 16, "INPUT_OUT_OF_BOUNDS": 17, "INIT_ERROR": 18, "REFCOUNT_OVERFLOW": 19,
    "BUSY": 30, "NOT_FOUND": 31, "NOT_INIT": 32, "NO_SLOT": 33, "NO_DATA": 40, "INSUFFICIENT_SIZE": 41,
    "UNEXPECTED_SIZE": 42, "UNEXPECTED_DATA": 43, "UNKNOWN_ERROR": 0xFFFFFFFF,
}
FAULT_CODES = {"device_lost": "FILE_ERROR", "no_permission": "NO_PERM", "not_supported": "NOT_SUPPORTED",
               "busy": "BUSY"}


class AmdSmiException(Exception):
    """Base of amdsmi's exceptions."""


class AmdSmiLibraryException(AmdSmiException):
    """A non-zero ``amdsmi_status_t`` from the library."""

    def __init__(self, err_code: int) -> None:
        err_code = abs(int(err_code))
        super().__init__(err_code)
        self.err_code = err_code
        name = next((k for k, v in STATUS.items() if v == err_code), "UNKNOWN_ERROR")
        self.err_info = f"AMDSMI_STATUS_{name}"

    def __str__(self) -> str:
        return f"An error occured with code: {self.err_code}({self.err_info})"

    def get_error_code(self) -> int:
        return self.err_code

    def get_error_info(self) -> str:
        return self.err_info


class AmdSmiParameterException(AmdSmiException):
    def __init__(self, received: Any, expected: type) -> None:
        super().__init__(f"Invalid parameter: actual type {type(received)}, expected {expected}")


class AmdSmiInitFlags(enum.IntEnum):
    INIT_ALL_PROCESSORS = 0xFFFFFFFF
    INIT_AMD_CPUS = 1 << 0
    INIT_AMD_GPUS = 1 << 1
    INIT_NON_AMD_CPUS = 1 << 2
    INIT_NON_AMD_GPUS = 1 << 3
    INIT_AMD_APUS = (1 << 0) | (1 << 1)


class AmdSmiTemperatureType(enum.IntEnum):
    EDGE = 0
    HOTSPOT = 1
    JUNCTION = 1
    VRAM = 2


class AmdSmiTemperatureMetric(enum.IntEnum):
    CURRENT = 0
    MAX = 1


class AmdSmiClkType(enum.IntEnum):
    SYS = 0
    GFX = 0
    DF = 1
    DCEF = 2
    SOC = 3
    MEM = 4


class AmdSmiDevPerfLevel(enum.IntEnum):
    AUTO = 0
    LOW = 1
    HIGH = 2
    MANUAL = 3
    STABLE_STD = 4
    STABLE_PEAK = 5
    STABLE_MIN_MCLK = 6
    STABLE_MIN_SCLK = 7
    DETERMINISM = 8
    UNKNOWN = 0x100


class ProcessorHandle:
    """Stands in for ``amdsmi_wrapper.amdsmi_processor_handle`` (a ctypes pointer)."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"<fake amdsmi_processor_handle {self.index}>"


@dataclass
class FakeAmdGpu:
    """One simulated AMD GPU (an MI250 is two of these). Empty/None fields are derived from the name."""

    name: str = "AMD Instinct MI300X"
    power: PowerTimeline | float = 300.0
    uuid: str = ""
    bdf: str = ""
    current_power: bool | None = None  # None: False on MI100/MI210
    average_power: bool | None = None  # None: False on MI300X/MI325X
    odd_die: bool | None = None  # None: the odd index of an MI250/MI250X pair
    stale_counter: bool = False
    counter_resolution_uj: float = RESOLUTION_UJ
    energy_offset_uj: float = 123_456_789_000.0
    temperature_c: int = 48
    power_cap_w: int = 750  # the cap set now (starts at the default)
    power_cap_default_w: int | None = None  # None: the starting power_cap_w
    power_cap_min_w: int | None = None  # None: a fifth of the default
    sclk_levels_mhz: list[int] = field(default_factory=lambda: [500, 1000, 1500, 2100])  # lowest first, as listed
    sclk_range_mhz: tuple[int, int] | None = None  # set by amdsmi_set_gpu_clk_range (MANUAL level)
    perf_level: str = "AUTO"
    faults: list[Fault] = field(default_factory=list)

    def finish(self, index: int) -> None:
        if isinstance(self.power, (int, float)):
            self.power = PowerTimeline.constant(float(self.power))
        if not self.uuid:
            self.uuid = f"{0x5a3c0000 + index:08x}-0000-1000-80b1-{0xe5d9d8a1a27c + index:012x}"
        if not self.bdf:
            self.bdf = f"0000:{0x0c + 0x10 * index:02x}:00.0"
        if self.current_power is None:
            self.current_power = not re.search(r"\bMI(100|210)\b", self.name)
        if self.average_power is None:
            self.average_power = not re.search(r"\bMI3\d\dX\b", self.name)
        if self.odd_die is None:
            self.odd_die = bool(re.search(r"\bMI250X?\b", self.name)) and index % 2 == 1
        if self.power_cap_default_w is None:
            self.power_cap_default_w = self.power_cap_w
        if self.power_cap_min_w is None:
            self.power_cap_min_w = self.power_cap_default_w // 5


def mi250(power: PowerTimeline | float = 400.0, **kwargs: Any) -> list[FakeAmdGpu]:
    """One MI250 card: the even die carries the card's power, the odd die reports nothing."""
    return [FakeAmdGpu("AMD Instinct MI250", power=power, current_power=False, **kwargs),
            FakeAmdGpu("AMD Instinct MI250", power=power, current_power=False, **kwargs)]


class FakeAmdSmi(types.ModuleType):
    """A module object that stands in for ``amdsmi``; handle order is the order of ``gpus``."""

    def __init__(self, gpus: Sequence[FakeAmdGpu], clock: Clock | None = None, *, rocm_version: tuple[int, int, int] = (6, 2, 1),
                 init_error: str | None = None, root: bool = False) -> None:
        super().__init__("amdsmi", "fake amdsmi (bench.conformance.fake_amdsmi)")
        self.gpus = list(gpus)
        for i, gpu in enumerate(self.gpus):
            gpu.finish(i)
        self.clock = clock or MonotonicClock()
        self.rocm_version = tuple(rocm_version)
        self.init_error = init_error
        self.root = root  # whether this process may change the power cap and clocks (root only, as on Linux)
        self.refcount = 0
        self.calls: dict[str, int] = {}
        self._lock = threading.RLock()
        self._hung: set[tuple[int, int]] = set()
        self._t0_ns = self.clock.now_ns()
        for name, value in [("AmdSmiException", AmdSmiException), ("AmdSmiLibraryException", AmdSmiLibraryException),
                            ("AmdSmiParameterException", AmdSmiParameterException),
                            ("AmdSmiInitFlags", AmdSmiInitFlags), ("AmdSmiTemperatureType", AmdSmiTemperatureType),
                            ("AmdSmiTemperatureMetric", AmdSmiTemperatureMetric), ("AmdSmiClkType", AmdSmiClkType),
                            ("AmdSmiDevPerfLevel", AmdSmiDevPerfLevel)]:
            setattr(self, name, value)
        self.amdsmi_wrapper = types.SimpleNamespace(
            amdsmi_processor_handle=ProcessorHandle, **{f"AMDSMI_STATUS_{k}": v for k, v in STATUS.items()})

    # --- installing ------------------------------------------------------------------------
    def install(self, monkeypatch: Any) -> FakeAmdSmi:
        return _modules.install("amdsmi", self, monkeypatch)

    @contextlib.contextmanager
    def installed(self) -> Iterator[FakeAmdSmi]:
        with _modules.installed("amdsmi", self):
            yield self

    # --- simulation ----------------------------------------------------------------------------
    def now_s(self) -> float:
        return (self.clock.now_ns() - self._t0_ns) / 1e9

    def _quantised_s(self) -> float:
        return ((self.clock.now_ns() - self._t0_ns) // UPDATE_NS) * UPDATE_NS / 1e9

    def exact_energy_j(self, index: int, t0_s: float, t1_s: float) -> float:
        return self.gpus[index].power.energy_j(t0_s, t1_s)

    def inject(self, index: int, kind: str, after_s: float | None = None) -> None:
        """Make GPU ``index`` fail with ``kind`` (see :data:`FAULT_CODES`, or ``"hang"``) from now on."""
        self.gpus[index].faults.append(Fault(kind, after_s=self.now_s() if after_s is None else after_s))

    def _gpu(self, handle: Any, fn: str) -> FakeAmdGpu:
        with self._lock:
            self.calls[fn] = self.calls.get(fn, 0) + 1
            if self.refcount <= 0:
                raise AmdSmiLibraryException(STATUS["NOT_INIT"])
        if not isinstance(handle, ProcessorHandle):
            raise AmdSmiParameterException(handle, ProcessorHandle)
        if not 0 <= handle.index < len(self.gpus):
            raise AmdSmiLibraryException(STATUS["INVAL"])
        gpu = self.gpus[handle.index]
        now = self.now_s()
        for k, fault in enumerate(gpu.faults):
            if not fault.after_s <= now < fault.until_s or (fault.calls is not None and fn not in fault.calls):
                continue
            if fault.kind == "hang":
                with self._lock:
                    first = (handle.index, k) not in self._hung
                    self._hung.add((handle.index, k))
                if first:
                    self.clock.sleep(fault.hang_s)
                continue
            raise AmdSmiLibraryException(STATUS[FAULT_CODES[fault.kind]])
        return gpu

    def _watts(self, gpu: FakeAmdGpu, averaged: bool) -> int:
        if gpu.odd_die:
            return 0
        t = self._quantised_s()
        if averaged:
            return int(gpu.power.energy_j(t - AVERAGE_WINDOW_S, t) / AVERAGE_WINDOW_S)
        return int(gpu.power(t))

    # --- library -------------------------------------------------------------------------------
    def amdsmi_init(self, flag: int = AmdSmiInitFlags.INIT_AMD_GPUS) -> None:
        with self._lock:
            if self.init_error:
                raise AmdSmiLibraryException(STATUS[self.init_error.upper()])
            self.refcount += 1

    def amdsmi_shut_down(self) -> None:
        with self._lock:
            if self.refcount <= 0:
                raise AmdSmiLibraryException(STATUS["NOT_INIT"])
            self.refcount -= 1

    def amdsmi_get_lib_version(self) -> dict[str, Any]:
        major, minor, release = self.rocm_version
        return {"year": 24, "major": major, "minor": minor, "release": release, "build": "fake"}

    def amdsmi_get_processor_handles(self) -> list[ProcessorHandle]:
        with self._lock:
            self.calls["amdsmi_get_processor_handles"] = self.calls.get("amdsmi_get_processor_handles", 0) + 1
            if self.refcount <= 0:
                raise AmdSmiLibraryException(STATUS["NOT_INIT"])
        return [ProcessorHandle(i) for i in range(len(self.gpus))]

    def amdsmi_get_gpu_device_uuid(self, processor_handle: ProcessorHandle) -> str:
        return self._gpu(processor_handle, "amdsmi_get_gpu_device_uuid").uuid

    def amdsmi_get_gpu_device_bdf(self, processor_handle: ProcessorHandle) -> str:
        return self._gpu(processor_handle, "amdsmi_get_gpu_device_bdf").bdf

    def amdsmi_get_gpu_asic_info(self, processor_handle: ProcessorHandle) -> dict[str, Any]:
        gpu = self._gpu(processor_handle, "amdsmi_get_gpu_asic_info")
        return {"market_name": gpu.name, "vendor_id": "0x1002", "vendor_name": "Advanced Micro Devices Inc. [AMD/ATI]",
                "device_id": "0x74a1", "rev_id": "0x00", "asic_serial": f"0x{0xA1B2C3D4 + processor_handle.index:X}"}

    def amdsmi_get_gpu_driver_info(self, processor_handle: ProcessorHandle) -> dict[str, str]:
        self._gpu(processor_handle, "amdsmi_get_gpu_driver_info")
        return {"driver_name": "amdgpu", "driver_version": "6.8.5", "driver_date": "2015/01/01 00:00"}

    def amdsmi_get_power_info(self, processor_handle: ProcessorHandle) -> dict[str, Any]:
        gpu = self._gpu(processor_handle, "amdsmi_get_power_info")
        current = self._watts(gpu, averaged=False) if gpu.current_power else NA
        average = self._watts(gpu, averaged=True) if gpu.average_power else NA
        modern = self.rocm_version >= (7, 0, 0)
        info: dict[str, Any] = {"current_socket_power": current, "average_socket_power": average,
                                "gfx_voltage": 850, "soc_voltage": 900, "mem_voltage": 1200,
                                "power_limit": gpu.power_cap_w * (1_000_000 if modern else 1)}
        if modern:
            info = {"socket_power": current if current != NA else average, **info}
        return info

    def amdsmi_get_energy_count(self, processor_handle: ProcessorHandle) -> dict[str, Any]:
        gpu = self._gpu(processor_handle, "amdsmi_get_energy_count")
        t = self._quantised_s()
        moved = 0.0 if gpu.odd_die or gpu.stale_counter else gpu.power.energy_j(0.0, t) * 1e6
        counts = int(math.floor((gpu.energy_offset_uj + moved) / gpu.counter_resolution_uj))
        key = "energy_accumulator" if self.rocm_version >= (6, 2, 1) else "power"
        return {key: counts, "counter_resolution": gpu.counter_resolution_uj,
                "timestamp": 1_700_000_000_000_000_000 + self.clock.now_ns()}

    def amdsmi_get_power_cap_info(self, processor_handle: ProcessorHandle) -> dict[str, int]:
        gpu = self._gpu(processor_handle, "amdsmi_get_power_cap_info")
        uw = 1_000_000
        return {"power_cap": gpu.power_cap_w * uw, "default_power_cap": int(gpu.power_cap_default_w) * uw,
                "dpm_cap": 0, "min_power_cap": int(gpu.power_cap_min_w) * uw,
                "max_power_cap": int(gpu.power_cap_default_w) * uw}

    # --- control (root only) ----------------------------------------------------------------------
    def _command(self, processor_handle: ProcessorHandle, fn: str) -> FakeAmdGpu:
        gpu = self._gpu(processor_handle, fn)
        if not self.root:
            raise AmdSmiLibraryException(STATUS["NO_PERM"])
        return gpu

    def amdsmi_set_power_cap(self, processor_handle: ProcessorHandle, sensor_ind: int, cap: int) -> None:
        if not isinstance(sensor_ind, int):
            raise AmdSmiParameterException(sensor_ind, int)
        if not isinstance(cap, int):
            raise AmdSmiParameterException(cap, int)
        gpu = self._command(processor_handle, "amdsmi_set_power_cap")
        if sensor_ind != 0 or not gpu.power_cap_min_w * 1_000_000 <= cap <= gpu.power_cap_default_w * 1_000_000:
            raise AmdSmiLibraryException(STATUS["INVAL"])
        gpu.power_cap_w = cap // 1_000_000

    def amdsmi_get_clk_freq(self, processor_handle: ProcessorHandle, clk_type: AmdSmiClkType) -> dict[str, Any]:
        if not isinstance(clk_type, AmdSmiClkType):
            raise AmdSmiParameterException(clk_type, AmdSmiClkType)
        gpu = self._gpu(processor_handle, "amdsmi_get_clk_freq")
        if clk_type != AmdSmiClkType.SYS:
            raise AmdSmiLibraryException(STATUS["NOT_SUPPORTED"])
        levels = gpu.sclk_levels_mhz
        top = gpu.sclk_range_mhz[1] if gpu.sclk_range_mhz else levels[-1]
        current = max(i for i, f in enumerate(levels) if f <= top) if top >= levels[0] else 0
        return {"num_supported": len(levels), "current": current, "frequency": [f * 1_000_000 for f in levels]}

    def amdsmi_set_gpu_clk_range(self, processor_handle: ProcessorHandle, min_clk_value: int, max_clk_value: int,
                                 clk_type: AmdSmiClkType) -> None:
        for value, kind in ((min_clk_value, int), (max_clk_value, int), (clk_type, AmdSmiClkType)):
            if not isinstance(value, kind):
                raise AmdSmiParameterException(value, kind)
        gpu = self._command(processor_handle, "amdsmi_set_gpu_clk_range")
        levels = gpu.sclk_levels_mhz
        if clk_type != AmdSmiClkType.SYS or not levels[0] <= min_clk_value <= max_clk_value <= levels[-1]:
            raise AmdSmiLibraryException(STATUS["INVAL"])
        gpu.sclk_range_mhz, gpu.perf_level = (min_clk_value, max_clk_value), "MANUAL"

    def amdsmi_get_gpu_perf_level(self, processor_handle: ProcessorHandle) -> str:
        return f"AMDSMI_DEV_PERF_LEVEL_{self._gpu(processor_handle, 'amdsmi_get_gpu_perf_level').perf_level}"

    def amdsmi_set_gpu_perf_level(self, processor_handle: ProcessorHandle, perf_level: AmdSmiDevPerfLevel) -> None:
        if not isinstance(perf_level, AmdSmiDevPerfLevel):
            raise AmdSmiParameterException(perf_level, AmdSmiDevPerfLevel)
        gpu = self._command(processor_handle, "amdsmi_set_gpu_perf_level")
        gpu.perf_level = perf_level.name
        if perf_level == AmdSmiDevPerfLevel.AUTO:
            gpu.sclk_range_mhz = None

    def amdsmi_get_temp_metric(self, processor_handle: ProcessorHandle, sensor_type: int, metric: int) -> int:
        gpu = self._gpu(processor_handle, "amdsmi_get_temp_metric")
        if int(metric) != AmdSmiTemperatureMetric.CURRENT:
            raise AmdSmiLibraryException(STATUS["NOT_SUPPORTED"])
        return gpu.temperature_c


@contextlib.contextmanager
def conformance_setup() -> Iterator[Any]:
    """The conformance kit's fake for the ``amdsmi`` sampler: one MI300X at a steady 450 W."""
    from bench.clock import SimClock
    from bench.conformance.core import ConformanceSetup, env_vars

    clock = SimClock()
    smi = FakeAmdSmi([FakeAmdGpu("AMD Instinct MI300X", power=450.0)], clock)
    gpu = smi.gpus[0]
    identity = {"pci_bus_id": "00000000:0C:00.0", "uuid": f"GPU-{gpu.uuid}"}
    with smi.installed(), env_vars(HIP_VISIBLE_DEVICES=None, CUDA_VISIBLE_DEVICES=None, ROCR_VISIBLE_DEVICES=None):
        yield ConformanceSetup(
            device="cuda:0", options={"clock": clock, "identity": identity}, clock=clock, device_name=gpu.name,
            faults={"device_lost": lambda: smi.inject(0, "device_lost")}, note="fake amdsmi (bench.conformance.fake_amdsmi)")
