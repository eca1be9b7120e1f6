"""A window's assembly: its accumulators seeded at the opening edge, its close waiting for the refreshes that
place its edges (and the burst of reads that locates them), and the final :class:`~bench.result.model.Window`
from its channels' figures."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

from bench.errors import BenchError, SamplerError
from bench.meter.lag import lag_s
from bench.meter.windows import ChannelState, WindowAcc, channel_energy
from bench.result.model import Issue, Window

SETTLE_MAX_S = 1.0  # the longest a close waits for the refreshes that place its edges
BURST_MAX_S = 0.25  # the longest burst of reads after an edge, to locate a counter's next two refreshes
BURST_SPACING_S = 0.001  # reads in a burst at most this often (a tenth of NVML's 10 ms counter period)


@dataclass
class Burst:
    """Reads at ``spacing_ns`` after an edge until each counter in ``start`` (channel -> its change count when
    the burst began) has changed twice, or ``until_ns``: where the meter reads a counter no faster than it
    refreshes, this locates the refreshes around the edge."""

    until_ns: int
    spacing_ns: int
    next_ns: int
    start: dict[str, int]

    @classmethod
    def after_edge(cls, channels: list[ChannelState], now_ns: int, read_timeout_s: float) -> "Burst | None":
        """The burst an edge read at ``now_ns`` calls for: where some counter is read no faster than it
        refreshes (None: every counter's refreshes are located already)."""
        start = {ch.name: ch.stairs.changes for ch in channels
                 if ch.stairs is not None and ch.stairs.period_ns() is None}
        if not start:
            return None
        spacing = int(max(BURST_SPACING_S * 1e9, 1))
        until = now_ns + int(min(BURST_MAX_S, read_timeout_s / 4) * 1e9)
        return cls(until, spacing, now_ns + spacing, start)

    def done(self, channels: list[ChannelState], now_ns: int) -> bool:
        """Whether every counter of the burst changed twice since it began, or its time is up."""
        if now_ns >= self.until_ns:
            return True
        return all(ch.stairs is not None and ch.stairs.changes - self.start[ch.name] >= 2
                   for ch in channels if ch.name in self.start)


@dataclass
class Closing:
    """A window whose closing edge read is taken, waiting (until ``deadline_ns``) for the refreshes that
    place its edges."""

    name: str
    accs: dict[str, WindowAcc]
    deadline_ns: int
    future: Future | None = None
    window: Window | None = None


def open_accs(channels: list[ChannelState], now_ns: int) -> dict[str, WindowAcc]:
    """Each channel's accumulator for a window opening now, seeded with the edge read just taken."""
    accs = {}
    for ch in channels:
        acc = WindowAcc(t_start=ch.last_t if ch.last_t is not None else now_ns, invalid=ch.invalid)
        if ch.last_raw is not None:
            acc.counter_start = acc.counter_last = ch.last_raw + ch.offset_j
        if ch.last_t is not None:
            acc.last_t, acc.samples = ch.last_t, 1
            if ch.last_p is not None and ch.last_t == ch.last_p_t:
                acc.last_p, acc.last_p_t = ch.last_p, ch.last_t
                acc.has_power, acc.peak_w = True, ch.last_p
                acc.first_p = ch.last_p
        inv = ch.inverter
        if inv is not None and inv.last_p is not None:
            acc.vstart = acc.vlast = inv.energy_j
            acc.vmove_start = inv.movement_w
            acc.head_end_ns = acc.t_start + int(lag_s(inv.window_s, inv.period_ns / 1e9) * 1e9)
            acc.after_window_ns = acc.t_start + int(inv.window_s * 1e9)
        accs[ch.name] = acc
    return accs


def settle_ns(ch: ChannelState, read_period_ns: int, read_timeout_s: float) -> int:
    """How long a close may wait for this channel's refreshes: none where the reads cannot locate them."""
    periods = []
    if ch.stairs is not None:
        periods.append(ch.stairs.period_ns())
    if ch.inverter is not None:
        periods.append(ch.inverter.stairs.period_ns())
    located = [p for p in periods if p is not None]
    if not located:
        return 0
    limit = min(SETTLE_MAX_S, read_timeout_s / 2) * 1e9
    return int(min(3 * max(located) + 3 * read_period_ns, limit))


def assemble(name: str, accs: dict[str, WindowAcc], channels: list[ChannelState], gap_ns: int,
             error: BenchError | None, now_ns: int) -> Window:
    """The window from its channels' accumulators: energy and bound summed over channels, their issues, and
    the meter's error if it failed meanwhile."""
    own = [accs[ch.name] for ch in channels]  # (a check figure's accumulator does not set the window's span)
    t_start = min(a.t_start for a in own)
    t_end = max((a.last_t for a in own if a.last_t is not None), default=now_ns)
    duration_s = max(t_end - t_start, 0) / 1e9
    figures, issues = [], []
    total: float | None = 0.0
    bound: float | None = 0.0
    peak: float | None = None
    clean = True
    for ch in channels:
        check_acc = accs.get(ch.check.name) if ch.check is not None else None
        ce, ch_issues, ch_clean = channel_energy(ch, accs[ch.name], duration_s, name, gap_ns, check_acc)
        figures.append(ce)
        issues.extend(ch_issues)
        clean = clean and ch_clean
        total = None if (total is None or ce.energy_j is None) else total + ce.energy_j
        bound = None if (bound is None or ce.energy_uncertainty_j is None) else bound + ce.energy_uncertainty_j
        if ce.peak_power_w is not None:
            peak = ce.peak_power_w if peak is None else peak + ce.peak_power_w
    if error is not None:
        code = "sampler_error" if isinstance(error, SamplerError) else "storage_error"
        issues.append(Issue(code=code, message=str(error), window=name, severity="error"))
        clean = False
    return Window(
        name=name,
        t_start_ns=t_start,
        t_end_ns=t_end,
        duration_s=duration_s,
        energy_j=total,
        mean_power_w=(total / duration_s) if (total is not None and duration_s > 0) else None,
        peak_power_w=peak,
        samples=sum(c.samples for c in figures),
        channels=figures,
        issues=issues,
        clean=clean,
        energy_uncertainty_j=bound if total is not None else None,
    )
