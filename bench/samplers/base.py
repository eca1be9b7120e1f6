"""The sampler contract: what a power/energy source is, what it returns, and how it fails.

A *sampler* reads one *channel* of one device: a GPU board, a CPU package, a DRAM domain, a wall
meter. A backend (``nvml``, ``rapl``, a vendor plugin) is a :class:`Sampler` subclass registered
under the ``bench.samplers`` entry-point group; :meth:`Sampler.open` turns a torch device string
into one or more sampler instances (RAPL gives one per package and DRAM domain).

Units are fixed at this edge, once: joules, watts, degrees Celsius, MHz, nanoseconds.
The contract is measurement-only: nothing here sets clocks or power limits.
"""

from __future__ import annotations

import enum
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from bench import plugins
from bench.errors import (  # re-exported: a plugin needs only this module
    SamplerDeviceLost,
    SamplerError,
    SamplerNoPermission,
    SamplerNotSupported,
    SamplerTimeout,
    SamplerUnavailable,
)

__all__ = [
    "Availability",
    "Capabilities",
    "check_sampler_class",
    "host_cpu",
    "PowerKind",
    "Reading",
    "Sampler",
    "SamplerDeviceLost",
    "SamplerError",
    "SamplerNoPermission",
    "SamplerNotSupported",
    "SamplerTimeout",
    "SamplerUnavailable",
    "Scope",
]


class PowerKind(str, enum.Enum):
    """What a channel's ``power_w`` means."""

    INSTANT = "instant"  # a reading of the present power (within the sensor's update period)
    AVERAGED = "averaged"  # a moving average over ``Capabilities.power_average_window_s``
    ESTIMATED = "estimated"  # not measured: a model (utilisation x rated power)
    NONE = "none"  # the channel gives no power, only an energy counter


class Scope(str, enum.Enum):
    """What hardware a channel's figure covers."""

    GPU = "gpu"  # one accelerator board/chip
    MEMORY = "memory"  # the accelerator's memory only
    MODULE = "module"  # a superchip module (e.g. Grace Hopper CPU + GPU)
    PACKAGE = "package"  # a CPU package (RAPL package domain)
    DRAM = "dram"  # host DRAM (RAPL dram domain)
    SYSTEM = "system"  # the whole machine, e.g. a meter at the plug


CHECK_MIN_WINDOWS = 4  # a check figure checks the counter over windows of at least this many averaging windows


@dataclass(frozen=True)
class Capabilities:
    """What a channel can do; the meter and the quality level read this, and the conformance kit checks it.

    ``update_period_s`` is how often the hardware refreshes the figure: polling faster only repeats it
    (the counter's period on a channel with one). ``power_update_period_s`` is how often its power
    refreshes where that differs (0: the same as ``update_period_s``); the meter locates the actual
    refresh instants from the readings, so both are nominal values. ``check_power_average_window_s`` (> 0)
    says the channel also reads an averaged power figure over that window, refreshed every
    ``check_power_update_period_s``, into :attr:`Reading.check_power_w`: it covers all of the time where the
    power figure may sample only part of it, and serves only to check the energy counter.
    ``energy_tolerance`` is the relative difference allowed between the energy counter and integrated
    power over a window of a few seconds. ``counter_wrap_j`` is the counter's modulus where it wraps
    (RAPL ``max_energy_range_uj``), else None. ``calibrated`` marks an external calibrated meter (L3).
    ``measured`` is False for a source that does not measure the device live (a replayed trace): its
    figures are never a measurement of the run (quality L0, never graded), whatever else it declares.
    """

    energy_counter: bool
    power: PowerKind
    scope: Scope
    update_period_s: float
    power_average_window_s: float = 0.0
    max_rate_hz: float = 1000.0
    energy_tolerance: float = 0.05
    counter_wrap_j: float | None = None
    calibrated: bool = False
    measured: bool = True
    power_update_period_s: float = 0.0
    check_power_average_window_s: float = 0.0
    check_power_update_period_s: float = 0.0

    @property
    def estimated(self) -> bool:
        return self.power is PowerKind.ESTIMATED

    @property
    def power_refresh_s(self) -> float:
        """How often the power figure refreshes (s)."""
        return self.power_update_period_s or self.update_period_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "energy_counter": self.energy_counter,
            "power": self.power.value,
            "scope": self.scope.value,
            "update_period_s": self.update_period_s,
            "power_average_window_s": self.power_average_window_s,
            "max_rate_hz": self.max_rate_hz,
            "energy_tolerance": self.energy_tolerance,
            "counter_wrap_j": self.counter_wrap_j,
            "calibrated": self.calibrated,
            "measured": self.measured,
            "power_update_period_s": self.power_update_period_s,
            "check_power_average_window_s": self.check_power_average_window_s,
            "check_power_update_period_s": self.check_power_update_period_s,
        }

    @property
    def check_power(self) -> bool:
        """Whether the channel reads a second, averaged power figure beside its power, for cross-checks only."""
        return self.check_power_average_window_s > 0


@dataclass(slots=True)
class Reading:
    """One read of one channel. Missing figures are None, never 0.

    ``energy_j`` is the raw cumulative counter (J, since an arbitrary origin; it may wrap or reset:
    the meter handles both). ``power_w`` is as the channel's :class:`PowerKind` says.
    ``t_ns`` is set by the meter (monotonic ns, midpoint of the read call) unless the sampler
    knows the sensor's own timestamp better; 0 means "not set". A sampler that sets it uses the
    clock it was opened with (``open(clock=...)``, else :func:`time.monotonic_ns`), never the wall
    clock: a wall-clock step (NTP) would skew every window.
    """

    energy_j: float | None = None
    power_w: float | None = None
    temperature_c: float | None = None
    clock_mhz: float | None = None
    power_limit_w: float | None = None
    utilization: float | None = None
    t_ns: int = 0
    check_power_w: float | None = None  # the averaged figure beside the power (W), where the capabilities say


@dataclass(frozen=True)
class Availability:
    """Answer of :meth:`Sampler.is_available`: whether it can run here, and if not, why (one line)."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


class Sampler(ABC):
    """A power/energy source for one channel of one device.

    Subclasses set the class attribute ``name`` (the entry-point name) and, per instance,
    ``channel`` (unique within a run, e.g. ``"cuda:0"``, ``"rapl:package-0"``) and ``capabilities``.

    Rules of the contract (checked by the conformance kit, :mod:`bench.testing`):
    - :meth:`is_available` never raises; it returns an :class:`Availability` with a reason.
    - :meth:`read` is cheap (well under the period of ``capabilities.max_rate_hz``), thread-safe,
      returns SI units, and raises only :class:`SamplerError` subclasses.
    - :meth:`close` is idempotent.
    """

    name: ClassVar[str] = ""
    channel: str
    capabilities: Capabilities

    @classmethod
    @abstractmethod
    def is_available(cls, device: str) -> Availability:
        """Whether this backend can measure ``device`` (a torch device string) here. Never raises."""

    @classmethod
    @abstractmethod
    def open(cls, device: str, **options: Any) -> list["Sampler"]:
        """Open every channel of ``device``. Raises a :class:`SamplerError` subclass on failure."""

    @abstractmethod
    def read(self) -> Reading:
        """Read the channel now. Units: J, W, degC, MHz."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the channel. Safe to call more than once."""

    def describe(self) -> dict[str, Any]:
        """Provenance of the channel: library and driver versions, device identity, method (JSON-able)."""
        return {"sampler": self.name, "channel": self.channel}

    def health(self) -> list[dict[str, str]]:
        """Conditions that spoil attribution, checked at both edges of every window (MIG, other processes,
        throttling).

        Each item is ``{"code": ..., "message": ...}``: the window whose edge sees it is not clean, with the
        message as the reason. An item with ``"scope": "run"`` is a note about the whole run (how the
        device was matched, a counter that was switched off) and spoils no window. Default: nothing.
        """
        return []


def check_sampler_class(obj: Any, name: str) -> list[str]:
    """What is wrong with ``obj`` as the sampler registered as ``name`` (empty when it keeps the contract)."""
    return plugins.class_contract(obj, name, Sampler, "name", ("is_available", "open"))


def host_cpu(device: str) -> bool:
    """Whether ``device`` names the host CPU: ``cpu`` (or torch's ``cpu:0``); ``cpu:7`` is no device."""
    return device.strip().lower() in ("cpu", "cpu:0")


def finite_or_none(value: float | None) -> float | None:
    """Map NaN, inf and non-numbers to None so a broken sensor value never reaches an integral."""
    if value is None or isinstance(value, (bool, str, bytes)):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None
