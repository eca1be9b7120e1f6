"""The ``acme`` sampler: energy counter and instant power of one Acme board, from its sysfs-like files."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from bench.control import ControlNotSupported
from bench.samplers.base import (
    Availability,
    Capabilities,
    PowerKind,
    Reading,
    Sampler,
    SamplerDeviceLost,
    SamplerError,
    SamplerNoPermission,
    SamplerUnavailable,
    Scope,
)
from bench_plugin_acme import sysfs
from bench_plugin_acme.control import AcmeControl

MAX_RATE_HZ = 100.0  # the driver refreshes every few ms; faster polling only repeats values
ENERGY_TOLERANCE = 0.02  # counter vs integrated instant power over a few seconds


def _index(device: str) -> int:
    m = re.fullmatch(r"\s*acme(?::(\d+))?\s*", device.lower())
    if not m:
        raise SamplerUnavailable(f"acme measures Acme boards (acme:N), not {device!r}")
    return int(m.group(1) or 0)


def _board(index: int, identity: dict[str, Any] | None) -> Path:
    """The board's folder: by UUID when the device backend gave one, else by index."""
    base = sysfs.root()
    present = sysfs.boards(base)
    if not present:
        raise SamplerUnavailable(f"no Acme board: {base} has no acme<N> folder (driver not loaded? "
                                 f"set {sysfs.ROOT_ENV})")
    uuid = (identity or {}).get("uuid")
    if uuid:
        for i in present:
            try:
                if sysfs.read_text(sysfs.board_path(i, base) / "uuid") == uuid:
                    return sysfs.board_path(i, base)
            except OSError:
                continue
        raise SamplerUnavailable(f"no Acme board has UUID {uuid}")
    if index not in present:
        raise SamplerUnavailable(f"acme:{index} is not present; boards: {', '.join(f'acme:{i}' for i in present)}")
    return sysfs.board_path(index, base)


def _translate(exc: BaseException, what: str) -> SamplerError:
    if isinstance(exc, PermissionError):
        return SamplerNoPermission(f"{what}: permission denied (add the user to the 'acme' group)")
    return SamplerDeviceLost(f"{what}: {type(exc).__name__}: {exc}")


class AcmeSampler(Sampler):
    """One Acme board. Units at this edge: uJ -> J, uW -> W."""

    name = "acme"

    @classmethod
    def is_available(cls, device: str) -> Availability:
        try:
            path = _board(_index(device), None)
            sysfs.energy_j(path)
            return Availability(True)
        except SamplerError as exc:
            return Availability(False, str(exc))
        except Exception as exc:  # never raise from a probe
            return Availability(False, f"acme probe failed: {type(exc).__name__}: {exc}")

    @classmethod
    def open(cls, device: str, identity: dict[str, Any] | None = None, **options: Any) -> list[Sampler]:
        """Open ``acme:N``; ``identity`` (``Device.identity()``) selects the board by UUID."""
        index = _index(device)
        return [cls(_board(index, identity), f"acme:{index}")]

    @classmethod
    def conformance_fake(cls) -> Any:
        """The conformance kit's fake: a simulated board (see :mod:`bench_plugin_acme.fake`)."""
        from bench_plugin_acme.fake import conformance_setup

        return conformance_setup()

    def __init__(self, path: Path, channel: str) -> None:
        self.path, self.channel = path, channel
        self._lock = threading.Lock()
        self._closed = False
        try:
            update_s = sysfs.read_int(path / "update_ms") / 1000.0
            self._name = sysfs.read_text(path / "name")
            self._uuid = sysfs.read_text(path / "uuid")
        except (OSError, ValueError) as exc:
            raise SamplerUnavailable(f"{path}: {type(exc).__name__}: {exc}") from None
        self.capabilities = Capabilities(
            energy_counter=True, power=PowerKind.INSTANT, scope=Scope.GPU, update_period_s=update_s,
            max_rate_hz=MAX_RATE_HZ, energy_tolerance=ENERGY_TOLERANCE)

    @classmethod
    def open_control(cls, device: str, identity: dict[str, Any] | None = None, **options: Any) -> AcmeControl:
        """The power-limit and clock control of ``acme:N`` (for ``bench sweep``), the board found as :meth:`open`
        finds it."""
        try:
            return AcmeControl(_board(_index(device), identity), f"acme:{_index(device)}")
        except SamplerError as exc:
            raise ControlNotSupported(f"{device}: {exc}") from None

    def read(self) -> Reading:
        """Energy (J, cumulative), power (W), power limit (W) and core clock (MHz) now."""
        with self._lock:
            if self._closed:
                raise SamplerUnavailable(f"{self.channel} is closed")
            try:
                reading = Reading(energy_j=sysfs.energy_j(self.path), power_w=sysfs.power_w(self.path),
                                  power_limit_w=sysfs.power_cap_w(self.path))
            except (OSError, ValueError) as exc:
                raise _translate(exc, f"{self.channel} ({self.path})") from None
            try:  # an older driver has no clock file
                reading.clock_mhz = float(sysfs.read_int(self.path / "clock_mhz"))
            except (OSError, ValueError):
                pass
            return reading

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def describe(self) -> dict[str, Any]:
        return {"sampler": self.name, "channel": self.channel, "name": self._name, "uuid": self._uuid,
                "path": str(self.path), "method": "Acme driver energy_uj counter and instant power_uw",
                "capabilities": self.capabilities.to_dict()}
