"""How the host's compute becomes the simulated board's work (simulation only; a real board has its own queue).

Torch has no ``acme`` device, so workloads compute on the host CPU (see :mod:`bench_plugin_acme.device`). To let a
power cap or a clock lock slow them down as it would on the board, the device backend treats that compute as the
work it submits to the board, and the simulated driver (:mod:`bench_plugin_acme.fake`, DVFS mode) executes it at
its clock:

- **submitting**: each CPU-second the process spends computing is ``HOST_TO_BOARD`` (2) seconds of board work
  at the board's top clock. A daemon thread posts every 10 ms the CPU time the process used since its last post
  (``time.process_time``), less its own; through an idle window every thread sleeps and almost nothing is
  posted. CPU time, not wall time, is the measure because it is what a unit of work costs whatever else the
  host runs: on a host shared with other processes a unit still submits the same board work, so energy and time
  per unit depend on the board's clock alone, as on a real accelerator. The board is the slower of the two, as
  an accelerator is for compute-bound work: during a window its queue never runs dry and its clock sets the
  pace, so a slower clock stretches the window in proportion, which is how a cap shows as lower throughput.
  The total is posted as ``sim_work_submitted_us``, in microseconds; the driver keeps the board busy while
  ``sim_work_done_us`` is behind.
- **synchronising**: ``AcmeDevice.synchronize()`` posts the last work and waits until the board has done it, as
  ``torch.cuda.synchronize()`` waits for queued kernels. At the top clock the board keeps up with the host and
  the wait is short; at a lower clock the board falls behind and the wait stretches the window in proportion:
  time per unit rises and the measured throughput falls, as it would on the board.

Idle windows submit almost nothing (only the meter's brief polls), so the board idles at its idle power. Work
submitted outside windows (building the model) is done before the next window opens: every window edge
synchronises. A driver that stops publishing for 2 s is given up (a wait ends with a warning).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

from bench_plugin_acme import sysfs

log = logging.getLogger(__name__)

POST_PERIOD_S = 0.01
DONE_SLACK_US = 1000  # synchronize() returns once the board is within this much work of the target
HOST_TO_BOARD = 2.0  # seconds of board work (at its top clock) per second the host computes
STALE_S = 2.0  # the driver has not advanced its queue for this long: it is gone


def _write_atomic(path: Path, value: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(f"{value}\n")
    os.replace(tmp, path)


class HostWork:
    """The command queue of one simulated board, fed by this process. One per board and driver session."""

    _queues: ClassVar[dict[Path, HostWork]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def for_board(cls, folder: Path) -> HostWork | None:
        """The queue of the board under ``folder``, or None when its driver simulates no queue (a real board, or
        the fixed-power simulator)."""
        try:
            session = sysfs.read_text(folder / "sim_session")
        except OSError:
            return None
        with cls._registry_lock:
            queue = cls._queues.get(folder)
            if queue is None or queue.session != session or not queue.alive:
                queue = cls._queues[folder] = cls(folder, session)
            return queue

    @classmethod
    def close_all(cls) -> None:
        """Stop feeding every board (their threads end within one period); for a process done with its boards."""
        with cls._registry_lock:
            for queue in cls._queues.values():
                queue.alive = False
            threads = [q._thread for q in cls._queues.values()]
            cls._queues.clear()
        for thread in threads:
            thread.join(timeout=1.0)

    def __init__(self, folder: Path, session: str) -> None:
        self.folder, self.session = folder, session
        self._reporter_cpu = 0.0  # CPU the queue's own thread has used (looking is not computing)
        self._cpu_last = time.process_time()
        self._total_us = float(max(self._read("sim_work_submitted_us"), self._read("sim_work_done_us")))
        self._lock = threading.Lock()
        self._draining = False  # while synchronize() waits, the thread's polling is not work
        self.alive = True
        self._thread = threading.Thread(target=self._loop, name="acme-host-work", daemon=True)
        self._thread.start()

    def _read(self, name: str) -> int:
        try:
            return sysfs.read_int(self.folder / name)
        except (OSError, ValueError):
            return 0

    def post(self) -> int:
        """Post the work the host computed since the last post; returns the total submitted (us)."""
        with self._lock:
            cpu = time.process_time() - self._reporter_cpu
            if not self._draining:  # waiting for the board is not work
                self._total_us += 1e6 * HOST_TO_BOARD * max(cpu - self._cpu_last, 0.0)
            self._cpu_last = cpu
            total = int(self._total_us)
            _write_atomic(self.folder / "sim_work_submitted_us", total)
            return total

    def driver_running(self) -> bool:
        """Whether the simulated driver still publishes (it rewrites ``energy_uj`` every few ms)."""
        try:
            return time.time() - (self.folder / "energy_uj").stat().st_mtime < STALE_S
        except OSError:
            return False

    def _loop(self) -> None:
        checked = time.monotonic()
        while self.alive:
            time.sleep(POST_PERIOD_S)
            try:
                with self._lock:
                    self._reporter_cpu = time.thread_time()
                self.post()
            except OSError:  # the board's folder is gone
                break
            if time.monotonic() - checked > STALE_S / 4:
                checked = time.monotonic()
                if not self.driver_running():
                    break  # the driver stopped: post no more
        self.alive = False

    def drain(self) -> None:
        """Wait until the board has done all the work submitted so far (the driver executes it at its clock)."""
        try:
            target = self.post()
        except OSError:
            return
        self._draining = True
        try:
            checked = time.monotonic()
            while self._read("sim_work_done_us") < target - DONE_SLACK_US:
                if time.monotonic() - checked > STALE_S / 4:
                    checked = time.monotonic()
                    if not self.driver_running():
                        log.warning("%s: the simulated driver stopped; not waiting for the board's queue",
                                    self.folder)
                        return
                time.sleep(0.003)
        finally:
            with self._lock:
                self._draining = False
                self._cpu_last = time.process_time() - self._reporter_cpu
