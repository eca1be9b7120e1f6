"""Window accounting, one channel at a time: counter unwrapping, running sums, edges, and the final figure.

:class:`ChannelState` outlives windows (the counter's wrap offset, the last sample, the refresh history of
coarse figures and the edges still waiting for the refreshes that place them); a :class:`WindowAcc` holds
one channel's running figures inside one window in constant memory; :func:`channel_energy` turns them into
the window's figure, its bound and the issues that qualify it.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from dataclasses import dataclass, field

from bench.meter.lag import MODEL_ERROR, AverageInverter, lag_s, shift_bound, shifted_energy
from bench.meter.refresh import (
    FIT_SPAN,
    EdgeEnergy,
    Staircase,
    edge_energy,
    exact,
    fast_refresh_ns,
    fit_grid,
    local_grid,
)
from bench.result.model import ChannelEnergy, Issue
from bench.samplers.base import CHECK_MIN_WINDOWS, Capabilities, PowerKind, Sampler

NARROW_BURST_NS = 5e6  # reads this close bracket a refresh well enough to take it as located
MIN_AVERAGE_WINDOWS = 10  # a window whose energy comes from averaged power is clean from this many averaging windows


# Readings outside these are not physical for one channel (a megawatt; an exajoule counter): they are
# discarded as invalid, so no sum can overflow and no result carries an infinity.
MAX_POWER_W = 1e6
SLOW_READ_NS = 2_000_000  # an edge read this much slower than usual is taken again (its instant is unsure)
EDGE_RETRIES = 2
MAX_COUNTER_J = 1e18

class CheckFigure:
    """The averaged power figure a channel reads beside its power (:attr:`Capabilities.check_power`), as a
    channel of its own for the meter's averaged-power machinery: lag corrected like any averaged power, it checks
    the channel's counter. Never a channel of the result, never in the trace."""

    def __init__(self, sampler: Sampler) -> None:
        caps = sampler.capabilities
        self.name = sampler.name
        self.channel = f"{sampler.channel} (averaged power, for the check)"
        self.capabilities = Capabilities(
            energy_counter=False, power=PowerKind.AVERAGED, scope=caps.scope,
            update_period_s=caps.check_power_update_period_s, max_rate_hz=caps.max_rate_hz,
            power_average_window_s=caps.check_power_average_window_s,
            power_update_period_s=caps.check_power_update_period_s)


class ChannelState:
    """Per-channel state that outlives windows: counter unwrapping, the previous sample, the refresh history
    of the counter (``stairs``) and of averaged power (``inverter``), and the edges waiting to be placed."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.name = sampler.channel
        self.caps = sampler.capabilities
        self.last_raw: float | None = None
        self.offset_j = 0.0
        self.resets = 0
        self.invalid = 0
        self.last_t: int | None = None
        self.last_p: float | None = None
        self.last_p_t: int | None = None
        self.stairs = Staircase() if self.caps.energy_counter else None
        self.inverter = AverageInverter(self.caps.power_average_window_s, self.caps.power_refresh_s) \
            if self.caps.power is PowerKind.AVERAGED and self.caps.power_average_window_s > 0 else None
        self.pending: list[Edge] = []
        self.read_ns: collections.deque[int] = collections.deque(maxlen=16)  # how long the last reads took
        # the averaged figure read beside the power, for the counter's check
        self.check = ChannelState(CheckFigure(sampler)) if self.caps.check_power and self.caps.energy_counter \
            else None  # type: ignore[arg-type]

    def slow_read(self, took_ns: int) -> bool:
        """Whether a read that took ``took_ns`` was much slower than this channel's usual: the thread was held
        up inside it, so its value belongs to some instant of that span and its timestamp (the span's middle)
        is uncertain by half of it. Needs a few reads to know the usual."""
        if len(self.read_ns) < 4:
            return False
        usual = sorted(self.read_ns)[len(self.read_ns) // 2]
        return took_ns > max(4 * usual, usual + SLOW_READ_NS)

    def unwrap(self, raw: float | None) -> tuple[float | None, bool]:
        """Counter value made monotonic; True when the counter reset (went back with no known wrap)."""
        if raw is None:
            return None, False
        reset = False
        if self.last_raw is not None and raw < self.last_raw:
            wrap = self.caps.counter_wrap_j
            if wrap and self.last_raw - raw > wrap / 2:
                self.offset_j += wrap
            else:
                self.resets += 1
                reset = True
                if self.stairs is not None:
                    self.stairs.reset()
        self.last_raw = raw
        return raw + self.offset_j, reset

    # --- edges -----------------------------------------------------------------------------------

    def add_edges(self, acc: WindowAcc, end: bool, t_ns: int) -> None:
        """Queue the placement of an edge of ``acc`` at ``t_ns`` on this channel's coarse figures."""
        if self.stairs is not None and acc.counter_start is not None:
            self.pending.append(Edge(t_ns, acc, end, False))
            acc.waiting += 1
        if self.inverter is not None and acc.vstart is not None:
            self.pending.append(Edge(t_ns, acc, end, True))
            acc.waiting += 1

    def settle(self, force: bool = False, only: WindowAcc | None = None) -> None:
        """Place every queued edge that two refreshes have passed (all of them with ``force``); ``only``: the
        edges of that window alone."""
        keep = []
        for edge in self.pending:
            if only is not None and edge.acc is not only:
                keep.append(edge)
                continue
            events = self.inverter.virtual if edge.virtual and self.inverter else \
                (self.stairs.events if self.stairs else ())
            if force or (len(events) >= 2 and events[-2][1] > edge.t_ns and events[-2][0] >= edge.t_ns):
                edge.place(self._edge_energy(list(events), edge.t_ns, edge.virtual, edge.read_j()))
                edge.acc.waiting -= 1
            else:
                keep.append(edge)
        self.pending = keep

    def drop(self, acc: WindowAcc) -> None:
        """Forget the queued edges of ``acc`` (its figure is not wanted)."""
        self.pending = [e for e in self.pending if e.acc is not acc]
        acc.waiting = 0

    def _edge_energy(self, events: list[tuple[int, int, float]], t_ns: int, virtual: bool,
                     read_j: float | None) -> EdgeEnergy:
        near = around(events, t_ns)
        if virtual:  # the virtual counter's points are at instants known as well as the refreshes are located
            inv = self.inverter
            assert inv is not None
            found = edge_energy(near, t_ns, exact(inv.instant_u_ns), inv.period_ns, read_j)
            return dataclasses.replace(found, bound_j=found.bound_j + inv.point_error_j(t_ns))
        assert self.stairs is not None
        period = self.stairs.period_ns()
        if period is not None:  # the reads locate refreshes: fit the grid around the edge
            grid = fit_grid(around(list(self.stairs.events), t_ns), period, t_ns)
        else:  # a burst of reads after the edge may have located the next two
            grid = local_grid(near, t_ns, NARROW_BURST_NS, self.caps.update_period_s * 1e9)
        if grid is not None:
            stale = grid.period_ns
        else:  # a read is at most a refresh old: as often as a burst saw it change, else the nominal period
            stale = fast_refresh_ns(near, t_ns, NARROW_BURST_NS) or self.caps.update_period_s * 1e9
        return edge_energy(near, t_ns, grid, stale, read_j)


def around(events: list[tuple[int, int, float]], t_ns: int) -> list[tuple[int, int, float]]:
    """The events within :data:`FIT_SPAN` changes of ``t_ns`` (the grid drifts: fit it locally)."""
    i = next((k for k, e in enumerate(events) if e[1] > t_ns), len(events))
    return events[max(0, i - FIT_SPAN):i + FIT_SPAN]


@dataclass(slots=True)
class Edge:
    """An edge of a window at ``t_ns``, waiting to be placed on the counter (or the virtual counter)."""

    t_ns: int
    acc: WindowAcc
    end: bool
    virtual: bool

    def read_j(self) -> float | None:
        """The value the edge read saw (of the counter, or of the virtual counter)."""
        acc = self.acc
        if self.virtual:
            return acc.vlast if self.end else acc.vstart
        return acc.counter_last if self.end else acc.counter_start

    def place(self, found: EdgeEnergy) -> None:
        acc = self.acc
        read = self.read_j()
        if found.base_j is not None and read is not None and found.base_j != read:
            # the refresh before the edge is not the one the edge read showed (a virtual counter accounts for
            # an unchanged refresh only later): count from the value the read showed
            found = dataclasses.replace(found, extra_j=found.extra_j + found.base_j - read)
        if self.virtual:
            if self.end:
                acc.vedge_end = found
            else:
                acc.vedge_start = found
        elif self.end:
            acc.edge_end = found
        else:
            acc.edge_start = found


@dataclass
class WindowAcc:
    """One channel's running figures inside one window."""

    t_start: int
    counter_start: float | None = None
    counter_last: float | None = None
    counter_ok: bool = True
    integ_j: float = 0.0
    has_power: bool = False
    last_t: int | None = None
    last_p: float | None = None
    last_p_t: int | None = None
    samples: int = 0
    peak_w: float | None = None
    max_interval_ns: int = 0
    gaps: int = 0
    resets: int = 0
    invalid: int = 0
    gap_s: list[float] = field(default_factory=list)
    # edges placed on the refreshes of the counter and of the virtual counter of averaged power
    edge_start: EdgeEnergy | None = None
    edge_end: EdgeEnergy | None = None
    vstart: float | None = None
    vlast: float | None = None
    vmove_start: float = 0.0  # the averaged readings' total movement at the edges (W)
    vmove_end: float = 0.0
    vedge_start: EdgeEnergy | None = None
    vedge_end: EdgeEnergy | None = None
    # the power readings' sum and sum of squares: their spread says how well the readings sample the load
    p_n: int = 0
    p_sum: float = 0.0
    p_sum2: float = 0.0
    # the half-window shift of averaged power: the integral over the first half window, the average at the
    # opening edge and one window later
    head_end_ns: int | None = None
    head_j: float = 0.0
    first_p: float | None = None
    p_after_window: float | None = None
    after_window_ns: int | None = None
    waiting: int = 0  # of its edges, how many wait to be placed on refreshes

    def feed(self, t: int, counter: float | None, reset: bool, power: float | None, gap_ns: int) -> None:
        if self.last_t is not None:
            dt = t - self.last_t
            self.max_interval_ns = max(self.max_interval_ns, dt)
            if dt > gap_ns:
                self.gaps += 1
                if len(self.gap_s) < 20:
                    self.gap_s.append(dt / 1e9)
            if power is None and counter is not None and self.counter_last is not None and dt > 0:
                derived = (counter - self.counter_last) * 1e9 / dt
                if 0 <= derived <= MAX_POWER_W:  # a fall or a jump no device draws (a counter read wrong) is no peak
                    self.peak_w = derived if self.peak_w is None else max(self.peak_w, derived)
        if power is not None:
            if self.last_p is not None and self.last_p_t is not None:
                # trapezoid between consecutive valid power readings (an invalid one is skipped over)
                piece = (power + self.last_p) * (t - self.last_p_t) / 2e9
                self.integ_j += piece
                head = self.head_end_ns
                if head is not None and self.last_p_t < head:
                    if t <= head:
                        self.head_j += piece
                    else:  # the part of this interval up to the end of the first half window
                        f = (head - self.last_p_t) / (t - self.last_p_t)
                        mid = self.last_p + (power - self.last_p) * f
                        self.head_j += (self.last_p + mid) * (head - self.last_p_t) / 2e9
            elif self.first_p is None:
                self.first_p = power
            if self.after_window_ns is not None and self.p_after_window is None and t >= self.after_window_ns:
                self.p_after_window = power
            self.has_power = True
            self.p_n += 1
            self.p_sum += power
            self.p_sum2 += power * power
            self.peak_w = power if self.peak_w is None else max(self.peak_w, power)
            self.last_p, self.last_p_t = power, t
        if reset:
            self.resets += 1
            self.counter_ok = False
        if counter is not None:
            if self.counter_start is None:
                self.counter_start = counter
            self.counter_last = counter
        self.last_t = t
        self.samples += 1


def _weakest(*edges: EdgeEnergy | None) -> str | None:
    order = ("as_read", "bracketed", "located")
    hows = [e.how for e in edges if e is not None]
    return min(hows, key=order.index) if hows else None


def placed(start: EdgeEnergy | None, end: EdgeEnergy | None, raw_j: float, duration_s: float,
           period_s: float) -> tuple[float, float]:
    """A staircase's ``raw_j`` difference between two edge reads with the edges placed: (energy, bound) in J.
    Unlocated parts are priced at the window's mean power; an edge never placed counts as read (up to one
    refresh period stale)."""
    power = raw_j / duration_s if duration_s > 0 else 0.0
    as_read = EdgeEnergy(0.0, 0.0, "as_read", period_s / 2, period_s / 2)
    e0, b0 = (start or as_read).energy(power)
    e1, b1 = (end or as_read).energy(power)
    return raw_j + e1 - e0, b0 + b1


def counter_figure(ch: ChannelState, acc: WindowAcc, duration_s: float) -> tuple[float, float, str]:
    """The counter's energy over the window with its edges placed (J), its bound (J) and how the edges were
    placed (the weaker edge's way)."""
    raw = (acc.counter_last or 0.0) - (acc.counter_start or 0.0)
    energy, bound = placed(acc.edge_start, acc.edge_end, raw, duration_s, ch.caps.update_period_s)
    if acc.edge_start is None or acc.edge_end is None:
        return energy, bound, "as_read"
    return energy, bound, _weakest(acc.edge_start, acc.edge_end) or "as_read"


def averaged_figure(ch: ChannelState, acc: WindowAcc, duration_s: float) -> tuple[float, float, str] | None:
    """Averaged power integrated with its lag corrected (J), its bound (J) and the correction used: the
    inversion where the reads see the refreshes and its edges were placed, else the half-window shift."""
    inv = ch.inverter
    if inv is None or acc.last_p is None:
        return None
    window = inv.window_s
    energy = shifted_energy(acc.integ_j, acc.head_j, duration_s, lag_s(window, inv.period_ns / 1e9), acc.last_p)
    first = acc.first_p if acc.first_p is not None else acc.last_p
    after = acc.p_after_window if acc.p_after_window is not None else acc.last_p
    before = value_before(inv.stairs, (acc.last_p_t or 0) - int(window * 1e9), first)
    bound = shift_bound(window, inv.period_ns / 1e9, after - first, acc.last_p - before, acc.last_p - first)
    best = (energy, bound, "half_window_shift")
    edges = (acc.vedge_start, acc.vedge_end)
    if acc.vstart is not None and acc.vlast is not None and all(e is not None and e.how == "located"
                                                                 for e in edges) \
            and inv.stairs.period_ns() is not None:  # the reads see the refreshes: the inversion stands
        inverted, bound = placed(acc.vedge_start, acc.vedge_end, acc.vlast - acc.vstart, duration_s,
                                 inv.period_ns / 1e9)
        bound += inv.budget_j + MODEL_ERROR * window * (acc.vmove_end - acc.vmove_start)
        # the shift cannot see what the average hides (a load faster than its window, a step at an edge):
        # where the reads allow the inversion, it is the figure
        best = (inverted, bound, "inverted")
    return best


def value_before(stairs: Staircase, t_ns: int, default: float) -> float:
    """The staircase's value at ``t_ns`` (``default`` before its history)."""
    value = default
    for lo, hi, v in stairs.events:
        if hi > t_ns:
            break
        value = v
    return value


def checks_window(check: ChannelState, duration_s: float) -> bool:
    """Whether a window ``duration_s`` long is long enough for a check figure to check the counter over it:
    :data:`~bench.samplers.base.CHECK_MIN_WINDOWS` averaging windows (its bound goes into the check's tolerance,
    so it need not be as long as a window whose energy comes from averaged power)."""
    return duration_s >= CHECK_MIN_WINDOWS * check.caps.power_average_window_s


def channel_energy(ch: ChannelState, acc: WindowAcc, duration_s: float, name: str, gap_ns: int,
                   check_acc: WindowAcc | None = None) -> tuple[ChannelEnergy, list[Issue], bool]:
    """One channel's energy over a closed window: counter delta where valid, else integrated power,
    with the issues that qualify it and whether the figure is clean. Beside a counter, the figure kept to check
    it (``integrated_energy_j``) is the channel's averaged check figure, lag corrected, where it reads one
    (``check_acc``), else its power integrated."""
    issues: list[Issue] = []
    caps = ch.caps
    integ = acc.integ_j if acc.has_power and acc.samples >= 2 else None
    integ_bound = correction = None
    if integ is not None and caps.power is PowerKind.AVERAGED:
        corrected = averaged_figure(ch, acc, duration_s)
        if corrected is not None:
            integ, integ_bound, correction = corrected
    counter = bound = edges = None
    if caps.energy_counter and acc.counter_ok and acc.counter_start is not None and acc.counter_last is not None:
        counter, bound, edges = counter_figure(ch, acc, duration_s)
    if counter is not None and ch.check is not None and check_acc is not None and check_acc.has_power \
            and check_acc.samples >= 2 and checks_window(ch.check, duration_s):
        checked = averaged_figure(ch.check, check_acc, duration_s)
        if checked is not None:
            integ, integ_bound, correction = checked
    if counter is not None:
        energy, method = counter, "counter"
    elif integ is not None:
        energy, method, bound = integ, "integrated_power", integ_bound
    else:
        energy, method = None, "none"
    clean = energy is not None
    if acc.resets:
        issues.append(Issue(code="counter_reset", window=name, severity="error" if energy is None else "warning",
                            message=f"{ch.name}: energy counter went backwards {acc.resets}x (driver reset?); "
                            + ("energy from integrated power instead" if method == "integrated_power" else "no energy figure")))
        clean = False
    if caps.energy_counter and acc.counter_ok and counter is None:
        issues.append(counter_silent_issue(ch.name, name, method))
    if acc.gaps:
        longest = max(acc.gap_s) if acc.gap_s else acc.max_interval_ns / 1e9
        spoils = method != "counter"
        issues.append(Issue(code="gap", window=name, severity="warning" if spoils else "info",
                            message=f"{ch.name}: {acc.gaps} gap(s) in sampling, longest {longest:.3f} s "
                            f"(limit {gap_ns / 1e9:.3f} s)" + ("" if spoils else "; energy from the counter is unaffected")))
        clean = clean and not spoils
    invalid = ch.invalid - acc.invalid
    if invalid:
        issues.append(Issue(code="invalid_reading", window=name, severity="error",
                            message=f"{ch.name}: {invalid} NaN/negative reading(s) discarded"))
        clean = False
    if duration_s < caps.update_period_s * 5:
        issues.append(Issue(code="window_too_short", window=name,
                            message=f"{ch.name}: window {duration_s:.4f} s is under 5 sensor update periods "
                            f"({caps.update_period_s:.3f} s each)"))
        clean = False
    window_s = caps.power_average_window_s
    if caps.power is PowerKind.AVERAGED and method == "integrated_power" \
            and duration_s < MIN_AVERAGE_WINDOWS * window_s:
        how = {"inverted": "the average inverted", "half_window_shift": "shifted by half its window"}
        issues.append(Issue(code="averaged_power", window=name,
                            message=f"{ch.name}: energy from power averaged over {window_s:g} s "
                            f"({how.get(correction or '', 'uncorrected')}); a window under "
                            f"{MIN_AVERAGE_WINDOWS * window_s:g} s is not clean"))
        clean = False
    return (
        ChannelEnergy(
            channel=ch.name,
            energy_j=energy,
            method=method,
            integrated_energy_j=integ,
            samples=acc.samples,
            mean_power_w=(energy / duration_s) if (energy is not None and duration_s > 0) else None,
            peak_power_w=acc.peak_w,
            max_interval_s=acc.max_interval_ns / 1e9 if acc.samples > 1 else None,
            gaps=acc.gaps,
            resets=acc.resets,
            energy_uncertainty_j=bound if energy is not None else None,
            edges=edges if method == "counter" else None,
            power_std_w=math.sqrt(max(acc.p_sum2 / acc.p_n - (acc.p_sum / acc.p_n) ** 2, 0.0))
            if acc.p_n >= 2 else None,
            integrated_uncertainty_j=integ_bound,
            power_correction=correction,
        ),
        issues,
        clean,
    )


def counter_silent_issue(channel: str, window: str, method: str) -> Issue:
    """The issue of a channel that declares an energy counter but gave no counter reading in the window."""
    fallback = "energy from integrated power instead" if method == "integrated_power" else "no energy figure"
    return Issue(code="counter_missing", window=window, severity="warning" if method != "none" else "error",
                 message=f"{channel}: declares an energy counter but gave no counter reading in the window; {fallback}")
