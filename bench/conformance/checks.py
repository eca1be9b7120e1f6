"""The checks of the conformance kit (driven by :func:`bench.conformance.kit.run_conformance`).

Order: ``contract``, ``is_available``, ``open``, ``read_latency``, then a short series of reads that
feeds ``capabilities``, ``units``, ``timestamps``, ``monotonic`` and ``energy_consistency``;
``thread_safety``, ``meter_window``, ``describe``, ``close_idempotent`` and ``errors`` last (its faults
spoil the fake). Each check runs under a time limit; a hung call fails that check and skips the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.clock import MonotonicClock
from bench.conformance.core import (
    ABSENT_DEVICE,
    FAIL,
    PASS,
    SKIP,
    CheckResult,
    ConformanceSetup,
    Report,
    own_absent,
    real_time,
)
from bench.conformance.flow import (
    check_close_idempotent,
    check_describe,
    check_errors,
    check_meter_window,
    check_thread_safety,
)
from bench.conformance.units import Series, evaluate_series, resolve_rated_power
from bench.errors import SamplerError
from bench.guarded import call_with_timeout
from bench.samplers.base import Capabilities, PowerKind, Reading, Sampler, Scope

SAMPLER_CHECKS = ("contract", "is_available", "open", "read_latency", "capabilities", "units", "timestamps",
                  "monotonic", "energy_consistency", "thread_safety", "meter_window", "describe", "close_idempotent",
                  "errors")
LATENCY_READS, LATENCY_BUDGET_S = 200, 1.0
SERIES_SIM_S, SERIES_REAL_S, SERIES_BUDGET_S = 3.0, 1.0, 2.0
KIT_RATE_HZ = 100.0
P99_FLOOR_S = 0.025  # a scheduler pause on a busy machine is not the sampler's fault


class Ctx:
    """State shared by the checks of one run."""

    def __init__(self, cls: type, setup: ConformanceSetup | None, options: dict[str, Any], timeout_s: float,
                 mode: str) -> None:
        self.cls, self.setup, self.mode, self.timeout_s = cls, setup, mode, timeout_s
        self.options = {**(setup.options if setup else {}), **options}
        self.clock = setup.clock if setup is not None and setup.clock is not None else MonotonicClock()
        self.simulated = bool(getattr(self.clock, "simulated", False))
        self.samplers: list[Sampler] = []
        self.series: dict[str, Series] = {}
        self.stopped: str | None = None  # set when a call hung: later checks are skipped
        self.too_slow: str | None = None
        self.foreign: list[str] = []  # exceptions outside the SamplerError tree
        self.rated: tuple[float, str] | None = None

    @property
    def device(self) -> str:
        return self.setup.device if self.setup else ""

    def now_s(self) -> float:
        return self.clock.now_ns() / 1e9 if self.simulated else time.monotonic()

    def sleep(self, seconds: float) -> None:
        if self.simulated:
            self.clock.sleep(seconds)
        else:
            time.sleep(seconds)

    def read(self, sampler: Sampler) -> Reading:
        try:
            reading = sampler.read()
        except SamplerError:
            raise
        except Exception as exc:
            self.foreign.append(f"read() on {sampler.channel} raised {type(exc).__name__}: {exc}")
            raise
        if not isinstance(reading, Reading):
            raise TypeError(f"read() returned {type(reading).__name__}, not a Reading")
        return reading

    def rate_hz(self) -> float:
        return min([KIT_RATE_HZ] + [s.capabilities.max_rate_hz for s in self.samplers])


def contract_result(problem: str) -> CheckResult:
    if problem:
        return CheckResult("contract", FAIL, problem)
    return CheckResult("contract", PASS, "subclass of Sampler; name, is_available, open, read as required")


def unusable_report(name: str, package: str, device: str | None, problem: str) -> Report:
    report = Report(name, "samplers", package, device, "absent", "the plugin could not be loaded")
    report.checks.append(CheckResult("contract", FAIL, problem))
    report.checks += [CheckResult(n, SKIP, "the plugin could not be loaded") for n in SAMPLER_CHECKS[1:]]
    return report


def run_sampler_checks(cls: type, setup: ConformanceSetup | None, options: dict[str, Any], timeout_s: float,
                       mode: str) -> list[CheckResult]:
    ctx = Ctx(cls, setup, options, timeout_s, mode)
    results = [_timed(ctx, "is_available", check_is_available)]
    if setup is None:
        return results + [CheckResult(n, SKIP, "no device here and no fake") for n in SAMPLER_CHECKS[2:]]
    try:
        for name, fn in _SEQUENCE:
            results.extend(_run_named(ctx, name, fn))
    finally:
        if ctx.stopped is None:
            for s in ctx.samplers:
                call_with_timeout(s.close, timeout_s)
    return results


def _run_named(ctx: Ctx, name: str, fn: Callable[[Ctx], Any]) -> list[CheckResult]:
    if ctx.stopped:
        return [CheckResult(n, SKIP, ctx.stopped) for n in _names_of(name)]
    if name != "open" and not ctx.samplers:
        return [CheckResult(n, SKIP, "no channel was opened") for n in _names_of(name)]
    if name == "series":
        return _series_results(ctx)
    return [_timed(ctx, name, fn)]


def _names_of(name: str) -> tuple[str, ...]:
    return ("capabilities", "units", "timestamps", "monotonic", "energy_consistency") if name == "series" else (name,)


def _timed(ctx: Ctx, name: str, fn: Callable[[Ctx], CheckResult]) -> CheckResult:
    start = real_time()
    done, result, error = call_with_timeout(lambda: fn(ctx), ctx.timeout_s)
    took = real_time() - start
    if not done:
        ctx.stopped = f"skipped: {name} did not finish within {ctx.timeout_s:g} s"
        return CheckResult(name, FAIL, f"did not finish within {ctx.timeout_s:g} s (a call hung; cut off)",
                           {"timeout_s": ctx.timeout_s}, took)
    if error is not None:
        result = CheckResult(name, FAIL, f"raised {type(error).__name__}: {error}")
    result.duration_s = took
    return result


# --- checks ------------------------------------------------------------------------------------


def check_is_available(ctx: Ctx) -> CheckResult:
    mine = own_absent(ctx.device)
    devices = [d for d in dict.fromkeys([ctx.device, "cpu", "cuda:0", ABSENT_DEVICE, mine or "", "", "cuda:-1"])
               if d or d == ""]
    problems, slowest, answers = [], 0.0, {}
    for dev in devices:
        start = real_time()
        done, result, error = call_with_timeout(lambda d=dev: ctx.cls.is_available(d), 5.0)
        slowest = max(slowest, real_time() - start)
        if not done:
            problems.append(f"is_available({dev!r}) did not return within 5 s")
        elif error is not None:
            problems.append(f"is_available({dev!r}) raised {type(error).__name__}: {error}")
        elif not hasattr(result, "ok") or not hasattr(result, "reason"):
            problems.append(f"is_available({dev!r}) returned {type(result).__name__}, not an Availability")
        elif not result.ok and not str(result.reason).strip():
            problems.append(f"is_available({dev!r}) said no without a reason")
        else:
            answers[dev or "''"] = "yes" if result.ok else "no"
    if mine and answers.get(mine) == "yes" and answers.get(ABSENT_DEVICE) == "no":
        problems.append(f"is_available({mine!r}) says yes for a device of its own type that does not exist: it "
                        "checks the type but not the index, so a mistyped index would measure another device")
    figures = {"calls": len(devices), "slowest_s": slowest, "answers": answers}
    if problems:
        return CheckResult("is_available", FAIL, "; ".join(problems), figures)
    return CheckResult("is_available", PASS, "returned an Availability with a reason for every device string, and no "
                       "for an absent device of its own type", figures)


def check_open(ctx: Ctx) -> CheckResult:
    opened = ctx.cls.open(ctx.device, **ctx.options)
    if not isinstance(opened, (list, tuple)) or not opened:
        return CheckResult("open", FAIL, f"open() returned {opened!r}, not a non-empty list of samplers")
    ctx.samplers = [s for s in opened if isinstance(s, Sampler)]
    problems = [f"item {i} is a {type(s).__name__}, not a Sampler" for i, s in enumerate(opened)
                if not isinstance(s, Sampler)]
    channels = [getattr(s, "channel", None) for s in ctx.samplers]
    if len(set(channels)) != len(channels) or not all(isinstance(c, str) and c for c in channels):
        problems.append(f"channels must be unique non-empty strings, got {channels}")
    for s in ctx.samplers:
        problems += [f"{s.channel}: {p}" for p in capability_problems(getattr(s, "capabilities", None))]
    figures = {"channels": channels, "device": ctx.device}
    if problems:
        ctx.samplers = [s for s in ctx.samplers if isinstance(getattr(s, "capabilities", None), Capabilities)]
        return CheckResult("open", FAIL, "; ".join(problems), figures)
    return CheckResult("open", PASS, f"{len(channels)} channel(s) with valid capabilities", figures)


def capability_problems(caps: Any) -> list[str]:
    if not isinstance(caps, Capabilities):
        return [f"capabilities is {type(caps).__name__}, not Capabilities"]
    out = []
    if not isinstance(caps.power, PowerKind) or not isinstance(caps.scope, Scope):
        out.append("power must be a PowerKind and scope a Scope")
    if not caps.update_period_s > 0 or not caps.max_rate_hz > 0:
        out.append(f"update_period_s ({caps.update_period_s}) and max_rate_hz ({caps.max_rate_hz}) must be > 0")
    if not 0 < caps.energy_tolerance <= 1:
        out.append(f"energy_tolerance {caps.energy_tolerance} must be within (0, 1]")
    if caps.counter_wrap_j is not None and not caps.counter_wrap_j > 0:
        out.append(f"counter_wrap_j {caps.counter_wrap_j} must be None or > 0")
    if not caps.power_update_period_s >= 0:
        out.append(f"power_update_period_s ({caps.power_update_period_s}) must be >= 0")
    if not caps.check_power_average_window_s >= 0 or not caps.check_power_update_period_s >= 0 or \
            (caps.check_power_average_window_s > 0 and not caps.check_power_update_period_s > 0):
        out.append(f"check_power_average_window_s ({caps.check_power_average_window_s}) and "
                   f"check_power_update_period_s ({caps.check_power_update_period_s}) must be >= 0, the period > 0 "
                   "where there is a check figure")
    if caps.power is PowerKind.AVERAGED and not caps.power_average_window_s > 0:
        out.append("power is AVERAGED but power_average_window_s is not > 0")
    if not caps.energy_counter and caps.power is PowerKind.NONE:
        out.append("neither an energy counter nor power: the channel measures nothing")
    return out


def check_read_latency(ctx: Ctx) -> CheckResult:
    from bench.analysis.stats import percentile

    lat: dict[str, list[float]] = {s.channel: [] for s in ctx.samplers}
    start = real_time()
    while sum(map(len, lat.values())) < LATENCY_READS and real_time() - start < LATENCY_BUDGET_S:
        for s in ctx.samplers:
            t0 = real_time()
            ctx.read(s)
            lat[s.channel].append(real_time() - t0)
    problems, figures = [], {}
    for s in ctx.samplers:
        xs = sorted(lat[s.channel])
        p50, p99 = percentile(xs, 50) or 0.0, percentile(xs, 99) or 0.0
        period = 1.0 / s.capabilities.max_rate_hz
        figures[s.channel] = {"reads": len(xs), "p50_ms": p50 * 1e3, "p99_ms": p99 * 1e3, "period_ms": period * 1e3}
        if p50 > period or p99 > max(10 * period, P99_FLOOR_S):
            problems.append(f"{s.channel}: read p50 {p50 * 1e3:.3g} ms / p99 {p99 * 1e3:.3g} ms is too slow for "
                            f"max_rate_hz {s.capabilities.max_rate_hz:g} (period {period * 1e3:.3g} ms)")
    figures = figures[ctx.samplers[0].channel] if len(figures) == 1 else figures
    if problems:
        ctx.too_slow = "skipped: reads are too slow for the declared rate (see read_latency)"
        return CheckResult("read_latency", FAIL, "; ".join(problems), figures)
    return CheckResult("read_latency", PASS, "p50 within the declared rate's period, p99 within 10 periods", figures)


def collect_series(ctx: Ctx) -> CheckResult:
    duration = SERIES_SIM_S if ctx.simulated else SERIES_REAL_S
    dt = 1.0 / ctx.rate_hz()
    ctx.series = {s.channel: Series(s.channel, s.capabilities) for s in ctx.samplers}
    start, t_end = real_time(), ctx.now_s() + duration
    while ctx.now_s() < t_end and real_time() - start < SERIES_BUDGET_S:
        for s in ctx.samplers:
            t0 = ctx.now_s()
            reading = ctx.read(s)
            ctx.series[s.channel].add((t0 + ctx.now_s()) / 2, reading)
        ctx.sleep(dt)
    return CheckResult("series", PASS)


def _series_results(ctx: Ctx) -> list[CheckResult]:
    names = _names_of("series")
    if ctx.too_slow:
        return [CheckResult(n, SKIP, ctx.too_slow) for n in names]
    collected = _timed(ctx, "series", collect_series)
    if collected.status == FAIL:
        return [CheckResult(n, FAIL, f"reading the series failed: {collected.message}") for n in names]
    return evaluate_series(ctx.series, lambda: rated_power(ctx), ctx.simulated)


def rated_power(ctx: Ctx) -> tuple[float, str]:
    if ctx.rated is None:
        describe: dict[str, Any] = {}
        try:
            describe = dict(ctx.samplers[0].describe())
        except Exception:  # noqa: BLE001 - the describe check reports it
            pass
        ctx.rated = resolve_rated_power(ctx.setup, describe, ctx.device, ctx.samplers[0].capabilities.scope)
    return ctx.rated


_SEQUENCE: list[tuple[str, Callable[[Ctx], Any]]] = [
    ("open", check_open),
    ("read_latency", check_read_latency),
    ("series", collect_series),
    ("thread_safety", check_thread_safety),
    ("meter_window", check_meter_window),
    ("describe", check_describe),
    ("close_idempotent", check_close_idempotent),
    ("errors", check_errors),
]
