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


def latency_text(latency: Any) -> str | None:
    """A step's latency percentiles in ms, e.g. ``12.1/12.9/15.3``; None without a latency phase."""
    if latency is None or latency.p50_s is None:
        return None
    return "/".join(_fmt(v * 1e3 if v is not None else None, 3) for v in (latency.p50_s, latency.p90_s,
                                                                          latency.p99_s))


def _energy_line(result: Any) -> str:
    """Where the energy came from and the largest sensor bound of a measured window, relative to its energy."""
    measured = {"idle"} | {r.window for wl in result.workloads for r in wl.repeats}
    windows = [w for w in result.windows if w.name in measured]
    methods = {c.method for w in windows for c in w.channels}
    averaged = [c for c in result.measurement.channels if str(c.capabilities.get("power")) == "averaged"
                and not c.capabilities.get("energy_counter")]
    if averaged:
        window_s = max(float(c.capabilities.get("power_average_window_s") or 0) for c in averaged)
        how = f"averaged power ({window_s:g} s moving average), lag corrected"
    elif methods == {"counter"}:
        how = "energy counter"
    else:
        how = "integrated power" if methods else "none"
    shares = [w.energy_uncertainty_j / w.energy_j for w in windows
              if w.energy_uncertainty_j is not None and w.energy_j]
    return f"energy: {how}" + (f", windows within +/-{max(shares):.2%}" if shares else "")


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

    from bench.cli.console import plain

    title = f"{w.workload}: {w.status}"
    if grade:
        title += ", ungraded" if grade == "ungraded" else f", grade {grade}"
    table = Table(title=plain(title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
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
        table.add_row(label, _fmt(stat.mean), plain(unit_form.format(unit=unit)), ci_text(stat.ci95_relative, stat.n))
    latency = latency_text(w.latency)
    if latency is not None:  # one step, the device synchronised: percentiles, not a mean with a CI
        table.add_row("step latency", latency, "ms", "p50/p90/p99")
    return table


def print_summary(result: Any, folder: Path | None, console: Any) -> None:
    """A readable summary of a result that fits 80 columns: a table per workload (each figure with its 95% CI),
    why a workload has no grade, then the method and the issues. Every fact once; numbers never wrap. Every
    string from the result is printed as data (:func:`bench.cli.console.plain`)."""
    from bench.cli.console import plain

    grades, why_ungraded, scoring = grades_of(result)

    def say(line: str) -> None:  # strings from results are printed as they are, never as markup
        console.print(plain(line), highlight=False)

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
        _energy_line(result),
        f"idle baseline: {_fmt(idle.power_w)} W over {_fmt(idle.duration_s)} s" if idle else "idle baseline: none",
        quality_line(q),
    ]
    if idle is not None and getattr(idle, "measured_in", None):
        lines[2] += f", measured once for the sweep in {idle.measured_in}"
    setting = getattr(result, "setting", None)
    if setting is not None:
        lines.insert(0, f"setting: {setting.text()} (sweep {str(setting.sweep_id or '?')[:12]}, point {setting.point})")
    for w in result.workloads:
        src = w.source
        if src:
            where = src.get("path") or src.get("module") or "?"
            digest = f", sha256 {src['sha256'][:16]}" if src.get("sha256") else ""
            lines.append(f"source of {w.workload}: {src.get('kind', '?')} {where} class {src.get('class', '?')}{digest}")
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
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as JSON (checked first; every character outside ASCII escaped).")
def show(result_path: Path, as_json: bool) -> None:
    """Summarise a result folder (or result.json), or a sweep folder (its frontier and recommendations)."""
    from bench.cli.console import console as wide_console
    from bench.cli.console import plain
    from bench.result.io import read_result_raw, validate_result
    from bench.result.sweep import is_sweep

    if is_sweep(result_path):  # a sweep folder: its points, frontier and recommendations
        _show_sweep(result_path, as_json)
        return
    file, _, data = read_result_raw(result_path)
    result = validate_result(data, file)
    folder = file.parent
    if as_json:
        click.echo(json_text(data))
        return
    console = wide_console()
    print_summary(result, folder, console)
    why = _unfinished(folder, result)
    if why:
        console.print(plain(f"warning: {why}"))
        raise SystemExit(1)


def json_text(data: Any) -> str:
    """A result as JSON for a terminal or a pipe: the same data, in the file's order, with every control and
    non-ASCII character escaped (``\u001b``), so nothing in it acts on the terminal."""
    return json.dumps(data, indent=2, ensure_ascii=True, allow_nan=False)
def _show_sweep(path: Path, as_json: bool) -> None:
    from bench.cli.console import console as wide_console
    from bench.cli.sweep_view import print_sweep, sweep_json
    from bench.result.sweep import load_sweep

    folder, record = load_sweep(path)
    if as_json:
        click.echo(sweep_json(folder))
    else:
        print_sweep(folder, wide_console())
    if record.status == "running":
        raise SystemExit(1)


@click.command()
def schema() -> None:
    """Print the JSON schema of result.json."""
    from bench.result.io import json_schema

    click.echo(json.dumps(json_schema(), indent=2))
