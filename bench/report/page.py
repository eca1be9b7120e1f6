"""The report page: load results, grade them, render every section and write one self-contained HTML file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ReportSummary:
    """What a report holds: runs, rows, skipped inputs, file size (bytes) and build time (s)."""

    path: Path
    runs: int
    rows: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    size_bytes: int = 0
    seconds: float = 0.0
    edited: int = 0  # results shown although they failed verification (--include-edited)


def render_html(report: Any, grader: Any = None, title: str = "bench report", metric: str = "gross",
                traces: bool = True, max_points: int = 600, fmt: str = "png", workers: int | None = None,
                max_bars: int = 50) -> tuple[str, int]:
    """The report page for loaded runs (:class:`bench.result.store.LoadReport`) and its number of workload rows."""
    from bench.analysis.frame import runs_frame, score_runs
    from bench.report import build
    from bench.report import html as h

    scores = score_runs(report.runs, grader)
    frame = runs_frame(report.runs, scores=scores)
    records = [{k: build.cell_value(v) for k, v in rec.items()} for rec in frame.to_dict("records")]
    details = {run.label: run.integrity.detail for run in report.runs}
    for rec in records:
        rec["integrity_detail"] = details.get(rec["run"], "")
    anchors = {run.label: f"run-{i}" for i, run in enumerate(report.runs, 1)}
    uris: list[str | None] = [None] * len(report.runs)
    if traces:
        specs = [build.trace_spec(run, max_points, fmt) for run in report.runs]
        uris = build.render_traces(specs, workers if workers is not None else build.default_workers())
    body = "\n".join([
        build.header(title, report, len(records)),
        build.leaderboards(records, metric, anchors, fmt, max_bars) if records else
        '<p class="muted">No results to rank.</p>',
        build.method_box(grader, metric),
        build.run_sections(report.runs, anchors, scores, uris, traces),
    ])
    return h.page(title, body), len(records)


def write_report(paths: list[Path | str], out: Path | str, standard: str | Path | None = None,
                 include_edited: bool = False, **options: Any) -> ReportSummary:
    """Load ``paths``, render the report and write it atomically to ``out``."""
    import time

    from bench.analysis.frame import Grader
    from bench.result.io import write_output
    from bench.result.store import load_runs

    start = time.perf_counter()
    report = load_runs(paths, include_edited=include_edited)
    grader = Grader(standard)
    page, rows = render_html(report, grader, **options)
    data = page.encode("utf-8")
    out = write_output(out, data)
    return ReportSummary(path=out, runs=len(report.runs), rows=rows, skipped=list(report.skipped),
                         size_bytes=len(data), seconds=time.perf_counter() - start,
                         edited=sum(1 for r in report.runs if not r.integrity.ok))
