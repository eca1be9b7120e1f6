"""The report's sections: header, method box, a leaderboard per comparable group, and one section per run."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from typing import Any

from bench.analysis.frame import Grader
from bench.report import html as h
from bench.report import plots
from bench.result.store import LoadReport, Run
from bench.version import __version__

log = logging.getLogger(__name__)
METRIC_COLUMNS = {"gross": ("gross_energy_per_unit_j", "gross J"), "net": ("energy_per_unit_j", "net J")}
GROUP_KEYS = ("workload", "preset", "dtype")


def cell_value(value: Any) -> Any:
    """A DataFrame cell as a plain value (pandas' missing values as None; lists kept)."""
    import pandas as pd

    if isinstance(value, (list, tuple)):
        return value
    return None if value is None or value is pd.NA or pd.isna(value) else value


def _ci_text(low: Any, high: Any) -> str:
    return "-" if low is None or high is None else f"{plots.nice_number(low)} \u2013 {plots.nice_number(high)}"


# --- header and method ------------------------------------------------------------------------


def header(title: str, report: LoadReport, n_rows: int) -> str:
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    parts = [f"<h1>{h.esc(title)}</h1>",
             f'<p class="muted">{len(report.runs)} result(s), {n_rows} workload result(s); generated {h.esc(now)} '
             f"by bench {h.esc(__version__)}. Self-contained: no external assets. "
             '<a href="#method">Method</a> \u00b7 <a href="#runs">Runs</a></p>']
    if report.skipped:
        items = "".join(f"<li><code>{h.esc(p)}</code>: {h.esc(why)}</li>" for p, why in report.skipped)
        parts.append(f'<div class="box warn"><h3>Skipped inputs ({len(report.skipped)})</h3><ul>{items}</ul></div>')
    return "\n".join(parts)


def method_box(grader: Grader | None, metric: str) -> str:
    col, label = METRIC_COLUMNS[metric]
    items: list[tuple[str, Any]] = [
        ("ranking", f"mean {label} per unit over clean repeats, lower is better; groups never mix workload, preset "
                    "or dtype"),
        ("statistics", "mean and 95% confidence interval (Student t over repeats); `bench compare` gives ratios "
                       "with Fieller intervals and Welch's t-test"),
        ("integrity", "SHA-256 of result.json's canonical content and of the trace, checked for every row; "
                      "Ed25519 signature where signed"),
    ]
    std = grader.standard if grader is not None else None
    if std is not None:
        items.append(("standard", f"{std.id} ({std.status}, {std.date}); grades A-G by absolute bands"))
    else:
        items.append(("standard", f"none: {grader.error if grader is not None else 'grading off'}"))
    fp = grader.footprint if grader is not None else None
    if fp is not None:
        per = std.reported.per_units if std is not None else 1000
        overhead = (f"{fp.server_overhead:g} - {fp.server_overhead_source}" if fp.server_overhead is not None
                    else "each device's hardware profile (1 where it gives none); see each run")
        items += [
            ("footprint", f"carbon and water per {per:,} units of gross energy x server overhead (IT energy), then "
                          "PUE and WUE; 'accel.' figures count the device's own energy only"),
            ("carbon intensity", f"{fp.carbon_intensity_g_per_kwh:g} {fp.carbon_unit}/kWh ({fp.carbon_basis}) - "
                                 f"{fp.carbon_source}"),
            ("server overhead", overhead),
            ("PUE", f"{fp.pue:g} - {fp.pue_source}"),
            ("WUE (on-site)", f"{fp.wue_l_per_kwh:g} L/kWh - {fp.wue_source}"),
            ("EWIF (off-site)", f"{fp.ewif_l_per_kwh:g} L/kWh - {fp.ewif_source}"),
        ]
    return f'<div id="method">{h.definition_box(items, "Method")}</div>'


# --- leaderboards -----------------------------------------------------------------------------


def _group_title(key: tuple[Any, ...]) -> str:
    return " \u00b7 ".join(str(k) if k is not None else "-" for k in key)


def leaderboard(rows: list[dict[str, Any]], metric: str, anchors: dict[str, str], gid: int) -> str:
    col, label = METRIC_COLUMNS[metric]
    unit = next((r["unit"] for r in rows if r["unit"]), "unit")
    ranked = sorted(rows, key=lambda r: (r[col] is None, r[col] if r[col] is not None else 0.0))
    other_label = METRIC_COLUMNS["net" if metric == "gross" else "gross"][1]
    headers = [("#", True), ("run", False), ("device", False), ("batch", True),
               (f"{label}/{unit} (95% CI)", True), (f"{other_label}/{unit}", True),
               (f"{unit}/s", True), ("latency ms p50/p99", True), ("power W", True), ("grade", False),
               ("conforms", False), ("quality", True), ("carbon g/1k", True), ("mL water/1k", True),
               ("integrity", False)]
    other = METRIC_COLUMNS["net" if metric == "gross" else "gross"][0]
    body = []
    for rank, r in enumerate(ranked, 1):
        anchor = anchors.get(r["run"], "")
        grade = r["grade"]
        body.append([
            h.number(rank, str(rank)),
            h.Cell(f'<a href="#{h.esc(anchor)}">{h.esc(r["run"])}</a>', r["run"]),
            h.Cell(f'{h.esc(r["device"])}<span class="sub">{h.esc(r["profile"] or "no profile")}</span>',
                   r["device"]),
            h.number(r["batch"], "-" if r["batch"] is None else str(r["batch"])),
            h.Cell(f'{h.esc(plots.nice_number(r[col]))}<span class="sub">'
                   f'{h.esc(_ci_text(r[f"{col}_ci_low"], r[f"{col}_ci_high"]))}</span>',
                   "" if r[col] is None else repr(float(r[col])), num=True),
            h.number(r[other], plots.nice_number(r[other])),
            h.number(r["throughput"], plots.nice_number(r["throughput"])),
            latency_cell(r),
            h.number(r["mean_power_w"], plots.nice_number(r["mean_power_w"])),
            h.Cell(h.badge(grade, r.get("grade_reason")), "~" if not grade else str(grade)),
            conforms_cell(r.get("conforms")),
            h.number(r["quality_level"], "-" if r["quality_level"] is None else f"L{r['quality_level']}"),
            footprint_cell(r["carbon_g"], r.get("carbon_accelerator_g")),
            footprint_cell(r["water_ml"], r.get("water_accelerator_ml")),
            h.Cell(h.integrity_badge(r["integrity"], r.get("integrity_detail", "")), r["integrity"]),
        ])
    return h.table(headers, body, css_id=f"board-{gid}")


def conforms_cell(conforms: Any) -> Any:
    """yes / no / - (not scored) for the leaderboard's conforms column."""
    text = "-" if conforms is None else ("yes" if conforms else "no")
    css = {"yes": "ok", "no": "bad"}.get(text, "")
    return h.Cell(f'<span class="state {css}">{text}</span>' if css else text, text)


def footprint_cell(server: Any, accelerator: Any) -> Any:
    """A carbon or water figure for the whole server, with the accelerator-only figure beneath."""
    sub = "" if accelerator is None else f'<span class="sub">accel. {h.esc(plots.nice_number(accelerator))}</span>'
    return h.Cell(f"{h.esc(plots.nice_number(server))}{sub}", "" if server is None else repr(float(server)), num=True)


def latency_cell(row: dict[str, Any]) -> Any:
    """p50 (sorts by it) over p99 of a step's latency, in ms; "-" where none was measured."""
    p50, p99 = row.get("latency_p50_s"), row.get("latency_p99_s")
    if p50 is None or p50 != p50:  # None or NaN
        return h.number(None, "-")
    tail = "" if p99 is None or p99 != p99 else f'<span class="sub">p99 {h.esc(plots.nice_number(p99 * 1e3))}</span>'
    return h.Cell(f"{h.esc(plots.nice_number(p50 * 1e3))}{tail}", repr(float(p50)), num=True)


def group_figures(rows: list[dict[str, Any]], metric: str, fmt: str, max_bars: int) -> str:
    col, label = METRIC_COLUMNS[metric]
    unit = next((r["unit"] for r in rows if r["unit"]), "unit")
    pts = [{"label": r["run"], "mean": r[col], "low": r[f"{col}_ci_low"], "high": r[f"{col}_ci_high"]}
           for r in rows if r[col] is not None]
    pts.sort(key=lambda p: p["mean"])
    note = ""
    if len(pts) > max_bars:
        note = f'<p class="muted small">Best {max_bars} of {len(pts)} shown; every result is in the table.</p>'
        pts = pts[:max_bars]
    bars = plots.energy_bars(pts, f"{label} per {unit}", fmt)
    front_pts = plots.frontier_points([{"label": r["run"], "throughput": r["throughput"], "energy": r[col]}
                                       for r in rows])
    if len(front_pts) < plots.FRONTIER_MIN_POINTS:  # one point is no frontier: say so in a line, not a chart
        what = "one result" if len(front_pts) == 1 else "no result with a throughput and energy"
        front_html = (f'<p class="muted small frontier-none">Efficiency frontier: {what} in this group, nothing '
                      "to draw.</p>")
    else:
        front = plots.frontier(front_pts, unit, fmt)
        front_html = h.image(front, "efficiency frontier: throughput versus energy per unit", lazy=False)
    return (f'<div class="figs"><div>{h.image(bars, f"energy per {unit} with 95% CI", lazy=False)}{note}</div>'
            f'<div>{front_html}</div></div>')


def leaderboards(records: list[dict[str, Any]], metric: str, anchors: dict[str, str], fmt: str,
                 max_bars: int) -> str:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(tuple(r[k] for k in GROUP_KEYS), []).append(r)
    parts = ["<h2>Leaderboards</h2>",
             '<p class="muted small">One table per workload, preset and dtype: results measured with other '
             "settings are never ranked together. Click a column header to sort.</p>"]
    for gid, (key, rows) in enumerate(groups.items(), 1):
        levels = sorted({r["quality_level"] for r in rows if r["quality_level"] is not None})
        warn = ""
        if len(levels) > 1:
            warn = (f'<p class="box warn small">Mixed measurement quality in this group (L{", L".join(map(str, levels))}):'
                    " compare within one level.</p>")
        parts.append(f'<h3 id="group-{gid}">{h.esc(_group_title(key))}</h3>{warn}')
        parts.append(leaderboard(rows, metric, anchors, gid))
        parts.append(group_figures(rows, metric, fmt, max_bars))
    return "\n".join(parts)


# --- runs -------------------------------------------------------------------------------------


def window_spans(run: Run) -> list[tuple[str, int, int]]:
    """(kind, start_ns, end_ns) of the idle, warm-up and measured windows; warm-up inferred where not recorded."""
    res = run.result
    wins = res.windows
    idle = [w for w in wins if w.name == "idle"] or [w for w in wins if w.name.startswith("idle.")]
    spans = [("idle", w.t_start_ns, w.t_end_ns) for w in idle]
    spans += [("warmup", w.t_start_ns, w.t_end_ns) for w in wins if "/warmup" in w.name]
    for wl in res.workloads:
        if any(w.name.startswith(f"{wl.workload}/warmup") for w in wins):
            continue
        first = next((w for w in wins if w.name == f"{wl.workload}/repeat.1"), None)
        warm_s = (wl.warmup or {}).get("duration_s")
        if first is not None and isinstance(warm_s, (int, float)) and warm_s > 0:
            spans.append(("warmup", first.t_start_ns - int(warm_s * 1e9), first.t_start_ns))
    spans += [("measured", w.t_start_ns, w.t_end_ns) for w in wins if "/repeat." in w.name]
    return spans


def trace_spec(run: Run, max_points: int, fmt: str) -> dict[str, Any]:
    return {"folder": str(run.folder), "t0_ns": run.result.trace.t0_ns, "spans": window_spans(run),
            "max_points": max_points, "fmt": fmt}


def draw_trace(spec: dict[str, Any]) -> str | None:
    """Worker entry: the run's trace figure; a broken trace gives None (reported as no data)."""
    base = spec.get("t0_ns")
    if base is None:
        starts = [a for _, a, _ in spec["spans"]]
        base = min(starts) if starts else None
        spec = {**spec, "t0_ns": base}
    if base is not None:
        spec = {**spec, "spans": [(k, (a - base) / 1e9, (b - base) / 1e9) for k, a, b in spec["spans"]]}
    try:
        return plots.power_trace(spec)
    except Exception as exc:  # noqa: BLE001 - one unreadable trace must not sink the report
        log.warning("%s: trace not plotted: %s", spec["folder"], exc)
        return None


def render_traces(specs: list[dict[str, Any]], workers: int) -> list[str | None]:
    """Draw every trace figure, in worker processes when there are many."""
    if workers <= 1 or len(specs) < 8:
        return [draw_trace(s) for s in specs]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    import matplotlib.backends.backend_agg  # noqa: F401 - imported once here, inherited by forked workers
    import matplotlib.figure  # noqa: F401
    import PIL.Image  # noqa: F401

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        return list(pool.map(draw_trace, specs, chunksize=max(1, len(specs) // (workers * 4))))


def run_method_items(run: Run, score: Any) -> list[tuple[str, Any]]:
    res = run.result
    m = res.measurement
    q = score.quality if score is not None else res.quality
    items: list[tuple[str, Any]] = [
        ("device", f"{res.device.get('name', '?')} ({res.device.get('spec', '?')})"),
        ("sampler", f"{m.sampler}: " + ", ".join(c.channel for c in m.channels)),
        ("sampling rate", f"{m.rate_hz:g} Hz requested, {plots.nice_number(m.achieved_rate_hz)} Hz achieved, "
                          f"{m.samples} samples"),
        ("quality level", (q.label if q.label.startswith(f"L{q.level}") else f"L{q.level} ({q.label})")
         if q else "not assessed"),
        ("idle baseline", f"{plots.nice_number(res.idle.power_w)} W over {plots.nice_number(res.idle.duration_s)} s"
         if res.idle else "none"),
        ("standard", (score.standard or {}).get("id", "-") if score is not None else "not graded"),
        ("harness", f"bench {res.harness.get('version', '?')}, schema {res.schema_version}"),
        ("integrity", f"{run.integrity.state}: {run.integrity.detail}"),
        ("digest", run.integrity.digest or "-"),
        ("folder", str(run.folder)),
    ]
    if score is not None and score.footprint is not None:
        fp = score.footprint
        items.append(("footprint factors", f"{fp.carbon_intensity_g_per_kwh:g} {fp.carbon_unit}/kWh "
                                           f"({fp.carbon_basis}), server overhead {fp.overhead:g} "
                                           f"({fp.server_overhead_source}), PUE {fp.pue:g}, "
                                           f"WUE {fp.wue_l_per_kwh:g} L/kWh, EWIF {fp.ewif_l_per_kwh:g} L/kWh"))
    if score is not None:
        items.append(("conforms", "yes" if score.conforms else
                      "no: " + "; ".join(c.line() for c in score.failed[:3]) +
                      (f" (+{len(score.failed) - 3} more)" if len(score.failed) > 3 else "")))
        for w in score.workloads:
            items.append((f"grade {w.workload}", w.grade or f"ungraded: {w.grade_reason}"))
    return items


def run_section(run: Run, anchor: str, score: Any, trace_uri: str | None, open_: bool, traces: bool) -> str:
    res = run.result
    issues = [f"{i.severity}: {i.message}" for i in res.issues]
    if score is not None:
        recorded = {(i.code, i.message) for i in res.issues}
        issues += [f"{i.severity}: {i.message} (found now)" for i in score.issues
                   if (i.code, i.message) not in recorded]
    issues += [f"{i.severity}: {w.workload}: {i.message}" for w in res.workloads for i in w.issues]
    issue_html = ""
    if issues:
        issue_html = '<ul class="small">' + "".join(f"<li>{h.esc(x)}</li>" for x in issues) + "</ul>"
    if traces:
        fig = h.image(trace_uri, f"power trace of {run.label}")
    else:
        fig = '<p class="muted small">power traces left out (--no-traces)</p>'
    summary = (f"{h.esc(run.label)} <span class=\"muted\">\u2014 {h.esc(res.device.get('name', '?'))}, "
               f"{h.esc(res.status)}</span> {h.integrity_badge(run.integrity.state, run.integrity.detail)}")
    return (f'<details class="run" id="{h.esc(anchor)}"{" open" if open_ else ""}><summary>{summary}</summary>'
            f"{h.definition_box(run_method_items(run, score), 'Method', warn=not run.integrity.ok)}"
            f"{issue_html}{fig}</details>")


def window_key() -> str:
    """The colour key of the shaded windows, as inline swatches (same colours as the figures)."""
    out = []
    for colour, alpha, label in plots.WINDOW_STYLE.values():
        r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
        out.append(f'<span class="swatch" style="background:rgba({r},{g},{b},{min(1.0, alpha + 0.15):.2f})"></span>'
                   f"{h.esc(label)}")
    return ", ".join(out)


def run_sections(runs: list[Run], anchors: dict[str, str], scores: dict[str, Any], uris: list[str | None],
                 traces: bool) -> str:
    open_ = len(runs) <= 12
    parts = ['<h2 id="runs">Runs</h2>', f'<p class="muted small">Power trace of each run: {window_key()}; each '
             "repeat in its own shade; the line is the device's power, reduced on long traces to bucket means with "
             "a min-max band.</p>"]
    for run, uri in zip(runs, uris):
        parts.append(run_section(run, anchors[run.label], scores.get(run.label), uri, open_, traces))
    return "\n".join(parts)


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 1)))


__all__: list[Callable[..., Any] | str] = ["header", "method_box", "leaderboards", "run_sections", "render_traces"]
