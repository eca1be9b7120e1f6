"""``bench score`` and ``bench check``: grade results against an efficiency standard, and check they conform.

Thin: parse, call :mod:`bench.analysis.scoring`, print. A malformed standard or profile file raises
:class:`bench.errors.ConfigError` (one line, exit 2); a result that cannot be read is reported and the
others are still scored (exit 1); ``check`` exits 1 when any result does not conform. Exit codes go
through :class:`bench.errors.BenchError`, which ``bench.cli.main`` maps to a message and its code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from bench.errors import BenchError


def _standard_option(f):
    return click.option("--standard", "standard_ref", default=None, metavar="VERSION|PATH",
                        help="Standard id (clause7-2025.1), version (2025.1) or TOML file; default: newest shipped.")(f)


def _profiles_option(f):
    return click.option("--profiles-dir", "profiles_dirs", multiple=True, type=click.Path(path_type=Path),
                        help="Extra folder of hardware profiles (repeatable; also BENCH_PROFILES_DIR).")(f)


def _json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


def _load_all(paths: tuple[Path, ...], sweep_point: str = "recommended",
              notes: list[str] | None = None) -> tuple[list[tuple[Path, Any]], list[tuple[Path, str]]]:
    """(path, Result) for every readable result and (path, error) for the others. A sweep folder stands for one
    of its points (``sweep_point``), and ``notes`` says which."""
    from bench.errors import ResultError
    from bench.result.io import load_result
    from bench.result.sweep import is_sweep

    loaded, errors = [], []
    for path in paths:
        try:
            if is_sweep(path):
                from bench.cli.sweep_view import chosen_point

                path, why = chosen_point(Path(path), sweep_point)
                if notes is not None:
                    notes.append(why)
            loaded.append((path, load_result(path)))
        except ResultError as exc:
            errors.append((path, str(exc)))
    return loaded, errors


def _fmt(value: float | None, unit: str | None) -> str:
    if value is None:
        return "-"
    if unit == "FLOP/J":
        for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
            if value >= scale:
                return f"{value / scale:.3g} {prefix}FLOP/J"
        return f"{value:.3g} FLOP/J"
    return f"{value:.4g} {unit or ''}".strip()


def _fmt_ci(ws) -> str:
    text = _fmt(ws.value, ws.metric_unit)
    if ws.ci95_relative is not None and ws.value is not None:
        text += f" ±{ws.ci95_relative:.1%}"
    if ws.basis and ws.value is not None:
        text += f" ({ws.basis})"
    return text


def _table(scores: list[Any], std: Any) -> Any:
    from rich.table import Table

    per = std.reported.per_units
    table = Table(title=f"{std.id} ({std.status}), sha256 {std.sha256[:12]}", title_justify="left")
    table.add_column("run")
    table.add_column("workload")
    table.add_column("value ± 95% CI", no_wrap=True)
    table.add_column("grade", no_wrap=True)
    table.add_column(f"gCO2e/{per:g}".replace("/1000", "/1k"), justify="right")
    table.add_column(f"mL/{per:g}".replace("/1000", "/1k"), justify="right")
    table.add_column("quality", no_wrap=True)
    table.add_column("conforms", no_wrap=True)
    for s in scores:
        for w in s.workloads:
            table.add_row(
                s.run_id, w.workload, _fmt_ci(w), w.grade or "-",
                "-" if w.carbon_g is None else f"{w.carbon_g:.3g}",
                "-" if w.water_ml is None else f"{w.water_ml:.3g}",
                f"L{s.quality.level}", "yes" if s.conforms else "no",
            )
    return table


def _print_details(console: Any, scores: list[Any]) -> None:
    if scores and scores[0].footprint is not None:
        f = scores[0].footprint
        console.print(f"carbon intensity {f.carbon_intensity_g_per_kwh:.4g} gCO2e/kWh: {f.carbon_source}", highlight=False)
        console.print(f"WUE {f.wue_l_per_kwh:g} L/kWh: {f.wue_source}", highlight=False)
        console.print(f"PUE {f.pue:g}: {f.pue_source}", highlight=False)
        console.print(f"EWIF {f.ewif_l_per_kwh:g} L/kWh: {f.ewif_source}", highlight=False)
    for s in scores:
        notes = s.warnings + [f"{w.workload}: {m}" for w in s.workloads for m in w.warnings]
        notes += [f"failed {c.line()}" for c in s.failed]
        for note in notes:
            console.print(f"{s.run_id}: {note}", highlight=False, markup=False)


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@_standard_option
@_json_option
@click.option("--country", default=None, metavar="ISO3", help="Grid carbon intensity of this country (codecarbon data, offline).")
@click.option("--region", default=None, help="Region of --country (US state, Canadian or Chinese province, Nordic zone).")
@click.option("--carbon-intensity", type=float, default=None, metavar="G_PER_KWH", help="Grid carbon intensity to use, gCO2e/kWh.")
@click.option("--wue", type=float, default=None, help="On-site water usage effectiveness, L/kWh (default 0.55).")
@click.option("--pue", type=float, default=None, help="Power usage effectiveness (default 1.17).")
@click.option("--ewif", default=None, help="Water of electricity generation, L/kWh or a source name (default 3.142).")
@_profiles_option
@click.option("--sweep-point", type=click.Choice(["recommended", "lowest-energy", "baseline"]), default="recommended",
              show_default=True, help="Which point of a sweep folder to grade: the recommendation within the sweep's "
              "slowdown budget, the lowest energy, or the setting as found.")
def score(results: tuple[Path, ...], standard_ref: str | None, as_json: bool,
          country: str | None, region: str | None, carbon_intensity: float | None, wue: float | None,
          pue: float | None, ewif: str | None, profiles_dirs: tuple[Path, ...], sweep_point: str) -> None:
    """Score RESULT folders: metric with CI, grade, carbon, water and quality level. A sweep folder is graded at
    one of its points (the recommended setting by default), and the setting is stated."""
    from bench.analysis.scoring.footprint import footprint_factors
    from bench.analysis.scoring.profiles import load_profiles
    from bench.analysis.scoring.score import score_result
    from bench.analysis.scoring.standard import load_standard

    std = load_standard(standard_ref)
    profiles = load_profiles(profiles_dirs)
    factors = footprint_factors(country=country, region=region, carbon_intensity_g_per_kwh=carbon_intensity,
                                wue=wue, pue=pue, ewif=ewif)
    notes: list[str] = []
    loaded, errors = _load_all(results, sweep_point, notes)
    scores = [score_result(result, std, profiles, factors) for _, result in loaded]
    if as_json:
        dumped = [s.model_dump(mode="json") for s in scores]
        for row, (_, result) in zip(dumped, loaded):
            if getattr(result, "setting", None) is not None:
                row["setting"] = {"text": result.setting.text(), **result.setting.model_dump(mode="json")}
        click.echo(json.dumps(dumped, indent=2, allow_nan=False))
    else:
        from bench.cli.console import console as wide_console

        console = wide_console()
        console.print(_table(scores, std))
        _print_details(console, scores)
        for _, result in loaded:
            if getattr(result, "setting", None) is not None:
                console.print(f"{result.run_id}: measured at {result.setting.text()} (sweep point "
                              f"{result.setting.point})", highlight=False, markup=False)
        for note in notes:
            console.print(note, highlight=False, markup=False)
    for _, message in errors[:-1]:
        click.echo(f"bench: error: {message}", err=True)
    if errors:
        raise BenchError(errors[-1][1])


def _validity_failures(path: Path, result: Any) -> list[dict[str, Any]]:
    """Re-run the validity checks from the result and its trace; the failed ones as rule dicts."""
    from bench.analysis.validity import check_validity

    folder = path if path.is_dir() else path.parent
    return [{"workload": (c.window or "").split("/")[0] or None, "rule": f"validity.{c.check}",
             "expected": f"<= {c.limit:.4g}" if c.limit is not None else "pass",
             "actual": c.detail} for c in check_validity(result, folder) if not c.ok]


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@_standard_option
@_json_option
@_profiles_option
@click.option("--validity", is_flag=True,
              help="Also re-run the validity checks on the trace (coverage, rate, counter vs power, limits, idle).")
def check(results: tuple[Path, ...], standard_ref: str | None, as_json: bool,
          profiles_dirs: tuple[Path, ...], validity: bool) -> None:
    """Check RESULT folders conform to a standard: exit 0 if every one does, 1 if not (each failed rule listed)."""
    from bench.analysis.scoring.profiles import load_profiles
    from bench.analysis.scoring.score import score_result
    from bench.analysis.scoring.standard import load_standard

    std = load_standard(standard_ref)
    profiles = load_profiles(profiles_dirs)
    loaded, errors = _load_all(results)
    rows: list[dict[str, Any]] = []
    for path, result in loaded:
        s = score_result(result, std, profiles)
        failed = [c.model_dump(mode="json") for c in s.failed]
        if validity:
            failed += _validity_failures(Path(path), result)
        rows.append({"path": str(path), "run_id": s.run_id, "conforms": not failed,
                     "quality_level": s.quality.level, "failed": failed, "error": None})
    rows += [{"path": str(p), "run_id": None, "conforms": False, "quality_level": None,
              "failed": [], "error": message} for p, message in errors]
    if as_json:
        click.echo(json.dumps({"standard": std.record(), "results": rows}, indent=2))
    else:
        for row in rows:
            verdict = "PASS" if row["conforms"] else "FAIL"
            click.echo(f"{verdict} {row['run_id'] or '-'} ({row['path']})")
            if row["error"]:
                click.echo(f"  - unreadable: {row['error']}")
            for c in row["failed"]:
                click.echo(f"  - {c['workload'] or 'run'}: {c['rule']}: expected {c['expected']}, got {c['actual']}")
        passed = sum(1 for r in rows if r["conforms"])
        click.echo(f"{passed} of {len(rows)} result(s) conform to {std.id} (sha256 {std.sha256[:12]})")
    failing = sum(1 for r in rows if not r["conforms"])
    if failing:
        raise BenchError(f"{failing} of {len(rows)} result(s) do not conform to {std.id}")
