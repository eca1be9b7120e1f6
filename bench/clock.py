"""Clocks. Durations come only from a monotonic clock (wall-clock jumps never change a figure).

:class:`Clock` is what the meter, the runner and the samplers take; :class:`MonotonicClock` is the real
one and :class:`SimClock` a simulated clock for tests and replays (``sleep`` advances it instantly).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A monotonic clock in nanoseconds that can also wait. ``simulated`` clocks move only when told."""

    simulated: bool

    def now_ns(self) -> int:
        """Monotonic time in ns (an arbitrary origin; never jumps with the wall clock)."""

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass (a simulated clock advances at once)."""

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait on ``event`` for up to ``seconds``; True if it was set."""


class MonotonicClock:
    """The real clock: ``time.monotonic_ns`` and ``time.sleep``."""

    simulated = False

    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait on ``event`` for up to ``seconds``; True if it was set."""
        return event.wait(max(seconds, 0.0))


class SimClock:
    """A simulated monotonic clock. ``sleep`` advances time instantly; ``advance`` moves it by hand."""

    simulated = True

    def __init__(self, start_ns: int = 0) -> None:
        self._now = int(start_ns)
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += int(round(seconds * 1e9))

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        self.advance(seconds)
        return event.is_set()
