"""The simulated Acme A1's power and clock model (DVFS), which makes power limits and clock locks matter.

A board is *busy* while its command queue holds work (see :mod:`bench_plugin_acme.simwork`) and *idle*
otherwise. The model, per step of the simulated driver:

- **power**: idle, ``idle_w``; busy at core clock ``f``, ``static_w + (max_w - static_w) * (f / f_max) ** 3``
  (dynamic power goes as f x V^2 and the voltage rises with the clock over the DVFS range);
- **speed**: the board completes host work at ``1 / ((1 - m) * f_max / f + m)`` seconds per second, ``m`` the
  memory-bound share of the work that does not speed up with the core clock (0.3);
- **clock**: busy, the clock heads for ``min(lock, cap clock)``: the lock's top (else ``f_max``), pulled down to the
  highest supported clock whose busy power fits under the power cap. The cap acts on *average* power, like the
  power controllers it imitates: after an idle spell the board boosts to the lock or ``f_max`` at once and the cap
  controller pulls the clock down over ``cap_response_s`` (0.3 s), so a window that starts from idle overshoots
  the cap for a few tenths of a second. Idle, the controller relaxes over ``cap_release_s`` (1 s) and the clock
  drops to ``f_min``.

With the defaults, energy per unit of work falls as the cap comes down from the top, slowly at first for little
loss of speed, until the static power dominates near half the top clock; below that it rises again.
``benchmarks/sweep_accuracy.py`` tabulates the model's curve beside a measured sweep. The figures are the model's,
not a measured chip's: they only have to be plausible enough to exercise a sweep end to end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Dvfs:
    """The model's constants: powers in W, clocks in MHz, times in s."""

    idle_w: float = 60.0
    static_w: float = 90.0
    max_w: float = 300.0
    clock_max_mhz: int = 1800
    clock_min_mhz: int = 600
    clock_step_mhz: int = 50
    exponent: float = 3.0
    memory_bound: float = 0.3
    cap_min_w: float = 100.0
    cap_max_w: float = 300.0
    cap_response_s: float = 0.3
    cap_release_s: float = 1.0
    clock_rise_s: float = 0.02

    @property
    def clocks_mhz(self) -> list[int]:
        """The supported core clocks, highest first."""
        return list(range(self.clock_max_mhz, self.clock_min_mhz - 1, -self.clock_step_mhz))

    def busy_power_w(self, clock_mhz: float) -> float:
        return self.static_w + (self.max_w - self.static_w) * (clock_mhz / self.clock_max_mhz) ** self.exponent

    def speed(self, clock_mhz: float) -> float:
        """Seconds of host work completed per second at ``clock_mhz`` (1 at the top clock)."""
        m = self.memory_bound
        return 1.0 / ((1 - m) * self.clock_max_mhz / max(clock_mhz, 1.0) + m)

    def cap_clock_mhz(self, cap_w: float) -> int:
        """The highest supported clock whose busy power fits under ``cap_w`` (the lowest clock if none does)."""
        for clock in self.clocks_mhz:
            if self.busy_power_w(clock) <= cap_w + 1e-9:
                return clock
        return self.clock_min_mhz


@dataclass
class BoardState:
    """One simulated board's controller state and counters; :meth:`step` advances it by ``dt_s``."""

    model: Dvfs
    clock_mhz: float = 0.0
    engaged: float = 0.0  # how far the cap controller has pulled the clock down (0..1)
    done_s: float = 0.0  # host work completed, s
    power_w: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.clock_mhz = float(self.model.clock_min_mhz)
        self.power_w = self.model.idle_w

    def step(self, dt_s: float, submitted_s: float, cap_w: float, lock: tuple[int, int] | None) -> float:
        """Advance ``dt_s`` with ``submitted_s`` of work queued in all; returns the energy drawn (J)."""
        m = self.model
        backlog = max(0.0, submitted_s - self.done_s)
        top = float(lock[1]) if lock else float(m.clock_max_mhz)
        if backlog <= 0:
            self.engaged *= math.exp(-dt_s / m.cap_release_s)
            self.clock_mhz = float(m.clock_min_mhz)
            self.power_w = m.idle_w
            return m.idle_w * dt_s
        self.engaged = 1.0 - (1.0 - self.engaged) * math.exp(-dt_s / m.cap_response_s)
        target = top - self.engaged * max(0.0, top - m.cap_clock_mhz(cap_w))
        self.clock_mhz += (target - self.clock_mhz) * (1.0 - math.exp(-dt_s / m.clock_rise_s))
        rate = m.speed(self.clock_mhz)
        progress = min(backlog, rate * dt_s)
        busy = progress / (rate * dt_s) if dt_s > 0 else 0.0  # the queue may run dry within the step
        self.done_s += progress
        self.power_w = m.idle_w + (m.busy_power_w(self.clock_mhz) - m.idle_w) * busy
        return self.power_w * dt_s
