"""The Acme board's power limit and core clock lock, for ``bench sweep`` (bench's control contract,
:mod:`bench.control`). Opened by :meth:`bench_plugin_acme.sampler.AcmeSampler.open_control`.

The driver takes both settings through its files: ``power_cap_uw`` (uW, within ``power_cap_min_uw`` ..
``power_cap_max_uw``) and ``clock_lock_mhz`` (``MIN MAX``, or ``0`` for none), both writable by root only.
Units are converted here, once (uW -> W). Unlike NVML the driver shows a lock in force, so a lock someone set
before a sweep is put back as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.control import ClockLock, Control, ControlError, ControlNoPermission, ControlNotSupported, PowerLimitRange
from bench_plugin_acme import sysfs

PRIVILEGE = "root, or write access to the Acme driver's files (e.g. a udev rule for the 'acme' group)"
FILES = ("power_cap_uw", "power_cap_min_uw", "power_cap_max_uw", "clocks_mhz", "clock_lock_mhz")


class AcmeControl(Control):
    """Power limit (W) and core clock lock (MHz) of the board whose files are under ``path``."""

    backend = "acme"
    clock_lock_readable = True

    def __init__(self, path: Path, device: str) -> None:
        missing = [f for f in FILES if not (path / f).exists()]
        if missing:
            raise ControlNotSupported(f"{device}: this Acme driver has no {', '.join(missing)} (driver too old)")
        self.path, self.device = path, device

    def _read(self, what: str, fn: Any, name: str) -> Any:
        try:
            return fn(self.path / name)
        except (OSError, ValueError) as exc:
            raise ControlError(f"{self.device}: reading {what} ({self.path / name}): {type(exc).__name__}: {exc}") \
                from None

    def _write(self, what: str, name: str, value: object) -> None:
        try:
            sysfs.write_text(self.path / name, value)
        except PermissionError:
            raise ControlNoPermission(f"{self.device}: {what} needs {PRIVILEGE}") from None
        except OSError as exc:
            raise ControlError(f"{self.device}: {what} ({self.path / name}): {exc.strerror or exc}") from None

    # --- power limit ------------------------------------------------------------------------------
    def power_limit_range(self) -> PowerLimitRange:
        low = self._read("the power limit range", sysfs.read_int, "power_cap_min_uw")
        high = self._read("the power limit range", sysfs.read_int, "power_cap_max_uw")
        default = self._read("the default power limit", sysfs.read_int, "power_cap_default_uw") \
            if (self.path / "power_cap_default_uw").exists() else None
        return PowerLimitRange(low / 1e6, high / 1e6, default / 1e6 if default else None)

    def get_power_limit_w(self) -> float:
        return self._read("the power limit", sysfs.read_int, "power_cap_uw") / 1e6

    def set_power_limit_w(self, watts: float) -> None:
        limits = self.power_limit_range()
        if not limits.contains(watts):
            raise ControlError(f"{self.device}: a power limit of {watts:g} W is outside the board's range "
                               f"{limits.text()}")
        self._write("setting the power limit", "power_cap_uw", int(round(watts * 1e6)))

    # --- clocks -----------------------------------------------------------------------------------
    def supported_sm_clocks_mhz(self) -> list[int]:
        return sorted(self._read("the supported clocks", sysfs.read_ints, "clocks_mhz"), reverse=True)

    def get_sm_clock_lock(self) -> ClockLock | None:
        values = self._read("the clock lock", sysfs.read_ints, "clock_lock_mhz")
        if not values or values == [0]:
            return None
        low, high = (values[0], values[0]) if len(values) == 1 else (values[0], values[1])
        return ClockLock(low, high)

    def lock_sm_clocks(self, min_mhz: int, max_mhz: int) -> None:
        clocks = self.supported_sm_clocks_mhz()
        if not clocks[-1] <= min_mhz <= max_mhz <= clocks[0]:
            raise ControlError(f"{self.device}: a clock lock of {min_mhz}-{max_mhz} MHz is outside the board's "
                               f"{clocks[-1]}-{clocks[0]} MHz")
        self._write("locking the core clock", "clock_lock_mhz", f"{int(min_mhz)} {int(max_mhz)}")

    def reset_sm_clocks(self) -> None:
        self._write("resetting the core clock", "clock_lock_mhz", 0)

    # --- the rest ---------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        return {"uuid": sysfs.read_text(self.path / "uuid"), "pci_bus_id": sysfs.read_text(self.path / "pci_bus_id")}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": str(self.path), "clock_lock_readable": True}
