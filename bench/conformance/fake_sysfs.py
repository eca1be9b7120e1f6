"""A faithful fake of the Linux powercap (RAPL) tree, built in a folder, for tests without root or RAPL.

It mirrors what the kernel's ``intel_rapl`` driver exposes:

- zones live under ``devices/virtual/powercap/<control>/<control>:N[/<control>:N:M]`` and
  ``class/powercap/<control>:N[:M]`` holds a symlink to each, as sysfs does;
- each zone has ``name`` (``package-0``, ``package-0-die-1``, ``psys``, ``core``, ``uncore``,
  ``dram``), ``energy_uj``, ``max_energy_range_uj`` and ``enabled``;
- the counter is a 32-bit register of energy units: ``energy_uj = raw * unit // 1000`` with the
  unit in thousandths of a microjoule (61035 for Intel's 2^-14 J package unit, 15258 for the
  2^-16 J unit of server DRAM and AMD), so ``max_energy_range_uj = 0xFFFFFFFF * unit // 1000``
  (262143328850 and 65532610987, the values real machines show) and the value wraps past it;
- ``energy_uj`` is mode 0400 (root only) as since CVE-2020-8694; :meth:`FakePowercap.unprivileged`
  makes reads of it fail with ``EACCES`` as they do for a non-root user (tests here may run as
  root, for whom mode bits do not block reads);
- multi-die AMD parts expose one ``package-X-die-Y`` zone per die that all mirror one socket
  counter: zones made with ``mirror_of=`` share a counter.

Values are rewritten in place (same inode), so a reader holding the file open sees each update,
as with sysfs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

INTEL_PACKAGE_UNIT = 61035  # thousandths of a uJ per count: 2^-14 J, truncated as the kernel does
DRAM_UNIT = 15258  # 2^-16 J: server DRAM domains and AMD packages
COUNTER_MASK = 0xFFFFFFFF
ROOT_ONLY = 0o400
WORLD_READABLE = 0o444


def _write_in_place(path: Path, text: str) -> None:
    """Rewrite a file's content without replacing its inode (an open reader sees the new value)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & stat.S_IWUSR:
        os.chmod(path, mode | stat.S_IWUSR)
    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            data = text.encode()
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)
    finally:
        if not mode & stat.S_IWUSR:
            os.chmod(path, mode)


@dataclass
class Counter:
    """A RAPL energy status register: ``raw`` counts of ``unit`` thousandths of a uJ, 32 bits wide."""

    unit: int
    raw: int = 0  # unmasked total counts, so tests know the true energy
    files: list[Path] = field(default_factory=list)

    @property
    def energy_uj(self) -> int:
        """What the kernel shows: the masked register times the unit, truncated to uJ."""
        return (self.raw & COUNTER_MASK) * self.unit // 1000

    @property
    def max_energy_range_uj(self) -> int:
        return COUNTER_MASK * self.unit // 1000

    @property
    def true_energy_j(self) -> float:
        """Energy accumulated since the counter's origin, without wrapping (J)."""
        return self.raw * self.unit / 1e9

    def advance(self, energy_j: float) -> None:
        """Accumulate ``energy_j`` joules (rounded to whole counts) and publish the new value."""
        if energy_j < 0:
            raise ValueError("a RAPL counter never runs backwards")
        self.raw += round(energy_j * 1e9 / self.unit)
        self.publish()

    def set_energy_j(self, energy_j: float) -> None:
        """Set the unwrapped total (J); the register shows it modulo its 32-bit range."""
        self.raw = round(energy_j * 1e9 / self.unit)
        self.publish()

    def publish(self) -> None:
        for path in self.files:
            _write_in_place(path, f"{self.energy_uj}\n")


@dataclass
class FakeZone:
    """One powercap zone of the fake tree."""

    path: Path  # the real folder under devices/virtual/powercap
    link: Path  # its symlink under class/powercap
    name: str
    counter: Counter

    @property
    def energy_file(self) -> Path:
        return self.path / "energy_uj"

    def advance(self, energy_j: float) -> None:
        """Accumulate ``energy_j`` joules on this zone's counter (mirrors move too)."""
        self.counter.advance(energy_j)

    def set_energy_j(self, energy_j: float) -> None:
        self.counter.set_energy_j(energy_j)

    @property
    def energy_uj(self) -> int:
        return self.counter.energy_uj

    @property
    def max_energy_range_uj(self) -> int:
        return self.counter.max_energy_range_uj


class FakePowercap:
    """A powercap tree under ``base``; point the sampler at :attr:`root` (``base/class/powercap``)."""

    def __init__(self, base: Path) -> None:
        self.base = Path(base)
        self.root = self.base / "class" / "powercap"
        self.devices = self.base / "devices" / "virtual" / "powercap"
        self.root.mkdir(parents=True, exist_ok=True)
        self.devices.mkdir(parents=True, exist_ok=True)
        self.zones: list[FakeZone] = []

    # --- building -------------------------------------------------------------------------

    def _control(self, control: str) -> Path:
        folder = self.devices / control
        if not folder.exists():
            folder.mkdir(parents=True)
            (folder / "enabled").write_text("1\n")
            (self.root / control).symlink_to(os.path.relpath(folder, self.root))
        return folder

    def _zone(self, folder: Path, name: str, counter: Counter, mode: int) -> FakeZone:
        folder.mkdir(parents=True)
        (folder / "name").write_text(f"{name}\n")
        (folder / "enabled").write_text("1\n")
        (folder / "max_energy_range_uj").write_text(f"{counter.max_energy_range_uj}\n")
        energy = folder / "energy_uj"
        energy.write_text(f"{counter.energy_uj}\n")
        os.chmod(energy, mode)
        for item in ("name", "enabled", "max_energy_range_uj"):
            os.chmod(folder / item, WORLD_READABLE)
        counter.files.append(energy)
        link = self.root / folder.name
        link.symlink_to(os.path.relpath(folder, self.root))
        zone = FakeZone(folder, link, name, counter)
        self.zones.append(zone)
        return zone

    def add_zone(
        self,
        index: int,
        name: str,
        *,
        control: str = "intel-rapl",
        unit: int = INTEL_PACKAGE_UNIT,
        energy_j: float = 0.0,
        mirror_of: FakeZone | None = None,
        mode: int = ROOT_ONLY,
    ) -> FakeZone:
        """A top-level zone ``<control>:<index>`` (a package, a die, or ``psys``).

        ``mirror_of`` makes it show the same register as another zone (multi-die AMD).
        """
        folder = self._control(control) / f"{control}:{index}"
        counter = mirror_of.counter if mirror_of is not None else Counter(unit)
        zone = self._zone(folder, name, counter, mode)
        if mirror_of is None:
            counter.set_energy_j(energy_j)
        return zone

    def add_subzone(
        self,
        parent: FakeZone,
        index: int,
        name: str,
        *,
        unit: int | None = None,
        energy_j: float = 0.0,
        mode: int = ROOT_ONLY,
    ) -> FakeZone:
        """A sub-zone ``<parent>:<index>`` (``core``, ``uncore`` or ``dram``)."""
        if unit is None:
            unit = DRAM_UNIT if name == "dram" else parent.counter.unit
        folder = parent.path / f"{parent.path.name}:{index}"
        zone = self._zone(folder, name, Counter(unit), mode)
        zone.set_energy_j(energy_j)
        return zone

    # --- ready-made machines --------------------------------------------------------------

    @classmethod
    def intel_server(cls, base: Path, sockets: int = 2, dram: bool = True) -> "FakePowercap":
        """A Xeon box: ``package-N`` per socket, each with a ``dram`` sub-zone (2^-16 J unit)."""
        fake = cls(base)
        for n in range(sockets):
            pkg = fake.add_zone(n, f"package-{n}", energy_j=1000.0 * (n + 1))
            if dram:
                fake.add_subzone(pkg, 0, "dram", energy_j=100.0 * (n + 1))
        return fake

    @classmethod
    def intel_client(cls, base: Path) -> "FakePowercap":
        """A laptop: package-0 with core, uncore and dram sub-zones, psys, and an MMIO twin of package-0."""
        fake = cls(base)
        pkg = fake.add_zone(0, "package-0", energy_j=500.0)
        fake.add_subzone(pkg, 0, "core", energy_j=300.0)
        fake.add_subzone(pkg, 1, "uncore", energy_j=20.0)
        fake.add_subzone(pkg, 2, "dram", energy_j=40.0)
        fake.add_zone(1, "psys", energy_j=900.0)
        fake.add_zone(0, "package-0", control="intel-rapl-mmio", mirror_of=pkg)
        return fake

    @classmethod
    def amd_multi_die(cls, base: Path, dies: int = 2, sockets: int = 1) -> "FakePowercap":
        """A multi-die EPYC/Threadripper: ``package-S-die-D`` zones mirroring one counter per socket."""
        fake = cls(base)
        index = 0
        for s in range(sockets):
            first = None
            for d in range(dies):
                zone = fake.add_zone(
                    index, f"package-{s}-die-{d}", unit=DRAM_UNIT, energy_j=2000.0 * (s + 1),
                    mirror_of=first,
                )
                first = first or zone
                index += 1
        return fake

    # --- permissions ----------------------------------------------------------------------

    def chmod_energy(self, mode: int) -> None:
        """Set every ``energy_uj`` to ``mode`` (0o400 as the kernel ships it, 0o444 after ``chmod o+r``)."""
        for zone in self.zones:
            os.chmod(zone.energy_file, mode)

    @contextlib.contextmanager
    def unprivileged(self) -> Iterator[None]:
        """Open files of this tree as a non-root user would: no world-read bit means ``EACCES``.

        Patches :func:`os.open` for paths inside the tree only; descriptors opened before stay valid.
        """
        real_open = os.open
        base = os.path.realpath(self.base)

        def guarded_open(path, flags, mode=0o777, *, dir_fd=None):  # noqa: ANN001 - os.open's signature
            real = os.path.realpath(path) if dir_fd is None else None
            if real is not None and (real == base or real.startswith(base + os.sep)):
                if flags & os.O_ACCMODE in (os.O_RDONLY, os.O_RDWR) and os.path.isfile(real):
                    if not os.stat(real).st_mode & stat.S_IROTH:
                        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
            if dir_fd is None:
                return real_open(path, flags, mode)
            return real_open(path, flags, mode, dir_fd=dir_fd)

        os.open = guarded_open
        try:
            yield
        finally:
            os.open = real_open
