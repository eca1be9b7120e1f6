"""A sweep's energy-time frontier and its recommendations, from the results of its points (reads results only).

Each point of a sweep is a full run at one device setting (:mod:`bench.sweep`); its result records the setting.
Per workload, for every point:

- **energy per unit** (gross by default: what the device drew per unit of work) and **time per unit** (window
  duration / units), each a mean over the clean repeats with a Student-t 95% CI;
- **saving** ``1 - E/E0`` and **slowdown** ``T/T0 - 1`` against the baseline point (the setting as found), each
  with a 95% CI from Fieller's interval of the ratio of the means (:func:`bench.analysis.compare.fieller_ratio`);
- whether it is on the **Pareto frontier**: no other point has both a lower mean energy and a lower mean time.

Recommendations: the **lowest-energy** setting, and the lowest-energy setting whose mean slowdown is within the
budget (``max_slowdown``; the baseline always is). Each states its saving and slowdown with their CIs, and says
when the saving is not significant (its CI reaches 0) or the slowdown's CI reaches past the budget.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.analysis.compare import fieller_ratio
from bench.analysis.stats import summarize
from bench.errors import ResultError
from bench.result.model import Result

log = logging.getLogger(__name__)

METRICS = {"gross": ("gross_energy_per_unit_j", "gross energy"), "net": ("energy_per_unit_j", "net energy")}
LOWEST, WITHIN = "lowest_energy", "within_budget"


@dataclass
class PointFigures:
    """One point's figures for one workload: J and s per unit (means, 95% CI), saving and slowdown (fractions)
    against the baseline with their 95% CIs (None where unbounded or not computable)."""

    label: str
    setting: str
    baseline: bool
    status: str
    power_limit_w: float | None = None
    sm_clock_mhz: float | None = None
    n: int = 0
    energy_j: float | None = None
    energy_low: float | None = None
    energy_high: float | None = None
    time_s: float | None = None
    time_low: float | None = None
    time_high: float | None = None
    throughput: float | None = None
    power_w: float | None = None
    saving: float | None = None
    saving_low: float | None = None
    saving_high: float | None = None
    slowdown: float | None = None
    slowdown_low: float | None = None
    slowdown_high: float | None = None
    on_frontier: bool = False
    observed_power_limit_w: float | None = None
    mean_clock_mhz: float | None = None
    notes: list[str] = field(default_factory=list)

    def usable(self) -> bool:
        return self.energy_j is not None and self.time_s is not None


@dataclass
class Recommendation:
    """A setting to use and what it buys: saving and slowdown (fractions) with 95% CIs."""

    kind: str  # lowest_energy | within_budget
    title: str
    point: str
    setting: str
    saving: float | None
    saving_low: float | None
    saving_high: float | None
    slowdown: float | None
    slowdown_low: float | None
    slowdown_high: float | None
    significant: bool
    notes: list[str] = field(default_factory=list)


@dataclass
class WorkloadSweep:
    workload: str
    unit: str | None
    metric: str
    baseline: str
    max_slowdown: float
    points: list[PointFigures]
    recommendations: list[Recommendation]
    notes: list[str] = field(default_factory=list)

    def recommendation(self, kind: str) -> Recommendation | None:
        return next((r for r in self.recommendations if r.kind == kind), None)


@dataclass
class SweepAnalysis:
    metric: str
    max_slowdown: float
    workloads: list[WorkloadSweep]
    method: str

    def as_dict(self) -> dict[str, Any]:
        return _finite(asdict(self))

    def workload(self, name: str) -> WorkloadSweep:
        for w in self.workloads:
            if w.workload == name:
                return w
        raise ResultError(f"the sweep has no workload {name!r}")


def method_text(metric: str, max_slowdown: float) -> str:
    label = METRICS[metric][1]
    return (f"Per point: mean {label} per unit and mean time per unit over clean repeats, 95% CI (Student t). "
            "Saving = 1 - E/E0 and slowdown = T/T0 - 1 against the baseline (the setting as found), 95% CI by "
            "Fieller's interval of the ratio of means. Frontier: points no other point beats on both mean energy "
            f"and mean time. Recommended: the lowest mean energy, and the lowest within a mean slowdown of "
            f"{max_slowdown:.1%}.")


# --- figures ------------------------------------------------------------------------------------


def _values(result: Result, workload: str, column: str) -> tuple[list[float], list[float], Any]:
    """(energy per unit, time per unit) over the clean repeats of ``workload``, and the workload's result."""
    try:
        wr = result.workload(workload)
    except ResultError:
        return [], [], None
    energy, time_ = [], []
    for r in wr.repeats:
        value = getattr(r, column)
        if r.clean and value is not None and r.units and math.isfinite(value):
            energy.append(float(value))
            time_.append(r.duration_s / r.units)
    return energy, time_, wr


def _ratio(values: list[float], base: list[float]) -> tuple[float | None, float | None, float | None]:
    ci = fieller_ratio(values, base)
    if ci is not None:
        return ci.ratio, ci.low, ci.high
    if values and base and math.fsum(base):
        return (math.fsum(values) / len(values)) / (math.fsum(base) / len(base)), None, None
    return None, None, None


def _point(label: str, result: Result, workload: str, column: str) -> tuple[PointFigures, list[float], list[float]]:
    setting = result.setting
    energy, time_, wr = _values(result, workload, column)
    fig = PointFigures(label=label, setting=setting.text() if setting else "as found",
                       baseline=bool(setting is None or setting.baseline),
                       status=wr.status if wr is not None else "missing",
                       power_limit_w=setting.power_limit_w if setting else None,
                       sm_clock_mhz=setting.sm_clock_mhz if setting else None)
    e, t = summarize(energy), summarize(time_)
    fig.n = int(e["n"] or 0)
    fig.energy_j, fig.energy_low, fig.energy_high = e["mean"], e["ci95_low"], e["ci95_high"]
    fig.time_s, fig.time_low, fig.time_high = t["mean"], t["ci95_low"], t["ci95_high"]
    if wr is not None and wr.aggregate is not None:
        fig.throughput, fig.power_w = wr.aggregate.throughput.mean, wr.aggregate.mean_power_w.mean
    if wr is not None and wr.status != "complete":
        fig.notes.append(f"{wr.status}" + (f": {wr.reason}" if wr.reason else ""))
    return fig, energy, time_


def _against(fig: PointFigures, energy: list[float], time_: list[float], base_e: list[float],
             base_t: list[float]) -> None:
    r, lo, hi = _ratio(energy, base_e)
    if r is not None:
        fig.saving = 1 - r
        fig.saving_low, fig.saving_high = (1 - hi if hi is not None else None), (1 - lo if lo is not None else None)
    r, lo, hi = _ratio(time_, base_t)
    if r is not None:
        fig.slowdown = r - 1
        fig.slowdown_low, fig.slowdown_high = (lo - 1 if lo is not None else None), (hi - 1 if hi is not None else None)


def pareto(points: list[PointFigures]) -> list[PointFigures]:
    """The points no other point beats on both mean time and mean energy per unit, fastest first."""
    usable = [p for p in points if p.usable()]
    front = [p for p in usable if not any(
        q is not p and q.time_s <= p.time_s and q.energy_j <= p.energy_j  # type: ignore[operator]
        and (q.time_s < p.time_s or q.energy_j < p.energy_j) for q in usable)]  # type: ignore[operator]
    return sorted(front, key=lambda p: p.time_s)  # type: ignore[arg-type, return-value]


# --- recommendations ----------------------------------------------------------------------------


def _recommend(kind: str, title: str, fig: PointFigures, budget: float | None) -> Recommendation:
    rec = Recommendation(kind=kind, title=title, point=fig.label, setting=fig.setting, saving=fig.saving,
                         saving_low=fig.saving_low, saving_high=fig.saving_high, slowdown=fig.slowdown,
                         slowdown_low=fig.slowdown_low, slowdown_high=fig.slowdown_high,
                         significant=fig.saving_low is not None and fig.saving_low > 0)
    if fig.baseline:
        rec.significant = False
        rec.notes.append("no setting measured uses less energy" + (" within the slowdown budget" if budget is not None
                                                                   else "") + ": keep the setting as found")
        return rec
    if fig.saving_low is None:
        rec.notes.append("the saving has no bounded confidence interval (too few repeats, or too much spread)")
    elif fig.saving_low <= 0:
        rec.notes.append("the saving is not significant at 95%: its confidence interval reaches 0")
    if budget is not None and fig.slowdown_high is not None and fig.slowdown_high > budget:
        rec.notes.append(f"the slowdown's 95% CI reaches {fig.slowdown_high:.1%}, past the {budget:.1%} budget")
    if fig.observed_power_limit_w is not None and fig.power_limit_w is not None \
            and abs(fig.observed_power_limit_w - fig.power_limit_w) > 1.0:
        rec.notes.append(f"the trace shows a power limit of {fig.observed_power_limit_w:g} W in force, not the "
                         f"{fig.power_limit_w:g} W set")
    return rec


def recommendations(points: list[PointFigures], max_slowdown: float) -> list[Recommendation]:
    usable = [p for p in points if p.usable() and p.status == "complete"]
    if not usable:
        return []
    out = [_recommend(LOWEST, "lowest energy", min(usable, key=lambda p: p.energy_j), None)]  # type: ignore
    within = [p for p in usable if p.baseline or (p.slowdown is not None and p.slowdown <= max_slowdown)]
    if within:
        out.append(_recommend(WITHIN, f"lowest energy within {max_slowdown:.1%} slowdown",
                              min(within, key=lambda p: p.energy_j), max_slowdown))  # type: ignore
    return out


# --- the trace: what was in force --------------------------------------------------------------


def trace_figures(folder: Path, result: Result, workload: str) -> tuple[float | None, float | None]:
    """(median power limit W, mean clock MHz) the trace shows over ``workload``'s repeat windows; None where the
    trace or the figure is missing."""
    from bench.result import trace as trace_mod

    spans = [(w.t_start_ns, w.t_end_ns) for w in result.windows if w.name.startswith(f"{workload}/repeat.")]
    if not spans:
        return None, None
    try:
        table = trace_mod.read_trace(trace_mod.trace_path(Path(folder)), ["t_ns", "power_limit_w", "clock_mhz"])
    except (ResultError, OSError) as exc:
        log.debug("%s: trace unreadable: %s", folder, exc)
        return None, None
    t = table.column("t_ns").to_pylist()
    inside = [i for i, x in enumerate(t) if any(a <= x <= b for a, b in spans)]

    def pick(column: str) -> list[float]:
        col = table.column(column).to_pylist()
        return [float(col[i]) for i in inside if col[i] is not None]

    limits, clocks = sorted(pick("power_limit_w")), pick("clock_mhz")
    limit = limits[len(limits) // 2] if limits else None
    return limit, (math.fsum(clocks) / len(clocks) if clocks else None)


# --- the whole sweep ----------------------------------------------------------------------------


def analyse(points: list[tuple[str, Result]], metric: str = "gross", max_slowdown: float = 0.05,
            folders: dict[str, Path] | None = None) -> SweepAnalysis:
    """The frontier and recommendations of a sweep's ``points`` ((label, result) in sweep order; the baseline is
    the point whose setting is marked baseline, else the first). ``folders`` (label -> run folder) adds what each
    point's trace shows was in force."""
    if metric not in METRICS:
        raise ResultError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    column = METRICS[metric][0]
    if not points:
        return SweepAnalysis(metric, max_slowdown, [], method_text(metric, max_slowdown))
    base_label = next((lb for lb, r in points if r.setting is not None and r.setting.baseline), points[0][0])
    names = list(dict.fromkeys(w.workload for _, r in points for w in r.workloads))
    out = []
    for name in names:
        figs, values = [], {}
        for label, result in points:
            fig, energy, time_ = _point(label, result, name, column)
            if folders and label in folders:
                fig.observed_power_limit_w, fig.mean_clock_mhz = trace_figures(folders[label], result, name)
            figs.append(fig)
            values[label] = (energy, time_)
        base_e, base_t = values[base_label]
        for fig in figs:
            if fig.label != base_label:
                _against(fig, *values[fig.label], base_e, base_t)
            else:
                fig.saving = fig.slowdown = 0.0 if fig.usable() else None
        for fig in pareto(figs):
            fig.on_frontier = True
        unit = next((w.unit for _, r in points for w in r.workloads if w.workload == name and w.unit), None)
        ws = WorkloadSweep(workload=name, unit=unit, metric=metric, baseline=base_label, max_slowdown=max_slowdown,
                           points=figs, recommendations=recommendations(figs, max_slowdown))
        if not values[base_label][0]:
            ws.notes.append(f"the baseline {base_label} has no clean repeat of {name}: no saving or slowdown")
        out.append(ws)
    return SweepAnalysis(metric, max_slowdown, out, method_text(metric, max_slowdown))


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities as None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
