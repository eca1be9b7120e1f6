"""Conformance checks on a series of reads: declared capabilities, plausible units, timestamps on the
monotonic clock, monotonic counters, and counter energy against integrated power.

Units are judged against the rated power of the matched hardware profile (power must lie within
0 .. 2 x rated; and an average under rated / 1000 reads as a unit slip too). The rated power comes,
first found, from: a profile matching the device name; the fake's ``rated_power_w``; the sampler's
``describe()["rated_power_w"]``; a profile matching the device type (per-core rating x cores);
else the generic bound :data:`GENERIC_RATED_W` for the channel's scope, and the figures say which.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.conformance.core import FAIL, NA, PASS, SKIP, CheckResult
from bench.samplers.base import Capabilities, PowerKind, Reading, Scope

GENERIC_RATED_W = {Scope.SYSTEM: 10000.0}  # a whole machine at the plug
GENERIC_RATED_DEFAULT_W = 1000.0  # one accelerator module, CPU package or DRAM domain: none is rated above
LOW_FRACTION = 1e-3  # mean power under rated / 1000 (but above 0) is a unit slip, not a real figure


@dataclass
class Series:
    """Reads of one channel at known times (s)."""

    channel: str
    caps: Capabilities
    points: list[tuple[float, Reading]] = field(default_factory=list)

    def add(self, t_s: float, reading: Reading) -> None:
        self.points.append((t_s, reading))

    def counter(self) -> tuple[list[tuple[float, float]], int, float]:
        """(time, unwrapped energy J) pairs, backwards steps, largest backwards step (J)."""
        out: list[tuple[float, float]] = []
        offset, last, backwards, worst = 0.0, None, 0, 0.0
        wrap = self.caps.counter_wrap_j
        for t, r in self.points:
            e = r.energy_j
            if e is None or not math.isfinite(e):
                continue
            if last is not None and e < last:
                if wrap and last - e > wrap / 2:
                    offset += wrap
                else:
                    backwards += 1
                    worst = max(worst, last - e)
            last = e
            out.append((t, e + offset))
        return out, backwards, worst


def evaluate_series(series: dict[str, Series], rated: Callable[[], tuple[float, str]],
                    simulated: bool) -> list[CheckResult]:
    results = []
    for name, fn in (("capabilities", _capabilities), ("units", _units), ("timestamps", _timestamps),
                     ("monotonic", _monotonic), ("energy_consistency", _consistency)):
        per = {ch: fn(s, rated) for ch, s in series.items()}
        results.append(_merge(name, per))
    return results


def _merge(name: str, per: dict[str, tuple[str, str, dict[str, Any]]]) -> CheckResult:
    statuses = [v[0] for v in per.values()]
    status = FAIL if FAIL in statuses else SKIP if SKIP in statuses else PASS if PASS in statuses else NA
    if len(per) == 1:
        (_, (st, msg, figs)), = per.items()
        return CheckResult(name, status, msg, figs)
    msg = "; ".join(f"{ch}: {v[1]}" for ch, v in per.items() if v[0] == status)
    return CheckResult(name, status, msg, {ch: v[2] for ch, v in per.items()})


def _capabilities(s: Series, rated: Any) -> tuple[str, str, dict[str, Any]]:
    n = len(s.points)
    with_energy = sum(1 for _, r in s.points if r.energy_j is not None)
    with_power = sum(1 for _, r in s.points if r.power_w is not None)
    figs = {"reads": n, "with_energy": with_energy, "with_power": with_power,
            "energy_counter": s.caps.energy_counter, "power": s.caps.power.value}
    if n < 2:
        return FAIL, f"only {n} read(s) in the series", figs
    problems = []
    if s.caps.energy_counter and with_energy < n:
        problems.append(f"declares an energy counter but {n - with_energy} of {n} reads have no energy_j")
    if not s.caps.energy_counter and with_energy:
        problems.append(f"declares no energy counter but {with_energy} reads carry energy_j")
    if s.caps.power is PowerKind.NONE and with_power:
        problems.append(f"declares power NONE but {with_power} reads carry power_w")
    if s.caps.power is not PowerKind.NONE and with_power < n / 2:
        problems.append(f"declares power {s.caps.power.value} but only {with_power} of {n} reads carry power_w")
    if problems:
        return FAIL, "; ".join(problems), figs
    return PASS, "reads carry what the capabilities declare", figs


def _units(s: Series, rated: Callable[[], tuple[float, str]]) -> tuple[str, str, dict[str, Any]]:
    rated_w, source = rated()
    bound = 2 * rated_w
    powers = [r.power_w for _, r in s.points if r.power_w is not None]
    energies = [r.energy_j for _, r in s.points if r.energy_j is not None]
    bad_p = [p for p in powers if not math.isfinite(p) or p < 0]
    bad_e = [e for e in energies if not math.isfinite(e) or e < 0]
    good_p = [p for p in powers if math.isfinite(p) and p >= 0]
    figs: dict[str, Any] = {"rated_power_w": rated_w, "rated_source": source, "bound_w": bound}
    problems = []
    if bad_p:
        problems.append(f"{len(bad_p)} power reading(s) NaN, infinite or negative (e.g. {bad_p[0]!r})")
    if bad_e:
        problems.append(f"{len(bad_e)} energy reading(s) NaN, infinite or negative (e.g. {bad_e[0]!r})")
    if good_p:
        figs.update(min_power_w=min(good_p), max_power_w=max(good_p))
        problems += _plausible("power_w", max(good_p), sum(good_p) / len(good_p), rated_w, bound)
    pairs, _, _ = s.counter()
    if len(pairs) >= 2 and pairs[-1][0] > pairs[0][0]:
        derived = (pairs[-1][1] - pairs[0][1]) / (pairs[-1][0] - pairs[0][0])
        figs["counter_power_w"] = derived
        problems += _plausible("energy_j (as power)", derived, derived, rated_w, bound)
    if problems:
        return FAIL, "; ".join(problems), figs
    return PASS, f"within 0 .. {bound:g} W (2 x rated, {source})", figs


def _plausible(what: str, peak: float, mean: float, rated_w: float, bound: float) -> list[str]:
    out = []
    if peak > bound:
        hint = " (1000x too large: mW/mJ instead of W/J?)" if peak / 1000 <= bound else ""
        out.append(f"{what} reaches {peak:.6g} W, over 2 x rated ({bound:g} W){hint}")
    elif 0 < mean < rated_w * LOW_FRACTION:
        out.append(f"{what} averages {mean:.3g} W, under rated / 1000 ({rated_w * LOW_FRACTION:.3g} W): "
                   "1000x too small (kW/kJ instead of W/J?)")
    return out


TIMESTAMP_SLACK_S = 1.0  # a sensor's own timestamp may precede the read by up to its update period; allow this much


def _timestamps(s: Series, rated: Any) -> tuple[str, str, dict[str, Any]]:
    """A ``t_ns`` the sampler sets must be on the clock the kit (and the meter) reads: the clock passed to
    ``open()``, else the monotonic clock, never the wall clock."""
    import time

    stamped = [(t, r.t_ns) for t, r in s.points if r.t_ns]
    if not stamped:
        return NA, "t_ns left unset (0): the meter stamps each reading with its own clock", {"stamped": 0}
    slack = max(TIMESTAMP_SLACK_S, 10 * s.caps.update_period_s)
    worst_t, worst_ns = max(stamped, key=lambda p: abs(p[1] / 1e9 - p[0]))
    off_s = worst_ns / 1e9 - worst_t
    figs = {"stamped": len(stamped), "largest_offset_s": off_s, "limit_s": slack}
    if abs(off_s) <= slack:
        return PASS, f"t_ns within {slack:g} s of the clock the meter reads ({abs(off_s):.3g} s at most)", figs
    wall = abs(worst_ns / 1e9 - time.time()) < max(slack, 60.0)
    how = ("the wall clock (time.time_ns): a wall-clock step (NTP) would skew every window" if wall
           else "another clock than the one passed to open() (or time.monotonic_ns)")
    return FAIL, (f"t_ns is {off_s:.6g} s away from the meter's clock: readings are stamped with {how}; use the "
                  "clock passed to open() (its now_ns()), else time.monotonic_ns(), or leave t_ns = 0"), figs


def _monotonic(s: Series, rated: Any) -> tuple[str, str, dict[str, Any]]:
    if not s.caps.energy_counter:
        return NA, "no energy counter", {}
    pairs, backwards, worst = s.counter()
    figs = {"reads": len(pairs), "backwards_steps": backwards, "largest_drop_j": worst,
            "wrap_j": s.caps.counter_wrap_j}
    if backwards:
        return FAIL, f"the counter went backwards {backwards}x (largest drop {worst:.6g} J)", figs
    return PASS, "never went backwards" + (" (wraps unwrapped)" if s.caps.counter_wrap_j else ""), figs


def _consistency(s: Series, rated: Any) -> tuple[str, str, dict[str, Any]]:
    caps = s.caps
    if not caps.energy_counter:
        return NA, "no energy counter", {}
    if caps.power in (PowerKind.NONE, PowerKind.ESTIMATED):
        return NA, f"power is {caps.power.value}: nothing measured to compare the counter with", {}
    if caps.power is PowerKind.AVERAGED:
        return NA, (f"power is a {caps.power_average_window_s:g} s moving average: it lags the counter "
                      "over a short series"), {}
    pts = [(t, r.energy_j, r.power_w) for t, r in s.points
           if r.energy_j is not None and r.power_w is not None and math.isfinite(r.energy_j)
           and math.isfinite(r.power_w)]
    if len(pts) < 3:
        return FAIL, f"only {len(pts)} read(s) carry both energy and power", {}
    sub = Series(s.channel, caps, [(t, Reading(energy_j=e)) for t, e, _ in pts])
    pairs, _, _ = sub.counter()
    counter_j = pairs[-1][1] - pairs[0][1]
    integ_j = sum((b[0] - a[0]) * (a[2] + b[2]) / 2 for a, b in zip(pts, pts[1:]))
    rel = abs(counter_j - integ_j) / max(abs(counter_j), abs(integ_j), 1e-12)
    figs = {"span_s": pts[-1][0] - pts[0][0], "counter_j": counter_j, "integrated_j": integ_j,
            "relative_difference": rel, "tolerance": caps.energy_tolerance}
    if rel > caps.energy_tolerance:
        return FAIL, (f"counter {counter_j:.6g} J vs integrated power {integ_j:.6g} J differ by {rel:.2%}, over "
                      f"the declared tolerance {caps.energy_tolerance:.2%}"), figs
    return PASS, f"agree within {rel:.3%} (tolerance {caps.energy_tolerance:.2%})", figs


def resolve_rated_power(setup: Any, describe: dict[str, Any], device: str, scope: Scope) -> tuple[float, str]:
    """(rated W, where it came from) for the units check. See the module docstring for the order."""
    name = (getattr(setup, "device_name", None) or describe.get("name") or describe.get("device_name") or "")
    profiles, note = _profiles()
    if profiles is not None and name:
        from bench.analysis.scoring.profiles import match_profile

        prof = match_profile(str(name), profiles)
        if prof is not None and prof.rated_power_w:
            return float(prof.rated_power_w), f"hardware profile {prof.id}"
    if getattr(setup, "rated_power_w", None):
        return float(setup.rated_power_w), "declared by the fake"
    if isinstance(describe.get("rated_power_w"), (int, float)) and describe["rated_power_w"] > 0:
        return float(describe["rated_power_w"]), "declared by the sampler (describe)"
    if profiles is not None and device:
        from bench.analysis.scoring.profiles import match_profile

        prof = match_profile("", profiles, device_type=device.split(":", 1)[0])
        if prof is not None and prof.rated_power_w:
            return float(prof.rated_power_w), f"hardware profile {prof.id} (by device type)"
        if prof is not None and prof.rated_power_w_per_core:
            cores = os.cpu_count() or 1
            return prof.rated_power_w_per_core * cores, f"hardware profile {prof.id} ({cores} cores)"
    generic = GENERIC_RATED_W.get(scope, GENERIC_RATED_DEFAULT_W)
    return generic, f"generic bound for scope {scope.value}" + (f"; {note}" if note else "")


def _profiles() -> tuple[list[Any] | None, str]:
    try:
        from bench.analysis.scoring.profiles import load_profiles

        return load_profiles(), ""
    except Exception as exc:  # noqa: BLE001 - profiles are optional to the kit
        return None, f"hardware profiles unavailable ({type(exc).__name__}: {exc})"
