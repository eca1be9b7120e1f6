"""Finding a device's control, checking settings against it, applying them and putting the originals back.

A control comes from the device backend (``Device.control()``) or, in order, from the samplers that can
measure the device (``Sampler.open_control(device, identity=...)``): ``cuda`` asks ``nvml``, then ``amdsmi``; a
plugin's device asks its own sampler. What a sweep changes is recorded in a state file
(:mod:`bench.control.state`) before it is changed, and only what was changed is put back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bench import plugins
from bench.control.base import (
    ClockLock,
    ClockLockCapability,
    Control,
    PowerLimitCapability,
    capabilities,
    require_clock_lock,
    require_power_limit,
)
from bench.control.state import SettingState
from bench.control.state import write as write_state
from bench.devices import Device, open_device
from bench.errors import ControlError, ControlNotSupported, PluginError, UsageError
from bench.result.model import DeviceSetting

log = logging.getLogger(__name__)


def open_control(device: Device, sampler: str | None = None) -> tuple[Control, str]:
    """The control of ``device`` and where it came from (``"device"`` or ``"sampler"``): the device backend's own,
    else the first of ``sampler`` (when given) or the device's default samplers that offers one."""
    reasons: list[str] = []
    own = getattr(device, "control", None)
    if callable(own):
        try:
            return own(), "device"
        except ControlNotSupported as exc:
            reasons.append(f"{device.type}: {exc}")
    names = [sampler] if sampler else list(type(device).default_samplers)
    identity = device.identity()
    for name in names:
        try:
            cls = plugins.load("samplers", name)
        except (PluginError, UsageError) as exc:
            reasons.append(f"{name}: {exc}")
            continue
        opener = getattr(cls, "open_control", None)
        if not callable(opener):
            reasons.append(f"{name}: offers no control")
            continue
        try:
            return opener(device.spec, identity=identity), "sampler"
        except ControlNotSupported as exc:
            reasons.append(f"{name}: {exc}")
    raise ControlNotSupported(f"{device.spec}: nothing here can change its power limit or clocks ("
                              + "; ".join(reasons) + ")")


def reopen_control(state: SettingState) -> Control:
    """The control a state file names (for ``bench sweep --restore``)."""
    if state.source == "device":
        control = getattr(open_device(state.device), "control", None)
        if not callable(control):
            raise ControlNotSupported(f"{state.device}: its device backend offers no control any more")
        return control()
    cls = plugins.load("samplers", state.backend)
    opener = getattr(cls, "open_control", None)
    if not callable(opener):
        raise ControlNotSupported(f"{state.device}: the {state.backend} sampler offers no control any more")
    return opener(state.device, identity=state.identity)


@dataclass(frozen=True)
class Setting:
    """One point's setting: a power limit (W) and/or SM clocks locked to one clock (MHz); neither: as found."""

    power_limit_w: float | None = None
    sm_clock_mhz: int | None = None
    requested_sm_clock_mhz: float | None = None

    @property
    def baseline(self) -> bool:
        return self.power_limit_w is None and self.sm_clock_mhz is None

    def label(self, index: int) -> str:
        parts = []
        if self.power_limit_w is not None:
            parts.append(f"{self.power_limit_w:g}W")
        if self.sm_clock_mhz is not None:
            parts.append(f"{self.sm_clock_mhz}MHz")
        return f"{index:02d}-" + ("-".join(parts) if parts else "as-found")

    def text(self) -> str:
        """The setting in words, as a result states it (``power limit 250 W, SM clocks 1410 MHz``, ``as found``)."""
        return DeviceSetting(power_limit_w=self.power_limit_w, sm_clock_mhz=self.sm_clock_mhz).text()


class Settings:
    """Settings of one device through its control: the originals read once, settings checked and applied, the
    originals put back. Every change is written to the state file first."""

    def __init__(self, control: Control, source: str, device: str, sweep_id: str, folder: str,
                 need_power: bool, need_clocks: bool) -> None:
        self.control, self.device = control, device
        self.power: PowerLimitCapability | None = require_power_limit(control) if need_power else None
        self.clocks: ClockLockCapability | None = require_clock_lock(control) if need_clocks else None
        self.original_power_w = self.power.get_power_limit_w() if self.power else None
        self.original_lock: ClockLock | None = self.clocks.get_sm_clock_lock() if self.clocks else None
        self.lock_readable = bool(getattr(control, "clock_lock_readable", False))
        self.changed: list[str] = []
        self.state = SettingState(
            sweep_id=sweep_id, device=device, identity=control.identity(), backend=control.backend, source=source,
            original={"power_limit_w": self.original_power_w, "clock_lock_readable": self.lock_readable,
                      "sm_clock_lock": [self.original_lock.min_mhz, self.original_lock.max_mhz]
                      if self.original_lock else None}, folder=folder)

    def original(self) -> dict[str, Any]:
        return dict(self.state.original)

    # --- checking -----------------------------------------------------------------------------
    def check_power_limits(self, watts: list[float]) -> None:
        """Every limit within the device's range (else one :class:`UsageError` naming it and the range)."""
        assert self.power is not None
        limits = self.power.power_limit_range()
        for w in watts:
            if not limits.contains(w):
                raise UsageError(f"--power-limits {w:g} W is outside {self.device}'s power limit range "
                                 f"{limits.text()}")

    def snap_clocks(self, mhz: list[float]) -> list[tuple[float, int]]:
        """(requested, nearest supported clock) for each value; outside the supported range: :class:`UsageError`."""
        assert self.clocks is not None
        supported = self.clocks.supported_sm_clocks_mhz()
        if not supported:
            raise ControlNotSupported(f"{self.device}: its driver lists no supported SM clock")
        low, high = min(supported), max(supported)
        out = []
        for value in mhz:
            if not low - 0.5 <= value <= high + 0.5:
                raise UsageError(f"--sm-clocks {value:g} MHz is outside {self.device}'s supported SM clocks "
                                 f"{low}-{high} MHz")
            out.append((value, min(supported, key=lambda c: (abs(c - value), -c))))
        return out

    def check_permission(self) -> None:
        """Fail now, before anything is measured, if the settings cannot be changed: writes what is in force (a
        power limit set to itself, a lock to itself). Where no lock shows, the clocks are reset: a no-op where the
        backend can see there is none, and where it cannot (NVML), what restoring would do anyway."""
        if self.power is not None and self.original_power_w is not None:
            self.power.set_power_limit_w(self.original_power_w)
        if self.clocks is not None:
            if self.original_lock is not None:
                self.clocks.lock_sm_clocks(self.original_lock.min_mhz, self.original_lock.max_mhz)
            else:
                self.clocks.reset_sm_clocks()

    # --- changing -----------------------------------------------------------------------------
    def _note(self, what: str, applied: dict[str, Any]) -> None:
        if what not in self.changed:
            self.changed.append(what)
        self.state.applied = applied
        self.state.changed = list(self.changed)
        write_state(self.state)

    def apply(self, setting: Setting) -> None:
        """Put ``setting`` in force; what it leaves out goes back to the original."""
        lock = [setting.sm_clock_mhz, setting.sm_clock_mhz] if setting.sm_clock_mhz is not None else None
        applied = {"power_limit_w": setting.power_limit_w, "sm_clock_lock": lock}
        if self.power is not None:
            target = setting.power_limit_w if setting.power_limit_w is not None else self.original_power_w
            if target is not None and (setting.power_limit_w is not None or "power_limit" in self.changed):
                self._note("power_limit", applied)
                self.power.set_power_limit_w(target)
        if self.clocks is not None:
            if setting.sm_clock_mhz is not None:
                self._note("clocks", applied)
                self.clocks.lock_sm_clocks(setting.sm_clock_mhz, setting.sm_clock_mhz)
            elif "clocks" in self.changed:
                self._put_clocks_back()
        self.state.applied = applied
        write_state(self.state)

    def _put_clocks_back(self) -> None:
        assert self.clocks is not None
        if self.original_lock is not None:
            self.clocks.lock_sm_clocks(self.original_lock.min_mhz, self.original_lock.max_mhz)
        else:
            self.clocks.reset_sm_clocks()

    def restore(self) -> str:
        """Put back every original this object changed; returns what it did in words. A failure is a
        :class:`ControlError` (the state file stays for ``bench sweep --restore``)."""
        done, errors = [], []
        if "power_limit" in self.changed and self.power is not None and self.original_power_w is not None:
            try:
                self.power.set_power_limit_w(self.original_power_w)
                done.append(f"power limit {self.original_power_w:g} W")
            except ControlError as exc:
                errors.append(str(exc))
        if "clocks" in self.changed and self.clocks is not None:
            try:
                self._put_clocks_back()
                done.append(f"SM clocks {self.original_lock.text()}" if self.original_lock else
                            "SM clocks reset to the driver's default")
            except ControlError as exc:
                errors.append(str(exc))
        if errors:
            raise ControlError("; ".join(errors))
        return ("put back " + ", ".join(done)) if done else "nothing was changed"


def restore_state(state: SettingState, control: Control) -> str:
    """Put back the originals a state file records, on ``control``; returns what it did in words."""
    original, changed = state.original, list(state.changed)
    applied = state.applied or {}
    done = []
    if ("power_limit" in changed or applied.get("power_limit_w") is not None) \
            and original.get("power_limit_w") is not None:
        require_power_limit(control).set_power_limit_w(float(original["power_limit_w"]))
        done.append(f"power limit {original['power_limit_w']:g} W")
    if "clocks" in changed or applied.get("sm_clock_lock"):
        clocks = require_clock_lock(control)
        lock = original.get("sm_clock_lock")
        if lock:
            clocks.lock_sm_clocks(int(lock[0]), int(lock[1]))
            done.append(f"SM clocks {ClockLock(int(lock[0]), int(lock[1])).text()}")
        else:
            clocks.reset_sm_clocks()
            done.append("SM clocks reset to the driver's default")
    return ("put back " + ", ".join(done)) if done else "nothing had been changed"


def describe_control(control: Control) -> dict[str, Any]:
    try:
        return control.describe()
    except ControlError as exc:
        return {"backend": control.backend, "device": control.device, "capabilities": capabilities(control),
                "describe_error": str(exc)}
