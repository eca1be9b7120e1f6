"""The ``replay`` sampler: plays back a recorded trace (the meter's own format) on a clock.

For tests (traces with analytically known energy) and for re-analysing a recorded run. A replay is
never a measurement of the run it feeds: its channels declare ``measured=False`` and never
``calibrated``, so a result made with it is quality L0 and never graded, whatever the trace says. It
stands in for the host only (``--device cpu``): it measures no device, so it refuses an accelerator.
A trace without metadata for the channel is taken as power only (no counter claimed). Time runs
from the moment the sampler is opened: at clock time ``t`` after opening it returns the trace's
channel at ``t0 + t``, with energy and power linearly interpolated between recorded samples
(the counter of a recorded trace is an integral, so interpolating it is exact for piecewise
constant power between samples) and the other fields held. The trace is read forward in batches,
so a 24-hour trace replays in bounded memory.

Options: ``trace`` (path, required), ``channel`` (default: the first in the file), ``clock``
(default monotonic), ``loop`` (restart at the end instead of failing), ``power_only`` (hide the
counter so the meter must integrate power), ``hold`` (each recorded value holds until the next one, as
a sensor read faster than it refreshes shows it: for traces recorded from real sensors, whose steps
interpolation would smear).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from bench.clock import Clock, MonotonicClock
from bench.errors import ResultError
from bench.samplers.base import (
    Availability,
    Capabilities,
    PowerKind,
    Reading,
    Sampler,
    SamplerDeviceLost,
    SamplerUnavailable,
    Scope,
    host_cpu,
)


def _caps_from_meta(meta: Any, power_only: bool) -> Capabilities:
    """The channel's capabilities as the trace recorded them, checked like a result's
    (:class:`bench.result.bounds.Capabilities`: the trace may come from anywhere), as a replay: never calibrated,
    never a live measurement, and no counter unless the trace recorded one."""
    from pydantic import TypeAdapter, ValidationError

    from bench.result.bounds import Capabilities as RecordedCapabilities
    from bench.result.files import field_path

    try:
        meta = TypeAdapter(RecordedCapabilities).validate_python(meta if meta is not None else {}, strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise SamplerUnavailable(f"trace metadata: channel capabilities: field {field_path(first['loc'])}: "
                                 f"{first['msg']}") from None
    has_counter = bool(meta.get("energy_counter", False)) and not power_only
    power = PowerKind(meta.get("power", PowerKind.INSTANT.value))
    if power is PowerKind.NONE and power_only:
        raise SamplerUnavailable("power_only replay of a channel that recorded no power")
    return Capabilities(
        energy_counter=has_counter,
        power=power,
        scope=Scope(meta.get("scope", Scope.GPU.value)) if meta.get("scope") in SCOPES else Scope.GPU,
        update_period_s=float(meta.get("update_period_s") or 0.001),
        power_average_window_s=float(meta.get("power_average_window_s") or 0.0),
        max_rate_hz=float(meta.get("max_rate_hz") or 10000.0),
        energy_tolerance=float(meta.get("energy_tolerance", 0.01)),
        counter_wrap_j=meta.get("counter_wrap_j"),
        calibrated=False,
        measured=False,
        power_update_period_s=float(meta.get("power_update_period_s") or 0.0),
    )


_EXTRAS = ("temperature_c", "clock_mhz", "power_limit_w", "utilization")
SCOPES = {scope.value for scope in Scope}


def _lerp(x: float | None, y: float | None, f: float) -> float | None:
    if x is None or y is None:
        return x if f < 0.5 else y
    return x + (y - x) * f


class ReplaySampler(Sampler):
    """Plays one channel of a trace file back in (possibly simulated) time."""

    name = "replay"

    def __init__(self, path: Path, channel: str, caps: Capabilities, clock: Clock, loop: bool, power_only: bool,
                 hold: bool = False) -> None:
        self.path = Path(path)
        self.hold = hold
        self.source_channel = channel
        self.channel = f"replay:{channel}"
        self.capabilities = caps
        self.clock = clock
        self.loop = loop
        self.power_only = power_only
        self._lock = threading.Lock()
        self._restart()
        self._start_ns = clock.now_ns()

    @classmethod
    def is_available(cls, device: str) -> Availability:
        if not host_cpu(device):
            return Availability(False, f"replay plays back a recorded trace and measures no device: it stands in "
                                       f"for the host ('cpu') only, not {device!r}")
        return Availability(True, "plays back a recorded trace (not a measurement): needs --sampler-option trace=PATH")

    @classmethod
    def open(cls, device: str, **options: Any) -> list[Sampler]:
        from bench.result.trace import trace_metadata

        available = cls.is_available(device)
        if not available:
            raise SamplerUnavailable(available.reason)
        path = options.get("trace")
        if not path:
            raise SamplerUnavailable("replay needs a trace file: --sampler-option trace=PATH")
        path = Path(path)
        try:
            meta = trace_metadata(path)
        except ResultError as exc:
            raise SamplerUnavailable(str(exc)) from None
        channels = meta.get("channels") if isinstance(meta.get("channels"), dict) else {}
        channel = options.get("channel") or (next(iter(channels)) if channels else None)
        if channel is None:
            raise SamplerUnavailable(f"{path}: trace names no channel; pass --sampler-option channel=NAME")
        if not isinstance(channel, str) or len(channel) > 200:
            raise SamplerUnavailable(f"{path}: a channel name of more than 200 characters")
        if channels and channel not in channels:
            shown = ", ".join(list(channels)[:20]) + (" ..." if len(channels) > 20 else "")
            raise SamplerUnavailable(f"{path}: no channel {channel!r}; choices: {shown}")
        power_only = str(options.get("power_only", "")).lower() in ("1", "true", "yes")
        caps = _caps_from_meta(channels.get(channel, {}), power_only)
        loop = str(options.get("loop", "")).lower() in ("1", "true", "yes")
        hold = str(options.get("hold", "")).lower() in ("1", "true", "yes")
        return [cls(path, channel, caps, options.get("clock") or MonotonicClock(), loop, power_only, hold)]

    # --- forward cursor over the file ------------------------------------------------------------

    def _rows(self):
        """Rows of this channel in time order: (t_ns, energy_j, power_w, extras).

        With ``loop``, each lap continues time and energy where the last one ended (one sample
        interval later, adding the energy of one more interval at the last rate).
        """
        import math

        import pyarrow.compute as pc

        from bench.result.trace import iter_batches

        cols = ["t_ns", "channel", "energy_j", "power_w", *_EXTRAS]
        t_shift, e_shift = 0, 0.0
        while True:
            first = last = before_last = None
            for batch in iter_batches(self.path, cols):
                batch = batch.filter(pc.equal(batch.column("channel"), self.source_channel))
                data = {k: batch.column(k).to_pylist() for k in cols if k != "channel"}
                for k in range(batch.num_rows):
                    e, p = data["energy_j"][k], data["power_w"][k]
                    e = None if e is None or math.isnan(e) else e
                    row = (data["t_ns"][k], e, None if p is None or math.isnan(p) else p,
                           {x: data[x][k] for x in _EXTRAS})
                    first = first or row
                    before_last, last = last, row
                    yield (row[0] + t_shift, None if e is None else e + e_shift, row[2], row[3])
            if not self.loop or before_last is None:
                return
            step = last[0] - before_last[0]
            t_shift += last[0] - first[0] + step
            if first[1] is not None and last[1] is not None and before_last[1] is not None:
                e_shift += last[1] - first[1] + (last[1] - before_last[1])

    def _restart(self) -> None:
        self._it = self._rows()
        self._a = next(self._it, None)
        self._b = next(self._it, None)
        if self._a is None:
            raise SamplerUnavailable(f"{self.path}: trace has no samples for channel {self.source_channel!r}")
        self._origin = self._a[0]

    def read(self) -> Reading:
        with self._lock:
            now = self.clock.now_ns()
            target = self._origin + (now - self._start_ns)
            while self._b is not None and self._b[0] <= target:
                self._a, self._b = self._b, next(self._it, None)
            if self._b is None and target > self._a[0]:
                raise SamplerDeviceLost(f"{self.path}: replay reached the end of the trace")
            a, b = self._a, self._b
            if b is None or b[0] <= a[0] or self.hold:
                r = Reading(energy_j=a[1], power_w=a[2], **a[3])
            else:
                f = min(max((target - a[0]) / (b[0] - a[0]), 0.0), 1.0)
                r = Reading(energy_j=_lerp(a[1], b[1], f), power_w=_lerp(a[2], b[2], f), **a[3])
            if self.power_only:
                r.energy_j = None
            r.t_ns = now  # the instant replayed, not the end of the (Python-speed) cursor walk
            return r

    def describe(self) -> dict[str, Any]:
        return {"sampler": self.name, "channel": self.channel, "trace": str(self.path),
                "source_channel": self.source_channel, "power_only": self.power_only, "loop": self.loop,
                "method": "replayed trace (quality L0): not a measurement of this run", "hold": self.hold}
