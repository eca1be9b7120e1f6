"""The state file of settings a sweep has changed and not yet put back.

Before a sweep changes anything it writes one JSON file per sweep into the state folder (``$BENCH_STATE_DIR``,
else ``$XDG_STATE_HOME/bench``, else ``~/.local/state/bench``): the device (torch string and identity), the
backend that changed it, the original settings, the setting applied now, and the owning process (pid, its
start time, the boot id). The sweep removes the file once the originals are back. A file that outlives its
process means the sweep was killed (SIGKILL, power loss of the host but not the device, ...): ``bench sweep
--restore`` puts the originals back from it, and until then every ``bench run`` on that device warns.

A file from an earlier boot is stale: a reboot (or a driver reload) gives the device its defaults back.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

STATE_ENV = "BENCH_STATE_DIR"
PREFIX = "sweep-"


def state_dir() -> Path:
    """Where the state files live (not created here)."""
    env = os.environ.get(STATE_ENV, "").strip()
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "bench"


def boot_id() -> str | None:
    """This boot's id (Linux), None elsewhere."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), None if unknown or gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # after "pid (comm) "; comm may hold spaces
    return fields[19] if len(fields) > 19 else None


@dataclass
class SettingState:
    """One sweep's changed settings. ``original`` and ``applied`` hold ``power_limit_w`` (W) and
    ``sm_clock_lock`` ([min, max] MHz or None); ``original["clock_lock_readable"]`` is False where the backend
    cannot see a lock (then restoring means resetting to the driver's default). ``changed`` lists what has been
    changed (``power_limit``, ``clocks``): only that is put back."""

    sweep_id: str
    device: str
    identity: dict[str, Any]
    backend: str
    source: str  # "sampler" (Sampler.open_control) or "device" (Device.control)
    original: dict[str, Any]
    applied: dict[str, Any] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)  # what the sweep has changed: power_limit, clocks
    folder: str = ""
    pid: int = field(default_factory=os.getpid)
    pid_start: str | None = field(default_factory=lambda: process_start(os.getpid()))
    boot_id: str | None = field(default_factory=boot_id)
    started_utc: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    @property
    def path(self) -> Path:
        return state_dir() / f"{PREFIX}{re.sub(r'[^A-Za-z0-9_.-]', '_', self.sweep_id)}.json"

    def owner_alive(self) -> bool:
        """Whether the sweep that wrote this is still running (same pid, same start time)."""
        if self.pid == os.getpid():
            return True
        start = process_start(self.pid)
        if start is not None:
            return start == self.pid_start
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return self.pid_start is None

    def this_boot(self) -> bool:
        """False when the file is from an earlier boot (the device's settings were reset since)."""
        now = boot_id()
        return self.boot_id is None or now is None or self.boot_id == now

    def matches(self, device: str, identity: dict[str, Any] | None = None) -> bool:
        """Whether this entry is about ``device`` (by UUID, then PCI bus id, else by the device string)."""
        identity = identity or {}
        for key in ("uuid", "pci_bus_id"):
            if self.identity.get(key) and identity.get(key):
                return str(self.identity[key]).lower() == str(identity[key]).lower()
        return self.device.strip().lower() == device.strip().lower()

    def describe_applied(self) -> str:
        """The setting in force, in words ("power limit 150 W, SM clocks 1200 MHz")."""
        return describe_setting(self.applied) or "nothing yet"

    def describe_original(self) -> str:
        text = describe_setting(self.original)
        if not self.original.get("clock_lock_readable", True) and self.original.get("sm_clock_lock") is None:
            text = ", ".join(x for x in (text, "SM clocks at the driver's default") if x)
        return text or "as found"


def describe_setting(setting: dict[str, Any]) -> str:
    parts = []
    if setting.get("power_limit_w") is not None:
        parts.append(f"power limit {setting['power_limit_w']:g} W")
    lock = setting.get("sm_clock_lock")
    if lock:
        lo, hi = lock
        parts.append(f"SM clocks {lo} MHz" if lo == hi else f"SM clocks {lo}-{hi} MHz")
    return ", ".join(parts)


def write(state: SettingState) -> Path:
    """Write (or replace) ``state``'s file atomically; returns its path."""
    path = state.path
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(asdict(state), indent=2, sort_keys=True).encode())
    return path


def remove(state: SettingState) -> None:
    """Remove ``state``'s file (the originals are back)."""
    try:
        state.path.unlink()
    except FileNotFoundError:
        pass


def entries() -> tuple[list[SettingState], list[tuple[Path, str]]]:
    """Every state file: the readable ones, and (path, why) for those that are not."""
    good: list[SettingState] = []
    bad: list[tuple[Path, str]] = []
    try:
        paths = sorted(state_dir().glob(f"{PREFIX}*.json"))
    except (OSError, RuntimeError):
        return good, bad
    for path in paths:
        try:
            good.append(SettingState(**json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError) as exc:
            bad.append((path, f"{type(exc).__name__}: {exc}"))
    return good, bad


def left_in_force(device: str, identity: dict[str, Any] | None = None) -> list[SettingState]:
    """Entries about ``device`` from this boot that another process wrote: a setting another sweep holds (running)
    or left behind (killed). This process's own sweep is not listed."""
    found, _ = entries()
    return [s for s in found if s.matches(device, identity) and s.this_boot() and s.pid != os.getpid()]


def warning_text(state: SettingState) -> str:
    """One line for a ``bench run`` that finds ``state`` in force on its device."""
    if state.owner_alive():
        return (f"a sweep (pid {state.pid}) is changing {state.device}'s settings: {state.describe_applied()} "
                f"in force (as found: {state.describe_original()}); this run measures that setting")
    return (f"{state.device} still has the setting an interrupted sweep left: {state.describe_applied()} "
            f"(as found: {state.describe_original()}); run `bench sweep --restore` to put it back")
