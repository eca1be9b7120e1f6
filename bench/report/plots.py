"""The report's figures, drawn with matplotlib's object API (no pyplot, no global state) as data URIs.

Inputs are plain data (lists, tuples, paths) so figures can be drawn in worker processes. Traces are
downsampled to a bounded number of points per channel (bucket means with a min-max band), so a
figure's size does not grow with the run's length.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any

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
    with matplotlib.rc_context(RC):
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


def downsample(t_s: Any, power_w: Any, max_points: int) -> tuple[Any, Any, Any, Any]:
    """(t, mean, min, max) over at most ``max_points`` equal-count buckets; min/max None if not reduced."""
    import numpy as np

    n = len(t_s)
    if n <= max_points:
        return t_s, power_w, None, None
    edges = np.linspace(0, n, max_points + 1).astype(np.int64)
    starts = edges[:-1][np.diff(edges) > 0]
    counts = np.diff(np.append(starts, n))
    mean = np.add.reduceat(power_w, starts) / counts
    t_mid = np.add.reduceat(t_s, starts) / counts
    return t_mid, mean, np.minimum.reduceat(power_w, starts), np.maximum.reduceat(power_w, starts)


def trace_series(folder: Path | str, t0_ns: int | None) -> dict[str, tuple[Any, Any]]:
    """Per channel: (t in s from ``t0_ns``, power in W); power derived from the energy counter where
    the channel records no power."""
    import numpy as np

    from bench.result.trace import read_trace

    table = read_trace(Path(folder), columns=["t_ns", "channel", "power_w", "energy_j"])
    if table.num_rows == 0:
        return {}
    t_ns = table.column("t_ns").to_numpy()
    base = t0_ns if t0_ns is not None else int(t_ns.min())
    chans = table.column("channel").to_numpy(zero_copy_only=False)
    power = table.column("power_w").to_numpy(zero_copy_only=False).astype(float)
    energy = table.column("energy_j").to_numpy(zero_copy_only=False).astype(float)
    out = {}
    for ch in dict.fromkeys(chans.tolist()):
        sel = chans == ch
        t = (t_ns[sel] - base) / 1e9
        order = np.argsort(t, kind="stable")
        t, p, e = t[order], power[sel][order], energy[sel][order]
        if np.isnan(p).all() and (~np.isnan(e)).sum() > 1:
            ok = ~np.isnan(e)
            t, e = t[ok], e[ok]
            dt = np.diff(t)
            good = dt > 0
            t, p = ((t[1:] + t[:-1]) / 2)[good], (np.diff(e)[good] / dt[good])
        keep = ~np.isnan(p)
        if keep.any():
            out[str(ch)] = (t[keep], p[keep])
    return out


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
    series = trace_series(spec["folder"], spec.get("t0_ns"))
    if not series:
        return None
    fig = _figure(7.0, 2.1)
    fig.subplots_adjust(left=0.085, right=0.99, bottom=0.2, top=0.86 if len(series) > 1 else 0.95)
    ax = fig.add_subplot()
    from matplotlib.ticker import MaxNLocator

    _shade(ax, spec.get("spans", []))
    handles = []
    per_channel = max(50, int(spec.get("max_points", 600)) // max(1, len(series)))
    for i, (ch, (t, p)) in enumerate(series.items()):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        tm, mean, lo, hi = downsample(t, p, per_channel)
        if lo is not None:
            ax.fill_between(tm, lo, hi, color=colour, alpha=0.18, lw=0)
        (line,) = ax.plot(tm, mean, color=colour, lw=0.9, label=ch)
        handles.append(line)
    ax.set_xlabel("time since start of trace (s)")
    ax.set_ylabel("power (W)")
    ax.set_ylim(bottom=0)
    ax.margins(x=0.005)
    ax.xaxis.set_major_locator(MaxNLocator(8))
    ax.yaxis.set_major_locator(MaxNLocator(4))
    if len(handles) > 1:  # one line per channel: name them; one channel is named in the page
        ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=7, ncol=len(handles),
                  frameon=False, borderaxespad=0.2, handlelength=1.6)
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
    err_lo = [p["mean"] - p["low"] if p.get("low") is not None else 0.0 for p in pts]
    err_hi = [p["high"] - p["mean"] if p.get("high") is not None else 0.0 for p in pts]
    ax.barh(ys, means, color="#6b9bd1", height=0.62)
    ax.errorbar(means, ys, xerr=[err_lo, err_hi], fmt="none", ecolor="#1b2b40", elinewidth=1, capsize=2.5)
    ax.set_yticks(ys, [_short(p["label"]) for p in pts], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"{unit_label} (mean, 95% CI)")
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
    ax.autoscale_view()
    _si_axis(ax.xaxis, "", logx)
    _si_axis(ax.yaxis, "J", logy)
    ax.set_xlabel(f"throughput ({unit}/s)")
    ax.set_ylabel(f"J per {unit}")
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
                           xytext=(dx, dy), ha=ha, va=va)
        note.set_in_layout(False)  # placed inside the axes; the layout need not make room for it
    return fig


def _short(text: str, width: int = 34) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def nice_number(value: float | None, digits: int = 4) -> str:
    """A compact number: 4 significant digits, scientific outside [1e-3, 1e5)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"
