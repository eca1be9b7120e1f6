"""The runner: the only place that holds both a workload and the meter.

Order of a run: resolve device and samplers (user mistakes fail here, before anything is written)
-> run folder with a provisional ``result.json`` -> meter on -> idle baseline -> per workload:
set-up, warm-up until power is steady, ``repeats`` measured windows of at least ``duration_s``
each, with the device synchronised at every window edge -> trace finalised -> sealed result.

A failing workload is recorded and the next one runs; a failing sensor stops the run. Either way
the samples taken so far stay in the trace and the result says what happened.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench import __version__
from bench.clock import MonotonicClock
from bench.devices import open_device
from bench.errors import SamplerError, StorageError, UsageError
from bench.analysis.figures import aggregate, repeat_figures
from bench.meter.meter import Meter
from bench.result.model import (
    ChannelInfo,
    IdleBaseline,
    Issue,
    Measurement,
    Result,
    TraceRef,
    Window,
    WorkloadResult,
)
from bench.result.io import write_result
from bench.run.support import (
    _rescue,
    _run_folder,
    _safe,
    _score_hooks,
    _validity_hook,
    make_workload,
    select_samplers,
)
from bench.workload import Workload, WorkloadParams

log = logging.getLogger(__name__)

Progress = Callable[[str, float, float, str], None]  # phase, done, total, message


@dataclass
class RunConfig:
    """Everything that decides a run. Durations in seconds."""

    device: str = "cpu"
    workloads: list[tuple[str, WorkloadParams]] = field(default_factory=list)
    suite: str | None = None
    sampler: str | None = None
    sampler_options: dict[str, Any] = field(default_factory=dict)
    rate_hz: float = 10.0
    idle_s: float = 10.0
    warmup_min_s: float = 2.0
    warmup_max_s: float = 60.0
    warmup_tolerance: float = 0.03
    repeats: int = 3
    duration_s: float = 10.0
    out: Path = Path("results")
    name: str | None = None
    gap_factor: float = 3.0
    read_timeout_s: float = 10.0

    def validate(self) -> None:
        if self.repeats < 1:
            raise UsageError(f"--repeats must be >= 1, got {self.repeats}")
        if not self.duration_s > 0:
            raise UsageError(f"--duration must be > 0 seconds, got {self.duration_s}")
        if self.idle_s < 0:
            raise UsageError(f"--idle must be >= 0 seconds, got {self.idle_s}")
        if not 0 < self.rate_hz <= 10000:
            raise UsageError(f"--rate must be in (0, 10000] Hz, got {self.rate_hz}")
        if not self.workloads:
            raise UsageError("no workload to run")

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "suite": self.suite,
            "workloads": [{"name": n, **p.to_dict()} for n, p in self.workloads],
            "sampler": self.sampler,
            "sampler_options": {k: str(v) for k, v in self.sampler_options.items() if k != "clock"},
            "rate_hz": self.rate_hz,
            "idle_s": self.idle_s,
            "warmup_min_s": self.warmup_min_s,
            "warmup_max_s": self.warmup_max_s,
            "warmup_tolerance": self.warmup_tolerance,
            "repeats": self.repeats,
            "duration_s": self.duration_s,
            "gap_factor": self.gap_factor,
        }


class Runner:
    """Runs one :class:`RunConfig`. ``stop_event`` (set by a signal handler) ends the run after the
    current window; ``progress`` is called with (phase, done, total, message)."""

    def __init__(self, cfg: RunConfig, progress: Progress | None = None, clock: Any = None) -> None:
        cfg.validate()
        self.cfg = cfg
        self.progress = progress or (lambda *a: None)
        self.clock = clock or MonotonicClock()
        self.stop_event = threading.Event()
        self.issues: list[Issue] = []
        self.windows: list[Window] = []

    # --- set-up ------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Resolve device, workloads and samplers; every user mistake is raised here."""
        self.device = open_device(self.cfg.device)
        self.workloads = [(name, make_workload(name, params)) for name, params in self.cfg.workloads]
        for name, wl in self.workloads:
            dtype = wl.settings["dtype"]
            if not self.device.supports_dtype(dtype):
                raise UsageError(f"device {self.device.spec} cannot run {name} in {dtype}; try --dtype fp32")
        options = dict(self.cfg.sampler_options)
        if getattr(self.clock, "simulated", False):
            options.setdefault("clock", self.clock)
        self.sampler_name, self.samplers = select_samplers(self.device, self.cfg.sampler, options)
        for s in self.samplers:
            if self.cfg.rate_hz > s.capabilities.max_rate_hz:
                raise UsageError(f"--rate {self.cfg.rate_hz:g} Hz is above what {s.name} can do "
                                 f"({s.capabilities.max_rate_hz:g} Hz)")

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> tuple[Path, Result]:
        """Measure everything; return the run folder and the sealed result."""
        if not hasattr(self, "samplers"):
            self.prepare()
        self.folder = self._make_folder()
        self.result = self._skeleton()
        self._save()
        self.meter = self._make_meter()
        status, reason = "complete", None
        try:
            self.meter.start()
            self._idle()
            for name, wl in self.workloads:
                if self.stop_event.is_set():
                    break
                self._workload(name, wl)
                self._checkpoint()
            statuses = {w.status for w in self.result.workloads}
            if self.stop_event.is_set():
                status, reason = "interrupted", "stopped by a signal; finished the current window"
            elif statuses - {"complete"}:
                status = "failed" if statuses == {"failed"} else "incomplete"
                reason = "; ".join(f"{w.workload}: {w.reason}" for w in self.result.workloads if w.reason)
        except SamplerError as exc:
            status, reason = "incomplete", f"sensor failed: {exc}"
        except StorageError as exc:
            status, reason = "incomplete", str(exc)
        except KeyboardInterrupt:
            status, reason = "interrupted", "stopped at once by a second signal"
            raise
        finally:
            self._finish(status, reason)
        return self.folder, self.result

    def _skeleton(self) -> Result:
        from bench.run.provenance import host_provenance

        channels = [ChannelInfo(channel=s.channel, sampler=s.name, capabilities=s.capabilities.to_dict(),
                                describe=_safe(s.describe)) for s in self.samplers]
        return Result(
            run_id=uuid.uuid4().hex,
            created_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            status="running",
            harness={"name": "bench", "version": __version__},
            config=self.cfg.to_dict(),
            provenance=host_provenance(),
            device={**self.device.describe(), "memory": self.device.memory_stats()},
            measurement=Measurement(sampler=self.sampler_name, channels=channels, rate_hz=self.cfg.rate_hz,
                                    gap_factor=self.cfg.gap_factor),
        )

    # hook points (bench.distributed.runner overrides them for multi-device runs)

    def _make_folder(self) -> Path:
        """The run folder (created)."""
        return _run_folder(self.cfg)

    def _make_meter(self) -> Meter:
        return Meter(self.samplers, rate_hz=self.cfg.rate_hz, folder=self.folder, clock=self.clock,
                     gap_factor=self.cfg.gap_factor, read_timeout_s=self.cfg.read_timeout_s,
                     metadata={"harness": __version__, "device": self.device.spec})

    def _save(self) -> None:
        """Write the (provisional) result into the run folder."""
        write_result(self.result, self.folder)

    def _elapsed_s(self, start_ns: int) -> float:
        """Seconds since ``start_ns`` on the runner's clock (warm-up decisions)."""
        return (self.clock.now_ns() - start_ns) / 1e9

    def _checkpoint(self) -> None:
        """Rewrite the provisional result so a killed run keeps the windows measured so far."""
        self.result.windows = list(self.windows)
        self.result.issues = list(self.issues)
        try:
            self._save()
        except OSError as exc:
            log.warning("could not update provisional result: %s", exc)

    def _window(self, name: str, body: Callable[[], Any]) -> tuple[Window, Any]:
        """Sync, open, run ``body``, sync, close; plus the samplers' health at the edges."""
        self.meter.check()
        self.device.synchronize()
        self.meter.open_window(name)
        try:
            out = body()
            self.device.synchronize()
        finally:
            window = self.meter.close_window(name)
            self._health(name)
        self.meter.check()
        return window, out

    def _health(self, window: str) -> None:
        seen = {(i.code, i.message) for i in self.issues}
        for s in self.samplers:
            for item in _safe(s.health, [], self.cfg.read_timeout_s):
                key = (item.get("code", "health"), item.get("message", ""))
                if key not in seen:
                    seen.add(key)
                    self.issues.append(Issue(code=key[0], message=key[1], window=window))

    def _sleep(self, seconds: float, phase: str) -> None:
        end = self.clock.now_ns() + int(seconds * 1e9)
        while (left := end - self.clock.now_ns()) > 0:
            self.meter.check()
            self.clock.sleep(min(left / 1e9, 0.1))
            self.progress(phase, seconds - max(end - self.clock.now_ns(), 0) / 1e9, seconds, "")

    def _idle(self) -> None:
        cfg = self.cfg
        if cfg.idle_s <= 0:
            self.issues.append(Issue(code="no_idle_baseline", message="idle baseline skipped (--idle 0)"))
            return
        self.progress("idle", 0, cfg.idle_s, "idle baseline")
        blocks: list[float] = []

        def body() -> None:
            n = max(1, int(cfg.idle_s))
            for k in range(n):
                w, _ = self._window(f"idle.{k + 1}", lambda: self._sleep(cfg.idle_s / n, "idle"))
                if w.mean_power_w is not None:
                    blocks.append(w.mean_power_w)

        window, _ = self._window("idle", body)
        self.windows.append(window)
        from bench.analysis.stats import summarize

        spread = summarize(blocks)["std"]
        self.result.idle = IdleBaseline(window="idle", duration_s=window.duration_s, energy_j=window.energy_j,
                                        power_w=window.mean_power_w, power_std_w=spread, clean=window.clean)
        self._checkpoint()

    def _steps_for(self, wl: Workload, seconds: float, interruptible: bool = False) -> tuple[int, bool]:
        """Run whole steps until ``seconds`` have passed; return (steps, stopped by a signal).

        A measured window runs to its end after a first signal (the result keeps it); warm-up
        (``interruptible``) stops at the next step.
        """
        end = self.clock.now_ns() + int(seconds * 1e9)
        steps = 0
        while True:
            wl.step()
            steps += 1
            if self.clock.now_ns() >= end or (interruptible and self.stop_event.is_set()):
                return steps, self.stop_event.is_set()
            if steps % 16 == 0:
                self.meter.check()

    def _workload(self, name: str, wl: Workload) -> WorkloadResult:
        cfg = self.cfg
        wr = WorkloadResult(workload=name, kind=wl.kind, status="running", unit=wl.unit,
                            params=wl.params.to_dict(), settings=dict(wl.settings))
        self.result.workloads.append(wr)  # in the provisional result from the start
        try:
            self.progress("setup", 0, 1, name)
            self.device.reset_peak_memory()
            info = wl.setup(self.device)
            wr.settings, wr.optimizations = info.settings, info.optimizations
            wr.units_per_step, wr.flops_per_unit = info.units_per_step, info.flops_per_unit
            wr.parameters, wr.memory_bytes = info.parameters, info.memory_bytes
            wr.warmup = self._warmup(name, wl)
            self._checkpoint()
            idle_w = self.result.idle.power_w if self.result.idle else None
            for r in range(1, cfg.repeats + 1):
                if self.stop_event.is_set():
                    break
                self.progress("repeat", r - 1, cfg.repeats, f"{name} repeat {r}/{cfg.repeats}")
                window, (steps, _) = self._window(f"{name}/repeat.{r}", lambda: self._steps_for(wl, cfg.duration_s))
                self.windows.append(window)
                wr.repeats.append(repeat_figures(r, window, steps * info.units_per_step, steps, idle_w))
                self._checkpoint()
                self.progress("repeat", r, cfg.repeats, f"{name} repeat {r}/{cfg.repeats}")
            wr.peak_memory_bytes = self.device.memory_stats().get("peak_bytes")
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
            err = self.device.translate_error(exc)
            wr.status = "failed"
            wr.reason = f"{type(err).__name__}: {err}".splitlines()[0][:300]
            wr.issues.append(Issue(code="workload_error", message=wr.reason, severity="error"))
            log.error("workload %s failed: %s", name, wr.reason)
        finally:
            try:
                wl.teardown()
            finally:
                self.device.empty_cache()
        return wr

    def _warmup(self, name: str, wl: Workload) -> dict[str, Any]:
        """Run 1 s blocks until two in a row agree on mean power within the tolerance."""
        cfg = self.cfg
        powers: list[float] = []
        start = self.clock.now_ns()
        steps = 0
        steady = False
        block = 0
        while True:
            block += 1
            elapsed = self._elapsed_s(start)
            self.progress("warmup", min(elapsed, cfg.warmup_max_s), cfg.warmup_max_s, f"{name} warm-up")
            window, (n, stopped) = self._window(f"{name}/warmup.{block}", 
                                           lambda: self._steps_for(wl, 1.0, interruptible=True))
            steps += n
            if window.mean_power_w is not None:
                powers.append(window.mean_power_w)
            elapsed = self._elapsed_s(start)
            if len(powers) >= 2 and elapsed >= cfg.warmup_min_s:
                a, b = powers[-2], powers[-1]
                if a > 0 and abs(b - a) / a <= cfg.warmup_tolerance:
                    steady = True
                    break
            if elapsed >= cfg.warmup_max_s or stopped:
                break
        if not steady:
            self.issues.append(Issue(code="warmup_not_steady", window=f"{name}/warmup",
                                     message=f"{name}: power not steady within {cfg.warmup_tolerance:.0%} "
                                     f"after {elapsed:.1f} s of warm-up"))
        return {"duration_s": elapsed, "steps": steps, "blocks": block, "steady": steady,
                "block_power_w": powers[-5:]}

    def _finish(self, status: str, reason: str | None) -> None:
        from bench.result import trace as trace_mod

        self.meter.stop()
        if self.meter.error is not None and status == "complete":
            status, reason = "incomplete", f"sensor failed: {self.meter.error}"
        for s in self.samplers:
            _safe(s.close, None, self.cfg.read_timeout_s)
        res = self.result
        res.status, res.reason = status, reason
        res.windows, res.issues = list(self.windows), list(self.issues)
        stats = self.meter.stats()
        m = res.measurement
        m.samples, m.achieved_rate_hz = stats["samples"], stats["achieved_rate_hz"]
        m.interval_p50_s, m.interval_p99_s = stats["interval_p50_s"], stats["interval_p99_s"]
        res.trace = TraceRef(rows=self.meter.writer.rows if self.meter.writer else 0, t0_ns=self.meter.t0_ns)
        try:
            trace_mod.finalize(self.folder)
        except Exception as exc:  # keep the stream file: it is readable as it is
            res.trace.path = trace_mod.STREAM_FILE
            res.issues.append(Issue(code="trace_not_finalized", severity="error",
                                    message=f"trace left as {trace_mod.STREAM_FILE}: {exc}"))
        _score_hooks(res)
        _validity_hook(res, self.folder)
        try:
            write_result(res, self.folder)
        except OSError as exc:
            rescue = _rescue(res, exc)
            raise StorageError(f"could not write the result to {self.folder} ({exc.strerror or exc}); "
                               f"saved it to {rescue}") from None


