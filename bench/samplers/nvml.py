"""NVIDIA GPUs through NVML (package nvidia-ml-py, imported as ``pynvml``): one channel per GPU.

Energy comes from ``nvmlDeviceGetTotalEnergyConsumption`` (mJ, Volta and newer); power from the
instant-power field ``NVML_FI_DEV_POWER_INSTANT`` where the GPU has it, else from
``nvmlDeviceGetPowerUsage`` (mW), which is a ~1 s moving average on Ampere and newer except GA100 and
is marked so. ``cuda:N`` is matched to its NVML handle by UUID, then PCI bus id; without an identity
the CUDA environment (``CUDA_VISIBLE_DEVICES``, ``CUDA_DEVICE_ORDER``) decides, and a mapping that rests
on an assumption is reported. See docs/nvml.md.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

from bench.clock import Clock, MonotonicClock
from bench.errors import ControlNotSupported
from bench.samplers.base import (
    Availability,
    Capabilities,
    PowerKind,
    Reading,
    Sampler,
    SamplerDeviceLost,
    SamplerError,
    SamplerNoPermission,
    SamplerNotSupported,
    SamplerTimeout,
    SamplerUnavailable,
    Scope,
    finite_or_none,
)
from bench.samplers.nvml_control import NvmlControl

log = logging.getLogger(__name__)

ENERGY_UPDATE_S = 0.01  # the energy counter refreshes about every 10 ms
POWER_UPDATE_S = 0.1  # power refreshes about every 100 ms
AVERAGE_WINDOW_S = 1.0  # nvmlDeviceGetPowerUsage's moving average on Ampere+ (except GA100)
EXTRAS_PERIOD_S = 0.5  # temperature, SM clock and power limit are read at most this often
MAX_RATE_HZ = 100.0  # faster polling only repeats values
POWER_CHOICES = ("auto", "instant", "usage")  # the ``power`` option: which power figure the channel reads
ENERGY_TOLERANCE = 0.05
_GA100 = re.compile(r"\bA(100|800|30)X?\b")  # GA100 boards: PowerUsage is not averaged there
_ARCH_AMPERE, _ARCH_UNKNOWN = 7, 0xFFFFFFFF
_THROTTLE_BITS = {  # clock-event reason bits that mean the GPU is being slowed down
    "nvmlClocksEventReasonHwSlowdown": 0x08,
    "nvmlClocksEventReasonSwThermalSlowdown": 0x20,
    "nvmlClocksEventReasonHwThermalSlowdown": 0x40,
    "nvmlClocksEventReasonHwPowerBrakeSlowdown": 0x80,
}
_ERROR_MAP: tuple[tuple[tuple[str, ...], type[SamplerError]], ...] = (
    (("NVMLError_GpuIsLost", "NVMLError_ResetRequired"), SamplerDeviceLost),
    (("NVMLError_NoPermission",), SamplerNoPermission),
    (("NVMLError_NotSupported", "NVMLError_FunctionNotFound"), SamplerNotSupported),
    (("NVMLError_Timeout",), SamplerTimeout),
    (("NVMLError_DriverNotLoaded", "NVMLError_LibraryNotFound", "NVMLError_Uninitialized",
      "NVMLError_LibRmVersionMismatch", "NVMLError_NotFound", "NVMLError_InvalidArgument"),
     SamplerUnavailable),
)


def _nvml() -> Any:
    """The pynvml module; :class:`SamplerUnavailable` if nvidia-ml-py is not installed."""
    try:
        import pynvml
    except ImportError as exc:
        raise SamplerUnavailable("nvidia-ml-py is not installed (pip install nvidia-ml-py)") from exc
    return pynvml


def _is(nv: Any, exc: BaseException, *names: str) -> bool:
    types_ = tuple(t for n in names if isinstance(t := getattr(nv, n, None), type))
    return bool(types_) and isinstance(exc, types_)


def translate(nv: Any, exc: BaseException, what: str) -> SamplerError:
    """Map a pynvml ``NVMLError_*`` to the sampler error tree (Unknown and others: :class:`SamplerError`)."""
    for names, cls in _ERROR_MAP:
        if _is(nv, exc, *names):
            return cls(f"NVML {what}: {exc}")
    return SamplerError(f"NVML {what}: {type(exc).__name__}: {exc}")


def _call(nv: Any, what: str, fn: str, *args: Any) -> Any:
    """Call ``pynvml.<fn>(*args)``, raising NVML errors as sampler errors."""
    try:
        return getattr(nv, fn)(*args)
    except nv.NVMLError as exc:
        raise translate(nv, exc, what) from exc
    except AttributeError as exc:
        raise SamplerNotSupported(f"NVML {what}: this pynvml has no {fn}") from exc


def _cuda_index(device: str) -> int:
    m = re.fullmatch(r"\s*cuda:(\d+)\s*", device or "")
    if not m:
        raise SamplerUnavailable(f"nvml measures NVIDIA GPUs given as cuda:N, not {device!r}")
    return int(m.group(1))


@dataclass(frozen=True)
class Mapping:
    """How ``cuda:N`` was matched to an NVML handle; ``assumed`` when it rests on equal orders."""

    how: str
    assumed: bool = False
    note: str = ""


def resolve_handle(nv: Any, index: int, identity: dict[str, Any]) -> tuple[Any, Mapping]:
    """The NVML handle of ``cuda:index``: by UUID, then PCI bus id, else from the CUDA environment."""
    for key, fn in (("uuid", "nvmlDeviceGetHandleByUUID"), ("pci_bus_id", "nvmlDeviceGetHandleByPciBusId")):
        value = identity.get(key)
        if not value:
            continue
        try:
            handle = getattr(nv, fn)(str(value))
        except nv.NVMLError as exc:
            if _is(nv, exc, "NVMLError_NotFound", "NVMLError_InvalidArgument"):
                continue
            raise translate(nv, exc, f"looking up {key} {value}") from exc
        return _physical(nv, handle, Mapping(key))
    if identity.get("uuid") or identity.get("pci_bus_id"):
        raise SamplerUnavailable(
            f"cuda:{index} (uuid {identity.get('uuid')}, pci {identity.get('pci_bus_id')}) "
            "matches no GPU that NVML sees")
    return _resolve_from_env(nv, index)


def _physical(nv: Any, handle: Any, mapping: Mapping) -> tuple[Any, Mapping]:
    """A MIG slice's handle -> its physical GPU (energy and power belong to the whole GPU)."""
    try:
        if nv.nvmlDeviceIsMigDeviceHandle(handle):
            parent = nv.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(handle)
            return parent, Mapping(mapping.how + "_mig_parent", mapping.assumed, mapping.note)
    except (AttributeError, nv.NVMLError):
        pass
    return handle, mapping


def _resolve_from_env(nv: Any, index: int) -> tuple[Any, Mapping]:
    count = _call(nv, "device count", "nvmlDeviceGetCount")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    entries = [str(i) for i in range(count)] if visible is None else [e.strip() for e in visible.split(",")]
    pci_order = os.environ.get("CUDA_DEVICE_ORDER", "").strip().upper() == "PCI_BUS_ID"
    uuids: list[str] | None = None
    for position, entry in enumerate(entries):
        if entry.isdigit() and int(entry) < count:
            if position < index:
                continue
            handle = _call(nv, "device handle", "nvmlDeviceGetHandleByIndex", int(entry))
            if pci_order or count == 1:
                return handle, Mapping("index_pci_order" if pci_order else "only_gpu")
            note = (f"cuda:{index} taken as NVML GPU {entry}: CUDA_DEVICE_ORDER is FASTEST_FIRST "
                    "(the default), whose order can differ from NVML's PCI order; pass the device identity or set "
                    "CUDA_DEVICE_ORDER=PCI_BUS_ID")
            return handle, Mapping("index_assumed", True, note)
        if entry and not entry.isdigit():
            if uuids is None:
                handles = [_call(nv, "handle", "nvmlDeviceGetHandleByIndex", i) for i in range(count)]
                uuids = [str(_call(nv, "uuid", "nvmlDeviceGetUUID", h)) for h in handles]
            prefix = (entry if entry.startswith(("GPU-", "MIG-")) else "GPU-" + entry).lower()
            hits = [i for i, u in enumerate(uuids) if u.lower().startswith(prefix)]
            if len(hits) == 1:
                if position < index:
                    continue
                handle = _call(nv, "device handle", "nvmlDeviceGetHandleByIndex", hits[0])
                return handle, Mapping("cuda_visible_devices_uuid")
            if entry.startswith("MIG-") and position == index:
                handle = _call(nv, "MIG handle", "nvmlDeviceGetHandleByUUID", entry)
                return _physical(nv, handle, Mapping("cuda_visible_devices_uuid"))
        break  # CUDA ignores an entry it cannot resolve and every one after it
    raise SamplerUnavailable(
        f"cuda:{index} is not a GPU CUDA can see (NVML sees {count}; "
        f"CUDA_VISIBLE_DEVICES={visible if visible is not None else '(unset)'})")


def _field_value(nv: Any, value: Any) -> float:
    """The number in a ``c_nvmlFieldValue_t`` according to its ``valueType``."""
    member = {
        nv.NVML_VALUE_TYPE_DOUBLE: "dVal", nv.NVML_VALUE_TYPE_UNSIGNED_INT: "uiVal",
        nv.NVML_VALUE_TYPE_UNSIGNED_LONG: "ulVal", nv.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: "ullVal",
        nv.NVML_VALUE_TYPE_SIGNED_LONG_LONG: "sllVal", nv.NVML_VALUE_TYPE_SIGNED_INT: "siVal",
    }.get(value.valueType, "uiVal")
    return float(getattr(value.value, member))


def _pynvml_version(nv: Any) -> str:
    version = getattr(nv, "__version__", None)
    if version:
        return str(version)
    try:
        from importlib import metadata

        return metadata.version("nvidia-ml-py")
    except Exception:  # noqa: BLE001 - provenance only
        return "unknown"


def _averages(arch: int, name: str) -> bool:
    """Whether ``nvmlDeviceGetPowerUsage`` is a ~1 s average here (Ampere and newer except GA100)."""
    return (arch == _ARCH_UNKNOWN or arch >= _ARCH_AMPERE) and not _GA100.search(name)


class NvmlSampler(Sampler):
    """One NVIDIA GPU. Units at this edge: mJ -> J, mW -> W; degC and MHz as NVML gives them."""

    name = "nvml"

    @classmethod
    def is_available(cls, device: str) -> Availability:
        try:
            index = _cuda_index(device)
            nv = _nvml()
            _call(nv, "init", "nvmlInit")
            try:
                resolve_handle(nv, index, {})
            finally:
                _shutdown_quietly(nv)
            return Availability(True)
        except SamplerError as exc:
            return Availability(False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - never raises, by contract
            return Availability(False, f"NVML check failed: {type(exc).__name__}: {exc}")

    @classmethod
    def open(cls, device: str, identity: dict[str, Any] | None = None, clock: Clock | None = None,
             **options: Any) -> list[Sampler]:
        """Open ``device`` (``cuda:N``); ``identity`` is ``Device.identity()`` (uuid, pci_bus_id).

        Option ``power``: ``auto`` (the instant field where the GPU has it, else ``nvmlDeviceGetPowerUsage``),
        ``instant`` (the instant field or fail) or ``usage`` (``nvmlDeviceGetPowerUsage``, averaged on most GPUs).
        """
        index = _cuda_index(device)
        power = str(options.get("power") or "auto").lower()
        if power not in POWER_CHOICES:
            raise SamplerUnavailable(f"nvml option power={power!r}: choose one of {', '.join(POWER_CHOICES)}")
        nv = _nvml()
        _call(nv, "init", "nvmlInit")
        try:
            handle, mapping = resolve_handle(nv, index, identity or {})
            return [cls(nv, handle, f"cuda:{index}", mapping, clock or MonotonicClock(), power)]
        except BaseException:
            _shutdown_quietly(nv)
            raise

    @classmethod
    def open_control(cls, device: str, identity: dict[str, Any] | None = None, **options: Any) -> NvmlControl:
        """The power-limit and clock control of ``device`` (``cuda:N``), its GPU found as :meth:`open` finds it.
        NVML missing or the GPU not found -> :class:`ControlNotSupported`."""
        try:
            index = _cuda_index(device)
            nv = _nvml()
            _call(nv, "init", "nvmlInit")
        except SamplerError as exc:
            raise ControlNotSupported(f"{device}: {exc}") from None
        try:
            handle, _ = resolve_handle(nv, index, identity or {})
            info = {"name": str(_call(nv, "name", "nvmlDeviceGetName", handle)),
                    "uuid": _text(_optional_global(nv, "nvmlDeviceGetUUID", handle)),
                    "driver_version": _text(_optional_global(nv, "nvmlSystemGetDriverVersion"))}
            pci = _optional_global(nv, "nvmlDeviceGetPciInfo", handle)
            info["pci_bus_id"] = _text(getattr(pci, "busId", None))
        except SamplerError as exc:
            _shutdown_quietly(nv)
            raise ControlNotSupported(f"{device}: {exc}") from None
        return NvmlControl(nv, handle, f"cuda:{index}", info)

    def __init__(self, nv: Any, handle: Any, channel: str, mapping: Mapping, clock: Clock,
                 power: str = "auto") -> None:
        self._nv, self._handle, self.channel, self._mapping, self._clock = nv, handle, channel, mapping, clock
        self._lock = threading.Lock()
        self._closed = False
        self._extras: tuple[float | None, float | None, float | None] = (None, None, None)
        self._extras_ns: int | None = None
        self._extras_missing: set[str] = set()
        gpu_name = str(self._q("name", "nvmlDeviceGetName"))
        arch = self._optional("nvmlDeviceGetArchitecture", default=_ARCH_UNKNOWN)
        self._has_counter = self._probe_counter()
        self._power_source = self._probe_power(arch, gpu_name, power)
        self._fields = [self._power_field] if self._power_source == "instant_field" else []
        has_check = self._has_counter and self._power_source == "instant_field" and _averages(arch, gpu_name) \
            and self._probe_check_field()
        if not self._has_counter and self._power_source == "none":
            raise SamplerNotSupported(f"{gpu_name} ({channel}) gives neither an energy counter nor power")
        averaged = self._power_source == "power_usage_averaged"
        power = PowerKind.NONE if self._power_source == "none" else (
            PowerKind.AVERAGED if averaged else PowerKind.INSTANT)
        self.capabilities = Capabilities(
            energy_counter=self._has_counter, power=power, scope=Scope.GPU,
            update_period_s=ENERGY_UPDATE_S if self._has_counter else POWER_UPDATE_S,
            power_average_window_s=AVERAGE_WINDOW_S if averaged else 0.0,
            max_rate_hz=MAX_RATE_HZ, energy_tolerance=ENERGY_TOLERANCE,
            power_update_period_s=POWER_UPDATE_S if power is not PowerKind.NONE else 0.0,
            check_power_average_window_s=AVERAGE_WINDOW_S if has_check else 0.0,
            check_power_update_period_s=POWER_UPDATE_S if has_check else 0.0)
        self._info = self._provenance(gpu_name, arch)
        if has_check:
            self._info["check_power_source"] = "average_field"
        if mapping.assumed:
            log.warning("%s: %s", channel, mapping.note)

    # --- probing at open -------------------------------------------------------------------------
    def _q(self, what: str, fn: str, *args: Any) -> Any:
        return _call(self._nv, what, fn, self._handle, *args)

    def _optional(self, fn: str, *args: Any, default: Any = None) -> Any:
        """A call whose NotSupported (or absence from this pynvml) means "no such figure"."""
        try:
            return self._q(fn, fn, *args)
        except SamplerNotSupported:
            return default

    def _probe_counter(self) -> bool:
        return self._optional("nvmlDeviceGetTotalEnergyConsumption") is not None

    def _probe_power(self, arch: int, gpu_name: str, choice: str = "auto") -> str:
        nv = self._nv
        field_id = getattr(nv, "NVML_FI_DEV_POWER_INSTANT", None)
        if field_id is not None and choice != "usage":
            self._power_field = (field_id, getattr(nv, "NVML_POWER_SCOPE_GPU", 0))
            try:
                value = nv.nvmlDeviceGetFieldValues(self._handle, [self._power_field])[0]
                if value.nvmlReturn == nv.NVML_SUCCESS and _field_value(nv, value) > 0:
                    return "instant_field"
            except nv.NVMLError as exc:
                if not _is(nv, exc, "NVMLError_NotSupported", "NVMLError_FunctionNotFound",
                           "NVMLError_InvalidArgument"):
                    raise translate(nv, exc, "instant power field") from exc
        if choice == "instant":
            raise SamplerNotSupported(f"{gpu_name} ({self.channel}) has no instant-power field (power=instant)")
        if self._optional("nvmlDeviceGetPowerUsage") is None:
            return "none"
        return "power_usage_averaged" if _averages(arch, gpu_name) else "power_usage_instant"

    def _probe_check_field(self) -> bool:
        """Whether ``NVML_FI_DEV_POWER_AVERAGE`` (the 1 s average, as ``nvmlDeviceGetPowerUsage`` gives it here)
        comes in the same field-values call as the instant field: it is then read beside it at no extra call, to
        check the counter against a figure that covers all of the time (the instant field samples part of each
        refresh period, and a load in step with that period is caught, or missed, every time)."""
        nv = self._nv
        field_id = getattr(nv, "NVML_FI_DEV_POWER_AVERAGE", None)
        if field_id is None:
            return False
        field = (field_id, getattr(nv, "NVML_POWER_SCOPE_GPU", 0))
        try:
            values = nv.nvmlDeviceGetFieldValues(self._handle, [self._power_field, field])
        except nv.NVMLError as exc:  # the check figure is optional: it never stops the channel from opening
            log.debug("%s: no average power field beside the instant one (%s)", self.channel, exc)
            return False
        if len(values) < 2 or values[1].nvmlReturn != nv.NVML_SUCCESS or not _field_value(nv, values[1]) > 0:
            return False
        self._fields.append(field)
        return True

    def _provenance(self, gpu_name: str, arch: int) -> dict[str, Any]:
        nv = self._nv
        pci = self._optional("nvmlDeviceGetPciInfo")
        arch_names = {getattr(nv, n): n.replace("NVML_DEVICE_ARCH_", "").lower()
                      for n in dir(nv) if n.startswith("NVML_DEVICE_ARCH_")}
        info = {
            "sampler": self.name, "channel": self.channel, "name": gpu_name,
            "uuid": self._optional("nvmlDeviceGetUUID"),
            "pci_bus_id": getattr(pci, "busId", None) if pci is not None else None,
            "driver_version": _text(_optional_global(nv, "nvmlSystemGetDriverVersion")),
            "nvml_version": _text(_optional_global(nv, "nvmlSystemGetNVMLVersion")),
            "pynvml_version": _pynvml_version(nv),
            "architecture": arch_names.get(arch, str(arch)),
            "energy_source": "counter" if self._has_counter else "integrated_power",
            "power_source": self._power_source,
            "mapping": self._mapping.how, "mapping_assumed": self._mapping.assumed,
        }
        if self._mapping.assumed:
            info["mapping_warning"] = self._mapping.note
        return info

    # --- the contract ------------------------------------------------------------------------------
    def read(self) -> Reading:
        with self._lock:
            if self._closed:
                raise SamplerUnavailable(f"{self.channel}: sampler is closed")
            try:
                reading = Reading()
                if self._has_counter:
                    reading.energy_j = self._q("energy", "nvmlDeviceGetTotalEnergyConsumption") / 1000.0
                reading.power_w = self._read_power_w(reading)
                reading.temperature_c, reading.clock_mhz, reading.power_limit_w = self._read_extras()
                return reading
            except SamplerError:
                raise
            except Exception as exc:  # only the error tree leaves read()
                raise SamplerError(f"{self.channel}: NVML read failed: {type(exc).__name__}: {exc}") from exc

    def _read_power_w(self, reading: Reading) -> float | None:
        nv = self._nv
        if self._power_source == "instant_field":
            values = self._q("instant power", "nvmlDeviceGetFieldValues", self._fields)
            value = values[0]
            if value.nvmlReturn != nv.NVML_SUCCESS:
                raise translate(nv, nv.NVMLError(value.nvmlReturn), "instant power field")
            milliwatts = _field_value(nv, value)
            if len(values) > 1 and values[1].nvmlReturn == nv.NVML_SUCCESS:  # the check figure (a miss: none)
                check = _field_value(nv, values[1])
                reading.check_power_w = finite_or_none(check / 1000.0) if check > 0 else None
        elif self._power_source == "none":
            return None
        else:
            milliwatts = float(self._q("power", "nvmlDeviceGetPowerUsage"))
        # a GPU never draws 0 W: 0 means "no fresh value" (seen when polling faster than the update)
        return finite_or_none(milliwatts / 1000.0) if milliwatts > 0 else None

    def _read_extras(self) -> tuple[float | None, float | None, float | None]:
        now = self._clock.now_ns()
        if self._extras_ns is not None and now - self._extras_ns < EXTRAS_PERIOD_S * 1e9:
            return self._extras
        nv = self._nv
        temp = self._extra("nvmlDeviceGetTemperature", getattr(nv, "NVML_TEMPERATURE_GPU", 0))
        clock = self._extra("nvmlDeviceGetClockInfo", getattr(nv, "NVML_CLOCK_SM", 1))
        limit = self._extra("nvmlDeviceGetEnforcedPowerLimit")
        self._extras = (temp, clock, None if limit is None else limit / 1000.0)
        self._extras_ns = now
        return self._extras

    def _extra(self, fn: str, *args: Any) -> float | None:
        if fn in self._extras_missing:
            return None
        value = self._optional(fn, *args)
        if value is None:
            self._extras_missing.add(fn)
            return None
        return finite_or_none(value)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        _shutdown_quietly(self._nv)

    def describe(self) -> dict[str, Any]:
        return {**self._info, "capabilities": self.capabilities.to_dict()}

    def health(self) -> list[dict[str, str]]:
        with self._lock:
            if self._closed:
                return []
            items: list[dict[str, str]] = []
            if self._mapping.assumed:
                items.append({"code": "mapping_assumed", "message": self._mapping.note, "scope": "run"})
            for check in (self._check_mig, self._check_processes, self._check_throttle):
                try:
                    item = check()
                except SamplerNotSupported:
                    continue
                except SamplerError as exc:
                    item = {"code": "health_unavailable", "message": f"{self.channel}: {exc}", "scope": "run"}
                if item:
                    items.append(item)
            return items

    def _check_mig(self) -> dict[str, str] | None:
        current = self._q("MIG mode", "nvmlDeviceGetMigMode")[0]
        if current == getattr(self._nv, "NVML_DEVICE_MIG_ENABLE", 1):
            return {"code": "mig_enabled", "message": f"{self.channel} is in MIG mode: the GPU's energy "
                    "covers every slice and cannot be attributed to one"}
        return None

    def _check_processes(self) -> dict[str, str] | None:
        own = os.getpid()
        procs = self._q("processes", "nvmlDeviceGetComputeRunningProcesses")
        pids = sorted({int(p.pid) for p in procs} - {own})
        if not pids:
            return None
        shown = ", ".join(map(str, pids[:5])) + (" ..." if len(pids) > 5 else "")
        return {"code": "other_processes", "message": f"{len(pids)} other process(es) compute on "
                f"{self.channel} (pid {shown}); their energy is counted too"}

    def _check_throttle(self) -> dict[str, str] | None:
        try:
            reasons = self._q("clock events", "nvmlDeviceGetCurrentClocksEventReasons")
        except SamplerNotSupported:
            reasons = self._q("clock events", "nvmlDeviceGetCurrentClocksThrottleReasons")
        hit = [n.replace("nvmlClocksEventReason", "") for n, bit in _THROTTLE_BITS.items()
               if int(reasons) & int(getattr(self._nv, n, bit))]
        if not hit:
            return None
        return {"code": "throttled", "message": f"{self.channel} clocks are slowed down: {', '.join(hit)}"}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _optional_global(nv: Any, fn: str, *args: Any) -> Any:
    try:
        return getattr(nv, fn)(*args)
    except (AttributeError, nv.NVMLError):
        return None


def _shutdown_quietly(nv: Any) -> None:
    try:
        nv.nvmlShutdown()
    except Exception as exc:  # noqa: BLE001 - closing never fails the run
        log.debug("nvmlShutdown failed: %s", exc)
