"""A measuring session: the runner of ``bench run`` driven by the caller's code, window by window."""

from __future__ import annotations

import collections
import contextvars
import re
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.analysis.figures import aggregate
from bench.analysis.scoring.quality import assess_quality
from bench.api.measurements import DEFAULT_UNIT, NamedWindow, WindowMeasurement
from bench.clock import Clock
from bench.errors import BenchError, SamplerError, UsageError
from bench.result.model import Issue, Quality, Result, Window, WorkloadResult
from bench.run.config import RunConfig
from bench.run.runner import Runner

CHECKPOINT_S = 1.0  # the provisional result.json is rewritten at most this often (s) while windows end ...
CHECKPOINT_SHARE = 0.05  # ... and takes at most this share of the session's time
_ACTIVE: contextvars.ContextVar["Session | None"] = contextvars.ContextVar("bench_session", default=None)
_BAD_NAME = re.compile(r"[/\x00-\x1f]")


@dataclass
class _Ended:
    """An occurrence whose closing edge is read and whose edges the meter is placing."""

    measurement: WindowMeasurement
    placed: "Future[Window]"
    named: NamedWindow
    units: int
    steps: int


class WindowContext:
    """``with session.window(...) as w``: ``w.units`` may be set inside the block; after it, ``w.measurement``
    holds the occurrence's :class:`WindowMeasurement`."""

    def __init__(self, session: "Session", name: str, units: int, unit: str | None, sync: bool | None,
                 flops_per_unit: float | None) -> None:
        self.session, self.name, self.units, self.unit = session, name, units, unit
        self.sync, self.flops_per_unit = sync, flops_per_unit
        self.measurement: WindowMeasurement | None = None

    def __enter__(self) -> "WindowContext":
        self.session.begin_window(self.name, sync=self.sync)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.measurement = self.session.end_window(self.name, units=self.units, unit=self.unit, sync=self.sync,
                                                       flops_per_unit=self.flops_per_unit)
        else:
            self.session.abandon_window(self.name, exc)


class Session:
    """A measuring session on one device (``cpu``, ``cuda:0``, a plugin's ``npu:0`` ...).

    ``out``/``name``: where the run folder goes and its name. ``idle_s``: seconds of idle baseline measured at the
    start (0 skips it: no net energy). ``sync``: synchronise the device at every window edge (default; each
    window then holds exactly the device work issued inside it). ``sampler``, ``sampler_options``, ``rate_hz``
    (Hz), ``gap_factor``, ``read_timeout_s`` (s): as for ``bench run``. ``clock``: a simulated clock for tests.

    Use it as a context manager (``with bench.measure(...) as session``), or call :meth:`start` and :meth:`close`.
    Bad arguments raise :class:`~bench.errors.UsageError` before anything is written.
    """

    def __init__(self, device: str = "cpu", *, out: str | Path = "results", name: str | None = None,
                 idle_s: float = 10.0, sync: bool = True, sampler: str | None = None,
                 sampler_options: dict[str, Any] | None = None, rate_hz: float = 10.0, gap_factor: float = 3.0,
                 read_timeout_s: float = 10.0, clock: Clock | None = None) -> None:
        self.cfg = RunConfig(device=device, session=True, out=Path(out), name=name, idle_s=idle_s, sampler=sampler,
                             sampler_options=dict(sampler_options or {}), rate_hz=rate_hz, gap_factor=gap_factor,
                             read_timeout_s=read_timeout_s)
        self.sync = sync
        self.runner = Runner(self.cfg, clock=clock)
        self.named: dict[str, NamedWindow] = {}
        self.open_names: dict[str, str] = {}  # name -> the meter window of its open occurrence
        self.begun: dict[str, int] = {}
        self.state = "new"  # new -> open -> closed
        self.save_after = 0.0  # when the provisional result may next be rewritten (time.monotonic)
        self.ended: collections.deque[_Ended] = collections.deque()  # in the order they ended
        self.token: contextvars.Token | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> "Session":
        """Open the device and sensors, make the run folder, start the meter and measure the idle baseline."""
        if self.state != "new":
            raise UsageError("this session was already started")
        self.runner.prepare()  # user mistakes fail here, before any file
        self.runner.open_run()
        self.state = "open"
        try:
            assert self.runner.meter is not None
            self.runner.meter.start()
            self.runner.measure_idle()
        except BaseException as exc:
            self.close(*_ending(exc))
            raise
        self.token = _ACTIVE.set(self)
        return self

    def close(self, status: str = "complete", reason: str | None = None) -> Result:
        """End the session: windows still open are closed (and noted), the trace finalised, the result assessed,
        sealed and written. Returns the sealed result (idempotent)."""
        if self.state == "closed":
            assert self.runner.result is not None
            return self.runner.result
        if self.state == "new":
            raise UsageError("this session was never started")
        if self.token is not None:
            try:
                _ACTIVE.reset(self.token)
            except ValueError:  # closed in another context than it was started in
                _ACTIVE.set(None)
            self.token = None
        for name in list(self.open_names):
            self.runner.issues.append(Issue(code="window_left_open", window=self.open_names[name],
                                            message=f"window {name} was still open when the session ended; "
                                            "closed then"))
            try:  # after a failure the device may be unusable: no sync then
                self.end_window(name, check=False, sync=None if status == "complete" else False)
            except Exception as exc:  # the result is sealed whatever happens to one window
                self.open_names.pop(name, None)
                self.runner.issues.append(Issue(code="window_failed", window=name, severity="error",
                                                message=f"window {name} could not be closed: {exc}"))
        self.settle()
        self.state = "closed"
        for named in self.named.values():
            named.refresh()
        if status == "complete" and self.runner.meter is not None and self.runner.meter.error is not None:
            status, reason = "incomplete", f"sensor failed: {self.runner.meter.error}"
        self.runner.finish(status, reason)
        assert self.runner.result is not None
        return self.runner.result

    def __enter__(self) -> "Session":
        return self.start()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self.state == "open":
            self.close(*(_ending(exc) if exc is not None else ("complete", None)))

    # --- windows -------------------------------------------------------------------------------------

    def window(self, name: str, units: int = 1, unit: str | None = None, *, sync: bool | None = None,
               flops_per_unit: float | None = None) -> WindowContext:
        """A context manager measuring its block as one occurrence of window ``name`` that did ``units`` units
        of work (``unit``: what one is, e.g. ``sample``; default ``window``). ``sync`` overrides the session's."""
        return WindowContext(self, name, units, unit, sync, flops_per_unit)

    def begin_window(self, name: str, *, sync: bool | None = None) -> None:
        """Open an occurrence of window ``name`` (the device synchronised first, unless ``sync`` is False)."""
        self._check_open()
        check_window_name(name)
        if name in self.open_names:
            raise UsageError(f"window {name!r} is already open; end it first or use another name")
        k = self.begun.get(name, 0) + 1
        meter_name = f"{name}/repeat.{k}"
        self.runner.begin_window(meter_name, sync=self.sync if sync is None else sync)
        self.begun[name] = k
        self.open_names[name] = meter_name

    def end_window(self, name: str, units: int = 1, unit: str | None = None, *, sync: bool | None = None,
                   steps: int = 1, flops_per_unit: float | None = None, check: bool = True) -> WindowMeasurement:
        """Close the open occurrence of window ``name``, which did ``units`` units of work in ``steps`` steps;
        returns its measurement. The device is synchronised first unless ``sync`` is False."""
        self._check_open()
        if name not in self.open_names:
            raise UsageError(f"window {name!r} is not open; open it with begin_window({name!r})")
        units = _count("units", units, 0)
        steps = _count("steps", steps, 1)
        named = self._named(name, unit)
        meter_name = self.open_names.pop(name)
        placed = self.runner.end_window_later(meter_name, sync=self.sync if sync is None else sync)
        if flops_per_unit is not None:
            named.record.flops_per_unit = float(flops_per_unit)
        measurement = WindowMeasurement(name=name, index=len(named.occurrences) + 1, unit=named.unit, session=self)
        named.occurrences.append(measurement)
        self.ended.append(_Ended(measurement, placed, named, units, steps))
        self.settle(wait=False)  # those already placed
        if time.monotonic() >= self.save_after:  # a killed program keeps its windows
            self.save()
        if check:
            self.runner.meter.check()  # a sensor that failed meanwhile: the occurrence is kept, then the error
        return measurement

    def settle(self, until: WindowMeasurement | None = None, wait: bool = True) -> None:
        """Bring in the occurrences whose edges are placed, in the order they ended: with ``wait``, every one
        (up to ``until``), waiting for their placement (a few refreshes of a coarse counter at most); without,
        only those placed already."""
        while self.ended:
            ended = self.ended[0]
            if not wait and not ended.placed.done():
                return
            self.ended.popleft()
            self._bring_in(ended)
            if ended.measurement is until:
                return

    def _bring_in(self, ended: _Ended) -> None:
        measurement = ended.measurement
        try:
            window = self.runner.placed(ended.placed)
        except BenchError as error:
            measurement.error = error
            self.runner.issues.append(Issue(code="window_failed", window=ended.named.name, severity="error",
                                            message=f"window {ended.named.name} occurrence {measurement.index}: "
                                            f"{error}; not counted"))
            return
        assert window is not None  # a session's own process samples its device
        rep = self.runner.add_repeat(ended.named.record, window, ended.units, ended.steps, checkpoint=False)
        ended.named.record.status = "complete"
        ended.named.stale = True  # statistics over the occurrences are computed when asked for, and at the end
        measurement.bring_in(window, rep)

    def save(self) -> None:
        """Rewrite the provisional ``result.json`` now. Windows trigger it at most every ``CHECKPOINT_S`` seconds
        and never more than ``CHECKPOINT_SHARE`` of the time (a long session's result takes longer to write)."""
        start = time.monotonic()
        self.settle(wait=False)  # what is placed; the rest comes with the next save, or at the end
        for named in self.named.values():
            named.refresh()
        self.runner.checkpoint()
        took = time.monotonic() - start
        self.save_after = start + max(CHECKPOINT_S, took / CHECKPOINT_SHARE)

    def abandon_window(self, name: str, exc: BaseException) -> None:
        """Close the open occurrence of ``name`` after the measured code raised ``exc``: it is not counted,
        an issue says why."""
        meter_name = self.open_names.pop(name, None)
        if meter_name is None or self.state != "open":
            return
        try:
            self.runner.end_window(meter_name, sync=False, check=False)
        except BenchError:
            pass
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300] if str(exc) else type(exc).__name__
        self.runner.issues.append(Issue(code="window_failed", window=meter_name, severity="error",
                                        message=f"window {name}: the measured code raised {message}; "
                                        "occurrence not counted"))

    def _named(self, name: str, unit: str | None) -> NamedWindow:
        named = self.named.get(name)
        if named is None:
            record = WorkloadResult(workload=name, kind="session", status="running", unit=unit or DEFAULT_UNIT,
                                    units_per_step=None)
            assert self.runner.result is not None
            self.runner.result.workloads.append(record)
            named = self.named[name] = NamedWindow(self, record)
        elif unit is not None and unit != named.unit:
            raise UsageError(f"window {name!r} counts {named.unit}s, not {unit}s; give each unit its own window")
        return named

    def _check_open(self) -> None:
        if self.state != "open":
            raise UsageError("the session is not open; use it as `with bench.measure(...) as session:` "
                             "or call start() first")

    # --- what it measured --------------------------------------------------------------------------

    @property
    def windows(self) -> Mapping[str, NamedWindow]:
        """Window name -> every occurrence of it so far."""
        self.settle()
        return dict(self.named)

    @property
    def folder(self) -> Path | None:
        """The run folder (``result.json``, the trace)."""
        return self.runner.folder

    @property
    def device(self) -> str:
        """The device measured, as a device string (``cuda:0``)."""
        setup = self.runner.setup
        return setup.device.spec if setup is not None else self.cfg.device

    @property
    def result(self) -> Result | None:
        """The result: provisional while the session is open, sealed (quality, validity, digest) once closed."""
        self.settle()
        for named in self.named.values():
            named.refresh()
        return self.runner.result if self.state == "closed" else (
            self.runner.snapshot() if self.runner.result is not None else None)

    @property
    def idle_power_w(self) -> float | None:
        """The idle baseline's mean power, W (None without one)."""
        res = self.runner.result
        return res.idle.power_w if res is not None and res.idle is not None else None

    @property
    def issues(self) -> list[Issue]:
        """Issues of the session so far (sensor health, windows left open or failed); each window has its own."""
        return list(self.runner.issues)

    @property
    def quality(self) -> Quality:
        """The session's quality level, assessed over every window as a run's is."""
        if self.state == "closed" and self.runner.result is not None and self.runner.result.quality is not None:
            return self.runner.result.quality
        self.settle()
        for named in self.named.values():
            named.refresh()
        return assess_quality(self.runner.snapshot())

    def assess(self, name: str, index: int | None = None) -> Quality:
        """The quality level of window ``name`` alone (of its occurrence ``index`` alone, if given)."""
        self.settle()
        self.named[name].refresh()
        res = self.runner.snapshot()
        res.workloads = [w for w in res.workloads if w.workload == name]
        if index is not None:
            for w in res.workloads:
                w.repeats = [r for r in w.repeats if r.index == index]
                w.aggregate = aggregate(w.repeats, w.flops_per_unit)
        keep = {r.window for w in res.workloads for r in w.repeats} | {"idle"}
        res.windows = [w for w in res.windows if w.name in keep]
        return assess_quality(res)

    def __repr__(self) -> str:
        return f"Session({self.cfg.device!r}, {self.state}, windows={list(self.named)})"


def check_window_name(name: str) -> None:
    """A window name must be a non-empty string without ``/`` or control characters, and not ``idle``."""
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"a window needs a non-empty name, got {name!r}")
    if _BAD_NAME.search(name):
        raise UsageError(f"window name {name!r} must not contain '/' or control characters")
    if name == "idle" or name.startswith("idle."):
        raise UsageError(f"window name {name!r} is reserved for the idle baseline")


def _count(what: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UsageError(f"{what} must be an integer >= {least}, got {value!r}")
    return value


def _ending(exc: BaseException | None) -> tuple[str, str | None]:
    """The status and reason a session ends with after ``exc``."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", "stopped by KeyboardInterrupt"
    if isinstance(exc, SamplerError):
        return "incomplete", f"sensor failed: {exc}"
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    return "failed", f"the measured code raised {text}"


def measure(device: str = "cpu", **options: Any) -> Session:
    """A measuring :class:`Session` on ``device``; ``options`` as for :class:`Session`. Use it as a context
    manager, or call ``start()`` and ``close()``."""
    return Session(device, **options)


def active_session() -> Session | None:
    """The innermost open session of this context (thread or task), if any."""
    return _ACTIVE.get()
