"""What a measuring session returns: one occurrence of a window (:class:`WindowMeasurement`) and every
occurrence of a name (:class:`NamedWindow`). Energies in J, times in s, power in W."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from bench.analysis.figures import aggregate, latency_figures
from bench.result.model import ChannelEnergy, Issue, Latency, Quality, Repeat, Window, WorkloadResult

if TYPE_CHECKING:  # pragma: no cover
    from bench.api.session import Session

DEFAULT_UNIT = "window"  # a window given no units measures one unit: the occurrence itself


class WindowMeasurement:
    """One occurrence of a window: its :class:`~bench.result.model.Window` (edges, channels, issues) and the
    :class:`~bench.result.model.Repeat` figures computed from it, exactly as ``bench run`` computes a repeat.
    Energies in J, times in s, power in W.

    ``end_window`` returns it as soon as the closing edge is read. Where a sensor's counter refreshes more slowly
    than the meter reads (NVML's), the window's edges are placed on the counter's next refreshes, a few
    refreshes later: the first figure asked for waits for that (:attr:`ready` says whether it would wait), and
    the measured code is not held up by it in the meantime."""

    def __init__(self, name: str, index: int, unit: str, window: Window | None = None,
                 repeat: Repeat | None = None, session: "Session | None" = None) -> None:
        self.name, self.unit, self.session = name, unit, session
        self._index, self._window, self._repeat = index, window, repeat
        self.error: BaseException | None = None  # why the window could not be brought in, if it could not

    def _settle(self) -> None:
        if self._window is None and self.error is None and self.session is not None:
            self.session.settle(until=self)
        if self.error is not None:
            raise self.error
        if self._window is None:
            raise LookupError(f"window {self.name!r} occurrence {self._index} was never measured")

    @property
    def ready(self) -> bool:
        """Whether the window's figures are in (asking for one then does not wait)."""
        return self._window is not None or self.error is not None

    @property
    def index(self) -> int:
        """The occurrence's number among those of its name (1, 2, ...)."""
        return self._index

    @property
    def window(self) -> Window:
        self._settle()
        assert self._window is not None
        return self._window

    @property
    def repeat(self) -> Repeat:
        self._settle()
        assert self._repeat is not None
        return self._repeat

    def bring_in(self, window: Window, repeat: Repeat) -> None:
        """The session hands over the placed window and its figures."""
        self._window, self._repeat, self._index = window, repeat, repeat.index

    def __repr__(self) -> str:
        if not self.ready:
            return f"WindowMeasurement({self.name!r}, {self._index}, edges being placed)"
        if self.error is not None:
            return f"WindowMeasurement({self.name!r}, {self._index}, failed: {self.error})"
        e = self.energy_j
        return (f"WindowMeasurement({self.name!r}, {self._index}, {self.time_s:.4g} s, "
                f"{'-' if e is None else f'{e:.4g}'} J gross)")

    @property
    def quality(self) -> Quality | None:
        """The quality level of this occurrence alone, assessed as a run's is (None without a session)."""
        return self.session.assess(self.name, self.index) if self.session is not None else None

    @property
    def time_s(self) -> float:
        return self.window.duration_s

    @property
    def units(self) -> int:
        return self.repeat.units

    @property
    def energy_j(self) -> float | None:
        """Gross energy (everything the sensors saw in the window), J."""
        return self.repeat.gross_energy_j

    @property
    def gross_energy_j(self) -> float | None:
        return self.repeat.gross_energy_j

    @property
    def idle_energy_j(self) -> float | None:
        """Idle power x duration, J (None without an idle baseline)."""
        return self.repeat.idle_energy_j

    @property
    def net_energy_j(self) -> float | None:
        """Gross minus idle energy, J (None without an idle baseline)."""
        return self.repeat.net_energy_j

    @property
    def energy_per_unit_j(self) -> float | None:
        """Net energy per unit, J."""
        return self.repeat.energy_per_unit_j

    @property
    def gross_energy_per_unit_j(self) -> float | None:
        return self.repeat.gross_energy_per_unit_j

    @property
    def mean_power_w(self) -> float | None:
        return self.window.mean_power_w

    @property
    def peak_power_w(self) -> float | None:
        return self.window.peak_power_w

    @property
    def throughput(self) -> float:
        """Units per second."""
        return self.repeat.throughput

    @property
    def channels(self) -> dict[str, ChannelEnergy]:
        """Each sensor channel's share of the window (energy, method, samples, gaps, resets)."""
        return {c.channel: c for c in self.window.channels}

    @property
    def issues(self) -> list[Issue]:
        return list(self.window.issues)

    @property
    def clean(self) -> bool:
        return self.window.clean


def _sum(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else math.fsum(v for v in values if v is not None)


class NamedWindow:
    """Every occurrence of one window name in a session: sums over the occurrences, their statistics
    (:attr:`aggregate`, :attr:`latency`) and the quality level of this window's measurement."""

    def __init__(self, session: "Session", record: WorkloadResult) -> None:
        self.session, self.record = session, record
        self.occurrences: list[WindowMeasurement] = []
        self.stale = False

    def refresh(self) -> WorkloadResult:
        """Bring the record's statistics (aggregate, latency) up to date with the occurrences."""
        if self.stale:
            rec = self.record
            rec.aggregate = aggregate(rec.repeats, rec.flops_per_unit)
            rec.latency = latency_figures([r.duration_s for r in rec.repeats], "window")
            self.stale = False
        return self.record

    def _measured(self) -> list[WindowMeasurement]:
        """The occurrences with their figures in (waiting for any whose edges are being placed), failed ones left
        out."""
        self.session.settle()
        return [o for o in self.occurrences if o.error is None]

    @property
    def name(self) -> str:
        return self.record.workload

    @property
    def unit(self) -> str:
        return self.record.unit or DEFAULT_UNIT

    @property
    def count(self) -> int:
        return len(self.occurrences)

    @property
    def last(self) -> WindowMeasurement:
        return self.occurrences[-1]

    @property
    def time_s(self) -> float:
        return math.fsum(o.time_s for o in self._measured())

    @property
    def units(self) -> int:
        return sum(o.units for o in self._measured())

    @property
    def energy_j(self) -> float | None:
        """Gross energy over every occurrence, J."""
        return _sum([o.gross_energy_j for o in self._measured()])

    gross_energy_j = energy_j

    @property
    def idle_energy_j(self) -> float | None:
        return _sum([o.idle_energy_j for o in self._measured()])

    @property
    def net_energy_j(self) -> float | None:
        return _sum([o.net_energy_j for o in self._measured()])

    @property
    def energy_per_unit_j(self) -> float | None:
        """Net energy per unit over every occurrence, J."""
        net, units = self.net_energy_j, self.units
        return net / units if (net is not None and units) else None

    @property
    def gross_energy_per_unit_j(self) -> float | None:
        gross, units = self.gross_energy_j, self.units
        return gross / units if (gross is not None and units) else None

    @property
    def mean_power_w(self) -> float | None:
        gross, t = self.gross_energy_j, self.time_s
        return gross / t if (gross is not None and t > 0) else None

    @property
    def channels(self) -> dict[str, float | None]:
        """Energy of each sensor channel over every occurrence, J."""
        out: dict[str, list[float | None]] = {}
        for o in self._measured():
            for c in o.window.channels:
                out.setdefault(c.channel, []).append(c.energy_j)
        return {k: _sum(v) for k, v in out.items()}

    @property
    def issues(self) -> list[Issue]:
        return [i for o in self._measured() for i in o.issues]

    @property
    def clean(self) -> bool:
        return all(o.clean for o in self._measured())

    @property
    def aggregate(self) -> Any:
        """Mean, std and 95% CI of each figure over the clean occurrences (the result's ``aggregate``)."""
        self.session.settle()
        return self.refresh().aggregate

    @property
    def latency(self) -> Latency | None:
        """p50/p90/p99 of the occurrences' durations, s."""
        self.session.settle()
        return self.refresh().latency

    @property
    def quality(self) -> Quality:
        """The quality level of this window's measurement, assessed as a run's is (sensor, energy method,
        sampling, coverage, idle baseline, repeats, meter)."""
        return self.session.assess(self.name)

    def __repr__(self) -> str:
        e = self.energy_j
        return (f"NamedWindow({self.name!r}, {self.count} occurrence(s), {self.time_s:.4g} s, "
                f"{'-' if e is None else f'{e:.4g}'} J gross)")
