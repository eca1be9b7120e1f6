"""The Acme driver's sysfs-like interface: one folder per board under ``$ACME_SYSFS``.

``<root>/acme<N>/`` holds one value per file, as sysfs does:

==================== ==========================================================
``name``             marketing name, e.g. ``Acme A1``
``uuid``             stable board identity, e.g. ``ACME-0001-...``
``pci_bus_id``       PCI address, e.g. ``0000:41:00.0``
``energy_uj``        energy since the driver loaded, in microjoules (64-bit)
``power_uw``         power now, in microwatts, refreshed every ``update_ms``
``update_ms``        the sensor's refresh period in milliseconds
``power_cap_uw``     the board's power limit, in microwatts
``mem_total_bytes``  on-board memory
==================== ==========================================================

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
