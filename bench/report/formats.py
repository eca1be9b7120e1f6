"""Text forms of a :class:`bench.analysis.compare.Comparison`: markdown, CSV, JSON and a small HTML page.

Each form states the method (Fieller ratio interval, Welch's t-test) and the baseline of every table.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from bench.analysis.compare import Comparison, Row, Table
from bench.report import html as h
from bench.report.plots import nice_number

HEADERS = ("run", "device", "preset", "dtype", "batch", "n", "mean", "95% CI", "ratio", "ratio 95% CI", "p (Welch)",
           "verdict", "grade", "quality", "integrity", "flags")


def ratio_ci_text(row: Row) -> str:
    if row.verdict == "baseline":
        return "-"
    if row.ratio is None:
        return "-"
    if row.ratio_low is None or row.ratio_high is None:
        return "unbounded" if row.p_value is not None else "-"
    return f"{row.ratio_low:.3f} \u2013 {row.ratio_high:.3f}"


def grade_text(row: Row) -> str:
    """The grade letter, or "ungraded (why)"."""
    if row.grade:
        return row.grade
    return f"ungraded ({row.grade_reason})" if row.grade_reason else "ungraded"


def cells(row: Row) -> list[str]:
    """The text cells of a row, in :data:`HEADERS` order."""
    ci = "-" if row.ci_low is None or row.ci_high is None else f"{nice_number(row.ci_low)} \u2013 {nice_number(row.ci_high)}"
    return [
        row.run, row.device or "-", row.preset or "-", row.dtype or "-", "-" if row.batch is None else str(row.batch),
        str(row.n), nice_number(row.mean), ci, "-" if row.ratio is None else f"{row.ratio:.3f}", ratio_ci_text(row),
        "-" if row.p_value is None else f"{row.p_value:.3g}", row.verdict, grade_text(row),
        "-" if row.quality_level is None else f"L{row.quality_level}", row.integrity or "-", "; ".join(row.flags),
    ]


def table_title(comp: Comparison, table: Table) -> str:
    unit = table.unit or "unit"
    return f"{table.workload}: {comp.label.replace('/unit', '')} per {unit}, baseline {table.baseline}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(comp: Comparison) -> str:
    out = []
    for table in comp.tables:
        out.append(f"### {_md_escape(table_title(comp, table))}\n")
        out.append("| " + " | ".join(HEADERS) + " |")
        out.append("|" + "|".join("---:" if hd in ("n", "mean", "ratio", "p (Welch)", "batch") else "---"
                                   for hd in HEADERS) + "|")
        for row in table.rows:
            out.append("| " + " | ".join(_md_escape(c) for c in cells(row)) + " |")
        out.extend(f"\n_{_md_escape(n)}_" for n in table.notes)
        out.append("")
    out.append(f"_{_md_escape(comp.method)}_")
    if comp.skipped:
        out.append("\nSkipped:\n" + "\n".join(f"- `{p}`: {_md_escape(why)}" for p, why in comp.skipped))
    return "\n".join(out) + "\n"


CSV_FIELDS = ("workload", "unit", "metric", "baseline", "run", "device", "preset", "dtype", "batch", "n", "mean",
              "ci_low", "ci_high", "throughput", "ratio", "ratio_ci_low", "ratio_ci_high", "p_value", "verdict",
              "grade", "quality_level", "standard", "integrity", "flags", "ratio_ci_method", "test", "grade_reason",
              "conforms", "across")


def to_csv(comp: Comparison) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for table in comp.tables:
        for r in table.rows:
            writer.writerow([table.workload, table.unit, comp.metric, table.baseline, r.run, r.device, r.preset,
                             r.dtype, r.batch, r.n, r.mean, r.ci_low, r.ci_high, r.throughput, r.ratio, r.ratio_low,
                             r.ratio_high, r.p_value, r.verdict, r.grade, r.quality_level, r.standard, r.integrity,
                             "; ".join(r.flags), "fieller-welch-satterthwaite", "welch-t-two-sided", r.grade_reason,
                             r.conforms, "; ".join(r.across)])
    return buf.getvalue()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def to_json(comp: Comparison) -> str:
    data = comp.as_dict()
    data["ratio_ci_method"] = "Fieller's theorem, independent means, Welch-Satterthwaite dof at the ratio estimate"
    data["test"] = "Welch's two-sided t-test on per-repeat values"
    return json.dumps(_finite(data), indent=2, allow_nan=False) + "\n"


def to_html(comp: Comparison, title: str = "bench compare") -> str:
    parts = [f"<h1>{h.esc(title)}</h1>"]
    numeric = {"batch", "n", "mean", "ratio", "p (Welch)"}
    for i, table in enumerate(comp.tables, 1):
        parts.append(f"<h2>{h.esc(table_title(comp, table))}</h2>")
        rows = []
        for r in table.rows:
            texts = cells(r)
            keys = {"batch": r.batch, "n": r.n, "mean": r.mean, "ratio": r.ratio, "p (Welch)": r.p_value}
            rows.append([h.number(keys[hd], t) if hd in numeric else h.text(t) for hd, t in zip(HEADERS, texts)])
        parts.append(h.table([(hd, hd in numeric) for hd in HEADERS], rows, css_id=f"compare-{i}"))
        parts.extend(f'<p class="muted small">{h.esc(n)}</p>' for n in table.notes)
    parts.append(f'<p class="box small">{h.esc(comp.method)}</p>')
    if comp.skipped:
        items = "".join(f"<li><code>{h.esc(p)}</code>: {h.esc(why)}</li>" for p, why in comp.skipped)
        parts.append(f'<div class="box warn"><h3>Skipped</h3><ul>{items}</ul></div>')
    return h.page(title, "\n".join(parts))
