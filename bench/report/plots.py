"""The report's figures, drawn with matplotlib's object API (no pyplot, no global state) as data URIs.

Inputs are plain data (lists, tuples, paths) so figures can be drawn in worker processes. Traces are
streamed and downsampled to a bounded number of points per channel (bucket means with a min-max band), so
neither a figure's size nor the memory drawing it grows with the run's length. Every text from a result is set
with ``parse_math=False``: it is shown as written, never parsed as mathtext.
"""

from __future__ import annotations

import base64
import io
import math
import warnings
from pathlib import Path
from typing import Any

from bench.safetext import clean

WINDOW_STYLE = {  # kind -> (colour, alpha, legend label)
    "idle": ("#8a8a8a", 0.25, "idle baseline"),
    "warmup": ("#f0a030", 0.22, "warm-up"),
    "measured": ("#3a9a4a", 0.20, "measured repeats"),
}
LINE_COLOURS = ("#1f5fa8", "#c0392b", "#7d3c98", "#16a085", "#d35400", "#2c3e50")
RC = {"svg.fonttype": "none", "font.size": 8, "axes.titlesize": 9, "path.simplify": True,
      "axes.spines.top": False, "axes.spines.right": False}


def _figure(width_in: float, height_in: float, layout: str | None = None) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=72, layout=layout)


def _si_axis(axis: Any, unit: str, log: bool = False) -> None:
    """Ticks with SI prefixes (``500 µJ``, ``1.5 k``) on at most six labels: short enough never to run into each
    other, however small or large the figures. A log axis keeps its decades and labels no minor tick."""
    from matplotlib.ticker import EngFormatter, MaxNLocator, NullFormatter

    if not log:
        axis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10], min_n_ticks=3))
    axis.set_major_formatter(EngFormatter(unit=unit, places=None, sep="\u2009"))
    axis.set_minor_formatter(NullFormatter())


def data_uri(fig: Any, fmt: str = "png") -> str:
    """The figure as a ``data:`` URI: PNG at 108 dpi reduced to a 64-colour palette (about a quarter of
    the size of full colour, same look for flat plot colours), or SVG with text kept as text."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context(RC), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Attempt to set non-positive", UserWarning)  # extreme figures on log axes
        if fmt == "svg":
            fig.savefig(buf, format="svg", metadata={"Creator": None, "Date": None})
        else:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from PIL import Image

            fig.set_dpi(108)
            canvas = FigureCanvasAgg(fig)
            canvas.draw()
            image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
            image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(buf, "PNG")
    mime = "image/png" if fmt == "png" else "image/svg+xml"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode()}"


# --- power trace ------------------------------------------------------------------------------


MAX_CHANNELS = 16  # lines in one trace figure; a trace naming more plots its first ones


class _Series:
    """One channel reduced while the trace streams past: raw points while few, else equal-count buckets
    (mean, min, max) over its ``n`` expected points."""

    def __init__(self, n: int, points: int) -> None:
        import numpy as np

        self.n, self.points, self.k = n, points, 0
        self.raw = n <= points
        size = n if self.raw else points
        self.t, self.p = np.zeros(size), np.zeros(size)
        self.count = np.zeros(size)
        self.lo, self.hi = np.full(size, np.inf), np.full(size, -np.inf)
        self.carry: tuple[float, float] | None = None  # last (t, energy) of a counter-only channel

    def add(self, t: Any, p: Any) -> None:
        import numpy as np

        m = min(len(t), self.n - self.k)
        if m <= 0:
            return
        t, p = t[:m], p[:m]
        idx = np.arange(self.k, self.k + m)
        if not self.raw:
            idx = idx * self.points // self.n
        size = len(self.t)
        self.t += np.bincount(idx, weights=t, minlength=size)
        self.p += np.bincount(idx, weights=p, minlength=size)
        self.count += np.bincount(idx, minlength=size)
        np.minimum.at(self.lo, idx, p)
        np.maximum.at(self.hi, idx, p)
        self.k += m

    def result(self) -> tuple[Any, Any, Any, Any]:
        keep = self.count > 0
        t, mean = self.t[keep] / self.count[keep], self.p[keep] / self.count[keep]
        return (t, mean, None, None) if self.raw else (t, mean, self.lo[keep], self.hi[keep])


def _channels(batch: Any) -> list[tuple[str, Any]]:
    """(channel, row mask) for each channel in a batch."""
    import numpy as np

    encoded = batch.column("channel").dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    return [(str(name), codes == i) for i, name in enumerate(encoded.dictionary.to_pylist())
            if np.any(codes == i)]


def _columns(batch: Any) -> tuple[Any, Any, Any]:
    import numpy as np

    t_ns = batch.column("t_ns").to_numpy()
    power = batch.column("power_w").to_numpy(zero_copy_only=False).astype(float)
    energy = batch.column("energy_j").to_numpy(zero_copy_only=False).astype(float)
    power[~np.isfinite(power)] = np.nan
    energy[~np.isfinite(energy)] = np.nan
    return t_ns, power, energy


def trace_series(folder: Path | str, t0_ns: int | None, max_points: int = 600) -> dict[str, tuple[Any, Any, Any, Any]]:
    """Per channel (at most :data:`MAX_CHANNELS`): (t in s from ``t0_ns``, mean power W, min, max) reduced to about
    ``max_points`` points in all (min and max None where not reduced); power derived from the energy counter
    where the channel records none. The trace is streamed twice (count, then reduce): memory stays bounded
    whatever its length."""
    import numpy as np

    from bench.result.trace import iter_batches

    cols = ["t_ns", "channel", "power_w", "energy_j"]
    counts: dict[str, list[int]] = {}  # channel -> [finite power readings, finite energy readings]
    first: int | None = None
    for batch in iter_batches(Path(folder), cols):
        if batch.num_rows == 0:
            continue
        t_ns, power, energy = _columns(batch)
        first = int(t_ns.min()) if first is None else min(first, int(t_ns.min()))
        for ch, mask in _channels(batch):
            if ch not in counts and len(counts) >= MAX_CHANNELS:
                continue
            c = counts.setdefault(ch, [0, 0])
            c[0] += int(np.isfinite(power[mask]).sum())
            c[1] += int(np.isfinite(energy[mask]).sum())
    plotted = {ch: (n_p > 0, n_p if n_p > 0 else n_e - 1) for ch, (n_p, n_e) in counts.items() if n_p or n_e > 1}
    if not plotted:
        return {}
    base = t0_ns if t0_ns is not None else first
    points = max(50, int(max_points) // len(plotted))
    series = {ch: _Series(n, points) for ch, (_, n) in plotted.items()}
    for batch in iter_batches(Path(folder), cols):
        if batch.num_rows == 0:
            continue
        t_ns, power, energy = _columns(batch)
        t_all = (t_ns - base) / 1e9
        for ch, mask in _channels(batch):
            if ch not in series:
                continue
            t = t_all[mask]
            if plotted[ch][0]:
                p = power[mask]
                ok = np.isfinite(p) & np.isfinite(t)
                series[ch].add(t[ok], p[ok])
                continue
            e = energy[mask]
            ok = np.isfinite(e)
            t, e = t[ok], e[ok]
            carry = series[ch].carry
            if carry is not None:
                t, e = np.concatenate(([carry[0]], t)), np.concatenate(([carry[1]], e))
            if len(t):
                series[ch].carry = (float(t[-1]), float(e[-1]))
            dt = np.diff(t)
            good = dt > 0
            mid = ((t[1:] + t[:-1]) / 2)[good]
            series[ch].add(mid, np.diff(e)[good] / dt[good])
    return {ch: s.result() for ch, s in series.items() if s.count.any()}


def _shade(ax: Any, spans: list[tuple[str, float, float]]) -> None:
    """Shade the windows; measured repeats alternate in depth so each repeat stands out. The key to the
    colours is in the page (:data:`WINDOW_STYLE`), not in every figure."""
    for i, (kind, a, b) in enumerate(spans):
        colour, alpha, _ = WINDOW_STYLE[kind]
        ax.axvspan(a, b, color=colour, alpha=alpha * (1.45 if kind == "measured" and i % 2 else 1.0), lw=0)


def power_trace(spec: dict[str, Any]) -> str | None:
    """The power trace of one run with its windows shaded, as a data URI (None if the trace has no power).

    ``spec``: folder, t0_ns, spans [(kind, start_s, end_s)], max_points, fmt.
    """
    series = trace_series(spec["folder"], spec.get("t0_ns"), int(spec.get("max_points", 600)))
    if not series:
        return None
    fig = _figure(7.0, 2.1)
    fig.subplots_adjust(left=0.085, right=0.99, bottom=0.2, top=0.86 if len(series) > 1 else 0.95)
    ax = fig.add_subplot()
    from matplotlib.ticker import MaxNLocator

    _shade(ax, spec.get("spans", []))
    handles = []
    for i, (ch, (tm, mean, lo, hi)) in enumerate(series.items()):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        if lo is not None:
            ax.fill_between(tm, lo, hi, color=colour, alpha=0.18, lw=0)
        (line,) = ax.plot(tm, mean, color=colour, lw=0.9, label=_label(ch))
        handles.append(line)
    ax.set_xlabel("time since start of trace (s)")
    ax.set_ylabel("power (W)")
    ax.set_ylim(bottom=0)
    ax.margins(x=0.005)
    ax.xaxis.set_major_locator(MaxNLocator(8))
    ax.yaxis.set_major_locator(MaxNLocator(4))
    if len(handles) > 1:  # one line per channel: name them; one channel is named in the page
        legend = ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=7,
                           ncol=min(len(handles), 6), frameon=False, borderaxespad=0.2, handlelength=1.6)
        for text in legend.get_texts():
            text.set_parse_math(False)
    return data_uri(fig, spec.get("fmt", "png"))


# --- leaderboard figures ----------------------------------------------------------------------


def energy_bars(points: list[dict[str, Any]], unit_label: str, fmt: str = "png") -> str | None:
    """Energy per unit with 95% CI bars, best first, as a data URI. ``points``: label, mean, low, high (J/unit)."""
    fig = energy_bars_figure(points, unit_label)
    return None if fig is None else data_uri(fig, fmt)


def energy_bars_figure(points: list[dict[str, Any]], unit_label: str) -> Any:
    """The figure of :func:`energy_bars` (None without a point); laid out so no label is cut off."""
    pts = [p for p in points if p.get("mean") is not None]
    if not pts:
        return None
    pts.sort(key=lambda p: p["mean"])
    fig = _figure(6.0, 0.75 + 0.2 * len(pts), layout="constrained")
    ax = fig.add_subplot()
    ys = list(range(len(pts)))
    means = [p["mean"] for p in pts]
    err_lo = [max(p["mean"] - p["low"], 0.0) if p.get("low") is not None else 0.0 for p in pts]
    err_hi = [max(p["high"] - p["mean"], 0.0) if p.get("high") is not None else 0.0 for p in pts]
    ax.barh(ys, means, color="#6b9bd1", height=0.62)
    ax.errorbar(means, ys, xerr=[err_lo, err_hi], fmt="none", ecolor="#1b2b40", elinewidth=1, capsize=2.5)
    ax.set_yticks(ys, [_short(p["label"]) for p in pts], fontsize=7, parse_math=False)
    ax.invert_yaxis()
    ax.set_xlabel(_label(f"{unit_label} (mean, 95% CI)"), parse_math=False)
    ax.set_xlim(left=0)
    _si_axis(ax.xaxis, "J")
    return fig


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both throughput (higher) and J/unit (lower)."""
    front = []
    for i, (x, y) in enumerate(points):
        if not any((x2 >= x and y2 <= y) and (x2 > x or y2 < y) for j, (x2, y2) in enumerate(points) if j != i):
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


FRONTIER_MIN_POINTS = 2  # one point has no frontier: the chart would be a dot in an empty frame


def frontier_points(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The points a frontier can place: a throughput and a positive J/unit."""
    return [p for p in points if p.get("throughput") and p.get("energy") is not None and p["energy"] > 0]


def frontier(points: list[dict[str, Any]], unit: str, fmt: str = "png") -> str | None:
    """Throughput (x) versus J/unit (y), the efficiency frontier joined, as a data URI; None with fewer than
    :data:`FRONTIER_MIN_POINTS` points. ``points``: label, throughput, energy."""
    fig = frontier_figure(points, unit)
    return None if fig is None else data_uri(fig, fmt)


def frontier_figure(points: list[dict[str, Any]], unit: str) -> Any:
    """The figure of :func:`frontier`: laid out so no label is cut off. Each point's label is on the side of the
    point that faces the middle of the plot, so it stays inside: above and to the left of a point on the right,
    below and to the right of one on the left (clear of the frontier, which rises from left to right)."""
    pts = frontier_points(points)
    if len(pts) < FRONTIER_MIN_POINTS:
        return None
    xy = [(p["throughput"], p["energy"]) for p in pts]
    fig = _figure(5.0, 3.4, layout="constrained")
    ax = fig.add_subplot()
    ax.scatter([x for x, _ in xy], [y for _, y in xy], s=16, color="#6b9bd1", zorder=3)
    front = pareto_front(xy)
    ax.plot([xy[i][0] for i in front], [xy[i][1] for i in front], color="#c0392b", lw=1.2, marker="o", ms=4,
            zorder=4, label="efficiency frontier")
    xs, ys = [x for x, _ in xy], [y for _, y in xy]
    logx, logy = max(xs) / min(xs) > 30, max(ys) / min(ys) > 30
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.margins(0.12)
    with warnings.catch_warnings():  # extreme figures on log axes, as in data_uri
        warnings.filterwarnings("ignore", "Attempt to set non-positive", UserWarning)
        ax.autoscale_view()
    _si_axis(ax.xaxis, "", logx)
    _si_axis(ax.yaxis, "J", logy)
    ax.set_xlabel(_label(f"throughput ({unit}/s)"), parse_math=False)
    ax.set_ylabel(_label(f"J per {unit}"), parse_math=False)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=7, frameon=False, borderaxespad=0.2)
    ax.grid(True, alpha=0.3, lw=0.5)
    to_axes = ax.transData + ax.transAxes.inverted()
    for i in front if len(pts) > 12 else range(len(pts)):
        fx, fy = to_axes.transform(xy[i])
        if fx > 0.5:  # above and to the left; at the very top, level with the point
            place = ((-4, 3), "right", "bottom") if fy < 0.9 else ((-7, 0), "right", "center")
        else:  # below and to the right; at the very bottom, above (the margins leave room either way)
            place = ((4, -4), "left", "top") if fy > 0.08 else ((4, 3), "left", "bottom")
        (dx, dy), ha, va = place
        note = ax.annotate(_short(pts[i]["label"], 22), xy[i], fontsize=6, textcoords="offset points",
                           xytext=(dx, dy), ha=ha, va=va, parse_math=False)
        note.set_in_layout(False)  # placed inside the axes; the layout need not make room for it
    return fig


def _label(text: Any, width: int = 120) -> str:
    """Text from a result for a figure: set with ``parse_math=False`` by every caller (a ``$`` in a unit or a
    folder name is a dollar sign, not mathtext), control characters neutralised, length bounded."""
    return clean(text, limit=width)


def _short(text: str, width: int = 34) -> str:
    return _label(text, width)


def nice_number(value: float | None, digits: int = 4) -> str:
    """A compact number: 4 significant digits, scientific outside [1e-3, 1e5)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


# --- sweeps -----------------------------------------------------------------------------------


def sweep_frontier(points: list[dict[str, Any]], unit: str, metric_label: str, fmt: str = "png") -> str | None:
    """Energy per unit (y) against time per unit (x) of a sweep's points with 95% CI bars on both axes, the
    frontier joined, the baseline a square and the recommended settings stars. ``points``: label, time, time_low,
    time_high, energy, energy_low, energy_high, frontier, baseline, recommended (list of titles)."""
    pts = [p for p in points if p.get("time") is not None and p.get("energy") is not None]
    if not pts:
        return None
    fig = _figure(6.0, 3.8)
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.13, top=0.95)
    ax = fig.add_subplot()

    def err(p: dict[str, Any], key: str) -> tuple[float, float]:
        low, high = p.get(f"{key}_low"), p.get(f"{key}_high")
        return (p[key] - low if low is not None else 0.0, high - p[key] if high is not None else 0.0)

    xs, ys = [p["time"] for p in pts], [p["energy"] for p in pts]
    xerr = list(zip(*[err(p, "time") for p in pts]))
    yerr = list(zip(*[err(p, "energy") for p in pts]))
    ax.errorbar(xs, ys, xerr=xerr, yerr=yerr, fmt="o", color="#6b9bd1", ecolor="#9bb8d8", elinewidth=1, capsize=2,
                ms=4, zorder=3, label="setting (95% CI)")
    front = sorted((p for p in pts if p.get("frontier")), key=lambda p: p["time"])
    if front:
        ax.plot([p["time"] for p in front], [p["energy"] for p in front], color="#c0392b", lw=1.2, zorder=4,
                label="energy-time frontier")
    base = [p for p in pts if p.get("baseline")]
    if base:
        ax.scatter([p["time"] for p in base], [p["energy"] for p in base], marker="s", s=46, facecolors="none",
                   edgecolors="#1b2b40", zorder=5, label="as found (baseline)")
    recs = [p for p in pts if p.get("recommended")]
    if recs:
        ax.scatter([p["time"] for p in recs], [p["energy"] for p in recs], marker="*", s=120, color="#e6a000",
                   edgecolors="#7a5200", zorder=6, label="recommended")
    for p in pts:
        ax.annotate(_short(p["label"], 22), (p["time"], p["energy"]), fontsize=6, xytext=(4, 4),
                    textcoords="offset points")
    ax.margins(0.15)
    ax.set_xlabel(f"time per {unit} (s)")
    ax.set_ylabel(f"{metric_label} per {unit} (J)")
    ax.legend(loc="best", fontsize=7)
    ax.grid(True, alpha=0.3, lw=0.5)
    return data_uri(fig, fmt)
