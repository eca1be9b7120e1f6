"""Coarse sensors: where a staircase figure refreshed, and the energy between that refresh and a window edge.

A hardware energy counter does not count continuously: NVML's advances every 10-100 ms, RAPL's about every
millisecond. Read at a window edge, it gives the energy up to its last refresh, up to one refresh period
old. When the meter polls faster than the counter refreshes, the polls bracket each refresh (the value
changed between two polls): :class:`Staircase` keeps those change events, :func:`fit_grid` locates the
refresh grid (period and phase) from them to well under a poll interval, and :func:`edge_energy` estimates
the energy between the last refresh before an edge and the edge itself from the counter's own increments
around it. The same machinery serves averaged power once it is turned into a virtual counter
(:mod:`bench.meter.lag`).

Times are monotonic ns (floats where fitted); energies J; powers W.
"""

from __future__ import annotations

import collections
import functools
import math
from dataclasses import dataclass

EVENTS_KEPT = 192  # change events kept per figure: >= 1.9 s of a 10 ms counter, 19 s of a 100 ms one
NARROW = 0.75  # a change bracketed by polls closer than this fraction of the period locates a refresh
MIN_EVENTS = 8  # events needed before a grid is fitted
MAX_CHANGE_FRACTION = 0.92  # where nearly every read sees a new value, the reads cannot locate refreshes
FIT_SPAN = 48  # events either side of an edge used to fit the grid there (the grid drifts slowly)
POWER_MARGIN = 0.25  # how far the power just before an edge may differ from its mean over the span before
LOCAL_PERIODS = 12  # the brackets within this many refreshes of an edge fix the grid's phase there
CONTRADICTED = 1.25  # a period this much longer than two changes were seen apart is not the figure's


class Staircase:
    """Change events of one stepwise figure as the polls see it: ``(lo_ns, hi_ns, value)`` means the value
    became ``value`` at a refresh after the poll at ``lo_ns`` and no later than the poll at ``hi_ns``.

    :meth:`feed` is on the meter's per-sample path: a comparison, and a tuple only when the value changed.
    """

    __slots__ = ("events", "at_poll", "last_t", "last_v", "polls", "first_t", "changes", "_period")

    def __init__(self, maxlen: int = EVENTS_KEPT) -> None:
        self.events: collections.deque[tuple[int, int, float]] = collections.deque(maxlen=maxlen)
        # the count of scheduled reads at each event; -1 for a change a burst of reads saw
        self.at_poll: collections.deque[int] = collections.deque(maxlen=maxlen)
        self.last_t: int | None = None
        self.last_v: float | None = None
        self.polls = 0
        self.changes = 0
        self.first_t: int | None = None
        self._period: tuple[int, int, float | None] | None = None  # (changes, recent, period_ns) last found

    def feed(self, t_ns: int, value: float, burst: bool = False) -> bool:
        """Note a read (``burst``: an extra one after an edge, not on the schedule); True when the value
        changed since the previous read (a refresh happened)."""
        changed = self.last_v is not None and value != self.last_v
        if changed:
            self.events.append((self.last_t, t_ns, value))  # type: ignore[arg-type]
            self.at_poll.append(-1 if burst else self.polls)
            self.changes += 1
        elif self.last_v is None:
            self.first_t = t_ns
        self.last_t, self.last_v = t_ns, value
        if not burst:
            self.polls += 1
        return changed

    def reset(self) -> None:
        """Forget the history (after a counter reset: old and new values do not connect)."""
        self.events.clear()
        self.at_poll.clear()
        self.last_t = self.last_v = self.first_t = None
        self._period = None

    def period_ns(self, recent: int = 64) -> float | None:
        """The refresh period the recent changes show, or None where the reads cannot locate refreshes: too
        few changes, or nearly every read saw a new value (the figure refreshes as fast as it is read).
        Found again only after a new change (every close and every edge asks; the events are unchanged between)."""
        cached = self._period
        if cached is not None and cached[0] == self.changes and cached[1] == recent:
            return cached[2]
        period = self._find_period(recent)
        self._period = (self.changes, recent, period)
        return period

    def _find_period(self, recent: int) -> float | None:
        picked = [(e, k) for e, k in zip(reversed(self.events), reversed(self.at_poll)) if k >= 0][:recent]
        n = len(picked)
        if n < MIN_EVENTS:
            return None
        polls = picked[0][1] - picked[-1][1]  # scheduled reads only: a burst is no evidence of the rate
        if polls <= 0 or (n - 1) / polls > MAX_CHANGE_FRACTION:
            return None
        period = refresh_period_ns([e for e, _ in reversed(picked)])
        if period is not None and period > CONTRADICTED * self.longest_period_ns(recent):
            # reads that a held-up thread bunched together see no change between them, so the scheduled reads
            # seem not to change every time and their spacing passes for the period; two changes seen closer
            # together (a burst's) say the figure refreshes faster than those reads can locate
            return None
        return period

    def longest_period_ns(self, recent: int = 64) -> float:
        """The longest refresh period the recent changes allow: consecutive changes ``(lo0, hi0)`` and
        ``(lo1, hi1)`` are two refreshes within ``hi1 - lo0``. The second-closest pair counts, so that one
        refresh that came late is not taken for the period."""
        events = list(self.events)[-recent:]
        spans = sorted(b[1] - a[0] for a, b in zip(events, events[1:]))
        return float(spans[1]) if len(spans) >= 2 else math.inf


@dataclass(frozen=True)
class Grid:
    """Refresh instants ``phase_ns + k * period_ns``; each located to within ``u_ns``. A grid of period 0
    (:func:`exact`) takes each bracket's midpoint as its instant, to within ``u_ns``."""

    period_ns: float
    phase_ns: float
    u_ns: float

    def instant(self, lo_ns: float, hi_ns: float, quiet_until_ns: float | None = None) -> tuple[float, float]:
        """The instant of the refresh that produced the value a read at ``hi_ns`` saw first, the previous
        read (at ``lo_ns``) having seen the one before: the grid's last refresh in the bracket; and its
        uncertainty (ns). ``quiet_until_ns``: the reads after ``hi_ns`` saw that value until then (the next
        change's bracket starts there), so no refresh fell between."""
        mid = (lo_ns + hi_ns) / 2
        half = (hi_ns - lo_ns) / 2
        if self.period_ns <= 0:
            return mid, self.u_ns
        # the grid's last refresh up to the read, or the next one where the grid puts it just after the read:
        # whichever lies nearer the bracket, if within the grid's uncertainty
        before = self.phase_ns + math.floor((hi_ns - self.phase_ns) / self.period_ns) * self.period_ns
        after = before + self.period_ns
        miss_before, miss_after = max(lo_ns - before, 0.0), after - hi_ns
        if quiet_until_ns is not None and after < quiet_until_ns and miss_after <= self.u_ns:
            # the grid's next refresh falls where the reads saw no change: within its uncertainty it was the
            # one that produced the value at ``hi_ns`` (a bracket wider than the period holds both)
            return min(max(after, lo_ns), hi_ns), min(self.u_ns, half)
        r, miss = (before, miss_before) if miss_before <= miss_after else (after, miss_after)
        if miss <= self.u_ns:
            return min(max(r, lo_ns), hi_ns), min(self.u_ns, half)
        return mid, half  # the grid disagrees with this bracket (a late refresh): trust the reads


def refresh_period_ns(events: list[tuple[int, int, float]]) -> float | None:
    """The refresh period (ns) that consecutive changes in ``events`` show (None with too few of them, or too
    few narrowly bracketed). Changes can be several refreshes apart, so the spacings are counted in periods:
    a low quantile of them starts the count, and the total spacing over the total count refines it.
    Whether the reads can locate refreshes at all is :meth:`Staircase.period_ns`'s question."""
    if len(events) < MIN_EVENTS:
        return None
    spacings = sorted((b[1] + b[0] - a[1] - a[0]) / 2 for a, b in zip(events, events[1:])
                      if b[1] - b[0] <= b[1] + b[0] - a[1] - a[0])  # both ends narrower than their spacing
    if len(spacings) < MIN_EVENTS // 2 or spacings[len(spacings) // 4] <= 0:
        return None
    period = spacings[len(spacings) // 4]
    for _ in range(3):
        counts = [max(1, round(s / period)) for s in spacings]
        period = sum(spacings) / sum(counts)
    narrow = sum(1 for lo, hi, _ in events if hi - lo <= NARROW * period)
    return period if narrow >= MIN_EVENTS // 2 else None


def _weight(lo: float, hi: float) -> float:
    """Weight of a bracket's midpoint: uniform within the bracket, plus (10 us)^2 of read jitter."""
    return 1.0 / ((hi - lo) ** 2 / 12 + 1e8)


def _indices(pts: list[tuple[int, int]], period: float) -> list[int]:
    """The refresh index of each bracket, counting refreshes between consecutive ones at ``period``."""
    ks = [0]
    for (lo0, hi0), (lo1, hi1) in zip(pts, pts[1:]):
        ks.append(ks[-1] + max(1, round((lo1 + hi1 - lo0 - hi0) / 2 / period)))
    return ks


def _pooled_period(pts: list[tuple[int, int]], period: float) -> float:
    """The period from runs of close changes only (each run its own offset): counting refreshes across a
    long gap needs a period better than the spacing's median gives."""
    ks = _indices(pts, period)
    runs: list[list[int]] = [[0]]
    for i in range(1, len(pts)):
        (runs[-1] if ks[i] - ks[i - 1] <= 4 else runs.append([]) or runs[-1]).append(i)
    sxy = sxx = 0.0
    for run in runs:
        if len(run) < 2:
            continue
        ws = [_weight(*pts[i]) for i in run]
        sw = sum(ws)
        kbar = sum(w * ks[i] for w, i in zip(ws, run)) / sw
        mbar = sum(w * (pts[i][0] + pts[i][1]) / 2 for w, i in zip(ws, run)) / sw
        for w, i in zip(ws, run):
            dk = ks[i] - kbar
            sxy += w * dk * ((pts[i][0] + pts[i][1]) / 2 - mbar)
            sxx += w * dk * dk
    return sxy / sxx if sxx > 0 and sxy > 0 else period


@functools.lru_cache(maxsize=16)
def _fit(events: tuple[tuple[int, int, float], ...], period: float) \
        -> tuple[list[tuple[int, int]], list[int], float, float, float, float] | None:
    """The least-squares grid through the narrow brackets of ``events`` from a first ``period``: (brackets,
    their refresh counts, period, phase, the period's standard error, the mean square residual). Kept for the
    last few event sets: the edges placed at one refresh all fit the same events."""
    pts = [(lo, hi) for lo, hi, _ in events if hi - lo <= NARROW * period]
    if len(pts) < MIN_EVENTS // 2:
        return None
    period = _pooled_period(pts, period)
    ks = _indices(pts, period)
    ref = (pts[0][0] + pts[0][1]) / 2
    sw = sk = sm = skk = skm = 0.0
    for k, (lo, hi) in zip(ks, pts):
        w = _weight(lo, hi)
        m = (lo + hi) / 2 - ref
        sw += w
        sk += w * k
        sm += w * m
        skk += w * k * k
        skm += w * k * m
    det = sw * skk - sk * sk
    if det <= 0 or ks[-1] < 2:
        return None
    period = (sw * skm - sk * sm) / det
    phase = ref + (sm - period * sk) / sw
    resid = [((lo + hi) / 2 - phase - k * period, _weight(lo, hi)) for k, (lo, hi) in zip(ks, pts)]
    chi2 = sum(w * r * r for r, w in resid)
    sigma_period = math.sqrt(chi2 / max(len(pts) - 2, 1) * sw / det)  # the fitted slope's standard error
    var = chi2 / sw  # the weighted mean square residual
    return pts, ks, period, phase, sigma_period, var


def fit_grid(events: list[tuple[int, int, float]], period_ns: float | None = None,
             at_ns: float | None = None) -> Grid | None:
    """The refresh grid that the change brackets ``events`` (time-ordered) imply near ``at_ns`` (default: their
    end), or None where they cannot locate it. The period (``period_ns``, else the spacing of the changes)
    is refined from runs of close changes, then by a weighted least-squares fit of all bracket midpoints
    on their refresh count; the phase is the intersection of the brackets nearest ``at_ns``, widened by
    what the period's own uncertainty moves them, or the fit where jitter leaves no common phase."""
    period = period_ns or refresh_period_ns(events)
    if period is None:
        return None
    fitted = _fit(tuple(events), period)
    if fitted is None:
        return None
    pts, ks, period, phase, sigma_period, var = fitted
    at = at_ns if at_ns is not None else pts[-1][1]
    centre = min(range(len(pts)), key=lambda i: abs((pts[i][0] + pts[i][1]) / 2 - at))
    near = [i for i in range(len(pts)) if abs(ks[i] - ks[centre]) <= LOCAL_PERIODS]
    lo_ph, hi_ph = -math.inf, math.inf
    for i in near:
        shift = (ks[i] - ks[centre]) * period
        lo_ph, hi_ph = max(lo_ph, pts[i][0] - shift), min(hi_ph, pts[i][1] - shift)
    drift = 2 * sigma_period * max(abs(ks[i] - ks[centre]) for i in near)
    if lo_ph <= hi_ph:
        return Grid(period, (lo_ph + hi_ph) / 2, max((hi_ph - lo_ph) / 2 + drift, 1e4))
    return Grid(period, phase + ks[centre] * period, max(2 * math.sqrt(var), 1e4) + drift)


def exact(u_ns: float = 0.0) -> Grid:
    """The grid of points whose instants are known (to within ``u_ns``): a virtual counter's."""
    return Grid(0.0, 0.0, u_ns)


@dataclass(frozen=True)
class EdgeEnergy:
    """The energy between the last refresh before an edge and the edge (J), its bound (J) and how it was found:
    ``located`` (refresh instants fitted, the counter's increments around the edge apportioned),
    ``bracketed`` (only the polls around the refresh known) or ``as_read`` (nothing better than the read).
    Where the refresh is not located, the figure is a time since it (``stale_s``, within ``stale_half_s``)
    to be multiplied by the window's power (:meth:`energy`), so two such edges of steady power cancel."""

    extra_j: float
    bound_j: float
    how: str
    stale_s: float = 0.0
    stale_half_s: float = 0.0
    base_j: float | None = None  # the staircase's value at its last refresh before the edge
    def energy(self, power_w: float) -> tuple[float, float]:
        """(extra, bound) in J, the unlocated part at ``power_w``."""
        p = abs(power_w)
        return self.extra_j + p * self.stale_s, self.bound_j + p * self.stale_half_s


def _block_power(e0: tuple[float, float], e1: tuple[float, float]) -> float | None:
    """Mean power (W) between two (instant_ns, energy_j) refresh points."""
    dt = e1[0] - e0[0]
    return (e1[1] - e0[1]) * 1e9 / dt if dt > 0 else None


def _power_before(events: list[tuple[int, int, float]], j: int, span_ns: float) -> float | None:
    """The mean power (W) over at least ``span_ns`` of changes up to event ``j`` (None without that history)."""
    lo_j, hi_j, v_j = events[j]
    for lo, hi, v in reversed(events[:j]):
        dt = (lo_j + hi_j - lo - hi) / 2
        if dt >= span_ns:
            return max((v_j - v) * 1e9 / dt, 0.0)
    return None


def split_block(p_prev: float | None, p_blk: float, p_next: float | None, f: float) -> float:
    """The fraction of a block's energy before ``f`` (0..1 of the block), given the mean power before,
    during and after it. One change of level inside the block, from the level before to the level after,
    explains the block's mean where the mean lies between them (a step at a window edge: exact); otherwise
    power is taken as even across the block (steady power, or a burst inside the block: exact)."""
    if p_blk <= 0:
        return f
    if p_prev is not None and p_next is not None and abs(p_next - p_prev) > 1e-9 * (abs(p_blk) + 1):
        s = (p_next - p_blk) / (p_next - p_prev)  # where the level changes, as a fraction of the block
        if 0.0 < s < 1.0:
            before = p_prev * min(f, s) + p_next * max(f - s, 0.0)
            return min(max(before / p_blk, 0.0), 1.0)
    return f


def local_grid(events: list[tuple[int, int, float]], t_ns: int, narrow_ns: float,
               nominal_ns: float | None = None) -> Grid | None:
    """A grid from the first two changes after ``t_ns`` that reads at most ``narrow_ns`` apart bracketed (a
    burst of reads after an edge): the first one is the phase; their spacing, only a bracket or two
    precise, is the period, or picks the nominal period where it agrees with it within 20%."""
    after = [(lo, hi) for lo, hi, _ in events if lo >= t_ns][:2]
    if len(after) < 2 or any(hi - lo > narrow_ns for lo, hi in after):
        return None
    (lo0, hi0), (lo1, hi1) = after
    period = (lo1 + hi1 - lo0 - hi0) / 2
    if period <= 2 * max(hi0 - lo0, hi1 - lo1):
        return None
    if nominal_ns and abs(period / nominal_ns - 1) < 0.2:
        period = nominal_ns
    return Grid(period, (lo0 + hi0) / 2, max((hi0 - lo0 + hi1 - lo1) / 2, 1e4))


def fast_refresh_ns(events: list[tuple[int, int, float]], t_ns: int, narrow_ns: float) -> float | None:
    """Where the reads after ``t_ns`` (a burst) bracketed the next two changes within ``narrow_ns`` each, two
    refreshes fell within the span from the first bracket's start to the second's end: the figure
    refreshes at least that often, which bounds how old a read can be. None otherwise."""
    after = [(lo, hi) for lo, hi, _ in events if lo >= t_ns][:2]
    if len(after) < 2 or any(hi - lo > narrow_ns for lo, hi in after):
        return None
    return float(after[1][1] - after[0][0])


def edge_energy(events: list[tuple[int, int, float]], t_ns: int, grid: Grid | None,
                staleness_max_ns: float, read_j: float | None = None) -> EdgeEnergy:
    """Energy (J) from the staircase's last refresh before the edge at ``t_ns`` up to the edge.

    ``events`` are the change events around the edge (values are cumulative J), ``grid`` their fitted
    refresh grid (None: not locatable; :func:`exact` for points whose instants are known, as a virtual
    counter's), ``staleness_max_ns`` the most a read can lag (one refresh period), ``read_j`` the value the
    edge read saw (it places an edge that no change precedes, on a located grid).
    """
    j = -1
    for i, (_, hi, _) in enumerate(events):
        if hi <= t_ns:
            j = i
        else:
            break
    if j == -1 and grid is not None and grid.period_ns > 0 and read_j is not None:
        # no change before the edge (the first reads): the value read came from the grid's last refresh
        events = [(int(t_ns - grid.period_ns), t_ns, read_j), *events]
        j = 0
    if grid is not None and 0 <= j and j + 2 < len(events):
        pts: list[tuple[float, float] | None] = [None] if j == 0 else []
        bounds = [0.0] if j == 0 else []
        first = max(j - 1, 0)
        for k, (lo, hi, v) in enumerate(events[first:j + 3], start=first):
            r, u = grid.instant(lo, hi, events[k + 1][0] if k + 1 < len(events) else None)
            pts.append((r, v))
            bounds.append(u)
        p0, (r1, v1), (r2, v2), p3 = pts
        if (p0 is None or p0[0] < r1) and r1 < r2 and r1 <= t_ns + bounds[1] and t_ns <= r2 + bounds[2]:
            p_prev = _block_power(p0, (r1, v1)) if p0 is not None else None
            p_blk, p_next = _block_power((r1, v1), (r2, v2)), _block_power((r2, v2), p3)  # type: ignore[arg-type]
            assert p_blk is not None
            f = min(max((t_ns - r1) / (r2 - r1), 0.0), 1.0)
            extra = (v2 - v1) * split_block(p_prev, p_blk, p_next, f)
            levels = [p for p in (p_prev, p_blk, p_next) if p is not None]
            spread = max(abs(p - p_blk) for p in levels)
            block_s = (r2 - r1) / 1e9
            around = [p for p in (p_prev, p_next) if p is not None]
            if around and not min(around) <= p_blk <= max(around):
                # a burst (or dip) inside the block: its excess over the nearer level may lie on either side
                model = max(f, 1 - f) * block_s * min(abs(p_blk - p) for p in around)
            else:  # a step inside the block, anywhere: the split is off by at most f (1 - f) of it
                model = f * (1 - f) * block_s * spread
            # a refresh placed off by u moves the estimate by the power around it (a counter's increments are
            # then spread over the wrong span); a virtual point is rebuilt for its own instant, so only a
            # change of power around it moves it
            timing = (spread if grid.period_ns <= 0 else max(levels)) * (bounds[1] + bounds[2]) / 2e9
            return EdgeEnergy(extra, model + timing + 1e-3, "located", base_j=v1)
    if j >= 0:
        lo, hi, v = events[j]
        least = max(t_ns - hi, 0) / 1e9
        most = max(min(t_ns - lo, staleness_max_ns) / 1e9, least)
        # the power just before the edge, over long enough a span that the brackets' widths do not matter
        power = _power_before(events, j, max(0.1e9, 3 * staleness_max_ns, 4 * (hi - lo)))
        if power is None:  # priced later at the window's mean power
            return EdgeEnergy(0.0, 1e-3, "bracketed", (least + most) / 2, (most - least) / 2, v)
        mid, half = (least + most) / 2, (most - least) / 2
        return EdgeEnergy(power * mid, power * (1 + POWER_MARGIN) * half + 1e-3, "bracketed", base_j=v)
    half = staleness_max_ns / 2e9
    return EdgeEnergy(0.0, 1e-3, "as_read", half, half)
