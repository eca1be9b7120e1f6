"""Window accounting, one channel at a time: counter unwrapping, running sums, and the final figure.

:class:`ChannelState` outlives windows (the counter's wrap offset, the last sample); a
:class:`WindowAcc` holds one channel's running figures inside one window in constant memory;
:func:`channel_energy` turns them into the window's figure and the issues that qualify it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.result.model import ChannelEnergy, Issue
from bench.samplers.base import PowerKind, Sampler


class ChannelState:
    """Per-channel state that outlives windows: counter unwrapping and the previous sample."""

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
        self.last_raw = raw
        return raw + self.offset_j, reset


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
                self.peak_w = derived if self.peak_w is None else max(self.peak_w, derived)
        if power is not None:
            if self.last_p is not None and self.last_p_t is not None:
                # trapezoid between consecutive valid power readings (an invalid one is skipped over)
                self.integ_j += (power + self.last_p) * (t - self.last_p_t) / 2e9
            self.has_power = True
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


def channel_energy(ch: ChannelState, acc: WindowAcc, duration_s: float, name: str, gap_ns: int)\
        -> tuple[ChannelEnergy, list[Issue], bool]:
    """One channel's energy over a closed window: counter delta where valid, else integrated power,
with the issues that qualify it and whether the figure is clean."""
    issues: list[Issue] = []
    caps = ch.caps
    integ = acc.integ_j if acc.has_power and acc.samples >= 2 else None
    counter = None
    if caps.energy_counter and acc.counter_ok and acc.counter_start is not None and acc.counter_last is not None:
        counter = acc.counter_last - acc.counter_start
    if counter is not None:
        energy, method = counter, "counter"
    elif integ is not None:
        energy, method = integ, "integrated_power"
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
    if caps.power is PowerKind.AVERAGED and method == "integrated_power" and duration_s < 10 * caps.power_average_window_s:
        issues.append(Issue(code="averaged_power", window=name,
                            message=f"{ch.name}: power is a {caps.power_average_window_s:g} s moving average; "
                            "window edges are smeared"))
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
        ),
        issues,
        clean,
    )


def counter_silent_issue(channel: str, window: str, method: str) -> Issue:
    """The issue of a channel that declares an energy counter but gave no counter reading in the window."""
    fallback = "energy from integrated power instead" if method == "integrated_power" else "no energy figure"
    return Issue(code="counter_missing", window=window, severity="warning" if method != "none" else "error",
                 message=f"{channel}: declares an energy counter but gave no counter reading in the window; {fallback}")
