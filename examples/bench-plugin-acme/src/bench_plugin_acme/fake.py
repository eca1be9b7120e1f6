"""A simulated Acme driver: writes the sysfs-like files as a board drawing a known power would.

The simulator follows a clock: on a :class:`bench.conformance.DrivenClock` it advances
exactly with simulated time (the conformance kit then runs in a fraction of a second); with
:meth:`AcmeSimulator.run` it follows real time in a thread, so ``bench run --device acme:0`` can
be tried by hand::

    python -m bench_plugin_acme.fake /tmp/acme &      # then: ACME_SYSFS=/tmp/acme bench run -d acme:0

Two kinds of board:

- ``AcmeSimulator(root, power=220.0)``: the board draws a fixed power curve ``power(t_s)``, whatever runs and
  whatever its settings (the conformance kit's fake: exact figures to check a sampler against);
- ``AcmeSimulator(root, dvfs=Dvfs())`` (the default of ``python -m bench_plugin_acme.fake``): a DVFS model
  (:mod:`bench_plugin_acme.dvfs`). The board is busy while its command queue holds work, which the ``acme`` device
  backend feeds from the host's compute (:mod:`bench_plugin_acme.simwork`); its clock follows the power cap
  (``power_cap_uw``) and a clock lock (``clock_lock_mhz``), so its power and its speed respond to both, and
  ``bench sweep --device acme:0 --power-limits ...`` has a real curve to find.

Files are replaced atomically (write to a temporary file, rename), so a reader never sees half a
value. ``energy_uj`` is the exact integral of the power, floored to whole uJ; ``power_uw`` is
refreshed every ``update_ms``, like the real sensor. The settings files (``power_cap_uw``, ``clock_lock_mhz``)
are written in place by whoever changes them, as on sysfs; a value caught half-written is read again next step.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench_plugin_acme import sysfs
from bench_plugin_acme.dvfs import BoardState, Dvfs

UPDATE_MS = 10
RATED_W = 300.0  # the Acme A1's rated board power (its data sheet, were it real)


def _write(path: Path, value: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"{value}\n", encoding="ascii")
    os.replace(tmp, path)


class AcmeSimulator:
    """Boards under ``root``: drawing ``power(t_s)`` watts each (``t_s``: seconds since start), or, with ``dvfs``,
    following that model of power, clock and speed (``power`` is then unused)."""

    def __init__(self, root: Path, power: Callable[[float], float] | float = 220.0, boards: int = 1,
                 now_ns: int = 0, dvfs: Dvfs | None = None) -> None:
        self.root = Path(root)
        self.power = power if callable(power) else (lambda _t, w=float(power): w)
        self.dvfs = dvfs
        self.start_ns = self.last_ns = now_ns
        self.energy_uj = [1_000_000_000.0 + 17_000_000.0 * i for i in range(boards)]  # since "driver load"
        self.boards = [BoardState(dvfs) for _ in range(boards)] if dvfs is not None else []
        self.settings = [(RATED_W, None) for _ in range(boards)]  # (cap W, lock) last read from the files
        self.lost: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        model = dvfs or Dvfs()
        for i in range(boards):
            folder = sysfs.board_path(i, self.root)
            folder.mkdir(parents=True, exist_ok=True)
            for name, value in (("name", "Acme A1"), ("uuid", f"ACME-{0xA1000 + i:05X}-7C2E-4B1D-{0x9F30 + i:04X}"),
                                ("pci_bus_id", f"0000:{0x41 + i:02x}:00.0"), ("update_ms", UPDATE_MS),
                                ("power_cap_uw", int(RATED_W * 1e6)), ("power_cap_default_uw", int(RATED_W * 1e6)),
                                ("power_cap_min_uw", int(model.cap_min_w * 1e6)),
                                ("power_cap_max_uw", int(model.cap_max_w * 1e6)),
                                ("clocks_mhz", " ".join(map(str, model.clocks_mhz))), ("clock_lock_mhz", 0),
                                ("clock_mhz", model.clock_max_mhz), ("mem_total_bytes", 64 * 2**30)):
                _write(folder / name, value)
            if dvfs is not None:  # the command queue (simulation only): a fresh session, nothing queued
                for name, value in (("sim_session", uuid.uuid4().hex), ("sim_work_done_us", 0),
                                    ("sim_work_submitted_us", 0)):
                    _write(folder / name, value)
        self._publish(now_ns)

    def __call__(self, now_ns: int) -> None:
        """Advance the boards to ``now_ns`` (a :class:`DrivenClock` listener)."""
        with self._lock:
            if now_ns <= self.last_ns:
                return
            t0, t1 = (self.last_ns - self.start_ns) / 1e9, (now_ns - self.start_ns) / 1e9
            if self.dvfs is None:
                joules = _integral(self.power, t0, t1)
                self.energy_uj = [e + joules * 1e6 for e in self.energy_uj]
            else:
                for i, board in enumerate(self.boards):
                    if i not in self.lost:
                        self.energy_uj[i] += self._step(i, board, t1 - t0) * 1e6
            self.last_ns = now_ns
            self._publish(now_ns)

    def _step(self, index: int, board: BoardState, dt_s: float) -> float:
        """One DVFS step of board ``index`` from its files (cap, lock, queue); returns its energy (J)."""
        folder = sysfs.board_path(index, self.root)
        cap_w, lock = self.settings[index]
        with contextlib.suppress(OSError, ValueError):
            cap_w = sysfs.read_int(folder / "power_cap_uw") / 1e6
        with contextlib.suppress(OSError, ValueError):
            values = sysfs.read_ints(folder / "clock_lock_mhz")
            lock = None if values in ([], [0]) else (values[0], values[-1])
        self.settings[index] = (cap_w, lock)
        submitted_s = board.done_s
        with contextlib.suppress(OSError, ValueError):
            submitted_s = sysfs.read_int(folder / "sim_work_submitted_us") / 1e6
        return board.step(dt_s, submitted_s, cap_w, lock)

    def _publish(self, now_ns: int) -> None:
        t = (now_ns - self.start_ns) / 1e9
        refreshed = math.floor(t * 1000 / UPDATE_MS) * UPDATE_MS / 1000
        for i, energy in enumerate(self.energy_uj):
            if i in self.lost:
                continue
            folder = sysfs.board_path(i, self.root)
            _write(folder / "energy_uj", int(math.floor(energy)))
            if self.dvfs is None:
                _write(folder / "power_uw", int(round(self.power(refreshed) * 1e6)))
                continue
            board = self.boards[i]
            _write(folder / "power_uw", int(round(board.power_w * 1e6)))
            _write(folder / "clock_mhz", int(round(board.clock_mhz)))
            _write(folder / "sim_work_done_us", int(round(board.done_s * 1e6)))

    def unplug(self, index: int = 0) -> None:
        """The board falls off the bus: its value files vanish."""
        with self._lock:
            self.lost.add(index)
            for name in ("energy_uj", "power_uw"):
                with contextlib.suppress(FileNotFoundError):
                    (sysfs.board_path(index, self.root) / name).unlink()

    def run(self, period_s: float = UPDATE_MS / 1000) -> threading.Thread:
        """Follow real time in a daemon thread until :meth:`stop`."""
        self.start_ns = self.last_ns = time.monotonic_ns()

        def loop() -> None:
            while not self._stop.wait(period_s):
                self(time.monotonic_ns())

        thread = threading.Thread(target=loop, name="acme-simulator", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()


def _integral(power: Callable[[float], float], t0: float, t1: float, step: float = 1e-3) -> float:
    """Energy (J) between t0 and t1 s: the midpoint rule in steps of at most 1 ms (exact for steady power)."""
    n = max(1, math.ceil((t1 - t0) / step))
    h = (t1 - t0) / n
    return sum(power(t0 + (k + 0.5) * h) for k in range(n)) * h


@contextlib.contextmanager
def conformance_setup() -> Iterator[Any]:
    """The fake for the conformance kit: one board at 220 W, then 260 W from 1 s, on a simulated clock."""
    from bench.conformance import ConformanceSetup, DrivenClock, env_vars

    with tempfile.TemporaryDirectory(prefix="acme-sysfs-") as tmp:
        clock = DrivenClock()
        sim = AcmeSimulator(Path(tmp), power=lambda t: 220.0 if t < 1.0 else 260.0, now_ns=clock.now_ns())
        clock.on_advance(sim)
        with env_vars(**{sysfs.ROOT_ENV: tmp}):
            yield ConformanceSetup(device="acme:0", clock=clock, device_name="Acme A1", rated_power_w=RATED_W,
                                   faults={"device_lost": sim.unplug}, note="simulated Acme driver files")


def main(argv: list[str] | None = None) -> None:
    """``python -m bench_plugin_acme.fake ROOT [WATTS]``: simulate a board in real time until interrupted; with
    WATTS it draws that power whatever runs, without, it follows the DVFS model (power caps and clock locks act)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else tempfile.mkdtemp(prefix="acme-sysfs-"))
    if len(args) > 1:
        sim = AcmeSimulator(root, power=float(args[1]))
    else:
        sim = AcmeSimulator(root, dvfs=Dvfs())
    sim.run()
    print(f"simulating an Acme A1 under {root}: export {sysfs.ROOT_ENV}={root}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()
