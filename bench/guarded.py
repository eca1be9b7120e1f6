"""Calls into code the harness does not control (vendor libraries, plugin hooks) that must neither break
nor hang the caller: each runs on a daemon thread and is abandoned after its time limit.

The runner asks every sampler's ``health()`` at every window edge, so a call should not cost a thread of its
own: calls run on one long-lived daemon worker. A call that overruns its limit keeps that worker (it is
abandoned with it) and the next call gets a new one; a call made while the worker is busy with another
caller's gets a thread of its own, so no call waits behind another."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

log = logging.getLogger(__name__)


class _Worker:
    """One daemon thread running the calls put to it, in turn."""

    def __init__(self) -> None:
        self.calls: queue.SimpleQueue[tuple[Callable[[], Any], Future]] = queue.SimpleQueue()
        self.busy = False
        threading.Thread(target=self._run, name="bench-guarded", daemon=True).start()

    def _run(self) -> None:
        while True:
            fn, future = self.calls.get()
            try:
                value, error = fn(), None
            except BaseException as exc:  # handed back to the caller
                value, error = None, exc
            self.busy = False  # before the answer: its caller's next call finds the worker free
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)


_lock = threading.Lock()
_worker: _Worker | None = None


def _forget_worker() -> None:  # a forked child has the object but not its thread
    global _worker
    _worker = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_worker)


def _submit(fn: Callable[[], Any]) -> tuple[Future, _Worker | None]:
    """Start ``fn`` on the shared worker, or on a thread of its own when the worker is busy."""
    global _worker
    future: Future = Future()
    with _lock:
        if _worker is None:
            _worker = _Worker()
        worker = _worker
        if worker.busy:
            worker = None
        else:
            worker.busy = True
    if worker is not None:
        worker.calls.put((fn, future))
        return future, worker

    def alone() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=alone, name="bench-guarded", daemon=True).start()
    return future, None


def call_with_timeout(fn: Callable[[], Any], timeout_s: float) -> tuple[bool, Any, BaseException | None]:
    """Run ``fn`` on a daemon thread: (finished in time, its result, the exception it raised).

    A call still running after ``timeout_s`` seconds is abandoned (its thread stays a daemon, and is no longer
    given calls).
    """
    global _worker
    future, worker = _submit(fn)
    try:
        error = future.exception(timeout=timeout_s)  # an interrupt of the caller's wait goes to the caller
    except FutureTimeout:
        if worker is not None:
            with _lock:
                if _worker is worker:
                    _worker = None  # stuck in this call: the next one gets a new worker
        return False, None, None
    return True, (None if error is not None else future.result()), error


def guarded_call(fn: Callable[[], Any], default: Any = None, timeout_s: float = 10.0) -> Any:
    """``fn()``, or ``default`` (``{}`` when None) if it raises or does not return in time.

    Failures and hangs are logged as warnings naming the call.
    """
    fallback = {} if default is None else default
    done, value, error = call_with_timeout(fn, timeout_s)
    name = getattr(fn, "__qualname__", fn)
    if not done:
        log.warning("%s did not return within %.1f s; going on without it", name, timeout_s)
        return fallback
    if error is not None:
        log.warning("%s failed: %s", name, error)
        return fallback
    return fallback if value is None and default is not None else value
