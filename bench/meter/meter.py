"""The meter: one background thread polls the samplers, streams the trace, and measures windows.

Every read happens on the meter's thread (edge reads too: the runner asks and waits, with a time
limit, so a hung vendor library cannot hang the run). Windows are measured as the samples arrive,
in constant memory per window: energy from counter deltas where the channel has a counter (wraps
unwrapped with the counter's modulus, resets detected), else trapezoidal integration of power, with the
lag of averaged power corrected (:mod:`bench.meter.lag`).
An edge read at each window boundary makes the edges exact rather than interpolated; where a counter
refreshes more slowly than the meter reads, each edge is then placed on the counter's located refreshes
(:mod:`bench.meter.refresh`), which needs the next two refreshes: closing such a window waits for them
(a few refresh periods at most) and the window carries the bound of what remains.
Reads are stratified by default (one at a random instant of each period, :mod:`bench.meter.schedule`).
A read between edges only keeps its reading (the thread wakes at every poll, and after a sleep every line of
Python it runs is slow): the readings are fed to the trace and the windows in batches, before each flush of the
trace, before every edge read and every ``DRAIN_READINGS`` readings, in the order they were taken, so a window
sees exactly what it would have seen reading by reading. Where something waits on the next readings (a burst
after an edge, a window whose closing edges are not yet placed) each one is fed as it comes.
Gaps (an interval over ``gap_factor`` x the nominal one), resets, invalid readings and windows
shorter than the sensor's update period are reported on the window.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from bench.clock import Clock, MonotonicClock
from bench.errors import BenchError, SamplerError, SamplerTimeout, StorageError
from bench.meter.assemble import Burst, Closing, assemble, open_accs, settle_ns
from bench.meter.schedule import PollSchedule
from bench.meter.waker import Waker
from bench.meter.windows import (
    EDGE_RETRIES,
    MAX_COUNTER_J,
    MAX_POWER_W,
    ChannelState,
    CheckFigure,
    WindowAcc,
    checks_window,
)
from bench.result.model import Window
from bench.result.trace import TraceWriter
from bench.samplers.base import Reading, Sampler, finite_or_none

log = logging.getLogger(__name__)

MAX_RATE_HZ = 10000.0  # the fastest polling rate the meter accepts
DRAIN_READINGS = 128  # readings kept before they are fed (at 1 kHz: a batch every 128 ms)


def check_rate(rate_hz: float) -> float:
    """``rate_hz`` as a float if the meter can poll at it; ``ValueError`` otherwise."""
    rate = float(rate_hz)
    if not 0 < rate <= MAX_RATE_HZ:
        raise ValueError(f"rate must be in (0, {MAX_RATE_HZ:g}] Hz, got {rate_hz}")
    return rate


class Meter:
    """Polls ``samplers`` at ``rate_hz`` and measures named windows.

    ``folder``: where the trace stream goes (None: no trace). ``threaded=False`` drives the meter by
    hand (:meth:`run_for`), for simulated clocks. ``read_timeout_s``: a read that has not returned
    by then fails the meter with :class:`SamplerTimeout`. ``polling``: ``stratified`` (default) or
    ``regular`` read times; ``seed`` seeds the stratified ones (None: the default seed; recorded in the
    trace's metadata either way).
    """

    def __init__(
        self,
        samplers: list[Sampler],
        *,
        rate_hz: float = 10.0,
        folder: Path | None = None,
        clock: Clock | None = None,
        threaded: bool = True,
        gap_factor: float = 3.0,
        read_timeout_s: float = 5.0,
        flush_s: float = 1.0,
        metadata: dict[str, Any] | None = None,
        polling: str = "stratified",
        seed: int | None = None,
    ) -> None:
        if not samplers:
            raise ValueError("a meter needs at least one sampler")
        self.rate_hz = check_rate(rate_hz)
        self.channels = [ChannelState(s) for s in samplers]
        # every state the windows keep accounts for: the channels and their check figures
        self._states = self.channels + [c.check for c in self.channels if c.check is not None]
        self.period_ns = int(round(1e9 / rate_hz))
        self.schedule = PollSchedule(self.period_ns, polling, seed)
        self.gap_ns = int(gap_factor * self.period_ns)
        self.gap_factor = gap_factor
        self.clock = clock or MonotonicClock()
        self.threaded = threaded
        self.read_timeout_s = read_timeout_s
        self.flush_ns = int(flush_s * 1e9)
        meta = {"channels": {c.name: {"sampler": c.sampler.name, **c.caps.to_dict()} for c in self.channels},
                "polling": self.schedule.record()}
        meta.update(metadata or {})
        self.writer = TraceWriter(Path(folder), meta) if folder is not None else None
        self.error: BenchError | None = None
        self.windows: list[Window] = []
        self.samples = 0
        self.t0_ns: int | None = None
        self._open: dict[str, dict[str, WindowAcc]] = {}
        self._closing: list[Closing] = []
        self._burst: Burst | None = None
        self._bursting = False  # the read under way is a burst's, not the schedule's
        self._pending: list[tuple[ChannelState, Reading]] = []  # read, not yet fed (in the order read)
        self._requests: collections.deque[tuple[Future, Callable[[], Any]]] = collections.deque()
        self._wake = Waker()  # the thread's sleep: one raw lock, cheaper per wake-up than an Event
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read_started: int | None = None
        self._last_poll: int | None = None
        self._last_flush = 0
        self._intervals: list[float] = []
        self._interval_count = 0
        self._rng = random.Random(0)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "Meter":
        self.t0_ns = self.clock.now_ns()
        self._last_flush = self.t0_ns
        self._poll()
        self.schedule.start(self.clock.now_ns())
        if self.threaded:
            self._thread = threading.Thread(target=self._loop, name="bench-meter", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling and close the trace stream (idempotent). Samplers are not closed here."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.read_timeout_s + 1.0)
            if self._thread.is_alive():
                log.warning("meter thread did not stop (a sampler read is hanging); abandoning it")
            self._thread = None
        self._drain()  # what was read before the end (or before the read that hangs) reaches the trace
        if self.writer is not None:
            try:
                self.writer.close()
            except OSError as exc:
                self.error = self.error or StorageError(f"cannot close the trace ({exc.strerror or exc})")

    def __enter__(self) -> "Meter":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the sampling thread -----------------------------------------------------------------

    def _loop(self) -> None:
        clock, wake, stop = self.clock, self._wake, self._stop
        while not stop.is_set():
            if self._requests:
                self._serve()
            if clock.now_ns() >= self._next_read_ns():
                self._scheduled_read()
            wait_ns = self._next_read_ns() - clock.now_ns()
            if wait_ns > 0:
                wake.wait(wait_ns / 1e9)  # a wake-up it returns True for is consumed: nothing to clear
        while self._requests:
            self._serve()
        self._drain()
        self._settle_closes(force=True)

    def _serve(self) -> None:
        self._drain()
        if self.error is None:
            self._poll(edge=True)
        while self._requests:
            future, fn = self._requests.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                out = fn()
            except BaseException as exc:  # handed back to the caller's thread
                future.set_exception(exc)
                continue
            if isinstance(out, Closing):
                out.future = future  # answered once its edges are placed
                if self.clock.simulated:  # nothing else moves a simulated clock while the caller waits
                    while not self._settle_closes(until=out):
                        self._sleep_to_next()
            else:
                future.set_result(out)
                if self.clock.simulated:
                    while self._burst is not None:  # the burst after an opening edge, likewise
                        self._sleep_to_next()
        if self._closing:
            self._settle_closes()

    def _poll(self, edge: bool = False) -> None:
        """Read every channel once and feed the trace and the open windows. At a window's edge (``edge``), a
        read much slower than the channel's usual (the thread held up inside it, so its instant is unsure by
        half its span) is taken again, up to ``EDGE_RETRIES`` times: the edge is then the last, prompt read."""
        if self.error is not None:
            return
        # fed at once where something waits on this read: an edge, a burst, a window being closed
        at_once = edge or self._burst is not None or bool(self._closing)
        if at_once:
            self._drain()
        pending = self._pending
        for ch in self.channels:
            for attempt in range(EDGE_RETRIES + 1 if edge else 1):
                before = self.clock.now_ns()
                self._read_started = before
                try:
                    reading = ch.sampler.read()
                except SamplerError as exc:
                    self._fail(exc, ch)
                    return
                except Exception as exc:  # a plugin broke the contract: still one error tree
                    self._fail(SamplerError(f"{type(exc).__name__}: {exc}"), ch)
                    return
                finally:
                    self._read_started = None
                after = self.clock.now_ns()
                if not reading.t_ns:
                    reading.t_ns = (before + after) // 2
                self.samples += 1
                if at_once:
                    self._feed(ch, reading)
                else:
                    pending.append((ch, reading))
                slow = edge and ch.slow_read(after - before)  # judged at edges only: no sort at every poll
                ch.read_ns.append(after - before)
                if not slow:
                    break
        now = self.clock.now_ns()
        if self._last_poll is not None:
            self._note_interval((now - self._last_poll) / 1e9)
        self._last_poll = now
        flush = self.writer is not None and now - self._last_flush >= self.flush_ns
        if flush or len(pending) >= DRAIN_READINGS:
            self._drain()
        if flush:
            self._last_flush = now
            try:
                self.writer.flush()
            except OSError as exc:  # disk full, folder gone: stop, keeping what is on disk
                self.error = self.error or StorageError(
                    f"cannot write the trace ({exc.strerror or exc}); {self.writer.rows} samples are on disk")
                log.error("%s", self.error)

    def _drain(self) -> None:
        """Feed the readings kept since the last drain, in the order they were read."""
        if self._pending:
            pending, self._pending = self._pending, []
            feed = self._feed
            for ch, reading in pending:
                feed(ch, reading)

    def _fail(self, exc: SamplerError, ch: ChannelState) -> None:
        if self.error is None:
            self.error = type(exc)(f"sampler {ch.sampler.name} ({ch.name}): {exc}")
            log.error("%s", self.error)

    def _feed(self, ch: ChannelState, r: Reading) -> None:
        power, raw = r.power_w, r.energy_j
        if power is not None:
            power = finite_or_none(power)
            if power is None or not 0 <= power <= MAX_POWER_W:
                power = None
                ch.invalid += 1
        if raw is not None:
            raw = finite_or_none(raw)
            if raw is None or not 0 <= raw <= MAX_COUNTER_J:
                raw = None
                ch.invalid += 1
        r.power_w, r.energy_j = power, raw
        if r.temperature_c is not None or r.clock_mhz is not None or r.power_limit_w is not None \
                or r.utilization is not None:
            r.temperature_c, r.clock_mhz = finite_or_none(r.temperature_c), finite_or_none(r.clock_mhz)
            r.power_limit_w, r.utilization = finite_or_none(r.power_limit_w), finite_or_none(r.utilization)
        counter, reset = ch.unwrap(raw)
        if self.writer is not None:
            self.writer.append(ch.name, r)
        t = r.t_ns
        if counter is not None and ch.stairs is not None and ch.stairs.feed(t, counter, self._bursting) \
                and ch.pending:
            ch.settle()
        inverter = ch.inverter
        if power is not None and inverter is not None and inverter.feed(t, power) and ch.pending:
            ch.settle()
        for accs in self._open.values():
            acc = accs[ch.name]
            acc.feed(t, counter, reset, power, self.gap_ns)
            if inverter is not None:
                acc.vlast = inverter.energy_j
        ch.last_t = t
        if power is not None:
            ch.last_p, ch.last_p_t = power, r.t_ns
        if ch.check is not None and r.check_power_w is not None:
            self._feed_check(ch.check, t, r.check_power_w)

    def _feed_check(self, check: ChannelState, t: int, power: float) -> None:
        """A channel's averaged check figure into its inverter and the open windows (a reading outside what a
        device draws is dropped: the check figure never spoils a window)."""
        if not 0 <= power <= MAX_POWER_W:  # (NaN fails the comparison too)
            return
        inverter = check.inverter
        assert inverter is not None
        if inverter.feed(t, power) and check.pending:
            check.settle()
        for accs in self._open.values():
            acc = accs[check.name]
            acc.feed(t, None, False, power, self.gap_ns)
            acc.vlast = inverter.energy_j
        check.last_t = t
        check.last_p, check.last_p_t = power, t

    def _note_interval(self, seconds: float) -> None:
        self._interval_count += 1
        if len(self._intervals) < 50000:
            self._intervals.append(seconds)
        else:  # reservoir sample: bounded memory over any run length
            j = self._rng.randrange(self._interval_count)
            if j < len(self._intervals):
                self._intervals[j] = seconds

    # --- windows -----------------------------------------------------------------------------

    def _open_window(self, name: str) -> None:
        if name in self._open:
            raise ValueError(f"window {name!r} is already open")
        accs = open_accs(self._states, self.clock.now_ns())
        for ch in self._states:
            ch.add_edges(accs[ch.name], False, accs[ch.name].t_start)
        self._open[name] = accs
        self._start_burst()

    def _begin_close(self, name: str) -> Closing:
        """Take window ``name`` out of the open ones after its closing edge read and queue its edges; it is
        finished (:meth:`_settle_closes`) once the refreshes that place them are in, or at its deadline."""
        if name not in self._open:
            raise ValueError(f"window {name!r} is not open")
        accs = self._open.pop(name)
        wait_ns, now = 0, self.clock.now_ns()
        for ch in self._states:
            acc = accs[ch.name]
            if isinstance(ch.sampler, CheckFigure) and not checks_window(ch, (now - acc.t_start) / 1e9):
                ch.drop(acc)  # too short a window for the check: its figure is not wanted, nor waited for
                continue
            if ch.inverter is not None:
                acc.vmove_end = ch.inverter.movement_w
            ch.add_edges(acc, True, acc.last_t if acc.last_t is not None else acc.t_start)
            wait_ns = max(wait_ns, settle_ns(ch, self.period_ns, self.read_timeout_s))
        self._start_burst()
        if self._burst is not None:
            wait_ns = max(wait_ns, self._burst.until_ns - self.clock.now_ns())
        closing = Closing(name, accs, self.clock.now_ns() + wait_ns)
        self._closing.append(closing)
        return closing

    def _settle_closes(self, force: bool = False, until: Closing | None = None) -> bool:
        """Finish every closing window whose edges are placed (or whose deadline passed); True when ``until``
        is finished."""
        now = self.clock.now_ns()
        done = []
        for closing in self._closing:
            late = force or now >= closing.deadline_ns or self.error is not None
            ready = True
            for ch in self._states:
                acc = closing.accs[ch.name]
                # an edge is placed as soon as the refreshes it needs are in (each new one settles the channel):
                # here only a late one is placed by force
                if acc.waiting:
                    if late:
                        ch.settle(force=True, only=acc)
                    ready = ready and not acc.waiting
            if ready:
                done.append(closing)
        for closing in done:
            self._closing.remove(closing)
            closing.window = self._finish(closing)
            if closing.future is not None and not closing.future.done():
                closing.future.set_result(closing.window)
        return until is not None and until.window is not None

    def _finish(self, closing: Closing) -> Window:
        """Turn a closed window's accumulators into the window's figures and issues."""
        window = assemble(closing.name, closing.accs, self.channels, self.gap_ns, self.error, self.clock.now_ns())
        self.windows.append(window)
        return window

    def _request(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the meter's thread right after an edge read, and wait (up to the read timeout) for it
        (a close: until its edges are placed)."""
        if not self.threaded or self._thread is None:
            self._poll(edge=True)
            out = fn()
            if isinstance(out, Closing):
                while not self._settle_closes(until=out):  # unthreaded: keep reading until it is placed
                    self._sleep_to_next()
                return out.window
            while self._burst is not None:  # unthreaded: the burst after an opening edge
                self._sleep_to_next()
            return out
        future: Future = Future()
        self._requests.append((future, fn))
        self._wake.set()
        try:
            return future.result(timeout=self.read_timeout_s)
        except FutureTimeout:
            future.cancel()
            self.error = self.error or SamplerTimeout(
                f"meter did not answer within {self.read_timeout_s:g} s (a sampler read is hanging)")
            raise self.error from None

    def open_window(self, name: str) -> None:
        """Start window ``name`` with an edge read (call after synchronising the device)."""
        self._request(lambda: self._open_window(name))

    def close_window(self, name: str) -> Window:
        """End window ``name`` with an edge read and return its measurement (once its edges are placed)."""
        return self._request(lambda: self._begin_close(name))

    def close_window_later(self, name: str) -> "Future[Window]":
        """End window ``name`` with an edge read and return as soon as that read is taken: the window comes in
        the returned future once its edges are placed (where a counter refreshes more slowly than the meter
        reads, a few refreshes later; at the latest by the close's deadline, or when the meter stops). Waits
        for nothing else, so a caller measuring short windows back to back is not held up by the placement.
        Unthreaded, or on a simulated clock (which only a close moves while the caller waits), the window is
        placed before this returns."""
        done: Future = Future()
        if not self.threaded or self._thread is None or self.clock.simulated:
            done.set_result(self.close_window(name))
            return done

        def begin() -> None:
            self._begin_close(name).future = done  # answered by _settle_closes once placed
            return None  # the request itself is answered now: the edge is taken

        self._request(begin)
        return done

    # --- queries -----------------------------------------------------------------------------

    def check(self) -> None:
        """Raise the meter's sampler error, or :class:`SamplerTimeout` if a read hangs past the limit."""
        started = self._read_started
        if self.error is None and started is not None:
            if self.clock.now_ns() - started > self.read_timeout_s * 1e9:
                self.error = SamplerTimeout(f"a sampler read hung: no answer for over {self.read_timeout_s:g} s")
        if self.error is not None:
            raise self.error

    def run_for(self, seconds: float) -> None:
        """Unthreaded mode: poll on the meter's schedule for ``seconds`` of the meter's clock (ending on a
        read at the end)."""
        end = self.clock.now_ns() + int(seconds * 1e9)
        while self.clock.now_ns() < end and self.error is None:
            if self._next_read_ns() >= end:  # the last read at the end; the schedule's next one stands
                self.clock.sleep((end - self.clock.now_ns()) / 1e9)
                self._poll()
                break
            self._sleep_to_next()
        self._drain()  # whoever drives the meter by hand sees every reading fed

    def _sleep_to_next(self) -> None:
        """Unthreaded mode: let the clock run to the next read (scheduled or of a burst) and take it."""
        wait = self._next_read_ns() - self.clock.now_ns()
        if wait > 0:
            self.clock.sleep(wait / 1e9)
        self._scheduled_read()

    def _next_read_ns(self) -> int:
        burst = self._burst
        return self.schedule.next_ns if burst is None else min(self.schedule.next_ns, burst.next_ns)

    def _scheduled_read(self) -> None:
        """The read that is due: the schedule's (moving it on) or a burst's. After a failure the schedule is
        kept (no busy loop) but nothing is read."""
        now = self.clock.now_ns()
        regular = now >= self.schedule.next_ns
        if self.error is None:
            self._bursting = not regular
            try:
                self._poll()
            finally:
                self._bursting = False
            if self._closing:
                self._settle_closes()
        if regular:
            self.schedule.advance(self.clock.now_ns())
        burst = self._burst
        if burst is not None:
            self._burst = None if self._burst_done(burst) else burst
            burst.next_ns = self.clock.now_ns() + burst.spacing_ns

    def _start_burst(self) -> None:
        """After an edge read: read quickly for a moment where a counter is read no faster than it refreshes."""
        if self.error is None:
            self._burst = Burst.after_edge(self.channels, self.clock.now_ns(), self.read_timeout_s) or self._burst

    def _burst_done(self, burst: Burst) -> bool:
        return burst.done(self.channels, self.clock.now_ns())

    def stats(self) -> dict[str, Any]:
        """Samples taken, polls, the achieved rate (Hz), the median and p99 poll interval (s), and how the reads
        were timed (``polling``, ``polling_seed``)."""
        import numpy as np

        span = ((self._last_poll or 0) - (self.t0_ns or 0)) / 1e9
        p50 = p99 = None
        if self._intervals:
            p50, p99 = (float(v) for v in np.percentile(self._intervals, [50, 99]))
        return {
            "samples": self.samples,
            "polls": self._interval_count + (1 if self._last_poll is not None else 0),
            "achieved_rate_hz": (self._interval_count / span) if span > 0 else None,
            "interval_p50_s": p50,
            "interval_p99_s": p99,
            "polling": self.schedule.mode,
            "polling_seed": self.schedule.seed,
        }
