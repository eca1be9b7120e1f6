"""The rules of a standard applied to a result, each checked on its own: the run's (status, quality, idle baseline,
sampling rate, something gradable, the validity checks the standard requires) and each workload's (status, unit,
preset, dtype, repeats, window length, CI width). Each :class:`RuleCheck` says what was expected and what the
result shows."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from bench.analysis.scoring.quality import ci95_with_sensors, weakest
from bench.analysis.scoring.standard import Standard, WorkloadRule
from bench.result.model import Quality, Result, Stat, ValidityCheck, WorkloadResult


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


def energy_stat(wl: WorkloadResult, basis: str) -> Stat | None:
    """The workload's energy per unit (J) over its repeats, gross or net of idle."""
    if wl.aggregate is None:
        return None
    return wl.aggregate.gross_energy_per_unit_j if basis == "gross" else wl.aggregate.energy_per_unit_j


def workload_dtype(wl: WorkloadResult) -> str | None:
    """The dtype the workload ran in, as resolved (else as asked)."""
    value = wl.settings.get("dtype") or wl.params.get("dtype")
    return str(value) if value else None


def make_check(rule: str, workload: str | None, expected: str, actual: str, passed: bool) -> RuleCheck:
    """One :class:`RuleCheck`."""
    return RuleCheck(rule=rule, workload=workload, expected=expected, actual=actual, passed=passed)


def validity_checks(required: list[str], validity: list[ValidityCheck] | None) -> list[RuleCheck]:
    """One rule per validity check the standard requires: it passes when every instance of the check in
    ``validity`` passed, or when the check does not apply to this result (not listed); it fails when the checks
    were never run (``validity`` None) or any instance failed. A result without a measurement channel, on
    which no check can run, fails too."""
    out = []
    for name in required:
        rule = f"validity.{name}"
        if validity is None:
            out.append(make_check(rule, None, "pass", "validity checks not recorded (run `bench check` on the folder)",
                              False))
            continue
        found = [c for c in validity if c.check == name]
        bad = [c for c in found if not c.ok]
        if bad:
            first = bad[0]
            where = f"{first.window}: " if first.window else ""
            more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
            out.append(make_check(rule, None, "pass", f"failed: {where}{first.detail}{more}", False))
        elif found:
            out.append(make_check(rule, None, "pass", f"passed ({len(found)} check(s))", True))
        else:
            out.append(make_check(rule, None, "pass", "not applicable to this result", True))
    # a result the checks could not be run on at all (no measurement channel) fails whatever the standard lists
    for c in validity or []:
        if c.check == "channels_recorded" and not c.ok:
            out.append(make_check("validity.channels_recorded", None, "the channels the checks read", c.detail, False))
    return out


def run_checks(result: Result, standard: Standard, quality: Quality, graded: int,
               validity: list[ValidityCheck] | None = None) -> list[RuleCheck]:
    """The run-level rules: status, quality level, idle baseline, sampling rate, something gradable, and the
    validity checks the standard requires (``validity``: the checks to judge, e.g. re-run on the trace)."""
    r = standard.rules
    checks = [make_check("status", None, "complete", result.status + (f" ({result.reason})" if result.reason else ""),
                     result.status == "complete")]
    weak = "; ".join(f"{a.aspect}: {a.reason}" for a in weakest(quality))
    checks.append(make_check("quality", None, f">= L{r.min_quality_level}", f"L{quality.level} ({weak})",
                         quality.level >= r.min_quality_level))
    if r.idle_baseline_required:
        idle = result.idle
        ok = idle is not None and idle.energy_j is not None
        checks.append(make_check("idle_baseline", None, "an idle baseline",
                             f"{idle.duration_s:.3g} s" if ok else "none", ok))  # type: ignore[union-attr]
    rate = result.measurement.achieved_rate_hz
    checks.append(make_check("sampling_rate", None, f">= {r.min_sampling_hz:g} Hz achieved",
                         "not recorded" if rate is None else f"{rate:.3g} Hz",
                         rate is not None and rate >= r.min_sampling_hz))
    checks.append(make_check("graded", None, "at least one workload graded by the standard",
                         f"{graded} with a rule and a value", graded > 0))
    return checks + validity_checks(list(r.validity_checks), validity)


def workload_checks(wl: WorkloadResult, rule: WorkloadRule, standard: Standard) -> list[RuleCheck]:
    """The rules of one workload: status, unit, preset, dtype, repeats, window length, CI width."""
    r, name = standard.rules, wl.workload
    out = [make_check("status", name, "complete", wl.status, wl.status == "complete")]
    if wl.unit:
        out.append(make_check("unit", name, rule.unit, wl.unit, wl.unit == rule.unit))
    if rule.presets:
        preset = wl.params.get("preset") or wl.settings.get("preset")
        out.append(make_check("preset", name, " or ".join(rule.presets), str(preset or "not recorded"),
                          preset in rule.presets))
    if rule.dtypes:
        dtype = workload_dtype(wl)
        out.append(make_check("dtype", name, " or ".join(rule.dtypes), dtype or "not recorded", dtype in rule.dtypes))
    stat = energy_stat(wl, rule.basis)
    n = stat.n if stat is not None else 0
    out.append(make_check("repeats", name, f">= {r.min_repeats}", str(n), n >= r.min_repeats))
    if wl.repeats:
        shortest = min(wl.repeats, key=lambda rep: rep.duration_s)
        out.append(make_check("window", name, f">= {r.min_window_s:g} s per repeat",
                          f"{shortest.duration_s:.3g} s (repeat {shortest.index})",
                          shortest.duration_s >= r.min_window_s))
    else:
        out.append(make_check("window", name, f">= {r.min_window_s:g} s per repeat", "no repeats", False))
    rel = shown = None
    if wl.aggregate is not None and stat is not None:
        ci, sensor, rel = ci95_with_sensors(wl.aggregate, rule.basis)
        if rel is not None:
            shown = f"+/-{rel:.2%}" + (f" (CI +/-{ci:.2%}, sensors +/-{sensor:.2%})" if sensor else "")
    out.append(make_check("ci95", name, f"<= +/-{r.max_ci95_relative:.1%} of the mean",
                          "not computed" if shown is None else shown,
                          rel is not None and rel <= r.max_ci95_relative))
    return out
