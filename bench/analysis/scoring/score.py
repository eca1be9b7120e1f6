"""The score of one result against a standard: metric values with CI, grades, footprint, and the verdict.

:func:`score_result` reads only the :class:`~bench.result.model.Result` (plus the standard, the hardware
profiles and the footprint factors), so it gives the same score for the same inputs on any machine.
Every rule of the standard is checked separately and each failure names what was expected and what
the result shows.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bench.analysis.scoring.footprint import FootprintFactors
from bench.analysis.scoring.profiles import HardwareProfile, match_profile
from bench.analysis.scoring.quality import assess_quality, ci95_with_sensors, weakest
from bench.analysis.scoring.standard import Standard, WorkloadRule
from bench.result.model import Quality, Result, Stat, WorkloadResult
from bench.version import __version__

log = logging.getLogger(__name__)
PARAMETER_TOLERANCE = 1.25  # a model this many times off the standard's reference size gets a warning


class RuleCheck(BaseModel):
    """One rule of the standard applied to a result (``workload`` None: the run as a whole)."""

    model_config = ConfigDict(extra="forbid")

    rule: str
    workload: str | None = None
    expected: str
    actual: str
    passed: bool

    def line(self) -> str:
        return f"{self.workload or 'run'}: {self.rule}: expected {self.expected}, got {self.actual}"


class ProfileUsed(BaseModel):
    """The hardware profile a score used and the rated power it took."""

    id: str
    vendor: str
    name: str
    matched_by: str
    rated_power_w: float | None
    rated_power_source: str
    path: str | None = None
    sha256: str | None = None


class WorkloadScore(BaseModel):
    """One workload's figures. Energies in J per unit, FLOP/J, carbon in g and water in mL per ``footprint_units``."""

    workload: str
    unit: str | None
    status: str
    graded: bool
    metric: str | None = None
    metric_unit: str | None = None
    direction: str | None = None
    basis: str | None = None
    value: float | None = None
    ci95_low: float | None = None
    ci95_high: float | None = None
    ci95_relative: float | None = None
    sensor_uncertainty_relative: float | None = None  # the sensors' bound, added to the CI in the ci95 check
    n: int = 0
    grade: str | None = None
    band_better_edge: float | None = None
    band_worse_edge: float | None = None
    gross_energy_per_unit_j: float | None = None
    net_energy_per_unit_j: float | None = None
    throughput: float | None = None
    dtype: str | None = None
    flops_per_joule: float | None = None
    rated_flops_per_joule: float | None = None
    fraction_of_rated: float | None = None
    footprint_units: int = 1000
    carbon_g: float | None = None
    water_ml: float | None = None
    warnings: list[str] = Field(default_factory=list)


class Score(BaseModel):
    """The score of one result against one standard."""

    run_id: str
    result_digest: str | None
    device: str
    standard: dict[str, Any]
    profile: ProfileUsed | None
    quality: Quality
    recorded_quality_level: int | None
    footprint: FootprintFactors | None
    workloads: list[WorkloadScore]
    checks: list[RuleCheck]
    conforms: bool
    warnings: list[str] = Field(default_factory=list)
    scored_by: str = f"bench {__version__}"

    @property
    def failed(self) -> list[RuleCheck]:
        return [c for c in self.checks if not c.passed]


# --- profile -----------------------------------------------------------------------------------


def _estimate_rated_w(result: Result) -> float | None:
    for ch in result.measurement.channels:
        if str(ch.capabilities.get("power", "")) == "estimated":
            value = ch.describe.get("rated_power_w")
            if isinstance(value, (int, float)) and value > 0:
                return float(value)
    return None


def resolve_profile(result: Result, profiles: list[HardwareProfile]) -> tuple[HardwareProfile | None, str]:
    """The profile for the result's device and how it was found: by name or type, else the recorded one."""
    name = str(result.device.get("name") or "")
    found = match_profile(name, profiles, device_type=result.device.get("type"))
    if found is not None:
        how = "device name" if found.match_text(name) else f"device type {result.device.get('type')!r}"
        return found, how
    recorded = result.profile or {}
    if recorded.get("id"):
        for p in profiles:
            if p.id == recorded["id"]:
                return p, "profile id recorded in the result"
        try:
            return HardwareProfile.model_validate(recorded), "profile recorded in the result"
        except ValidationError:
            pass
    return None, ""


def _profile_used(profile: HardwareProfile, how: str, result: Result) -> ProfileUsed:
    watts, source = profile.rated_power(result.device, _estimate_rated_w(result))
    return ProfileUsed(id=profile.id, vendor=profile.vendor, name=profile.name, matched_by=how,
                       rated_power_w=watts, rated_power_source=source, path=profile.path, sha256=profile.sha256)


# --- per workload ------------------------------------------------------------------------------


def _energy_stat(wl: WorkloadResult, basis: str) -> Stat | None:
    if wl.aggregate is None:
        return None
    return wl.aggregate.gross_energy_per_unit_j if basis == "gross" else wl.aggregate.energy_per_unit_j


def _dtype(wl: WorkloadResult) -> str | None:
    value = wl.settings.get("dtype") or wl.params.get("dtype")
    return str(value) if value else None


def _metric(ws: WorkloadScore, rule: WorkloadRule, stat: Stat, flops: float | None) -> None:
    """Fill the graded value, its CI and grade."""
    ws.metric, ws.metric_unit, ws.direction, ws.basis = rule.metric, rule.metric_unit, rule.direction, rule.basis
    ws.n, ws.ci95_relative = stat.n, stat.ci95_relative
    if stat.mean is None or stat.mean <= 0:
        ws.warnings.append(f"no {rule.basis} energy per unit to grade")
        return
    if rule.metric == "flops_per_joule":
        if not flops:
            ws.warnings.append("no FLOPs per unit recorded: FLOP/J cannot be computed")
            return
        ws.value = flops / stat.mean
        if stat.ci95_low is not None and stat.ci95_high is not None and stat.ci95_low > 0:
            ws.ci95_low, ws.ci95_high = flops / stat.ci95_high, flops / stat.ci95_low
    else:
        ws.value, ws.ci95_low, ws.ci95_high = stat.mean, stat.ci95_low, stat.ci95_high
    ws.grade = rule.grade(ws.value)
    ws.band_better_edge, ws.band_worse_edge = rule.band_range(ws.grade)
    ws.graded = True


def _efficiency(ws: WorkloadScore, wl: WorkloadResult, profile: ProfileUsed | None,
                peaks: dict[str, float], device: str) -> None:
    """Measured FLOP/J and, with a profile, the rated FLOP/J (peak FLOP/s / rated power)."""
    if wl.flops_per_unit and ws.gross_energy_per_unit_j:
        ws.flops_per_joule = wl.flops_per_unit / ws.gross_energy_per_unit_j
    if profile is None:
        return  # the score's warnings say why, once for the run
    if profile.rated_power_w is None:
        ws.warnings.append(f"profile {profile.id} gives no rated power here: rated efficiency left out")
        return
    peak = peaks.get(ws.dtype or "")
    if peak is None:
        ws.warnings.append(f"profile {profile.id} gives no peak FLOP/s for {ws.dtype or 'this dtype'}: "
                           "rated efficiency left out")
        return
    ws.rated_flops_per_joule = peak / profile.rated_power_w
    if ws.flops_per_joule is not None:
        ws.fraction_of_rated = ws.flops_per_joule / ws.rated_flops_per_joule


def score_workload(wl: WorkloadResult, rule: WorkloadRule | None, profile: ProfileUsed | None,
                   peaks: dict[str, float], factors: FootprintFactors | None, device: str,
                   standard_id: str, per_units: int) -> WorkloadScore:
    """The figures of one workload; grading needs a rule of the standard and a complete workload."""
    ws = WorkloadScore(workload=wl.workload, unit=wl.unit, status=wl.status, graded=False,
                       dtype=_dtype(wl), footprint_units=per_units)
    if wl.aggregate is not None:
        ws.gross_energy_per_unit_j = wl.aggregate.gross_energy_per_unit_j.mean
        ws.net_energy_per_unit_j = wl.aggregate.energy_per_unit_j.mean
        ws.throughput = wl.aggregate.throughput.mean
    if wl.status != "complete" or wl.aggregate is None:
        ws.warnings.append(f"workload {wl.status}{': ' + wl.reason if wl.reason else ''}: not graded")
        return ws
    if rule is None:
        ws.warnings.append(f"{standard_id} has no rule for {wl.workload}: not graded")
    else:
        _metric(ws, rule, _energy_stat(wl, rule.basis), wl.flops_per_unit)  # type: ignore[arg-type]
        ws.sensor_uncertainty_relative = ci95_with_sensors(wl.aggregate, rule.basis)[1] or None
        ref = rule.reference_parameters
        if ref and wl.parameters and not (1 / PARAMETER_TOLERANCE <= wl.parameters / ref <= PARAMETER_TOLERANCE):
            ws.warnings.append(f"bands assume about {ref:.3g} parameters ({rule.reference}); "
                               f"this model has {wl.parameters:.3g}")
    _efficiency(ws, wl, profile, peaks, device)
    if factors is not None and ws.gross_energy_per_unit_j is not None:
        ws.carbon_g, ws.water_ml = factors.per_units(ws.gross_energy_per_unit_j, per_units)
    return ws


# --- checks ------------------------------------------------------------------------------------


def _check(rule: str, workload: str | None, expected: str, actual: str, passed: bool) -> RuleCheck:
    return RuleCheck(rule=rule, workload=workload, expected=expected, actual=actual, passed=passed)


def run_checks(result: Result, standard: Standard, quality: Quality, graded: int) -> list[RuleCheck]:
    """The run-level rules: status, quality level, idle baseline, sampling rate, something graded."""
    r = standard.rules
    checks = [_check("status", None, "complete", result.status + (f" ({result.reason})" if result.reason else ""),
                     result.status == "complete")]
    weak = "; ".join(f"{a.aspect}: {a.reason}" for a in weakest(quality))
    checks.append(_check("quality", None, f">= L{r.min_quality_level}", f"L{quality.level} ({weak})",
                         quality.level >= r.min_quality_level))
    if r.idle_baseline_required:
        idle = result.idle
        ok = idle is not None and idle.energy_j is not None
        checks.append(_check("idle_baseline", None, "an idle baseline",
                             f"{idle.duration_s:.3g} s" if ok else "none", ok))  # type: ignore[union-attr]
    rate = result.measurement.achieved_rate_hz
    checks.append(_check("sampling_rate", None, f">= {r.min_sampling_hz:g} Hz achieved",
                         "not recorded" if rate is None else f"{rate:.3g} Hz",
                         rate is not None and rate >= r.min_sampling_hz))
    checks.append(_check("graded", None, "at least one workload graded by the standard",
                         f"{graded} graded", graded > 0))
    return checks


def workload_checks(wl: WorkloadResult, rule: WorkloadRule, standard: Standard) -> list[RuleCheck]:
    """The rules of one workload: status, unit, preset, dtype, repeats, window length, CI width."""
    r, name = standard.rules, wl.workload
    out = [_check("status", name, "complete", wl.status, wl.status == "complete")]
    if wl.unit:
        out.append(_check("unit", name, rule.unit, wl.unit, wl.unit == rule.unit))
    if rule.presets:
        preset = wl.params.get("preset") or wl.settings.get("preset")
        out.append(_check("preset", name, " or ".join(rule.presets), str(preset or "not recorded"),
                          preset in rule.presets))
    if rule.dtypes:
        dtype = _dtype(wl)
        out.append(_check("dtype", name, " or ".join(rule.dtypes), dtype or "not recorded", dtype in rule.dtypes))
    stat = _energy_stat(wl, rule.basis)
    n = stat.n if stat is not None else 0
    out.append(_check("repeats", name, f">= {r.min_repeats}", str(n), n >= r.min_repeats))
    if wl.repeats:
        shortest = min(wl.repeats, key=lambda rep: rep.duration_s)
        out.append(_check("window", name, f">= {r.min_window_s:g} s per repeat",
                          f"{shortest.duration_s:.3g} s (repeat {shortest.index})",
                          shortest.duration_s >= r.min_window_s))
    else:
        out.append(_check("window", name, f">= {r.min_window_s:g} s per repeat", "no repeats", False))
    rel = shown = None
    if wl.aggregate is not None and stat is not None:
        ci, sensor, rel = ci95_with_sensors(wl.aggregate, rule.basis)
        if rel is not None:
            shown = f"+/-{rel:.2%}" + (f" (CI +/-{ci:.2%}, sensors +/-{sensor:.2%})" if sensor else "")
    out.append(_check("ci95", name, f"<= +/-{r.max_ci95_relative:.1%} of the mean",
                      "not computed" if shown is None else shown,
                      rel is not None and rel <= r.max_ci95_relative))
    return out


# --- the score ---------------------------------------------------------------------------------


def score_result(result: Result, standard: Standard, profiles: list[HardwareProfile],
                 footprint_factors: FootprintFactors | None = None) -> Score:
    """Score ``result`` against ``standard``. ``footprint_factors`` None leaves carbon and water out."""
    bases = {w.basis for w in standard.workloads.values()}
    quality = assess_quality(result, max_ci95_relative=standard.rules.max_ci95_relative,
                             min_repeats=standard.rules.min_repeats, basis="net" if bases == {"net"} else "gross")
    device = str(result.device.get("name") or result.device.get("spec") or "unknown device")
    warnings: list[str] = []
    profile, how = resolve_profile(result, profiles)
    used = _profile_used(profile, how, result) if profile is not None else None
    if used is None:
        warnings.append(f"no hardware profile matches device {device!r}: scored for energy only, "
                        "rated efficiency left out (add one with --profiles-dir)")
    peaks = dict(profile.peak_flops) if profile is not None else {}
    per_units = standard.reported.per_units
    scores, checks = [], []
    for wl in result.workloads:
        rule = standard.workloads.get(wl.workload)
        scores.append(score_workload(wl, rule, used, peaks, footprint_factors, device, standard.id, per_units))
        if rule is not None:
            checks.extend(workload_checks(wl, rule, standard))
    graded = sum(1 for s in scores if s.graded)
    checks = run_checks(result, standard, quality, graded) + checks
    recorded = result.quality.level if result.quality is not None else None
    if recorded is not None and recorded != quality.level:
        warnings.append(f"quality recorded as L{recorded} at run time; L{quality.level} against {standard.id}'s bounds")
    return Score(
        run_id=result.run_id,
        result_digest=result.integrity.digest if result.integrity is not None else None,
        device=device,
        standard=standard.record(),
        profile=used,
        quality=quality,
        recorded_quality_level=recorded,
        footprint=footprint_factors,
        workloads=scores,
        checks=checks,
        conforms=all(c.passed for c in checks),
        warnings=warnings,
    )


def grade_summary(result: Result, standard: Standard | None = None,
                  profiles: list[HardwareProfile] | None = None) -> list[dict[str, Any]]:
    """Grades of a result for a run summary: one dict per workload (no footprint, no codecarbon import).

    Raises :class:`bench.errors.ConfigError` if the standard or a profile file is malformed.
    """
    from bench.analysis.scoring.profiles import load_profiles
    from bench.analysis.scoring.standard import load_standard

    std = standard if standard is not None else load_standard()
    score = score_result(result, std, profiles if profiles is not None else load_profiles())
    failed = [c.line() for c in score.failed]
    return [
        {"workload": w.workload, "metric": w.metric, "metric_unit": w.metric_unit, "value": w.value,
         "ci95_low": w.ci95_low, "ci95_high": w.ci95_high, "grade": w.grade, "quality_level": score.quality.level,
         "standard": std.id, "conforms": score.conforms, "failed": failed, "warnings": w.warnings}
        for w in score.workloads
    ]
