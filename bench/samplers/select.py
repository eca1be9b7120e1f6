"""Sampler selection: which power/energy source measures a device, opened and checked against the rate asked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench import plugins
from bench.errors import SamplerError, UsageError
from bench.samplers.base import PowerKind, Sampler, check_sampler_class

if TYPE_CHECKING:  # pragma: no cover
    from bench.devices import Device


def sampler_class(name: str) -> type[Sampler]:
    """The sampler backend registered as ``name``, checked against the contract."""
    return plugins.load("samplers", name, check_sampler_class)


def select_samplers(device: "Device", name: str | None, options: dict[str, Any]) -> tuple[str, list[Sampler]]:
    """Open the named sampler, or the device's first available default. Unusable -> :class:`UsageError`."""
    candidates = [name] if name else list(device.default_samplers)
    reasons = []
    for cand in candidates:
        cls = sampler_class(cand)
        avail = cls.is_available(device.spec)
        if not avail:
            reasons.append(f"{cand}: {avail.reason}")
            if name:
                raise UsageError(f"sampler {cand} cannot measure {device.spec}: {avail.reason}")
            continue
        try:
            samplers = cls.open(device.spec, identity=device.identity(), **options)
        except SamplerError as exc:
            if name:
                raise UsageError(f"sampler {cand} cannot measure {device.spec}: {exc}") from None
            reasons.append(f"{cand}: {exc}")
            continue
        if not samplers:
            reasons.append(f"{cand}: no channel")
            continue
        return cand, samplers
    raise UsageError(f"no sampler can measure {device.spec} ({'; '.join(reasons)}); "
                     f"choices: {', '.join(plugins.names('samplers'))}")


READS_PER_REFRESH = 2  # an averaged power figure that is a channel's only one is read at least this often


def read_rate_hz(samplers: list[Sampler], rate_hz: float) -> tuple[float, list[str]]:
    """The rate to read ``samplers`` at for an asked ``rate_hz``, and the channels that raised it. A channel whose
    only figure is averaged power (no energy counter) is read at least twice per refresh of that figure (within
    what its sampler can do): slower reads leave refreshes no read sees, and a lag-corrected integral must guess
    them (``benchmarks/sampling_accuracy.py`` shows what that costs)."""
    rate, raised = rate_hz, []
    for s in samplers:
        caps = s.capabilities
        if caps.power is not PowerKind.AVERAGED or caps.energy_counter or caps.power_refresh_s <= 0:
            continue
        need = min(READS_PER_REFRESH / caps.power_refresh_s, caps.max_rate_hz)
        if need > rate_hz:
            raised.append(s.channel)
            rate = max(rate, need)
    return rate, raised


def check_rate(samplers: list[Sampler], rate_hz: float) -> None:
    """Raise :class:`UsageError` if ``rate_hz`` is above what one of ``samplers`` can keep up with."""
    for s in samplers:
        if rate_hz > s.capabilities.max_rate_hz:
            raise UsageError(f"--rate {rate_hz:g} Hz is above what {s.name} can do "
                             f"({s.capabilities.max_rate_hz:g} Hz)")
