"""Averaged power: the lag of a trailing moving average, undone.

NVML's ``nvmlDeviceGetPowerUsage`` on Ampere and newer (and amdsmi's average socket power) is the mean
power over the last ``W`` seconds (1 s), refreshed every ``D`` (about 100 ms). Integrated as if it were
the present power, a window's energy lags the truth by about ``W / 2``. Two corrections:

- **Inversion** (:class:`AverageInverter`), where the polls see the refreshes: a reading ``P`` refreshed at
  ``r`` is ``(E(r) - E(r - W)) / W`` for the cumulative energy ``E``, so ``E(r) = W * P + E(r - W)``.
  Started from steady power (``E`` linear over the first window), each refresh adds a point of ``E``:
  a *virtual counter* that the edge placement of :mod:`bench.meter.refresh` reads like a real one. An
  error (a refresh placed a little off, one the polls missed and that was interpolated) recurs every
  ``W`` without growing, and shifts energy only within a window's span; a stretch of unchanged readings
  longer than ``W`` restarts the rebuild from steady power, forgetting it.
- **Half-window shift** (:func:`shifted_energy`), otherwise: the integral of ``P(t + L)`` over the window,
  ``L = (W + D) / 2`` the lag of a held reading (:func:`lag_s`), with the last reading held for the final
  ``L`` (exact when power is steady before the close), and a bound of ``W / 4`` times the change of the
  average across each edge.

A load that repeats exactly every ``W`` is invisible to a ``W``-second mean: its share inside a fraction
of a window cannot be recovered by either method (docs/methodology.md).
"""

from __future__ import annotations

import collections
import math

from bench.meter.refresh import EVENTS_KEPT, NARROW, Grid, Staircase, fit_grid, split_block

MODEL_ERROR = 0.06  # of W x the readings' total movement: how far a real average is from an exact boxcar (on an
# H200's recorded nvmlDeviceGetPowerUsage, tests/data/nvml-h200, the inversion erred by up to about half this)
PERIOD_TOLERANCE = 0.03  # a fitted refresh period further than this from the nominal one is not trusted
MARGIN = 0.4  # of a refresh period: a read this long after a predicted refresh shows whether it changed the value


class AverageInverter:
    """Rebuilds the cumulative energy from a trailing ``window_s`` mean refreshed about every ``refresh_s``.

    At a refresh at ``r`` showing ``P``, ``E(r) = W * P + E(r - W)``: the energy ``W`` earlier is known from
    the history (linear between refreshes), so each refresh adds a point of the cumulative energy, a
    *virtual counter* (``virtual``: change events ``(lo_ns, hi_ns, energy_j)`` in the form of
    :class:`~bench.meter.refresh.Staircase` events; ``energy_j``: its value at the last refresh). A refresh
    that left the reading unchanged is accounted for once a read comes safely after its predicted instant;
    refreshes between two reads are interpolated and their possible error summed in ``budget_j``.
    """

    def __init__(self, window_s: float, refresh_s: float) -> None:
        self.window_s = window_s
        self.window_ns = window_s * 1e9
        self.nominal_ns = refresh_s * 1e9
        self.stairs = Staircase()
        self.virtual: collections.deque[tuple[int, int, float]] = collections.deque(maxlen=EVENTS_KEPT)
        keep = int(window_s / refresh_s) * 2 + 8
        self.hist: collections.deque[tuple[float, float]] = collections.deque(maxlen=keep)  # (r_ns, E_j)
        self.energy_j = 0.0
        self.budget_j = 0.0
        self.refreshes = 0
        self.interpolated = 0
        self.period_ns = self.nominal_ns
        self.grid: Grid | None = None
        self.next_ns = math.inf  # a read after this instant shows the next refresh left the reading unchanged
        self.last_r: float | None = None  # the last refresh instant accounted for (ns)
        self.last_change: float | None = None  # when the reading last moved
        self.last_p: float | None = None
        self.movement_w = 0.0  # the readings' total movement so far (W): windows take its difference
        self._fitted_at = 0

    def feed(self, t_ns: int, power_w: float) -> bool:
        """Note a reading; True when it accounted for one or more refreshes (new virtual events)."""
        if self.last_p is None:
            self.stairs.feed(t_ns, power_w)
            self.last_p, self.last_r, self.last_change = power_w, float(t_ns), float(t_ns)
            self._steady(float(t_ns))
            self.virtual.append((t_ns, t_ns, 0.0))
            self.next_ns = t_ns + (1 + MARGIN) * self.period_ns
            return False
        if self.stairs.feed(t_ns, power_w):
            lo, hi, _ = self.stairs.events[-1]
            self._change(lo, hi, power_w)
            return True
        if t_ns < self.next_ns:
            return False
        while t_ns >= self.next_ns:  # refreshes that left the reading as it was
            assert self.last_r is not None
            self._refresh(self.last_p, self.last_r + self.period_ns)
        return True

    @property
    def instant_u_ns(self) -> float:
        """How well the rebuilt points' instants are known (ns): half the typical bracket of a change where the
        reads locate refreshes, else half a refresh period."""
        events = list(self.stairs.events)[-32:]
        if not events or self.stairs.period_ns() is None:
            return self.period_ns / 2
        halves = sorted((hi - lo) / 2 for lo, hi, _ in events)
        return min(halves[len(halves) // 2], self.period_ns / 2)

    def point_error_j(self, t_ns: float) -> float:
        """What placing the rebuilt points near ``t_ns`` a little off their refreshes can do to them (J): a
        point stands for ``W`` of energy ending at its instant, so an instant off by ``u`` moves it by the
        change of power across one averaging window times ``u``."""
        step = self.period_ns
        now = (self._energy_at(t_ns + step / 2) - self._energy_at(t_ns - step / 2)) * 1e9 / step
        before = (self._energy_at(t_ns - self.window_ns + step / 2)
                  - self._energy_at(t_ns - self.window_ns - step / 2)) * 1e9 / step
        return abs(now - before) * self.instant_u_ns / 1e9

    def _steady(self, r_ns: float) -> None:
        """Take power as steady at the last reading over the window before ``r_ns``."""
        assert self.last_p is not None
        self.hist.clear()
        self.hist.append((r_ns - self.window_ns, self.energy_j - self.window_s * self.last_p))
        self.hist.append((r_ns, self.energy_j))
        self.budget_j = 0.0

    def _refit(self) -> None:
        """Update the refresh grid from the readings (every 16 changes)."""
        count = self.stairs.at_poll[-1] if self.stairs.at_poll else 0
        if len(self.stairs.events) < 8 or count - self._fitted_at < 16 * 4 and self._fitted_at:
            return
        self._fitted_at = count
        located = self.stairs.period_ns() is not None  # the reads are fast enough to locate refreshes
        grid = fit_grid(list(self.stairs.events)[-64:], self.period_ns) if located else None
        if grid is not None and abs(grid.period_ns / self.nominal_ns - 1) < PERIOD_TOLERANCE:
            self.grid, self.period_ns = grid, grid.period_ns

    def _change(self, lo: int, hi: int, power_w: float) -> None:
        self._refit()
        period = self.period_ns
        assert self.last_r is not None and self.last_p is not None and self.last_change is not None
        if lo - self.last_change > self.window_ns + 2 * period:  # unchanged for over a window: steady power
            self._steady(self.last_r)
        self.movement_w += abs(power_w - self.last_p)
        r = self.grid.instant(lo, hi)[0] if self.grid is not None else (lo + hi) / 2
        r = max(r, self.last_r + period / 4)
        unseen = round((hi - lo) / period) if hi - lo > NARROW * period else 0
        if unseen > 1:  # several refreshes between two reads: the change spread over them
            old = self.last_p
            for i in range(1, unseen):
                t = r - (unseen - i) * period
                if t > self.last_r:
                    self._refresh(old + (power_w - old) * i / unseen, t)
            self.interpolated += unseen - 1
            self.budget_j += self.window_s * abs(power_w - old) / 2
        self._refresh(power_w, r)
        self.last_change = r

    def _refresh(self, power_w: float, r_ns: float) -> None:
        """Account for a refresh at ``r_ns`` showing ``power_w``: the virtual counter's next point."""
        self.energy_j = self.window_s * power_w + self._energy_at(r_ns - self.window_ns)
        self.hist.append((r_ns, self.energy_j))
        self.virtual.append((int(r_ns), int(r_ns), self.energy_j))
        self.refreshes += 1
        self.last_p, self.last_r = power_w, r_ns
        self.next_ns = r_ns + (1 + MARGIN) * self.period_ns

    def _energy_at(self, t_ns: float) -> float:
        """The rebuilt cumulative energy at ``t_ns``: between two of its points, split as the powers around
        them say (:func:`~bench.meter.refresh.split_block`: a step between two points lands where it was);
        linear beyond the first two."""
        hist = self.hist
        n = len(hist)
        i = 0
        while i < n - 2 and hist[i + 1][0] < t_ns:
            i += 1
        (r0, e0), (r1, e1) = hist[i], hist[i + 1]
        span = r1 - r0
        if span <= 0:
            return e0
        f = (t_ns - r0) / span
        if not 0.0 < f < 1.0:
            return e0 + (e1 - e0) * f
        p_blk = (e1 - e0) / span
        p_prev = (e0 - hist[i - 1][1]) / (r0 - hist[i - 1][0]) if i > 0 and r0 > hist[i - 1][0] else None
        p_next = (hist[i + 2][1] - e1) / (hist[i + 2][0] - r1) if i + 2 < n and hist[i + 2][0] > r1 else None
        return e0 + (e1 - e0) * split_block(p_prev, p_blk, p_next, f)


def lag_s(window_s: float, refresh_s: float) -> float:
    """How far a reading of a ``window_s`` trailing mean, refreshed every ``refresh_s`` and held in between,
    lags the power it stands for, on average: half its window, plus half a refresh period."""
    return (window_s + refresh_s) / 2


def shifted_energy(integ_j: float, head_j: float, span_s: float, shift_s: float, last_p: float) -> float:
    """The integral of the readings shifted back by their lag ``shift_s`` over a window of ``span_s`` (J): the
    plain integral ``integ_j`` less its first ``shift_s`` (``head_j``), plus the last reading held for that
    long."""
    h = min(shift_s, span_s)
    return integ_j - head_j + last_p * h


def shift_bound(window_s: float, refresh_s: float, change_open_w: float, change_close_w: float,
                change_across_w: float) -> float:
    """Bound (J) of the half-window shift: ``W / 4`` times the change of the average over the window after the
    opening edge and over the window before the closing one (a step at an edge errs by ``W / 8`` of it),
    plus half a refresh period times its change across the window (held readings are up to a refresh old)."""
    return window_s / 4 * (abs(change_open_w) + abs(change_close_w)) + refresh_s / 2 * abs(change_across_w)
