"""The vendor conformance kit: checks, with figures, that a sampler plugin keeps the contract.

Usable two ways: ``bench plugins check NAME`` and, in a vendor's own test suite, the pytest plugin
(:mod:`bench.testing.pytest_plugin`: the ``bench_conformance`` fixture) or :func:`run_conformance`
/ :func:`assert_conformance` called directly.

Where the device is present the kit measures the real sensor; where it is absent it runs against
the vendor's own fake, found as (first wins) a ``conformance_fake`` classmethod of the sampler class
or an entry point of the same name in the ``bench.fakes`` group. Either is a callable returning a
context manager that installs the fake and yields a :class:`ConformanceSetup`. A fake driven by a
simulated clock (:class:`DrivenClock`) makes the whole kit take well under a second of real time.
Checks that cannot run (no device and no fake, or no counter to compare) are reported as skipped,
with the reason. The checks themselves are in :mod:`bench.testing.conformance_checks`.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.clock import SimClock

PASS, FAIL, SKIP = "pass", "fail", "skip"
ABSENT_DEVICE = "bench-conformance-absent:0"  # a device type nobody has
IS_AVAILABLE_TIMEOUT_S = 5.0


@dataclass
class ConformanceSetup:
    """What a fake (or the hardware) gives the kit.

    ``device``: the torch device string to open. ``options``: passed to ``open()``. ``clock``: the
    simulated clock that drives the fake (the kit passes time with ``clock.sleep``); None means real
    time. ``device_name``: the marketing name, matched against hardware profiles for the units check.
    ``rated_power_w``: the simulated chip's rated power, used when no profile matches by name.
    ``faults``: name -> a function that makes the device fail from then on (e.g. ``"device_lost"``);
    after each, reads must raise a :class:`bench.errors.SamplerError` subclass.
    """

    device: str
    options: dict[str, Any] = field(default_factory=dict)
    clock: Any = None
    device_name: str | None = None
    rated_power_w: float | None = None
    faults: dict[str, Callable[[], None]] = field(default_factory=dict)
    note: str = ""


class DrivenClock(SimClock):
    """A :class:`SimClock` that tells listeners the new time (ns) after every advance.

    A file-based fake registers a listener that rewrites its files for the elapsed time, so the
    simulated device moves exactly as fast as the kit's (or the meter's) clock.
    """

    def __init__(self, start_ns: int = 0) -> None:
        super().__init__(start_ns)
        self._listeners: list[Callable[[int], None]] = []

    def on_advance(self, listener: Callable[[int], None]) -> None:
        self._listeners.append(listener)

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        now = self.now_ns()
        for listener in list(self._listeners):
            listener(now)


@dataclass
class CheckResult:
    """One check: ``status`` is pass, fail or skip; ``figures`` holds what was measured."""

    name: str
    status: str
    message: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0


@dataclass
class Report:
    """The kit's verdict on one plugin."""

    target: str
    group: str
    package: str
    device: str | None
    mode: str  # "hardware", "fake" or "absent"
    mode_note: str = ""
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def skipped(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == SKIP]

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check {name!r}; checks: {', '.join(c.name for c in self.checks)}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return json.loads(json.dumps(data, default=str))

    def format_table(self) -> str:
        """A plain-text table (for assertion messages and logs)."""
        head = f"{self.group[:-1]} {self.target} ({self.package}) on {self.device or '-'}: {self.mode}"
        lines = [head + (f" ({self.mode_note})" if self.mode_note else "")]
        for c in self.checks:
            figs = ", ".join(f"{k}={_short(v)}" for k, v in c.figures.items())
            lines.append(f"  {c.status.upper():4}  {c.name:<19} {c.message}" + (f"  [{figs}]" if figs else ""))
        lines.append("  => " + ("PASS" if self.ok else "FAIL: " + ", ".join(c.name for c in self.failed)))
        return "\n".join(lines)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return str(value)


class ConformanceFailure(AssertionError):
    """Raised by :func:`assert_conformance`; carries the :class:`Report`."""

    def __init__(self, report: Report) -> None:
        super().__init__("conformance kit failed:\n" + report.format_table())
        self.report = report


def call_with_timeout(fn: Callable[[], Any], timeout_s: float) -> tuple[bool, Any, BaseException | None]:
    """Run ``fn`` in a daemon thread; (finished, result, exception). A hung call is abandoned."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed back to the caller
            box["error"] = exc

    worker = threading.Thread(target=target, name="bench-conformance", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        return False, None, None
    return True, box.get("result"), box.get("error")


def safe_available(cls: type, device: str, timeout_s: float = IS_AVAILABLE_TIMEOUT_S) -> tuple[bool, str]:
    """``cls.is_available(device)`` as (ok, reason), never raising and never hanging."""
    done, result, error = call_with_timeout(lambda: cls.is_available(device), timeout_s)
    if not done:
        return False, f"is_available did not return within {timeout_s:g} s"
    if error is not None:
        return False, f"is_available raised {type(error).__name__}: {error}"
    return bool(result), str(getattr(result, "reason", "") or "")


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

    ``fake``: None (auto: the hardware if present, else the plugin's fake), True (always the fake),
    False (never the fake: checks needing a device are skipped without one). ``options`` are
    passed to ``open()`` on top of the fake's. ``timeout_s`` cuts off a check (a hung read).
    """
    from bench.testing import conformance_checks as checks

    cls, name, package, problem = _resolve(target)
    if cls is None or problem and not isinstance(target, type):
        return checks.unusable_report(name, package, device, problem)
    hw, why_not = (None, "fake requested") if fake is True else hardware_device(cls, name, device)
    factory, source = find_fake(cls, name)
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


def _identity(device: str) -> dict[str, Any]:
    """``{"identity": ...}`` of a present device, as the runner passes it to ``open()`` (empty if unknown)."""
    try:
        from bench.devices import open_device

        return {"identity": open_device(device).identity()}
    except Exception:  # noqa: BLE001 - the sampler then maps the device its own way
        return {}


def assert_conformance(target: str | type, **kwargs: Any) -> Report:
    """:func:`run_conformance` that raises :class:`ConformanceFailure` (an AssertionError) on failure."""
    report = run_conformance(target, **kwargs)
    if not report.ok:
        raise ConformanceFailure(report)
    return report


@contextlib.contextmanager
def env_vars(**values: str | None) -> Iterator[None]:
    """Set (or with None, unset) environment variables inside the block; restore them after."""
    import os

    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def real_time() -> float:
    return time.perf_counter()
