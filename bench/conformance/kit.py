"""The vendor conformance kit: checks, with figures, that a sampler plugin keeps the contract.

Usable two ways: ``bench plugins check NAME`` and, in a vendor's own test suite, the pytest plugin
(:mod:`bench.conformance.pytest_plugin`: the ``bench_conformance`` fixture) or :func:`run_conformance`
/ :func:`assert_conformance` called directly.

Where the device is present the kit measures the real sensor; where it is absent it runs against
the vendor's own fake, found as (first wins) a ``conformance_fake`` classmethod of the sampler class
or an entry point of the same name in the ``bench.fakes`` group. Either is a callable returning a
context manager that installs the fake and yields a :class:`ConformanceSetup`. A fake driven by a
simulated clock (:class:`DrivenClock`) makes the whole kit take well under a second of real time.
A check that does not apply (no counter to compare) is "n/a"; one that could not run (no device and
no fake, an earlier call hung) is skipped, with the reason, and makes the verdict INCOMPLETE rather than
PASS. The checks themselves are in :mod:`bench.conformance.checks`.
"""


from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from bench.conformance.core import FAIL, CheckResult, ConformanceFailure, ConformanceSetup, Report, safe_available

FakeFactory = Callable[[], Any]  # returns a context manager yielding ConformanceSetup


def find_fake(cls: type, name: str) -> tuple[FakeFactory | None, str]:
    """The plugin's fake and where it came from (or None and why not)."""
    from bench import contracts
    from bench.errors import PluginError, UsageError

    method = getattr(cls, "conformance_fake", None)
    if callable(method):
        return method, f"{cls.__qualname__}.conformance_fake"
    try:
        return contracts.load("fakes", name), f"bench.fakes entry point {name!r}"
    except UsageError:
        return None, "the plugin provides no fake (conformance_fake classmethod or bench.fakes entry point)"
    except PluginError as exc:
        return None, str(exc)


def hardware_device(cls: type, name: str, device: str | None) -> tuple[str | None, str]:
    """A device here that the sampler can measure: ``device`` if given, else one whose backend lists it."""
    if device:
        ok, reason = safe_available(cls, device)
        return (device, "") if ok else (None, f"{device}: {reason or 'not available'}")
    from bench import contracts, plugins

    reasons = []
    for type_ in plugins.names("devices"):
        try:
            backend = contracts.load("devices", type_)
            if name not in getattr(backend, "default_samplers", ()):
                continue
            specs = backend.probe()
        except Exception as exc:  # noqa: BLE001 - a broken backend is not this sampler's problem
            reasons.append(f"{type_}: {type(exc).__name__}: {exc}")
            continue
        for spec in specs:
            ok, reason = safe_available(cls, spec)
            if ok:
                return spec, ""
            reasons.append(f"{spec}: {reason}")
    return None, "; ".join(reasons) or f"no device here lists {name!r} among its samplers"


def _resolve(target: str | type) -> tuple[type | None, str, str, str]:
    """(class, name, package, problem) for a sampler name or class."""
    from bench import contracts, plugins
    from bench.errors import BenchError

    if isinstance(target, str):
        ref = next((r for r in plugins.inventory("samplers") if r.name == target), None)
        package = f"{ref.package} {ref.version}".strip() if ref else "?"
        try:
            return contracts.load("samplers", target), target, package, ""
        except BenchError as exc:
            return None, target, package, str(exc)
    name = str(getattr(target, "name", "") or getattr(target, "__name__", "?"))
    problems = contracts.check("samplers", target, name)
    return target, name, getattr(target, "__module__", "?"), "; ".join(problems)


def run_conformance(
    target: str | type,
    *,
    device: str | None = None,
    options: dict[str, Any] | None = None,
    fake: bool | None = None,
    timeout_s: float = 10.0,
) -> Report:
    """Run every check against the sampler ``target`` (entry-point name or class).

    ``fake``: None (auto: the hardware if present, else the plugin's fake; but a ``device`` that is named
    and absent fails the ``device`` check rather than checking the fake), True (always the fake), False
    (never the fake: checks needing a device are skipped without one, and the report is INCOMPLETE).
    ``options`` are passed to ``open()`` on top of the fake's. ``timeout_s`` cuts off a check (a hung read).
    """
    from bench.conformance import checks

    cls, name, package, problem = _resolve(target)
    if cls is None or problem and not isinstance(target, type):
        return checks.unusable_report(name, package, device, problem)
    hw, why_not = (None, "fake requested") if fake is True else hardware_device(cls, name, device)
    factory, source = find_fake(cls, name)
    if device and hw is None and fake is None:
        return absent_device_report(cls, name, package, device, why_not, problem, options or {}, timeout_s)
    if hw is not None:
        report = Report(name, "samplers", package, hw, "hardware")
        setup_cm: Any = contextlib.nullcontext(ConformanceSetup(device=hw, options=_identity(hw)))
    elif fake is not False and factory is not None:
        report = Report(name, "samplers", package, device, "fake", f"{source}; no device: {why_not}")
        setup_cm = factory()
    else:
        report = Report(name, "samplers", package, device, "absent",
                        f"no device ({why_not}); {source if factory is None else 'fake not used'}")
        setup_cm = contextlib.nullcontext(None)
    report.checks.append(checks.contract_result(problem))
    try:
        with setup_cm as setup:
            if setup is not None and report.mode == "fake":
                report.device = setup.device
            report.checks += checks.run_sampler_checks(cls, setup, options or {}, timeout_s, report.mode)
    except Exception as exc:  # the fake itself broke
        report.checks.append(CheckResult("fake", FAIL, f"the fake raised {type(exc).__name__}: {exc}"))
    return report


def absent_device_report(cls: type, name: str, package: str, device: str, why_not: str, problem: str,
                         options: dict[str, Any], timeout_s: float) -> Report:
    """The report when the device asked for is not here: a failure, never a silent run on the fake."""
    from bench.conformance import checks

    report = Report(name, "samplers", package, device, "absent", f"{device} is not available here")
    report.checks.append(checks.contract_result(problem))
    report.checks.append(CheckResult("device", FAIL, f"{why_not or device + ' is not available'}; the kit does "
                                     "not fall back to the plugin's fake when a device is named (pass --fake to "
                                     "check the fake instead)", {"device": device}))
    report.checks += checks.run_sampler_checks(cls, None, options, timeout_s, "absent")
    return report


def _identity(device: str) -> dict[str, Any]:
    """``{"identity": ...}`` of a present device, as the runner passes it to ``open()`` (empty if unknown)."""
    try:
        from bench.devices import open_device

        return {"identity": open_device(device).identity()}
    except Exception:  # noqa: BLE001 - the sampler then maps the device its own way
        return {}


def assert_conformance(target: str | type, **kwargs: Any) -> Report:
    """:func:`run_conformance` that raises :class:`ConformanceFailure` (an AssertionError) unless the verdict is
    PASS: a failed check, or checks skipped for want of a device or a fake (INCOMPLETE)."""
    report = run_conformance(target, **kwargs)
    if not report.ok:
        raise ConformanceFailure(report)
    return report


