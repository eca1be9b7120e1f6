"""``bench score`` and ``bench check``: grade results against an efficiency standard, and check they conform.

Thin: parse, call :mod:`bench.analysis.scoring`, print. A malformed standard or profile file raises
:class:`bench.errors.ConfigError` (one line, exit 2); a result that cannot be read is reported and the
others are still scored (exit 1); ``check`` exits 1 when any result does not conform. Exit codes go
through :class:`bench.errors.BenchError`, which ``bench.cli.main`` maps to a message and its code.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from bench.cli.console import say
from bench.cli.params import Finite
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


def finite(value: Any) -> Any:
    """JSON data with every non-finite number as null (an overflow in arithmetic on extreme figures)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


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
    from bench.cli.show import ci_text

    text = _fmt(ws.value, ws.metric_unit)
    if ws.value is not None:
        text += " " + ci_text(ws.ci95_relative, ws.n)
    if ws.basis and ws.value is not None:
        text += f" ({ws.basis})"
    return text


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _labels(loaded: list[tuple[Path, Any]]) -> list[str]:
    """What the tables call each result: its folder's name (run ids are in the JSON)."""
    from bench.result.store import folder_labels

    return folder_labels([Path(p) for p, _ in loaded], [r.run_id for _, r in loaded])


def _table(scores: list[Any], std: Any, labels: list[str]) -> Any:
    from rich.table import Table

    from bench.cli.console import plain

    per = f"{std.reported.per_units:g}".replace("1000", "1k")
    carbon = scores[0].footprint.carbon_unit if scores and scores[0].footprint is not None else "gCO2e"
    table = Table(title=plain(f"{std.id} ({std.status}), sha256 {std.sha256[:12]}"), title_justify="left")
    table.add_column("run")
    table.add_column("workload")
    table.add_column("value, 95% CI", no_wrap=True)
    table.add_column("grade", no_wrap=True)
    table.add_column(f"{carbon}/{per} server", justify="right")
    table.add_column(f"{carbon}/{per} accel.", justify="right")
    table.add_column(f"mL/{per} server", justify="right")
    table.add_column(f"mL/{per} accel.", justify="right")
    table.add_column("quality", no_wrap=True)
    table.add_column("conforms", no_wrap=True)
    for s, label in zip(scores, labels):
        for w in s.workloads:
            table.add_row(
                plain(label), plain(w.workload), plain(_fmt_ci(w)), w.grade or "ungraded",
                _num(w.carbon_g), _num(w.carbon_accelerator_g), _num(w.water_ml), _num(w.water_accelerator_ml),
                f"L{s.quality.level}", "yes" if s.conforms else "no",
            )
    return table


def footprint_lines(f: Any) -> list[str]:
    """The footprint factors, each with its source (and the carbon intensity's basis)."""
    return [
        f"carbon intensity {f.carbon_intensity_g_per_kwh:.4g} {f.carbon_unit}/kWh ({f.carbon_basis}): {f.carbon_source}",
        f"WUE {f.wue_l_per_kwh:g} L/kWh (per kWh of IT energy): {f.wue_source}",
        f"PUE {f.pue:g} (facility / IT energy): {f.pue_source}",
        f"EWIF {f.ewif_l_per_kwh:g} L/kWh: {f.ewif_source}",
    ]


def _print_details(console: Any, scores: list[Any], labels: list[str]) -> None:
    from bench.cli.console import plain

    lines = []
    if scores and scores[0].footprint is not None:
        lines += footprint_lines(scores[0].footprint)
        lines.append("server: device energy x server overhead = IT energy, then PUE and WUE; accel.: the device's "
                     "own energy only")
    for s, label in zip(scores, labels):
        notes = []
        if s.footprint is not None:
            notes.append(f"server overhead {s.footprint.overhead:g} (IT / device energy): "
                         f"{s.footprint.server_overhead_source}")
        notes += s.warnings + [f"{w.workload}: {m}" for w in s.workloads for m in w.warnings]
        notes += [f"{w.workload}: ungraded: {w.grade_reason}" for w in s.workloads if w.grade is None]
        notes += [f"{i.severity}: {i.code}: {i.message}" for i in s.issues]
        notes += [f"failed {c.line()}" for c in s.failed]
        lines += [f"{label}: {note}" for note in notes]
    for line in lines:
        console.print(plain(line), highlight=False)


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@_standard_option
@_json_option
@click.option("--country", default=None, metavar="ISO3", help="Grid carbon intensity of this country (codecarbon data, offline).")
@click.option("--region", default=None, help="Region of --country (US state, Canadian or Chinese province, Nordic zone).")
@click.option("--carbon-intensity", type=Finite(0, 10_000), default=None, metavar="G_PER_KWH",
              help="Grid carbon intensity to use, gCO2e/kWh.")
@click.option("--wue", type=Finite(0, 100), default=None, help="On-site water usage effectiveness, L/kWh (default 0.55).")
@click.option("--pue", type=Finite(1, 10), default=None, help="Power usage effectiveness (default 1.17).")
@click.option("--ewif", default=None, help="Water of electricity generation, L/kWh or a source name (default 3.142).")
@click.option("--server-overhead", type=Finite(0, 100), default=None, metavar="FACTOR",
              help="Whole-server energy per unit of device energy (host CPU, memory, fans, network), applied before "
                   "PUE and WUE; default: the hardware profile's, else 1.")
@click.option("--carbon-basis", default=None, metavar="TEXT",
              help="Basis of --carbon-intensity, e.g. 'lifecycle, CO2e' or 'direct (combustion), CO2 only'.")
@_profiles_option
@click.option("--sweep-point", type=click.Choice(["recommended", "lowest-energy", "baseline"]), default="recommended",
              show_default=True, help="Which point of a sweep folder to grade: the recommendation within the sweep's "
              "slowdown budget, the lowest energy, or the setting as found.")
def score(results: tuple[Path, ...], standard_ref: str | None, as_json: bool,
          country: str | None, region: str | None, carbon_intensity: float | None, wue: float | None,
          pue: float | None, ewif: str | None, server_overhead: float | None, carbon_basis: str | None,
          profiles_dirs: tuple[Path, ...], sweep_point: str) -> None:
    """Score RESULT folders: metric with CI, grade (or why ungraded), carbon, water and quality level.

    A result folder of any age is scored from its result.json alone, against the standard chosen (default:
    the newest shipped). A sweep folder is graded at one of its points (the recommended setting by default),
    and the setting is stated."""
    from bench.analysis.scoring.footprint import footprint_factors
    from bench.analysis.scoring.profiles import load_profiles
    from bench.analysis.scoring.score import score_result
    from bench.analysis.scoring.standard import load_standard

    std = load_standard(standard_ref)
    profiles = load_profiles(profiles_dirs)
    if carbon_basis and carbon_intensity is None:
        from bench.errors import UsageError

        raise UsageError("--carbon-basis states the basis of --carbon-intensity; give both or neither")
    factors = footprint_factors(country=country, region=region, carbon_intensity_g_per_kwh=carbon_intensity,
                                wue=wue, pue=pue, ewif=ewif, server_overhead=server_overhead,
                                carbon_basis_text=carbon_basis)
    notes: list[str] = []
    loaded, errors = _load_all(results, sweep_point, notes)
    scores = [score_result(result, std, profiles, factors) for _, result in loaded]
    labels = _labels(loaded)
    if as_json:
        dumped = [{"run": label, "path": str(path), **s.model_dump(mode="json")}
                  for (path, _), label, s in zip(loaded, labels, scores)]
        for row, (_, result) in zip(dumped, loaded):
            if getattr(result, "setting", None) is not None:
                row["setting"] = {"text": result.setting.text(), **result.setting.model_dump(mode="json")}
        click.echo(json.dumps(finite(dumped), indent=2, allow_nan=False))
    else:
        from bench.cli.console import console as wide_console
        from bench.cli.console import plain

        console = wide_console()
        console.print(_table(scores, std, labels))
        _print_details(console, scores, labels)
        for label, (_, result) in zip(labels, loaded):
            if getattr(result, "setting", None) is not None:
                console.print(plain(f"{label}: measured at {result.setting.text()} (sweep point "
                                    f"{result.setting.point})"), highlight=False)
        for note in notes:
            console.print(plain(note), highlight=False)
    for _, message in errors[:-1]:
        say(f"bench: error: {message}", err=True)
    if errors:
        raise BenchError(errors[-1][1])


def rerun_validity(path: Path, result: Any, required: list[str]) -> tuple[list[Any], str]:
    """The validity checks re-run from the result's trace, and what they are; a trace that cannot be read fails
    every check the standard requires, saying why."""
    from bench.analysis.validity import check_validity
    from bench.result.model import ValidityCheck

    folder = path if path.is_dir() else path.parent
    try:
        return check_validity(result, folder), "re-run from the trace"
    except Exception as exc:  # noqa: BLE001 - an unreadable trace is a finding, not a crash
        why = f"could not re-run from the trace ({type(exc).__name__}: {exc})"
        return [ValidityCheck(check=name, ok=False, detail=why) for name in required], why


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@_standard_option
@_json_option
@_profiles_option
@click.option("--validity/--no-validity", default=True, show_default=True,
              help="Re-run the validity checks the standard requires on each trace (coverage, rate, counter vs "
                   "power, power limit, telemetry, idle); --no-validity judges the checks recorded at run time.")
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
        if validity:
            checks, source = rerun_validity(Path(path), result, list(std.rules.validity_checks))
            s = score_result(result, std, profiles, validity=checks, validity_source=source)
        else:
            s = score_result(result, std, profiles)
        failed = [c.model_dump(mode="json") for c in s.failed]
        rows.append({"path": str(path), "run_id": s.run_id, "conforms": not failed,
                     "quality_level": s.quality.level, "validity": s.validity_source,
                     "grades": {w.workload: w.grade for w in s.workloads},
                     "grade_reasons": {w.workload: w.grade_reason for w in s.workloads if w.grade is None},
                     "failed": failed, "error": None})
    rows += [{"path": str(p), "run_id": None, "conforms": False, "quality_level": None, "validity": None,
              "grades": {}, "grade_reasons": {}, "failed": [], "error": message} for p, message in errors]
    if as_json:
        click.echo(json.dumps({"standard": std.record(), "results": rows}, indent=2, allow_nan=False))
    else:
        for row in rows:
            verdict = "PASS" if row["conforms"] else "FAIL"
            say(f"{verdict} {row['run_id'] or '-'} ({row['path']})")
            if row["error"]:
                say(f"  - unreadable: {row['error']}")
            for c in row["failed"]:
                say(f"  - {c['workload'] or 'run'}: {c['rule']}: expected {c['expected']}, got {c['actual']}")
        passed = sum(1 for r in rows if r["conforms"])
        say(f"{passed} of {len(rows)} result(s) conform to {std.id} (sha256 {std.sha256[:12]})")
    failing = sum(1 for r in rows if not r["conforms"])
    if failing:
        raise BenchError(f"{failing} of {len(rows)} result(s) do not conform to {std.id}")
