"""Measurement quality levels L0-L3 from a result's own evidence; the weakest aspect decides.

After the EEHPC/Green500 levels (DESIGN.md section 4):

- L0 estimated: no sensor (a model such as utilisation x rated power), a replayed trace (not a
  measurement of this run), sampling below 1 Hz, or part of a measured window not measured at all;
- L1 a device sensor sampled at >= 1 Hz over the whole of every measured window (power integration);
- L2 an integrating energy counter on every channel, a clean idle baseline, and enough repeats whose
  95% CI is within the bound;
- L3 all of L2, measured by a calibrated external meter (a plugin at the plug).

Each aspect says the highest level its evidence allows and why; the result's level is the lowest of
them. :func:`assess_quality` works on an in-memory :class:`~bench.result.model.Result` (the runner calls it
at the end of a run) and on one read back from disk (scoring re-assesses it against a standard's bounds).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from bench.result.model import Aggregate, ChannelInfo, Quality, QualityAspect, Result, Stat, Window

LABELS = {
    0: "L0 estimated",
    1: "L1 device sensor",
    2: "L2 energy counter + idle baseline + repeats",
    3: "L3 calibrated meter",
}
DEFAULT_MAX_CI95_RELATIVE = 0.05
DEFAULT_MIN_REPEATS = 3
MIN_RATE_HZ = 1.0
MIN_UPDATES_PER_WINDOW = 10  # a window shorter than this many sensor updates is too coarse for L2


def _measured_windows(result: Result) -> list[tuple[str, Window | None]]:
    """(name, window) of every repeat of every complete workload; the window is None if missing."""
    by_name = {w.name: w for w in result.windows}
    out = []
    for wl in result.workloads:
        if wl.status != "complete":
            continue
        for rep in wl.repeats:
            out.append((rep.window, by_name.get(rep.window)))
    return out


NOT_MEASURING_SAMPLERS = ("replay",)  # results written before channels declared ``measured``


def not_measured(channel: ChannelInfo) -> str | None:
    """Why ``channel``'s figures are not a measurement of the run (an estimate, a replayed trace), or None."""
    caps = channel.capabilities
    if str(caps.get("power", "")) == "estimated":
        return "estimated, no sensor (a model, not a measurement)"
    if caps.get("measured") is False or channel.sampler in NOT_MEASURING_SAMPLERS:
        trace = channel.describe.get("trace")
        return "a replayed trace" + (f" ({trace})" if trace else "") + ", not a measurement of this run"
    return None


def _sensor(result: Result) -> QualityAspect:
    channels = result.measurement.channels
    if not channels:
        return QualityAspect(aspect="sensor", level=0, reason="no measurement channel recorded")
    why = [f"{c.channel}: {reason}" for c in channels if (reason := not_measured(c))]
    if why:
        return QualityAspect(aspect="sensor", level=0, reason="; ".join(why))
    return QualityAspect(aspect="sensor", level=3,
                         reason=f"device sensors: {', '.join(c.channel for c in channels)}")


def _energy_method(result: Result, windows: Iterable[tuple[str, Window | None]]) -> QualityAspect:
    channels = result.measurement.channels
    no_counter = [c for c in channels if not c.capabilities.get("energy_counter")]
    averaged = [c for c in no_counter if str(c.capabilities.get("power", "")) == "averaged"]
    if averaged:
        window = max(float(c.capabilities.get("power_average_window_s") or 0) for c in averaged)
        span = f"a {window:g} s" if window else "a"
        return QualityAspect(aspect="energy method", level=1,
                             reason=f"power only, energy from averaged power ({span} moving average, lag "
                                    f"corrected): {', '.join(c.channel for c in averaged)}")
    if no_counter:
        return QualityAspect(aspect="energy method", level=1,
                             reason=f"power only, energy integrated from samples: "
                                    f"{', '.join(c.channel for c in no_counter)}")
    fallback = sorted({f"{name}/{ch.channel}" for name, w in windows if w is not None
                       for ch in w.channels if ch.method != "counter"})
    if fallback:
        return QualityAspect(aspect="energy method", level=1,
                             reason=f"energy counter not used in {', '.join(fallback[:4])}"
                                    f"{' ...' if len(fallback) > 4 else ''}")
    return QualityAspect(aspect="energy method", level=3, reason="integrating energy counter on every channel")


def _sampling(result: Result) -> QualityAspect:
    rate = result.measurement.achieved_rate_hz
    if rate is None:
        return QualityAspect(aspect="sampling", level=0, reason="achieved sampling rate not recorded")
    if rate < MIN_RATE_HZ:
        return QualityAspect(aspect="sampling", level=0,
                             reason=f"achieved {rate:.3g} Hz, below {MIN_RATE_HZ:g} Hz")
    return QualityAspect(aspect="sampling", level=3, reason=f"achieved {rate:.3g} Hz over the run")


def _coverage(result: Result, windows: list[tuple[str, Window | None]]) -> QualityAspect:
    if not windows:
        return QualityAspect(aspect="coverage", level=0, reason="no measured window of a complete workload")
    missing = [name for name, w in windows if w is None]
    if missing:
        return QualityAspect(aspect="coverage", level=0, reason=f"window {missing[0]} missing from the result")
    update_s = max((float(c.capabilities.get("update_period_s") or 0.0) for c in result.measurement.channels),
                   default=0.0)
    level, reasons = 3, []
    for name, w in windows:
        assert w is not None
        counter = bool(w.channels) and all(ch.method == "counter" for ch in w.channels)
        gaps = sum(ch.gaps for ch in w.channels)
        resets = sum(ch.resets for ch in w.channels)
        if w.samples < 2:
            level = 0
            reasons.append(f"{name}: {w.samples} sample(s)")
        elif gaps and not counter:
            level = 0
            reasons.append(f"{name}: {gaps} gap(s) in power samples, part of the window not measured")
        elif gaps or resets:
            level = min(level, 1)
            reasons.append(f"{name}: {gaps} gap(s), {resets} counter reset(s)")
        elif not w.clean:
            codes = sorted({i.code for i in w.issues}) or ["not clean"]
            level = min(level, 1)
            reasons.append(f"{name}: {', '.join(codes)}")
        if update_s > 0 and w.duration_s < MIN_UPDATES_PER_WINDOW * update_s:
            level = min(level, 1)
            reasons.append(f"{name}: {w.duration_s:.3g} s is under {MIN_UPDATES_PER_WINDOW} sensor updates "
                           f"of {update_s:g} s")
    if not reasons:
        return QualityAspect(aspect="coverage", level=3,
                             reason=f"{len(windows)} measured window(s), no gap, reset or spoiler")
    more = f" (+{len(reasons) - 3} more)" if len(reasons) > 3 else ""
    return QualityAspect(aspect="coverage", level=level, reason="; ".join(reasons[:3]) + more)


def _idle(result: Result) -> QualityAspect:
    idle = result.idle
    if idle is None or idle.energy_j is None:
        return QualityAspect(aspect="idle baseline", level=1, reason="no idle baseline measured")
    if not idle.clean:
        return QualityAspect(aspect="idle baseline", level=1, reason=f"idle baseline {idle.window} not clean")
    power = f", {idle.power_w:.4g} W" if idle.power_w is not None else ""
    return QualityAspect(aspect="idle baseline", level=3, reason=f"{idle.duration_s:.3g} s idle baseline{power}")


def _basis_stat(agg, basis: str) -> Stat:
    return agg.gross_energy_per_unit_j if basis == "gross" else agg.energy_per_unit_j


def ci95_with_sensors(agg: Aggregate, basis: str) -> tuple[float | None, float, float | None]:
    """(the 95% CI's relative half-width, the sensors' relative bound, both combined) of the energy per unit on
    ``basis``. The CI covers what varies between repeats; the sensors' bound (a coarse counter's edges,
    averaged power's lag) is partly systematic and does not shrink with repeats, so the two add in
    quadrature. A result without a sensor bound combines to its CI alone."""
    stat = _basis_stat(agg, basis)
    ci = stat.ci95_relative
    sensor = (agg.energy_uncertainty_relative if basis == "gross" else agg.net_energy_uncertainty_relative) or 0.0
    return ci, sensor, (math.hypot(ci, sensor) if ci is not None else None)


def _repeats(result: Result, max_ci95_relative: float, min_repeats: int, basis: str) -> QualityAspect:
    complete = [w for w in result.workloads if w.status == "complete" and w.aggregate is not None]
    if not complete:
        return QualityAspect(aspect="repeats", level=1, reason="no complete workload with repeats")
    for wl in complete:
        stat = _basis_stat(wl.aggregate, basis)
        if stat.n < min_repeats:
            return QualityAspect(aspect="repeats", level=1,
                                 reason=f"{wl.workload}: {stat.n} repeat(s), fewer than {min_repeats}")
        ci, sensor, rel = ci95_with_sensors(wl.aggregate, basis)
        if rel is None:
            return QualityAspect(aspect="repeats", level=1, reason=f"{wl.workload}: no confidence interval")
        if rel > max_ci95_relative:
            detail = f" (CI +/-{ci:.2%}, sensors +/-{sensor:.2%})" if sensor else ""
            return QualityAspect(aspect="repeats", level=1,
                                 reason=f"{wl.workload}: 95% CI +/-{rel:.2%}{detail}, wider than "
                                        f"+/-{max_ci95_relative:.2%}")
    return QualityAspect(aspect="repeats", level=3,
                         reason=f">= {min_repeats} repeats, 95% CI with the sensors' bound within "
                                f"+/-{max_ci95_relative:.2%} ({basis} J/unit)")


def _meter(result: Result) -> QualityAspect:
    channels = result.measurement.channels
    if channels and all(c.capabilities.get("calibrated") and not_measured(c) is None for c in channels):
        return QualityAspect(aspect="meter", level=3, reason="calibrated external meter")
    return QualityAspect(aspect="meter", level=2, reason="device's own sensor, not a calibrated meter at the plug")


def assess_quality(result: Result, *, max_ci95_relative: float = DEFAULT_MAX_CI95_RELATIVE,
                   min_repeats: int = DEFAULT_MIN_REPEATS, basis: str = "gross") -> Quality:
    """The measurement quality level of ``result``: the lowest level any aspect allows, with reasons.

    ``max_ci95_relative`` and ``min_repeats`` bound the repeats for L2 (a standard passes its own);
    ``basis`` selects the energy per unit whose CI is checked (``gross`` or ``net``).
    """
    windows = _measured_windows(result)
    aspects = [
        _sensor(result),
        _energy_method(result, windows),
        _sampling(result),
        _coverage(result, windows),
        _idle(result),
        _repeats(result, max_ci95_relative, min_repeats, basis),
        _meter(result),
    ]
    level = min(a.level for a in aspects)
    return Quality(level=level, label=LABELS[level], aspects=aspects)


def weakest(quality: Quality) -> list[QualityAspect]:
    """The aspects that set the level."""
    return [a for a in quality.aspects if a.level == quality.level]
