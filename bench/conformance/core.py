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
    clock: Clock | None = None
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
            figs = ", ".join(f"{k}={short_figure(v)}" for k, v in c.figures.items())
            lines.append(f"  {c.status.upper():4}  {c.name:<19} {c.message}" + (f"  [{figs}]" if figs else ""))
        lines.append("  => " + ("PASS" if self.ok else "FAIL: " + ", ".join(c.name for c in self.failed)))
        return "\n".join(lines)


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
