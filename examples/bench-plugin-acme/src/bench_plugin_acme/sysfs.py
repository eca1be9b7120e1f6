"""The Acme driver's sysfs-like interface: one folder per board under ``$ACME_SYSFS``.

``<root>/acme<N>/`` holds one value per file, as sysfs does:

==================== ==========================================================
``name``             marketing name, e.g. ``Acme A1``
``uuid``             stable board identity, e.g. ``ACME-0001-...``
``pci_bus_id``       PCI address, e.g. ``0000:41:00.0``
``energy_uj``        energy since the driver loaded, in microjoules (64-bit)
``power_uw``         power now, in microwatts, refreshed every ``update_ms``
``update_ms``        the sensor's refresh period in milliseconds
``power_cap_uw``     the board's power limit, in microwatts (root may write it)
``power_cap_min_uw`` ``power_cap_max_uw`` ``power_cap_default_uw``: the range it may be set to
``clock_mhz``        the core clock now, MHz (the driver's DVFS sets it)
``clocks_mhz``       the supported core clocks, MHz, highest first, space separated
``clock_lock_mhz``   ``0`` (no lock) or ``MIN MAX``: the core clock range root locked it to
``mem_total_bytes``  on-board memory
==================== ==========================================================

The simulated driver (:mod:`bench_plugin_acme.fake`) adds ``sim_work_submitted_us`` and ``sim_work_done_us``,
its command queue (see :mod:`bench_plugin_acme.simwork`); a real board has no such files.

The unit conversion (uJ -> J, uW -> W) happens here, once.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT_ENV = "ACME_SYSFS"
DEFAULT_ROOT = Path("/sys/class/acme")
_BOARD = re.compile(r"^acme(\d+)$")


def root() -> Path:
    """Where the boards are: ``$ACME_SYSFS``, else the driver's default."""
    env = os.environ.get(ROOT_ENV, "").strip()
    return Path(env) if env else DEFAULT_ROOT


def boards(base: Path | None = None) -> list[int]:
    """Indices of the boards present (sorted). Never raises: no folder means no board."""
    base = root() if base is None else base
    try:
        names = [p.name for p in base.iterdir() if (p / "energy_uj").exists()]
    except OSError:
        return []
    return sorted(int(m.group(1)) for n in names if (m := _BOARD.match(n)))


def board_path(index: int, base: Path | None = None) -> Path:
    return (root() if base is None else base) / f"acme{index}"


def read_text(path: Path) -> str:
    """One value file, stripped. Raises OSError like the file does."""
    with open(path, encoding="ascii") as fh:
        return fh.read().strip()


def read_int(path: Path) -> int:
    """An integer value file; ValueError when it holds anything else."""
    return int(read_text(path))


def energy_j(board: Path) -> float:
    return read_int(board / "energy_uj") / 1e6


def power_w(board: Path) -> float:
    return read_int(board / "power_uw") / 1e6


def read_ints(path: Path) -> list[int]:
    """A value file holding integers separated by spaces."""
    return [int(x) for x in read_text(path).split()]


def write_text(path: Path, value: object) -> None:
    """Write a value file in place, as ``echo VALUE > file`` does on sysfs (no rename: sysfs has none).
    Raises OSError like the file does (PermissionError for a user who may not write it)."""
    with open(path, "w", encoding="ascii") as fh:
        fh.write(f"{value}\n")


def power_cap_w(board: Path) -> float:
    return read_int(board / "power_cap_uw") / 1e6
