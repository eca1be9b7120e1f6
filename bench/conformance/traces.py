"""Trace builders with analytically known energy, for tests and benchmarks of the meter.

A :class:`Profile` is power as a piecewise-linear function of time (vertical jumps allowed: two
breakpoints at the same time), so steps, ramps and short spikes are all exact, and so is its
integral. :func:`write_profile_trace` samples a profile into a trace file in the meter's format,
with an exact energy counter, for the ``replay`` sampler to play back.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.samplers.base import Capabilities, PowerKind, Reading, Scope


@dataclass(frozen=True)
class Profile:
    """Power (W) over time (s) through ``points`` [(t_s, power_w), ...], t non-decreasing."""

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        ts = [t for t, _ in self.points]
        if len(ts) < 2 or ts != sorted(ts):
            raise ValueError("a profile needs >= 2 points in time order")

    @property
    def duration_s(self) -> float:
        return self.points[-1][0]

    def power_w(self, t: float) -> float:
        """Right-continuous power at ``t`` (held flat outside the breakpoints)."""
        pts = self.points
        ts = [p[0] for p in pts]
        i = bisect.bisect_right(ts, t) - 1
        if i < 0:
            return pts[0][1]
        if i >= len(pts) - 1:
            return pts[-1][1]
        (t0, p0), (t1, p1) = pts[i], pts[i + 1]
        return p0 if t1 == t0 else p0 + (p1 - p0) * (t - t0) / (t1 - t0)

    def energy_j(self, a: float, b: float) -> float:
        """Exact energy (J) between times ``a`` and ``b``."""
        if b < a:
            raise ValueError("b < a")
        cuts = sorted({a, b, *(t for t, _ in self.points if a < t < b)})
        total = 0.0
        for lo, hi in zip(cuts, cuts[1:]):
            # linear on (lo, hi): the midpoint rule is exact; evaluate just inside to skip jumps
            total += self.power_w((lo + hi) / 2) * (hi - lo)
        return total


def steps(levels: list[tuple[float, float]], end_s: float) -> Profile:
    """Piecewise-constant power: ``levels`` [(t_start_s, power_w), ...] until ``end_s``."""
    pts: list[tuple[float, float]] = []
    for k, (t, p) in enumerate(levels):
        if k:
            pts.append((t, levels[k - 1][1]))
        pts.append((t, p))
    pts.append((end_s, levels[-1][1]))
    return Profile(tuple(pts))


def ramp(p0: float, p1: float, t0: float, t1: float, end_s: float) -> Profile:
    """Flat ``p0`` until ``t0``, linear to ``p1`` at ``t1``, flat until ``end_s``."""
    return Profile(((0.0, p0), (t0, p0), (t1, p1), (end_s, p1)))


def spikes(base_w: float, peak_w: float, every_s: float, width_s: float, end_s: float) -> Profile:
    """``base_w`` with rectangular spikes to ``peak_w`` of ``width_s`` every ``every_s``."""
    pts: list[tuple[float, float]] = [(0.0, base_w)]
    t = every_s
    while t + width_s < end_s:
        pts += [(t, base_w), (t, peak_w), (t + width_s, peak_w), (t + width_s, base_w)]
        t += every_s
    pts.append((end_s, base_w))
    return Profile(tuple(pts))


def write_profile_trace(
    folder: Path,
    profile: Profile,
    *,
    resolution_s: float = 0.001,
    channel: str = "sim:0",
    counter: bool = True,
    power: PowerKind = PowerKind.INSTANT,
    scope: Scope = Scope.GPU,
    update_period_s: float = 0.001,
    gaps: list[tuple[float, float]] | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> Path:
    """Sample ``profile`` every ``resolution_s`` into ``folder/trace.parquet``; return its path.

    ``gaps``: [(from_s, to_s)] intervals with no samples (a sensor that stopped answering).
    """
    from bench.result.trace import TraceWriter, finalize

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    caps = Capabilities(energy_counter=counter, power=power, scope=scope, update_period_s=update_period_s,
                        energy_tolerance=0.01)
    meta = {"channels": {channel: {"sampler": "profile", **caps.to_dict()}}, **(extra_meta or {})}
    writer = TraceWriter(folder, meta)
    n = int(round(profile.duration_s / resolution_s))
    energy = 0.0
    prev = 0.0
    for k in range(n + 1):
        t = k * resolution_s
        energy += profile.energy_j(prev, t) if k else 0.0
        prev = t
        if gaps and any(a < t < b for a, b in gaps):
            continue
        writer.append(channel, Reading(t_ns=int(round(t * 1e9)),
                                       energy_j=energy if counter else None,
                                       power_w=profile.power_w(t) if power is not PowerKind.NONE else None))
    writer.close()
    return finalize(folder)
