"""Validity checks of a finished run, in the manner of MLPerf's power compliance checks.

Each check reads only the result and its trace (streamed, bounded memory), so ``bench check`` re-runs
them anywhere; a standard names, out of :data:`CHECKS`, those conformance needs. A check that does not
apply (no counter to compare, a CPU channel without temperature) is not listed; a check that fails says by
how much.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from bench.errors import ResultError
from bench.result.model import Result, ValidityCheck
from bench.samplers.base import CHECK_MIN_WINDOWS

MAIN_WINDOW = re.compile(r"^(idle|.+/repeat\.\d+)$")  # linear: no nested repetition; names are bounded
MAX_POWER_W = 1e9  # a reading beyond a gigawatt is no device's (the meter keeps none past a megawatt)
MAX_WINDOW_SCANS = 2_000_000  # (window, channel) scans over all batches: far above any real run
IDLE_MAX_SPREAD = 0.05  # relative std of 1 s idle blocks
RATE_MIN_FRACTION = 0.9
ACCELERATOR_SCOPES = {"gpu", "memory", "module"}
CHECKS = ("trace_coverage", "sample_rate", "counter_vs_power", "power_within_limit", "telemetry_recorded",
          "idle_stable")


def _scan(path: Path, windows: list[Any], channels: list[str]) -> dict[str, Any]:
    """One pass over the trace: per (window, channel) the largest interval (edges included) and the
    sample count; per channel the peak power, the largest power limit and whether temperature and
    clocks were recorded."""
    import numpy as np

    from bench.result.trace import iter_batches

    cover = {(w.name, c): {"last": None, "max_gap": 0, "n": 0} for w in windows for c in channels}
    per_ch = {c: {"peak_w": None, "limit_w": None, "temp": 0, "clock": 0} for c in channels}
    cols = ["t_ns", "channel", "power_w", "temperature_c", "clock_mhz", "power_limit_w"]
    starts = np.array([w.t_start_ns for w in windows], dtype=np.int64)
    ends = np.array([w.t_end_ns for w in windows], dtype=np.int64)
    work = 0
    for batch in iter_batches(path, cols):
        names = batch.column("channel").to_numpy(zero_copy_only=False)
        t_all = batch.column("t_ns").to_numpy()
        num = {k: batch.column(k).to_numpy(zero_copy_only=False).astype(float)
               for k in ("power_w", "temperature_c", "clock_mhz", "power_limit_w")}
        for ch in channels:
            mask = names == ch
            if not mask.any():
                continue
            t = t_all[mask]
            st = per_ch[ch]
            for key, field in (("peak_w", "power_w"), ("limit_w", "power_limit_w")):
                vals = num[field][mask]
                vals = vals[np.isfinite(vals) & (np.abs(vals) <= MAX_POWER_W)]  # beyond: not a reading
                if vals.size:
                    st[key] = float(vals.max()) if st[key] is None else max(st[key], float(vals.max()))
            st["temp"] += int((~np.isnan(num["temperature_c"][mask])).sum())
            st["clock"] += int((~np.isnan(num["clock_mhz"][mask])).sum())
            overlapping = np.flatnonzero((starts <= t.max()) & (ends >= t.min()))  # the others have no sample here
            work += overlapping.size
            if work > MAX_WINDOW_SCANS:
                raise ResultError(f"{path}: more than {MAX_WINDOW_SCANS:,} window scans (windows overlap the "
                                  "trace over and over); the trace coverage was not checked")
            for k in overlapping:
                w = windows[k]
                sel = t[(t >= w.t_start_ns) & (t <= w.t_end_ns)]
                if not sel.size:
                    continue
                c = cover[(w.name, ch)]
                prev = c["last"] if c["last"] is not None else w.t_start_ns
                gaps = np.diff(np.concatenate(([prev], sel)))
                c["max_gap"] = max(c["max_gap"], int(gaps.max()))
                c["last"], c["n"] = int(sel[-1]), c["n"] + int(sel.size)
    for w in windows:
        for ch in channels:
            c = cover[(w.name, ch)]
            end_gap = w.t_end_ns - (c["last"] if c["last"] is not None else w.t_start_ns)
            c["max_gap"] = max(c["max_gap"], end_gap)
    return {"cover": cover, "channels": per_ch}


def check_validity(result: Result, folder: Path) -> list[ValidityCheck]:
    """Every validity check that applies to ``result`` (whose trace is in ``folder``)."""
    from bench.result.trace import trace_path

    m = result.measurement
    out: list[ValidityCheck] = []
    windows = [w for w in result.windows if MAIN_WINDOW.match(w.name)]
    channels = list(dict.fromkeys(c.channel for c in m.channels))
    caps = {c.channel: c.capabilities for c in m.channels}
    if not channels:
        return [ValidityCheck(check="channels_recorded", ok=False, detail="the result names no measurement channel")]
    if len(windows) * len(channels) > MAX_WINDOW_SCANS:
        raise ResultError(f"{folder}: {len(windows):,} windows x {len(channels):,} channels: too many to check")
    limit_s = m.gap_factor / m.rate_hz
    scan = _scan(trace_path(folder), windows, channels)
    for w in windows:
        worst = max(scan["cover"][(w.name, c)]["max_gap"] for c in channels) / 1e9
        out.append(ValidityCheck(check="trace_coverage", window=w.name, ok=worst <= limit_s, value=worst,
                                 limit=limit_s, detail=f"largest interval without a sample {worst:.3f} s "
                                 f"(limit {limit_s:.3f} s = {m.gap_factor:g} x the nominal interval)"))
    if m.achieved_rate_hz is not None:
        need = RATE_MIN_FRACTION * m.rate_hz
        out.append(ValidityCheck(check="sample_rate", ok=m.achieved_rate_hz >= need, value=m.achieved_rate_hz,
                                 limit=need, detail=f"achieved {m.achieved_rate_hz:.2f} Hz of {m.rate_hz:g} Hz "
                                 f"requested (at least {RATE_MIN_FRACTION:.0%} required)"))
    out += counter_vs_power(windows, caps)
    out += _power_limits(result, scan["channels"], caps)
    for ch, st in scan["channels"].items():
        if str(caps[ch].get("scope")) in ACCELERATOR_SCOPES:
            ok = st["temp"] > 0 and st["clock"] > 0
            out.append(ValidityCheck(check="telemetry_recorded", ok=ok,
                                     detail=f"{ch}: {st['temp']} temperature and {st['clock']} clock readings"))
    out.append(_idle_check(result))
    return out


def counter_vs_power(windows: list[Any], caps: dict[str, dict[str, Any]]) -> list[ValidityCheck]:
    """The counter against integrated power over each long enough window. Averaged power is compared with its
    lag corrected; the tolerance is the sampler's, widened by both figures' stated bounds. Estimated power, or a
    channel without power, is never compared."""
    out = []
    for w in windows:
        for ce in w.channels:
            cap = caps.get(ce.channel, {})
            if ce.method != "counter" or ce.integrated_energy_j is None or not ce.energy_j:
                continue
            if str(cap.get("power", "")) in ("estimated", "none"):
                continue  # nothing measured to compare the counter with
            # the figure beside the counter is averaged power, lag corrected: the channel's own power, or the
            # averaged figure it reads beside an instant one to check the counter (``power_correction`` set)
            check_window = float(cap.get("check_power_average_window_s") or 0)
            checked = check_window > 0 and ce.power_correction is not None
            if check_window > 0 and not checked:
                continue  # a channel with a check figure is checked against it alone (too short a window here)
            averaged = str(cap.get("power", "")) == "averaged" or checked
            if averaged and ce.power_correction is None:
                continue  # recorded before the lag was corrected: that integral lags the counter
            shortest = CHECK_MIN_WINDOWS * check_window if checked else \
                10 * max(float(cap.get("power_average_window_s") or 0), 0.1)
            if w.duration_s < shortest:
                continue  # over a short window the sensors' coarseness dominates
            tol = float(cap.get("energy_tolerance", 0.05))
            bounds = (ce.energy_uncertainty_j or 0.0) + (ce.integrated_uncertainty_j or 0.0)
            limit = tol + bounds / ce.energy_j + (0.0 if averaged else sampling_error(ce, cap, w.duration_s))
            rel = abs(ce.integrated_energy_j - ce.energy_j) / ce.energy_j
            what = "lag-corrected averaged power" if averaged else "integrated power"
            widened = f" + {limit - tol:.2%} for the sensors' coarseness" if limit > tol else ""
            out.append(ValidityCheck(check="counter_vs_power", window=w.name, ok=rel <= limit, value=rel,
                                     limit=limit,
                                     detail=f"{ce.channel}: counter {ce.energy_j:.3f} J, {what} "
                                     f"{ce.integrated_energy_j:.3f} J ({rel:.2%} apart, tolerance {tol:.0%}{widened})"))
    return out


def sampling_error(ce: Any, cap: dict[str, Any], duration_s: float) -> float:
    """What reading power every refresh period ``D`` can miss of a load that swings (relative): each reading
    stands for ``D`` of it, so ``2 x (spread / mean) x sqrt(D / T)`` over a window of ``T`` (0 for averaged
    power, whose readings already cover the time; and for results without the spread)."""
    if str(cap.get("power", "")) == "averaged" or not ce.power_std_w or not ce.energy_j or duration_s <= 0:
        return 0.0
    refresh = float(cap.get("power_update_period_s") or 0.0) or float(cap.get("update_period_s") or 0.0)
    mean_w = ce.energy_j / duration_s
    return 2 * ce.power_std_w / mean_w * math.sqrt(refresh / duration_s) if mean_w > 0 else 0.0


def _power_limits(result: Result, per_ch: dict[str, Any], caps: dict[str, Any]) -> list[ValidityCheck]:
    out = []
    rated = (result.profile or {}).get("rated_power_w")
    for ch, st in per_ch.items():
        limit = st["limit_w"] or (rated if len(per_ch) == 1 else None)
        if st["peak_w"] is None or not limit or caps[ch].get("power") == "estimated":
            continue
        tol = float(caps[ch].get("energy_tolerance", 0.05))
        allowed = limit * (1 + tol)
        out.append(ValidityCheck(check="power_within_limit", ok=st["peak_w"] <= allowed, value=st["peak_w"],
                                 limit=allowed, detail=f"{ch}: peak {st['peak_w']:.1f} W, limit {limit:.1f} W "
                                 f"+ {tol:.0%} sensor error"))
    return out


def _idle_check(result: Result) -> ValidityCheck:
    idle = result.idle
    if idle is None or idle.power_w is None:
        return ValidityCheck(check="idle_stable", ok=False, detail="no idle baseline was measured")
    if idle.power_std_w is None:
        return ValidityCheck(check="idle_stable", ok=False, detail="idle baseline too short to judge (one block)")
    if not idle.power_w:
        return ValidityCheck(check="idle_stable", ok=False, detail="idle power read as 0 W: no spread can be judged")
    rel = idle.power_std_w / idle.power_w
    return ValidityCheck(check="idle_stable", ok=rel <= IDLE_MAX_SPREAD and idle.clean, value=rel,
                         limit=IDLE_MAX_SPREAD, detail=f"idle power {idle.power_w:.2f} W, 1 s blocks spread "
                         f"{rel:.2%} (limit {IDLE_MAX_SPREAD:.0%})" + ("" if idle.clean else "; idle window not clean"))
