"""Turn measured windows into per-repeat figures and their aggregates (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence

from bench.analysis.stats import percentile, summarize
from bench.result.model import Aggregate, Latency, Repeat, Stat, Window


def repeat_figures(index: int, window: Window, units: int, steps: int, idle_power_w: float | None) -> Repeat:
    """Gross, idle and net energy of one repeat; net = gross - idle power x duration."""
    d = window.duration_s
    gross = window.energy_j
    idle = idle_power_w * d if idle_power_w is not None else None
    net = gross - idle if (gross is not None and idle is not None) else None
    return Repeat(
        index=index,
        window=window.name,
        units=units,
        steps=steps,
        duration_s=d,
        gross_energy_j=gross,
        idle_energy_j=idle,
        net_energy_j=net,
        mean_power_w=window.mean_power_w,
        peak_power_w=window.peak_power_w,
        throughput=units / d if d > 0 else 0.0,
        energy_per_unit_j=(net / units) if (net is not None and units) else None,
        gross_energy_per_unit_j=(gross / units) if (gross is not None and units) else None,
        clean=window.clean,
        energy_uncertainty_j=window.energy_uncertainty_j,
    )


def uncertainty_relative(repeats: list[Repeat], net: bool = False) -> float | None:
    """The sensors' bound relative to gross (or net) energy, averaged over ``repeats`` (None where no repeat
    states one)."""
    shares = []
    for r in repeats:
        energy = r.net_energy_j if net else r.gross_energy_j
        if r.energy_uncertainty_j is not None and energy is not None and energy > 0:
            shares.append(r.energy_uncertainty_j / energy)
    return sum(shares) / len(shares) if shares else None


def aggregate(repeats: list[Repeat], flops_per_unit: float | None) -> Aggregate:
    """Mean, std and Student-t 95% CI of every figure over the clean repeats, and the sensors' relative bound."""
    clean = [r for r in repeats if r.clean]

    def stat(values: list[float | None]) -> Stat:
        return Stat(**summarize(values))

    fpj = None
    if flops_per_unit:
        fpj = stat([flops_per_unit / r.gross_energy_per_unit_j if r.gross_energy_per_unit_j else None for r in clean])
    return Aggregate(
        energy_per_unit_j=stat([r.energy_per_unit_j for r in clean]),
        gross_energy_per_unit_j=stat([r.gross_energy_per_unit_j for r in clean]),
        throughput=stat([r.throughput for r in clean]),
        net_energy_j=stat([r.net_energy_j for r in clean]),
        gross_energy_j=stat([r.gross_energy_j for r in clean]),
        mean_power_w=stat([r.mean_power_w for r in clean]),
        duration_s=stat([r.duration_s for r in clean]),
        flops_per_joule=fpj,
        energy_uncertainty_relative=uncertainty_relative(clean),
        net_energy_uncertainty_relative=uncertainty_relative(clean, net=True),
    )


def latency_figures(durations_s: Sequence[float], method: str, units_per_step: int | None = None,
                    window: str | None = None) -> Latency | None:
    """p50, p90, p99, mean, min and max of step durations (s); None when nothing was timed."""
    xs = [float(d) for d in durations_s if d is not None and d >= 0]
    if not xs:
        return None
    return Latency(method=method, steps=len(xs), units_per_step=units_per_step,
                   p50_s=percentile(xs, 50), p90_s=percentile(xs, 90), p99_s=percentile(xs, 99),
                   mean_s=sum(xs) / len(xs), min_s=min(xs), max_s=max(xs), window=window)
