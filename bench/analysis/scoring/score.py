"""The score of one result against a standard: metric values with CI, grades, footprint, and the verdict.

:func:`score_result` reads only the :class:`~bench.result.model.Result` (plus the standard, the hardware
profiles, the footprint factors and, from ``bench check``, the validity checks re-run on the trace), so it
gives the same score for the same inputs on any machine. Every rule of the standard is checked separately
(:mod:`bench.analysis.scoring.checks`) and each failure names what was expected and what the result shows.

A grade letter is given only where the standard grades: a rule for the workload, its standard preset, unit
and dtype, quality at or above the standard's minimum, and a result that conforms. Everywhere else the
workload is "ungraded" (``grade`` None) and ``grade_reason`` says why; its value is still reported.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from bench.analysis.sanity import CODES as SANITY_CODES
from bench.analysis.sanity import merge_issues, sanity_issues
from bench.analysis.scoring.checks import RuleCheck, energy_stat, run_checks, workload_checks, workload_dtype
from bench.analysis.scoring.footprint import FootprintFactors
from bench.analysis.scoring.profiles import HardwareProfile, match_profile
from bench.analysis.scoring.quality import assess_quality, ci95_with_sensors, weakest
from bench.analysis.scoring.standard import Standard, WorkloadRule
from bench.result.model import Issue, Quality, Result, Stat, ValidityCheck, WorkloadResult
from bench.version import __version__

log = logging.getLogger(__name__)
PARAMETER_TOLERANCE = 1.25  # a model this many times off the standard's reference size gets a warning


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
    grade: str | None = None  # a letter only where the standard grades; else None and grade_reason says why
    grade_reason: str | None = None
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
    carbon_g: float | None = None  # whole server (device energy x server overhead), through PUE and WUE
    water_ml: float | None = None
    carbon_accelerator_g: float | None = None  # the device's own energy only, through PUE and WUE
    water_accelerator_ml: float | None = None
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
    issues: list[Issue] = Field(default_factory=list)  # sanity findings (recorded at run time or found now)
    validity_source: str = "recorded at run time"
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
            return HardwareProfile.from_record(dict(recorded)), "profile recorded in the result"
        except ValidationError:
            pass
    return None, ""


def _profile_used(profile: HardwareProfile, how: str, result: Result) -> ProfileUsed:
    watts, source = profile.rated_power(result.device, _estimate_rated_w(result))
    return ProfileUsed(id=profile.id, vendor=profile.vendor, name=profile.name, matched_by=how,
                       rated_power_w=watts, rated_power_source=source, path=profile.path, sha256=profile.sha256)


# --- per workload ------------------------------------------------------------------------------


def _metric(ws: WorkloadScore, rule: WorkloadRule, stat: Stat, flops: float | None) -> str | None:
    """Fill the value and its CI; the band the value falls in (a grade only once the result conforms)."""
    ws.metric, ws.metric_unit, ws.direction, ws.basis = rule.metric, rule.metric_unit, rule.direction, rule.basis
    ws.n, ws.ci95_relative = stat.n, stat.ci95_relative
    if stat.mean is None or stat.mean <= 0:
        ws.warnings.append(f"no {rule.basis} energy per unit to grade")
        return None
    if rule.metric == "flops_per_joule":
        if not flops:
            ws.warnings.append("no FLOPs per unit recorded: FLOP/J cannot be computed")
            return None
        ws.value = flops / stat.mean
        if stat.ci95_low is not None and stat.ci95_high is not None and stat.ci95_low > 0:
            ws.ci95_low, ws.ci95_high = flops / stat.ci95_high, flops / stat.ci95_low
    else:
        ws.value, ws.ci95_low, ws.ci95_high = stat.mean, stat.ci95_low, stat.ci95_high
    if not all(math.isfinite(v) for v in (ws.value, ws.ci95_low, ws.ci95_high) if v is not None):
        ws.value = ws.ci95_low = ws.ci95_high = None
        ws.warnings.append(f"{rule.metric} out of range: not graded")
        return None
    return rule.grade(ws.value)


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
                   standard_id: str, per_units: int) -> tuple[WorkloadScore, str | None]:
    """The figures of one workload and the band its value falls in (None: no rule or no value). The band is
    not yet a grade: :func:`score_result` gives it only where the standard grades."""
    ws = WorkloadScore(workload=wl.workload, unit=wl.unit, status=wl.status, graded=False,
                       dtype=workload_dtype(wl), footprint_units=per_units)
    band = None
    if wl.aggregate is not None:
        ws.gross_energy_per_unit_j = wl.aggregate.gross_energy_per_unit_j.mean
        ws.net_energy_per_unit_j = wl.aggregate.energy_per_unit_j.mean
        ws.throughput = wl.aggregate.throughput.mean
    if wl.status != "complete" or wl.aggregate is None:
        ws.warnings.append(f"workload {wl.status}{': ' + wl.reason if wl.reason else ''}: not graded")
        ws.grade_reason = f"workload {wl.status}" + (f" ({wl.reason})" if wl.reason else "")
        return ws, None
    if rule is None:
        ws.warnings.append(f"{standard_id} has no rule for {wl.workload}: not graded")
        ws.grade_reason = f"{standard_id} has no rule for {wl.workload}"
    else:
        band = _metric(ws, rule, energy_stat(wl, rule.basis), wl.flops_per_unit)  # type: ignore[arg-type]
        if band is None:
            ws.grade_reason = ws.warnings[-1] if ws.warnings else "no value to grade"
        ws.sensor_uncertainty_relative = ci95_with_sensors(wl.aggregate, rule.basis)[1] or None
        ref = rule.reference_parameters
        if ref and wl.parameters and not (1 / PARAMETER_TOLERANCE <= wl.parameters / ref <= PARAMETER_TOLERANCE):
            ws.warnings.append(f"bands assume about {ref:.3g} parameters ({rule.reference}); "
                               f"this model has {wl.parameters:.3g}")
    _efficiency(ws, wl, profile, peaks, device)
    if factors is not None and ws.gross_energy_per_unit_j is not None:
        ws.carbon_g, ws.water_ml = factors.per_units(ws.gross_energy_per_unit_j, per_units)
        ws.carbon_accelerator_g, ws.water_accelerator_ml = factors.per_units(ws.gross_energy_per_unit_j, per_units,
                                                                             overhead=1.0)
    return ws, band


# --- the score ---------------------------------------------------------------------------------


UNSET: Any = object()


def _overhead(factors: FootprintFactors, profile: HardwareProfile | None) -> FootprintFactors:
    """The factors with this result's server overhead: the user's, else the profile's, else 1 (said so)."""
    if factors.server_overhead is not None:
        return factors
    if profile is not None and profile.server_overhead is not None:
        return factors.with_overhead(profile.server_overhead,
                                     f"hardware profile {profile.id}: {profile.source('server_overhead') or ''}")
    return factors.with_overhead(1.0, "none known for this device: carbon and water cover the device's own energy, "
                                      "not the rest of the server (give --server-overhead)")


def _grade_reason(ws: WorkloadScore, checks: list[RuleCheck], quality: Quality, standard: Standard) -> str | None:
    """Why a workload with a band gets no grade (None: it is graded): what the standard grades that the result is
    not (preset, dtype, unit), a quality below the minimum (with the weakest aspects), then any other failure."""
    failed = [c for c in checks if not c.passed]
    own = [c for c in failed if c.workload == ws.workload]
    reasons = [f"{c.rule} {c.actual}: {standard.id} grades {c.rule} {c.expected} only"
               for c in own if c.rule in ("preset", "dtype", "unit")]
    minimum = standard.rules.min_quality_level
    if quality.level < minimum:
        weak = "; ".join(f"{a.aspect}: {a.reason}" for a in weakest(quality))
        reasons.append(f"quality L{quality.level} is below L{minimum} ({weak})")
    if not reasons and failed:
        first = (own or failed)[0]
        more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
        reasons.append(f"does not conform: {first.line()}{more}")
    return "; ".join(reasons) or None


def score_result(result: Result, standard: Standard, profiles: list[HardwareProfile],
                 footprint_factors: FootprintFactors | None = None,
                 validity: list[ValidityCheck] | None = UNSET, validity_source: str | None = None) -> Score:
    """Score ``result`` against ``standard``. ``footprint_factors`` None leaves carbon and water out.

    ``validity``: the validity checks to judge the standard's required ones by (default: those recorded in the
    result at run time; ``bench check`` passes them re-run on the trace), described by ``validity_source``.
    """
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
    factors = _overhead(footprint_factors, profile) if footprint_factors is not None else None
    peaks = dict(profile.peak_flops) if profile is not None else {}
    per_units = standard.reported.per_units
    scores, bands, checks = [], [], []
    for wl in result.workloads:
        rule = standard.workloads.get(wl.workload)
        ws, band = score_workload(wl, rule, used, peaks, factors, device, standard.id, per_units)
        scores.append(ws)
        bands.append((ws, rule, band))
        if rule is not None:
            checks.extend(workload_checks(wl, rule, standard))
    gradable = sum(1 for _, _, band in bands if band is not None)
    if validity is UNSET:
        validity = result.validity
        validity_source = validity_source or ("recorded at run time" if validity is not None else "not recorded")
    checks = run_checks(result, standard, quality, gradable, validity) + checks
    conforms = all(c.passed for c in checks)
    for ws, rule, band in bands:
        if band is None or rule is None:
            continue
        ws.grade_reason = _grade_reason(ws, checks, quality, standard)
        if ws.grade_reason is None:
            ws.grade, ws.graded = band, True
            ws.band_better_edge, ws.band_worse_edge = rule.band_range(band)
    recorded = result.quality.level if result.quality is not None else None
    if recorded is not None and recorded != quality.level:
        warnings.append(f"quality recorded as L{recorded} at run time; L{quality.level} against {standard.id}'s bounds")
    kept = [i for i in result.issues if i.code in SANITY_CODES]
    return Score(
        run_id=result.run_id,
        result_digest=result.integrity.digest if result.integrity is not None else None,
        device=device,
        standard=standard.record(),
        profile=used,
        quality=quality,
        recorded_quality_level=recorded,
        footprint=factors,
        workloads=scores,
        checks=checks,
        conforms=conforms,
        warnings=warnings,
        issues=merge_issues(kept, sanity_issues(result)),
        validity_source=validity_source or ("not recorded" if validity is None else "given"),
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
         "ci95_low": w.ci95_low, "ci95_high": w.ci95_high, "grade": w.grade, "grade_reason": w.grade_reason,
         "quality_level": score.quality.level, "standard": std.id, "conforms": score.conforms, "failed": failed,
         "warnings": w.warnings}
        for w in score.workloads
    ]
