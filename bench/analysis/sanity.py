"""Sanity checks of a result's figures: numbers a correct measurement cannot give, recorded as issues.

Each check reads only the result (and, for the rated-power checks, the rated power of the matched hardware
profile), so the run records them at its end (:mod:`bench.run.assess`) and scoring can run them again on a
result written before they existed.

- ``net_energy_not_positive``: a workload's mean net energy (gross minus idle power x duration) is <= 0:
  the idle baseline is wrong or the work drew nothing measurable;
- ``ci_below_zero``: a 95% CI of energy per unit reaches below zero: too few or too scattered repeats for a
  figure that cannot be negative;
- ``idle_near_load``: idle power within 10% of the loaded power: the work barely moved the sensor (or the
  "idle" device was busy), so net energy is mostly noise;
- ``estimate_polluted``: the CPU estimate bills every process's CPU use to the benchmark, and other processes
  took more than half of the busy CPU time;
- ``over_rated_peak`` / ``over_rated_energy``: a window whose readings exceed twice the rated power, or whose
  energy exceeds rated power x duration (+10%): a unit slip (mW read as W) or the wrong device; these windows
  are not clean (see :func:`rated_power_issues`).
"""

from __future__ import annotations

from bench.result.model import Issue, Result, Window

IDLE_NEAR_LOAD = 0.9  # idle power at or above this fraction of loaded power is flagged
MIN_PROCESS_SHARE = 0.5  # the estimate's own process must take at least this share of busy CPU time
MIN_BUSY_S = 1.0  # ... judged only once the machine was busy for this many CPU-seconds
PEAK_OVER_RATED = 2.0  # a reading over this many times the rated power is not physical for the part
ENERGY_OVER_RATED = 1.1  # a window's energy over rated power x duration x this (sensor error, boost)
CODES = ("net_energy_not_positive", "ci_below_zero", "idle_near_load", "estimate_polluted", "over_rated_peak",
         "over_rated_energy", "counter_missing")


def _stat_issues(result: Result) -> list[Issue]:
    out = []
    idle_w = result.idle.power_w if result.idle is not None else None
    for wl in result.workloads:
        agg = wl.aggregate
        if agg is None:
            continue
        net = agg.net_energy_j.mean
        if net is not None and net <= 0:
            out.append(Issue(code="net_energy_not_positive", severity="error",
                             message=f"{wl.workload}: mean net energy {net:.4g} J is not above zero (gross "
                                     f"{agg.gross_energy_j.mean or 0:.4g} J, idle baseline {idle_w or 0:.4g} W): "
                                     "the idle baseline or the measurement is wrong"))
        for label, stat in (("net", agg.energy_per_unit_j), ("gross", agg.gross_energy_per_unit_j)):
            if stat.ci95_low is not None and stat.ci95_low < 0:
                out.append(Issue(code="ci_below_zero",
                                 message=f"{wl.workload}: the 95% CI of {label} J/{wl.unit or 'unit'} reaches "
                                         f"{stat.ci95_low:.4g}, below zero (n={stat.n}): the figure is not "
                                         "resolved; measure longer or more repeats"))
        loaded_w = agg.mean_power_w.mean
        if idle_w is not None and loaded_w and idle_w >= IDLE_NEAR_LOAD * loaded_w:
            out.append(Issue(code="idle_near_load",
                             message=f"{wl.workload}: idle power {idle_w:.4g} W is {idle_w / loaded_w:.1%} of the "
                                     f"loaded {loaded_w:.4g} W (flagged from {IDLE_NEAR_LOAD:.0%}): the work "
                                     "barely shows on this sensor, or the device was not idle"))
    return out


def _estimate_issues(result: Result) -> list[Issue]:
    out = []
    for ch in result.measurement.channels:
        share, busy = ch.describe.get("process_cpu_share"), ch.describe.get("busy_cpu_s")
        if not isinstance(share, (int, float)) or share >= MIN_PROCESS_SHARE:
            continue
        if isinstance(busy, (int, float)) and busy < MIN_BUSY_S:
            continue
        out.append(Issue(code="estimate_polluted",
                         message=f"{ch.channel}: this run's process used {share:.0%} of the busy CPU time; the "
                                 "estimate bills the rest (other processes) to the benchmark too"))
    return out


WINDOW_CODES = ("counter_missing",)  # window issues summarised at run level, so every view shows them


def _window_issues(result: Result) -> list[Issue]:
    out = []
    for code in WINDOW_CODES:
        hits = [i for w in result.windows for i in w.issues if i.code == code]
        if hits:
            out.append(Issue(code=code, window=hits[0].window, severity=hits[0].severity,
                             message=f"{len({i.window for i in hits})} window(s): {hits[0].message}"))
    return out


def sanity_issues(result: Result) -> list[Issue]:
    """The run-level sanity findings of ``result`` (see the module docstring)."""
    return _stat_issues(result) + _estimate_issues(result) + _window_issues(result)


def rated_power_issues(windows: list[Window], rated_w: float, source: str = "") -> dict[str, Issue]:
    """Window name -> the issue of a window whose readings or energy the rated power ``rated_w`` (W) rules out."""
    out: dict[str, Issue] = {}
    where = f" ({source})" if source else ""
    for w in windows:
        peak, energy = w.peak_power_w, w.energy_j
        if peak is not None and peak > PEAK_OVER_RATED * rated_w:
            out[w.name] = Issue(code="over_rated_peak", window=w.name, severity="error",
                                message=f"{w.name}: a reading of {peak:.6g} W is over {PEAK_OVER_RATED:g} x the "
                                        f"rated {rated_w:g} W{where}: a unit slip (mW as W?) or the wrong device")
        elif energy is not None and w.duration_s > 0 and energy > ENERGY_OVER_RATED * rated_w * w.duration_s:
            out[w.name] = Issue(code="over_rated_energy", window=w.name, severity="error",
                                message=f"{w.name}: {energy:.6g} J in {w.duration_s:.4g} s is "
                                        f"{energy / w.duration_s:.6g} W on average, over the rated {rated_w:g} W"
                                        f"{where} x {ENERGY_OVER_RATED:g}: not physical for the part")
    return out


def merge_issues(existing: list[Issue], found: list[Issue]) -> list[Issue]:
    """``existing`` plus the ``found`` issues it does not hold yet (same code and message)."""
    seen = {(i.code, i.message) for i in existing}
    return existing + [i for i in found if (i.code, i.message) not in seen]
