"""RAPL energy counters of the host CPU through Linux powercap (``/sys/class/powercap``).

One channel per CPU package (``rapl:package-0``) and one per DRAM domain (``rapl:dram-0``).
What is deliberately *not* opened, because it would count the same joules twice:

- ``core`` and ``uncore`` sub-zones: they are parts of their package;
- ``psys`` (platform): it contains the package;
- the same domain seen through a second control type (``intel-rapl-mmio:0`` twin of ``intel-rapl:0``);
- per-die zones of multi-die AMD parts (``package-0-die-0``, ``package-0-die-1``) that mirror one
  socket counter: they are read twice, a short pause apart, and one is kept per package when they
  agree (the Linux counterpart of the mirrored-channel check codecarbon does on Windows EMI).
  Dies whose counters differ (Intel multi-die parts) are distinct meters and all kept.

``energy_uj`` is the raw counter in uJ; :meth:`RaplSampler.read` returns it in J and the meter
unwraps it with ``Capabilities.counter_wrap_j = max_energy_range_uj / 1e6``. The file is kept
open and re-read with :func:`os.pread` (one syscall, thread-safe).

Since CVE-2020-8694 (PLATYPUS) most kernels make ``energy_uj`` readable by root only; that is
reported with the fix in one line. The tree's location is ``root=`` (tests), else the environment
variable ``BENCH_POWERCAP_ROOT``, else :data:`DEFAULT_ROOT`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    host_cpu,
)

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/sys/class/powercap")
ROOT_ENV = "BENCH_POWERCAP_ROOT"
CONTROL_TYPES = ("intel-rapl", "amd-rapl", "intel-rapl-mmio")  # preference when a domain shows twice
UPDATE_PERIOD_S = 0.001  # RAPL refreshes its energy status about every millisecond
MIRROR_CHECK_S = 0.02  # pause between the two reads that tell mirrored die counters apart
MIRROR_TOLERANCE_J = 0.5  # two reads of one register a few microseconds apart differ by far less
_TOP_ZONE = re.compile(r"^(intel-rapl-mmio|intel-rapl|amd-rapl):(\d+)$")
_PACKAGE = re.compile(r"^package-(\d+)(?:-die-(\d+))?$")


def powercap_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Where the powercap tree is: ``root`` if given, else ``$BENCH_POWERCAP_ROOT``, else the default."""
    if root is not None:
        return Path(root)
    env = os.environ.get(ROOT_ENV, "").strip()
    return Path(env) if env else DEFAULT_ROOT


def permission_message(root: Path) -> str:
    """The one-line explanation and fix for a root-only ``energy_uj``."""
    return (
        "RAPL energy_uj is readable by root only (CVE-2020-8694); run as root or "
        f"`sudo chmod o+r {root}/intel-rapl:*/energy_uj`, or use --sampler estimate"
    )


@dataclass(frozen=True)
class Zone:
    """One powercap zone that becomes a channel."""

    path: Path
    domain: str  # the zone's ``name`` file: package-0, package-0-die-1, dram
    label: str  # the channel's suffix: package-0, dram-0
    scope: Scope
    max_energy_range_uj: int
    control: str


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise SamplerUnavailable(f"cannot read {path}: {exc.strerror or exc}") from None


def _open_energy(path: Path, root: Path) -> int:
    """Open an ``energy_uj`` file for reading; a root-only file raises :class:`SamplerNoPermission`."""
    try:
        return os.open(path, os.O_RDONLY)
    except PermissionError:
        raise SamplerNoPermission(permission_message(root)) from None
    except OSError as exc:
        raise SamplerUnavailable(f"cannot open {path}: {exc.strerror or exc}") from None


def _pread_uj(fd: int, path: Path) -> int:
    """The counter's present value (uJ). Retries once on a torn read; errors map to the sampler tree."""
    for attempt in (0, 1):
        try:
            data = os.pread(fd, 32, 0)
        except OSError as exc:
            raise SamplerDeviceLost(f"RAPL counter {path} became unreadable: {exc.strerror or exc}") from None
        try:
            return int(data)
        except ValueError:
            if attempt:
                raise SamplerDeviceLost(f"RAPL counter {path} gave {data[:20]!r}, not a number") from None
    raise AssertionError("unreachable")


def _read_uj(path: Path, root: Path) -> int:
    fd = _open_energy(path, root)
    try:
        return _pread_uj(fd, path)
    finally:
        os.close(fd)


def _make_zone(path: Path, domain: str, label: str, scope: Scope, control: str) -> Zone:
    raw = _read_text(path / "max_energy_range_uj")
    try:
        max_uj = int(raw)
    except ValueError:
        raise SamplerUnavailable(f"{path}/max_energy_range_uj holds {raw!r}, not a number") from None
    return Zone(path, domain, label, scope, max_uj, control)


def _package_zones(root: Path, notes: list[str]) -> list[tuple[Zone, int]]:
    """Top-level package zones, one per domain name (preferred control type first), with package ids."""
    found: dict[str, tuple[int, Path, str]] = {}
    for entry in sorted(root.iterdir()):
        m = _TOP_ZONE.match(entry.name)
        if not m or not (entry / "energy_uj").exists():
            continue
        control, domain = m.group(1), _read_text(entry / "name")
        rank = CONTROL_TYPES.index(control)
        if domain in found:
            kept = min(found[domain], (rank, entry, control))
            dropped = max(found[domain], (rank, entry, control))
            notes.append(f"{dropped[1].name} ({domain}) duplicates {kept[1].name}: not added")
            found[domain] = kept
        else:
            found[domain] = (rank, entry, control)
    zones = []
    for domain, (_, entry, control) in sorted(found.items()):
        m = _PACKAGE.match(domain)
        if not m:
            notes.append(f"{entry.name} ({domain}) not added: it contains or overlaps the package")
            continue
        zones.append((_make_zone(entry, domain, domain, Scope.PACKAGE, control), int(m.group(1))))
    return zones


def _drop_mirrors(zones: list[tuple[Zone, int]], root: Path, pause_s: float, notes: list[str]) -> list[Zone]:
    """Keep one zone per physical package where its per-die zones mirror one counter."""
    groups: dict[int, list[Zone]] = {}
    for zone, pkg in zones:
        groups.setdefault(pkg, []).append(zone)
    if any(len(g) > 1 for g in groups.values()) and pause_s > 0:
        first = {z.path: _read_uj(z.path / "energy_uj", root) for g in groups.values() for z in g}
        time.sleep(pause_s)
        second = {z.path: _read_uj(z.path / "energy_uj", root) for g in groups.values() for z in g}
    else:
        first = second = {}
    kept: list[Zone] = []
    for pkg, group in sorted(groups.items()):
        distinct: list[Zone] = []
        for zone in group:
            twin = next((k for k in distinct if _mirrored(first, second, k.path, zone.path)), None)
            if twin is None:
                distinct.append(zone)
            else:
                notes.append(f"{zone.domain} mirrors {twin.domain} (one socket counter): not added")
        if len(distinct) == 1 and distinct[0].label != f"package-{pkg}":
            z = distinct[0]
            distinct = [Zone(z.path, z.domain, f"package-{pkg}", z.scope, z.max_energy_range_uj, z.control)]
        kept.extend(distinct)
    return kept


def _mirrored(first: dict[Path, int], second: dict[Path, int], a: Path, b: Path) -> bool:
    if a not in first or b not in first:
        return False
    tol_uj = MIRROR_TOLERANCE_J * 1e6
    return abs(first[a] - first[b]) <= tol_uj and abs(second[a] - second[b]) <= tol_uj


def _dram_zones(package: Zone, notes: list[str]) -> list[Zone]:
    """The package's ``dram`` sub-zones (outside the package); core/uncore are parts of it."""
    out = []
    for sub in sorted(package.path.glob(f"{package.path.name}:*")):
        if not (sub / "energy_uj").exists():
            continue
        domain = _read_text(sub / "name")
        if domain == "dram":
            label = "dram-" + package.label.removeprefix("package-")
            out.append(_make_zone(sub, domain, label, Scope.DRAM, package.control))
        else:
            notes.append(f"{package.label}/{domain} not added: part of the package")
    return out


def find_zones(root: Path, mirror_check_s: float = MIRROR_CHECK_S) -> tuple[list[Zone], list[str]]:
    """The zones to open under ``root`` and notes on what was left out and why.

    Raises :class:`SamplerUnavailable` with no tree or no package zone and
    :class:`SamplerNoPermission` when ``energy_uj`` cannot be read.
    """
    if not root.is_dir():
        raise SamplerUnavailable(
            f"no RAPL: {root} does not exist (not Linux, a VM, or intel_rapl not loaded)"
        )
    notes: list[str] = []
    packages = _package_zones(root, notes)
    if not packages:
        raise SamplerUnavailable(f"no RAPL package zone under {root}")
    for zone, _ in packages:  # permission first: it is the common failure and has a fix
        os.close(_open_energy(zone.path / "energy_uj", root))
    kept = _drop_mirrors(packages, root, mirror_check_s, notes)
    zones: list[Zone] = []
    for package in kept:
        zones.append(package)
        zones.extend(_dram_zones(package, notes))
    for zone in zones:
        os.close(_open_energy(zone.path / "energy_uj", root))
    return zones, notes


def _is_cpu(device: str) -> bool:
    return host_cpu(device)


class RaplSampler(Sampler):
    """One RAPL zone (a CPU package or a DRAM domain): a wrapping energy counter, no power reading."""

    name = "rapl"

    def __init__(self, zone: Zone, root: Path, domains: list[str], notes: list[str]) -> None:
        self.zone = zone
        self.root = root
        self.channel = f"rapl:{zone.label}"
        self.capabilities = Capabilities(
            energy_counter=True,
            power=PowerKind.NONE,
            scope=zone.scope,
            update_period_s=UPDATE_PERIOD_S,
            max_rate_hz=1000.0,
            energy_tolerance=0.05,
            counter_wrap_j=zone.max_energy_range_uj / 1e6,
        )
        self._domains = domains
        self._notes = notes
        self._lock = threading.Lock()
        self._energy_path = zone.path / "energy_uj"
        self._fd: int | None = _open_energy(self._energy_path, root)

    @classmethod
    def is_available(cls, device: str) -> Availability:
        if not _is_cpu(device):
            return Availability(False, f"rapl measures the host CPU ('cpu'), not {device!r}")
        try:
            find_zones(powercap_root(), mirror_check_s=0.0)
        except SamplerError as exc:
            return Availability(False, str(exc))
        except Exception as exc:  # never raise from a probe
            return Availability(False, f"RAPL probe failed: {exc}")
        return Availability(True)

    @classmethod
    def open(cls, device: str, **options: Any) -> list["RaplSampler"]:
        """Open every package and DRAM channel. Options: ``root`` (powercap folder), ``mirror_check_s``."""
        if not _is_cpu(device):
            raise SamplerUnavailable(f"rapl measures the host CPU ('cpu'), not {device!r}")
        root = powercap_root(options.get("root"))
        zones, notes = find_zones(root, float(options.get("mirror_check_s", MIRROR_CHECK_S)))
        for note in notes:
            log.info("RAPL: %s", note)
        domains = [z.domain for z in zones]
        opened: list[RaplSampler] = []
        try:
            for zone in zones:
                opened.append(cls(zone, root, domains, notes))
        except BaseException:
            for sampler in opened:
                sampler.close()
            raise
        return opened

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def read(self) -> Reading:
        """The raw counter in J (it wraps at ``capabilities.counter_wrap_j``; the meter unwraps)."""
        with self._lock:
            if self._fd is None:
                raise SamplerDeviceLost(f"{self.channel} is closed")
            return Reading(energy_j=_pread_uj(self._fd, self._energy_path) / 1e6)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def describe(self) -> dict[str, Any]:
        return {
            "sampler": self.name,
            "channel": self.channel,
            "method": "RAPL energy counter via Linux powercap (energy_uj, unwrapped by max_energy_range_uj)",
            "domain": self.zone.domain,
            "domains": list(self._domains),
            "control_type": self.zone.control,
            "path": str(self.zone.path),
            "max_energy_range_uj": self.zone.max_energy_range_uj,
            "not_added": list(self._notes),
        }
