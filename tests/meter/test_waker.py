"""The meter thread's wake-up: Event semantics for one waiting thread."""

import threading
import time

from bench.meter.waker import Waker


def test_wait_times_out_without_a_set():
    w = Waker()
    t0 = time.monotonic()
    assert w.wait(0.05) is False
    assert time.monotonic() - t0 >= 0.04 and not w.is_set()


def test_a_set_before_the_wait_is_kept_once():
    w = Waker()
    w.set()
    w.set()  # twice: still one pending wake-up, no error
    assert w.is_set()
    assert w.wait(5.0) is True and not w.is_set()
    assert w.wait(0.01) is False


def test_clear_forgets_a_pending_wake_up():
    w = Waker()
    w.set()
    w.clear()
    assert not w.is_set() and w.wait(0.01) is False
    w.clear()  # nothing pending: nothing happens
    assert w.wait(0.0) is False


def test_another_thread_wakes_the_waiter_at_once():
    w = Waker()
    woke: list[float] = []

    def waiter():
        t0 = time.monotonic()
        assert w.wait(10.0) is True
        woke.append(time.monotonic() - t0)

    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.05)
    w.set()
    th.join(5.0)
    assert woke and woke[0] < 5.0  # woken by set(), long before its timeout
