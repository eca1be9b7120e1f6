"""Results into one pandas DataFrame, for reviewers: one row per workload result, with grades.

:func:`load_results` is the notebook entry point (also ``bench.load_results``)::

    from bench.analysis.frame import load_results
    df = load_results(["results/"])          # a folder of run folders, or run folders, or result.json files
    df.attrs["skipped"]                      # [(path, reason), ...] for what could not be used

Folders are found and checked by :mod:`bench.result.store`. Grades, carbon and water come from
:mod:`bench.analysis.scoring`: ``grade`` is a letter only where the standard grades the row (standard preset,
quality at or above the standard's minimum, a conforming result); elsewhere it is missing and
``grade_reason`` says why.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.result.model import Result, WorkloadResult
from bench.result.store import Run, load_runs
from bench.safetext import clean

log = logging.getLogger(__name__)

# column -> pandas dtype; list columns (per-repeat values, for tests on repeats) are "object"
STAT_FIGURES = ("energy_per_unit_j", "gross_energy_per_unit_j", "throughput", "mean_power_w")
COLUMNS: dict[str, str] = {
    "run": "string", "run_id": "string", "created_utc": "datetime", "run_status": "string",
    "device": "string", "device_spec": "string", "device_type": "string", "profile": "string",
    "workload": "string", "kind": "string", "status": "string", "unit": "string", "preset": "string",
    "dtype": "string", "batch": "Int64", "seq_len": "Int64", "settings": "string", "repeats": "Int64",
    **{f"{fig}{suffix}": "Float64" for fig in STAT_FIGURES for suffix in ("", "_std", "_ci_low", "_ci_high")},
    "idle_power_w": "Float64", "flops_per_joule": "Float64",
    "latency_p50_s": "Float64", "latency_p90_s": "Float64", "latency_p99_s": "Float64",
    "quality_level": "Int64", "quality_label": "string",
    "grade": "string", "grade_reason": "string", "standard": "string", "standard_version": "string",
    "conforms": "boolean", "carbon_g": "Float64", "water_ml": "Float64", "carbon_accelerator_g": "Float64",
    "water_accelerator_ml": "Float64", "footprint_units": "Int64",
    "sampler": "string", "rate_hz": "Float64", "harness_version": "string", "schema_version": "string",
    "integrity": "string", "signed_by": "string", "digest": "string", "path": "string",
    **{f"{fig}_repeats": "object" for fig in ("energy_per_unit_j", "gross_energy_per_unit_j", "throughput")},
}


# --- grades (optional: the scoring package) ---------------------------------------------------


class Grader:
    """Scores results against a standard when :mod:`bench.analysis.scoring` is importable; else grades stay empty."""

    def __init__(self, standard: str | Path | None = None, footprint: Any = "default") -> None:
        self.error: str | None = None
        self.standard: Any = None
        self.footprint: Any = None
        self._score = None
        try:
            from bench.analysis.scoring.profiles import load_profiles
            from bench.analysis.scoring.score import score_result
            from bench.analysis.scoring.standard import load_standard
        except ImportError as exc:
            self.error = f"scoring not available ({exc})"
            return
        try:
            self.standard = load_standard(standard)
            self._profiles = load_profiles()
        except BenchError as exc:
            if standard is not None:
                raise
            self.error = f"no grades: {exc}"
            return
        self.footprint = self._footprint() if footprint == "default" else footprint
        self._score = score_result

    @staticmethod
    def _footprint() -> Any:
        try:
            from bench.analysis.scoring.footprint import footprint_factors

            return footprint_factors()
        except (ImportError, BenchError) as exc:
            log.warning("no footprint factors: %s", exc)
            return None

    def score(self, result: Result) -> Any:
        """The :class:`bench.analysis.scoring.score.Score` of ``result``, or None."""
        if self._score is None:
            return None
        try:
            return self._score(result, self.standard, self._profiles, self.footprint)
        except Exception as exc:  # noqa: BLE001 - a grade is advisory here; `bench score` reports its errors
            log.warning("%s: not graded: %s", result.run_id, exc)
            return None


# --- rows -------------------------------------------------------------------------------------


def _stat_columns(name: str, stat: Any) -> dict[str, Any]:
    if stat is None:
        return {}
    return {name: stat.mean, f"{name}_std": stat.std, f"{name}_ci_low": stat.ci95_low,
            f"{name}_ci_high": stat.ci95_high}


def _workload_row(run: Run, wl: WorkloadResult, score: Any) -> dict[str, Any]:
    res = run.result
    settings, params = wl.settings or {}, wl.params or {}
    clean = [r for r in wl.repeats if r.clean]
    row: dict[str, Any] = {
        "workload": wl.workload, "kind": wl.kind, "status": wl.status, "unit": wl.unit,
        "preset": params.get("preset") or settings.get("preset"),
        "dtype": settings.get("dtype") or params.get("dtype"),
        "batch": settings.get("batch_size", params.get("batch_size")),
        "seq_len": settings.get("seq_len", params.get("seq_len")),
        "settings": json.dumps(settings, sort_keys=True, default=str),
        "repeats": len(clean),
        "idle_power_w": res.idle.power_w if res.idle else None,
        "energy_per_unit_j_repeats": [r.energy_per_unit_j for r in clean if r.energy_per_unit_j is not None],
        "gross_energy_per_unit_j_repeats": [r.gross_energy_per_unit_j for r in clean
                                            if r.gross_energy_per_unit_j is not None],
        "throughput_repeats": [r.throughput for r in clean],
    }
    agg = wl.aggregate
    if agg is not None:
        for fig in STAT_FIGURES:
            row.update(_stat_columns(fig, getattr(agg, fig)))
        row["flops_per_joule"] = agg.flops_per_joule.mean if agg.flops_per_joule else None
    if wl.latency is not None:
        row.update(latency_p50_s=wl.latency.p50_s, latency_p90_s=wl.latency.p90_s, latency_p99_s=wl.latency.p99_s)
    ws = next((w for w in score.workloads if w.workload == wl.workload), None) if score is not None else None
    if ws is not None:
        row.update(grade=ws.grade, grade_reason=ws.grade_reason, carbon_g=ws.carbon_g, water_ml=ws.water_ml,
                   carbon_accelerator_g=ws.carbon_accelerator_g, water_accelerator_ml=ws.water_accelerator_ml,
                   footprint_units=ws.footprint_units)
    elif score is None:
        row["grade_reason"] = "not scored"
    return row


def _run_columns(run: Run, score: Any) -> dict[str, Any]:
    res = run.result
    quality = score.quality if score is not None else res.quality
    profile = (res.profile or {}).get("id") if isinstance(res.profile, dict) else None
    if score is not None and score.profile is not None:
        profile = score.profile.id
    std = score.standard if score is not None else {}
    return {
        "run": run.label, "run_id": res.run_id, "created_utc": res.created_utc, "run_status": res.status,
        "device": res.device.get("name"), "device_spec": res.device.get("spec"), "device_type": res.device.get("type"),
        "profile": profile,
        "quality_level": quality.level if quality else None, "quality_label": quality.label if quality else None,
        "standard": std.get("id"), "standard_version": std.get("version"),
        "conforms": score.conforms if score is not None else None,
        "sampler": res.measurement.sampler, "rate_hz": res.measurement.rate_hz,
        "harness_version": str(res.harness.get("version", "")) or None, "schema_version": res.schema_version,
        "integrity": run.integrity.state, "signed_by": run.integrity.key_fingerprint,
        "digest": run.integrity.digest, "path": clean(str(run.folder)),  # text: odd bytes shown as \xff
    }


def score_runs(runs: list[Run], grader: Grader | None) -> dict[str, Any]:
    """label -> score (None where not graded)."""
    return {run.label: grader.score(run.result) if grader is not None else None for run in runs}


def runs_frame(runs: list[Run], grader: Grader | None = None, scores: dict[str, Any] | None = None) -> Any:
    """The DataFrame of ``runs`` (columns :data:`COLUMNS`); ``grader`` None and no ``scores``: no grades."""
    import pandas as pd

    scores = scores if scores is not None else score_runs(runs, grader)
    rows = []
    for run in runs:
        score = scores.get(run.label)
        base = _run_columns(run, score)
        for wl in run.result.workloads:
            rows.append({**base, **_workload_row(run, wl, score)})
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for col, dtype in COLUMNS.items():
        if col == "created_utc":
            frame[col] = pd.to_datetime(frame[col], utc=True, errors="coerce")
        elif dtype != "object":
            frame[col] = frame[col].astype(dtype)
    return frame


def load_results(paths: Iterable[Path | str] | Path | str, standard: str | Path | None = None,
                 grades: bool = True, include_edited: bool = False, trusted: list[Any] | None = None) -> Any:
    """Read result folders into a DataFrame: one row per workload result, typed columns (see :data:`COLUMNS`).

    Energies in J per unit, power in W, throughput in units/s, carbon in g and water in mL per
    ``footprint_units`` units. ``df.attrs["skipped"]`` lists (path, reason) for every input not used.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    report = load_runs(paths, trusted=trusted, include_edited=include_edited)
    frame = runs_frame(report.runs, Grader(standard) if grades else None)
    frame.attrs["skipped"] = list(report.skipped)
    return frame
