"""An NVIDIA GPU's power limit and SM clocks through NVML, for sweeps (the control contract,
:mod:`bench.control.base`). Opened by :meth:`bench.samplers.nvml.NvmlSampler.open_control`, which finds the GPU's
handle the way the sampler does (by UUID, then PCI bus id).

- power limit: ``nvmlDeviceGetPowerManagementLimitConstraints`` (the range), ``nvmlDeviceGetPowerManagementLimit``
  and ``nvmlDeviceSetPowerManagementLimit``, all in mW (converted here, once);
- SM clocks: ``nvmlDeviceGetSupportedGraphicsClocks`` at the highest memory clock, ``nvmlDeviceSetGpuLockedClocks``
  and ``nvmlDeviceResetGpuLockedClocks`` (MHz; Volta and newer). NVML has no call that reads a lock someone else
  set: restoring clocks means resetting them to the driver's default.

Every setter needs root: NVML answers ``NVMLError_NoPermission`` otherwise, which becomes one line naming that.
Settings survive the process (until set back, a driver reload or a reboot); the sweep puts the originals back.
"""

from __future__ import annotations

import logging
from typing import Any

from bench.control.base import (
    ClockLock,
    ControlError,
    ControlNoPermission,
    ControlNotSupported,
    LibraryControl,
    PowerLimitRange,
)

log = logging.getLogger(__name__)

PRIVILEGE = "root: NVML lets only root change a GPU's power limit or clocks (run it with sudo, or ask an administrator)"


class NvmlControl(LibraryControl):
    """Power limit (W) and SM clock lock (MHz) of one NVIDIA GPU. ``nv`` is the initialised pynvml module (this
    object owns one ``nvmlInit`` and shuts it down on :meth:`close`), ``handle`` the GPU's NVML handle."""

    backend = "nvml"
    clock_lock_readable = False

    def __init__(self, nv: Any, handle: Any, device: str, info: dict[str, Any]) -> None:
        super().__init__(device, info)
        self._nv, self._handle = nv, handle

    # --- calls ------------------------------------------------------------------------------------
    def _q(self, what: str, fn: str, *args: Any) -> Any:
        """``pynvml.<fn>(handle, *args)`` with NVML's errors as control errors naming ``what``."""
        nv = self._nv
        if self._closed:
            raise ControlError(f"{self.device}: the NVML control is closed")
        try:
            return getattr(nv, fn)(self._handle, *args)
        except AttributeError:
            raise ControlNotSupported(f"{self.device}: this nvidia-ml-py has no {fn} (upgrade nvidia-ml-py)") from None
        except nv.NVMLError as exc:
            raise self._translate(exc, what) from None

    def _translate(self, exc: BaseException, what: str) -> ControlError:
        nv = self._nv
        name = self._info.get("name", "GPU")

        def is_(*names: str) -> bool:
            types_ = tuple(t for n in names if isinstance(t := getattr(nv, n, None), type))
            return bool(types_) and isinstance(exc, types_)

        if is_("NVMLError_NoPermission"):
            return ControlNoPermission(f"{self.device}: {what} needs {PRIVILEGE}")
        if is_("NVMLError_NotSupported", "NVMLError_FunctionNotFound"):
            return ControlNotSupported(f"{self.device} ({name}): {what} is not supported on this GPU (NVML: {exc})")
        if is_("NVMLError_InvalidArgument"):
            return ControlError(f"{self.device}: NVML rejected {what}: invalid argument")
        if is_("NVMLError_GpuIsLost"):
            return ControlError(f"{self.device}: the GPU fell off the bus during {what}")
        return ControlError(f"{self.device}: NVML {what} failed: {type(exc).__name__}: {exc}")

    # --- power limit ------------------------------------------------------------------------------
    def power_limit_range(self) -> PowerLimitRange:
        low_mw, high_mw = self._q("reading the power limit range", "nvmlDeviceGetPowerManagementLimitConstraints")
        try:
            default_w: float | None = self._q("reading the default power limit",
                                              "nvmlDeviceGetPowerManagementDefaultLimit") / 1000.0
        except ControlNotSupported:
            default_w = None
        return PowerLimitRange(min_w=low_mw / 1000.0, max_w=high_mw / 1000.0, default_w=default_w)

    def get_power_limit_w(self) -> float:
        return self._q("reading the power limit", "nvmlDeviceGetPowerManagementLimit") / 1000.0

    def set_power_limit_w(self, watts: float) -> None:
        self._check_in_range(watts)
        with self._lock:
            self._q("setting the power limit", "nvmlDeviceSetPowerManagementLimit", int(round(watts * 1000)))

    # --- clocks -----------------------------------------------------------------------------------
    def supported_sm_clocks_mhz(self) -> list[int]:
        memory = self._q("reading the supported memory clocks", "nvmlDeviceGetSupportedMemoryClocks")
        if not memory:
            raise ControlNotSupported(f"{self.device}: NVML lists no supported memory clock")
        clocks = self._q("reading the supported SM clocks", "nvmlDeviceGetSupportedGraphicsClocks", max(memory))
        return sorted({int(c) for c in clocks}, reverse=True)

    def get_sm_clock_lock(self) -> ClockLock | None:
        return None  # NVML has no query for a lock in force

    def lock_sm_clocks(self, min_mhz: int, max_mhz: int) -> None:
        with self._lock:
            self._q("locking the SM clocks", "nvmlDeviceSetGpuLockedClocks", int(min_mhz), int(max_mhz))

    def reset_sm_clocks(self) -> None:
        with self._lock:
            self._q("resetting the SM clocks", "nvmlDeviceResetGpuLockedClocks")

    # --- the rest ---------------------------------------------------------------------------------
    def shut_down(self) -> None:
        self._nv.nvmlShutdown()
