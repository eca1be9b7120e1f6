"""``bench sweep --restore``: put back the settings a sweep left in force when it was killed.

Each state file (:mod:`bench.control.state`) whose sweep is gone is handled: its device's control is opened
again through the backend that made the change, the originals are written, and the file is removed. A file from
an earlier boot is stale (the reboot reset the device) and is removed; a sweep still running is left alone (it
restores its own settings when it ends).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.control.state import entries, remove
from bench.errors import BenchError
from bench.sweep.control import reopen_control, restore_state


@dataclass
class Restored:
    """What ``--restore`` did for one state file: ``outcome`` restored | stale | running | failed."""

    device: str
    sweep_id: str
    outcome: str
    detail: str


def restore_left(device: str | None = None) -> list[Restored]:
    """Put back what killed sweeps left in force (on ``device`` only, when given)."""
    found, unreadable = entries()
    out = [Restored("?", path.name, "failed", f"unreadable state file {path}: {why}") for path, why in unreadable]
    for state in found:
        if device is not None and not state.matches(device):
            continue
        if not state.this_boot():
            remove(state)
            out.append(Restored(state.device, state.sweep_id, "stale",
                                "left before the last reboot, which reset the device's settings: file removed"))
            continue
        if state.owner_alive():
            out.append(Restored(state.device, state.sweep_id, "running",
                                f"the sweep (pid {state.pid}) is still running; it puts its settings back when it ends"))
            continue
        try:
            control = reopen_control(state)
            try:
                detail = restore_state(state, control)
            finally:
                control.close()
        except BenchError as exc:
            out.append(Restored(state.device, state.sweep_id, "failed", str(exc)))
            continue
        remove(state)
        out.append(Restored(state.device, state.sweep_id, "restored", detail))
    return out
