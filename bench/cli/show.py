"""``bench show`` and ``bench schema``, and the summary table printed at the end of ``bench run``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    mag = abs(value)
    if mag >= 1e5 or mag < 1e-3:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def ci_text(rel: float | None, n: int) -> str:
    """A 95% CI as the views print it: ``±2.1% (95% CI, n=3)``; ``(n=1, no CI)`` without one."""
    if rel is None:
        return f"(n={n}, no CI)"
    return f"\u00b1{rel:.1%} (95% CI, n={n})"


FIGURES = (  # (label, aggregate field, unit of the figure given the workload's unit)
    ("throughput", "throughput", "{unit}/s"),
    ("net energy", "energy_per_unit_j", "J/{unit}"),
    ("gross energy", "gross_energy_per_unit_j", "J/{unit}"),
    ("mean power", "mean_power_w", "W"),
)


def grades_of(result: Any) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Workload -> its grade letter or "ungraded"; workload -> why it is ungraded ("ungraded under STANDARD:
    reason"); and lines about the scoring as a whole (why nothing could be scored)."""
    try:
        from bench.analysis.scoring.score import grade_summary
    except ImportError:
        return {}, {}, ["grades: not scored (the scoring package is not installed)"]
    from bench.errors import BenchError

    try:
        rows = grade_summary(result)
    except BenchError as exc:  # scoring is advisory in a summary; `bench score` reports its errors
        return {}, {}, [f"grades: not scored ({exc})"]
    out, why = {}, {}
    for row in rows:
        out[row["workload"]] = row.get("grade") or "ungraded"
        if not row.get("grade"):
            why[row["workload"]] = f"ungraded under {row['standard']}: {row.get('grade_reason') or 'not graded'}"
    return out, why, []


def quality_line(q: Any) -> str:
    """``quality: L2 energy counter + ...``, with the aspects that hold it down when it is below L2."""
    if q is None:
        return "quality: not assessed"
    label = q.label if str(q.label).startswith(f"L{q.level}") else f"L{q.level} ({q.label})"
    line = f"quality: {label}"
    if q.level < 2:
        line += ": " + weak_text(q)
    return line


def weak_text(q: Any) -> str:
    """The aspects that set a quality level, as the scoring words them."""
    return "; ".join(f"{a.aspect}: {a.reason}" for a in q.aspects if a.level == q.level)


def workload_table(w: Any, grade: str | None) -> Any:
    """One workload's figures: mean, unit and 95% CI, one row each; numbers never wrap."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    title = f"{w.workload}: {w.status}"
    if grade:
        title += ", ungraded" if grade == "ungraded" else f", grade {grade}"
    table = Table(title=Text(title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  show_edge=False)
    table.add_column("figure", no_wrap=True)
    table.add_column("mean", justify="right", no_wrap=True)
    table.add_column("unit", no_wrap=False, overflow="fold")
    table.add_column("uncertainty", no_wrap=True)
    unit = w.unit or "unit"
    for label, field, unit_form in FIGURES:
        stat = getattr(w.aggregate, field, None)
        if stat is None or stat.mean is None:
            continue
        table.add_row(label, _fmt(stat.mean), Text(unit_form.format(unit=unit)), ci_text(stat.ci95_relative, stat.n))
    return table


def print_summary(result: Any, folder: Path | None, console: Any) -> None:
    """A readable summary of a result that fits 80 columns: a table per workload (each figure with its 95% CI),
    why a workload has no grade, then the method and the issues. Every fact once; numbers never wrap."""
    from rich.text import Text

    grades, why_ungraded, scoring = grades_of(result)

    def say(line: str) -> None:  # strings from results are printed as they are, never as markup
        console.print(Text(line), highlight=False)

    say(f"{result.device.get('name', '?')} ({result.device.get('spec', '?')}): {result.status}")
    m, q, idle = result.measurement, result.quality, result.idle
    weak = f" ({weak_text(q)})" if q is not None and q.level < 2 else ""
    for w in result.workloads:
        console.print()
        if w.aggregate is None:
            say(f"{w.workload}: {w.status}" + (f": {w.reason}" if w.reason else "") + ": no figures, no grade")
            continue
        console.print(workload_table(w, grades.get(w.workload)))
        if w.workload in why_ungraded:  # the quality line below says why the quality is low: not twice
            say(why_ungraded[w.workload].replace(weak, "") if weak else why_ungraded[w.workload])
        elif w.workload not in grades:
            say("ungraded: " + (scoring[0].removeprefix("grades: ") if scoring else "not scored"))
    console.print()
    lines = [
        f"sampler: {m.sampler} ({', '.join(c.channel for c in m.channels)}), {m.rate_hz:g} Hz requested, "
        f"{_fmt(m.achieved_rate_hz)} Hz achieved, {m.samples} samples",
        f"idle baseline: {_fmt(idle.power_w)} W over {_fmt(idle.duration_s)} s" if idle else "idle baseline: none",
        quality_line(q),
    ]
    if result.reason:
        lines.append(f"reason: {result.reason}")
    lines.extend(scoring)
    from bench.analysis.sanity import sanity_issues

    recorded = {(i.code, i.message) for i in result.issues}
    for issue in result.issues:
        lines.append(f"{issue.severity}: {issue.code}: {issue.message}")
    for issue in sanity_issues(result):  # a result written before a check existed still shows its finding
        if (issue.code, issue.message) not in recorded:
            lines.append(f"{issue.severity}: {issue.code}: {issue.message} (found now)")
    for w in result.workloads:
        for issue in w.issues:
            if w.aggregate is not None or issue.message != w.reason:  # a failure's reason is said above
                lines.append(f"{issue.severity}: {w.workload}: {issue.message}")
    if folder is not None:
        lines.append(f"result: {folder}")
    for line in lines:
        say(line)


def _unfinished(folder: Path, result: Any) -> str | None:
    """Why a folder's run did not finish, if it did not."""
    if result.status != "running":
        return None
    from bench.result.trace import STREAM_FILE

    rows = ""
    if (folder / STREAM_FILE).is_file():
        from bench.result.trace import iter_batches

        try:
            rows = f"; {sum(b.num_rows for b in iter_batches(folder / STREAM_FILE))} samples kept in {STREAM_FILE}"
        except Exception as exc:  # pragma: no cover - report, never crash
            rows = f"; trace unreadable: {exc}"
    return f"the run did not finish (killed or still running){rows}"


@click.command()
@click.argument("result_path", metavar="RESULT", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print result.json as it is.")
def show(result_path: Path, as_json: bool) -> None:
    """Summarise a result folder (or result.json)."""
    from bench.cli.console import console as wide_console
    from bench.result.io import load_result
    from bench.result.model import RESULT_FILE

    result = load_result(result_path)
    folder = result_path if result_path.is_dir() else result_path.parent
    if as_json:
        click.echo((folder / RESULT_FILE).read_text())
        return
    console = wide_console()
    print_summary(result, folder, console)
    why = _unfinished(folder, result)
    if why:
        console.print(f"warning: {why}", markup=False)
        raise SystemExit(1)


@click.command()
def schema() -> None:
    """Print the JSON schema of result.json."""
    from bench.result.io import json_schema

    click.echo(json.dumps(json_schema(), indent=2))
