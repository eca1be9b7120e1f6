"""The conformance kit's shared vocabulary: what a fake gives the kit, a simulated clock that drives file-based
fakes, check results and reports, and guarded calls into the plugin under test."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.clock import Clock, SimClock
from bench.guarded import call_with_timeout

PASS, FAIL, SKIP, NA = "pass", "fail", "skip", "n/a"
# A check is "n/a" when it does not apply to what the plugin declares (no counter to keep monotonic, no
# instant power to compare the counter with): that is a pass. It is "skip" when it could have run but did not
# (no device and no fake, an earlier check hung, the plugin would not load): the kit then has no evidence,
# and the report is INCOMPLETE, never a pass.
ABSENT_DEVICE = "bench-conformance-absent:0"  # a device type nobody has
ABSENT_INDEX = 9999  # an index of the plugin's own device type that no machine has
IS_AVAILABLE_TIMEOUT_S = 5.0


@dataclass
class ConformanceSetup:
    """What a fake (or the hardware) gives the kit.

    ``device``: the torch device string to open. ``options``: passed to ``open()``. ``clock``: the
    simulated clock that drives the fake (the kit passes time with ``clock.sleep``); None means real
    time. ``device_name``: the marketing name, matched against hardware profiles for the units check.
    ``rated_power_w``: the simulated chip's rated power, used when no profile matches by name.
    ``faults``: name -> a function that makes the device fail from then on (e.g. ``"device_lost"``);
    after each, reads must raise the :class:`bench.errors.SamplerError` subclass the contract names for it:
    ``fault_errors`` maps a fault to that class, and the usual names need no entry (:data:`FAULT_ERRORS`:
    ``device_lost``/``gpu_lost`` -> ``SamplerDeviceLost``, ``no_permission`` -> ``SamplerNoPermission``, ...).
    A fault with neither must still raise a subclass, never the bare ``SamplerError``.
    """

    device: str
    options: dict[str, Any] = field(default_factory=dict)
    clock: Clock | None = None
    device_name: str | None = None
    rated_power_w: float | None = None
    faults: dict[str, Callable[[], None]] = field(default_factory=dict)
    note: str = ""
    fault_errors: dict[str, type] = field(default_factory=dict)


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
        """Passed: no check failed and none was skipped (a check that does not apply, "n/a", is fine)."""
        return not self.failed and not self.skipped

    @property
    def verdict(self) -> str:
        """``PASS``, ``FAIL`` (a check failed) or ``INCOMPLETE`` (nothing failed, but checks did not run)."""
        return "FAIL" if self.failed else "INCOMPLETE" if self.skipped else "PASS"

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def skipped(self) -> list[CheckResult]:
        """Checks that could have run and did not: no evidence either way."""
        return [c for c in self.checks if c.status == SKIP]

    @property
    def not_applicable(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == NA]

    def summary(self) -> str:
        """One line: the verdict, what failed or was skipped, and what did not apply."""
        if self.failed:
            text = "FAIL: " + ", ".join(c.name for c in self.failed)
        elif self.skipped:
            text = (f"INCOMPLETE: {len(self.skipped)} check(s) skipped, no evidence for them: "
                    + ", ".join(c.name for c in self.skipped))
        else:
            text = "PASS"
        if self.not_applicable:
            text += f" ({len(self.not_applicable)} not applicable: {', '.join(c.name for c in self.not_applicable)})"
        return text

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check {name!r}; checks: {', '.join(c.name for c in self.checks)}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["verdict"] = self.verdict
        return json.loads(json.dumps(data, default=str))

    def format_table(self) -> str:
        """A plain-text table (for assertion messages and logs)."""
        head = f"{self.group[:-1]} {self.target} ({self.package}) on {self.device or '-'}: {self.mode}"
        lines = [head + (f" ({self.mode_note})" if self.mode_note else "")]
        for c in self.checks:
            figs = ", ".join(f"{k}={short_figure(v)}" for k, v in c.figures.items())
            lines.append(f"  {c.status.upper():4}  {c.name:<19} {c.message}" + (f"  [{figs}]" if figs else ""))
        lines.append("  => " + self.summary())
        return "\n".join(lines)


def own_absent(device: str) -> str | None:
    """A device of ``device``'s own type that no machine has (``acme:9999``), or None without a device."""
    kind = device.split(":", 1)[0].strip()
    return f"{kind}:{ABSENT_INDEX}" if kind else None


def fault_error(setup: ConformanceSetup, fault: str) -> type | None:
    """The error class the contract names for ``fault`` (the fake's declaration, else the usual name), or None."""
    from bench.errors import (
        SamplerDeviceLost,
        SamplerNoPermission,
        SamplerNotSupported,
        SamplerTimeout,
        SamplerUnavailable,
    )

    usual = {"device_lost": SamplerDeviceLost, "gpu_lost": SamplerDeviceLost, "no_permission": SamplerNoPermission,
             "not_supported": SamplerNotSupported, "timeout": SamplerTimeout, "hang": SamplerTimeout,
             "unavailable": SamplerUnavailable, "driver_unloaded": SamplerUnavailable}
    return setup.fault_errors.get(fault) or usual.get(fault)


def short_figure(value: Any) -> str:
    """A figure in a few characters (4 significant digits), for tables."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {short_figure(v)}" for k, v in value.items()) + "}"
    return str(value)


class ConformanceFailure(AssertionError):
    """Raised by :func:`assert_conformance`; carries the :class:`Report`."""

    def __init__(self, report: Report) -> None:
        super().__init__("conformance kit failed:\n" + report.format_table())
        self.report = report


def safe_available(cls: type, device: str, timeout_s: float = IS_AVAILABLE_TIMEOUT_S) -> tuple[bool, str]:
    """``cls.is_available(device)`` as (ok, reason), never raising and never hanging."""
    done, result, error = call_with_timeout(lambda: cls.is_available(device), timeout_s)
    if not done:
        return False, f"is_available did not return within {timeout_s:g} s"
    if error is not None:
        return False, f"is_available raised {type(error).__name__}: {error}"
    return bool(result), str(getattr(result, "reason", "") or "")


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
