"""The runner: the only place that holds both a workload and the meter.

Order of a run: resolve device and samplers (user mistakes fail here, before anything is written)
-> run folder with a provisional ``result.json`` -> meter on -> idle baseline -> per workload:
set-up, warm-up until power is steady, ``repeats`` measured windows of at least ``duration_s``
each, with the device synchronised at every window edge -> trace finalised -> sealed result.

A failing workload is recorded and the next one runs; a failing sensor stops the run. Either way
the samples taken so far stay in the trace and the result says what happened.

Where processes must agree (a distributed run) the runner asks its :class:`~bench.run.coordinator.Coordinator`;
a run in one process has the :class:`~bench.run.coordinator.LocalCoordinator`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from bench.analysis.figures import aggregate, repeat_figures
from bench.analysis.stats import summarize
from bench.clock import Clock, MonotonicClock
from bench.control.state import left_in_force, warning_text
from bench.errors import PluginError, SamplerError, SamplerTimeout, StorageError
from bench.guarded import guarded_call
from bench.meter.meter import Meter
from bench.meter.protocol import WindowMeter
from bench.result import trace as trace_mod
from bench.result.io import write_result
from bench.result.model import (
    ChannelInfo,
    IdleBaseline,
    Issue,
    Latency,
    Measurement,
    PhaseTime,
    Repeat,
    Result,
    Timing,
    TraceRef,
    Window,
    WorkloadResult,
)
from bench.run.assess import assess
from bench.run.config import RunConfig
from bench.run.coordinator import Coordinator, LocalCoordinator, RunSetup
from bench.run.folder import rescue_result
from bench.run.latency import latency_phase
from bench.run.provenance import host_provenance
from bench.run.workloads import workload_source
from bench.samplers.select import read_rate_hz
from bench.version import __version__
from bench.workload import Workload

log = logging.getLogger(__name__)

# progress(phase, done, total, label): phase is "idle", "setup", "warmup" or "repeat"; done and total are in the
# phase's own unit (seconds for idle and warm-up, repeats for "repeat", 0..1 for set-up) and cover the whole
# phase, so each phase's bar fills once (a phase that ends early reports done == total); label is the
# workload's name ("idle baseline" for the idle phase).
Progress = Callable[[str, float, float, str], None]


IDLE_LABEL = "idle baseline"


def _no_progress(phase: str, done: float, total: float, message: str) -> None:
    return None


def utc_now() -> str:
    """The wall-clock time now, UTC, ISO 8601 to the millisecond."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
def _recordable(sampler: Any) -> None:
    """Refuse, before anything is written, a sampler whose channel or capabilities a result cannot hold (the
    result model bounds them: a plugin's ``energy_tolerance`` of 7 or a 10,000-character channel name)."""
    from pydantic import ValidationError

    try:
        ChannelInfo(channel=sampler.channel, sampler=sampler.name, capabilities=sampler.capabilities.to_dict())
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise PluginError(f"sampler {sampler.name}: {where}: {first.get('msg')}") from None


class Runner:
    """Runs one :class:`RunConfig`. ``stop_event`` (set by a signal handler) ends the run after the
    current window; ``progress`` is called with (phase, done, total, message). ``idle`` is a baseline
    measured earlier on the same device (a sweep measures one for all its points): the run records it
    instead of measuring its own."""

    def __init__(self, cfg: RunConfig, progress: Progress | None = None, clock: Clock | None = None,
                 coordinator: Coordinator | None = None, idle: IdleBaseline | None = None) -> None:
        self.cfg = cfg
        self.given_idle = idle
        self.progress: Progress = progress or _no_progress
        self.clock: Clock = clock or MonotonicClock()
        self.coordinator: Coordinator = coordinator or LocalCoordinator()
        self.issues: list[Issue] = []
        self.windows: list[Window] = []
        self.setup: RunSetup | None = None
        self.folder: Path | None = None
        self.result: Result | None = None
        self.meter: WindowMeter | None = None
        self._spoilers: dict[str, dict[tuple[str, str], None]] = {}  # open window -> conditions seen at its edges
        self._t0_ns: int | None = None  # the run's start on its clock (phase timings count from it)

    @property
    def stop_event(self) -> Any:
        """What a signal sets to end the run after the current window (the coordinator's)."""
        return self.coordinator.stop_event

    # --- set-up ------------------------------------------------------------------------------

    def prepare(self) -> RunSetup:
        """Resolve device, workloads and samplers; every user mistake is raised here."""
        if self.setup is None:
            setup = self.coordinator.open(self)
            for sampler in setup.samplers:
                _recordable(sampler)
            self.setup = setup
        return self.setup

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> tuple[Path | None, Result]:
        """Measure everything; return the run folder and the sealed result."""
        setup = self.prepare()
        self.open_run()
        assert self.result is not None and self.meter is not None
        # nothing is "complete" until every workload has run and is in the result
        status, reason = "failed", "the run stopped before it measured anything"
        try:
            self.meter.start()
            self.measure_idle()
            for name, wl in setup.workloads:
                if self.stop_event.is_set():
                    break
                self._workload(name, wl)
                self._checkpoint()
            status, reason = self._verdict(len(setup.workloads))
        except SamplerError as exc:
            status, reason = "incomplete", f"sensor failed: {exc}"
        except StorageError as exc:
            status, reason = "incomplete", str(exc)
        except KeyboardInterrupt:
            status, reason = "interrupted", "stopped at once by a second signal"
            raise
        except Exception as exc:  # a bug: the result says so (never "complete") and the traceback goes on
            status, reason = "failed", f"stopped by an internal error: {type(exc).__name__}: {exc}"[:300]
            raise
        finally:
            self.finish(status, reason)
        return self.folder, self.result

    def open_run(self) -> Path | None:
        """Make the run folder, write the provisional result and build the meter (not started yet); returns
        the folder. :meth:`run` calls it; so does a measuring session of the Python API."""
        setup = self.prepare()
        self.folder = self.coordinator.make_folder(self)
        self.result = self._skeleton(setup)
        self._settings_in_force(setup)
        self.coordinator.describe(self, self.result)
        self._save()
        self.meter = self.coordinator.make_meter(self, self._build_meter)
        return self.folder

    def _verdict(self, planned: int) -> tuple[str, str | None]:
        """The run's status once its workloads are done: complete only if every planned workload is in the
        result and complete."""
        assert self.result is not None
        done = self.result.workloads
        statuses = {w.status for w in done}
        if self.stop_event.is_set():
            return "interrupted", "stopped by a signal; finished the current window"
        if statuses - {"complete"}:
            status = "failed" if statuses == {"failed"} and len(done) == planned else "incomplete"
            return status, "; ".join(f"{w.workload}: {w.reason}" for w in done if w.reason)
        if len(done) != planned:
            return "incomplete", f"{len(done)} of {planned} workloads in the result"
        return "complete", None

    def _skeleton(self, setup: RunSetup) -> Result:
        channels = [ChannelInfo(channel=s.channel, sampler=s.name, capabilities=s.capabilities.to_dict(),
                                describe=guarded_call(s.describe)) for s in setup.samplers]
        now = _dt.datetime.now(_dt.timezone.utc)
        self._t0_ns = self.clock.now_ns()
        return Result(
            run_id=uuid.uuid4().hex,
            created_utc=now.isoformat(timespec="seconds"),
            timing=Timing(started_utc=now.isoformat(timespec="milliseconds")),
            status="running",
            harness={"name": "bench", "version": __version__},
            config=self.cfg.record(),
            provenance=host_provenance(),
            device={**setup.device.describe(), "memory": setup.device.memory_stats()},
            measurement=Measurement(sampler=setup.sampler_name, channels=channels, rate_hz=self._read_rate(setup),
                                    gap_factor=self.cfg.gap_factor),
        )

    def _read_rate(self, setup: RunSetup) -> float:
        """The rate the meter reads at: the one asked, raised (and the result says why) where averaged power is
        a channel's only figure."""
        rate, raised = read_rate_hz(setup.samplers, self.cfg.rate_hz)
        if raised:
            text = (f"read at {rate:g} Hz, not the {self.cfg.rate_hz:g} Hz asked: the only figure of "
                    f"{', '.join(raised)} is averaged power, read at least twice per refresh so that no refresh "
                    "goes unseen")
            log.info("%s", text)
            self.issues.append(Issue(code="rate_raised", message=text, severity="info"))
        return rate

    def _settings_in_force(self, setup: RunSetup) -> None:
        """Warn (log and result) while another sweep's power limit or clocks are in force on this device."""
        device = setup.device
        for entry in left_in_force(device.spec, guarded_call(device.identity, {})):
            text = warning_text(entry)
            log.warning("%s", text)
            self.issues.append(Issue(code="setting_in_force", message=text))

    def _build_meter(self) -> Meter:
        assert self.setup is not None and self.result is not None
        return Meter(self.setup.samplers, rate_hz=self.result.measurement.rate_hz, folder=self.folder, clock=self.clock,
                     gap_factor=self.cfg.gap_factor, read_timeout_s=self.cfg.read_timeout_s,
                     metadata={"harness": __version__, "device": self.setup.device.spec, "rate_asked_hz":
                               self.cfg.rate_hz})

    def _save(self) -> None:
        """Write the (provisional) result into the run folder, where this process writes one."""
        if self.coordinator.writes_result and self.folder is not None and self.result is not None:
            write_result(self.result, self.folder)

    def _checkpoint(self) -> None:
        """Rewrite the provisional result so a killed run keeps the windows measured so far."""
        assert self.result is not None
        self.result.windows = list(self.windows)
        self.result.issues = list(self.issues)
        try:
            self._save()
        except OSError as exc:
            log.warning("could not update provisional result: %s", exc)

    # --- window edges (the coordinator calls these) ----------------------------------------------

    def edge_ready(self, name: str | None = None) -> None:
        """Before window ``name`` opens: the meter is healthy, the device has finished its queued work, and the
        samplers' health at this edge is noted (a condition seen here spoils every window open now and ``name``)."""
        assert self.meter is not None and self.setup is not None
        self.meter.check()
        self.setup.device.synchronize()
        self._edge_health(name)

    def close_window(self, name: str) -> Window | None:
        """Close window ``name`` on the meter (None where this process samples nothing) and check the samplers'
        health at the edge: a spoiling condition seen at any edge while the window was open (its own two
        included) marks it not clean, with the reason."""
        return self.placed(self.close_window_later(name))

    def close_window_later(self, name: str) -> "Future[Window | None]":
        """:meth:`close_window` that returns once the closing edge is read: the window (with the health seen at
        its edges) comes in the returned future once the meter has placed its edges."""
        assert self.meter is not None
        placed = self.meter.close_window_later(name)
        self._edge_health()
        spoilers = self._spoilers.pop(name, {})
        if not spoilers:
            return placed
        out: Future = Future()

        def spoil(f: Future) -> None:
            error = f.exception()
            if error is not None:
                out.set_exception(error)
                return
            window = f.result()
            if window is not None:
                window.issues.extend(Issue(code=code, message=message, window=name) for code, message in spoilers)
                window.clean = False
            out.set_result(window)

        placed.add_done_callback(spoil)
        return out

    def placed(self, future: "Future[Window | None]") -> Window | None:
        """The window a close hands over, waiting for its edges' placement (a few refreshes of a coarse
        counter; the meter gives up on them by its read timeout)."""
        try:
            return future.result(timeout=self.cfg.read_timeout_s)
        except FutureTimeout:
            assert self.meter is not None
            self.meter.error = self.meter.error or SamplerTimeout(
                f"the meter did not place a window's edges within {self.cfg.read_timeout_s:g} s "
                "(a sampler read is hanging)")
            raise self.meter.error from None

    def window(self, name: str, body: Callable[[], Any]) -> tuple[Window, Any]:
        """Measure ``body`` as window ``name`` (through the coordinator)."""
        return self.coordinator.window(self, name, body)

    def begin_window(self, name: str, sync: bool = True) -> None:
        """Open window ``name`` in this process: the meter is healthy, the device has finished its queued work
        (``sync``), then an edge read. Windows may nest and overlap; names must differ while open."""
        assert self.meter is not None
        if sync:
            self.edge_ready(name)
        else:
            self.meter.check()
            self._edge_health(name)
        self.meter.open_window(name)

    def end_window(self, name: str, sync: bool = True, check: bool = True) -> Window:
        """Close window ``name`` in this process: the device's queued work finishes inside it (``sync``), an
        edge read, the samplers' health noted; ``check`` raises a sensor failure seen meanwhile."""
        assert self.meter is not None
        window = self.placed(self.end_window_later(name, sync))
        if check:
            self.meter.check()
        assert window is not None
        return window

    def end_window_later(self, name: str, sync: bool = True) -> "Future[Window | None]":
        """:meth:`end_window` that returns once the closing edge is read (see :meth:`close_window_later`); a
        sensor failure comes with the window."""
        assert self.meter is not None and self.setup is not None
        try:
            if sync:
                self.setup.device.synchronize()
        finally:
            placed = self.close_window_later(name)
        return placed

    def add_repeat(self, wr: WorkloadResult, window: Window, units: int, steps: int,
                   checkpoint: bool = True) -> Repeat:
        """Record ``window`` as the next repeat of ``wr`` (``units`` of work in ``steps`` steps): gross, idle and
        net energy against the run's idle baseline, then (``checkpoint``) a rewrite of the provisional result."""
        assert self.result is not None
        self.windows.append(window)
        idle_w = self.result.idle.power_w if self.result.idle else None
        rep = repeat_figures(len(wr.repeats) + 1, window, units, steps, idle_w)
        wr.repeats.append(rep)
        if checkpoint:
            self._checkpoint()
        return rep

    def checkpoint(self) -> None:
        """Rewrite the provisional result with everything measured so far (a killed process keeps it)."""
        self._checkpoint()

    def snapshot(self) -> Result:
        """A copy of the result as it stands, with the windows, issues and sampling figures so far (what the
        quality assessment needs mid-run)."""
        assert self.result is not None
        res = self.result.model_copy(deep=True)
        res.windows, res.issues = list(self.windows), list(self.issues)
        if self.meter is not None:
            stats = self.meter.stats()
            res.measurement.samples, res.measurement.achieved_rate_hz = stats["samples"], stats["achieved_rate_hz"]
            res.measurement.interval_p50_s = stats["interval_p50_s"]
            res.measurement.interval_p99_s = stats["interval_p99_s"]
        return res

    def _edge_health(self, opening: str | None = None) -> None:
        """Ask every sampler's ``health()`` at a window edge: each item becomes a run-level issue once (tagged with
        the first window it spoiled), and every item not scoped to the run spoils the windows open now."""
        assert self.setup is not None
        seen = {(i.code, i.message) for i in self.issues}
        if opening is not None:
            self._spoilers[opening] = {}
        for s in self.setup.samplers:
            items = guarded_call(s.health, [], self.cfg.read_timeout_s)
            for item in items if isinstance(items, list) else []:
                key = (str(item.get("code", "health")), str(item.get("message", "")))
                spoils = item.get("scope", "window") != "run"
                if key not in seen:
                    seen.add(key)
                    where = opening or next(reversed(self._spoilers), None)
                    self.issues.append(Issue(code=key[0], message=key[1], window=where if spoils else None))
                if spoils:
                    for held in self._spoilers.values():
                        held.setdefault(key, None)

    def _sleep(self, seconds: float, phase: str, label: str, offset_s: float = 0.0,
               total_s: float | None = None) -> None:
        """Sleep ``seconds`` (checking the meter), reporting progress as ``offset_s`` + the time slept of the
        phase's ``total_s`` (default: ``seconds``)."""
        assert self.meter is not None
        total = seconds if total_s is None else total_s
        end = self.clock.now_ns() + int(seconds * 1e9)
        while (left := end - self.clock.now_ns()) > 0:
            self.meter.check()
            self.clock.sleep(min(left / 1e9, 0.1))
            self.progress(phase, offset_s + seconds - max(end - self.clock.now_ns(), 0) / 1e9, total, label)

    @contextlib.contextmanager
    def _phase(self, phase: str, workload: str | None = None) -> Iterator[None]:
        """Record how long ``phase`` (of ``workload``) takes, on the run's clock, in the result's timing."""
        start = self.clock.now_ns()
        try:
            yield
        finally:
            timing = self.result.timing if self.result is not None else None
            if timing is not None:
                base = self._t0_ns if self._t0_ns is not None else start
                timing.phases.append(PhaseTime(phase=phase, workload=workload, start_s=(start - base) / 1e9,
                                               duration_s=(self.clock.now_ns() - start) / 1e9))

    # --- phases ------------------------------------------------------------------------------

    def measure_idle(self) -> None:
        """Measure the idle baseline (``cfg.idle_s`` seconds in 1 s blocks) that net energies subtract."""
        cfg = self.cfg
        assert self.result is not None
        if self.given_idle is not None:
            self.result.idle = self.given_idle.model_copy()
            self._checkpoint()
            return
        if cfg.idle_s <= 0:
            self.issues.append(Issue(code="no_idle_baseline", message="idle baseline skipped (--idle 0)"))
            return
        self.progress("idle", 0, cfg.idle_s, IDLE_LABEL)
        blocks: list[float] = []

        def body() -> None:
            n = max(1, int(cfg.idle_s))
            for k in range(n):  # one bar over the whole baseline: each block continues where the last ended
                w, _ = self.window(f"idle.{k + 1}", lambda: self._sleep(cfg.idle_s / n, "idle", IDLE_LABEL,
                                                                        k * cfg.idle_s / n, cfg.idle_s))
                if w.mean_power_w is not None:
                    blocks.append(w.mean_power_w)

        with self._phase("idle"):
            window, _ = self.window("idle", body)
        self.progress("idle", cfg.idle_s, cfg.idle_s, IDLE_LABEL)
        self.windows.append(window)
        spread = summarize(blocks)["std"]
        self.result.idle = IdleBaseline(window="idle", duration_s=window.duration_s, energy_j=window.energy_j,
                                        power_w=window.mean_power_w, power_std_w=spread, clean=window.clean)
        self._checkpoint()

    def _steps(self, wl: Workload, seconds: float, interruptible: bool = False) -> tuple[int, bool]:
        return self.coordinator.steps(self, wl, seconds, interruptible)

    def _workload(self, name: str, wl: Workload) -> WorkloadResult:
        cfg = self.cfg
        assert self.result is not None and self.setup is not None
        device = self.setup.device
        wr = WorkloadResult(workload=name, kind=wl.kind, status="running", unit=wl.unit,
                            params=wl.params.to_dict(), settings=dict(wl.settings), source=workload_source(wl))
        self.result.workloads.append(wr)  # in the provisional result from the start
        try:
            self.progress("setup", 0, 1, name)
            with self._phase("setup", name):
                device.reset_peak_memory()
                info = wl.setup(device)
            self.progress("setup", 1, 1, name)
            wr.settings, wr.optimizations = info.settings, info.optimizations
            wr.units_per_step, wr.flops_per_unit = info.units_per_step, info.flops_per_unit
            wr.parameters, wr.memory_bytes = info.parameters, info.memory_bytes
            with self._phase("warmup", name):
                wr.warmup = self._warmup(name, wl)
            self._checkpoint()
            with self._phase("repeats", name):
                for r in range(1, cfg.repeats + 1):
                    if self.stop_event.is_set():
                        break
                    self.progress("repeat", r - 1, cfg.repeats, name)
                    window, (steps, _) = self.window(f"{name}/repeat.{r}", lambda: self._steps(wl, cfg.duration_s))
                    self.add_repeat(wr, window, steps * info.units_per_step, steps)
                    self.progress("repeat", r, cfg.repeats, name)
            if wl.kind == "inference" and not self.stop_event.is_set() and cfg.latency_phase_s > 0:
                with self._phase("latency", name):
                    wr.latency = self.measure_latency(name, wl, info.units_per_step)
            wr.peak_memory_bytes = device.memory_stats().get("peak_bytes")
            wr.aggregate = aggregate(wr.repeats, info.flops_per_unit)
            wr.status = "complete" if len(wr.repeats) == cfg.repeats else "interrupted"
            if wr.status == "interrupted":
                wr.reason = f"stopped after {len(wr.repeats)} of {cfg.repeats} repeats"
        except (SamplerError, StorageError) as exc:
            wr.status, wr.reason = "incomplete", f"stopped: {exc}"
            raise
        except KeyboardInterrupt:
            wr.status, wr.reason = "interrupted", "stopped at once by a second signal"
            raise
        except Exception as exc:  # the workload failed: record, free, go on
            err = device.translate_error(exc)
            wr.status = "failed"
            wr.reason = f"{type(err).__name__}: {err}".splitlines()[0][:300]
            wr.issues.append(Issue(code="workload_error", message=wr.reason, severity="error"))
            log.error("workload %s failed: %s", name, wr.reason)
        finally:
            try:
                wl.teardown()
            finally:
                device.empty_cache()
        return wr

    def measure_latency(self, name: str, wl: Workload, units_per_step: int) -> Latency | None:
        """The latency phase of an inference workload (:func:`bench.run.latency.latency_phase`)."""
        return latency_phase(self, name, wl, units_per_step)

    def _warmup(self, name: str, wl: Workload) -> dict[str, Any]:
        """Run 1 s blocks until two in a row agree on mean power within the tolerance."""
        cfg = self.cfg
        powers: list[float] = []
        start = self.clock.now_ns()
        steps = 0
        steady = False
        block = 0

        def elapsed() -> float:
            return self.coordinator.elapsed_s(self, (self.clock.now_ns() - start) / 1e9)

        while True:
            block += 1
            done = elapsed()
            self.progress("warmup", min(done, cfg.warmup_max_s), cfg.warmup_max_s, name)
            window, (n, stopped) = self.window(f"{name}/warmup.{block}",
                                               lambda: self._steps(wl, 1.0, interruptible=True))
            steps += n
            if window.mean_power_w is not None:
                powers.append(window.mean_power_w)
            done = elapsed()
            if len(powers) >= 2 and done >= cfg.warmup_min_s:
                a, b = powers[-2], powers[-1]
                if a > 0 and abs(b - a) / a <= cfg.warmup_tolerance:
                    steady = True
                    break
            if done >= cfg.warmup_max_s or stopped:
                break
        self.progress("warmup", done, done, name)  # ended (steady, at its limit or stopped): the bar is full
        if not steady:
            self.issues.append(Issue(code="warmup_not_steady", window=f"{name}/warmup",
                                     message=f"{name}: power not steady within {cfg.warmup_tolerance:.0%} "
                                     f"after {done:.1f} s of warm-up"))
        return {"duration_s": done, "steps": steps, "blocks": block, "steady": steady,
                "block_power_w": powers[-5:]}

    # --- the end -----------------------------------------------------------------------------

    def finish(self, status: str, reason: str | None) -> None:
        """End the run with ``status``: the coordinator concludes, and the process that writes the result seals it."""
        status, reason = self.coordinator.conclude(self, status, reason)
        if self.coordinator.writes_result:
            self.seal(status, reason)

    def close_samplers(self) -> None:
        """Stop the meter and release every sampler (each close guarded: a hung library cannot hold the run)."""
        assert self.meter is not None and self.setup is not None
        self.meter.stop()
        for s in self.setup.samplers:
            guarded_call(s.close, None, self.cfg.read_timeout_s)

    def _describe_again(self) -> None:
        """Record each channel's provenance as it stands at the end (what a sampler tracked over the run, such
        as the estimate's share of busy CPU time that was this process's)."""
        assert self.setup is not None and self.result is not None
        by_channel = {c.channel: c for c in self.result.measurement.channels}
        for s in self.setup.samplers:
            info = by_channel.get(s.channel)
            described = guarded_call(s.describe, {}, self.cfg.read_timeout_s)
            if info is not None and isinstance(described, dict) and described:
                info.describe = described

    def seal(self, status: str, reason: str | None) -> None:
        """Stop measuring, finalise the trace, assess the result and write it; a folder that cannot take it
        sends it to a rescue folder (:class:`StorageError` names where)."""
        assert self.meter is not None and self.result is not None and self.folder is not None
        finish = self.clock.now_ns()
        self._describe_again()
        self.close_samplers()
        if self.meter.error is not None and status == "complete":
            status, reason = "incomplete", f"sensor failed: {self.meter.error}"
        res = self.result
        res.status, res.reason = status, reason
        res.windows, res.issues = list(self.windows), list(self.issues)
        stats = self.meter.stats()
        m = res.measurement
        m.samples, m.achieved_rate_hz = stats["samples"], stats["achieved_rate_hz"]
        m.interval_p50_s, m.interval_p99_s = stats["interval_p50_s"], stats["interval_p99_s"]
        m.polling, m.polling_seed = stats.get("polling"), stats.get("polling_seed")
        res.trace = TraceRef(rows=self.meter.writer.rows if self.meter.writer else 0, t0_ns=self.meter.t0_ns)
        try:
            trace_mod.finalize(self.folder)
        except Exception as exc:  # keep the stream file: it is readable as it is
            res.trace.path = trace_mod.STREAM_FILE
            res.issues.append(Issue(code="trace_not_finalized", severity="error",
                                    message=f"trace left as {trace_mod.STREAM_FILE}: {exc}"))
        assess(res, self.folder)
        if res.timing is not None:
            end = self.clock.now_ns()
            base = self._t0_ns if self._t0_ns is not None else finish
            res.timing.phases.append(PhaseTime(phase="finish", start_s=(finish - base) / 1e9,
                                               duration_s=(end - finish) / 1e9))
            res.timing.finished_utc, res.timing.duration_s = utc_now(), (end - base) / 1e9
        try:
            write_result(res, self.folder)
        except OSError as exc:
            rescue = rescue_result(res, exc)
            raise StorageError(f"could not write the result to {self.folder} ({exc.strerror or exc}); "
                               f"saved it to {rescue}") from None
