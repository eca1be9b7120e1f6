"""AMD Instinct GPUs through ``amdsmi``, the Python package of AMD SMI (ships with ROCm).

On a ROCm build of torch an AMD GPU is a ``cuda`` device (HIP keeps the CUDA names), so a lab runs
``bench run --device cuda:0 --sampler amdsmi`` (``cuda`` lists ``amdsmi`` after ``nvml`` among its
default samplers, so ``--sampler`` may be left out: NVML is absent on such a machine). ``cuda:N`` is
matched to its amdsmi handle by PCI address (``Device.identity()["pci_bus_id"]``), else by UUID,
else by position under ``HIP_VISIBLE_DEVICES`` / ``CUDA_VISIBLE_DEVICES`` / ``ROCR_VISIBLE_DEVICES``
(assumed, and recorded as such: amdsmi's order is not guaranteed to be HIP's).

Units at this edge: the energy count is ``accumulator x counter_resolution`` uJ -> J (the key is
``energy_accumulator`` from ROCm 6.2.1, ``power`` before); socket power is whole W; the power
cap is uW. Quirks handled: ``"N/A"`` for a figure the GPU lacks (the current value on MI100/MI210,
the average on MI300X), 0 W meaning "no value", an MI250's odd die reporting nothing (its figures
are on the even die, which then covers both: reported in ``health()``), and counters that do not
move or run at the wrong rate: at open the counter is checked against power over
``counter_check_s`` and dropped (energy integrated from power instead) outside 0.1-10x, as Zeus does.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

from bench.clock import Clock, MonotonicClock
from bench.errors import ControlNotSupported
from bench.samplers.amdsmi_control import AmdSmiControl
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
)

log = logging.getLogger(__name__)

UPDATE_PERIOD_S = 0.01  # conservative: the SMU refreshes its metrics about every millisecond
MAX_RATE_HZ = 100.0
ENERGY_TOLERANCE = 0.05
AVERAGE_WINDOW_S = 1.0  # assumed: AMD does not document the averaging window
EXTRAS_PERIOD_S = 0.5
COUNTER_CHECK_S = 0.25
COUNTER_RATIO = (0.1, 10.0)
POWER_KEYS = (("current_socket_power", PowerKind.INSTANT), ("average_socket_power", PowerKind.AVERAGED),
              ("socket_power", PowerKind.AVERAGED))
# amdsmi_status_t codes -> the contract's errors (the rest: SamplerError)
_NOT_SUPPORTED, _NO_PERM, _TIMEOUT = {2, 3}, {10}, {8, 9, 30}
_LOST = {6, 12, 14, 31}  # DRM_ERROR, IO, FILE_ERROR, NOT_FOUND: the device went away (during a read)
_UNAVAILABLE = {4, 5, 18, 32}  # FAIL_LOAD_MODULE/SYMBOL, INIT_ERROR, NOT_INIT


def _amdsmi() -> Any:
    """The amdsmi module (it prints to stdout when its library is missing: silenced)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import amdsmi
    except ImportError:
        raise SamplerUnavailable("the amdsmi package is not installed (it ships with ROCm: "
                                 "pip install /opt/rocm/share/amd_smi)") from None
    except (OSError, AttributeError, KeyError) as exc:
        raise SamplerUnavailable(f"amdsmi cannot load its library ({type(exc).__name__}: {exc}); "
                                 "is ROCm installed and ROCM_PATH set?") from None
    return amdsmi


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "err_code", None)
    if code is None and callable(getattr(exc, "get_error_code", None)):
        code = exc.get_error_code()
    return int(code) if code is not None else None


def translate(exc: BaseException, what: str, reading: bool = False) -> SamplerError:
    """An amdsmi exception as the contract's error."""
    code = _code(exc)
    text = f"amdsmi {what}: {exc}"
    if code in _NOT_SUPPORTED:
        return SamplerNotSupported(text)
    if code in _NO_PERM:
        return SamplerNoPermission(text + " (run as a user in the 'render' and 'video' groups)")
    if code in _TIMEOUT:
        return SamplerTimeout(text)
    if code in _LOST:
        return SamplerDeviceLost(text) if reading else SamplerUnavailable(text)
    if code in _UNAVAILABLE:
        return SamplerUnavailable(text + " (is the amdgpu driver loaded?)")
    return SamplerError(text)


def _call(smi: Any, what: str, fn: str, *args: Any, reading: bool = False) -> Any:
    func = getattr(smi, fn, None)
    if func is None:
        raise SamplerNotSupported(f"this amdsmi has no {fn}")
    try:
        return func(*args)
    except getattr(smi, "AmdSmiException", Exception) as exc:
        raise translate(exc, what, reading) from exc


def _watts(value: Any) -> float | None:
    """A socket-power figure in W, or None for "N/A", a C sentinel or 0 (no value: a GPU never draws 0 W)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    if not math.isfinite(value) or value <= 0 or value in (0xFFFF, 0xFFFFFFFF):
        return None
    return value


def _pci_key(text: Any) -> tuple[int, int, int, int] | None:
    m = re.fullmatch(r"\s*(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])\s*", str(text or ""))
    if not m:
        return None
    return int(m.group(1) or "0", 16), int(m.group(2), 16), int(m.group(3), 16), int(m.group(4))


def _uuid_key(text: Any) -> str:
    return re.sub(r"[^0-9a-f]", "", str(text or "").lower().removeprefix("gpu-"))


def _cuda_index(device: str) -> int:
    m = re.fullmatch(r"\s*cuda(?::(\d+))?\s*", device.lower())
    if not m:
        raise SamplerUnavailable(f"amdsmi measures AMD GPUs, seen by a ROCm torch as cuda:N, not {device!r}")
    return int(m.group(1) or 0)


@dataclass(frozen=True)
class Mapping:
    how: str
    assumed: bool = False


def _visible(count: int) -> list[int]:
    """amdsmi indices of the GPUs HIP shows, in HIP order (ROCR, then HIP or CUDA visibility)."""
    order = list(range(count))
    for var in ("ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES" if "HIP_VISIBLE_DEVICES" in os.environ
                else "CUDA_VISIBLE_DEVICES"):
        raw = os.environ.get(var)
        if raw is None:
            continue
        picked = []
        for entry in raw.split(","):
            if not entry.strip().isdigit() or int(entry) >= len(order):
                break
            picked.append(order[int(entry)])
        order = picked
    return order


def resolve(smi: Any, index: int, identity: dict[str, Any]) -> tuple[Any, int, Mapping]:
    """The amdsmi handle (and its index) of ``cuda:index`` by PCI address, else UUID, else position."""
    handles = _call(smi, "processor handles", "amdsmi_get_processor_handles")
    if not handles:
        raise SamplerUnavailable("amdsmi sees no AMD GPU")
    want_pci = _pci_key(identity.get("pci_bus_id"))
    if want_pci is not None:
        for i, h in enumerate(handles):
            if _pci_key(_call(smi, "PCI address", "amdsmi_get_gpu_device_bdf", h)) == want_pci:
                return h, i, Mapping("pci_bus_id")
    want_uuid = _uuid_key(identity.get("uuid"))
    if want_uuid:
        for i, h in enumerate(handles):
            if _uuid_key(_call(smi, "UUID", "amdsmi_get_gpu_device_uuid", h)) == want_uuid:
                return h, i, Mapping("uuid")
    if want_pci is not None or want_uuid:
        raise SamplerUnavailable(f"cuda:{index} ({identity.get('pci_bus_id') or identity.get('uuid')}) "
                                 "is not among the GPUs amdsmi sees")
    order = _visible(len(handles))
    if index >= len(order):
        raise SamplerUnavailable(f"cuda:{index} is not a GPU HIP can see (amdsmi sees {len(handles)})")
    return handles[order[index]], order[index], Mapping("index", assumed=True)


class AmdSmiSampler(Sampler):
    """One AMD GPU (or MI250 card through its even die): energy counter and socket power."""

    name = "amdsmi"

    @classmethod
    def is_available(cls, device: str) -> Availability:
        try:
            index = _cuda_index(device)
            smi = _amdsmi()
            _call(smi, "init", "amdsmi_init", *_init_flag(smi))
            try:
                resolve(smi, index, {})
            finally:
                _shutdown_quietly(smi)
            return Availability(True)
        except SamplerError as exc:
            return Availability(False, str(exc).splitlines()[0] or type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - never raises, by contract
            return Availability(False, f"amdsmi check failed: {type(exc).__name__}: {exc}")

    @classmethod
    def open(cls, device: str, identity: dict[str, Any] | None = None, clock: Clock | None = None,
             counter_check_s: float = COUNTER_CHECK_S, **options: Any) -> list[Sampler]:
        """Open ``cuda:N``. ``identity``: ``Device.identity()``; ``counter_check_s``: 0 skips the counter check."""
        index = _cuda_index(device)
        smi = _amdsmi()
        _call(smi, "init", "amdsmi_init", *_init_flag(smi))
        try:
            handle, amd_index, mapping = resolve(smi, index, identity or {})
            return [cls(smi, handle, amd_index, f"cuda:{index}", mapping, clock or MonotonicClock(),
                        float(counter_check_s))]
        except BaseException:
            _shutdown_quietly(smi)
            raise

    @classmethod
    def open_control(cls, device: str, identity: dict[str, Any] | None = None, **options: Any) -> AmdSmiControl:
        """The power-cap and clock control of ``device`` (``cuda:N`` on ROCm), its GPU found as :meth:`open` finds
        it. amdsmi missing or the GPU not found -> :class:`ControlNotSupported`."""
        try:
            index = _cuda_index(device)
            smi = _amdsmi()
            _call(smi, "init", "amdsmi_init", *_init_flag(smi))
        except SamplerError as exc:
            raise ControlNotSupported(f"{device}: {exc}") from None
        try:
            handle, amd_index, _ = resolve(smi, index, identity or {})
            info: dict[str, Any] = {"amdsmi_index": amd_index}
            for key, fn in (("uuid", "amdsmi_get_gpu_device_uuid"), ("pci_bus_id", "amdsmi_get_gpu_device_bdf"),
                            ("perf_level_at_open", "amdsmi_get_gpu_perf_level")):
                with contextlib.suppress(SamplerError):
                    info[key] = str(_call(smi, key, fn, handle))
            info["name"] = str(_call(smi, "ASIC info", "amdsmi_get_gpu_asic_info", handle).get("market_name", "AMD GPU"))
        except SamplerError as exc:
            _shutdown_quietly(smi)
            raise ControlNotSupported(f"{device}: {exc}") from None
        return AmdSmiControl(smi, handle, f"cuda:{index}", info)

    def __init__(self, smi: Any, handle: Any, amd_index: int, channel: str, mapping: Mapping, clock: Clock,
                 counter_check_s: float) -> None:
        self._smi, self._handle, self._amd_index, self.channel = smi, handle, amd_index, channel
        self._mapping, self._clock = mapping, clock
        self._lock = threading.Lock()
        self._closed = False
        self._extras: tuple[float | None, float | None] = (None, None)
        self._extras_ns: int | None = None
        self.gpu_name = str(self._q("ASIC info", "amdsmi_get_gpu_asic_info").get("market_name", "AMD GPU"))
        self.dual_die = bool(re.search(r"\bMI250X?\b", self.gpu_name))
        self._power_key, power_kind = self._probe_power()
        self._counter_key, self._resolution_uj = self._probe_counter()
        self.counter_note = ""
        if self._counter_key and counter_check_s > 0:
            self._check_counter(counter_check_s)
        if self._counter_key is None and self._power_key is None:
            raise SamplerNotSupported(self._nothing_message())
        self.capabilities = Capabilities(
            energy_counter=self._counter_key is not None, power=power_kind, scope=Scope.GPU,
            update_period_s=UPDATE_PERIOD_S, max_rate_hz=MAX_RATE_HZ, energy_tolerance=ENERGY_TOLERANCE,
            power_average_window_s=AVERAGE_WINDOW_S if power_kind is PowerKind.AVERAGED else 0.0)
        self._info = self._provenance()

    # --- probing at open -------------------------------------------------------------------------
    def _q(self, what: str, fn: str, *args: Any, reading: bool = False) -> Any:
        return _call(self._smi, what, fn, self._handle, *args, reading=reading)

    def _probe_power(self) -> tuple[str | None, PowerKind]:
        info = self._q("power info", "amdsmi_get_power_info")
        for key, kind in POWER_KEYS:
            if _watts(info.get(key)) is not None:
                return key, kind
        return None, PowerKind.NONE

    def _probe_counter(self) -> tuple[str | None, float]:
        try:
            data = self._q("energy count", "amdsmi_get_energy_count")
        except SamplerNotSupported:
            return None, 0.0
        key = "energy_accumulator" if "energy_accumulator" in data else "power" if "power" in data else None
        resolution = float(data.get("counter_resolution") or 0.0)
        if key is None or not resolution > 0:
            return None, 0.0
        return key, resolution

    def _energy_uj(self) -> float:
        data = self._q("energy count", "amdsmi_get_energy_count", reading=True)
        return float(data[self._counter_key]) * self._resolution_uj

    def _power_w(self) -> float | None:
        return _watts(self._q("power info", "amdsmi_get_power_info", reading=True).get(self._power_key))

    def _check_counter(self, seconds: float) -> None:
        """Drop a counter that does not follow power x time (or, with no power to compare, does not move)."""
        e0, p0 = self._energy_uj(), self._power_w() if self._power_key else None
        self._clock.sleep(seconds)
        e1, p1 = self._energy_uj(), self._power_w() if self._power_key else None
        watts = [p for p in (p0, p1) if p is not None]
        if not watts:
            if e1 <= e0:
                self.counter_note = f"energy counter did not move in {seconds:g} s and there is no power reading"
                log.warning("%s: %s", self.channel, self.counter_note)
                self._counter_key = None
            return
        expected_uj = sum(watts) / len(watts) * seconds * 1e6
        ratio = (e1 - e0) / expected_uj
        if not COUNTER_RATIO[0] < ratio < COUNTER_RATIO[1]:
            self.counter_note = (f"energy counter moved {ratio:.3g}x what power x time gives over {seconds:g} s "
                                 "(ROCm/amdsmi issue #38): energy integrated from power instead")
            log.warning("%s: %s", self.channel, self.counter_note)
            self._counter_key = None

    def _nothing_message(self) -> str:
        if self.dual_die and self._amd_index % 2 == 1:
            return (f"{self.channel} is the second die of an {self.gpu_name} (amdsmi GPU {self._amd_index}): it reports "
                    f"no power; the card's figures are on amdsmi GPU {self._amd_index - 1}, covering both dies. "
                    "Measure the even die's cuda device instead")
        return f"{self.gpu_name} ({self.channel}) gives neither a usable energy counter nor power"

    def _provenance(self) -> dict[str, Any]:
        def optional(fn: str) -> Any:
            try:
                return _call(self._smi, fn, fn, *(() if fn == "amdsmi_get_lib_version" else (self._handle,)))
            except SamplerError:
                return None

        driver = optional("amdsmi_get_gpu_driver_info") or {}
        return {
            "sampler": self.name, "channel": self.channel, "name": self.gpu_name, "amdsmi_index": self._amd_index,
            "uuid": optional("amdsmi_get_gpu_device_uuid"), "pci_bus_id": optional("amdsmi_get_gpu_device_bdf"),
            "driver_version": driver.get("driver_version"), "amdsmi_version": str(optional("amdsmi_get_lib_version")),
            "energy_source": "counter" if self._counter_key else "integrated_power",
            "counter_key": self._counter_key, "counter_resolution_uj": self._resolution_uj or None,
            "counter_check": self.counter_note or "passed or not needed", "power_source": self._power_key,
            "mapping": self._mapping.how, "mapping_assumed": self._mapping.assumed,
            "covers_both_dies": self.dual_die,
        }

    # --- the contract ------------------------------------------------------------------------------
    def read(self) -> Reading:
        with self._lock:
            if self._closed:
                raise SamplerUnavailable(f"{self.channel}: sampler is closed")
            try:
                reading = Reading()
                if self._counter_key:
                    reading.energy_j = self._energy_uj() / 1e6
                if self._power_key:
                    reading.power_w = self._power_w()
                reading.temperature_c, reading.power_limit_w = self._read_extras()
                return reading
            except SamplerError:
                raise
            except Exception as exc:  # only the error tree leaves read()
                raise SamplerError(f"{self.channel}: amdsmi read failed: {type(exc).__name__}: {exc}") from exc

    def _read_extras(self) -> tuple[float | None, float | None]:
        now = self._clock.now_ns()
        if self._extras_ns is not None and now - self._extras_ns < EXTRAS_PERIOD_S * 1e9:
            return self._extras
        smi, temp, limit = self._smi, None, None
        with contextlib.suppress(SamplerNotSupported, AttributeError):
            temp = float(self._q("temperature", "amdsmi_get_temp_metric", smi.AmdSmiTemperatureType.HOTSPOT,
                                 smi.AmdSmiTemperatureMetric.CURRENT, reading=True))
        with contextlib.suppress(SamplerNotSupported):
            cap = self._q("power cap", "amdsmi_get_power_cap_info", reading=True).get("power_cap")
            limit = float(cap) / 1e6 if isinstance(cap, (int, float)) and cap > 0 else None
        self._extras, self._extras_ns = (temp, limit), now
        return self._extras

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        _shutdown_quietly(self._smi)

    def describe(self) -> dict[str, Any]:
        return {**self._info, "capabilities": self.capabilities.to_dict()}

    def health(self) -> list[dict[str, str]]:
        items = []
        if self.dual_die:
            items.append({"code": "dual_die", "message": f"{self.channel} is one die of an {self.gpu_name}: its "
                          "figures cover both dies of the card, so work on the other die is counted too"})
        if self._mapping.assumed:
            items.append({"code": "mapping_assumed", "message": f"{self.channel} matched to amdsmi GPU "
                          f"{self._amd_index} by position; pass the device identity (PCI address) to be sure",
                          "scope": "run"})
        if self.counter_note:
            items.append({"code": "counter_disabled", "message": self.counter_note, "scope": "run"})
        return items


def _init_flag(smi: Any) -> tuple[Any, ...]:
    flags = getattr(smi, "AmdSmiInitFlags", None)
    return (flags.INIT_AMD_GPUS,) if flags is not None and hasattr(flags, "INIT_AMD_GPUS") else ()


def _shutdown_quietly(smi: Any) -> None:
    try:
        smi.amdsmi_shut_down()
    except Exception as exc:  # noqa: BLE001 - closing never fails the run
        log.debug("amdsmi_shut_down failed: %s", exc)
