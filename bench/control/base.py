"""The control contract: settings of a device a backend can change (power limit, locked clocks), apart from
measuring.

Measuring (:mod:`bench.samplers.base`) never changes a device. Control is a separate, optional capability a
sampler backend (``Sampler.open_control``) or a device backend (``Device.control``) may offer; a sweep
(:mod:`bench.sweep`) is its only user. A backend returns a :class:`Control` that implements one or both
capabilities:

- :class:`PowerLimitCapability`: the power limit's range, the limit in force, setting it (W);
- :class:`ClockLockCapability`: the supported SM (graphics) clocks, locking them to a range, and resetting them
  to the driver's default (MHz).

Units at this edge, once: watts and MHz (NVML's mW and amdsmi's uW are converted in the backend). Every
failure is a :class:`~bench.errors.ControlError`: :class:`~bench.errors.ControlNoPermission` names the privilege
needed in one line, :class:`~bench.errors.ControlNotSupported` says what the device cannot do. Whoever changes a
setting puts the original back (the sweep does, and leaves a state file, :mod:`bench.control.state`, until it
has).
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from bench.errors import ControlError, ControlNoPermission, ControlNotSupported

log = logging.getLogger(__name__)

__all__ = ["ClockLock", "ClockLockCapability", "Control", "ControlError", "ControlNoPermission",
           "ControlNotSupported", "PowerLimitCapability", "PowerLimitRange", "capabilities"]


@dataclass(frozen=True)
class PowerLimitRange:
    """What a device's power limit may be set to, in W; ``default_w`` is the board's default (None: unknown)."""

    min_w: float
    max_w: float
    default_w: float | None = None

    def contains(self, watts: float, tolerance_w: float = 0.5) -> bool:
        return self.min_w - tolerance_w <= watts <= self.max_w + tolerance_w

    def text(self) -> str:
        return f"{self.min_w:g}-{self.max_w:g} W"


@dataclass(frozen=True)
class ClockLock:
    """SM clocks locked to ``[min_mhz, max_mhz]`` (equal: one clock)."""

    min_mhz: int
    max_mhz: int

    def text(self) -> str:
        return f"{self.min_mhz} MHz" if self.min_mhz == self.max_mhz else f"{self.min_mhz}-{self.max_mhz} MHz"


@runtime_checkable
class PowerLimitCapability(Protocol):
    """A device whose power limit can be read and set (W)."""

    def power_limit_range(self) -> PowerLimitRange:
        """The range the limit may be set to."""

    def get_power_limit_w(self) -> float:
        """The power limit set now (W)."""

    def set_power_limit_w(self, watts: float) -> None:
        """Set the power limit (W); outside the range -> :class:`ControlError`, no privilege ->
        :class:`ControlNoPermission`."""


@runtime_checkable
class ClockLockCapability(Protocol):
    """A device whose SM clocks can be locked to a range and reset (MHz)."""

    #: whether :meth:`get_sm_clock_lock` can see a lock set by someone else (NVML cannot)
    clock_lock_readable: bool

    def supported_sm_clocks_mhz(self) -> list[int]:
        """The SM clocks the device supports, highest first."""

    def get_sm_clock_lock(self) -> ClockLock | None:
        """The lock in force; None when there is none or the backend cannot tell (``clock_lock_readable``)."""

    def lock_sm_clocks(self, min_mhz: int, max_mhz: int) -> None:
        """Lock the SM clocks to ``[min_mhz, max_mhz]``."""

    def reset_sm_clocks(self) -> None:
        """Give the clocks back to the driver (no lock)."""


class Control(ABC):
    """Control of one device, opened by a backend. Subclasses set ``backend`` (the entry-point name of the
    sampler or device backend that opened it) and ``device`` (the torch device string), and implement one or
    both capabilities."""

    backend: ClassVar[str] = ""
    device: str = ""

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Stable identity of the device (UUID, PCI bus id), JSON-able: a state file names the device by it."""

    def describe(self) -> dict[str, Any]:
        """Provenance: backend, device, library version, what can be changed (JSON-able)."""
        return {"backend": self.backend, "device": self.device, "identity": self.identity(),
                "capabilities": capabilities(self)}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the backend's library handle. Safe to call more than once."""


class LibraryControl(Control):
    """Control through a vendor library session this object owns (one init, shut down once on :meth:`close`).
    ``info`` holds the device's name, ``uuid`` and ``pci_bus_id`` (its identity) and any other provenance."""

    IDENTITY: ClassVar[tuple[str, ...]] = ("uuid", "pci_bus_id")

    def __init__(self, device: str, info: dict[str, Any]) -> None:
        self.device, self._info = device, info
        self._lock = threading.Lock()
        self._closed = False

    def identity(self) -> dict[str, Any]:
        return {k: self._info[k] for k in self.IDENTITY if self._info.get(k)}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **{k: v for k, v in self._info.items() if k not in self.IDENTITY},
                "clock_lock_readable": False}

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self.shut_down()
        except Exception as exc:  # noqa: BLE001 - closing never fails
            log.debug("%s: shutting the library down failed: %s", self.device, exc)

    def _check_in_range(self, watts: float, noun: str = "power limit") -> None:
        """Raise :class:`ControlError` where ``watts`` is outside the GPU's power limit range."""
        limits = self.power_limit_range()
        if not limits.contains(watts):
            raise ControlError(f"{self.device}: a {noun} of {watts:g} W is outside the GPU's range {limits.text()}")

    @abstractmethod
    def shut_down(self) -> None:
        """End the library session (``nvmlShutdown``, ``amdsmi_shut_down``)."""


def capabilities(control: Any) -> list[str]:
    """The capabilities ``control`` implements: ``power_limit``, ``clock_lock``."""
    out = []
    if isinstance(control, PowerLimitCapability):
        out.append("power_limit")
    if isinstance(control, ClockLockCapability):
        out.append("clock_lock")
    return out


def require_power_limit(control: Any) -> PowerLimitCapability:
    """``control`` as a power-limit capability, or :class:`ControlNotSupported` naming the device."""
    if not isinstance(control, PowerLimitCapability):
        raise ControlNotSupported(f"{getattr(control, 'device', '?')}: {getattr(control, 'backend', '?')} cannot "
                                  "change the power limit")
    return control


def require_clock_lock(control: Any) -> ClockLockCapability:
    """``control`` as a clock-lock capability, or :class:`ControlNotSupported` naming the device."""
    if not isinstance(control, ClockLockCapability):
        raise ControlNotSupported(f"{getattr(control, 'device', '?')}: {getattr(control, 'backend', '?')} cannot "
                                  "lock the SM clocks")
    return control
