"""An AMD GPU's power cap and system clock (SCLK) range through amdsmi, for sweeps (the control contract,
:mod:`bench.control.base`). Opened by :meth:`bench.samplers.amdsmi.AmdSmiSampler.open_control`, which finds the
GPU's handle the way the sampler does (by PCI address, then UUID).

- power cap: ``amdsmi_get_power_cap_info`` (``min_power_cap``/``max_power_cap``/``default_power_cap``, uW) and
  ``amdsmi_set_power_cap(handle, 0, cap_uw)`` (converted here, once);
- clocks: ``amdsmi_get_clk_freq(handle, SYS)`` lists the supported levels in Hz; ``amdsmi_set_gpu_clk_range``
  (MHz; ``amdsmi_set_gpu_clk_limit`` where the range call is gone) puts the GPU in the MANUAL performance level
  with that range; resetting sets the performance level back to AUTO. amdsmi reads the performance level but not
  the range a lock holds, so a lock someone else set cannot be put back as it was.

Setters need root: amdsmi answers ``AMDSMI_STATUS_NO_PERM`` (10) otherwise, which becomes one line naming that.
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

PRIVILEGE = "root: amdsmi lets only root change a GPU's power cap or clocks (run it with sudo, or ask an administrator)"
NO_PERM, INVAL, NOT_SUPPORTED = 10, 1, {2, 3}


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "err_code", None)
    if code is None and callable(getattr(exc, "get_error_code", None)):
        code = exc.get_error_code()
    return int(code) if code is not None else None


class AmdSmiControl(LibraryControl):
    """Power cap (W) and SCLK range (MHz) of one AMD GPU. ``smi`` is the initialised amdsmi module (this object
    owns one ``amdsmi_init`` and shuts it down on :meth:`close`)."""

    backend = "amdsmi"
    clock_lock_readable = False

    def __init__(self, smi: Any, handle: Any, device: str, info: dict[str, Any]) -> None:
        super().__init__(device, info)
        self._smi, self._handle = smi, handle

    def _q(self, what: str, fn: str, *args: Any) -> Any:
        smi = self._smi
        if self._closed:
            raise ControlError(f"{self.device}: the amdsmi control is closed")
        func = getattr(smi, fn, None)
        if func is None:
            raise ControlNotSupported(f"{self.device}: this amdsmi has no {fn}")
        try:
            return func(self._handle, *args)
        except getattr(smi, "AmdSmiException", Exception) as exc:
            code = _code(exc)
            if code == NO_PERM:
                raise ControlNoPermission(f"{self.device}: {what} needs {PRIVILEGE}") from None
            if code in NOT_SUPPORTED:
                raise ControlNotSupported(f"{self.device} ({self._info.get('name', 'GPU')}): {what} is not supported "
                                          f"on this GPU (amdsmi: {exc})") from None
            if code == INVAL:
                raise ControlError(f"{self.device}: amdsmi rejected {what}: invalid argument") from None
            raise ControlError(f"{self.device}: amdsmi {what} failed: {exc}") from None

    # --- power cap --------------------------------------------------------------------------------
    def _cap_info(self) -> dict[str, Any]:
        return self._q("reading the power cap", "amdsmi_get_power_cap_info")

    def power_limit_range(self) -> PowerLimitRange:
        info = self._cap_info()
        default = info.get("default_power_cap", info.get("power_cap_default"))
        low, high = info.get("min_power_cap"), info.get("max_power_cap")
        if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or not 0 < low <= high:
            raise ControlNotSupported(f"{self.device}: amdsmi reports no power cap range ({low}, {high})")
        return PowerLimitRange(min_w=low / 1e6, max_w=high / 1e6,
                               default_w=default / 1e6 if isinstance(default, (int, float)) and default > 0 else None)

    def get_power_limit_w(self) -> float:
        cap = self._cap_info().get("power_cap")
        if not isinstance(cap, (int, float)) or cap <= 0:
            raise ControlNotSupported(f"{self.device}: amdsmi reports no power cap")
        return cap / 1e6

    def set_power_limit_w(self, watts: float) -> None:
        self._check_in_range(watts, "power cap")
        with self._lock:
            self._q("setting the power cap", "amdsmi_set_power_cap", 0, int(round(watts * 1e6)))

    # --- clocks -----------------------------------------------------------------------------------
    def supported_sm_clocks_mhz(self) -> list[int]:
        freq = self._q("reading the supported clocks", "amdsmi_get_clk_freq", self._smi.AmdSmiClkType.SYS)
        hz = list(freq.get("frequency", []))[: int(freq.get("num_supported", 0))]
        return sorted({int(round(f / 1e6)) for f in hz if f}, reverse=True)

    def get_sm_clock_lock(self) -> ClockLock | None:
        return None  # amdsmi reads the performance level, not the range of a lock

    def lock_sm_clocks(self, min_mhz: int, max_mhz: int) -> None:
        smi = self._smi
        with self._lock:
            if hasattr(smi, "amdsmi_set_gpu_clk_range"):
                self._q("locking the clocks", "amdsmi_set_gpu_clk_range", int(min_mhz), int(max_mhz),
                        smi.AmdSmiClkType.SYS)
            else:  # newer amdsmi: one limit at a time
                self._q("locking the clocks", "amdsmi_set_gpu_clk_limit", "sclk", "min", int(min_mhz))
                self._q("locking the clocks", "amdsmi_set_gpu_clk_limit", "sclk", "max", int(max_mhz))

    def reset_sm_clocks(self) -> None:
        with self._lock:
            self._q("resetting the clocks", "amdsmi_set_gpu_perf_level", self._smi.AmdSmiDevPerfLevel.AUTO)

    # --- the rest ---------------------------------------------------------------------------------
    def shut_down(self) -> None:
        self._smi.amdsmi_shut_down()
