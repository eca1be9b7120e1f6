"""How a sweep folder is shown: the points, the frontier and the recommendations as a table and lines
(``bench sweep``, ``bench show SWEEP``), as JSON, and which point ``bench score SWEEP`` grades."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _ci(low: float | None, high: float | None) -> str:
    return "(unbounded)" if low is None or high is None else f"({low:.1%} to {high:.1%})"


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    mag = abs(value)
    return f"{value:.3e}" if mag and (mag >= 1e5 or mag < 1e-3) else f"{value:.4g}"


def _mean_ci(mean: float | None, low: float | None, high: float | None) -> str:
    if mean is None:
        return "-"
    if low is None or high is None or not mean:
        return _num(mean) + " (n=1)"
    return f"{_num(mean)} ±{(high - low) / 2 / abs(mean):.1%}"


def analysis_of(folder: Path, max_slowdown: float | None = None, metric: str | None = None) -> tuple[Any, Any, Any]:
    """(record, analysis, unreadable points) of the sweep in ``folder``."""
    from bench.analysis.sweep import analyse
    from bench.result.sweep import load_points, load_sweep

    folder, record = load_sweep(folder)
    points, folders, missing = load_points(folder, record)
    result = analyse(points, metric or record.metric, record.max_slowdown if max_slowdown is None else max_slowdown,
                     folders)
    return record, result, missing


def sweep_json(folder: Path, max_slowdown: float | None = None, metric: str | None = None) -> str:
    import json

    record, result, missing = analysis_of(folder, max_slowdown, metric)
    data = {"sweep": record.model_dump(mode="json"), "analysis": result.as_dict(),
            "unreadable_points": [{"point": p, "why": why} for p, why in missing]}
    return json.dumps(data, indent=2, allow_nan=False)


def print_sweep(folder: Path, console: Any, max_slowdown: float | None = None, metric: str | None = None) -> None:
    """The sweep's points, frontier and recommendations as a table and lines."""
    from rich.table import Table

    record, result, missing = analysis_of(folder, max_slowdown, metric)
    dev = record.device
    console.print(f"sweep {folder.name}: {dev.get('name', '?')} ({dev.get('spec', '?')}), {record.status}"
                  + (f": {record.reason}" if record.reason else ""), markup=False, highlight=False, soft_wrap=True)
    for ws in result.workloads:
        label = "gross" if ws.metric == "gross" else "net"
        unit = ws.unit or "unit"
        table = Table(title=f"{ws.workload}: {label} energy and time per {unit} (mean ±95% CI half-width); "
                            f"saving and slowdown against {ws.baseline}", title_justify="left")
        for col in ("point", "setting", "status", f"J/{unit}", f"s/{unit}", "power W", "clock MHz", "saving (95% CI)",
                    "slowdown (95% CI)", "frontier"):
            table.add_column(col, justify="left" if col in ("point", "setting", "status", "frontier") else "right",
                             overflow="fold")
        for p in ws.points:
            saving = "-" if p.baseline else f"{_pct(p.saving)} {_ci(p.saving_low, p.saving_high)}"
            slowdown = "-" if p.baseline else f"{_pct(p.slowdown)} {_ci(p.slowdown_low, p.slowdown_high)}"
            table.add_row(p.label, p.setting, p.status, _mean_ci(p.energy_j, p.energy_low, p.energy_high),
                          _mean_ci(p.time_s, p.time_low, p.time_high), _num(p.power_w), _num(p.mean_clock_mhz),
                          saving, slowdown, "*" if p.on_frontier else "")
        console.print(table)
        for rec in ws.recommendations:
            line = (f"recommended ({rec.title}): {rec.point} ({rec.setting})" if rec.point != ws.baseline else
                    f"recommended ({rec.title}): {rec.point} ({rec.setting}), the setting as found")
            if rec.point != ws.baseline:
                line += (f": saves {_pct(rec.saving)} {_ci(rec.saving_low, rec.saving_high)} of {label} energy per "
                         f"{unit} at {_pct(rec.slowdown)} {_ci(rec.slowdown_low, rec.slowdown_high)} slowdown")
            console.print(line, markup=False, highlight=False, soft_wrap=True)
            for note in rec.notes:
                console.print(f"  note: {note}", markup=False, highlight=False, soft_wrap=True)
        for note in ws.notes:
            console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    for note in record.notes:
        console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    for label, why in missing:
        console.print(f"warning: {label}: {why}", markup=False, highlight=False, soft_wrap=True)
    if record.restored is not None:
        state = "put back" if record.restored.ok else "NOT put back"
        console.print(f"original settings {state}: {record.restored.detail}", markup=False, highlight=False, soft_wrap=True)
    elif record.status == "running":
        console.print("warning: the sweep did not finish (killed or still running): run `bench sweep --restore` "
                      "if its settings are still in force", markup=False, highlight=False, soft_wrap=True)
    console.print(f"method: {result.method}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"sweep: {folder}", markup=False, highlight=False, soft_wrap=True)


def chosen_point(folder: Path, which: str = "recommended") -> tuple[Path, str]:
    """The point folder of a sweep that ``which`` names (recommended: the lowest energy within the sweep's
    slowdown budget; lowest-energy; baseline) and a line saying what it is."""
    from bench.analysis.sweep import LOWEST, WITHIN
    from bench.errors import ResultError

    record, result, _ = analysis_of(folder)
    if not result.workloads:
        raise ResultError(f"{folder}: the sweep has no measured point")
    ws = result.workloads[0]
    if which == "baseline":
        label, why = ws.baseline, "the setting as found (the sweep's baseline)"
    else:
        rec = ws.recommendation(WITHIN if which == "recommended" else LOWEST)
        if rec is None:
            raise ResultError(f"{folder}: the sweep has no complete point to recommend")
        label, why = rec.point, f"the sweep's recommendation: {rec.title}"
    point = next(p for p in record.points if p.label == label)
    setting = next(p.setting for p in ws.points if p.label == label)
    extra = f" (chosen on {ws.workload})" if len(result.workloads) > 1 else ""
    return Path(folder) / point.folder, f"sweep {Path(folder).name}: graded at {label}, {setting}: {why}{extra}"
