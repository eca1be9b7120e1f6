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


def _stat(stat: Any) -> str:
    if stat is None or stat.mean is None:
        return "-"
    rel = stat.ci95_relative
    return _fmt(stat.mean) + (f" ±{rel:.1%}" if rel is not None else " (n=1)")


def _grades(result: Any) -> dict[str, str]:
    try:
        from bench.analysis.scoring.score import grade_summary
    except ImportError:
        return {}
    from bench.errors import BenchError

    try:
        rows = grade_summary(result)
    except BenchError:  # scoring is advisory in a summary; `bench score` reports its errors
        return {}
    out = {}
    for row in rows:
        off_preset = any(f.startswith(f"{row['workload']}: preset:") for f in row.get("failed", []))
        # bands are set for the standard preset: a smoke-sized model's grade would mean nothing
        out[row["workload"]] = "n/a" if off_preset else (row.get("grade") or "-")
    return out


def print_summary(result: Any, folder: Path | None, console: Any) -> None:
    """A readable summary of a result: one row per workload, then the method and the issues."""
    from rich.table import Table

    grades = _grades(result)
    table = Table(title=f"{result.device.get('name', '?')} ({result.device.get('spec', '?')}) - {result.status}")
    for col in ("workload", "status", "unit", "units/s", "J/unit net", "J/unit gross", "power W", "grade"):
        left = col in ("workload", "status", "unit")
        table.add_column(col, justify="left" if left else "right", no_wrap=col in ("workload", "status"),
                         overflow="fold")
    for w in result.workloads:
        agg = w.aggregate
        table.add_row(w.workload, w.status, w.unit or "-",
                      _stat(agg.throughput) if agg else "-",
                      _stat(agg.energy_per_unit_j) if agg else "-",
                      _stat(agg.gross_energy_per_unit_j) if agg else "-",
                      _stat(agg.mean_power_w) if agg else "-",
                      grades.get(w.workload, "-"))
    console.print(table)
    m = result.measurement
    q = result.quality
    idle = result.idle
    lines = [
        f"sampler: {m.sampler} ({', '.join(c.channel for c in m.channels)}), {m.rate_hz:g} Hz requested, "
        f"{_fmt(m.achieved_rate_hz)} Hz achieved, {m.samples} samples",
        f"idle baseline: {_fmt(idle.power_w)} W over {_fmt(idle.duration_s)} s" if idle else "idle baseline: none",
        f"quality: L{q.level} ({q.label})" if q else "quality: not assessed",
    ]
    if idle is not None and getattr(idle, "measured_in", None):
        lines[1] += f", measured once for the sweep in {idle.measured_in}"
    setting = getattr(result, "setting", None)
    if setting is not None:
        lines.insert(0, f"setting: {setting.text()} (sweep {str(setting.sweep_id or '?')[:12]}, point {setting.point})")
    if result.reason:
        lines.append(f"reason: {result.reason}")
    for issue in result.issues:
        lines.append(f"{issue.severity}: {issue.code}: {issue.message}")
    for w in result.workloads:
        for issue in w.issues:
            lines.append(f"{issue.severity}: {w.workload}: {issue.message}")
    if folder is not None:
        lines.append(f"result: {folder}")
    for line in lines:
        console.print(line, markup=False, highlight=False)


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
    """Summarise a result folder (or result.json), or a sweep folder (its frontier and recommendations)."""
    from bench.cli.console import console as wide_console
    from bench.result.io import load_result
    from bench.result.model import RESULT_FILE
    from bench.result.sweep import is_sweep

    if is_sweep(result_path):  # a sweep folder: its points, frontier and recommendations
        _show_sweep(result_path, as_json)
        return
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
