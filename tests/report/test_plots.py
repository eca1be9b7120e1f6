"""The report's leaderboard figures are legible whatever the figures are: no label is cut off at the edge of its
figure, no two labels run into each other, and one point draws no frontier. Checked on the drawn figures."""

from __future__ import annotations

import pytest

from bench.report.plots import energy_bars_figure, frontier, frontier_figure

VALUES = {  # J/unit of three or four results: tiny, clustered, spread over decades, ordinary
    "microjoules": [0.0005, 0.0003, 0.0011],
    "ten-thousandths": [0.00012, 0.00051, 0.0011, 0.0009],
    "clustered": [0.00105, 0.00099, 0.00102],
    "decades": [120.0, 1300.0, 5.0],
    "ordinary": [0.5, 0.3, 1.1],
}
LABELS = ["acme-x1-a-long-name-of-the-run", "acme-x2", "acme-x3-fastest-board", "acme-x4"]


def drawn_texts(fig):
    """(text, extent in pixels) of every label drawn: titles, axis labels, tick labels inside the view, point
    labels and the legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    found = {}
    for ax in fig.axes:
        texts = [ax.title, ax.xaxis.label, ax.yaxis.label, ax.xaxis.get_offset_text(), ax.yaxis.get_offset_text(),
                 *ax.texts, *(ax.get_legend().get_texts() if ax.get_legend() else [])]
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            slack = 1e-9 * max(abs(lo), abs(hi))
            texts += [t.label1 for t in axis.get_major_ticks() + axis.get_minor_ticks()
                      if lo - slack <= t.get_loc() <= hi + slack]
        for t in texts:
            if t.get_visible() and t.get_text().strip():
                found[id(t)] = (t.get_text(), t.get_window_extent(renderer))
    return list(found.values()), fig.bbox


def assert_legible(fig) -> None:
    texts, frame = drawn_texts(fig)
    assert len(texts) >= 6
    for text, box in texts:  # whole, inside the figure
        assert frame.x0 - 0.5 <= box.x0 and box.x1 <= frame.x1 + 0.5, f"{text!r} cut off left or right"
        assert frame.y0 - 0.5 <= box.y0 and box.y1 <= frame.y1 + 0.5, f"{text!r} cut off at the top or bottom"
    for i, (a, box_a) in enumerate(texts):
        for b, box_b in texts[i + 1:]:
            wide = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            high = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            assert wide <= 0.5 or high <= 0.5, f"{a!r} and {b!r} overlap"


@pytest.mark.parametrize("case", list(VALUES))
def test_energy_bars_are_legible(case):
    values = VALUES[case]
    pts = [{"label": label, "mean": v, "low": v * 0.95, "high": v * 1.05} for label, v in zip(LABELS, values)]
    assert_legible(energy_bars_figure(pts, "gross J per matmul"))


@pytest.mark.parametrize("case", list(VALUES))
def test_frontier_is_legible_and_its_point_labels_stay_in_the_plot(case):
    values = VALUES[case]
    pts = [{"label": label, "throughput": 400.0 * (i + 1), "energy": v}
           for i, (label, v) in enumerate(zip(LABELS, values))]
    fig = frontier_figure(pts, "matmul")
    assert_legible(fig)
    (ax,) = fig.axes
    inside = ax.get_window_extent()
    texts, _ = drawn_texts(fig)
    notes = {t.get_text() for t in ax.texts}
    assert len(notes) == len(values)
    for text, box in texts:
        if text in notes:
            assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1, text


def test_one_point_draws_no_frontier():
    one = [{"label": "solo", "throughput": 800.0, "energy": 0.25}]
    assert frontier_figure(one, "matmul") is None and frontier(one, "matmul") is None
    assert frontier_figure(one + [{"label": "no throughput", "throughput": None, "energy": 0.3}], "matmul") is None
