"""Conformance checks of a sampler in use: concurrent reads, a window through the meter, provenance,
closing, and how failures surface (the error tree)."""

from __future__ import annotations

import json
import math
import threading
from typing import TYPE_CHECKING, Any

from bench.conformance.core import ABSENT_DEVICE, FAIL, PASS, SKIP, CheckResult, fault_error, own_absent, real_time
from bench.errors import SamplerError, SamplerUnavailable
from bench.guarded import call_with_timeout
from bench.samplers.base import PowerKind, Reading

if TYPE_CHECKING:  # pragma: no cover
    from bench.conformance.checks import Ctx

THREADS, READS_PER_THREAD, THREAD_BUDGET_S = 4, 50, 2.0
WINDOW_SIM_S, WINDOW_REAL_S = 2.0, 1.0
SIM_EXACT = 1e-6  # a window through the meter on a simulated clock must match the counter to this


def check_thread_safety(ctx: Ctx) -> CheckResult:
    if ctx.too_slow:
        return CheckResult("thread_safety", SKIP, ctx.too_slow)
    errors: list[str] = []
    backwards = [0]
    reads = [0]
    lock = threading.Lock()
    start = real_time()

    def reader(index: int) -> None:
        last: dict[str, float] = {}
        for _ in range(READS_PER_THREAD):
            if real_time() - start > THREAD_BUDGET_S:
                return
            for s in ctx.samplers:
                try:
                    r = s.read()
                except Exception as exc:  # noqa: BLE001 - every failure is a finding here
                    with lock:
                        errors.append(f"thread {index} {s.channel}: {type(exc).__name__}: {exc}")
                    return
                with lock:
                    reads[0] += 1
                    if not isinstance(r, Reading):
                        errors.append(f"thread {index} {s.channel}: got {type(r).__name__}")
                        return
                    e = r.energy_j
                    if e is not None and math.isfinite(e):
                        wrap = s.capabilities.counter_wrap_j
                        prev = last.get(s.channel)
                        if prev is not None and e < prev and not (wrap and prev - e > wrap / 2):
                            backwards[0] += 1
                        last[s.channel] = e

    threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    if ctx.simulated:  # move the simulated device while the readers read
        step = 1.0 / ctx.rate_hz() / THREADS
        for _ in range(THREADS * READS_PER_THREAD):
            if not any(t.is_alive() for t in threads):
                break
            ctx.clock.advance(step)
    for t in threads:
        t.join()
    figs = {"threads": THREADS, "reads": reads[0], "errors": len(errors), "backwards": backwards[0]}
    if errors or backwards[0]:
        msg = "; ".join(errors[:3]) or f"a thread saw the counter go backwards {backwards[0]}x"
        return CheckResult("thread_safety", FAIL, f"concurrent reads failed: {msg}", figs)
    return CheckResult("thread_safety", PASS, f"{reads[0]} concurrent reads from {THREADS} threads, consistent", figs)


def check_meter_window(ctx: Ctx) -> CheckResult:
    if ctx.too_slow:
        return CheckResult("meter_window", SKIP, ctx.too_slow)
    from bench.meter.meter import Meter

    rate = min(ctx.rate_hz(), 100.0 if ctx.simulated else 50.0)
    meter = Meter(ctx.samplers, rate_hz=rate, clock=ctx.clock, threaded=not ctx.simulated, read_timeout_s=5.0)
    meter.start()
    try:
        t_before = ctx.clock.now_ns()
        before = [ctx.read(s) for s in ctx.samplers]
        meter.open_window("conformance")
        if ctx.simulated:
            meter.run_for(WINDOW_SIM_S)
        else:
            ctx.sleep(WINDOW_REAL_S)
        window = meter.close_window("conformance")
        after = [ctx.read(s) for s in ctx.samplers]
        t_after = ctx.clock.now_ns()
    finally:
        meter.stop()
    # a close may read on for a moment to place its edges: the sampler's own delta, taken over the reads
    # around the window, is scaled to the window's span (exact for the steady power of the kit's fakes)
    span = (window.t_end_ns - window.t_start_ns) / max(t_after - t_before, 1)
    problems, figs = [], {"duration_s": window.duration_s, "window_energy_j": window.energy_j,
                          "issues": [i.code for i in window.issues]}
    errors = [i for i in window.issues if i.severity == "error"]
    if errors:
        problems.append("the meter reported " + "; ".join(f"{i.code}: {i.message}" for i in errors))
    for s, ce, r0, r1 in zip(ctx.samplers, window.channels, before, after):
        problems += _compare_channel(ctx, s, ce, r0, r1, window.duration_s, figs, span)
    if problems:
        return CheckResult("meter_window", FAIL, "; ".join(problems), figs)
    return CheckResult("meter_window", PASS, "the meter's window energy matches the sampler's own figures", figs)


def _compare_channel(ctx: Ctx, s: Any, ce: Any, r0: Reading, r1: Reading, duration_s: float,
                     figs: dict[str, Any], span: float = 1.0) -> list[str]:
    caps = s.capabilities
    if ce.energy_j is None:
        return [f"{s.channel}: the window has no energy ({ce.method})"]
    if caps.energy_counter and r0.energy_j is not None and r1.energy_j is not None:
        own = r1.energy_j - r0.energy_j
        if own < 0 and caps.counter_wrap_j:
            own += caps.counter_wrap_j
        own *= span
        bound = (ce.energy_uncertainty_j or 0.0) / max(abs(own), 1e-9)  # the coarse counter's edges, as stated
        tol = (SIM_EXACT if ctx.simulated else caps.energy_tolerance) + bound
        how = "counter delta"
    else:
        powers = [r.power_w for _, r in ctx.series[s.channel].points if r.power_w is not None] \
            if s.channel in ctx.series else []
        powers = [p for p in powers if math.isfinite(p)]
        if not powers or caps.power is PowerKind.NONE:
            return [f"{s.channel}: nothing to compare the window with"]
        own = sum(powers) / len(powers) * duration_s
        tol = max(caps.energy_tolerance, 0.0 if ctx.simulated else 0.1)
        how = "mean power of direct reads x duration"
    rel = abs(ce.energy_j - own) / max(abs(own), abs(ce.energy_j), 1e-9)
    figs[s.channel] = {"meter_j": ce.energy_j, "sampler_j": own, "relative_difference": rel, "compared_with": how,
                       "bound_relative": (ce.energy_uncertainty_j or 0.0) / max(abs(own), 1e-9)}
    if rel > tol:
        return [f"{s.channel}: meter {ce.energy_j:.6g} J vs {how} {own:.6g} J differ by {rel:.3%} (limit {tol:.3%})"]
    return []


def check_describe(ctx: Ctx) -> CheckResult:
    problems, figs = [], {}
    for s in ctx.samplers:
        info = s.describe()
        if not isinstance(info, dict):
            problems.append(f"{s.channel}: describe() returned {type(info).__name__}, not a dict")
            continue
        try:
            json.dumps(info)
            json.dumps(s.capabilities.to_dict())
        except (TypeError, ValueError) as exc:
            problems.append(f"{s.channel}: describe() is not JSON-able ({exc})")
        if info.get("sampler") != ctx.cls.name or info.get("channel") != s.channel:
            problems.append(f"{s.channel}: describe() must carry sampler={ctx.cls.name!r} and channel={s.channel!r}")
        health = s.health()
        if not isinstance(health, list) or not all(
                isinstance(h, dict) and isinstance(h.get("code"), str) and isinstance(h.get("message"), str)
                for h in health):
            problems.append(f"{s.channel}: health() must return a list of {{'code', 'message'}} dicts, got {health!r}")
        figs[s.channel] = {"keys": len(info), "health": [h.get("code") for h in health if isinstance(h, dict)]
                           if isinstance(health, list) else "?"}
    figs = figs[ctx.samplers[0].channel] if len(figs) == 1 else figs
    if problems:
        return CheckResult("describe", FAIL, "; ".join(problems), figs)
    return CheckResult("describe", PASS, "describe() is JSON-able provenance; health() well formed", figs)


def check_close_idempotent(ctx: Ctx) -> CheckResult:
    problems, after = [], {}
    for s in ctx.samplers:
        for attempt in (1, 2):
            try:
                s.close()
            except Exception as exc:  # noqa: BLE001 - a finding
                problems.append(f"{s.channel}: close() #{attempt} raised {type(exc).__name__}: {exc}")
        try:
            s.read()
            after[s.channel] = "returned a reading"
        except SamplerError as exc:
            after[s.channel] = type(exc).__name__
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{s.channel}: read() after close raised {type(exc).__name__}, outside the error tree")
    figs = {"read_after_close": after}
    if problems:
        return CheckResult("close_idempotent", FAIL, "; ".join(problems), figs)
    return CheckResult("close_idempotent", PASS, "close() twice is harmless", figs)


def check_errors(ctx: Ctx) -> CheckResult:
    """Failures surface as the error the contract names: ``open`` of an absent device (another type's, and one
    of the plugin's own type) raises ``SamplerUnavailable``; a read after each fault the fake injects raises the
    subclass named for that fault (never the bare ``SamplerError``); nothing outside the tree escaped earlier."""

    problems, figs = list(ctx.foreign), {}
    agnostic, _ = _available(ctx, ABSENT_DEVICE)  # says yes for a type nobody has: it measures no device
    for key, device in (("absent_device", ABSENT_DEVICE), ("absent_own_type", own_absent(ctx.device))):
        if device is None:
            continue
        if agnostic:
            figs[key] = f"is_available({device!r}) says yes (a device-agnostic sampler): open not tried"
        else:
            # without the present device's identity: the runner passes an absent device's, which there is none of
            options = {k: v for k, v in ctx.options.items() if k != "identity"}
            figs[key] = _expect_error(ctx, f"open({device!r})", lambda d=device: ctx.cls.open(d, **options),
                                      problems, expected=SamplerUnavailable, close_result=True)
    faults = ctx.setup.faults if ctx.setup is not None else {}
    for name, inject in faults.items():
        opened = ctx.cls.open(ctx.device, **ctx.options)
        try:
            inject()
            expected = fault_error(ctx.setup, name) if ctx.setup is not None else None
            figs[name] = _expect_error(ctx, f"read after fault {name!r}", lambda: [s.read() for s in opened],
                                       problems, expected=expected)
        finally:
            for s in opened:
                call_with_timeout(s.close, 2.0)
    if not faults:
        figs["faults"] = "none offered by the fake" if ctx.mode == "fake" else "not injected on hardware"
    if problems:
        return CheckResult("errors", FAIL, "; ".join(problems), figs)
    return CheckResult("errors", PASS, "failures raise the SamplerError subclass the contract names", figs)


def _available(ctx: Ctx, device: str) -> tuple[bool, str]:
    from bench.conformance.core import safe_available

    return safe_available(ctx.cls, device)


def _expect_error(ctx: Ctx, what: str, fn: Any, problems: list[str], expected: type | None = None,
                  close_result: bool = False) -> str:
    """Call ``fn``; it must raise ``expected`` (None: any subclass of ``SamplerError`` but the bare base)."""
    try:
        result = fn()
    except SamplerError as exc:
        got = type(exc).__name__
        if expected is not None and not isinstance(exc, expected):
            problems.append(f"{what} raised {got} ({exc}); the contract names {expected.__name__} for it")
        elif expected is None and type(exc) is SamplerError:
            problems.append(f"{what} raised the bare SamplerError ({exc}); raise the subclass that says what "
                            "happened (SamplerDeviceLost, SamplerUnavailable, SamplerNoPermission, ...)")
        return got
    except Exception as exc:  # noqa: BLE001
        problems.append(f"{what} raised {type(exc).__name__} ({exc}), not a SamplerError subclass")
        return type(exc).__name__
    if close_result:
        for s in result or []:
            call_with_timeout(getattr(s, "close", lambda: None), 2.0)
    problems.append(f"{what} succeeded where it must raise "
                    f"{expected.__name__ if expected is not None else 'a SamplerError subclass'}")
    return "no error"
