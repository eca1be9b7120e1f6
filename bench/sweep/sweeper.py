"""A sweep: full measured runs of the same workloads at several device settings, in one folder.

Order: resolve the device, its control and the first point's run (every user mistake, an out-of-range value or a
missing privilege fails here, before anything is measured) -> sweep folder and state file -> the baseline point,
the device as found, which also measures the idle baseline -> each setting in turn: apply it, run the point
(its own warm-up, repeats and CIs; the idle baseline reused) -> put the originals back -> seal ``sweep.json``.

The originals go back on every way out the process can see: the end, an error, a first signal (the current
window finishes, no new point starts) and a second one (the run stops at once). Only a SIGKILL skips it: the
state file (:mod:`bench.control.state`) then lets ``bench sweep --restore`` finish the job.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.clock import Clock
from bench.control.state import left_in_force, remove, warning_text
from bench.control.state import write as write_state
from bench.devices import open_device
from bench.errors import BenchError, ControlError, UsageError
from bench.result.model import DeviceSetting, IdleBaseline, Result
from bench.result.sweep import SweepPoint, SweepRecord, SweepRestore, write_sweep
from bench.run.coordinator import LocalCoordinator
from bench.run.folder import make_run_folder
from bench.run.runner import Runner
from bench.sweep.config import SweepConfig
from bench.sweep.control import Setting, Settings, describe_control, open_control
from bench.version import __version__

log = logging.getLogger(__name__)

Progress = Callable[[str, float, float, str], None]


class PointCoordinator(LocalCoordinator):
    """A point of a sweep: a run in this process that stops on the sweep's signal and records its setting."""

    def __init__(self, stop_event: threading.Event, setting: DeviceSetting) -> None:
        super().__init__()
        self.stop_event = stop_event
        self.setting = setting

    def describe(self, run: Runner, result: Result) -> None:
        result.setting = self.setting.model_copy()


class Sweep:
    """Runs one :class:`SweepConfig`. ``stop_event`` (a signal sets it) ends the sweep after the current window;
    ``restoring`` is True while the originals are being put back (a signal handler must not interrupt that)."""

    def __init__(self, cfg: SweepConfig, progress: Progress | None = None, clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.progress = progress
        self.clock = clock
        self.stop_event = threading.Event()
        self.restoring = False
        self.sweep_id = uuid.uuid4().hex
        self.plan: list[Setting] = []
        self.notes: list[str] = []
        self.settings: Settings | None = None
        self.device: Any = None
        self.folder: Path | None = None
        self.record: SweepRecord | None = None
        self.idle: IdleBaseline | None = None
        self.first: Runner | None = None

    # --- set-up -------------------------------------------------------------------------------
    def prepare(self) -> list[Setting]:
        """Resolve the device and its control, check every setting and the privilege, plan the points."""
        if self.settings is not None:
            return self.plan
        cfg = self.cfg
        self.first = self._runner(cfg.run, Setting(), "", None)
        setup = self.first.prepare()  # workloads, sampler, rate: the run's own mistakes first (it runs the baseline)
        try:
            self._check_control()
        except BaseException:
            for sampler in setup.samplers:
                sampler.close()
            self.first = None
            raise
        return self.plan

    def _check_control(self) -> None:
        cfg = self.cfg
        device = self.device = open_device(cfg.run.device)
        held = left_in_force(device.spec, device.identity())
        if held:
            raise UsageError(warning_text(held[0]) if not held[0].owner_alive() else
                             f"a sweep (pid {held[0].pid}) is changing {device.spec}'s settings now; wait for it")
        control, source = open_control(device, cfg.run.sampler)
        try:
            settings = Settings(control, source, device.spec, self.sweep_id, "", bool(cfg.power_limits_w),
                                bool(cfg.sm_clocks_mhz))
            if cfg.power_limits_w:
                settings.check_power_limits(cfg.power_limits_w)
            clocks = settings.snap_clocks(cfg.sm_clocks_mhz) if cfg.sm_clocks_mhz else []
            settings.check_permission()
        except BaseException:
            control.close()
            raise
        self.settings = settings
        self.plan = self._plan(settings, clocks)

    def _plan(self, settings: Settings, clocks: list[tuple[float, int]]) -> list[Setting]:
        plan = [Setting()]
        powers: list[float | None] = list(self.cfg.power_limits_w) or [None]
        locks: list[tuple[float, int] | tuple[None, None]] = list(clocks) or [(None, None)]
        seen: set[tuple[Any, Any]] = set()
        for watts in powers:
            for requested, mhz in locks:
                if (watts, mhz) in seen:
                    self.notes.append(f"{requested:g} MHz is the same supported clock as another value ({mhz} MHz): "
                                      "measured once")
                    continue
                seen.add((watts, mhz))
                if mhz is None and watts is not None and settings.original_power_w is not None \
                        and abs(watts - settings.original_power_w) < 0.5:
                    self.notes.append(f"{watts:g} W is the power limit as found: the baseline point measures it")
                    continue
                if requested is not None and abs(requested - mhz) >= 0.5:
                    self.notes.append(f"{requested:g} MHz is not a supported clock: {mhz} MHz is used")
                plan.append(Setting(power_limit_w=watts, sm_clock_mhz=mhz, requested_sm_clock_mhz=requested))
        return plan

    # --- the sweep ----------------------------------------------------------------------------
    def run(self) -> tuple[Path, SweepRecord]:
        """Measure every point; put the originals back; return the sweep folder and its record."""
        plan = self.prepare()
        settings = self.settings
        assert settings is not None
        cfg = self.cfg
        try:
            self.folder = make_run_folder(cfg.run.out, cfg.run.name, self.device.spec, f"sweep-{cfg.run.label}")
        except BaseException:
            settings.control.close()
            raise
        self.record = record = self._skeleton(plan, settings)
        settings.state.folder = str(self.folder)
        write_state(settings.state)
        write_sweep(record, self.folder)
        try:
            self._points(plan, record)
        except KeyboardInterrupt:
            record.status, record.reason = "interrupted", "stopped at once by a second signal"
            raise
        except BenchError as exc:
            record.status, record.reason = "failed", str(exc)
            raise
        finally:
            self._restore(record)
            write_sweep(record, self.folder)
        if record.restored is not None and not record.restored.ok:
            raise ControlError(f"could not put {self.device.spec}'s settings back ({record.restored.detail}); "
                               "run `bench sweep --restore`")
        return self.folder, record

    def _skeleton(self, plan: list[Setting], settings: Settings) -> SweepRecord:
        device = self.device
        points = [SweepPoint(index=i, label=s.label(i), folder=s.label(i), baseline=s.baseline,
                             power_limit_w=s.power_limit_w, sm_clock_mhz=s.sm_clock_mhz,
                             requested_sm_clock_mhz=s.requested_sm_clock_mhz) for i, s in enumerate(plan)]
        return SweepRecord(
            sweep_id=self.sweep_id,
            created_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            harness={"name": "bench", "version": __version__},
            device={"spec": device.spec, "name": device.name(), **device.identity()},
            control=describe_control(settings.control), original=settings.original(), config=self.cfg.record(),
            points=points, notes=list(self.notes))

    def _points(self, plan: list[Setting], record: SweepRecord) -> None:
        settings = self.settings
        assert settings is not None and self.folder is not None
        for point, setting in zip(record.points, plan):
            if self.stop_event.is_set():
                break
            if not setting.baseline:
                settings.apply(setting)
            point.status = "running"
            write_sweep(record, self.folder)
            result = self._run_point(point, setting)
            point.status, point.reason, point.run_id = result.status, result.reason, result.run_id
            write_sweep(record, self.folder)
            if result.status == "interrupted" or self.stop_event.is_set():
                record.status, record.reason = "interrupted", f"stopped by a signal during {point.label}"
                break
            if result.status != "complete":
                record.status, record.reason = "incomplete", f"{point.label}: {result.reason or result.status}"
                break
        else:
            record.status = "complete"
        for point in record.points:
            if point.status == "planned":
                point.status = "skipped"
        if record.status == "running":
            record.status = "interrupted"

    def _recorded(self, setting: Setting, label: str) -> DeviceSetting:
        """What the point's result records of its setting."""
        settings = self.settings
        return DeviceSetting(power_limit_w=setting.power_limit_w, sm_clock_mhz=setting.sm_clock_mhz,
                             original_power_limit_w=settings.original_power_w if settings else None,
                             original_sm_clock_lock=settings.original()["sm_clock_lock"] if settings else None,
                             sweep_id=self.sweep_id, point=label or None, baseline=setting.baseline)

    def _runner(self, cfg: Any, setting: Setting, label: str, idle: IdleBaseline | None) -> Runner:
        coordinator = PointCoordinator(self.stop_event, self._recorded(setting, label))
        return Runner(cfg, progress=self._progress(label), clock=self.clock, coordinator=coordinator, idle=idle)

    def _run_point(self, point: SweepPoint, setting: Setting) -> Result:
        assert self.settings is not None and self.folder is not None
        cfg = self.cfg.run.model_copy(update={"out": self.folder, "name": point.label})
        first, self.first = self.first, None
        if setting.baseline and first is not None:  # prepared before anything was written
            runner = first
            runner.cfg, runner.progress = cfg, self._progress(point.label) or runner.progress
            if isinstance(runner.coordinator, PointCoordinator):
                runner.coordinator.setting = self._recorded(setting, point.label)
        else:
            runner = self._runner(cfg, setting, point.label, self.idle)
        _, result = runner.run()
        if self.idle is None and result.idle is not None and result.idle.measured_in is None:
            self.idle = result.idle.model_copy(update={"measured_in": point.label})
        return result

    def _progress(self, label: str) -> Progress | None:
        progress = self.progress
        if progress is None or not label:
            return None
        return lambda phase, done, total, message: progress(phase, done, total, f"{label} {message}")

    def _restore(self, record: SweepRecord) -> None:
        """Put the originals back (a signal may not interrupt this); the state file goes once they are."""
        settings = self.settings
        assert settings is not None
        self.restoring = True
        try:
            detail = settings.restore()
            remove(settings.state)
            record.restored = SweepRestore(ok=True, detail=detail)
        except ControlError as exc:
            log.error("%s: could not put the settings back: %s", self.device.spec, exc)
            record.restored = SweepRestore(ok=False, detail=str(exc))
        finally:
            settings.control.close()
            self.restoring = False
