"""A correct simulated sampler (``GoodSim``) and copies of it each spoiled in one way.

``GoodSim`` reads a simulated 200 W board on a :class:`SimClock`: an energy counter (J) and instant
power (W), thread-safe, closable twice. Each subclass breaks exactly one rule of the contract.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from typing import Any

from bench.clock import MonotonicClock, SimClock
from bench.conformance.core import ConformanceSetup
from bench.samplers.base import (
    Availability,
    Capabilities,
    PowerKind,
    Reading,
    Sampler,
    SamplerDeviceLost,
    SamplerError,
    SamplerUnavailable,
    Scope,
)

DEVICE = "sim:0"


class GoodSim(Sampler):
    name = "goodsim"
    power_w = 200.0
    lost = False

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.channel = DEVICE
        self.capabilities = Capabilities(energy_counter=True, power=PowerKind.INSTANT, scope=Scope.GPU,
                                         update_period_s=0.001, max_rate_hz=100.0, energy_tolerance=0.02)
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def is_available(cls, device: str) -> Availability:
        return Availability(device == DEVICE, "" if device == DEVICE else f"only {DEVICE}")

    @classmethod
    def open(cls, device: str, clock: Any = None, **options: Any) -> list[Sampler]:
        if device != DEVICE:
            raise SamplerUnavailable(f"no such device {device!r}")
        return [cls(clock or MonotonicClock())]

    @classmethod
    @contextlib.contextmanager
    def conformance_fake(cls):
        clock = SimClock()
        cls.lost = False

        def lose() -> None:
            cls.lost = True

        yield ConformanceSetup(DEVICE, {"clock": clock}, clock, rated_power_w=300.0, faults={"device_lost": lose})
        cls.lost = False

    def t_s(self) -> float:
        return self.clock.now_ns() / 1e9

    def energy_j(self) -> float:
        return 5000.0 + self.power_w * self.t_s()

    def reading(self) -> Reading:
        return Reading(energy_j=self.energy_j(), power_w=self.power_w)

    def read(self) -> Reading:
        with self._lock:
            if self._closed:
                raise SamplerUnavailable("closed")
            if type(self).lost:
                raise SamplerDeviceLost("the simulated board is gone")
            return self.reading()

    def close(self) -> None:
        with self._lock:
            self._closed = True


class BackwardsCounter(GoodSim):
    """The counter loses 300 J at every whole second (a driver that resets part of it)."""

    name = "backwards"

    def energy_j(self) -> float:
        return super().energy_j() - 300.0 * math.floor(self.t_s())


class MilliwattPower(GoodSim):
    """Power in mW: 1000x too large."""

    name = "milliwatts"

    def reading(self) -> Reading:
        return Reading(energy_j=self.energy_j(), power_w=self.power_w * 1000)


class NanPower(GoodSim):
    """Power NaN on every fifth read of a simulated 10 ms slot."""

    name = "nanpower"

    def reading(self) -> Reading:
        slot = int(self.t_s() * 100)
        return Reading(energy_j=self.energy_j(), power_w=math.nan if slot % 5 == 0 else self.power_w)


class SlowRead(GoodSim):
    """Each read takes 30 ms of real time but the channel declares 100 reads/s (10 ms)."""

    name = "slowread"

    def reading(self) -> Reading:
        time.sleep(0.03)
        return super().reading()


class RaisingAvailable(GoodSim):
    """is_available raises instead of answering."""

    name = "raisingavail"

    @classmethod
    def is_available(cls, device: str) -> Availability:
        raise RuntimeError("vendor library not initialised")


class LyingCapabilities(GoodSim):
    """Declares an energy counter but never returns one."""

    name = "lyingcaps"

    def reading(self) -> Reading:
        return Reading(power_w=self.power_w)


class WrongErrors(GoodSim):
    """A lost device surfaces as OSError instead of a SamplerError subclass."""

    name = "wrongerrors"

    def read(self) -> Reading:
        if type(self).lost:
            raise OSError(19, "No such device")
        return super().read()


class WallClockStamps(GoodSim):
    """Stamps each reading with the wall clock (time.time_ns) instead of the clock it was opened with."""

    name = "wallclock"

    def reading(self) -> Reading:
        r = super().reading()
        r.t_ns = time.time_ns()
        return r


class WrongSubclass(GoodSim):
    """A lost device raises SamplerUnavailable, where the contract names SamplerDeviceLost."""

    name = "wrongsubclass"

    def read(self) -> Reading:
        if type(self).lost:
            raise SamplerUnavailable("the board is not there")
        return super().read()


class BareError(GoodSim):
    """A lost device raises the bare SamplerError: the caller cannot tell what happened."""

    name = "bareerror"

    def read(self) -> Reading:
        if type(self).lost:
            raise SamplerError("something went wrong")
        return super().read()


class AnyIndex(GoodSim):
    """Checks the device type but not the index: ``sim:7`` silently measures ``sim:0``."""

    name = "anyindex"

    @classmethod
    def is_available(cls, device: str) -> Availability:
        ok = device.split(":", 1)[0] == "sim"
        return Availability(ok, "" if ok else "only sim devices")

    @classmethod
    def open(cls, device: str, clock: Any = None, **options: Any) -> list[Sampler]:
        if device.split(":", 1)[0] != "sim":
            raise SamplerUnavailable(f"no such device {device!r}")
        return [cls(clock or MonotonicClock())]


class HangingRead(GoodSim):
    """The first read after open blocks until ``release`` is set (a hung vendor call)."""

    name = "hanging"
    release = threading.Event()

    def read(self) -> Reading:
        type(self).release.wait(30)
        return super().read()


class NotASampler:
    """Registered as a sampler but is not one."""

    name = "notasampler"
