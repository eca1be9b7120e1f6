"""Test doubles of the sampler contract for the meter's own tests (hardware fakes live in bench.conformance)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.clock import Clock, SimClock
from bench.samplers.base import Availability, Capabilities, PowerKind, Reading, Sampler, Scope


def counter_caps(wrap: float | None = None, power: PowerKind = PowerKind.NONE,
                 update_period_s: float = 0.001) -> Capabilities:
    """A channel with an energy counter (and ``power`` readings), refreshed every ``update_period_s``."""
    return Capabilities(energy_counter=True, power=power, scope=Scope.PACKAGE, update_period_s=update_period_s,
                        counter_wrap_j=wrap)


class ScriptedSampler(Sampler):
    """A sampler whose readings come from a script: a function of the simulated time in seconds."""

    name = "scripted"

    def __init__(self, fn: Callable[[float], Reading], caps: Capabilities | None = None,
                 clock: Clock | None = None, channel: str = "scripted:0") -> None:
        self.clock = clock or SimClock()
        self.fn, self.channel = fn, channel
        self.capabilities = caps or counter_caps()

    @classmethod
    def is_available(cls, device: str) -> Availability:
        return Availability(True)

    @classmethod
    def open(cls, device: str, **options: Any) -> list[Sampler]:
        raise NotImplementedError("a test double is built directly")

    def read(self) -> Reading:
        return self.fn(self.clock.now_ns() / 1e9)

    @classmethod
    def of_values(cls, values: list[tuple[Any, Any]], caps: Capabilities | None = None) -> "ScriptedSampler":
        """Readings (energy_j, power_w) taken from ``values`` in order, then empty readings: anything a plugin
        might return, ill-typed values included."""
        queue = list(values)

        def next_reading(t: float) -> Reading:
            e, p = queue.pop(0) if queue else (None, None)
            return Reading(energy_j=e, power_w=p)

        return cls(next_reading, caps or Capabilities(energy_counter=True, power=PowerKind.INSTANT, scope=Scope.GPU,
                                                     update_period_s=0.01), channel="wild:0")
