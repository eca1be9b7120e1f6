"""Calls into code the harness does not control (vendor libraries, plugin hooks) that must neither break
nor hang the caller: each runs on a daemon thread and is abandoned after its time limit."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def call_with_timeout(fn: Callable[[], Any], timeout_s: float) -> tuple[bool, Any, BaseException | None]:
    """Run ``fn`` on a daemon thread: (finished in time, its result, the exception it raised).

    A call still running after ``timeout_s`` seconds is abandoned (the thread stays a daemon).
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed back to the caller
            box["error"] = exc

    worker = threading.Thread(target=target, name="bench-guarded", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        return False, None, None
    return True, box.get("result"), box.get("error")


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
