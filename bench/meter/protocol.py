"""What the runner needs of a meter (:class:`WindowMeter`), and the meter of a process that samples nothing."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Protocol

from bench.errors import BenchError
from bench.result.model import Window
from bench.result.trace import TraceWriter


class WindowMeter(Protocol):
    """What the runner needs of a meter: :class:`Meter`, or a :class:`NullMeter` on a process that samples nothing."""

    error: BenchError | None
    writer: TraceWriter | None
    t0_ns: int | None

    def start(self) -> "WindowMeter": ...

    def stop(self) -> None: ...

    def check(self) -> None: ...

    def open_window(self, name: str) -> None: ...

    def close_window(self, name: str) -> Window | None: ...

    def close_window_later(self, name: str) -> "Future[Window | None]": ...

    def stats(self) -> dict[str, Any]: ...


class NullMeter:
    """The meter of a process that samples nothing (in a distributed run, its node's leader does): every
    window is None and nothing fails."""

    error: BenchError | None = None
    writer: TraceWriter | None = None
    t0_ns: int | None = None

    def start(self) -> "NullMeter":
        return self

    def stop(self) -> None:
        return None

    def check(self) -> None:
        return None

    def open_window(self, name: str) -> None:
        return None

    def close_window(self, name: str) -> None:
        return None

    def close_window_later(self, name: str) -> "Future[None]":
        done: Future = Future()
        done.set_result(None)
        return done

    def stats(self) -> dict[str, Any]:
        return {"samples": 0, "polls": 0, "achieved_rate_hz": None, "interval_p50_s": None, "interval_p99_s": None}

