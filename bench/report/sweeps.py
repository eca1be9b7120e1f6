"""The report's sweep section: per sweep and workload, the energy-time frontier figure, the points with their
savings and slowdowns, and the recommended settings (from :mod:`bench.analysis.sweep`)."""

from __future__ import annotations

import logging
from pathlib import Path

from bench.analysis.sweep import SweepAnalysis, WorkloadSweep, analyse
from bench.errors import ResultError
from bench.report import html as h
from bench.report import plots
from bench.result.store import Run
from bench.result.sweep import SweepRecord, load_points, load_sweep

log = logging.getLogger(__name__)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _ci(low: float | None, high: float | None) -> str:
    return "unbounded" if low is None or high is None else f"{low:.1%} \u2013 {high:.1%}"


def _mean_ci(mean: float | None, low: float | None, high: float | None) -> str:
    if mean is None:
        return "-"
    text = plots.nice_number(mean)
    if low is not None and high is not None:
        text += f'<span class="sub">{h.esc(plots.nice_number(low))} \u2013 {h.esc(plots.nice_number(high))}</span>'
    return text


def _table(ws: WorkloadSweep, anchors: dict[str, str]) -> str:
    unit = ws.unit or "unit"
    headers = [("point", False), ("setting", False), ("status", False), (f"J/{unit} (95% CI)", True),
               (f"s/{unit} (95% CI)", True), ("power W", True), ("clock MHz", True), ("saving (95% CI)", True),
               ("slowdown (95% CI)", True), ("frontier", False)]
    rows = []
    for p in ws.points:
        anchor = anchors.get(p.label)
        name = f'<a href="#{h.esc(anchor)}">{h.esc(p.label)}</a>' if anchor else h.esc(p.label)
        saving = "-" if p.baseline else f'{_pct(p.saving)}<span class="sub">{h.esc(_ci(p.saving_low, p.saving_high))}</span>'
        slow = "-" if p.baseline else f'{_pct(p.slowdown)}<span class="sub">{h.esc(_ci(p.slowdown_low, p.slowdown_high))}</span>'
        rows.append([
            h.Cell(name, p.label), h.text(p.setting), h.text(p.status),
            h.Cell(_mean_ci(p.energy_j, p.energy_low, p.energy_high), "" if p.energy_j is None else repr(p.energy_j),
                   num=True),
            h.Cell(_mean_ci(p.time_s, p.time_low, p.time_high), "" if p.time_s is None else repr(p.time_s), num=True),
            h.number(p.power_w, plots.nice_number(p.power_w)),
            h.number(p.mean_clock_mhz, plots.nice_number(p.mean_clock_mhz)),
            h.Cell(saving, "" if p.saving is None else repr(p.saving), num=True),
            h.Cell(slow, "" if p.slowdown is None else repr(p.slowdown), num=True),
            h.text("on the frontier" if p.on_frontier else ""),
        ])
    return h.table(headers, rows)


def _recommendations(ws: WorkloadSweep) -> str:
    items = []
    for rec in ws.recommendations:
        if rec.point == ws.baseline:
            text = f"<b>{h.esc(rec.title)}</b>: keep the setting as found ({h.esc(rec.point)})"
        else:
            text = (f"<b>{h.esc(rec.title)}</b>: {h.esc(rec.setting)} ({h.esc(rec.point)}) saves "
                    f"{_pct(rec.saving)} ({h.esc(_ci(rec.saving_low, rec.saving_high))}) of the energy per "
                    f"{h.esc(ws.unit or 'unit')} at {_pct(rec.slowdown)} ({h.esc(_ci(rec.slowdown_low, rec.slowdown_high))}) "
                    "slowdown")
        notes = "".join(f"<li>{h.esc(n)}</li>" for n in rec.notes)
        items.append(f"<li>{text}{f'<ul>{notes}</ul>' if notes else ''}</li>")
    return f'<ul class="small">{"".join(items)}</ul>' if items else '<p class="muted small">no complete point</p>'


def _figure(ws: WorkloadSweep, analysis: SweepAnalysis, fmt: str) -> str:
    recommended: dict[str, list[str]] = {}
    for rec in ws.recommendations:
        recommended.setdefault(rec.point, []).append(rec.title)
    pts = [{"label": p.setting if not p.baseline else "as found", "time": p.time_s, "time_low": p.time_low,
            "time_high": p.time_high, "energy": p.energy_j, "energy_low": p.energy_low,
            "energy_high": p.energy_high, "frontier": p.on_frontier, "baseline": p.baseline,
            "recommended": recommended.get(p.label, [])} for p in ws.points]
    label = "gross energy" if analysis.metric == "gross" else "net energy"
    uri = plots.sweep_frontier(pts, ws.unit or "unit", label, fmt)
    return h.image(uri, f"{ws.workload}: energy per unit against time per unit, with the frontier", lazy=False)


def sweep_section(folder: Path, record: SweepRecord, analysis: SweepAnalysis, anchors: dict[str, str],
                  fmt: str) -> str:
    dev = record.device
    restored = record.restored
    head = (f'<h3>{h.esc(folder.name)} <span class="muted">\u2014 {h.esc(dev.get("name", "?"))} '
            f'({h.esc(dev.get("spec", "?"))}), {h.esc(record.status)}</span></h3>')
    facts = [("points", ", ".join(p.label for p in record.points)),
             ("as found", ", ".join(f"{k} {v}" for k, v in record.original.items() if v is not None) or "-"),
             ("originals", ("put back: " if restored.ok else "NOT put back: ") + restored.detail if restored
              else "not put back yet (killed or running): `bench sweep --restore`"),
             ("method", analysis.method)]
    parts = [head, h.definition_box(facts, warn=restored is None or not restored.ok)]
    for note in record.notes:
        parts.append(f'<p class="muted small">{h.esc(note)}</p>')
    for ws in analysis.workloads:
        parts.append(f"<h4>{h.esc(ws.workload)}</h4>")
        parts.append(f'<div class="figs"><div>{_figure(ws, analysis, fmt)}</div><div>{_recommendations(ws)}</div></div>')
        parts.append(_table(ws, anchors))
    return "\n".join(parts)


def sweeps(folders: list[Path], runs: list[Run], run_anchors: dict[str, str], fmt: str) -> str:
    """The sweep section of the report ('' without sweeps); a point links to its run's section."""
    if not folders:
        return ""
    by_folder = {run.folder.resolve(): run_anchors.get(run.label, "") for run in runs}
    parts = ['<h2 id="sweeps">Sweeps</h2>',
             '<p class="muted small">Each point is a full run at one device setting. The frontier holds the settings '
             "no other one beats on both energy and time per unit; stars mark the recommended settings.</p>"]
    for folder in folders:
        try:
            folder, record = load_sweep(folder)
            points, paths, missing = load_points(folder, record)
            analysis = analyse(points, record.metric, record.max_slowdown, paths)
        except ResultError as exc:
            parts.append(f'<div class="box warn">sweep {h.esc(folder)}: {h.esc(exc)}</div>')
            continue
        anchors = {label: by_folder.get(path.resolve(), "") for label, path in paths.items()}
        parts.append(sweep_section(folder, record, analysis, anchors, fmt))
        for label, why in missing:
            parts.append(f'<p class="box warn small">{h.esc(label)}: {h.esc(why)}</p>')
    return "\n".join(parts)
