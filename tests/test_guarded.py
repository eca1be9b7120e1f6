"""Guarded calls into code the harness does not control: one long-lived worker, abandoned when a call hangs."""

import threading
import time

from bench.guarded import call_with_timeout, guarded_call


def test_calls_run_on_one_worker_thread():
    threads = set()
    for _ in range(20):
        done, value, error = call_with_timeout(lambda: threads.add(threading.current_thread()) or 7, 5.0)
        assert (done, value, error) == (True, 7, None)
    assert len(threads) == 1 and next(iter(threads)) is not threading.current_thread()
    assert next(iter(threads)).daemon  # never holds the interpreter's exit


def test_a_hung_call_is_abandoned_and_the_next_runs_at_once():
    release = threading.Event()
    t0 = time.monotonic()
    assert call_with_timeout(release.wait, 0.2) == (False, None, None)
    assert time.monotonic() - t0 < 2.0
    t0 = time.monotonic()
    assert call_with_timeout(lambda: "next", 2.0) == (True, "next", None)  # a new worker: not behind the hung one
    assert time.monotonic() - t0 < 1.0
    release.set()


def test_a_call_does_not_wait_behind_another_callers():
    slow_started, out = threading.Event(), {}

    def slow():
        slow_started.set()
        time.sleep(0.6)
        return "slow"

    th = threading.Thread(target=lambda: out.setdefault("slow", call_with_timeout(slow, 5.0)))
    th.start()
    assert slow_started.wait(5.0)
    t0 = time.monotonic()
    assert call_with_timeout(lambda: "fast", 0.3) == (True, "fast", None)  # the worker is busy: a thread of its own
    assert time.monotonic() - t0 < 0.3
    th.join(5.0)
    assert out["slow"] == (True, "slow", None)


def test_errors_come_back_and_guarded_call_falls_back():
    def boom():
        raise ValueError("broken plugin")

    done, value, error = call_with_timeout(boom, 1.0)
    assert done and value is None and isinstance(error, ValueError)
    done, _, error = call_with_timeout(lambda: (_ for _ in ()).throw(SystemExit(3)), 1.0)
    assert done and isinstance(error, SystemExit)  # even what would end the worker is handed back
    assert call_with_timeout(lambda: 5, 1.0) == (True, 5, None)  # and the worker lives on
    assert guarded_call(boom, []) == [] and guarded_call(lambda: None, {}) == {}
    assert guarded_call(lambda: [1], []) == [1]
