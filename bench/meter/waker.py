"""How the meter's thread sleeps until its next read or until someone needs it: a cheaper ``threading.Event``.

The thread wakes at every poll (10 to 1,000 times a second), so the cost of one wake-up is paid at every sample.
``Event.wait(timeout)`` builds a condition variable, a fresh lock and a waiter list in Python on each call;
:class:`Waker` is one raw lock, held while nobody has asked for the thread, so a wait is a single
``acquire(timeout)`` in C. (``benchmarks/meter_cost.py`` measures what a thread that only waits on it costs at
each rate beside the meter's whole cost.)
"""

from __future__ import annotations

import threading


class Waker:
    """``set()`` / ``wait(timeout)`` / ``clear()`` as ``threading.Event`` offers them to one waiting thread.

    A ``set()`` with no thread waiting is kept: the next ``wait`` returns at once, as with an Event. A wait
    that returns True has consumed the wake-up, so ``clear()`` has nothing left to do.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()  # held: nobody has asked yet

    def set(self) -> None:
        """Wake the waiting thread (or the next one to wait). Any thread; any number of times."""
        try:
            self._lock.release()
        except RuntimeError:  # already released: a wake-up is pending
            pass

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until :meth:`set` or ``timeout`` seconds; True when woken by :meth:`set`."""
        if timeout is None:
            return self._lock.acquire()
        return self._lock.acquire(True, max(timeout, 0.0))

    def clear(self) -> None:
        """Forget a pending wake-up."""
        self._lock.acquire(False)

    def is_set(self) -> bool:
        """Whether a wake-up is pending."""
        return not self._lock.locked()
